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
///
/// The counters sit in one fixed-size vector (no heap): a reader folds thousands of these per
/// sample under churn.
public struct ThreadWork: Sendable, Equatable {
    // Slots of `c`: the counters, then the wait histogram.
    private static let threadsAt = 0, runtimeAt = 1, voluntaryAt = 2, involuntaryAt = 3
    private static let wakeupAt = 4, preemptAt = 6, throttledAt = 8  // total, count
    private static let sameAt = 10, otherAt = 11, systemAt = 12, causedAt = 13, migrationsAt = 14
    private static let histogramAt = 15
    private static let blockedIOAt = 51, sleepAt = 52  // after the 36 histogram slots
    private var c = SIMD64<UInt64>()
    /// Longest waits by cause (maxima, not counters).
    private var maxima = SIMD4<UInt64>()

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
        blockedIONs = t.blockedIONs
        sleepNs = t.sleepNs
        for (i, n) in t.waitHistogram.counts.enumerated() where i < LogHistogram.slotCount { c[Self.histogramAt + i] = n }
    }

    public var threads: UInt64 { get { c[Self.threadsAt] } set { c[Self.threadsAt] = newValue } }
    public var runtimeNs: UInt64 { get { c[Self.runtimeAt] } set { c[Self.runtimeAt] = newValue } }
    public var voluntarySwitches: UInt64 { get { c[Self.voluntaryAt] } set { c[Self.voluntaryAt] = newValue } }
    public var involuntarySwitches: UInt64 { get { c[Self.involuntaryAt] } set { c[Self.involuntaryAt] = newValue } }
    public var preemptedSame: UInt64 { get { c[Self.sameAt] } set { c[Self.sameAt] = newValue } }
    public var preemptedOther: UInt64 { get { c[Self.otherAt] } set { c[Self.otherAt] = newValue } }
    public var preemptedSystem: UInt64 { get { c[Self.systemAt] } set { c[Self.systemAt] = newValue } }
    public var preemptionsCaused: UInt64 { get { c[Self.causedAt] } set { c[Self.causedAt] = newValue } }
    public var migrations: UInt64 { get { c[Self.migrationsAt] } set { c[Self.migrationsAt] = newValue } }
    /// Asleep in io_schedule(), and asleep otherwise (load --jobs; else 0).
    public var blockedIONs: UInt64 { get { c[Self.blockedIOAt] } set { c[Self.blockedIOAt] = newValue } }
    public var sleepNs: UInt64 { get { c[Self.sleepAt] } set { c[Self.sleepAt] = newValue } }
    public var waitWakeup: WaitCounters { get { wait(Self.wakeupAt, 0) } set { setWait(newValue, Self.wakeupAt, 0) } }
    public var waitPreempt: WaitCounters { get { wait(Self.preemptAt, 1) } set { setWait(newValue, Self.preemptAt, 1) } }
    public var waitThrottled: WaitCounters { get { wait(Self.throttledAt, 2) } set { setWait(newValue, Self.throttledAt, 2) } }
    /// Waits by length, log2 over ns (``LogHistogram``'s slots).
    public var waitHistogram: [UInt64] {
        get { (0..<LogHistogram.slotCount).map { c[Self.histogramAt + $0] } }
        set { for (i, n) in newValue.prefix(LogHistogram.slotCount).enumerated() { c[Self.histogramAt + i] = n } }
    }

    private func wait(_ at: Int, _ m: Int) -> WaitCounters { WaitCounters(totalNs: c[at], count: c[at + 1], maxNs: maxima[m]) }
    private mutating func setWait(_ w: WaitCounters, _ at: Int, _ m: Int) { c[at] = w.totalNs; c[at + 1] = w.count; maxima[m] = w.maxNs }

    public var waitNs: UInt64 { waitWakeup.totalNs &+ waitPreempt.totalNs &+ waitThrottled.totalNs }
    public var waitCount: UInt64 { waitWakeup.count &+ waitPreempt.count &+ waitThrottled.count }

    /// The sum of two (maxima: the larger).
    public static func + (a: ThreadWork, b: ThreadWork) -> ThreadWork {
        var r = a
        r.c = a.c &+ b.c
        r.maxima = pointwiseMax(a.maxima, b.maxima)
        return r
    }

    /// What `a` has beyond `b`, counter by counter, never below zero (maxima: the larger).
    public static func - (a: ThreadWork, b: ThreadWork) -> ThreadWork {
        var r = a
        r.c = pointwiseMax(a.c, b.c) &- b.c
        r.maxima = pointwiseMax(a.maxima, b.maxima)
        return r
    }

    /// The larger of the two, counter by counter.
    func highest(_ other: ThreadWork) -> ThreadWork {
        var r = self
        r.c = pointwiseMax(c, other.c)
        r.maxima = pointwiseMax(maxima, other.maxima)
        return r
    }

    public var isZero: Bool { c == SIMD64<UInt64>() }

    /// Sets the wait histogram from the kernel's slots.
    public mutating func setWaitHistogram(_ slots: UnsafeBufferPointer<UInt64>) {
        for i in 0..<min(slots.count, LogHistogram.slotCount) { c[Self.histogramAt + i] = slots[i] }
    }
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
        let anyMissed = !missedReads.isEmpty
        for (key, now) in reading {
            if anyMissed { missedReads[key] = nil }
            guard let index = cumulative.index(forKey: key) else {
                cumulative[key] = now
                if primed && !now.isZero { growth[key] = now }
                continue
            }
            // Most entries are processes long gone: unchanged since the last read.
            let before = cumulative.values[index]
            if before == now { continue }
            let next = before.highest(now)
            let g = next - before
            if !g.isZero { growth[key] = g }
            cumulative.values[index] = next
        }
        if cumulative.count > reading.count || anyMissed {
            for key in cumulative.keys where reading[key] == nil {
                let missed = (missedReads[key] ?? 0) + 1
                if missed > retainReads { cumulative[key] = nil; missedReads[key] = nil } else { missedReads[key] = missed }
            }
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

/// A row that sums threads' work (a cgroup, a process): what exited threads add to it.
public protocol ExitedWorkSum {
    var runtimeNs: UInt64 { get set }
    var waitCount: UInt64 { get set }
    var waitNs: UInt64 { get set }
    var waitHistogram: LogHistogram { get set }
    var waitMaxNs: UInt64? { get set }
    var preemptedSame: UInt64 { get set }
    var preemptedOther: UInt64 { get set }
    var preemptedSystem: UInt64 { get set }
    var throttledWaitNs: UInt64 { get set }
    var preemptWaitNs: UInt64 { get set }
}

extension ExitedWorkSum {
    /// Adds the work of threads that exited (``ExitedWork``'s share of an interval).
    public mutating func add(_ w: ThreadWork) {
        runtimeNs &+= w.runtimeNs
        waitCount &+= w.waitCount
        waitNs &+= w.waitNs
        for (i, c) in w.waitHistogram.enumerated() where i < waitHistogram.counts.count { waitHistogram.counts[i] &+= c }
        if w.waitCount > 0 { waitMaxNs = max(waitMaxNs ?? 0, w.waitWakeup.maxNs, w.waitPreempt.maxNs, w.waitThrottled.maxNs) }
        preemptedSame &+= w.preemptedSame
        preemptedOther &+= w.preemptedOther
        preemptedSystem &+= w.preemptedSystem
        throttledWaitNs &+= w.waitThrottled.totalNs
        preemptWaitNs &+= w.waitPreempt.totalNs
    }
}
