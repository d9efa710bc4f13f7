@testable import StarveExport
import StarveModel
import XCTest

/// Cumulative workload figures, folding into `other` and the collector's families, on fixed
/// running totals.
final class FleetMetricsTests: XCTestCase {
    private func key(_ name: String) -> WorkloadKey { WorkloadKey(kind: .service, name: name + ".service") }

    private func totals(waitNs: UInt64, runtimeNs: UInt64 = 0) -> RunningTotals {
        var t = RunningTotals()
        t.waitNs = waitNs
        t.runtimeNs = runtimeNs
        return t
    }

    private func value(_ families: [MetricFamily], _ name: String, workload: String) -> Double? {
        families.first { $0.name == name }?.points.first { $0.labels.contains(MetricLabel("workload", workload)) }.flatMap {
            if case .number(let v) = $0.value { return v }
            return nil
        }
    }

    func testFoldingIsStickyAndOtherNeverGoesBackwards() {
        var m = FleetMetrics(maxWorkloads: 2)
        let up = CollectorReading(up: true)
        // Three arrive together: the two that waited most get series.
        var f = m.families(totals: [key("a"): totals(waitNs: 3, runtimeNs: 10), key("b"): totals(waitNs: 2, runtimeNs: 20), key("c"): totals(waitNs: 1, runtimeNs: 30)],
                           threads: [key("a"): 1, key("c"): 4], collector: up, exporter: .init())
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "a.service"), 10e-9)
        XCTAssertNil(value(f, "starve_workload_cpu_seconds", workload: "c.service"))
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "other"), 30e-9)
        XCTAssertEqual(value(f, "starve_workload_threads", workload: "other"), 4)
        // c now waits most: it stays in other (a series never moves).
        f = m.families(totals: [key("a"): totals(waitNs: 3, runtimeNs: 10), key("b"): totals(waitNs: 2, runtimeNs: 20), key("c"): totals(waitNs: 100, runtimeNs: 40)],
                       threads: [:], collector: up, exporter: .init())
        XCTAssertNil(value(f, "starve_workload_cpu_seconds", workload: "c.service"))
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "other"), 40e-9)
        // c is forgotten: other keeps what it did; b is forgotten: d takes its place.
        f = m.families(totals: [key("a"): totals(waitNs: 3, runtimeNs: 10), key("d"): totals(waitNs: 1, runtimeNs: 5)],
                       threads: [:], collector: up, exporter: .init())
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "other"), 40e-9)
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "d.service"), 5e-9)
        XCTAssertNil(value(f, "starve_workload_cpu_seconds", workload: "b.service"))
        XCTAssertEqual(value(f, "starve_workload_threads", workload: "other"), 0)
        XCTAssertEqual(f.first { $0.name == "starve_export_workloads" }?.points.count, 2)
    }

    func testWaitFamiliesSplitByCauseAndHistogramSumIsTheKernelTotal() {
        var m = FleetMetrics()
        var t = totals(waitNs: 3_000_000_000)
        t.preemptWaitNs = 1_000_000_000
        t.throttledWaitNs = 500_000_000
        t.waitCount = 3
        t.waitHistogram.counts[30] = 3  // [1.07, 2.15) s
        let f = m.families(totals: [key("a"): t], threads: [:], collector: CollectorReading(up: true), exporter: .init())
        let byCause = f.first { $0.name == "starve_workload_run_queue_wait_by_cause_seconds" }!.points
        XCTAssertEqual(byCause.map(\.value), [.number(1.5), .number(1), .number(0.5)], "wakeup, preemption, throttled")
        guard case .histogram(let h) = f.first(where: { $0.name == "starve_workload_run_queue_wait_seconds" })!.points[0].value else { return XCTFail() }
        XCTAssertEqual(h.sum, 3)
        XCTAssertEqual(h.count, 3)
        XCTAssertEqual(h.cumulativeCounts[h.upperBounds.firstIndex(of: Double(1 << 30) / 1e9)!], 0, "values at or above 2^30 ns are above le=2^30 ns")
        XCTAssertEqual(h.cumulativeCounts[h.upperBounds.firstIndex(of: Double(1 << 32) / 1e9)!], 3)
    }

    func testPreemptorPairsAreBoundedAndNameOnlyExportedWorkloads() {
        var m = FleetMetrics(maxWorkloads: 2, maxPreemptors: 1)
        var victim = totals(waitNs: 10)
        victim.preemptors[PreemptorKey(kind: "service", name: "hog.service")] = PreemptionCounts(count: 4, waitNs: 2_000_000_000)
        victim.preemptors[.idle] = PreemptionCounts(count: 1, waitNs: 1_000)
        victim.preemptors[PreemptorKey(kind: "service", name: "folded.service")] = PreemptionCounts(count: 9, waitNs: 9_000_000_000)
        let f = m.families(totals: [key("victim"): victim, key("hog"): totals(waitNs: 1), key("folded"): totals(waitNs: 0)],
                           threads: [:], collector: CollectorReading(up: true), exporter: .init())
        let pairs = f.first { $0.name == "starve_workload_preemptor_wait_seconds" }!.points
        XCTAssertEqual(pairs.count, 1, "one preemptor per workload; the folded workload is not named")
        XCTAssertEqual(pairs[0].labels, [MetricLabel("workload_kind", "service"), MetricLabel("workload", "victim.service"),
                                         MetricLabel("preemptor_kind", "service"), MetricLabel("preemptor", "hog.service")])
        XCTAssertEqual(pairs[0].value, .number(2))
    }

    func testDownCollectorServesUpZeroAndNoCollectorCounters() {
        var m = FleetMetrics()
        let f = m.families(totals: [:], threads: [:], collector: CollectorReading(up: false), exporter: .init())
        XCTAssertEqual(f.first { $0.name == "starve_up" }?.points, [MetricPoint([], 0)])
        XCTAssertNil(f.first { $0.name == "starve_collector_detections" })
        var s = CollectorStats()
        s.starvations = 7
        s.eventsRateLimited = 2
        let g = m.families(totals: [:], threads: [:], collector: CollectorReading(up: true, stats: s), exporter: .init())
        XCTAssertEqual(g.first { $0.name == "starve_collector_detections" }?.points.first, MetricPoint([MetricLabel("kind", "starvation")], 7))
        XCTAssertTrue(g.first { $0.name == "starve_collector_dropped" }!.points.contains(MetricPoint([MetricLabel("reason", "rate_limited")], 2)))
    }

    func testStarvationsBySeverityAreExclusiveAndTheirHistogramIsExact() {
        var m = FleetMetrics()
        var s = CollectorStats()
        s.starvations = 10
        s.starvationsSevere = 4  // 4 at or over severe, of which 1 critical
        s.starvationsCritical = 1
        s.starvationNs = 3_000_000_000
        s.starvationHistogram[3] = 6  // [2^23, 2^24) ns
        s.starvationHistogram[9] = 3  // [2^29, 2^30)
        s.starvationHistogram[15] = 1 // 2^35 ns and over
        let f = m.families(totals: [:], threads: [:], collector: CollectorReading(up: true, stats: s), exporter: .init())
        XCTAssertEqual(f.first { $0.name == "starve_starvation_events" }?.points,
                       [MetricPoint([MetricLabel("severity", "starved")], 6), MetricPoint([MetricLabel("severity", "severe")], 3),
                        MetricPoint([MetricLabel("severity", "critical")], 1)])
        guard case .histogram(let h)? = f.first(where: { $0.name == "starve_starvation_duration_seconds" })?.points.first?.value else {
            return XCTFail("no starvation histogram")
        }
        XCTAssertEqual(h.count, 10)
        XCTAssertEqual(h.sum, 3)
        XCTAssertEqual(h.upperBounds.first, Double(1 << 21) / 1e9)
        XCTAssertEqual(h.upperBounds.last, Double(UInt64(1) << 35) / 1e9)
        // le 2^24: the six of slot 3; le 2^30: nine; le 2^35: the last one is above.
        XCTAssertEqual(h.cumulativeCounts[h.upperBounds.firstIndex(of: Double(1 << 24) / 1e9)!], 6)
        XCTAssertEqual(h.cumulativeCounts[h.upperBounds.firstIndex(of: Double(1 << 30) / 1e9)!], 9)
        XCTAssertEqual(h.cumulativeCounts.last, 9)
    }

    func testPatternsStartedAndTheirDurationsAreCountedByKind() {
        var t = SeedTally()
        t.add([PatternTransition(kind: .sustainedThrottling, subject: "/a", phase: .started, time: 5, detail: "")], active: [.sustainedThrottling])
        t.add([PatternTransition(kind: .sustainedThrottling, subject: "/a", phase: .ended, time: 50, duration: 42, detail: ""),
               PatternTransition(kind: .noisyNeighbour, subject: "/b", phase: .started, time: 50, detail: "")], active: [.noisyNeighbour])
        t.add(noisyNeighbours: 2)
        var m = FleetMetrics()
        let f = m.families(totals: [:], threads: [:], collector: CollectorReading(up: false), exporter: .init(), seed: t)
        let started = f.first { $0.name == "starve_patterns_started" }!.points
        XCTAssertTrue(started.contains(MetricPoint([MetricLabel("pattern", "sustained-throttling")], 1)))
        XCTAssertTrue(started.contains(MetricPoint([MetricLabel("pattern", "noisy-neighbour")], 1)))
        XCTAssertTrue(started.contains(MetricPoint([MetricLabel("pattern", "migration-storm")], 0)))
        XCTAssertTrue(f.first { $0.name == "starve_patterns_active" }!.points.contains(MetricPoint([MetricLabel("pattern", "sustained-throttling")], 0)))
        let d = f.first { $0.name == "starve_pattern_duration_seconds" }!.points.first { $0.labels == [MetricLabel("pattern", "sustained-throttling")] }!
        guard case .histogram(let h) = d.value else { return XCTFail("not a histogram") }
        XCTAssertEqual(h.count, 1)
        XCTAssertEqual(h.sum, 42)
        XCTAssertEqual(h.cumulativeCounts, [0, 0, 0, 1, 1, 1, 1, 1, 1], "42 s: in le 60 and above")
        XCTAssertEqual(f.first { $0.name == "starve_noisy_neighbour_detections" }?.points, [MetricPoint([], 2)])
    }
}
