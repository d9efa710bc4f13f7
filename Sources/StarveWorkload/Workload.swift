import CStarveSys
import Glibc
import StarveModel
import StarveHost

/// One busy worker's settings.
public struct WorkerSpec: Sendable, Equatable {
    public var nice: Int32
    /// CPUs the worker may run on; empty: any.
    public var cpus: [Int]
    /// Put the worker in a session of its own (setsid), hence in its own autogroup.
    public var newSession: Bool
    /// Scheduling policy (SCHED_OTHER, SCHED_BATCH or SCHED_IDLE).
    public var policy: WorkerPolicy
    /// Duty cycle: burn this much CPU time, then sleep `sleepMs`; nil = always busy.
    public var dutyCycle: DutyCycle?
    /// cgroup directory (v1 or v2) the worker is moved into; nil = stays in ours.
    public var cgroup: String?
    /// Pin the worker to each of these CPUs in turn, moving on every so often (a migration storm).
    public var affinityFlip: AffinityFlip?

    public init(nice: Int32 = 0, cpus: [Int] = [], newSession: Bool = false, policy: WorkerPolicy = .other,
                dutyCycle: DutyCycle? = nil, cgroup: String? = nil, affinityFlip: AffinityFlip? = nil) {
        self.nice = nice
        self.cpus = cpus
        self.newSession = newSession
        self.policy = policy
        self.dutyCycle = dutyCycle
        self.cgroup = cgroup
        self.affinityFlip = affinityFlip
    }
}

/// Parses `--cpu` lists: items separated by commas, each a CPU (`1`) or a range (`0-3`) that
/// is one affinity set. `"1"`: every worker on CPU 1; `"0,1"`: workers alternate between CPU 0
/// and CPU 1; `"0-1"`: every worker may use CPUs 0 and 1.
public func parseCPUSets(_ text: String) throws -> [[Int]] {
    let online = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
    return try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
        let parts = item.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmed()) }
        guard (1...2).contains(parts.count), let lo = parts.first!, let hi = parts.last!, lo >= 0, lo <= hi else {
            throw StarveError("bad CPU list item '\(item)': use N or A-B, separated by commas (e.g. 1 or 0-1 or 0,1)")
        }
        guard hi < online else { throw StarveError("CPU \(hi) does not exist: this machine has CPUs 0-\(online - 1)") }
        return Array(lo...hi)
    }
}

/// Parses `--nice` lists: integers -20...19 separated by commas.
public func parseNiceList(_ text: String) throws -> [Int32] {
    try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
        guard let n = Int32(item.trimmed()), (-20...19).contains(n) else {
            throw StarveError("bad nice level '\(item)': use integers from -20 to 19, separated by commas")
        }
        return n
    }
}

/// Assigns nice levels, CPU sets and cgroups to `count` workers round-robin.
public func workerSpecs(count: Int, nice: [Int32], cpuSets: [[Int]], newSession: Bool,
                        policy: WorkerPolicy = .other, dutyCycle: DutyCycle? = nil, cgroups: [String] = []) -> [WorkerSpec] {
    (0..<count).map { i in
        WorkerSpec(nice: nice.isEmpty ? 0 : nice[i % nice.count],
                   cpus: cpuSets.isEmpty ? [] : cpuSets[i % cpuSets.count],
                   newSession: newSession, policy: policy, dutyCycle: dutyCycle,
                   cgroup: cgroups.isEmpty ? nil : cgroups[i % cgroups.count])
    }
}

extension Substring {
    /// Without leading and trailing spaces (list items like "0, 5").
    fileprivate func trimmed() -> Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// Inside a worker process: applies nice and affinity to itself, then spins until `seconds`
/// pass (forever when nil) or its parent dies.
public func runBusyWorker(_ spec: WorkerSpec, seconds: Double?) throws -> Never {
    let parent = getppid()
    starve_sys_set_parent_death_signal(SIGKILL)
    if parent == 1 { exit(0) }  // parent already gone
    if !spec.cpus.isEmpty {
        let cpus = spec.cpus.map(Int32.init)
        guard starve_sys_set_affinity(cpus, Int32(cpus.count)) == 0 else {
            throw StarveError("cannot pin worker to CPUs \(spec.cpus): \(String(cString: strerror(errno)))")
        }
    }
    if spec.policy != .other {
        var param = sched_param(sched_priority: 0)
        guard sched_setscheduler(0, spec.policy.number, &param) == 0 else {
            throw StarveError("cannot set policy \(spec.policy.rawValue): \(String(cString: strerror(errno)))")
        }
    }
    errno = 0
    if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, spec.nice) != 0 {
        throw StarveError("cannot set nice \(spec.nice): \(String(cString: strerror(errno)))\(spec.nice < 0 ? " (negative nice needs root)" : "")")
    }
    if let flip = spec.affinityFlip, flip.cpus.isEmpty || flip.everyMs <= 0 {
        throw StarveError("an affinity flip needs at least one CPU and a positive interval")
    }
    let deadline = seconds.map { monotonicNs() + UInt64($0 * 1e9) }
    var x: UInt64 = 0
    var burstStart = threadCPUTimeNs()
    var nextFlip = monotonicNs(), flipIndex = 0
    while true {
        // 20 000 rounds: tens of µs (more in debug builds), fine enough for millisecond duty cycles and flips.
        for i in 0..<20_000 { x = x &* 6364136223846793005 &+ UInt64(truncatingIfNeeded: i) }
        let now = monotonicNs()
        if let deadline, now >= deadline { break }
        if let flip = spec.affinityFlip, now >= nextFlip {
            // Pinning ourselves away from the CPU we run on makes the kernel move us at once.
            var cpu = Int32(flip.cpus[flipIndex % flip.cpus.count])
            guard starve_sys_set_affinity(&cpu, 1) == 0 else {
                throw StarveError("cannot pin worker to CPU \(cpu): \(String(cString: strerror(errno)))")
            }
            flipIndex += 1
            nextFlip = now + UInt64(flip.everyMs * 1e6)
        }
        if let duty = spec.dutyCycle, threadCPUTimeNs() - burstStart >= UInt64(duty.busyMs * 1e6) {
            // Busy is CPU time, not wall time: under contention the burst stretches, so the
            // worker still asks for busy / (busy + sleep) of a CPU when it runs alone.
            var ts = timespec(tv_sec: Int(duty.sleepMs / 1000), tv_nsec: Int((duty.sleepMs.truncatingRemainder(dividingBy: 1000)) * 1e6))
            var left = timespec()
            while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
            burstStart = threadCPUTimeNs()
        }
    }
    if x == 42 { print("") }  // keep the loop from being optimised away
    exit(0)
}

/// A worker's scheduling policy.
public enum WorkerPolicy: String, Sendable, CaseIterable {
    case other, batch, idle

    /// The policy number for sched_setscheduler(2) (SCHED_BATCH and SCHED_IDLE need
    /// _GNU_SOURCE in glibc's headers, so the numbers are spelled out).
    public var number: Int32 {
        switch self {
        case .other: return 0
        case .batch: return 3
        case .idle: return 5
        }
    }
}

/// A worker that keeps moving: pinned to `cpus[0]`, then `cpus[1]`, … every `everyMs`.
public struct AffinityFlip: Sendable, Equatable {
    /// The CPUs taken in turn.
    public var cpus: [Int]
    /// Time on each before moving on, ms.
    public var everyMs: Double

    public init(cpus: [Int], everyMs: Double) {
        self.cpus = cpus
        self.everyMs = everyMs
    }
}

/// Busy / sleep periods of a duty-cycle worker.
public struct DutyCycle: Sendable, Equatable {
    /// CPU time burnt per period, ms.
    public var busyMs: Double
    /// Sleep per period, ms.
    public var sleepMs: Double

    public init(busyMs: Double, sleepMs: Double) {
        self.busyMs = busyMs
        self.sleepMs = sleepMs
    }

    /// Fraction of a CPU the worker asks for when it runs alone.
    public var demand: Double { busyMs + sleepMs > 0 ? busyMs / (busyMs + sleepMs) : 1 }
}

/// This thread's CPU time, ns (CLOCK_THREAD_CPUTIME_ID).
func threadCPUTimeNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Moves process `pid` into the cgroup directory `dir` (v1 or v2) by writing `cgroup.procs`.
public func moveToCgroup(pid: pid_t, dir: String) throws {
    let path = dir.hasSuffix("/") ? dir + "cgroup.procs" : dir + "/cgroup.procs"
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw StarveError("cannot open \(path): \(String(cString: strerror(errno))) (is \(dir) a cgroup directory?)") }
    defer { close(fd) }
    let text = "\(pid)\n"
    let n = text.withCString { write(fd, $0, strlen($0)) }
    guard n >= 0 else {
        let e = errno
        let hint = e == EBUSY ? " (cgroup v2: a cgroup with controllers enabled for its children cannot hold processes; use a leaf)" : ""
        throw StarveError("cannot move pid \(pid) into \(dir): \(String(cString: strerror(e)))\(hint)")
    }
}

/// A running worker process.
public struct WorkerProcess: Sendable, Equatable {
    public let index: Int
    public let pid: pid_t
    public let spec: WorkerSpec
}

/// Starts and reaps worker processes: each is this executable re-run as `worker` with its spec,
/// so workers are real processes with their own nice level, affinity and (optionally) session.
public final class WorkerPool {
    public private(set) var workers: [WorkerProcess] = []

    public init() {}

    /// Spawns one worker running `arguments` (argv[1...]) of the executable at `executable`.
    public func spawn(index: Int, spec: WorkerSpec, executable: String, arguments: [String]) throws -> WorkerProcess {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var flags = Int32(POSIX_SPAWN_SETSIGMASK)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)  // the parent blocks SIGINT/SIGTERM; workers must not
        if spec.newSession { flags |= Int32(starve_sys_posix_spawn_setsid()) }
        posix_spawnattr_setflags(&attr, Int16(flags))
        let argv = [executable] + arguments
        var cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, nil, &attr, &cargs, environ)
        guard rc == 0 else { throw StarveError("cannot start worker: \(String(cString: strerror(rc)))") }
        let w = WorkerProcess(index: index, pid: pid, spec: spec)
        workers.append(w)
        // Moved by us right after the spawn (not by the worker itself) so a failure is reported
        // here; the worker spends at most microseconds in our cgroup.
        if let dir = spec.cgroup { try moveToCgroup(pid: pid, dir: dir) }
        return w
    }

    /// Stops every worker still running (SIGTERM) and waits for all of them.
    public func stopAll() {
        for w in workers { kill(w.pid, SIGTERM) }
        for w in workers {
            var status: Int32 = 0
            while waitpid(w.pid, &status, 0) < 0 && errno == EINTR {}
        }
        workers.removeAll()
    }

    deinit { stopAll() }
}
