import StarveModel
import XCTest

/// Synthetic 1 s samples: what cpu.stat and the event stream would say, and which patterns we report.
final class PatternDetectorTests: XCTestCase {
    private let ms: UInt64 = 1_000_000

    /// Feeds `samples` one by one (optionally finishing) and returns every transition, in order.
    private func run(_ samples: [[PatternObservation]], finish: Bool = false,
                     settings: PatternSettings = .init()) -> (PatternDetector, [PatternTransition]) {
        let d = PatternDetector(settings: settings)
        var out: [PatternTransition] = []
        for s in samples { out += d.observe(s) }
        if finish { out += d.finish() }
        return (d, out)
    }

    /// `count` samples of the same single observation.
    private func repeated(_ o: PatternObservation, _ count: Int) -> [[PatternObservation]] {
        Array(repeating: [o], count: count)
    }

    /// A quota of 20 ms per 100 ms period on a group that wants more: 10 periods/s, all throttled,
    /// but only 80 ms/s throttled (a light load: not sustained throttling).
    private func quota(_ subject: String = "/quota", throttled: UInt64 = 10) -> PatternObservation {
        PatternObservation(subject: subject, periods: 10, throttledPeriods: throttled, throttledNs: 80 * ms)
    }

    private func kinds(_ ts: [PatternTransition]) -> Set<PatternKind> { Set(ts.map(\.kind)) }

    func testQuotaThrottledEveryPeriodIsPeriodicWithTheQuotaPeriod() throws {
        let calm = PatternObservation(subject: "/quota", periods: 10)
        let (_, ts) = run(repeated(quota(), 10) + repeated(calm, 10))
        XCTAssertEqual(ts.map(\.phase), [.started, .ended], "one start and one end, not one per sample: \(ts)")
        XCTAssertEqual(kinds(ts), [.periodicThrottling], "80 ms/s throttled is not sustained throttling")
        let started = ts[0], ended = ts[1]
        XCTAssertEqual(started.time, 4, "starts once 4 of the 5 samples show it")
        XCTAssertEqual(try XCTUnwrap(started.period), 0.1, accuracy: 1e-9, "10 of 10 periods/s: throttled every 0.1 s")
        XCTAssertTrue(started.detail.contains("throttled in 10 of 10 periods/s"), started.detail)
        XCTAssertTrue(started.detail.contains("cfs period 0.100 s"), started.detail)
        XCTAssertEqual(ended.time, 13, "ends when only 2 of the last 5 samples show it")
        XCTAssertEqual(try XCTUnwrap(ended.duration), 10, accuracy: 1e-9, "the 10 throttled seconds")
    }

    func testHalfThePeriodsThrottledRecursEveryOtherPeriod() throws {
        let (_, ts) = run(repeated(quota(throttled: 5), 6))
        let started = try XCTUnwrap(ts.first { $0.kind == .periodicThrottling })
        XCTAssertEqual(try XCTUnwrap(started.period), 0.2, accuracy: 1e-9)
    }

    func testTheConfiguredPeriodIsReportedNotTheCountOverIntervals() throws {
        // Intervals of 1.006 s hold 10 periods of 0.1 s: counting them gives 0.1006 s, which
        // prints as 0.101. With the period read from cpu.cfs_period_us it is 0.100 s.
        let o = PatternObservation(subject: "/quota", intervalSeconds: 1.006, periods: 10, throttledPeriods: 10, throttledNs: 80 * ms)
        let (_, estimated) = run(repeated(o, 6))
        XCTAssertTrue(try XCTUnwrap(estimated.first).detail.contains("cfs period 0.101 s"), "\(estimated)")
        let (_, configured) = run(repeated(o.with(cfsPeriodSeconds: 0.1), 6))
        let started = try XCTUnwrap(configured.first { $0.kind == .periodicThrottling })
        XCTAssertEqual(try XCTUnwrap(started.period), 0.1, accuracy: 1e-9)
        XCTAssertTrue(started.detail.contains("cfs period 0.100 s"), started.detail)
    }

    func testUnstableThrottlingRateIsNotPeriodic() {
        // Throttled in most periods, but 10, 6, 10, 6 of 10 per second: no steady rhythm.
        let series = (0..<8).map { [quota(throttled: $0 % 2 == 0 ? 10 : 6)] }
        let (_, ts) = run(series)
        XCTAssertFalse(kinds(ts).contains(.periodicThrottling), "\(ts)")
    }

    func testThrottlingBurstsEveryThreeSecondsArePeriodic() throws {
        // A cron-like job throttled for one sample every 3 s, then gone quiet.
        let burst = PatternObservation(subject: "/cron", periods: 10, throttledPeriods: 8, throttledNs: 300 * ms)
        let quiet = PatternObservation(subject: "/cron")
        let series = (0..<30).map { [$0 % 3 == 0 ? burst : quiet] } + repeated(quiet, 10)
        let (_, ts) = run(series)
        XCTAssertEqual(kinds(ts), [.periodicThrottling], "one throttled sample in 3 is neither sustained nor per-period")
        XCTAssertEqual(ts.map(\.phase), [.started, .ended], "\(ts)")
        XCTAssertEqual(ts[0].time, 10, "the 4th burst (t = 9..10 s) makes 3 equal gaps")
        XCTAssertEqual(try XCTUnwrap(ts[0].period), 3, accuracy: 1e-9)
        XCTAssertTrue(ts[0].detail.contains("bursts every 3 s"), ts[0].detail)
        XCTAssertEqual(try XCTUnwrap(ts[1].duration), 28, accuracy: 1e-9, "first burst at 0 s, last one ends at 28 s")
        XCTAssertEqual(ts[1].time, 35, "ends after two missed bursts plus one sample of slack")
    }

    func testAMissedBurstDoesNotEndPeriodicBursts() {
        let burst = PatternObservation(subject: "/cron", throttledPeriods: 1, throttledNs: 50 * ms)
        let quiet = PatternObservation(subject: "/cron")
        // Bursts at 0, 3, 6, 9, 12, (15 missed), 18, 21.
        let series = (0..<23).map { [$0 % 3 == 0 && $0 != 15 ? burst : quiet] }
        let (_, ts) = run(series)
        XCTAssertEqual(ts.map(\.phase), [.started], "\(ts)")
    }

    func testIrregularBurstsAreNotPeriodic() {
        let burst = PatternObservation(subject: "/cron", throttledPeriods: 2, throttledNs: 50 * ms)
        let quiet = PatternObservation(subject: "/cron")
        let at: Set = [0, 2, 7, 10, 17, 19, 26]
        let (_, ts) = run((0..<30).map { [at.contains($0) ? burst : quiet] })
        XCTAssertTrue(ts.isEmpty, "gaps of 2, 5, 3, 7, 2, 7 s have no period: \(ts)")
    }

    func testSustainedThrottlingNeedsAFullWindowAndSurvivesOneLightSample() throws {
        let heavy = PatternObservation(subject: "/batch", throttledNs: 600 * ms)
        let light = PatternObservation(subject: "/batch", throttledNs: 50 * ms)
        let series = repeated(heavy, 6) + [[light]] + repeated(heavy, 5) + repeated(light, 5)
        let (_, ts) = run(series)
        let sustained = ts.filter { $0.kind == .sustainedThrottling }
        XCTAssertEqual(sustained.map(\.phase), [.started, .ended], "the light sample at 7 s must not end it: \(ts)")
        XCTAssertEqual(sustained[0].time, 5, "every sample of the 5-sample window")
        XCTAssertTrue(sustained[0].detail.contains("throttled 600 ms/s"), sustained[0].detail)
        XCTAssertEqual(sustained[1].time, 15)
        XCTAssertEqual(try XCTUnwrap(sustained[1].duration), 12, accuracy: 1e-9)
    }

    func testThrottlingEveryOtherSecondIsNotSustained() {
        let heavy = PatternObservation(subject: "/batch", throttledNs: 600 * ms)
        let light = PatternObservation(subject: "/batch")
        let (_, ts) = run((0..<20).map { [$0 % 2 == 0 ? heavy : light] })
        XCTAssertFalse(kinds(ts).contains(.sustainedThrottling), "\(ts)")
    }

    func testOneLongWaitIsSevereStarvationNotHighFrequency() throws {
        let calm = PatternObservation(subject: "pid 7 (db)", waitsOverThreshold: 1, maxWaitNs: 20 * ms)
        let stall = PatternObservation(subject: "pid 7 (db)", waitsOverThreshold: 1, maxWaitNs: 800 * ms)
        let (_, ts) = run(repeated(calm, 3) + [[stall]] + repeated(calm, 8))
        XCTAssertEqual(kinds(ts), [.severeStarvation], "\(ts)")
        XCTAssertEqual(ts.map(\.phase), [.started, .ended])
        XCTAssertEqual(ts[0].time, 4, "reported on the sample of the stall")
        XCTAssertTrue(ts[0].detail.contains("longest wait 800 ms"), ts[0].detail)
        XCTAssertEqual(ts[1].time, 9, "ends after a whole window without one")
        XCTAssertEqual(try XCTUnwrap(ts[1].duration), 1, accuracy: 1e-9)
    }

    func testManyWaitsWithASevereOneAreSevereNotHighFrequency() {
        let bursty = PatternObservation(subject: "pid 7 (db)", waitsOverThreshold: 8, maxWaitNs: 600 * ms)
        let (_, ts) = run(repeated(bursty, 8))
        XCTAssertEqual(kinds(ts), [.severeStarvation], "a 600 ms wait makes the sample severe: \(ts)")
    }

    func testSevereEventsAloneAreSevereStarvation() {
        let o = PatternObservation(subject: "/web", maxWaitNs: 100 * ms, severeEvents: 2)
        let (_, ts) = run([[o]])
        XCTAssertEqual(ts.map(\.kind), [.severeStarvation])
    }

    func testManyShortWaitsAreHighFrequencyStarvation() {
        let jittery = PatternObservation(subject: "pid 9 (audio)", waitsOverThreshold: 12, maxWaitNs: 40 * ms)
        let (_, ts) = run(repeated(jittery, 8))
        XCTAssertEqual(ts.map(\.kind), [.highFrequencyStarvation], "\(ts)")
        XCTAssertEqual(ts[0].time, 4)
        XCTAssertTrue(ts[0].detail.contains("12 waits/s"), ts[0].detail)
        XCTAssertTrue(ts[0].detail.contains("longest 40 ms"), ts[0].detail)
    }

    func testTheWaitRateIsPerSecondOfTheInterval() {
        // 12 waits per 2 s sample is 6/s (flagged); per 4 s sample, 3/s (not).
        let twoSeconds = PatternObservation(subject: "a", intervalSeconds: 2, waitsOverThreshold: 12, maxWaitNs: 40 * ms)
        var fourSeconds = twoSeconds
        fourSeconds.intervalSeconds = 4
        XCTAssertEqual(run(repeated(twoSeconds, 5)).1.map(\.kind), [.highFrequencyStarvation])
        XCTAssertEqual(run(repeated(twoSeconds, 5)).1.first?.time, 8, "the clock is the sum of the intervals")
        XCTAssertTrue(run(repeated(fourSeconds, 5)).1.isEmpty)
    }

    func testMigrationStormStartsAndEnds() throws {
        let calm = PatternObservation(subject: "pid 3 (worker)")
        let storm = PatternObservation(subject: "pid 3 (worker)", migrationStorms: 1)
        let (d, ts) = run([[calm], [calm], [storm], [calm], [storm]] + repeated(calm, 5))
        XCTAssertEqual(ts.map(\.phase), [.started, .ended], "two storms 2 s apart are one episode: \(ts)")
        XCTAssertEqual(kinds(ts), [.migrationStorm])
        XCTAssertEqual(ts[0].time, 3)
        XCTAssertTrue(ts[0].detail.contains("migration storms: 1, in 1 of the last 3 samples"), ts[0].detail)
        XCTAssertEqual(ts[1].time, 10)
        XCTAssertEqual(try XCTUnwrap(ts[1].duration), 3, accuracy: 1e-9)
        XCTAssertTrue(d.active.isEmpty)
    }

    func testTheSamePreemptorIsANoisyNeighbour() {
        let hog = PatternObservation(subject: "/web", noisyNeighbour: "pid 42 (hog)")
        let (d, ts) = run(repeated(hog, 6))
        XCTAssertEqual(ts.map(\.kind), [.noisyNeighbour])
        XCTAssertEqual(ts[0].time, 4)
        XCTAssertTrue(ts[0].detail.contains("preempted by pid 42 (hog)"), ts[0].detail)
        XCTAssertEqual(d.active.map(\.kind), [.noisyNeighbour])
        XCTAssertEqual(d.active.first?.since, 4)
    }

    func testAlternatingPreemptorsAreNotANoisyNeighbour() {
        let (_, ts) = run((0..<20).map {
            [PatternObservation(subject: "/web", noisyNeighbour: $0 % 2 == 0 ? "pid 42 (hog)" : "pid 43 (cron)")]
        })
        XCTAssertTrue(ts.isEmpty, "\(ts)")
    }

    func testANewNoisyNeighbourReplacesTheOldOne() {
        let a = PatternObservation(subject: "/web", noisyNeighbour: "pid 42 (hog)")
        let b = PatternObservation(subject: "/web", noisyNeighbour: "pid 43 (cron)")
        let (_, ts) = run(repeated(a, 6) + repeated(b, 6))
        XCTAssertEqual(ts.map(\.phase), [.started, .ended, .started], "\(ts)")
        XCTAssertTrue(ts[2].detail.contains("pid 43 (cron)"), ts[2].detail)
        XCTAssertEqual(ts[1].time, 9, "the old one fades to 2 of the last 5 samples")
        XCTAssertEqual(ts[2].time, 10, "the new one is confirmed in 4 of the last 5")
    }

    func testACleanSeriesProducesNothing() {
        let series = (0..<30).map { i in
            [PatternObservation(subject: "/system.slice/a", periods: 10, throttledPeriods: i % 7 == 0 ? 1 : 0, throttledNs: 2 * ms),
             PatternObservation(subject: "/system.slice/b", waitsOverThreshold: 2, maxWaitNs: 30 * ms),
             PatternObservation(subject: "pid 5 (sh)", noisyNeighbour: i % 5 == 0 ? "pid 1 (init)" : nil)]
        }
        let (d, ts) = run(series, finish: true)
        XCTAssertTrue(ts.isEmpty, "\(ts)")
        XCTAssertTrue(d.active.isEmpty)
    }

    func testASubjectThatDisappearsEndsItsPatterns() throws {
        let storm = PatternObservation(subject: "/gone", migrationStorms: 3)
        let stays = PatternObservation(subject: "/stays", noisyNeighbour: "pid 1 (x)")
        let (d, ts) = run([[storm, stays], [storm, stays], [stays], [stays]])
        let gone = ts.filter { $0.subject == "/gone" }
        XCTAssertEqual(gone.map(\.phase), [.started, .ended])
        XCTAssertEqual(gone[1].time, 3, "ended on the first sample without it")
        XCTAssertEqual(gone[1].detail, "subject gone")
        XCTAssertEqual(try XCTUnwrap(gone[1].duration), 2, accuracy: 1e-9)
        XCTAssertEqual(d.active.map(\.subject), ["/stays"])
        // Coming back is a fresh start, with a fresh window.
        XCTAssertEqual(d.observe([storm, stays]).map(\.phase), [.started])
    }

    func testFinishEndsWhatIsStillActive() throws {
        let heavy = PatternObservation(subject: "/batch", throttledNs: 900 * ms)
        let d = PatternDetector()
        var ts: [PatternTransition] = []
        for _ in 0..<7 { ts += d.observe([heavy]) }
        XCTAssertEqual(d.active.map(\.kind), [.sustainedThrottling])
        let ended = d.finish()
        XCTAssertEqual(ended.map(\.phase), [.ended])
        XCTAssertEqual(ended.first?.time, 7)
        XCTAssertEqual(ended.first?.detail, "end of run")
        XCTAssertEqual(try XCTUnwrap(ended.first?.duration), 7, accuracy: 1e-9)
        XCTAssertTrue(d.active.isEmpty)
        XCTAssertTrue(d.finish().isEmpty, "nothing ends twice")
    }

    func testOneQuietSampleDoesNotMakeAPatternFlap() {
        // Every majority pattern at once, with one sample in the middle where none shows.
        let busy = PatternObservation(subject: "/web", periods: 10, throttledPeriods: 10, throttledNs: 80 * ms,
                                      waitsOverThreshold: 20, maxWaitNs: 50 * ms, noisyNeighbour: "pid 42 (hog)")
        let quiet = PatternObservation(subject: "/web", periods: 10)
        let (_, ts) = run(repeated(busy, 6) + [[quiet]] + repeated(busy, 6))
        XCTAssertEqual(ts.map(\.phase), [.started, .started, .started], "\(ts)")
        XCTAssertEqual(kinds(ts), [.periodicThrottling, .noisyNeighbour, .highFrequencyStarvation])
        XCTAssertEqual(ts.map(\.kind), [.periodicThrottling, .noisyNeighbour, .highFrequencyStarvation],
                       "kinds in declaration order")
    }

    func testDuplicateObservationsOfASubjectAreAddedTogether() {
        // Two halves of 3 waits each make 6/s: high frequency only when added.
        let half = PatternObservation(subject: "/web", waitsOverThreshold: 3, maxWaitNs: 10 * ms)
        let (_, ts) = run(repeated(half, 5).map { $0 + $0 })
        XCTAssertEqual(ts.map(\.kind), [.highFrequencyStarvation])
    }

    func testDescribe() {
        let started = PatternTransition(kind: .periodicThrottling, subject: "/quota", phase: .started, time: 12,
                                        period: 0.1, detail: "throttled in 10 of 10 periods")
        XCTAssertEqual(describe(started),
                       "+12.0s pattern started: periodic-throttling /quota (period 0.100 s) — throttled in 10 of 10 periods")
        let ended = PatternTransition(kind: .migrationStorm, subject: "pid 3 (w)", phase: .ended, time: 20.25,
                                      duration: 8, detail: "none in the last 5 samples")
        XCTAssertEqual(describe(ended), "+20.3s pattern ended: migration-storm pid 3 (w) (lasted 8.0 s) — none in the last 5 samples")
    }

    func testSettingsThatCannotHaveHysteresisAreRejected() {
        var s = PatternSettings()
        XCTAssertNoThrow(try s.validate())
        s.exitSamples = s.enterSamples
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue("\($0)".contains("exit samples"), "\($0)") }
        s = PatternSettings()
        s.enterSamples = 6
        XCTAssertThrowsError(try s.validate()) { XCTAssertTrue($0 is StarveError) }
    }
}
