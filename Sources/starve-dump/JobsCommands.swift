import ArgumentParser
import Foundation
import StarveBPF
import StarveCLI
import StarveHost
import StarveModel
import StarveJobs
import StarveMonitor

extension JobsFormat: ExpressibleByArgument {}
extension JobSort: ExpressibleByArgument {}

enum JobsGrouping: String, ExpressibleByArgument, CaseIterable {
    case job, user, workload, process, tree

    /// The grouping without Slurm, when this is one (`user` only when Slurm is absent).
    var hostGrouping: HostGrouping? {
        switch self {
        case .workload: .workload
        case .process: .process
        case .tree: .tree
        case .user where SlurmQueue.findExecutable("squeue") == nil: .user
        default: nil
        }
    }
}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case json, yaml, html
}

/// What `jobs` and `report` share: the pins, Slurm, the thresholds.
struct JobSource {
    let sampler: Sampler
    let accountant = JobAccountant()
    /// Process trees remembered across samples (`--by tree`).
    let trees = ProcessTrees()
    let thresholds: JobThresholds

    /// Thresholds from --config (checked before anything else is touched).
    static func thresholds(config: String?) throws -> JobThresholds {
        try config.map { try JobThresholds.load(path: $0) } ?? JobThresholds()
    }

    /// Slurm's jobs; `ids` must all be known to it.
    static func slurmJobs(requiring ids: [String]) throws -> [SlurmJob] {
        let jobs = try SlurmQueue.query()
        let known = Set(jobs.map(\.id))
        if let bad = ids.first(where: { !known.contains($0) }) {
            throw StarveError("unknown job \(bad): Slurm does not list it (finished jobs are listed for MinJobAge, 300 s by default)")
        }
        return jobs
    }

    /// `hostGroups`: rows group the host's threads (no Slurm), which count the exited threads of
    /// their processes: the `exited` map is then read with the threads from the first sample on.
    init(pinDir: String, interval: Double, iterations: Int, thresholds: JobThresholds, signals: StopSignals?,
         hostGroups: Bool = false) throws {
        var s = SamplerSettings()
        s.pinDirectory = pinDir
        s.interval = interval
        s.iterations = iterations
        s.views = [.threadWorkloads]
        sampler = try Sampler(settings: s, signals: signals)
        if hostGroups { sampler.collection.readsAggregates = true }
        self.thresholds = thresholds
    }

    /// The rows of one snapshot.
    func rows(_ snapshot: Snapshot, slurm: [SlurmJob], by: JobsGrouping, only ids: [String]) throws -> [JobRow] {
        let measures = accountant.measure(snapshot, jobExited: try sampler.collection.readJobExited(),
                                          syscalls: try sampler.collection.readSyscalls(), net: try sampler.collection.readNet())
        let timed = sampler.collection.jobsEnabled
        let now = snapshot.context.timestamp.timeIntervalSince1970
        let selected = ids.isEmpty ? slurm : slurm.filter { ids.contains($0.id) }
        switch by {
        case .job:
            // Only jobs Slurm lists (others in the map may be from another Slurm or long gone).
            let known = Set(selected.map(\.id))
            return JobRows.rows(measures: measures.filter { known.contains($0.key) }, slurm: selected, now: now,
                                thresholds: thresholds, sleepsTimed: timed)
        case .user:
            return JobRows.byUser(measures: measures, slurm: selected, now: now, thresholds: thresholds, sleepsTimed: timed)
        case .workload, .process, .tree:
            return try hostRows(snapshot, by: by.hostGrouping!)
        }
    }

    /// Without Slurm: groups of the host's threads (docs/jobs.md).
    func hostRows(_ snapshot: Snapshot, by: HostGrouping) throws -> [JobRow] {
        HostGroups.rows(snapshot, by: by, trees: trees, exited: try sampler.collection.readExited(),
                        syscalls: try sampler.collection.readSyscalls(), net: try sampler.collection.readNet(),
                        thresholds: thresholds, sleepsTimed: sampler.collection.jobsEnabled)
    }
}

extension StarveDump {
    struct Jobs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per Slurm job (or user): CPU %, efficiency, where the time went, I/O, a class, a score and advice.",
            discussion: """
                Efficiency is seff's: CPU time / (elapsed x allocated CPUs). The time split is the job's threads' \
                time on a CPU, waiting on a run queue (by cause), blocked in I/O and otherwise asleep; the last two \
                need `starve-load --jobs`, which also keeps the work of every exited thread per job. Thresholds: \
                --config FILE (YAML; --print-config shows the defaults). Slurm is asked with `squeue --json` \
                (SLURM_CONF from the environment). docs/jobs.md.
                """)

        @OptionGroup var pins: PinDirectory

        @Option(help: "Seconds between samples (and before the first).")
        var interval: Double = SamplerSettings.defaultInterval

        @Flag(help: "Keep sampling every --interval (until Ctrl-C or --iterations).")
        var watch = false

        @Option(help: "With --watch: samples to take; 0 = until Ctrl-C.")
        var iterations: Int = 0

        @Option(help: "Output: table, csv, json (one object per sample) or yaml (one document per sample).")
        var format: JobsFormat = .table

        @Option(help: "One row per job or per user (Slurm's); without Slurm: per workload, user, process or process tree (a build, a pipeline, a batch run with all it started; allocation: the CPUs the group may use).")
        var by: JobsGrouping = .job

        @Option(name: .customLong("job"), parsing: .upToNextOption, help: "Only these job ids.")
        var jobs: [String] = []

        @Option(help: ArgumentHelp(
            "Order of the rows: wait, cpu, efficiency, id or name.",
            discussion: "The default, wait (most run-queue wait first), shows first the jobs kept off their CPUs; efficiency puts the lowest first."))
        var sort: JobSort = .wait

        @Option(help: "Classification thresholds (YAML).")
        var config: String?

        @Flag(help: "Print the default thresholds file and exit.")
        var printConfig = false

        func validate() throws {
            guard interval > 0 && interval <= 86_400 else { throw StarveError("--interval must be in (0, 86400] seconds") }
            guard iterations >= 0 else { throw StarveError("--iterations must be 0 (until Ctrl-C) or more") }
            if let bad = jobs.first(where: { $0.isEmpty || !$0.allSatisfy(\.isNumber) }) {
                throw StarveError("--job takes numeric Slurm job ids, not '\(bad)'")
            }
        }

        func run() throws {
            if printConfig { writeStdout(JobThresholds.defaultYAML); return }
            let thresholds = try JobSource.thresholds(config: config)
            // Without Slurm (no squeue in PATH), --by user groups processes by owner; workload,
            // process and tree never ask Slurm.
            let hostGrouping = by.hostGrouping
            if hostGrouping != nil && !jobs.isEmpty { throw StarveError("--job needs Slurm (--by job or, with Slurm, --by user)") }
            if hostGrouping == nil { _ = try JobSource.slurmJobs(requiring: jobs) }
            let signals = StopSignals()
            let source = try JobSource(pinDir: pins.pinDir, interval: interval, iterations: watch ? iterations : 1,
                                       thresholds: thresholds, signals: signals, hostGroups: hostGrouping != nil)
            if format == .csv { writeStdout(CSV.record(JobsOutput.csvColumns)) }
            while let snapshot = try source.sampler.next() {
                let rows = sort.order(try hostGrouping.map { try source.hostRows(snapshot, by: $0) }
                    ?? source.rows(snapshot, slurm: try SlurmQueue.query(), by: by, only: jobs))
                switch format {
                case .table: writeStdout(JobsOutput.table(snapshot.context, by: by.rawValue, rows) + "\n")
                case .csv: writeStdout(JobsOutput.csvRows(snapshot.context, rows))
                case .json: writeStdout(try JobsOutput.json(snapshot.context, by: by.rawValue, rows))
                case .yaml: writeStdout(try JobsOutput.yaml(snapshot.context, by: by.rawValue, rows))
                }
                reportLoss(snapshot, format: format == .table ? .table : .json)
            }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A report on jobs: JSON or YAML (session, jobs, metrics, classes, advice, summary) or an HTML page.",
            discussion: """
                --job ID... or --since TIME (ISO 8601, Unix seconds, or an age such as 30m, 2h, 90s): the jobs \
                that ran since then. Without Slurm, --by workload|process|tree|user: the host's groups as they are \
                now (no --job or --since). The HTML page is self-contained (inline CSS and SVG, no scripts, no network) \
                with a chart per job of where its time went. docs/jobs.md.
                """)

        @OptionGroup var pins: PinDirectory

        @Option(name: .customLong("job"), parsing: .upToNextOption, help: "The job ids to report on.")
        var jobs: [String] = []

        @Option(help: "Report on jobs that ran since then.")
        var since: String?

        @Option(help: "Slurm jobs (default) or, without Slurm, the host's threads per workload, process, process tree or user.")
        var by: JobsGrouping = .job

        @Option(help: "json, yaml or html.")
        var format: ReportFormat = .json

        @Option(help: "Write to this file (default: standard output).")
        var output: String?

        @Option(help: "Classification thresholds (YAML).")
        var config: String?

        @Option(help: "Seconds between the baseline and the reading.")
        var interval: Double = 0.2

        func validate() throws {
            if by == .job || by == .user {
                // --by user is Slurm's users with Slurm, the host's without: decided in run().
                guard jobs.isEmpty != (since == nil) || by == .user else { throw StarveError("give --job ID... or --since TIME (one of them)") }
            } else if !jobs.isEmpty || since != nil {
                throw StarveError("--by \(by.rawValue) reports the host's \(by.rawValue) groups as they are now: --job and --since need Slurm (--by job)")
            }
            if let bad = jobs.first(where: { $0.isEmpty || !$0.allSatisfy(\.isNumber) }) {
                throw StarveError("--job takes numeric Slurm job ids, not '\(bad)'")
            }
            if let since, Self.parseSince(since, now: Date()) == nil {
                throw StarveError("--since must be ISO 8601 (2026-12-03T08:00:00Z), Unix seconds or an age (30m, 2h, 90s), not '\(since)'")
            }
            guard interval > 0 && interval <= 60 else { throw StarveError("--interval must be in (0, 60] seconds") }
        }

        static func parseSince(_ s: String, now: Date) -> Date? {
            if let secs = Double(s) { return Date(timeIntervalSince1970: secs) }
            if let unit = s.last, let n = Double(s.dropLast()), n >= 0 {
                switch unit {
                case "s": return now.addingTimeInterval(-n)
                case "m": return now.addingTimeInterval(-60 * n)
                case "h": return now.addingTimeInterval(-3600 * n)
                case "d": return now.addingTimeInterval(-86400 * n)
                default: break
                }
            }
            return try? Date(s, strategy: .iso8601)
        }

        func run() throws {
            let thresholds = try JobSource.thresholds(config: config)
            let hostGrouping = by.hostGrouping
            if hostGrouping != nil && (!jobs.isEmpty || since != nil) {
                throw StarveError("--job and --since need Slurm (no squeue in PATH)")
            }
            if hostGrouping == nil && jobs.isEmpty == (since == nil) { throw StarveError("give --job ID... or --since TIME (one of them)") }
            if let output {
                // Refuse an unwritable destination before anything is read.
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw StarveError("cannot write \(output): \(String(cString: strerror(errno)))")
                }
            }
            if let grouping = hostGrouping {
                let source = try JobSource(pinDir: pins.pinDir, interval: interval, iterations: 1, thresholds: thresholds, signals: nil,
                                           hostGroups: true)
                guard let snapshot = try source.sampler.next() else { return }
                try write(JobsReport(session: session(source, selection: "the host's threads by \(by.rawValue)"),
                                     jobs: try source.hostRows(snapshot, by: grouping)))
                return
            }
            var slurm = try JobSource.slurmJobs(requiring: jobs)
            var selection = "jobs " + jobs.joined(separator: ", ")
            if let since, let t = Self.parseSince(since, now: Date()) {
                let cut = Int64(t.timeIntervalSince1970)
                slurm = slurm.filter { $0.startTime > 0 && ($0.endTime <= 0 || $0.endTime >= cut || $0.isRunning) }
                selection = "jobs that ran since \(isoTimestamp(t))"
            }
            let ids = slurm.map(\.id)
            let source = try JobSource(pinDir: pins.pinDir, interval: interval, iterations: 1, thresholds: thresholds, signals: nil)
            guard let snapshot = try source.sampler.next() else { return }
            let rows = try source.rows(snapshot, slurm: slurm, by: by, only: ids)
            try write(JobsReport(session: session(source, selection: selection), jobs: rows))
        }

        private func session(_ source: JobSource, selection: String) -> JobsReport.Session {
            JobsReport.Session(host: ProcessInfo.processInfo.hostName, generatedAt: isoTimestamp(Date()),
                               pinDirectory: pins.pinDir, jobsOption: source.sampler.collection.jobsEnabled,
                               selection: selection, grouping: by.rawValue)
        }

        private func write(_ report: JobsReport) throws {
            let text: String
            switch format {
            case .json: text = try report.json()
            case .yaml: text = try report.yaml()
            case .html: text = report.html()
            }
            if let output {
                do { try text.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                    throw StarveError("cannot write \(output): \(error.localizedDescription)")
                }
            } else {
                writeStdout(text)
            }
        }
    }
}
