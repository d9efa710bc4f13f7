import ArgumentParser
import Glibc
import StarveHost
import StarveModel
import StarveWorkload

extension StarveWork.Scenario {
    /// Threads of this process contending for one mutex, confined to one CPU by a cpuset cgroup
    /// (a contended lock: futex waits; what starve-load --futex counts and a tuner may spread).
    struct Lock: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Threads taking turns on one mutex, confined to one CPU by a cpuset (a contended lock).",
            discussion: """
                This process moves itself into a cgroup of the cpu hierarchy and one of the same name in the \
                cpuset hierarchy (cpuset.cpus = --cpu), then runs --threads threads that each take the mutex, \
                compute --hold-us inside, release it and compute --outside-us. A holder preempted inside \
                leaves the others blocked in FUTEX_WAIT. `result=lock` gives the time the threads spent in \
                pthread_mutex_lock, as they timed it themselves.
                """)

        @OptionGroup var options: ScenarioOptions

        @Option(help: "Threads contending for the mutex.")
        var threads: Int = 4

        @Option(help: "CPU time inside the lock per turn, µs.")
        var holdUs: Double = 500

        @Option(help: "CPU time outside the lock per turn, µs.")
        var outsideUs: Double = 100

        func validate() throws {
            guard (2...64).contains(threads) else { throw ValidationError("--threads must be between 2 and 64") }
            guard holdUs > 0 && holdUs <= 1_000_000 && outsideUs >= 0 && outsideUs <= 1_000_000 else {
                throw ValidationError("--hold-us must be in (0, 1000000] and --outside-us in [0, 1000000]")
            }
        }

        func run() throws {
            try runScenario("lock", options, cgroups: true) { stage in
                let cpuGroup = try stage.makeCgroup(prefix: "starve-lock")
                guard let cpusetHierarchy = CgroupFS.cpusetHierarchy() else {
                    throw StarveError("scenario lock needs the cpuset controller: no cpuset hierarchy is mounted")
                }
                // Same name in both hierarchies (v1): the cgroup a tuner finds by path in each.
                let cpuset = try stage.makeCgroup(prefix: "starve-lock", hierarchy: cpusetHierarchy)
                guard cpuset.path == cpuGroup.path else {
                    throw StarveError("cannot make \(cpuGroup.path) in the cpuset hierarchy too (made \(cpuset.path))")
                }
                if cpusetHierarchy.version == .v1 {
                    // A v1 cpuset takes no task until it has CPUs and memory nodes.
                    let mems = readSmallFile(cpusetHierarchy.mountPoint + "/cpuset.mems").map { String($0.filter { !$0.isWhitespace }) } ?? "0"
                    try writeCgroupFile(cpuset.directory + "/cpuset.mems", mems)
                }
                try writeCgroupFile(cpuset.directory + "/cpuset.cpus", String(options.pinnedCPU))
                try cpuGroup.add(pid: getpid())
                try cpuset.add(pid: getpid())
                let lock = try ContendedLock(threads: threads, holdUs: holdUs, outsideUs: outsideUs)
                let tids = try lock.start()
                let started = monotonicNs()
                let pid = getpid()
                return ScenarioPlan(
                    participants: tids.map {
                        keyValues(["role": "lock", "pid": String(pid), "tid": String($0), "cgroup": cpuGroup.path,
                                   "cpuset_cgroup": cpuset.path, "cpus": String(options.pinnedCPU),
                                   "hold_us": formatFixed(holdUs, decimals: 0), "outside_us": formatFixed(outsideUs, decimals: 0)])
                    },
                    results: {
                        let t = lock.totals
                        return [keyValues(["result": "lock", "pid": String(pid), "threads": String(threads),
                                           "blocked_ms": ms(t.blockedNs), "acquisitions": String(t.acquisitions),
                                           "seconds": formatFixed(Double(monotonicNs() - started) / 1e9, decimals: 3)])]
                    },
                    stop: {
                        lock.stop()
                        // Back to the roots, so the cgroups can go.
                        _ = try? writeCgroupFile(cpusetHierarchy.mountPoint + "/cgroup.procs", String(pid))
                        _ = try? writeCgroupFile(cpuGroup.hierarchy.mountPoint + "/cgroup.procs", String(pid))
                    })
            }
        }
    }
}

/// One value into a cgroup file (a single write), or one clear line.
func writeCgroupFile(_ path: String, _ value: String) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw StarveError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard value.withCString({ Glibc.write(fd, $0, strlen($0)) }) >= 0 else {
        throw StarveError("cannot write '\(value)' to \(path): \(String(cString: strerror(errno)))")
    }
}

/// A small file's text (one read), or nil.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 4096)
    let n = read(fd, &buf, buf.count)
    return n >= 0 ? String(decoding: buf[..<n], as: UTF8.self) : nil
}
