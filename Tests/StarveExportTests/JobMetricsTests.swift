import StarveExport
import StarveJobs
import StarveModel
import XCTest

/// The per-job families on fixed inputs: which jobs get series, for how long, with what values.
final class JobMetricsTests: XCTestCase {
    let start: Int64 = 1_000_000

    func slurmJob(_ id: String, state: String = "RUNNING", cpus: Int = 2, user: String = "alice", name: String = "sim") -> SlurmJob {
        SlurmJob(id: id, name: name, user: user, uid: 1000, state: state, cpus: cpus, startTime: start,
                 endTime: state == "RUNNING" ? start + 3600 : start + 100)
    }

    func measure(cpuS: Double, wakeupS: Double = 0, preemptS: Double = 0, live: Int = 1) -> JobMeasure {
        var m = JobMeasure()
        m.time.onCPUNs = UInt64(cpuS * 1e9)
        m.time.waitWakeupNs = UInt64(wakeupS * 1e9)
        m.time.waitPreemptNs = UInt64(preemptS * 1e9)
        m.time.voluntarySwitches = 7
        m.liveThreads = live
        m.exitedThreads = live == 0 ? 3 : 0
        return m
    }

    /// One sample through the public path: measures and Slurm records to rows to the ledger.
    func observe(_ metrics: inout JobMetrics, _ jobs: [(SlurmJob, JobMeasure)], now: Double, sleepsTimed: Bool = true) {
        let rows = JobRows.rows(measures: Dictionary(uniqueKeysWithValues: jobs.map { ($0.0.id, $0.1) }), slurm: jobs.map(\.0),
                                now: now, thresholds: JobThresholds(), sleepsTimed: sleepsTimed)
        let active = Set(jobs.filter { JobFeed.activeStates.contains($0.0.state) }.map(\.0.id))
        metrics.observe(rows, running: active, sleepsTimed: sleepsTimed, now: now)
    }

    func value(_ f: [MetricFamily], _ name: String, job: String, _ extra: [MetricLabel] = []) -> Double? {
        guard let family = f.first(where: { $0.name == name }) else { return nil }
        for p in family.points where p.labels == [MetricLabel("job_id", job)] + extra {
            if case .number(let v) = p.value { return v }
        }
        return nil
    }

    func testHotFamiliesCarryOnlyTheJobIDAndInfoCarriesUserAndName() {
        var m = JobMetrics()
        let now = Double(start) + 50
        observe(&m, [(slurmJob("7", cpus: 2), measure(cpuS: 40, wakeupS: 3, preemptS: 2))], now: now)
        let f = m.families()
        XCTAssertEqual(value(f, "starve_job_cpu_seconds", job: "7"), 40)
        XCTAssertEqual(value(f, "starve_job_run_queue_wait_seconds", job: "7", [MetricLabel("cause", "wakeup")]), 3)
        XCTAssertEqual(value(f, "starve_job_run_queue_wait_seconds", job: "7", [MetricLabel("cause", "preemption")]), 2)
        XCTAssertEqual(value(f, "starve_job_allocated_cpus", job: "7"), 2)
        XCTAssertEqual(value(f, "starve_job_elapsed_seconds", job: "7"), 50)
        // seff: 40 CPU-s over 50 s x 2 CPUs.
        XCTAssertEqual(try XCTUnwrap(value(f, "starve_job_efficiency_ratio", job: "7")), 0.4, accuracy: 1e-9)
        XCTAssertEqual(value(f, "starve_job_finished", job: "7"), 0)
        XCTAssertEqual(value(f, "starve_job_info", job: "7", [MetricLabel("user", "alice"), MetricLabel("name", "sim")]), 1)
        for family in f where family.name != "starve_job_info" {
            for p in family.points {
                XCTAssertFalse(p.labels.contains { $0.name == "user" || $0.name == "name" }, "\(family.name) carries user or name")
            }
        }
        XCTAssertNotNil(f.first { $0.name == "starve_job_blocked_io_seconds" }, "with load --jobs, the I/O-blocked family")
    }

    func testWithoutLoadJobsNoSleepFamilies() {
        var m = JobMetrics()
        observe(&m, [(slurmJob("7"), measure(cpuS: 1))], now: Double(start) + 10, sleepsTimed: false)
        XCTAssertNil(m.families().first { $0.name == "starve_job_blocked_io_seconds" })
        XCTAssertNil(m.families().first { $0.name == "starve_job_sleep_seconds" })
    }

    func testCountersNeverGoBackwards() {
        var m = JobMetrics()
        observe(&m, [(slurmJob("7"), measure(cpuS: 10, wakeupS: 2))], now: Double(start) + 10)
        // A thread counted alive and at its exit in one sample, then once: the total dips.
        observe(&m, [(slurmJob("7"), measure(cpuS: 8, wakeupS: 1))], now: Double(start) + 11)
        XCTAssertEqual(value(m.families(), "starve_job_cpu_seconds", job: "7"), 10)
        XCTAssertEqual(value(m.families(), "starve_job_run_queue_wait_seconds", job: "7", [MetricLabel("cause", "wakeup")]), 2)
        observe(&m, [(slurmJob("7"), measure(cpuS: 12, wakeupS: 1.5))], now: Double(start) + 12)
        XCTAssertEqual(value(m.families(), "starve_job_cpu_seconds", job: "7"), 12)
        XCTAssertEqual(value(m.families(), "starve_job_run_queue_wait_seconds", job: "7", [MetricLabel("cause", "wakeup")]), 2)
    }

    func testFinishedJobKeepsItsSeriesForTheRetentionThenStopsForGood() {
        var m = JobMetrics(retentionSeconds: 30)
        let t0 = Double(start) + 10
        observe(&m, [(slurmJob("7"), measure(cpuS: 5))], now: t0)
        // Finished at t0 + 5: its threads exited, the kernel's per-job fold keeps the figures.
        observe(&m, [(slurmJob("7", state: "COMPLETED"), measure(cpuS: 6, live: 0))], now: t0 + 5)
        XCTAssertEqual(value(m.families(), "starve_job_finished", job: "7"), 1)
        XCTAssertEqual(value(m.families(), "starve_job_cpu_seconds", job: "7"), 6)
        XCTAssertEqual(value(m.families(), "starve_job_threads", job: "7"), 0)
        observe(&m, [(slurmJob("7", state: "COMPLETED"), measure(cpuS: 6, live: 0))], now: t0 + 34.9)
        XCTAssertEqual(m.jobsWithSeries, ["7"], "within the retention")
        observe(&m, [(slurmJob("7", state: "COMPLETED"), measure(cpuS: 6, live: 0))], now: t0 + 35)
        XCTAssertEqual(m.jobsWithSeries, [], "retention over")
        XCTAssertTrue(m.families().allSatisfy { $0.points.isEmpty })
        XCTAssertEqual(exporterValue(m, "starve_export_jobs_retired"), 1)
        // Still listed by Slurm and in the kernel's map: not taken back.
        observe(&m, [(slurmJob("7", state: "COMPLETED"), measure(cpuS: 6, live: 0))], now: t0 + 40)
        XCTAssertEqual(m.jobsWithSeries, [])
    }

    func testAJobSlurmForgetsCountsAsFinished() {
        var m = JobMetrics(retentionSeconds: 20)
        let t0 = Double(start) + 10
        observe(&m, [(slurmJob("7"), measure(cpuS: 5)), (slurmJob("8"), measure(cpuS: 1))], now: t0)
        observe(&m, [(slurmJob("8"), measure(cpuS: 2))], now: t0 + 1)
        XCTAssertEqual(value(m.families(), "starve_job_finished", job: "7"), 1)
        XCTAssertEqual(value(m.families(), "starve_job_cpu_seconds", job: "7"), 5, "its last figures")
        observe(&m, [(slurmJob("8"), measure(cpuS: 3))], now: t0 + 21)
        XCTAssertEqual(m.jobsWithSeries, ["8"])
    }

    func testSuspendedJobIsNotFinished() {
        var m = JobMetrics(retentionSeconds: 5)
        observe(&m, [(slurmJob("7", state: "SUSPENDED"), measure(cpuS: 5))], now: Double(start) + 10)
        observe(&m, [(slurmJob("7", state: "SUSPENDED"), measure(cpuS: 5))], now: Double(start) + 100)
        XCTAssertEqual(value(m.families(), "starve_job_finished", job: "7"), 0)
    }

    func testCapRefusesJobsCountsEachOnceAndAdmitsARunningOneWhenAPlaceFrees() {
        var m = JobMetrics(maxJobs: 2, retentionSeconds: 10)
        let t0 = Double(start) + 10
        let four = ["3", "10", "2", "1"].map { (slurmJob($0), measure(cpuS: 1)) }
        observe(&m, four, now: t0)
        XCTAssertEqual(m.jobsWithSeries, ["1", "2"], "lowest ids first")
        XCTAssertEqual(exporterValue(m, "starve_export_jobs_refused"), 2)
        observe(&m, four, now: t0 + 1)
        XCTAssertEqual(exporterValue(m, "starve_export_jobs_refused"), 2, "each refused job counted once")
        XCTAssertEqual(exporterValue(m, "starve_export_jobs", [MetricLabel("series", "refused")]), 2)
        XCTAssertEqual(m.families().first { $0.name == "starve_job_cpu_seconds" }?.points.count, 2)
        // Job 1 finishes; after its retention, job 3 (running, refused) takes the place.
        var later = four
        later[3] = (slurmJob("1", state: "COMPLETED"), measure(cpuS: 1, live: 0))
        observe(&m, later, now: t0 + 2)
        XCTAssertEqual(m.jobsWithSeries, ["1", "2"])
        observe(&m, later, now: t0 + 12)
        XCTAssertEqual(m.jobsWithSeries, ["2", "3"])
        XCTAssertEqual(exporterValue(m, "starve_export_jobs_refused"), 2)
    }

    func testNoJobsNoPoints() {
        var m = JobMetrics(maxJobs: 0)
        observe(&m, [(slurmJob("7"), measure(cpuS: 1))], now: Double(start) + 1)
        XCTAssertEqual(m.jobsWithSeries, [])
    }

    func testFamiliesEncodeAsValidPrometheusText() {
        var m = JobMetrics()
        observe(&m, [(slurmJob("7", name: "a \"quoted\" name"), measure(cpuS: 1))], now: Double(start) + 1)
        let text = PrometheusText.encode(m.families() + m.exporterFamilies(slurmUp: true), format: .prometheusText)
        XCTAssertTrue(text.contains("starve_job_cpu_seconds_total{job_id=\"7\"} 1"), text)
        XCTAssertTrue(text.contains("# TYPE starve_job_efficiency_ratio gauge"), text)
        XCTAssertTrue(text.contains("name=\"a \\\"quoted\\\" name\""), text)
    }

    func exporterValue(_ m: JobMetrics, _ name: String, _ labels: [MetricLabel] = []) -> Double? {
        guard let f = m.exporterFamilies(slurmUp: true).first(where: { $0.name == name }),
              let p = f.points.first(where: { $0.labels == labels }), case .number(let v) = p.value else { return nil }
        return v
    }
}
