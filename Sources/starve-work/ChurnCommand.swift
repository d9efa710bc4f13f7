import ArgumentParser
import CStarveSys
import Glibc
import StarveModel
import StarveHost
import StarveWorkload
import Synchronization

extension StarveWork {
    /// Short-lived processes, many of them: what a busy build or CI host does to per-process maps.
    struct Churn: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fork many short-lived processes (each burns a little CPU and exits), from --parallel forkers.",
            discussion: "Prints `churn processes=N seconds=S per_second=R` at the end. Unpinned: run it beside other load to make the children preempt and be preempted."
        )

        @Option(help: "Processes in all.")
        var processes: Int = 100_000

        @Option(help: "Forkers working at once (threads, each forking one child at a time).")
        var parallel: Int = 2

        @Option(help: "CPU time each child burns before it exits, µs.")
        var burnUs: Double = 20

        @Option(help: "A cgroup directory (v1 or v2, must exist) to move this process into first: the children are born there.")
        var cgroup: String?

        func validate() throws {
            guard processes >= 1 && processes <= 100_000_000 else { throw ValidationError("--processes must be between 1 and 100000000") }
            guard parallel >= 1 && parallel <= 64 else { throw ValidationError("--parallel must be between 1 and 64") }
            guard burnUs >= 0 && burnUs <= 1_000_000 else { throw ValidationError("--burn-us must be between 0 and 1000000") }
        }

        func run() throws {
            // Started with `&` by a script, SIGINT arrives ignored: take the default back, so a
            // caller stopping it with SIGINT (bench.sh) stops it at once.
            signal(SIGINT, SIG_DFL)
            if let cgroup { try moveToCgroup(pid: getpid(), dir: cgroup) }
            let started = monotonicNs()
            let share = processes / parallel, extra = processes % parallel
            let made = Mutex(0), failure = Mutex<String?>(nil)
            var threads: [pthread_t] = []
            for i in 0..<parallel {
                let n = share + (i < extra ? 1 : 0), burn = Int(burnUs * 1000)
                threads.append(try startThread {
                    let r = starve_sys_fork_exit(n, burn)
                    if r < 0 { failure.withLock { $0 = "cannot fork: \(String(cString: strerror(Int32(-r))))" } }
                    made.withLock { $0 += max(0, r) }
                })
            }
            for t in threads { pthread_join(t, nil) }
            if let f = failure.withLock({ $0 }) { throw StarveError(f) }
            let seconds = Double(monotonicNs() - started) / 1e9
            let total = made.withLock { $0 }
            writeStdout(keyValues(["churn": "done", "processes": String(total), "seconds": formatFixed(seconds, decimals: 2),
                                   "per_second": formatFixed(Double(total) / max(seconds, 1e-9), decimals: 0)]) + "\n")
        }
    }
}
