import Foundation
import StarveBPF
import StarveHost
import StarveModel
import XCTest

/// A tmux server of the test's own (its own socket), killed at the end.
final class TmuxSession {
    let socket = "starve-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let name = "top"

    /// Starts `command` (a shell line) in a detached window of `columns` x `rows`.
    init(_ command: String, columns: Int = 200, rows: Int = 50) throws {
        // The tmux server this starts keeps every descriptor its client had: the client gets
        // /dev/null and none of ours (our pipes, and the one Foundation watches for the child's
        // exit), or waiting for the client would wait for the server.
        let quoted = "'" + command.replacingOccurrences(of: "'", with: "'\\''") + "'"
        let script = """
            for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
            exec /usr/bin/tmux -L \(socket) new-session -d -s \(name) -x \(columns) -y \(rows) \(quoted) </dev/null >/dev/null 2>&1
            """
        let r = try runProcess("/bin/bash", ["-c", script])
        guard r.status == 0 else { throw StarveError("tmux new-session failed with status \(r.status)") }
    }

    func tmux(_ arguments: [String]) -> String {
        (try? runProcess("/usr/bin/tmux", ["-L", socket] + arguments).stdout) ?? ""
    }

    /// The visible pane, one string per line.
    func capture() -> [String] {
        tmux(["capture-pane", "-p", "-t", name]).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// The pane once a frame is whole: tmux reads a frame of a few KiB from the terminal in
    /// pieces, so a capture can show the top of the new frame over the bottom of the last one.
    /// Captures until two in a row, 100 ms apart, are the same (at most `seconds`).
    func settledCapture(seconds: Double = 5) -> [String] {
        var last = capture()
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            usleep(100_000)
            let now = capture()
            if now == last { return now }
            last = now
        }
        return last
    }

    func send(_ keys: String...) { _ = tmux(["send-keys", "-t", name] + keys) }

    /// A pane format variable (`alternate_on`, `cursor_flag`, `pane_width`, …).
    func display(_ variable: String) -> String {
        tmux(["display-message", "-p", "-t", name, "#{\(variable)}"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func kill() { _ = tmux(["kill-server"]) }
    deinit { kill() }
}

/// The busy loops of a hog workload: two loops in a test cgroup with the highest weight, free to
/// use both CPUs, so that whatever else the machine runs, it is the workload using most CPU.
final class HogWorkload {
    let group: ScratchCgroup
    let work: Workload

    init(tag: String) throws {
        group = try ScratchCgroup(prefix: "starve-test-\(tag)")
        do {
            try group.setWeight(v1Shares: 262_144, v2Weight: 10_000)
            work = try Workload(["--workers", "2", "--duration", "60", "--cgroup", group.directory])
        } catch {
            try? group.remove()
            throw error
        }
    }

    func tearDown() {
        work.stop()
        try? group.remove()
    }
}

/// `starve-dump top` and `starve-dump hist`, live.
final class EverydayViewsTests: XCTestCase {
    /// Table rows of a frame: the lines after the header line that starts with `header`.
    private func tableRows(_ lines: [String], header: String) -> [String] {
        guard let h = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(header) }) else { return [] }
        return Array(lines[(h + 1)...].prefix { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("  …") })
    }

    /// The sample number in a frame's first line (`starve top  HH:MM:SS  sample N, …`).
    private func sampleNumber(_ lines: [String]) -> Int? {
        guard let first = lines.first, let r = first.range(of: "sample ") else { return nil }
        return Int(first[r.upperBound...].prefix { $0.isNumber })
    }

    func testTopShowsTheHogSwitchesViewsAndSortsAndQuitsCleanly() throws {
        try Live.require()
        try Live.requireMachine(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed (scripts/run.sh test installs it)")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let hog = try HogWorkload(tag: "tophog")
        defer { hog.tearDown() }
        XCTAssertTrue(hog.work.waitUntilSettled(), "the hog's loops never ran")
        let hogPIDs = Set(hog.work.workerPIDs.map(String.init))

        let session = try TmuxSession("\(Live.tool("starve-dump")) top --pin-dir \(collector.pinDir) --interval 1; echo \"top-exit=$?\"; sleep 600")
        defer { session.kill() }
        // The first frame (before the first sample) is on the alternate screen.
        XCTAssertTrue(waitUntil(seconds: 20) { session.capture().first?.hasPrefix("starve top") == true }, "\(session.capture())")
        XCTAssertEqual(session.display("alternate_on"), "1", "top draws on the alternate screen")
        // C: most CPU first. The hog workload (the test cgroup) tops the workloads view by the
        // second sample.
        session.send("C")
        var frame: [String] = []
        XCTAssertTrue(waitUntil(seconds: 20) {
            frame = session.capture()
            return (sampleNumber(frame) ?? 0) >= 1 && frame.first?.contains("sort: cpu") == true
        }, "\(frame)")
        XCTAssertTrue(waitUntil(seconds: 20) {
            frame = session.settledCapture()
            return (sampleNumber(frame) ?? 0) >= 2
        }, "\(frame)")
        let rowsAtTwo = tableRows(frame, header: "KIND")
        XCTAssertTrue(frame.first?.contains("view: workloads") == true, "\(frame)")
        XCTAssertTrue(rowsAtTwo.first?.contains("starve-test-tophog") == true,
                      "by sample \(sampleNumber(frame) ?? -1) the hog workload should be the first row: \(frame.joined(separator: "\n"))")
        // p: processes, still most CPU first: a hog loop is the first process.
        session.send("p")
        XCTAssertTrue(waitUntil(seconds: 10) { frame = session.settledCapture(); return frame.first?.contains("view: processes") == true }, "\(frame)")
        let firstProcess = tableRows(frame, header: "PID").first?.split(separator: " ").first.map(String.init)
        XCTAssertTrue(firstProcess.map { hogPIDs.contains($0) } == true, "first process \(firstProcess ?? "none"), hog \(hogPIDs): \(frame.joined(separator: "\n"))")
        // t: threads, with the thread id first; W: back to most wait first.
        session.send("t")
        XCTAssertTrue(waitUntil(seconds: 10) { frame = session.capture(); return frame.first?.contains("view: threads") == true }, "\(frame)")
        XCTAssertTrue(frame.contains { Array($0.split(separator: " ").prefix(3)) == ["TID", "PID", "COMM"] }, "\(frame)")
        session.send("W")
        XCTAssertTrue(waitUntil(seconds: 10) { frame = session.settledCapture(); return frame.first?.contains("sort: wait") == true }, "\(frame)")
        // The threads view ordered by wait: each row's WAIT_MS at most the one above.
        let waits = tableRows(frame, header: "TID").compactMap { row -> Double? in
            let f = row.split(separator: " ", omittingEmptySubsequences: true)
            return f.count >= 8 ? Double(f[f.count - 4]) : nil
        }
        XCTAssertEqual(waits, waits.sorted(by: >), "\(frame.joined(separator: "\n"))")
        // A resize redraws to the new size.
        _ = session.tmux(["resize-window", "-t", session.name, "-x", "100", "-y", "30"])
        XCTAssertTrue(waitUntil(seconds: 10) {
            frame = session.capture()
            return frame.count <= 31 && frame.allSatisfy { $0.count <= 100 } && frame.contains { $0.hasPrefix("q quit") }
        }, "\(frame)")
        // q: exits 0 with the terminal restored (normal screen, cursor shown).
        session.send("q")
        XCTAssertTrue(waitUntil(seconds: 10) { session.capture().contains { $0.contains("top-exit=") } }, "\(session.capture())")
        XCTAssertTrue(session.capture().contains("top-exit=0"), "\(session.capture())")
        XCTAssertEqual(session.display("alternate_on"), "0")
        XCTAssertEqual(session.display("cursor_flag"), "1")
    }

    /// `workloads --pid` and `cgroups --pid`: only the rows that hold the named process, while
    /// other work runs beside it; an unknown process is one line.
    func testWorkloadsAndCgroupsOfANamedProcess() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // A loop in a test cgroup and another outside it (in the test's own), sharing CPU 1 at
        // the same weight: both run, in two workloads.
        let group = try ScratchCgroup(prefix: "starve-test-heldby")
        defer { try? group.remove() }
        let named = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--cgroup", group.directory])
        defer { named.stop() }
        let other = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60"])
        defer { other.stop() }
        XCTAssertTrue(named.waitUntilSettled() && other.waitUntilSettled(), "the loops never ran")
        let pid = String(named.workerPIDs[0])
        func json(_ view: String, _ extra: [String]) throws -> [[String: Any]] {
            let r = try runTool(Live.tool("starve-dump"), [view, "--pin-dir", collector.pinDir, "--interval", "0.5", "--iterations", "2",
                                                           "--format", "json", "--top", "0"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        // Unfiltered, other workloads are there too; with --pid only the named loop's cgroup.
        let all = try json("workloads", [])
        XCTAssertTrue(all.contains { $0["workload"] as? String == group.path }, "\(all)")
        XCTAssertTrue(all.contains { $0["workload"] as? String != group.path }, "\(all)")
        let held = try json("workloads", ["--pid", pid])
        XCTAssertFalse(held.isEmpty, "the named loop's workload runs: a row each sample")
        XCTAssertTrue(held.allSatisfy { $0["workload"] as? String == group.path }, "only the workload holding \(pid): \(held)")
        let before = try Schedstat(pid: named.workerPIDs[0]).runNs
        let cgroups = try json("cgroups", ["--pid", pid])
        let after = try Schedstat(pid: named.workerPIDs[0]).runNs
        XCTAssertFalse(cgroups.isEmpty)
        XCTAssertTrue(cgroups.allSatisfy { $0["cgroup"] as? String == group.path }, "only the cgroup holding \(pid): \(cgroups)")
        // cpu_ms: the cgroup's (its one loop's) CPU time, the exact figure behind cpu_pct, and no
        // more than the kernel accounted to the loop while starve-dump ran.
        var cpuMs = 0.0
        for o in cgroups {
            let ms = try XCTUnwrap(o["cpu_ms"] as? Double, "\(o)"), pct = try XCTUnwrap(o["cpu_pct"] as? Double), interval = try XCTUnwrap(o["interval_ms"] as? Double)
            XCTAssertEqual(ms / interval * 100, pct, accuracy: 0.01, "\(o)")
            cpuMs += ms
        }
        XCTAssertGreaterThan(cpuMs, 0)
        XCTAssertLessThanOrEqual(cpuMs, Double(after - before) / 1e6 + 1, "the loop ran \(Double(after - before) / 1e6) ms meanwhile")
        // A process that does not exist: one line, non-zero.
        for view in ["workloads", "cgroups"] {
            let r = try runTool(Live.tool("starve-dump"), [view, "--pin-dir", collector.pinDir, "--pid", "999999999", "--iterations", "1"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("no such process"), r.stderr)
            XCTAssertEqual(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, r.stderr)
        }
    }

    func testTopRestoresTheTerminalOnSIGTERMAndSIGINT() throws {
        try Live.require()
        try Live.requireMachine(FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux"), "tmux is not installed (scripts/run.sh test installs it)")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let dir = try TemporaryDirectory()
        for (signal, name) in [(SIGTERM, "TERM"), (SIGINT, "INT")] {
            let pidFile = dir.path + "/top-\(name).pid"
            let session = try TmuxSession("sh -c 'echo $$ > \(pidFile); exec \(Live.tool("starve-dump")) top --pin-dir \(collector.pinDir) --interval 0.5'; echo \"top-exit=$?\"; sleep 600")
            defer { session.kill() }
            XCTAssertTrue(waitUntil(seconds: 20) { session.capture().first?.hasPrefix("starve top") == true && session.display("alternate_on") == "1" })
            guard let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap({ pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
                XCTFail("no pid"); continue
            }
            kill(pid, signal)
            XCTAssertTrue(waitUntil(seconds: 10) { session.capture().contains { $0.contains("top-exit=") } }, "SIG\(name): \(session.capture())")
            XCTAssertTrue(session.capture().contains("top-exit=0"), "SIG\(name): \(session.capture())")
            XCTAssertEqual(session.display("alternate_on"), "0", "SIG\(name)")
            XCTAssertEqual(session.display("cursor_flag"), "1", "SIG\(name)")
        }
    }

    func testTopPrintsPlainFramesWhenNotATerminal() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let hog = try HogWorkload(tag: "plainhog")
        defer { hog.tearDown() }
        XCTAssertTrue(hog.work.waitUntilSettled())
        let r = try runTool(Live.tool("starve-dump"), ["top", "--pin-dir", collector.pinDir, "--interval", "0.5", "--iterations", "2",
                                                       "--sort", "cpu", "--view", "processes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("\u{1B}"), "no escape sequences when stdout is a pipe")
        var frames: [[String]] = []
        for line in r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("starve top") { frames.append([]) }
            if !frames.isEmpty { frames[frames.count - 1].append(line) }
        }
        XCTAssertEqual(frames.count, 2, r.stdout)
        let last = frames.last ?? []
        XCTAssertTrue(last.contains { $0.hasPrefix("run-queue wait, all tasks (ms): p50") })
        let first = tableRows(last, header: "PID").first?.split(separator: " ").first.map(String.init)
        XCTAssertTrue(first.map { Set(hog.work.workerPIDs.map(String.init)).contains($0) } == true, r.stdout)
    }

    /// Bucket counts of a `hist --format json` object, by slot.
    private func buckets(_ o: [String: Any]) -> [Int: UInt64] {
        Dictionary(uniqueKeysWithValues: (o["buckets"] as? [[String: Any]] ?? []).map { ($0["slot"] as! Int, UInt64($0["count"] as! Int)) })
    }

    private func histJSON(_ collector: LoadedCollector, _ arguments: [String]) throws -> [[String: Any]] {
        let r = try runTool(Live.tool("starve-dump"), ["hist", "--pin-dir", collector.pinDir, "--format", "json"] + arguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testHistBucketsSumToTheWaitCountAndMatchTheThreadsHistogram() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // Two loops sharing CPU 1: each waits for the other every timeslice.
        let work = try Workload(["--workers", "2", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        XCTAssertTrue(work.waitUntilSettled())
        let collection = try PinnedCollection(layout: collector.layout)
        let stopped = work.workerPIDs[0], running = work.workerPIDs[1]
        XCTAssertTrue(try waitUntil(seconds: 15) {
            (try collection.readTasks().tasks.first { $0.pid == UInt32(stopped) }?.waitCount ?? 0) >= 20
        }, "the loops never waited for each other")

        // A stopped thread's histogram holds still: hist since load shows exactly the kernel side's.
        kill(stopped, SIGSTOP)
        defer { kill(stopped, SIGCONT) }
        var kernel: TaskCounters?
        XCTAssertTrue(try waitUntil(seconds: 10) {
            let a = try collection.readTasks().tasks.first { $0.pid == UInt32(stopped) }
            usleep(200_000)
            kernel = try collection.readTasks().tasks.first { $0.pid == UInt32(stopped) }
            return a != nil && a?.waitHistogram == kernel?.waitHistogram && a?.waitCount == kernel?.waitCount
        })
        let sinceLoad = try histJSON(collector, ["--since-load", "--by", "thread", "--tid", String(stopped)])
        XCTAssertEqual(sinceLoad.count, 1)
        if let o = sinceLoad.first, let kernel {
            XCTAssertEqual(o["tid"] as? Int, Int(stopped))
            XCTAssertEqual(o["sample"] as? String, "since-load")
            let b = buckets(o)
            XCTAssertEqual(b.values.reduce(0, +), UInt64(o["wait_count"] as! Int), "buckets sum to the wait count")
            XCTAssertEqual(UInt64(o["wait_count"] as! Int), kernel.waitCount)
            let expected = Dictionary(uniqueKeysWithValues: kernel.waitHistogram.counts.enumerated().filter { $0.element > 0 }.map { ($0.offset, $0.element) })
            XCTAssertEqual(b, expected, "hist shows the thread's own histogram")
            XCTAssertEqual(UInt64(o["wait_ns"] as! Int), kernel.waitNs)
        }
        // The process view of that single-threaded process since load holds the same waits.
        let process = try histJSON(collector, ["--since-load", "--by", "process", "--pid", String(stopped)])
        XCTAssertEqual(process.first.map(buckets), sinceLoad.first.map(buckets))

        // The bars: counts of every line sum to the title's waits; bounds in ms with --unit ms.
        let table = try runTool(Live.tool("starve-dump"), ["hist", "--pin-dir", collector.pinDir, "--since-load", "--by", "thread",
                                                           "--tid", String(stopped), "--unit", "ms"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("msecs"), table.stdout)
        let counts = table.stdout.split(separator: "\n").filter { $0.contains(" -> ") }.compactMap { line -> UInt64? in
            let parts = line.split(separator: ":")
            return parts.count >= 2 ? UInt64(parts[1].split(separator: " ").first ?? "") : nil
        }
        XCTAssertEqual(counts.reduce(0, +), kernel?.waitCount, table.stdout)
        XCTAssertTrue(table.stdout.contains("tid = \(stopped) starve-work"), table.stdout)

        // A named thread gets a histogram every interval, also when it did not wait: the stopped
        // loop's are empty.
        let idle = try histJSON(collector, ["--by", "thread", "--tid", String(stopped), "--interval", "0.3", "--iterations", "2"])
        XCTAssertEqual(idle.count, 2, "one histogram per interval for a named thread, waits or not: \(idle)")
        for o in idle {
            XCTAssertEqual(o["tid"] as? Int, Int(stopped))
            XCTAssertEqual(o["wait_count"] as? Int, 0, "a stopped thread does not wait: \(o)")
            XCTAssertTrue(buckets(o).isEmpty, "\(o)")
        }

        // Over intervals: every histogram's buckets sum to its wait count, the running loop's and
        // the system's, and the system's holds at least the loop's. Both loops share CPU 1 again.
        kill(stopped, SIGCONT)
        let intervals = try histJSON(collector, ["--by", "thread", "--tid", String(running), "--interval", "0.5", "--iterations", "2"])
        XCTAssertEqual(intervals.count, 2, "one histogram per interval")
        for o in intervals {
            XCTAssertEqual(buckets(o).values.reduce(0, +), UInt64(o["wait_count"] as! Int), "\(o)")
            XCTAssertGreaterThan(o["wait_count"] as! Int, 0, "a loop sharing its CPU waits every interval")
        }
        for by in ["system", "workload", "process"] {
            let rows = try histJSON(collector, ["--by", by, "--interval", "0.5", "--top", "0"])
            XCTAssertFalse(rows.isEmpty, by)
            for o in rows { XCTAssertEqual(buckets(o).values.reduce(0, +), UInt64(o["wait_count"] as! Int), "\(by): \(o)") }
        }
    }
}

/// A thread id set by the thread itself.
final class ThreadID: @unchecked Sendable {  // written once before a semaphore signal, read after the wait
    private(set) var value: pid_t = 0
    func set(_ v: pid_t) { value = v }
}

/// Process and thread ids as ps, top and runqlat use them, and one order (most wait first) by
/// default, across the views.
final class ViewConventionsTests: XCTestCase {
    private func expectError(_ arguments: [String], contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runTool(Live.tool("starve-dump"), arguments)
        XCTAssertNotEqual(r.status, 0, "\(arguments) should fail", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), "\(arguments): \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") || $0.hasPrefix("error:") }.count, 1, r.stderr, file: file, line: line)
    }

    func testPidIsAProcessTidAThreadAndWaitComesFirst() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let pin = ["--pin-dir", collector.pinDir, "--iterations", "1", "--interval", "0.3"]
        // A thread of this test process that lives as long as the test: its id under --pid (the
        // old meaning) is refused with the way to say it.
        let me = getpid()
        let box = ThreadID()
        let started = DispatchSemaphore(value: 0), finish = DispatchSemaphore(value: 0)
        let thread = Thread {
            // /proc/thread-self -> "<pid>/task/<tid>"
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
            box.set(pid_t(link.split(separator: "/").last ?? "") ?? 0)
            started.signal()
            finish.wait()
        }
        thread.start()
        started.wait()
        defer { finish.signal() }
        let other = box.value
        XCTAssertNotEqual(other, 0)
        XCTAssertNotEqual(other, me)
        try expectError(pin + ["--pid", String(other)], contains: "\(other) is a thread of process \(me): use --tid \(other)")
        try expectError(pin + ["--tgid", String(me)], contains: "--tgid is gone: process ids are --pid now")
        try expectError(["hist"] + pin + ["--tid", "999999999", "--by", "thread"], contains: "no such thread: --tid 999999999")
        try expectError(["hist"] + pin + ["--pid", String(me)], contains: "use them with --by process or --by thread")
        try expectError(["hist"] + pin + ["--unit", "s"], contains: "--unit")
        try expectError(["top"] + pin + ["--view", "cgroups"], contains: "--view")
        try expectError(["top", "--pin-dir", "/sys/fs/bpf/starve-test-absent-\(getpid())"], contains: "nothing loaded at")

        // --pid: every thread of the process; --tid: that thread alone.
        let r = try runTool(Live.tool("starve-dump"), pin + ["--format", "json", "--pid", String(me)])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertGreaterThan(rows.count, 1, "a multithreaded process: \(r.stdout)")
        XCTAssertTrue(rows.allSatisfy { $0["tgid"] as? Int == Int(me) }, r.stdout)
        let process = try runTool(Live.tool("starve-dump"), ["processes"] + pin + ["--format", "json", "--pid", String(me)])
        XCTAssertEqual(process.status, 0, process.stderr)
        let processRows = process.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertTrue(processRows.count <= 1 && processRows.allSatisfy { $0["tgid"] as? Int == Int(me) }, process.stdout)
        try expectError(["processes"] + pin + ["--tid", String(other)], contains: "--tid selects threads")
        let one = try runTool(Live.tool("starve-dump"), pin + ["--format", "json", "--tid", String(other)])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.stdout.split(separator: "\n").count, 1, one.stdout)

        // Default order: most run-queue wait first, in tasks, cgroups, processes and workloads.
        let work = try Workload(["--workers", "3", "--cpu", "1", "--nice", "0,5,10", "--duration", "60"])
        defer { work.stop() }
        XCTAssertTrue(work.waitUntilSettled())
        for (view, key) in [("tasks", "wait_ns"), ("cgroups", "wait_ms"), ("processes", "wait_ms"), ("workloads", "wait_ms")] {
            let v = try runTool(Live.tool("starve-dump"), [view] + pin + ["--format", "json"])
            XCTAssertEqual(v.status, 0, "\(view): \(v.stderr)")
            let waits = v.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .compactMap { ($0[key] as? NSNumber)?.doubleValue }
            XCTAssertFalse(waits.isEmpty, "\(view): \(v.stdout)")
            XCTAssertEqual(waits, waits.sorted(by: >), "\(view) rows most wait first")
        }
        // The table names its units: every duration column of tasks is in ms.
        let table = try runTool(Live.tool("starve-dump"), pin + ["--pid"] + work.workerPIDs.map(String.init))
        XCTAssertTrue(table.stdout.split(separator: "\n").contains { Array($0.split(separator: " ").prefix(3)) == ["TID", "PID", "COMM"] }, table.stdout)
        XCTAssertTrue(table.stdout.contains("P50_MS") && table.stdout.contains("P99_MS") && !table.stdout.contains("_US"), table.stdout)
    }
}
