import ArgumentParser
import Foundation
import StarveBPF
import StarveModel
import StarveHost
import StarveMonitor

extension StarveDump {
    struct Tasks: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sample per-thread statistics every --interval seconds (the default).")

        @OptionGroup var sampling: SamplingOptions

        @Option(help: "Rows per sample in the table, in --sort order; 0 = all. CSV and JSON carry every matching task.")
        var top: Int = 20

        @Option(help: ArgumentHelp(
            "Order of the rows: wait, cpu, p99 or name.",
            discussion: "The default, wait (most run-queue wait in the interval first), puts first who lost the most time waiting for a CPU: what starve is for. cpu puts the busiest first."))
        var sort: WorkloadSort = .wait

        @Option(help: "EMA smoothing factor for ROLL_MS / runtime_ema_ns, in (0, 1].")
        var alpha: Double = SamplerSettings.defaultAlpha

        @OptionGroup var ids: IdentityOptions

        @Option(help: "Only threads whose name contains this text.")
        var comm: String?

        @Flag(help: "Leave kernel threads out.")
        var noKernelThreads = false

        @Flag(help: ArgumentHelp(
            "Add fair-share analysis: CFS expected vs measured share of each competing thread (docs/experiments.md).",
            discussion: "Competing: the selected threads that ran or waited in the interval. Reads /proc and cgroupfs for their affinity and groups."))
        var share = false

        @Option(help: "Simulate this many lottery draws (and stride quanta) per sample and CPU component; implies --share.")
        var simulateDraws: Int = 0

        @Option(help: "Lottery seed: the same seed and ticket lists give the same draws.")
        var seed: UInt64 = 1

        @Option(help: "How nice becomes lottery tickets: weight (the CFS weight) or linear (20 - nice); implies --share.")
        var tickets: TicketMapping?

        func validate() throws {
            guard top >= 0 else { throw ValidationError("--top must be 0 (all) or more") }
            guard alpha > 0 && alpha <= 1 else { throw ValidationError("--alpha must be in (0, 1]") }
            guard (0...100_000_000).contains(simulateDraws) else { throw ValidationError("--simulate-draws must be between 0 and 100000000") }
        }

        func run() throws {
            Allocator.reuseLargeBlocks()
            let signals = StopSignals()
            let sampler = try Sampler(settings: sampling.settings(alpha: alpha, views: [.threadWorkloads]), signals: signals)
            let analyzeShares = share || simulateDraws > 0 || tickets != nil
            let formatter = SampleFormatter(shareColumns: analyzeShares ? shareColumns : [])
            var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings(draws: simulateDraws, seed: seed, tickets: tickets ?? .weight))
            let reader = analyzeShares ? SchedContextReader() : nil
            let csv = try sampling.output.map { try CSVAppender(path: $0, header: formatter.csvHeader) }
            let filter = TaskFilter(pids: Set(ids.tid), tgids: Set(ids.pid), comm: comm, includeKernelThreads: !noKernelThreads)
            try ids.requireKnown(in: sampler.baseline)
            if sampling.format == .csv { writeStdout(formatter.csvHeader) }

            while let snapshot = try sampler.next() {  // nil: Ctrl-C (between samples) or --iterations done
                let context = snapshot.context
                let intervals = filter.isEmpty ? snapshot.threads : snapshot.threads.filter { filter.matches($0.task) }
                // The table alone needs only its top rows in order; CSV and JSON need them all.
                let everyRow = sampling.format != .table || csv != nil || top == 0
                let ordered = sort.order(intervals, top: everyRow ? 0 : top)
                var shares: ShareSample?
                if let reader {
                    // Only the competing threads cost /proc reads.
                    reader.beginSample()
                    let contexts = reader.contexts(of: intervals.filter(ShareAnalyzer.competes).map { ($0.task.pid, $0.task.tgid) })
                    shares = analyzer.analyze(sample: context.sample, intervals: intervals, contexts: contexts, allCPUs: reader.allCPUs)
                }
                switch sampling.format {
                case .table:
                    writeStdout(formatter.table(context, Array(ordered.prefix(top == 0 ? ordered.count : top)), tracked: snapshot.tracked, shares: shares) + "\n")
                case .csv: writeStdout(formatter.csvRows(context, ordered, shares: shares))
                case .json: writeStdout(formatter.jsonLines(context, ordered, shares: shares))
                }
                try csv?.append(formatter.csvRows(context, ordered, shares: shares))
            }
        }
    }
}

extension TicketMapping: ExpressibleByArgument {}
