import Foundation
import StarveModel
import StarveHost
import XCTest

/// cgroupfs on this machine: ids are directory inodes (root 1), scratch cgroups come and go
/// cleanly, and their quota and weight read back as written.
final class LiveCgroupFSTests: XCTestCase {
    override func setUpWithError() throws {
        try Live.requireRoot("scratch cgroups")
        try Live.requireMachine(CgroupFS.cpuHierarchy() != nil, "no cgroup filesystem is mounted")
    }

    func testRootCgroupIdIsOne() throws {
        for h in [CgroupFS.cpuHierarchy(), CgroupFS.defaultHierarchy()].compactMap({ $0 }) {
            let attributes = try FileManager.default.attributesOfItem(atPath: h.mountPoint)
            XCTAssertEqual((attributes[.systemFileNumber] as? NSNumber)?.uint64Value, 1, "root of \(h.mountPoint)")
            XCTAssertEqual(CgroupPathResolver(hierarchy: h).path(for: 1), "/")
        }
    }

    func testResolverFindsAScratchCgroupByInode() throws {
        let hierarchies = [CgroupFS.cpuHierarchy(), CgroupFS.defaultHierarchy()].compactMap { $0 }
        for h in Set(hierarchies) {
            // The default hierarchy here has no cpu controller: a plain cgroup is enough for ids.
            let scratch = try ScratchCgroup(prefix: "starve-test-resolver", hierarchy: h, cpuController: h == CgroupFS.cpuHierarchy())
            defer { try? scratch.remove() }
            let id = try XCTUnwrap(inode(scratch.directory))
            let resolver = CgroupPathResolver(hierarchy: h)
            let walkedBy = monotonicNs()  // the walk below starts after this
            XCTAssertEqual(resolver.path(for: id), scratch.path, "\(h.mountPoint)")

            // A cgroup made just after a walk is found once a walk is due (or forced).
            let nested = scratch.directory + "/inner"
            XCTAssertEqual(mkdir(nested, 0o755), 0)
            defer { rmdir(nested) }
            let nestedID = try XCTUnwrap(inode(nested))
            let miss = resolver.path(for: nestedID)
            // Only when this came within a second of the walk (a slow moment may take longer:
            // then the resolver walks again, as it should).
            if monotonicNs() - walkedBy < 1_000_000_000 {
                XCTAssertNil(miss, "a miss within a second of the last walk does not walk again")
            }
            resolver.rescan()
            XCTAssertEqual(resolver.path(for: nestedID), scratch.path + "/inner")
            XCTAssertNil(resolver.path(for: UInt64.max))
        }
    }

    func testScratchCgroupQuotaWeightAndRemoval() throws {
        let scratch = try ScratchCgroup(prefix: "starve-test-scratch")
        defer { try? scratch.remove() }
        let h = scratch.hierarchy
        XCTAssertTrue(scratch.path.hasPrefix("/starve-test-scratch-\(getpid())"))
        try scratch.setQuota(quotaUs: 20_000, periodUs: 50_000)
        XCTAssertEqual(CgroupFS.cpuQuota(hierarchy: h, path: scratch.path).map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [20_000, 50_000])
        try scratch.setQuota(quotaUs: nil)
        XCTAssertEqual(CgroupFS.cpuQuota(hierarchy: h, path: scratch.path).map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [-1, 100_000])
        try scratch.setWeight(v1Shares: 2, v2Weight: 1)
        let weightFile = h.version == .v1 ? "/cpu.shares" : "/cpu.weight"
        XCTAssertEqual(try String(contentsOfFile: scratch.directory + weightFile, encoding: .utf8), h.version == .v1 ? "2\n" : "1\n")
        XCTAssertEqual(CgroupFS.cpuStat(hierarchy: h, path: scratch.path)?.throttledPeriods, 0)
        XCTAssertThrowsError(try scratch.setQuota(quotaUs: 1, periodUs: 100_000)) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot set the CPU quota of \(scratch.path)"), "\(error)")
        }

        // A second one with the same prefix gets a name of its own.
        let twin = try ScratchCgroup(prefix: "starve-test-scratch")
        XCTAssertNotEqual(twin.path, scratch.path)
        try twin.remove()

        // Removing moves a task still inside back to the root.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer { sleeper.terminate(); sleeper.waitUntilExit() }
        try scratch.add(pid: sleeper.processIdentifier)
        XCTAssertEqual(scratch.processes(), [sleeper.processIdentifier])
        try scratch.remove()
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.directory))
        XCTAssertTrue(scratch.isRemoved)
        XCTAssertTrue(sleeper.isRunning)
        let cgroupLine = h.version == .v1 ? ":cpu:/\n" : "0::/"
        XCTAssertTrue(try String(contentsOfFile: "/proc/\(sleeper.processIdentifier)/cgroup", encoding: .utf8).contains(cgroupLine))
        try scratch.remove()  // already removed: fine
    }

    private func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }
}
