import Foundation

/// Run-queue wait accumulated for one cause (after a wakeup, or after a preemption).
public struct WaitCounters: Sendable, Equatable {
    /// Sum of the waits, in nanoseconds.
    public var totalNs: UInt64
    /// Number of waits that ended (the task got a CPU).
    public var count: UInt64
    /// Longest single wait, in nanoseconds.
    public var maxNs: UInt64

    public init(totalNs: UInt64 = 0, count: UInt64 = 0, maxNs: UInt64 = 0) {
        self.totalNs = totalNs
        self.count = count
        self.maxNs = maxNs
    }
}

/// What the kernel side has counted for one thread since it first saw it: the Swift view of
/// `struct starve_task` (starve.h), with the BPF-side bookkeeping left out.
///
/// Counters only grow; ``IntervalTracker`` turns two snapshots into per-interval figures.
public struct TaskCounters: Sendable, Equatable {
    public var pid: UInt32
    public var tgid: UInt32
    public var comm: String
    public var nice: Int32
    public var staticPriority: UInt32
    /// Effective priority: lower runs first; below 100 is real-time.
    public var priority: UInt32
    /// Scheduling policy number (0 OTHER, 1 FIFO, 2 RR, 3 BATCH, 5 IDLE, 6 DEADLINE).
    public var policy: UInt32
    /// CFS weight on the nice-0 = 1024 scale.
    public var weight: UInt64
    /// Cgroup id in the cpu controller's hierarchy (v1 `cpu`, or v2).
    public var cpuCgroupID: UInt64
    /// Cgroup id in the default (v2) hierarchy.
    public var cgroupID: UInt64
    /// `task->start_time`, CLOCK_MONOTONIC ns: a reused pid has a different one.
    public var startTimeNs: UInt64
    /// Start tag of the thread's process (its group leader's start time >> 20, 32 bits): with
    /// the tgid, one process; what the victim x preemptor matrix keys processes by.
    public var processStart: UInt32 = 0
    public var runtimeNs: UInt64
    public var voluntarySwitches: UInt64
    public var involuntarySwitches: UInt64
    public var waitAfterWakeup: WaitCounters
    public var waitAfterPreemption: WaitCounters
    /// Waits that began with a switch-out under CFS bandwidth throttling (its cgroup's quota).
    public var waitAfterThrottle: WaitCounters
    /// Involuntary switch-outs by who took the CPU: same cpu cgroup, another cgroup, the system
    /// (kernel threads, root cgroup).
    public var preemptedSame: UInt64
    public var preemptedOther: UInt64
    public var preemptedSystem: UInt64
    /// Times this task took the CPU from a still-runnable task.
    public var preemptionsCaused: UInt64
    /// Migration storms raised for this task.
    public var migrationStorms: UInt64
    public var migrations: UInt64
    public var lastCPU: UInt32
    public var isKernelThread: Bool
    /// Run-queue waits of both causes, log2 over ns. Per-task slots are 32-bit in the kernel.
    public var waitHistogram: LogHistogram
    /// Age of the run-queue wait in progress when read (0: not waiting). Not yet in the wait
    /// totals, which count a wait when it ends, as the kernel's schedstat does.
    public var openWaitNs: UInt64
    /// Time asleep in io_schedule() (blocked in I/O) and asleep otherwise since the load, an open
    /// sleep up to the read included; zeros unless the load has --jobs (bpf/jobs.bpf.h).
    public var blockedIONs: UInt64 = 0
    public var sleepNs: UInt64 = 0

    public init(
        pid: UInt32, tgid: UInt32, comm: String, nice: Int32 = 0, staticPriority: UInt32 = 120,
        priority: UInt32 = 120, policy: UInt32 = 0, weight: UInt64 = 1024, cpuCgroupID: UInt64 = 0,
        cgroupID: UInt64 = 0, startTimeNs: UInt64 = 0, runtimeNs: UInt64 = 0,
        voluntarySwitches: UInt64 = 0, involuntarySwitches: UInt64 = 0,
        waitAfterWakeup: WaitCounters = .init(), waitAfterPreemption: WaitCounters = .init(),
        waitAfterThrottle: WaitCounters = .init(), preemptedSame: UInt64 = 0, preemptedOther: UInt64 = 0,
        preemptedSystem: UInt64 = 0, preemptionsCaused: UInt64 = 0, migrationStorms: UInt64 = 0,
        migrations: UInt64 = 0, lastCPU: UInt32 = 0, isKernelThread: Bool = false,
        waitHistogram: LogHistogram = LogHistogram(counterWidth: .bits32), openWaitNs: UInt64 = 0
    ) {
        self.pid = pid
        self.tgid = tgid
        self.comm = comm
        self.nice = nice
        self.staticPriority = staticPriority
        self.priority = priority
        self.policy = policy
        self.weight = weight
        self.cpuCgroupID = cpuCgroupID
        self.cgroupID = cgroupID
        self.startTimeNs = startTimeNs
        self.runtimeNs = runtimeNs
        self.voluntarySwitches = voluntarySwitches
        self.involuntarySwitches = involuntarySwitches
        self.waitAfterWakeup = waitAfterWakeup
        self.waitAfterPreemption = waitAfterPreemption
        self.waitAfterThrottle = waitAfterThrottle
        self.preemptedSame = preemptedSame
        self.preemptedOther = preemptedOther
        self.preemptedSystem = preemptedSystem
        self.preemptionsCaused = preemptionsCaused
        self.migrationStorms = migrationStorms
        self.migrations = migrations
        self.lastCPU = lastCPU
        self.isKernelThread = isKernelThread
        self.waitHistogram = waitHistogram
        self.openWaitNs = openWaitNs
    }

    /// Context switches out of the CPU, both kinds.
    public var switches: UInt64 { voluntarySwitches &+ involuntarySwitches }
    /// Run-queue wait of every cause, ns.
    public var waitNs: UInt64 { waitAfterWakeup.totalNs &+ waitAfterPreemption.totalNs &+ waitAfterThrottle.totalNs }
    /// Number of waits of every cause.
    public var waitCount: UInt64 { waitAfterWakeup.count &+ waitAfterPreemption.count &+ waitAfterThrottle.count }
    /// Longest single wait of any cause, ns.
    public var waitMaxNs: UInt64 { max(waitAfterWakeup.maxNs, waitAfterPreemption.maxNs, waitAfterThrottle.maxNs) }
}

/// The kernel side's own counters (`struct starve_stats`), summed over CPUs.
public struct CollectorStats: Sendable, Equatable {
    public var switches: UInt64 = 0
    public var wakeups: UInt64 = 0
    public var migrations: UInt64 = 0
    public var exits: UInt64 = 0
    public var tasksCreated: UInt64 = 0
    /// Threads that could not be given task-local storage (out of memory).
    public var storageFailures: UInt64 = 0
    /// Switch-ins of a known task with no recorded start of its wait.
    public var missedWakeups: UInt64 = 0
    /// Runnable switch-outs under CFS throttling.
    public var throttledSwitches: UInt64 = 0
    /// Events written to the ring buffer, and every way one was not.
    public var eventsEmitted: UInt64 = 0
    public var eventsRingbufFull: UInt64 = 0
    public var eventsRateLimited: UInt64 = 0
    public var eventsSampledOut: UInt64 = 0
    public var eventsFiltered: UInt64 = 0
    /// Preemption pairs not counted: an entry could not be added to `preempt_pairs`.
    public var pairsMapFull: UInt64 = 0
    /// Entries added to `preempt_pairs` (less its live entries: the evicted ones).
    public var pairsCreated: UInt64 = 0
    /// Waits booked to `preempt_pairs` directly: the victim thread's own slots were all taken.
    public var pairsOverflow: UInt64 = 0
    /// Thread slots moved into `preempt_pairs` when their thread exited.
    public var pairsFolded: UInt64 = 0
    /// Threads whose figures were folded into `exited` at exit; entries made there (less the
    /// live ones: evicted); threads that could not be folded.
    public var exitedFolded: UInt64 = 0
    public var exitedCreated: UInt64 = 0
    public var exitedDropped: UInt64 = 0
    /// Exits of threads that had storage: less ``exitedFolded``, threads whose last switch-out
    /// was not seen (not folded; a few are in flight at any read).
    public var exitsTracked: UInt64 = 0
    /// --jobs: sleeps not timed (no storage for the thread).
    public var jobsStorageFailures: UInt64 = 0
    /// Kernel stacks and user stacks (of user tasks) that could not be taken.
    public var kernelStackFailures: UInt64 = 0
    public var userStackFailures: UInt64 = 0
    /// Events that went out without their stacks: the `event_stacks` ring buffer was full.
    public var stacksRingbufFull: UInt64 = 0
    /// Detections, before the event volume controls.
    public var starvations: UInt64 = 0
    public var inversions: UInt64 = 0
    public var piBoosts: UInt64 = 0
    public var migrationStorms: UInt64 = 0
    /// Starvations at or over the severe and the critical threshold (within ``starvations``).
    public var starvationsSevere: UInt64 = 0
    public var starvationsCritical: UInt64 = 0
    /// Total length of the starvations, ns, and their log2 histogram: slot i counts waits of
    /// [2^(i + ``starvationSlotBase``), 2^(i + 1 + base)) ns, slot 0 also the shorter, the last
    /// slot also the longer (`STARVE_STARVATION_SLOT_BASE`, `STARVE_STARVATION_SLOTS`).
    public var starvationNs: UInt64 = 0
    public var starvationHistogram: [UInt64] = Array(repeating: 0, count: CollectorStats.starvationSlots)
    public static let starvationSlotBase = 20
    public static let starvationSlots = 16

    public init() {}

    /// Events that were due but not written, for any reason.
    public var eventsLost: UInt64 { eventsRingbufFull &+ eventsRateLimited &+ eventsSampledOut &+ eventsFiltered }
}

extension CollectorStats {
    /// What each counter grew by since `earlier` (counters only grow; a smaller one gives 0).
    public func growth(since earlier: CollectorStats) -> CollectorStats {
        func d(_ a: UInt64, _ b: UInt64) -> UInt64 { a > b ? a - b : 0 }
        var g = CollectorStats()
        g.switches = d(switches, earlier.switches)
        g.wakeups = d(wakeups, earlier.wakeups)
        g.migrations = d(migrations, earlier.migrations)
        g.exits = d(exits, earlier.exits)
        g.tasksCreated = d(tasksCreated, earlier.tasksCreated)
        g.storageFailures = d(storageFailures, earlier.storageFailures)
        g.missedWakeups = d(missedWakeups, earlier.missedWakeups)
        g.throttledSwitches = d(throttledSwitches, earlier.throttledSwitches)
        g.eventsEmitted = d(eventsEmitted, earlier.eventsEmitted)
        g.eventsRingbufFull = d(eventsRingbufFull, earlier.eventsRingbufFull)
        g.eventsRateLimited = d(eventsRateLimited, earlier.eventsRateLimited)
        g.eventsSampledOut = d(eventsSampledOut, earlier.eventsSampledOut)
        g.eventsFiltered = d(eventsFiltered, earlier.eventsFiltered)
        g.pairsMapFull = d(pairsMapFull, earlier.pairsMapFull)
        g.pairsCreated = d(pairsCreated, earlier.pairsCreated)
        g.pairsOverflow = d(pairsOverflow, earlier.pairsOverflow)
        g.pairsFolded = d(pairsFolded, earlier.pairsFolded)
        g.exitedFolded = d(exitedFolded, earlier.exitedFolded)
        g.exitedCreated = d(exitedCreated, earlier.exitedCreated)
        g.exitedDropped = d(exitedDropped, earlier.exitedDropped)
        g.kernelStackFailures = d(kernelStackFailures, earlier.kernelStackFailures)
        g.userStackFailures = d(userStackFailures, earlier.userStackFailures)
        g.stacksRingbufFull = d(stacksRingbufFull, earlier.stacksRingbufFull)
        g.starvations = d(starvations, earlier.starvations)
        g.inversions = d(inversions, earlier.inversions)
        g.piBoosts = d(piBoosts, earlier.piBoosts)
        g.migrationStorms = d(migrationStorms, earlier.migrationStorms)
        g.starvationsSevere = d(starvationsSevere, earlier.starvationsSevere)
        g.starvationsCritical = d(starvationsCritical, earlier.starvationsCritical)
        g.starvationNs = d(starvationNs, earlier.starvationNs)
        g.starvationHistogram = zip(starvationHistogram, earlier.starvationHistogram).map { d($0, $1) }
        return g
    }
}

extension CollectorStats {
    /// What the collector could not count, one line, from an interval's growth
    /// (``growth(since:)``); nil when nothing was lost. Figures of threads it could not give
    /// storage, of exits it could not fold and of matrix cells it could not add are missing from
    /// the rows.
    public var lossNote: String? {
        let parts = [("threads without storage", storageFailures), ("exits not folded", exitedDropped),
                     ("preemptions not booked (preempt_pairs full)", pairsMapFull)]
            .filter { $0.1 > 0 }.map { "\($0.1) \($0.0)" }
        return parts.isEmpty ? nil : "collector lost in this interval: " + parts.joined(separator: ", ")
    }
}

/// The kernel's task I/O accounting (task->ioac, CONFIG_TASK_IO_ACCOUNTING), as
/// `/proc/<pid>/task/<tid>/io` shows it: counters that only grow.
public struct TaskIO: Sendable, Equatable, Codable {
    /// Bytes read and written by read- and write-like syscalls (files, pipes, sockets).
    public var rchar: UInt64 = 0
    public var wchar: UInt64 = 0
    /// Read- and write-like syscalls.
    public var syscr: UInt64 = 0
    public var syscw: UInt64 = 0
    /// Bytes fetched from and sent to storage.
    public var readBytes: UInt64 = 0
    public var writeBytes: UInt64 = 0
    public var cancelledWriteBytes: UInt64 = 0

    enum CodingKeys: String, CodingKey {
        case rchar, wchar, syscr, syscw, readBytes = "read_bytes", writeBytes = "write_bytes"
        case cancelledWriteBytes = "cancelled_write_bytes"
    }

    public init(rchar: UInt64 = 0, wchar: UInt64 = 0, syscr: UInt64 = 0, syscw: UInt64 = 0,
                readBytes: UInt64 = 0, writeBytes: UInt64 = 0, cancelledWriteBytes: UInt64 = 0) {
        self.rchar = rchar
        self.wchar = wchar
        self.syscr = syscr
        self.syscw = syscw
        self.readBytes = readBytes
        self.writeBytes = writeBytes
        self.cancelledWriteBytes = cancelledWriteBytes
    }

    /// Parses the text of a `/proc/.../io` file (`rchar: N` lines); nil when it has none.
    public init?(procIO text: String) {
        var seen = false
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let v = UInt64(parts[1].trimmingCharacters(in: .whitespaces)) else { continue }
            seen = true
            switch parts[0] {
            case "rchar": rchar = v
            case "wchar": wchar = v
            case "syscr": syscr = v
            case "syscw": syscw = v
            case "read_bytes": readBytes = v
            case "write_bytes": writeBytes = v
            case "cancelled_write_bytes": cancelledWriteBytes = v
            default: break
            }
        }
        if !seen { return nil }
    }

    /// The sum of two.
    public static func + (a: TaskIO, b: TaskIO) -> TaskIO {
        TaskIO(rchar: a.rchar &+ b.rchar, wchar: a.wchar &+ b.wchar, syscr: a.syscr &+ b.syscr, syscw: a.syscw &+ b.syscw,
               readBytes: a.readBytes &+ b.readBytes, writeBytes: a.writeBytes &+ b.writeBytes,
               cancelledWriteBytes: a.cancelledWriteBytes &+ b.cancelledWriteBytes)
    }
}
