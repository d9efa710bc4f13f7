import Foundation
import Glibc
import StarveHost
import StarveModel

/// One line of the audit log (JSON lines): every change with its reason, the original value it
/// replaced, restores, stand-downs and notes. Enough to roll back after a crash.
public struct AuditRecord: Sendable, Equatable {
    public enum Event: String, Sendable {
        case start, stop
        /// A knob written (`--act`), or what would have been (dry run).
        case change, wouldChange = "would-change"
        /// An original value put back: on exit, when a held rule cleared (lift), by rollback.
        case restore, lift
        /// Someone else changed a knob the tuner set: it is not managed any more.
        case standDown = "stand-down"
        /// The cgroup (or thread) went away.
        case vanished
        case error, note
    }
    public var time: String
    public var pid: Int32
    public var event: Event
    public var rule: String?
    public var cgroup: String?
    public var knob: String?
    /// The written thing (``KnobTarget/description``).
    public var target: String?
    public var from: String?
    public var to: String?
    public var original: String?
    public var reason: String?
    public var dryRun: Bool?

    public init(event: Event, rule: String? = nil, cgroup: String? = nil, knob: String? = nil, target: String? = nil,
                from: String? = nil, to: String? = nil, original: String? = nil, reason: String? = nil, dryRun: Bool? = nil,
                time: String = isoNow(), pid: Int32 = getpid()) {
        self.time = time
        self.pid = pid
        self.event = event
        self.rule = rule
        self.cgroup = cgroup
        self.knob = knob
        self.target = target
        self.from = from
        self.to = to
        self.original = original
        self.reason = reason
        self.dryRun = dryRun
    }

    /// One JSON object, keys sorted, no newline.
    public var json: String {
        var o: [String: Any] = ["time": time, "pid": Int(pid), "event": event.rawValue]
        for (k, v) in [("rule", rule), ("cgroup", cgroup), ("knob", knob), ("target", target), ("from", from), ("to", to),
                       ("original", original), ("reason", reason)] {
            if let v { o[k] = v }
        }
        if let dryRun { o["dry_run"] = dryRun }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses one line; nil when it is not an audit record.
    public init?(json line: Substring) {
        guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let e = (o["event"] as? String).flatMap(Event.init(rawValue:)) else { return nil }
        self.init(event: e, rule: o["rule"] as? String, cgroup: o["cgroup"] as? String, knob: o["knob"] as? String,
                  target: o["target"] as? String, from: o["from"] as? String, to: o["to"] as? String,
                  original: o["original"] as? String, reason: o["reason"] as? String, dryRun: o["dry_run"] as? Bool,
                  time: o["time"] as? String ?? "", pid: Int32(o["pid"] as? Int ?? 0))
    }
}

/// ISO 8601 UTC with milliseconds.
public func isoNow() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = ts.tv_sec
    var tmv = tm()
    gmtime_r(&t, &tmv)
    func p(_ v: Int32, _ w: Int = 2) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
    return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1))-\(p(tmv.tm_mday))T\(p(tmv.tm_hour)):\(p(tmv.tm_min)):\(p(tmv.tm_sec)).\(p(Int32(ts.tv_nsec / 1_000_000), 3))Z"
}

/// The audit log file, appended one line per record with one write(2) each and synced, so a
/// crash right after a change still leaves the record of its original value.
public final class AuditLog {
    public let path: String
    private let fd: Int32

    /// Opens (creates) `path` for appending; throws one line when it cannot.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw StarveError("cannot open the audit log \(path): \(String(cString: strerror(errno)))") }
    }

    /// Appends `r`; throws when the line cannot be written (a tuner that cannot log must not act).
    public func append(_ r: AuditRecord) throws {
        let line = r.json + "\n"
        let n = line.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == line.utf8.count else { throw StarveError("cannot write the audit log \(path): \(String(cString: strerror(errno)))") }
        _ = fdatasync(fd)
    }

    /// Every record of the file at `path`, in order (lines that are not records are skipped).
    public static func records(at path: String) throws -> [AuditRecord] {
        guard let text = RawFile.read(path) else { throw StarveError("cannot read the audit log \(path): \(String(cString: strerror(errno)))") }
        return text.split(separator: "\n").compactMap { AuditRecord(json: $0) }
    }

    deinit { close(fd) }
}
