import ArgumentParser
import Foundation
import StarveBPF
import StarveModel
import StarveHost
import StarveMonitor

/// The options of the per-process and per-workload views.
struct ViewOptions: ParsableArguments {
    @Option(help: "Rows per sample in the table; 0 = all. CSV and JSON carry every matching row.")
    var top: Int = 20

    @Option(help: ArgumentHelp(
        "Order of the rows: cpu, wait, p99 or name.",
        discussion: "The default, wait (most run-queue wait in the interval first), puts first who lost the most time waiting for a CPU: what starve is for. cpu puts the busiest first, p99 the worst tail latency, name orders by name."))
    var sort: WorkloadSort = .wait

    @Option(help: "Only rows whose workload name contains this text.")
    var workload: String?

    @Option(parsing: .upToNextOption, help: "Only these workload kinds (\(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", "))).")
    var kind: [WorkloadKind] = []

    func validate() throws {
        guard top >= 0 else { throw ValidationError("--top must be 0 (all) or more") }
        if let workload, workload.isEmpty { throw ValidationError("--workload must not be empty") }
    }

    func matches(_ w: WorkloadIdentity?) -> Bool {
        if !kind.isEmpty && !kind.contains(w?.kind ?? .unknown) { return false }
        if let workload, !(w?.name ?? "").contains(workload) { return false }
        return true
    }
}

extension WorkloadSort: ExpressibleByArgument {}

/// What the collector lost in the interval: with the table, or on stderr beside CSV and JSON
/// (which stay parseable).
func reportLoss(_ snapshot: Snapshot, format: OutputFormat) {
    guard let note = snapshot.statsDelta.lossNote else { return }
    if format == .table { writeStdout("  " + note + "\n") } else { writeStderr(note + "\n") }
}
extension WorkloadKind: ExpressibleByArgument {}

/// The loop of the per-process and per-workload views: each sample's `rows` (filtered and
/// ordered) as a table of the first --top, CSV or JSON lines, appended to --output, with what
/// the collector lost.
func runView<Row>(_ sampler: Sampler, sampling: SamplingOptions, view: ViewOptions, columns: [ViewColumn<Row>],
                  table: (SampleContext, [Row], Int) -> String, rows: (Snapshot) -> [Row]) throws {
    let header = ViewFormatter.csvHeader(columns)
    let csv = try sampling.output.map { try CSVAppender(path: $0, header: header) }
    if sampling.format == .csv { writeStdout(header) }
    while let snapshot = try sampler.next() {  // nil: Ctrl-C (between samples) or --iterations done
        let context = snapshot.context
        let shown = rows(snapshot)
        switch sampling.format {
        case .table: writeStdout(table(context, Array(shown.prefix(view.top == 0 ? shown.count : view.top)), shown.count) + "\n")
        case .csv: writeStdout(ViewFormatter.csvRows(columns, context, shown))
        case .json: writeStdout(ViewFormatter.jsonLines(columns, context, shown))
        }
        try csv?.append(ViewFormatter.csvRows(columns, context, shown))
        reportLoss(snapshot, format: sampling.format)
    }
}

extension StarveDump {
    struct Processes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-process run-queue latency every --interval: threads summed, exited threads included, the worst thread named.",
            discussion: "A process is a tgid and its start tag (a reused tgid is another process). Columns: docs/columns.md.")

        @OptionGroup var sampling: SamplingOptions
        @OptionGroup var view: ViewOptions
        @OptionGroup var ids: IdentityOptions

        func validate() throws {
            if !ids.tid.isEmpty { throw ValidationError("--tid selects threads: the rows of processes are processes (use --pid, or tasks --tid)") }
        }

        func run() throws {
            Allocator.reuseLargeBlocks()
            let signals = StopSignals()
            let sampler = try Sampler(settings: sampling.settings(views: [.processes]), signals: signals)
            try ids.requireKnown(in: sampler.baseline)
            let pids = Set(ids.pid)
            try runView(sampler, sampling: sampling, view: view, columns: processColumns, table: ViewFormatter.processTable) { snapshot in
                view.sort.order(snapshot.processes.filter {
                    ($0.runtimeNs > 0 || $0.waitCount > 0) && view.matches($0.workload) && (pids.isEmpty || pids.contains($0.tgid))
                })
            }
        }
    }

    struct Workloads: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-workload run-queue latency, preemptions, throttling and verdicts every --interval.",
            discussion: """
                A workload is a pod, container, Docker or Podman container, systemd service or scope, user, \
                Slurm job, or other cgroup (docs/workloads.md): every cgroup and process of it merged, \
                exited threads included. Preemptors are other workloads; verdicts are by workload \
                (docs/signals.md). Columns: docs/columns.md.
                """)

        @OptionGroup var sampling: SamplingOptions
        @OptionGroup var view: ViewOptions
        @OptionGroup(title: "Processes and threads (only the workloads that hold them)") var ids: IdentityOptions

        @Option(help: "A noisy neighbour uses at least this share of one CPU, percent.")
        var neighbourMinCpu: Double = SamplerSettings.defaultNeighbourMinCPUPercent

        func validate() throws {
            guard neighbourMinCpu > 0 && neighbourMinCpu <= 100 * 4096 else { throw ValidationError("--neighbour-min-cpu must be a positive percentage") }
        }

        func run() throws {
            Allocator.reuseLargeBlocks()
            let signals = StopSignals()
            let sampler = try Sampler(settings: sampling.settings(neighbourMinCPUPercent: neighbourMinCpu, views: [.workloads]),
                                      signals: signals)
            try ids.requireKnown(in: sampler.baseline)
            var held = HeldBy(ids)
            try runView(sampler, sampling: sampling, view: view, columns: workloadColumns, table: ViewFormatter.workloadTable) { snapshot in
                held.note(snapshot)
                return view.sort.order(snapshot.workloads.filter {
                    ($0.figures.runtimeNs > 0 || $0.figures.waitCount > 0) && view.matches($0.identity)
                        && (ids.isEmpty || held.workloads.contains($0.key))
                })
            }
        }
    }
}
