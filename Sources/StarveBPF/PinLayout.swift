/// Where starve pins things under its pin directory:
/// `maps/<map>` (group-readable when --group is given), `links/<program>` (the loading user only), and
/// `tasks`, the pinned iterator that reports every thread (readable like the maps).
public struct PinLayout: Sendable, Equatable {
    /// Default pin directory.
    public static let defaultDirectory = "/sys/fs/bpf/starve"

    public let directory: String

    public init(directory: String) {
        var d = directory
        while d.count > 1 && d.hasSuffix("/") { d.removeLast() }
        self.directory = d
    }

    public var mapsDirectory: String { directory + "/maps" }
    public var linksDirectory: String { directory + "/links" }
    public func map(_ name: String) -> String { mapsDirectory + "/" + name }
    public func link(_ name: String) -> String { linksDirectory + "/" + name }
    /// The `tasks` iterator: reading it yields one `struct starve_task` per live thread.
    public var tasksIterator: String { directory + "/tasks" }

    /// The pin directory a pin lies in: `<dir>/maps/<map>` and `<dir>/links/<program>` belong
    /// to `<dir>`, anything else to its parent directory.
    public static func directory(ofPin path: String) -> String {
        let parent = Bpffs.parent(of: path)
        return parent.hasSuffix("/maps") || parent.hasSuffix("/links") ? Bpffs.parent(of: parent) : parent
    }

    /// The program behind the `tasks` iterator (pinned as `tasksIterator`, not under links/).
    public static let tasksIteratorProgram = "starve_iter_tasks"
    /// The maps starve-dump needs.
    public static let statsMap = "stats"
    public static let configMap = "starve_config"
    public static let pairsMap = "preempt_pairs"
    /// What exited threads did, per (cgroup, process).
    public static let exitedMap = "exited"
    public static let jobExitedMap = "job_exited"
    public static let cpuMap = "cpu_current"
    public static let eventsMap = "events"
    /// Stacks of events: raw kernel and user addresses, root-only unless the load grants them.
    public static let stacksMap = "event_stacks"
    public static let eventPidsMap = "event_pids"
    /// The global data section of the load-time settings (`struct starve_settings`).
    public static let settingsSection = "rodata.settings"
    /// Programs needed only when waits come from our own wakeup bracket.
    public static let wakeupPrograms = ["starve_sched_wakeup", "starve_sched_wakeup_new"]
    /// Futex contention (starve-load --futex): per-thread futex waits, and its counters.
    public static let futexThreadsMap = "futex_threads"
    public static let futexStatsMap = "futex_stats"
    public static let futexPrograms = ["starve_futex_enter", "starve_futex_exit"]
}
