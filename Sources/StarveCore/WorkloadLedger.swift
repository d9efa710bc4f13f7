/// Who held a workload off the CPU, as a cumulative counter key: another workload (its kind and
/// name), the workload itself (its own processes), or the idle CPU (`idle`, `idle`: nobody took
/// the CPU, its task was throttled or moved).
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

/// What one workload did since a reader started: the sum of its interval rows
/// (``WorkloadInterval``), threads that exited included. Counters only grow; the gauges
/// (threads, processes, cgroups) are the last interval's.
public struct WorkloadTotals: Sendable, Equatable {
    public var identity: WorkloadIdentity
    public var runtimeNs: UInt64 = 0
    public var waitCount: UInt64 = 0
    public var wakeupWaitNs: UInt64 = 0
    public var preemptWaitNs: UInt64 = 0
    public var throttledWaitNs: UInt64 = 0
    /// Waits by length, the kernel's log2 slots over ns (``LogHistogram``): exact counts.
    public var waitHistogram = [UInt64](repeating: 0, count: LogHistogram.slotCount)
    /// Involuntary switch-outs by who took the CPU: same cpu cgroup, another cgroup, the system.
    public var preemptedSame: UInt64 = 0
    public var preemptedOther: UInt64 = 0
    public var preemptedSystem: UInt64 = 0
    /// cpu.stat of its cgroups: CFS periods, periods throttled, time throttled (ns).
    public var periods: UInt64 = 0
    public var throttledPeriods: UInt64 = 0
    public var throttledNs: UInt64 = 0
    /// Intervals judged each way (``CgroupVerdict``), `ok` left out.
    public var verdicts: [CgroupVerdict: UInt64] = [:]
    /// Waits booked to each preemptor: count and ns.
    public var preemptors: [PreemptorKey: PreemptionCounts] = [:]
    /// The last interval's threads, processes and cgroups.
    public var threads: Int = 0
    public var processes: Int = 0
    public var cgroups: Int = 0
    /// CLOCK_MONOTONIC ns of the last interval it had a row in.
    public var lastSeenNs: UInt64 = 0

    public init(identity: WorkloadIdentity) { self.identity = identity }

    /// Run-queue wait of every cause, ns.
    public var waitNs: UInt64 { wakeupWaitNs &+ preemptWaitNs &+ throttledWaitNs }

    /// Adds one interval row of this workload; `preemptor` names each of its preemptors.
    public mutating func add(_ row: WorkloadInterval, atNs: UInt64, preemptor: (Preemptor) -> PreemptorKey) {
        let f = row.figures
        runtimeNs &+= f.runtimeNs
        waitCount &+= f.waitCount
        wakeupWaitNs &+= f.wakeupWaitNs
        preemptWaitNs &+= f.preemptWaitNs
        throttledWaitNs &+= f.throttledWaitNs
        for (i, c) in f.waitHistogram.counts.enumerated() where i < waitHistogram.count { waitHistogram[i] &+= c }
        preemptedSame &+= f.preemptedSame
        preemptedOther &+= f.preemptedOther
        preemptedSystem &+= f.preemptedSystem
        if let t = f.throttle {
            periods &+= t.periods
            throttledPeriods &+= t.throttledPeriods
            throttledNs &+= t.throttledNs
        }
        if f.verdict != .ok { verdicts[f.verdict, default: 0] &+= 1 }
        for p in f.topPreemptors where p.count > 0 || p.waitNs > 0 {
            preemptors[preemptor(p), default: PreemptionCounts()].add(PreemptionCounts(count: p.count, waitNs: p.waitNs))
        }
        threads = f.tasks
        processes = row.processes
        cgroups = row.cgroups
        lastSeenNs = atNs
    }

    /// The same totals plus another's (folding workloads into one series); gauges summed.
    public mutating func merge(_ o: WorkloadTotals) {
        runtimeNs &+= o.runtimeNs
        waitCount &+= o.waitCount
        wakeupWaitNs &+= o.wakeupWaitNs
        preemptWaitNs &+= o.preemptWaitNs
        throttledWaitNs &+= o.throttledWaitNs
        for i in waitHistogram.indices where i < o.waitHistogram.count { waitHistogram[i] &+= o.waitHistogram[i] }
        preemptedSame &+= o.preemptedSame
        preemptedOther &+= o.preemptedOther
        preemptedSystem &+= o.preemptedSystem
        periods &+= o.periods
        throttledPeriods &+= o.throttledPeriods
        throttledNs &+= o.throttledNs
        for (v, n) in o.verdicts { verdicts[v, default: 0] &+= n }
        for (k, c) in o.preemptors { preemptors[k, default: PreemptionCounts()].add(c) }
        threads += o.threads
        processes += o.processes
        cgroups += o.cgroups
        lastSeenNs = max(lastSeenNs, o.lastSeenNs)
    }
}

/// Cumulative figures per workload across samples (and across collector reloads, when a reader
/// hands it to its next sampler): what exporters publish as counters, which must never go
/// backwards while threads and processes come and go. A workload with no row for `expiryNs`
/// (no thread left, no exited work folded) is forgotten: its series end.
public struct WorkloadLedger: Sendable {
    /// Default expiry: five minutes, longer than any sane scrape interval, short enough that a
    /// host whose containers churn keeps a bounded table.
    public static let defaultExpirySeconds: Double = 300

    public private(set) var totals: [WorkloadKey: WorkloadTotals] = [:]
    public var expiryNs: UInt64

    public init(expiryNs: UInt64 = UInt64(WorkloadLedger.defaultExpirySeconds * 1e9)) { self.expiryNs = expiryNs }

    /// Adds one sample's rows, taken at `atNs` (CLOCK_MONOTONIC), then forgets workloads unseen
    /// for `expiryNs`; returns the forgotten ones, as last seen.
    @discardableResult
    public mutating func record(_ rows: [WorkloadInterval], atNs: UInt64, preemptor: (WorkloadInterval, Preemptor) -> PreemptorKey) -> [WorkloadTotals] {
        for row in rows {
            var t = totals[row.key] ?? WorkloadTotals(identity: row.identity)
            t.add(row, atNs: atNs) { preemptor(row, $0) }
            totals[row.key] = t
        }
        return expire(atNs: atNs)
    }

    /// Forgets workloads unseen for `expiryNs` at `atNs`; the forgotten ones, as last seen.
    @discardableResult
    public mutating func expire(atNs: UInt64) -> [WorkloadTotals] {
        var gone: [WorkloadTotals] = []
        for (k, t) in totals where atNs > t.lastSeenNs && atNs - t.lastSeenNs > expiryNs {
            gone.append(t)
            totals[k] = nil
        }
        return gone
    }

    /// Sets one workload's totals (tests, and readers that restore a ledger).
    public mutating func set(_ t: WorkloadTotals) { totals[t.identity.key] = t }
}
