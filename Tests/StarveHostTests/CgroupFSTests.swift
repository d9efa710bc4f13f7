import StarveModel
@testable import StarveHost
import XCTest

/// Finding the cgroup hierarchies and reading their CPU files, on texts captured from real machines.
final class CgroupFSTests: XCTestCase {
    /// This project's VM: hybrid, v1 cpu and cpuacct on separate mounts, cgroup2 without cpu.
    let hybrid = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    /// A systemd distribution in pure v2 (optional `shared:` fields before the dash).
    let pureV2 = """
        22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
        26 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
        30 26 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """

    /// Older legacy layout: cpu and cpuacct share one mount, named with a comma.
    let combined = """
        25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
        26 25 0:22 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw
        31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 master:3 - cgroup cgroup rw,cpu,cpuacct
        33 25 0:29 / /sys/fs/cgroup/my\\040cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
        """

    func testHybridMachineUsesTheV1CPUMount() {
        let none: (String) -> String? = { _ in nil }
        XCTAssertEqual(CgroupFS.cpuHierarchy(mountinfo: hybrid, readFile: none), CgroupHierarchy(mountPoint: "/sys/fs/cgroup/cpu", version: .v1))
        XCTAssertEqual(CgroupFS.cpuacctHierarchy(mountinfo: hybrid), CgroupHierarchy(mountPoint: "/sys/fs/cgroup/cpuacct", version: .v1))
        XCTAssertEqual(CgroupFS.defaultHierarchy(mountinfo: hybrid), CgroupHierarchy(mountPoint: "/sys/fs/cgroup/unified", version: .v2))
        let mounts = CgroupFS.parseMountInfo(hybrid)
        XCTAssertEqual(mounts.map(\.mountPoint), ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpuset",
                                                  "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"], "tmpfs is not a cgroup mount")
        XCTAssertEqual(mounts[0].superOptions, ["rw", "cpu"])
    }

    func testPureV2UsesTheCgroup2Mount() {
        let v2 = CgroupHierarchy(mountPoint: "/sys/fs/cgroup", version: .v2)
        XCTAssertEqual(CgroupFS.cpuHierarchy(mountinfo: pureV2, readFile: { _ in "cpuset cpu io memory pids\n" }), v2)
        // Even when the controller is missing: ScratchCgroup then says why it cannot use it.
        XCTAssertEqual(CgroupFS.cpuHierarchy(mountinfo: pureV2, readFile: { _ in "memory pids\n" }), v2)
        XCTAssertEqual(CgroupFS.defaultHierarchy(mountinfo: pureV2), v2)
        XCTAssertNil(CgroupFS.cpuacctHierarchy(mountinfo: pureV2), "v2 keeps usage in cpu.stat")
        XCTAssertNil(CgroupFS.cpuHierarchy(mountinfo: "22 1 259:2 / / rw - ext4 /dev/sda1 rw", readFile: { _ in nil }))
    }

    func testOfTwoCgroup2MountsTheOneOfferingCPUWins() {
        let two = """
            30 26 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw
            90 22 0:26 /box /box/cg rw - cgroup2 cgroup2 rw
            """
        let controllers = ["/sys/fs/cgroup/cgroup.controllers": "memory\n", "/box/cg/cgroup.controllers": "cpu memory\n"]
        XCTAssertEqual(CgroupFS.cpuHierarchy(mountinfo: two, readFile: { controllers[$0] })?.mountPoint, "/box/cg")
        XCTAssertEqual(CgroupFS.parseMountInfo(two).last?.root, "/box")
    }

    func testCombinedMountAndEscapedPaths() {
        let h = CgroupFS.cpuHierarchy(mountinfo: combined, readFile: { _ in nil })
        XCTAssertEqual(h, CgroupHierarchy(mountPoint: "/sys/fs/cgroup/cpu,cpuacct", version: .v1), "cpuset is not cpu")
        XCTAssertEqual(CgroupFS.cpuacctHierarchy(mountinfo: combined), h)
        XCTAssertEqual(CgroupFS.parseMountInfo(combined).last?.mountPoint, "/sys/fs/cgroup/my cpuset")
    }

    func testCgroupDirectories() {
        let h = CgroupHierarchy(mountPoint: "/sys/fs/cgroup/cpu", version: .v1)
        XCTAssertEqual(h.directory("/"), "/sys/fs/cgroup/cpu")
        XCTAssertEqual(h.directory("/system.slice/foo.service"), "/sys/fs/cgroup/cpu/system.slice/foo.service")
        XCTAssertEqual(h.directory("a"), "/sys/fs/cgroup/cpu/a")
    }

    func testV1CPUStatIsInNanoseconds() {
        let text = "nr_periods 30\nnr_throttled 29\nthrottled_time 2331912345\nnr_bursts 0\nburst_time 0\n"
        XCTAssertEqual(CPUStat.parse(text, version: .v1), CPUStat(periods: 30, throttledPeriods: 29, throttledNs: 2_331_912_345))
    }

    func testV2CPUStatIsInMicroseconds() {
        let text = """
            usage_usec 618304
            user_usec 618000
            system_usec 304
            core_sched.force_idle_usec 0
            nr_periods 30
            nr_throttled 29
            throttled_usec 2331912
            nr_bursts 0
            burst_usec 0
            """
        XCTAssertEqual(CPUStat.parse(text, version: .v2),
                       CPUStat(periods: 30, throttledPeriods: 29, throttledNs: 2_331_912_000, usageNs: 618_304_000))
        // Parent without +cpu in subtree_control: usage only, no bandwidth counters.
        XCTAssertEqual(CPUStat.parse("usage_usec 5\nuser_usec 4\nsystem_usec 1\n", version: .v2),
                       CPUStat(periods: 0, throttledPeriods: 0, throttledNs: 0, usageNs: 5_000))
        XCTAssertNil(CPUStat.parse("", version: .v2))
        XCTAssertNil(CPUStat.parse("usage_usec 5\n", version: .v1), "a v2 text is not a v1 cpu.stat")
        XCTAssertNil(CPUStat.parse("nonsense\n", version: .v1))
    }

    func testQuotaTexts() {
        XCTAssertEqual(CgroupFS.parseCPUMax("max 100000\n").map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [-1, 100_000])
        XCTAssertEqual(CgroupFS.parseCPUMax("20000 100000\n").map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [20_000, 100_000])
        XCTAssertNil(CgroupFS.parseCPUMax("20000\n"))
        XCTAssertNil(CgroupFS.parseCPUMax("max max\n"))
        XCTAssertEqual(CgroupFS.parseV1Quota(quota: "-1\n", period: "100000\n").map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [-1, 100_000])
        XCTAssertEqual(CgroupFS.parseV1Quota(quota: "20000\n", period: "50000\n").map { [$0.quotaUs ?? -1, Int64($0.periodUs)] }, [20_000, 50_000])
        XCTAssertNil(CgroupFS.parseV1Quota(quota: "", period: "100000"))
    }
}
