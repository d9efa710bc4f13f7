/// The victim x preemptor matrix as a reader sees it across reads.
///
/// The kernel keeps it in two places: each live thread's own slots (its first few preemptors),
/// and the `preempt_pairs` map (what threads booked beyond their slots, and their slots once they
/// exited, folded in at exit). One read sums both. Entries of the map are evicted under churn
/// (it is an LRU map) and a thread's slots move into the map when it exits; a reader that reads
/// the map first and the threads second may miss such waits for one read, never count them
/// twice. This makes the read monotonic, so a consumer's deltas never go negative and nothing
/// is counted twice:
/// - each counter of a pair is the highest value seen so far;
/// - a pair that vanished (its waits moving between the two places, or an evicted map entry)
///   keeps its last value for ``retainReads`` reads, then is dropped: a pair that comes back
///   after that counts as new, from zero.
public struct PreemptionMatrix: Sendable {
    /// The matrix after the last read: cumulative counts per pair.
    public private(set) var pairs: [PreemptionPair: PreemptionCounts] = [:]
    /// Reads a vanished pair is kept for.
    public var retainReads: Int
    private var missedReads: [PreemptionPair: Int] = [:]

    public init(retainReads: Int = 3) { self.retainReads = retainReads }

    /// Folds in one read (map and slots summed per pair) and returns the matrix.
    @discardableResult
    public mutating func update(with reading: [PreemptionPair: PreemptionCounts]) -> [PreemptionPair: PreemptionCounts] {
        for (key, now) in reading {
            if let before = pairs[key] {
                pairs[key] = PreemptionCounts(count: max(before.count, now.count), waitNs: max(before.waitNs, now.waitNs),
                                              maxNs: max(before.maxNs, now.maxNs))
            } else {
                pairs[key] = now
            }
            missedReads[key] = nil
        }
        if reading.count < pairs.count {
            for key in pairs.keys where reading[key] == nil {
                let missed = (missedReads[key] ?? 0) + 1
                if missed > retainReads {
                    pairs[key] = nil
                    missedReads[key] = nil
                } else {
                    missedReads[key] = missed
                }
            }
        }
        return pairs
    }
}

extension PreemptionCounts {
    /// Adds another share of the same pair (a sum of waits; the larger maximum).
    public mutating func add(_ other: PreemptionCounts) {
        count &+= other.count
        waitNs &+= other.waitNs
        maxNs = max(maxNs, other.maxNs)
    }
}
