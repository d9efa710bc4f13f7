import Glibc
import StarveModel

/// CLOCK_MONOTONIC now, ns: the clock the BPF side stamps with (bpf_ktime_get_ns).
public func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

extension WallClock {
    /// CLOCK_REALTIME and CLOCK_MONOTONIC read now, back to back.
    public static func now() -> WallClock {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallClock(realtimeNs: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec),
                         monotonicNs: Int64(bitPattern: monotonicNs()))
    }
}
