// A seeded, portable PRNG for the lottery simulation.
//
// SystemRandomNumberGenerator cannot be seeded, and stdlib's bounded-draw
// algorithms are not guaranteed stable across Swift versions, so both the
// generator and the bounded draw are implemented here: same seed, same draws,
// on every machine and toolchain.

/// xoshiro256** (Blackman & Vigna), state seeded from a 64-bit seed with SplitMix64.
public struct LotteryRNG: RandomNumberGenerator, Sendable, Hashable {
    private var s0, s1, s2, s3: UInt64

    /// Creates a generator whose whole stream is determined by `seed`.
    public init(seed: UInt64) {
        // SplitMix64 spreads any seed (even 0) into a non-zero 256-bit state,
        // which is how the xoshiro authors recommend seeding.
        var mixer = seed
        s0 = Self.splitMix64(&mixer)
        s1 = Self.splitMix64(&mixer)
        s2 = Self.splitMix64(&mixer)
        s3 = Self.splitMix64(&mixer)
    }

    /// One SplitMix64 step: advances `state` and returns the next output.
    public static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform integer in 0..<bound, unbiased (Lemire's multiply-and-reject).
    ///
    /// Implemented here rather than using `next(upperBound:)` so the mapping from
    /// random bits to draws is fixed by this file, not by the standard library.
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            // 2^64 mod bound: low words below it belong to an over-represented slice.
            let threshold = (0 &- bound) % bound
            while product.low < threshold { product = next().multipliedFullWidth(by: bound) }
        }
        return product.high
    }
}
