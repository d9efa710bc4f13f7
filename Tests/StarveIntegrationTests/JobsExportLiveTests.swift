import Foundation
import StarveHost
import StarveModel
import XCTest

/// starve-export's per-job families, live: a local Slurm runs a CPU-bound batch job, a real
/// Prometheus scrapes the exporter every second, and its query API gives the job's CPU seconds
/// as the kernel counts them (the job suspended by Slurm, so both stand still while compared),
/// the user and name through starve_job_info only, the job finished and its figures kept after
/// its threads exited, then no series once the retention is over. Without Slurm: no job
/// families, one line on stderr, the workload families as before.
final class JobsExportLiveTests: XCTestCase {
    private func requirePrometheus() throws {
        try Live.requireTools("starve-export")
        try Live.requireMachine(access(PrometheusServer.binary, X_OK) == 0,
                                "prometheus is not installed (scripts/run.sh test installs Debian's prometheus)")
    }

    func testPrometheusGetsAJobsCPUSecondsAndItsSeriesStopAfterTheRetention() throws {
        try Live.require()
        try requirePrometheus()
        try Live.requireCPUs([0])
        let collector = try LoadedCollector(extraArguments: ["--jobs"])
        defer { collector.unload() }
        let slurm = try LocalSlurm()
        defer { slurm.stop() }
        let retention = 6.0
        let exporter = try ExporterProcess(pinDir: collector.pinDir, ["--interval", "1", "--job-retention", String(retention)],
                                           environment: slurm.environment.mapValues { Optional($0) })
        defer { exporter.stop() }
        let prometheus = try PrometheusServer(targets: [exporter.address])
        defer { prometheus.stop() }
        let dir = NSTemporaryDirectory() + "starve-jobs-export-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // One busy loop on CPU 0 for 8 s, its autogroup at nice -20 (other work barely
        // touches it): seconds of CPU time, one thread doing nearly all of it.
        let script = dir + "/spin.sh"
        try "#!/bin/sh\necho -20 > /proc/self/autogroup\ntimeout 8 taskset -c 0 sh -c 'while :; do :; done' || true\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let id = try slurm.sbatch(script, name: "spin", directory: dir)
        let cpu = "starve_job_cpu_seconds_total{job_id=\"\(id)\"}"
        XCTAssertTrue(waitUntil(seconds: 40) { (prometheus.query(cpu).first?.value ?? 0) > 1 },
                      "Prometheus never got a second of CPU for job \(id): \(exporter.server.stderr) \((try? slurm.states()) ?? [:])")

        // The user and name on the info series only; the hot families carry job_id alone.
        let info = try XCTUnwrap(prometheus.query("starve_job_info{job_id=\"\(id)\"}").first, "no starve_job_info for \(id)")
        XCTAssertEqual(info.labels["user"], "root")
        XCTAssertEqual(info.labels["name"], "spin")
        let hot = try XCTUnwrap(prometheus.query(cpu).first)
        XCTAssertNil(hot.labels["user"], "user is kept off the counter families")
        XCTAssertEqual(prometheus.value("starve_job_allocated_cpus{job_id=\"\(id)\"}", instance: exporter.address), 1,
                       "sbatch's default: one CPU")
        let byUser = prometheus.query("sum by (user) (\(cpu) * on (instance, job_id) group_left (user) starve_job_info)")
        XCTAssertEqual(byUser.first?.labels["user"], "root", "the info series joins on job_id: \(byUser)")

        // The job's CPU seconds against the kernel's: Slurm suspends it (SIGSTOP), so its
        // schedstat stands still; the exporter's next samples and Prometheus's next scrapes
        // then reach the same figure. Its processes never exit meanwhile, so what starve
        // counts beyond the live threads' schedstat is the batch shell's exited children:
        // none here; 2 % covers rounding and is the bound.
        let suspend = try runProcess("/usr/bin/scontrol", ["suspend", id], environment: slurm.environment)
        XCTAssertEqual(suspend.status, 0, suspend.stderr)
        var before = jobKernelRuntimeNs(job: id)
        XCTAssertTrue(waitUntil(seconds: 10) {
            usleep(200_000)
            let now = jobKernelRuntimeNs(job: id)
            defer { before = now }
            return now.ns == before.ns && now.threads > 0
        }, "the suspended job's CPU time stands still")
        let kernelS = Double(before.ns) / 1e9
        var exported = 0.0
        let agreed = waitUntil(seconds: 20) {
            exported = prometheus.query(cpu).first?.value ?? 0
            return abs(exported - kernelS) <= 0.02 * kernelS
        }
        _ = try runProcess("/usr/bin/scontrol", ["resume", id], environment: slurm.environment)
        print("job \(id): Prometheus \(exported) s, kernel schedstat \(kernelS) s (\(before.threads) threads)")
        XCTAssertTrue(agreed, "the exported CPU seconds (\(exported)) within 2 % of the kernel's (\(kernelS))")
        XCTAssertGreaterThan(kernelS, 1)
        XCTAssertEqual(prometheus.value("starve_job_finished{job_id=\"\(id)\"}", instance: exporter.address), 0)

        // Finished: the series say so and keep the CPU time its exited threads had (the
        // kernel's per-job fold), never less than while it ran.
        XCTAssertTrue(waitUntil(seconds: 40) { (try? slurm.states())?[id] == "COMPLETED" },
                      "job \(id) did not complete: \((try? slurm.states()) ?? [:])")
        var final = 0.0
        XCTAssertTrue(waitUntil(seconds: 20) {
            final = prometheus.query("max_over_time(\(cpu)[5m])").first?.value ?? 0
            return prometheus.query("max_over_time(starve_job_finished{job_id=\"\(id)\"}[5m])").first?.value == 1
        }, "Prometheus never saw job \(id) finished: \(exporter.server.stderr)")
        XCTAssertGreaterThanOrEqual(final, exported, "a finished job keeps its CPU time")
        let elapsed = prometheus.query("max_over_time(starve_job_elapsed_seconds{job_id=\"\(id)\"}[5m])").first?.value ?? 0
        XCTAssertLessThanOrEqual(final, elapsed + 0.5, "one CPU: no more CPU time than elapsed time")

        // After the retention: no series for the job, while the exporter is scraped as before.
        XCTAssertTrue(waitUntil(seconds: retention + 30) {
            prometheus.query(cpu).isEmpty && prometheus.query("starve_job_info{job_id=\"\(id)\"}").isEmpty
        }, "job \(id)'s series did not stop after the retention: \(prometheus.query(cpu))")
        XCTAssertEqual(prometheus.value("up", instance: exporter.address), 1)
        XCTAssertEqual(prometheus.value("starve_up", instance: exporter.address), 1)
        XCTAssertEqual(prometheus.value("starve_slurm_up", instance: exporter.address), 1)
        XCTAssertGreaterThanOrEqual(prometheus.value("starve_export_jobs_retired_total", instance: exporter.address) ?? 0, 1)
        let scrape = try XCTUnwrap(exporter.scrape())
        XCTAssertFalse(scrape.contains("job_id=\"\(id)\""), "the exporter no longer serves job \(id)")
        let check = try promtoolCheckMetrics(scrape)
        XCTAssertEqual(check.status, 0, check.output)
    }

    func testWithoutSlurmNoJobFamiliesAndOneLine() throws {
        try Live.require()
        try Live.requireTools("starve-export")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // No squeue in PATH: Slurm is not installed, as far as the exporter can tell.
        let exporter = try ExporterProcess(pinDir: collector.pinDir, ["--interval", "0.5"], environment: ["PATH": "/nonexistent"])
        defer { exporter.stop() }
        var scrape = ""
        XCTAssertTrue(waitUntil(seconds: 20) {
            scrape = exporter.scrape() ?? ""
            return ExporterProcess.value(scrape, "starve_export_samples_total") ?? 0 >= 3
        }, "the exporter did not sample: \(exporter.server.stderr)")
        XCTAssertEqual(ExporterProcess.value(scrape, "starve_up"), 1)
        XCTAssertTrue(scrape.contains("starve_workload_cpu_seconds_total{"), "the workload families as before")
        let jobLines = scrape.split(separator: "\n").filter { $0.contains("starve_job_") || $0.contains("starve_slurm_") || $0.contains("starve_export_jobs") }
        XCTAssertEqual(jobLines, [], "no job families without Slurm")
        let said = exporter.server.stderr.split(separator: "\n").filter { $0.contains("Slurm") }
        XCTAssertEqual(said, ["starve-export: no Slurm here (no squeue in PATH): no per-job families"], exporter.server.stderr)
    }
}
