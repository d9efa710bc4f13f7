import Foundation
import StarveBPF
import StarveCore
import XCTest

/// The tools as a user runs them: load, status, dump to CSV and JSON, unload.
final class ToolTests: XCTestCase {
    func testDumpWritesCSVAndJSONForAWorkload() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let work = try Workload(["--workers", "2", "--nice", "0,5", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        XCTAssertTrue(work.waitUntilSettled(), "workers never got pinned to CPU 1 at nice 0 and 5")
        let dir = try TemporaryDirectory()
        let csv = dir.path + "/samples.csv"
        let pids = work.workerPIDs.flatMap { ["--pid", String($0)] }

        let r = try runTool(Live.tool("starve-dump"), ["--pin-dir", collector.pinDir, "--interval", "0.5", "--iterations", "2",
                                                       "--format", "json", "--output", csv] + pids)
        XCTAssertEqual(r.status, 0, r.stderr)
        let objects = r.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.count, 4, "2 samples x 2 workers")
        XCTAssertEqual(Set(objects.map { $0["pid"] as! Int }), Set(work.workerPIDs.map(Int.init)))
        for o in objects {
            XCTAssertEqual(Array(o.keys).count, sampleColumns.count)
            XCTAssertGreaterThan(o["runtime_delta_ns"] as! Int, 0)
            XCTAssertEqual(o["comm"] as? String, "starve-work")
        }
        // What the tool computed per interval agrees with the totals it printed: the delta is
        // the growth of runtime_ns since the previous sample, cpu_pct that delta over interval_ns.
        for pid in work.workerPIDs.map(Int.init) {
            let rows = objects.filter { $0["pid"] as? Int == pid }.sorted { ($0["sample"] as! Int) < ($1["sample"] as! Int) }
            XCTAssertEqual(rows.count, 2)
            guard rows.count == 2 else { continue }
            XCTAssertEqual((rows[1]["runtime_ns"] as! Int) - (rows[0]["runtime_ns"] as! Int), rows[1]["runtime_delta_ns"] as! Int, "pid \(pid)")
            for r in rows {
                XCTAssertEqual(r["cpu_pct"] as! Double, Double(r["runtime_delta_ns"] as! Int) / Double(r["interval_ns"] as! Int) * 100,
                               accuracy: 0.006, "pid \(pid) sample \(r["sample"]!)")
            }
        }
        // Two busy loops on one CPU: together at most one CPU's worth, nice 0 well ahead (75 / 25).
        let last = objects.filter { $0["sample"] as! Int == 2 }
        let total = last.map { $0["cpu_pct"] as! Double }.reduce(0, +)
        XCTAssertLessThanOrEqual(total, 101)
        let byNice = Dictionary(uniqueKeysWithValues: last.map { ($0["nice"] as! Int, $0["cpu_pct"] as! Double) })
        XCTAssertGreaterThan(byNice[0] ?? 0, (byNice[5] ?? .infinity) * 2, "\(last)")

        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(String(lines[0]) + "\n", SampleFormatter().csvHeader)
        XCTAssertEqual(lines.count, 5)
        XCTAssertTrue(lines.dropFirst().allSatisfy { CSV.parseRecord($0).count == sampleColumns.count })

        // Appending to our own file adds rows, not another header.
        let again = try runTool(Live.tool("starve-dump"), ["--pin-dir", collector.pinDir, "--interval", "0.2", "--iterations", "1",
                                                           "--format", "csv", "--output", csv] + pids)
        XCTAssertEqual(again.status, 0, again.stderr)
        let after = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(after.count, 7)
        XCTAssertEqual(after.filter { $0.hasPrefix("timestamp,") }.count, 1)
        XCTAssertTrue(again.stdout.hasPrefix("timestamp,sample,"))

        // The table shows the workers by name.
        let table = try runTool(Live.tool("starve-dump"), ["--pin-dir", collector.pinDir, "--interval", "0.2", "--iterations", "1", "--comm", "starve-work"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("PID  COMM"), table.stdout)
        XCTAssertTrue(table.stdout.contains(String(work.workerPIDs[0])), table.stdout)
    }

    func testCtrlCStopsBetweenSamplesAndLeavesNoPartialRow() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let dir = try TemporaryDirectory()
        let csv = dir.path + "/interrupted.csv"
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: Live.tool("starve-dump"))
        dump.arguments = ["--pin-dir", collector.pinDir, "--interval", "0.05", "--iterations", "0", "--format", "csv", "--output", csv]
        dump.standardOutput = FileHandle.nullDevice
        try dump.run()
        defer { if dump.isRunning { dump.terminate() } }
        // Interrupt once a few samples are in the file, at whatever point the loop is.
        XCTAssertTrue(waitUntil(seconds: 10) {
            ((try? String(contentsOfFile: csv, encoding: .utf8))?.split(separator: "\n").count ?? 0) > 20
        }, "no samples written")
        kill(dump.processIdentifier, SIGINT)
        dump.waitUntilExit()
        XCTAssertEqual(dump.terminationReason, .exit, "SIGINT must end the loop, not kill the process")
        XCTAssertEqual(dump.terminationStatus, 0)
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"), "the file ends in the middle of a row")
        for line in text.split(separator: "\n") {
            XCTAssertEqual(CSV.parseRecord(line).count, sampleColumns.count, "partial row: \(line)")
        }
    }

    func testStatusShowsAttachedProgramsAndCounters() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let r = try runTool(Live.tool("starve-load"), ["status", "--pin-dir", collector.pinDir])
        XCTAssertEqual(r.status, 0, r.stderr)
        for program in ["starve_sched_switch", "starve_sched_waking", "starve_sched_pi_setprio", "starve_sched_migrate_task", "starve_sched_process_exit"] {
            XCTAssertTrue(r.stdout.contains(program), "\(program) missing from status:\n\(r.stdout)")
        }
        XCTAssertEqual(r.stdout.components(separatedBy: "  yes  ").count - 1, 5, r.stdout)
        XCTAssertTrue(r.stdout.contains("dropped: no storage"))
        let threads = r.stdout.split(separator: "\n").first { $0.hasPrefix("threads reported by the tasks iterator") }
        XCTAssertGreaterThan(Int(threads?.split(separator: " ").last ?? "") ?? 0, 10, r.stdout)

        let unload = try runTool(Live.tool("starve-load"), ["unload", "--pin-dir", collector.pinDir])
        XCTAssertEqual(unload.status, 0, unload.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: collector.pinDir), "unload left the pin directory")
    }

    func testExitedThreadsLeaveNoEntryBehind() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let collection = try PinnedCollection(layout: collector.layout)
        // Three loops on one CPU each wait out the others' slices (>= 1 ms), so the programs
        // remember long waits for each, keyed by pid, in `long_waits`.
        let work = try Workload(["--workers", "3", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        let pids = work.workerPIDs
        let longWaits = try PinnedMap(path: collector.layout.map("long_waits"))
        typealias AnyValue = SIMD64<UInt64>  // room for the map's value, whatever its layout
        XCTAssertLessThanOrEqual(longWaits.valueSize, MemoryLayout<AnyValue>.size)
        func remembered() throws -> [pid_t] { try pids.filter { try longWaits.lookup(UInt32($0), as: AnyValue.self) != nil } }
        let seen = try waitUntil(seconds: 10) {
            let reported = Set(try collection.readTasks().tasks.map(\.pid)).isSuperset(of: pids.map(UInt32.init))
            return try reported && remembered() == pids
        }
        XCTAssertTrue(seen, "the workers never showed up in the tasks iterator and long_waits (\((try? remembered()) ?? []) of \(pids))")

        // End them one at a time, the others stopped, so none waits behind another on its way out.
        // (Known gap, left to the BPF side: a thread preempted after sched_process_exit and
        // switched in again after a wait of 1 ms or more gets its entry back, since
        // remember_long_wait does not look at PF_EXITING; three loops killed together on one
        // CPU left 3 of 60 entries behind. The LRU map bounds the leak.)
        for pid in pids { kill(pid, SIGSTOP) }
        defer { for pid in pids { kill(pid, SIGKILL) } }  // a stopped worker ignores starve-work's SIGTERM
        XCTAssertTrue(waitUntil(seconds: 10) { pids.allSatisfy { procStatField(pid: $0, 3) == "T" } }, "workers did not stop")
        for pid in pids {
            kill(pid, SIGKILL)
            XCTAssertTrue(waitUntil(seconds: 10) { [nil, "Z", "X"].contains(procStatField(pid: pid, 3)) }, "worker \(pid) did not exit")
        }
        XCTAssertTrue(try waitUntil(seconds: 10) { Set(try collection.readTasks().tasks.map(\.pid)).isDisjoint(with: pids.map(UInt32.init)) },
                      "exited workers are still reported by the tasks iterator")
        // sched_process_exit forgets an exiting thread's long waits: a reused pid starts clean.
        XCTAssertEqual(try remembered(), [], "long_waits still holds exited workers")
    }

    func testThreadsFromBeforeTheLoadAreReportedWithTheKernelsCounts() throws {
        try Live.require()
        // Started before the load, then asleep throughout: never switched in while we watch.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sh")
        sleeper.arguments = ["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60"]
        try sleeper.run()
        defer { sleeper.terminate(); sleeper.waitUntilExit() }
        let pid = UInt32(sleeper.processIdentifier)
        XCTAssertTrue(waitUntil(seconds: 10) {
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("sleep") == true
                && (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") S ") == true
        }, "sleep never went to sleep")
        let kernelBefore = try Schedstat(pid: pid_t(pid))

        let collector = try LoadedCollector()
        defer { collector.unload() }
        let collection = try PinnedCollection(layout: collector.layout)
        let seen = try XCTUnwrap(try collection.readTasks().tasks.first { $0.pid == pid }, "a sleeping thread is missing")
        XCTAssertEqual(seen.comm, "sleep")
        XCTAssertEqual(seen.runtimeNs, kernelBefore.runtimeNs, "runtime is the kernel's own sum_exec_runtime")
        XCTAssertGreaterThan(seen.runtimeNs, 0)
        // nvcsw + nivcsw count switch-outs, schedstat's timeslices switch-ins: equal while asleep.
        XCTAssertEqual(seen.voluntarySwitches + seen.involuntarySwitches, kernelBefore.timeslices, "switches are the kernel's nvcsw + nivcsw")
        XCTAssertEqual(seen.waitCount, 0, "no wait closed since the load, so none counted")
    }
}

/// A directory under /tmp removed when dropped.
final class TemporaryDirectory {
    let path: String
    init() throws {
        var template = Array("/tmp/starve-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw StarveError("mkdtemp failed") }
        path = String(cString: p)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
