// Turns per-sample figures into pattern transitions: each pattern is reported once when it
// starts and once when it ends, never on every sample.

/// Recognises recurring starvation patterns in a series of samples and reports when each starts
/// and ends, per subject (cgroup or task).
///
/// Every subject keeps a rolling window of its last ``PatternSettings/windowSamples`` samples.
/// The rules, with the defaults of ``PatternSettings``:
/// - **periodic-throttling**: either throttled in most CFS periods (≥ 50 %) in 4 of the last 5
///   samples at a stable rate (throttled periods/s and periods/s each spread ≤ 25 % of their mean);
///   the period is how often throttling hits, interval / throttled periods (10 of 10 periods/s ⇒
///   0.1 s, the quota period). Or throttling that comes in bursts separated by quiet samples whose
///   last 3 gaps agree (spread ≤ 25 % of the mean gap, or one interval, since gaps are whole
///   samples); the period is the mean gap. A burst pattern ends when no burst has started for
///   two periods plus that slack: one missed burst is tolerated.
/// - **sustained-throttling**: throttled time ≥ 20 % of wall time (throttledNs / interval) in
///   every sample of a full window.
/// - **severe-starvation**: a severe/critical event or a wait ≥ 500 ms in any sample of the window;
///   starts on that sample, ends after a whole window without one.
/// - **migration-storm**: a migration-storm event in any sample of the window; same timing.
/// - **noisy-neighbour**: the same preemptor named in 4 of the last 5 samples (two preemptors
///   taking turns never reach that); the detail names it.
/// - **high-frequency-starvation**: ≥ 5 waits/s over the threshold in 4 of the last 5 samples with
///   the longest wait below the severe threshold (a sample with a severe wait is severe
///   starvation's evidence, not this pattern's).
///
/// Majority patterns end when at most 2 of the last 5 samples show them, sustained throttling
/// too; so one quiet sample never ends a pattern or starts it again. A subject missing from a
/// sample has gone away (a cgroup removed, a task exited): its patterns end there.
public final class PatternDetector {
    /// The thresholds in use.
    public let settings: PatternSettings
    /// Seconds since the detector started: the sum of the intervals observed.
    public private(set) var now: Double = 0
    // Used to advance the clock on a sample with no subjects at all.
    private var lastInterval: Double = 0
    private var subjects: [String: SubjectHistory] = [:]

    /// A detector with `settings`, which must pass ``PatternSettings/validate()`` (a programming
    /// error otherwise: tools validate user input first and report the StarveError).
    public init(settings: PatternSettings = .init()) {
        do { try settings.validate() } catch { preconditionFailure("\(error)") }
        self.settings = settings
    }

    /// Feeds one sample's observations (one per subject; subjects may appear and disappear) and
    /// returns the transitions this sample causes: first the patterns of subjects that went away,
    /// then each observed subject's in input order, kinds in declaration order, an end before a
    /// start. Two observations of the same subject in one sample are added together.
    public func observe(_ observations: [PatternObservation]) -> [PatternTransition] {
        let merged = Self.merge(observations)
        // Observations of one sample should share an interval; the longest is the sample's length.
        if let interval = merged.map(\.intervalSeconds).max() { lastInterval = max(interval, 0) }
        now += lastInterval

        var out: [PatternTransition] = []
        let seen = Set(merged.map(\.subject))
        let gone = subjects.keys.filter { !seen.contains($0) }.sorted()
        for subject in gone {
            out += subjects[subject]!.endAll(subject: subject, now: now, reason: "subject gone")
            subjects[subject] = nil
        }
        for o in merged {
            let sample = PatternSample(observation: o, start: now - max(o.intervalSeconds, 0), end: now)
            out += subjects[o.subject, default: SubjectHistory()].advance(with: sample, subject: o.subject, settings: settings)
        }
        return out
    }

    /// Ends every pattern still active (the run is over) and forgets every subject's history.
    public func finish() -> [PatternTransition] {
        var out: [PatternTransition] = []
        for subject in subjects.keys.sorted() {
            out += subjects[subject]!.endAll(subject: subject, now: now, reason: "end of run")
        }
        subjects = [:]
        return out
    }

    /// The patterns active now, oldest first; `since` is the time of their started transition.
    public var active: [(kind: PatternKind, subject: String, since: Double)] {
        var list: [(kind: PatternKind, subject: String, since: Double)] = []
        for (subject, history) in subjects {
            for (kind, pattern) in history.active { list.append((kind, subject, pattern.since)) }
        }
        return list.sorted {
            if $0.since != $1.since { return $0.since < $1.since }
            if $0.subject != $1.subject { return $0.subject < $1.subject }
            return $0.kind.order < $1.kind.order
        }
    }

    /// One observation per subject, in order of first appearance.
    private static func merge(_ observations: [PatternObservation]) -> [PatternObservation] {
        var index: [String: Int] = [:]
        var out: [PatternObservation] = []
        out.reserveCapacity(observations.count)
        for o in observations {
            guard let i = index[o.subject] else {
                index[o.subject] = out.count
                out.append(o)
                continue
            }
            out[i].intervalSeconds = max(out[i].intervalSeconds, o.intervalSeconds)
            out[i].periods += o.periods
            out[i].throttledPeriods += o.throttledPeriods
            out[i].throttledNs += o.throttledNs
            out[i].waitsOverThreshold += o.waitsOverThreshold
            out[i].maxWaitNs = max(out[i].maxWaitNs, o.maxWaitNs)
            out[i].severeEvents += o.severeEvents
            out[i].migrationStorms += o.migrationStorms
            out[i].noisyNeighbour = out[i].noisyNeighbour ?? o.noisyNeighbour
        }
        return out
    }
}

/// One subject's figures for one sample, placed on the detector's clock.
struct PatternSample {
    var observation: PatternObservation
    /// Start and end of the interval, seconds since the detector started.
    var start: Double
    var end: Double

    var interval: Double { observation.intervalSeconds }
    /// Throttled time per second of wall time.
    var throttledFraction: Double { interval > 0 ? Double(observation.throttledNs) / (interval * 1e9) : 0 }
    var waitsPerSecond: Double { interval > 0 ? Double(observation.waitsOverThreshold) / interval : 0 }
    /// Whether the group was throttled at all in the interval (bursts are runs of such samples).
    var isThrottled: Bool { observation.throttledPeriods > 0 || observation.throttledNs > 0 }
}

/// A pattern that has started and not yet ended.
struct ActivePattern {
    /// Time of the started transition.
    var since: Double
    /// Start of the first sample that showed the pattern; with `lastShownEnd`, its duration.
    var onset: Double
    /// End of the latest sample that showed the pattern.
    var lastShownEnd: Double
    var period: Double?
    /// Noisy neighbour: the preemptor blamed. A different one is a different pattern.
    var preemptor: String?
    /// Periodic throttling recognised from bursts rather than from throttled CFS periods: it is
    /// kept alive by new bursts, not by the window.
    var fromBursts: Bool
}

/// What the detector remembers about one subject.
struct SubjectHistory {
    /// The last `windowSamples` samples, oldest first.
    var window: [PatternSample] = []
    /// Start times of the latest throttling bursts (a throttled sample after an unthrottled one),
    /// `burstGaps + 1` at most: the bursts rule needs more history than a window holds, but only
    /// these few times of it.
    var burstOnsets: [Double] = []
    var wasThrottled = false
    var active: [PatternKind: ActivePattern] = [:]

    var latest: PatternSample { window[window.count - 1] }

    /// Adds `sample` and returns the transitions it causes.
    mutating func advance(with sample: PatternSample, subject: String, settings: PatternSettings) -> [PatternTransition] {
        window.append(sample)
        if window.count > settings.windowSamples { window.removeFirst(window.count - settings.windowSamples) }
        if sample.isThrottled && !wasThrottled {
            burstOnsets.append(sample.start)
            if burstOnsets.count > settings.burstGaps + 1 { burstOnsets.removeFirst(burstOnsets.count - settings.burstGaps - 1) }
        }
        wasThrottled = sample.isThrottled

        var out: [PatternTransition] = []
        for kind in PatternKind.allCases {
            if let pattern = active[kind] {
                if let reason = kind.endReason(of: pattern, in: self, settings: settings) {
                    out.append(ended(kind, pattern, subject: subject, now: sample.end, reason: reason))
                    active[kind] = nil
                } else if kind.isShown(by: sample, preemptor: pattern.preemptor, fromBursts: pattern.fromBursts, settings) {
                    active[kind]!.lastShownEnd = sample.end
                }
            }
            // Entry rules are stricter than staying rules, so a pattern that just ended does not
            // come straight back; a noisy neighbour replaced by another one can.
            if active[kind] == nil, let evidence = kind.evidence(in: self, settings: settings) {
                let lastShown = window.last {
                    kind.isShown(by: $0, preemptor: evidence.preemptor, fromBursts: evidence.fromBursts, settings)
                }?.end ?? sample.end
                active[kind] = ActivePattern(since: sample.end, onset: evidence.onset, lastShownEnd: lastShown,
                                             period: evidence.period, preemptor: evidence.preemptor,
                                             fromBursts: evidence.fromBursts)
                out.append(PatternTransition(kind: kind, subject: subject, phase: .started, time: sample.end,
                                             period: evidence.period, detail: evidence.detail))
            }
        }
        return out
    }

    /// Ends every active pattern at `now` for `reason`.
    mutating func endAll(subject: String, now: Double, reason: String) -> [PatternTransition] {
        let out = PatternKind.allCases.compactMap { kind in
            active[kind].map { ended(kind, $0, subject: subject, now: now, reason: reason) }
        }
        active = [:]
        return out
    }

    /// Samples of the window that satisfy `shows`.
    func count(where shows: (PatternSample) -> Bool) -> Int {
        window.reduce(0) { $0 + (shows($1) ? 1 : 0) }
    }

    private func ended(_ kind: PatternKind, _ p: ActivePattern, subject: String, now: Double, reason: String) -> PatternTransition {
        PatternTransition(kind: kind, subject: subject, phase: .ended, time: now, period: p.period,
                          duration: max(p.lastShownEnd - p.onset, 0), detail: reason)
    }
}
