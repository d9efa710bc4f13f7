import Foundation
import StarveModel
import StarveHost
import XCTest

/// A non-root member of --group reads the pins; a user outside it gets a clear refusal.
final class PermissionTests: XCTestCase {
    func testGroupMemberReadsAndOutsiderIsRefused() throws {
        try Live.require()
        let tag = String(UInt32.random(in: 0...UInt32.max) % 100_000)
        // The readers' group, and a primary group for both users (made here, not assumed, as
        // Debian's `nogroup` was): all removed at the end, whatever happened.
        let group = "stvgrp\(tag)", primary = "stvpri\(tag)", member = "stvin\(tag)", outsider = "stvout\(tag)"
        defer {
            for user in [member, outsider] { _ = try? runTool("/usr/sbin/userdel", [user]) }
            for g in [group, primary] { _ = try? runTool("/usr/sbin/groupdel", [g]) }
        }
        for g in [group, primary] {
            let r = try runTool("/usr/sbin/groupadd", [g])
            XCTAssertEqual(r.status, 0, "groupadd \(g): \(r.stderr)")
        }
        for (user, extra) in [(member, ["--groups", group]), (outsider, [])] {
            let r = try runTool("/usr/sbin/useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "--gid", primary] + extra + [user])
            XCTAssertEqual(r.status, 0, "useradd \(user): \(r.stderr)")
        }
        let memberID = try ids(member), outsiderID = try ids(outsider)

        // The build tree may sit under a directory others cannot enter: run a copy from /tmp.
        let dir = try TemporaryDirectory()
        chmod(dir.path, 0o755)
        for tool in ["starve-dump", "starve-load"] {
            try FileManager.default.copyItem(atPath: Live.tool(tool), toPath: dir.path + "/" + tool)
            chmod(dir.path + "/" + tool, 0o755)
        }
        let dump = dir.path + "/starve-dump"

        let collector = try LoadedCollector(extraArguments: ["--group", group])
        defer { collector.unload() }

        let ok = try runTool(dump, ["--pin-dir", collector.pinDir, "--interval", "0.2", "--iterations", "1", "--format", "csv"], asUser: memberID)
        XCTAssertEqual(ok.status, 0, "member of \(group) could not read: \(ok.stderr)")
        XCTAssertTrue(ok.stdout.hasPrefix("timestamp,"), ok.stdout)
        XCTAssertGreaterThan(ok.stdout.split(separator: "\n").count, 1, "no rows for the member")

        let refused = try runTool(dump, ["--pin-dir", collector.pinDir, "--iterations", "1"], asUser: outsiderID)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("permission denied"), refused.stderr)
        XCTAssertEqual(refused.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, "not one line: \(refused.stderr)")

        // Loading needs CAP_BPF and CAP_PERFMON (LeastPrivilegeTests), and says so.
        let notRoot = try runTool(dir.path + "/starve-load", ["--pin-dir", collector.pinDir + "-x"], asUser: memberID)
        XCTAssertNotEqual(notRoot.status, 0)
        XCTAssertTrue(notRoot.stderr.contains("needs CAP_BPF and CAP_PERFMON"), notRoot.stderr)
    }

    private func ids(_ user: String) throws -> (uid: uid_t, gid: gid_t) {
        guard let pw = getpwnam(user) else { throw StarveError("no user \(user)") }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }
}
