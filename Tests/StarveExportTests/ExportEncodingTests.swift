import Foundation
import StarveModel
@testable import StarveExport
import XCTest

/// The encoders on fixed inputs: the text format and OpenMetrics line by line, histograms from
/// the kernel's log2 slots, content negotiation, OTLP round trips, the listen address.
final class ExportEncodingTests: XCTestCase {
    private let families = [
        MetricFamily(name: "demo_cpu_seconds", type: .counter, unit: "seconds", help: "CPU \"time\".\nSecond line.",
                     points: [MetricPoint([MetricLabel("workload", "a\"b\\c\nd")], 1.5)]),
        MetricFamily(name: "demo_up", type: .gauge, help: "Up.", points: [MetricPoint([], 1)]),
        MetricFamily(name: "demo_wait_seconds", type: .histogram, unit: "seconds", help: "Waits.",
                     points: [MetricPoint([MetricLabel("w", "x")], histogram: HistogramValue(upperBounds: [0.001, 0.5], cumulativeCounts: [2, 5], count: 7, sum: 3.25))]),
    ]

    func testPrometheusTextFormat() {
        XCTAssertEqual(PrometheusText.encode(families, format: .prometheusText), """
            # HELP demo_cpu_seconds_total CPU "time".\\nSecond line.
            # TYPE demo_cpu_seconds_total counter
            demo_cpu_seconds_total{workload="a\\"b\\\\c\\nd"} 1.5
            # HELP demo_up Up.
            # TYPE demo_up gauge
            demo_up 1
            # HELP demo_wait_seconds Waits.
            # TYPE demo_wait_seconds histogram
            demo_wait_seconds_bucket{w="x",le="0.001"} 2
            demo_wait_seconds_bucket{w="x",le="0.5"} 5
            demo_wait_seconds_bucket{w="x",le="+Inf"} 7
            demo_wait_seconds_sum{w="x"} 3.25
            demo_wait_seconds_count{w="x"} 7

            """)
    }

    func testOpenMetricsNamesCounterFamiliesWithoutTotalAndEnds() {
        let text = PrometheusText.encode(families, format: .openMetrics)
        XCTAssertTrue(text.hasPrefix("# HELP demo_cpu_seconds CPU \\\"time\\\".\\nSecond line.\n# TYPE demo_cpu_seconds counter\n# UNIT demo_cpu_seconds seconds\ndemo_cpu_seconds_total{"), text)
        XCTAssertTrue(text.contains("# UNIT demo_wait_seconds seconds\n"))
        XCTAssertFalse(text.contains("# UNIT demo_up"))
        XCTAssertTrue(text.hasSuffix("demo_wait_seconds_count{w=\"x\"} 7\n# EOF\n"), text)
    }

    func testNegotiationPrefersOpenMetricsWhenAsked() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        XCTAssertEqual(ExpositionFormat.negotiate(accept: prometheus), .openMetrics)
        XCTAssertEqual(ExpositionFormat.negotiate(accept: "text/plain"), .prometheusText)
        XCTAssertEqual(ExpositionFormat.negotiate(accept: nil), .prometheusText)
        XCTAssertEqual(ExpositionFormat.negotiate(accept: "application/openmetrics-text; q=0, text/plain"), .prometheusText)
    }

    func testHistogramFromLog2SlotsIsExactAtEachBound() {
        var slots = [UInt64](repeating: 0, count: LogHistogram.slotCount)
        slots[3] = 4      // [8, 16) ns
        slots[10] = 2     // [1024, 2048) ns
        slots[11] = 1     // [2048, 4096) ns
        slots[35] = 1     // >= 2^35 ns: only in +Inf
        let h = HistogramValue.fromLog2Slots(slots, sumNs: 40_000_000_000, boundExponents: [10, 12, 34, 36])
        XCTAssertEqual(h.upperBounds, [1.024e-6, 4.096e-6, Double(UInt64(1) << 34) / 1e9], "36 is past the last slot: left out")
        XCTAssertEqual(h.cumulativeCounts, [4, 7, 7])
        XCTAssertEqual(h.count, 8)
        XCTAssertEqual(h.sum, 40)
    }

    func testFormatValue() {
        XCTAssertEqual(PrometheusText.formatValue(3), "3")
        XCTAssertEqual(PrometheusText.formatValue(0.25), "0.25")
        XCTAssertEqual(PrometheusText.formatValue(.infinity), "+Inf")
        XCTAssertEqual(Double(PrometheusText.formatValue(1.024e-6)), 1.024e-6)
    }

    func testOTLPRequestRoundTrips() throws {
        let data = try OTLPEncoding.encode(families, resource: .init(hostName: "h1", serviceName: "starve"), startUnixNs: 100, timeUnixNs: 200)
        let req = try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest(serializedBytes: data)
        let rm = try XCTUnwrap(req.resourceMetrics.first)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: rm.resource.attributes.map { ($0.key, $0.value.stringValue) }),
                       ["host.name": "h1", "service.name": "starve"])
        let metrics = rm.scopeMetrics[0].metrics
        XCTAssertEqual(metrics.map(\.name), ["demo_cpu_seconds", "demo_up", "demo_wait_seconds"])
        XCTAssertTrue(metrics[0].sum.isMonotonic)
        XCTAssertEqual(metrics[0].sum.aggregationTemporality, .cumulative)
        XCTAssertEqual(metrics[0].unit, "s")
        XCTAssertEqual(metrics[0].sum.dataPoints[0].asDouble, 1.5)
        XCTAssertEqual(metrics[0].sum.dataPoints[0].startTimeUnixNano, 100)
        XCTAssertEqual(metrics[1].gauge.dataPoints[0].asDouble, 1)
        let h = metrics[2].histogram.dataPoints[0]
        XCTAssertEqual(h.explicitBounds, [0.001, 0.5])
        XCTAssertEqual(h.bucketCounts, [2, 3, 2], "per bucket, not cumulative; the last is above every bound")
        XCTAssertEqual(h.count, 7)
        XCTAssertEqual(h.sum, 3.25)
    }

    func testRetryPolicyFollowsTheOTLPSpec() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        XCTAssertEqual(OTLPRetryPolicy.decide(status: 200, retryAfter: nil, attempt: 1), .delivered)
        XCTAssertEqual(OTLPRetryPolicy.decide(status: 400, retryAfter: "1", attempt: 1), .drop(reason: "HTTP 400, not retryable"))
        XCTAssertEqual(OTLPRetryPolicy.decide(status: 401, retryAfter: nil, attempt: 1), .drop(reason: "HTTP 401, not retryable"))
        for s in [429, 502, 503, 504] {
            XCTAssertEqual(OTLPRetryPolicy.decide(status: s, retryAfter: "3", attempt: 1), .retry(afterSeconds: 3), "\(s)")
        }
        XCTAssertEqual(OTLPRetryPolicy.decide(status: 503, retryAfter: nil, attempt: 3), .retry(afterSeconds: 4))
        XCTAssertEqual(OTLPRetryPolicy.decide(status: nil, retryAfter: nil, attempt: 1), .retry(afterSeconds: 1))
        XCTAssertEqual(OTLPRetryPolicy.decide(status: 503, retryAfter: "1", attempt: OTLPRetryPolicy.maxAttempts),
                       .drop(reason: "HTTP 503 after \(OTLPRetryPolicy.maxAttempts) attempts"))
        // An HTTP date 7 s after now.
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        XCTAssertEqual(OTLPRetryPolicy.parseRetryAfter(f.string(from: now.addingTimeInterval(7)), now: now), 7)
        XCTAssertNil(OTLPRetryPolicy.parseRetryAfter("soon", now: now))
    }

    func testListenAddress() throws {
        XCTAssertEqual(try ListenAddress.parse("127.0.0.1:10111"), ListenAddress(host: "127.0.0.1", port: 10111))
        XCTAssertEqual(try ListenAddress.parse(":9"), ListenAddress(host: "0.0.0.0", port: 9))
        XCTAssertEqual(try ListenAddress.parse("[::1]:80"), ListenAddress(host: "::1", port: 80))
        XCTAssertEqual(ListenAddress(host: "::1", port: 80).description, "[::1]:80")
        for bad in ["localhost", "host:-1", "host:70000", "::1:80", "[::1]80"] {
            XCTAssertThrowsError(try ListenAddress.parse(bad), bad)
        }
    }

    func testTextfileIsReplacedAtomically() throws {
        let dir = NSTemporaryDirectory() + "starve-textfile-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try TextfileSink(path: dir + "/x.txt"))
        XCTAssertThrowsError(try TextfileSink(path: dir + "/missing/x.prom"))
        let sink = try TextfileSink(path: dir + "/starve.prom")
        sink.publish(families, unixNs: 0)
        XCTAssertEqual(try String(contentsOfFile: dir + "/starve.prom", encoding: .utf8), PrometheusText.encode(families, format: .prometheusText))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["starve.prom"], "no temporary file left")
    }
}
