import ArgumentParser
import StarveModel
import StarveHost
import StarveWorkload

/// starve-work: controlled, reproducible CPU pressure for nice-level experiments.
@main
struct StarveWork: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-work",
        abstract: "Make controlled CPU pressure: busy workers at chosen nice levels, pinned to chosen CPUs.",
        subcommands: [Busy.self, Experiment.self, Scenario.self, Churn.self, Worker.self],
        defaultSubcommand: Busy.self
    )
}
