import Foundation
import StarveModel
import XCTest

/// Workload identity from cgroup paths: every layout the runtimes, kubelet, systemd and Slurm
/// make, on cgroup v1 and v2, as the paths appear in the hierarchies and /proc/<pid>/cgroup.
final class WorkloadIdentityTests: XCTestCase {
    let id = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345abcdef0123456789abcdef01"
    let id2 = "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
    let uid = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
    var uidUnderscored: String { uid.replacingOccurrences(of: "-", with: "_") }
    let users: (UInt32) -> String? = { $0 == 1000 ? "alice" : nil }

    private func classify(_ path: String) -> WorkloadIdentity { WorkloadIdentity.classify(path: path, userName: users) }

    // MARK: Root and plain cgroups

    func testTheRootIsTheHost() {
        for path in ["/", "", "//"] {
            let w = classify(path)
            XCTAssertEqual(w.kind, .host, path)
            XCTAssertEqual(w.name, "host")
            XCTAssertEqual(w.cgroupPath, "/")
        }
    }

    func testAnUnrecognisedCgroupIsNamedByItsPath() {
        let w = classify("/mygroup//sub/")
        XCTAssertEqual(w.kind, .cgroup)
        XCTAssertEqual(w.name, "/mygroup/sub", "slashes normalised")
        XCTAssertEqual(w.cgroupPath, "/mygroup/sub")
        XCTAssertNil(w.unit)
        XCTAssertEqual(classify("/job_5").kind, .cgroup, "job_ outside Slurm's cgroups is nobody's job")
        XCTAssertEqual(classify("/pod\(uid)").kind, .cgroup, "pod<uid> outside kubepods is not a pod")
        XCTAssertEqual(classify("/\(id)").kind, .cgroup, "a bare id needs a pod or /docker above it")
    }

    // MARK: Kubernetes

    func testKubernetesSystemdDriverEveryQoSClass() {
        let pods = [
            ("guaranteed", "/kubepods.slice/kubepods-pod\(uidUnderscored).slice"),
            ("burstable", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice"),
            ("besteffort", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(uidUnderscored).slice"),
        ]
        for (qos, pod) in pods {
            let p = classify(pod)
            XCTAssertEqual(p.kind, .pod, qos)
            XCTAssertEqual(p.podUID, uid, "\(qos): underscores back to dashes")
            XCTAssertEqual(p.name, "pod 1b2c3d4e", qos)
            XCTAssertNil(p.containerID)

            let c = classify(pod + "/cri-containerd-\(id).scope")
            XCTAssertEqual(c.kind, .container, qos)
            XCTAssertEqual(c.podUID, uid)
            XCTAssertEqual(c.containerID, id)
            XCTAssertEqual(c.runtime, .containerd)
            XCTAssertEqual(c.unit, "cri-containerd-\(id).scope")
            XCTAssertEqual(c.name, "pod 1b2c3d4e/3f2a9c1b7d4e", qos)
            XCTAssertEqual(c.columnValues[2], id)
        }
        let qosSlice = classify("/kubepods.slice/kubepods-burstable.slice")
        XCTAssertEqual(qosSlice.kind, .slice)
        XCTAssertEqual(qosSlice.name, "kubepods-burstable.slice")
    }

    func testKubernetesCgroupfsDriverEveryQoSClass() {
        for (qos, pod) in [("guaranteed", "/kubepods/pod\(uid)"), ("burstable", "/kubepods/burstable/pod\(uid)"),
                           ("besteffort", "/kubepods/besteffort/pod\(uid)")] {
            XCTAssertEqual(classify(pod).kind, .pod, qos)
            XCTAssertEqual(classify(pod).podUID, uid)
            let c = classify(pod + "/" + id)
            XCTAssertEqual(c.kind, .container, qos)
            XCTAssertEqual(c.containerID, id)
            XCTAssertNil(c.runtime, "a bare id says no runtime")
            XCTAssertNil(c.unit)
            XCTAssertEqual(c.name, "pod 1b2c3d4e/3f2a9c1b7d4e")
        }
        XCTAssertEqual(classify("/kubepods/burstable").kind, .cgroup)
        // Static (mirror) pods' uids are 32-digit hashes without dashes.
        XCTAssertEqual(classify("/kubepods/burstable/pod0123456789abcdef0123456789abcdef/\(id)").podUID, "0123456789abcdef0123456789abcdef")
    }

    func testCRIOAndDockerContainersInPods() {
        let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice"
        let crio = classify(pod + "/crio-\(id).scope")
        XCTAssertEqual(crio.kind, .container)
        XCTAssertEqual(crio.runtime, .crio)
        XCTAssertEqual(crio.containerID, id)
        // CRI-O's monitor for the container counts as the container.
        XCTAssertEqual(classify(pod + "/crio-conmon-\(id).scope").key, crio.key)
        // CRI-O with the cgroupfs manager.
        let crioFS = classify("/kubepods/besteffort/pod\(uid)/crio-\(id)")
        XCTAssertEqual(crioFS.runtime, .crio)
        XCTAssertEqual(crioFS.containerID, id)
        // cri-dockerd / dockershim with the systemd driver: a container of the pod, not a docker one.
        let docker = classify(pod + "/docker-\(id).scope")
        XCTAssertEqual(docker.kind, .container)
        XCTAssertEqual(docker.runtime, .docker)
        XCTAssertEqual(docker.podUID, uid)
    }

    func testKindClustersPrefixTheKubeletsCgroups() {
        let path = "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod\(uidUnderscored).slice/cri-containerd-\(id).scope"
        let w = classify(path)
        XCTAssertEqual(w.kind, .container)
        XCTAssertEqual(w.podUID, uid)
        XCTAssertEqual(w.containerID, id)
        XCTAssertEqual(classify("/kubelet/kubepods/burstable/pod\(uid)/\(id)").containerID, id)
    }

    func testEverythingBelowAContainerIsTheContainer() {
        let container = classify("/kubepods/burstable/pod\(uid)/\(id)")
        // systemd inside the container, or a cgroup the container made for itself.
        XCTAssertEqual(classify("/kubepods/burstable/pod\(uid)/\(id)/system.slice/nginx.service").key, container.key)
        XCTAssertEqual(classify("/system.slice/docker-\(id).scope/init").key, classify("/system.slice/docker-\(id).scope").key)
    }

    // MARK: Docker and Podman

    func testDockerBothDrivers() {
        let systemd = classify("/system.slice/docker-\(id).scope")
        XCTAssertEqual(systemd.kind, .docker)
        XCTAssertEqual(systemd.runtime, .docker)
        XCTAssertEqual(systemd.containerID, id)
        XCTAssertEqual(systemd.name, "3f2a9c1b7d4e")
        XCTAssertEqual(systemd.unit, "docker-\(id).scope")
        XCTAssertNil(systemd.podUID)

        let cgroupfs = classify("/docker/\(id)")
        XCTAssertEqual(cgroupfs.kind, .docker)
        XCTAssertEqual(cgroupfs.containerID, id)
        XCTAssertEqual(cgroupfs.key, systemd.key, "one container, one workload, whichever driver")

        XCTAssertEqual(classify("/docker").kind, .cgroup)
        XCTAssertEqual(classify("/docker/buildkit").kind, .cgroup)
        let daemon = classify("/system.slice/docker.service")
        XCTAssertEqual(daemon.kind, .service)
        XCTAssertEqual(daemon.name, "docker.service")
    }

    func testPodmanRootfulRootlessAndCgroupfs() {
        let rootful = classify("/machine.slice/libpod-\(id).scope")
        XCTAssertEqual(rootful.kind, .podman)
        XCTAssertEqual(rootful.runtime, .podman)
        XCTAssertEqual(rootful.name, "3f2a9c1b7d4e")
        XCTAssertEqual(classify("/machine.slice/libpod-conmon-\(id).scope").key, rootful.key, "conmon counts as its container")
        XCTAssertEqual(classify("/libpod_parent/libpod-\(id)").containerID, id)
        // A Podman pod's slice is not a container; its containers are.
        XCTAssertEqual(classify("/machine.slice/machine-libpod_pod_\(id2).slice").kind, .slice)
        XCTAssertEqual(classify("/machine.slice/machine-libpod_pod_\(id2).slice/libpod-\(id).scope").containerID, id)

        let rootless = classify("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(id).scope")
        XCTAssertEqual(rootless.kind, .podman, "a container inside a user's slice is the container")
        XCTAssertEqual(rootless.uid, 1000)
        XCTAssertEqual(rootless.user, "alice")
        XCTAssertEqual(rootless.columnValues.last, "alice")
    }

    func testContainerdOutsideKubernetesIsAContainer() {
        let w = classify("/system.slice/cri-containerd-\(id).scope")
        XCTAssertEqual(w.kind, .container)
        XCTAssertNil(w.podUID)
        XCTAssertEqual(w.name, "3f2a9c1b7d4e")
    }

    // MARK: systemd

    func testServicesScopesSlicesAndOtherUnits() {
        let cases: [(String, WorkloadKind, String)] = [
            ("/system.slice/nginx.service", .service, "nginx.service"),
            ("/init.scope", .scope, "init.scope"),
            ("/system.slice", .slice, "system.slice"),
            ("/user.slice", .slice, "user.slice"),
            ("/system.slice/system-getty.slice/getty@tty1.service", .service, "getty@tty1.service"),
            ("/system.slice/sshd.socket", .service, "sshd.socket"),
            ("/system.slice/home.mount", .service, "home.mount"),
            ("/system.slice/run-r3f1a2b.scope", .scope, "run-r3f1a2b.scope"),
            // A service that delegates (Delegate=yes) owns the cgroups it makes.
            ("/system.slice/postgresql.service/worker/7", .service, "postgresql.service"),
            // Below a slice, a cgroup systemd did not make is just a cgroup.
            ("/system.slice/mygroup", .cgroup, "/system.slice/mygroup"),
        ]
        for (path, kind, name) in cases {
            let w = classify(path)
            XCTAssertEqual(w.kind, kind, path)
            XCTAssertEqual(w.name, name, path)
        }
        XCTAssertEqual(classify("/system.slice/mygroup").unit, "system.slice", "the enclosing unit stays known")
    }

    func testUnitNamesAreUnescaped() {
        let w = classify("/system.slice/system-systemd\\x2dfsck.slice/systemd-fsck@dev-disk-by\\x2duuid-AB12\\x2dCD34.service")
        XCTAssertEqual(w.kind, .service)
        XCTAssertEqual(w.unit, "systemd-fsck@dev-disk-by-uuid-AB12-CD34.service")
        XCTAssertEqual(w.name, "systemd-fsck@dev-disk-by-uuid-AB12-CD34.service")
        XCTAssertEqual(classify("/system.slice/my\\x20app.service").name, "my app.service")
        XCTAssertEqual(classify("/system.slice/caf\\xc3\\xa9.service").name, "café.service", "UTF-8 escaped byte by byte")
        XCTAssertEqual(classify("/system.slice/odd\\xZZ.service").name, "odd\\xZZ.service", "not an escape: kept")
        XCTAssertEqual(classify("/system.slice/end\\x2.service").name, "end\\x2.service")
        XCTAssertEqual(classify("/system.slice/up\\x2Dper.service").name, "up-per.service", "upper-case hex too")
    }

    func testUserSessionsAndManagersAreTheUser() {
        let session = classify("/user.slice/user-1000.slice/session-3.scope")
        XCTAssertEqual(session.kind, .user)
        XCTAssertEqual(session.name, "alice")
        XCTAssertEqual(session.uid, 1000)
        XCTAssertEqual(session.unit, "session-3.scope")
        let app = classify("/user.slice/user-1000.slice/user@1000.service/app.slice/pipewire.service")
        XCTAssertEqual(app.key, session.key, "sessions and apps of one user: one workload")
        XCTAssertEqual(app.unit, "pipewire.service")
        XCTAssertEqual(classify("/user.slice/user-1000.slice").kind, .user)

        let stranger = classify("/user.slice/user-1001.slice/session-9.scope")
        XCTAssertEqual(stranger.name, "uid 1001", "no such user: the uid")
        XCTAssertNil(stranger.user)
        XCTAssertEqual(stranger.columnValues.last, "1001")
        XCTAssertEqual(WorkloadIdentity.classify(path: "/user.slice/user-1000.slice/session-3.scope").name, "uid 1000", "no lookup given")
    }

    // MARK: Slurm

    func testSlurmV1JobsStepsAndTasks() {
        let task = classify("/slurm/uid_1000/job_1234/step_0/task_1")
        XCTAssertEqual(task.kind, .slurmJob)
        XCTAssertEqual(task.name, "job 1234")
        XCTAssertEqual(task.slurmJobID, "1234")
        XCTAssertEqual(task.slurmStep, "0")
        XCTAssertEqual(task.slurmTask, "1")
        XCTAssertEqual(task.uid, 1000)
        XCTAssertEqual(task.user, "alice")
        XCTAssertEqual(task.columnValues[5], "1234")

        // This VM's layout (slurm_<node>), a batch step, the job level.
        let batch = classify("/slurm_debian/uid_1000/job_77/step_batch")
        XCTAssertEqual(batch.kind, .slurmJob)
        XCTAssertEqual(batch.slurmJobID, "77")
        XCTAssertEqual(batch.slurmStep, "batch")
        XCTAssertNil(batch.slurmTask)
        XCTAssertEqual(classify("/slurm/uid_1000/job_1234").key, task.key, "every step and task: one series per job")
        XCTAssertEqual(classify("/slurm/uid_1000/job_1234/step_extern").key, task.key)

        let userLevel = classify("/slurm/uid_1000")
        XCTAssertEqual(userLevel.kind, .cgroup, "no job yet")
        XCTAssertEqual(userLevel.user, "alice")
    }

    func testSlurmV2JobsStepsAndTasks() {
        let task = classify("/system.slice/slurmstepd.scope/job_1234/step_0/user/task_0")
        XCTAssertEqual(task.kind, .slurmJob)
        XCTAssertEqual(task.name, "job 1234")
        XCTAssertEqual(task.slurmStep, "0")
        XCTAssertEqual(task.slurmTask, "0")
        XCTAssertEqual(task.unit, "slurmstepd.scope")
        XCTAssertNil(task.uid, "v2 paths carry no uid")
        // The step's own slurmstepd, and the extern step.
        XCTAssertEqual(classify("/system.slice/slurmstepd.scope/job_1234/step_0/slurm").key, task.key)
        XCTAssertEqual(classify("/system.slice/node1_slurmstepd.scope/job_1234/step_extern/user/task_special").slurmTask, "special")
        // slurmstepd's own cgroup outside any job.
        let daemons = classify("/system.slice/slurmstepd.scope/system")
        XCTAssertEqual(daemons.kind, .scope)
        XCTAssertEqual(daemons.name, "slurmstepd.scope")
    }

    // MARK: Names from runtime records

    func testRuntimeRecordsNameContainersAndPods() {
        let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uidUnderscored).slice"
        let record = ContainerRecord(containerName: "nginx", podNamespace: "default", podName: "web-7d9f", podUID: uid)
        let c = classify(pod + "/cri-containerd-\(id).scope").applying(record)
        XCTAssertEqual(c.name, "default/web-7d9f/nginx")
        XCTAssertEqual(c.kind, .container)
        XCTAssertEqual(c.containerName, "nginx")
        XCTAssertEqual(c.podNamespace, "default")
        XCTAssertEqual(c.podName, "web-7d9f")
        XCTAssertEqual(c.containerID, id, "the ids stay")

        let sandbox = classify(pod + "/cri-containerd-\(id2).scope")
            .applying(ContainerRecord(podNamespace: "default", podName: "web-7d9f", isSandbox: true))
        XCTAssertEqual(sandbox.name, "default/web-7d9f/POD")
        XCTAssertEqual(classify(pod).applying(record).name, "default/web-7d9f", "a pod takes its containers' pod names")
        XCTAssertNil(classify(pod).applying(record).containerName)

        let halfKnown = classify(pod + "/cri-containerd-\(id).scope").applying(ContainerRecord(podNamespace: "default", podName: "web-7d9f"))
        XCTAssertEqual(halfKnown.name, "default/web-7d9f/3f2a9c1b7d4e")

        XCTAssertEqual(classify("/system.slice/docker-\(id).scope").applying(ContainerRecord(containerName: "redis")).name, "redis")
        XCTAssertEqual(classify("/machine.slice/libpod-\(id).scope").applying(ContainerRecord(containerName: "db")).name, "db")
    }

    func testOCIConfigOfContainerdAndCRIO() throws {
        let containerd = """
            {"ociVersion":"1.1.0","process":{"args":["nginx"]},"annotations":{
              "io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"nginx",
              "io.kubernetes.cri.sandbox-id":"\(id2)","io.kubernetes.cri.sandbox-name":"web-7d9f",
              "io.kubernetes.cri.sandbox-namespace":"default","io.kubernetes.cri.sandbox-uid":"\(uid)"}}
            """
        XCTAssertEqual(ContainerRecord.fromOCIConfig(Data(containerd.utf8)),
                       ContainerRecord(containerName: "nginx", podNamespace: "default", podName: "web-7d9f", podUID: uid))
        let pause = """
            {"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-name":"web-7d9f","io.kubernetes.cri.sandbox-namespace":"default"}}
            """
        XCTAssertEqual(ContainerRecord.fromOCIConfig(Data(pause.utf8))?.isSandbox, true)

        let crio = """
            {"annotations":{"io.container.manager":"cri-o","io.kubernetes.cri-o.ContainerType":"container",
              "io.kubernetes.container.name":"api","io.kubernetes.pod.name":"shop-0","io.kubernetes.pod.namespace":"prod",
              "io.kubernetes.pod.uid":"\(uid)"}}
            """
        XCTAssertEqual(ContainerRecord.fromOCIConfig(Data(crio.utf8)),
                       ContainerRecord(containerName: "api", podNamespace: "prod", podName: "shop-0", podUID: uid))

        XCTAssertNil(ContainerRecord.fromOCIConfig(Data(#"{"annotations":{"io.container.manager":"libpod"}}"#.utf8)))
        XCTAssertNil(ContainerRecord.fromOCIConfig(Data(#"{"ociVersion":"1.1.0"}"#.utf8)))
        XCTAssertNil(ContainerRecord.fromOCIConfig(Data("not json".utf8)))
    }

    func testDockerConfigAndStorageLists() {
        let plain = #"{"ID":"\#(id)","Name":"/redis","Config":{"Labels":{"com.docker.compose.service":"cache"}}}"#
        XCTAssertEqual(ContainerRecord.fromDockerConfig(Data(plain.utf8)), ContainerRecord(containerName: "redis"))
        let kube = """
            {"Name":"/k8s_app_web_default_\(uid)_0","Config":{"Labels":{"io.kubernetes.container.name":"app",
              "io.kubernetes.pod.name":"web","io.kubernetes.pod.namespace":"default","io.kubernetes.pod.uid":"\(uid)"}}}
            """
        XCTAssertEqual(ContainerRecord.fromDockerConfig(Data(kube.utf8)),
                       ContainerRecord(containerName: "app", podNamespace: "default", podName: "web", podUID: uid))
        let infra = #"{"Name":"/k8s_POD_web","Config":{"Labels":{"io.kubernetes.pod.name":"web","io.kubernetes.pod.namespace":"default","io.kubernetes.docker.type":"podsandbox"}}}"#
        XCTAssertEqual(ContainerRecord.fromDockerConfig(Data(infra.utf8))?.isSandbox, true)
        XCTAssertNil(ContainerRecord.fromDockerConfig(Data(#"{"Name":""}"#.utf8)))

        let list = #"[{"id":"\#(id2)","names":["other"]},{"id":"\#(id)","names":["db","db-alias"],"image":"x","layer":"y","metadata":"{}"}]"#
        XCTAssertEqual(ContainerRecord.fromStorageContainers(Data(list.utf8), id: id), ContainerRecord(containerName: "db"))
        XCTAssertNil(ContainerRecord.fromStorageContainers(Data(list.utf8), id: String(repeating: "0", count: 64)))
        XCTAssertNil(ContainerRecord.fromStorageContainers(Data("{}".utf8), id: id))
    }

    // MARK: Several hierarchies, environment

    func testBestPrefersTheMostSpecificThenTheFirst() {
        let host = WorkloadIdentity.host
        let service = classify("/system.slice/slurmd.service")
        let job = classify("/slurm/uid_1000/job_5/step_0")
        let other = classify("/mygroup")
        XCTAssertEqual(WorkloadIdentity.best([service, job]).key, job.key, "a Slurm job beats the daemon's service")
        XCTAssertEqual(WorkloadIdentity.best([host, other]).key, other.key)
        XCTAssertEqual(WorkloadIdentity.best([other, classify("/othergroup")]).key, other.key, "ties: the first (cpu hierarchy)")
        XCTAssertEqual(WorkloadIdentity.best([.unknown, host]).kind, .host)
        XCTAssertEqual(WorkloadIdentity.best([]), .unknown)
    }

    func testProcCgroupOfThisHybridHost() {
        let text = """
            9:name=systemd:/
            8:pids:/
            6:freezer:/slurm_debian/uid_1000/job_77/step_batch
            4:memory:/process_api/4467d60db4c2a43d8486eda9baacb7bc
            3:cpuset:/slurm_debian/uid_1000/job_77/step_batch
            2:cpuacct:/
            1:cpu:/
            0::/
            """
        let cgroups = ProcessCgroups.parse(text)
        XCTAssertEqual(cgroups.cpu, "/")
        XCTAssertEqual(cgroups.unified, "/")
        XCTAssertEqual(cgroups.v1.count, 6)
        XCTAssertEqual(cgroups.otherPaths.first, "/slurm_debian/uid_1000/job_77/step_batch", "freezer and cpuset first")
        let w = WorkloadIdentity.classify(cgroups: cgroups, userName: users)
        XCTAssertEqual(w.kind, .slurmJob, "Slurm v1: the cpu hierarchy says nothing, freezer says the job")
        XCTAssertEqual(w.name, "job 77")
        XCTAssertEqual(w.user, "alice")

        // Without Slurm, the memory-only cgroup does not make a workload: the host.
        let plain = ProcessCgroups.parse(text.replacingOccurrences(of: "/slurm_debian/uid_1000/job_77/step_batch", with: "/"))
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: plain).kind, .host)
    }

    func testProcCgroupLayouts() {
        let v2 = ProcessCgroups.parse("0::/system.slice/slurmstepd.scope/job_9/step_0/user/task_0\n")
        XCTAssertNil(v2.cpu)
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: v2).name, "job 9")

        let combined = ProcessCgroups.parse("5:cpu,cpuacct:/system.slice/nginx.service\n3:cpuset:/\n1:name=systemd:/system.slice/nginx.service\n")
        XCTAssertEqual(combined.cpu, "/system.slice/nginx.service")
        XCTAssertEqual(combined.v1.map(\.controllers), [["cpuset"], ["name=systemd"]])
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: combined).name, "nginx.service")

        // The cpu hierarchy's cgroup wins over the default hierarchy's of the same rank.
        let both = ProcessCgroups.parse("1:cpu:/mygroup\n0::/othergroup\n")
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: both).name, "/mygroup")
        // The default hierarchy names the unit when the v1 cpu one is the root (hybrid systemd).
        let hybrid = ProcessCgroups.parse("1:cpu:/\n0::/user.slice/user-1000.slice/session-2.scope\n")
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: hybrid, userName: users).name, "alice")

        XCTAssertEqual(ProcessCgroups.parse("0::/gone (deleted)\n").unified, "/gone")
        XCTAssertEqual(ProcessCgroups.parse("garbage\n\n"), ProcessCgroups())
    }

    func testEnvironmentFallback() {
        let environ = Array("PATH=/bin\u{0}SLURM_JOB_ID=4321\u{0}SLURM_STEP_ID=2\u{0}SLURM_LOCALID=1\u{0}SLURM_JOB_UID=1000\u{0}X=a=b\u{0}".utf8)
        let env = WorkloadIdentity.environment(fromEnviron: environ, prefix: "SLURM_")
        XCTAssertEqual(env, ["SLURM_JOB_ID": "4321", "SLURM_STEP_ID": "2", "SLURM_LOCALID": "1", "SLURM_JOB_UID": "1000"])
        XCTAssertEqual(WorkloadIdentity.environment(fromEnviron: environ)["X"], "a=b")

        let job = try! XCTUnwrap(WorkloadIdentity.slurmJob(environment: env, userName: users))
        XCTAssertEqual(job.kind, .slurmJob)
        XCTAssertEqual(job.name, "job 4321")
        XCTAssertEqual(job.slurmStep, "2")
        XCTAssertEqual(job.slurmTask, "1")
        XCTAssertEqual(job.user, "alice")
        XCTAssertNil(job.cgroupPath)
        XCTAssertEqual(WorkloadIdentity.slurmJob(environment: ["SLURM_JOBID": "12"])?.name, "job 12", "the old name")
        XCTAssertNil(WorkloadIdentity.slurmJob(environment: ["SLURM_JOB_ID": "x"]))
        XCTAssertNil(WorkloadIdentity.slurmJob(environment: [:]))

        let root = ProcessCgroups.parse("1:cpu:/\n0::/\n")
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: root, environment: env).name, "job 4321")
        let container = ProcessCgroups.parse("1:cpu:/docker/\(id)\n0::/\n")
        XCTAssertEqual(WorkloadIdentity.classify(cgroups: container, environment: env).kind, .docker,
                       "an inherited environment does not outrank the cgroup")
    }

    // MARK: Columns and keys

    func testColumnsAndTheUnknownBucket() {
        XCTAssertEqual(WorkloadIdentity.columnNames, ["workload_kind", "workload", "container_id", "pod_uid", "unit", "slurm_job_id", "user"])
        XCTAssertEqual(WorkloadIdentity.unknown.columnValues, ["unknown", "unknown", nil, nil, nil, nil, nil])
        XCTAssertEqual(WorkloadIdentity.host.columnValues, ["host", "host", nil, nil, nil, nil, nil])
        let c = classify("/kubepods/burstable/pod\(uid)/\(id)")
        XCTAssertEqual(c.columnValues, ["container", "pod 1b2c3d4e/3f2a9c1b7d4e", id, uid, nil, nil, nil])
        XCTAssertEqual(classify("/slurm/uid_1000/job_5/step_0").key.description, "slurm-job job 5")
        XCTAssertEqual(Set(WorkloadKind.allCases.map(\.rawValue)).count, WorkloadKind.allCases.count)
    }

    // MARK: Cost

    /// Not a bound: prints what classifying 10,000 distinct paths costs, of every layout.
    func testClassifyTenThousandDistinctPaths() {
        var paths: [String] = []
        for i in 0..<10_000 {
            let hex = String(format: "%064x", i &* 2_654_435_761)
            let podUID = String(format: "%08x-1111-2222-3333-%012x", i, i)
            switch i % 8 {
            case 0: paths.append("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(podUID.replacingOccurrences(of: "-", with: "_")).slice/cri-containerd-\(hex).scope")
            case 1: paths.append("/kubepods/besteffort/pod\(podUID)/\(hex)")
            case 2: paths.append("/system.slice/docker-\(hex).scope")
            case 3: paths.append("/system.slice/unit-\(i).service")
            case 4: paths.append("/user.slice/user-\(1000 + i).slice/session-\(i).scope")
            case 5: paths.append("/slurm_node/uid_1000/job_\(i)/step_0/task_\(i % 4)")
            case 6: paths.append("/system.slice/slurmstepd.scope/job_\(i)/step_batch/user/task_0")
            default: paths.append("/custom/group-\(i)/sub")
            }
        }
        XCTAssertEqual(Set(paths).count, 10_000)
        var kinds: [WorkloadKind: Int] = [:]
        let start = DispatchTime.now().uptimeNanoseconds
        for p in paths { kinds[WorkloadIdentity.classify(path: p).kind, default: 0] += 1 }
        let elapsedNs = DispatchTime.now().uptimeNanoseconds - start
        XCTAssertEqual(kinds[.container], 2500)
        print("classify: 10000 distinct cgroup paths in \(formatFixed(Double(elapsedNs) / 1e6, decimals: 2)) ms (\(elapsedNs / 10_000) ns per path)")
    }
}
