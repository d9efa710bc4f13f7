import Foundation

/// One value of a report cell, typed so that CSV, JSON and tables each print it their way.
public enum FieldValue: Sendable, Equatable {
    case int(Int64)
    case uint(UInt64)
    case double(Double, decimals: Int)
    case string(String)
    /// No value (for example no wait closed in the interval): empty in CSV, null in JSON.
    case none
}

/// The sample a row belongs to.
public struct SampleContext: Sendable, Equatable {
    /// Sample number, from 1.
    public var sample: Int
    /// Wall-clock time of the sample.
    public var timestamp: Date

    public init(sample: Int, timestamp: Date) {
        self.sample = sample
        self.timestamp = timestamp
    }
}

/// A column of starve-dump's CSV output and key of its JSON lines: one list, so that CSV, JSON
/// and docs/columns.md cannot drift apart. Names are snake_case and carry their unit.
public struct SampleColumn: Sendable {
    public let name: String
    /// One line for docs/columns.md.
    public let meaning: String
    let value: @Sendable (SampleContext, TaskInterval) -> FieldValue
}

private func opt(_ v: UInt64?) -> FieldValue { v.map(FieldValue.uint) ?? .none }

/// Every column, in output order.
public let sampleColumns: [SampleColumn] = [
    .init(name: "timestamp", meaning: "wall-clock time of the sample, ISO 8601 UTC with milliseconds") { c, _ in
        .string(isoTimestamp(c.timestamp))
    },
    .init(name: "sample", meaning: "sample number, from 1") { c, _ in .int(Int64(c.sample)) },
    .init(name: "interval_ns", meaning: "length of the interval the deltas cover, ns (CLOCK_MONOTONIC)") { _, i in .uint(i.intervalNs) },
    .init(name: "pid", meaning: "thread id (the kernel's pid)") { _, i in .uint(UInt64(i.task.pid)) },
    .init(name: "tgid", meaning: "process id (thread group id)") { _, i in .uint(UInt64(i.task.tgid)) },
    .init(name: "comm", meaning: "thread name (task->comm, up to 15 bytes)") { _, i in .string(i.task.comm) },
    .init(name: "nice", meaning: "nice level, -20..19") { _, i in .int(Int64(i.task.nice)) },
    .init(name: "prio", meaning: "effective kernel priority (lower runs first; below 100 is real-time)") { _, i in .uint(UInt64(i.task.priority)) },
    .init(name: "policy", meaning: "scheduling policy: 0 other, 1 fifo, 2 rr, 3 batch, 5 idle, 6 deadline") { _, i in .uint(UInt64(i.task.policy)) },
    .init(name: "weight", meaning: "CFS load weight (nice 0 = 1024)") { _, i in .uint(i.task.weight) },
    .init(name: "cpu_cgroup_id", meaning: "cgroup id in the cpu controller's hierarchy (v1 cpu, or v2)") { _, i in .uint(i.task.cpuCgroupID) },
    .init(name: "cgroup_id", meaning: "cgroup id in the default (v2) hierarchy") { _, i in .uint(i.task.cgroupID) },
    .init(name: "runtime_ns", meaning: "on-CPU time since the collector first saw the thread, ns") { _, i in .uint(i.task.runtimeNs) },
    .init(name: "runtime_delta_ns", meaning: "on-CPU time in the interval, ns") { _, i in .uint(i.runtimeDeltaNs) },
    .init(name: "runtime_ema_ns", meaning: "exponential moving average of runtime_delta_ns (--alpha), ns") { _, i in .double(i.runtimeEMANs, decimals: 0) },
    .init(name: "cpu_pct", meaning: "share of one CPU used in the interval, percent") { _, i in .double(i.cpuPercent, decimals: 2) },
    .init(name: "switches", meaning: "context switches out of the CPU in the interval") { _, i in .uint(i.switches) },
    .init(name: "voluntary_switches", meaning: "switches out while blocking or sleeping, in the interval") { _, i in .uint(i.voluntarySwitches) },
    .init(name: "involuntary_switches", meaning: "switches out while still runnable (preempted), in the interval") { _, i in .uint(i.involuntarySwitches) },
    .init(name: "wait_ns", meaning: "run-queue wait that ended in the interval, both causes, ns") { _, i in .uint(i.waitNs) },
    .init(name: "wait_count", meaning: "run-queue waits that ended in the interval") { _, i in .uint(i.waitCount) },
    .init(name: "wait_wakeup_ns", meaning: "part of wait_ns that began with a wakeup, ns") { _, i in .uint(i.waitWakeupNs) },
    .init(name: "wait_preempt_ns", meaning: "part of wait_ns that began with a preemption, ns") { _, i in .uint(i.waitPreemptNs) },
    .init(name: "wait_p50_ns", meaning: "median run-queue wait in the interval, from the log2 histogram, ns (empty: no wait)") { _, i in opt(i.waitP50Ns) },
    .init(name: "wait_p99_ns", meaning: "99th percentile run-queue wait in the interval, from the log2 histogram, ns (empty: no wait)") { _, i in opt(i.waitP99Ns) },
    .init(name: "wait_open_ns", meaning: "age of the run-queue wait in progress at the sample, ns (0: not waiting; not yet in wait_ns)") { _, i in .uint(i.task.openWaitNs) },
    .init(name: "wait_max_ns", meaning: "longest single run-queue wait since first seen, ns") { _, i in .uint(i.task.waitMaxNs) },
    .init(name: "migrations", meaning: "migrations to another CPU in the interval") { _, i in .uint(i.migrations) },
    .init(name: "last_cpu", meaning: "CPU the thread last ran on") { _, i in .uint(UInt64(i.task.lastCPU)) },
]

/// `2026-11-22T02:30:00.123Z`.
public func isoTimestamp(_ date: Date) -> String {
    let f = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    return date.formatted(f)
}
