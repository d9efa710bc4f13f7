import ArgumentParser
import Glibc
import StarveBPF
import StarveCLI
import StarveModel
import StarveHost

/// starve-load: loads starve's BPF programs, pins them, and exits; collection goes on in the kernel.
@main
struct StarveLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-load",
        abstract: "Load starve's scheduler probes into the kernel and pin their maps (root, or CAP_BPF + CAP_PERFMON).",
        discussion: """
            Loads CO-RE BPF programs on the sched_switch, sched_waking, sched_pi_setprio and \
            sched_process_exit tracepoints (and sched_wakeup/sched_wakeup_new \
            on kernels without sched_info), pins their maps and links under the pin directory, and \
            exits. Collection continues until `starve-load unload`. Events (starvation, priority \
            inversion, priority-inheritance boosts, migration storms) go to a pinned ring buffer \
            that `starve-dump events` reads.
            """,
        subcommands: [Load.self, Status.self, Unload.self],
        defaultSubcommand: Load.self
    )
}

extension PinDirectory {
    /// Removes what a starve-load that died (kill -9) left beside the pin directory, saying so on
    /// stderr; every command does this first. Returns whether it removed anything.
    @discardableResult
    func removeLeftovers() -> Bool {
        let results = Collector.removeLeftovers(layout: layout)
        for r in results { writeStderr("starve-load: \(r.message)\n") }
        return results.contains { $0.removed }
    }
}

extension StarveLoad {
    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load, attach and pin (the default).")

        @OptionGroup var pins: PinDirectory

        @Option(help: "Group whose members may read the maps (starve-dump without root). Default: root only.")
        var group: String?

        @Option(help: "BPF object file to load instead of the one embedded in starve-load (a build without one looks next to the executable and in bpf/build/).")
        var object: String?

        @Option(help: "Kernel BTF for CO-RE relocations.")
        var btf: String = "/sys/kernel/btf/vmlinux"

        @Option(help: "Victim x preemptor (cgroup, process) cells kept for exited threads and threads with many preemptors (size of the preempt_pairs LRU map: the least recently used are evicted, and counted).")
        var maxPairs: UInt32 = LoadOptions().maxPairs

        @Option(help: "(cgroup, process) entries kept for the work of exited threads (size of the exited LRU map: the least recently used are evicted, and counted).")
        var maxExited: UInt32 = LoadOptions().maxExited

        @Option(help: "Run-queue waits that make a starvation event, ms: starved,severe,critical.")
        var thresholds: String = LoadOptions.Defaults.thresholdsMs.map { formatFixed($0, decimals: 0) }.joined(separator: ",")

        @Option(help: "Shortest block, ms, that can make a priority inversion.")
        var inversionMin: Double = LoadOptions.Defaults.inversionMinMs

        @Option(help: "Migrations of one task within --storm-window that make a migration storm (0: off).")
        var stormMigrations: UInt32 = LoadOptions.Defaults.stormMigrations

        @Option(help: "Migration-storm window, ms.")
        var stormWindow: Double = LoadOptions.Defaults.stormWindowMs

        @Option(help: "Events per second per cgroup per CPU (0: unlimited); the rest are counted as lost.")
        var rateLimit: UInt32 = LoadOptions.Defaults.rateLimit

        @Option(help: "Emit one event in N (1: all); the rest are counted as lost.")
        var sample: UInt32 = 1

        @Option(name: .customLong("event-pid"), help: "Events only about this pid or tgid (repeatable).")
        var eventPids: [UInt32] = []

        @Option(help: "Size of the events ring buffer, KiB (a power of two).")
        var eventsKb: UInt32 = LoadOptions().eventsBytes / 1024

        @Option(help: "Size of the event stacks ring buffer, KiB (a power of two).")
        var stacksKb: UInt32 = LoadOptions().stacksBytes / 1024

        @Flag(help: "Let the --group read the events' stacks too: raw kernel addresses (which kptr_restrict hides from non-root users) and other users' user-space addresses. Default: stacks are root-only; the group reads events without them.")
        var groupStacks = false

        @Flag(help: "No events: counters only.")
        var noEvents = false

        @Flag(help: "Also count futex waits per thread (time blocked and how often; starve-dump processes/workloads, starve-tune). Off by default: it runs on every syscall (cost in docs/tuning.md).")
        var futex = false

        @Flag(help: "Time each thread's sleeps, blocked in I/O or other (for starve-dump jobs: where a job's time went). Off by default: one task-storage lookup per sleeping switch-out and per wakeup (docs/overhead.md).")
        var jobs = false

        @Flag(help: "Count syscalls by name per job and process (starve-dump jobs: top syscalls). Off by default: one hash update on every syscall (docs/overhead.md).")
        var syscalls = false

        @Flag(help: "Count TCP/UDP (inet socket) bytes sent and received per job and process (starve-dump jobs). Off by default: one hash update per socket send/receive (docs/overhead.md).")
        var net = false

        @Option(help: "Where run-queue waits come from: sched-info (the kernel's own bracket) or wakeup (our own, for kernels without sched_info). Default: sched-info when the kernel keeps it.")
        var waitSource: String?

        @Flag(help: "Show libbpf's messages and the verifier log.")
        var verbose = false

        func validate() throws {
            guard maxPairs >= 1 && maxPairs <= 1 << 22 else { throw ValidationError("--max-pairs must be between 1 and 4194304") }
            guard maxExited >= 1 && maxExited <= 1 << 22 else { throw ValidationError("--max-exited must be between 1 and 4194304") }
            _ = try parsedThresholds()
            guard inversionMin > 0, stormWindow > 0 else { throw ValidationError("--inversion-min and --storm-window must be positive") }
            guard sample >= 1 else { throw ValidationError("--sample must be at least 1") }
            for (flag, kb) in [("--events-kb", eventsKb), ("--stacks-kb", stacksKb)] {
                guard kb >= 4, kb <= 1 << 20, kb & (kb - 1) == 0 else {
                    throw ValidationError("\(flag) must be a power of two between 4 and 1048576")
                }
            }
            if groupStacks && group == nil { throw ValidationError("--group-stacks needs --group") }
            if let w = waitSource, LoadOptions.WaitSource(rawValue: w) == nil {
                throw ValidationError("--wait-source must be sched-info or wakeup")
            }
        }

        func parsedThresholds() throws -> [UInt64] {
            let parts = thresholds.split(separator: ",").map { Double($0.filter { $0 != " " }) }
            guard parts.count == 3, let a = parts[0], let b = parts[1], let c = parts[2], a > 0, a <= b, b <= c else {
                throw ValidationError("--thresholds takes three increasing ms values, starved,severe,critical (e.g. 100,500,1000), not '\(thresholds)'")
            }
            return [a, b, c].map { UInt64($0 * 1e6) }
        }

        func run() throws {
            LibbpfLog.configure(verbose: verbose)
            var options = LoadOptions()
            options.layout = pins.layout
            options.objectPath = object
            options.btfPath = btf
            options.group = group
            options.maxPairs = maxPairs
            options.maxExited = maxExited
            options.eventsBytes = eventsKb * 1024
            options.stacksBytes = stacksKb * 1024
            options.groupStacks = groupStacks
            options.thresholdsNs = try parsedThresholds()
            options.inversionMinNs = UInt64(inversionMin * 1e6)
            options.stormMigrations = stormMigrations
            options.stormWindowNs = UInt64(stormWindow * 1e6)
            options.rateLimit = rateLimit
            options.sampleOneIn = sample
            options.eventPids = eventPids
            options.eventsOff = noEvents
            options.futex = futex
            options.jobs = jobs
            options.syscalls = syscalls
            options.net = net
            options.waitSource = waitSource.flatMap(LoadOptions.WaitSource.init(rawValue:))
            pins.removeLeftovers()
            let report: LoadReport
            do {
                report = try Collector.load(options)
            } catch let stop as LoadInterrupted {
                writeStderr("Error: \(stop)\n")
                throw ExitCode(128 + stop.signal)
            }
            if report.mountedBpffs { print("mounted bpffs at \(Bpffs.defaultMount)") }
            let owner = geteuid() == 0 ? "root" : (getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(geteuid())") + ", root"
            let who = group.map { "\(owner) and group \($0)" } ?? "\(owner) only"
            print("loaded \(report.objectPath): \(report.programs.count) programs attached, \(report.maps.count) maps pinned under \(pins.pinDir) (readable by \(who)); waits from \(report.waitSource.rawValue)")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what is pinned, whether it is attached, map fill and drop counters.")

        @OptionGroup var pins: PinDirectory

        func run() throws {
            pins.removeLeftovers()
            print(try Collector.status(layout: pins.layout).render(), terminator: "")
        }
    }

    struct Unload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach the programs and remove every pin.")

        @OptionGroup var pins: PinDirectory

        func run() throws {
            if pins.removeLeftovers() && access(pins.pinDir, F_OK) != 0 {
                print("unloaded: nothing was loaded at \(pins.pinDir); removed what an unfinished starve-load left")
                return
            }
            let removed = try Collector.unload(layout: pins.layout)
            print("unloaded: removed \(removed.count) pins and \(pins.pinDir)")
        }
    }
}
