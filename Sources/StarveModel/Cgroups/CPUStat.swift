/// A cgroup's CFS bandwidth counters (`cpu.stat`), in nanoseconds whatever the interface.
/// The counters only grow; compare two readings to see throttling over a window.
public struct CPUStat: Sendable, Equatable {
    /// Enforcement periods that elapsed while the cgroup had runnable tasks (`nr_periods`).
    public var periods: UInt64
    /// Periods in which the cgroup ran out of quota (`nr_throttled`).
    public var throttledPeriods: UInt64
    /// Time its tasks were held off the CPU by the quota (v1 `throttled_time` ns, v2 `throttled_usec`).
    public var throttledNs: UInt64
    /// CPU time used by the cgroup (v2 `usage_usec`; v1 `cpuacct.usage` when the cpu and cpuacct
    /// controllers share the mount); nil when not known.
    public var usageNs: UInt64?

    /// A reading.
    public init(periods: UInt64, throttledPeriods: UInt64, throttledNs: UInt64, usageNs: UInt64? = nil) {
        self.periods = periods
        self.throttledPeriods = throttledPeriods
        self.throttledNs = throttledNs
        self.usageNs = usageNs
    }

    /// Parses a `cpu.stat` text (`key value` lines). v1: `nr_periods`, `nr_throttled`,
    /// `throttled_time` (ns). v2: the same counts, `throttled_usec` and `usage_usec` (µs).
    /// A v2 cgroup whose parent does not enable `cpu` has only the usage lines: the bandwidth
    /// counts are then 0. Nil when the text holds none of the keys (not a cpu.stat).
    public static func parse(_ text: String, version: CgroupHierarchy.Version) -> CPUStat? {
        var values: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let v = UInt64(f[1]) { values[f[0]] = v }
        }
        switch version {
        case .v1:
            guard values["nr_periods"] != nil || values["throttled_time"] != nil else { return nil }
            return CPUStat(periods: values["nr_periods"] ?? 0, throttledPeriods: values["nr_throttled"] ?? 0,
                           throttledNs: values["throttled_time"] ?? 0)
        case .v2:
            guard values["usage_usec"] != nil || values["nr_periods"] != nil else { return nil }
            return CPUStat(periods: values["nr_periods"] ?? 0, throttledPeriods: values["nr_throttled"] ?? 0,
                           throttledNs: (values["throttled_usec"] ?? 0) &* 1000,
                           usageNs: values["usage_usec"].map { $0 &* 1000 })
        }
    }
}

extension CgroupFS {
    /// Parses v1 `cpu.cfs_quota_us` (`-1` or µs) and `cpu.cfs_period_us` texts.
    public static func parseV1Quota(quota: String, period: String) -> (quotaUs: Int64?, periodUs: UInt64)? {
        guard let q = CgroupText.words(quota).first.flatMap({ Int64($0) }),
              let p = CgroupText.words(period).first.flatMap({ UInt64($0) }) else { return nil }
        return (q < 0 ? nil : q, p)
    }

    /// Parses a v2 `cpu.max` text: `max 100000` or `20000 100000`.
    public static func parseCPUMax(_ text: String) -> (quotaUs: Int64?, periodUs: UInt64)? {
        let w = CgroupText.words(text)
        guard w.count == 2, let p = UInt64(w[1]) else { return nil }
        if w[0] == "max" { return (nil, p) }
        guard let q = Int64(w[0]), q >= 0 else { return nil }
        return (q, p)
    }
}
