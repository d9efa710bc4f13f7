import StarveModel

/// A tuning policy: rules, and the limits every rule shares. Parsed from YAML by
/// ``PolicyParser``; see docs/tuning.md for the file format.
public struct Policy: Sendable, Equatable {
    /// Seconds between samples (the sampler's interval).
    public var interval: Double = 1
    /// At most this many knob changes in any 60 s, all rules together (the global cap).
    public var maxChangesPerMinute: Int = 12
    /// A noisy neighbour uses at least this share of one CPU, percent (the sampler's verdicts;
    /// nil: its default, as in `starve-dump cgroups`).
    public var neighbourMinCPUPercent: Double?
    /// The rules, in file order: earlier rules decide first within a sample.
    public var rules: [Rule]

    public init(interval: Double = 1, maxChangesPerMinute: Int = 12, rules: [Rule]) {
        self.interval = interval
        self.maxChangesPerMinute = maxChangesPerMinute
        self.rules = rules
    }
}

/// One rule: `when <signal> <op> <value> for <duration>` on a scope → an action with bounds.
public struct Rule: Sendable, Equatable {
    public var name: String
    public var scope: Scope
    /// The condition that activates the rule for a subject once it held for `when.duration`.
    public var when: Condition
    /// The condition that deactivates it once it held for its duration (hysteresis); default:
    /// `when` is false for `when.duration`.
    public var clear: Condition?
    public var action: Action
    /// Seconds between two changes by this rule to one subject.
    public var cooldown: Double

    public init(name: String, scope: Scope, when: Condition, clear: Condition? = nil, action: Action, cooldown: Double = 10) {
        self.name = name
        self.scope = scope
        self.when = when
        self.clear = clear
        self.action = action
        self.cooldown = cooldown
    }
}

/// Which cgroups a rule may look at and act on. The root cgroup is never in any scope.
public struct Scope: Sendable, Equatable {
    /// Glob on the cgroup path in the cpu hierarchy (`*` within one path component, `**` across
    /// components): `/**` is every non-root cgroup.
    public var cgroup: String
    /// Only cgroups whose workload is of one of these kinds (empty: any).
    public var kinds: [WorkloadKind]
    /// Only cgroups whose workload name matches this glob (nil: any).
    public var workload: String?

    public init(cgroup: String = "/**", kinds: [WorkloadKind] = [], workload: String? = nil) {
        self.cgroup = cgroup
        self.kinds = kinds
        self.workload = workload
    }

    /// Whether cgroup `path` (of workload `identity`) is in the scope. Never the root.
    public func contains(path: String, identity: WorkloadIdentity?) -> Bool {
        guard path != "/", !path.isEmpty, path.hasPrefix("/"), !path.split(separator: "/").contains("..") else { return false }
        guard Glob.matches(cgroup, path) else { return false }
        if !kinds.isEmpty && !kinds.contains(identity?.kind ?? .unknown) { return false }
        if let workload, !Glob.matches(workload, identity?.name ?? "") { return false }
        return true
    }
}

/// The signals a condition can test, per cgroup and per interval. docs/tuning.md says where
/// each comes from.
public enum Signal: String, Sendable, CaseIterable {
    case p99WaitMs = "p99_wait_ms"
    case p50WaitMs = "p50_wait_ms"
    case maxWaitMs = "max_wait_ms"
    /// Run-queue wait summed over the cgroup's threads in the interval.
    case waitMs = "wait_ms"
    /// Wait / (wait + on-CPU time), percent: the share of the time it wanted a CPU spent waiting.
    case waitShare = "wait_share"
    case cpuPercent = "cpu_percent"
    /// Preemptions of its threads by threads of another cgroup, in the interval.
    case preemptedByOther = "preempted_by_other"
    /// Throttled CFS periods / periods, percent (cpu.stat).
    case throttledShare = "throttled_share"
    case throttledMs = "throttled_ms"
    /// ok, throttled, victim, noisy-neighbour, starved.
    case verdict
    /// A recurring pattern active for the cgroup (`pattern == noisy-neighbour`).
    case pattern
    /// CPU pressure: the cgroup's own cpu.pressure (cgroup v2 with the cpu controller), else the
    /// host's /proc/pressure/cpu. `psi_some` / `psi_full`: percent of the interval, from `total`.
    case psiSome = "psi_some"
    case psiFull = "psi_full"
    case psiSomeAvg10 = "psi_some_avg10"
    case psiSomeAvg60 = "psi_some_avg60"
    case psiFullAvg10 = "psi_full_avg10"
    case psiFullAvg60 = "psi_full_avg60"
    /// Time its threads spent blocked in futex waits / (threads × interval), percent; needs
    /// `starve-load --futex`.
    case futexWaitShare = "futex_wait_share"
    case futexWaitMs = "futex_wait_ms"

    /// Signals compared as words (`==`, `!=`); the rest are numbers.
    public var isWord: Bool { self == .verdict || self == .pattern }
}

/// `<signal> <op> <value> for <duration>`.
public struct Condition: Sendable, Equatable, CustomStringConvertible {
    public enum Op: String, Sendable, CaseIterable { case gt = ">", ge = ">=", lt = "<", le = "<=", eq = "==", ne = "!=" }
    public var signal: Signal
    public var op: Op
    public var number: Double?
    public var word: String?
    /// Seconds the comparison must hold, sample after sample.
    public var duration: Double

    public init(signal: Signal, op: Op, number: Double? = nil, word: String? = nil, duration: Double) {
        self.signal = signal
        self.op = op
        self.number = number
        self.word = word
        self.duration = duration
    }

    public var description: String {
        "\(signal.rawValue) \(op.rawValue) \(word ?? number.map { formatFixed($0, decimals: $0 == $0.rounded() ? 0 : 2) } ?? "?") for \(formatFixed(duration, decimals: duration == duration.rounded() ? 0 : 1))s"
    }

    /// Whether `values` satisfy the comparison; false when the signal is absent.
    public func holds(in values: SignalValues) -> Bool {
        if signal.isWord {
            let words = values.words[signal] ?? []
            let has = words.contains(word ?? "")
            return op == .eq ? has : !has
        }
        guard let x = values.numbers[signal], let v = number else { return false }
        switch op {
        case .gt: return x > v
        case .ge: return x >= v
        case .lt: return x < v
        case .le: return x <= v
        case .eq: return x == v
        case .ne: return x != v
        }
    }
}

/// What a rule does to a subject's knob.
public struct Action: Sendable, Equatable {
    public var knob: Knob
    public var change: Change
    /// Bounds in the knob's policy units (weight: cgroup v2 cpu.weight 1-10000; quota: CPUs;
    /// nice: -20…19). A step never leaves them.
    public var min: Double?
    public var max: Double?
    /// A held setting is undone (the original restored) when the rule clears.
    public var hold: Bool

    public init(knob: Knob, change: Change, min: Double? = nil, max: Double? = nil, hold: Bool = false) {
        self.knob = knob
        self.change = change
        self.min = min
        self.max = max
        self.hold = hold
    }
}

/// The knobs the tuner turns.
public enum Knob: String, Sendable, CaseIterable, Codable {
    /// v1 cpu.shares, v2 cpu.weight; policy units are v2's (v1 shares = weight × 1024 / 100).
    case weight
    /// v1 cpu.cfs_quota_us (per cpu.cfs_period_us), v2 cpu.max; policy units are CPUs
    /// (quota / period); nil: unlimited.
    case quota
    /// cpuset.cpus (v1: the cgroup at the same path in the cpuset hierarchy).
    case cpuset
    /// Nice of every thread of the cgroup (setpriority), within the bounds.
    case nice
}

/// How an action changes a knob.
public enum Change: Sendable, Equatable, CustomStringConvertible {
    /// × factor (`x4`, `/4` is × 0.25).
    case multiply(Double)
    /// + amount (`+50`, `-1`).
    case add(Double)
    /// = value (`=0.5`); nil: unlimited (quota `=max`).
    case set(Double?)
    /// cpuset: every CPU the parent may use (`spread`).
    case spread
    /// cpuset: these CPUs (`=0-1`).
    case cpus(Set<Int>)

    public var description: String {
        switch self {
        case .multiply(let f): return f >= 1 ? "x" + formatFixed(f, decimals: f == f.rounded() ? 0 : 2) : "/" + formatFixed(1 / f, decimals: (1 / f) == (1 / f).rounded() ? 0 : 2)
        case .add(let a): return (a >= 0 ? "+" : "") + formatFixed(a, decimals: a == a.rounded() ? 0 : 2)
        case .set(let v): return "=" + (v.map { formatFixed($0, decimals: $0 == $0.rounded() ? 0 : 2) } ?? "max")
        case .spread: return "spread"
        case .cpus(let c): return "=" + formatCPUList(c)
        }
    }
}

/// Shell-style globs on paths: `*` and `?` within one `/`-separated component, `**` across any
/// number of components (including none).
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        matches(Array(pattern.unicodeScalars), 0, Array(text.unicodeScalars), 0)
    }

    private static func matches(_ p: [Unicode.Scalar], _ i: Int, _ t: [Unicode.Scalar], _ j: Int) -> Bool {
        if i == p.count { return j == t.count }
        // `/**` also matches nothing: `/a/**` matches `/a` itself, `/a*/**` matches `/ab`.
        if p[i] == "/", i + 2 < p.count, p[i + 1] == "*", p[i + 2] == "*", i + 3 == p.count || p[i + 3] == "/" {
            if matches(p, i + 3, t, j) { return true }
        }
        if p[i] == "*" {
            let across = i + 1 < p.count && p[i + 1] == "*"
            let next = across ? i + 2 : i + 1
            var k = j
            while true {
                if matches(p, next, t, k) { return true }
                guard k < t.count, across || t[k] != "/" else { return false }
                k += 1
            }
        }
        guard j < t.count, p[i] == "?" ? t[j] != "/" : p[i] == t[j] else { return false }
        return matches(p, i + 1, t, j + 1)
    }
}
