import Foundation
import StarveHost
import StarveModel
import XCTest
import Yams

/// `starve-dump jobs --by tree` (and `report --by tree`) on the live kernel: a batch shell that
/// starts short-lived CPU-burning children (and a subshell with children of its own), all gone
/// before the last sample, is one row holding their CPU time, as much as the kernel accounted
/// for them; an unrelated busy loop is another row.
final class JobsProcessTreeLiveTests: XCTestCase {
    /// CPU seconds each child burns (process time: contention makes it longer, not shorter).
    let burnSeconds = 2.5
    /// Children the tree script starts: two rounds of three (one beside a subshell of two).
    let children = 6

    func rows(_ line: Substring) throws -> [[String: Any]] {
        guard let doc = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let jobs = doc["jobs"] as? [[String: Any]] else { throw StarveError("no jobs JSON in: \(line)") }
        return jobs
    }

    func readPid(_ path: String) -> pid_t? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func testATreeHoldsItsExitedChildrenAndAnUnrelatedLoopIsAnotherRow() throws {
        try Live.require()
        try Live.requireTools("starve-dump")
        try Live.requireMachine(access("/usr/bin/python3", X_OK) == 0, "python3 is not installed")
        try Live.requireMachine(access("/usr/bin/setsid", X_OK) == 0, "setsid (util-linux) is not installed")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starve-tree-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            import sys, time
            t = time.process_time
            s = t()
            while t() - s < \(burnSeconds): pass
            """.write(toFile: dir + "/burn.py", atomically: true, encoding: .utf8)
        try """
            import os, sys
            open(sys.argv[1], "w").write(str(os.getpid()))
            while True: pass
            """.write(toFile: dir + "/loop.py", atomically: true, encoding: .utf8)
        // The batch run: its own session (setsid), no job control, so its children stay in its
        // process group; `touch done` and then a sleeping child while the test reads.
        try """
            echo $$ > "$1/tree.pid.tmp" && mv "$1/tree.pid.tmp" "$1/tree.pid"
            while [ ! -e "$1/go" ]; do sleep 0.1; done
            for round in 1 2; do
              /usr/bin/python3 "$1/burn.py" &
              ( /usr/bin/python3 "$1/burn.py" & /usr/bin/python3 "$1/burn.py"; wait ) &
              wait
            done
            touch "$1/done"
            sleep 600
            """.write(toFile: dir + "/tree.sh", atomically: true, encoding: .utf8)

        let collector = try LoadedCollector()
        defer { collector.unload() }
        let tree = Process()
        tree.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        tree.arguments = ["-w", "sh", dir + "/tree.sh", dir]
        tree.standardOutput = FileHandle.nullDevice
        try tree.run()
        var shell: pid_t?
        defer {
            // The shell leads its session and process group: its children and sleep go with it.
            if let shell { kill(-shell, SIGKILL) }
            tree.terminate()
            tree.waitUntilExit()
        }
        let loop = Process()
        loop.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        loop.arguments = ["-w", "nice", "-n", "10", "/usr/bin/python3", dir + "/loop.py", dir + "/loop.pid"]
        try loop.run()
        var loopPid: pid_t?
        defer {
            if let loopPid { kill(loopPid, SIGKILL) }
            loop.terminate()
            loop.waitUntilExit()
        }
        XCTAssertTrue(waitUntil(seconds: 20) {
            shell = readPid(dir + "/tree.pid")
            loopPid = readPid(dir + "/loop.pid")
            return shell != nil && loopPid != nil
        }, "the tree's shell and the loop wrote their pids")
        let sh = try XCTUnwrap(shell), busy = try XCTUnwrap(loopPid)

        // Watching from before the children start: each lives at least burnSeconds, several
        // samples, so the reader sees it alive and remembers its tree.
        let watch = try BackgroundRun(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "tree", "--watch",
                                                                 "--interval", "0.3", "--format", "json"])
        XCTAssertTrue(waitUntil(seconds: 30) { watch.outputSoFar.contains("\"sample\":1") || watch.outputSoFar.contains("\"sample\" : 1") },
                      "the watch's first sample")
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/go", contents: nil))
        XCTAssertTrue(waitUntil(seconds: 180) { FileManager.default.fileExists(atPath: dir + "/done") }, "the tree's children finished")
        // Two samples taken wholly after the last child was reaped.
        let linesAtDone = watch.outputSoFar.split(separator: "\n").count
        XCTAssertTrue(waitUntil(seconds: 30) { watch.outputSoFar.split(separator: "\n").count >= linesAtDone + 2 }, "samples after done")
        watch.process.terminate()
        let lines = watch.finish().split(separator: "\n")
        let last = try rows(try XCTUnwrap(lines.last))

        // What the kernel accounted for the shell and the children it reaped (cutime, cstime:
        // every child's and grandchild's whole CPU time, folded in as they were waited for).
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        let fields = try (14...17).map { try XCTUnwrap(procStatField(pid: sh, $0).flatMap(Double.init), "stat field \($0)") }
        let own = (fields[0] + fields[1]) / tick, reaped = (fields[2] + fields[3]) / tick
        XCTAssertGreaterThanOrEqual(reaped, Double(children) * burnSeconds, "the workload: \(children) children of \(burnSeconds) s CPU each")
        let row = try XCTUnwrap(last.first { $0["job_id"] as? String == String(sh) }, "the tree's row in \(lines.last ?? "")")
        let cpu = try XCTUnwrap(row["cpu_s"] as? Double)
        // Exact but for the clock-tick truncation of four stat fields (< 0.04 s), the sleeping
        // child's own few ms and a short `touch` never seen alive: 0.05 s and 1 %.
        let kernel = own + reaped
        print("tree \(sh): cpu_s \(cpu), kernel (shell's utime+stime+cutime+cstime) \(kernel) (children \(reaped)), "
              + "processes \(row["processes"] ?? "-"), exited threads \(row["threads_exited"] ?? "-")")
        // Each sample's time and the tree's processes, to tell a late sample from a lost exit.
        let history = lines.compactMap { line -> String? in
            guard let doc = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            let r = (doc["jobs"] as? [[String: Any]])?.first { $0["job_id"] as? String == String(sh) }
            return "\(doc["time"] ?? "?"): \(r?["processes"] ?? "-") processes \(r?["cpu_s"] ?? "-") s"
        }
        if abs(cpu - kernel) > 0.05 + 0.01 * kernel {
            // A child never seen alive (samples stalled) or its exited entry evicted (another
            // test's churn filling the LRU map): the collector's counters tell which.
            let status = (try? runProcess(Live.tool("starve-load"), ["status", "--pin-dir", collector.pinDir]).stdout) ?? ""
            XCTFail("the tree's CPU time \(cpu) s against the kernel's \(kernel) s: \(row)\n\(history.joined(separator: "\n"))\n\(status)")
        }
        XCTAssertTrue((row["name"] as? String ?? "").hasPrefix("sh \(dir)/tree.sh"), "named by its root's command line: \(row)")
        XCTAssertGreaterThanOrEqual(row["processes"] as? Int ?? 0, children + 2, "the shell, the subshells, the children, sleep: \(row)")
        XCTAssertGreaterThanOrEqual(row["threads_exited"] as? Int ?? 0, children, "\(row)")
        XCTAssertEqual(row["threads_live"] as? Int, 2, "the shell and sleep: \(row)")
        XCTAssertFalse((row["recommendations"] as? [String] ?? []).contains { $0.contains("exited before a sample saw them") },
                       "every child was seen alive: nothing unseen to report: \(row)")

        // The loop: a row of its own, with its CPU time, none of it in the tree's.
        let loopRow = try XCTUnwrap(last.first { $0["job_id"] as? String == String(busy) }, "the loop's row")
        XCTAssertTrue((loopRow["name"] as? String ?? "").contains("loop.py"), "\(loopRow)")
        let loopKernel = Double(try Schedstat(pid: busy).runNs) / 1e9
        XCTAssertGreaterThan(loopRow["cpu_s"] as? Double ?? 0, 0.2, "\(loopRow)")
        XCTAssertLessThanOrEqual(loopRow["cpu_s"] as? Double ?? .infinity, loopKernel, "read before the kernel's later count")

        // One-shot reads in the other formats, and the report: the tree is still there (its
        // live shell; the exited children counted for the processes alive now: 0 here).
        let table = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "tree", "--interval", "0.3"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("TREE"), table.stdout)
        XCTAssertTrue(table.stdout.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("\(sh) ") && $0.contains("sh \(dir)") },
                      table.stdout)
        let yaml = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "tree", "--interval", "0.3",
                                                            "--format", "yaml"])
        XCTAssertEqual(yaml.status, 0, yaml.stderr)
        let doc = try XCTUnwrap(try Yams.load(yaml: yaml.stdout) as? [String: Any])
        XCTAssertEqual(doc["by"] as? String, "tree")
        XCTAssertTrue((doc["jobs"] as? [[String: Any]] ?? []).contains { $0["job_id"] as? String == String(busy) }, yaml.stdout)
        let csv = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "tree", "--interval", "0.3",
                                                           "--format", "csv"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        XCTAssertTrue(csv.stdout.split(separator: "\n").contains { $0.contains(",\(sh),") }, csv.stdout)
        let report = try runProcess(Live.tool("starve-dump"), ["report", "--pin-dir", collector.pinDir, "--by", "tree", "--format", "json"])
        XCTAssertEqual(report.status, 0, report.stderr)
        let reportDoc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((reportDoc["session"] as? [String: Any])?["grouping"] as? String, "tree")
        XCTAssertTrue((reportDoc["jobs"] as? [[String: Any]] ?? []).contains { $0["job_id"] as? String == String(sh) }, report.stdout)
        let html = try runProcess(Live.tool("starve-dump"), ["report", "--pin-dir", collector.pinDir, "--by", "tree", "--format", "html"])
        XCTAssertEqual(html.status, 0, html.stderr)
        XCTAssertTrue(html.stdout.contains("<h3>tree \(sh) "), "one section per tree")

        // Bad input: one line each, nothing half done.
        for args in [["jobs", "--by", "tree", "--job", "3"], ["report", "--by", "tree", "--since", "1h"]] {
            let bad = try runProcess(Live.tool("starve-dump"), args + ["--pin-dir", collector.pinDir])
            XCTAssertNotEqual(bad.status, 0, "\(args)")
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, "\(args): \(bad.stderr)")
        }
    }

    /// An interactive bash (job control, in a tmux pane) runs a pipeline `a | b` and a
    /// background job `c`: the pipeline's two commands are one tree, keyed by its process
    /// group (its first command), holding both their CPU time; `c` and the shell are other rows.
    func testAPipelineOfAnInteractiveShellIsOneTree() throws {
        try Live.require()
        try Live.requireTools("starve-dump")
        try Live.requireMachine(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed (scripts/run.sh test installs it)")
        try Live.requireMachine(access("/usr/bin/python3", X_OK) == 0, "python3 is not installed")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starve-pipe-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Each command writes its pid and spins until killed (b reads nothing from a: the pipe
        // only joins them in one job).
        try """
            import os, sys
            open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
            os.rename(sys.argv[1] + ".tmp", sys.argv[1])
            while True: pass
            """.write(toFile: dir + "/spin.py", atomically: true, encoding: .utf8)
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let session = try TmuxSession("/bin/bash --norc --noprofile -i")
        var pids: [String: pid_t] = [:]
        defer {
            for pid in pids.values { kill(pid, SIGKILL) }
            session.kill()
        }
        session.send("/usr/bin/python3 \(dir)/spin.py \(dir)/c & /usr/bin/python3 \(dir)/spin.py \(dir)/a | /usr/bin/python3 \(dir)/spin.py \(dir)/b", "Enter")
        XCTAssertTrue(waitUntil(seconds: 20) {
            for name in ["a", "b", "c"] { pids[name] = readPid(dir + "/" + name) }
            return pids.count == 3
        }, "the three commands wrote their pids: \(pids)")
        let a = try XCTUnwrap(pids["a"]), b = try XCTUnwrap(pids["b"]), c = try XCTUnwrap(pids["c"])
        let group = try XCTUnwrap(procStatField(pid: a, 5).flatMap(pid_t.init))
        XCTAssertEqual(procStatField(pid: b, 5).flatMap(pid_t.init), group, "bash put a | b in one process group")
        XCTAssertNotEqual(procStatField(pid: c, 5).flatMap(pid_t.init), group, "and c in another")
        let shell = try XCTUnwrap(procStatField(pid: a, 4).flatMap(pid_t.init))

        let before = Double(try Schedstat(pid: a).runNs + Schedstat(pid: b).runNs) / 1e9
        let r = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "tree", "--interval", "0.3",
                                                         "--format", "json"])
        let after = Double(try Schedstat(pid: a).runNs + Schedstat(pid: b).runNs) / 1e9
        XCTAssertEqual(r.status, 0, r.stderr)
        let all = try rows(Substring(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        func row(_ key: pid_t) -> [String: Any]? { all.first { $0["job_id"] as? String == String(key) } }
        let pipeline = try XCTUnwrap(row(group), "the pipeline's row (key \(group)) in \(r.stdout)")
        XCTAssertEqual(pipeline["processes"] as? Int, 2, "a and b: \(pipeline)")
        XCTAssertEqual(pipeline["threads_live"] as? Int, 2, "\(pipeline)")
        let cpu = try XCTUnwrap(pipeline["cpu_s"] as? Double)
        XCTAssertTrue(cpu >= before - 0.01 && cpu <= after + 0.01, "a + b: \(before) s before, \(cpu) s read, \(after) s after")
        XCTAssertNil(row(b), "b is in a's tree, not a row of its own")
        XCTAssertEqual(row(c)?["processes"] as? Int, 1, "the background job c is a tree of its own")
        XCTAssertEqual(row(shell)?["processes"] as? Int, 1, "the interactive shell is a row of its own: its jobs are not in it")
    }
}
