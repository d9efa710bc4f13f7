import StarveModel
import Glibc

/// A CSV file that samples are appended to: the header is written when the file is new or empty,
/// and a file that starts with another header is refused, so columns never mix.
public struct CSVAppender: ~Copyable {
    public let path: String
    private let fd: Int32

    /// Opens (creating with 0644) `path` for appending rows under `header` (a full line).
    public init(path: String, header: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StarveError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        fstat(fd, &st)
        if (st.st_mode & S_IFMT) != S_IFREG {
            close(fd)
            throw StarveError("cannot write \(path): not a regular file")
        }
        if st.st_size > 0 {
            let existing = Self.firstLine(fd: fd)
            let ours = header.hasSuffix("\n") ? String(header.dropLast()) : header
            if existing != ours {
                close(fd)
                throw StarveError("\(path) has a different CSV header (another tool or starve version wrote it): write to a new file")
            }
        } else if let e = Self.writeAll(fd: fd, header) {
            close(fd)
            throw StarveError("cannot write \(path): \(String(cString: strerror(e)))")
        }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends `rows` (whole lines) with one write where the kernel allows, retrying short writes.
    public func append(_ rows: String) throws {
        if let e = Self.writeAll(fd: fd, rows) {
            throw StarveError("cannot write \(path): \(String(cString: strerror(e)))")
        }
    }

    private static func firstLine(fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        var offset: off_t = 0
        while bytes.count < 1 << 20 {
            let n = pread(fd, &buf, buf.count, offset)
            if n <= 0 { break }
            if let nl = buf[..<n].firstIndex(of: 0x0A) { bytes += buf[..<nl]; break }
            bytes += buf[..<n]
            offset += off_t(n)
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes everything; returns errno on failure.
    static func writeAll(fd: Int32, _ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { buf -> Int32? in
            var done = 0
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
    }
}

/// Writes `s` to standard output in full, unbuffered (so output order matches stderr).
public func writeStdout(_ s: String) {
    _ = CSVAppender.writeAll(fd: STDOUT_FILENO, s)
}

/// Writes `s` to standard error in full, unbuffered.
public func writeStderr(_ s: String) {
    _ = CSVAppender.writeAll(fd: STDERR_FILENO, s)
}
