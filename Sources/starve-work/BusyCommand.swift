import ArgumentParser
import Glibc
import StarveModel
import StarveHost
import StarveWorkload

extension StarveWork {
    struct Busy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run busy-loop workers (the default).",
            discussion: """
                Prints one line per worker, `worker I pid P nice N cpus C`, then runs until --duration \
                passes or SIGINT/SIGTERM arrives, and reaps every worker before it exits.
                """
        )

        @Option(help: "Number of workers.")
        var workers: Int = 2

        @Option(help: "Nice levels, assigned to workers round-robin (e.g. 0,5).")
        var nice: String = "0"

        @Option(help: "CPU sets, assigned round-robin: 1 = all on CPU 1; 0,1 = alternate; 0-1 = each may use both. Default: any CPU.")
        var cpu: String?

        @Option(help: "Seconds to run; 0 = until Ctrl-C.")
        var duration: Double = 10

        @Flag(help: "Start each worker in a session of its own (its own autogroup: nice no longer counts across workers).")
        var setsid = false

        @Option(help: "Duty cycle: burn this many ms of CPU time, then sleep --sleep-ms (default: always busy).")
        var busyMs: Double?

        @Option(help: "Duty cycle: ms to sleep after each --busy-ms burst.")
        var sleepMs: Double?

        @Option(help: "Scheduling policy: other, batch or idle.")
        var policy: WorkerPolicy = .other

        @Option(help: "cgroup directories (v1 or v2, must exist), comma-separated: workers are moved into them round-robin by writing cgroup.procs.")
        var cgroup: String?

        func validate() throws {
            guard (1...4096).contains(workers) else { throw ValidationError("--workers must be between 1 and 4096") }
            guard duration >= 0 else { throw ValidationError("--duration must be 0 (until Ctrl-C) or more") }
            if busyMs != nil || sleepMs != nil {
                guard let b = busyMs, let s = sleepMs else { throw ValidationError("--busy-ms and --sleep-ms go together") }
                guard b > 0 && b <= 60_000 && s >= 0 && s <= 60_000 else { throw ValidationError("--busy-ms must be in (0, 60000] and --sleep-ms in [0, 60000]") }
            }
        }

        func run() throws {
            let signals = StopSignals()
            let nices = try parseNiceList(nice)
            let cpuSets = try cpu.map(parseCPUSets) ?? []
            let pool = WorkerPool()
            defer { pool.stopAll() }
            let exe = currentExecutable()
            let duty = busyMs.map { DutyCycle(busyMs: $0, sleepMs: sleepMs ?? 0) }
            let cgroups = try cgroup.map(parseCgroupDirs) ?? []
            let specs = workerSpecs(count: workers, nice: nices, cpuSets: cpuSets, newSession: setsid,
                                    policy: policy, dutyCycle: duty, cgroups: cgroups)
            for (i, spec) in specs.enumerated() {
                let w = try pool.spawn(index: i, spec: spec, executable: exe, arguments: workerArguments(spec, duration: duration))
                let cpus = spec.cpus.isEmpty ? "any" : spec.cpus.map(String.init).joined(separator: ",")
                var line = "worker \(i) pid \(w.pid) nice \(spec.nice) cpus \(cpus)"
                if spec.policy != .other { line += " policy \(spec.policy.rawValue)" }
                if let d = spec.dutyCycle { line += " busy-ms \(formatFixed(d.busyMs, decimals: 1)) sleep-ms \(formatFixed(d.sleepMs, decimals: 1))" }
                if let c = spec.cgroup { line += " cgroup \(c)" }
                writeStdout(line + "\n")
            }
            _ = signals.wait(seconds: duration == 0 ? nil : duration)
        }
    }

    /// One worker process; started by `busy`, not meant to be run by hand.
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One busy worker (internal: started by busy).", shouldDisplay: false)

        @Option var nice: Int32 = 0
        @Option var cpus: String?
        @Option var duration: Double = 0
        @Option var policy: WorkerPolicy = .other
        @Option var busyMs: Double?
        @Option var sleepMs: Double = 0
        @Option var flipCpus: String?
        @Option var flipMs: Double = 1

        func run() throws {
            func cpuList(_ text: String) throws -> [Int] {
                try text.split(separator: ",").map { s -> Int in
                    guard let c = Int(s) else { throw StarveError("bad CPU \(s)") }
                    return c
                }
            }
            let list = try cpus.map(cpuList) ?? []
            let flip = try flipCpus.map { AffinityFlip(cpus: try cpuList($0), everyMs: flipMs) }
            let spec = WorkerSpec(nice: nice, cpus: list, policy: policy, dutyCycle: busyMs.map { DutyCycle(busyMs: $0, sleepMs: sleepMs) },
                                  affinityFlip: flip)
            try runBusyWorker(spec, seconds: duration == 0 ? nil : duration)
        }
    }
}

extension WorkerPolicy: ExpressibleByArgument {}

/// The `worker` subcommand's arguments for `spec` (cgroup and session are applied by the spawner).
func workerArguments(_ spec: WorkerSpec, duration: Double) -> [String] {
    var args = ["worker", "--nice", String(spec.nice), "--duration", String(duration)]
    if !spec.cpus.isEmpty { args += ["--cpus", spec.cpus.map(String.init).joined(separator: ",")] }
    if spec.policy != .other { args += ["--policy", spec.policy.rawValue] }
    if let d = spec.dutyCycle { args += ["--busy-ms", String(d.busyMs), "--sleep-ms", String(d.sleepMs)] }
    if let f = spec.affinityFlip { args += ["--flip-cpus", f.cpus.map(String.init).joined(separator: ","), "--flip-ms", String(f.everyMs)] }
    return args
}

/// Parses `--cgroup a,b`: each must be an existing cgroup directory (it has cgroup.procs).
func parseCgroupDirs(_ text: String) throws -> [String] {
    try text.split(separator: ",").map { item in
        let dir = String(item)
        guard access(dir + "/cgroup.procs", W_OK) == 0 else {
            throw StarveError("--cgroup \(dir): not a cgroup directory we can write (no writable cgroup.procs); create it first (mkdir under /sys/fs/cgroup/...)")
        }
        return dir
    }
}
