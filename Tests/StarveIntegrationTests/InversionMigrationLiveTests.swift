import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Issue 5 live: priority inversion (with and without a PI mutex, and a control), migration
/// storms, and a recurring pattern on a quota-throttled cgroup.
final class InversionMigrationLiveTests: XCTestCase {
    private func events(_ collector: LoadedCollector, _ arguments: [String]) throws -> [[String: Any]] {
        let r = try runTool(Live.tool("starve-dump"), ["events", "--pin-dir", collector.pinDir, "--format", "json", "--duration", "1"] + arguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    private func pid(_ e: [String: Any], _ role: String) -> Int? { (e[role] as? [String: Any])?["pid"] as? Int }

    private func tid(_ run: ScenarioRun, _ role: String) throws -> Int {
        try XCTUnwrap(run.participant(role)?["tid"].flatMap { Int($0) }, "no \(role) tid in \(run.participants)")
    }

    func testInversionNamesTheBlockedAndTheBlockingThreads() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let run = try ScenarioRun(["inversion", "--duration", "3"])
        let blocked = try tid(run, "blocked"), holder = try tid(run, "holder"), hog = try tid(run, "hog")
        let end = try run.finish()
        XCTAssertEqual(end.status, 0, end.output)

        let found = try events(collector, ["--kind", "priority-inversion"])
        let mine = found.filter { pid($0, "task") == blocked }
        XCTAssertFalse(mine.isEmpty, "no inversion reported for blocked thread \(blocked): \(found)")
        for e in mine {
            XCTAssertEqual(pid(e, "other"), holder, "the blocking task is the holder: \(e)")
            XCTAssertGreaterThanOrEqual(e["duration_ns"] as? Int ?? 0, 50_000_000)
            XCTAssertGreaterThanOrEqual((e["value"] as? Int ?? 0) * 2, e["duration_ns"] as? Int ?? 0, "the holder waited most of the block")
        }
        XCTAssertTrue(mine.contains { pid($0, "third") == hog }, "the hog kept the holder off the CPU: \(mine)")
        XCTAssertTrue(mine.contains { ($0["task_kernel_stack"] as? [String] ?? []).contains { $0.hasPrefix("futex") } },
                      "the blocked thread's stack shows the futex it waits on: \(mine.map { $0["task_kernel_stack"] ?? [] })")
        try run.assertNothingLeft()
    }

    func testPIMutexBoostIsReported() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let run = try ScenarioRun(["inversion", "--pi", "--duration", "3"])
        let blocked = try tid(run, "blocked"), holder = try tid(run, "holder")
        _ = try run.finish()
        let boosts = try events(collector, ["--kind", "pi-boost"]).filter { pid($0, "task") == holder }
        XCTAssertFalse(boosts.isEmpty, "no pi-boost of holder \(holder)")
        for e in boosts {
            XCTAssertEqual(pid(e, "other"), blocked, "the top waiter is the blocked thread: \(e)")
            XCTAssertEqual(e["value"] as? Int, 110, "the holder gets the nice -10 waiter's prio 110: \(e)")
            XCTAssertEqual((e["task"] as? [String: Any])?["prio"] as? Int, 139, "from its own nice 19 prio: \(e)")
        }
        try run.assertNothingLeft()
    }

    func testControlWithoutALowerPriorityHolderIsNotFlagged() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let run = try ScenarioRun(["inversion", "--control", "--duration", "3"])
        let blocked = try tid(run, "blocked")
        _ = try run.finish()
        let found = try events(collector, ["--kind", "priority-inversion"]).filter { pid($0, "task") == blocked }
        XCTAssertEqual(found.count, 0, "a holder as important as the blocked thread is no inversion: \(found)")
        try run.assertNothingLeft()
    }

    /// With the default settings: the demo's pinned nice-level workload and unpinned busy loops
    /// balanced by the kernel raise no storm; a busy loop whose affinity flips every 5 ms (about
    /// 180 migrations a second) raises one. One after the other, so the loops do not slow the flip.
    func testFiveMillisecondFlipRaisesAStormAndOrdinaryLoadsDoNot() throws {
        try Live.require()
        try Live.requireMachine(ProcessInfo.processInfo.activeProcessorCount >= 2, "migrations need at least 2 CPUs")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let demo = try Workload(["--workers", "3", "--nice", "0,5,10", "--cpu", "1", "--duration", "60"])
        defer { demo.stop() }
        let unpinned = try Workload(["--workers", "4", "--nice", "0,5", "--duration", "60"])
        defer { unpinned.stop() }
        let quiet = Set((demo.workerPIDs + unpinned.workerPIDs).map(Int.init))
        // Three seconds of ordinary load, the kernel balancing the unpinned loops as it likes.
        usleep(3_000_000)  // the observation window itself, not a synchronisation
        demo.stop()
        unpinned.stop()

        let run = try ScenarioRun(["migration", "--flip-ms", "5", "--duration", "3"])
        let migrating = try XCTUnwrap(run.participant("migrating")?["pid"].flatMap { Int($0) })
        let end = try run.finish()
        // The kernel's own count: the flip only makes ~180 moves a second when the task gets
        // the CPU to flip itself; on a machine too busy for that there is nothing to test.
        let perSecond = end.output.split(separator: " ").first { $0.hasPrefix("per_second=") }.flatMap { Double($0.dropFirst("per_second=".count).trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        try Live.requireMachine(perSecond >= 150, "the 5 ms flip moved the task only \(perSecond) times a second (se.nr_migrations): the machine is too busy")
        let storms = try events(collector, ["--kind", "migration-storm"])
        XCTAssertTrue(storms.contains { pid($0, "task") == migrating && ($0["value"] as? Int ?? 0) >= 100 && ($0["duration_ns"] as? Int ?? Int.max) <= 1_000_000_000 },
                      "no storm for the task flipped every 5 ms (\(migrating), \(perSecond) a second): \(storms)")
        XCTAssertFalse(storms.contains { quiet.contains(pid($0, "task") ?? -1) }, "an ordinary workload made a storm: \(storms)")
        try run.assertNothingLeft()
    }

    /// Migrations are counted by sched_switch from the kernel's se.nr_migrations (no program on
    /// sched_migrate_task): a task flipped between CPUs every 1 ms raises a storm once per
    /// window, each with at least the threshold's migrations, never more than the kernel counted,
    /// and within the window; the collector's migration count covers the kernel's.
    func testStormsCountedFromTheKernelsMigrationsAtSwitchIn() throws {
        try Live.require()
        try Live.requireMachine(ProcessInfo.processInfo.activeProcessorCount >= 2, "migrations need at least 2 CPUs")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let collection = try PinnedCollection(layout: collector.layout)
        let before = try collection.readStats().migrations
        let run = try ScenarioRun(["migration", "--flip-ms", "1", "--duration", "3"])
        let migrating = try XCTUnwrap(run.participant("migrating")?["pid"].flatMap { Int($0) })
        let end = try run.finish()
        XCTAssertEqual(end.status, 0, end.output)
        func field(_ name: String) -> Double {
            end.output.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix(name + "=") }
                .flatMap { Double($0.dropFirst(name.count + 1)) } ?? 0
        }
        let moved = field("nr_migrations"), perSecond = field("per_second")
        try Live.requireMachine(perSecond >= 120, "the 1 ms flip moved the task only \(perSecond) times a second: the machine is too busy")
        let storms = try events(collector, ["--kind", "migration-storm"]).filter { pid($0, "task") == migrating }
        XCTAssertFalse(storms.isEmpty, "no storm for a task moved \(moved) times at \(perSecond) a second")
        for e in storms {
            let value = e["value"] as? Int ?? 0
            XCTAssertGreaterThanOrEqual(value, 100, "a storm below the threshold: \(e)")
            XCTAssertLessThanOrEqual(Double(value), moved, "more migrations than the kernel counted: \(e)")
            XCTAssertLessThanOrEqual(e["duration_ns"] as? Int ?? Int.max, 1_000_000_000, "a storm longer than its window: \(e)")
        }
        // One per window: the 3 s run (plus the scenario's start and end) spans at most 5 windows.
        XCTAssertLessThanOrEqual(storms.count, 5, "more than one storm per window: \(storms.count)")
        // Host-wide, so at least the task's own, less the few before its first switch-in (a new
        // thread's storage starts from the kernel's count then).
        XCTAssertGreaterThanOrEqual(Double(try collection.readStats().migrations - before), moved - 3,
                                    "the collector counted fewer migrations than the flipped task alone made")
        try run.assertNothingLeft()
    }

    func testPeriodicThrottlingPatternStartsAndEndsOnce() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let group = try ScratchCgroup(prefix: "starve-test-pattern")
        defer { try? group.remove() }
        try group.setQuota(quotaUs: 20_000, periodUs: 100_000)
        let work = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--cgroup", group.directory])
        defer { work.stop() }
        // Ten samples: the detector wants a steady rate over 4 of its 5-sample window, and one
        // disturbed second on a busy CI machine must not leave too few to start in.
        let r = try runTool(Live.tool("starve-dump"), ["cgroups", "--pin-dir", collector.pinDir, "--interval", "1", "--iterations", "10"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").filter { $0.contains("pattern") && $0.contains(group.path) }
        let started = lines.filter { $0.contains("pattern started: periodic-throttling \(group.path) (period 0.100 s)") }
        let ended = lines.filter { $0.contains("pattern ended: periodic-throttling \(group.path)") }
        XCTAssertEqual(started.count, 1, r.stdout)
        XCTAssertEqual(ended.count, 1, "ends once, at the end of the run: \(r.stdout)")
    }
}
