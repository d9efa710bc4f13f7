import Glibc

/// The raw calls behind the cgroup types, in one place: cgroupfs is read and written one small
/// file at a time, and the kernel reports a bad value as the error of the write(2) itself.
enum CgroupFiles {
    /// A small file's whole text with one open/read/close; nil when it cannot be read.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 22 {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
            bytes += buf[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `text` with a single write(2) (cgroupfs takes one value per write); the errno on failure.
    static func write(_ path: String, _ text: String) -> Int32? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        return n < 0 ? errno : nil
    }

    /// Like `write`, as a `StarveError` naming the file and the value.
    static func writeOrThrow(_ path: String, _ text: String, what: String) throws {
        if let e = write(path, text) {
            throw StarveError("cannot \(what) (write '\(text)' to \(path)): \(describe(e))\(hint(e))")
        }
    }

    /// The inode number of `path` (stat st_ino), or nil.
    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// Sub-directories of `path` with their inode numbers (readdir d_ino: kernfs fills it with
    /// the node id, the same number stat gives, so walking a hierarchy costs no stat per cgroup).
    static func subdirectories(_ path: String) -> [(name: String, inode: UInt64)] {
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
    static func describe(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// What a user can do about the usual cgroupfs errors.
    static func hint(_ e: Int32) -> String {
        switch e {
        case EACCES, EPERM: return " (run as root)"
        case EROFS: return " (cgroupfs is mounted read-only: in a container without cgroup delegation?)"
        default: return ""
        }
    }

    /// Whitespace-separated words of a cgroupfs text (`cgroup.controllers`, `cpu.max`).
    static func words(_ text: String) -> [Substring] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
    }
}
