import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import StarveHost
import StarveModel
import SwiftProtobuf

/// The families as an OTLP `ExportMetricsServiceRequest` (opentelemetry-proto, metrics v1):
/// counters are monotonic cumulative sums, gauges gauges, histograms explicit-bucket
/// histograms with cumulative temporality; every point starts at the exporter's start.
public enum OTLPEncoding {
    /// Resource attributes: `host.name` and `service.name` (OpenTelemetry semantic conventions).
    public struct Resource: Sendable, Equatable {
        public var hostName: String
        public var serviceName: String
        public init(hostName: String, serviceName: String) {
            self.hostName = hostName
            self.serviceName = serviceName
        }
    }

    public static let scopeName = "starve-export"

    /// The request's protobuf bytes.
    public static func encode(_ families: [MetricFamily], resource: Resource, startUnixNs: UInt64, timeUnixNs: UInt64) throws -> Data {
        try request(families, resource: resource, startUnixNs: startUnixNs, timeUnixNs: timeUnixNs).serializedData()
    }

    static func request(_ families: [MetricFamily], resource: Resource, startUnixNs: UInt64, timeUnixNs: UInt64) -> Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest {
        func attribute(_ k: String, _ v: String) -> Opentelemetry_Proto_Common_V1_KeyValue {
            var kv = Opentelemetry_Proto_Common_V1_KeyValue()
            kv.key = k
            kv.value.stringValue = v
            return kv
        }
        var scope = Opentelemetry_Proto_Metrics_V1_ScopeMetrics()
        scope.scope.name = scopeName
        for f in families {
            var m = Opentelemetry_Proto_Metrics_V1_Metric()
            m.name = f.name
            m.description_p = f.help
            m.unit = f.unit.map { $0 == "seconds" ? "s" : $0 } ?? ""
            switch f.type {
            case .counter:
                var sum = Opentelemetry_Proto_Metrics_V1_Sum()
                sum.isMonotonic = true
                sum.aggregationTemporality = .cumulative
                sum.dataPoints = f.points.compactMap { numberPoint($0, start: startUnixNs, time: timeUnixNs, attribute: attribute) }
                m.sum = sum
            case .gauge:
                var gauge = Opentelemetry_Proto_Metrics_V1_Gauge()
                gauge.dataPoints = f.points.compactMap { numberPoint($0, start: 0, time: timeUnixNs, attribute: attribute) }
                m.gauge = gauge
            case .histogram:
                var h = Opentelemetry_Proto_Metrics_V1_Histogram()
                h.aggregationTemporality = .cumulative
                h.dataPoints = f.points.compactMap { p in
                    guard case .histogram(let v) = p.value else { return nil }
                    var d = Opentelemetry_Proto_Metrics_V1_HistogramDataPoint()
                    d.attributes = p.labels.map { attribute($0.name, $0.value) }
                    d.startTimeUnixNano = startUnixNs
                    d.timeUnixNano = timeUnixNs
                    d.count = v.count
                    d.sum = v.sum
                    d.explicitBounds = v.upperBounds
                    // OTLP buckets are per bucket (not cumulative), one more than the bounds.
                    var previous: UInt64 = 0
                    d.bucketCounts = v.cumulativeCounts.map { c in defer { previous = c }; return c &- previous } + [v.count &- previous]
                    return d
                }
                m.histogram = h
            }
            scope.metrics.append(m)
        }
        var rm = Opentelemetry_Proto_Metrics_V1_ResourceMetrics()
        rm.resource.attributes = [attribute("host.name", resource.hostName), attribute("service.name", resource.serviceName)]
        rm.scopeMetrics = [scope]
        var req = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest()
        req.resourceMetrics = [rm]
        return req
    }

    private static func numberPoint(_ p: MetricPoint, start: UInt64, time: UInt64,
                                    attribute: (String, String) -> Opentelemetry_Proto_Common_V1_KeyValue) -> Opentelemetry_Proto_Metrics_V1_NumberDataPoint? {
        guard case .number(let v) = p.value else { return nil }
        var d = Opentelemetry_Proto_Metrics_V1_NumberDataPoint()
        d.attributes = p.labels.map { attribute($0.name, $0.value) }
        d.startTimeUnixNano = start
        d.timeUnixNano = time
        d.asDouble = v
        return d
    }
}

/// What to do after one OTLP/HTTP export attempt, per the OTLP specification: 2xx is done; 429,
/// 502, 503 and 504 are retried after the server's Retry-After (seconds or an HTTP date) or an
/// exponential backoff; a failed connection is retried the same way; anything else (400: the
/// data is bad and will stay bad) is dropped, never retried.
public enum OTLPRetryPolicy {
    public enum Decision: Sendable, Equatable {
        case delivered
        case retry(afterSeconds: Double)
        case drop(reason: String)
    }

    public static let retryableStatuses: Set<Int> = [429, 502, 503, 504]
    public static let maxAttempts = 5
    public static let maxBackoffSeconds: Double = 30

    /// `status` nil: no response (connection refused, timed out). `attempt` counts from 1.
    public static func decide(status: Int?, retryAfter: String?, attempt: Int, now: Date = Date()) -> Decision {
        if let status, (200..<300).contains(status) { return .delivered }
        if let status, !retryableStatuses.contains(status) { return .drop(reason: "HTTP \(status), not retryable") }
        guard attempt < maxAttempts else { return .drop(reason: "\(status.map { "HTTP \($0)" } ?? "no response") after \(attempt) attempts") }
        if let after = retryAfter.flatMap({ parseRetryAfter($0, now: now) }) { return .retry(afterSeconds: after) }
        // 1, 2, 4, 8 s ...: the spec leaves the backoff to the client.
        return .retry(afterSeconds: min(maxBackoffSeconds, pow(2, Double(attempt - 1))))
    }

    /// Retry-After: delta-seconds or an HTTP-date (RFC 9110), as seconds from `now` (never negative).
    public static func parseRetryAfter(_ value: String, now: Date) -> Double? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let s = Int(v), s >= 0 { return min(Double(s), 3600) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = f.date(from: v) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), 3600)
    }
}

/// Pushes the families to an OTLP/HTTP receiver (`POST <endpoint>`, `application/x-protobuf`)
/// every `interval` seconds, from a thread of its own so a slow receiver never holds the
/// sampling up; a push still retrying when the next is due makes that one wait (cumulative
/// figures: the next push carries everything).
///
/// `@unchecked Sendable`: `pending` and `running` are read and written under `lock`.
public final class OTLPPushSink: MetricsSink, @unchecked Sendable {
    public let endpoint: URL
    public let interval: Double
    public let resource: OTLPEncoding.Resource
    public let timeout: Double
    private let startUnixNs: UInt64
    private let lock = NSLock()
    private var pending: (families: [MetricFamily], unixNs: UInt64)?
    private var lastPushNs: UInt64 = 0
    private var running = false
    private let session: URLSession

    /// `endpoint`: the full URL (OTLP/HTTP's default path is /v1/metrics).
    public init(endpoint: String, interval: Double, resource: OTLPEncoding.Resource, timeout: Double = 10) throws {
        guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw StarveError("--otlp-endpoint \(endpoint): not an http(s) URL (e.g. http://collector:4318/v1/metrics)")
        }
        self.endpoint = url
        self.interval = interval
        self.resource = resource
        self.timeout = timeout
        startUnixNs = UInt64(Date().timeIntervalSince1970 * 1e9)
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        session = URLSession(configuration: config)
    }

    public func publish(_ families: [MetricFamily], unixNs: UInt64) {
        let start: Bool = lock.withLock {
            guard lastPushNs == 0 || unixNs &- lastPushNs >= UInt64(interval * 1e9) * 99 / 100 else { return false }
            pending = (families, unixNs)
            lastPushNs = unixNs
            if running { return false }
            running = true
            return true
        }
        guard start else { return }
        let t = Thread { [self] in drain() }
        t.name = "otlp-push"
        t.start()
    }

    private func drain() {
        while true {
            let next: (families: [MetricFamily], unixNs: UInt64)? = lock.withLock {
                let p = pending
                pending = nil
                if p == nil { running = false }
                return p
            }
            guard let next else { return }
            push(next.families, unixNs: next.unixNs)
        }
    }

    /// One push with its retries; says on stderr what was dropped.
    private func push(_ families: [MetricFamily], unixNs: UInt64) {
        let body: Data
        do {
            body = try OTLPEncoding.encode(families, resource: resource, startUnixNs: startUnixNs, timeUnixNs: unixNs)
        } catch {
            warn("OTLP encoding failed: \(error)")
            return
        }
        var attempt = 1
        while true {
            let (status, retryAfter, failure) = post(body)
            switch OTLPRetryPolicy.decide(status: status, retryAfter: retryAfter, attempt: attempt) {
            case .delivered: return
            case .drop(let reason):
                warn("OTLP push to \(endpoint) dropped: \(reason)\(failure.map { " (\($0))" } ?? "")")
                return
            case .retry(let seconds):
                attempt += 1
                Thread.sleep(forTimeInterval: seconds)
            }
        }
    }

    private func post(_ body: Data) -> (Int?, String?, String?) {
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        request.setValue("application/x-protobuf", forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let done = DispatchSemaphore(value: 0)
        let result = ResultBox()
        session.dataTask(with: request) { _, response, error in
            let http = response as? HTTPURLResponse
            result.set(http?.statusCode, http?.value(forHTTPHeaderField: "Retry-After"), error.map { "\($0.localizedDescription)" })
            done.signal()
        }.resume()
        done.wait()
        return result.get()
    }

    private func warn(_ text: String) { FileHandle.standardError.write(Data("starve-export: \(text)\n".utf8)) }
}

/// One HTTP answer handed from URLSession's thread to the pusher's. `@unchecked Sendable`:
/// under `lock`.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int?, String?, String?) = (nil, nil, nil)
    func set(_ s: Int?, _ r: String?, _ e: String?) { lock.withLock { value = (s, r, e) } }
    func get() -> (Int?, String?, String?) { lock.withLock { value } }
}
