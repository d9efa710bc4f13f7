import ArgumentParser
import Foundation
import StarveBPF
import StarveConsole
import StarveCLI
import StarveHost
import StarveModel
import StarveMonitor

extension HistogramGrouping: ExpressibleByArgument {}
extension HistogramUnit: ExpressibleByArgument {}
extension TopView: ExpressibleByArgument {}

/// How `hist` orders its histograms.
enum HistSort: String, ExpressibleByArgument, CaseIterable {
    case wait, count, p99, name
}

/// Process and thread ids as ps, top and runqlat use them: `--pid` a process, `--tid` a thread.
struct IdentityOptions: ParsableArguments {
    @Option(parsing: .upToNextOption, help: "Only these processes (process ids, as in ps, top and runqlat; repeatable).")
    var pid: [UInt32] = []

    @Option(parsing: .upToNextOption, help: "Only these threads (thread ids; repeatable).")
    var tid: [UInt32] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("Gone: use --pid for processes, --tid for threads.", visibility: .hidden))
    var tgid: [UInt32] = []

    func validate() throws {
        if !tgid.isEmpty {
            throw ValidationError("--tgid is gone: process ids are --pid now (as in ps, top and runqlat), thread ids are --tid")
        }
    }

    /// `--pid` of a thread that is not a process leader (the old meaning of --pid) or of a
    /// process that neither runs nor is tracked, and `--tid` of an unknown thread: one clear line.
    func requireKnown(in tasks: [TaskCounters]) throws {
        let threads = Dictionary(tasks.map { ($0.pid, $0.tgid) }, uniquingKeysWith: { a, _ in a })
        let processes = Set(tasks.map(\.tgid))
        for p in pid where !processes.contains(p) {
            if let leader = threads[p] ?? processOfThread(p), leader != p {
                throw StarveError("--pid takes process ids (as ps, top and runqlat do); \(p) is a thread of process \(leader): use --tid \(p) for that thread, or --pid \(leader)")
            }
            if !FileManager.default.fileExists(atPath: "/proc/\(p)") {
                throw StarveError("no such process: --pid \(p) is neither running nor tracked")
            }
        }
        for t in tid where threads[t] == nil && processOfThread(t) == nil {
            throw StarveError("no such thread: --tid \(t) is neither running nor tracked")
        }
    }

    /// The process of thread `tid` from /proc (Tgid: in its status), nil when there is none.
    private func processOfThread(_ tid: UInt32) -> UInt32? {
        guard let status = try? String(contentsOfFile: "/proc/\(tid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Tgid:") }
            .flatMap { UInt32($0.dropFirst(5).trimmingCharacters(in: .whitespaces)) }
    }

    var isEmpty: Bool { pid.isEmpty && tid.isEmpty }

    /// Whether a thread (tid, its process) passes.
    func matches(tid t: UInt32, pid p: UInt32) -> Bool {
        (pid.isEmpty || pid.contains(p)) && (tid.isEmpty || tid.contains(t))
    }
}

/// The workloads and cgroups that hold the processes and threads named with --pid / --tid
/// (the rows of `workloads`, `cgroups` and top's workloads view), remembered once seen: a
/// workload stays selected after the named process exits, as its exited work is still its.
struct HeldBy {
    let ids: IdentityOptions
    private(set) var workloads: Set<WorkloadKey> = []
    private(set) var cgroups: Set<UInt64> = []

    init(_ ids: IdentityOptions) { self.ids = ids }

    /// Notes where the named threads are in `snapshot`.
    mutating func note(_ snapshot: Snapshot) {
        for t in snapshot.threads where ids.matches(tid: t.task.pid, pid: t.task.tgid) {
            cgroups.insert(t.task.cpuCgroupID)
            if let w = t.workload { workloads.insert(w.key) }
        }
    }
}

extension StarveDump {
    struct Hist: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run-queue latency histograms with bars, as runqlat prints them: system-wide, per workload, process or thread.",
            discussion: """
                The buckets are the kernel's: powers of two of nanoseconds (2^i up to 2^(i+1) ns), \
                shown in --unit. Over --interval seconds (each of --iterations), or with --since-load \
                the totals since starve-load (exited threads included, except --by thread). \
                JSON (--format json) gives one object per histogram with every non-empty bucket.
                """)

        @OptionGroup var pins: PinDirectory

        @Option(help: "Group the waits: system, workload, process or thread.")
        var by: HistogramGrouping = .system

        @Option(help: "Unit of the bucket bounds: us or ms.")
        var unit: HistogramUnit = .us

        @Option(help: "Seconds each histogram covers.")
        var interval: Double = SamplerSettings.defaultInterval

        @Option(help: "Histograms to print, one per interval; 0 = until Ctrl-C.")
        var iterations: Int = 1

        @Flag(help: "One histogram of every wait since starve-load, then exit.")
        var sinceLoad = false

        @Option(help: "Output: table (bars) or json (JSON lines).")
        var format: EventFormat = .table

        @Option(help: "Histograms per interval (not with --by system); 0 = all.")
        var top: Int = 10

        @Option(help: ArgumentHelp(
            "Order of the histograms: wait, count, p99 or name.",
            discussion: "The default, wait (most run-queue wait first), shows first who lost the most time waiting for a CPU."))
        var sort: HistSort = .wait

        @OptionGroup var ids: IdentityOptions

        @Option(help: "Only groups whose workload name contains this text.")
        var workload: String?

        func validate() throws {
            guard interval > 0 && interval <= 86_400 else { throw ValidationError("--interval must be in (0, 86400] seconds") }
            guard iterations >= 0 else { throw ValidationError("--iterations must be 0 (until Ctrl-C) or more") }
            guard top >= 0 else { throw ValidationError("--top must be 0 (all) or more") }
            if !ids.isEmpty && by != .process && by != .thread { throw ValidationError("--pid and --tid select processes or threads: use them with --by process or --by thread") }
            if !ids.tid.isEmpty && by != .thread { throw ValidationError("--tid selects threads: use it with --by thread") }
            if workload != nil && by == .system { throw ValidationError("--workload selects groups: use it with --by workload, process or thread") }
        }

        func run() throws {
            Allocator.reuseLargeBlocks()
            let signals = StopSignals()
            var settings = SamplerSettings()
            settings.pinDirectory = pins.pinDir
            settings.interval = interval
            settings.iterations = iterations
            settings.views = WaitHistograms.samplerViews(for: by)
            let sampler = try Sampler(settings: settings, signals: signals)
            try ids.requireKnown(in: sampler.baseline)
            if sinceLoad {
                show(try WaitHistograms.rowsSinceLoad(sampler, by: by, keepEmpty: !ids.isEmpty), context: nil, intervalNs: nil)
                return
            }
            while let snapshot = try sampler.next() {
                // Named threads or processes get a histogram every interval, empty or not.
                show(WaitHistograms.rows(snapshot, by: by, keepEmpty: !ids.isEmpty), context: snapshot.context, intervalNs: snapshot.intervalNs)
                reportLoss(snapshot, format: format == .json ? .json : .table)
            }
        }

        private func show(_ all: [WaitHistogramRow], context: SampleContext?, intervalNs: UInt64?) {
            var rows = all.filter { r in
                if !ids.isEmpty && !ids.matches(tid: r.tid ?? 0, pid: r.pid ?? 0) { return false }
                if let workload, !(r.workload?.name ?? "").contains(workload) { return false }
                return true
            }
            switch sort {
            case .wait: break  // already most wait first
            case .count: rows.sort { $0.waitCount != $1.waitCount ? $0.waitCount > $1.waitCount : $0.waitNs > $1.waitNs }
            case .p99: rows.sort { ($0.histogram.percentile(0.99) ?? 0) > ($1.histogram.percentile(0.99) ?? 0) }
            case .name: rows.sort { $0.title < $1.title }
            }
            let shown = top == 0 ? rows : Array(rows.prefix(top))
            switch format {
            case .json:
                writeStdout(shown.map { HistogramChart.json($0, unit: unit, context: context, intervalNs: intervalNs) }.joined())
            case .table:
                let when = context.map { "sample \($0.sample) at \(isoTimestamp($0.timestamp)), interval \(formatFixed(Double(intervalNs ?? 0) / 1e9, decimals: 2)) s" }
                    ?? "since load"
                var out = "run-queue latency by \(by.rawValue), \(when), \(rows.count) histogram\(rows.count == 1 ? "" : "s")"
                    + (shown.count < rows.count ? ", \(shown.count) shown" : "") + "\n"
                for r in shown { out += "\n" + HistogramChart.render(r, unit: unit) }
                writeStdout(out + "\n")
            }
        }
    }
}
