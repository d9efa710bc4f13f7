import ArgumentParser
import StarveBPF
import StarveCLI
import StarveModel
import StarveHost

extension StarveDump {
    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tail the events ring buffer: starvation, priority inversion, PI boosts, migration storms.",
            discussion: """
                Stacks are root-only unless starve-load --group-stacks granted them to the group: other \
                readers get events without stacks. Kernel stacks are symbolised from /proc/kallsyms, \
                user stacks from the ELF symbol tables of the process's mappings. One reader at a time: \
                a ring buffer has one consumer position. Events not written (ring buffer full, rate \
                limit, sampling, PID filter) are counted: see starve-load status, and the summary on exit.
                """)

        @OptionGroup var pins: PinDirectory

        @Option(help: "Standard output format: table or json (JSON lines).")
        var format: EventFormat = .table

        @Option(help: "Stop after this many events; 0 = until Ctrl-C (or --duration).")
        var count: Int = 0

        @Option(help: "Stop after this many seconds; 0 = no limit.")
        var duration: Double = 0

        @Option(parsing: .upToNextOption, help: "Only these kinds (starvation, priority-inversion, pi-boost, pi-restore, migration-storm).")
        var kind: [EventKind] = []

        @OptionGroup var ids: IdentityOptions

        @Flag(help: "Leave the stacks out of the table.")
        var noStacks = false

        @Option(help: "Frames per stack in the table (JSON has them all).")
        var frames: Int = 8

        func validate() throws {
            guard count >= 0 else { throw ValidationError("--count must be 0 (no limit) or more") }
            guard duration >= 0 && duration <= 86_400 * 365 else { throw ValidationError("--duration must be between 0 and a year of seconds") }
            guard frames >= 1 else { throw ValidationError("--frames must be at least 1") }
        }

        func run() throws {
            let signals = StopSignals()
            let collection = try PinnedCollection(layout: pins.layout)
            let stream = try EventStream(collection: collection)
            let statsAtStart = try collection.readStats()
            let symbols = EventSymbols()
            if let note = stream.stacksNote { writeStderr(note + "\n") }
            else if let note = symbols.kernelNote { writeStderr(note + "\n") }
            let started = monotonicNs()
            let clock = WallClock.now()
            let kinds = Set(kind), pids = Set(ids.pid), tids = Set(ids.tid)
            var seen = 0
            if format == .table { writeStdout(EventFormatter.header) }
            loop: while true {
                for received in try stream.poll(timeoutMs: 100) {
                    var event = received.event
                    if !kinds.isEmpty && !kinds.contains(event.kind) { continue }
                    // Any task the event names: --pid its process, --tid the thread itself.
                    if !(pids.isEmpty && tids.isEmpty) && ![event.task, event.other, event.third].contains(where: { t in
                        t.map { pids.contains($0.tgid) || tids.contains($0.pid) } ?? false }) { continue }
                    symbols.resolve(&event, received)
                    if format == .json {
                        writeStdout(EventFormatter.json(event, clock: clock))
                    } else {
                        var shown = event
                        shown.taskKernelStack = Array(shown.taskKernelStack.prefix(frames))
                        shown.currentKernelStack = Array(shown.currentKernelStack.prefix(frames))
                        shown.currentUserStack = Array(shown.currentUserStack.prefix(frames))
                        writeStdout(EventFormatter.line(shown, clock: clock, stacks: !noStacks))
                    }
                    seen += 1
                    if count > 0 && seen >= count { break loop }
                }
                if signals.pending() != nil { break }
                if duration > 0 && Double(monotonicNs() &- started) / 1e9 >= duration { break }
            }
            let s = try collection.readStats()
            let lost = s.eventsLost &- statsAtStart.eventsLost
            writeStderr("\(seen) events shown; lost while reading: \(lost) (ring buffer full \(s.eventsRingbufFull &- statsAtStart.eventsRingbufFull), rate limit \(s.eventsRateLimited &- statsAtStart.eventsRateLimited), sampling \(s.eventsSampledOut &- statsAtStart.eventsSampledOut), PID filter \(s.eventsFiltered &- statsAtStart.eventsFiltered))\n")
        }
    }
}

enum EventFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

extension EventKind: ExpressibleByArgument {}

/// Symbols and cgroup paths for events: kernel stacks from /proc/kallsyms, user stacks from the
/// process's ELF files, cgroup ids from the cpu controller's hierarchy.
final class EventSymbols {
    let kernel: KernelSymbols?
    let user = UserSymbolizer()
    let cgroups: CgroupPathResolver?
    let workloads = WorkloadResolver()
    let kernelNote: String?

    init() {
        var note: String? = nil
        do {
            let k = try KernelSymbols()
            if k.isRestricted { note = KernelSymbols.restrictedNote }
            kernel = k
        } catch {
            kernel = nil
            note = "kernel stacks stay as addresses: \((error as? StarveError)?.message ?? "\(error)")"
        }
        kernelNote = note
        cgroups = CgroupFS.cpuHierarchy().map { CgroupPathResolver(hierarchy: $0) }
    }

    func resolve(_ e: inout SchedEvent, _ r: ReceivedEvent) {
        name(&e.task)
        if var o = e.other { name(&o); e.other = o }
        if var t = e.third { name(&t); e.third = t }
        guard let stacks = r.stacks else { return }
        e.taskKernelStack = stacks.taskKernel.map(kernelFrame)
        e.currentKernelStack = EventFormatter.droppingProbeFrames(stacks.currentKernel.map(kernelFrame))
        // The user stack is the current task's at the event (the holder for starvation, the
        // waker for inversion), symbolised in that process.
        e.currentUserStack = stacks.currentUser.map { user.symbolize($0, pid: Int32(bitPattern: stacks.userTgid)) }
    }

    /// Cgroup path and workload (cached by the resolvers; the per-process fallback for kernel
    /// threads is skipped: they have no environment and live in the root).
    private func name(_ t: inout EventTask) {
        t.cgroupPath = cgroups?.path(for: t.cgroupID)
        t.workload = workloads.identity(cpuCgroupID: t.cgroupID, defaultCgroupID: nil,
                                        pid: t.isKernelThread || t.tgid == 0 ? nil : Int32(bitPattern: t.tgid))
    }

    private func kernelFrame(_ address: UInt64) -> String {
        kernel.map { $0.isRestricted ? hexAddress(address) : $0.symbolize(address) } ?? hexAddress(address)
    }
}
