/// One mounted cgroup hierarchy: a cgroup v1 controller mount (`/sys/fs/cgroup/cpu`) or the
/// cgroup2 mount. Cgroup paths elsewhere are relative to `mountPoint` (`/`, `/system.slice/x`).
public struct CgroupHierarchy: Sendable, Hashable {
    /// Which cgroup interface the hierarchy speaks; file names and units differ.
    public enum Version: String, Sendable, Hashable {
        case v1, v2
    }

    /// Where the hierarchy is mounted (`/sys/fs/cgroup/cpu`, `/sys/fs/cgroup`).
    public var mountPoint: String
    /// v1 or v2.
    public var version: Version

    /// A hierarchy mounted at `mountPoint`.
    public init(mountPoint: String, version: Version) {
        self.mountPoint = mountPoint
        self.version = version
    }

    /// The directory of cgroup `path` (relative to the mount, `/` for the root).
    public func directory(_ path: String) -> String {
        path == "/" || path.isEmpty ? mountPoint : mountPoint + (path.hasPrefix("/") ? path : "/" + path)
    }
}

/// One cgroup mount from `/proc/self/mountinfo`.
public struct CgroupMount: Sendable, Hashable {
    /// Where it is mounted.
    public var mountPoint: String
    /// The cgroup it shows as its root (`/` unless a cgroup namespace or bind mount hides the rest).
    public var root: String
    /// `cgroup` (v1) or `cgroup2`.
    public var version: CgroupHierarchy.Version
    /// Super-block options: for v1 the controllers bound to it (`rw,cpu,cpuacct`), for v2 mount flags.
    public var superOptions: [String]

    /// The mount as a hierarchy.
    public var hierarchy: CgroupHierarchy { CgroupHierarchy(mountPoint: mountPoint, version: version) }
}

/// Finding the cgroup hierarchies and reading their CPU files (cpu.stat, quota). Hybrid systems
/// bind `cpu` (and `cpuacct`) to v1 mounts and leave cgroup2 without them; pure v2 systems have
/// one cgroup2 mount with the cpu controller. Both are supported.
public enum CgroupFS {
    /// `cpuHierarchy()` on given texts: `readFile` returns a file's text (for `cgroup.controllers`).
    public static func cpuHierarchy(mountinfo: String, readFile: (String) -> String?) -> CgroupHierarchy? {
        let mounts = parseMountInfo(mountinfo)
        if let v1 = mounts.first(where: { $0.version == .v1 && $0.superOptions.contains("cpu") }) { return v1.hierarchy }
        let unified = mounts.filter { $0.version == .v2 }
        // Several cgroup2 mounts (bind mounts, containers): prefer one that offers cpu.
        let withCPU = unified.first { readFile($0.mountPoint + "/cgroup.controllers").map { CgroupText.words($0).contains("cpu") } ?? false }
        return (withCPU ?? unified.first)?.hierarchy
    }

    /// `defaultHierarchy()` on a given mountinfo text.
    public static func defaultHierarchy(mountinfo: String) -> CgroupHierarchy? {
        parseMountInfo(mountinfo).first { $0.version == .v2 }?.hierarchy
    }

    /// `cpuacctHierarchy()` on a given mountinfo text.
    public static func cpuacctHierarchy(mountinfo: String) -> CgroupHierarchy? {
        parseMountInfo(mountinfo).first { $0.version == .v1 && $0.superOptions.contains("cpuacct") }?.hierarchy
    }

    /// The hierarchy with the cpuset controller in a mountinfo text: the v1 `cpuset` mount,
    /// else the cgroup2 mount (whose cgroups have cpuset.cpus when the controller is enabled).
    public static func cpusetHierarchy(mountinfo: String) -> CgroupHierarchy? {
        let mounts = parseMountInfo(mountinfo)
        return (mounts.first { $0.version == .v1 && $0.superOptions.contains("cpuset") } ?? mounts.first { $0.version == .v2 })?.hierarchy
    }

    /// The cgroup mounts of a `/proc/self/mountinfo` text, in order. A line is
    /// `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`;
    /// the optional fields vary in number, so the fields after ` - ` are found by the dash.
    public static func parseMountInfo(_ text: String) -> [CgroupMount] {
        var mounts: [CgroupMount] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 10, let dash = f.firstIndex(of: "-"), dash >= 6, dash + 3 < f.count else { continue }
            let version: CgroupHierarchy.Version
            switch f[dash + 1] {
            case "cgroup": version = .v1
            case "cgroup2": version = .v2
            default: continue
            }
            mounts.append(CgroupMount(mountPoint: CgroupMounts.unescapeMountPath(String(f[4])),
                                      root: CgroupMounts.unescapeMountPath(String(f[3])),
                                      version: version,
                                      superOptions: f[dash + 3].split(separator: ",").map(String.init)))
        }
        return mounts
    }
}

/// Text helpers for cgroupfs files.
public enum CgroupText {
    /// Whitespace-separated words of a cgroupfs text (`cgroup.controllers`, `cpu.max`).
    public static func words(_ text: String) -> [Substring] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
    }
}
