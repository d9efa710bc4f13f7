import ArgumentParser
import Glibc
import StarveCore
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

        func validate() throws {
            guard (1...4096).contains(workers) else { throw ValidationError("--workers must be between 1 and 4096") }
            guard duration >= 0 else { throw ValidationError("--duration must be 0 (until Ctrl-C) or more") }
        }

        func run() throws {
            let signals = StopSignals()
            let nices = try parseNiceList(nice)
            let cpuSets = try cpu.map(parseCPUSets) ?? []
            let pool = WorkerPool()
            defer { pool.stopAll() }
            let exe = currentExecutable()
            for (i, spec) in workerSpecs(count: workers, nice: nices, cpuSets: cpuSets, newSession: setsid).enumerated() {
                var args = ["worker", "--nice", String(spec.nice), "--duration", String(duration)]
                if !spec.cpus.isEmpty { args += ["--cpus", spec.cpus.map(String.init).joined(separator: ",")] }
                let w = try pool.spawn(index: i, spec: spec, executable: exe, arguments: args)
                let cpus = spec.cpus.isEmpty ? "any" : spec.cpus.map(String.init).joined(separator: ",")
                writeStdout("worker \(i) pid \(w.pid) nice \(spec.nice) cpus \(cpus)\n")
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

        func run() throws {
            let list = try cpus.map { try $0.split(separator: ",").map { s -> Int in
                guard let c = Int(s) else { throw StarveError("bad CPU \(s)") }
                return c
            } } ?? []
            try runBusyWorker(WorkerSpec(nice: nice, cpus: list), seconds: duration == 0 ? nil : duration)
        }
    }
}
