/// A task's `/proc/<pid>/schedstat`: the kernel's own sched_info accounting, which starve's
/// figures are checked against. StarveHost reads it (`Schedstat.read`).
public struct Schedstat: Sendable, Hashable {
    /// Time on a CPU, ns (`se.sum_exec_runtime`).
    public var runNs: UInt64
    /// Time runnable on a run queue, ns (`sched_info.run_delay`).
    public var waitNs: UInt64
    /// Times it was switched in (`sched_info.pcount`).
    public var timeslices: UInt64

    /// A reading.
    public init(runNs: UInt64, waitNs: UInt64, timeslices: UInt64) {
        self.runNs = runNs
        self.waitNs = waitNs
        self.timeslices = timeslices
    }

    /// Parses the three numbers of a schedstat text; nil when it is not one.
    public static func parse(_ text: String) -> Schedstat? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        return f.count == 3 ? Schedstat(runNs: f[0], waitNs: f[1], timeslices: f[2]) : nil
    }
}
