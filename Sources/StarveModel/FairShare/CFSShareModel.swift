// The share each CPU-bound task should get if the kernel did exactly what the
// weights promise. Compared against measured shares this answers "was the task
// starved, or is this simply what its nice/cgroup/affinity entitle it to?".

/// Expected CFS shares for a set of CPU-bound claimants.
///
/// Model (idealised CFS/EEVDF with perfect load balancing):
/// 1. Claimants whose CPU sets do not overlap, directly or through a chain of
///    other claimants, never compete: each connected component of overlapping
///    CPU sets is solved on its own.
/// 2. Within a component CPU is split hierarchically: first between the
///    top-level entities (groups and root-level tasks are siblings, each with its
///    weight), then inside each group among its children, recursively.
/// 3. No task gets more than `min(maxCPUs, allowedCPUs.count)`, no set of tasks
///    more than the CPUs they may use; what one cannot use goes to the others in
///    weight proportion (weighted max-min fairness / water-filling).
///
/// Solved by progressive filling: every still-growing task grows at a rate equal
/// to its weight's fraction among growing siblings, multiplied down the hierarchy;
/// a task stops at its cap or when a max-flow check shows its CPUs are saturated.
///
/// Exact: single-level (flat) weighted max-min fairness under any affinity, and
/// hierarchical water-filling whenever all claimants of a component have the same
/// CPU set (the common case). Approximated (documented, deliberate):
/// - Hierarchy with *different* CPU sets in one component: "a group grows at its
///   weight's rate and hands it to its growing children" is a natural extension of
///   max-min fairness; the kernel gets there only roughly, via per-CPU runqueues,
///   per-CPU group entities and periodic load balancing.
/// - A group spanning several components gets, in each, the fraction
///   weight * (its load there) / (its total load), as `calc_group_shares()` splits
///   a group's weight across CPUs; load is taken as the full task weight (tasks
///   assumed always runnable) rather than the kernel's PELT averages.
/// - `MIN_SHARES` clamping of per-CPU group weights, wakeup/latency effects,
///   RT/deadline tasks, IRQ time and CPU bandwidth limits (`cpu.max`) are ignored.
public enum CFSShareModel {
    /// Expected share of every claimant, in input order.
    public static func expectedShares(_ claimants: [ShareClaimant]) -> [ExpectedShare] {
        var results = claimants.map { ExpectedShare(id: $0.id, percent: 0, decidedBy: .alone) }
        // A claimant that cannot run contributes no load anywhere.
        var runnable: [Int] = []
        for (i, c) in claimants.enumerated() {
            if c.allowedCPUs.isEmpty {
                results[i].decidedBy = .affinity
            } else if !(c.maxCPUs > 0) {
                results[i].decidedBy = .demand
            } else {
                runnable.append(i)
            }
        }
        let groupLoads = FairShareTree.totalGroupLoads(claimants, runnable)
        for component in cpuComponents(claimants, runnable) {
            let solved = solveComponent(component.map { claimants[$0] }, groupLoads: groupLoads)
            for (k, index) in component.enumerated() { results[index] = solved[k] }
        }
        return results
    }

    /// Groups claimant indices into connected components of overlapping CPU sets.
    static func cpuComponents(_ claimants: [ShareClaimant], _ indices: [Int]) -> [[Int]] {
        var parent = Array(0..<claimants.count)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
            return x
        }
        var ownerOfCPU: [Int: Int] = [:]
        for i in indices {
            for cpu in claimants[i].allowedCPUs {
                if let other = ownerOfCPU[cpu] { parent[find(i)] = find(other) } else { ownerOfCPU[cpu] = i }
            }
        }
        var byRoot: [Int: [Int]] = [:]
        var order: [Int] = []
        for i in indices {
            let root = find(i)
            if byRoot[root] == nil { order.append(root) }
            byRoot[root, default: []].append(i)
        }
        return order.map { byRoot[$0]! }
    }

    /// Why a task stopped growing during progressive filling.
    private enum FreezeReason { case cap, bottleneck }

    /// Progressive filling over one component; returns results in `tasks` order.
    private static func solveComponent(_ tasks: [ShareClaimant],
                                       groupLoads: [String: Double]) -> [ExpectedShare] {
        let cpus = Set(tasks.flatMap { $0.allowedCPUs }).sorted()
        let localCPU = Dictionary(uniqueKeysWithValues: cpus.enumerated().map { ($1, $0) })
        let allowed = tasks.map { $0.allowedCPUs.map { localCPU[$0]! } }
        let caps = tasks.map { min($0.maxCPUs, Double($0.allowedCPUs.count)) }
        if tasks.count == 1 {
            return [ExpectedShare(id: tasks[0].id, percent: caps[0] * 100, decidedBy: .alone)]
        }
        let tree = FairShareTree(tasks: tasks, groupLoads: groupLoads)
        // Same CPU set everywhere: the only joint constraint is sum <= cpus.count.
        let homogeneous = tasks.allSatisfy { $0.allowedCPUs.count == cpus.count }

        var alloc = Array(repeating: 0.0, count: tasks.count)
        var active = Array(repeating: true, count: tasks.count)
        var reason = Array(repeating: FreezeReason.bottleneck, count: tasks.count)
        var activeAtFreeze = Array(repeating: [Bool](), count: tasks.count)
        var othersContinued = Array(repeating: false, count: tasks.count)

        while active.contains(true) {
            let rate = tree.rates(active: active)
            var capStep = Double.infinity
            for i in tasks.indices where active[i] && rate[i] > 0 {
                capStep = min(capStep, max(0, caps[i] - alloc[i]) / rate[i])
            }
            let flowStep: Double
            if homogeneous {
                let rateSum = tasks.indices.filter { active[$0] }.reduce(0.0) { $0 + rate[$1] }
                flowStep = max(0, Double(cpus.count) - alloc.reduce(0, +)) / rateSum
            } else {
                flowStep = maxFeasibleStep(alloc, rate, upTo: capStep, allowed, cpus.count)
            }
            let step = min(capStep, flowStep)
            for i in tasks.indices where active[i] { alloc[i] = min(caps[i], alloc[i] + step * rate[i]) }

            let snapshot = active
            var frozen: [Int] = []
            for i in tasks.indices where active[i] && caps[i] - alloc[i] <= 1e-9 {
                frozen.append(i); reason[i] = .cap
            }
            if flowStep <= capStep {
                for i in tasks.indices where active[i] && reason[i] != .cap {
                    let blocked = homogeneous
                        || !fairShareFeasible(demand: alloc.enumerated().map { $0 == i ? $1 + 1e-7 : $1 },
                                              allowed: allowed, cpuCount: cpus.count)
                    if blocked { frozen.append(i) }
                }
            }
            // Rounding could leave no one frozen; stop rather than loop forever.
            if frozen.isEmpty { frozen = tasks.indices.filter { active[$0] } }
            for i in frozen { active[i] = false; activeAtFreeze[i] = snapshot }
            let anyLeft = active.contains(true)
            for i in frozen { othersContinued[i] = anyLeft }
        }

        return tasks.indices.map { i in
            let decision: ShareDecision
            switch reason[i] {
            case .cap:
                decision = Double(tasks[i].allowedCPUs.count) <= tasks[i].maxCPUs ? .affinity : .demand
            case .bottleneck:
                // Its CPUs filled up while others elsewhere kept growing: affinity bound it.
                decision = othersContinued[i] ? .affinity
                    : tree.decidingLevel(task: i, active: activeAtFreeze[i])
            }
            return ExpectedShare(id: tasks[i].id, percent: alloc[i] * 100, decidedBy: decision)
        }
    }

    /// Largest step (<= `limit`) such that alloc + step * rate is still schedulable,
    /// by bisection on the max-flow feasibility test.
    private static func maxFeasibleStep(_ alloc: [Double], _ rate: [Double], upTo limit: Double,
                                        _ allowed: [[Int]], _ cpuCount: Int) -> Double {
        func feasible(_ step: Double) -> Bool {
            fairShareFeasible(demand: alloc.indices.map { alloc[$0] + step * rate[$0] },
                              allowed: allowed, cpuCount: cpuCount)
        }
        // Rates sum to 1 CPU per unit step, so no step can exceed the CPU count.
        let upper = min(limit, Double(cpuCount))
        // Feasible at the cap: the caps bind first (or together), flow does not.
        if feasible(upper) { return upper < limit ? upper : .infinity }
        var lo = 0.0, hi = upper
        for _ in 0..<100 where hi - lo > 1e-14 * max(1, hi) {
            let mid = (lo + hi) / 2
            if feasible(mid) { lo = mid } else { hi = mid }
        }
        return lo
    }
}
