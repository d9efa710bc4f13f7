import Foundation
import StarveBPF
import StarveModel
import StarveHost
import StarveMonitor
import XCTest

/// Cgroups nested like the runtimes lay them out, made under the cpu hierarchy with mkdir and
/// removed at the end (tasks moved to the root first, deepest first). Only directories this
/// made are removed: a shared parent (`/system.slice`) that existed stays.
final class NestedCgroups {
    let hierarchy: CgroupHierarchy
    private var made: [String] = []

    init() throws {
        guard let h = CgroupFS.cpuHierarchy() else { throw StarveError("no cpu cgroup hierarchy") }
        hierarchy = h
    }

    /// Makes `path` and the parents it lacks; its directory.
    @discardableResult
    func make(_ path: String) throws -> String {
        var sofar = ""
        for element in path.split(separator: "/") {
            sofar += "/" + element
            let dir = hierarchy.directory(sofar)
            if mkdir(dir, 0o755) == 0 {
                made.append(sofar)
            } else if errno != EEXIST {
                throw StarveError("mkdir \(dir): \(String(cString: strerror(errno)))")
            }
        }
        return hierarchy.directory(path)
    }

    /// Moves every task of `path` to the root cgroup.
    private func evacuate(_ path: String) {
        let procs = hierarchy.directory(path) + "/cgroup.procs"
        let rootProcs = hierarchy.directory("/") + "/cgroup.procs"
        for pid in ((try? String(contentsOfFile: procs, encoding: .utf8)) ?? "").split(separator: "\n") {
            try? (String(pid) + "\n").write(toFile: rootProcs, atomically: false, encoding: .utf8)
        }
    }

    /// Removes what this made, children first; polls while a cgroup is still busy.
    func remove() {
        for path in made.sorted(by: { $0.count > $1.count }) {
            _ = waitUntil(seconds: 5) {
                evacuate(path)
                return rmdir(hierarchy.directory(path)) == 0 || errno == ENOENT
            }
        }
        made = []
    }

    deinit { remove() }
}

/// The sampler's per-process and per-workload views, live: cgroups laid out like Kubernetes,
/// systemd, Docker and Slurm come out with the right kind, name and ids in every view; a noisy
/// neighbour reads as workloads; a workload of short-lived processes keeps all its waits.
final class WorkloadViewsTests: XCTestCase {
    private func jsonRows(_ r: ToolRun) -> [[String: Any]] {
        r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    private func dump(_ collector: LoadedCollector, _ view: String, _ extra: [String] = [], iterations: Int = 2) throws -> [[String: Any]] {
        let r = try runTool(Live.tool("starve-dump"), [view, "--pin-dir", collector.pinDir, "--interval", "1",
                                                       "--iterations", String(iterations), "--format", "json"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return jsonRows(r)
    }

    private static func hex64() -> String { (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined() }

    func testRuntimeLayoutsComeOutWithKindNameAndIdsInEveryView() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let cgroups = try NestedCgroups()
        defer { cgroups.remove() }
        let podUID = UUID().uuidString.lowercased()
        let containerID = Self.hex64(), dockerID = Self.hex64()
        let unit = "starve-test\(getpid()).service"
        let layouts: [(path: String, kind: WorkloadKind, ids: [String: String])] = [
            ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(podUID.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(containerID).scope",
             .container, ["container_id": containerID, "pod_uid": podUID]),
            ("/system.slice/starve\\x2dtest\(getpid()).service", .service, ["unit": unit]),
            ("/docker/\(dockerID)", .docker, ["container_id": dockerID]),
            ("/slurm/uid_0/job_4242/step_0/task_0", .slurmJob, ["slurm_job_id": "4242"]),
        ]
        var loops: [Workload] = []
        defer { loops.forEach { $0.stop() } }
        var expected: [(path: String, identity: WorkloadIdentity, ids: [String: String], pid: Int)] = []
        for l in layouts {
            let dir = try cgroups.make(l.path)
            let loop = try Workload(["--workers", "1", "--busy-ms", "5", "--sleep-ms", "5", "--duration", "60", "--cgroup", dir])
            loops.append(loop)
            let identity = WorkloadIdentity.classify(path: l.path)
            XCTAssertEqual(identity.kind, l.kind, l.path)
            expected.append((l.path, identity, l.ids, Int(loop.workerPIDs[0])))
        }
        XCTAssertEqual(expected[1].identity.name, unit, "systemd's escapes undone")
        XCTAssertEqual(expected[3].identity.name, "job 4242")

        func check(_ row: [String: Any]?, _ e: (path: String, identity: WorkloadIdentity, ids: [String: String], pid: Int), _ view: String) {
            guard let row else { return XCTFail("\(view): no row for \(e.path)") }
            XCTAssertEqual(row["workload_kind"] as? String, e.identity.kind.rawValue, "\(view) \(e.path): \(row)")
            XCTAssertEqual(row["workload"] as? String, e.identity.name, "\(view) \(e.path): \(row)")
            for (column, value) in e.ids { XCTAssertEqual(row[column] as? String, value, "\(view) \(e.path) \(column): \(row)") }
        }
        let cgroupRows = try dump(collector, "cgroups")
        let processRows = try dump(collector, "processes")
        let workloadRows = try dump(collector, "workloads")
        let taskRows = try dump(collector, "tasks", ["--pid"] + expected.map { String($0.pid) }, iterations: 1)
        for e in expected {
            check(cgroupRows.last { $0["cgroup"] as? String == e.path }, e, "cgroups")
            check(processRows.last { $0["tgid"] as? Int == e.pid }, e, "processes")
            check(taskRows.last { $0["pid"] as? Int == e.pid }, e, "tasks")
            let w = workloadRows.last { $0["workload"] as? String == e.identity.name && $0["workload_kind"] as? String == e.identity.kind.rawValue }
            check(w, e, "workloads")
            XCTAssertGreaterThanOrEqual(w?["processes"] as? Int ?? 0, 1, "workloads \(e.identity.name)")
        }
        // The filters keep one workload, or one kind.
        let onlyDocker = try dump(collector, "workloads", ["--kind", "docker"], iterations: 1)
        XCTAssertFalse(onlyDocker.isEmpty)
        XCTAssertTrue(onlyDocker.allSatisfy { $0["workload_kind"] as? String == "docker" }, "\(onlyDocker)")
        let onlyUnit = try dump(collector, "processes", ["--workload", unit], iterations: 1)
        XCTAssertEqual(Set(onlyUnit.compactMap { $0["tgid"] as? Int }), [expected[1].pid])
        loops.forEach { $0.stop() }
    }

    func testNoisyNeighbourReadsAsWorkloads() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let cgroups = try NestedCgroups()
        defer { cgroups.remove() }
        let hogUnit = "svc-hog-\(getpid()).service", victimUnit = "svc-victim-\(getpid()).service"
        let hogDir = try cgroups.make("/system.slice/" + hogUnit)
        let victimDir = try cgroups.make("/system.slice/" + victimUnit)
        try "2\n".write(toFile: victimDir + "/cpu.shares", atomically: false, encoding: .utf8)
        let hog = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--cgroup", hogDir])
        defer { hog.stop() }
        let victim = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--busy-ms", "1", "--sleep-ms", "9", "--cgroup", victimDir])
        defer { victim.stop() }

        let rows = try dump(collector, "workloads", iterations: 6)
        let victimRows = rows.filter { $0["workload"] as? String == victimUnit }
        XCTAssertTrue(victimRows.allSatisfy { $0["workload_kind"] as? String == "service" && $0["unit"] as? String == victimUnit }, "\(victimRows)")
        XCTAssertTrue(victimRows.contains { $0["verdict"] as? String == "victim" && $0["top_preemptor"] as? String == hogUnit },
                      "the duty-cycle service is a victim of the hog's: \(victimRows)")
        XCTAssertTrue(rows.contains { $0["workload"] as? String == hogUnit && $0["verdict"] as? String == "noisy-neighbour" },
                      "the hog's service is the noisy neighbour: \(rows.filter { $0["workload"] as? String == hogUnit })")
        hog.stop()
        victim.stop()
    }

    func testShortLivedProcessesKeepEveryWaitOfTheirWorkload() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let cgroups = try NestedCgroups()
        defer { cgroups.remove() }
        let unit = "starve-churn-\(getpid()).service"
        let path = "/system.slice/" + unit
        let dir = try cgroups.make(path)
        // The sampler is made after the cgroup: its first lookup walks the hierarchy and finds it.
        var settings = SamplerSettings()
        settings.pinDirectory = collector.pinDir
        settings.views = .all
        let sampler = try Sampler(settings: settings, signals: nil)

        let churn = Process()
        churn.executableURL = URL(fileURLWithPath: Live.tool("starve-work"))
        churn.arguments = ["churn", "--cgroup", dir, "--processes", "2000", "--burn-us", "300"]
        churn.standardOutput = FileHandle.nullDevice
        churn.standardError = FileHandle.nullDevice
        try churn.run()
        defer { if churn.isRunning { kill(churn.processIdentifier, SIGTERM); churn.waitUntilExit() } }

        var cumulative: UInt64 = 0, cumulativeCgroup: UInt64 = 0, previous: UInt64 = 0
        var processesSeen = 0, exitedSeen: UInt64 = 0, afterExit = 0
        var previousTotals = RunningTotals(), previousHost = RunningTotals(), hostWaitsSummed: UInt64 = 0
        let key = WorkloadKey(kind: .service, name: unit)
        // Sample while it runs, and twice after (the last exits are folded in then).
        while afterExit < 2 {
            if !churn.isRunning { afterExit += 1 }
            guard let s = try sampler.next() else { break }
            let w = s.workloads.first { $0.identity.kind == .service && $0.identity.name == unit }
            let c = s.cgroups.first { $0.path == path }
            XCTAssertEqual(w?.figures.waitCount ?? 0, c?.waitCount ?? 0, "sample \(s.context.sample): the workload and its one cgroup disagree")
            XCTAssertEqual(w?.figures.runtimeNs ?? 0, c?.runtimeNs ?? 0, "sample \(s.context.sample)")
            cumulative += w?.figures.waitCount ?? 0
            cumulativeCgroup += c?.waitCount ?? 0
            XCTAssertGreaterThanOrEqual(cumulative, previous, "the workload's cumulative wait count went down")
            previous = cumulative
            // The sampler's own running totals: the sum of the intervals, never backwards.
            let totals = s.workloadTotals[key] ?? previousTotals
            XCTAssertEqual(totals.waitCount, cumulative, "sample \(s.context.sample): running total is the sum of the intervals")
            XCTAssertEqual(totals.waitHistogram.total, totals.waitCount, "sample \(s.context.sample): the histogram holds every wait")
            for (name, now, before) in [("runtime", totals.runtimeNs, previousTotals.runtimeNs), ("waits", totals.waitCount, previousTotals.waitCount),
                                        ("wait ns", totals.waitNs, previousTotals.waitNs), ("host waits", s.hostTotals.waitCount, previousHost.waitCount),
                                        ("host runtime", s.hostTotals.runtimeNs, previousHost.runtimeNs)] {
                XCTAssertGreaterThanOrEqual(now, before, "sample \(s.context.sample): \(name) went backwards")
            }
            XCTAssertEqual(totals.wakeupWaitNs &+ totals.preemptWaitNs &+ totals.throttledWaitNs, totals.waitNs)
            XCTAssertEqual(s.systemWaitHistogram.total, s.hostTotals.waitCount - previousHost.waitCount,
                           "sample \(s.context.sample): the system histogram is the host's waits of the interval")
            XCTAssertGreaterThanOrEqual(s.systemWaitHistogram.total, w?.figures.waitCount ?? 0, "the host's waits include the workload's")
            hostWaitsSummed += s.systemWaitHistogram.total
            previousTotals = totals
            previousHost = s.hostTotals
            processesSeen = max(processesSeen, w?.processes ?? 0)
            exitedSeen += s.processes.filter { $0.workload?.name == unit }.reduce(0) { $0 + $1.exitedThreads }
        }
        churn.waitUntilExit()
        XCTAssertEqual(churn.terminationStatus, 0)
        print("churn workload \(unit): \(cumulative) waits (cgroup \(cumulativeCgroup)), up to \(processesSeen) processes a sample, \(exitedSeen) exited threads folded")
        XCTAssertEqual(cumulative, cumulativeCgroup, "the workload's total is its cgroup's")
        XCTAssertEqual(previousHost.waitCount, hostWaitsSummed, "the host's running total is the sum of its interval histograms")
        XCTAssertGreaterThanOrEqual(exitedSeen, 1000, "most of the 2000 children exited unseen and were folded into their process rows")
        XCTAssertGreaterThan(cumulative, 0)
    }
}

/// The new views refuse bad flags before opening anything: one error, non-zero exit.
final class WorkloadViewArgumentTests: XCTestCase {
    func testViewsRefuseBadFlags() throws {
        try Live.requireTools("starve-dump")
        let absent = "/sys/fs/bpf/starve-test-absent-\(getpid())"
        for (args, text) in [(["workloads", "--sort", "size"], "'size' is invalid for '--sort"),
                             (["processes", "--kind", "vm"], "'vm' is invalid for '--kind"),
                             (["processes", "--top=-1"], "--top must be 0 (all) or more"),
                             (["workloads", "--workload", ""], "--workload must not be empty"),
                             (["workloads", "--neighbour-min-cpu", "0"], "--neighbour-min-cpu"),
                             (["processes", "--interval", "0"], "--interval")] {
            let r = try runTool(Live.tool("starve-dump"), args + ["--pin-dir", absent])
            XCTAssertNotEqual(r.status, 0, "\(args) succeeded")
            XCTAssertTrue(r.stderr.contains(text), "\(args): expected '\(text)' in: \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
    }
}
