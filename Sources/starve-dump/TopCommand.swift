import ArgumentParser
import Foundation
import StarveBPF
import StarveConsole
import StarveCLI
import StarveHost
import StarveModel
import StarveMonitor

extension StarveDump {
    struct Top: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A live full-screen view: workloads, processes or threads, most run-queue wait first, refreshed every --interval.",
            discussion: """
                Keys: q quits; w, p, t show workloads, processes, threads (Tab: the next view); s the next \
                order, W wait, C cpu, L p99, N name. The header has the host's run-queue wait percentiles, \
                what the collector counted (switches, events) and lost; the bottom lists recent long waits \
                (at least the starvation threshold of starve-load). When standard output is not a \
                terminal, prints the same frame as plain text every interval. All durations in ms.
                """)

        @OptionGroup var pins: PinDirectory

        @Option(help: "Seconds between refreshes.")
        var interval: Double = SamplerSettings.defaultInterval

        @Option(help: "Refreshes before exiting; 0 = until q or Ctrl-C.")
        var iterations: Int = 0

        @Option(help: "The view to start with: workloads, processes or threads.")
        var view: TopView = .workloads

        @Option(help: ArgumentHelp(
            "Order of the rows: wait, cpu, p99 or name.",
            discussion: "The default, wait (most run-queue wait in the interval first), puts first who lost the most time waiting for a CPU: what starve is for."))
        var sort: WorkloadSort = .wait

        @Option(help: "Rows per view when standard output is not a terminal; 0 = all (on a terminal: what fits).")
        var top: Int = 20

        @OptionGroup var ids: IdentityOptions

        func validate() throws {
            guard interval > 0 && interval <= 86_400 else { throw ValidationError("--interval must be in (0, 86400] seconds") }
            guard iterations >= 0 else { throw ValidationError("--iterations must be 0 (until q or Ctrl-C) or more") }
            guard top >= 0 else { throw ValidationError("--top must be 0 (all) or more") }
        }

        func run() throws {
            Allocator.reuseLargeBlocks()
            let signals = StopSignals(including: [SIGWINCH])
            let screen = LiveScreen(terminal: Terminal(), signals: signals, state: TopState(view: view, sort: sort), top: top, ids: ids)
            var settings = SamplerSettings()
            settings.pinDirectory = pins.pinDir
            settings.interval = interval
            settings.iterations = iterations
            settings.views = [.threadWorkloads, .processes, .workloads]
            let sampler = try Sampler(settings: settings, waitingWith: screen)
            try ids.requireKnown(in: sampler.baseline)
            let threshold = sampler.collection.thresholdsNs.starved
            screen.start(pinDir: pins.pinDir)
            defer { screen.terminal?.restore() }
            var held = HeldBy(ids)
            while var snapshot = try sampler.next() {  // nil: q, Ctrl-C, SIGTERM or --iterations done
                if !ids.isEmpty {
                    // The workloads that hold them, their threads, their processes.
                    held.note(snapshot)
                    snapshot.workloads = snapshot.workloads.filter { held.workloads.contains($0.key) }
                    snapshot.threads = snapshot.threads.filter { ids.matches(tid: $0.task.pid, pid: $0.task.tgid) }
                    if !ids.pid.isEmpty { snapshot.processes = snapshot.processes.filter { ids.pid.contains($0.tgid) } }
                }
                screen.state.noteLongWaits(snapshot, thresholdNs: threshold)
                screen.show(snapshot)
            }
        }
    }
}

/// The live view's side of the sampler's waits: between samples it reads keys (redrawing the
/// last frame at once on a change of view or order), redraws on SIGWINCH, and stops the
/// sampler on q, SIGINT or SIGTERM. Without a terminal it waits for the stop signals only.
final class LiveScreen: SampleWait {
    let terminal: Terminal?
    let signals: StopSignals
    var state: TopState
    let top: Int
    let ids: IdentityOptions
    private var last: Snapshot?

    init(terminal: Terminal?, signals: StopSignals, state: TopState, top: Int, ids: IdentityOptions) {
        self.terminal = terminal
        self.signals = signals
        self.state = state
        self.top = top
        self.ids = ids
    }

    /// Full screen on a terminal, with a first frame while the first interval runs.
    func start(pinDir: String) {
        guard let terminal else { return }
        terminal.enter()
        terminal.draw(["starve top: reading \(pinDir), first sample after one interval…", "", "q quit"])
    }

    func show(_ snapshot: Snapshot) {
        last = snapshot
        draw()
    }

    private func draw() {
        guard let snapshot = last else { return }
        if let terminal {
            terminal.draw(TopScreen.lines(snapshot, state: state, rows: terminal.size.rows, interactive: true))
        } else {
            writeStdout(TopScreen.lines(snapshot, state: state, rows: nil, top: top, interactive: false).joined(separator: "\n") + "\n\n")
        }
    }

    func waitForNextSample(seconds: Double) -> Bool {
        guard let terminal else {
            // Plain output: SIGWINCH means nothing; wait out the interval for the others.
            let deadline = monotonicNs() + UInt64(seconds * 1e9)
            while monotonicNs() < deadline {
                let left = Double(deadline - monotonicNs()) / 1e9
                if let sig = signals.wait(seconds: left), sig != SIGWINCH { return true }
            }
            return false
        }
        let deadline = monotonicNs() + UInt64(seconds * 1e9)
        while true {
            while let sig = signals.pending() {
                if sig == SIGWINCH { draw() } else { return true }
            }
            let now = monotonicNs()
            if now >= deadline { return false }
            let leftMs = Int32(min(50, max(1, (deadline - now) / 1_000_000)))
            guard let key = terminal.key(waitingMs: leftMs) else { continue }
            if key == UInt8(ascii: "q") || key == UInt8(ascii: "Q") { return true }
            if state.press(key) { draw() }
        }
    }
}
