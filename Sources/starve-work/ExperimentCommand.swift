import ArgumentParser
import Foundation
import Glibc
import StarveModel
import StarveHost
import StarveWorkload

extension StarveWork {
    /// A reproducible nice-level experiment: every cell of a plan runs workers with starve's
    /// programs loaded (own pin directory, unloaded at the end even on failure), samples them
    /// with `starve-dump --share`, and everything lands in one folder (docs/experiments.md).
    struct Experiment: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a plan of nice-level cells with the programs loaded; write CSV, summary, metadata and plots to one folder.",
            discussion: """
                The plan comes from --plan FILE and/or the flags below (flags win). Matrix options take \
                alternatives separated by ';': --nice '0,5;0,5,10' --cpus 1 runs two cells. Needs root \
                (it loads the BPF programs) and starve-load / starve-dump next to this executable. \
                Format and outputs: docs/experiments.md.
                """
        )

        @Option(help: "Plan file (key = value lines; docs/experiments.md).")
        var plan: String?

        @Option(help: "Output folder (created; must be empty or new). Default: ./starve-experiment-<UTC time>.")
        var out: String?

        @Option(help: "Matrix: nice sets separated by ';' (e.g. '0,5;0,5,10').")
        var nice: String?

        @Option(help: "Matrix: CPU sets in --cpu syntax separated by ';' (e.g. '1;0-1').")
        var cpus: String?

        @Option(help: "Matrix: sampled seconds per cell, separated by ';'.")
        var duration: String?

        @Option(help: "Workers per cell; 0 = one per nice level.")
        var workers: Int?

        @Option(help: "Sampling interval, seconds.")
        var interval: Double?

        @Option(help: "Seconds the workers run before sampling.")
        var warmup: Double?

        @Option(help: "Lottery draws per sample.")
        var draws: Int?

        @Option(help: "Lottery seed.")
        var seed: UInt64?

        @Option(help: "Ticket mapping: weight or linear.")
        var tickets: TicketMapping?

        @Flag(help: "Start each worker in its own session (own autogroup).")
        var setsid = false

        @Option(help: "Worker policy: other, batch or idle.")
        var policy: WorkerPolicy?

        @Option(help: "Duty cycle: CPU ms per burst.")
        var busyMs: Double?

        @Option(help: "Duty cycle: sleep ms after each burst.")
        var sleepMs: Double?

        @Option(help: "Existing cgroup directories for the workers, comma-separated, round-robin.")
        var cgroup: String?

        @Option(help: "Repetitions of every cell.")
        var `repeat`: Int?

        @Option(help: "BPF object for starve-load (default: its own search).")
        var object: String?

        @Flag(help: "Skip the gnuplot plots.")
        var noPlots = false

        func run() throws {
            let signals = StopSignals()
            var plan = try plan.map { try ExperimentPlan.parse(String(contentsOfFile: $0, encoding: .utf8)) } ?? ExperimentPlan()
            let overrides: [(String, String?)] = [
                ("nice", nice), ("cpus", cpus), ("duration", duration), ("workers", workers.map(String.init)),
                ("interval", interval.map { String($0) }), ("warmup", warmup.map { String($0) }), ("draws", draws.map(String.init)),
                ("seed", seed.map(String.init)), ("tickets", tickets?.rawValue), ("setsid", setsid ? "yes" : nil),
                ("policy", policy?.rawValue), ("busy-ms", busyMs.map { String($0) }), ("sleep-ms", sleepMs.map { String($0) }),
                ("cgroups", cgroup), ("repeat", `repeat`.map(String.init)),
            ]
            for case let (key, value?) in overrides { try plan.set(key, value) }
            try plan.validate()
            for cell in plan.cells { _ = try parseCPUSets(cell.cpus) }
            guard geteuid() == 0 else { throw StarveError("experiment loads the BPF programs: run it as root") }

            let tools = ExperimentTools(directory: (currentExecutable() as NSString).deletingLastPathComponent, object: object)
            try tools.check()
            let folder = try ExperimentFolder(path: out ?? "starve-experiment-" + compactTimestamp(Date()))
            let started = Date()
            try folder.write("plan.txt", plan.text)
            try folder.write("metadata.txt", ExperimentMetadata.text(plan: plan, started: started, finished: nil))
            writeStdout("experiment: \(plan.cells.count) cells -> \(folder.path)\n")

            var samples = "cell,worker," + SampleFormatter(shareColumns: shareColumns).csvHeader
            var summary: [ExperimentSummaryRow] = []
            var series: [ExperimentSeries] = []
            for cell in plan.cells {
                let result = try runCell(cell, plan: plan, tools: tools, folder: folder, signals: signals)
                samples += result.rows
                summary += result.summary
                series.append(result.series)
                for row in result.summary {
                    writeStdout("  worker \(row.worker) nice \(row.nice): expected \(formatFixed(row.expectedPercent, decimals: 1)) % measured \(formatFixed(row.measuredPercent, decimals: 1)) % (\(formatFixed(row.errorPP, decimals: 2)) pp)"
                        + (row.lotteryWinPercent.map { ", lottery \(formatFixed($0, decimals: 1)) %" } ?? "") + "\n")
                }
                try folder.write("samples.csv", samples)
                try folder.write("summary.csv", CSV.record(ExperimentSummaryRow.csvHeader) + summary.map { CSV.record($0.csvFields) }.joined())
                if result.interrupted { throw StarveError("interrupted: partial results in \(folder.path)") }
            }
            try folder.write("metadata.txt", ExperimentMetadata.text(plan: plan, started: started, finished: Date()))
            if !noPlots {
                try ExperimentPlots.write(plan: plan, summary: summary, series: series, folder: folder)
            }
            writeStdout("done: \(folder.path)\n")
        }

        private struct CellResult {
            var rows: String
            var summary: [ExperimentSummaryRow]
            var series: ExperimentSeries
            var interrupted: Bool
        }

        private func runCell(_ cell: ExperimentCell, plan: ExperimentPlan, tools: ExperimentTools,
                             folder: ExperimentFolder, signals: StopSignals) throws -> CellResult {
            writeStdout("cell \(cell.index): \(cell.label), \(cell.workers) workers, \(formatFixed(cell.durationSeconds, decimals: 1)) s\n")
            let pinDir = "/sys/fs/bpf/starve-experiment-\(getpid())-\(cell.index)"
            try tools.load(pinDir: pinDir)
            defer { tools.unload(pinDir: pinDir) }

            let pool = WorkerPool()
            defer { pool.stopAll() }
            let specs = workerSpecs(count: cell.workers, nice: cell.nice.map(Int32.init), cpuSets: try parseCPUSets(cell.cpus),
                                    newSession: plan.setsid, policy: WorkerPolicy(rawValue: plan.policy) ?? .other,
                                    dutyCycle: plan.busyMs.map { DutyCycle(busyMs: $0, sleepMs: plan.sleepMs ?? 0) },
                                    cgroups: plan.cgroups)
            let exe = currentExecutable()
            let pids = try specs.enumerated().map { i, spec in
                Int(try pool.spawn(index: i, spec: spec, executable: exe, arguments: workerArguments(spec, duration: 0)).pid)
            }
            var interrupted = signals.wait(seconds: max(plan.warmup, 0.001)) != nil

            let rawPath = folder.path + "/.cell-\(cell.index).csv"
            defer { unlink(rawPath) }
            if !interrupted {
                try tools.dump(pinDir: pinDir, pids: pids, plan: plan, samples: plan.samples(for: cell), output: rawPath)
                interrupted = signals.wait(seconds: 0.001) != nil
            }
            pool.stopAll()
            let raw = HostFiles.read(rawPath) ?? ""
            let summary = ExperimentSummaryRow.summarize(cell: cell.index, workerPIDs: pids, dumpCSV: raw)
            var rows = ""
            let workerOf = Dictionary(uniqueKeysWithValues: pids.enumerated().map { ($1, $0) })
            let lines = raw.split(separator: "\n")
            let pidColumn = lines.first.map(CSV.parseRecord)?.firstIndex(of: "pid") ?? 3
            for line in lines.dropFirst() {
                let f = CSV.parseRecord(line)
                let worker = pidColumn < f.count ? Int(f[pidColumn]).flatMap { workerOf[$0] } : nil
                rows += "\(cell.index),\(worker.map(String.init) ?? ""),\(line)\n"
            }
            return CellResult(rows: rows, summary: summary,
                              series: ExperimentSeries(cell: cell, workerPIDs: pids, dumpCSV: raw), interrupted: interrupted)
        }
    }
}

/// starve-load and starve-dump next to this executable.
struct ExperimentTools {
    let directory: String
    let object: String?

    var load: String { directory + "/starve-load" }
    var dump: String { directory + "/starve-dump" }

    func check() throws {
        for tool in [load, dump] where access(tool, X_OK) != 0 {
            throw StarveError("\(tool) not found: build all three tools (scripts/run.sh build)")
        }
    }

    func load(pinDir: String) throws {
        let r = try run(load, ["--pin-dir", pinDir] + (object.map { ["--object", $0] } ?? []))
        guard r == 0 else { unload(pinDir: pinDir); throw StarveError("starve-load failed (exit \(r)) for \(pinDir)") }
    }

    func unload(pinDir: String) {
        guard access(pinDir, F_OK) == 0 else { return }
        _ = try? run(load, ["unload", "--pin-dir", pinDir])
    }

    func dump(pinDir: String, pids: [Int], plan: ExperimentPlan, samples: Int, output: String) throws {
        let args = ["--pin-dir", pinDir, "--interval", String(plan.interval), "--iterations", String(samples),
                    "--share", "--simulate-draws", String(plan.draws), "--seed", String(plan.seed),
                    "--tickets", plan.tickets.rawValue, "--format", "csv", "--output", output, "--pid"] + pids.map(String.init)
        let r = try run(dump, args)
        guard r == 0 else { throw StarveError("starve-dump failed (exit \(r))") }
    }

    /// Runs a tool to completion, stdout discarded, stderr passed through.
    private func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

/// The output folder.
struct ExperimentFolder {
    let path: String

    init(unchecked path: String) { self.path = path }

    init(path: String) throws {
        self.path = path
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw StarveError("--out \(path) exists and is not a directory") }
            guard (try FileManager.default.contentsOfDirectory(atPath: path)).isEmpty else {
                throw StarveError("--out \(path) is not empty: choose a new folder")
            }
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
    }

    func write(_ name: String, _ text: String) throws {
        do {
            try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
        } catch {
            throw StarveError("cannot write \(path)/\(name): \(error.localizedDescription)")
        }
    }
}

/// metadata.txt: what a reader needs to judge and repeat the run.
enum ExperimentMetadata {
    static func text(plan: ExperimentPlan, started: Date, finished: Date?) -> String {
        var u = utsname()
        uname(&u)
        func field<T>(_ v: inout T) -> String {
            withUnsafeBytes(of: &v) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        let cpuinfo = HostFiles.read("/proc/cpuinfo") ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let autogroup = HostFiles.read("/proc/sys/kernel/sched_autogroup_enabled")?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        let mounts = CgroupMounts(mountinfo: HostFiles.read("/proc/self/mountinfo") ?? "")
        var lines = [
            "tool: starve-work experiment",
            "tool_version: \(toolVersion())",
            "start_time: \(isoTimestamp(started))",
            "end_time: \(finished.map(isoTimestamp) ?? "(running)")",
            "kernel_release: \(field(&u.release))",
            "kernel_version: \(field(&u.version))",
            "machine: \(field(&u.machine))",
            "cpu_model: \(model)",
            "cpu_count: \(sysconf(Int32(_SC_NPROCESSORS_ONLN)))",
            "sched_autogroup_enabled: \(autogroup)",
            "cgroup_v1_cpu_mount: \(mounts.v1CPU ?? "none")",
            "cgroup2_mount: \(mounts.unified ?? "none")",
            "seed: \(plan.seed)",
            "tickets: \(plan.tickets.rawValue)",
            "draws_per_sample: \(plan.draws)",
            "cells: \(plan.cells.count)",
            "measured_share: runtime over the competing set's runtime on the same CPUs (within-set), scaled to the expected total",
        ]
        lines.append("plan:")
        lines += plan.text.split(separator: "\n").map { "  " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    /// STARVE_VERSION if set, else `git describe` of the tree the executable was built in.
    static func toolVersion() -> String {
        if let v = ProcessInfo.processInfo.environment["STARVE_VERSION"], !v.isEmpty { return v }
        var dir = (currentExecutable() as NSString).deletingLastPathComponent
        while dir != "/" && !dir.isEmpty && !FileManager.default.fileExists(atPath: dir + "/.git") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        guard FileManager.default.fileExists(atPath: dir + "/.git") else { return "unknown" }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-C", dir, "describe", "--always", "--dirty"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return "unknown" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let v = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return p.terminationStatus == 0 && !v.isEmpty ? "git " + v : "unknown"
    }
}

/// `20261122T023000Z`.
func compactTimestamp(_ date: Date) -> String {
    isoTimestamp(date).filter { $0 != "-" && $0 != ":" }.split(separator: ".").first.map { String($0) + "Z" } ?? "now"
}

extension TicketMapping: ExpressibleByArgument {}
