import StarveModel

/// What the exporter read about the collector in one sample (nil fields: not known, e.g. the
/// pins are gone).
public struct CollectorReading: Sendable {
    public struct Program: Sendable, Equatable {
        public var name: String
        /// With `kernel.bpf_stats_enabled=1` only.
        public var runCount: UInt64?
        public var runTimeNs: UInt64?
        public init(name: String, runCount: UInt64?, runTimeNs: UInt64?) {
            self.name = name
            self.runCount = runCount
            self.runTimeNs = runTimeNs
        }
    }
    public struct Map: Sendable, Equatable {
        public var name: String
        public var entries: Int?
        public var capacity: Int
        public init(name: String, entries: Int?, capacity: Int) {
            self.name = name
            self.entries = entries
            self.capacity = capacity
        }
    }

    /// Whether the last sample read the pins.
    public var up: Bool
    public var stats: CollectorStats?
    /// Threads in the tasks map.
    public var threads: Int?
    public var abiVersion: UInt32?
    public var programs: [Program] = []
    public var maps: [Map] = []

    public init(up: Bool, stats: CollectorStats? = nil, threads: Int? = nil, abiVersion: UInt32? = nil,
                programs: [Program] = [], maps: [Map] = []) {
        self.up = up
        self.stats = stats
        self.threads = threads
        self.abiVersion = abiVersion
        self.programs = programs
        self.maps = maps
    }
}

/// The exporter's own figures.
public struct ExporterReading: Sendable {
    public var samples: UInt64 = 0
    public var sampleErrors: UInt64 = 0
    /// Times the pins were opened again after being lost (or first found late).
    public var reconnects: UInt64 = 0
    /// How long the last sample took (read, analysis, model), seconds.
    public var lastSampleSeconds: Double = 0

    public init() {}
}

/// Builds the metric families of one sample: the workloads' cumulative figures (folded to
/// `maxWorkloads`, top preemptors per workload), the collector's own counters and the
/// exporter's. Pure: ledger and readings in, families out. docs/export.md lists the families.
public struct FleetMetrics: Sendable {
    /// Histogram bounds: 2^k ns for k = 10, 12, ..., 34 (1.024 µs to 17.2 s), each exact on the
    /// kernel's log2 slots; everything above is in `+Inf`.
    public static let waitBoundExponents = Array(stride(from: 10, through: 34, by: 2))
    public static let defaultMaxWorkloads = 100
    public static let defaultMaxPreemptors = 5

    public var folding: WorkloadFolding
    /// Preemptor pairs per workload (most wait first).
    public var maxPreemptors: Int

    public init(maxWorkloads: Int = FleetMetrics.defaultMaxWorkloads, maxPreemptors: Int = FleetMetrics.defaultMaxPreemptors) {
        folding = WorkloadFolding(maxWorkloads: maxWorkloads)
        self.maxPreemptors = maxPreemptors
    }

    /// `totals`: the sampler's running totals per workload; `threads`: live threads per workload
    /// in the last interval (its rows).
    public mutating func families(totals: [WorkloadKey: RunningTotals], threads: [WorkloadKey: Int], collector: CollectorReading,
                                  exporter: ExporterReading, seed: SeedTally = SeedTally()) -> [MetricFamily] {
        let (own, other) = folding.fold(totals)
        var rows: [Row] = own.map { key, t in
            Row(labels: [MetricLabel("workload_kind", key.kind.rawValue), MetricLabel("workload", key.name)], totals: t,
                threads: threads[key] ?? 0, pairs: true)
        }
        if let other {
            let folded = threads.filter { folding.isFolded($0.key) }.values.reduce(0, +)
            rows.append(Row(labels: [MetricLabel("workload_kind", WorkloadFolding.otherKind), MetricLabel("workload", WorkloadFolding.otherName)],
                            totals: other, threads: folded, pairs: false))
        }
        var out: [MetricFamily] = []
        out += workloadFamilies(rows)
        out += collectorFamilies(collector)
        out += seedFamilies(collector.stats, seed)
        out += exporterFamilies(exporter, own: own.count)
        return out
    }

    private struct Row {
        var labels: [MetricLabel]
        var totals: RunningTotals
        var threads: Int
        var pairs: Bool
    }

    private func workloadFamilies(_ rows: [Row]) -> [MetricFamily] {
        func counter(_ name: String, unit: String? = nil, _ help: String, _ value: (RunningTotals) -> [([MetricLabel], Double)]) -> MetricFamily {
            MetricFamily(name: name, type: .counter, unit: unit, help: help,
                         points: rows.flatMap { r in value(r.totals).map { MetricPoint(r.labels + $0.0, $0.1) } })
        }
        func seconds(_ ns: UInt64) -> Double { Double(ns) / 1e9 }
        var f: [MetricFamily] = []
        f.append(counter("starve_workload_cpu_seconds", unit: "seconds", "CPU time of the workload's threads (exited ones included), from the scheduler's sum_exec_runtime.") {
            [([], seconds($0.runtimeNs))]
        })
        f.append(MetricFamily(
            name: "starve_workload_run_queue_wait_seconds", type: .histogram, unit: "seconds",
            help: "Run-queue waits (runnable, not running) of the workload's threads by length: the kernel side's log2 buckets, exact counts; the sum is the kernel's own total.",
            points: rows.map { r in
                MetricPoint(r.labels, histogram: .fromLog2Slots(r.totals.waitHistogram.counts, sumNs: r.totals.waitNs, boundExponents: Self.waitBoundExponents))
            }))
        f.append(counter("starve_workload_run_queue_wait_by_cause_seconds", unit: "seconds",
                         "Run-queue wait by how it began: after a wakeup, after a preemption, or switched out under its cgroup's CFS quota (throttled).") {
            [([MetricLabel("cause", "wakeup")], seconds($0.wakeupWaitNs)),
             ([MetricLabel("cause", "preemption")], seconds($0.preemptWaitNs)),
             ([MetricLabel("cause", "throttled")], seconds($0.throttledWaitNs))]
        })
        f.append(counter("starve_workload_preemptions", "Involuntary switch-outs of the workload's threads by who took the CPU: a task of the same cpu cgroup, of another cgroup, or the system (kernel threads, root cgroup).") {
            [([MetricLabel("cause", "same_cgroup")], Double($0.preemptedSame)),
             ([MetricLabel("cause", "other_cgroup")], Double($0.preemptedOther)),
             ([MetricLabel("cause", "system")], Double($0.preemptedSystem))]
        })
        let pairRows = rows.filter(\.pairs).map { r -> ([MetricLabel], [(PreemptorKey, PreemptionCounts)]) in
            let top = r.totals.preemptors.filter { k, _ in
                k == .idle || (WorkloadKind(rawValue: k.kind).map { folding.hasOwnSeries(WorkloadKey(kind: $0, name: k.name)) } ?? false)
            }.sorted { $0.value.waitNs != $1.value.waitNs ? $0.value.waitNs > $1.value.waitNs : $0.key < $1.key }
                .prefix(maxPreemptors)
            return (r.labels, Array(top.map { ($0.key, $0.value) }))
        }
        let pairLabels = { (p: PreemptorKey) in [MetricLabel("preemptor_kind", p.kind), MetricLabel("preemptor", p.name)] }
        f.append(MetricFamily(
            name: "starve_workload_preemptor_wait_seconds", type: .counter, unit: "seconds",
            help: "Run-queue wait of the workload booked to who held the CPU (victim x preemptor; preemptor_kind idle: nobody, the CPU went idle), for its top preemptors with series of their own.",
            points: pairRows.flatMap { l, ps in ps.map { MetricPoint(l + pairLabels($0.0), seconds($0.1.waitNs)) } }))
        f.append(MetricFamily(
            name: "starve_workload_preemptor_waits", type: .counter,
            help: "Run-queue waits of the workload booked to who held the CPU, same pairs as starve_workload_preemptor_wait_seconds.",
            points: pairRows.flatMap { l, ps in ps.map { MetricPoint(l + pairLabels($0.0), Double($0.1.count)) } }))
        f.append(counter("starve_workload_cfs_periods", "CFS bandwidth periods of the workload's cgroups with a quota (cpu.stat nr_periods; cAdvisor's container_cpu_cfs_periods_total).") {
            [([], Double($0.periods))]
        })
        f.append(counter("starve_workload_cfs_throttled_periods", "CFS periods in which the workload's cgroups were throttled (cpu.stat nr_throttled).") {
            [([], Double($0.throttledPeriods))]
        })
        f.append(counter("starve_workload_cfs_throttled_seconds", unit: "seconds", "Time the workload's cgroups spent throttled (cpu.stat throttled_time / throttled_usec).") {
            [([], seconds($0.throttledNs))]
        })
        f.append(counter("starve_workload_verdict_intervals", "Sampling intervals in which the workload was judged victim, noisy-neighbour (a CPU hog that was the main cause of another workload's long waits), throttled or starved (docs/signals.md).") { t in
            [CgroupVerdict.victim, .noisyNeighbour, .throttled, .starved].map { ([MetricLabel("verdict", $0.rawValue)], Double(t.verdictIntervals[$0] ?? 0)) }
        })
        f.append(MetricFamily(name: "starve_workload_threads", type: .gauge, help: "Live threads of the workload in the last sample.",
                              points: rows.map { MetricPoint($0.labels, Double($0.threads)) }))
        return f
    }

    private func collectorFamilies(_ c: CollectorReading) -> [MetricFamily] {
        var f: [MetricFamily] = [
            MetricFamily(name: "starve_up", type: .gauge, help: "1 when the last sample read the collector's pins, 0 when they are absent or unreadable.",
                         points: [MetricPoint([], c.up ? 1 : 0)]),
        ]
        if let abi = c.abiVersion {
            f.append(MetricFamily(name: "starve_collector_abi", type: .gauge, help: "ABI version of the pinned maps (starve.h STARVE_ABI_VERSION).",
                                  points: [MetricPoint([], Double(abi))]))
        }
        if let threads = c.threads {
            f.append(MetricFamily(name: "starve_collector_threads", type: .gauge, help: "Threads the collector holds figures for.",
                                  points: [MetricPoint([], Double(threads))]))
        }
        if let s = c.stats {
            f.append(MetricFamily(name: "starve_collector_sched_switches", type: .counter, help: "sched_switch events the collector handled.", points: [MetricPoint([], Double(s.switches))]))
            f.append(MetricFamily(name: "starve_collector_wakeups", type: .counter, help: "Wakeups the collector handled.", points: [MetricPoint([], Double(s.wakeups))]))
            f.append(MetricFamily(name: "starve_collector_migrations", type: .counter, help: "Task migrations the collector handled.", points: [MetricPoint([], Double(s.migrations))]))
            f.append(MetricFamily(name: "starve_collector_detections", type: .counter,
                                  help: "Detections in the kernel, before the event volume controls: starvation (a wait over the first threshold), priority inversion, priority-inheritance boost, migration storm.",
                                  points: [("starvation", s.starvations), ("inversion", s.inversions), ("pi_boost", s.piBoosts), ("migration_storm", s.migrationStorms)]
                                    .map { MetricPoint([MetricLabel("kind", $0.0)], Double($0.1)) }))
            f.append(MetricFamily(name: "starve_collector_events", type: .counter, help: "Events written to the ring buffer.", points: [MetricPoint([], Double(s.eventsEmitted))]))
            f.append(MetricFamily(name: "starve_collector_dropped", type: .counter,
                                  help: "What the collector could not count or send, by reason: events (ring buffer full, rate limited, sampled out, filtered), stacks, thread storage, exits not folded, preemption pairs not booked.",
                                  points: [("ringbuf_full", s.eventsRingbufFull), ("rate_limited", s.eventsRateLimited), ("sampled_out", s.eventsSampledOut),
                                           ("filtered", s.eventsFiltered), ("stacks_ringbuf_full", s.stacksRingbufFull),
                                           ("kernel_stack_failure", s.kernelStackFailures), ("user_stack_failure", s.userStackFailures),
                                           ("storage_failure", s.storageFailures), ("exit_not_folded", s.exitedDropped), ("pairs_map_full", s.pairsMapFull)]
                                    .map { MetricPoint([MetricLabel("reason", $0.0)], Double($0.1)) }))
        }
        if !c.maps.isEmpty {
            f.append(MetricFamily(name: "starve_collector_map_entries", type: .gauge, help: "Entries in the collector's pinned maps (hash maps only).",
                                  points: c.maps.compactMap { m in m.entries.map { MetricPoint([MetricLabel("map", m.name)], Double($0)) } }))
            f.append(MetricFamily(name: "starve_collector_map_capacity", type: .gauge, help: "max_entries of the collector's pinned maps.",
                                  points: c.maps.map { MetricPoint([MetricLabel("map", $0.name)], Double($0.capacity)) }))
        }
        let timed = c.programs.filter { $0.runCount != nil && $0.runTimeNs != nil }
        if !timed.isEmpty {
            f.append(MetricFamily(name: "starve_collector_program_runs", type: .counter,
                                  help: "Runs of each BPF program (kernel.bpf_stats_enabled=1 only).",
                                  points: timed.map { MetricPoint([MetricLabel("program", $0.name)], Double($0.runCount!)) }))
            f.append(MetricFamily(name: "starve_collector_program_run_seconds", type: .counter, unit: "seconds",
                                  help: "Time spent in each BPF program (kernel.bpf_stats_enabled=1 only); divided by the runs' rate: ns per event.",
                                  points: timed.map { MetricPoint([MetricLabel("program", $0.name)], Double($0.runTimeNs!) / 1e9) }))
        }
        return f
    }

    /// The seed collector's set: starvation events by severity and their lengths, inversions,
    /// PI boosts, migration storms (the kernel's counts where each is detected, before the event
    /// volume controls, so the events ring buffer keeps its one consumer), noisy-neighbour
    /// detections and recurring patterns.
    private func seedFamilies(_ s: CollectorStats?, _ seed: SeedTally) -> [MetricFamily] {
        var f: [MetricFamily] = []
        if let s {
            let severe = min(s.starvationsSevere, s.starvations), critical = min(s.starvationsCritical, severe)
            f.append(MetricFamily(name: "starve_starvation_events", type: .counter,
                                  help: "Run-queue waits at or over the starvation threshold, by severity (starved, severe, critical: the load's three thresholds), counted in the kernel where detected, before the event volume controls.",
                                  points: [("starved", s.starvations - severe), ("severe", severe - critical), ("critical", critical)]
                                    .map { MetricPoint([MetricLabel("severity", $0.0)], Double($0.1)) }))
            let base = CollectorStats.starvationSlotBase
            let slots = [UInt64](repeating: 0, count: base) + s.starvationHistogram
            f.append(MetricFamily(name: "starve_starvation_duration_seconds", type: .histogram, unit: "seconds",
                                  help: "Lengths of the starvations (waits at or over the starvation threshold): the kernel's log2 buckets, exact counts at each 2^k ns bound; the sum is the kernel's total.",
                                  points: [MetricPoint([], histogram: .fromLog2Slots(slots, sumNs: s.starvationNs, boundExponents: Array((base + 1)..<(base + CollectorStats.starvationSlots))))]))
            f.append(MetricFamily(name: "starve_priority_inversions", type: .counter, help: "Priority inversions detected in the kernel (before the event volume controls).",
                                  points: [MetricPoint([], Double(s.inversions))]))
            f.append(MetricFamily(name: "starve_pi_boosts", type: .counter, help: "Priority-inheritance boosts (sched_pi_setprio) seen in the kernel.",
                                  points: [MetricPoint([], Double(s.piBoosts))]))
            f.append(MetricFamily(name: "starve_migration_storms", type: .counter, help: "Migration storms detected in the kernel (before the event volume controls).",
                                  points: [MetricPoint([], Double(s.migrationStorms))]))
        }
        f.append(MetricFamily(name: "starve_noisy_neighbour_detections", type: .counter,
                              help: "Workloads judged a noisy neighbour (the CPU hog behind another workload's long waits), one per workload and sampling interval, since the exporter started.",
                              points: [MetricPoint([], Double(seed.noisyNeighbourDetections))]))
        let kinds = PatternKind.allCases
        f.append(MetricFamily(name: "starve_patterns_started", type: .counter,
                              help: "Recurring patterns (docs/signals.md) that started in some cgroup, by pattern, since the exporter started.",
                              points: kinds.map { MetricPoint([MetricLabel("pattern", $0.rawValue)], Double(seed.started[$0] ?? 0)) }))
        f.append(MetricFamily(name: "starve_patterns_active", type: .gauge, help: "Cgroups in which each recurring pattern is going on now.",
                              points: kinds.map { MetricPoint([MetricLabel("pattern", $0.rawValue)], Double(seed.active[$0] ?? 0)) }))
        f.append(MetricFamily(name: "starve_pattern_duration_seconds", type: .histogram, unit: "seconds",
                              help: "How long recurring patterns lasted, by pattern (booked when one ends: from the first sample that showed it to the last).",
                              points: kinds.map { k in
                                  let d = seed.ended[k] ?? SeedTally.Durations()
                                  return MetricPoint([MetricLabel("pattern", k.rawValue)],
                                                     histogram: HistogramValue(upperBounds: SeedTally.durationBounds, cumulativeCounts: d.cumulative, count: d.count, sum: d.sum))
                              }))
        return f
    }

    private func exporterFamilies(_ e: ExporterReading, own: Int) -> [MetricFamily] {
        [
            MetricFamily(name: "starve_export_samples", type: .counter, help: "Samples the exporter took.", points: [MetricPoint([], Double(e.samples))]),
            MetricFamily(name: "starve_export_sample_errors", type: .counter, help: "Samples that failed (the pins vanished or could not be read).", points: [MetricPoint([], Double(e.sampleErrors))]),
            MetricFamily(name: "starve_export_reconnects", type: .counter, help: "Times the exporter opened the collector's pins again after losing them.", points: [MetricPoint([], Double(e.reconnects))]),
            MetricFamily(name: "starve_export_sample_duration_seconds", type: .gauge, unit: "seconds", help: "How long the last sample took: read the pins, analyse, build the metrics.",
                         points: [MetricPoint([], e.lastSampleSeconds)]),
            MetricFamily(name: "starve_export_workloads", type: .gauge, help: "Workloads exported with series of their own, and folded into workload=\"other\" (--max-workloads).",
                         points: [MetricPoint([MetricLabel("series", "own")], Double(own)), MetricPoint([MetricLabel("series", "folded")], Double(folding.foldedCount))]),
        ]
    }
}
