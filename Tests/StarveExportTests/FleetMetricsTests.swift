@testable import StarveCore
@testable import StarveExport
import XCTest

/// Cumulative workload figures, folding into `other` and expiry, on fixed ledgers.
final class FleetMetricsTests: XCTestCase {
    private func totals(_ name: String, waitNs: UInt64, runtimeNs: UInt64 = 0, seenNs: UInt64 = 1) -> WorkloadTotals {
        var t = WorkloadTotals(identity: WorkloadIdentity.classify(path: "/system.slice/\(name).service"))
        t.wakeupWaitNs = waitNs
        t.runtimeNs = runtimeNs
        t.threads = 1
        t.lastSeenNs = seenNs
        return t
    }

    private func ledger(_ ts: [WorkloadTotals]) -> [WorkloadKey: WorkloadTotals] {
        Dictionary(uniqueKeysWithValues: ts.map { ($0.identity.key, $0) })
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
        var f = m.families(ledger: ledger([totals("a", waitNs: 3, runtimeNs: 10), totals("b", waitNs: 2, runtimeNs: 20), totals("c", waitNs: 1, runtimeNs: 30)]),
                           collector: up, exporter: .init())
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "a.service"), 10e-9)
        XCTAssertNil(value(f, "starve_workload_cpu_seconds", workload: "c.service"))
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "other"), 30e-9)
        // c now waits most: it stays in other (a series never moves).
        f = m.families(ledger: ledger([totals("a", waitNs: 3, runtimeNs: 10), totals("b", waitNs: 2, runtimeNs: 20), totals("c", waitNs: 100, runtimeNs: 40)]),
                       collector: up, exporter: .init())
        XCTAssertNil(value(f, "starve_workload_cpu_seconds", workload: "c.service"))
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "other"), 40e-9)
        // c expires (gone from the ledger): other keeps what it did; b expires: d takes its place.
        f = m.families(ledger: ledger([totals("a", waitNs: 3, runtimeNs: 10), totals("d", waitNs: 1, runtimeNs: 5)]), collector: up, exporter: .init())
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "other"), 40e-9)
        XCTAssertEqual(value(f, "starve_workload_cpu_seconds", workload: "d.service"), 5e-9)
        XCTAssertNil(value(f, "starve_workload_cpu_seconds", workload: "b.service"))
        XCTAssertEqual(value(f, "starve_workload_threads", workload: "other"), 0, "an expired workload has no threads")
        XCTAssertEqual(f.first { $0.name == "starve_export_workloads" }?.points.count, 2)
    }

    func testPreemptorPairsAreBoundedAndNameOnlyExportedWorkloads() {
        var m = FleetMetrics(maxWorkloads: 2, maxPreemptors: 1)
        var victim = totals("victim", waitNs: 10)
        let hog = totals("hog", waitNs: 1)
        victim.preemptors[PreemptorKey(kind: "service", name: "hog.service")] = PreemptionCounts(count: 4, waitNs: 2_000_000_000)
        victim.preemptors[.idle] = PreemptionCounts(count: 1, waitNs: 1_000)
        victim.preemptors[PreemptorKey(kind: "service", name: "folded.service")] = PreemptionCounts(count: 9, waitNs: 9_000_000_000)
        let f = m.families(ledger: ledger([victim, hog, totals("folded", waitNs: 0)]), collector: CollectorReading(up: true), exporter: .init())
        let pairs = f.first { $0.name == "starve_workload_preemptor_wait_seconds" }!.points
        XCTAssertEqual(pairs.count, 1, "one preemptor per workload; the folded workload is not named")
        XCTAssertEqual(pairs[0].labels, [MetricLabel("workload_kind", "service"), MetricLabel("workload", "victim.service"),
                                         MetricLabel("preemptor_kind", "service"), MetricLabel("preemptor", "hog.service")])
        XCTAssertEqual(pairs[0].value, .number(2))
    }

    func testDownCollectorServesUpZeroAndNoCollectorCounters() {
        var m = FleetMetrics()
        let f = m.families(ledger: [:], collector: CollectorReading(up: false), exporter: .init())
        XCTAssertEqual(f.first { $0.name == "starve_up" }?.points, [MetricPoint([], 0)])
        XCTAssertNil(f.first { $0.name == "starve_collector_detections" })
        var s = CollectorStats()
        s.starvations = 7
        s.eventsRateLimited = 2
        let g = m.families(ledger: [:], collector: CollectorReading(up: true, stats: s), exporter: .init())
        XCTAssertEqual(g.first { $0.name == "starve_collector_detections" }?.points.first, MetricPoint([MetricLabel("kind", "starvation")], 7))
        XCTAssertTrue(g.first { $0.name == "starve_collector_dropped" }!.points.contains(MetricPoint([MetricLabel("reason", "rate_limited")], 2)))
    }

    func testLedgerSumsRowsAndExpires() {
        var ledger = WorkloadLedger(expiryNs: 10)
        let identity = WorkloadIdentity.classify(path: "/system.slice/x.service")
        var figures = CgroupInterval(cgroupID: 2, path: "x", tasks: 2, intervalNs: 1, runtimeNs: 5, waitCount: 3, waitNs: 9,
                                     waitHistogram: LogHistogram(counts: [0, 3]), waitMaxNs: 3, waitsOverThreshold: 0,
                                     preemptedSame: 1, preemptedOther: 2, preemptedSystem: 0, throttledWaitNs: 1,
                                     throttle: ThrottleCounters(periods: 10, throttledPeriods: 4, throttledNs: 7), topPreemptors: [],
                                     verdict: .victim, evidence: "")
        figures.wakeupWaitNs = 6
        figures.preemptWaitNs = 2
        figures.topPreemptors = [Preemptor(cgroup: 7, tgid: nil, label: "hog", count: 2, waitNs: 8)]
        let row = WorkloadInterval(identity: identity, cgroups: 1, processes: 1, figures: figures)
        let key = PreemptorKey(kind: "service", name: "hog.service")
        ledger.record([row], atNs: 100) { _, _ in key }
        ledger.record([row], atNs: 105) { _, _ in key }
        let t = ledger.totals[identity.key]!
        XCTAssertEqual(t.runtimeNs, 10)
        XCTAssertEqual(t.waitNs, 18)
        XCTAssertEqual(t.waitHistogram[1], 6)
        XCTAssertEqual(t.preemptedOther, 4)
        XCTAssertEqual(t.throttledPeriods, 8)
        XCTAssertEqual(t.verdicts[.victim], 2)
        XCTAssertEqual(t.preemptors[key], PreemptionCounts(count: 4, waitNs: 16))
        XCTAssertEqual(ledger.record([], atNs: 114) { _, _ in key }.count, 0, "seen 9 ns ago: kept")
        XCTAssertEqual(ledger.record([], atNs: 116) { _, _ in key }.map(\.identity), [identity], "unseen for 11 ns: forgotten")
        XCTAssertTrue(ledger.totals.isEmpty)
    }
}
