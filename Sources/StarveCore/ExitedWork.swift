/// A process in a cgroup: what the kernel side folds exited threads into (`struct
/// starve_exited_key`). The tgid and start tag name one process (a reused tgid has another tag).
public struct ProcessInCgroup: Hashable, Sendable {
    public var cgroupID: UInt64
    public var tgid: UInt32
    public var start: UInt32

    public init(cgroupID: UInt64, tgid: UInt32, start: UInt32) {
        self.cgroupID = cgroupID
        self.tgid = tgid
        self.start = start
    }
}

/// Cumulative work of threads: what `struct starve_exited` holds for the threads of a process
/// that exited, and what one live thread's counters add up to. Counters only grow.
public struct ThreadWork: Sendable, Equatable {
    public var threads: UInt64 = 0
    public var runtimeNs: UInt64 = 0
    public var voluntarySwitches: UInt64 = 0
    public var involuntarySwitches: UInt64 = 0
    public var waitWakeup = WaitCounters()
    public var waitPreempt = WaitCounters()
    public var waitThrottled = WaitCounters()
    public var preemptedSame: UInt64 = 0
    public var preemptedOther: UInt64 = 0
    public var preemptedSystem: UInt64 = 0
    public var preemptionsCaused: UInt64 = 0
    public var migrations: UInt64 = 0
    public var waitHistogram = [UInt64](repeating: 0, count: LogHistogram.slotCount)

    public init() {}

    /// One live thread's totals so far.
    public init(_ t: TaskCounters) {
        threads = 1
        runtimeNs = t.runtimeNs
        voluntarySwitches = t.voluntarySwitches
        involuntarySwitches = t.involuntarySwitches
        waitWakeup = t.waitAfterWakeup
        waitPreempt = t.waitAfterPreemption
        waitThrottled = t.waitAfterThrottle
        preemptedSame = t.preemptedSame
        preemptedOther = t.preemptedOther
        preemptedSystem = t.preemptedSystem
        preemptionsCaused = t.preemptionsCaused
        migrations = t.migrations
        for (i, c) in t.waitHistogram.counts.enumerated() where i < waitHistogram.count { waitHistogram[i] = c }
    }

    public var waitNs: UInt64 { waitWakeup.totalNs &+ waitPreempt.totalNs &+ waitThrottled.totalNs }
    public var waitCount: UInt64 { waitWakeup.count &+ waitPreempt.count &+ waitThrottled.count }

    /// Every counter, in one order (the longest waits are not counters: kept apart).
    var counters: [UInt64] {
        [threads, runtimeNs, voluntarySwitches, involuntarySwitches, waitWakeup.totalNs, waitWakeup.count,
         waitPreempt.totalNs, waitPreempt.count, waitThrottled.totalNs, waitThrottled.count, preemptedSame,
         preemptedOther, preemptedSystem, preemptionsCaused, migrations] + waitHistogram
    }

    init(counters c: [UInt64], maxima: (UInt64, UInt64, UInt64)) {
        threads = c[0]; runtimeNs = c[1]; voluntarySwitches = c[2]; involuntarySwitches = c[3]
        waitWakeup = WaitCounters(totalNs: c[4], count: c[5], maxNs: maxima.0)
        waitPreempt = WaitCounters(totalNs: c[6], count: c[7], maxNs: maxima.1)
        waitThrottled = WaitCounters(totalNs: c[8], count: c[9], maxNs: maxima.2)
        preemptedSame = c[10]; preemptedOther = c[11]; preemptedSystem = c[12]; preemptionsCaused = c[13]; migrations = c[14]
        waitHistogram = Array(c[15...])
    }

    var maxima: (UInt64, UInt64, UInt64) { (waitWakeup.maxNs, waitPreempt.maxNs, waitThrottled.maxNs) }

    /// Counter by counter: `combine` of the two; maxima the larger.
    func zipped(_ other: ThreadWork, _ combine: (UInt64, UInt64) -> UInt64) -> ThreadWork {
        let a = counters, b = other.counters
        return ThreadWork(counters: zip(a, b).map(combine),
                          maxima: (max(maxima.0, other.maxima.0), max(maxima.1, other.maxima.1), max(maxima.2, other.maxima.2)))
    }

    /// The sum of two (maxima: the larger).
    public static func + (a: ThreadWork, b: ThreadWork) -> ThreadWork { a.zipped(b, &+) }
    /// What `a` has beyond `b`, counter by counter, never below zero.
    public static func - (a: ThreadWork, b: ThreadWork) -> ThreadWork { a.zipped(b) { $0 > $1 ? $0 - $1 : 0 } }
    /// The larger of the two, counter by counter.
    func highest(_ other: ThreadWork) -> ThreadWork { zipped(other, max) }
    public var isZero: Bool { counters.allSatisfy { $0 == 0 } }
}

/// What threads that exited did in each interval, per process and cgroup, from the kernel's
/// `exited` map (cumulative per process, folded in as each thread exits) and the threads the
/// reader saw alive before.
///
/// A thread that exits after it was seen alive was counted, up to the last sample it was seen
/// in, by the per-thread intervals; its exit folds its whole life into `exited`. So an
/// interval's share of exited work is the growth of `exited` less the vanished threads' totals
/// as last seen. The two may arrive in different reads (the thread leaves the tasks iterator as
/// it starts exiting, its fold follows): what is owed is carried over until the fold arrives.
/// Reads are made monotonic like ``PreemptionMatrix``: an entry missing from one read (evicted,
/// or read between two places) keeps its value for ``retainReads`` reads.
public struct ExitedWork: Sendable {
    public var retainReads: Int
    private var cumulative: [ProcessInCgroup: ThreadWork] = [:]
    private var missedReads: [ProcessInCgroup: Int] = [:]
    /// Vanished threads' last-seen totals not yet matched by a fold, and reads waited for it.
    private var owed: [ProcessInCgroup: (work: ThreadWork, reads: Int)] = [:]
    private var primed = false

    public init(retainReads: Int = 3) { self.retainReads = retainReads }

    /// Folds in one read of `exited` and the threads that vanished since the last one; returns
    /// each process's exited work in the interval (empty for the first read, the baseline).
    public mutating func advance(reading: [ProcessInCgroup: ThreadWork], vanished: [TaskCounters]) -> [ProcessInCgroup: ThreadWork] {
        var growth: [ProcessInCgroup: ThreadWork] = [:]
        for (key, now) in reading {
            if let before = cumulative[key] {
                let next = before.highest(now)
                let g = next - before
                if !g.isZero { growth[key] = g }
                cumulative[key] = next
            } else {
                cumulative[key] = now
                if primed && !now.isZero { growth[key] = now }
            }
            missedReads[key] = nil
        }
        for key in cumulative.keys where reading[key] == nil {
            let missed = (missedReads[key] ?? 0) + 1
            if missed > retainReads { cumulative[key] = nil; missedReads[key] = nil } else { missedReads[key] = missed }
        }
        defer { primed = true }
        guard primed else { return [:] }
        for t in vanished {
            let key = ProcessInCgroup(cgroupID: t.cpuCgroupID, tgid: t.tgid, start: t.processStart)
            owed[key] = ((owed[key]?.work ?? ThreadWork()) + ThreadWork(t), 0)
        }
        var out: [ProcessInCgroup: ThreadWork] = [:]
        for (key, g) in growth {
            guard let o = owed[key] else { out[key] = g; continue }
            let share = g - o.work
            if !share.isZero { out[key] = share }
            let left = o.work - g
            owed[key] = left.isZero ? nil : (left, 0)
        }
        // A fold that never comes (the entry could not be made, or was evicted first): forget.
        for (key, o) in owed where growth[key] == nil {
            owed[key] = o.reads + 1 > retainReads ? nil : (o.work, o.reads + 1)
        }
        return out
    }
}
