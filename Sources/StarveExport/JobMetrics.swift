import StarveJobs
import StarveModel

/// The per-job families of the exporter: which Slurm jobs get series, for how long, and their
/// values. Pure: rows (``JobRows``, built from the sampler's snapshot) and a clock in,
/// families out.
///
/// Cardinality is bounded as Lustre jobstats exporters do it: the hot families (counters,
/// gauges) carry only `job_id`; the user and the job's name are on one `starve_job_info`
/// series per job, to be joined (`* on (instance, job_id) group_left (user) starve_job_info`).
/// A job has series from its first measured thread until `retentionSeconds` after it was first
/// seen finished (Slurm says so, or no longer lists it); then they stop, and the job is not
/// taken back while Slurm still lists it. At most `maxJobs` jobs have series at once: a job
/// that arrives when all places are taken has none (counted once per job in
/// `starve_export_jobs_refused_total`) until a place frees.
///
/// Counters never go backwards: each is the highest value seen for the job. A job's totals
/// are its live threads plus its exited ones (folded per job in the kernel with `starve-load
/// --jobs`), so they hold when its threads exit; a thread read alive and folded at its exit in
/// the same sample counts twice for that sample, and the next one would be lower; after a
/// collector reload the exited threads' share is gone. In both cases the counter stands still
/// until the job's total passes it again.
public struct JobMetrics: Sendable {
    public static let defaultMaxJobs = 200
    /// 5 minutes: Slurm's own MinJobAge default, how long squeue lists a finished job.
    public static let defaultRetentionSeconds: Double = 300

    /// 0: no job series (and no job families).
    public let maxJobs: Int
    public let retentionSeconds: Double

    /// What one job's series show.
    struct Entry: Sendable {
        var row: JobRow
        var counters: Counters
        /// Wall-clock seconds when it was first seen finished.
        var finishedAt: Double?
        var running: Bool
    }

    /// The counter values (seconds, counts), each the highest seen.
    struct Counters: Sendable, Equatable {
        var cpu = 0.0, waitWakeup = 0.0, waitPreempt = 0.0, waitThrottled = 0.0, blockedIO = 0.0, sleep = 0.0
        var voluntary = 0.0, involuntary = 0.0

        init() {}
        init(_ r: JobRow) {
            cpu = r.cpuSeconds
            waitWakeup = r.waitAfterWakeupSeconds
            waitPreempt = r.waitAfterPreemptionSeconds
            waitThrottled = r.waitThrottledSeconds
            blockedIO = r.blockedIOSeconds
            sleep = r.sleepSeconds
            voluntary = Double(r.voluntarySwitches)
            involuntary = Double(r.involuntarySwitches)
        }

        func highest(_ o: Counters) -> Counters {
            var c = Counters()
            c.cpu = max(cpu, o.cpu)
            c.waitWakeup = max(waitWakeup, o.waitWakeup)
            c.waitPreempt = max(waitPreempt, o.waitPreempt)
            c.waitThrottled = max(waitThrottled, o.waitThrottled)
            c.blockedIO = max(blockedIO, o.blockedIO)
            c.sleep = max(sleep, o.sleep)
            c.voluntary = max(voluntary, o.voluntary)
            c.involuntary = max(involuntary, o.involuntary)
            return c
        }
    }

    private var entries: [String: Entry] = [:]
    /// Jobs whose series stopped (retention over) while Slurm still lists them: not taken back.
    private var retired: Set<String> = []
    /// Jobs refused a series now (the cap), and how many distinct jobs ever were.
    private var refused: Set<String> = []
    private(set) var refusedTotal: UInt64 = 0
    private(set) var retiredTotal: UInt64 = 0
    /// Whether sleeps are timed (starve-load --jobs): the blocked-in-I/O and sleep families.
    private var sleepsTimed = false

    public init(maxJobs: Int = JobMetrics.defaultMaxJobs, retentionSeconds: Double = JobMetrics.defaultRetentionSeconds) {
        self.maxJobs = maxJobs
        self.retentionSeconds = retentionSeconds
    }

    /// Whether any job has series now.
    public var hasSeries: Bool { !entries.isEmpty }

    /// Jobs with series now.
    public var jobsWithSeries: [String] { entries.keys.sorted(by: JobRows.idPrecedes) }

    /// Takes one sample's rows: one per job Slurm lists as started and this node measured (a
    /// thread of it seen, alive or exited). `running`: the ids Slurm says are active (running,
    /// suspended, completing: ``JobFeed/activeStates``); a row not among them has finished.
    /// `now`: wall-clock seconds.
    public mutating func observe(_ rows: [JobRow], running: Set<String>, sleepsTimed: Bool, now: Double) {
        self.sleepsTimed = sleepsTimed
        let listed = Set(rows.map(\.jobID))
        // Forget what Slurm forgot: those ids cannot come back through the rows.
        retired.formIntersection(listed)
        refused.formIntersection(listed)
        for r in rows {
            let isRunning = running.contains(r.jobID)
            if var e = entries[r.jobID] {
                e.row = r
                e.counters = e.counters.highest(Counters(r))
                e.running = isRunning
                if !isRunning && e.finishedAt == nil { e.finishedAt = now }
                entries[r.jobID] = e
            }
        }
        // Jobs with series that Slurm no longer lists have finished (or Slurm lost them).
        for (id, e) in entries where !listed.contains(id) {
            var e = e
            e.running = false
            if e.finishedAt == nil { e.finishedAt = now }
            entries[id] = e
        }
        // Retention over: the series stop.
        for (id, e) in entries {
            if let f = e.finishedAt, now - f >= retentionSeconds {
                entries[id] = nil
                retiredTotal &+= 1
                if listed.contains(id) { retired.insert(id) }
            }
        }
        // New jobs, running ones first, then by id, while there is room.
        let new = rows.filter { entries[$0.jobID] == nil && !retired.contains($0.jobID) }
            .sorted { a, b in
                let ra = running.contains(a.jobID), rb = running.contains(b.jobID)
                return ra != rb ? ra : JobRows.idPrecedes(a.jobID, b.jobID)
            }
        for r in new {
            let isRunning = running.contains(r.jobID)
            if maxJobs > 0 && entries.count < maxJobs && (isRunning || !refused.contains(r.jobID)) {
                refused.remove(r.jobID)
                entries[r.jobID] = Entry(row: r, counters: Counters(r), finishedAt: isRunning ? nil : now, running: isRunning)
            } else if !refused.contains(r.jobID) {
                // Refused once: counted once; a finished one is not taken later.
                refused.insert(r.jobID)
                refusedTotal &+= 1
            }
        }
    }

    /// The job families (docs/export.md), one point per job with series, jobs by id.
    public func families() -> [MetricFamily] {
        let jobs = entries.sorted { JobRows.idPrecedes($0.key, $1.key) }
        func id(_ j: String) -> [MetricLabel] { [MetricLabel("job_id", j)] }
        func counter(_ name: String, unit: String? = "seconds", _ help: String, _ value: (Counters) -> [([MetricLabel], Double)]) -> MetricFamily {
            MetricFamily(name: name, type: .counter, unit: unit, help: help,
                         points: jobs.flatMap { j in value(j.value.counters).map { MetricPoint(id(j.key) + $0.0, $0.1) } })
        }
        func gauge(_ name: String, unit: String? = nil, _ help: String, _ value: (Entry) -> Double?) -> MetricFamily {
            MetricFamily(name: name, type: .gauge, unit: unit, help: help,
                         points: jobs.compactMap { j in value(j.value).map { MetricPoint(id(j.key), $0) } })
        }
        var f: [MetricFamily] = []
        f.append(MetricFamily(name: "starve_job_info", type: .gauge,
                              help: "One series per Slurm job with series: its user and name (join on job_id; the other job families carry only job_id).",
                              points: jobs.map { j in
                                  MetricPoint(id(j.key) + [MetricLabel("user", j.value.row.user), MetricLabel("name", j.value.row.name)], 1)
                              }))
        f.append(gauge("starve_job_finished", "0 while the job is active (running, suspended, completing), 1 once Slurm says it finished or no longer lists it; its series stop --job-retention later.") {
            $0.running ? 0 : 1
        })
        f.append(counter("starve_job_cpu_seconds", "CPU time of the job's threads on this node, exited ones included (the scheduler's sum_exec_runtime).") {
            [([], $0.cpu)]
        })
        f.append(counter("starve_job_run_queue_wait_seconds",
                         "Time the job's threads spent runnable on a run queue, not running, by how the wait began: after a wakeup, after a preemption, or switched out under a CFS quota (throttled).") {
            [([MetricLabel("cause", "wakeup")], $0.waitWakeup), ([MetricLabel("cause", "preemption")], $0.waitPreempt),
             ([MetricLabel("cause", "throttled")], $0.waitThrottled)]
        })
        if sleepsTimed {
            f.append(counter("starve_job_blocked_io_seconds", "Time the job's threads slept in io_schedule(): blocked in I/O (starve-load --jobs).") {
                [([], $0.blockedIO)]
            })
            f.append(counter("starve_job_sleep_seconds", "Time the job's threads slept otherwise: waiting for an event, a timer, a lock, input (starve-load --jobs).") {
                [([], $0.sleep)]
            })
        }
        f.append(counter("starve_job_context_switches", unit: nil, "Switch-outs of the job's threads: voluntary (they slept) or involuntary (preempted).") {
            [([MetricLabel("kind", "voluntary")], $0.voluntary), ([MetricLabel("kind", "involuntary")], $0.involuntary)]
        })
        f.append(gauge("starve_job_allocated_cpus", "CPUs Slurm allocated to the job (its whole allocation, all nodes).") {
            Double($0.row.allocatedCPUs)
        })
        f.append(gauge("starve_job_elapsed_seconds", unit: "seconds", "Seconds since the job started, to its end once finished (Slurm's start and end times).") {
            $0.row.elapsedSeconds
        })
        f.append(gauge("starve_job_efficiency_ratio", unit: "ratio", "seff's efficiency: CPU time / (elapsed x allocated CPUs), 0 to 1; absent before the job has run.") {
            $0.row.efficiency
        })
        f.append(gauge("starve_job_threads", "Threads of the job alive at the last sample.") { Double($0.row.liveThreads) })
        f.append(MetricFamily(name: "starve_job_class", type: .gauge,
                              help: "The job's class now, as starve-dump jobs gives it (cpu-bound, io-bound, idle-heavy, starved, network-bound, mixed, unknown): one series per job, value 1.",
                              points: jobs.map { j in MetricPoint(id(j.key) + [MetricLabel("class", j.value.row.classification.rawValue)], 1) }))
        return f
    }

    /// The exporter's own figures about the job series. `slurmUp` nil: Slurm not asked yet
    /// (no job on this node so far): no `starve_slurm_up`.
    public func exporterFamilies(slurmUp: Bool?) -> [MetricFamily] {
        var f: [MetricFamily] = []
        if let slurmUp {
            f.append(MetricFamily(name: "starve_slurm_up", type: .gauge, help: "1 when the last squeue --json answered, 0 when Slurm did not (the job series keep their last Slurm figures).",
                                  points: [MetricPoint([], slurmUp ? 1 : 0)]))
        }
        return f + [
            MetricFamily(name: "starve_export_jobs", type: .gauge, help: "Slurm jobs with series now, and jobs refused series now (--max-jobs).",
                         points: [MetricPoint([MetricLabel("series", "own")], Double(entries.count)),
                                  MetricPoint([MetricLabel("series", "refused")], Double(refused.count))]),
            MetricFamily(name: "starve_export_jobs_refused", type: .counter, help: "Distinct jobs refused series because --max-jobs jobs had them (each counted once).",
                         points: [MetricPoint([], Double(refusedTotal))]),
            MetricFamily(name: "starve_export_jobs_retired", type: .counter, help: "Finished jobs whose series stopped after --job-retention.",
                         points: [MetricPoint([], Double(retiredTotal))]),
        ]
    }
}
