import Foundation
import StarveHost
import StarveModel

/// node_exporter's textfile collector input: the Prometheus text format written to `path`
/// after each sample, atomically (a temporary file in the same directory, fsync'd, renamed over
/// the old one), so node_exporter never reads half a file.
public final class TextfileSink: MetricsSink {
    public let path: String
    private let temporary: String
    /// Failures so far (the sampling goes on; each failure is said once per kind on stderr).
    public private(set) var failures = 0
    private var lastError: String?

    /// Checks `path` first: it ends in `.prom` (the only files node_exporter reads) and its
    /// directory exists and is writable. Throws one line saying what is wrong.
    public init(path: String) throws {
        guard path.hasSuffix(".prom") else {
            throw StarveError("--textfile \(path): the name must end in .prom (node_exporter's textfile collector reads only *.prom)")
        }
        let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw StarveError("--textfile \(path): no directory \(dir)")
        }
        guard access(dir, W_OK | X_OK) == 0 else {
            throw StarveError("--textfile \(path): directory \(dir) is not writable: \(String(cString: strerror(errno)))")
        }
        self.path = path
        // A dot file: node_exporter skips it (it reads *.prom), and the rename stays in one filesystem.
        temporary = dir + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())"
    }

    public func publish(_ families: [MetricFamily], unixNs: UInt64) {
        do {
            try Self.writeAtomically(PrometheusText.encode(families, format: .prometheusText), to: path, via: temporary)
            lastError = nil
        } catch {
            failures += 1
            let text = "\(error)"
            if text != lastError { FileHandle.standardError.write(Data("starve-export: \(text)\n".utf8)) }
            lastError = text
        }
    }

    /// Writes `text` to `temporary`, fsyncs it and renames it to `path`.
    public static func writeAtomically(_ text: String, to path: String, via temporary: String) throws {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StarveError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        var ok = true
        var failure = ""
        text.utf8CString.withUnsafeBufferPointer { buf in
            var off = 0
            let n = buf.count - 1  // without the NUL
            while off < n {
                let w = write(fd, buf.baseAddress! + off, n - off)
                if w < 0 { if errno == EINTR { continue }; ok = false; failure = String(cString: strerror(errno)); return }
                off += w
            }
        }
        if ok && fsync(fd) != 0 { ok = false; failure = String(cString: strerror(errno)) }
        close(fd)
        guard ok else { unlink(temporary); throw StarveError("cannot write \(temporary): \(failure)") }
        guard rename(temporary, path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(temporary)
            throw StarveError("cannot rename \(temporary) to \(path): \(e)")
        }
    }

    deinit { unlink(temporary) }
}
