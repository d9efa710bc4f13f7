import Glibc
import StarveModel

extension Schedstat {
    /// `/proc/<pid>/task/<tid>/schedstat` (or `/proc/<pid>/schedstat` without `tid`); nil when
    /// the task is gone or the kernel keeps no schedstats.
    public static func read(pid: pid_t, tid: pid_t? = nil, procRoot: String = "/proc") -> Schedstat? {
        read(path: tid.map { "\(procRoot)/\(pid)/task/\($0)/schedstat" } ?? "\(procRoot)/\(pid)/schedstat")
    }

    /// The schedstat file at `path` (`/proc/self/schedstat`, a thread's); nil when unreadable.
    public static func read(path: String) -> Schedstat? {
        HostFiles.read(path).flatMap(parse)
    }
}

extension ProcessLink {
    /// Parent, process group and session from `/proc/<pid>/stat` (fields 4-6, after the
    /// parenthesised command name, which may itself hold spaces and parentheses); nil when the
    /// process is gone.
    public static func read(pid: UInt32, procRoot: String = "/proc") -> ProcessLink? {
        HostFiles.read("\(procRoot)/\(pid)/stat").flatMap { parse(stat: $0, pid: pid) }
    }

    /// The link and the CPU time of the process's children that exited and were waited for
    /// (with theirs: `cutime + cstime`, fields 16-17, seconds), from one read of
    /// `/proc/<pid>/stat`; nil when the process is gone.
    public static func readWithReapedChildren(pid: UInt32, procRoot: String = "/proc") -> (link: ProcessLink, reapedSeconds: Double)? {
        guard let stat = HostFiles.read("\(procRoot)/\(pid)/stat"), let link = parse(stat: stat, pid: pid) else { return nil }
        return (link, reapedChildrenSeconds(stat: stat) ?? 0)
    }

    /// `cutime + cstime` of one `/proc/<pid>/stat` line, in seconds (clock ticks over
    /// `sysconf(_SC_CLK_TCK)`).
    public static func reapedChildrenSeconds(stat: String) -> Double? {
        // cutime (field 16) and cstime (17) are indexes 13 and 14.
        guard let fields = ProcStat.fields(stat, through: 17), fields.count > 15,
              let cu = Double(fields[13]), let cs = Double(fields[14]) else { return nil }
        let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (cu + cs) / (tick > 0 ? tick : 100)
    }

    /// Parses one `/proc/<pid>/stat` line.
    public static func parse(stat: String, pid: UInt32) -> ProcessLink? {
        guard let fields = ProcStat.fields(stat, through: 6), fields.count >= 5, let parent = UInt32(fields[1]), let group = UInt32(fields[2]), let session = UInt32(fields[3]) else {
            return nil
        }
        return ProcessLink(pid: pid, parent: parent, group: group, session: session)
    }
}

/// A process's command line (`/proc/<pid>/cmdline`, arguments joined by spaces), at most
/// `limit` characters (an ellipsis marks a cut); nil when it is gone or has none (a zombie).
public func processCommandLine(pid: UInt32, limit: Int = 60, procRoot: String = "/proc") -> String? {
    guard let raw = HostFiles.read("\(procRoot)/\(pid)/cmdline"), !raw.isEmpty else { return nil }
    var text = raw.split(separator: "\0", omittingEmptySubsequences: true).joined(separator: " ")
    text = String(text.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    if text.isEmpty { return nil }
    return text.count > limit ? String(text.prefix(limit - 1)) + "…" : text
}
