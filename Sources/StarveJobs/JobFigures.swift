import Foundation
import StarveHost
import StarveModel

/// Where a job's thread time went, summed over its threads (live and exited), ns. Every figure
/// is cumulative: on-CPU since each thread started (the kernel's sum_exec_runtime), the rest
/// since the collector was loaded (sleeps only with `starve-load --jobs`).
public struct JobTime: Sendable, Equatable, Codable {
    /// On a CPU.
    public var onCPUNs: UInt64 = 0
    /// Ready to run, on a run queue, by what began the wait.
    public var waitWakeupNs: UInt64 = 0
    public var waitPreemptNs: UInt64 = 0
    public var waitThrottledNs: UInt64 = 0
    /// Asleep in io_schedule(): blocked in I/O (fsync, page and buffer I/O).
    public var blockedIONs: UInt64 = 0
    /// Asleep otherwise: waiting for an event, a timer, a lock, input.
    public var sleepNs: UInt64 = 0
    public var voluntarySwitches: UInt64 = 0
    public var involuntarySwitches: UInt64 = 0
    /// Preempted by another task (involuntary switch-outs by who took the CPU).
    public var preemptedSame: UInt64 = 0
    public var preemptedOther: UInt64 = 0
    public var preemptedSystem: UInt64 = 0

    public init() {}

    /// One thread's or one exited-work entry's figures.
    public init(_ w: ThreadWork) {
        onCPUNs = w.runtimeNs
        waitWakeupNs = w.waitWakeup.totalNs
        waitPreemptNs = w.waitPreempt.totalNs
        waitThrottledNs = w.waitThrottled.totalNs
        blockedIONs = w.blockedIONs
        sleepNs = w.sleepNs
        voluntarySwitches = w.voluntarySwitches
        involuntarySwitches = w.involuntarySwitches
        preemptedSame = w.preemptedSame
        preemptedOther = w.preemptedOther
        preemptedSystem = w.preemptedSystem
    }

    /// A live thread's figures; its open run-queue wait counts as waited.
    public init(_ t: TaskCounters) {
        self.init(ThreadWork(t))
        waitWakeupNs &+= t.openWaitNs
    }

    /// Run-queue wait of all causes.
    public var waitNs: UInt64 { waitWakeupNs &+ waitPreemptNs &+ waitThrottledNs }
    /// All the time accounted: on-CPU, waiting for a CPU, blocked in I/O, asleep.
    public var accountedNs: UInt64 { onCPUNs &+ waitNs &+ blockedIONs &+ sleepNs }
    public var switches: UInt64 { voluntarySwitches &+ involuntarySwitches }

    public static func + (a: JobTime, b: JobTime) -> JobTime {
        var r = a
        r.onCPUNs &+= b.onCPUNs
        r.waitWakeupNs &+= b.waitWakeupNs
        r.waitPreemptNs &+= b.waitPreemptNs
        r.waitThrottledNs &+= b.waitThrottledNs
        r.blockedIONs &+= b.blockedIONs
        r.sleepNs &+= b.sleepNs
        r.voluntarySwitches &+= b.voluntarySwitches
        r.involuntarySwitches &+= b.involuntarySwitches
        r.preemptedSame &+= b.preemptedSame
        r.preemptedOther &+= b.preemptedOther
        r.preemptedSystem &+= b.preemptedSystem
        return r
    }
}

/// What Slurm says of a job (`squeue --json`).
public struct SlurmJob: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var user: String
    public var uid: UInt32
    /// PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, ...
    public var state: String
    /// CPUs allocated (squeue's `cpus`).
    public var cpus: Int
    /// Unix seconds; 0: not started / not ended.
    public var startTime: Int64
    public var endTime: Int64

    public init(id: String, name: String, user: String, uid: UInt32, state: String, cpus: Int, startTime: Int64, endTime: Int64) {
        self.id = id
        self.name = name
        self.user = user
        self.uid = uid
        self.state = state
        self.cpus = cpus
        self.startTime = startTime
        self.endTime = endTime
    }

    public var isRunning: Bool { state == "RUNNING" || state == "COMPLETING" }
    public var isFinished: Bool { !isRunning && state != "PENDING" && endTime > 0 }

    /// Seconds the job has run: to its end, or to `now` while it runs; 0 before it starts.
    public func elapsedSeconds(now: Double) -> Double {
        guard startTime > 0 else { return 0 }
        let end = isRunning || endTime <= 0 ? now : Double(endTime)
        return max(0, end - Double(startTime))
    }
}

/// A job's measured figures: threads and processes seen, time split, I/O.
public struct JobMeasure: Sendable, Equatable {
    public var time = JobTime()
    public var io = TaskIO()
    /// Threads alive at the read, and threads that exited (folded by the kernel side).
    public var liveThreads = 0
    public var exitedThreads: UInt64 = 0
    public var processes = 0
    /// Whether the exited threads' work is complete (load --jobs: folded per job in the kernel)
    /// or only that of processes seen alive by this reader.
    public var exitedComplete = false

    public init() {}

    /// Whether any thread of the job was seen (alive, or folded at its exit).
    public var isMeasured: Bool { liveThreads > 0 || exitedThreads > 0 }
}
