import Foundation
import StarveModel
import XCTest
@testable import StarveTune

/// The knobs' files on cgroup v2 and v1 layouts made in a temporary directory (this host has
/// the cpu controller on v1 only, so the v2 paths are checked here), PSI parsing, and rollback
/// from an audit log over such files.
final class KnobFixtureTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "starve-tune-fixture-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    func put(_ path: String, _ text: String) throws { try text.write(toFile: root + path, atomically: true, encoding: .utf8) }
    func get(_ path: String) -> String? { try? String(contentsOfFile: root + path, encoding: .utf8) }

    func testCgroupV2Files() throws {
        try put("/a/cpu.weight", "100\n")
        try put("/a/cpu.max", "max 100000\n")
        try put("/a/cpuset.cpus", "1\n")
        try put("/cpuset.cpus.effective", "0-3\n")
        try put("/a/cpu.pressure", "some avg10=12.50 avg60=3.00 avg300=1.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n")
        let h = CgroupHierarchy(mountPoint: root, version: .v2)
        let k = CgroupKnobs(cpu: h, cpuset: h)
        XCTAssertEqual(k.targets(.weight, of: "/a"), [.file(root + "/a/cpu.weight")])
        XCTAssertEqual(k.state(.weight, of: "/a")?.value, .number(100))
        XCTAssertEqual(k.quantize(.weight, .number(33.3), of: "/a"), .number(33))
        XCTAssertEqual(k.raw(.weight, .number(33.3), of: "/a"), "33")
        XCTAssertEqual(k.state(.quota, of: "/a")?.value, .number(nil), "max: unlimited")
        XCTAssertEqual(k.raw(.quota, .number(0.5), of: "/a"), "50000 100000")
        XCTAssertEqual(k.raw(.quota, .number(nil), of: "/a"), "max 100000")
        XCTAssertEqual(k.targets(.quota, of: "/a"), [.file(root + "/a/cpu.max")])
        let cpuset = try XCTUnwrap(k.state(.cpuset, of: "/a"))
        XCTAssertEqual(cpuset.value, .cpus([1]))
        XCTAssertEqual(cpuset.allowedCPUs, [0, 1, 2, 3], "v2: the parent's cpuset.cpus.effective")
        XCTAssertEqual(k.raw(.cpuset, .cpus([0, 1, 2, 3]), of: "/a"), "0-3")
        XCTAssertEqual(k.pressureFile(of: "/a"), root + "/a/cpu.pressure", "v2: the cgroup's own PSI")
        let p = try XCTUnwrap(Pressure.parse(get("/a/cpu.pressure") ?? ""))
        XCTAssertEqual(p.some.avg10, 12.5)
        XCTAssertEqual(p.some.totalUs, 123456)
        XCTAssertEqual(p.full?.totalUs, 7)
        XCTAssertNil(k.state(.weight, of: "/gone"), "a vanished cgroup reads as nothing")
    }

    func testCgroupV1Files() throws {
        try put("/a/cpu.shares", "8\n")
        try put("/a/cpu.cfs_quota_us", "-1\n")
        try put("/a/cpu.cfs_period_us", "100000\n")
        let h = CgroupHierarchy(mountPoint: root, version: .v1)
        let k = CgroupKnobs(cpu: h, cpuset: nil)
        XCTAssertEqual(k.state(.weight, of: "/a")?.value, .number(8 / 10.24), "shares 8 = weight 0.78")
        XCTAssertEqual(k.raw(.weight, .number(10), of: "/a"), "102", "weight 10 = shares 102")
        XCTAssertEqual(k.raw(.weight, .number(0.01), of: "/a"), "2", "v1's minimum")
        XCTAssertEqual(k.state(.quota, of: "/a")?.value, .number(nil))
        XCTAssertEqual(k.raw(.quota, .number(0.2), of: "/a"), "20000")
        XCTAssertEqual(k.raw(.quota, .number(nil), of: "/a"), "-1")
        XCTAssertEqual(k.targets(.cpuset, of: "/a"), [], "no cpuset hierarchy")
        XCTAssertEqual(k.pressureFile(of: "/a"), "/proc/pressure/cpu", "v1: the host's PSI")
    }

    func testPressureSignalsAreSharesOfTheInterval() {
        var x = SignalExtractor()
        let a = Pressure(some: .init(avg10: 1, avg60: 2, avg300: 3, totalUs: 1_000_000), full: .init(avg10: 0, avg60: 0, avg300: 0, totalUs: 0))
        let b = Pressure(some: .init(avg10: 1, avg60: 2, avg300: 3, totalUs: 1_600_000), full: .init(avg10: 0, avg60: 0, avg300: 0, totalUs: 100_000))
        XCTAssertNil(x.pressureSignals(a, source: "f", intervalNs: 1_000_000_000)[.psiSome], "no previous total yet")
        let s = x.pressureSignals(b, source: "f", intervalNs: 1_000_000_000)
        XCTAssertEqual(s[.psiSome] ?? -1, 60, accuracy: 1e-9, "600 ms of some-stall in 1 s")
        XCTAssertEqual(s[.psiFull] ?? -1, 10, accuracy: 1e-9)
        XCTAssertEqual(s[.psiSomeAvg60], 2)
    }

    func testRollbackRestoresOnlyWhatStillHoldsItsValue() throws {
        for (f, v) in [("/a/w1", "50"), ("/a/w2", "70"), ("/a/w3", "50"), ("/a/w4", "100")] { try put(f, v) }
        let audit = root + "/audit.jsonl"
        let log = try AuditLog(path: audit)
        func change(_ f: String, _ from: String, _ to: String, original: String) throws {
            try log.append(AuditRecord(event: .change, rule: "r", cgroup: "/a", knob: "weight", target: root + f, from: from, to: to, original: original))
        }
        try log.append(AuditRecord(event: .start))
        try change("/a/w1", "100", "75", original: "100")
        try change("/a/w1", "75", "50", original: "100")            // stepped twice: original is the first
        try change("/a/w2", "100", "50", original: "100")           // then someone wrote 70
        try change("/a/w3", "100", "50", original: "100")
        try log.append(AuditRecord(event: .restore, target: root + "/a/w3", from: "50", to: "100", original: "100"))
        try put("/a/w3", "50")                                      // restored, then changed by someone else: not ours
        try change("/a/w4", "100", "50", original: "100")           // killed between the record and the write
        try change("/a/gone", "100", "50", original: "100")
        var said: [String] = []
        let out = try Rollback.run(auditPath: audit) { said.append($0) }
        XCTAssertEqual(out.restored, [root + "/a/w1"])
        XCTAssertEqual(out.leftAlone, [root + "/a/w2"])
        XCTAssertEqual(get("/a/w1"), "100")
        XCTAssertEqual(get("/a/w2"), "70")
        XCTAssertEqual(get("/a/w3"), "50")
        XCTAssertEqual(get("/a/w4"), "100")
        XCTAssertTrue(said.contains { $0.hasPrefix("vanished") && $0.contains("/a/gone") }, "\(said)")
        // Everything is settled now: a second rollback finds nothing to do.
        let again = try Rollback.run(auditPath: audit) { _ in }
        XCTAssertEqual(again.restored, [])
        XCTAssertEqual(again.leftAlone, [])
    }
}
