import Foundation
@testable import StarveExport
import StarveModel
import XCTest

/// What building and encoding one sample costs at 10,000 workloads (every cgroup its own
/// workload, no folding): printed, not asserted (timings are the machine's, not the code's).
final class ExportCostTests: XCTestCase {
    func testTenThousandWorkloadsCost() {
        var totals: [WorkloadKey: RunningTotals] = [:]
        for i in 0..<10_000 {
            var t = RunningTotals()
            t.runtimeNs = UInt64(i) * 1_000_000
            t.waitNs = UInt64(i) * 10_000
            t.waitCount = UInt64(i)
            for s in 10..<30 { t.waitHistogram.counts[s] = UInt64(i % 7 + s) }
            t.preemptors[PreemptorKey(kind: "cgroup", name: "/pod/\((i + 1) % 10_000)")] = PreemptionCounts(count: 3, waitNs: 5_000)
            totals[WorkloadKey(kind: .cgroup, name: "/pod/\(i)")] = t
        }
        for maxWorkloads in [FleetMetrics.defaultMaxWorkloads, 10_000] { measure(totals, maxWorkloads: maxWorkloads) }
    }

    private func measure(_ totals: [WorkloadKey: RunningTotals], maxWorkloads: Int) {
        var m = FleetMetrics(maxWorkloads: maxWorkloads)
        let clock = ContinuousClock()
        var families: [MetricFamily] = []
        let build = clock.measure {
            families = m.families(totals: totals, threads: [:], collector: CollectorReading(up: true, stats: CollectorStats()), exporter: .init())
        }
        var text = "", om = ""
        let encode = clock.measure { text = PrometheusText.encode(families, format: .prometheusText) }
        let encodeOM = clock.measure { om = PrometheusText.encode(families, format: .openMetrics) }
        var otlp = Data()
        let encodeOTLP = clock.measure {
            otlp = (try? OTLPEncoding.encode(families, resource: .init(hostName: "h", serviceName: "s"), startUnixNs: 1, timeUnixNs: 2)) ?? Data()
        }
        let series = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
        // Twice: the first sample assigns series, later ones only look them up.
        let again = clock.measure { families = m.families(totals: totals, threads: [:], collector: CollectorReading(up: true, stats: CollectorStats()), exporter: .init()) }
        print("export cost at 10,000 workloads, --max-workloads \(maxWorkloads): \(series) series; families \(build) (next sample \(again)), text \(encode) (\(text.utf8.count / 1024) KiB), "
              + "OpenMetrics \(encodeOM) (\(om.utf8.count / 1024) KiB), OTLP \(encodeOTLP) (\(otlp.count / 1024) KiB)")
        XCTAssertEqual(families.first { $0.name == "starve_workload_cpu_seconds" }?.points.count, min(10_000, maxWorkloads + 1))
    }
}
