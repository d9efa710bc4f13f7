import Foundation
import StarveBPF
import StarveHost
import StarveModel
import StarveMonitor

/// One row of `starve-dump jobs`: a Slurm job (or, `--by user`, a user's jobs together).
public struct JobRow: Sendable, Equatable, Codable {
    /// The job id (`--by user`: the user's job ids, comma-separated).
    public var jobID: String
    public var name: String
    public var user: String
    public var state: String
    /// CPUs allocated by Slurm.
    public var allocatedCPUs: Int
    /// Seconds since the job started, to its end once finished.
    public var elapsedSeconds: Double
    public var liveThreads: Int
    public var exitedThreads: UInt64
    public var processes: Int
    /// On-CPU seconds of its threads (the kernel's sum_exec_runtime).
    public var cpuSeconds: Double
    /// CPU time over elapsed time, percent of one CPU.
    public var cpuPercent: Double
    /// seff's efficiency: CPU time / (elapsed x allocated CPUs), 0...1 (nil: not started).
    public var efficiency: Double?
    /// Where the thread time went, seconds and percent.
    public var runQueueWaitSeconds: Double
    public var waitAfterWakeupSeconds: Double
    public var waitAfterPreemptionSeconds: Double
    public var waitThrottledSeconds: Double
    public var blockedIOSeconds: Double
    public var sleepSeconds: Double
    public var split: JobSplit
    public var voluntarySwitches: UInt64
    public var involuntarySwitches: UInt64
    /// The kernel's task I/O accounting, summed over the job's threads.
    public var io: TaskIO
    public var classification: JobClass
    public var score: Int
    public var recommendations: [String]
    /// Whether exited threads are all counted (load --jobs) and sleeps timed.
    public var complete: Bool
    /// Syscalls entered since the load, all and the most frequent by name (load --syscalls).
    public var syscalls: UInt64?
    public var topSyscalls: [SyscallCount]?
    /// Inet socket bytes sent and received since the load (load --net).
    public var network: NetBytes?

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", name, user, state
        case allocatedCPUs = "allocated_cpus", elapsedSeconds = "elapsed_s"
        case liveThreads = "threads_live", exitedThreads = "threads_exited", processes
        case cpuSeconds = "cpu_s", cpuPercent = "cpu_percent", efficiency
        case runQueueWaitSeconds = "run_queue_wait_s", waitAfterWakeupSeconds = "wait_after_wakeup_s"
        case waitAfterPreemptionSeconds = "wait_after_preemption_s", waitThrottledSeconds = "wait_throttled_s"
        case blockedIOSeconds = "blocked_io_s", sleepSeconds = "sleep_s", split = "time_split_percent"
        case voluntarySwitches = "voluntary_switches", involuntarySwitches = "involuntary_switches"
        case io, classification, score, recommendations, complete
        case syscalls, topSyscalls = "top_syscalls", network
    }
}

/// One syscall's count.
public struct SyscallCount: Sendable, Equatable, Codable {
    public var name: String
    public var count: UInt64
    public init(name: String, count: UInt64) { self.name = name; self.count = count }

    /// The `n` most frequent, by name (ties by name).
    public static func top(_ counts: [UInt32: UInt64], _ n: Int) -> [SyscallCount] {
        var byName: [String: UInt64] = [:]
        for (nr, c) in counts { byName[SyscallNames.name(nr), default: 0] &+= c }
        return byName.map { SyscallCount(name: $0.key, count: $0.value) }
            .sorted { ($1.count, $0.name) < ($0.count, $1.name) }.prefix(n).map { $0 }
    }
}

/// Per Slurm job, the measures of its threads: live ones from a ``Snapshot`` (named by the
/// workload pipeline: cgroup paths, then `SLURM_JOB_ID`), exited ones from the kernel side's
/// per-job fold (`job_exited`, load --jobs), or, without it, from the exited work of the
/// processes this reader saw alive.
public final class JobAccountant {
    private struct ProcessKey: Hashable { var tgid: UInt32; var start: UInt32 }
    private var processJob: [ProcessKey: String] = [:]
    private var seenExited: [String: (time: JobTime, threads: UInt64)] = [:]
    private let procRoot: String

    public init(procRoot: String = "/proc") { self.procRoot = procRoot }

    /// The measures per job id as of `snapshot`. `jobExited`: the `job_exited` map, nil when the
    /// load has no --jobs.
    public func measure(_ snapshot: Snapshot, jobExited: [UInt64: (work: ThreadWork, io: TaskIO)]?,
                        syscalls: [SysnetKey: [UInt32: UInt64]]? = nil, net: [SysnetKey: NetBytes]? = nil) -> [String: JobMeasure] {
        var out: [String: JobMeasure] = [:]
        var processes: [String: Set<ProcessKey>] = [:]
        for t in snapshot.threads {
            guard let w = t.workload, w.kind == .slurmJob, let job = w.slurmJobID else { continue }
            let c = t.task
            let key = ProcessKey(tgid: c.tgid, start: c.processStart)
            processJob[key] = job
            processes[job, default: []].insert(key)
            var m = out[job] ?? JobMeasure()
            m.time = m.time + JobTime(c)
            m.liveThreads += 1
            if let io = readIO(tgid: c.tgid, pid: c.pid) { m.io = m.io + io }
            out[job] = m
        }
        if let jobExited {
            for (id, e) in jobExited {
                let job = String(id)
                var m = out[job] ?? JobMeasure()
                m.time = m.time + JobTime(e.work)
                m.io = m.io + e.io
                m.exitedThreads = e.work.threads
                out[job] = m
            }
            for k in out.keys { out[k]!.exitedComplete = true }
        } else {
            for (k, work) in snapshot.exited {
                guard let job = processJob[ProcessKey(tgid: k.tgid, start: k.start)] else { continue }
                var s = seenExited[job] ?? (JobTime(), 0)
                s.time = s.time + JobTime(work)
                s.threads &+= work.threads
                seenExited[job] = s
            }
            for (job, s) in seenExited {
                var m = out[job] ?? JobMeasure()
                m.time = m.time + s.time
                m.exitedThreads = s.threads
                out[job] = m
            }
        }
        for (job, p) in processes { out[job]?.processes = p.count }
        // Syscalls and network bytes: keyed by (job, process) in the kernel; a process the
        // kernel saw outside a job cgroup (job 0) counts for the job this reader saw it in.
        let jobOfTgid = Dictionary(processJob.map { ($0.key.tgid, $0.value) }, uniquingKeysWith: { a, _ in a })
        func job(_ k: SysnetKey) -> String? { k.jobID != 0 ? String(k.jobID) : jobOfTgid[k.tgid] }
        if let syscalls {
            for k in out.keys { out[k]!.syscalls = [:] }
            for (k, counts) in syscalls {
                guard let j = job(k) else { continue }
                var m = out[j] ?? JobMeasure()
                var s = m.syscalls ?? [:]
                for (nr, c) in counts { s[nr, default: 0] &+= c }
                m.syscalls = s
                out[j] = m
            }
        }
        if let net {
            for k in out.keys { out[k]!.net = out[k]!.net ?? NetBytes() }
            for (k, b) in net {
                guard let j = job(k) else { continue }
                var m = out[j] ?? JobMeasure()
                m.net = (m.net ?? NetBytes()) + b
                out[j] = m
            }
        }
        return out
    }

    private func readIO(tgid: UInt32, pid: UInt32) -> TaskIO? {
        HostFiles.read("\(procRoot)/\(tgid)/task/\(pid)/io").flatMap(TaskIO.init(procIO:))
    }
}

/// Rows from measures and Slurm's records: pure.
public enum JobRows {
    /// How many syscalls by name a row lists (the most frequent).
    public static let topSyscalls = 5

    /// One row per Slurm job that has started (and per measured job Slurm no longer lists),
    /// jobs by id.
    public static func rows(measures: [String: JobMeasure], slurm: [SlurmJob], now: Double, thresholds: JobThresholds,
                            sleepsTimed: Bool) -> [JobRow] {
        var rows: [JobRow] = []
        var listed = Set<String>()
        for j in slurm where j.state != "PENDING" {
            listed.insert(j.id)
            rows.append(row(id: j.id, slurm: j, measure: measures[j.id], now: now, thresholds: thresholds, sleepsTimed: sleepsTimed))
        }
        for (id, m) in measures where !listed.contains(id) {
            rows.append(row(id: id, slurm: nil, measure: m, now: now, thresholds: thresholds, sleepsTimed: sleepsTimed))
        }
        return rows.sorted { JobRows.idPrecedes($0.jobID, $1.jobID) }
    }

    /// The one order of job ids: numerically, as squeue lists them (a pid for a process or a
    /// tree), ids that are not numbers after them, by text.
    public static func idPrecedes(_ a: String, _ b: String) -> Bool { (Int(a) ?? Int.max, a) < (Int(b) ?? Int.max, b) }

    static func row(id: String, slurm j: SlurmJob?, measure: JobMeasure?, now: Double, thresholds: JobThresholds,
                    sleepsTimed: Bool) -> JobRow {
        let m = measure ?? JobMeasure()
        let elapsed = j?.elapsedSeconds(now: now) ?? 0
        let cpus = j?.cpus ?? 0
        return make(id: id, name: j?.name ?? "", user: j?.user ?? "", state: j?.state ?? "UNKNOWN", cpus: cpus,
                    allocatedCPUSeconds: elapsed * Double(cpus), elapsed: elapsed, m: m, thresholds: thresholds,
                    sleepsTimed: sleepsTimed)
    }

    static func make(id: String, name: String, user: String, state: String, cpus: Int, allocatedCPUSeconds: Double,
                     elapsed: Double, m: JobMeasure, thresholds: JobThresholds, sleepsTimed: Bool) -> JobRow {
        let t = m.time
        let cpuS = Double(t.onCPUNs) / 1e9
        let efficiency: Double? = allocatedCPUSeconds > 0 && m.isMeasured ? cpuS / allocatedCPUSeconds : nil
        let allocatedNs: Double? = allocatedCPUSeconds > 0 ? allocatedCPUSeconds * 1e9 : nil
        let netRate: Double? = m.net.flatMap { n in elapsed > 0 ? Double(n.sentBytes &+ n.receivedBytes) / elapsed : nil }
        var verdict = JobClassifier.classify(t, efficiency: efficiency, allocatedCPUs: cpus > 0 ? cpus : nil,
                                             thresholds: thresholds, sleepsTimed: sleepsTimed, allocatedNs: allocatedNs,
                                             networkBytesPerSecond: netRate)
        if !m.isMeasured {
            verdict = JobVerdict(classification: .unknown, score: 0, recommendations: [
                "not measured: no thread of it was seen (it ran before starve-load, or its threads exited before a read without --jobs)"])
        }
        return JobRow(jobID: id, name: name, user: user, state: state, allocatedCPUs: cpus, elapsedSeconds: elapsed,
                      liveThreads: m.liveThreads, exitedThreads: m.exitedThreads, processes: m.processes,
                      cpuSeconds: cpuS, cpuPercent: elapsed > 0 ? 100 * cpuS / elapsed : 0, efficiency: efficiency,
                      runQueueWaitSeconds: Double(t.waitNs) / 1e9, waitAfterWakeupSeconds: Double(t.waitWakeupNs) / 1e9,
                      waitAfterPreemptionSeconds: Double(t.waitPreemptNs) / 1e9,
                      waitThrottledSeconds: Double(t.waitThrottledNs) / 1e9, blockedIOSeconds: Double(t.blockedIONs) / 1e9,
                      sleepSeconds: Double(t.sleepNs) / 1e9, split: JobSplit(t, allocatedNs: allocatedNs), voluntarySwitches: t.voluntarySwitches,
                      involuntarySwitches: t.involuntarySwitches, io: m.io, classification: verdict.classification,
                      score: verdict.score, recommendations: verdict.recommendations,
                      complete: sleepsTimed && (m.exitedComplete || m.liveThreads > 0 && m.exitedThreads == 0),
                      syscalls: m.syscalls.map { $0.values.reduce(0, &+) },
                      topSyscalls: m.syscalls.map { SyscallCount.top($0, topSyscalls) }, network: m.net)
    }

    /// One row per user: the user's jobs summed (efficiency over their allocated CPU-seconds).
    public static func byUser(measures: [String: JobMeasure], slurm: [SlurmJob], now: Double, thresholds: JobThresholds,
                              sleepsTimed: Bool) -> [JobRow] {
        var groups: [String: (jobs: [String], m: JobMeasure, allocated: Double, elapsed: Double, cpus: Int)] = [:]
        for j in slurm where j.state != "PENDING" {
            guard let m = measures[j.id], m.isMeasured else { continue }  // nothing known of it: not in the sums
            var g = groups[j.user] ?? ([], JobMeasure(), 0, 0, 0)
            g.jobs.append(j.id)
            let e = j.elapsedSeconds(now: now)
            g.allocated += e * Double(j.cpus)
            g.elapsed = max(g.elapsed, e)
            if j.isRunning { g.cpus += j.cpus }
            g.m.time = g.m.time + m.time
            g.m.io = g.m.io + m.io
            g.m.liveThreads += m.liveThreads
            g.m.exitedThreads &+= m.exitedThreads
            g.m.processes += m.processes
            g.m.exitedComplete = m.exitedComplete
            if let s = m.syscalls { g.m.syscalls = (g.m.syscalls ?? [:]).merging(s, uniquingKeysWith: &+) }
            if let n = m.net { g.m.net = (g.m.net ?? NetBytes()) + n }
            groups[j.user] = g
        }
        return groups.keys.sorted().map { user in
            let g = groups[user]!
            var r = make(id: g.jobs.joined(separator: ","), name: "\(g.jobs.count) jobs", user: user, state: "-", cpus: g.cpus,
                         allocatedCPUSeconds: g.allocated, elapsed: g.elapsed, m: g.m, thresholds: thresholds,
                         sleepsTimed: sleepsTimed)
            r.cpuPercent = g.elapsed > 0 ? 100 * r.cpuSeconds / g.elapsed : 0
            return r
        }
    }
}

/// The order of `starve-dump jobs` rows. The default, like every view's, is the most run-queue
/// wait first: the jobs kept off their CPUs are what a starvation tool is asked about.
public enum JobSort: String, Sendable, CaseIterable {
    /// Most run-queue wait first.
    case wait
    /// Most CPU time first.
    case cpu
    /// Lowest efficiency first (the most wasted allocation; rows without one last).
    case efficiency
    /// By job id (numeric), as squeue lists them; groups without Slurm by their id.
    case id
    /// By name, then id.
    case name

    /// `rows` in this order; ties by id.
    public func order(_ rows: [JobRow]) -> [JobRow] {
        func byID(_ a: JobRow, _ b: JobRow) -> Bool { JobRows.idPrecedes(a.jobID, b.jobID) }
        return rows.sorted { a, b in
            switch self {
            case .wait: return a.runQueueWaitSeconds != b.runQueueWaitSeconds ? a.runQueueWaitSeconds > b.runQueueWaitSeconds : byID(a, b)
            case .cpu: return a.cpuSeconds != b.cpuSeconds ? a.cpuSeconds > b.cpuSeconds : byID(a, b)
            case .efficiency:
                let ea = a.efficiency ?? .infinity, eb = b.efficiency ?? .infinity
                return ea != eb ? ea < eb : byID(a, b)
            case .id: return byID(a, b)
            case .name: return a.name != b.name ? a.name < b.name : byID(a, b)
            }
        }
    }
}
