import StarveModel

/// A knob's value in policy units: a number (weight; quota in CPUs, nil = unlimited; nice) or
/// a set of CPUs (cpuset).
public enum KnobValue: Sendable, Equatable, CustomStringConvertible {
    case number(Double?)
    case cpus(Set<Int>)

    public var description: String {
        switch self {
        case .number(let v): return v.map { formatFixed($0, decimals: $0 == $0.rounded() ? 0 : 2) } ?? "max"
        case .cpus(let c): return formatCPUList(c)
        }
    }
}

/// What the engine needs to know of a knob now.
public struct KnobState: Sendable, Equatable {
    public var value: KnobValue
    /// cpuset: the CPUs the parent allows (what `spread` gives).
    public var allowedCPUs: Set<Int>?

    public init(value: KnobValue, allowedCPUs: Set<Int>? = nil) {
        self.value = value
        self.allowedCPUs = allowedCPUs
    }
}

/// Reads knobs for the engine (the live one reads cgroupfs and /proc; tests give fixed values).
public protocol KnobReader {
    /// The knob of cgroup `path` now; nil when the cgroup or the knob is gone.
    func state(_ knob: Knob, of path: String) -> KnobState?
    /// `value` as it would read back after writing it (v1 shares are whole numbers, …).
    func quantize(_ knob: Knob, _ value: KnobValue, of path: String) -> KnobValue
}

/// One thing the tuner decided for a subject's knob, with its reason.
public struct Decision: Sendable, Equatable {
    public enum Kind: String, Sendable { case step, set, lift }
    public var kind: Kind
    public var rule: String
    public var path: String
    public var knob: Knob
    public var from: KnobValue
    /// The new value; for a lift, the original comes from the record of originals.
    public var to: KnobValue?
    /// The condition and the figures that made the decision.
    public var evidence: String
}

/// The rules over time: which rule is active for which subject, when it last changed a knob,
/// how many changes the last minute saw. Pure: time comes in with each sample (seconds on any
/// monotonic clock), knob values through a ``KnobReader``; nothing is written here.
public struct RuleEngine: Sendable {
    public let policy: Policy
    /// Per rule and subject.
    private struct State: Sendable {
        var holdsSince: Double?
        var clearSince: Double?
        var active = false
        var lastChange: Double?
        var heldApplied = false
        var noted: String?
    }
    private struct Key: Hashable, Sendable { var rule: Int; var path: String }
    private struct KnobKey: Hashable, Sendable { var path: String; var knob: Knob }
    private var states: [Key: State] = [:]
    private var changeTimes: [Double] = []
    private var released: Set<KnobKey> = []

    public init(policy: Policy) { self.policy = policy }

    /// What is said besides decisions: a rule at its bound, a change held back by the global cap.
    public struct Note: Sendable, Equatable {
        public var rule: String
        public var path: String
        public var text: String
    }

    /// Stops managing `knob` of `path` for good (someone else changed it): no rule touches it again.
    public mutating func release(_ knob: Knob, of path: String) { released.insert(KnobKey(path: path, knob: knob)) }

    public func isReleased(_ knob: Knob, of path: String) -> Bool { released.contains(KnobKey(path: path, knob: knob)) }

    /// Active (rule, subject) pairs, for a status line.
    public var activeCount: Int { states.values.filter(\.active).count }

    /// One sample: `subjects` seen in the interval ending at `now` (seconds), `interval` long.
    /// A rule is active for a subject from when `when` has held for its duration until the
    /// clear condition has (hysteresis); while active and `when` holds, a step repeats after each
    /// cooldown (until a bound); a held setting is made once and undone when the rule clears.
    /// Subjects absent from the sample lose their state (a vanished cgroup's held setting has
    /// nothing left to lift).
    public mutating func evaluate(subjects: [Subject], now: Double, interval: Double,
                                  knobs: any KnobReader) -> (decisions: [Decision], notes: [Note]) {
        var decisions: [Decision] = [], notes: [Note] = []
        let seen = Set(subjects.map(\.path))
        states = states.filter { seen.contains($0.key.path) }
        changeTimes.removeAll { $0 <= now - 60 }
        var pending: [KnobKey: KnobValue] = [:]  // changes decided earlier in this sample
        let start = now - interval  // the interval's evidence began here

        for (i, rule) in policy.rules.enumerated() {
            for s in subjects where rule.scope.contains(path: s.path, identity: s.workload) {
                let key = Key(rule: i, path: s.path)
                var st = states[key] ?? State()
                defer { states[key] = st }
                let holds = rule.when.holds(in: s.values)
                let signals = [rule.when.signal] + (rule.clear.map { [$0.signal] } ?? [])
                // The rule's own signals, then the figures a reader wants beside any decision.
                let evidence = "\(rule.when): " + s.values.evidence(uniqued(signals + [.p99WaitMs, .cpuPercent]))
                func note(_ text: String) {
                    guard st.noted != text else { return }
                    st.noted = text
                    notes.append(Note(rule: rule.name, path: s.path, text: text))
                }

                // Hysteresis: activate after `when` held for its duration; deactivate after the
                // clear condition (default: not `when`) held for its duration.
                if !st.active {
                    if holds {
                        st.holdsSince = st.holdsSince ?? start
                        if now - st.holdsSince! >= rule.when.duration - 1e-6 { st.active = true; st.clearSince = nil }
                    } else {
                        st.holdsSince = nil
                    }
                } else {
                    let clears = rule.clear.map { $0.holds(in: s.values) } ?? !holds
                    let clearFor = rule.clear?.duration ?? rule.when.duration
                    if clears {
                        st.clearSince = st.clearSince ?? start
                        if now - st.clearSince! >= clearFor - 1e-6 {
                            st.active = false
                            st.holdsSince = nil
                            st.noted = nil
                            if rule.action.hold && st.heldApplied {
                                st.heldApplied = false
                                let kk = KnobKey(path: s.path, knob: rule.action.knob)
                                if !released.contains(kk), let cur = knobs.state(rule.action.knob, of: s.path) {
                                    decisions.append(Decision(kind: .lift, rule: rule.name, path: s.path, knob: rule.action.knob,
                                                              from: pending[kk] ?? cur.value, to: nil,
                                                              evidence: "cleared: " + (rule.clear.map { "\($0)" } ?? "not (\(rule.when))") + ": " + s.values.evidence(signals)))
                                    changeTimes.append(now)
                                }
                            }
                            continue
                        }
                    } else {
                        st.clearSince = nil
                    }
                }
                guard st.active else { continue }
                if rule.action.hold && st.heldApplied { continue }
                // Steps only while the condition holds: an active rule whose evidence paused
                // (waiting for the clear condition) does not keep pushing.
                guard holds || rule.action.hold else { continue }
                if let last = st.lastChange, now - last < rule.cooldown - 1e-6 { continue }
                let kk = KnobKey(path: s.path, knob: rule.action.knob)
                if released.contains(kk) { note("not managed any more (changed by someone else)"); continue }
                guard let cur = knobs.state(rule.action.knob, of: s.path) else { note("\(rule.action.knob.rawValue) cannot be read (cgroup gone?)"); continue }
                let from = pending[kk] ?? cur.value
                guard let target = Self.target(rule.action, from: from, state: cur) else {
                    note("\(rule.action.change) cannot apply to \(rule.action.knob.rawValue) \(from)")
                    continue
                }
                let to = knobs.quantize(rule.action.knob, target, of: s.path)
                if to == from {
                    if rule.action.hold { st.heldApplied = true } else { note("\(rule.action.knob.rawValue) at its bound (\(from))") }
                    continue
                }
                guard changeTimes.count < policy.maxChangesPerMinute else {
                    note("held back: \(policy.maxChangesPerMinute) changes in the last minute (max_changes_per_minute)")
                    continue
                }
                changeTimes.append(now)
                st.lastChange = now
                st.noted = nil
                if rule.action.hold { st.heldApplied = true }
                pending[kk] = to
                let kind: Decision.Kind
                switch rule.action.change { case .multiply, .add: kind = .step; default: kind = .set }
                decisions.append(Decision(kind: kind, rule: rule.name, path: s.path, knob: rule.action.knob, from: from, to: to, evidence: evidence))
            }
        }
        return (decisions, notes)
    }

    /// The value `action` makes of `from`, within the bounds; nil when it cannot apply
    /// (a step of an unlimited quota, spread with no parent CPUs known).
    static func target(_ action: Action, from: KnobValue, state: KnobState) -> KnobValue? {
        func clamp(_ v: Double) -> Double {
            var x = v
            if let lo = action.min { x = Swift.max(x, lo) }
            if let hi = action.max { x = Swift.min(x, hi) }
            return x
        }
        switch (action.change, from) {
        case (.multiply(let f), .number(let v?)): return .number(clamp(v * f))
        case (.add(let a), .number(let v?)): return .number(clamp(v + a))
        case (.set(let v?), .number): return .number(clamp(v))
        case (.set(nil), .number): return .number(nil)
        case (.spread, .cpus): return state.allowedCPUs.map { .cpus($0) }
        case (.cpus(let c), .cpus): return .cpus(c)
        default: return nil
        }
    }
}

/// Order-keeping de-duplication of a few signals.
private func uniqued(_ s: [Signal]) -> [Signal] {
    var seen = Set<Signal>()
    return s.filter { seen.insert($0).inserted }
}
