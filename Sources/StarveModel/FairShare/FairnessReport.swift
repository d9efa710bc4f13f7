// How far measured CPU shares are from expected ones, in a few figures.

/// One task's measured vs expected share.
public struct TaskFairness: Sendable, Hashable {
    /// The task's id.
    public var id: Int
    /// Measured share, percent of one CPU.
    public var measuredPercent: Double
    /// Expected share, percent of one CPU.
    public var expectedPercent: Double
    /// measured - expected, in percentage points (negative = got less than promised).
    public var errorPP: Double { measuredPercent - expectedPercent }
    /// measured / expected; nil when nothing was expected (the ratio is undefined).
    public var ratio: Double? { expectedPercent > 0 ? measuredPercent / expectedPercent : nil }
}

/// Per-task errors plus summary figures for a set of tasks.
///
/// Jain's fairness index is computed over x_i = measured_i / expected_i, so it
/// measures fairness *relative to the entitlement* (nice 0 getting 4x a nice 5
/// task is perfectly fair): J = (sum x)^2 / (n * sum x^2). J = 1 when every task
/// got the same fraction of its entitlement; J = 1/n when one task got everything.
public struct FairnessReport: Sendable, Hashable {
    /// Per-task rows, sorted by id.
    public var tasks: [TaskFairness]
    /// Largest |errorPP| (0 with no tasks).
    public var maxAbsErrorPP: Double
    /// Jain's index of measured/expected ratios over tasks with expected > 0.
    public var jainIndex: Double

    /// Builds the report over the union of ids; a missing measurement counts as 0 %
    /// (the task did not run), a missing expectation as 0 % (excluded from Jain's index).
    public init(measured: [Int: Double], expected: [Int: Double]) {
        let ids = Set(measured.keys).union(expected.keys).sorted()
        tasks = ids.map { TaskFairness(id: $0, measuredPercent: measured[$0] ?? 0, expectedPercent: expected[$0] ?? 0) }
        maxAbsErrorPP = tasks.map { abs($0.errorPP) }.max() ?? 0
        jainIndex = Self.jainIndex(tasks.compactMap(\.ratio))
    }

    /// Builds the report against `CFSShareModel` results.
    public init(measured: [Int: Double], expected: [ExpectedShare]) {
        self.init(measured: measured,
                  expected: Dictionary(expected.map { ($0.id, $0.percent) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Jain's fairness index (sum x)^2 / (n * sum x^2) of non-negative values.
    /// Empty or all-zero input returns 1: nobody was treated differently.
    public static func jainIndex(_ values: [Double]) -> Double {
        let sum = values.reduce(0, +)
        let squares = values.reduce(0) { $0 + $1 * $1 }
        guard !values.isEmpty, squares > 0 else { return 1 }
        return sum * sum / (Double(values.count) * squares)
    }
}
