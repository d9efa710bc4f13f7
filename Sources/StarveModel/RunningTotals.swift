/// Cumulative figures of a workload (or of the whole host) since the sampler started: each
/// interval's figures added in, exited threads' work included, so no counter ever goes
/// backwards when threads or processes exit (an exporter's counter that dropped would read as a
/// reset). The sampler keeps one per workload seen and one for the host.
public struct RunningTotals: Sendable, Equatable {
    /// On-CPU time, ns.
    public var runtimeNs: UInt64 = 0
    /// Run-queue waits that ended.
    public var waitCount: UInt64 = 0
    /// Their total length, ns, and by how each began.
    public var waitNs: UInt64 = 0
    public var preemptWaitNs: UInt64 = 0
    public var throttledWaitNs: UInt64 = 0
    /// The waits by size (log2 ns slots, ``LogHistogram``), exact counts.
    public var waitHistogram = LogHistogram(counts: Array(repeating: 0, count: LogHistogram.slotCount))
    /// Waits at or above the starvation threshold.
    public var waitsOverThreshold: UInt64 = 0
    /// Involuntary switch-outs by who took the CPU: the same workload's (same cgroup) task,
    /// another workload's, the system (kernel threads, the root cgroup).
    public var preemptedSame: UInt64 = 0
    public var preemptedOther: UInt64 = 0
    public var preemptedSystem: UInt64 = 0
    /// CFS bandwidth (cpu.stat, summed over the workload's cgroups): periods, throttled periods,
    /// throttled time, ns.
    public var periods: UInt64 = 0
    public var throttledPeriods: UInt64 = 0
    public var throttledNs: UInt64 = 0
    /// Intervals with a verdict other than ok, by verdict.
    public var verdictIntervals: [CgroupVerdict: UInt64] = [:]
    /// Waits booked to each preemptor (victim x preemptor; workloads only): count and ns.
    public var preemptors: [PreemptorKey: PreemptionCounts] = [:]
    /// The last sample that added to it (for expiring workloads that are gone).
    public var lastSample: Int = 0

    public init() {}

    /// Wait that began with a wakeup, ns.
    public var wakeupWaitNs: UInt64 { waitNs &- preemptWaitNs &- throttledWaitNs }

    /// Adds one interval's figures of a cgroup or workload row (sample `sample`).
    public mutating func add(_ r: CgroupInterval, sample: Int) {
        runtimeNs &+= r.runtimeNs
        addWaits(count: r.waitCount, ns: r.waitNs, preemptNs: r.preemptWaitNs, throttledNs: r.throttledWaitNs, histogram: r.waitHistogram)
        waitsOverThreshold &+= r.waitsOverThreshold
        preemptedSame &+= r.preemptedSame
        preemptedOther &+= r.preemptedOther
        preemptedSystem &+= r.preemptedSystem
        if let t = r.throttle {
            periods &+= t.periods
            throttledPeriods &+= t.throttledPeriods
            throttledNs &+= t.throttledNs
        }
        if r.verdict != .ok { verdictIntervals[r.verdict, default: 0] &+= 1 }
        lastSample = sample
    }

    /// Adds one thread's interval (the host's totals are summed from threads and exited work).
    public mutating func add(_ t: TaskInterval, sample: Int) {
        runtimeNs &+= t.runtimeDeltaNs
        addWaits(count: t.waitCount, ns: t.waitNs, preemptNs: t.waitPreemptNs, throttledNs: t.waitThrottledNs, histogram: t.waitHistogram)
        preemptedSame &+= t.preemptedSame
        preemptedOther &+= t.preemptedOther
        preemptedSystem &+= t.preemptedSystem
        lastSample = sample
    }

    /// Adds the work of threads that exited in the interval.
    public mutating func add(_ w: ThreadWork, sample: Int) {
        runtimeNs &+= w.runtimeNs
        addWaits(count: w.waitCount, ns: w.waitNs, preemptNs: w.waitPreempt.totalNs, throttledNs: w.waitThrottled.totalNs,
                 histogram: LogHistogram(counts: Array(w.waitHistogram)))
        preemptedSame &+= w.preemptedSame
        preemptedOther &+= w.preemptedOther
        preemptedSystem &+= w.preemptedSystem
        lastSample = sample
    }

    /// Adds the waits and preemptions of `other` (not its runtime or cpu.stat figures).
    public mutating func add(waitsOf other: RunningTotals) {
        addWaits(count: other.waitCount, ns: other.waitNs, preemptNs: other.preemptWaitNs, throttledNs: other.throttledWaitNs,
                 histogram: other.waitHistogram)
        waitsOverThreshold &+= other.waitsOverThreshold
        preemptedSame &+= other.preemptedSame
        preemptedOther &+= other.preemptedOther
        preemptedSystem &+= other.preemptedSystem
    }

    private mutating func addWaits(count: UInt64, ns: UInt64, preemptNs: UInt64, throttledNs: UInt64, histogram: LogHistogram) {
        waitCount &+= count
        waitNs &+= ns
        preemptWaitNs &+= preemptNs
        throttledWaitNs &+= throttledNs
        for (i, c) in histogram.counts.enumerated() where i < waitHistogram.counts.count { waitHistogram.counts[i] &+= c }
    }
}

/// Who held a workload off the CPU, as a running-totals key: another workload (its kind and
/// name), the workload itself (its own processes), or the idle CPU (`idle`, `idle`: nobody took
/// the CPU; its task was throttled or moved).
public struct PreemptorKey: Hashable, Sendable, Comparable {
    public var kind: String
    public var name: String

    public init(kind: String, name: String) {
        self.kind = kind
        self.name = name
    }

    public static let idle = PreemptorKey(kind: "idle", name: "idle")

    public static func < (a: PreemptorKey, b: PreemptorKey) -> Bool { (a.kind, a.name) < (b.kind, b.name) }
}
