/// One process over one interval: its live threads summed, with the work of its threads that
/// exited in the interval (``ExitedWork``): the row of `starve-dump processes`.
public struct ProcessInterval: ExitedWorkSum, Sendable {
    /// The process: tgid and start tag (a reused tgid is another process).
    public var tgid: UInt32
    public var start: UInt32
    /// The group leader's name, else the first thread's; `exited` when none is left.
    public var comm: String
    /// The cpu cgroup of its threads (the leader's, else the first thread's).
    public var cgroupID: UInt64
    public var path: String
    public var workload: WorkloadIdentity?
    /// Live threads seen in the interval, and threads that exited in it.
    public var threads: Int
    public var exitedThreads: UInt64
    public var intervalNs: UInt64
    public var runtimeNs: UInt64
    public var waitCount: UInt64
    public var waitNs: UInt64
    public var waitHistogram: LogHistogram
    public var waitMaxNs: UInt64?
    public var preemptedSame: UInt64
    public var preemptedOther: UInt64
    public var preemptedSystem: UInt64
    public var throttledWaitNs: UInt64
    /// Wait that began with a preemption.
    public var preemptWaitNs: UInt64 = 0
    /// The live thread that waited longest in the interval (nil: none waited).
    public var worstThread: (pid: UInt32, comm: String, waitNs: UInt64)?
    /// Futex waits of its threads that ended in the interval (nil: not collected, starve-load --futex).
    public var futex: FutexWork? = nil

    public var cpuPercent: Double { intervalNs == 0 ? 0 : Double(runtimeNs) / Double(intervalNs) * 100 }
    public func waitPercentileNs(_ q: Double) -> UInt64? { waitHistogram.percentile(q, ceiling: waitMaxNs) }
}

/// Sums thread intervals and exited work per process. Pure: one call per interval.
public enum ProcessAnalysis {
    /// Key of a process across threads and exits.
    public struct Key: Hashable, Sendable {
        public var tgid: UInt32
        public var start: UInt32
        public init(tgid: UInt32, start: UInt32) { self.tgid = tgid; self.start = start }
    }

    /// One row per process that had a live thread or exited work in the interval, most wait
    /// first. `path` names cgroups; `workload` names a process's workload from its first thread
    /// (nil for a process seen only through exited work: then `exitedWorkload` is asked with its
    /// cgroup).
    public static func rows(intervals: [TaskInterval], exited: [ProcessInCgroup: ThreadWork], intervalNs: UInt64,
                            path: (UInt64) -> String, exitedWorkload: (UInt64) -> WorkloadIdentity?) -> [ProcessInterval] {
        var rows: [Key: ProcessInterval] = [:]
        func empty(_ key: Key, cgroup: UInt64, comm: String, workload: WorkloadIdentity?) -> ProcessInterval {
            ProcessInterval(tgid: key.tgid, start: key.start, comm: comm, cgroupID: cgroup, path: path(cgroup), workload: workload,
                            threads: 0, exitedThreads: 0, intervalNs: intervalNs, runtimeNs: 0, waitCount: 0, waitNs: 0,
                            waitHistogram: LogHistogram(counts: [UInt64](repeating: 0, count: LogHistogram.slotCount)), waitMaxNs: nil,
                            preemptedSame: 0, preemptedOther: 0, preemptedSystem: 0, throttledWaitNs: 0, worstThread: nil)
        }
        for t in intervals {
            let key = Key(tgid: t.task.tgid, start: t.task.processStart)
            var r = rows[key] ?? empty(key, cgroup: t.task.cpuCgroupID, comm: t.task.comm, workload: t.workload)
            if t.task.pid == t.task.tgid && r.threads > 0 {
                // The leader names the process and places it.
                r.comm = t.task.comm
                r.cgroupID = t.task.cpuCgroupID
                r.path = path(t.task.cpuCgroupID)
                r.workload = t.workload
            }
            r.threads += 1
            r.runtimeNs &+= t.runtimeDeltaNs
            r.waitCount &+= t.waitCount
            r.waitNs &+= t.waitNs
            if t.waitCount > 0 {
                let h = t.waitHistogram
                for (i, c) in h.counts.enumerated() where i < r.waitHistogram.counts.count { r.waitHistogram.counts[i] &+= c }
                r.waitMaxNs = max(r.waitMaxNs ?? 0, t.task.waitMaxNs)
            }
            r.preemptedSame &+= t.preemptedSame
            r.preemptedOther &+= t.preemptedOther
            r.preemptedSystem &+= t.preemptedSystem
            r.throttledWaitNs &+= t.waitThrottledNs
            r.preemptWaitNs &+= t.waitPreemptNs
            if t.waitNs > 0 && t.waitNs > (r.worstThread?.waitNs ?? 0) { r.worstThread = (t.task.pid, t.task.comm, t.waitNs) }
            rows[key] = r
        }
        for (k, w) in exited {
            let key = Key(tgid: k.tgid, start: k.start)
            var r = rows[key] ?? empty(key, cgroup: k.cgroupID, comm: "exited", workload: exitedWorkload(k.cgroupID))
            r.exitedThreads &+= w.threads
            r.add(w)
            rows[key] = r
        }
        var out = Array(rows.values)
        // A thread's all-time maximum may predate the interval: cap by the histogram's top slot.
        for i in out.indices {
            if let top = out[i].waitHistogram.counts.lastIndex(where: { $0 > 0 }) {
                out[i].waitMaxNs = min(out[i].waitMaxNs ?? .max, LogHistogram.upperBound(ofSlot: top))
            } else {
                out[i].waitMaxNs = nil
            }
        }
        out.sort { $0.waitNs != $1.waitNs ? $0.waitNs > $1.waitNs : ($0.tgid, $0.start) < ($1.tgid, $1.start) }
        return out
    }
}

/// One workload over one interval: every cgroup and process of one ``WorkloadKey`` merged (the
/// row of `starve-dump workloads`). The figures are a ``CgroupInterval`` whose "cgroup" is the
/// workload: preemptors are other workloads (or processes of its own), the verdict is the
/// workload's.
public struct WorkloadInterval: Sendable {
    public var identity: WorkloadIdentity
    /// Cgroups and processes of the workload seen in the interval.
    public var cgroups: Int
    public var processes: Int
    public var figures: CgroupInterval

    public var key: WorkloadKey { identity.key }

    public init(identity: WorkloadIdentity, cgroups: Int, processes: Int, figures: CgroupInterval) {
        self.identity = identity
        self.cgroups = cgroups
        self.processes = processes
        self.figures = figures
    }
}

/// How workloads are ordered in a view.
public enum WorkloadSort: String, Sendable, CaseIterable {
    case cpu, wait, p99, name
}
