import StarveModel

/// Bounds the workload series: the first `maxWorkloads` workloads (most wait first among those
/// that arrive together) get series of their own; the rest are summed into one `other` series.
///
/// The choice sticks: a workload keeps its series, or stays in `other`, until the sampler's
/// running totals forget it (``SamplerSettings/totalsMemory``), so `other` only grows: a
/// workload folded into it is never taken out while it lives, and what it did stays in `other`
/// after it is forgotten. A workload with its own series that is forgotten frees its place for
/// the next new one.
public struct WorkloadFolding: Sendable {
    /// 0: no limit.
    public let maxWorkloads: Int
    private var own: Set<WorkloadKey> = []
    private var folded: [WorkloadKey: RunningTotals] = [:]
    /// Counters of folded workloads that were forgotten.
    private var retired = RunningTotals()
    private var anyFolded = false

    /// The label values of the folded series.
    public static let otherKind = "other", otherName = "other"

    public init(maxWorkloads: Int) { self.maxWorkloads = maxWorkloads }

    /// Workloads with their own series, by name, and the folded rest (nil: nothing folded yet).
    public mutating func fold(_ totals: [WorkloadKey: RunningTotals]) -> (own: [(WorkloadKey, RunningTotals)], other: RunningTotals?) {
        own = own.filter { totals[$0] != nil }
        for (key, last) in folded where totals[key] == nil {
            retired.fold(last)
            folded[key] = nil
        }
        let new = totals.filter { !own.contains($0.key) && folded[$0.key] == nil }
            .sorted { $0.value.waitNs != $1.value.waitNs ? $0.value.waitNs > $1.value.waitNs : ($0.key.kind.rawValue, $0.key.name) < ($1.key.kind.rawValue, $1.key.name) }
        for (key, t) in new {
            if maxWorkloads == 0 || own.count < maxWorkloads { own.insert(key) } else { folded[key] = t; anyFolded = true }
        }
        for key in folded.keys { folded[key] = totals[key] }
        let mine = own.compactMap { k in totals[k].map { (k, $0) } }.sorted { ($0.0.kind.rawValue, $0.0.name) < ($1.0.kind.rawValue, $1.0.name) }
        guard anyFolded else { return (mine, nil) }
        var other = retired
        for t in folded.values { other.fold(t) }
        return (mine, other)
    }

    /// Whether a workload has a series of its own.
    public func hasOwnSeries(_ key: WorkloadKey) -> Bool { own.contains(key) }
    /// Whether `key` is summed into `other` now.
    public func isFolded(_ key: WorkloadKey) -> Bool { folded[key] != nil }
    /// Workloads summed into `other` now.
    public var foldedCount: Int { folded.count }
}

extension RunningTotals {
    /// Adds every counter of `o` (folding workloads into one series).
    mutating func fold(_ o: RunningTotals) {
        runtimeNs &+= o.runtimeNs
        add(waitsOf: o)
        periods &+= o.periods
        throttledPeriods &+= o.throttledPeriods
        throttledNs &+= o.throttledNs
        for (v, n) in o.verdictIntervals { verdictIntervals[v, default: 0] &+= n }
        for (k, c) in o.preemptors { preemptors[k, default: PreemptionCounts()].add(c) }
    }
}
