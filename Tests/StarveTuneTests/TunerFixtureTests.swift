import Foundation
@testable import StarveModel
import XCTest
@testable import StarveMonitor
@testable import StarveTune

/// The tuner end to end on synthetic snapshots and a cgroup v2 layout in a temporary directory
/// (cpu.weight, cpu.max, cpu.pressure): acting, dry runs, stand-down, lifting a held cap when
/// the pressure falls after the capped work stopped, restoring on finish, the audit log.
final class TunerFixtureTests: XCTestCase {
    var root = ""
    var lines: [String] = []

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "starve-tuner-fixture-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for d in ["/victim", "/batch"] { try FileManager.default.createDirectory(atPath: root + d, withIntermediateDirectories: true) }
        try put("/cgroup.procs", "")
        try put("/victim/cpu.weight", "1")
        try put("/batch/cpu.max", "max 100000")
        lines = []
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func put(_ path: String, _ text: String) throws { try text.write(toFile: root + path, atomically: true, encoding: .utf8) }
    func get(_ path: String) -> String? { (try? String(contentsOfFile: root + path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) }
    /// PSI with `total` µs of some-stall so far.
    func pressure(_ totalUs: UInt64) throws {
        try put("/batch/cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=\(totalUs)\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    }

    func row(_ path: String, id: UInt64, verdict: CgroupVerdict, cpu: Double = 1) -> CgroupInterval {
        var hist = LogHistogram(counts: [UInt64](repeating: 0, count: LogHistogram.slotCount))
        hist.counts[LogHistogram.slot(for: 300_000_000)] = 3
        return CgroupInterval(cgroupID: id, path: path, tasks: 1, intervalNs: 1_000_000_000, runtimeNs: UInt64(cpu * 1e7), waitCount: 3,
                              waitNs: 900_000_000, waitHistogram: hist, waitMaxNs: 300_000_000, waitsOverThreshold: 3, preemptedSame: 0,
                              preemptedOther: 3, preemptedSystem: 0, throttledWaitNs: 0, throttle: nil, topPreemptors: [],
                              verdict: verdict, evidence: "", workload: WorkloadIdentity(kind: .cgroup, cgroupPath: path))
    }

    func snapshot(_ n: Int, _ rows: [CgroupInterval]) -> Snapshot {
        Snapshot(context: SampleContext(sample: n, timestamp: Date()), atNs: UInt64(n) * 1_000_000_000, intervalNs: 1_000_000_000,
                 tracked: rows.count, threads: [], exited: [:], cgroups: rows, processes: [], workloads: [],
                 stats: CollectorStats(), statsDelta: CollectorStats(),
                 systemWaitHistogram: LogHistogram(counts: [UInt64](repeating: 0, count: LogHistogram.slotCount)),
                 hostTotals: RunningTotals(), workloadTotals: [:])
    }

    func tuner(_ yaml: String, act: Bool, audit: AuditLog?) throws -> Tuner {
        let h = CgroupHierarchy(mountPoint: root, version: .v2)
        return try Tuner(policy: try PolicyParser.parse(yaml), settings: TunerSettings(act: act), knobs: CgroupKnobs(cpu: h, cpuset: nil),
                         audit: audit) { [unowned self] in lines.append($0) }
    }

    let raise = """
        rules:
          - name: raise
            when: verdict == victim for 0s
            action: {weight: x4, max: 100}
            cooldown: 0s
        """

    func testActsStandsDownWhenChangedByHandAndRestoresTheRest() throws {
        let audit = try AuditLog(path: root + "/audit.jsonl")
        let t = try tuner(raise, act: true, audit: audit)
        try t.process(snapshot(1, [row("/victim", id: 2, verdict: .victim)]), severeNs: 500_000_000)
        XCTAssertEqual(get("/victim/cpu.weight"), "4")
        try t.process(snapshot(2, [row("/victim", id: 2, verdict: .victim)]), severeNs: 500_000_000)
        XCTAssertEqual(get("/victim/cpu.weight"), "16")
        try put("/victim/cpu.weight", "50")  // an administrator
        try t.process(snapshot(3, [row("/victim", id: 2, verdict: .victim)]), severeNs: 500_000_000)
        XCTAssertEqual(get("/victim/cpu.weight"), "50", "not touched again")
        XCTAssertTrue(lines.contains { $0.contains("stand-down /victim weight") && $0.contains("changed from 16 (set by starve-tune) to 50") }, "\(lines)")
        try t.finish(reason: "test")
        XCTAssertEqual(get("/victim/cpu.weight"), "50", "someone else's value stays")
        let events = try AuditLog.records(at: root + "/audit.jsonl").map(\.event)
        XCTAssertEqual(events, [.start, .change, .change, .standDown, .note, .stop])
    }

    func testDryRunWritesNothing() throws {
        let t = try tuner(raise, act: false, audit: nil)
        for n in 1...3 { try t.process(snapshot(n, [row("/victim", id: 2, verdict: .victim)]), severeNs: 500_000_000) }
        XCTAssertEqual(get("/victim/cpu.weight"), "1")
        XCTAssertEqual(lines.filter { $0.contains("would-change raise /victim weight 1 -> 4") }.count, 3, "\(lines)")
        try t.finish(reason: "test")
        XCTAssertEqual(get("/victim/cpu.weight"), "1")
    }

    func testHeldCapIsLiftedWhenPressureFallsAfterTheWorkStopped() throws {
        let t = try tuner("""
            rules:
              - name: backoff
                scope: {cgroup: "/batch*/**"}
                when: psi_some > 60 for 2s
                clear: psi_some < 20 for 2s
                action: {quota: =0.5, hold: true}
                cooldown: 0s
            """, act: true, audit: nil)
        var total: UInt64 = 0
        // 90 % stalled for three seconds with the batch work running: capped.
        for n in 1...3 {
            total += 900_000
            try pressure(total)
            try t.process(snapshot(n, [row("/batch", id: 3, verdict: .ok)]), severeNs: 500_000_000)
        }
        XCTAssertEqual(get("/batch/cpu.max"), "50000 100000")
        // The batch work stops (no row any more); pressure falls to 5 %: lifted after two seconds.
        for n in 4...6 {
            total += 50_000
            try pressure(total)
            try t.process(snapshot(n, []), severeNs: 500_000_000)
        }
        XCTAssertEqual(get("/batch/cpu.max"), "max 100000", "\(lines)")
        XCTAssertTrue(lines.contains { $0.contains("lift backoff /batch quota") }, "\(lines)")
        try t.finish(reason: "test")
        XCTAssertEqual(get("/batch/cpu.max"), "max 100000")
    }
}
