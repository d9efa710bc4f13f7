import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// starve-dump --share and starve-work's duty-cycle / policy workers and experiment mode, run
/// as a user would.
final class ExperimentLiveTests: XCTestCase {
    func testDumpShareColumnsForNiceZeroAndFive() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let work = try Workload(["--workers", "2", "--nice", "0,5", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        XCTAssertTrue(work.waitUntilSettled(), "workers never got pinned to CPU 1 at nice 0 and 5")
        let r = try runTool(Live.tool("starve-dump"), ["--pin-dir", collector.pinDir, "--interval", "1", "--iterations", "3",
                                                       "--format", "json", "--simulate-draws", "2000", "--seed", "5",
                                                       "--pid"] + work.workerPIDs.map(String.init))
        XCTAssertEqual(r.status, 0, r.stderr)
        let objects = r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.count, 6)
        for o in objects {
            XCTAssertEqual(o.count, sampleColumns.count + shareColumns.count)
            XCTAssertEqual(o["share_competing"] as? Int, 1)
            XCTAssertEqual(o["share_cpus"] as? String, "1")
            XCTAssertEqual(o["share_decided_by"] as? String, "nice")
            XCTAssertEqual(o["lottery_draws"] as? Int, 2000)
            let nice = o["nice"] as! Int
            let weight = Double(NiceWeight.weight(nice: nice)), other = Double(NiceWeight.weight(nice: nice == 0 ? 5 : 0))
            XCTAssertEqual(o["tickets"] as? Int, Int(weight))
            XCTAssertEqual(o["expected_share_pct"] as! Double, weight / (weight + other) * 100, accuracy: 0.01)
            XCTAssertEqual(o["lottery_theory_pct"] as! Double, weight / (weight + other) * 100, accuracy: 0.01)
            XCTAssertEqual(o["lottery_win_pct"] as! Double, weight / (weight + other) * 100, accuracy: 4)
            XCTAssertEqual(o["stride_share_pct"] as! Double, weight / (weight + other) * 100, accuracy: 0.1)
        }
        let last = objects.filter { $0["sample"] as! Int == 3 }
        for o in last { XCTAssertEqual(o["share_error_run_pp"] as! Double, 0, accuracy: 2, "\(o)") }
        XCTAssertGreaterThan(last[0]["share_jain_index_run"] as! Double, 0.99)

        // The table gains the share columns only when asked.
        let plain = try runTool(Live.tool("starve-dump"), ["--pin-dir", collector.pinDir, "--interval", "0.3", "--iterations", "1", "--comm", "starve-work"])
        XCTAssertFalse(plain.stdout.contains("SHARE%"), plain.stdout)
        let table = try runTool(Live.tool("starve-dump"), ["--pin-dir", collector.pinDir, "--interval", "0.3", "--iterations", "1", "--comm", "starve-work", "--share"])
        XCTAssertTrue(table.stdout.contains("TICKETS  SHARE%  MEASURED%  ERR_PP  DECIDED_BY"), table.stdout)
        XCTAssertTrue(table.stdout.contains("fair share: 2 competing"), table.stdout)
    }

    func testDutyCycleAndIdlePolicyWorkers() throws {
        try Live.require()
        let duty = try Workload(["--workers", "1", "--cpu", "0", "--busy-ms", "20", "--sleep-ms", "60", "--duration", "60"])
        defer { duty.stop() }
        let idle = try Workload(["--workers", "2", "--nice", "0", "--policy", "idle", "--cpu", "1", "--duration", "60"])
        defer { idle.stop() }
        XCTAssertTrue(duty.waitUntilSettled() && idle.waitUntilSettled(), "workers never got pinned")
        // Policy: field 41 of /proc/<pid>/stat; SCHED_IDLE is 5.
        XCTAssertTrue(waitUntil(seconds: 10) { idle.workerPIDs.allSatisfy { procStatField(pid: $0, 41) == "5" } },
                      "policies \(idle.workerPIDs.map { procStatField(pid: $0, 41) ?? "gone" }), not SCHED_IDLE (5)")

        // Each cycle burns 20 ms of CPU time and then sleeps once (one voluntary switch).
        let pid = duty.workerPIDs[0]
        func cycles() -> UInt64 {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
                .flatMap { UInt64($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        }
        let c0 = cycles(), s0 = try Schedstat(pid: pid), t0 = monotonicNs()
        XCTAssertTrue(waitUntil(seconds: 30) { cycles() >= c0 + 30 }, "the duty-cycle worker never finished 30 cycles")
        let c1 = cycles(), s1 = try Schedstat(pid: pid), t1 = monotonicNs()
        let perCycleMs = Double(s1.runNs - s0.runNs) / Double(c1 - c0) / 1e6
        let fraction = Double(s1.runNs - s0.runNs) / Double(t1 - t0)
        print("duty cycle: \(c1 - c0) cycles, \(formatFixed(perCycleMs, decimals: 2)) ms of CPU each, \(formatFixed(fraction * 100, decimals: 1)) % of a CPU")
        // Busy is CPU time: 20 ms a cycle however busy CPU 0 is (the window cuts at most one burst).
        XCTAssertEqual(perCycleMs, 20, accuracy: 2, "CPU time per busy burst")
        // Each 20 ms of CPU is followed by 60 ms of sleep: at most a quarter of a CPU (less
        // when others share CPU 0 and stretch the bursts).
        XCTAssertLessThanOrEqual(fraction, 0.27, "a 20 ms busy / 60 ms sleep worker used more than a quarter of a CPU")
    }

    func testTheSamePlanTwiceDrawsTheSameLotteryAndMeasuresTheSameShares() throws {
        try Live.require()
        try Live.requireCPUs([1])
        let dir = try TemporaryDirectory()
        let plan = dir.path + "/plan.txt"
        try """
            # two nice sets on CPU 1
            name = repeat-check
            nice = 0,5 ; 0,5,10
            cpus = 1
            duration = 3
            interval = 1
            warmup = 1
            draws = 500
            seed = 1234
            """.write(toFile: plan, atomically: true, encoding: .utf8)
        var summaries: [[[String]]] = []
        for run in ["a", "b"] {
            let out = dir.path + "/" + run
            let r = try runTool(Live.tool("starve-work"), ["experiment", "--plan", plan, "--out", out, "--object", Live.objectPath])
            XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
            for file in ["plan.txt", "metadata.txt", "samples.csv", "summary.csv", "share.png", "runtime.png", "plots/share.gp", "plots/runtime.dat"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) missing")
            }
            let metadata = try String(contentsOfFile: out + "/metadata.txt", encoding: .utf8)
            for key in ["kernel_release:", "cpu_model:", "cpu_count:", "seed: 1234", "tool_version:", "start_time:"] {
                XCTAssertTrue(metadata.contains(key), "\(key) not in metadata")
            }
            let pins = try FileManager.default.contentsOfDirectory(atPath: "/sys/fs/bpf").filter { $0.hasPrefix("starve-experiment-") }
            XCTAssertTrue(pins.isEmpty, "pins left behind: \(pins)")
            let lines = try String(contentsOfFile: out + "/summary.csv", encoding: .utf8).split(separator: "\n").map(CSV.parseRecord)
            XCTAssertEqual(lines[0], ExperimentSummaryRow.csvHeader)
            XCTAssertEqual(lines.count, 1 + 5)
            summaries.append(Array(lines.dropFirst()))
        }
        let col = Dictionary(uniqueKeysWithValues: ExperimentSummaryRow.csvHeader.enumerated().map { ($1, $0) })
        for (a, b) in zip(summaries[0], summaries[1]) {
            XCTAssertEqual(a[col["lottery_win_pct"]!], b[col["lottery_win_pct"]!], "same seed, same draws")
            XCTAssertEqual(a[col["expected_share_pct"]!], b[col["expected_share_pct"]!])
            XCTAssertEqual(Double(a[col["measured_share_pct"]!])!, Double(b[col["measured_share_pct"]!])!, accuracy: 2)
            XCTAssertEqual(Double(a[col["measured_share_pct"]!])!, Double(a[col["expected_share_pct"]!])!, accuracy: 2)
        }
    }
}
