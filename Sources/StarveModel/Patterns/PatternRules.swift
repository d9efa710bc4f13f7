// The rule behind each pattern kind: what one sample must show, when the window is evidence
// enough to start, and when an active pattern has faded. The summary is on PatternDetector.

/// Why a pattern starts: where its evidence begins and the line that reports it.
struct PatternEvidence {
    /// Start of the first sample of the evidence.
    var onset: Double
    var period: Double?
    var detail: String
    var preemptor: String? = nil
    var fromBursts = false
}

extension PatternKind {
    /// Position in `allCases`, for a stable order of reports.
    var order: Int { Self.allCases.firstIndex(of: self)! }

    /// Whether one sample shows this pattern. `preemptor` is the noisy neighbour in question;
    /// `fromBursts` says which periodic-throttling rule is meant.
    func isShown(by s: PatternSample, preemptor: String?, fromBursts: Bool, _ settings: PatternSettings) -> Bool {
        let o = s.observation
        switch self {
        case .periodicThrottling:
            if fromBursts { return s.isThrottled }
            return s.interval > 0 && o.periods > 0
                && Double(o.throttledPeriods) >= settings.periodicThrottledShare * Double(o.periods)
        case .sustainedThrottling:
            return s.throttledFraction >= settings.sustainedThrottledFraction
        case .severeStarvation:
            return o.severeEvents > 0 || o.maxWaitNs >= settings.severeWaitNs
        case .migrationStorm:
            return o.migrationStorms > 0
        case .noisyNeighbour:
            return preemptor != nil && o.noisyNeighbour == preemptor
        case .highFrequencyStarvation:
            // One long wait is severe starvation; this pattern is the many short ones.
            return s.waitsPerSecond >= settings.highFrequencyWaitsPerSecond && o.maxWaitNs < settings.severeWaitNs
        }
    }

    /// The evidence to start this pattern in `h`'s window, or nil.
    func evidence(in h: SubjectHistory, settings: PatternSettings) -> PatternEvidence? {
        let n = h.window.count
        let shown = h.window.filter { isShown(by: $0, preemptor: nil, fromBursts: false, settings) }
        let of = "in \(shown.count) of the last \(n) samples"
        switch self {
        case .periodicThrottling:
            return quotaPeriodEvidence(shown, settings) ?? burstEvidence(h, settings)
        case .sustainedThrottling:
            guard n == settings.windowSamples, shown.count == n else { return nil }
            let nsPerSecond = shown.reduce(0) { $0 + $1.throttledFraction * 1e9 } / Double(n)
            return PatternEvidence(onset: shown[0].start, detail: "throttled " + milliseconds(nsPerSecond)
                + "/s (at least " + milliseconds(settings.sustainedThrottledFraction * 1e9) + "/s) " + of)
        case .severeStarvation:
            guard let first = shown.first else { return nil }
            let events = shown.reduce(0) { $0 + $1.observation.severeEvents }
            let longest = shown.map(\.observation.maxWaitNs).max() ?? 0
            return PatternEvidence(onset: first.start, detail: "longest wait " + milliseconds(Double(longest))
                + ", severe/critical events: \(events), " + of)
        case .migrationStorm:
            guard let first = shown.first else { return nil }
            let storms = shown.reduce(0) { $0 + $1.observation.migrationStorms }
            return PatternEvidence(onset: first.start, detail: "migration storms: \(storms), " + of)
        case .noisyNeighbour:
            return noisyNeighbourEvidence(h, settings)
        case .highFrequencyStarvation:
            guard shown.count >= settings.enterSamples else { return nil }
            let rate = shown.reduce(0) { $0 + $1.waitsPerSecond } / Double(shown.count)
            let longest = shown.map(\.observation.maxWaitNs).max() ?? 0
            return PatternEvidence(onset: shown[0].start, detail: figure(rate) + " waits/s over the threshold, longest "
                + milliseconds(Double(longest)) + ", " + of)
        }
    }

    /// Why `pattern` has ended given `h`'s window, or nil while it goes on.
    func endReason(of pattern: ActivePattern, in h: SubjectHistory, settings: PatternSettings) -> String? {
        let n = h.window.count
        let shown = h.count { isShown(by: $0, preemptor: pattern.preemptor, fromBursts: pattern.fromBursts, settings) }
        switch self {
        case .periodicThrottling where pattern.fromBursts:
            // Tolerate one missed burst: end once two periods (plus the slack of a whole sample)
            // have passed with no new one.
            let period = pattern.period ?? 0
            let allowance = 2 * period + max(settings.stabilityTolerance * period, h.latest.interval)
            let quiet = h.latest.end - (h.burstOnsets.last ?? pattern.onset)
            guard quiet > allowance + 1e-9 else { return nil }
            return "no throttling burst for " + figure(quiet) + " s (expected every " + figure(period) + " s)"
        case .severeStarvation, .migrationStorm:
            guard shown == 0 else { return nil }
            return "none in the last \(n) samples"
        case .noisyNeighbour:
            guard shown <= settings.exitSamples else { return nil }
            return "preempted by " + (pattern.preemptor ?? "?") + " in \(shown) of the last \(n) samples"
        case .periodicThrottling, .sustainedThrottling, .highFrequencyStarvation:
            guard shown <= settings.exitSamples else { return nil }
            return "seen in \(shown) of the last \(n) samples"
        }
    }

    /// Throttled in most CFS periods in most samples, at a stable rate: the quota period recurs.
    private func quotaPeriodEvidence(_ shown: [PatternSample], _ settings: PatternSettings) -> PatternEvidence? {
        guard shown.count >= settings.enterSamples else { return nil }
        let throttledRates = shown.map { Double($0.observation.throttledPeriods) / $0.interval }
        let periodRates = shown.map { Double($0.observation.periods) / $0.interval }
        guard isStable(throttledRates, settings.stabilityTolerance), isStable(periodRates, settings.stabilityTolerance) else {
            return nil
        }
        let seconds = shown.reduce(0) { $0 + $1.interval }
        let periods = Double(shown.reduce(0) { $0 + $1.observation.periods })
        let throttled = Double(shown.reduce(0) { $0 + $1.observation.throttledPeriods })
        let throttledNs = Double(shown.reduce(0) { $0 + $1.observation.throttledNs })
        // Throttled in `throttled` of `periods` CFS periods: it recurs every periods/throttled
        // periods. The period itself is the configured one when known (sample intervals are
        // never whole periods, so counts over them only estimate it).
        let cfsPeriod = shown.last?.observation.cfsPeriodSeconds ?? seconds / periods
        return PatternEvidence(onset: shown[0].start, period: cfsPeriod * periods / throttled,
                               detail: "throttled in " + figure(throttled / seconds) + " of " + figure(periods / seconds)
                                   + " periods/s (cfs period " + formatFixed(cfsPeriod, decimals: 3) + " s), "
                                   + milliseconds(throttledNs / seconds) + "/s throttled")
    }

    /// Bursts of throttling separated by quiet samples at stable gaps (a cron-like load). Judged
    /// only when a burst starts, so an ended burst pattern does not restart on old bursts.
    private func burstEvidence(_ h: SubjectHistory, _ settings: PatternSettings) -> PatternEvidence? {
        let s = h.latest
        guard s.isThrottled, h.burstOnsets.last == s.start, h.burstOnsets.count == settings.burstGaps + 1 else { return nil }
        let gaps = zip(h.burstOnsets.dropFirst(), h.burstOnsets).map { $0 - $1 }
        let mean = gaps.reduce(0, +) / Double(gaps.count)
        // Gaps are whole samples, so a period between two sample counts alternates by one.
        let spread = gaps.max()! - gaps.min()!
        guard mean > 0, spread <= max(settings.stabilityTolerance * mean, s.interval) + 1e-9 else { return nil }
        return PatternEvidence(onset: h.burstOnsets[0], period: mean,
                               detail: "throttled in bursts every " + figure(mean) + " s (last \(h.burstOnsets.count) bursts, gaps "
                                   + figure(gaps.min()!) + "-" + figure(gaps.max()!) + " s)",
                               fromBursts: true)
    }

    /// The preemptor named most often in the window (ties: the first by name), if named in enough.
    private func noisyNeighbourEvidence(_ h: SubjectHistory, _ settings: PatternSettings) -> PatternEvidence? {
        var tally: [String: Int] = [:]
        for s in h.window { if let p = s.observation.noisyNeighbour { tally[p, default: 0] += 1 } }
        guard let best = tally.min(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }),
              best.value >= settings.enterSamples else { return nil }
        let (preemptor, count) = (best.key, best.value)
        let onset = h.window.first { $0.observation.noisyNeighbour == preemptor }!.start
        return PatternEvidence(onset: onset, detail: "preempted by " + preemptor + " in \(count) of the last \(h.window.count) samples",
                               preemptor: preemptor)
    }
}

/// Whether `values` spread (max - min) by no more than `tolerance` of their mean.
private func isStable(_ values: [Double], _ tolerance: Double) -> Bool {
    guard let lo = values.min(), let hi = values.max() else { return false }
    let mean = values.reduce(0, +) / Double(values.count)
    return mean > 0 && hi - lo <= tolerance * mean + 1e-9
}

/// A count or rate as people write it: "10", "9.5".
private func figure(_ x: Double) -> String {
    abs(x - x.rounded()) < 0.05 ? formatFixed(x, decimals: 0) : formatFixed(x, decimals: 1)
}

/// Nanoseconds as milliseconds: "820 ms".
private func milliseconds(_ ns: Double) -> String { figure(ns / 1e6) + " ms" }
