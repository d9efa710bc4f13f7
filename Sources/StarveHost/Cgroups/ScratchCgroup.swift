import StarveModel
import Glibc

/// A cgroup made for one run (a scenario, a test) directly below the root of a hierarchy, and
/// removed after it: `remove()` moves any task still inside back to the root, then rmdirs.
/// `deinit` removes it too, as a backstop; call `remove()` to see its errors.
public final class ScratchCgroup {
    /// The hierarchy it lives in.
    public let hierarchy: CgroupHierarchy
    /// Its path relative to the mount (`/starve-noisy-hog-1234`).
    public let path: String
    /// Its directory (`/sys/fs/cgroup/cpu/starve-noisy-hog-1234`).
    public var directory: String { hierarchy.directory(path) }
    /// Whether `remove()` has completed.
    public private(set) var isRemoved = false

    /// Creates `<prefix>-<our pid>` (with `-2`, `-3`… appended if a leftover holds the name) below
    /// the root of `hierarchy` (default: `CgroupFS.cpuHierarchy()`).
    ///
    /// With `cpuController` (the default) the cgroup must be able to carry quota and weight: on
    /// cgroup2 the root's `cgroup.subtree_control` must enable `cpu`, and this enables it when the
    /// root offers it. It is left enabled afterwards: other cgroups may have come to rely on it,
    /// and disabling it would silently drop their weights.
    public init(prefix: String, hierarchy: CgroupHierarchy? = nil, cpuController: Bool = true) throws {
        guard let h = hierarchy ?? CgroupFS.cpuHierarchy() else {
            throw StarveError("cannot create cgroup \(prefix): no cgroup filesystem is mounted (see /proc/self/mountinfo)")
        }
        self.hierarchy = h
        if cpuController && h.version == .v2 { try Self.enableCPUController(in: h.mountPoint) }
        let base = "/\(prefix)-\(getpid())"
        var candidate = base
        var n = 1
        while mkdir(h.directory(candidate), 0o755) != 0 {
            let e = errno
            guard e == EEXIST, n < 100 else {
                isRemoved = true
                throw StarveError("cannot create cgroup \(h.directory(candidate)): \(HostFiles.describe(e))\(HostFiles.hint(e))")
            }
            n += 1
            candidate = base + "-\(n)"
        }
        path = candidate
    }

    /// cgroup2: makes `cpu` available to the children of `root` (`+cpu` into its subtree_control).
    static func enableCPUController(in root: String) throws {
        let offered = HostFiles.read(root + "/cgroup.controllers").map(CgroupText.words) ?? []
        guard offered.contains("cpu") else {
            throw StarveError("cannot create a cgroup with the cpu controller under \(root): cgroup2 does not offer it (bound to a cgroup v1 hierarchy, or no CONFIG_CGROUP_SCHED)")
        }
        let enabled = HostFiles.read(root + "/cgroup.subtree_control").map(CgroupText.words) ?? []
        if enabled.contains("cpu") { return }
        if let e = HostFiles.write(root + "/cgroup.subtree_control", "+cpu") {
            let why = e == EBUSY ? " (cgroup2's no-internal-process rule: \(root) holds processes and is not the real root)" : HostFiles.hint(e)
            throw StarveError("cannot enable the cpu controller in \(root)/cgroup.subtree_control: \(HostFiles.describe(e))\(why)")
        }
    }

    /// Limits the cgroup to `quotaUs` of CPU time per `periodUs` (nil quota: no limit).
    /// v1 `cpu.cfs_period_us` then `cpu.cfs_quota_us`; v2 `cpu.max`.
    public func setQuota(quotaUs: Int64?, periodUs: UInt64 = 100_000) throws {
        switch hierarchy.version {
        case .v1:
            try HostFiles.writeOrThrow(directory + "/cpu.cfs_period_us", String(periodUs), what: "set the CPU period of \(path)")
            try HostFiles.writeOrThrow(directory + "/cpu.cfs_quota_us", quotaUs.map { String($0) } ?? "-1", what: "set the CPU quota of \(path)")
        case .v2:
            try HostFiles.writeOrThrow(directory + "/cpu.max", "\(quotaUs.map { String($0) } ?? "max") \(periodUs)", what: "set the CPU quota of \(path)")
        }
    }

    /// Sets the cgroup's CPU weight against its siblings: v1 `cpu.shares` (2…262144, default
    /// 1024) or v2 `cpu.weight` (1…10000, default 100). Both are given because the scales differ
    /// and their ends do not map onto each other (v2 weight 1 is v1 shares 10).
    public func setWeight(v1Shares: UInt64, v2Weight: UInt64) throws {
        switch hierarchy.version {
        case .v1: try HostFiles.writeOrThrow(directory + "/cpu.shares", String(v1Shares), what: "set the CPU weight of \(path)")
        case .v2: try HostFiles.writeOrThrow(directory + "/cpu.weight", String(v2Weight), what: "set the CPU weight of \(path)")
        }
    }

    /// Moves process `pid` (all its threads) into the cgroup (`cgroup.procs`).
    public func add(pid: pid_t) throws {
        try HostFiles.writeOrThrow(directory + "/cgroup.procs", String(pid), what: "move pid \(pid) into cgroup \(path)")
    }

    /// The processes in the cgroup now (`cgroup.procs`); empty once removed.
    public func processes() -> [pid_t] {
        (HostFiles.read(directory + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Moves every task still inside to the parent cgroup and removes the directory. Tolerates a
    /// cgroup already gone. Tasks that are exiting keep a cgroup busy for a moment, so rmdir is
    /// retried for up to a second.
    public func remove() throws {
        guard !isRemoved else { return }
        let parent = directory.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var lastError: Int32 = 0
        for _ in 0..<100 {
            for pid in processes() {
                // ESRCH (exited meanwhile) is fine; anything else shows up as rmdir's EBUSY.
                _ = HostFiles.write(parent + "/cgroup.procs", String(pid))
            }
            if rmdir(directory) == 0 || errno == ENOENT {
                isRemoved = true
                return
            }
            lastError = errno
            guard lastError == EBUSY else { break }
            usleep(10_000)
        }
        let left = processes()
        let why = lastError != EBUSY ? HostFiles.hint(lastError)
            : left.isEmpty ? " (it has child cgroups)" : " (tasks inside that could not be moved out: \(left))"
        throw StarveError("cannot remove cgroup \(directory): \(HostFiles.describe(lastError))\(why)")
    }

    deinit { try? remove() }
}
