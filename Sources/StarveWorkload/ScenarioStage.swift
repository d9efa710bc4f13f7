import Glibc
import StarveModel
import StarveHost

/// Everything a scenario starts and must undo: its worker processes and scratch cgroups.
/// `finish()` stops the workers first (so the cgroups empty), then removes the cgroups, and
/// runs every step even when an earlier one fails; `deinit` does the same as a backstop.
public final class ScenarioStage {
    /// The scenario's worker processes.
    public let pool = WorkerPool()
    /// The cgroups it made, in creation order.
    public private(set) var cgroups: [ScratchCgroup] = []
    private var finished = false

    /// An empty stage.
    public init() {}

    /// Creates a scratch cgroup `<prefix>-<pid>` in the cpu hierarchy; it is removed by `finish()`.
    public func makeCgroup(prefix: String, hierarchy: CgroupHierarchy? = nil) throws -> ScratchCgroup {
        let cgroup = try ScratchCgroup(prefix: prefix, hierarchy: hierarchy, cpuController: hierarchy == nil)
        cgroups.append(cgroup)
        return cgroup
    }

    /// Spawns a worker process of `executable` (re-run as `worker`) with `spec`, and waits until
    /// it has applied its nice level and affinity, so whoever reads /proc after the scenario says
    /// `ready` sees the settings in force.
    public func spawnWorker(spec: WorkerSpec, executable: String, arguments: [String]) throws -> WorkerProcess {
        let w = try pool.spawn(index: pool.workers.count, spec: spec, executable: executable, arguments: arguments)
        try waitUntilSettled(pid: w.pid, nice: spec.nice, cpus: spec.affinityFlip == nil ? spec.cpus : [])
        return w
    }

    /// Stops the workers, then removes the cgroups; throws the first error after trying all.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        pool.stopAll()
        var first: Error?
        for cgroup in cgroups.reversed() {
            do { try cgroup.remove() } catch { first = first ?? error }
        }
        if let first { throw first }
    }

    deinit { try? finish() }
}

/// Waits (up to 5 s) until process `pid` runs at `nice` and, when `cpus` is not empty, is
/// allowed exactly those CPUs. Throws when it exits first or never gets there.
public func waitUntilSettled(pid: pid_t, nice: Int32, cpus: [Int]) throws {
    let deadline = monotonicNs() + 5_000_000_000
    var seen = "nothing"
    while monotonicNs() < deadline {
        guard let stat = HostFiles.read("/proc/\(pid)/stat"), let status = HostFiles.read("/proc/\(pid)/status") else {
            throw StarveError("worker \(pid) exited before it started (see the messages above)")
        }
        // State is field 3 (index 0), nice field 19 (index 16).
        let after = ProcStat.fields(stat) ?? []
        let actualNice = after.count > 16 ? Int32(after[16]) : nil
        let allowed = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
            .flatMap { SchedContextParser.cpuList(String($0.dropFirst("Cpus_allowed_list:".count))) }
        if after.first == "Z" { throw StarveError("worker \(pid) exited before it started (see the messages above)") }
        if actualNice == nice && (cpus.isEmpty || allowed == Set(cpus)) { return }
        seen = "nice \(actualNice.map(String.init) ?? "?") cpus \(allowed.map { $0.sorted().map(String.init).joined(separator: ",") } ?? "?")"
        usleep(2_000)
    }
    throw StarveError("worker \(pid) did not take nice \(nice) cpus \(cpus) within 5 s (has \(seen))")
}


/// `se.nr_migrations` from `/proc/<pid>/sched` (needs the scheduler's debug file; nil without it).
public func readMigrations(pid: pid_t) -> UInt64? {
    guard let text = HostFiles.read("/proc/\(pid)/sched") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("se.nr_migrations") {
        return line.split(separator: ":").last.flatMap { UInt64($0.split(separator: " ").first ?? "") }
    }
    return nil
}
