// Per-sample fair-share analysis for starve-dump --share: which tasks competed, what CFS
// promised each of them, what each got, and what a lottery / stride scheduler would have given.
//
// The competing set of an interval: the tasks the filters selected that were runnable in it
// (ran, finished a run-queue wait, or were waiting at its end) and are weight-scheduled
// (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE; real-time and deadline tasks are left out). Each one
// is a claimant whose demand is the fraction of the interval it was runnable (on CPU or
// queued), so a task that sleeps 90 % of the time is not promised a full CPU; a task that never
// blocked in the interval (no voluntary switch) demands a full CPU.
//
// Measured share is taken *within the set*: a task's runtime over the runtime of all competing
// tasks on its CPUs (its CPU component), scaled to what the model hands out on those CPUs.
// CPU taken by tasks outside the set (filtered out, real-time, IRQs) therefore does not show
// as error; `cpu_pct` remains the plain fraction of one CPU.

/// Settings of the share analysis.
public struct ShareAnalysisSettings: Sendable, Hashable {
    /// Lottery draws (and stride quanta) simulated per CPU component and sample; 0 = none.
    public var draws: Int
    /// Seed of the lottery; with the same seed and the same ticket lists the draws repeat.
    public var seed: UInt64
    /// How nice/policy become tickets.
    public var tickets: TicketMapping

    /// Creates settings.
    public init(draws: Int = 0, seed: UInt64 = 1, tickets: TicketMapping = .weight) {
        self.draws = draws
        self.seed = seed
        self.tickets = tickets
    }
}

/// One competing task's share figures for one interval.
public struct TaskShare: Sendable, Hashable {
    /// Thread id.
    public var pid: UInt32
    /// Index of its CPU component (tasks that compete for the same CPUs), ordered by lowest CPU.
    public var component: Int
    /// CPUs it may run on.
    public var allowedCPUs: Set<Int>
    /// Its task groups from the top down.
    public var groupPath: [SchedGroup]
    /// Fraction of the interval it was runnable (running or queued), percent: its demand.
    public var runnablePercent: Double
    /// CFS expectation, percent of one CPU.
    public var expectedPercent: Double
    /// The level that decided the expectation.
    public var decidedBy: ShareDecision
    /// Measured share within the competing set, percent of one CPU (see file comment).
    public var measuredPercent: Double
    /// Interval-weighted mean of `expectedPercent` over the intervals it competed in so far.
    public var runExpectedPercent: Double
    /// Interval-weighted mean of `measuredPercent` over the same intervals.
    public var runMeasuredPercent: Double
    /// Lottery tickets (from `ShareAnalysisSettings.tickets`).
    public var tickets: UInt64
    /// This interval's simulated lottery in its component; nil with no draws.
    public var lottery: LotteryOutcome?
    /// Lottery wins / draws over all intervals so far, percent; nil with no draws.
    public var runLotteryWinPercent: Double?
    /// Its share of `draws` quanta under stride scheduling, percent; nil with no draws.
    public var strideSharePercent: Double?

    /// measured - expected, percentage points.
    public var errorPP: Double { measuredPercent - expectedPercent }
    /// Over the run: measured - expected, percentage points.
    public var runErrorPP: Double { runMeasuredPercent - runExpectedPercent }
}

/// The share analysis of one sample.
public struct ShareSample: Sendable, Hashable {
    /// Competing tasks by thread id; selected tasks that did not compete are absent.
    public var tasks: [UInt32: TaskShare]
    /// Lottery draws per component in this sample.
    public var draws: Int
    /// Jain's index of measured/expected over the competing set, this interval.
    public var jainIndex: Double
    /// Largest |measured - expected| over the set, this interval, pp.
    public var maxAbsErrorPP: Double
    /// Jain's index over the run means of the tasks competing now.
    public var runJainIndex: Double
    /// Largest |run error| over the tasks competing now, pp.
    public var runMaxAbsErrorPP: Double

    /// An empty sample (nothing competed).
    public static let empty = ShareSample(tasks: [:], draws: 0, jainIndex: 1, maxAbsErrorPP: 0, runJainIndex: 1, runMaxAbsErrorPP: 0)
}

extension ShareDecision {
    /// Short label for tables and CSV: `alone`, `nice`, `affinity`, `demand`, or the group's id
    /// (`cgroup:/a/b`, `autogroup:12`).
    public var label: String {
        switch self {
        case .alone: return "alone"
        case .nice: return "nice"
        case .affinity: return "affinity"
        case .demand: return "demand"
        case .group(let id): return id
        }
    }
}

/// Turns successive intervals plus each task's scheduling context into `ShareSample`s,
/// keeping run totals and lottery state across samples.
public struct ShareAnalyzer: Sendable {
    /// The settings it was created with.
    public let settings: ShareAnalysisSettings

    private struct RunTotals: Sendable {
        var startTimeNs: UInt64
        var openWaitNs: UInt64 = 0
        var seconds = 0.0
        var expectedPercentSeconds = 0.0
        var measuredPercentSeconds = 0.0
        var wins = 0
        var draws = 0
    }
    private var totals: [UInt32: RunTotals] = [:]

    /// Demand within this fraction of a full CPU counts as a full CPU: runtime and wait are
    /// read a few microseconds apart from the interval's clock, so a busy loop reads 99.9 %.
    public static let busyTolerance = 0.01

    /// Creates an analyzer.
    public init(settings: ShareAnalysisSettings) {
        self.settings = settings
    }

    /// Is this interval's task a claimant: weight-scheduled and runnable at some point in it?
    public static func competes(_ i: TaskInterval) -> Bool {
        let p = Int(i.task.policy)
        guard p == NiceWeight.policyOther || p == NiceWeight.policyBatch || p == NiceWeight.policyIdle else { return false }
        return i.runtimeDeltaNs > 0 || i.waitNs > 0 || i.task.openWaitNs > 0
    }

    /// The lottery seed of one sample and component: a fixed function of (seed, sample,
    /// component), so a rerun of the same plan draws the same numbers.
    public static func drawSeed(seed: UInt64, sample: Int, component: Int) -> UInt64 {
        var s = seed ^ (UInt64(truncatingIfNeeded: sample) &* 0x9E37_79B9_7F4A_7C15)
            ^ (UInt64(truncatingIfNeeded: component) &* 0xC2B2_AE3D_27D4_EB4F)
        return LotteryRNG.splitMix64(&s)
    }

    /// Analyses one sample. `contexts` gives each task's affinity and groups; a task without
    /// one (it exited before it could be read) is taken as unpinned (`allCPUs`) in the root group.
    public mutating func analyze(sample: Int, intervals: [TaskInterval],
                                 contexts: [UInt32: TaskSchedContext], allCPUs: Set<Int>) -> ShareSample {
        let previous = totals
        totals = [:]
        var claimants: [ShareClaimant] = []
        var members: [TaskInterval] = []
        var runnable: [Double] = []
        for i in intervals {
            var t = previous[i.task.pid].flatMap { $0.startTimeNs == i.task.startTimeNs ? $0 : nil }
                ?? RunTotals(startTimeNs: i.task.startTimeNs)
            let openBefore = t.openWaitNs
            t.openWaitNs = i.task.openWaitNs
            totals[i.task.pid] = t
            guard Self.competes(i), i.intervalNs > 0 else { continue }
            let runnableNs = Double(i.runtimeDeltaNs) + Double(i.waitNs) + Double(i.task.openWaitNs) - Double(openBefore)
            var demand = min(max(runnableNs / Double(i.intervalNs), 0), 1)
            // A thread that never blocked in the interval wanted a CPU all along, whatever the
            // clocks say: sum_exec_runtime leaves out IRQ and steal time (clock_task), so on a
            // busy VM a spinning thread can read as runnable well below 100 %.
            if demand >= 1 - Self.busyTolerance || i.voluntarySwitches == 0 { demand = 1 }
            let context = contexts[i.task.pid] ?? TaskSchedContext(allowedCPUs: allCPUs)
            claimants.append(ShareClaimant(
                id: Int(i.task.pid),
                weight: NiceWeight.weight(nice: Int(i.task.nice), policy: Int(i.task.policy)),
                allowedCPUs: context.allowedCPUs, maxCPUs: demand, groupPath: context.groupPath))
            members.append(i)
            runnable.append(demand * 100)
        }
        guard !claimants.isEmpty else { return .empty }

        let expected = CFSShareModel.expectedShares(claimants)
        var components = CFSShareModel.cpuComponents(claimants, claimants.indices.filter { !claimants[$0].allowedCPUs.isEmpty })
        let componentMins = components.map { c in c.map { claimants[$0].allowedCPUs.min() ?? 0 }.min() ?? 0 }
        let order = components.indices.sorted { (componentMins[$0], $0) < (componentMins[$1], $1) }
        components = order.map { components[$0] }

        var componentOf = Array(repeating: -1, count: claimants.count)
        var measured = Array(repeating: 0.0, count: claimants.count)
        var lottery = Array(repeating: LotteryOutcome?.none, count: claimants.count)
        var stride = Array(repeating: Double?.none, count: claimants.count)
        let tickets = members.map { settings.tickets.tickets(nice: Int($0.task.nice), policy: Int($0.task.policy)) }
        for (c, indices) in components.enumerated() {
            let expectedTotal = indices.reduce(0.0) { $0 + expected[$1].percent }
            let runtimeTotal = indices.reduce(0.0) { $0 + Double(members[$1].runtimeDeltaNs) }
            for k in indices {
                componentOf[k] = c
                measured[k] = runtimeTotal > 0 ? Double(members[k].runtimeDeltaNs) / runtimeTotal * expectedTotal : 0
            }
            guard settings.draws > 0 else { continue }
            // Participants in an order that does not depend on pids (most tickets first), so
            // two runs of one plan put the same ticket counts in the same places.
            let ranked = indices.sorted { (tickets[$0], claimants[$1].id) > (tickets[$1], claimants[$0].id) }
            let players = ranked.map { LotteryTask(id: claimants[$0].id, tickets: tickets[$0]) }
            let report = LotterySimulation.run(tasks: players, draws: settings.draws,
                                               seed: Self.drawSeed(seed: settings.seed, sample: sample, component: c))
            var scheduler = StrideScheduler(tasks: players)
            let strides = scheduler.run(quanta: settings.draws)
            for (slot, k) in ranked.enumerated() {
                lottery[k] = report.outcomes[slot]
                stride[k] = strides[slot].sharePercent
            }
        }

        var rows: [UInt32: TaskShare] = [:]
        var runMeasured: [Int: Double] = [:], runExpected: [Int: Double] = [:]
        for (k, i) in members.enumerated() {
            let pid = i.task.pid
            var t = totals[pid]!
            let seconds = Double(i.intervalNs) / 1e9
            t.seconds += seconds
            t.expectedPercentSeconds += expected[k].percent * seconds
            t.measuredPercentSeconds += measured[k] * seconds
            if let l = lottery[k] { t.wins += l.wins; t.draws += settings.draws }
            totals[pid] = t
            let row = TaskShare(
                pid: pid, component: componentOf[k], allowedCPUs: claimants[k].allowedCPUs,
                groupPath: claimants[k].groupPath, runnablePercent: runnable[k],
                expectedPercent: expected[k].percent, decidedBy: expected[k].decidedBy,
                measuredPercent: measured[k],
                runExpectedPercent: t.seconds > 0 ? t.expectedPercentSeconds / t.seconds : 0,
                runMeasuredPercent: t.seconds > 0 ? t.measuredPercentSeconds / t.seconds : 0,
                tickets: tickets[k], lottery: lottery[k],
                runLotteryWinPercent: t.draws > 0 ? Double(t.wins) * 100 / Double(t.draws) : nil,
                strideSharePercent: stride[k])
            rows[pid] = row
            runMeasured[Int(pid)] = row.runMeasuredPercent
            runExpected[Int(pid)] = row.runExpectedPercent
        }
        let now = FairnessReport(measured: Dictionary(uniqueKeysWithValues: members.indices.map { (claimants[$0].id, measured[$0]) }),
                                 expected: expected)
        let run = FairnessReport(measured: runMeasured, expected: runExpected)
        return ShareSample(tasks: rows, draws: settings.draws, jainIndex: now.jainIndex, maxAbsErrorPP: now.maxAbsErrorPP,
                           runJainIndex: run.jainIndex, runMaxAbsErrorPP: run.maxAbsErrorPP)
    }
}

/// Formats a CPU set the way the kernel does: `0-3,8`.
public func formatCPUList(_ cpus: Set<Int>) -> String {
    var parts: [String] = []
    var sorted = cpus.sorted()[...]
    while let lo = sorted.first {
        var hi = lo
        sorted.removeFirst()
        while sorted.first == hi + 1 { hi += 1; sorted.removeFirst() }
        parts.append(lo == hi ? String(lo) : "\(lo)-\(hi)")
    }
    return parts.joined(separator: ",")
}
