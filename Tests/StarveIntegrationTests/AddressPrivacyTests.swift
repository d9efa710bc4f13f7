import Foundation
import StarveModel
import StarveHost
import XCTest

/// The pins never hand the reader group what the kernel hides from it: event stacks are raw
/// kernel addresses (kptr_restrict keeps them from non-root users: a KASLR bypass) and other
/// users' user-space addresses. By default the group reads events without them; root reads
/// them; `--group-stacks` grants them to the group explicitly.
final class AddressPrivacyTests: XCTestCase {
    func testGroupReadsEventsWithoutAddressesUnlessGranted() throws {
        try Live.require()
        let tag = String(UInt32.random(in: 0...UInt32.max) % 100_000)
        let group = "stvpriv\(tag)", member = "stvprivu\(tag)"
        defer {
            _ = try? runTool("/usr/sbin/userdel", [member])
            _ = try? runTool("/usr/sbin/groupdel", [group])
        }
        XCTAssertEqual(try runTool("/usr/sbin/groupadd", [group]).status, 0)
        XCTAssertEqual(try runTool("/usr/sbin/useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "--gid", group, member]).status, 0)
        guard let pw = getpwnam(member) else { throw StarveError("no user \(member)") }
        let memberID = (uid: pw.pointee.pw_uid, gid: pw.pointee.pw_gid)

        // The build tree may sit under a directory others cannot enter: run a copy from /tmp.
        let dir = try TemporaryDirectory()
        chmod(dir.path, 0o755)
        try FileManager.default.copyItem(atPath: Live.tool("starve-dump"), toPath: dir.path + "/starve-dump")
        chmod(dir.path + "/starve-dump", 0o755)
        let dump = dir.path + "/starve-dump"

        // Two busy loops on one CPU: every wait is a few ms, over the 1 ms threshold.
        let work = try Workload(["--workers", "2", "--cpu", "0", "--duration", "60"])
        defer { work.stop() }
        let events = ["events", "--format", "json", "--count", "5", "--duration", "20", "--kind", "starvation"]
        let address = try NSRegularExpression(pattern: "0x[0-9a-f]{6,}")
        func objects(_ text: String) -> [[String: Any]] {
            text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        func frames(_ o: [String: Any]) -> Int {
            ["task_kernel_stack", "current_kernel_stack", "current_user_stack"].map { (o[$0] as? [Any])?.count ?? 0 }.reduce(0, +)
        }

        do {
            let collector = try LoadedCollector(extraArguments: ["--group", group, "--thresholds", "1,2,3", "--rate-limit", "0"])
            defer { collector.unload() }
            let denied = try runTool(dump, events + ["--pin-dir", collector.pinDir], asUser: memberID)
            XCTAssertEqual(denied.status, 0, denied.stderr)
            let seen = objects(denied.stdout)
            XCTAssertEqual(seen.count, 5, "the group member got no events: \(denied.stderr)")
            XCTAssertTrue(seen.allSatisfy { frames($0) == 0 }, "the group member got stacks by default")
            XCTAssertEqual(address.numberOfMatches(in: denied.stdout, range: NSRange(denied.stdout.startIndex..., in: denied.stdout)), 0,
                           "raw addresses reached the group member: \(denied.stdout.prefix(600))")
            XCTAssertTrue(denied.stderr.contains("events without stacks"), denied.stderr)

            // Root, on the same pins, gets the stacks, symbolised.
            let root = try runTool(dump, events + ["--pin-dir", collector.pinDir])
            XCTAssertEqual(root.status, 0, root.stderr)
            let rooted = objects(root.stdout)
            XCTAssertEqual(rooted.count, 5)
            XCTAssertTrue(rooted.allSatisfy { (($0["task_kernel_stack"] as? [String]) ?? []).contains { !$0.hasPrefix("0x") } },
                          "root got no symbolised kernel stacks: \(root.stdout.prefix(600))")
        }

        // Granted explicitly at load: the group gets the stacks (addresses the kernel itself would
        // hide from it: that is what the option means).
        let granted = try LoadedCollector(extraArguments: ["--group", group, "--group-stacks", "--thresholds", "1,2,3", "--rate-limit", "0"])
        defer { granted.unload() }
        let r = try runTool(dump, events + ["--pin-dir", granted.pinDir], asUser: memberID)
        XCTAssertEqual(r.status, 0, r.stderr)
        let withStacks = objects(r.stdout)
        XCTAssertEqual(withStacks.count, 5)
        XCTAssertTrue(withStacks.allSatisfy { frames($0) > 0 }, "--group-stacks gave the group no stacks: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("events without stacks"), r.stderr)
    }
}
