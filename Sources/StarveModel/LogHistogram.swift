/// A log2 histogram over nanoseconds, as the BPF side fills it: slot `i` counts values `v` with
/// `2^i <= v < 2^(i+1)` (slot 0 also takes 0 and 1); the last slot takes everything above.
public struct LogHistogram: Sendable, Equatable {
    /// How wide the kernel's counters are: deltas are taken modulo this width, so one wrap
    /// between two reads is harmless.
    public enum CounterWidth: Sendable, Equatable {
        case bits32, bits64
        var mask: UInt64 { self == .bits32 ? 0xFFFF_FFFF : .max }
    }

    /// Number of slots (STARVE_HIST_SLOTS in starve.h).
    public static let slotCount = 36

    public var counts: [UInt64]
    public var counterWidth: CounterWidth

    public init(counts: [UInt64] = [], counterWidth: CounterWidth = .bits64) {
        var c = counts
        if c.count < Self.slotCount { c += Array(repeating: 0, count: Self.slotCount - c.count) }
        self.counts = c
        self.counterWidth = counterWidth
    }

    /// Total number of values counted.
    public var total: UInt64 { counts.reduce(0, &+) }

    /// Lower bound of slot `i`, ns.
    public static func lowerBound(ofSlot i: Int) -> UInt64 { i == 0 ? 0 : 1 << UInt64(i) }
    /// Upper bound (exclusive) of slot `i`, ns.
    public static func upperBound(ofSlot i: Int) -> UInt64 { 1 << UInt64(i + 1) }

    /// The slot the BPF side puts `ns` in.
    public static func slot(for ns: UInt64) -> Int {
        ns < 2 ? 0 : min(63 - ns.leadingZeroBitCount, slotCount - 1)
    }

    /// All-zero counts, shared by every empty delta (most threads wait for nothing in a sample).
    private static let zeroCounts = [UInt64](repeating: 0, count: slotCount)

    /// Counts added since `older` (modulo the counter width).
    public func delta(since older: LogHistogram) -> LogHistogram {
        let mask = counterWidth.mask
        let n = counts.count, common = min(n, older.counts.count)
        if n == Self.slotCount && common == n && counts == older.counts {
            return LogHistogram(counts: Self.zeroCounts, counterWidth: counterWidth)
        }
        let d = [UInt64](unsafeUninitializedCapacity: n) { out, initialized in
            counts.withUnsafeBufferPointer { now in
                older.counts.withUnsafeBufferPointer { before in
                    for i in 0..<common { out[i] = (now[i] &- before[i]) & mask }
                }
            }
            for i in common..<n { out[i] = 0 }
            initialized = n
        }
        return LogHistogram(counts: d, counterWidth: counterWidth)
    }

    /// The value below which a fraction `q` (0...1) of the counted values lie, interpolated
    /// linearly inside the slot that holds it; nil when nothing was counted. `ceiling` (a known
    /// maximum) caps the answer, which matters for the open-ended last slot.
    public func percentile(_ q: Double, ceiling: UInt64? = nil) -> UInt64? {
        let n = total
        guard n > 0 else { return nil }
        let rank = max(1, (q * Double(n)).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            if Double(seen + c) >= rank {
                let lo = Double(Self.lowerBound(ofSlot: i)), hi = Double(Self.upperBound(ofSlot: i))
                let within = (rank - Double(seen)) / Double(c)
                var v = UInt64(lo + (hi - lo) * within)
                if let ceiling { v = min(v, ceiling) }
                return v
            }
            seen += c
        }
        return ceiling
    }
}
