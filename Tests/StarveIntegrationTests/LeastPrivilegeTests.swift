import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// starve-load as a user that is not root, with capabilities given through setpriv: CAP_BPF and
/// CAP_PERFMON load; the loading user needs no capability for status, starve-dump and unload;
/// giving the pins to a group the user is not in needs CAP_CHOWN; removing someone else's pins
/// from the sticky /sys/fs/bpf needs CAP_DAC_OVERRIDE and CAP_FOWNER. Whatever is missing is
/// named in one line, and a refused load leaves nothing.
final class LeastPrivilegeTests: XCTestCase {
    private var user = "", group = ""
    private var uid: uid_t = 0, gid: gid_t = 0, groupID: gid_t = 0
    private var tools: TemporaryDirectory?

    override func setUpWithError() throws {
        try Live.require()
        let tag = String(UInt32.random(in: 0...UInt32.max) % 100_000)
        user = "stvcap\(tag)"
        group = "stvcapg\(tag)"
        addTeardownBlock { [user, group] in
            _ = try? runProcess("/usr/sbin/userdel", [user])
            _ = try? runProcess("/usr/sbin/groupdel", [group])
        }
        XCTAssertEqual(try runProcess("/usr/sbin/groupadd", [group]).status, 0)
        let add = try runProcess("/usr/sbin/useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user])
        XCTAssertEqual(add.status, 0, add.stderr)
        guard let pw = getpwnam(user), let gr = getgrnam(group) else { throw StarveError("no user \(user) or group \(group)") }
        uid = pw.pointee.pw_uid
        gid = pw.pointee.pw_gid
        groupID = gr.pointee.gr_gid
        // The build tree may sit under a directory others cannot enter: run copies from /tmp.
        let dir = try TemporaryDirectory()
        chmod(dir.path, 0o755)
        for file in [Live.tool("starve-load"), Live.tool("starve-dump"), Live.objectPath] {
            let copy = dir.path + "/" + (file as NSString).lastPathComponent
            try FileManager.default.copyItem(atPath: file, toPath: copy)
            chmod(copy, 0o755)
        }
        tools = dir
    }

    override func tearDown() { tools = nil }

    private func tool(_ name: String) -> String { tools!.path + "/" + name }

    /// setpriv's arguments: this test's user with `caps` (e.g. "+bpf,+perfmon"; "" for none)
    /// inheritable and ambient, so that they survive the exec; `groups`: supplementary groups.
    private func asUser(caps: String, groups: [gid_t] = []) -> [String] {
        let c = caps.isEmpty ? "-all" : caps
        return ["--reuid=\(uid)", "--regid=\(gid)"] + (groups.isEmpty ? ["--clear-groups"] : ["--groups=" + groups.map(String.init).joined(separator: ",")])
            + ["--inh-caps=\(c)", "--ambient-caps=\(c)"]
    }

    private func load(_ dir: TestPinDirectory, caps: String, groups: [gid_t] = [], extra: [String] = []) throws -> ProcessRun {
        try runProcess(tool("starve-load"), ["--pin-dir", dir.path, "--object", tool("starve.bpf.o")] + extra, privileges: asUser(caps: caps, groups: groups))
    }

    private func owner(_ path: String) -> (uid: uid_t, gid: gid_t)? {
        var st = stat()
        return lstat(path, &st) == 0 ? (st.st_uid, st.st_gid) : nil
    }

    func testBPFAndPerfmonLoadAndTheLoaderNeedsNothingElse() throws {
        let dir = try TestPinDirectory("caps")
        let r = try load(dir, caps: "+bpf,+perfmon")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("programs attached"), r.stdout)
        XCTAssertTrue(r.stdout.contains("readable by \(user), root only"), r.stdout)
        XCTAssertEqual(owner(dir.path)?.uid, uid, "the pins belong to the loading user")
        XCTAssertEqual(owner(dir.layout.map(PinLayout.configMap))?.uid, uid)

        // The same user, with no capability at all: status, a sample, unload.
        let status = try runProcess(tool("starve-load"), ["status", "--pin-dir", dir.path], privileges: asUser(caps: ""))
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertEqual(status.stdout.components(separatedBy: "  yes  ").count - 1, 4, status.stdout)
        XCTAssertTrue(status.stdout.contains("RUN_CNT and NS/EVENT need CAP_SYS_ADMIN"), status.stdout)
        let dump = try runProcess(tool("starve-dump"), ["--pin-dir", dir.path, "--iterations", "1", "--interval", "0.2", "--format", "csv"],
                                  privileges: asUser(caps: ""))
        XCTAssertEqual(dump.status, 0, dump.stderr)
        XCTAssertGreaterThan(dump.stdout.split(separator: "\n").count, 1, dump.stdout)
        let ids = try programsBehindLinks(dir.layout)
        XCTAssertEqual(ids.count, 5, "four tracepoint links and the tasks iterator")
        let unload = try runProcess(tool("starve-load"), ["unload", "--pin-dir", dir.path], privileges: asUser(caps: ""))
        XCTAssertEqual(unload.status, 0, unload.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))
        XCTAssertTrue(try waitUntil(seconds: 15) { try loadedProgramIDs().isDisjoint(with: ids) }, "programs still loaded after unload")
    }

    func testMissingCapabilitiesAreNamedAndNothingIsLeft() throws {
        let dir = try TestPinDirectory("nocaps")
        for (caps, missing) in [("", "CAP_BPF, CAP_PERFMON"), ("+bpf", "CAP_PERFMON"), ("+perfmon", "CAP_BPF")] {
            let r = try load(dir, caps: caps)
            XCTAssertNotEqual(r.status, 0, "loaded with only '\(caps)'")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("starve-load needs CAP_BPF and CAP_PERFMON to load programs (missing: \(missing))"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))
            XCTAssertEqual(dir.stagedBeside, [])
        }
    }

    func testGroupOwnershipNeedsMembershipOrCapChown() throws {
        let dir = try TestPinDirectory("capgrp")
        let refused = try load(dir, caps: "+bpf,+perfmon", extra: ["--group", group])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertEqual(refused.stderrLines.count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--group \(group): giving the pins to a group this user is not in needs CAP_CHOWN"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))

        for (caps, groups) in [("+bpf,+perfmon,+chown", [gid_t]()), ("+bpf,+perfmon", [groupID])] {
            let r = try load(dir, caps: caps, groups: groups, extra: ["--group", group])
            XCTAssertEqual(r.status, 0, "\(caps) groups \(groups): \(r.stderr)")
            XCTAssertEqual(owner(dir.layout.map(PinLayout.statsMap))?.gid, groupID)
            XCTAssertEqual(owner(dir.layout.mapsDirectory)?.gid, groupID)
            let unload = try runProcess(tool("starve-load"), ["unload", "--pin-dir", dir.path], privileges: asUser(caps: ""))
            XCTAssertEqual(unload.status, 0, unload.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))
        }
    }

    func testAnotherUsersPinsNeedDacOverrideAndFownerToUnload() throws {
        let dir = try TestPinDirectory("capunl")
        let rootLoad = try runProcess(tool("starve-load"), ["--pin-dir", dir.path, "--object", tool("starve.bpf.o")])
        XCTAssertEqual(rootLoad.status, 0, rootLoad.stderr)
        for caps in ["", "+dac_override"] {
            let r = try runProcess(tool("starve-load"), ["unload", "--pin-dir", dir.path], privileges: asUser(caps: caps))
            XCTAssertNotEqual(r.status, 0, "unloaded root's pins with '\(caps)'")
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("permission denied removing \(dir.path) (owned by uid 0)"), r.stderr)
            // Refused before anything was removed: still complete.
            let status = try runProcess(tool("starve-load"), ["status", "--pin-dir", dir.path])
            XCTAssertEqual(status.status, 0, status.stderr)
            XCTAssertEqual(status.stdout.components(separatedBy: "  yes  ").count - 1, 4, status.stdout)
        }
        let r = try runProcess(tool("starve-load"), ["unload", "--pin-dir", dir.path], privileges: asUser(caps: "+dac_override,+fowner"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))
        XCTAssertEqual(dir.stagedBeside, [])
    }
}
