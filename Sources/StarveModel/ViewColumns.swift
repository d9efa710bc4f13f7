import Foundation

/// A column of `starve-dump processes` or `starve-dump workloads` (CSV and JSON lines): one list
/// per view, like ``cgroupColumns``, so that output and docs/columns.md cannot drift apart.
public struct ViewColumn<Row>: Sendable {
    public let name: String
    /// One line for docs/columns.md.
    public let meaning: String
    let value: @Sendable (SampleContext, Row) -> FieldValue

    public init(name: String, meaning: String, value: @escaping @Sendable (SampleContext, Row) -> FieldValue) {
        self.name = name
        self.meaning = meaning
        self.value = value
    }
}

private func ms(_ ns: UInt64?) -> FieldValue { ns.map { .double(Double($0) / 1e6, decimals: 3) } ?? .none }

/// Every process column, in output order.
public let processColumns: [ViewColumn<ProcessInterval>] = [
    .init(name: "timestamp", meaning: "wall-clock time of the sample, ISO 8601 UTC with milliseconds") { c, _ in .string(isoTimestamp(c.timestamp)) },
    .init(name: "sample", meaning: "sample number, from 1") { c, _ in .int(Int64(c.sample)) },
    .init(name: "interval_ms", meaning: "length of the interval") { _, r in ms(r.intervalNs) },
    .init(name: "tgid", meaning: "process id") { _, r in .uint(UInt64(r.tgid)) },
    .init(name: "process_start", meaning: "start tag of the process (its leader's start time >> 20): with the tgid, one process") { _, r in .uint(UInt64(r.start)) },
    .init(name: "comm", meaning: "the group leader's name (else a thread's; `exited` when only exited threads were seen)") { _, r in .string(r.comm) },
    .init(name: "cgroup_id", meaning: "cpu-controller cgroup of the leader (else of a thread)") { _, r in .uint(r.cgroupID) },
    .init(name: "cgroup", meaning: "its path; cgroup#ID when gone") { _, r in .string(r.path) },
    .init(name: "threads", meaning: "live threads seen in the interval") { _, r in .int(Int64(r.threads)) },
    .init(name: "exited_threads", meaning: "threads that exited in the interval (their work is in every figure)") { _, r in .uint(r.exitedThreads) },
    .init(name: "cpu_pct", meaning: "CPU time used, percent of one CPU") { _, r in .double(r.cpuPercent, decimals: 2) },
    .init(name: "cpu_ms", meaning: "CPU time used in the interval (exact, where cpu_pct is rounded to 0.01 %)") { _, r in ms(r.runtimeNs) },
    .init(name: "waits", meaning: "run-queue waits that ended in the interval") { _, r in .uint(r.waitCount) },
    .init(name: "wait_ms", meaning: "their total length") { _, r in ms(r.waitNs) },
    .init(name: "wait_p50_ms", meaning: "median wait (log2 histogram of all its threads, interpolated)") { _, r in ms(r.waitPercentileNs(0.5)) },
    .init(name: "wait_p90_ms", meaning: "90th percentile wait") { _, r in ms(r.waitPercentileNs(0.9)) },
    .init(name: "wait_p99_ms", meaning: "99th percentile wait") { _, r in ms(r.waitPercentileNs(0.99)) },
    .init(name: "wait_max_ms", meaning: "longest wait (bounded by its histogram slot)") { _, r in ms(r.waitMaxNs) },
    .init(name: "preempted_same", meaning: "involuntary switch-outs where a task of the same cgroup took the CPU") { _, r in .uint(r.preemptedSame) },
    .init(name: "preempted_other", meaning: "... a task of another cgroup") { _, r in .uint(r.preemptedOther) },
    .init(name: "preempted_system", meaning: "... a kernel thread or a task of the root cgroup") { _, r in .uint(r.preemptedSystem) },
    .init(name: "throttled_wait_ms", meaning: "wait that began under CFS throttling") { _, r in ms(r.throttledWaitNs) },
    .init(name: "worst_thread", meaning: "the live thread that waited longest in the interval (empty: none waited)") { _, r in r.worstThread.map { .uint(UInt64($0.pid)) } ?? .none },
    .init(name: "worst_thread_comm", meaning: "its name") { _, r in r.worstThread.map { .string($0.comm) } ?? .none },
    .init(name: "worst_thread_wait_ms", meaning: "its wait in the interval") { _, r in ms(r.worstThread?.waitNs) },
    .init(name: "futex_waits", meaning: "futex waits of its threads that ended in the interval (empty: starve-load without --futex)") { _, r in r.futex.map { .uint($0.waits) } ?? .none },
    .init(name: "futex_wait_ms", meaning: "their total time, entry to exit of the futex call") { _, r in ms(r.futex?.waitNs) },
] + workloadColumnMeanings.indices.map { n in
    ViewColumn<ProcessInterval>(name: WorkloadIdentity.columnNames[n], meaning: workloadColumnMeanings[n]) { _, r in workloadField(r.workload, n) }
}

/// Every workload column, in output order: the identity first (it is the row's key).
public let workloadColumns: [ViewColumn<WorkloadInterval>] = [
    .init(name: "timestamp", meaning: "wall-clock time of the sample, ISO 8601 UTC with milliseconds") { c, _ in .string(isoTimestamp(c.timestamp)) },
    .init(name: "sample", meaning: "sample number, from 1") { c, _ in .int(Int64(c.sample)) },
    .init(name: "interval_ms", meaning: "length of the interval") { _, r in ms(r.figures.intervalNs) },
] + workloadColumnMeanings.indices.map { n in
    ViewColumn<WorkloadInterval>(name: WorkloadIdentity.columnNames[n], meaning: workloadColumnMeanings[n]) { _, r in workloadField(r.identity, n) }
} + [
    .init(name: "cgroups", meaning: "cpu-controller cgroups of the workload with threads or exited work in the interval") { _, r in .int(Int64(r.cgroups)) },
    .init(name: "processes", meaning: "its processes seen in the interval, live or exited") { _, r in .int(Int64(r.processes)) },
    .init(name: "tasks", meaning: "its live threads seen in the interval") { _, r in .int(Int64(r.figures.tasks)) },
    .init(name: "cpu_pct", meaning: "CPU time used, percent of one CPU (exited threads included)") { _, r in .double(r.figures.cpuPercent, decimals: 2) },
    .init(name: "cpu_ms", meaning: "CPU time used in the interval (exact, where cpu_pct is rounded to 0.01 %)") { _, r in ms(r.figures.runtimeNs) },
    .init(name: "waits", meaning: "run-queue waits that ended in the interval") { _, r in .uint(r.figures.waitCount) },
    .init(name: "wait_ms", meaning: "their total length") { _, r in ms(r.figures.waitNs) },
    .init(name: "wait_p50_ms", meaning: "median wait (log2 histogram of all its threads, interpolated)") { _, r in ms(r.figures.waitPercentileNs(0.5)) },
    .init(name: "wait_p90_ms", meaning: "90th percentile wait") { _, r in ms(r.figures.waitPercentileNs(0.9)) },
    .init(name: "wait_p99_ms", meaning: "99th percentile wait") { _, r in ms(r.figures.waitPercentileNs(0.99)) },
    .init(name: "wait_max_ms", meaning: "longest wait (bounded by its histogram slot)") { _, r in ms(r.figures.waitMaxNs) },
    .init(name: "waits_over_threshold", meaning: "waits at or above the starvation threshold") { _, r in .uint(r.figures.waitsOverThreshold) },
    .init(name: "preempted_same", meaning: "involuntary switch-outs where a task of the same cgroup took the CPU") { _, r in .uint(r.figures.preemptedSame) },
    .init(name: "preempted_other", meaning: "... a task of another cgroup") { _, r in .uint(r.figures.preemptedOther) },
    .init(name: "preempted_system", meaning: "... a kernel thread or a task of the root cgroup") { _, r in .uint(r.figures.preemptedSystem) },
    .init(name: "throttled_wait_ms", meaning: "wait that began under CFS throttling (kernel side)") { _, r in ms(r.figures.throttledWaitNs) },
    .init(name: "nr_periods", meaning: "cpu.stat, summed over its cgroups: enforcement periods elapsed") { _, r in r.figures.throttle.map { .uint($0.periods) } ?? .none },
    .init(name: "nr_throttled", meaning: "cpu.stat, summed: periods throttled") { _, r in r.figures.throttle.map { .uint($0.throttledPeriods) } ?? .none },
    .init(name: "throttled_ms", meaning: "cpu.stat, summed: time throttled") { _, r in ms(r.figures.throttle?.throttledNs) },
    .init(name: "top_preemptor", meaning: "who held the CPU for most of its waits: another workload's name, or a process of its own") { _, r in r.figures.topPreemptors.first.map { .string($0.label) } ?? .none },
    .init(name: "top_preemptor_wait_ms", meaning: "the waits booked to it") { _, r in ms(r.figures.topPreemptors.first?.waitNs) },
    .init(name: "top_preemptor_kind", meaning: "the top preemptor's workload kind; empty when it is a process of its own") { _, r in r.figures.topPreemptors.first?.workloadKind.map { .string($0.rawValue) } ?? .none },
    .init(name: "verdict", meaning: "ok, throttled, victim, noisy-neighbour or starved, by workload (docs/signals.md)") { _, r in .string(r.figures.verdict.rawValue) },
    .init(name: "evidence", meaning: "the figures behind the verdict") { _, r in .string(r.figures.evidence) },
    .init(name: "futex_waits", meaning: "futex waits of its threads that ended in the interval (empty: starve-load without --futex)") { _, r in r.figures.futex.map { .uint($0.waits) } ?? .none },
    .init(name: "futex_wait_ms", meaning: "their total time, entry to exit of the futex call") { _, r in ms(r.figures.futex?.waitNs) },
]

/// Renders rows of a view as CSV, JSON lines and tables.
public enum ViewFormatter {
    public static func csvHeader<Row>(_ columns: [ViewColumn<Row>]) -> String { CSV.record(columns.map(\.name)) }

    public static func csvRows<Row>(_ columns: [ViewColumn<Row>], _ c: SampleContext, _ rows: [Row]) -> String {
        rows.map { r in CSV.record(columns.map { CSV.text($0.value(c, r)) }) }.joined()
    }

    public static func jsonLines<Row>(_ columns: [ViewColumn<Row>], _ c: SampleContext, _ rows: [Row]) -> String {
        rows.map { r in JSONLines.object(columns.map { ($0.name, $0.value(c, r)) }) }.joined()
    }

    private static func f(_ ns: UInt64?) -> String { ns.map { formatFixed(Double($0) / 1e6, decimals: 1) } ?? "-" }

    /// The victim x preemptor sentence of a workload that lost at least 1 ms in the interval and
    /// half of it to one other workload: `pod default/web was preempted by container 3f2a…: 62 %
    /// of its wait (595.0 of 960.1 ms, 12 waits)`. Nil otherwise.
    public static func preemptedBy(_ w: WorkloadInterval) -> String? {
        let r = w.figures
        guard let top = r.topPreemptors.first, top.workloadKind != nil, r.waitNs >= 1_000_000,
              top.waitNs * 2 >= r.waitNs else { return nil }
        let share = 100 * Double(top.waitNs) / Double(r.waitNs)
        return "\(w.identity.label) was preempted by \(top.qualifiedLabel): \(formatFixed(min(share, 100), decimals: 0)) % of its wait"
            + " (\(f(top.waitNs)) of \(f(r.waitNs)) ms, \(top.count) waits)"
    }

    public static func processTable(_ c: SampleContext, _ rows: [ProcessInterval], total: Int) -> String {
        var out = "sample \(c.sample) at \(isoTimestamp(c.timestamp)): \(total) processes\n"
        let futex = rows.contains { $0.futex != nil }  // starve-load --futex
        out += renderTable(headers: ["PID", "COMM", "WORKLOAD", "THREADS", "CPU%", "WAITS", "P50_MS", "P99_MS", "MAX_MS", "PREEMPT S/O/SYS"]
                                    + (futex ? ["FUTEX_WAITS", "FUTEX_MS"] : []) + ["WORST_THREAD"],
                           rows: rows.map { r in
            [String(r.tgid), r.comm, r.workload?.label ?? "-",
             r.exitedThreads > 0 ? "\(r.threads)+\(r.exitedThreads)x" : String(r.threads),
             formatFixed(r.cpuPercent, decimals: 1), String(r.waitCount), f(r.waitPercentileNs(0.5)), f(r.waitPercentileNs(0.99)), f(r.waitMaxNs),
             "\(r.preemptedSame)/\(r.preemptedOther)/\(r.preemptedSystem)"]
            + (futex ? [String(r.futex?.waits ?? 0), f(r.futex?.waitNs ?? 0)] : [])
            + [r.worstThread.map { "\($0.pid) (\($0.comm)) \(f($0.waitNs))ms" } ?? "-"]
        }, leftAligned: [1, 2, futex ? 12 : 10])
        return out
    }

    public static func workloadTable(_ c: SampleContext, _ rows: [WorkloadInterval], total: Int) -> String {
        var out = "sample \(c.sample) at \(isoTimestamp(c.timestamp)): \(total) workloads\n"
        let futex = rows.contains { $0.figures.futex != nil }  // starve-load --futex
        out += renderTable(headers: ["KIND", "WORKLOAD", "CGROUPS", "PROCS", "CPU%", "WAITS", "P50_MS", "P99_MS", "MAX_MS", "PREEMPT S/O/SYS",
                                     "THROTTLED"] + (futex ? ["FUTEX_WAITS", "FUTEX_MS"] : []) + ["TOP_PREEMPTOR", "VERDICT"], rows: rows.map { w in
            let r = w.figures
            return [w.identity.kind.rawValue, w.identity.name, String(w.cgroups), String(w.processes), formatFixed(r.cpuPercent, decimals: 1),
                    String(r.waitCount), f(r.waitPercentileNs(0.5)), f(r.waitPercentileNs(0.99)), f(r.waitMaxNs),
                    "\(r.preemptedSame)/\(r.preemptedOther)/\(r.preemptedSystem)",
                    r.throttle.map { "\($0.throttledPeriods)/\($0.periods) \(f($0.throttledNs))ms" } ?? "-"]
                + (futex ? [String(r.futex?.waits ?? 0), f(r.futex?.waitNs ?? 0)] : [])
                + [r.topPreemptors.first.map { "\($0.qualifiedLabel) \(f($0.waitNs))ms" } ?? "-", r.verdict.rawValue]
        }, leftAligned: futex ? [0, 1, 13, 14] : [0, 1, 11, 12])
        for w in rows {
            if let by = preemptedBy(w) { out += "  \(by)\n" }
            if w.figures.verdict != .ok { out += "  \(w.identity.label): \(w.figures.verdict.rawValue): \(w.figures.evidence)\n" }
        }
        return out
    }
}

extension WorkloadSort {
    /// Orders workload rows: most first for cpu, wait and p99 (then by name); by kind and name for name.
    public func order(_ rows: [WorkloadInterval]) -> [WorkloadInterval] {
        rows.sorted { a, b in
            let byName = (a.identity.name, a.identity.kind.rawValue) < (b.identity.name, b.identity.kind.rawValue)
            switch self {
            case .name: return byName
            case .cpu: return a.figures.runtimeNs != b.figures.runtimeNs ? a.figures.runtimeNs > b.figures.runtimeNs : byName
            case .wait: return a.figures.waitNs != b.figures.waitNs ? a.figures.waitNs > b.figures.waitNs : byName
            case .p99:
                let pa = a.figures.waitPercentileNs(0.99) ?? 0, pb = b.figures.waitPercentileNs(0.99) ?? 0
                return pa != pb ? pa > pb : byName
            }
        }
    }

    /// Orders process rows the same way (name: comm, then tgid).
    public func order(_ rows: [ProcessInterval]) -> [ProcessInterval] {
        rows.sorted { a, b in
            let byName = (a.comm, a.tgid) < (b.comm, b.tgid)
            switch self {
            case .name: return byName
            case .cpu: return a.runtimeNs != b.runtimeNs ? a.runtimeNs > b.runtimeNs : byName
            case .wait: return a.waitNs != b.waitNs ? a.waitNs > b.waitNs : byName
            case .p99:
                let pa = a.waitPercentileNs(0.99) ?? 0, pb = b.waitPercentileNs(0.99) ?? 0
                return pa != pb ? pa > pb : byName
            }
        }
    }

    /// Orders cgroup rows the same way (name: path).
    public func order(_ rows: [CgroupInterval]) -> [CgroupInterval] {
        rows.sorted { a, b in
            let byName = a.path < b.path
            switch self {
            case .name: return byName
            case .cpu: return a.runtimeNs != b.runtimeNs ? a.runtimeNs > b.runtimeNs : byName
            case .wait: return a.waitNs != b.waitNs ? a.waitNs > b.waitNs : byName
            case .p99:
                let pa = a.waitPercentileNs(0.99) ?? 0, pb = b.waitPercentileNs(0.99) ?? 0
                return pa != pb ? pa > pb : byName
            }
        }
    }

    /// The first `top` thread rows in this order (0: all); ties by thread id. Sorts small keys,
    /// not the intervals (each holds its counters and a histogram).
    public func order(_ rows: [TaskInterval], top: Int = 0) -> [TaskInterval] {
        struct Key { var figure: UInt64; var comm: String; var pid: UInt32; var index: Int32 }
        var keys = rows.indices.map { i -> Key in
            let r = rows[i]
            let figure: UInt64
            switch self {
            case .wait: figure = r.waitNs
            case .cpu: figure = r.runtimeDeltaNs
            case .p99: figure = r.waitP99Ns ?? 0
            case .name: figure = 0
            }
            return Key(figure: figure, comm: self == .name ? r.task.comm : "", pid: r.task.pid, index: Int32(i))
        }
        keys.sort {
            if $0.figure != $1.figure { return $0.figure > $1.figure }
            if $0.comm != $1.comm { return $0.comm < $1.comm }
            return $0.pid < $1.pid
        }
        let n = top > 0 ? min(top, keys.count) : keys.count
        return keys[..<n].map { rows[Int($0.index)] }
    }
}
