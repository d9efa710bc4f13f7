import ArgumentParser

/// starve-bench: the helper of scripts/bench.sh (issue #6). `dump` times starve-dump's read and
/// analysis on synthetic `tasks` records, `iter` the live iterator read, `churn` starts short-lived
/// processes (the churn phase); `report` turns the script's raw CSVs into the results.
@main
struct StarveBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-bench",
        abstract: "Overhead benchmark helper for scripts/bench.sh (see docs/overhead.md).",
        subcommands: [DumpCost.self, IterCost.self, Report.self, ExportCost.self]
    )
}
