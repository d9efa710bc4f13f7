import StarveModel

/// One subject's signals over one interval: numbers, and words (verdict, active patterns).
public struct SignalValues: Sendable, Equatable {
    public var numbers: [Signal: Double] = [:]
    public var words: [Signal: Set<String>] = [:]

    public init(numbers: [Signal: Double] = [:], words: [Signal: Set<String>] = [:]) {
        self.numbers = numbers
        self.words = words
    }

    /// `p99_wait_ms=512.0 verdict=victim`: the evidence line of a decision (only the signals
    /// the rule reads).
    public func evidence(_ signals: [Signal]) -> String {
        signals.map { s in
            if s.isWord { return "\(s.rawValue)=\((words[s] ?? []).sorted().joined(separator: ",").ifEmpty("none"))" }
            return "\(s.rawValue)=\(numbers[s].map { formatFixed($0, decimals: 1) } ?? "n/a")"
        }.joined(separator: " ")
    }
}

extension String {
    fileprivate func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}

/// What a rule looks at: a cgroup of the cpu controller, with its workload and signals.
public struct Subject: Sendable, Equatable {
    /// Path in the cpu hierarchy (`/system.slice/nginx.service`).
    public var path: String
    public var workload: WorkloadIdentity?
    public var values: SignalValues

    public init(path: String, workload: WorkloadIdentity? = nil, values: SignalValues) {
        self.path = path
        self.workload = workload
        self.values = values
    }
}

/// CPU pressure (PSI) as the kernel reports it in `/proc/pressure/cpu` or a cgroup v2
/// `cpu.pressure`: `some avg10=… avg60=… avg300=… total=µs` and the same for `full`.
public struct Pressure: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var avg10: Double
        public var avg60: Double
        public var avg300: Double
        /// Cumulative stall time, µs.
        public var totalUs: UInt64
    }
    public var some: Line
    /// Absent on kernels before 5.13 for cpu (all zeros on the host level since).
    public var full: Line?

    /// Parses the two-line format; nil when `some` is missing.
    public static func parse(_ text: String) -> Pressure? {
        var some: Line?, full: Line?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let kind = f.first else { continue }
            var v: [String: Substring] = [:]
            for kv in f.dropFirst() {
                let p = kv.split(separator: "=", maxSplits: 1)
                if p.count == 2 { v[String(p[0])] = p[1] }
            }
            guard let a10 = v["avg10"].flatMap({ Double($0) }), let a60 = v["avg60"].flatMap({ Double($0) }),
                  let a300 = v["avg300"].flatMap({ Double($0) }), let t = v["total"].flatMap({ UInt64($0) }) else { continue }
            let l = Line(avg10: a10, avg60: a60, avg300: a300, totalUs: t)
            if kind == "some" { some = l } else if kind == "full" { full = l }
        }
        return some.map { Pressure(some: $0, full: full) }
    }
}

/// Turns a sampler snapshot (and PSI, futex figures) into rule subjects. Keeps the previous
/// PSI totals to turn them into shares of the interval.
public struct SignalExtractor: Sendable {
    private var lastTotals: [String: (some: UInt64, full: UInt64?)] = [:]

    public init() {}

    /// The PSI signals from a reading, against the previous reading of the same `source`.
    public mutating func pressureSignals(_ p: Pressure?, source: String, intervalNs: UInt64) -> [Signal: Double] {
        guard let p else { return [:] }
        var out: [Signal: Double] = [.psiSomeAvg10: p.some.avg10, .psiSomeAvg60: p.some.avg60]
        if let f = p.full { out[.psiFullAvg10] = f.avg10; out[.psiFullAvg60] = f.avg60 }
        if let last = lastTotals[source], intervalNs > 0 {
            out[.psiSome] = Double(p.some.totalUs &- last.some) * 1000 / Double(intervalNs) * 100
            if let f = p.full, let lf = last.full { out[.psiFull] = Double(f.totalUs &- lf) * 1000 / Double(intervalNs) * 100 }
        }
        lastTotals[source] = (p.some.totalUs, p.full?.totalUs)
        return out
    }

    /// The signals of one cgroup row. `patterns`: the patterns active for it; `pressure`: its
    /// PSI signals; `futex`: wait ns and waits of its threads in the interval (nil: not collected).
    public static func values(of r: CgroupInterval, patterns: Set<String>, pressure: [Signal: Double],
                              futex: (waitNs: UInt64, threads: Int)?) -> SignalValues {
        var n: [Signal: Double] = pressure
        let ms = { (ns: UInt64) in Double(ns) / 1e6 }
        if let p = r.waitPercentileNs(0.99) { n[.p99WaitMs] = ms(p) }
        if let p = r.waitPercentileNs(0.50) { n[.p50WaitMs] = ms(p) }
        n[.maxWaitMs] = ms(r.waitMaxNs ?? 0)
        n[.waitMs] = ms(r.waitNs)
        n[.waitShare] = r.waitNs + r.runtimeNs == 0 ? 0 : Double(r.waitNs) / Double(r.waitNs + r.runtimeNs) * 100
        n[.cpuPercent] = r.cpuPercent
        n[.preemptedByOther] = Double(r.preemptedOther)
        if let t = r.throttle {
            n[.throttledShare] = t.periods == 0 ? 0 : Double(t.throttledPeriods) / Double(t.periods) * 100
            n[.throttledMs] = ms(t.throttledNs)
        }
        if let f = futex {
            n[.futexWaitMs] = ms(f.waitNs)
            n[.futexWaitShare] = r.intervalNs == 0 || f.threads == 0 ? 0 : Double(f.waitNs) / (Double(r.intervalNs) * Double(f.threads)) * 100
        }
        return SignalValues(numbers: n, words: [.verdict: [r.verdict.rawValue], .pattern: patterns])
    }
}
