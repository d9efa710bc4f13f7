/// The metric model every encoder reads: Prometheus's data model (families of counters, gauges
/// and histograms, points told apart by labels), with OpenMetrics's unit. Built once per sample
/// by ``FleetMetrics``; encoded to the Prometheus text format, OpenMetrics, OTLP or a textfile.

/// A label: name and value.
public struct MetricLabel: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// What kind of metric a family is.
public enum MetricType: String, Sendable, Equatable {
    /// Cumulative, never goes backwards (sample name ends in `_total`).
    case counter
    case gauge
    /// Cumulative buckets, `_bucket{le=…}`, `_sum` and `_count`.
    case histogram
}

/// A cumulative histogram point: counts of values at most each bound, bounds ascending and
/// finite (the `+Inf` bucket is `count`).
public struct HistogramValue: Sendable, Equatable {
    public var upperBounds: [Double]
    public var cumulativeCounts: [UInt64]
    public var count: UInt64
    public var sum: Double

    public init(upperBounds: [Double], cumulativeCounts: [UInt64], count: UInt64, sum: Double) {
        precondition(upperBounds.count == cumulativeCounts.count, "one cumulative count per bound")
        self.upperBounds = upperBounds
        self.cumulativeCounts = cumulativeCounts
        self.count = count
        self.sum = sum
    }
}

/// One point of a family: its labels and its value.
public struct MetricPoint: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case number(Double)
        case histogram(HistogramValue)
    }

    public var labels: [MetricLabel]
    public var value: Value

    public init(_ labels: [MetricLabel], _ value: Double) {
        self.labels = labels
        self.value = .number(value)
    }

    public init(_ labels: [MetricLabel], histogram: HistogramValue) {
        self.labels = labels
        self.value = .histogram(histogram)
    }
}

/// A metric family: one concept, one name. `name` is the family's name without the counter's
/// `_total` (OpenMetrics's rule); a base unit (`seconds`) ends the name when the family has one.
public struct MetricFamily: Sendable, Equatable {
    public var name: String
    public var type: MetricType
    public var unit: String?
    public var help: String
    public var points: [MetricPoint]

    public init(name: String, type: MetricType, unit: String? = nil, help: String, points: [MetricPoint] = []) {
        precondition(unit.map { name.hasSuffix("_" + $0) } ?? true, "a family's name ends with its unit")
        self.name = name
        self.type = type
        self.unit = unit
        self.help = help
        self.points = points
    }

    /// The name its samples carry: counters add `_total`.
    public var sampleName: String { type == .counter ? name + "_total" : name }
}

extension HistogramValue {
    /// A histogram of values in ns from the kernel's log2 slots (``LogHistogram``: slot `i`
    /// holds values in [2^i, 2^(i+1)) ns, the last slot everything above), with a bucket bound
    /// at 2^k ns for each k in `boundExponents` (ascending, each in 1...slots-1): the count at
    /// each bound is exact, every slot lying wholly at or below it. `sumNs`: the sum of the
    /// values, kept apart by the kernel (not estimated from the slots).
    public static func fromLog2Slots(_ slots: [UInt64], sumNs: UInt64, boundExponents: [Int]) -> HistogramValue {
        var prefix = [UInt64](repeating: 0, count: slots.count + 1)
        for (i, c) in slots.enumerated() { prefix[i + 1] = prefix[i] &+ c }
        // Bound 2^k ns: slots 0..<k hold values below 2^k.
        let bounds = boundExponents.filter { $0 >= 1 && $0 < slots.count }
        return HistogramValue(upperBounds: bounds.map { Double(UInt64(1) << UInt64($0)) / 1e9 },
                              cumulativeCounts: bounds.map { prefix[$0] },
                              count: prefix[slots.count], sum: Double(sumNs) / 1e9)
    }
}
