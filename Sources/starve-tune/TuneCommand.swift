import ArgumentParser
import Glibc
import StarveBPF
import StarveCLI
import StarveHost
import StarveModel
import StarveMonitor
import StarveTune

/// starve-tune: acts on what starve sees, by a policy, safely (dry run by default).
@main
struct StarveTuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-tune",
        abstract: "Nudge cgroup CPU weights, quotas, cpusets and nice levels by a policy, from starve's samples.",
        discussion: """
            Dry run by default: prints each decision (rule, evidence, what it would write). --act writes, \
            logs every change with its reason and original value to the audit log, and restores the \
            originals on exit, SIGTERM and SIGINT (unless --keep). After a crash, `starve-tune rollback \
            --audit FILE` restores them. See docs/tuning.md.
            """,
        subcommands: [Run.self, RollbackCommand.self],
        defaultSubcommand: Run.self
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Sample, decide and (with --act) act, until Ctrl-C or --iterations.")

    @Option(help: "The policy file (YAML; see policies/ and docs/tuning.md).")
    var policy: String

    @Flag(help: "Write the knobs (default: dry run, nothing is written).")
    var act = false

    @Flag(help: "Dry run: decide and print what would be written (the default).")
    var dryRun = false

    @Flag(help: "On exit leave the changes in place instead of restoring the originals.")
    var keep = false

    @Option(help: "Audit log, JSON lines (default with --act: \(defaultAudit); dry runs log only when given).")
    var audit: String?

    @OptionGroup var pins: PinDirectory

    @Option(help: "Seconds between samples (default: the policy's interval).")
    var interval: Double?

    @Option(help: "Samples to take; 0 = until SIGINT/SIGTERM.")
    var iterations: Int = 0

    @Option(help: "Only cgroups whose path matches this glob, besides each rule's scope (e.g. '/kubepods/**').")
    var scope: String?

    @Flag(help: "Print every sample's cgroups in scope with the signals the rules read.")
    var explain = false

    static let defaultAudit = "/run/starve-tune.audit.jsonl"

    func validate() throws {
        if act && dryRun { throw ValidationError("--act and --dry-run exclude each other") }
        if keep && !act { throw ValidationError("--keep means something only with --act") }
        if let interval { guard interval >= 0.1 && interval <= 3600 else { throw ValidationError("--interval must be between 0.1 and 3600 seconds") } }
        guard iterations >= 0 else { throw ValidationError("--iterations must be 0 (until signalled) or more") }
        if let scope { guard scope.hasPrefix("/") && scope != "/" else { throw ValidationError("--scope must be a cgroup path glob below the root, like /kubepods/**") } }
    }

    func run() throws {
        let signals = StopSignals(including: [SIGHUP])
        guard let text = RawText.read(policy) else { throw StarveError("cannot read the policy \(policy): \(RawText.lastError())") }
        let parsed = try PolicyParser.parse(text, file: policy)
        guard let knobs = CgroupKnobs.host() else { throw StarveError("no cgroup hierarchy with the cpu controller is mounted (see /proc/self/mountinfo)") }
        try Tuner.check(policy: parsed, act: act, knobs: knobs)
        let auditLog = try (audit ?? (act ? Self.defaultAudit : nil)).map { try AuditLog(path: $0) }
        var settings = SamplerSettings()
        settings.pinDirectory = pins.pinDir
        settings.interval = interval ?? parsed.interval
        settings.iterations = iterations
        settings.views = [.cgroups]
        if let v = parsed.neighbourMinCPUPercent { settings.neighbourMinCPUPercent = v }
        let sampler = try Sampler(settings: settings, signals: signals)
        let tuner = try Tuner(policy: parsed, settings: TunerSettings(act: act, keep: keep, scope: scope, explain: explain), knobs: knobs, audit: auditLog) {
            writeStdout($0 + "\n")
        }
        writeStdout("starve-tune: \(parsed.rules.count) rules from \(policy), \(act ? "acting" : "dry run (nothing is written; --act to apply)")"
                    + ", every \(formatFixed(settings.interval, decimals: 1)) s" + (auditLog.map { ", audit log \($0.path)" } ?? "") + "\n")
        var failure: Error?
        do {
            while let snapshot = try sampler.next() {
                try tuner.process(snapshot, severeNs: sampler.collection.thresholdsNs.severe)
            }
        } catch {
            failure = error
        }
        // Always give the knobs back, also after an error in the loop.
        try tuner.finish(reason: failure.map { "error: \($0)" } ?? (iterations > 0 && sampler.sample >= iterations ? "iterations done" : "signal"))
        if let failure { throw failure }
    }
}

struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Restore every knob a crashed starve-tune left changed, from its audit log.",
        discussion: "A knob someone else changed since is left alone (and said so).")

    @Option(help: "The audit log of the run to undo.")
    var audit: String = Run.defaultAudit

    func run() throws {
        let out = try Rollback.run(auditPath: audit) { writeStdout($0 + "\n") }
        writeStdout("rollback: \(out.restored.count) restored, \(out.leftAlone.count) left alone\n")
    }
}
