import ArgumentParser
import Foundation
import StarveBPF
import StarveCore

/// starve-dump: reads the pinned maps periodically and reports per-thread CPU time and run-queue wait.
@main
struct StarveDump: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-dump",
        abstract: "Read starve's pinned maps: per-thread CPU time, run-queue wait and its percentiles.",
        discussion: "Needs no root when the pins are readable (starve-load --group). Columns: docs/columns.md.",
        subcommands: [Tasks.self, Events.self, Cgroups.self],
        defaultSubcommand: Tasks.self
    )
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, json
}
