import Foundation

/// A task as an event names it (`struct starve_event_task`).
public struct EventTask: Sendable, Equatable {
    public var pid: UInt32
    public var tgid: UInt32
    public var comm: String
    /// cpu-controller cgroup id (resolved to ``cgroupPath`` by the reader when it can).
    public var cgroupID: UInt64
    public var cgroupPath: String?
    /// The workload the task belongs to (resolved by the reader when it can).
    public var workload: WorkloadIdentity? = nil
    public var priority: UInt32
    public var nice: Int32
    public var policy: UInt32
    public var isKernelThread: Bool

    public init(pid: UInt32, tgid: UInt32 = 0, comm: String = "", cgroupID: UInt64 = 0, cgroupPath: String? = nil,
                priority: UInt32 = 120, nice: Int32 = 0, policy: UInt32 = 0, isKernelThread: Bool = false) {
        self.pid = pid
        self.tgid = tgid
        self.comm = comm
        self.cgroupID = cgroupID
        self.cgroupPath = cgroupPath
        self.priority = priority
        self.nice = nice
        self.policy = policy
        self.isKernelThread = isKernelThread
    }

    /// `pid 123 (comm)`.
    public var label: String { "\(pid) (\(comm))" }
    /// The cgroup's path, or its id when it could not be resolved.
    public var cgroupLabel: String { cgroupPath ?? "cgroup#\(cgroupID)" }
    /// Where it runs, for sentences: its workload (`pod default/web`), else its cgroup (also
    /// when the workload is `unknown`: the cgroup was gone before it could be named).
    public var placeLabel: String {
        guard let w = workload, w.kind != .unknown else { return cgroupLabel }
        return w.label
    }
}

/// What an event says happened (`enum starve_event_kind`).
public enum EventKind: String, Sendable, CaseIterable {
    case starvation
    case priorityInversion = "priority-inversion"
    case piBoost = "pi-boost"
    case piRestore = "pi-restore"
    case migrationStorm = "migration-storm"
}

/// Starvation severity (`enum starve_severity`).
public enum Severity: String, Sendable, Comparable {
    case starved, severe, critical

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    var rank: Int { self == .starved ? 1 : self == .severe ? 2 : 3 }
}

/// One event from the kernel side, decoded, with its stacks symbolised by the reader.
public struct SchedEvent: Sendable, Equatable {
    public var kind: EventKind
    public var cpu: UInt32
    /// CLOCK_MONOTONIC ns.
    public var timeNs: UInt64
    /// Starvation: the wait; inversion: how long the task was blocked; storm: the window.
    public var durationNs: UInt64
    /// Inversion: the blocking task's run-queue wait within the block; storm: migrations;
    /// PI: the priority lent or restored.
    public var value: UInt64
    public var severity: Severity?
    /// The wait began under CFS throttling (the task's own cgroup quota).
    public var throttled: Bool
    /// The wait began with a preemption (else a wakeup).
    public var preempted: Bool
    /// The starved / blocked / boosted / migrating task.
    public var task: EventTask
    /// The holder of the CPU (starvation), the blocking task (inversion), the top waiter (PI).
    public var other: EventTask?
    /// Who took the CPU when the wait began (starvation); who kept the blocking task off the CPU
    /// longest (inversion).
    public var third: EventTask?
    /// Symbolised frames: where `task` stopped in the kernel; the current task's kernel and user
    /// stacks at the event (the holder for starvation, the blocking task for inversion).
    public var taskKernelStack: [String] = []
    public var currentKernelStack: [String] = []
    public var currentUserStack: [String] = []

    public init(kind: EventKind, cpu: UInt32 = 0, timeNs: UInt64 = 0, durationNs: UInt64 = 0, value: UInt64 = 0,
                severity: Severity? = nil, throttled: Bool = false, preempted: Bool = false, task: EventTask,
                other: EventTask? = nil, third: EventTask? = nil) {
        self.kind = kind
        self.cpu = cpu
        self.timeNs = timeNs
        self.durationNs = durationNs
        self.value = value
        self.severity = severity
        self.throttled = throttled
        self.preempted = preempted
        self.task = task
        self.other = other
        self.third = third
    }

    /// Why the task waited, in one word.
    public var cause: String {
        switch kind {
        case .starvation: return throttled ? "throttled" : preempted ? "preempted" : "wakeup"
        default: return "-"
        }
    }

    /// One line saying what happened and who is involved.
    public var summary: String {
        let ms = { (ns: UInt64) in formatFixed(Double(ns) / 1e6, decimals: 1) + " ms" }
        switch kind {
        case .starvation:
            var s = "\(task.label) in \(task.placeLabel) waited \(ms(durationNs)) for a CPU (\(cause))"
            if throttled { s += ": throttled by its own cgroup's CPU quota" }
            if let h = other { s += "; CPU held by \(h.label) in \(h.placeLabel) prio \(h.priority)" }
            if let p = third, p.pid != 0, p.pid != other?.pid { s += "; preempted by \(p.label) in \(p.placeLabel)" }
            return s
        case .priorityInversion:
            var s = "\(task.label) prio \(task.priority) blocked \(ms(durationNs)) on \(other.map { "\($0.label) prio \($0.priority)" } ?? "?")"
            s += ", which waited \(ms(value)) for a CPU meanwhile"
            if let p = third, p.pid != 0 { s += ", kept off it by \(p.label) prio \(p.priority)" }
            return s
        case .piBoost:
            return "\(task.label) boosted from prio \(task.priority) to \(value) by waiter \(other.map { "\($0.label) prio \($0.priority)" } ?? "?") (priority inheritance)"
        case .piRestore:
            return "\(task.label) back from prio \(task.priority) to \(value) (priority inheritance ended)"
        case .migrationStorm:
            return "\(task.label) in \(task.placeLabel) migrated \(value) times in \(ms(durationNs))"
        }
    }
}

/// Renders events as table rows (with stacks under them) or JSON lines.
public enum EventFormatter {
    public static let tableHeaders = ["TIME", "CPU", "KIND", "SEVERITY", "PID", "COMM", "WAIT_MS", "WHAT"]

    /// One table row; `clock` turns the event's CLOCK_MONOTONIC time into wall-clock time.
    public static func tableRow(_ e: SchedEvent, clock: WallClock) -> [String] {
        [clock.timeOfDay(monotonicNs: e.timeNs), String(e.cpu), e.kind.rawValue,
         e.severity?.rawValue ?? "-", String(e.task.pid), e.task.comm,
         e.kind == .starvation || e.kind == .priorityInversion ? formatFixed(Double(e.durationNs) / 1e6, decimals: 1) : "-",
         e.summary]
    }

    /// A fixed-width line for streaming (no column sizing across events: they arrive one by one).
    public static func line(_ e: SchedEvent, clock: WallClock, stacks: Bool) -> String {
        let r = tableRow(e, clock: clock)
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            s.count >= n ? s : (left ? s + String(repeating: " ", count: n - s.count) : String(repeating: " ", count: n - s.count) + s)
        }
        var out = pad(r[0], 12, left: true) + " " + pad(r[1], 3) + " " + pad(r[2], 18, left: true) + " " + pad(r[3], 8, left: true) + " "
            + pad(r[4], 7) + " " + pad(r[5], 15, left: true) + " " + pad(r[6], 8) + "  " + r[7] + "\n"
        guard stacks else { return out }
        func block(_ title: String, _ frames: [String]) {
            guard !frames.isEmpty else { return }
            out += "        \(title):\n"
            for f in frames { out += "          \(f)\n" }
        }
        switch e.kind {
        case .starvation:
            block("\(e.task.label) stopped at (kernel)", e.taskKernelStack)
            block("CPU holder \(e.other?.label ?? "?") (kernel)", e.currentKernelStack)
            block("CPU holder \(e.other?.label ?? "?") (user)", e.currentUserStack)
        case .priorityInversion:
            block("\(e.task.label) blocked at (kernel)", e.taskKernelStack)
            block("waker \(e.other?.label ?? "?") (user)", e.currentUserStack)
        default:
            block("\(e.task.label) (kernel)", e.taskKernelStack)
            block("current task (kernel)", e.currentKernelStack)
        }
        return out
    }

    public static var header: String {
        "TIME (UTC)   CPU KIND               SEVERITY     PID COMM             WAIT_MS  WHAT\n"
    }

    /// Frames of our own programs and the tracepoint glue on top of a stack taken inside them:
    /// they say nothing about the task.
    public static func droppingProbeFrames(_ frames: [String]) -> [String] {
        Array(frames.drop(while: { $0.hasPrefix("bpf_") || $0.contains("[bpf]") || $0.hasPrefix("__bpf_") }))
    }

    /// One JSON object per event.
    public static func json(_ e: SchedEvent, clock: WallClock) -> String {
        func task(_ t: EventTask?) -> String {
            guard let t else { return "null" }
            return "{\"pid\":\(t.pid),\"tgid\":\(t.tgid),\"comm\":\(JSONLines.string(t.comm)),\"cgroup_id\":\(t.cgroupID),"
                + "\"cgroup\":\(t.cgroupPath.map(JSONLines.string) ?? "null"),\"prio\":\(t.priority),\"nice\":\(t.nice),"
                + "\"policy\":\(t.policy),\"kernel_thread\":\(t.isKernelThread),"
                + "\"workload_kind\":\(t.workload.map { JSONLines.string($0.kind.rawValue) } ?? "null"),"
                + "\"workload\":\(t.workload.map { JSONLines.string($0.name) } ?? "null")}"
        }
        func frames(_ f: [String]) -> String { "[" + f.map(JSONLines.string).joined(separator: ",") + "]" }
        return "{\"timestamp\":\(JSONLines.string(clock.iso(monotonicNs: e.timeNs))),\"time_ns\":\(e.timeNs),\"cpu\":\(e.cpu),\"kind\":\(JSONLines.string(e.kind.rawValue)),"
            + "\"severity\":\(e.severity.map { JSONLines.string($0.rawValue) } ?? "null"),"
            + "\"duration_ns\":\(e.durationNs),\"value\":\(e.value),\"cause\":\(JSONLines.string(e.cause)),"
            + "\"throttled\":\(e.throttled),\"task\":\(task(e.task)),\"other\":\(task(e.other)),\"third\":\(task(e.third)),"
            + "\"task_kernel_stack\":\(frames(e.taskKernelStack)),\"current_kernel_stack\":\(frames(e.currentKernelStack)),"
            + "\"current_user_stack\":\(frames(e.currentUserStack)),\"summary\":\(JSONLines.string(e.summary))}\n"
    }
}

/// CLOCK_MONOTONIC (the BPF side's clock) to wall-clock time, from one pair of readings.
public struct WallClock: Sendable {
    let realtimeNs: Int64
    let monotonicNs: Int64

    /// A pair of readings of CLOCK_REALTIME and CLOCK_MONOTONIC taken together, ns
    /// (StarveHost's `WallClock.now()` reads them).
    public init(realtimeNs: Int64, monotonicNs: Int64) {
        self.realtimeNs = realtimeNs
        self.monotonicNs = monotonicNs
    }

    func date(_ mono: UInt64) -> Date {
        Date(timeIntervalSince1970: Double(realtimeNs - (monotonicNs - Int64(bitPattern: mono))) / 1e9)
    }

    /// ISO 8601 UTC with milliseconds.
    public func iso(monotonicNs mono: UInt64) -> String { isoTimestamp(date(mono)) }

    /// HH:MM:SS.mmm UTC.
    public func timeOfDay(monotonicNs mono: UInt64) -> String {
        let iso = iso(monotonicNs: mono)
        guard let t = iso.firstIndex(of: "T") else { return iso }
        return String(iso[iso.index(after: t)...].prefix(12))
    }
}
