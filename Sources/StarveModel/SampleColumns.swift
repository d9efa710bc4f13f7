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
] + workloadColumnMeanings.indices.map { n in
    SampleColumn(name: WorkloadIdentity.columnNames[n], meaning: workloadColumnMeanings[n]) { _, i in workloadField(i.workload, n) }
}

/// One line each for ``WorkloadIdentity/columnNames``, in order (docs/columns.md, docs/workloads.md).
public let workloadColumnMeanings = [
    "workload kind: pod, container, docker, podman, service, scope, slice, user, slurm-job, cgroup, host or unknown (docs/workloads.md)",
    "workload name: namespace/pod[/container], container or unit name, user name, Slurm job id, or the cgroup path",
    "full container id (containers, pods' containers, docker, podman; empty otherwise)",
    "Kubernetes pod UID (pods and their containers)",
    "systemd unit (services, scopes, slices)",
    "Slurm job id",
    "user name (else uid) of a user slice or a Slurm job",
]

/// Field `n` of ``WorkloadIdentity/columnValues`` of `w`; empty when unresolved or not applicable.
public func workloadField(_ w: WorkloadIdentity?, _ n: Int) -> FieldValue {
    guard let w, let v = w.columnValues[n] else { return .none }
    return .string(v)
}

/// `2026-11-22T02:30:00.123Z`.
public func isoTimestamp(_ date: Date) -> String {
    let f = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    return date.formatted(f)
}

/// A column added by starve-dump's share analysis (`--share`, `--simulate-draws`): appended
/// after `sampleColumns`, only when the analysis is on, so the default output stays as it is.
/// A task the filters selected that did not compete in the interval has these columns empty.
public struct ShareColumn: Sendable {
    public let name: String
    /// One line for docs/columns.md.
    public let meaning: String
    let value: @Sendable (TaskShare?, ShareSample) -> FieldValue
}

private func pct(_ v: Double?) -> FieldValue { v.map { .double($0, decimals: 2) } ?? .none }
private func row(_ f: @escaping @Sendable (TaskShare) -> FieldValue) -> @Sendable (TaskShare?, ShareSample) -> FieldValue {
    { t, _ in t.map(f) ?? .none }
}

/// Every share column, in output order.
public let shareColumns: [ShareColumn] = [
    .init(name: "share_competing", meaning: "1 when the thread competed in the interval (weight-scheduled and ran or waited), else 0; the other share columns are then empty") { t, _ in .int(t == nil ? 0 : 1) },
    .init(name: "share_component", meaning: "index of the competing set's CPU component the thread is in (threads whose CPU sets overlap), ordered by lowest CPU", value: row { .int(Int64($0.component)) }),
    .init(name: "share_cpus", meaning: "CPUs the thread may run on (Cpus_allowed_list), e.g. 0-1", value: row { .string(formatCPUList($0.allowedCPUs)) }),
    .init(name: "share_groups", meaning: "task groups from the top down, '>'-separated: cgroup:/path (cpu controller) or autogroup:N; empty = root group", value: row { .string($0.groupPath.map(\.id).joined(separator: ">")) }),
    .init(name: "runnable_pct", meaning: "part of the interval the thread was runnable (on CPU or queued), percent: its demand in the model (100 when it never blocked in the interval)", value: row { .double($0.runnablePercent, decimals: 2) }),
    .init(name: "expected_share_pct", meaning: "CFS expected share among the competing set, percent of one CPU (weights, groups, affinity, demand)", value: row { .double($0.expectedPercent, decimals: 2) }),
    .init(name: "share_decided_by", meaning: "what decided expected_share_pct: alone, nice, affinity, demand, or the group (cgroup:/path, autogroup:N) whose weight split it", value: row { .string($0.decidedBy.label) }),
    .init(name: "measured_share_pct", meaning: "measured share: runtime over the runtime of the competing threads on its CPUs, scaled to their expected total; percent of one CPU", value: row { .double($0.measuredPercent, decimals: 2) }),
    .init(name: "share_error_pp", meaning: "measured_share_pct - expected_share_pct, percentage points (negative: got less than promised)", value: row { .double($0.errorPP, decimals: 2) }),
    .init(name: "expected_share_run_pct", meaning: "expected_share_pct averaged over the intervals the thread competed in since starve-dump started (interval-weighted)", value: row { .double($0.runExpectedPercent, decimals: 2) }),
    .init(name: "measured_share_run_pct", meaning: "measured_share_pct averaged over the same intervals", value: row { .double($0.runMeasuredPercent, decimals: 2) }),
    .init(name: "share_error_run_pp", meaning: "measured_share_run_pct - expected_share_run_pct, percentage points", value: row { .double($0.runErrorPP, decimals: 2) }),
    .init(name: "share_jain_index", meaning: "Jain's fairness index of measured/expected over the competing set in the interval (1 = everyone got the same fraction of its entitlement); same on every row of a sample") { t, s in t == nil ? .none : .double(s.jainIndex, decimals: 4) },
    .init(name: "share_max_abs_error_pp", meaning: "largest |share_error_pp| over the competing set in the interval, percentage points") { t, s in t == nil ? .none : .double(s.maxAbsErrorPP, decimals: 2) },
    .init(name: "share_jain_index_run", meaning: "Jain's index over the run averages of the threads competing now") { t, s in t == nil ? .none : .double(s.runJainIndex, decimals: 4) },
    .init(name: "share_max_abs_error_run_pp", meaning: "largest |share_error_run_pp| over the threads competing now, percentage points") { t, s in t == nil ? .none : .double(s.runMaxAbsErrorPP, decimals: 2) },
    .init(name: "tickets", meaning: "lottery tickets (--tickets weight: the CFS weight; linear: 20 - nice; SCHED_IDLE: 3 / 1)", value: row { .uint($0.tickets) }),
    .init(name: "lottery_draws", meaning: "lottery draws simulated in the thread's CPU component this sample (--simulate-draws; empty: none)", value: { t, s in t?.lottery == nil ? .none : .int(Int64(s.draws)) }),
    .init(name: "lottery_wins", meaning: "draws the thread won this sample (seeded by --seed, the sample number and the component)", value: row { $0.lottery.map { .int(Int64($0.wins)) } ?? .none }),
    .init(name: "lottery_win_pct", meaning: "lottery_wins / lottery_draws, percent", value: row { pct($0.lottery?.winPercent) }),
    .init(name: "lottery_theory_pct", meaning: "tickets / tickets in the component, percent: the lottery's long-run promise (flat: groups are not ticket currencies)", value: row { pct($0.lottery?.theoreticalPercent) }),
    .init(name: "lottery_win_run_pct", meaning: "lottery wins / draws over all samples so far, percent", value: row { pct($0.runLotteryWinPercent) }),
    .init(name: "stride_share_pct", meaning: "share of lottery_draws quanta under stride scheduling with the same tickets (deterministic), percent", value: row { pct($0.strideSharePercent) }),
]
