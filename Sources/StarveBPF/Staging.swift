import Glibc
import StarveHost
import StarveModel

/// A directory of pins beside the pin directory that belongs to one starve-load process: where a
/// load builds its pins before they go live, or where an unload moves them before removing them.
///
/// A load pins everything under `<pin-dir>-loading-<pid>-<start>` and then renames that directory
/// to the pin directory: rename(2) is the commit point, so the pin directory is either absent or
/// complete. An unload first renames the pin directory to `<pin-dir>-unloading-<pid>-<start>`.
/// Both lie beside the pin directory because rename(2) only works within one bpffs, and use
/// dashes because bpffs refuses names with a dot. `<start>` is the process's start time (field 22
/// of /proc/<pid>/stat), so a reused pid is not mistaken for the process that made the directory.
///
/// A staging directory whose process is gone was left by a starve-load that died (kill -9): its
/// pinned links keep programs attached until someone removes it, which every starve-load command
/// for that pin directory does first (``Collector/removeLeftovers(layout:)``).
public struct StagingDirectory: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case loading, unloading
    }

    public let path: String
    public let kind: Kind
    public let pid: pid_t
    public let startTime: UInt64

    /// This process's staging directory of `kind` for the pin directory of `layout`.
    static func mine(_ kind: Kind, for layout: PinLayout) -> StagingDirectory {
        let pid = getpid()
        let start = processStartTime(pid) ?? 0
        return StagingDirectory(path: "\(layout.directory)-\(kind.rawValue)-\(pid)-\(start)", kind: kind, pid: pid, startTime: start)
    }

    /// Parses a sibling's name: `<base>-<kind>-<pid>-<start>` for the pin directory's `base`.
    static func parse(name: String, base: String, in parent: String) -> StagingDirectory? {
        for kind in [Kind.loading, .unloading] {
            let prefix = base + "-" + kind.rawValue + "-"
            guard name.hasPrefix(prefix) else { continue }
            let rest = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard rest.count == 2, let pid = pid_t(rest[0]), pid > 0, let start = UInt64(rest[1]) else { return nil }
            return StagingDirectory(path: (parent == "/" ? "" : parent) + "/" + name, kind: kind, pid: pid, startTime: start)
        }
        return nil
    }

    /// Staging directories beside the pin directory of `layout`, of live processes or not.
    public static func all(besides layout: PinLayout) -> [StagingDirectory] {
        let parent = Bpffs.parent(of: layout.directory)
        guard let base = layout.directory.split(separator: "/").last.map(String.init) else { return [] }
        return listDirectory(parent).compactMap { parse(name: $0, base: base, in: parent) }
    }

    /// Whether the process that made it is still running (the same process: pid and start time).
    public var ownerIsAlive: Bool { Self.processStartTime(pid) == startTime }

    /// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot.
    static func processStartTime(_ pid: pid_t) -> UInt64? {
        guard let fields = HostFiles.read("/proc/\(pid)/stat").flatMap({ ProcStat.fields($0) }) else { return nil }
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}

/// A tree of pins on bpffs, removed without reading any of them: what unloads pins of any
/// build or ABI, and what clears a staging directory.
enum PinTree {
    /// Removes `root` and everything under it, link pins (`links/`, `tasks`) first so that the
    /// programs stop before their maps go, directories last. Stays on `root`'s filesystem. An
    /// entry that vanished meanwhile (another cleaner) is not an error. Returns the removed pins.
    @discardableResult
    static func remove(_ root: String) throws -> [String] {
        var st = stat()
        guard lstat(root, &st) == 0 else {
            if errno == ENOENT { return [] }
            throw removalError(root, errno)
        }
        var removed: [String] = []
        try removeEntries(of: root, device: st.st_dev, removed: &removed)
        if rmdir(root) != 0 && errno != ENOENT { throw removalError(root, errno) }
        return removed
    }

    private static func removeEntries(of dir: String, device: dev_t, removed: inout [String]) throws {
        let order = ["links": 0, "tasks": 1, "maps": 3]
        for name in try entries(of: dir).sorted(by: { (order[$0] ?? 2, $0) < (order[$1] ?? 2, $1) }) {
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else {
                if errno == ENOENT { continue }
                throw removalError(path, errno)
            }
            if st.st_mode & S_IFMT == S_IFDIR {
                guard st.st_dev == device else {
                    throw StarveError("\(path) is another filesystem mounted inside \(dir): refusing to remove it")
                }
                try removeEntries(of: path, device: device, removed: &removed)
                if rmdir(path) != 0 && errno != ENOENT { throw removalError(path, errno) }
            } else {
                if unlink(path) != 0 {
                    if errno == ENOENT { continue }
                    throw removalError(path, errno)
                }
                removed.append(path)
            }
        }
    }

    /// A directory's entries; unlike ``listDirectory(_:)`` a directory we may not read is an error.
    private static func entries(of dir: String) throws -> [String] {
        guard let d = opendir(dir) else {
            if errno == ENOENT { return [] }
            throw removalError(dir, errno)
        }
        closedir(d)
        return listDirectory(dir)
    }

    static func removalError(_ path: String, _ e: Int32) -> Error {
        if e == EACCES || e == EPERM {
            var st = stat()
            let owner = lstat(path, &st) == 0 ? " (owned by uid \(st.st_uid))" : ""
            return StarveError("permission denied removing \(path)\(owner): run as root, as the user who loaded it, or with CAP_DAC_OVERRIDE and CAP_FOWNER")
        }
        return BPFError("remove \(path)", errno: e)
    }
}

extension Collector {
    /// Removes what starve-loads that died left beside the pin directory of `layout` (staging
    /// directories whose process is gone: their pinned links keep programs attached). Returns
    /// one line per directory, for stderr, and whether it is gone; nothing when there is nothing
    /// to clean.
    public static func removeLeftovers(layout: PinLayout) -> [(message: String, removed: Bool)] {
        StagingDirectory.all(besides: layout).filter { !$0.ownerIsAlive }.map { left in
            let what = left.kind == .loading ? "an unfinished load" : "an unfinished unload"
            do {
                let pins = try PinTree.remove(left.path)
                return ("removed \(what) at \(left.path) (starve-load \(left.pid) died before it finished; \(pins.count) pins)", true)
            } catch {
                return ("cannot remove \(what) at \(left.path) left by starve-load \(left.pid), which died: \(error)", false)
            }
        }
    }
}
