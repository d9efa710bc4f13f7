// What the pattern detector reads (one observation per subject and sample), what it reports
// (transitions: a pattern started or ended), and the thresholds it decides with.

/// One subject's figures over one sample interval.
///
/// A subject is a cgroup path like "/system.slice/x" or a task like "pid 123 (comm)". The cpu.stat
/// figures are deltas over the interval; the event counts are the events that ended in it.
public struct PatternObservation: Sendable, Equatable {
    public var subject: String
    /// Length of the interval, seconds (every rate below is per second of it).
    public var intervalSeconds: Double
    /// cpu.stat nr_periods delta: CFS bandwidth periods that elapsed (0 when the cgroup has no quota).
    public var periods: UInt64
    /// cpu.stat nr_throttled delta: periods in which the cgroup ran out of quota.
    public var throttledPeriods: UInt64
    /// cpu.stat throttled time delta, ns.
    public var throttledNs: UInt64
    /// Run-queue waits above the starvation threshold that ended in the interval.
    public var waitsOverThreshold: UInt64
    /// Longest of those waits, ns.
    public var maxWaitNs: UInt64
    /// Starvation events of severity severe or critical in the interval.
    public var severeEvents: UInt64
    /// Migration-storm events in the interval.
    public var migrationStorms: UInt64
    /// The preemptor named by this interval's noisy-neighbour verdict, if there was one.
    public var noisyNeighbour: String?
    /// The cgroup's CFS bandwidth period as configured (cpu.cfs_period_us, cpu.max), seconds;
    /// nil when not known. The periodic-throttling pattern reports it rather than an estimate
    /// from period counts over intervals that are never exactly whole periods long.
    public var cfsPeriodSeconds: Double? = nil

    /// An observation; every figure defaults to "nothing happened" and the interval to starve-dump's
    /// default of 1 s (a zero interval would make every rate undefined).
    public init(subject: String, intervalSeconds: Double = 1, periods: UInt64 = 0, throttledPeriods: UInt64 = 0,
                throttledNs: UInt64 = 0, waitsOverThreshold: UInt64 = 0, maxWaitNs: UInt64 = 0,
                severeEvents: UInt64 = 0, migrationStorms: UInt64 = 0, noisyNeighbour: String? = nil) {
        self.subject = subject
        self.intervalSeconds = intervalSeconds
        self.periods = periods
        self.throttledPeriods = throttledPeriods
        self.throttledNs = throttledNs
        self.waitsOverThreshold = waitsOverThreshold
        self.maxWaitNs = maxWaitNs
        self.severeEvents = severeEvents
        self.migrationStorms = migrationStorms
        self.noisyNeighbour = noisyNeighbour
    }
}

/// A recurring way of being starved that the detector recognises. See ``PatternDetector`` for the
/// rule behind each.
public enum PatternKind: String, Sendable, CaseIterable {
    /// Throttling that recurs at a regular period: the CFS quota period, or bursts every k samples.
    case periodicThrottling = "periodic-throttling"
    /// Throttled for a large share of wall time in every sample of the window.
    case sustainedThrottling = "sustained-throttling"
    /// Severe/critical starvation events, or a wait at or above the severe threshold.
    case severeStarvation = "severe-starvation"
    /// Tasks bounced between CPUs faster than the migration-storm threshold.
    case migrationStorm = "migration-storm"
    /// The same preemptor blamed in most samples of the window.
    case noisyNeighbour = "noisy-neighbour"
    /// Many short waits over the starvation threshold, none of them severe.
    case highFrequencyStarvation = "high-frequency-starvation"
}

/// A pattern starting or ending for one subject.
public struct PatternTransition: Sendable, Equatable {
    /// Whether the pattern started or ended.
    public enum Phase: String, Sendable { case started, ended }

    public var kind: PatternKind
    public var subject: String
    public var phase: Phase
    /// When the detector decided, seconds since it started (the sum of the intervals observed).
    /// It lags the evidence by the window (on start) and by the hysteresis (on end).
    public var time: Double
    /// Periodic patterns: how often the pattern recurs, seconds.
    public var period: Double?
    /// On `ended`: how long the evidence lasted, from the start of the first sample that showed the
    /// pattern to the end of the last one (not the time between the two transitions, which lag).
    public var duration: Double?
    /// One human line of evidence (on `ended`: why it ended).
    public var detail: String

    /// A transition; `period` and `duration` are absent unless given.
    public init(kind: PatternKind, subject: String, phase: Phase, time: Double, period: Double? = nil,
                duration: Double? = nil, detail: String) {
        self.kind = kind
        self.subject = subject
        self.phase = phase
        self.time = time
        self.period = period
        self.duration = duration
        self.detail = detail
    }
}

/// The thresholds the detector decides with.
///
/// Hysteresis: a majority-type pattern (periodic, noisy neighbour, high frequency) starts when at
/// least `enterSamples` of the last `windowSamples` samples show it and ends only when at most
/// `exitSamples` of them do, so one quiet sample in a run neither ends it nor starts it again.
/// Sustained throttling needs every sample of the window to start. Event-type patterns (severe
/// starvation, migration storm) start on the first sample that shows them and end after a whole
/// window without one.
public struct PatternSettings: Sendable, Equatable {
    /// Samples in each subject's rolling window. 5 samples = 5 s at the default interval: long
    /// enough to call something recurring, short enough to report it while it is happening.
    public var windowSamples: Int = 5
    /// Samples of the window that must show a majority-type pattern for it to start.
    public var enterSamples: Int = 4
    /// A majority-type pattern ends when no more than this many samples of the window show it.
    public var exitSamples: Int = 2
    /// A wait this long is severe starvation, ns (also the line between one long wait and many
    /// short ones). 500 ms: long enough for a user to notice a stall.
    public var severeWaitNs: UInt64 = 500_000_000
    /// Throttled time per second of wall time at which throttling counts as sustained (0.2: the
    /// group lost at least 200 ms of every second).
    public var sustainedThrottledFraction: Double = 0.2
    /// Share of CFS periods that must be throttled for a sample to show quota-period throttling
    /// ("most periods").
    public var periodicThrottledShare: Double = 0.5
    /// How far a rate or a gap may stray and still count as stable: the spread (max - min) of
    /// throttled periods per second, or of the gaps between bursts, as a share of their mean.
    public var stabilityTolerance: Double = 0.25
    /// Gaps between throttling bursts that must agree before bursts count as periodic (3 gaps =
    /// 4 bursts: two equal gaps can be a coincidence).
    public var burstGaps: Int = 3
    /// Waits over the threshold per second at which short waits count as high-frequency starvation.
    public var highFrequencyWaitsPerSecond: Double = 5

    /// The defaults; change fields one by one.
    public init() {}

    /// Throws when the settings cannot describe a window with hysteresis, naming the setting.
    public func validate() throws {
        guard windowSamples >= 2 else { throw StarveError("pattern window: \(windowSamples) samples (needs at least 2)") }
        guard enterSamples >= 1, enterSamples <= windowSamples else {
            throw StarveError("pattern enter samples: \(enterSamples) (needs 1...\(windowSamples), the window)")
        }
        guard exitSamples >= 0, exitSamples < enterSamples else {
            throw StarveError("pattern exit samples: \(exitSamples) (needs 0...\(enterSamples - 1), below the enter samples)")
        }
        guard severeWaitNs > 0 else { throw StarveError("severe wait threshold: must be above 0 ns") }
        guard sustainedThrottledFraction > 0, sustainedThrottledFraction.isFinite else {
            throw StarveError("sustained throttled fraction: \(sustainedThrottledFraction) (needs > 0)")
        }
        guard periodicThrottledShare > 0, periodicThrottledShare <= 1 else {
            throw StarveError("periodic throttled share: \(periodicThrottledShare) (needs (0, 1])")
        }
        guard stabilityTolerance >= 0, stabilityTolerance.isFinite else {
            throw StarveError("stability tolerance: \(stabilityTolerance) (needs >= 0)")
        }
        guard burstGaps >= 2 else { throw StarveError("burst gaps: \(burstGaps) (needs at least 2 to compare)") }
        guard highFrequencyWaitsPerSecond > 0, highFrequencyWaitsPerSecond.isFinite else {
            throw StarveError("high-frequency waits per second: \(highFrequencyWaitsPerSecond) (needs > 0)")
        }
    }
}

/// One line for a transition, e.g.
/// `+12.0s pattern started: periodic-throttling /quota (period 0.100 s) — throttled in 10 of 10 periods/s`
/// or `+20.0s pattern ended: periodic-throttling /quota (period 0.100 s, lasted 8.0 s) — …`.
public func describe(_ t: PatternTransition) -> String {
    var figures: [String] = []
    if let p = t.period { figures.append("period " + formatFixed(p, decimals: 3) + " s") }
    if let d = t.duration { figures.append("lasted " + formatFixed(d, decimals: 1) + " s") }
    let parenthesis = figures.isEmpty ? "" : " (" + figures.joined(separator: ", ") + ")"
    return "+" + formatFixed(t.time, decimals: 1) + "s pattern " + t.phase.rawValue + ": " + t.kind.rawValue + " "
        + t.subject + parenthesis + " — " + t.detail
}

extension PatternObservation {
    /// One observation per cgroup row of a sample (starve-dump cgroups and starve-tune both
    /// feed their detector with these): cpu.stat throttling, waits over the threshold, waits
    /// past `severeNs`, the migration storms of its threads and the blamed neighbour.
    public static func cgroups(_ rows: [CgroupInterval], intervals: [TaskInterval], severeNs: UInt64) -> [PatternObservation] {
        var storms: [UInt64: UInt64] = [:]
        for t in intervals where t.migrationStorms > 0 { storms[t.task.cpuCgroupID, default: 0] += t.migrationStorms }
        let severeSlot = LogHistogram.slot(for: severeNs)
        return rows.map { r in
            PatternObservation(
                subject: r.path, intervalSeconds: Double(r.intervalNs) / 1e9,
                periods: r.throttle?.periods ?? 0, throttledPeriods: r.throttle?.throttledPeriods ?? 0,
                throttledNs: r.throttle?.throttledNs ?? 0, waitsOverThreshold: r.waitsOverThreshold,
                maxWaitNs: r.waitMaxNs ?? 0,
                severeEvents: r.waitHistogram.counts.enumerated().filter { $0.offset > severeSlot }.reduce(0) { $0 + $1.element },
                migrationStorms: storms[r.cgroupID] ?? 0,
                noisyNeighbour: r.verdict == .victim ? r.topPreemptors.first?.label : nil)
                .with(cfsPeriodSeconds: r.throttle?.periodUs.map { Double($0) / 1e6 })
        }
    }

    /// The same observation with the configured CFS period.
    public func with(cfsPeriodSeconds: Double?) -> PatternObservation {
        var o = self
        o.cfsPeriodSeconds = cfsPeriodSeconds
        return o
    }
}
