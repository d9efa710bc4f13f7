import ArgumentParser
import Foundation
import StarveBPF
import StarveModel
import StarveHost
import StarveMonitor

extension StarveDump {
    struct Cgroups: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-cgroup run-queue latency, preemptions by cause, throttling and verdicts, every --interval.",
            discussion: """
                Cgroups are those of the cpu controller (v1 cpu, or v2). Verdicts: ok, throttled (its own \
                quota), victim (of a noisy neighbour, or of a process of its own cgroup), noisy-neighbour, \
                starved (no single cause). Recurring patterns (periodic or sustained throttling, severe or \
                high-frequency starvation, migration storms, a persistent noisy neighbour) are reported \
                once when they start and once when they end. See docs/signals.md.
                """)

        @OptionGroup var sampling: SamplingOptions

        @Option(help: "Rows per sample in the table, in --sort order; 0 = all. CSV and JSON carry every cgroup.")
        var top: Int = 20

        @Option(help: ArgumentHelp(
            "Order of the rows: wait, cpu, p99 or name.",
            discussion: "The default, wait (most run-queue wait in the interval first), puts first the cgroup that lost the most time waiting for a CPU: what starve is for."))
        var sort: WorkloadSort = .wait

        @Option(help: "A noisy neighbour uses at least this share of one CPU, percent.")
        var neighbourMinCpu: Double = SamplerSettings.defaultNeighbourMinCPUPercent

        @Flag(help: "Do not report recurring patterns.")
        var noPatterns = false

        @OptionGroup(title: "Processes and threads (only the cgroups that hold them)") var ids: IdentityOptions

        func validate() throws {
            guard top >= 0 else { throw ValidationError("--top must be 0 (all) or more") }
            guard neighbourMinCpu > 0 && neighbourMinCpu <= 100 * 4096 else { throw ValidationError("--neighbour-min-cpu must be a positive percentage") }
        }

        func run() throws {
            Allocator.reuseLargeBlocks()
            let signals = StopSignals()
            let sampler = try Sampler(settings: sampling.settings(neighbourMinCPUPercent: neighbourMinCpu, views: [.cgroups]),
                                      signals: signals)
            try ids.requireKnown(in: sampler.baseline)
            var held = HeldBy(ids)
            let csv = try sampling.output.map { try CSVAppender(path: $0, header: CgroupFormatter.csvHeader) }
            let patterns = PatternDetector()
            if sampling.format == .csv { writeStdout(CgroupFormatter.csvHeader) }

            while let snapshot = try sampler.next() {  // nil: Ctrl-C (between samples) or --iterations done
                let context = snapshot.context
                let rows = snapshot.cgroups
                held.note(snapshot)
                let active = sort.order(rows.filter {
                    ($0.runtimeNs > 0 || $0.waitCount > 0) && (ids.isEmpty || held.cgroups.contains($0.cgroupID))
                })
                switch sampling.format {
                case .table: writeStdout(CgroupFormatter.table(context, Array(active.prefix(top == 0 ? active.count : top))) + "\n")
                case .csv: writeStdout(CgroupFormatter.csvRows(context, active))
                case .json: writeStdout(CgroupFormatter.jsonLines(context, active))
                }
                try csv?.append(CgroupFormatter.csvRows(context, active))
                if !noPatterns {
                    report(patterns.observe(PatternObservation.cgroups(rows, intervals: snapshot.threads, severeNs: sampler.collection.thresholdsNs.severe)))
                }
            }
            if !noPatterns { report(patterns.finish()) }
        }

        /// Pattern lines go with the table, and to stderr beside CSV or JSON (which stay parseable).
        private func report(_ transitions: [PatternTransition]) {
            for t in transitions {
                let line = describe(t) + "\n"
                if sampling.format == .table { writeStdout(line) } else { writeStderr(line) }
            }
        }
    }
}
