import CStarveSys
import Glibc
import StarveCore

/// One busy worker's settings.
public struct WorkerSpec: Sendable, Equatable {
    public var nice: Int32
    /// CPUs the worker may run on; empty: any.
    public var cpus: [Int]
    /// Put the worker in a session of its own (setsid), hence in its own autogroup.
    public var newSession: Bool

    public init(nice: Int32 = 0, cpus: [Int] = [], newSession: Bool = false) {
        self.nice = nice
        self.cpus = cpus
        self.newSession = newSession
    }
}

/// Parses `--cpu` lists: items separated by commas, each a CPU (`1`) or a range (`0-3`) that
/// is one affinity set. `"1"`: every worker on CPU 1; `"0,1"`: workers alternate between CPU 0
/// and CPU 1; `"0-1"`: every worker may use CPUs 0 and 1.
public func parseCPUSets(_ text: String) throws -> [[Int]] {
    let online = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
    return try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
        let parts = item.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
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
        guard let n = Int32(item.trimmingCharacters(in: .whitespaces)), (-20...19).contains(n) else {
            throw StarveError("bad nice level '\(item)': use integers from -20 to 19, separated by commas")
        }
        return n
    }
}

/// Assigns nice levels and CPU sets to `count` workers round-robin.
public func workerSpecs(count: Int, nice: [Int32], cpuSets: [[Int]], newSession: Bool) -> [WorkerSpec] {
    (0..<count).map { i in
        WorkerSpec(nice: nice.isEmpty ? 0 : nice[i % nice.count],
                   cpus: cpuSets.isEmpty ? [] : cpuSets[i % cpuSets.count],
                   newSession: newSession)
    }
}

extension String {
    fileprivate func trimmingCharacters(in _: CharacterSet) -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: CharacterSet) -> String { String(self).trimmingCharacters(in: set) }
}

fileprivate enum CharacterSet { case whitespaces }

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
    errno = 0
    if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, spec.nice) != 0 {
        throw StarveError("cannot set nice \(spec.nice): \(String(cString: strerror(errno)))\(spec.nice < 0 ? " (negative nice needs root)" : "")")
    }
    let deadline = seconds.map { monotonicNs() + UInt64($0 * 1e9) }
    var x: UInt64 = 0
    while true {
        for i in 0..<200_000 { x = x &* 6364136223846793005 &+ UInt64(truncatingIfNeeded: i) }
        if let deadline, monotonicNs() >= deadline { break }
    }
    if x == 42 { print("") }  // keep the loop from being optimised away
    exit(0)
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

/// Path of the running executable (/proc/self/exe).
public func currentExecutable() -> String {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    return n > 0 ? String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
}
