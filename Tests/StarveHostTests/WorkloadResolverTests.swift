import Foundation
import Glibc
import StarveModel
@testable import StarveHost
import XCTest

/// WorkloadResolver on a fixture host in a temporary directory: two cgroup hierarchies (a v1 cpu
/// one and a cgroup2 one) as plain directories, whose inode numbers play the cgroup ids (what
/// kernfs gives, and what CgroupPathResolver reads), a runtime root with the runtimes' files and
/// a procfs with /proc/<pid>/cgroup and environ.
final class WorkloadResolverTests: XCTestCase {
    let containerdID = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345abcdef0123456789abcdef01"
    let sandboxID = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
    let crioID = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
    let podUID = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"

    var root = ""
    var cpu: CgroupHierarchy!
    var unified: CgroupHierarchy!
    var clockNs: UInt64 = 1_000_000_000

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "starve-workloads-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for dir in ["cg/cpu", "cg/unified", "runtime", "proc"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true)
        }
        cpu = CgroupHierarchy(mountPoint: "\(root)/cg/cpu", version: .v1)
        unified = CgroupHierarchy(mountPoint: "\(root)/cg/unified", version: .v2)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Fixture

    private func resolver(cpu: CgroupHierarchy? = nil, unified: CgroupHierarchy? = nil) -> WorkloadResolver {
        WorkloadResolver(cpuHierarchy: cpu ?? self.cpu, defaultHierarchy: unified ?? self.unified,
                         runtimeRoot: root + "/runtime", procRoot: root + "/proc",
                         userName: { $0 == 1000 ? "alice" : nil }, now: { [unowned self] in self.clockNs })
    }

    /// Makes cgroup `path` in `hierarchy` (and its parents); its id.
    @discardableResult
    private func cgroup(_ path: String, in hierarchy: CgroupHierarchy) throws -> UInt64 {
        let dir = hierarchy.directory(path)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try inode(dir)
    }

    private func inode(_ path: String) throws -> UInt64 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StarveError("no \(path)") }
        return UInt64(st.st_ino)
    }

    private func rootID(_ hierarchy: CgroupHierarchy) throws -> UInt64 { try inode(hierarchy.mountPoint) }

    /// Writes `text` at `path` below `base`, making the directories.
    private func file(_ path: String, _ text: String, under base: String) throws {
        let full = base + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    private func runtimeFile(_ path: String, _ text: String) throws { try file(path, text, under: root + "/runtime") }

    private func process(_ pid: Int32, cgroup: String, environ: [String] = []) throws {
        try file("/\(pid)/cgroup", cgroup, under: root + "/proc")
        try file("/\(pid)/environ", environ.map { $0 + "\u{0}" }.joined(), under: root + "/proc")
    }

    private func containerdSpec(container: String?, type: String = "container") -> String {
        let name = container.map { #""io.kubernetes.cri.container-name":"\#($0)","# } ?? ""
        return """
            {"ociVersion":"1.1.0","annotations":{\(name)"io.kubernetes.cri.container-type":"\(type)",
             "io.kubernetes.cri.sandbox-name":"web-7d9f","io.kubernetes.cri.sandbox-namespace":"default",
             "io.kubernetes.cri.sandbox-uid":"\(podUID)"}}
            """
    }

    private var podSlice: String {
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(podUID.replacingOccurrences(of: "-", with: "_")).slice"
    }

    // MARK: Resolving and caching

    func testIdsOfBothHierarchiesResolveLazilyOnceEach() throws {
        let containerID = try cgroup("/kubepods/burstable/pod\(podUID)/\(containerdID)", in: cpu)
        let serviceID = try cgroup("/system.slice/nginx.service", in: unified)
        let r = resolver()
        XCTAssertEqual(r.statistics.classifications, 0, "nothing before the first lookup")

        let c = r.identity(cgroupID: containerID, in: cpu)
        XCTAssertEqual(c.kind, .container)
        XCTAssertEqual(c.containerID, containerdID)
        XCTAssertEqual(c.cgroupPath, "/kubepods/burstable/pod\(podUID)/\(containerdID)")
        XCTAssertEqual(r.identity(cgroupID: serviceID, in: unified).name, "nginx.service")
        XCTAssertEqual(r.identity(cgroupID: try rootID(cpu), in: cpu), .host)
        XCTAssertEqual(r.statistics.classifications, 3)

        for _ in 0..<5 {
            XCTAssertEqual(r.identity(cgroupID: containerID, in: cpu), c)
            XCTAssertEqual(r.identity(cgroupID: serviceID, in: unified).name, "nginx.service")
        }
        XCTAssertEqual(r.statistics.classifications, 3, "cached by (hierarchy, id)")
        XCTAssertEqual(r.cachedCount, 3)
    }

    func testTheSameIdInTwoHierarchiesIsTwoCgroups() throws {
        // Ids of different hierarchies are unrelated numbers; here they are distinct inodes, so
        // look the cpu cgroup's id up in the default hierarchy, where it means nothing.
        let id = try cgroup("/system.slice/docker-\(containerdID).scope", in: cpu)
        let r = resolver()
        XCTAssertEqual(r.identity(cgroupID: id, in: cpu).kind, .docker)
        XCTAssertEqual(r.identity(cgroupID: id, in: unified), .unknown)
    }

    func testUnknownIdsShareOneBucketAndAreNotCached() throws {
        let r = resolver()
        let a = r.identity(cgroupID: 999_999_999_999, in: cpu)
        let b = r.identity(cgroupID: 888_888_888_888, in: unified)
        XCTAssertEqual(a, .unknown)
        XCTAssertEqual(a.key, b.key, "one series for every unresolvable id")
        XCTAssertEqual(a.name, "unknown")
        XCTAssertEqual(r.identity(cgroupID: 1, in: CgroupHierarchy(mountPoint: "/nowhere", version: .v1)), .unknown, "not our hierarchy")
        XCTAssertEqual(r.identity(cpuCgroupID: 777, defaultCgroupID: 778), .unknown)
        XCTAssertEqual(r.cachedCount, 0)

        // A cgroup made after the last walk is found once it is walked again.
        let late = try cgroup("/late.service", in: cpu)
        r.refresh()
        XCTAssertEqual(r.identity(cgroupID: late, in: cpu).name, "late.service")
    }

    func testAnIdFoundAtAnotherPathIsResolvedAgain() throws {
        let id = try cgroup("/staging", in: cpu)
        let r = resolver()
        XCTAssertEqual(r.identity(cgroupID: id, in: cpu).name, "/staging")

        // The same id (inode) now at another path: what a reused id looks like to the resolver.
        try FileManager.default.createDirectory(atPath: cpu.directory("/system.slice"), withIntermediateDirectories: true)
        XCTAssertEqual(rename(cpu.directory("/staging"), cpu.directory("/system.slice/docker-\(containerdID).scope")), 0)
        XCTAssertEqual(try inode(cpu.directory("/system.slice/docker-\(containerdID).scope")), id)
        r.refresh()
        let moved = r.identity(cgroupID: id, in: cpu)
        XCTAssertEqual(moved.kind, .docker)
        XCTAssertEqual(moved.cgroupPath, "/system.slice/docker-\(containerdID).scope")
        XCTAssertEqual(r.statistics.classifications, 2)
    }

    func testAVanishedCgroupKeepsItsName() throws {
        let path = "/system.slice/docker-\(containerdID).scope"
        let id = try cgroup(path, in: cpu)
        try runtimeFile(WorkloadResolver.RuntimeFiles.dockerConfig(containerdID), #"{"Name":"/redis"}"#)
        let r = resolver()
        XCTAssertEqual(r.identity(cgroupID: id, in: cpu).name, "redis")

        // The container stops: its files and its cgroup go; late samples still name it.
        try FileManager.default.removeItem(atPath: root + "/runtime/var/lib/docker")
        XCTAssertEqual(rmdir(cpu.directory(path)), 0)
        r.refresh()
        let gone = r.identity(cgroupID: id, in: cpu)
        XCTAssertEqual(gone.name, "redis")
        XCTAssertEqual(gone.kind, .docker)
        XCTAssertEqual(r.vanishedCount, 1)
        XCTAssertEqual(r.statistics.classifications, 1, "not resolved again")
    }

    func testVanishedCgroupsAreKeptUpToACapacityOldestForgottenFirst() throws {
        // Made before the resolver's first walk (a cgroup made within a second after a walk is
        // found only by the next one).
        let ids = try (0..<6).map { try cgroup("/unit-\($0).service", in: cpu) }
        let r = resolver()
        r.vanishedCapacity = 4
        for (i, id) in ids.enumerated() {
            XCTAssertEqual(r.identity(cgroupID: id, in: cpu).name, "unit-\(i).service")
        }
        for i in 0..<6 {
            XCTAssertEqual(rmdir(cpu.directory("/unit-\(i).service")), 0)
            r.refresh()  // each removal seen on its own walk: unit-0 vanished first
        }
        XCTAssertLessThanOrEqual(r.vanishedCount, 4)
        XCTAssertEqual(r.identity(cgroupID: ids[5], in: cpu).name, "unit-5.service", "the latest gone is kept")
        XCTAssertEqual(r.identity(cgroupID: ids[0], in: cpu), .unknown, "the oldest gone is forgotten")
    }

    func testPruneFindsRemovedDirectoriesWithoutAWalk() throws {
        let keep = try cgroup("/keep.service", in: cpu)
        let drop = try cgroup("/drop.service", in: cpu)
        let r = resolver()
        _ = r.identity(cgroupID: keep, in: cpu)
        _ = r.identity(cgroupID: drop, in: cpu)
        XCTAssertEqual(rmdir(cpu.directory("/drop.service")), 0)
        r.prune()
        XCTAssertEqual(r.vanishedCount, 1)
        XCTAssertEqual(r.identity(cgroupID: drop, in: cpu).name, "drop.service")
        XCTAssertEqual(r.identity(cgroupID: keep, in: cpu).name, "keep.service")
    }

    func testPureV2HostHasOneHierarchyForBothIds() throws {
        let id = try cgroup("/system.slice/slurmstepd.scope/job_42/step_0/user/task_0", in: unified)
        let r = resolver(cpu: unified, unified: unified)
        let w = r.identity(cpuCgroupID: id, defaultCgroupID: id)
        XCTAssertEqual(w.name, "job 42")
        XCTAssertEqual(w.slurmTask, "0")
        XCTAssertEqual(r.statistics.classifications, 1)
        XCTAssertEqual(r.cachedCount, 1)
    }

    func testTheMoreSpecificOfTheTwoIdsWins() throws {
        // Hybrid: the v1 cpu cgroup is the root, cgroup2 holds the user's session.
        let session = try cgroup("/user.slice/user-1000.slice/session-3.scope", in: unified)
        let cpuGroup = try cgroup("/batch", in: cpu)
        let other = try cgroup("/other", in: unified)
        let r = resolver()
        let w = r.identity(cpuCgroupID: try rootID(cpu), defaultCgroupID: session)
        XCTAssertEqual(w.kind, .user)
        XCTAssertEqual(w.name, "alice")
        XCTAssertEqual(w.user, "alice")
        // Equally specific: the cpu hierarchy's.
        XCTAssertEqual(r.identity(cpuCgroupID: cpuGroup, defaultCgroupID: other).name, "/batch")
        // An unresolvable cpu id does not hide what the default hierarchy says.
        XCTAssertEqual(r.identity(cpuCgroupID: 999_999_999, defaultCgroupID: session).name, "alice")
    }

    // MARK: Names from runtime files

    func testContainerdNamesAPodsContainersAndThePod() throws {
        let container = try cgroup(podSlice + "/cri-containerd-\(containerdID).scope", in: cpu)
        let sandbox = try cgroup(podSlice + "/cri-containerd-\(sandboxID).scope", in: cpu)
        let pod = try cgroup(podSlice, in: cpu)
        try runtimeFile(WorkloadResolver.RuntimeFiles.containerdSpec(containerdID), containerdSpec(container: "nginx"))
        try runtimeFile(WorkloadResolver.RuntimeFiles.containerdSpec(sandboxID), containerdSpec(container: nil, type: "sandbox"))
        let r = resolver()

        let c = r.identity(cgroupID: container, in: cpu)
        XCTAssertEqual(c.name, "default/web-7d9f/nginx")
        XCTAssertEqual(c.kind, .container)
        XCTAssertEqual(c.podUID, podUID)
        XCTAssertEqual(c.containerName, "nginx")
        XCTAssertEqual(r.identity(cgroupID: sandbox, in: cpu).name, "default/web-7d9f/POD")
        let p = r.identity(cgroupID: pod, in: cpu)
        XCTAssertEqual(p.kind, .pod)
        XCTAssertEqual(p.name, "default/web-7d9f", "the pod's cgroup is named from its containers' files")
    }

    func testCRIODockerAndPodmanNames() throws {
        let crio = try cgroup(podSlice + "/crio-\(crioID).scope", in: cpu)
        try runtimeFile(WorkloadResolver.RuntimeFiles.crioSpec(crioID), """
            {"annotations":{"io.kubernetes.container.name":"api","io.kubernetes.pod.name":"shop-0",
             "io.kubernetes.pod.namespace":"prod","io.kubernetes.pod.uid":"\(podUID)","io.kubernetes.cri-o.ContainerType":"container"}}
            """)
        let docker = try cgroup("/system.slice/docker-\(sandboxID).scope", in: unified)
        try runtimeFile(WorkloadResolver.RuntimeFiles.dockerConfig(sandboxID), #"{"ID":"\#(sandboxID)","Name":"/redis","Config":{"Labels":{}}}"#)
        let podman = try cgroup("/machine.slice/libpod-\(containerdID).scope", in: unified)
        try runtimeFile(WorkloadResolver.RuntimeFiles.storageLists[0], #"[{"id":"\#(crioID)","names":["other"]}]"#)
        try runtimeFile(WorkloadResolver.RuntimeFiles.storageLists[2], #"[{"id":"\#(containerdID)","names":["db"],"metadata":"{}"}]"#)
        let r = resolver()

        XCTAssertEqual(r.identity(cgroupID: crio, in: cpu).name, "prod/shop-0/api")
        XCTAssertEqual(r.identity(cgroupID: docker, in: unified).name, "redis")
        XCTAssertEqual(r.identity(cgroupID: docker, in: unified).kind, .docker)
        let p = r.identity(cgroupID: podman, in: unified)
        XCTAssertEqual(p.name, "db", "found in the run root's volatile list")
        XCTAssertEqual(p.kind, .podman)
    }

    func testABareIdUnderACgroupfsPodTriesEachCRIRuntime() throws {
        let id = try cgroup("/kubepods/besteffort/pod\(podUID)/\(crioID)", in: cpu)
        try runtimeFile(WorkloadResolver.RuntimeFiles.crioSpec(crioID), """
            {"annotations":{"io.kubernetes.container.name":"worker","io.kubernetes.pod.name":"batch-1","io.kubernetes.pod.namespace":"jobs"}}
            """)
        let r = resolver()
        XCTAssertEqual(r.identity(cgroupID: id, in: cpu).name, "jobs/batch-1/worker")
    }

    func testUnreadableRuntimeFilesLeaveTheShortIdsAndAreReadOncePerContainer() throws {
        let path = podSlice + "/cri-containerd-\(containerdID).scope"
        let inCPU = try cgroup(path, in: cpu)
        let inUnified = try cgroup(path, in: unified)
        try runtimeFile(WorkloadResolver.RuntimeFiles.containerdSpec(containerdID), "{ truncated")
        let r = resolver()
        let w = r.identity(cgroupID: inCPU, in: cpu)
        XCTAssertEqual(w.name, "pod 1b2c3d4e/3f2a9c1b7d4e")
        XCTAssertEqual(r.statistics.runtimeFileReads, 1)
        XCTAssertEqual(r.identity(cgroupID: inUnified, in: unified).key, w.key)
        XCTAssertEqual(r.statistics.runtimeFileReads, 1, "the second hierarchy's cgroup of the container reads nothing")
    }

    // MARK: Per-process fallback: other hierarchies, environment

    func testSlurmV1FromTheFreezerHierarchy() throws {
        // Slurm's v1 plugins leave the cpu hierarchy alone: the job is in freezer and cpuset.
        try process(4242, cgroup: """
            6:freezer:/slurm_debian/uid_1000/job_77/step_batch
            4:memory:/
            3:cpuset:/slurm_debian/uid_1000/job_77/step_batch
            1:cpu:/
            0::/
            """)
        let r = resolver()
        let w = r.identity(cpuCgroupID: try rootID(cpu), defaultCgroupID: try rootID(unified), pid: 4242, startTimeNs: 5)
        XCTAssertEqual(w.kind, .slurmJob)
        XCTAssertEqual(w.name, "job 77")
        XCTAssertEqual(w.slurmStep, "batch")
        XCTAssertEqual(w.user, "alice")
        XCTAssertEqual(r.identity(cpuCgroupID: try rootID(cpu), defaultCgroupID: nil).kind, .host, "without the pid: the host")
    }

    func testTheFallbackIsCachedPerProcessAndReadAgainLater() throws {
        try process(4242, cgroup: "6:freezer:/slurm/uid_1000/job_77/step_0/task_0\n1:cpu:/\n0::/\n")
        let r = resolver()
        let host = try rootID(cpu)
        XCTAssertEqual(r.identity(cpuCgroupID: host, defaultCgroupID: nil, pid: 4242, startTimeNs: 5).name, "job 77")
        let reads = r.statistics.processFileReads
        try process(4242, cgroup: "6:freezer:/slurm/uid_1000/job_78/step_0/task_0\n1:cpu:/\n0::/\n")
        XCTAssertEqual(r.identity(cpuCgroupID: host, defaultCgroupID: nil, pid: 4242, startTimeNs: 5).name, "job 77", "cached")
        XCTAssertEqual(r.statistics.processFileReads, reads)
        // Another process with the same pid (another start time) is read afresh.
        XCTAssertEqual(r.identity(cpuCgroupID: host, defaultCgroupID: nil, pid: 4242, startTimeNs: 6).name, "job 78")
        // And the first is read again once processRecheckNs has passed.
        clockNs += r.processRecheckNs
        XCTAssertEqual(r.identity(cpuCgroupID: host, defaultCgroupID: nil, pid: 4242, startTimeNs: 5).name, "job 78")
    }

    func testEnvironmentFallbackAndWhenItIsNotRead() throws {
        try process(4243, cgroup: "1:cpu:/\n0::/\n", environ: ["HOME=/root", "SLURM_JOB_ID=88", "SLURM_STEP_ID=0", "SLURM_JOB_UID=1000"])
        let container = try cgroup("/docker/\(containerdID)", in: cpu)
        let r = resolver()
        let w = r.identity(cpuCgroupID: try rootID(cpu), defaultCgroupID: try rootID(unified), pid: 4243)
        XCTAssertEqual(w.name, "job 88")
        XCTAssertEqual(w.slurmStep, "0")
        XCTAssertEqual(w.user, "alice")
        XCTAssertNil(w.cgroupPath, "from the environment, not a cgroup")

        // A thread whose cgroup names a container: no /proc file is read.
        let reads = r.statistics.processFileReads
        try process(4244, cgroup: "1:cpu:/\n", environ: ["SLURM_JOB_ID=99"])
        XCTAssertEqual(r.identity(cpuCgroupID: container, defaultCgroupID: nil, pid: 4244).kind, .docker)
        XCTAssertEqual(r.statistics.processFileReads, reads)
    }

    func testAProcessThatIsGone() throws {
        let r = resolver()
        XCTAssertEqual(r.identity(pid: 999_999), .unknown)
        XCTAssertEqual(r.identity(cpuCgroupID: try rootID(cpu), defaultCgroupID: nil, pid: 999_999).kind, .host)
    }

    func testProcessIdentityNamesContainersFromRuntimeFiles() throws {
        try process(4245, cgroup: "1:cpu:/\n0::/system.slice/docker-\(sandboxID).scope\n")
        try runtimeFile(WorkloadResolver.RuntimeFiles.dockerConfig(sandboxID), #"{"Name":"/web"}"#)
        XCTAssertEqual(resolver().identity(pid: 4245).name, "web")
    }

    // MARK: This host

    func testPasswdUserNames() {
        XCTAssertEqual(WorkloadResolver.passwdUserName(0), "root")
        XCTAssertNil(WorkloadResolver.passwdUserName(4_000_000_000))
    }
}
