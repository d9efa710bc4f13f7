/// One cell of the victim x preemptor matrix (`struct starve_pair_key`).
public struct PreemptionPair: Hashable, Sendable {
    public var victimCgroup: UInt64
    public var preemptorCgroup: UInt64
    public var victimTgid: UInt32
    public var preemptorTgid: UInt32
    /// Process start tags (``TaskCounters/processStart``): a reused tgid is another process.
    public var victimStart: UInt32
    public var preemptorStart: UInt32

    /// `preemptorTgid` of waits booked to a cgroup's processes together (a thread with more
    /// preemptors than its own slots name): `STARVE_PREEMPTOR_OTHER` in starve.h.
    public static let otherProcesses: UInt32 = 0xFFFF_FFFF

    public init(victimCgroup: UInt64, preemptorCgroup: UInt64, victimTgid: UInt32, preemptorTgid: UInt32,
                victimStart: UInt32 = 0, preemptorStart: UInt32 = 0) {
        self.victimCgroup = victimCgroup
        self.preemptorCgroup = preemptorCgroup
        self.victimTgid = victimTgid
        self.preemptorTgid = preemptorTgid
        self.victimStart = victimStart
        self.preemptorStart = preemptorStart
    }
}

/// Waits of a victim booked to a preemptor (`struct starve_pair`): counters only grow.
public struct PreemptionCounts: Sendable, Equatable {
    public var count: UInt64
    public var waitNs: UInt64
    public var maxNs: UInt64

    public init(count: UInt64 = 0, waitNs: UInt64 = 0, maxNs: UInt64 = 0) {
        self.count = count
        self.waitNs = waitNs
        self.maxNs = maxNs
    }
}

/// Throttling counters of one cgroup from its cpu.stat, and its quota (cgroup v1 or v2).
public struct ThrottleCounters: Sendable, Equatable {
    public var periods: UInt64
    public var throttledPeriods: UInt64
    public var throttledNs: UInt64
    /// Quota per period, µs; nil: no quota.
    public var quotaUs: Int64?
    public var periodUs: UInt64?

    public init(periods: UInt64 = 0, throttledPeriods: UInt64 = 0, throttledNs: UInt64 = 0, quotaUs: Int64? = nil, periodUs: UInt64? = nil) {
        self.periods = periods
        self.throttledPeriods = throttledPeriods
        self.throttledNs = throttledNs
        self.quotaUs = quotaUs
        self.periodUs = periodUs
    }
}

/// What a cgroup's interval says about it.
public enum CgroupVerdict: String, Sendable, CaseIterable {
    /// No wait over the starvation threshold.
    case ok
    /// Waited over the threshold mostly because its own CPU quota ran out.
    case throttled
    /// Waited over the threshold, mostly behind one other cgroup (or process) that took a large
    /// share of the CPU: the victim of a noisy neighbour.
    case victim
    /// Took a large CPU share and was the main cause of another cgroup's (process's) waits.
    case noisyNeighbour = "noisy-neighbour"
    /// Waited over the threshold with no single cause dominating (plain overload).
    case starved
}

/// Who held a cgroup's tasks off the CPU in an interval.
public struct Preemptor: Sendable, Equatable {
    public var cgroup: UInt64
    /// Set when the preemptor is a process (same cgroup as the victim, or --by process).
    public var tgid: UInt32?
    public var label: String
    public var count: UInt64
    public var waitNs: UInt64
    /// The preemptor's workload kind, when it is another workload (the workloads view).
    public var workloadKind: WorkloadKind? = nil

    public init(cgroup: UInt64, tgid: UInt32?, label: String, count: UInt64, waitNs: UInt64, workloadKind: WorkloadKind? = nil) {
        self.cgroup = cgroup
        self.tgid = tgid
        self.label = label
        self.count = count
        self.waitNs = waitNs
        self.workloadKind = workloadKind
    }

    /// `label`, preceded by the workload kind when there is one (`pod default/web`).
    public var qualifiedLabel: String {
        guard let k = workloadKind else { return label }
        return label == k.rawValue ? label : "\(k.rawValue) \(label)"
    }
}

/// One cgroup over one interval: the row of `starve-dump cgroups`.
public struct CgroupInterval: ExitedWorkSum, Sendable {
    public var cgroupID: UInt64
    public var path: String
    public var tasks: Int
    public var intervalNs: UInt64
    public var runtimeNs: UInt64
    public var waitCount: UInt64
    public var waitNs: UInt64
    public var waitHistogram: LogHistogram
    public var waitMaxNs: UInt64?
    /// Waits that ended at or above the starvation threshold.
    public var waitsOverThreshold: UInt64
    public var preemptedSame: UInt64
    public var preemptedOther: UInt64
    public var preemptedSystem: UInt64
    /// Kernel side: wait that began under CFS throttling.
    public var throttledWaitNs: UInt64
    /// Wait that began with a preemption (the rest of `waitNs` less `throttledWaitNs` began
    /// with a wakeup).
    public var preemptWaitNs: UInt64 = 0
    /// cpu.stat deltas (nil: the cgroup's cpu.stat could not be read).
    public var throttle: ThrottleCounters?
    /// Most wait first.
    public var topPreemptors: [Preemptor]
    public var verdict: CgroupVerdict
    /// The figures behind the verdict, one line.
    public var evidence: String
    /// The workload the cgroup belongs to (nil: not resolved, e.g. rows made without a resolver).
    public var workload: WorkloadIdentity? = nil
    /// Futex waits of its threads that ended in the interval (nil: not collected, starve-load --futex).
    public var futex: FutexWork? = nil

    /// Share of one CPU used, percent.
    public var cpuPercent: Double { intervalNs == 0 ? 0 : Double(runtimeNs) / Double(intervalNs) * 100 }
    public func waitPercentileNs(_ q: Double) -> UInt64? { waitHistogram.percentile(q, ceiling: waitMaxNs) }
}

/// Settings of the verdicts.
public struct VerdictSettings: Sendable {
    /// Waits at or above this are starvation (starve-load --thresholds, first value).
    public var starvedNs: UInt64 = 100_000_000
    /// A noisy neighbour uses at least this share of one CPU, percent.
    public var neighbourMinCPUPercent: Double = 50
    /// ... and is booked at least this fraction of the victim's long waits.
    public var dominance: Double = 0.5
    /// Throttled: throttled time (kernel side or cpu.stat) at least this fraction of the wait.
    public var throttledFraction: Double = 0.5

    public init() {}
}

/// Turns per-task intervals, the preemption matrix and cpu.stat into per-cgroup rows and verdicts.
///
/// The matrix is cumulative in the kernel; the analyzer keeps the previous read and works on
/// its delta. Cgroups are those of the cpu controller (v1 `cpu`, or v2).
public struct CgroupAnalyzer: Sendable {
    public var settings: VerdictSettings
    private var previousPairs: [PreemptionPair: PreemptionCounts] = [:]
    private var previousThrottle: [UInt64: ThrottleCounters] = [:]
    private var primed = false

    public init(settings: VerdictSettings = .init()) { self.settings = settings }

    /// Sets the baselines (first sample): nothing is reported for it.
    public mutating func prime(pairs: [PreemptionPair: PreemptionCounts], throttle: [UInt64: ThrottleCounters]) {
        previousPairs = pairs
        previousThrottle = throttle
        primed = true
    }

    /// One interval. `throttle` is each cgroup's cumulative cpu.stat now; `path` names cgroups
    /// and `processName` processes (tgid and start tag -> comm) for the evidence. `exited` is
    /// the work of threads that exited in the interval (``ExitedWork``): it counts in its cgroup
    /// like the live threads' (a cgroup whose threads all exited still gets its row).
    ///
    /// `group` merges processes of cgroups, given (cgroup, tgid, process start tag): rows are
    /// made per group id (`cgroupID` of a row is the group's, and `path` is asked for group ids),
    /// matrix deltas are taken per pair and summed per group, a cgroup's cpu.stat deltas go to
    /// the group of its first thread. The default keeps each cgroup apart; the sampler groups by
    /// workload. Group ids 0 and 1 are the idle CPU and the root: never a noisy neighbour.
    public mutating func analyze(intervals: [TaskInterval], intervalNs: UInt64,
                                 pairs: [PreemptionPair: PreemptionCounts], throttle: [UInt64: ThrottleCounters],
                                 exited: [ProcessInCgroup: ThreadWork] = [:],
                                 path: (UInt64) -> String, processName: (UInt32, UInt32) -> String,
                                 group: (UInt64, UInt32, UInt32) -> UInt64 = { c, _, _ in c }) -> [CgroupInterval] {
        defer { prime(pairs: pairs, throttle: throttle) }
        // Per cgroup sums of the task intervals.
        var rows: [UInt64: CgroupInterval] = [:]
        var cgroupGroup: [UInt64: UInt64] = [:]
        func emptyRow(_ id: UInt64) -> CgroupInterval {
            CgroupInterval(
                cgroupID: id, path: path(id), tasks: 0, intervalNs: intervalNs, runtimeNs: 0, waitCount: 0, waitNs: 0,
                waitHistogram: LogHistogram(counts: [UInt64](repeating: 0, count: LogHistogram.slotCount)), waitMaxNs: nil,
                waitsOverThreshold: 0, preemptedSame: 0, preemptedOther: 0, preemptedSystem: 0, throttledWaitNs: 0,
                throttle: nil, topPreemptors: [], verdict: .ok, evidence: "")
        }
        for (key, w) in exited {
            let id = group(key.cgroupID, key.tgid, key.start)
            if cgroupGroup[key.cgroupID] == nil { cgroupGroup[key.cgroupID] = id }
            var r = rows[id] ?? emptyRow(id)
            r.add(w)
            rows[id] = r
        }
        for t in intervals {
            let id = group(t.task.cpuCgroupID, t.task.tgid, t.task.processStart)
            if cgroupGroup[t.task.cpuCgroupID] == nil { cgroupGroup[t.task.cpuCgroupID] = id }
            var r = rows[id] ?? emptyRow(id)
            r.tasks += 1
            r.runtimeNs &+= t.runtimeDeltaNs
            r.waitCount &+= t.waitCount
            r.waitNs &+= t.waitNs
            let delta = t.waitHistogram
            for (i, c) in delta.counts.enumerated() where i < r.waitHistogram.counts.count { r.waitHistogram.counts[i] &+= c }
            if t.waitCount > 0 { r.waitMaxNs = max(r.waitMaxNs ?? 0, t.task.waitMaxNs) }
            r.preemptedSame &+= t.preemptedSame
            r.preemptedOther &+= t.preemptedOther
            r.preemptedSystem &+= t.preemptedSystem
            r.throttledWaitNs &+= t.waitThrottledNs
            r.preemptWaitNs &+= t.waitPreemptNs
            rows[id] = r
        }
        // A task's all-time maximum may predate the interval: cap by the histogram's top slot.
        let firstOver = LogHistogram.slot(for: settings.starvedNs)
        for (id, var r) in rows {
            if let top = r.waitHistogram.counts.lastIndex(where: { $0 > 0 }) {
                r.waitMaxNs = min(r.waitMaxNs ?? .max, LogHistogram.upperBound(ofSlot: top))
            } else {
                r.waitMaxNs = nil
            }
            // Slots entirely at or above the threshold, plus the threshold's own slot pro rata.
            var over: Double = 0
            for (i, c) in r.waitHistogram.counts.enumerated() where c > 0 {
                let lo = LogHistogram.lowerBound(ofSlot: i), hi = LogHistogram.upperBound(ofSlot: i)
                if lo >= settings.starvedNs { over += Double(c) }
                else if i == firstOver { over += Double(c) * Double(hi - settings.starvedNs) / Double(hi - lo) }
            }
            r.waitsOverThreshold = UInt64(over.rounded())
            rows[id] = r
        }
        // cpu.stat deltas per cgroup, summed per group (the first cgroup's quota).
        for (cgroup, now) in throttle {
            guard let id = cgroupGroup[cgroup], rows[id] != nil else { continue }
            let before = previousThrottle[cgroup] ?? now
            let delta = ThrottleCounters(periods: now.periods &- before.periods,
                                         throttledPeriods: now.throttledPeriods &- before.throttledPeriods,
                                         throttledNs: now.throttledNs &- before.throttledNs,
                                         quotaUs: now.quotaUs, periodUs: now.periodUs)
            if var sum = rows[id]!.throttle {
                sum.periods &+= delta.periods
                sum.throttledPeriods &+= delta.throttledPeriods
                sum.throttledNs &+= delta.throttledNs
                if sum.quotaUs == nil { sum.quotaUs = delta.quotaUs; sum.periodUs = delta.periodUs }
                rows[id]!.throttle = sum
            } else {
                rows[id]!.throttle = delta
            }
        }
        // Preemption matrix deltas: by preemptor cgroup (other cgroups) and by process (own cgroup).
        var byVictim: [UInt64: [String: Preemptor]] = [:]
        for (key, now) in pairs {
            let before = previousPairs[key] ?? PreemptionCounts()
            let count = now.count &- before.count, wait = now.waitNs &- before.waitNs
            let victim = group(key.victimCgroup, key.victimTgid, key.victimStart)
            guard count > 0, rows[victim] != nil else { continue }
            // Cgroup 0: nobody took the CPU (it went idle: a throttled or migrating task).
            let idle = key.preemptorCgroup == 0 && key.preemptorTgid == 0
            let preemptor = idle ? 0 : group(key.preemptorCgroup, key.preemptorTgid, key.preemptorStart)
            let sameGroup = !idle && preemptor == victim
            let label = idle ? "none (CPU idle)"
                : sameGroup ? (key.preemptorTgid == PreemptionPair.otherProcesses ? "other processes of its cgroup"
                               : "process \(key.preemptorTgid) (\(processName(key.preemptorTgid, key.preemptorStart)))")
                : path(preemptor)
            var p = byVictim[victim, default: [:]][label]
                ?? Preemptor(cgroup: preemptor, tgid: sameGroup ? key.preemptorTgid : nil, label: label, count: 0, waitNs: 0)
            p.count &+= count
            p.waitNs &+= wait
            byVictim[victim, default: [:]][label] = p
        }
        for (id, ps) in byVictim {
            rows[id]?.topPreemptors = ps.values.sorted { $0.waitNs != $1.waitNs ? $0.waitNs > $1.waitNs : $0.label < $1.label }
        }
        judge(&rows)
        return rows.values.sorted { $0.waitNs != $1.waitNs ? $0.waitNs > $1.waitNs : $0.cgroupID < $1.cgroupID }
    }

    /// The verdicts: throttled before noisy neighbour (a cgroup at its own quota is not anyone's
    /// victim), then a dominant large preemptor, else plain starvation.
    private func judge(_ rows: inout [UInt64: CgroupInterval]) {
        let ms = { (ns: UInt64) in formatFixed(Double(ns) / 1e6, decimals: 1) }
        var neighbours: [UInt64: [String]] = [:]
        for (id, r) in rows {
            guard r.waitsOverThreshold > 0 || (r.waitMaxNs ?? 0) >= settings.starvedNs else {
                rows[id]?.verdict = .ok
                continue
            }
            let throttledNs = max(r.throttledWaitNs, r.throttle?.throttledNs ?? 0)
            if let t = r.throttle, t.throttledPeriods > 0, Double(throttledNs) >= settings.throttledFraction * Double(max(1, r.waitNs)) {
                rows[id]?.verdict = .throttled
                rows[id]?.evidence = "throttled in \(t.throttledPeriods) of \(t.periods) periods, \(ms(t.throttledNs)) ms throttled (cpu.stat), \(ms(r.throttledWaitNs)) ms of waits began throttled"
                    + (t.quotaUs.map { q in " (quota \(q) µs per \(t.periodUs ?? 0) µs)" } ?? "")
                continue
            }
            let longWait = r.topPreemptors.reduce(0) { $0 &+ $1.waitNs }
            if let top = r.topPreemptors.first, longWait > 0, Double(top.waitNs) >= settings.dominance * Double(longWait) {
                // Another cgroup: a noisy neighbour when its own row shows a large CPU share.
                if top.tgid == nil, top.cgroup > 1, let share = rows[top.cgroup]?.cpuPercent, share >= settings.neighbourMinCPUPercent {
                    rows[id]?.verdict = .victim
                    rows[id]?.evidence = "\(top.label) used \(formatFixed(share, decimals: 1)) % CPU and held the CPU for \(ms(top.waitNs)) of \(ms(longWait)) ms of waits (\(top.count) waits); max wait \(ms(r.waitMaxNs ?? 0)) ms"
                    neighbours[top.cgroup, default: []].append(r.path)
                    continue
                }
                // A process of its own cgroup.
                if top.tgid != nil {
                    rows[id]?.verdict = .victim
                    rows[id]?.evidence = "\(top.label) (same cgroup) held the CPU for \(ms(top.waitNs)) of \(ms(longWait)) ms of waits (\(top.count) waits); max wait \(ms(r.waitMaxNs ?? 0)) ms"
                    continue
                }
            }
            rows[id]?.verdict = .starved
            rows[id]?.evidence = "\(r.waitsOverThreshold) waits over \(ms(settings.starvedNs)) ms, max \(ms(r.waitMaxNs ?? 0)) ms, no single cause dominates"
                + (r.topPreemptors.first.map { "; top: \($0.label) \(ms($0.waitNs)) ms" } ?? "")
        }
        for (id, victims) in neighbours {
            guard let r = rows[id], r.verdict == .ok || r.verdict == .starved else { continue }
            rows[id]?.verdict = .noisyNeighbour
            rows[id]?.evidence = "used \(formatFixed(r.cpuPercent, decimals: 1)) % CPU; main cause of the waits of \(victims.sorted().joined(separator: ", "))"
        }
    }
}
