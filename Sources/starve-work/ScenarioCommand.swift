import ArgumentParser
import Glibc
import StarveModel
import StarveHost
import StarveWorkload

extension StarveWork {
    /// Named, reproducible kinds of CPU starvation, each with a known culprit.
    struct Scenario: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reproduce one kind of CPU starvation: quota, noisy, overload, inversion, migration, stacks or lock.",
            discussion: """
                Each scenario prints a `scenario=NAME …` line, one `role=… pid=…` (or `tid=…`) line per \
                participant, then `ready`; runs for --duration seconds (0: until SIGINT/SIGTERM); prints \
                `result …` lines with the kernel's own figures; and on exit, signal or failure stops its \
                workers and removes every cgroup it made. Needs root for cgroups and negative nice.
                """,
            subcommands: [Quota.self, Noisy.self, Overload.self, Inversion.self, Migration.self, Stacks.self, Lock.self]
        )
    }
}

/// Options every scenario takes.
struct ScenarioOptions: ParsableArguments {
    @Option(help: "CPU the scenario's tasks are pinned to (default: the last CPU).")
    var cpu: Int?

    @Option(help: "Seconds to run; 0 = until SIGINT/SIGTERM.")
    var duration: Double = 10

    func validate() throws {
        guard duration >= 0 else { throw ValidationError("--duration must be 0 (until signalled) or more") }
        if let cpu, !(0..<cpuCount).contains(cpu) {
            throw ValidationError("--cpu \(cpu) does not exist: this machine has CPUs 0-\(cpuCount - 1)")
        }
    }

    /// CPUs this machine has (configured, so numbering matches /proc).
    var cpuCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))) }

    /// --cpu, or the last CPU (usually the least busy with interrupts and housekeeping).
    var pinnedCPU: Int { cpu ?? cpuCount - 1 }
}

/// What a scenario set up: its participant lines, and what to do at the end of the run.
struct ScenarioPlan {
    /// One `role=…` line per participant, printed before `ready`.
    var participants: [String]
    /// `result …` lines, computed after the run, before anything is stopped.
    var results: () -> [String] = { [] }
    /// Stops in-process threads (worker processes and cgroups are the stage's job).
    var stop: () -> Void = {}
    /// Whether the scenario's work is done before --duration (polled every 100 ms; nil: it runs
    /// for --duration).
    var finished: (() -> Bool)? = nil
}

/// Runs a scenario: header, setup, participants, `ready`, the wait, results; then, always,
/// stops the workers and removes the cgroups. Setup errors and cleanup errors both end up as
/// the command's one-line error (the first one wins).
func runScenario(_ name: String, _ options: ScenarioOptions, cgroups: Bool,
                 setup: (ScenarioStage) throws -> ScenarioPlan) throws {
    let signals = StopSignals()  // before any thread or worker: all inherit the blocked mask
    let stage = ScenarioStage()
    var failure: Error?
    do {
        var header: KeyValuePairs<String, String> = ["scenario": name, "cpu": String(options.pinnedCPU),
                                                      "duration": formatFixed(options.duration, decimals: 1)]
        var line = keyValues(header)
        if cgroups {
            guard let h = CgroupFS.cpuHierarchy() else { throw StarveError("scenario \(name) needs a cgroup filesystem: none is mounted") }
            header = ["cgroup_version": h.version.rawValue, "cgroup_mount": h.mountPoint]
            line += " " + keyValues(header)
        }
        writeStdout(line + "\n")
        let plan = try setup(stage)
        writeStdout(plan.participants.map { $0 + "\n" }.joined() + "ready\n")
        if let finished = plan.finished {
            let deadline = options.duration == 0 ? nil : Double(monotonicNs()) / 1e9 + options.duration
            while !finished() {
                let left = deadline.map { $0 - Double(monotonicNs()) / 1e9 } ?? 0.1
                if left <= 0 || signals.wait(seconds: min(0.1, left)) != nil { break }
            }
        } else {
            _ = signals.wait(seconds: options.duration == 0 ? nil : options.duration)
        }
        let results = plan.results()  // while threads and workers still exist
        plan.stop()
        writeStdout(results.map { $0 + "\n" }.joined())
    } catch {
        failure = error
    }
    do { try stage.finish() } catch { failure = failure ?? error }
    if let failure { throw failure }
}

/// `key=value key=value`, the format of every scenario line (values never hold spaces).
func keyValues(_ pairs: KeyValuePairs<String, String>) -> String {
    pairs.map { "\($0.key)=\($0.value.isEmpty ? "-" : $0.value.replacingSpaces())" }.joined(separator: " ")
}

extension String {
    fileprivate func replacingSpaces() -> String { String(map { $0 == " " ? "_" : $0 }) }
}

/// Milliseconds with one decimal.
func ms(_ ns: UInt64) -> String { formatFixed(Double(ns) / 1e6, decimals: 1) }

/// Schedstat of a task now, for a before/after difference.
struct SchedstatWindow {
    let pid: pid_t, tid: pid_t?
    let start: Schedstat?

    init(pid: pid_t, tid: pid_t? = nil) {
        self.pid = pid
        self.tid = tid
        start = Schedstat.read(pid: pid, tid: tid)
    }

    /// `run_ms=… run_delay_ms=… timeslices=… delay_per_slice_ms=…` since init.
    func summary() -> String {
        guard let a = start, let b = Schedstat.read(pid: pid, tid: tid) else { return "schedstat=gone" }
        let run = b.runNs - a.runNs, wait = b.waitNs - a.waitNs, slices = b.timeslices - a.timeslices
        return keyValues(["run_ms": ms(run), "run_delay_ms": ms(wait), "timeslices": String(slices),
                          "delay_per_slice_ms": slices > 0 ? ms(wait / slices) : "-"])
    }
}

extension StarveWork.Scenario {
    /// One busy loop in a cgroup whose quota is much less than it wants: CFS bandwidth throttling.
    struct Quota: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A busy loop in a cgroup with a tight CPU quota (throttling).",
            discussion: "The cgroup's cpu.stat nr_throttled grows every period; the loop's schedstat run_delay grows by the throttled time."
        )

        @OptionGroup var options: ScenarioOptions

        @Option(help: "CPU time the cgroup may use per period, ms.")
        var quotaMs: Double = 20

        @Option(help: "Enforcement period, ms (1-1000).")
        var periodMs: Double = 100

        func validate() throws {
            guard (1...1000).contains(periodMs) else { throw ValidationError("--period-ms must be between 1 and 1000") }
            guard quotaMs >= 1 else { throw ValidationError("--quota-ms must be at least 1 (the kernel's minimum)") }
        }

        func run() throws {
            try runScenario("quota", options, cgroups: true) { stage in
                let cgroup = try stage.makeCgroup(prefix: "starve-quota-throttled")
                let quotaUs = Int64(quotaMs * 1000), periodUs = UInt64(periodMs * 1000)
                try cgroup.setQuota(quotaUs: quotaUs, periodUs: periodUs)
                let spec = WorkerSpec(cpus: [options.pinnedCPU], cgroup: cgroup.directory)
                let w = try stage.spawnWorker(spec: spec, executable: currentExecutable(), arguments: workerArguments(spec, duration: 0))
                let before = CgroupFS.cpuStat(hierarchy: cgroup.hierarchy, path: cgroup.path)
                let window = SchedstatWindow(pid: w.pid)
                return ScenarioPlan(
                    participants: [keyValues(["role": "throttled", "pid": String(w.pid), "cgroup": cgroup.path, "nice": "0",
                                              "cpu": String(options.pinnedCPU), "quota_us": String(quotaUs), "period_us": String(periodUs)])],
                    results: {
                        var line = keyValues(["result": "throttled", "pid": String(w.pid)]) + " " + window.summary()
                        if let b = before, let a = CgroupFS.cpuStat(hierarchy: cgroup.hierarchy, path: cgroup.path) {
                            line += " " + keyValues(["nr_periods": String(a.periods - b.periods),
                                                     "nr_throttled": String(a.throttledPeriods - b.throttledPeriods),
                                                     "throttled_ms": ms(a.throttledNs - b.throttledNs)])
                        }
                        return [line]
                    })
            }
        }
    }

    /// A CPU hog and a latency-sensitive duty-cycle task in sibling cgroups of very different
    /// weights on one CPU: the light one waits long for each short run (a noisy neighbour).
    struct Noisy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A hog in a heavy cgroup and a 10 %-duty task in a light cgroup on one CPU (noisy neighbour).",
            discussion: """
                The duty task needs --busy-ms of CPU every --busy-ms + --sleep-ms but its cgroup's weight \
                is 1/--weight-ratio of the hog's, so each wakeup waits long (hundreds of ms at the default: \
                see its schedstat run_delay per timeslice). Weights: v1 cpu.shares 1024 and 1024/ratio \
                (at least 2); v2 cpu.weight ratio (at most 10000) and 1.
                """
        )

        @OptionGroup var options: ScenarioOptions

        @Option(help: "Hog cgroup weight over the duty task's cgroup weight.")
        var weightRatio: Double = 512

        @Option(help: "Duty task: CPU time per burst, ms.")
        var busyMs: Double = 1

        @Option(help: "Duty task: sleep after each burst, ms.")
        var sleepMs: Double = 9

        @Option(help: "Nice level of the duty task (inside its own cgroup: it does not change its group's share).")
        var dutyNice: Int32 = 0

        func validate() throws {
            guard weightRatio >= 1 && weightRatio <= 10_000 else { throw ValidationError("--weight-ratio must be between 1 and 10000") }
            guard busyMs > 0 && busyMs <= 60_000 && sleepMs >= 0 && sleepMs <= 60_000 else {
                throw ValidationError("--busy-ms must be in (0, 60000] and --sleep-ms in [0, 60000]")
            }
            guard (-20...19).contains(dutyNice) else { throw ValidationError("--duty-nice must be between -20 and 19") }
        }

        func run() throws {
            try runScenario("noisy", options, cgroups: true) { stage in
                let hogGroup = try stage.makeCgroup(prefix: "starve-noisy-hog")
                let dutyGroup = try stage.makeCgroup(prefix: "starve-noisy-duty")
                // Same ratio on both interfaces; each end clamped to its scale.
                let hogShares: UInt64 = 1024, dutyShares = max(2, UInt64((1024 / weightRatio).rounded()))
                let hogWeight = min(10_000, UInt64(weightRatio.rounded())), dutyWeight: UInt64 = 1
                let v1 = hogGroup.hierarchy.version == .v1
                let cpu = options.pinnedCPU, exe = currentExecutable()
                let hogSpec = WorkerSpec(cpus: [cpu], cgroup: hogGroup.directory)
                let hog = try stage.spawnWorker(spec: hogSpec, executable: exe, arguments: workerArguments(hogSpec, duration: 0))
                let dutySpec = WorkerSpec(nice: dutyNice, cpus: [cpu], dutyCycle: DutyCycle(busyMs: busyMs, sleepMs: sleepMs), cgroup: dutyGroup.directory)
                let duty = try stage.spawnWorker(spec: dutySpec, executable: exe, arguments: workerArguments(dutySpec, duration: 0))
                // The weights once both workers have started: at 1/512 of the hog's weight the
                // duty worker could take seconds to get through its own start-up on a busy CPU.
                try hogGroup.setWeight(v1Shares: hogShares, v2Weight: hogWeight)
                try dutyGroup.setWeight(v1Shares: dutyShares, v2Weight: dutyWeight)
                let weightFile = v1 ? "cpu.shares" : "cpu.weight"
                let hogWindow = SchedstatWindow(pid: hog.pid), dutyWindow = SchedstatWindow(pid: duty.pid)
                return ScenarioPlan(
                    participants: [
                        keyValues(["role": "hog", "pid": String(hog.pid), "cgroup": hogGroup.path, "nice": "0", "cpu": String(cpu),
                                   weightFile: String(v1 ? hogShares : hogWeight)]),
                        keyValues(["role": "duty", "pid": String(duty.pid), "cgroup": dutyGroup.path, "nice": String(dutyNice), "cpu": String(cpu),
                                   weightFile: String(v1 ? dutyShares : dutyWeight), "busy_ms": formatFixed(busyMs, decimals: 1),
                                   "sleep_ms": formatFixed(sleepMs, decimals: 1)]),
                    ],
                    results: {
                        [keyValues(["result": "hog", "pid": String(hog.pid)]) + " " + hogWindow.summary(),
                         keyValues(["result": "duty", "pid": String(duty.pid)]) + " " + dutyWindow.summary()]
                    })
            }
        }
    }

    /// Busy loops at several nice levels on one CPU, all in our session: plain overload, where
    /// the low-weight loops get what the nice weights leave them.
    struct Overload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "N busy loops at several nice levels on one CPU, in one session (plain starvation).",
            discussion: "All loops share this command's session, hence its autogroup, so nice counts between them (CFS weights 1024, 335, 110, 15 for nice 0, 5, 10, 19)."
        )

        @OptionGroup var options: ScenarioOptions

        @Option(help: "Number of busy loops.")
        var workers: Int = 4

        @Option(help: "Nice levels, assigned round-robin.")
        var nice: String = "0,5,10,19"

        func validate() throws {
            guard (1...256).contains(workers) else { throw ValidationError("--workers must be between 1 and 256") }
        }

        func run() throws {
            let nices = try parseNiceList(nice)
            try runScenario("overload", options, cgroups: false) { stage in
                var participants: [String] = [], windows: [SchedstatWindow] = []
                for spec in workerSpecs(count: workers, nice: nices, cpuSets: [[options.pinnedCPU]], newSession: false) {
                    let w = try stage.spawnWorker(spec: spec, executable: currentExecutable(), arguments: workerArguments(spec, duration: 0))
                    participants.append(keyValues(["role": "busy", "pid": String(w.pid), "nice": String(spec.nice), "cpu": String(options.pinnedCPU)]))
                    windows.append(SchedstatWindow(pid: w.pid))
                }
                return ScenarioPlan(participants: participants, results: {
                    zip(stage.pool.workers, windows).map { w, window in
                        keyValues(["result": "busy", "pid": String(w.pid), "nice": String(w.spec.nice)]) + " " + window.summary()
                    }
                })
            }
        }
    }

    /// Priority inversion among three threads of this process (see `PriorityInversion`).
    struct Inversion: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A nice-19 lock holder preempted by a nice-0 hog while a nice -10 thread waits for the lock.",
            discussion: """
                Every --cycle-ms the holder takes a mutex and computes --critical-ms of CPU in it; the \
                blocked thread then waits for the mutex, and the hog spins until it gets it. Prints one \
                `cycle=N blocked_ms=… held_ms=…` line per cycle. --pi: a PTHREAD_PRIO_INHERIT mutex (the \
                kernel's rt_mutex_setprio / sched_pi_setprio on the holder; CFS weights stay by nice). \
                --control: the holder runs at the blocked thread's nice (no lower-priority holder).
                """
        )

        @OptionGroup var options: ScenarioOptions

        @Flag(help: "Use a priority-inheritance mutex.")
        var pi = false

        @Flag(help: "Control run: the holder gets the blocked thread's nice level.")
        var control = false

        @Option(help: "Nice of the lock holder (default 19; with --control, the blocked thread's).")
        var holderNice: Int32?

        @Option(help: "Nice of the thread that blocks on the lock.")
        var blockedNice: Int32 = -10

        @Option(help: "Nice of the hog.")
        var hogNice: Int32 = 0

        @Option(help: "CPU time spent holding the lock per cycle, ms.")
        var criticalMs: Double = 5

        @Option(help: "Time between cycle starts, ms.")
        var cycleMs: Double = 1000

        func validate() throws {
            for (name, n) in [("--holder-nice", holderNice ?? 0), ("--blocked-nice", blockedNice), ("--hog-nice", hogNice)] {
                guard (-20...19).contains(n) else { throw ValidationError("\(name) must be between -20 and 19") }
            }
            if control, holderNice != nil { throw ValidationError("--control sets the holder's nice: leave out --holder-nice") }
            guard criticalMs > 0 && criticalMs <= 10_000 else { throw ValidationError("--critical-ms must be in (0, 10000]") }
            guard cycleMs >= 10 && cycleMs <= 600_000 else { throw ValidationError("--cycle-ms must be between 10 and 600000") }
        }

        func run() throws {
            let settings = InversionSettings(cpu: options.pinnedCPU, holderNice: control ? blockedNice : (holderNice ?? 19),
                                             blockedNice: blockedNice, hogNice: hogNice, criticalSectionMs: criticalMs,
                                             cycleMs: cycleMs, priorityInheritance: pi)
            try runScenario("inversion", options, cgroups: false) { _ in
                let inversion = try PriorityInversion(settings: settings)
                let pid = getpid()
                let threads = try inversion.start { cycle in
                    writeStdout(keyValues(["cycle": String(cycle.index), "blocked_ms": ms(cycle.blockedNs), "held_ms": ms(cycle.heldNs)]) + "\n")
                }
                let windows = threads.map { SchedstatWindow(pid: pid, tid: $0.tid) }
                return ScenarioPlan(
                    participants: threads.map {
                        keyValues(["role": $0.role.rawValue, "pid": String(pid), "tid": String($0.tid), "nice": String($0.nice),
                                   "cpu": String(settings.cpu), "mutex": pi ? "pi" : "plain"])
                    },
                    results: {
                        let blocked = inversion.cycles.map(\.blockedNs).sorted()
                        var lines = zip(threads, windows).map { t, window in
                            keyValues(["result": t.role.rawValue, "tid": String(t.tid)]) + " " + window.summary()
                        }
                        lines.append(keyValues(["result": "cycles", "count": String(blocked.count),
                                                "blocked_ms_median": blocked.isEmpty ? "-" : ms(blocked[blocked.count / 2]),
                                                "blocked_ms_max": blocked.last.map(ms) ?? "-"]))
                        return lines
                    },
                    stop: { inversion.stop() })
            }
        }
    }

    /// A busy task whose affinity flips between two CPUs every few milliseconds (migration storm).
    struct Migration: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A busy task pinned alternately to two CPUs every --flip-ms (a migration storm).",
            discussion: "Its se.nr_migrations in /proc/<pid>/sched grows by about 1000 / --flip-ms per second."
        )

        @OptionGroup var options: ScenarioOptions

        @Option(help: "The second CPU (default: the CPU below --cpu, or CPU 1 when --cpu is 0).")
        var otherCpu: Int?

        @Option(help: "Time on each CPU before moving, ms.")
        var flipMs: Double = 1

        func validate() throws {
            guard options.cpuCount >= 2 else { throw ValidationError("the migration scenario needs at least two CPUs") }
            if let o = otherCpu {
                guard (0..<options.cpuCount).contains(o) else { throw ValidationError("--other-cpu \(o) does not exist: this machine has CPUs 0-\(options.cpuCount - 1)") }
                guard o != options.pinnedCPU else { throw ValidationError("--other-cpu must differ from --cpu") }
            }
            guard flipMs >= 0.05 && flipMs <= 60_000 else { throw ValidationError("--flip-ms must be between 0.05 and 60000") }
        }

        func run() throws {
            let cpu = options.pinnedCPU
            let other = otherCpu ?? (cpu == 0 ? 1 : cpu - 1)
            try runScenario("migration", options, cgroups: false) { stage in
                let spec = WorkerSpec(cpus: [cpu, other], affinityFlip: AffinityFlip(cpus: [cpu, other], everyMs: flipMs))
                let w = try stage.spawnWorker(spec: spec, executable: currentExecutable(), arguments: workerArguments(spec, duration: 0))
                let migrations = readMigrations(pid: w.pid), started = monotonicNs()
                return ScenarioPlan(
                    participants: [keyValues(["role": "migrating", "pid": String(w.pid), "nice": "0", "cpus": "\(cpu),\(other)",
                                              "flip_ms": formatFixed(flipMs, decimals: 2)])],
                    results: {
                        guard let a = migrations, let b = readMigrations(pid: w.pid) else { return [keyValues(["result": "migrating", "nr_migrations": "unreadable"])] }
                        let seconds = Double(monotonicNs() - started) / 1e9
                        return [keyValues(["result": "migrating", "pid": String(w.pid), "nr_migrations": String(b - a),
                                           "per_second": formatFixed(Double(b - a) / max(seconds, 1e-9), decimals: 0)])]
                    })
            }
        }
    }

    /// A pipe ping-pong whose caller blocks from a different call path on every round trip.
    struct Stacks: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Two threads ping-pong over pipes on one CPU; round n blocks at a call path of its own (distinct user stacks).",
            discussion: """
                For testing stack capture at volume: round n descends --depth levels through one of \
                two functions by each bit of n, so up to 2^depth rounds have distinct user stacks. Each \
                round is two context switches with a short wakeup wait: load starve with a threshold \
                below it (e.g. --thresholds 0.001,0.002,0.003 --rate-limit 0) and every switch is an \
                event. Ends after --rounds (or --duration).
                """
        )

        @OptionGroup var options: ScenarioOptions

        @Option(help: "Levels of call paths: 2^depth distinct stacks (1-24).")
        var depth: Int = 20

        @Option(help: "Round trips before the scenario ends (0: until --duration).")
        var rounds: UInt64 = 0

        func validate() throws {
            guard (1...24).contains(depth) else { throw ValidationError("--depth must be between 1 and 24") }
        }

        func run() throws {
            let cpu = options.pinnedCPU
            try runScenario("stacks", options, cgroups: false) { _ in
                let pingPong = try DistinctStacks(depth: depth, cpu: cpu)
                try pingPong.start(rounds: rounds)
                let pid = getpid()
                let ids = pingPong.threadIDs
                return ScenarioPlan(
                    participants: zip(["caller", "echo"], ids).map { role, tid in
                        keyValues(["role": role, "pid": String(pid), "tid": String(tid), "cpu": String(cpu), "depth": String(depth)])
                    },
                    results: {
                        let done = pingPong.rounds
                        return [keyValues(["result": "rounds", "count": String(done),
                                           "distinct_paths": String(min(done, UInt64(1) << UInt64(depth)))])]
                    },
                    stop: { pingPong.stop() },
                    finished: rounds == 0 ? nil : { pingPong.rounds >= rounds })
            }
        }
    }
}
