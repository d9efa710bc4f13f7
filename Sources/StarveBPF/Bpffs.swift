import CLibbpf
import Glibc

/// The BPF filesystem, where maps and links are pinned.
public enum Bpffs {
    /// statfs f_type of bpffs (BPF_FS_MAGIC, linux/magic.h).
    static let magic: Int = 0xCAFE_4A11
    /// Where distributions mount it.
    public static let defaultMount = "/sys/fs/bpf"

    /// Whether `path` (which must exist) lies on a bpf filesystem.
    public static func isBpffs(_ path: String) -> Bool {
        var s = statfs()
        guard statfs(path, &s) == 0 else { return false }
        return Int(s.f_type) == magic
    }

    /// The nearest existing ancestor of `path` (or `path` itself).
    static func existingAncestor(of path: String) -> String {
        var p = path
        while !p.isEmpty && p != "/" && access(p, F_OK) != 0 {
            p = parent(of: p)
        }
        return p.isEmpty ? "/" : p
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Makes sure the pin directory `pinDir` can live on bpffs: mounts bpffs at /sys/fs/bpf when
    /// that is where it belongs and nothing is mounted there yet (`mount -t bpf bpf /sys/fs/bpf`).
    /// Returns true when it mounted.
    @discardableResult
    public static func ensureMounted(for pinDir: String) throws -> Bool {
        let ancestor = existingAncestor(of: pinDir)
        if isBpffs(ancestor) { return false }
        let underDefault = pinDir == defaultMount || pinDir.hasPrefix(defaultMount + "/")
        guard underDefault, access(defaultMount, F_OK) == 0, !isBpffs(defaultMount) else {
            throw StarveError("\(pinDir) is not on a bpf filesystem: pin under \(defaultMount), or mount one with `mount -t bpf bpf DIR`")
        }
        guard Capability.sysAdmin.isEffective else {
            throw StarveError("no bpf filesystem at \(defaultMount), and mounting one needs CAP_SYS_ADMIN: mount it first (`mount -t bpf bpf \(defaultMount)`) or run starve-load as root")
        }
        try checkSyscall(mount("bpf", defaultMount, "bpf", 0, nil), "mount bpffs at \(defaultMount)")
        return true
    }

    /// A load stages its pins beside the pin directory and renames them into place, which
    /// needs the parent directory to exist on the same bpffs.
    static func requireStagingRoom(for pinDir: String) throws {
        let parent = parent(of: pinDir)
        guard access(parent, F_OK) == 0 else {
            throw StarveError("\(parent) does not exist: create it (mkdir \(parent)) or choose another --pin-dir")
        }
        guard isBpffs(parent) else {
            throw StarveError("\(parent) is not on a bpf filesystem: starve-load stages its pins beside the pin directory, on the same bpffs; pin into a directory under the mount (e.g. \(pinDir)/starve)")
        }
    }

    /// The reader's check: a pin directory that is not on bpffs gets a precise message.
    public static func requirePinDir(_ pinDir: String) throws {
        if access(pinDir, F_OK) != 0 {
            let e = errno
            if e == EACCES {
                throw StarveError("permission denied reaching \(pinDir): run as root or as a member of the group given to starve-load --group")
            }
            let ancestor = existingAncestor(of: pinDir)
            if !isBpffs(ancestor) && (pinDir.hasPrefix(defaultMount + "/") || pinDir == defaultMount) && !isBpffs(defaultMount) {
                throw StarveError("nothing loaded: \(defaultMount) is not mounted (bpffs), so nothing can be pinned at \(pinDir); run starve-load first")
            }
            throw StarveError("nothing loaded at \(pinDir): run starve-load first")
        }
        if !isBpffs(pinDir) {
            throw StarveError("\(pinDir) is not on a bpf filesystem: is the pin directory right (--pin-dir)?")
        }
    }
}
