import StarveCore

/// Bounds the workload series: the first `maxWorkloads` workloads (most wait first among those
/// that arrive together) get series of their own; the rest are summed into one `other` series.
///
/// The choice sticks: a workload keeps its series, or stays in `other`, until the ledger
/// forgets it (``WorkloadLedger`` expiry), so `other` only grows: a workload folded into it is
/// never taken out while it lives, and what it did stays in `other` after it expires. A
/// workload with its own series that expires frees its place for the next new one.
public struct WorkloadFolding: Sendable {
    /// 0: no limit.
    public let maxWorkloads: Int
    private var own: Set<WorkloadKey> = []
    private var folded: [WorkloadKey: WorkloadTotals] = [:]
    /// Counters of folded workloads that expired.
    private var retired: WorkloadTotals
    private var anyFolded = false

    public static let otherIdentity = WorkloadIdentity(kind: .unknown)
    /// The label values of the folded series.
    public static let otherKind = "other", otherName = "other"

    public init(maxWorkloads: Int) {
        self.maxWorkloads = maxWorkloads
        retired = WorkloadTotals(identity: Self.otherIdentity)
    }

    /// Workloads with their own series, and the folded rest (nil: nothing folded yet).
    public mutating func fold(_ totals: [WorkloadKey: WorkloadTotals]) -> (own: [WorkloadTotals], other: WorkloadTotals?) {
        own = own.filter { totals[$0] != nil }
        for (key, last) in folded where totals[key] == nil {
            var counters = last
            counters.threads = 0
            counters.processes = 0
            counters.cgroups = 0
            retired.merge(counters)
            folded[key] = nil
        }
        let new = totals.values.filter { !own.contains($0.identity.key) && folded[$0.identity.key] == nil }
            .sorted { $0.waitNs != $1.waitNs ? $0.waitNs > $1.waitNs : ($0.identity.kind.rawValue, $0.identity.name) < ($1.identity.kind.rawValue, $1.identity.name) }
        for t in new {
            if maxWorkloads == 0 || own.count < maxWorkloads { own.insert(t.identity.key) } else { folded[t.identity.key] = t; anyFolded = true }
        }
        for key in folded.keys { folded[key] = totals[key] }
        let mine = own.compactMap { totals[$0] }
            .sorted { ($0.identity.kind.rawValue, $0.identity.name) < ($1.identity.kind.rawValue, $1.identity.name) }
        guard anyFolded else { return (mine, nil) }
        var other = retired
        for t in folded.values { other.merge(t) }
        return (mine, other)
    }

    /// Whether a workload has a series of its own.
    public func hasOwnSeries(_ key: WorkloadKey) -> Bool { own.contains(key) }
    /// Workloads summed into `other` now.
    public var foldedCount: Int { folded.count }
}
