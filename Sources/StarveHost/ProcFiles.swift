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
