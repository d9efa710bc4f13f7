import CStarve
import Foundation
import StarveBPF
import StarveHost
import StarveModel
import StarveMonitor

/// How the exporter samples and what it bounds. Defaults defined here, once.
public struct ExportSettings: Sendable {
    /// 5 s: three samples per default 15 s scrape interval; counters are cumulative, so a
    /// scrape between samples loses nothing, it sees the last sample.
    public static let defaultInterval: Double = 5

    public var pinDirectory = PinLayout.defaultDirectory
    public var interval = ExportSettings.defaultInterval
    public var maxWorkloads = FleetMetrics.defaultMaxWorkloads
    public var maxPreemptors = FleetMetrics.defaultMaxPreemptors
    /// Seconds after its last thread is gone that a workload stops being exported (the
    /// sampler's running totals forget it then, up to 60 samples later: it sweeps every 60).
    public static let defaultExpirySeconds: Double = 300
    public var expirySeconds = ExportSettings.defaultExpirySeconds
    /// Slurm jobs with series at once (0: no job families); seconds a finished job keeps them.
    public var maxJobs = JobMetrics.defaultMaxJobs
    public var jobRetentionSeconds = JobMetrics.defaultRetentionSeconds
    /// Whether processes are looked up in /proc when their cgroups name no container, pod or
    /// Slurm job (docs/workloads.md).
    public var processFallback = true
    /// Samples to take; 0 = until a stop signal (tests and benchmarks stop early).
    public var iterations = 0
    /// Benchmarks only (starve-bench export): iterator records from a file, not the pin.
    public var tasksPath: String?

    public init() {}
}

/// The exporter's one loop: opens the pins (or serves `starve_up 0` and retries every interval
/// while they are absent), samples through the shared ``Sampler``, builds the families and
/// hands them to each sink. Losing the pins (unload) drops the sampler; the next interval
/// opens them again (reload), and the workload counters go on from where they were: the last
/// snapshot is handed from one sampler to the next (``Sampler/init(settings:signals:continuing:)``).
public final class ExportLoop {
    public let settings: ExportSettings
    private let signals: StopSignals
    private let sinks: [MetricsSink]
    private var metrics: FleetMetrics
    /// The last snapshot: its running totals are what is exported, and where the next sampler
    /// goes on from after a reload.
    private var last: Snapshot?
    private var exporter = ExporterReading()
    private var sampler: Sampler?
    private var everOpened = false
    private var lastComplaint: String?
    /// The shared pattern detector, fed each sample's cgroup rows (as starve-dump cgroups and
    /// starve-tune do), and what the exporter counts of it and of the verdicts.
    private let patterns = PatternDetector()
    private var seed = SeedTally()
    /// The per-job families, fed from the same snapshots.
    private let jobs: JobFeed

    public init(settings: ExportSettings, signals: StopSignals, sinks: [MetricsSink]) {
        self.settings = settings
        self.signals = signals
        self.sinks = sinks
        jobs = JobFeed(maxJobs: settings.maxJobs, retentionSeconds: settings.jobRetentionSeconds)
        metrics = FleetMetrics(maxWorkloads: settings.maxWorkloads, maxPreemptors: settings.maxPreemptors)
    }

    /// Checks, before serving, that pins present at `directory` can be read: a permission
    /// problem or another starve version's pins is a configuration error (one line, exit),
    /// while absent pins are the collector not loaded yet (served as `starve_up 0`).
    public static func checkPins(_ directory: String) throws {
        guard FileManager.default.fileExists(atPath: directory) else { return }
        do {
            _ = try PinnedCollection(layout: PinLayout(directory: directory))
        } catch {
            throw StarveError("cannot read the collector's pins at \(directory): \(error)")
        }
    }

    /// Samples until a stop signal (or `settings.iterations`).
    public func run() {
        var samples = 0
        while settings.iterations == 0 || samples < settings.iterations {
            if sampler == nil && !open() {
                publishDown()
                if signals.wait(seconds: settings.interval) != nil { return }
                samples += 1
                continue
            }
            do {
                guard let snapshot = try sampler!.next() else { return }
                samples += 1
                last = snapshot
                exporter.samples += 1
                observe(snapshot, severeNs: sampler!.collection.thresholdsNs.severe)
                jobs.observe(snapshot, collection: sampler!.collection)
                let reading = collectorReading(snapshot)
                // From the tasks read to here: the other maps, the cgroups, the analysis, the status.
                exporter.lastSampleSeconds = Double(monotonicNs() &- min(snapshot.atNs, monotonicNs())) / 1e9
                publish(families(snapshot, reading))
            } catch {
                samples += 1
                exporter.sampleErrors += 1
                sampler = nil
                complain("lost the collector at \(settings.pinDirectory): \(error); serving starve_up 0, retrying every \(formatSeconds(settings.interval))")
                publishDown()
            }
        }
    }

    private func open() -> Bool {
        var s = SamplerSettings()
        s.pinDirectory = settings.pinDirectory
        s.interval = settings.interval
        // Cgroup rows too: the pattern detector reads them.
        s.views = [.workloads, .cgroups]
        s.processFallback = settings.processFallback
        s.tasksPath = settings.tasksPath
        s.totalsMemory = max(1, Int((settings.expirySeconds / max(settings.interval, 1e-3)).rounded(.up)))
        do {
            sampler = try Sampler(settings: s, signals: signals, continuing: last)
        } catch {
            let absent = !FileManager.default.fileExists(atPath: settings.pinDirectory)
            complain(absent ? "no collector at \(settings.pinDirectory) (not loaded yet?); serving starve_up 0, retrying every \(formatSeconds(settings.interval))"
                            : "cannot open the collector at \(settings.pinDirectory): \(error); serving starve_up 0, retrying")
            return false
        }
        if everOpened { exporter.reconnects += 1 }
        everOpened = true
        if lastComplaint != nil { FileHandle.standardError.write(Data("starve-export: collector found at \(settings.pinDirectory)\n".utf8)) }
        lastComplaint = nil
        // Up from now: the baseline was read; counters as they were.
        publish(families(last, CollectorReading(up: true)))
        return true
    }

    /// Without a collector: starve_up 0 and the exporter's own figures, no workload series (they
    /// come back, not lower, when the pins do).
    private func publishDown() {
        publish(families(nil, CollectorReading(up: false)))
    }

    private func families(_ snapshot: Snapshot?, _ reading: CollectorReading) -> [MetricFamily] {
        var threads: [WorkloadKey: Int] = [:]
        for w in snapshot?.workloads ?? [] { threads[w.key, default: 0] += w.figures.tasks }
        let fleet = metrics.families(totals: snapshot?.workloadTotals ?? [:], threads: threads, collector: reading, exporter: exporter, seed: seed)
        // Job series only while the collector is read, as the workload series.
        return snapshot == nil ? fleet : fleet + jobs.families()
    }

    /// Patterns and noisy-neighbour detections of one sample.
    private func observe(_ snapshot: Snapshot, severeNs: UInt64) {
        let transitions = patterns.observe(PatternObservation.cgroups(snapshot.cgroups, intervals: snapshot.threads, severeNs: severeNs))
        seed.add(transitions, active: patterns.active.map(\.kind))
        seed.add(noisyNeighbours: snapshot.workloads.filter { $0.figures.verdict == .noisyNeighbour }.count)
    }

    private func publish(_ families: [MetricFamily]) {
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        for s in sinks { s.publish(families, unixNs: now) }
    }

    /// Says a state change once on stderr (not every interval).
    private func complain(_ text: String) {
        guard text != lastComplaint else { return }
        lastComplaint = text
        FileHandle.standardError.write(Data("starve-export: \(text)\n".utf8))
    }

    /// What the snapshot says of the collector, plus its maps and programs (the status read,
    /// without walking the threads again).
    private func collectorReading(_ snapshot: Snapshot) -> CollectorReading {
        var r = CollectorReading(up: true, stats: snapshot.stats, threads: snapshot.tracked)
        if let sampler { r.abiVersion = sampler.collection.config.abi_version }
        if let status = try? Collector.status(layout: PinLayout(directory: settings.pinDirectory), countThreads: false) {
            r.maps = status.maps.map { .init(name: $0.name, entries: $0.entries, capacity: $0.maxEntries) }
            r.programs = status.programs.map { .init(name: $0.name, runCount: $0.runCount, runTimeNs: $0.runTimeNs) }
        }
        return r
    }
}

private func formatSeconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }
