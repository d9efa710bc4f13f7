import Foundation
import StarveModel
import StarveHost
import XCTest

/// Each `starve-work scenario` makes the starvation it promises, as the kernel itself reports
/// it (cpu.stat, schedstat, /proc/<pid>/sched), and leaves no cgroup and no process behind,
/// whether it runs out its --duration or is stopped with SIGTERM.
final class ScenarioTests: XCTestCase {
    func testQuotaThrottlesTheLoop() throws {
        let run = try ScenarioRun(["quota", "--duration", "2"])
        let loop = try XCTUnwrap(run.participant("throttled"))
        let pid = try XCTUnwrap(loop["pid"].flatMap { pid_t($0) })
        let cgroup = try XCTUnwrap(loop["cgroup"])
        let hierarchy = try run.hierarchy()
        XCTAssertEqual(CgroupFS.cpuQuota(hierarchy: hierarchy, path: cgroup).map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [20_000, 100_000])
        XCTAssertTrue(try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8).contains(":" + cgroup + "\n"),
                      "the loop is not in \(cgroup)")

        let stat0 = try XCTUnwrap(CgroupFS.cpuStat(hierarchy: hierarchy, path: cgroup)), sched0 = try Schedstat(pid: pid)
        // Ten of the cgroup's 100 ms periods, as cpu.stat counts them.
        XCTAssertTrue(waitUntil(seconds: 20) { (CgroupFS.cpuStat(hierarchy: hierarchy, path: cgroup)?.periods ?? 0) >= stat0.periods + 10 },
                      "cpu.stat never counted 10 periods")
        let stat1 = try XCTUnwrap(CgroupFS.cpuStat(hierarchy: hierarchy, path: cgroup)), sched1 = try Schedstat(pid: pid)
        let periods = stat1.periods - stat0.periods, ran = sched1.runNs - sched0.runNs
        print("quota: nr_throttled +\(stat1.throttledPeriods - stat0.throttledPeriods) of +\(periods) periods, throttled \(Double(stat1.throttledNs - stat0.throttledNs) / 1e6) ms, loop ran \(Double(ran) / 1e6) ms")
        // Alone on the CPU, every period throttles for 80 ms; other load on the CPU (this
        // machine is shared) can keep the loop from using its quota in some periods.
        XCTAssertGreaterThanOrEqual((stat1.throttledPeriods - stat0.throttledPeriods) * 10, periods * 4, "a busy loop at a 20 % quota is throttled in most periods")
        XCTAssertGreaterThan(stat1.throttledNs - stat0.throttledNs, 100_000_000, "throttled time")
        // 20 ms per period, and a little overrun (the quota is checked at ticks and handed out
        // in slices); one more period for where the window starts and ends.
        XCTAssertLessThanOrEqual(ran, 25_000_000 * (periods + 1), "a 20 ms / 100 ms quota let the loop run \(ran / 1_000_000) ms in \(periods) periods")

        let end = try run.finish()
        XCTAssertEqual(end.status, 0, end.output)
        XCTAssertTrue(end.output.contains("result=throttled"), end.output)
        try run.assertNothingLeft()
    }

    func testNoisyNeighbourStarvesTheDutyTask() throws {
        let run = try ScenarioRun(["noisy", "--duration", "0"])
        let hog = try XCTUnwrap(run.participant("hog")), duty = try XCTUnwrap(run.participant("duty"))
        let hogPID = try XCTUnwrap(hog["pid"].flatMap { pid_t($0) }), dutyPID = try XCTUnwrap(duty["pid"].flatMap { pid_t($0) })
        XCTAssertEqual(hog["cpu"], duty["cpu"], "both on one CPU")
        XCTAssertNotEqual(hog["cgroup"], duty["cgroup"])

        let duty0 = try Schedstat(pid: dutyPID), hog0 = try Schedstat(pid: hogPID)
        // Three timeslices of the duty task: schedstat adds each one's wait when it begins.
        XCTAssertTrue(waitUntil(seconds: 30) { ((try? Schedstat(pid: dutyPID))?.timeslices ?? 0) >= duty0.timeslices + 3 },
                      "the duty task never ran three times")
        let duty1 = try Schedstat(pid: dutyPID), hog1 = try Schedstat(pid: hogPID)
        let wait = duty1.waitNs - duty0.waitNs, slices = duty1.timeslices - duty0.timeslices
        let hogRan = Double(hog1.runNs - hog0.runNs), dutyRan = Double(duty1.runNs - duty0.runNs)
        print("noisy: duty waited \(wait / 1_000_000) ms over \(slices) timeslices, ran \(dutyRan / 1e6) ms; hog ran \(hogRan / 1e6) ms")
        // The duty task asks for 10 % and wakes every 10 ms; starved, each run comes 100+ ms late.
        XCTAssertGreaterThan(wait / max(slices, 1), 100_000_000, "duty task's run_delay per timeslice")
        // Unstarved, the duty task would run 10 % of the time, a ninth of the hog's; it gets 1/512.
        XCTAssertLessThan(dutyRan, hogRan * 0.02, "the hog's cgroup weighs 512 times more")

        let end = try run.finish(signal: SIGTERM)
        XCTAssertEqual(end.status, 0, end.output)
        XCTAssertTrue(end.output.contains("result=duty"), end.output)
        try run.assertNothingLeft()
    }

    func testOverloadSharesByNice() throws {
        let run = try ScenarioRun(["overload", "--duration", "0"])
        let loops = run.participants.filter { $0["role"] == "busy" }
        XCTAssertEqual(loops.compactMap { $0["nice"] }, ["0", "5", "10", "19"])
        let pids = loops.compactMap { $0["pid"].flatMap { pid_t($0) } }
        XCTAssertEqual(pids.count, 4)
        let before = try pids.map { try Schedstat(pid: $0) }, t0 = monotonicNs()
        // 1.5 s of CPU among the four: enough for the nice-19 loop's share to be tens of ms.
        func ranSoFar() -> UInt64 { zip(pids, before).map { ((try? Schedstat(pid: $0))?.runNs ?? 0) - $1.runNs }.reduce(0, +) }
        XCTAssertTrue(waitUntil(seconds: 30) { ranSoFar() >= 1_500_000_000 }, "the four loops never got 1.5 s of CPU")
        let after = try pids.map { try Schedstat(pid: $0) }
        let window = Double(monotonicNs() - t0) / 1e9
        let ran = zip(before, after).map { Double($1.runNs - $0.runNs) / 1e9 }
        let waited = zip(before, after).map { Double($1.waitNs - $0.waitNs) / 1e9 }
        print("overload: ran \(ran) s, waited \(waited) s in \(window) s")
        // Weights 1024, 335, 110, 15: ratios 3.1, 3.0 and 7.3 between neighbours, whatever else
        // runs on the CPU (it takes from all four alike: they share one autogroup).
        XCTAssertGreaterThan(ran[0], ran[1] * 2, "nice 0 vs nice 5")
        XCTAssertGreaterThan(ran[1], ran[2] * 2, "nice 5 vs nice 10")
        XCTAssertGreaterThan(ran[2], ran[3] * 3, "nice 10 vs nice 19")
        XCTAssertLessThan(ran[3], ran.reduce(0, +) * 0.03, "nice 19 gets about 1.5 % of what the four get")
        // schedstat adds a wait when the task next runs, so up to one wait (~0.4 s) may be pending.
        XCTAssertGreaterThan(waited[3], window * 0.4, "nice 19 waits nearly all the time")

        let end = try run.finish(signal: SIGTERM)
        XCTAssertEqual(end.status, 0, end.output)
        try run.assertNothingLeft()
    }

    func testInversionKeepsTheHighPriorityThreadBlocked() throws {
        let run = try ScenarioRun(["inversion", "--duration", "2"])
        let roles = try checkInversionThreads(run, holderNice: 19)
        let end = try run.finish()
        XCTAssertEqual(end.status, 0, end.output)
        let blocked = cycleTimes(end.output)
        print("inversion: blocked \(blocked) ms per cycle")
        XCTAssertFalse(blocked.isEmpty, "no cycle completed: \(end.output)")
        // 5 ms of CPU at weight 15 against the hog's 1024: about 350 ms.
        XCTAssertGreaterThan(blocked.min()!, 100, "every cycle keeps the nice -10 thread waiting")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(roles.pid)"), "process still there")
        try run.assertNothingLeft()
    }

    func testInversionControlHolderAtTheSameNiceIsQuick() throws {
        let run = try ScenarioRun(["inversion", "--control", "--duration", "2"])
        _ = try checkInversionThreads(run, holderNice: -10)
        let end = try run.finish()
        let blocked = cycleTimes(end.output)
        print("inversion --control: blocked \(blocked) ms per cycle")
        XCTAssertFalse(blocked.isEmpty, "no cycle completed: \(end.output)")
        // Other load on the shared CPU can stretch a cycle; at least one must show the quick case.
        XCTAssertLessThan(blocked.min()!, 50, "wait with a nice -10 holder")
        try run.assertNothingLeft()
    }

    func testInversionWithPIBoostsTheHolder() throws {
        let run = try ScenarioRun(["inversion", "--pi", "--duration", "0"])
        let roles = try checkInversionThreads(run, holderNice: 19)
        XCTAssertEqual(run.participant("holder")?["mutex"], "pi")
        // While the blocked thread (prio 110) waits, rt_mutex_setprio lends its prio to the holder
        // (139): for about a third of every 1 s cycle.
        let boosted = waitUntil(seconds: 30) { threadPrio(pid: roles.pid, tid: roles.holder) == 110 }
        XCTAssertTrue(boosted, "the holder's prio never showed the waiter's 110")
        let end = try run.finish(signal: SIGTERM)
        XCTAssertEqual(end.status, 0, end.output)
        try run.assertNothingLeft()
    }

    func testMigrationStorm() throws {
        let run = try ScenarioRun(["migration", "--duration", "0"])
        let task = try XCTUnwrap(run.participant("migrating"))
        let pid = try XCTUnwrap(task["pid"].flatMap { pid_t($0) })
        let m0 = migrations(pid: pid)
        try Live.requireMachine(m0 != nil, "/proc/\(pid)/sched has no se.nr_migrations here (CONFIG_SCHED_DEBUG off?)")
        // Each flip (every 1 ms) moves the task: the kernel's own count must grow by hundreds.
        XCTAssertTrue(waitUntil(seconds: 30) { (migrations(pid: pid) ?? 0) >= m0! + 500 },
                      "se.nr_migrations grew by \((migrations(pid: pid) ?? 0) - m0!), not 500")
        let end = try run.finish(signal: SIGTERM)
        XCTAssertEqual(end.status, 0, end.output)
        try run.assertNothingLeft()
    }

    func testSIGTERMMidRunLeavesNothingBehind() throws {
        for scenario in ["quota", "noisy", "overload", "inversion", "migration", "lock"] {
            let run = try ScenarioRun([scenario, "--duration", "0"])
            // Mid-run: every participant has been on a CPU.
            XCTAssertTrue(waitUntil(seconds: 20) { run.participants.allSatisfy(hasRun) }, "\(scenario): not every participant ran")
            let end = try run.finish(signal: SIGTERM)
            XCTAssertEqual(end.status, 0, "\(scenario): \(end.output)")
            XCTAssertTrue(end.output.contains("result"), "\(scenario) printed no results after SIGTERM: \(end.output)")
            try run.assertNothingLeft()
        }
    }

    // MARK: - Helpers

    /// Checks the three inversion threads: reported, alive, named, niced and on one CPU.
    private func checkInversionThreads(_ run: ScenarioRun, holderNice: Int) throws -> (pid: pid_t, holder: pid_t) {
        var pid: pid_t = 0, holder: pid_t = 0
        for (role, nice) in [("holder", holderNice), ("blocked", -10), ("hog", 0)] {
            let t = try XCTUnwrap(run.participant(role), "no role=\(role) line")
            let p = try XCTUnwrap(t["pid"].flatMap { pid_t($0) }), tid = try XCTUnwrap(t["tid"].flatMap { pid_t($0) })
            let dir = "/proc/\(p)/task/\(tid)"
            XCTAssertEqual(try String(contentsOfFile: dir + "/comm", encoding: .utf8), "starve-\(role)\n")
            let stat = try String(contentsOfFile: dir + "/stat", encoding: .utf8)
            let fields = stat.split(separator: ")").last!.split(separator: " ")
            XCTAssertEqual(Int(fields[16]), nice, "\(role) nice")
            XCTAssertTrue(try String(contentsOfFile: dir + "/status", encoding: .utf8).contains("Cpus_allowed_list:\t\(t["cpu"]!)\n"), "\(role) not pinned")
            pid = p
            if role == "holder" { holder = tid }
        }
        return (pid, holder)
    }

    /// Whether a `role=` line's thread (tid) or process (pid) has been on a CPU.
    private func hasRun(_ p: [String: String]) -> Bool {
        guard let pid = p["pid"] else { return false }
        let path = p["tid"].map { "/proc/\(pid)/task/\($0)/schedstat" } ?? "/proc/\(pid)/schedstat"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return (text.split(separator: " ").first.flatMap { UInt64($0) } ?? 0) > 0
    }

    /// `blocked_ms` of every `cycle=` line.
    private func cycleTimes(_ output: String) -> [Double] {
        output.split(separator: "\n").map(ScenarioRun.fields).filter { $0["cycle"] != nil }.compactMap { $0["blocked_ms"].flatMap(Double.init) }
    }
}

/// `prio` of a thread from /proc/<pid>/task/<tid>/sched.
private func threadPrio(pid: pid_t, tid: pid_t) -> Int? {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/sched", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").first { $0.hasPrefix("prio ") }.flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
}

/// `se.nr_migrations` from /proc/<pid>/sched, nil when the file or the line is missing.
private func migrations(pid: pid_t) -> UInt64? {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/sched", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").first { $0.hasPrefix("se.nr_migrations") }
        .flatMap { UInt64($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
}

/// `starve-work scenario …` running in the background, read up to its `ready` line.
final class ScenarioRun {
    let process = Process()
    /// The `scenario=` line's fields.
    private(set) var header: [String: String] = [:]
    /// One dictionary per `role=` line.
    private(set) var participants: [[String: String]] = []
    private var text = ""
    private let out = Pipe()

    /// Starts the scenario and waits (up to 20 s) for `ready`. Skips (fails under
    /// STARVE_REQUIRE_BPF=1) without root (scenarios make cgroups and set negative nice levels),
    /// without starve-work, and for the migration scenario, with fewer than two CPUs.
    init(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        try Live.requireRoot("scenarios (cgroups, negative nice)", file: file, line: line)
        try Live.requireTools("starve-work", file: file, line: line)
        if arguments.first == "migration" {
            try Live.requireMachine(Live.usableCPUs.count >= 2, "the migration scenario flips between two CPUs; this process may use \(formatCPUList(Live.usableCPUs))",
                                    file: file, line: line)
        }
        process.executableURL = URL(fileURLWithPath: Live.tool("starve-work"))
        process.arguments = ["scenario"] + arguments
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        // A scenario that never gets ready is stopped, so this read ends instead of hanging.
        let pid = process.processIdentifier
        final class Flag: @unchecked Sendable { let lock = NSLock(); var isSet = false }
        let ready = Flag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 20) {
            ready.lock.lock(); defer { ready.lock.unlock() }
            if !ready.isSet { kill(pid, SIGTERM) }
        }
        let handle = out.fileHandleForReading
        while !text.split(separator: "\n").contains("ready") {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        ready.lock.lock(); ready.isSet = true; ready.lock.unlock()
        for l in text.split(separator: "\n") {
            let f = Self.fields(l)
            if f["scenario"] != nil { header = f }
            if f["role"] != nil { participants.append(f) }
        }
        guard text.split(separator: "\n").contains("ready") else {
            process.waitUntilExit()
            XCTFail("scenario \(arguments) never printed ready: \(text)", file: file, line: line)
            throw StarveError("scenario \(arguments) never printed ready")
        }
    }

    /// The first participant with `role`.
    func participant(_ role: String) -> [String: String]? { participants.first { $0["role"] == role } }

    /// The cgroup hierarchy the scenario says it used.
    func hierarchy() throws -> CgroupHierarchy {
        let mount = try XCTUnwrap(header["cgroup_mount"]), version = try XCTUnwrap(header["cgroup_version"].flatMap(CgroupHierarchy.Version.init))
        return CgroupHierarchy(mountPoint: mount, version: version)
    }

    /// Waits (up to 10 s) for the scenario to end, after `signal` if given; its status and whole output.
    func finish(signal: Int32? = nil) throws -> (status: Int32, output: String) {
        if let signal { kill(process.processIdentifier, signal) }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTFail("scenario did not end within 10 s")
        }
        text += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, text)
    }

    /// No reported process or thread is alive and no cgroup named after the scenario's pid exists.
    func assertNothingLeft(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertFalse(process.isRunning, file: file, line: line)
        for p in participants {
            for key in ["pid", "tid"] {
                guard let id = p[key].flatMap({ pid_t($0) }) else { continue }
                XCTAssertFalse(kill(id, 0) == 0 || errno != ESRCH, "\(p["role"] ?? "?") \(key) \(id) still exists", file: file, line: line)
            }
            if let cgroup = p["cgroup"], let h = try? hierarchy() {
                XCTAssertFalse(FileManager.default.fileExists(atPath: h.directory(cgroup)), "cgroup \(cgroup) left behind", file: file, line: line)
            }
            if let cgroup = p["cpuset_cgroup"], let h = CgroupFS.cpusetHierarchy() {
                XCTAssertFalse(FileManager.default.fileExists(atPath: h.directory(cgroup)), "cpuset cgroup \(cgroup) left behind", file: file, line: line)
            }
        }
        if let h = CgroupFS.cpuHierarchy() {
            let suffix = "-\(process.processIdentifier)"
            let left = ((try? FileManager.default.contentsOfDirectory(atPath: h.mountPoint)) ?? [])
                .filter { $0.hasPrefix("starve-") && ($0.hasSuffix(suffix) || $0.contains(suffix + "-")) }
            XCTAssertEqual(left, [], "cgroups left in \(h.mountPoint)", file: file, line: line)
        }
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    /// `k=v k=v` → dictionary.
    static func fields(_ line: Substring) -> [String: String] {
        var out: [String: String] = [:]
        for item in line.split(separator: " ") {
            let kv = item.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }
}
