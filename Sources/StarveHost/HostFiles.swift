import StarveModel
import Glibc

/// The raw file calls of the host side, in one place: the one whole-file reader every procfs,
/// cgroupfs, kallsyms and runtime file goes through, and cgroupfs's one-value writes (the kernel
/// reports a bad value as the error of the write(2) itself).
public enum HostFiles {
    /// A file's whole text, or nil when it cannot be read (gone, no permission).
    public static func read(_ path: String) -> String? {
        (try? bytes(path)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A file's whole contents with read(2) until EOF: /proc files report size 0, so fstat
    /// cannot size the buffer, and one read may return less than the file. The error names the
    /// file and the errno.
    public static func bytes(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StarveError("cannot read \(path): \(describe(errno))") }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = 4096
        while true {
            let n = try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: chunk) { buf -> Int in
                while true {
                    let n = Glibc.read(fd, buf.baseAddress, chunk)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { throw StarveError("cannot read \(path): \(describe(errno))") }
                    out.append(contentsOf: buf[..<n])
                    return n
                }
            }
            if n == 0 { return out }
            // Big files (kallsyms, ELF objects) in big reads; small ones in one page.
            if out.count >= chunk { chunk = min(chunk * 4, 1 << 20) }
        }
    }

    /// Writes `text` with a single write(2) (cgroupfs takes one value per write); the errno on failure.
    public static func write(_ path: String, _ text: String) -> Int32? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        return n < 0 ? errno : nil
    }

    /// Like `write`, as a `StarveError` naming the file and the value.
    public static func writeOrThrow(_ path: String, _ text: String, what: String) throws {
        if let e = write(path, text) {
            throw StarveError("cannot \(what) (write '\(text)' to \(path)): \(describe(e))\(hint(e))")
        }
    }

    /// The inode number of `path` (stat st_ino), or nil.
    public static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// Sub-directories of `path` with their inode numbers (readdir d_ino: kernfs fills it with
    /// the node id, the same number stat gives, so walking a hierarchy costs no stat per cgroup).
    public static func subdirectories(_ path: String) -> [(name: String, inode: UInt64)] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var out: [(String, UInt64)] = []
        while let entry = readdir(dir) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            out.append((name, UInt64(entry.pointee.d_ino)))
        }
        return out
    }

    /// strerror text.
    public static func describe(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// What a user can do about the usual cgroupfs errors.
    public static func hint(_ e: Int32) -> String {
        switch e {
        case EACCES, EPERM: return " (run as root)"
        case EROFS: return " (cgroupfs is mounted read-only: in a container without cgroup delegation?)"
        default: return ""
        }
    }
}
