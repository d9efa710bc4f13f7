/// What one thread did during one sampling interval, with its running totals.
public struct TaskInterval: Sendable, Equatable {
    /// The counters at the end of the interval.
    public var task: TaskCounters
    /// Length of the interval, ns (the same for every task of a sample).
    public var intervalNs: UInt64
    public var runtimeDeltaNs: UInt64
    /// Exponential moving average of ``runtimeDeltaNs`` over this task's intervals.
    public var runtimeEMANs: Double
    public var voluntarySwitches: UInt64
    public var involuntarySwitches: UInt64
    public var waitWakeupNs: UInt64
    public var waitPreemptNs: UInt64
    /// Wait that began under CFS throttling (the task's own cgroup quota).
    public var waitThrottledNs: UInt64 = 0
    public var waitCount: UInt64
    public var migrations: UInt64
    /// Waits closed in this interval, by size: computed when asked for, from the two snapshots'
    /// histograms (shared, not copied), since at 100k threads building one per thread per sample
    /// cost more than the rest of the interval arithmetic.
    public var waitHistogram: LogHistogram {
        get { baseHistogram.map { task.waitHistogram.delta(since: $0) } ?? task.waitHistogram }
        set { task.waitHistogram = newValue; baseHistogram = nil }
    }
    /// The histogram at the start of the interval (nil: the task is new, it counts from zero).
    public var baseHistogram: LogHistogram?
    /// Involuntary switch-outs by who took the CPU.
    public var preemptedSame: UInt64 = 0
    public var preemptedOther: UInt64 = 0
    public var preemptedSystem: UInt64 = 0
    /// Times this task took the CPU from a runnable task.
    public var preemptionsCaused: UInt64 = 0
    /// Migration storms raised for this task.
    public var migrationStorms: UInt64 = 0
    /// The workload the thread belongs to (nil: not resolved; ``Sampler`` resolves it).
    public var workload: WorkloadIdentity? = nil

    /// Share of one CPU used in the interval, percent.
    public var cpuPercent: Double {
        intervalNs == 0 ? 0 : Double(runtimeDeltaNs) / Double(intervalNs) * 100
    }
    public var switches: UInt64 { voluntarySwitches + involuntarySwitches }
    public var waitNs: UInt64 { waitWakeupNs + waitPreemptNs + waitThrottledNs }
    /// Median wait of the interval from the histogram, ns; nil when it closed no wait.
    public var waitP50Ns: UInt64? { waitHistogram.percentile(0.50, ceiling: task.waitMaxNs) }
    /// 99th percentile wait of the interval from the histogram, ns.
    public var waitP99Ns: UInt64? { waitHistogram.percentile(0.99, ceiling: task.waitMaxNs) }
}

/// Turns successive snapshots of the `tasks` map into per-interval deltas and EMAs.
///
/// A task seen for the first time counts from zero (everything it did happened since the BPF side
/// first saw it); a pid whose start time changed is a new task; tasks that vanished are forgotten.
public struct IntervalTracker: Sendable {
    /// EMA smoothing factor in (0, 1]: weight of the newest interval.
    public let alpha: Double
    // The previous snapshot as an array, each task's EMA at the same index, and where to find a
    // pid in it: a flat pid -> index table while pids stay small (they are below pid_max, 2^22 at
    // most on Linux), a dictionary otherwise. At 100k threads a dictionary of the counters
    // themselves cost more than everything else in a sample.
    private var previous: [TaskCounters] = []
    private var previousEMA: [Double] = []
    private var index = PidIndex()
    private var previousAtNs: UInt64?
    /// Tasks of the snapshot before the last that are gone from the last one (exited, or their
    /// pid reused), as last seen: what they did up to then was counted in earlier intervals.
    public private(set) var vanished: [TaskCounters] = []

    public init(alpha: Double) {
        precondition(alpha > 0 && alpha <= 1, "alpha must be in (0, 1]")
        self.alpha = alpha
    }

    /// Records `snapshot` taken at `atNs` (CLOCK_MONOTONIC) and returns one interval per task, or
    /// an empty array for the first snapshot, which only sets the baseline.
    ///
    /// Runtime never goes backwards: a running thread's runtime is an estimate (its stretch on the
    /// CPU so far), and one that came out above the next reading gives a zero delta, with the
    /// higher value kept as the base, so no time is counted twice.
    public mutating func advance(to snapshot: [TaskCounters], atNs: UInt64) -> [TaskInterval] {
        var snapshot = snapshot
        var nextEMA = [Double](repeating: 0, count: snapshot.count)
        var out: [TaskInterval] = []
        var matched = [Bool](repeating: false, count: previous.count)
        if let since = previousAtNs {
            let intervalNs = atNs &- since
            out.reserveCapacity(snapshot.count)
            previous.withUnsafeBufferPointer { prev in
                previousEMA.withUnsafeBufferPointer { prevEMA in
                    for (i, t) in snapshot.enumerated() {
                        var j = index.find(t.pid)
                        if j >= 0 && (j >= prev.count || prev[j].pid != t.pid || prev[j].startTimeNs != t.startTimeNs) { j = -1 }
                        if j >= 0 { matched[j] = true }
                        // A task seen for the first time (or a reused pid) counts from zero.
                        let zero = j < 0 ? TaskCounters(pid: t.pid, tgid: t.tgid, comm: t.comm) : nil
                        let interval = withBase(j >= 0 ? prev[j] : zero!) { b in
                            let backwards = t.runtimeNs < b.runtimeNs
                            let runtimeDelta = backwards ? 0 : t.runtimeNs - b.runtimeNs
                            // The first interval of a task seeds its EMA (NaN: no EMA yet).
                            let before = j >= 0 ? prevEMA[j] : .nan
                            let ema = before.isNaN ? Double(runtimeDelta) : alpha * Double(runtimeDelta) + (1 - alpha) * before
                            nextEMA[i] = ema
                            var interval = TaskInterval(
                                task: t,
                                intervalNs: intervalNs,
                                runtimeDeltaNs: runtimeDelta,
                                runtimeEMANs: ema,
                                voluntarySwitches: t.voluntarySwitches &- b.voluntarySwitches,
                                involuntarySwitches: t.involuntarySwitches &- b.involuntarySwitches,
                                waitWakeupNs: t.waitAfterWakeup.totalNs &- b.waitAfterWakeup.totalNs,
                                waitPreemptNs: t.waitAfterPreemption.totalNs &- b.waitAfterPreemption.totalNs,
                                waitCount: t.waitCount &- b.waitCount,
                                migrations: t.migrations &- b.migrations,
                                baseHistogram: j >= 0 ? b.waitHistogram : nil
                            )
                            interval.waitThrottledNs = t.waitAfterThrottle.totalNs &- b.waitAfterThrottle.totalNs
                            interval.preemptedSame = t.preemptedSame &- b.preemptedSame
                            interval.preemptedOther = t.preemptedOther &- b.preemptedOther
                            interval.preemptedSystem = t.preemptedSystem &- b.preemptedSystem
                            interval.preemptionsCaused = t.preemptionsCaused &- b.preemptionsCaused
                            interval.migrationStorms = t.migrationStorms &- b.migrationStorms
                            if backwards {
                                interval.task.runtimeNs = b.runtimeNs
                                snapshot[i].runtimeNs = b.runtimeNs
                            }
                            return interval
                        }
                        out.append(interval)
                    }
                }
            }
        } else {
            nextEMA = [Double](repeating: .nan, count: snapshot.count)
        }
        vanished = previousAtNs == nil ? [] : previous.indices.lazy.filter { !matched[$0] }.map { previous[$0] }
        index.replace(previous, with: snapshot)
        previous = snapshot
        previousEMA = nextEMA
        previousAtNs = atNs
        return out
    }
}

/// Borrows `base` for `body` (no copy of its histogram or name).
@inline(__always)
private func withBase<R>(_ base: borrowing TaskCounters, _ body: (borrowing TaskCounters) -> R) -> R { body(base) }

/// Where each pid sits in the previous snapshot.
private struct PidIndex: Sendable {
    /// Flat table: slot[pid] = index + 1 (0: absent). Used while every pid is below `flatLimit`.
    private var slot: [Int32] = []
    private var dictionary: [UInt32: Int32]? = nil
    private static let flatLimit: UInt32 = 1 << 23

    /// Index of `pid` in the previous snapshot, or -1.
    func find(_ pid: UInt32) -> Int {
        if let dictionary { return dictionary[pid].map(Int.init) ?? -1 }
        return Int(pid) < slot.count ? Int(slot[Int(pid)]) - 1 : -1
    }

    /// Forgets `old` and indexes `new`.
    mutating func replace(_ old: [TaskCounters], with new: [TaskCounters]) {
        let maxPid = new.reduce(0) { max($0, $1.pid) }
        if maxPid >= Self.flatLimit {
            var d = [UInt32: Int32](minimumCapacity: new.count)
            for (i, t) in new.enumerated() { d[t.pid] = Int32(i) }
            dictionary = d
            slot = []
            return
        }
        if dictionary != nil {
            dictionary = nil
        } else {
            slot.withUnsafeMutableBufferPointer { s in for t in old where Int(t.pid) < s.count { s[Int(t.pid)] = 0 } }
        }
        if slot.count <= Int(maxPid) { slot += [Int32](repeating: 0, count: Int(maxPid) + 1 - slot.count) }
        slot.withUnsafeMutableBufferPointer { s in for (i, t) in new.enumerated() { s[Int(t.pid)] = Int32(i + 1) } }
    }
}

/// Which tasks a report shows. Empty criteria match everything.
public struct TaskFilter: Sendable, Equatable {
    public var pids: Set<UInt32>
    public var tgids: Set<UInt32>
    /// Substring a task's comm must contain.
    public var comm: String?
    /// Whether kernel threads are shown.
    public var includeKernelThreads: Bool

    public init(pids: Set<UInt32> = [], tgids: Set<UInt32> = [], comm: String? = nil, includeKernelThreads: Bool = true) {
        self.pids = pids
        self.tgids = tgids
        self.comm = comm
        self.includeKernelThreads = includeKernelThreads
    }

    /// Whether it lets every task through (then there is nothing to filter, nor to copy).
    public var isEmpty: Bool { pids.isEmpty && tgids.isEmpty && comm == nil && includeKernelThreads }

    /// `tasks` less those it does not match; `tasks` itself (no copy) when it matches all.
    public func apply(_ tasks: [TaskCounters]) -> [TaskCounters] { isEmpty ? tasks : tasks.filter(matches) }

    public func matches(_ t: TaskCounters) -> Bool {
        if !pids.isEmpty && !pids.contains(t.pid) { return false }
        if !tgids.isEmpty && !tgids.contains(t.tgid) { return false }
        if let comm, !t.comm.contains(comm) { return false }
        if !includeKernelThreads && t.isKernelThread { return false }
        return true
    }
}

/// The `top` busiest tasks of an interval: most on-CPU time first, then most wait, then pid.
public func busiest(_ intervals: [TaskInterval], top: Int) -> [TaskInterval] {
    // Sort small keys, not the intervals themselves (each holds the counters and a histogram).
    struct Key { var runtime: UInt64; var wait: UInt64; var pid: UInt32; var index: Int32 }
    // By index: `enumerated()` would copy (and retain) every interval just to read three fields.
    var keys = intervals.indices.map { i in
        Key(runtime: intervals[i].runtimeDeltaNs, wait: intervals[i].waitNs, pid: intervals[i].task.pid, index: Int32(i))
    }
    keys.sort {
        if $0.runtime != $1.runtime { return $0.runtime > $1.runtime }
        if $0.wait != $1.wait { return $0.wait > $1.wait }
        return $0.pid < $1.pid
    }
    let n = top > 0 ? min(top, keys.count) : keys.count
    return keys[..<n].map { intervals[Int($0.index)] }
}
