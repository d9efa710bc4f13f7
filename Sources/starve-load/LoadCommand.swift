import ArgumentParser
import StarveBPF
import StarveCore

/// starve-load: loads starve's BPF programs, pins them, and exits; collection goes on in the kernel.
@main
struct StarveLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-load",
        abstract: "Load starve's scheduler probes into the kernel and pin their maps (root).",
        discussion: """
            Loads CO-RE BPF programs on the sched_switch, sched_wakeup, sched_wakeup_new, \
            sched_migrate_task and sched_process_exit tracepoints, pins their maps and links under \
            the pin directory, and exits. Collection continues until `starve-load unload`.
            """,
        subcommands: [Load.self, Status.self, Unload.self],
        defaultSubcommand: Load.self
    )
}

struct PinDirectory: ParsableArguments {
    @Option(name: .long, help: "Directory on bpffs for the pins.")
    var pinDir: String = PinLayout.defaultDirectory

    var layout: PinLayout { PinLayout(directory: pinDir) }
}

extension StarveLoad {
    struct Load: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load, attach and pin (the default).")

        @OptionGroup var pins: PinDirectory

        @Option(help: "Group whose members may read the maps (starve-dump without root). Default: root only.")
        var group: String?

        @Option(help: "Most threads tracked at once (size of the tasks map).")
        var maxPids: UInt32 = 32768

        @Option(help: "BPF object to load (default: starve.bpf.o next to the executable or in bpf/build/).")
        var object: String?

        @Option(help: "Kernel BTF for CO-RE relocations.")
        var btf: String = "/sys/kernel/btf/vmlinux"

        @Flag(help: "Show libbpf's messages and the verifier log.")
        var verbose = false

        func validate() throws {
            guard maxPids >= 1 && maxPids <= 4_194_304 else {
                throw ValidationError("--max-pids must be between 1 and 4194304")
            }
        }

        func run() throws {
            LibbpfLog.configure(verbose: verbose)
            var options = LoadOptions()
            options.layout = pins.layout
            options.objectPath = object
            options.btfPath = btf
            options.group = group
            options.maxPids = maxPids
            let report = try Collector.load(options)
            if report.mountedBpffs { print("mounted bpffs at \(Bpffs.defaultMount)") }
            let who = group.map { "root and group \($0)" } ?? "root only"
            print("loaded \(report.objectPath): \(report.programs.count) programs attached, \(report.maps.count) maps pinned under \(pins.pinDir) (readable by \(who))")
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what is pinned, whether it is attached, map fill and drop counters.")

        @OptionGroup var pins: PinDirectory

        func run() throws {
            print(try Collector.status(layout: pins.layout).render(), terminator: "")
        }
    }

    struct Unload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach the programs and remove every pin.")

        @OptionGroup var pins: PinDirectory

        func run() throws {
            let removed = try Collector.unload(layout: pins.layout)
            print("unloaded: removed \(removed.count) pins and \(pins.pinDir)")
        }
    }
}
