import Foundation
import StarveBPF
import StarveModel
import StarveHost

/// What a sampler computes each interval beyond the thread intervals: each costs reads or
/// sums, so a front-end asks only for what it shows.
public struct SamplerViews: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Workload identities of the thread intervals (cgroup, process and workload rows are always
    /// named: per cgroup, cached).
    public static let threadWorkloads = SamplerViews(rawValue: 1 << 0)
    /// Per-cgroup rows (reads each cgroup's cpu.stat and quota).
    public static let cgroups = SamplerViews(rawValue: 1 << 1)
    /// Per-process rows.
    public static let processes = SamplerViews(rawValue: 1 << 2)
    /// Per-workload rows (names threads; reads cpu.stat like cgroups).
    public static let workloads = SamplerViews(rawValue: 1 << 3)
    public static let all: SamplerViews = [.threadWorkloads, .cgroups, .processes, .workloads]
}

/// How a ``Sampler`` samples. The defaults are the front-ends' defaults: defined here, once.
public struct SamplerSettings: Sendable {
    public static let defaultInterval: Double = 1
    public static let defaultAlpha: Double = 0.3
    public static let defaultNeighbourMinCPUPercent: Double = 50
    /// Samples a workload's running totals are kept after it was last seen (10 minutes at the
    /// default interval): a workload that comes back within it continues its counters.
    public static let defaultTotalsMemory = 600

    /// Directory on bpffs where starve-load pinned the maps.
    public var pinDirectory: String = PinLayout.defaultDirectory
    /// Seconds between samples.
    public var interval: Double = defaultInterval
    /// Samples to take; 0 = until a stop signal.
    public var iterations: Int = 0
    /// EMA smoothing factor of the thread intervals, in (0, 1].
    public var alpha: Double = defaultAlpha
    /// A noisy neighbour uses at least this share of one CPU, percent.
    public var neighbourMinCPUPercent: Double = defaultNeighbourMinCPUPercent
    /// What to compute beyond thread intervals.
    public var views: SamplerViews = .all
    /// Whether a process whose cgroups name no container, pod or Slurm job is looked up in
    /// `/proc/<pid>/cgroup` and its environment (cached per process; docs/workloads.md).
    public var processFallback = true
    /// Samples a workload's ``Snapshot/workloadTotals`` entry is kept after it was last seen.
    public var totalsMemory: Int = defaultTotalsMemory
    /// Benchmarks only: a file of `tasks` iterator records read instead of the pinned iterator.
    public var tasksPath: String?

    public init() {}
}

/// One interval, as every front-end sees it.
public struct Snapshot: Sendable {
    /// Sample number, from 1, and its wall-clock time.
    public var context: SampleContext
    /// CLOCK_MONOTONIC of the read, and the interval's length, ns.
    public var atNs: UInt64
    public var intervalNs: UInt64
    /// Threads in the tasks map at the read.
    public var tracked: Int
    /// One interval per live thread (``TaskInterval/workload`` set when names are asked for).
    public var threads: [TaskInterval]
    /// Work of threads that exited in the interval, per process and cgroup.
    public var exited: [ProcessInCgroup: ThreadWork]
    /// Per cgroup, most wait first (exited work included); empty unless asked for.
    public var cgroups: [CgroupInterval]
    /// Per process (tgid, start), most wait first; empty unless asked for.
    public var processes: [ProcessInterval]
    /// Per workload, most wait first; empty unless asked for.
    public var workloads: [WorkloadInterval]
    /// The collector's counters (cumulative) and their growth in the interval: drops and
    /// evictions a reader should know of.
    public var stats: CollectorStats
    public var statsDelta: CollectorStats
    /// The host's run-queue waits of the interval by size: every live thread's, and (when
    /// groups are computed) the work of threads that exited.
    public var systemWaitHistogram: LogHistogram
    /// Cumulative since the sampler started, never backwards: the host's (the same threads as
    /// `systemWaitHistogram`) and each workload's (with the workloads view; an entry is dropped
    /// `SamplerSettings.totalsMemory` samples after the workload was last seen).
    public var hostTotals: RunningTotals
    public var workloadTotals: [WorkloadKey: RunningTotals]
}

/// What a sampler waits with between samples. `StopSignals` waits for SIGINT or SIGTERM; a
/// full-screen view waits for keys too (and redraws on them) while the interval runs.
public protocol SampleWait {
    /// Waits `seconds`; true: stop sampling (then ``Sampler/next()`` returns nil).
    func waitForNextSample(seconds: Double) -> Bool
}

extension StopSignals: SampleWait {
    public func waitForNextSample(seconds: Double) -> Bool { wait(seconds: seconds) != nil }
}

/// The one sampling loop: opens the pins, takes the baseline, then each ``next()`` waits for
/// the interval (or a stop signal: then it returns nil, never a partial sample), reads the
/// threads, the matrix, the exited work, the collector's counters and the cgroups' cpu.stat,
/// advances the trackers and returns one ``Snapshot``.
///
/// Not thread-safe: one sampler per reader.
public final class Sampler {
    public let settings: SamplerSettings
    public let collection: PinnedCollection
    /// The threads of the baseline read.
    public let baseline: [TaskCounters]
    /// The hierarchy with the cpu controller (nil: none mounted; then no cgroup figures).
    public let cpuHierarchy: CgroupHierarchy?
    /// Names cgroups and workloads; lazily, cached.
    public let resolver: WorkloadResolver
    /// Samples taken so far.
    public private(set) var sample = 0

    private let waiter: (any SampleWait)?
    private let paths: CgroupPathResolver?
    private var tracker: IntervalTracker
    private var exitedWork = ExitedWork()
    private var cgroupAnalyzer: CgroupAnalyzer
    private var workloadAnalyzer: CgroupAnalyzer
    private var lastAt: UInt64
    private var lastStats: CollectorStats
    /// Workload group numbers (1: the host; 0: the idle CPU), and the sample each was last used
    /// in: a workload unused for `processMemory` samples is forgotten (containers come and go),
    /// and gets a new number if it comes back (the analyzers keep nothing per number).
    private var workloadNumbers: [WorkloadKey: UInt64] = [WorkloadIdentity.host.key: 1]
    private var workloadsByNumber: [UInt64: WorkloadIdentity] = [1: .host]
    private var numberUsed: [UInt64: Int] = [:]
    private var nextNumber: UInt64 = 2
    /// Each process's workload as last seen, so pairs and exited work of a process that is gone
    /// still go to its workload; forgotten after `processMemory` samples unseen.
    private var processWorkloads: [ProcessAnalysis.Key: (number: UInt64, seen: Int)] = [:]
    private let processMemory = 30
    /// Futex waits per thread (starve-load --futex), for the process, cgroup and workload rows.
    private var futexTracker = FutexTracker()
    private var readsFutex: Bool { collection.hasFutex && !settings.views.isDisjoint(with: [.processes, .cgroups, .workloads]) }
    private var hostTotals = RunningTotals()
    private var workloadTotals: [WorkloadKey: RunningTotals] = [:]

    /// Opens the pins of `settings.pinDirectory` and takes the baseline. `signals` must have
    /// been made before any thread started (it blocks SIGINT and SIGTERM); nil: nothing stops
    /// the sampler but `settings.iterations` (a library user with its own signal handling).
    ///
    /// `continuing`: the last snapshot of an earlier sampler of this reader (one that lost its
    /// collector: an unload, a reload): the running totals go on from it instead of from zero,
    /// so a long-running reader's counters never go backwards across reloads.
    public convenience init(settings: SamplerSettings, signals: StopSignals?, continuing previous: Snapshot? = nil) throws {
        try self.init(settings: settings, waitingWith: signals, continuing: previous)
    }

    /// Like ``init(settings:signals:continuing:)``, waiting between samples with `waiter` (nil: sleeps).
    public init(settings: SamplerSettings, waitingWith waiter: (any SampleWait)?, continuing previous: Snapshot? = nil) throws {
        self.settings = settings
        self.waiter = waiter
        if let previous {
            // Sample numbers start again: what was seen before counts as seen at sample 0.
            hostTotals = previous.hostTotals
            hostTotals.lastSample = 0
            workloadTotals = previous.workloadTotals.mapValues { var t = $0; t.lastSample = 0; return t }
        }
        collection = try PinnedCollection(layout: PinLayout(directory: settings.pinDirectory), tasksPath: settings.tasksPath)
        cpuHierarchy = CgroupFS.cpuHierarchy()
        let needsCgroups = !settings.views.isDisjoint(with: [.cgroups, .workloads])
        // The matrix and the exited threads' work are read (two maps, each a whole LRU map
        // after churn) only for the views that sum threads into groups.
        collection.readsAggregates = needsCgroups || settings.views.contains(.processes)
        if needsCgroups && cpuHierarchy == nil {
            throw StarveError("no cgroup hierarchy with the cpu controller is mounted (looked in /proc/self/mountinfo)")
        }
        paths = cpuHierarchy.map { CgroupPathResolver(hierarchy: $0) }
        resolver = WorkloadResolver(cpuHierarchy: cpuHierarchy, defaultHierarchy: CgroupFS.defaultHierarchy())
        tracker = IntervalTracker(alpha: settings.alpha)
        var verdicts = VerdictSettings()
        verdicts.starvedNs = collection.thresholdsNs.starved
        verdicts.neighbourMinCPUPercent = settings.neighbourMinCPUPercent
        cgroupAnalyzer = CgroupAnalyzer(settings: verdicts)
        workloadAnalyzer = CgroupAnalyzer(settings: verdicts)

        let first = try collection.readTasks()
        baseline = first.tasks
        _ = tracker.advance(to: first.tasks, atNs: first.atNs)
        lastAt = first.atNs
        lastStats = try collection.readStats()
        if readsFutex, let f = try collection.readFutex() { _ = futexTracker.advance(to: f, baseline: true) }
        if needsCgroups || settings.views.contains(.processes) {
            _ = exitedWork.advance(reading: try collection.readExited(), vanished: [])
        }
        if needsCgroups {
            let pairs = try collection.readPairs()
            let throttle = throttleCounters(for: Set(first.tasks.map(\.cpuCgroupID)))
            cgroupAnalyzer.prime(pairs: pairs, throttle: throttle)
            workloadAnalyzer.prime(pairs: pairs, throttle: throttle)
        }
    }

    /// The next interval's snapshot; nil once `settings.iterations` were taken or a stop
    /// signal arrived while waiting.
    public func next() throws -> Snapshot? {
        guard settings.iterations == 0 || sample < settings.iterations else { return nil }
        if let waiter {
            if waiter.waitForNextSample(seconds: settings.interval) { return nil }
        } else {
            var left = timespec(tv_sec: Int(settings.interval), tv_nsec: Int((settings.interval - settings.interval.rounded(.down)) * 1e9))
            var rest = timespec()
            while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
        }
        sample += 1
        let views = settings.views
        let read = try collection.readTasks()
        let context = SampleContext(sample: sample, timestamp: Date())
        var intervals = tracker.advance(to: read.tasks, atNs: read.atNs)
        let intervalNs = read.atNs &- lastAt
        lastAt = read.atNs
        let stats = try collection.readStats()
        let statsDelta = stats.growth(since: lastStats)
        lastStats = stats

        let needsCgroups = !views.isDisjoint(with: [.cgroups, .workloads])
        let futex = try readsFutex ? collection.readFutex().map { futexTracker.advance(to: $0) } : nil
        var exited: [ProcessInCgroup: ThreadWork] = [:]
        if needsCgroups || views.contains(.processes) {
            exited = exitedWork.advance(reading: try collection.readExited(), vanished: tracker.vanished)
        }
        if !views.isDisjoint(with: [.threadWorkloads, .workloads, .processes]) { name(&intervals) }

        var system = RunningTotals()
        for t in intervals { system.add(t, sample: sample) }
        for w in exited.values { system.add(w, sample: sample) }
        hostTotals.runtimeNs &+= system.runtimeNs
        hostTotals.add(waitsOf: system)
        hostTotals.lastSample = sample
        var snapshot = Snapshot(context: context, atNs: read.atNs, intervalNs: intervalNs, tracked: read.tasks.count,
                                threads: intervals, exited: exited, cgroups: [], processes: [], workloads: [],
                                stats: stats, statsDelta: statsDelta, systemWaitHistogram: system.waitHistogram,
                                hostTotals: hostTotals, workloadTotals: [:])
        if needsCgroups {
            // Processes by tgid and start tag: a tgid reused since is another process.
            let names = Dictionary(read.tasks.lazy.filter { $0.pid == $0.tgid }.map { (ProcessAnalysis.Key(tgid: $0.tgid, start: $0.processStart), $0.comm) },
                                   uniquingKeysWith: { a, _ in a })
            let processName = { (tgid: UInt32, start: UInt32) in names[ProcessAnalysis.Key(tgid: tgid, start: start)] ?? "exited" }
            let pairs = try collection.readPairs()
            let throttle = throttleCounters(for: Set(read.tasks.map(\.cpuCgroupID)).union(exited.keys.map(\.cgroupID)))
            if views.contains(.cgroups) {
                var rows = cgroupAnalyzer.analyze(intervals: intervals, intervalNs: intervalNs, pairs: pairs, throttle: throttle,
                                                  exited: exited, path: path, processName: processName)
                if let h = cpuHierarchy {
                    for i in rows.indices { rows[i].workload = resolver.identity(cgroupID: rows[i].cgroupID, in: h) }
                }
                snapshot.cgroups = rows
            }
            if views.contains(.workloads) {
                snapshot.workloads = workloadRows(intervals: intervals, intervalNs: intervalNs, pairs: pairs, throttle: throttle,
                                                  exited: exited, processName: processName)
                for w in snapshot.workloads {
                    workloadTotals[w.key, default: RunningTotals()].add(w.figures, sample: sample)
                    for p in w.figures.topPreemptors where p.count > 0 || p.waitNs > 0 {
                        workloadTotals[w.key]!.preemptors[preemptorKey(p, of: w), default: PreemptionCounts()]
                            .add(PreemptionCounts(count: p.count, waitNs: p.waitNs))
                    }
                }
                if sample % 60 == 0 {
                    let memory = settings.totalsMemory
                    workloadTotals = workloadTotals.filter { sample - $0.value.lastSample <= memory }
                }
                snapshot.workloadTotals = workloadTotals
            }
        }
        if views.contains(.processes) {
            snapshot.processes = ProcessAnalysis.rows(intervals: intervals, exited: exited, intervalNs: intervalNs, path: path) { [self] cgroup in
                cpuHierarchy.map { resolver.identity(cgroupID: cgroup, in: $0) }
            }
            for i in snapshot.processes.indices where snapshot.processes[i].threads == 0 {
                // Only exited work: the workload it had when last seen alive, if it was.
                let key = ProcessAnalysis.Key(tgid: snapshot.processes[i].tgid, start: snapshot.processes[i].start)
                if let n = processWorkloads[key]?.number { snapshot.processes[i].workload = workloadsByNumber[n] }
            }
        }
        if let futex { addFutex(futex, to: &snapshot) }
        forgetOldProcesses()
        return snapshot
    }

    /// Books each thread's futex waits of the interval to its process, cgroup and workload
    /// rows (every row gets a figure, zero when none of its threads waited). A thread that
    /// exited goes to its process as seen through another thread of it, if any.
    private func addFutex(_ byTid: [UInt32: (tgid: UInt32, work: FutexWork)], to snapshot: inout Snapshot) {
        struct Place { var key: ProcessAnalysis.Key; var cgroup: UInt64 }
        var byThread: [UInt32: Place] = [:], byTgid: [UInt32: Place] = [:]
        for t in snapshot.threads {
            let p = Place(key: ProcessAnalysis.Key(tgid: t.task.tgid, start: t.task.processStart), cgroup: t.task.cpuCgroupID)
            byThread[t.task.pid] = p
            if byTgid[t.task.tgid] == nil || t.task.pid == t.task.tgid { byTgid[t.task.tgid] = p }
        }
        var perProcess: [ProcessAnalysis.Key: FutexWork] = [:], perCgroup: [UInt64: FutexWork] = [:], perWorkload: [UInt64: FutexWork] = [:]
        let groupsWorkloads = !snapshot.workloads.isEmpty
        for (tid, (tgid, w)) in byTid {
            guard let place = byThread[tid] ?? byTgid[tgid] else { continue }
            perProcess[place.key, default: FutexWork()].add(w)
            perCgroup[place.cgroup, default: FutexWork()].add(w)
            if groupsWorkloads { perWorkload[workloadNumber(cgroup: place.cgroup, tgid: place.key.tgid, start: place.key.start), default: FutexWork()].add(w) }
        }
        for i in snapshot.processes.indices {
            snapshot.processes[i].futex = perProcess[ProcessAnalysis.Key(tgid: snapshot.processes[i].tgid, start: snapshot.processes[i].start)] ?? FutexWork()
        }
        for i in snapshot.cgroups.indices { snapshot.cgroups[i].futex = perCgroup[snapshot.cgroups[i].cgroupID] ?? FutexWork() }
        for i in snapshot.workloads.indices { snapshot.workloads[i].figures.futex = perWorkload[snapshot.workloads[i].figures.cgroupID] ?? FutexWork() }
    }

    /// A cgroup's path, or `cgroup#ID` when it cannot be found (gone, or made since the last walk).
    public func path(_ id: UInt64) -> String { paths?.path(for: id) ?? "cgroup#\(id)" }

    // MARK: Workloads

    /// Sets each thread's workload: resolved once per (cpu cgroup, default cgroup) pair per
    /// sample, and once per process when the cgroups name no container, pod or Slurm job
    /// (the resolver caches both across samples).
    private func name(_ intervals: inout [TaskInterval]) {
        struct Pair: Hashable { var cpu: UInt64; var dfl: UInt64 }
        var byPair: [Pair: WorkloadIdentity] = [:]
        var byProcess: [ProcessAnalysis.Key: WorkloadIdentity] = [:]
        for i in intervals.indices {
            let t = intervals[i].task
            let process = ProcessAnalysis.Key(tgid: t.tgid, start: t.processStart)
            if let w = byProcess[process] { intervals[i].workload = w; continue }
            let pair = Pair(cpu: t.cpuCgroupID, dfl: t.cgroupID)
            var w: WorkloadIdentity
            if let cached = byPair[pair] {
                w = cached
            } else {
                w = resolver.identity(cpuCgroupID: t.cpuCgroupID, defaultCgroupID: t.cgroupID)
                byPair[pair] = w
            }
            if settings.processFallback && !t.isKernelThread && w.kind.specificity < WorkloadKind.container.specificity {
                w = resolver.identity(cpuCgroupID: t.cpuCgroupID, defaultCgroupID: t.cgroupID, pid: Int32(bitPattern: t.tgid),
                                      startTimeNs: UInt64(t.processStart))
            }
            byProcess[process] = w
            intervals[i].workload = w
            processWorkloads[process] = (number(of: w), sample)
        }
    }

    private func number(of w: WorkloadIdentity) -> UInt64 {
        if let n = workloadNumbers[w.key] { numberUsed[n] = sample; return n }
        let n = nextNumber
        nextNumber += 1
        workloadNumbers[w.key] = n
        workloadsByNumber[n] = w
        numberUsed[n] = sample
        return n
    }

    /// The workload of a process of cgroup `cgroup`: as last seen alive, else its cgroup's.
    private func workloadNumber(cgroup: UInt64, tgid: UInt32, start: UInt32) -> UInt64 {
        if cgroup == 0 && tgid == 0 { return 0 }
        if let n = processWorkloads[ProcessAnalysis.Key(tgid: tgid, start: start)]?.number { numberUsed[n] = sample; return n }
        guard let h = cpuHierarchy else { return number(of: .unknown) }
        return number(of: resolver.identity(cgroupID: cgroup, in: h))
    }

    private func workloadRows(intervals: [TaskInterval], intervalNs: UInt64, pairs: [PreemptionPair: PreemptionCounts],
                              throttle: [UInt64: ThrottleCounters], exited: [ProcessInCgroup: ThreadWork],
                              processName: (UInt32, UInt32) -> String) -> [WorkloadInterval] {
        let rows = workloadAnalyzer.analyze(
            intervals: intervals, intervalNs: intervalNs, pairs: pairs, throttle: throttle, exited: exited,
            path: { [self] n in workloadsByNumber[n]?.name ?? "workload#\(n)" },
            processName: processName, group: workloadNumber)
        // Cgroups and processes per workload.
        var cgroups: [UInt64: Set<UInt64>] = [:], processes: [UInt64: Set<ProcessAnalysis.Key>] = [:]
        for t in intervals {
            let n = workloadNumber(cgroup: t.task.cpuCgroupID, tgid: t.task.tgid, start: t.task.processStart)
            cgroups[n, default: []].insert(t.task.cpuCgroupID)
            processes[n, default: []].insert(ProcessAnalysis.Key(tgid: t.task.tgid, start: t.task.processStart))
        }
        for k in exited.keys {
            let n = workloadNumber(cgroup: k.cgroupID, tgid: k.tgid, start: k.start)
            cgroups[n, default: []].insert(k.cgroupID)
            processes[n, default: []].insert(ProcessAnalysis.Key(tgid: k.tgid, start: k.start))
        }
        return rows.map { r in
            var figures = r
            let identity = workloadsByNumber[r.cgroupID] ?? .unknown
            figures.workload = identity
            // Preemptors of other workloads are workload numbers: say which kind they are.
            for i in figures.topPreemptors.indices where figures.topPreemptors[i].tgid == nil {
                figures.topPreemptors[i].workloadKind = workloadsByNumber[figures.topPreemptors[i].cgroup]?.kind
            }
            return WorkloadInterval(identity: identity, cgroups: cgroups[r.cgroupID]?.count ?? 0,
                                    processes: processes[r.cgroupID]?.count ?? 0, figures: figures)
        }
    }

    /// A preemptor of a workload row as a running-totals key: its own processes are the
    /// workload itself, group 0 the idle CPU, any other group the workload it numbers.
    private func preemptorKey(_ p: Preemptor, of row: WorkloadInterval) -> PreemptorKey {
        if p.tgid != nil { return PreemptorKey(kind: row.identity.kind.rawValue, name: row.identity.name) }
        if p.cgroup == 0 { return .idle }
        let w = workloadsByNumber[p.cgroup] ?? .unknown
        return PreemptorKey(kind: w.kind.rawValue, name: w.name)
    }

    private func forgetOldProcesses() {
        guard sample % processMemory == 0 else { return }
        processWorkloads = processWorkloads.filter { sample - $0.value.seen <= processMemory }
        let held = Set(processWorkloads.values.map(\.number))
        for (n, used) in numberUsed where n != 1 && sample - used > processMemory && !held.contains(n) {
            numberUsed[n] = nil
            if let w = workloadsByNumber.removeValue(forKey: n) { workloadNumbers[w.key] = nil }
        }
    }

    // MARK: Cgroup files

    /// Cumulative cpu.stat and quota of each cgroup that can be found.
    private func throttleCounters(for ids: Set<UInt64>) -> [UInt64: ThrottleCounters] {
        guard let hierarchy = cpuHierarchy, let paths else { return [:] }
        var out: [UInt64: ThrottleCounters] = [:]
        for id in ids {
            guard let p = paths.path(for: id), let s = CgroupFS.cpuStat(hierarchy: hierarchy, path: p) else { continue }
            let q = CgroupFS.cpuQuota(hierarchy: hierarchy, path: p)
            out[id] = ThrottleCounters(periods: s.periods, throttledPeriods: s.throttledPeriods, throttledNs: s.throttledNs,
                                       quotaUs: q?.quotaUs, periodUs: q?.periodUs)
        }
        return out
    }
}
