import Foundation

/// Where a sample's metrics go: the HTTP endpoint's store, the textfile, the OTLP push.
public protocol MetricsSink: AnyObject {
    /// One sample's families, taken at `unixNs` (wall clock).
    func publish(_ families: [MetricFamily], unixNs: UInt64)
}

/// The last sample's families, for scrapes: published by the sampling thread, read by the
/// HTTP server's threads. Each format is encoded once per sample, at its first scrape.
///
/// `@unchecked Sendable`: every field is read and written under `lock`.
public final class MetricsStore: MetricsSink, @unchecked Sendable {
    private let lock = NSLock()
    private var families: [MetricFamily] = []
    private var encoded: [ExpositionFormat: String] = [:]
    private var published = false

    public init() {}

    public func publish(_ families: [MetricFamily], unixNs: UInt64) {
        lock.withLock {
            self.families = families
            encoded = [:]
            published = true
        }
    }

    /// The exposition of the last sample in `format`; nil before the first sample.
    public func body(_ format: ExpositionFormat) -> String? {
        lock.withLock {
            guard published else { return nil }
            if let e = encoded[format] { return e }
            let e = PrometheusText.encode(families, format: format)
            encoded[format] = e
            return e
        }
    }

    /// The last sample's families.
    public var current: [MetricFamily] { lock.withLock { families } }
}

extension ExpositionFormat: Hashable {}
