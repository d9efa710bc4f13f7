import StarveModel

/// The seed collector's figures the exporter keeps itself, cumulative from its start: the
/// recurring patterns the shared ``PatternDetector`` reports on each sample's cgroup rows (no
/// subject label: a pattern family is bounded by its kinds), and the noisy-neighbour detections
/// (workloads judged the CPU hog behind another's waits, one per workload and interval). Pure:
/// transitions and rows in, counts out.
public struct SeedTally: Sendable, Equatable {
    /// Pattern-duration histogram bounds, seconds (a pattern lasts at least one detector window).
    public static let durationBounds: [Double] = [5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    public struct Durations: Sendable, Equatable {
        /// Per bound of ``SeedTally/durationBounds``: patterns that lasted at most that long.
        public var cumulative = [UInt64](repeating: 0, count: SeedTally.durationBounds.count)
        public var count: UInt64 = 0
        public var sum: Double = 0
    }

    public var started: [PatternKind: UInt64] = [:]
    public var ended: [PatternKind: Durations] = [:]
    public var active: [PatternKind: Int] = [:]
    public var noisyNeighbourDetections: UInt64 = 0

    public init() {}

    /// Books one sample: the detector's transitions and the patterns active after it.
    public mutating func add(_ transitions: [PatternTransition], active now: [PatternKind]) {
        for t in transitions {
            switch t.phase {
            case .started: started[t.kind, default: 0] += 1
            case .ended:
                guard let d = t.duration else { continue }
                var h = ended[t.kind] ?? Durations()
                for (i, b) in Self.durationBounds.enumerated() where d <= b { h.cumulative[i] += 1 }
                h.count += 1
                h.sum += d
                ended[t.kind] = h
            }
        }
        active = Dictionary(now.map { ($0, 1) }, uniquingKeysWith: +)
    }

    /// Books the workloads judged noisy neighbours in one interval.
    public mutating func add(noisyNeighbours: Int) { noisyNeighbourDetections += UInt64(noisyNeighbours) }
}
