import Foundation

/// A column of `starve-dump cgroups` (CSV and JSON lines): one list, like ``sampleColumns``.
public struct CgroupColumn: Sendable {
    public let name: String
    /// One line for docs/columns.md.
    public let meaning: String
    let value: @Sendable (SampleContext, CgroupInterval) -> FieldValue
}

private func ms(_ ns: UInt64?) -> FieldValue { ns.map { .double(Double($0) / 1e6, decimals: 3) } ?? .none }

/// Every cgroup column, in output order.
public let cgroupColumns: [CgroupColumn] = [
    .init(name: "timestamp", meaning: "wall-clock time of the sample, ISO 8601 UTC with milliseconds") { c, _ in .string(isoTimestamp(c.timestamp)) },
    .init(name: "sample", meaning: "sample number, from 1") { c, _ in .int(Int64(c.sample)) },
    .init(name: "interval_ms", meaning: "length of the interval") { _, r in ms(r.intervalNs) },
    .init(name: "cgroup_id", meaning: "cgroup id in the cpu controller's hierarchy (kernfs inode number)") { _, r in .uint(r.cgroupID) },
    .init(name: "cgroup", meaning: "its path under the hierarchy's mount (v1 cpu, or v2); cgroup#ID when gone") { _, r in .string(r.path) },
    .init(name: "tasks", meaning: "tracked threads of the cgroup seen in the interval") { _, r in .int(Int64(r.tasks)) },
    .init(name: "cpu_pct", meaning: "CPU time used, percent of one CPU") { _, r in .double(r.cpuPercent, decimals: 2) },
    .init(name: "cpu_ms", meaning: "CPU time used in the interval (exact, where cpu_pct is rounded to 0.01 %)") { _, r in ms(r.runtimeNs) },
    .init(name: "waits", meaning: "run-queue waits that ended in the interval") { _, r in .uint(r.waitCount) },
    .init(name: "wait_ms", meaning: "their total length") { _, r in ms(r.waitNs) },
    .init(name: "wait_p50_ms", meaning: "median wait (log2 histogram, interpolated)") { _, r in ms(r.waitPercentileNs(0.5)) },
    .init(name: "wait_p90_ms", meaning: "90th percentile wait") { _, r in ms(r.waitPercentileNs(0.9)) },
    .init(name: "wait_p99_ms", meaning: "99th percentile wait") { _, r in ms(r.waitPercentileNs(0.99)) },
    .init(name: "wait_max_ms", meaning: "longest wait (bounded by its histogram slot)") { _, r in ms(r.waitMaxNs) },
    .init(name: "waits_over_threshold", meaning: "waits at or above the starvation threshold (starve-load --thresholds)") { _, r in .uint(r.waitsOverThreshold) },
    .init(name: "preempted_same", meaning: "involuntary switch-outs where a task of the same cgroup took the CPU") { _, r in .uint(r.preemptedSame) },
    .init(name: "preempted_other", meaning: "... a task of another cgroup") { _, r in .uint(r.preemptedOther) },
    .init(name: "preempted_system", meaning: "... a kernel thread or a task of the root cgroup") { _, r in .uint(r.preemptedSystem) },
    .init(name: "throttled_wait_ms", meaning: "wait that began with a switch-out under CFS throttling (kernel side)") { _, r in ms(r.throttledWaitNs) },
    .init(name: "nr_periods", meaning: "cpu.stat: enforcement periods elapsed (quota set)") { _, r in r.throttle.map { .uint($0.periods) } ?? .none },
    .init(name: "nr_throttled", meaning: "cpu.stat: periods in which the cgroup was throttled") { _, r in r.throttle.map { .uint($0.throttledPeriods) } ?? .none },
    .init(name: "throttled_ms", meaning: "cpu.stat: time throttled (v1 throttled_time, v2 throttled_usec)") { _, r in ms(r.throttle?.throttledNs) },
    .init(name: "top_preemptor", meaning: "who held the CPU for most of its waits: a cgroup path, or a process of its own cgroup") { _, r in r.topPreemptors.first.map { .string($0.label) } ?? .none },
    .init(name: "top_preemptor_wait_ms", meaning: "the waits booked to it") { _, r in ms(r.topPreemptors.first?.waitNs) },
    .init(name: "verdict", meaning: "ok, throttled, victim, noisy-neighbour or starved (docs/signals.md)") { _, r in .string(r.verdict.rawValue) },
    .init(name: "evidence", meaning: "the figures behind the verdict") { _, r in .string(r.evidence) },
] + workloadColumnMeanings.indices.map { n in
    CgroupColumn(name: WorkloadIdentity.columnNames[n], meaning: workloadColumnMeanings[n]) { _, r in workloadField(r.workload, n) }
}

/// Renders cgroup rows as CSV, JSON lines and a table.
public enum CgroupFormatter {
    public static var csvHeader: String { CSV.record(cgroupColumns.map(\.name)) }

    public static func csvRows(_ c: SampleContext, _ rows: [CgroupInterval]) -> String {
        rows.map { r in CSV.record(cgroupColumns.map { CSV.text($0.value(c, r)) }) }.joined()
    }

    public static func jsonLines(_ c: SampleContext, _ rows: [CgroupInterval]) -> String {
        rows.map { r in JSONLines.object(cgroupColumns.map { ($0.name, $0.value(c, r)) }) }.joined()
    }

    public static func table(_ c: SampleContext, _ rows: [CgroupInterval]) -> String {
        let f = { (ns: UInt64?) in ns.map { formatFixed(Double($0) / 1e6, decimals: 1) } ?? "-" }
        var out = "sample \(c.sample) at \(isoTimestamp(c.timestamp)): \(rows.count) cgroups\n"
        out += renderTable(headers: ["CGROUP", "TASKS", "CPU%", "WAITS", "P50_MS", "P90_MS", "P99_MS", "MAX_MS", "PREEMPT S/O/SYS",
                                     "THROTTLED", "TOP_PREEMPTOR", "VERDICT", "WORKLOAD"], rows: rows.map { r in
            [r.path, String(r.tasks), formatFixed(r.cpuPercent, decimals: 1), String(r.waitCount), f(r.waitPercentileNs(0.5)),
             f(r.waitPercentileNs(0.9)), f(r.waitPercentileNs(0.99)), f(r.waitMaxNs),
             "\(r.preemptedSame)/\(r.preemptedOther)/\(r.preemptedSystem)",
             r.throttle.map { "\($0.throttledPeriods)/\($0.periods) \(f($0.throttledNs))ms" } ?? "-",
             r.topPreemptors.first.map { "\($0.label) \(f($0.waitNs))ms" } ?? "-", r.verdict.rawValue, r.workload?.label ?? "-"]
        }, leftAligned: [0, 10, 11, 12])
        for r in rows where r.verdict != .ok {
            out += "  \(r.path): \(r.verdict.rawValue): \(r.evidence)\n"
        }
        return out
    }
}
