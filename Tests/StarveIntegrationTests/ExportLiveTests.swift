import Foundation
import StarveBPF
import StarveHost
import StarveModel
import XCTest

/// `promtool check metrics` on a scrape: its exit status and what it said.
func promtoolCheckMetrics(_ text: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
    p.arguments = ["check", "metrics"]
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    p.standardError = output
    try p.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let said = output.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: said, as: UTF8.self))
}

/// starve-export against the live collector and a real Prometheus: two exporters (two pin
/// directories, two instances) scraped every second while a noisy neighbour runs; the
/// victim's tail wait and the waits booked to the hog rise in Prometheus, the hog's do not;
/// starve_up 0 before the load and 1 after; counters survive an unload and reload.
final class ExportLiveTests: XCTestCase {
    private func requirePrometheus() throws {
        try Live.requireTools("starve-export")
        try Live.requireMachine(access(PrometheusServer.binary, X_OK) == 0 && access("/usr/bin/promtool", X_OK) == 0,
                                "prometheus and promtool are not installed (scripts/run.sh test installs Debian's prometheus)")
    }

    func testPrometheusScrapesTwoExportersThroughANoisyNeighbour() throws {
        try Live.require()
        try requirePrometheus()
        try Live.requireCPUs([1])
        let pinsA = try TestPinDirectory("exportA")  // loaded later: its exporter starts first
        defer { pinsA.wipe() }
        let collectorB = try LoadedCollector()
        defer { collectorB.unload() }
        let a = try ExporterProcess(pinDir: pinsA.path, ["--interval", "1"])
        defer { a.stop() }
        let b = try ExporterProcess(pinDir: collectorB.pinDir, ["--interval", "1"])
        defer { b.stop() }
        let prometheus = try PrometheusServer(targets: [a.address, b.address])
        defer { prometheus.stop() }

        // Before its collector is loaded, A serves starve_up 0; then it picks the pins up.
        XCTAssertTrue(waitUntil(seconds: 30) { prometheus.value("starve_up", instance: a.address) == 0 },
                      "Prometheus never saw starve_up 0 from the exporter without a collector: \(a.server.stderr)")
        XCTAssertTrue(a.server.stderr.contains("no collector at \(pinsA.path)"), a.server.stderr)
        let load = try runTool(Live.tool("starve-load"), ["--pin-dir", pinsA.path, "--object", Live.objectPath])
        XCTAssertEqual(load.status, 0, load.stderr)
        XCTAssertTrue(waitUntil(seconds: 30) { prometheus.value("starve_up", instance: a.address) == 1 },
                      "the exporter did not pick the pins up: \(a.server.stderr)")
        XCTAssertEqual(prometheus.value("starve_up", instance: b.address), 1)

        let noisy = try NoisyNeighbours(tag: "exp")
        defer { noisy.tearDown() }
        let victim = noisy.victimGroup.path, hog = noisy.hogGroup.path
        // What starve-dump says of the same seconds, from B's pins.
        let dump = try runTool(Live.tool("starve-dump"), ["workloads", "--pin-dir", collectorB.pinDir, "--interval", "1",
                                                         "--iterations", "6", "--format", "json"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        let rows = dump.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let victimRows = rows.filter { $0["workload"] as? String == victim }
        let dumpVictimWaitSeconds = victimRows.compactMap { $0["wait_ms"] as? Double }.reduce(0, +) / 1000
        let hogRows = rows.filter { $0["workload"] as? String == hog }
        let dumpHogWaitSeconds = hogRows.compactMap { $0["wait_ms"] as? Double }.reduce(0, +) / 1000
        // On a quiet host the hog is the victim's top preemptor; on a shared one other
        // processes on CPU 1 may be: whoever starve-dump names must have a series here too.
        let dumpTopPreemptors = Set(victimRows.compactMap { $0["top_preemptor"] as? String })
        XCTAssertGreaterThan(dumpVictimWaitSeconds, 0)

        let p99 = { (w: String) in
            "histogram_quantile(0.99, sum by (instance, le) (rate(starve_workload_run_queue_wait_seconds_bucket{workload=\"\(w)\"}[30s])))"
        }
        let pair = { (v: String, p: String) in
            "increase(starve_workload_preemptor_wait_seconds_total{workload=\"\(v)\",preemptor=\"\(p)\"}[30s])"
        }
        var seen: [String: [String: Double]] = [:]
        let agreed = waitUntil(seconds: 30) {
            var all = true
            for instance in [a.address, b.address] {
                let victimP99 = prometheus.value(p99(victim), instance: instance) ?? 0
                let hogP99 = prometheus.value(p99(hog), instance: instance) ?? 0
                let byHog = prometheus.value(pair(victim, hog), instance: instance) ?? 0
                let byVictim = prometheus.value(pair(hog, victim), instance: instance) ?? 0
                let waitsByHog = prometheus.value("increase(starve_workload_preemptor_waits_total{workload=\"\(victim)\",preemptor=\"\(hog)\"}[30s])", instance: instance) ?? 0
                let victimSum = prometheus.value("starve_workload_run_queue_wait_seconds_sum{workload=\"\(victim)\"}", instance: instance) ?? 0
                seen[instance] = ["victim_p99": victimP99, "hog_p99": hogP99, "victim_wait_by_hog": byHog, "hog_wait_by_victim": byVictim,
                                  "victim_waits_by_hog": waitsByHog, "victim_wait_sum": victimSum]
                // The victim's tail is long, the hog's short; the hog holds the victim off far
                // longer than the other way round; waits booked to the hog keep coming.
                all = all && victimP99 > hogP99 && victimP99 >= 0.01 && byHog > 5 * byVictim && waitsByHog > 0
                // The exporter's counter started before starve-dump's samples and counts the same waits.
                if instance == b.address { all = all && victimSum >= dumpVictimWaitSeconds * 0.999 }
            }
            return all
        }
        XCTAssertTrue(agreed, "through Prometheus: \(seen); starve-dump's victim wait over its 6 samples: \(dumpVictimWaitSeconds) s")
        // starve-dump agrees on who waits (the victim, far more than the hog) and on who held it off.
        XCTAssertGreaterThan(dumpVictimWaitSeconds, dumpHogWaitSeconds, "starve-dump: victim \(dumpVictimWaitSeconds) s, hog \(dumpHogWaitSeconds) s")
        let exportedPreemptors = Set(prometheus.query("starve_workload_preemptor_wait_seconds_total{workload=\"\(victim)\"} > 0")
            .filter { $0.labels["instance"] == b.address }.compactMap { $0.labels["preemptor"] })
        XCTAssertTrue(dumpTopPreemptors.isSubset(of: exportedPreemptors),
                      "starve-dump's top preemptors of the victim \(dumpTopPreemptors) are among the exported pairs \(exportedPreemptors)")
        XCTAssertTrue(exportedPreemptors.contains(hog), "waits booked to the hog: \(exportedPreemptors)")
        print("prometheus saw: \(seen); starve-dump victim wait \(dumpVictimWaitSeconds) s")

        // Both instances are up and scraped; promtool accepts what they serve.
        XCTAssertEqual(Set(prometheus.query("starve_up == 1").compactMap { $0.labels["instance"] }), [a.address, b.address])
        for e in [a, b] {
            let scrape = try XCTUnwrap(e.scrape())
            let check = try promtoolCheckMetrics(scrape)
            XCTAssertEqual(check.status, 0, "promtool check metrics: \(check.output)")
            XCTAssertFalse(scrape.contains("pid=") || scrape.contains("tid=") || scrape.contains("cgroup_id="), "no per-thread or raw cgroup labels")
            XCTAssertNotNil(e.scrape(openMetrics: true).map { $0.hasSuffix("# EOF\n") } == true ? true : nil, "OpenMetrics ends with # EOF")
        }
        noisy.tearDown()
    }

    func testCountersSurviveAnUnloadAndReload() throws {
        try Live.require()
        try Live.requireTools("starve-export")
        try Live.requireCPUs([1])
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let group = try ScratchCgroup(prefix: "starve-test-exportreload")
        defer { try? group.remove() }
        let loop = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--busy-ms", "5", "--sleep-ms", "5", "--cgroup", group.directory])
        defer { loop.stop() }
        let e = try ExporterProcess(pinDir: collector.pinDir, ["--interval", "1"])
        defer { e.stop() }
        let cpu = "starve_workload_cpu_seconds_total{workload_kind=\"cgroup\",workload=\"\(group.path)\"}"
        var before = 0.0
        XCTAssertTrue(waitUntil(seconds: 30) {
            before = e.scrape().flatMap { ExporterProcess.value($0, cpu) } ?? 0
            return before > 0.2
        }, "the loop's CPU seconds: \(e.scrape() ?? "no scrape")")

        let unload = try runTool(Live.tool("starve-load"), ["unload", "--pin-dir", collector.pinDir])
        XCTAssertEqual(unload.status, 0, unload.stderr)
        var down = ""
        XCTAssertTrue(waitUntil(seconds: 20) {
            down = e.scrape() ?? ""
            return ExporterProcess.value(down, "starve_up") == 0
        }, "starve_up 0 after the unload: \(down)")
        XCTAssertNil(ExporterProcess.value(down, cpu), "no workload series while the collector is gone")
        XCTAssertNil(ExporterProcess.value(down, "starve_collector_sched_switches_total"), "no collector figures while it is gone")

        let reload = try runTool(Live.tool("starve-load"), ["--pin-dir", collector.pinDir, "--object", Live.objectPath])
        XCTAssertEqual(reload.status, 0, reload.stderr)
        var after = ""
        XCTAssertTrue(waitUntil(seconds: 30) {
            after = e.scrape() ?? ""
            return ExporterProcess.value(after, "starve_up") == 1 && (ExporterProcess.value(after, cpu) ?? 0) > before + 0.2
        }, "after the reload the counter goes on from \(before): \(after)")
        XCTAssertGreaterThanOrEqual(ExporterProcess.value(after, "starve_export_reconnects_total") ?? 0, 1)
        XCTAssertTrue(e.server.stderr.contains("lost the collector"), e.server.stderr)
        XCTAssertTrue(e.server.stderr.contains("collector found"), e.server.stderr)
        loop.stop()
    }

    /// The seed collector's families come from the kernel's counters (not the events ring
    /// buffer): four loops sharing one CPU, one at nice 19, wait over low thresholds.
    func testStarvationsBySeverityAndTheirLengths() throws {
        try Live.require()
        try Live.requireTools("starve-export")
        try Live.requireCPUs([1])
        let collector = try LoadedCollector(extraArguments: ["--thresholds", "4,16,32"])
        defer { collector.unload() }
        let group = try ScratchCgroup(prefix: "starve-test-exportstarve")
        defer { try? group.remove() }
        // Three nice-0 loops wait a few ms each turn (starved at 4 ms); a fourth at nice 19, with
        // a weight of 15 against their 3072, waits far longer (severe or critical) even on a
        // quiet machine.
        let loops = try Workload(["--workers", "4", "--nice", "0,0,0,19", "--cpu", "1", "--duration", "60", "--busy-ms", "30", "--sleep-ms", "2",
                                  "--cgroup", group.directory])
        defer { loops.stop() }
        let e = try ExporterProcess(pinDir: collector.pinDir, ["--interval", "1"])
        defer { e.stop() }
        let severity = { (s: String, scrape: String) in ExporterProcess.value(scrape, "starve_starvation_events_total{severity=\"\(s)\"}") ?? 0 }
        var scrape = ""
        XCTAssertTrue(waitUntil(seconds: 30) {
            scrape = e.scrape() ?? ""
            return severity("starved", scrape) >= 5 && severity("severe", scrape) + severity("critical", scrape) >= 1
        }, "starvations of the loops sharing CPU 1 at 4/16/32 ms: \(scrape)")
        let total = severity("starved", scrape) + severity("severe", scrape) + severity("critical", scrape)
        let count = try XCTUnwrap(ExporterProcess.value(scrape, "starve_starvation_duration_seconds_count"))
        let sum = try XCTUnwrap(ExporterProcess.value(scrape, "starve_starvation_duration_seconds_sum"))
        XCTAssertEqual(count, total, "the length histogram counts each starvation once")
        XCTAssertGreaterThanOrEqual(sum, count * 0.004, "every starvation lasted at least the 4 ms threshold")
        let under4ms = ExporterProcess.value(scrape, "starve_starvation_duration_seconds_bucket{le=\"0.002097152\"}") ?? -1
        XCTAssertEqual(under4ms, 0, "no starvation shorter than 2.1 ms with a 4 ms threshold")
        // Every wait of the loops of 2^22 ns (4.19 ms) or more is a starvation the kernel counted.
        let w = "workload_kind=\"cgroup\",workload=\"\(group.path)\""
        let waits = try XCTUnwrap(ExporterProcess.value(scrape, "starve_workload_run_queue_wait_seconds_count{\(w)}"), scrape)
        let short = try XCTUnwrap(ExporterProcess.value(scrape, "starve_workload_run_queue_wait_seconds_bucket{\(w),le=\"0.004194304\"}"), scrape)
        XCTAssertGreaterThan(waits - short, 0, "the loops waited 4.19 ms or more")
        XCTAssertLessThanOrEqual(waits - short, total, "each of the loops' long waits is among the starvations")
        for family in ["starve_priority_inversions_total", "starve_migration_storms_total", "starve_noisy_neighbour_detections_total"] {
            XCTAssertNotNil(ExporterProcess.value(scrape, family), family)
        }
        XCTAssertNotNil(ExporterProcess.value(scrape, "starve_patterns_started_total{pattern=\"high-frequency-starvation\"}"), scrape)
        loops.stop()
    }

    func testMaxWorkloadsFoldsTheRestIntoOther() throws {
        try Live.require()
        try Live.requireTools("starve-export")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // Two workloads of the test's own beside the host's.
        let groups = try (0..<2).map { _ in try ScratchCgroup(prefix: "starve-test-exportfold") }
        defer { groups.forEach { try? $0.remove() } }
        let loops = try groups.map { try Workload(["--workers", "1", "--duration", "60", "--busy-ms", "2", "--sleep-ms", "8", "--cgroup", $0.directory]) }
        defer { loops.forEach { $0.stop() } }
        let e = try ExporterProcess(pinDir: collector.pinDir, ["--interval", "1", "--max-workloads", "1"])
        defer { e.stop() }
        var scrape = ""
        XCTAssertTrue(waitUntil(seconds: 20) {
            scrape = e.scrape() ?? ""
            return ExporterProcess.value(scrape, "starve_export_samples_total") ?? 0 >= 2
        })
        let workloads = Set(scrape.split(separator: "\n").filter { $0.hasPrefix("starve_workload_cpu_seconds_total{") }
            .compactMap { $0.split(separator: "\"").dropFirst(3).first.map(String.init) })
        // Three workloads at least: one series, the rest in other.
        XCTAssertEqual(workloads.count, 2, "one workload and other: \(workloads)")
        XCTAssertTrue(workloads.contains("other"), "\(workloads)")
        XCTAssertGreaterThanOrEqual(ExporterProcess.value(scrape, "starve_export_workloads{series=\"folded\"}") ?? 0, 2)
        loops.forEach { $0.stop() }
    }

    func testTextfileIsValidAndReplacedWhole() throws {
        try Live.require()
        try requirePrometheus()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let dir = try TemporaryDirectory()
        let r = try runTool(Live.tool("starve-export"), ["--pin-dir", collector.pinDir, "--listen", "none", "--textfile", dir.path + "/starve.prom",
                                                        "--interval", "1", "--iterations", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let text = try String(contentsOfFile: dir.path + "/starve.prom", encoding: .utf8)
        XCTAssertEqual(ExporterProcess.value(text, "starve_up"), 1, text)
        XCTAssertTrue(text.contains("starve_workload_run_queue_wait_seconds_bucket{workload_kind=\"host\",workload=\"host\",le=\"+Inf\"}"), text)
        let check = try promtoolCheckMetrics(text)
        XCTAssertEqual(check.status, 0, check.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["starve.prom"], "no temporary file left")
    }
}

/// OTLP/HTTP push, decoded by the official opentelemetry-proto package in a Python receiver:
/// every family arrives with its type; 503 is retried after Retry-After, 400 never.
final class ExportOTLPTests: XCTestCase {
    private var python: String { ProcessInfo.processInfo.environment["STARVE_TEST_PYTHON"] ?? Live.repoRoot + "/.build/test-venv/bin/python" }

    private func receiver(_ answers: String) throws -> (ServerProcess, Int) {
        try Live.requireMachine(access(python, X_OK) == 0, "no Python with opentelemetry-proto at \(python) (scripts/run.sh test makes it)")
        let r = try ServerProcess(python, [Live.repoRoot + "/scripts/otlp-receiver.py", "--answers", answers, "--retry-after", "1"])
        guard let port = r.waitForLine(#"listening (\d+)"#, stderr: false).flatMap({ Int($0) }) else {
            r.stop()
            throw StarveError("the OTLP receiver did not start: \(r.stderr)")
        }
        return (r, port)
    }

    private func requests(_ r: ServerProcess) -> [[String: Any]] {
        r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testEveryFamilyArrivesAndServiceUnavailableIsRetried() throws {
        try Live.require()
        try Live.requireTools("starve-export")
        let (receiver, port) = try receiver("503,200")
        defer { receiver.stop() }
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let e = try ExporterProcess(pinDir: collector.pinDir, ["--interval", "1", "--otlp-endpoint", "http://127.0.0.1:\(port)/v1/metrics",
                                                               "--otlp-interval", "2", "--service-name", "starve-test", "--host-name", "node-7"])
        defer { e.stop() }
        // A push after the collector was read (one with the collector's families), delivered.
        var delivered: [String: Any]?
        XCTAssertTrue(waitUntil(seconds: 30) {
            delivered = requests(receiver).last { ($0["status"] as? Int) == 200 && (($0["metrics"] as? [String: Any])?["starve_collector_sched_switches"] != nil) }
            return delivered != nil
        }, "no push delivered: \(receiver.stdout) \(e.server.stderr)")
        let all = requests(receiver)
        XCTAssertEqual(all.first?["status"] as? Int, 503)
        XCTAssertGreaterThanOrEqual(all.count, 2, "the 503 was retried")
        XCTAssertEqual(all.first?["content_type"] as? String, "application/x-protobuf")
        let d = try XCTUnwrap(delivered)
        XCTAssertNil(d["error"], "decoded by opentelemetry-proto: \(d)")
        XCTAssertEqual(d["path"] as? String, "/v1/metrics")
        XCTAssertEqual(d["resource"] as? [String: String], ["host.name": "node-7", "service.name": "starve-test"])
        // Every family of a scrape arrives, as its type.
        let metrics = try XCTUnwrap(d["metrics"] as? [String: [String: Any]])
        let scrape = try XCTUnwrap(e.scrape(openMetrics: true))
        let families = scrape.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ") }
            .map { (String($0[2]), String($0[3])) }
        XCTAssertFalse(families.isEmpty)
        for (name, type) in families {
            guard let m = metrics[name] else { XCTFail("\(name) not pushed: \(metrics.keys.sorted())"); continue }
            switch type {
            case "counter":
                XCTAssertEqual(m["type"] as? String, "sum", name)
                XCTAssertEqual(m["monotonic"] as? Bool, true, name)
                XCTAssertEqual(m["temporality"] as? Int, 2, "\(name): cumulative")
            case "gauge": XCTAssertEqual(m["type"] as? String, "gauge", name)
            case "histogram":
                XCTAssertEqual(m["type"] as? String, "histogram", name)
                XCTAssertEqual(m["consistent"] as? Bool, true, "\(name): bucket counts add up to the count")
            default: XCTFail("\(name): unexpected type \(type)")
            }
        }
        XCTAssertEqual(Set(metrics.keys), Set(families.map(\.0)), "the same metric set")
        XCTAssertFalse(e.server.stderr.contains("dropped"), e.server.stderr)
    }

    func testBadRequestIsNeverRetried() throws {
        try Live.require()
        try Live.requireTools("starve-export")
        let (receiver, port) = try receiver("400")
        defer { receiver.stop() }
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // One push (at the first read; the next would be an hour later), answered 400.
        let r = try runTool(Live.tool("starve-export"), ["--pin-dir", collector.pinDir, "--listen", "none", "--interval", "1", "--iterations", "4",
                                                        "--otlp-endpoint", "http://127.0.0.1:\(port)/v1/metrics", "--otlp-interval", "3600"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(waitUntil(seconds: 5) { !requests(receiver).isEmpty })
        XCTAssertEqual(requests(receiver).count, 1, "400 is not retried: \(receiver.stdout)")
        XCTAssertTrue(r.stderr.contains("dropped: HTTP 400, not retryable"), r.stderr)
    }
}

/// Bad input: one clear line and a non-zero exit, never a crash or a half-made change.
final class ExportArgumentTests: XCTestCase {
    func testBadFlagsAndUnusableOutputs() throws {
        try Live.requireTools("starve-export")
        let absent = "/sys/fs/bpf/starve-test-absent-\(getpid())"
        let plain = try TemporaryDirectory()
        for (args, text) in [(["--max-workloads", "0"], "--max-workloads must be 1 or more"),
                             (["--interval", "0"], "--interval must be in"),
                             (["--listen", "nowhere"], "--listen nowhere: no port"),
                             (["--listen", "127.0.0.1:99999"], "the port must be"),
                             (["--interval", "2", "--expire", "1"], "--expire must be at least --interval"),
                             (["--max-jobs=-1"], "--max-jobs must be 0 (no job families) or more"),
                             (["--interval", "5", "--job-retention", "1"], "--job-retention must be at least --interval"),
                             (["--listen", "none"], "nothing to do"),
                             (["--textfile", "/nonexistent-\(getpid())/starve.prom"], "no directory"),
                             (["--textfile", plain.path + "/starve.txt"], "must end in .prom"),
                             (["--otlp-endpoint", "ftp://collector/v1/metrics"], "not an http(s) URL"),
                             (["--otlp-interval", "0", "--otlp-endpoint", "http://127.0.0.1:1/v1/metrics"], "--otlp-interval"),
                             (["--frobnicate"], "Unknown option")] {
            let r = try runTool(Live.tool("starve-export"), ["--pin-dir", absent] + args)
            XCTAssertNotEqual(r.status, 0, "\(args) succeeded")
            XCTAssertTrue(r.stderr.contains(text), "\(args): expected '\(text)' in: \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
        // A directory that holds no pins of a collector: refused, not served as "not loaded".
        let r = try runTool(Live.tool("starve-export"), ["--pin-dir", plain.path, "--listen", "127.0.0.1:0", "--iterations", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("cannot read the collector's pins at \(plain.path)"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    func testBusyPortIsOneLineAndNonZero() throws {
        try Live.requireTools("starve-export")
        let absent = "/sys/fs/bpf/starve-test-absent-\(getpid())"
        let first = try ExporterProcess(pinDir: absent, ["--interval", "1"])
        defer { first.stop() }
        let r = try runTool(Live.tool("starve-export"), ["--pin-dir", absent, "--listen", first.address, "--iterations", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").map(String.init), ["Error: cannot listen on \(first.address): Address already in use"])
        // The first one still serves (starve_up 0: no collector there).
        XCTAssertEqual(first.scrape().flatMap { ExporterProcess.value($0, "starve_up") }, 0)
    }
}
