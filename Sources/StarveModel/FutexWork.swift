/// One thread's futex waits as the kernel side counts them (`struct starve_futex_thread`):
/// cumulative, a wait counted when it ends.
public struct FutexCounters: Sendable, Equatable {
    public var tgid: UInt32
    public var waitNs: UInt64
    public var waits: UInt64

    public init(tgid: UInt32, waitNs: UInt64, waits: UInt64) {
        self.tgid = tgid
        self.waitNs = waitNs
        self.waits = waits
    }
}

/// Futex waits over one interval (of a thread, a process, a cgroup or a workload).
public struct FutexWork: Sendable, Equatable {
    /// Time from entering futex waits that ended in the interval to leaving them.
    public var waitNs: UInt64 = 0
    public var waits: UInt64 = 0

    public init(waitNs: UInt64 = 0, waits: UInt64 = 0) {
        self.waitNs = waitNs
        self.waits = waits
    }

    public mutating func add(_ o: FutexWork) {
        waitNs &+= o.waitNs
        waits &+= o.waits
    }

    /// Share of `threads` threads' time over `intervalNs` spent in futex waits, percent.
    public func share(threads: Int, intervalNs: UInt64) -> Double {
        threads == 0 || intervalNs == 0 ? 0 : Double(waitNs) / (Double(threads) * Double(intervalNs)) * 100
    }
}

/// Turns successive reads of the per-thread futex counters into each interval's growth per
/// thread. A tid new since the last read counts whole (its entry was made in the interval); a
/// tid whose counters went down was evicted and reused: it counts from zero.
public struct FutexTracker: Sendable {
    private var last: [UInt32: FutexCounters] = [:]

    public init() {}

    /// The interval's futex work per tid, and the reading kept for the next interval. The first
    /// call only takes the baseline.
    public mutating func advance(to now: [UInt32: FutexCounters], baseline: Bool = false) -> [UInt32: (tgid: UInt32, work: FutexWork)] {
        defer { last = now }
        if baseline { return [:] }
        var out: [UInt32: (tgid: UInt32, work: FutexWork)] = [:]
        for (tid, c) in now {
            let before = last[tid].flatMap { $0.tgid == c.tgid && $0.waits <= c.waits && $0.waitNs <= c.waitNs ? $0 : nil }
            let w = FutexWork(waitNs: c.waitNs - (before?.waitNs ?? 0), waits: c.waits - (before?.waits ?? 0))
            if w.waits > 0 { out[tid] = (c.tgid, w) }
        }
        return out
    }
}
