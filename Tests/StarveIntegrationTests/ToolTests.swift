import Foundation
import StarveBPF
import StarveModel
import StarveHost
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
        for program in ["starve_sched_switch", "starve_sched_waking", "starve_sched_pi_setprio", "starve_sched_process_exit"] {
            XCTAssertTrue(r.stdout.contains(program), "\(program) missing from status:\n\(r.stdout)")
        }
        // Migrations are counted at switch-in (se.nr_migrations): no program on sched_migrate_task.
        XCTAssertFalse(r.stdout.contains("starve_sched_migrate_task"), r.stdout)
        XCTAssertEqual(r.stdout.components(separatedBy: "  yes  ").count - 1, 4, r.stdout)
        XCTAssertTrue(r.stdout.contains("dropped: no storage"))
        let threads = r.stdout.split(separator: "\n").first { $0.hasPrefix("threads reported by the tasks iterator") }
        XCTAssertGreaterThan(Int(threads?.split(separator: " ").last ?? "") ?? 0, 10, r.stdout)

        let unload = try runTool(Live.tool("starve-load"), ["unload", "--pin-dir", collector.pinDir])
        XCTAssertEqual(unload.status, 0, unload.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: collector.pinDir), "unload left the pin directory")
    }

    /// What threads booked to their preemptors outlives them: at exit their own slots are folded
    /// into `preempt_pairs`, so a reader that starts after they are gone still sees it, and the
    /// threads themselves are no longer reported.
    func testExitedThreadsAttributionIsFoldedNotLost() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let collection = try PinnedCollection(layout: collector.layout)
        // Three loops on one CPU preempt one another: each books waits to the other two.
        let work = try Workload(["--workers", "3", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        let pids = work.workerPIDs.map(UInt32.init)
        func booked(_ pairs: [PreemptionPair: PreemptionCounts]) -> [UInt32: UInt64] {
            var out: [UInt32: UInt64] = [:]
            for (k, v) in pairs where pids.contains(k.victimTgid) && pids.contains(k.preemptorTgid) { out[k.victimTgid, default: 0] += v.count }
            return out
        }
        XCTAssertTrue(try waitUntil(seconds: 10) {
            _ = try collection.readTasks()
            let b = booked(try collection.readPairs())
            return pids.allSatisfy { (b[$0] ?? 0) >= 5 }
        }, "the workers never booked waits to one another")

        // Freeze them, read what they booked, then end them.
        for pid in work.workerPIDs { kill(pid, SIGSTOP) }
        defer { for pid in work.workerPIDs { kill(pid, SIGKILL) } }  // a stopped worker ignores SIGTERM
        XCTAssertTrue(waitUntil(seconds: 10) { work.workerPIDs.allSatisfy { procStatField(pid: $0, 3) == "T" } }, "workers did not stop")
        _ = try collection.readTasks()
        let before = booked(try collection.readPairs())
        for pid in work.workerPIDs { kill(pid, SIGKILL) }
        for pid in work.workerPIDs {
            XCTAssertTrue(waitUntil(seconds: 10) { [nil, "Z", "X"].contains(procStatField(pid: pid, 3)) }, "worker \(pid) did not exit")
        }
        XCTAssertTrue(try waitUntil(seconds: 10) { Set(try collection.readTasks().tasks.map(\.pid)).isDisjoint(with: pids) },
                      "exited workers are still reported by the tasks iterator")

        // A reader that never saw them alive: everything they booked is in the map now.
        let fresh = try PinnedCollection(layout: collector.layout)
        _ = try fresh.readTasks()
        let after = booked(try fresh.readPairs())
        for pid in pids {
            // Dying, each ran once more: at most a wait or two more than while frozen.
            let was = before[pid] ?? 0, now = after[pid] ?? 0
            XCTAssertTrue(now >= was && now <= was + 3, "waits of exited worker \(pid) booked to the others: \(was) before exit, \(now) after")
        }
        XCTAssertGreaterThanOrEqual(try fresh.readStats().pairsFolded, UInt64(pids.count * 2), "each worker had two preemptors to fold")
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
        XCTAssertEqual(seen.runtimeNs, kernelBefore.runNs, "runtime is the kernel's own sum_exec_runtime")
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
