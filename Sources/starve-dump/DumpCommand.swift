import ArgumentParser
import Foundation
import StarveBPF
import StarveCLI
import StarveModel
import StarveHost
import StarveMonitor

/// starve-dump: reads the pinned maps periodically and reports per-thread CPU time and run-queue wait.
@main
struct StarveDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-dump",
        abstract: "Read starve's pinned maps: per-thread CPU time, run-queue wait and its percentiles.",
        discussion: "Needs no root when the pins are readable (starve-load --group). Columns: docs/columns.md.",
        subcommands: [Tasks.self, Top.self, Hist.self, Events.self, Cgroups.self, Processes.self, Workloads.self, Jobs.self, Report.self],
        defaultSubcommand: Tasks.self
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json
}

/// The options every sampling subcommand (tasks, cgroups, processes, workloads) shares.
struct SamplingOptions: ParsableArguments {
    @OptionGroup var pins: PinDirectory

    @Option(help: "Seconds between samples.")
    var interval: Double = SamplerSettings.defaultInterval

    @Option(help: "Samples to take; 0 = until Ctrl-C.")
    var iterations: Int = 0

    @Option(help: "Standard output format: table, csv or json (JSON lines).")
    var format: OutputFormat = .table

    @Option(help: "Append CSV rows to this file (header written when new; a file with another header is refused).")
    var output: String?

    func validate() throws {
        guard interval > 0 && interval <= 86_400 else { throw ValidationError("--interval must be in (0, 86400] seconds") }
        guard iterations >= 0 else { throw ValidationError("--iterations must be 0 (until Ctrl-C) or more") }
    }

    /// The sampler's settings from these options and a subcommand's own.
    func settings(alpha: Double = SamplerSettings.defaultAlpha,
                  neighbourMinCPUPercent: Double = SamplerSettings.defaultNeighbourMinCPUPercent,
                  views: SamplerViews) -> SamplerSettings {
        var s = SamplerSettings()
        s.pinDirectory = pins.pinDir
        s.interval = interval
        s.iterations = iterations
        s.alpha = alpha
        s.neighbourMinCPUPercent = neighbourMinCPUPercent
        s.views = views
        return s
    }
}
