import StarveModel

/// Reading the cgroup hierarchies off this host: the mount table and the CPU files of one cgroup.
/// The parsing is StarveModel's (``CgroupFS``, ``CPUStat``); this is the I/O around it.
extension CgroupFS {
    /// The hierarchy that carries CPU quota and weights: a v1 mount with the `cpu` controller,
    /// else the cgroup2 mount (whether or not its cgroup.controllers lists `cpu`: a scratch
    /// cgroup then says why it cannot get one). Nil when no cgroup filesystem is mounted.
    public static func cpuHierarchy() -> CgroupHierarchy? {
        cpuHierarchy(mountinfo: HostFiles.read("/proc/self/mountinfo") ?? "", readFile: HostFiles.read)
    }

    /// The cgroup2 mount (the "default hierarchy" BPF's `task->cgroups->dfl_cgrp` refers to).
    public static func defaultHierarchy() -> CgroupHierarchy? {
        defaultHierarchy(mountinfo: HostFiles.read("/proc/self/mountinfo") ?? "")
    }

    /// The hierarchy with the cpuset controller: the v1 `cpuset` mount, else the cgroup2 mount.
    public static func cpusetHierarchy() -> CgroupHierarchy? {
        cpusetHierarchy(mountinfo: HostFiles.read("/proc/self/mountinfo") ?? "")
    }

    /// The v1 mount with the `cpuacct` controller (`cpuacct.usage`); nil on pure v2, where
    /// usage is in every cgroup's cpu.stat (`CPUStat.usageNs`).
    public static func cpuacctHierarchy() -> CgroupHierarchy? {
        cpuacctHierarchy(mountinfo: HostFiles.read("/proc/self/mountinfo") ?? "")
    }

    /// The `cpu.stat` of cgroup `path` in `hierarchy`; nil when unreadable (gone, or no cpu controller).
    public static func cpuStat(hierarchy: CgroupHierarchy, path: String) -> CPUStat? {
        let dir = hierarchy.directory(path)
        guard let text = HostFiles.read(dir + "/cpu.stat"), var stat = CPUStat.parse(text, version: hierarchy.version) else { return nil }
        if hierarchy.version == .v1, stat.usageNs == nil {
            stat.usageNs = HostFiles.read(dir + "/cpuacct.usage").flatMap { UInt64(CgroupText.words($0).first ?? "") }
        }
        return stat
    }

    /// CPU time used by cgroup `path`, ns: v1 `cpuacct.usage` (pass `cpuacctHierarchy()`),
    /// v2 `usage_usec` of cpu.stat (present even without the cpu controller).
    public static func cpuUsageNs(hierarchy: CgroupHierarchy, path: String) -> UInt64? {
        let dir = hierarchy.directory(path)
        switch hierarchy.version {
        case .v1: return HostFiles.read(dir + "/cpuacct.usage").flatMap { UInt64(CgroupText.words($0).first ?? "") }
        case .v2: return HostFiles.read(dir + "/cpu.stat").flatMap { CPUStat.parse($0, version: .v2)?.usageNs }
        }
    }

    /// The CFS bandwidth limit of cgroup `path`: quota per period in µs, quota nil = no limit.
    /// v1 `cpu.cfs_quota_us` (-1 = none) and `cpu.cfs_period_us`; v2 `cpu.max` (`max 100000`).
    public static func cpuQuota(hierarchy: CgroupHierarchy, path: String) -> (quotaUs: Int64?, periodUs: UInt64)? {
        let dir = hierarchy.directory(path)
        switch hierarchy.version {
        case .v1:
            guard let quota = HostFiles.read(dir + "/cpu.cfs_quota_us"),
                  let period = HostFiles.read(dir + "/cpu.cfs_period_us") else { return nil }
            return parseV1Quota(quota: quota, period: period)
        case .v2:
            return HostFiles.read(dir + "/cpu.max").flatMap(parseCPUMax)
        }
    }

}
