// Where a task sits in the scheduler's group hierarchy and where it may run, parsed from the
// text of /proc and cgroupfs files. Reading those files is the caller's job (StarveBPF's
// SchedContextReader); everything here works on strings, so it is testable on fixed inputs.

/// A task's CPU affinity and task-group path: what `CFSShareModel` needs beyond its weight.
public struct TaskSchedContext: Sendable, Hashable {
    /// CPUs the task may run on (`Cpus_allowed_list`).
    public var allowedCPUs: Set<Int>
    /// Task groups from the top level down (cgroups with the cpu controller, or its autogroup).
    public var groupPath: [SchedGroup]

    /// Creates a context.
    public init(allowedCPUs: Set<Int>, groupPath: [SchedGroup] = []) {
        self.allowedCPUs = allowedCPUs
        self.groupPath = groupPath
    }
}

/// A task's autogroup as `/proc/<pid>/autogroup` shows it: `/autogroup-6 nice 0`.
public struct AutogroupEntry: Sendable, Hashable {
    /// Autogroup number (one per session).
    public var id: Int
    /// The autogroup's nice (settable by writing to the file), which sets its weight.
    public var nice: Int

    /// Creates an entry.
    public init(id: Int, nice: Int) {
        self.id = id
        self.nice = nice
    }

    /// The group as the share model sees it.
    public var group: SchedGroup {
        SchedGroup(id: "autogroup:\(id)", weight: NiceWeight.autogroupWeight(nice: nice), kind: .autogroup)
    }
}

/// Where a task's cpu-controller cgroup lives: the v1 `cpu` hierarchy or the unified (v2) one.
public enum CPUCgroupLocation: Sendable, Hashable {
    /// Path inside the v1 hierarchy that has the `cpu` controller (weights in `cpu.shares`).
    case v1(String)
    /// Path inside the cgroup2 hierarchy (weights in `cpu.weight`, where the controller is on).
    case v2(String)
}

/// Mount points of the cgroup hierarchies that can carry CPU weights.
public struct CgroupMounts: Sendable, Hashable {
    /// Mount point of the v1 hierarchy with the `cpu` controller (hybrid/legacy systems).
    public var v1CPU: String?
    /// Mount point of cgroup2.
    public var unified: String?

    /// Creates the mount table.
    public init(v1CPU: String? = nil, unified: String? = nil) {
        self.v1CPU = v1CPU
        self.unified = unified
    }

    /// The mount table of a `/proc/self/mountinfo` text (``CgroupMount/parseMountInfo(_:)``, the
    /// one mount parser): the first `cgroup` mount whose super options hold exactly `cpu`
    /// (`cpuacct`, `cpuset` do not count) and the first `cgroup2` mount.
    public init(mountinfo text: String) {
        let mounts = CgroupFS.parseMountInfo(text)
        self.init(v1CPU: mounts.first { $0.version == .v1 && $0.superOptions.contains("cpu") }?.mountPoint,
                  unified: mounts.first { $0.version == .v2 }?.mountPoint)
    }

    /// Mount paths escape space, tab, newline and backslash as octal (`\040`).
    static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count,
               let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(v)
                i += 4
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Parsers for the /proc and cgroupfs texts behind a `TaskSchedContext`.
public enum SchedContextParser {
    /// Parses a kernel CPU list (`0-3,8,10-11`); nil when malformed.
    public static func cpuList(_ text: String) -> Set<Int>? {
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).first.map(String.init) ?? ""
        guard !trimmed.isEmpty else { return [] }
        var cpus = Set<Int>()
        for item in trimmed.split(separator: ",") {
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let lo = Int(ends[0]), let hi = Int(ends[ends.count - 1]),
                  lo >= 0, lo <= hi, hi - lo < 1 << 16 else { return nil }
            cpus.formUnion(lo...hi)
        }
        return cpus
    }

    /// The `Cpus_allowed_list` of a `/proc/<pid>/task/<tid>/status` text.
    public static func allowedCPUs(status text: String) -> Set<Int>? {
        for line in text.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return cpuList(String(line.dropFirst("Cpus_allowed_list:".count)))
        }
        return nil
    }

    /// Parses `/proc/<pid>/autogroup` (`/autogroup-6 nice 0`). Empty text (the root autogroup:
    /// init, kernel threads) and id 0 mean "no autogroup" and return nil.
    public static func autogroup(_ text: String) -> AutogroupEntry? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard f.count >= 3, f[0].hasPrefix("/autogroup-"), f[1] == "nice",
              let id = Int(f[0].dropFirst("/autogroup-".count)), let nice = Int(f[2]), id > 0 else { return nil }
        return AutogroupEntry(id: id, nice: nice)
    }

    /// The cpu-controller cgroup in a `/proc/<pid>/cgroup` text: the v1 line whose controller
    /// list holds `cpu` (`4:cpu,cpuacct:/a`) when there is one, else the v2 line (`0::/a`).
    public static func cpuCgroup(_ text: String) -> CPUCgroupLocation? {
        var unified: String?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            if f[0] == "0" && f[1].isEmpty {
                unified = String(f[2])
            } else if f[1].split(separator: ",").contains("cpu") {
                return .v1(String(f[2]))
            }
        }
        return unified.map { .v2($0) }
    }

    /// The cgroup levels (from the top down) that are CPU task groups for `location`, with
    /// their weights. `read` returns a cgroupfs file's text (nil when unreadable).
    ///
    /// v1: every level below the root of the `cpu` hierarchy is a group, weight `cpu.shares`.
    /// v2: a level is a group only where its parent's `cgroup.subtree_control` enables `cpu`;
    /// elsewhere its tasks belong to the nearest ancestor that is one; weight `cpu.weight`.
    /// An unreadable weight counts as the default (1024), so a vanished cgroup cannot crash.
    public static func cgroupGroups(_ location: CPUCgroupLocation, mounts: CgroupMounts,
                                    read: (String) -> String?) -> [SchedGroup] {
        let path: String, mount: String?
        switch location {
        case .v1(let p): path = p; mount = mounts.v1CPU
        case .v2(let p): path = p; mount = mounts.unified
        }
        guard let mount else { return [] }
        var groups: [SchedGroup] = []
        var prefix = ""
        for component in path.split(separator: "/") {
            let parent = prefix
            prefix += "/" + component
            switch location {
            case .v1:
                let shares = read(mount + prefix + "/cpu.shares").flatMap { UInt64(trimmed($0)) } ?? NiceWeight.nice0Weight
                groups.append(SchedGroup(id: "cgroup:" + prefix, weight: NiceWeight.groupWeight(cgroupV1Shares: shares), kind: .cgroup))
            case .v2:
                let control = read(mount + parent + "/cgroup.subtree_control") ?? ""
                guard control.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("cpu") else { continue }
                let weight = read(mount + prefix + "/cpu.weight").flatMap { UInt64(trimmed($0)) } ?? 100
                groups.append(SchedGroup(id: "cgroup:" + prefix, weight: NiceWeight.groupWeight(cgroupV2Weight: weight), kind: .cgroup))
            }
        }
        return groups
    }

    /// The whole group path: the cgroup levels, or, for a task in the root cpu cgroup with
    /// autogroups enabled, its autogroup (the kernel only applies autogroups to tasks of the
    /// root task group: `task_wants_autogroup()`).
    public static func groupPath(cgroupGroups: [SchedGroup], autogroup: AutogroupEntry?,
                                 autogroupsEnabled: Bool) -> [SchedGroup] {
        if !cgroupGroups.isEmpty { return cgroupGroups }
        guard autogroupsEnabled, let autogroup else { return [] }
        return [autogroup.group]
    }

    private static func trimmed(_ s: String) -> Substring {
        Substring(s).drop(while: { $0 == " " }).prefix(while: { $0 != "\n" && $0 != " " })
    }
}
