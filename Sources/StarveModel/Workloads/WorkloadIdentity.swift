// Workload identity from cgroup paths: pure functions on strings and values, no file or syscall
// access (names from runtime files and users arrive as values or closures), so this file can move
// to a model target as it is. The rules are in docs/workloads.md.

/// What kind of workload a cgroup or thread belongs to: the `workload_kind` column.
public enum WorkloadKind: String, Sendable, Hashable, CaseIterable {
    /// A Kubernetes pod's own cgroup, above its containers.
    case pod
    /// A container of a Kubernetes pod, or a CRI container (containerd, CRI-O) outside any pod.
    case container
    /// A Docker container outside Kubernetes.
    case docker
    /// A Podman container.
    case podman
    /// A systemd service; also socket, mount and swap units, which run processes the same way.
    case service
    /// A systemd scope (processes started elsewhere and handed to systemd: `systemd-run --scope`).
    case scope
    /// A systemd slice with no known unit below it.
    case slice
    /// A login user's cgroups (`user-<uid>.slice`): sessions, the user manager and its apps.
    case user
    /// A Slurm job, whichever step or task of it (the step and task are ids, not kinds).
    case slurmJob = "slurm-job"
    /// Any other cgroup, named by its path.
    case cgroup
    /// The root cgroup.
    case host
    /// A cgroup id that could not be resolved: one shared bucket.
    case unknown

    /// How much the kind says about who runs there, to choose among the cgroups of one thread in
    /// several hierarchies: a container or a Slurm job (4) over a user (3) over a service or
    /// scope (2) over a slice or an unrecognised cgroup (1) over the root (0) over unknown (-1).
    public var specificity: Int {
        switch self {
        case .pod, .container, .docker, .podman, .slurmJob: return 4
        case .user: return 3
        case .service, .scope: return 2
        case .slice, .cgroup: return 1
        case .host: return 0
        case .unknown: return -1
        }
    }
}

/// The container runtime whose cgroup naming a container's cgroup follows.
public enum ContainerRuntime: String, Sendable, Hashable, CaseIterable {
    /// containerd's CRI plugin (`cri-containerd-<id>.scope`).
    case containerd
    /// CRI-O (`crio-<id>.scope`, `crio-<id>`).
    case crio = "cri-o"
    /// Docker (`docker-<id>.scope`, `/docker/<id>`).
    case docker
    /// Podman (`libpod-<id>.scope`, `libpod-<id>`).
    case podman
}

/// The names a container runtime keeps for one container in its own files (an OCI `config.json`'s
/// annotations, Docker's `config.v2.json`, containers/storage's `containers.json`). Every field
/// is optional: runtimes record different subsets.
public struct ContainerRecord: Sendable, Hashable {
    /// The container's name: the Kubernetes container name, or the Docker/Podman name.
    public var containerName: String?
    /// The pod's namespace, for a container of a Kubernetes pod.
    public var podNamespace: String?
    /// The pod's name.
    public var podName: String?
    /// The pod's uid.
    public var podUID: String?
    /// Whether this is the pod's sandbox (pause) container rather than one of its containers.
    public var isSandbox: Bool

    /// A record.
    public init(containerName: String? = nil, podNamespace: String? = nil, podName: String? = nil,
                podUID: String? = nil, isSandbox: Bool = false) {
        self.containerName = containerName
        self.podNamespace = podNamespace
        self.podName = podName
        self.podUID = podUID
        self.isSandbox = isSandbox
    }
}

/// Who a cgroup (or a thread) belongs to: a kind, a stable low-cardinality name (the `workload`
/// column: one series per workload, never per task or per cgroup id), and the ids behind it.
public struct WorkloadIdentity: Sendable, Hashable {
    /// What kind of workload.
    public private(set) var kind: WorkloadKind
    /// Its name, from the kind and the ids (`default/web/nginx`, `job 1234`, `nginx.service`).
    public private(set) var name: String
    /// The cgroup path it was recognised in (relative to its hierarchy's mount); nil when it
    /// came from a process's environment, or is unknown.
    public private(set) var cgroupPath: String?
    /// The full container id (64 hex digits), for containers.
    public private(set) var containerID: String?
    /// The runtime whose naming the container's cgroup follows; nil for a bare id under a pod.
    public private(set) var runtime: ContainerRuntime?
    /// The container's name from its runtime's files (`POD` for a pod's sandbox).
    public private(set) var containerName: String?
    /// The pod's uid (with dashes, as Kubernetes writes it), for pods and their containers.
    public private(set) var podUID: String?
    /// The pod's namespace, from the runtime's files.
    public private(set) var podNamespace: String?
    /// The pod's name, from the runtime's files.
    public private(set) var podName: String?
    /// The innermost systemd unit, unescaped (`getty@tty1.service`, `session-3.scope`).
    public private(set) var unit: String?
    /// The Slurm job id.
    public private(set) var slurmJobID: String?
    /// The Slurm step: a number, `batch`, `extern` or `interactive`.
    public private(set) var slurmStep: String?
    /// The Slurm task (node-local task id).
    public private(set) var slurmTask: String?
    /// The user id, for a user's cgroups and Slurm jobs when the path or environment says.
    public private(set) var uid: UInt32?
    /// The user's name, when the lookup knew the uid.
    public private(set) var user: String?

    /// An identity of `kind` with the given ids; the name follows from them.
    public init(kind: WorkloadKind, cgroupPath: String? = nil, containerID: String? = nil, runtime: ContainerRuntime? = nil,
                containerName: String? = nil, podUID: String? = nil, podNamespace: String? = nil, podName: String? = nil,
                unit: String? = nil, slurmJobID: String? = nil, slurmStep: String? = nil, slurmTask: String? = nil,
                uid: UInt32? = nil, user: String? = nil) {
        self.kind = kind
        self.name = ""
        self.cgroupPath = cgroupPath
        self.containerID = containerID
        self.runtime = runtime
        self.containerName = containerName
        self.podUID = podUID
        self.podNamespace = podNamespace
        self.podName = podName
        self.unit = unit
        self.slurmJobID = slurmJobID
        self.slurmStep = slurmStep
        self.slurmTask = slurmTask
        self.uid = uid
        self.user = user
        self.name = Self.name(of: self)
    }

    /// The one identity every unresolvable cgroup id shares.
    public static let unknown = WorkloadIdentity(kind: .unknown)
    /// The root cgroup.
    public static let host = WorkloadIdentity(kind: .host, cgroupPath: "/")

    /// What to aggregate by: kind and name (the ids and the path may differ within one workload,
    /// e.g. the steps of one Slurm job).
    public var key: WorkloadKey { WorkloadKey(kind: kind, name: name) }
}

/// A workload as a series key: two identities with the same key are one workload.
public struct WorkloadKey: Sendable, Hashable, CustomStringConvertible {
    /// Its kind.
    public var kind: WorkloadKind
    /// Its name.
    public var name: String

    /// The key of workload `name` of kind `kind`.
    public init(kind: WorkloadKind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// `kind name`, for messages.
    public var description: String { "\(kind.rawValue) \(name)" }

    /// `kind name`, or the name alone when it says the kind (`host`, `unknown`).
    public var label: String { name == kind.rawValue ? name : description }
}

// MARK: - Names

extension WorkloadIdentity {
    /// How tables and sentences name it: its kind and name (`pod default/web`,
    /// `service nginx.service`, `cgroup /batch`), or just `host` / `unknown`.
    public var label: String { key.label }

    /// The short form of a container id: its first 12 characters, as docker and crictl print it.
    public static func shortContainerID(_ id: String) -> String { String(id.prefix(12)) }

    /// The short form of a pod uid: its first 8 characters.
    public static func shortPodUID(_ uid: String) -> String { String(uid.prefix(8)) }

    /// The name an identity's fields give it (see docs/workloads.md, "Names").
    static func name(of w: WorkloadIdentity) -> String {
        switch w.kind {
        case .pod:
            return podLabel(w)
        case .container:
            let inner = w.containerName ?? w.containerID.map(shortContainerID) ?? "?"
            return w.podUID == nil && w.podName == nil ? inner : podLabel(w) + "/" + inner
        case .docker, .podman:
            return w.containerName ?? w.containerID.map(shortContainerID) ?? "?"
        case .service, .scope, .slice:
            return w.unit ?? w.cgroupPath ?? "?"
        case .user:
            return w.user ?? w.uid.map { "uid \($0)" } ?? w.unit ?? "?"
        case .slurmJob:
            return "job " + (w.slurmJobID ?? "?")
        case .cgroup:
            return w.cgroupPath ?? "?"
        case .host:
            return "host"
        case .unknown:
            return "unknown"
        }
    }

    /// `namespace/name` when the runtime's files said, else `pod <uid-short>`.
    private static func podLabel(_ w: WorkloadIdentity) -> String {
        if let ns = w.podNamespace, let name = w.podName { return ns + "/" + name }
        return "pod " + (w.podUID.map(shortPodUID) ?? "?")
    }

    /// The identity with the names of a runtime record filled in (ids the path already gave are
    /// kept; the record fills what the path cannot say). A sandbox container is named `POD`.
    public func applying(_ record: ContainerRecord) -> WorkloadIdentity {
        var w = self
        if w.kind != .pod {
            w.containerName = record.isSandbox ? "POD" : record.containerName ?? w.containerName
        }
        w.podNamespace = record.podNamespace ?? w.podNamespace
        w.podName = record.podName ?? w.podName
        if w.podUID == nil { w.podUID = record.podUID }
        w.name = Self.name(of: w)
        return w
    }
}

// MARK: - Output columns

extension WorkloadIdentity {
    /// The CSV/JSON columns every output gains, in order.
    public static let columnNames = ["workload_kind", "workload", "container_id", "pod_uid", "unit", "slurm_job_id", "user"]

    /// The values of `columnNames`: nil where an id does not apply (empty CSV field, JSON null).
    /// `user` is the user's name, else the uid.
    public var columnValues: [String?] {
        [kind.rawValue, name, containerID, podUID, unit, slurmJobID, user ?? uid.map { String($0) }]
    }
}

// MARK: - Classifying a path

extension WorkloadIdentity {
    /// The workload cgroup `path` (relative to its hierarchy's mount, v1 or v2) belongs to, from
    /// the path alone. `userName` turns a uid into a user name (nil: unknown user).
    ///
    /// The innermost element that means something wins, with these boundaries: a container or a
    /// Slurm job owns everything below it (systemd inside a container is still the container; a
    /// Slurm step and task only fill ids); a pod owns everything below it but its containers; a
    /// user slice owns everything below it but containers; a service or scope owns unrecognised
    /// cgroups below it (delegation); below a slice, an unrecognised cgroup is just a cgroup.
    public static func classify(path: String, userName: (UInt32) -> String? = { _ in nil }) -> WorkloadIdentity {
        let elements = path.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
        guard !elements.isEmpty else { return .host }
        let normalized = PathGrammar.isNormalized(path) ? path : "/" + elements.joined(separator: "/")
        var w = WorkloadIdentity(kind: .cgroup, cgroupPath: normalized)
        var place = Place.open
        var inKubepods = false, inSlurm = false, afterDocker = false

        for element in elements {
            let previousWasDocker = afterDocker
            afterDocker = false
            switch place {
            case .container:
                continue
            case .slurmJob:
                if let step = PathGrammar.suffix(element, after: "step_") { w.slurmStep = step }
                else if let task = PathGrammar.suffix(element, after: "task_") { w.slurmTask = task }
                continue
            case .open, .unit, .user, .pod:
                break
            }
            let unit = PathGrammar.systemdUnit(element)
            if let unit { w.unit = unit.name }

            if place == .pod {
                // Below a pod: its containers (any runtime's naming, or a bare id with cgroupfs).
                let bare = PathGrammar.containerID(element).map { (runtime: ContainerRuntime?.none, id: $0) }
                if let c = PathGrammar.container(element) ?? bare {
                    w.kind = .container
                    w.containerID = c.id
                    w.runtime = c.runtime
                    place = .container
                }
                continue
            }
            // A container by its runtime's naming, or a bare id below cgroupfs Docker's `/docker`.
            let dockerChild = previousWasDocker ? PathGrammar.containerID(element).map { (runtime: Optional(ContainerRuntime.docker), id: $0) } : nil
            if let c = PathGrammar.container(element) ?? dockerChild {
                w.kind = kind(of: c.runtime)
                w.containerID = c.id
                w.runtime = c.runtime
                place = .container
                continue
            }
            if let uid = PathGrammar.podUIDFromSlice(element) ?? (inKubepods ? PathGrammar.podUIDFromDirectory(element) : nil) {
                w.kind = .pod
                w.podUID = uid
                place = .pod
                continue
            }
            if inSlurm {
                if let uid = PathGrammar.suffix(element, after: "uid_").flatMap({ UInt32($0) }) {
                    w.uid = uid
                    continue
                }
                if let job = PathGrammar.suffix(element, after: "job_"), PathGrammar.isDigits(job) {
                    w.kind = .slurmJob
                    w.slurmJobID = job
                    place = .slurmJob
                    continue
                }
            }
            if PathGrammar.isKubepods(element) { inKubepods = true }
            if PathGrammar.isSlurmRoot(element) { inSlurm = true }
            if element == "docker" { afterDocker = true }

            if let unit {
                if let uid = PathGrammar.userUID(unit: unit.name), place != .user {
                    w.kind = .user
                    w.uid = uid
                    place = .user
                } else if place != .user {
                    w.kind = unit.kind
                    place = unit.kind == .slice ? .open : .unit
                }
            } else if place == .open {
                // Unrecognised: owned by a user slice, service or scope above it; else the
                // workload is this cgroup, by its path.
                w.kind = .cgroup
            }
        }
        if let uid = w.uid { w.user = userName(uid) }
        w.name = name(of: w)
        return w
    }

    /// Where the elements read so far put the classifier.
    private enum Place {
        /// Nothing that owns what comes below (root, slices, unrecognised cgroups).
        case open
        /// Inside a service or scope: unrecognised elements below belong to it.
        case unit
        /// Inside a user slice: everything below is the user's, but containers.
        case user
        /// Inside a pod: the next element is its container.
        case pod
        /// Inside a container: everything below is the container's.
        case container
        /// Inside a Slurm job: steps and tasks fill ids.
        case slurmJob
    }

    /// The kind of a container outside any pod, by its runtime.
    private static func kind(of runtime: ContainerRuntime?) -> WorkloadKind {
        switch runtime {
        case .docker: return .docker
        case .podman: return .podman
        case .containerd, .crio, nil: return .container
        }
    }
}

// MARK: - Several hierarchies, one thread

extension WorkloadIdentity {
    /// The identity that says most among `candidates`, given in order of preference (the cpu
    /// hierarchy's, the default hierarchy's, other v1 hierarchies', the environment's): the
    /// highest `specificity`, the first of equals. `unknown` when there are none.
    public static func best(_ candidates: [WorkloadIdentity]) -> WorkloadIdentity {
        var best = WorkloadIdentity.unknown
        for c in candidates where c.kind.specificity > best.kind.specificity {
            best = c
        }
        return best
    }

    /// The workload of a process from all its cgroups (`/proc/<pid>/cgroup`) and, as the last
    /// resort, its environment (`SLURM_JOB_ID`): the cpu hierarchy's cgroup first, then the
    /// default hierarchy's, then the other v1 hierarchies' (which count only when they name a
    /// workload: a memory-only cgroup says nothing about who uses the CPU; Slurm's v1 plugins
    /// use freezer and cpuset, not cpu), then the environment.
    public static func classify(cgroups: ProcessCgroups, environment: [String: String] = [:],
                                userName: (UInt32) -> String? = { _ in nil }) -> WorkloadIdentity {
        var candidates: [WorkloadIdentity] = []
        if let p = cgroups.cpu { candidates.append(classify(path: p, userName: userName)) }
        if let p = cgroups.unified { candidates.append(classify(path: p, userName: userName)) }
        for p in cgroups.otherPaths {
            let w = classify(path: p, userName: userName)
            if w.kind.specificity >= WorkloadKind.service.specificity { candidates.append(w) }
        }
        if let w = slurmJob(environment: environment, userName: userName) { candidates.append(w) }
        return best(candidates)
    }

    /// The Slurm job a process's environment names (`SLURM_JOB_ID`, older `SLURM_JOBID`), with
    /// its step (`SLURM_STEP_ID`), node-local task (`SLURM_LOCALID`) and user (`SLURM_JOB_UID`,
    /// `SLURM_JOB_USER`); nil when there is no job id. The environment is inherited, so this is
    /// a fallback only: a cgroup that names a workload is preferred over it.
    public static func slurmJob(environment env: [String: String], userName: (UInt32) -> String? = { _ in nil }) -> WorkloadIdentity? {
        guard let job = env["SLURM_JOB_ID"] ?? env["SLURM_JOBID"], PathGrammar.isDigits(Substring(job)) else { return nil }
        let uid = (env["SLURM_JOB_UID"]).flatMap { UInt32($0) }
        return WorkloadIdentity(kind: .slurmJob, slurmJobID: job, slurmStep: env["SLURM_STEP_ID"] ?? env["SLURM_STEPID"],
                                slurmTask: env["SLURM_LOCALID"], uid: uid,
                                user: env["SLURM_JOB_USER"] ?? uid.flatMap(userName))
    }

    /// The variables of a `/proc/<pid>/environ` text (NUL-separated `KEY=value`) whose names
    /// start with `prefix` (all of them with the empty prefix).
    public static func environment(fromEnviron bytes: [UInt8], prefix: String = "") -> [String: String] {
        var env: [String: String] = [:]
        let prefixBytes = Array(prefix.utf8)
        for entry in bytes.split(separator: 0) where entry.starts(with: prefixBytes) {
            guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
            env[String(decoding: entry[entry.startIndex..<eq], as: UTF8.self)] = String(decoding: entry[(eq + 1)...], as: UTF8.self)
        }
        return env
    }
}

/// A process's cgroups in every hierarchy, from `/proc/<pid>/cgroup`: lines
/// `hierarchy-id:controllers:path`, v1 hierarchies with their controllers (`4:cpu,cpuacct:/x`,
/// `9:name=systemd:/x`), the cgroup2 one as `0::/x`.
public struct ProcessCgroups: Sendable, Hashable {
    /// One v1 hierarchy's line.
    public struct V1Membership: Sendable, Hashable {
        /// Its controllers (`cpu`, `cpuacct`; `name=systemd` for a named hierarchy).
        public var controllers: [String]
        /// The process's cgroup in it.
        public var path: String
    }

    /// The cgroup in the hierarchy with the cpu controller: v1 `cpu`, else (pure v2) nil, and
    /// the cgroup2 path is the cpu one.
    public var cpu: String?
    /// The cgroup in the cgroup2 (default) hierarchy.
    public var unified: String?
    /// The other v1 hierarchies, in the order of the file.
    public var v1: [V1Membership]

    /// Memberships as read.
    public init(cpu: String? = nil, unified: String? = nil, v1: [V1Membership] = []) {
        self.cpu = cpu
        self.unified = unified
        self.v1 = v1
    }

    /// The other v1 hierarchies' paths, Slurm's first (freezer, cpuset), then the others.
    public var otherPaths: [String] {
        let slurmFirst = v1.filter { $0.controllers.contains("freezer") || $0.controllers.contains("cpuset") }
        let rest = v1.filter { !($0.controllers.contains("freezer") || $0.controllers.contains("cpuset")) }
        return (slurmFirst + rest).map(\.path)
    }

    /// Parses a `/proc/<pid>/cgroup` text. A path the kernel marks ` (deleted)` loses the mark.
    public static func parse(_ text: String) -> ProcessCgroups {
        var result = ProcessCgroups()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            var path = String(fields[2])
            if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
            if fields[0] == "0" && fields[1].isEmpty {
                result.unified = path
                continue
            }
            let controllers = fields[1].split(separator: ",").map(String.init)
            if controllers.contains("cpu") { result.cpu = path } else { result.v1.append(V1Membership(controllers: controllers, path: path)) }
        }
        return result
    }
}

// MARK: - Path elements

/// The grammar of one cgroup path element: how runtimes, kubelet, systemd and Slurm name their
/// cgroups. Small pure matchers on ASCII, no regular expressions (the classifier runs per new
/// cgroup, thousands at a time after a rescan).
enum PathGrammar {
    /// Container cgroup names, by runtime: `<prefix><id>[.scope]`. The conmon scopes of CRI-O and
    /// Podman (the runtime's per-container monitor) count as their container.
    private static let containerPrefixes: [(prefix: String, runtime: ContainerRuntime)] = [
        ("cri-containerd-", .containerd), ("crio-conmon-", .crio), ("crio-", .crio),
        ("docker-", .docker), ("libpod-conmon-", .podman), ("libpod-", .podman),
    ]

    /// The runtime and id of a container element (`cri-containerd-<id>.scope`, `crio-<id>.scope`,
    /// `crio-<id>`, `docker-<id>.scope`, `libpod-<id>.scope`, `libpod-<id>`).
    static func container(_ element: Substring) -> (runtime: ContainerRuntime?, id: String)? {
        let base = element.hasASCIISuffix(".scope") ? element.droppingASCII(last: 6) : element
        for (prefix, runtime) in containerPrefixes where base.hasASCIIPrefix(prefix) {
            if let id = containerID(base.droppingASCII(first: prefix.utf8.count)) { return (runtime, id) }
        }
        return nil
    }

    /// A bare container id: at least 12 lowercase hex digits (runtimes use 64).
    static func containerID(_ s: Substring) -> String? {
        s.utf8.count >= 12 && s.utf8.allSatisfy(isLowerHex) ? String(s) : nil
    }

    /// The pod uid in a systemd-driver pod slice: `kubepods[-<qos>]-pod<uid>.slice` (any prefix
    /// with `kubepods`, e.g. kind's `kubelet-kubepods-…`), where the uid's dashes are underscores.
    static func podUIDFromSlice(_ element: Substring) -> String? {
        guard element.hasASCIISuffix(".slice"), isKubepods(element),
              let last = element.droppingASCII(last: 6).utf8.split(separator: UInt8(ascii: "-")).last,
              last.starts(with: "pod".utf8) else { return nil }
        return podUID(String(decoding: last.dropFirst(3).map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }, as: UTF8.self))
    }

    /// The pod uid in a cgroupfs-driver pod directory: `pod<uid>`.
    static func podUIDFromDirectory(_ element: Substring) -> String? {
        element.hasASCIIPrefix("pod") ? podUID(String(element.droppingASCII(first: 3))) : nil
    }

    /// A pod uid: hex digits and dashes (a UUID; static pods use a 32-digit hash), 8 or more.
    private static func podUID(_ s: String) -> String? {
        s.utf8.count >= 8 && s.utf8.allSatisfy({ isLowerHex($0) || $0 == UInt8(ascii: "-") }) ? s : nil
    }

    /// Whether the element is a Kubernetes QoS or root cgroup (`kubepods`, `kubepods.slice`,
    /// `kubepods-burstable.slice`, `kubelet-kubepods.slice`): a pod directory may follow.
    static func isKubepods(_ element: Substring) -> Bool {
        element.hasASCIIPrefix("kubepods") || element.containsASCII("-kubepods")
    }

    /// Whether the element is where Slurm puts its cgroups: v1 `slurm` or `slurm_<node>`, v2
    /// `slurmstepd.scope` or `<node>_slurmstepd.scope`.
    static func isSlurmRoot(_ element: Substring) -> Bool {
        element == "slurm" || element.hasASCIIPrefix("slurm_") || element == "slurmstepd.scope" || element.hasASCIISuffix("_slurmstepd.scope")
    }

    /// What follows `prefix` (`job_1234` after `job_` is `1234`), when there is something.
    static func suffix(_ element: Substring, after prefix: String) -> String? {
        element.hasASCIIPrefix(prefix) && element.utf8.count > prefix.utf8.count ? String(element.droppingASCII(first: prefix.utf8.count)) : nil
    }

    /// The uid of a user's slice or manager: `user-<uid>.slice`, `user@<uid>.service`.
    static func userUID(unit: String) -> UInt32? {
        let u = Substring(unit)
        if u.hasASCIIPrefix("user-") && u.hasASCIISuffix(".slice") { return UInt32(u.droppingASCII(first: 5, last: 6)) }
        if u.hasASCIIPrefix("user@") && u.hasASCIISuffix(".service") { return UInt32(u.droppingASCII(first: 5, last: 8)) }
        return nil
    }

    /// The unit types that have cgroups, and the kind each makes.
    private static let unitSuffixes: [(suffix: String, kind: WorkloadKind)] = [
        (".service", .service), (".scope", .scope), (".slice", .slice), (".socket", .service), (".mount", .service), (".swap", .service),
    ]

    /// A systemd unit element: its unescaped name and the kind it makes (`.service`, `.socket`,
    /// `.mount`, `.swap`: service; `.scope`: scope; `.slice`: slice).
    static func systemdUnit(_ element: Substring) -> (name: String, kind: WorkloadKind)? {
        for (suffix, kind) in unitSuffixes where element.hasASCIISuffix(suffix) && element.utf8.count > suffix.utf8.count {
            return (systemdUnescape(element), kind)
        }
        return nil
    }

    /// Undoes systemd's unit-name escaping: `\xNN` is the byte NN (`\x2d` is `-`, `\x20` a
    /// space); bytes that are not valid UTF-8 afterwards become U+FFFD.
    static func systemdUnescape(_ s: Substring) -> String {
        guard s.utf8.contains(UInt8(ascii: "\\")) else { return String(s) }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count, bytes[i + 1] == UInt8(ascii: "x"),
               let hi = hexValue(bytes[i + 2]), let lo = hexValue(bytes[i + 3]) {
                out.append(hi << 4 | lo)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `path` is already in the form classify reports: one leading slash, no empty
    /// elements, no trailing slash (what the kernel and the path resolver give).
    static func isNormalized(_ path: String) -> Bool {
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/"), bytes.last != UInt8(ascii: "/") else { return false }
        var previous: UInt8 = 0
        for b in bytes {
            if b == UInt8(ascii: "/") && previous == b { return false }
            previous = b
        }
        return true
    }

    /// Whether `s` is one or more ASCII digits.
    static func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
    static func isDigits(_ s: String) -> Bool { isDigits(Substring(s)) }

    private static func isLowerHex(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x61...0x66: return b - 0x61 + 10
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }
}

/// Byte-wise matching for the classifier's ASCII patterns: `hasPrefix` and friends on Substring
/// compare Characters (grapheme breaking) and `contains` goes through Foundation, several times
/// slower, and the classifier runs on every new cgroup.
extension Substring {
    /// Whether the UTF-8 bytes start with `prefix`'s.
    func hasASCIIPrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// Whether the UTF-8 bytes end with `suffix`'s.
    func hasASCIISuffix(_ suffix: String) -> Bool {
        let n = suffix.utf8.count
        return utf8.count >= n && utf8.suffix(n).elementsEqual(suffix.utf8)
    }

    /// Whether `needle`'s UTF-8 bytes occur in these.
    func containsASCII(_ needle: String) -> Bool {
        var start = utf8.startIndex
        while start != utf8.endIndex {
            if utf8[start...].starts(with: needle.utf8) { return true }
            start = utf8.index(after: start)
        }
        return needle.isEmpty
    }

    /// The substring without `first` leading and `last` trailing bytes (ASCII patterns only, so
    /// the cuts fall on character boundaries).
    func droppingASCII(first: Int = 0, last: Int = 0) -> Substring {
        Substring(utf8.dropFirst(first).dropLast(last))
    }
}
