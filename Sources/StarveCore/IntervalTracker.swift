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
    public var waitCount: UInt64
    public var migrations: UInt64
    /// Waits closed in this interval, by size.
    public var waitHistogram: LogHistogram

    /// Share of one CPU used in the interval, percent.
    public var cpuPercent: Double {
        intervalNs == 0 ? 0 : Double(runtimeDeltaNs) / Double(intervalNs) * 100
    }
    public var switches: UInt64 { voluntarySwitches + involuntarySwitches }
    public var waitNs: UInt64 { waitWakeupNs + waitPreemptNs }
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
    private var previous: [UInt32: TaskCounters] = [:]
    private var ema: [UInt32: Double] = [:]
    private var previousAtNs: UInt64?

    public init(alpha: Double) {
        precondition(alpha > 0 && alpha <= 1, "alpha must be in (0, 1]")
        self.alpha = alpha
    }

    /// Records `snapshot` taken at `atNs` (CLOCK_MONOTONIC) and returns one interval per task, or
    /// an empty array for the first snapshot, which only sets the baseline.
    public mutating func advance(to snapshot: [TaskCounters], atNs: UInt64) -> [TaskInterval] {
        defer { previousAtNs = atNs }
        var next: [UInt32: TaskCounters] = [:]
        next.reserveCapacity(snapshot.count)
        for t in snapshot { next[t.pid] = t }
        defer { previous = next }
        guard let since = previousAtNs else { return [] }
        let intervalNs = atNs &- since

        var nextEMA: [UInt32: Double] = [:]
        nextEMA.reserveCapacity(snapshot.count)
        var out: [TaskInterval] = []
        out.reserveCapacity(snapshot.count)
        for t in snapshot {
            var base = previous[t.pid]
            if let b = base, b.startTimeNs != t.startTimeNs { base = nil }
            let zero = TaskCounters(pid: t.pid, tgid: t.tgid, comm: t.comm)
            let b = base ?? zero
            let runtimeDelta = t.runtimeNs &- b.runtimeNs
            let ema = (base == nil ? nil : self.ema[t.pid]).map { alpha * Double(runtimeDelta) + (1 - alpha) * $0 }
                ?? Double(runtimeDelta)
            nextEMA[t.pid] = ema
            out.append(TaskInterval(
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
                waitHistogram: t.waitHistogram.delta(since: b.waitHistogram)
            ))
        }
        ema = nextEMA
        return out
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
    let sorted = intervals.sorted {
        if $0.runtimeDeltaNs != $1.runtimeDeltaNs { return $0.runtimeDeltaNs > $1.runtimeDeltaNs }
        if $0.waitNs != $1.waitNs { return $0.waitNs > $1.waitNs }
        return $0.task.pid < $1.task.pid
    }
    return top > 0 ? Array(sorted.prefix(top)) : sorted
}
