import StarveModel
/// Turns the cgroup ids BPF programs report into paths. A cgroup id is its kernfs node id,
/// which on 64-bit kernels is also the inode number of the cgroup's directory (the root
/// cgroup's is 1), so walking the hierarchy and noting each directory's inode finds it.
///
/// Ids are never reused (kernfs ids are 64-bit and only grow), so a cached path stays right
/// while the cgroup lives; an unknown id triggers a fresh walk, at most once per second, so a
/// stream of ids of cgroups that are already gone cannot turn into a stream of walks.
/// Not thread-safe: one resolver per reader.
public final class CgroupPathResolver {
    /// The hierarchy whose ids this resolves (ids of different hierarchies are unrelated).
    public let hierarchy: CgroupHierarchy
    private var paths: [UInt64: String] = [:]
    private var lastWalkNs: UInt64?
    private let minimumWalkIntervalNs: UInt64 = 1_000_000_000

    /// A resolver for `hierarchy`; the first lookup walks it.
    public init(hierarchy: CgroupHierarchy) {
        self.hierarchy = hierarchy
    }

    /// The path of cgroup `id` relative to the mount (`/`, `/system.slice/foo.service`), or nil
    /// when no such cgroup exists (or it appeared less than a second after the last walk).
    public func path(for id: UInt64) -> String? {
        if let p = paths[id] { return p }
        if let last = lastWalkNs, monotonicNs() &- last < minimumWalkIntervalNs { return nil }
        rescan()
        return paths[id]
    }

    /// Walks the whole hierarchy now, replacing the cache (cgroups removed since are dropped).
    public func rescan() {
        var found: [UInt64: String] = [:]
        if let root = HostFiles.inode(hierarchy.mountPoint) { found[root] = "/" }
        var pending: [(dir: String, path: String)] = [(hierarchy.mountPoint, "")]
        while let (dir, path) = pending.popLast() {
            for (name, inode) in HostFiles.subdirectories(dir) {
                let child = path + "/" + name
                found[inode] = child
                pending.append((dir + "/" + name, child))
            }
        }
        paths = found
        lastWalkNs = monotonicNs()
    }
}
