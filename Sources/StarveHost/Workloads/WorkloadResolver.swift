import StarveModel
import Foundation
import Glibc

/// Turns the cgroup ids the collector records (the cpu controller's and the default hierarchy's)
/// into workloads, lazily: an id is resolved to a path by `CgroupPathResolver` (which walks a
/// hierarchy at most once a second), the path is classified by `WorkloadIdentity.classify`, and
/// containers get their names from their runtime's files. docs/workloads.md has the rules.
///
/// Identities are cached by (hierarchy, cgroup id), checked against the id's current path on
/// every lookup: an id the path resolver now finds at another path is resolved again (a removed
/// cgroup's id can come back; on 64-bit kernels kernfs hands ids out cyclically so it is rare,
/// but nothing here relies on that). An id whose cgroup is gone keeps the identity it had, so
/// samples and events that arrive after a container stopped still name it; the last
/// `vanishedCapacity` such cgroups are kept. Ids that cannot be resolved all get
/// `WorkloadIdentity.unknown`, one bucket, and are not cached (a cgroup made less than a second
/// after the last walk is found by a later lookup).
///
/// Not thread-safe: one resolver per reader, like `CgroupPathResolver`.
public final class WorkloadResolver {
    /// Where container runtimes keep the files names come from, below `runtimeRoot`.
    public enum RuntimeFiles {
        /// containerd's task bundle for a Kubernetes container (namespace `k8s.io`): an OCI spec.
        public static func containerdSpec(_ id: String) -> String { "/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(id)/config.json" }
        /// CRI-O's (and Podman's) per-container OCI spec.
        public static func crioSpec(_ id: String) -> String { "/run/containers/storage/overlay-containers/\(id)/userdata/config.json" }
        /// Docker's container configuration (`Name`, `Config.Labels`).
        public static func dockerConfig(_ id: String) -> String { "/var/lib/docker/containers/\(id)/config.v2.json" }
        /// containers/storage's container lists (rootful Podman): the graph root's, and the run
        /// root's volatile one (`--rm` containers with a transient store).
        public static let storageLists = [
            "/var/lib/containers/storage/overlay-containers/containers.json",
            "/var/lib/containers/storage/overlay-containers/volatile-containers.json",
            "/run/containers/storage/overlay-containers/volatile-containers.json",
        ]
    }

    /// What the resolver did so far; for tests and cost figures.
    public struct Statistics: Sendable, Equatable {
        /// Cgroup paths classified (each new (hierarchy, id, path) once).
        public var classifications = 0
        /// Runtime files read for names (each container id once).
        public var runtimeFileReads = 0
        /// `/proc/<pid>` files read for the per-process fallback.
        public var processFileReads = 0
    }

    /// The hierarchy with the cpu controller (v1 `cpu`, or cgroup2), whose ids the collector's
    /// `cpu_cgroup_id` holds.
    public let cpuHierarchy: CgroupHierarchy?
    /// The cgroup2 hierarchy (`dfl_cgroup_id`); the same as `cpuHierarchy` on pure v2 hosts.
    public let defaultHierarchy: CgroupHierarchy?
    /// The directory runtime files are looked up under (`/`; a fixture root in tests).
    public let runtimeRoot: String
    /// Where procfs is (`/proc`; a fixture in tests).
    public let procRoot: String
    /// How many vanished cgroups keep their identity (oldest forgotten first).
    public var vanishedCapacity = 4096
    /// How long a process's fallback identity (from `/proc/<pid>/cgroup` and its environment) is
    /// reused before the files are read again: a process can be moved (Slurm moves its tasks into
    /// the job's cgroups after fork).
    public var processRecheckNs: UInt64 = 10_000_000_000
    /// Counters.
    public private(set) var statistics = Statistics()

    /// A cached identity: the path it was resolved from, and whether the cgroup is gone.
    private struct Entry {
        var path: String
        var identity: WorkloadIdentity
        var vanished = false
    }

    private struct EntryKey: Hashable {
        var slot: Int
        var id: UInt64
    }

    private struct ProcessKey: Hashable {
        var pid: Int32
        var startTimeNs: UInt64
    }

    private let hierarchies: [CgroupHierarchy]
    private let paths: [CgroupPathResolver]
    private let cpuSlot: Int?
    private let defaultSlot: Int?
    private let lookupUser: (UInt32) -> String?
    private let now: () -> UInt64
    private var entries: [EntryKey: Entry] = [:]
    /// Keys marked vanished, oldest first; may hold keys resolved again since (skipped on trim).
    private var vanishedOrder: [EntryKey] = []
    private var records: [String: ContainerRecord?] = [:]
    private var userNames: [UInt32: String?] = [:]
    private var processes: [ProcessKey: (identity: WorkloadIdentity, readNs: UInt64)] = [:]
    private var pruneAt = 8192

    /// A resolver for ids of `cpuHierarchy` and `defaultHierarchy` (either may be nil: its ids
    /// are then unknown). Runtime files are read under `runtimeRoot`, process files under
    /// `procRoot`; `userName` turns uids into names (default: the passwd database); `now` is a
    /// monotonic clock in ns (for the per-process recheck).
    public init(cpuHierarchy: CgroupHierarchy?, defaultHierarchy: CgroupHierarchy?, runtimeRoot: String = "/",
                procRoot: String = "/proc", userName: @escaping (UInt32) -> String? = WorkloadResolver.passwdUserName,
                now: @escaping () -> UInt64 = monotonicNs) {
        self.cpuHierarchy = cpuHierarchy
        self.defaultHierarchy = defaultHierarchy
        self.runtimeRoot = runtimeRoot.hasSuffix("/") ? String(runtimeRoot.dropLast()) : runtimeRoot
        self.procRoot = procRoot
        self.lookupUser = userName
        self.now = now
        var hierarchies: [CgroupHierarchy] = []
        for h in [cpuHierarchy, defaultHierarchy].compactMap({ $0 }) where !hierarchies.contains(h) { hierarchies.append(h) }
        self.hierarchies = hierarchies
        self.paths = hierarchies.map { CgroupPathResolver(hierarchy: $0) }
        self.cpuSlot = cpuHierarchy.flatMap { hierarchies.firstIndex(of: $0) }
        self.defaultSlot = defaultHierarchy.flatMap { hierarchies.firstIndex(of: $0) }
    }

    /// A resolver for this host's hierarchies (`CgroupFS.cpuHierarchy()`, `defaultHierarchy()`).
    public convenience init() {
        self.init(cpuHierarchy: CgroupFS.cpuHierarchy(), defaultHierarchy: CgroupFS.defaultHierarchy())
    }

    // MARK: Lookups

    /// The workload of cgroup `id` of `hierarchy`; `unknown` when the hierarchy is not one of
    /// this resolver's or the id cannot be resolved.
    public func identity(cgroupID id: UInt64, in hierarchy: CgroupHierarchy) -> WorkloadIdentity {
        guard let slot = hierarchies.firstIndex(of: hierarchy) else { return .unknown }
        return identity(cgroupID: id, slot: slot)
    }

    /// The workload of a thread from the collector's two cgroup ids, and, when they name no
    /// container, pod or Slurm job and `pid` is given, from the process's other cgroups and
    /// environment (`/proc/<pid>/cgroup`, `/proc/<pid>/environ`: Slurm's v1 plugins use the
    /// freezer and cpuset hierarchies, not cpu). `pid` is the thread's process (tgid);
    /// `startTimeNs` tells a reused pid from the old process (the collector's `start_time_ns`
    /// will do; threads of one process are then cached apart). The fallback is cached per
    /// (pid, start time) and read again after `processRecheckNs`.
    public func identity(cpuCgroupID: UInt64?, defaultCgroupID: UInt64?, pid: Int32? = nil, startTimeNs: UInt64? = nil) -> WorkloadIdentity {
        var candidates: [WorkloadIdentity] = []
        if let id = cpuCgroupID, let slot = cpuSlot { candidates.append(identity(cgroupID: id, slot: slot)) }
        if let id = defaultCgroupID, let slot = defaultSlot, !(slot == cpuSlot && id == cpuCgroupID) {
            candidates.append(identity(cgroupID: id, slot: slot))
        }
        let fromIDs = WorkloadIdentity.best(candidates)
        guard let pid, fromIDs.kind.specificity < WorkloadKind.container.specificity else { return fromIDs }
        let key = ProcessKey(pid: pid, startTimeNs: startTimeNs ?? 0)
        let t = now()
        let fallback: WorkloadIdentity
        if let cached = processes[key], t &- cached.readNs < processRecheckNs {
            fallback = cached.identity
        } else {
            fallback = identity(pid: pid)
            processes[key] = (fallback, t)
            maybePrune()
        }
        return WorkloadIdentity.best([fromIDs, fallback])
    }

    /// The workload of process `pid` from its files alone, uncached: every hierarchy of
    /// `/proc/<pid>/cgroup` (`WorkloadIdentity.classify(cgroups:)`), then, when that names no
    /// container, pod or Slurm job, `SLURM_JOB_ID` in `/proc/<pid>/environ`. `unknown` when the
    /// process is gone.
    public func identity(pid: Int32) -> WorkloadIdentity {
        statistics.processFileReads += 1
        guard let text = HostFiles.read("\(procRoot)/\(pid)/cgroup") else { return .unknown }
        var w = WorkloadIdentity.classify(cgroups: ProcessCgroups.parse(text), userName: userName)
        if w.kind.specificity < WorkloadKind.container.specificity {
            statistics.processFileReads += 1
            if let environ = HostFiles.read("\(procRoot)/\(pid)/environ"),
               let job = WorkloadIdentity.slurmJob(environment: WorkloadIdentity.environment(fromEnviron: Array(environ.utf8), prefix: "SLURM_"),
                                                   userName: userName) {
                w = WorkloadIdentity.best([w, job])
            }
        }
        return named(w, hierarchy: nil)
    }

    /// Walks every hierarchy now and checks every cached identity against it: an id found at
    /// another path is resolved again at its next lookup, an id no longer found keeps its
    /// identity as a vanished cgroup.
    public func refresh() {
        for p in paths { p.rescan() }
        for (key, entry) in entries {
            // Right after a walk, a miss does not walk again: nil means gone.
            switch paths[key.slot].path(for: key.id) {
            case nil: markVanished(key)
            case let path? where path != entry.path: entries[key] = nil
            default: break
            }
        }
    }

    /// Identities cached, vanished ones included.
    public var cachedCount: Int { entries.count }

    /// Cached identities of cgroups known to be gone.
    public var vanishedCount: Int { entries.values.lazy.filter(\.vanished).count }

    // MARK: Resolving

    private func identity(cgroupID id: UInt64, slot: Int) -> WorkloadIdentity {
        let key = EntryKey(slot: slot, id: id)
        let path = paths[slot].path(for: id)
        if let entry = entries[key] {
            guard let path else {
                markVanished(key)
                return entry.identity
            }
            if path == entry.path { return entry.identity }
        }
        guard let path else { return .unknown }
        let w = resolve(path: path, slot: slot)
        entries[key] = Entry(path: path, identity: w)
        maybePrune()
        return w
    }

    /// Classifies `path` of hierarchy `slot` and fills in names from the runtime's files.
    private func resolve(path: String, slot: Int) -> WorkloadIdentity {
        statistics.classifications += 1
        return named(WorkloadIdentity.classify(path: path, userName: userName), hierarchy: hierarchies[slot])
    }

    /// `w` with its container's names from the runtime's files; a pod's from the first of its
    /// containers (cgroup subdirectories in `hierarchy`) whose files name it.
    private func named(_ w: WorkloadIdentity, hierarchy: CgroupHierarchy?) -> WorkloadIdentity {
        if let id = w.containerID {
            return record(containerID: id, runtime: w.runtime).map(w.applying) ?? w
        }
        guard w.kind == .pod, let hierarchy, let path = w.cgroupPath else { return w }
        for (child, _) in HostFiles.subdirectories(hierarchy.directory(path)) {
            let c = WorkloadIdentity.classify(path: path + "/" + child)
            if c.kind == .container, let id = c.containerID, let r = record(containerID: id, runtime: c.runtime), r.podName != nil {
                return w.applying(r)
            }
        }
        return w
    }

    /// The runtime's record of container `id`, read once per id (a miss too). A bare id (cgroupfs
    /// driver under a pod) may be any CRI runtime's: containerd's, CRI-O's, then Docker's.
    private func record(containerID id: String, runtime: ContainerRuntime?) -> ContainerRecord? {
        if let cached = records[id] { return cached }
        let oci = { self.read(RuntimeFiles.containerdSpec(id)).flatMap(ContainerRecord.fromOCIConfig) }
        let crio = { self.read(RuntimeFiles.crioSpec(id)).flatMap(ContainerRecord.fromOCIConfig) }
        let docker = { self.read(RuntimeFiles.dockerConfig(id)).flatMap(ContainerRecord.fromDockerConfig) }
        let podman = {
            RuntimeFiles.storageLists.lazy.compactMap { self.read($0).flatMap { ContainerRecord.fromStorageContainers($0, id: id) } }.first
        }
        let r: ContainerRecord?
        switch runtime {
        case .containerd: r = oci()
        case .crio: r = crio()
        case .docker: r = docker()
        case .podman: r = podman()
        case nil: r = oci() ?? crio() ?? docker()
        }
        records[id] = .some(r)
        return r
    }

    /// A runtime file's bytes, below `runtimeRoot`.
    private func read(_ path: String) -> Data? {
        statistics.runtimeFileReads += 1
        return FileManager.default.contents(atPath: runtimeRoot + path)
    }

    /// A uid's user name, looked up once per uid.
    private func userName(_ uid: UInt32) -> String? {
        if let cached = userNames[uid] { return cached }
        let name = lookupUser(uid)
        userNames[uid] = .some(name)
        return name
    }

    // MARK: Vanished cgroups and bounds

    private func markVanished(_ key: EntryKey) {
        guard let entry = entries[key], !entry.vanished else { return }
        entries[key]?.vanished = true
        vanishedOrder.append(key)
        if vanishedOrder.count > vanishedCapacity { trimVanished() }
    }

    /// Forgets the oldest vanished cgroups beyond `vanishedCapacity` (down to 3/4 of it, so the
    /// work is done once per many removals).
    private func trimVanished() {
        vanishedOrder.removeAll { entries[$0]?.vanished != true }
        guard vanishedOrder.count > vanishedCapacity else { return }
        let drop = vanishedOrder.count - vanishedCapacity * 3 / 4
        for key in vanishedOrder.prefix(drop) { entries[key] = nil }
        vanishedOrder.removeFirst(drop)
    }

    /// Prunes when the caches have doubled since the last time.
    private func maybePrune() {
        if entries.count + processes.count >= pruneAt { prune() }
    }

    /// Checks the cache against the hierarchies without walking them: a cgroup whose directory no
    /// longer has the cached inode (removed, or its id reused) becomes vanished; the oldest
    /// vanished beyond `vanishedCapacity`, process fallbacks due for a re-read and runtime records
    /// no identity refers to are dropped. Runs by itself whenever the caches have doubled.
    public func prune() {
        for (key, entry) in entries where !entry.vanished {
            if HostFiles.inode(hierarchies[key.slot].directory(entry.path)) != key.id { markVanished(key) }
        }
        trimVanished()
        let t = now()
        processes = processes.filter { t &- $0.value.readNs < processRecheckNs }
        let referenced = Set(entries.values.compactMap(\.identity.containerID))
        records = records.filter { referenced.contains($0.key) }
        pruneAt = max(8192, (entries.count + processes.count) * 2)
    }

    // MARK: Users

    /// The name of user `uid` in the passwd database (getpwuid_r), or nil.
    public static func passwdUserName(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        return buffer.withUnsafeMutableBufferPointer { buf -> String? in
            guard let base = buf.baseAddress, getpwuid_r(uid, &pwd, base, buf.count, &result) == 0, result != nil, let name = pwd.pw_name else { return nil }
            return String(cString: name)
        }
    }
}
