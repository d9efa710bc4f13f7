import StarveModel
import Yams

/// Reads a policy file into a ``Policy``. Every mistake is one line, `FILE:LINE: what is wrong`,
/// and nothing of a policy that fails is used.
public enum PolicyParser {
    /// Parses `text` (the contents of `file`, named in errors).
    public static func parse(_ text: String, file: String = "policy") throws -> Policy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw StarveError("\(file): not valid YAML: \(oneLine(e))")
        }
        guard let root, let top = root.mapping else { throw StarveError("\(file): a policy is a mapping with a `rules` list (see docs/tuning.md)") }
        let p = Reader(file: file)
        try p.known(top, ["interval", "max_changes_per_minute", "neighbour_min_cpu", "rules"], what: "policy")
        var policy = Policy(rules: [])
        if let n = top["interval"] {
            policy.interval = try p.seconds(n, what: "interval")
            guard policy.interval >= 0.1 && policy.interval <= 3600 else { throw p.error(n, "interval must be between 0.1 s and 1 h") }
        }
        if let n = top["max_changes_per_minute"] {
            guard let v = n.int, v >= 1, v <= 10_000 else { throw p.error(n, "max_changes_per_minute must be a whole number from 1 to 10000") }
            policy.maxChangesPerMinute = v
        }
        if let n = top["neighbour_min_cpu"] {
            guard let v = n.scalar.flatMap({ Double($0.string) }), v > 0, v <= 100 * 4096 else {
                throw p.error(n, "neighbour_min_cpu must be a positive percentage of one CPU")
            }
            policy.neighbourMinCPUPercent = v
        }
        guard let rulesNode = top["rules"] else { throw StarveError("\(file): no `rules` list") }
        guard let rules = rulesNode.sequence, !rules.isEmpty else { throw p.error(rulesNode, "`rules` must be a non-empty list") }
        var names = Set<String>()
        for (i, r) in rules.enumerated() {
            let rule = try p.rule(r, index: i)
            guard names.insert(rule.name).inserted else { throw p.error(r, "two rules are named '\(rule.name)'") }
            policy.rules.append(rule)
        }
        return policy
    }

    /// libyaml's error as one line: `line L column C: problem`.
    static func oneLine(_ e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            return "line \(mark.line) column \(mark.column): \(problem)"
        default:
            return String(describing: e).split(separator: "\n").first.map(String.init) ?? "unreadable"
        }
    }
}

/// Walks the YAML nodes, naming the line of each mistake.
private struct Reader {
    let file: String

    func error(_ n: Node, _ message: String) -> StarveError {
        StarveError("\(file):\(n.mark.map { "\($0.line)" } ?? "?"): \(message)")
    }

    func known(_ m: Node.Mapping, _ keys: [String], what: String) throws {
        for (k, _) in m {
            guard let s = k.string, keys.contains(s) else {
                throw error(k, "unknown key '\(k.string ?? "?")' in \(what) (known: \(keys.joined(separator: ", ")))")
            }
        }
    }

    func string(_ n: Node, what: String) throws -> String {
        guard let s = n.scalar?.string, !s.isEmpty else { throw error(n, "\(what) must be a non-empty text") }
        return s
    }

    /// `5`, `5s`, `500ms`, `2m`.
    func seconds(_ n: Node, what: String) throws -> Double {
        guard let s = n.scalar?.string, let v = Self.duration(s) else { throw error(n, "\(what) must be a duration like 5s, 500ms or 2m") }
        return v
    }

    static func duration(_ s: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (u, f) in units where s.hasSuffix(u) {
            guard let v = Double(s.dropLast(u.count)), v >= 0, v.isFinite else { return nil }
            return v * f
        }
        guard let v = Double(s), v >= 0, v.isFinite else { return nil }
        return v
    }

    func rule(_ n: Node, index: Int) throws -> Rule {
        guard let m = n.mapping else { throw error(n, "rule \(index + 1) must be a mapping with name, scope, when and action") }
        try known(m, ["name", "scope", "when", "clear", "action", "cooldown"], what: "a rule")
        let name = try m["name"].map { try string($0, what: "name") } ?? "rule-\(index + 1)"
        guard let whenNode = m["when"] else { throw error(n, "rule '\(name)' has no `when`") }
        guard let actionNode = m["action"] else { throw error(n, "rule '\(name)' has no `action`") }
        let when = try condition(whenNode, rule: name)
        let clear = try m["clear"].map { try condition($0, rule: name) }
        let scope = try m["scope"].map { try self.scope($0, rule: name) } ?? Scope()
        let action = try self.action(actionNode, rule: name)
        let cooldown = try m["cooldown"].map { try seconds($0, what: "cooldown") } ?? 10
        return Rule(name: name, scope: scope, when: when, clear: clear, action: action, cooldown: cooldown)
    }

    func scope(_ n: Node, rule: String) throws -> Scope {
        guard let m = n.mapping else { throw error(n, "scope of '\(rule)' must be a mapping (cgroup, kind, workload)") }
        try known(m, ["cgroup", "kind", "workload"], what: "a scope")
        var s = Scope()
        if let c = m["cgroup"] {
            s.cgroup = try string(c, what: "scope cgroup")
            guard s.cgroup.hasPrefix("/") else { throw error(c, "scope cgroup must be a path glob starting with / (like /** or /system.slice/*)") }
            guard s.cgroup != "/" else { throw error(c, "scope cgroup '/' is the root cgroup, which starve-tune never touches") }
        }
        if let k = m["kind"] {
            let words = k.sequence.map { Array($0) } ?? [k]
            for w in words {
                guard let text = w.string, let kind = WorkloadKind(rawValue: text) else {
                    throw error(w, "unknown workload kind '\(w.string ?? "?")' (known: \(WorkloadKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                s.kinds.append(kind)
            }
        }
        if let w = m["workload"] { s.workload = try string(w, what: "scope workload") }
        return s
    }

    /// `p99_wait_ms > 50 for 3s`, `verdict == noisy-neighbour for 2s`.
    func condition(_ n: Node, rule: String) throws -> Condition {
        let text = try string(n, what: "a condition")
        let words = text.split(separator: " ").map(String.init)
        let form = "a condition reads `<signal> <op> <value> for <duration>`, like `p99_wait_ms > 50 for 3s`"
        guard words.count == 3 || words.count == 5 else { throw error(n, "'\(text)': \(form)") }
        guard let signal = Signal(rawValue: words[0]) else {
            throw error(n, "unknown signal '\(words[0])' in rule '\(rule)' (known: \(Signal.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let op = Condition.Op(rawValue: words[1]) else {
            throw error(n, "unknown operator '\(words[1])' (known: \(Condition.Op.allCases.map(\.rawValue).joined(separator: " ")))")
        }
        var duration = 0.0
        if words.count == 5 {
            guard words[3] == "for", let d = Self.duration(words[4]) else { throw error(n, "'\(text)': \(form)") }
            duration = d
        }
        if signal.isWord {
            guard op == .eq || op == .ne else { throw error(n, "\(signal.rawValue) is compared with == or != only") }
            let allowed = signal == .verdict ? CgroupVerdict.allCases.map(\.rawValue) : PatternKind.allCases.map(\.rawValue)
            guard allowed.contains(words[2]) else {
                throw error(n, "unknown \(signal.rawValue) '\(words[2])' (known: \(allowed.joined(separator: ", ")))")
            }
            return Condition(signal: signal, op: op, word: words[2], duration: duration)
        }
        guard let v = Double(words[2]), v.isFinite else { throw error(n, "'\(words[2])' is not a number (\(signal.rawValue) is a number)") }
        return Condition(signal: signal, op: op, number: v, duration: duration)
    }

    /// `{weight: x4, min: 1, max: 100}`, `{quota: =0.5, hold: true}`, `{cpuset: spread}`, `{nice: -1, min: -5}`.
    func action(_ n: Node, rule: String) throws -> Action {
        guard let m = n.mapping else { throw error(n, "action of '\(rule)' must be a mapping like {weight: x4, max: 100}") }
        try known(m, Knob.allCases.map(\.rawValue) + ["min", "max", "hold"], what: "an action")
        let knobs = Knob.allCases.filter { m[$0.rawValue] != nil }
        guard knobs.count == 1, let knob = knobs.first, let changeNode = m[knob.rawValue] else {
            throw error(n, "action of '\(rule)' must name exactly one knob (\(Knob.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let text = try string(changeNode, what: "the change")
        guard let change = Self.change(text, knob: knob) else {
            let forms = knob == .cpuset ? "spread or =CPUS (like =0-1)" : knob == .quota ? "xF, /F, +CPUS, -CPUS, =CPUS or =max" : "xF, /F, +N, -N or =N"
            throw error(changeNode, "'\(text)' is not a change of \(knob.rawValue) (\(forms))")
        }
        var a = Action(knob: knob, change: change)
        for (key, path) in [("min", \Action.min), ("max", \Action.max)] {
            guard let b = m[key] else { continue }
            guard let v = b.scalar.flatMap({ Double($0.string) }), v.isFinite else { throw error(b, "\(key) must be a number") }
            a[keyPath: path] = v
        }
        if let lo = a.min, let hi = a.max, lo > hi { throw error(n, "min \(lo) is above max \(hi)") }
        let range = Self.range(knob)
        for v in [a.min, a.max].compactMap({ $0 }) where !range.contains(v) {
            throw error(n, "bound \(v) is outside what \(knob.rawValue) can be (\(range.lowerBound)…\(range.upperBound))")
        }
        if case .multiply(let f) = change, knob == .nice || f <= 0 { throw error(changeNode, "\(knob.rawValue) cannot be multiplied by \(f)") }
        if let h = m["hold"] {
            guard let b = h.bool else { throw error(h, "hold must be true or false") }
            a.hold = b
        }
        if a.hold {
            switch change {
            case .set, .cpus, .spread: break
            case .multiply, .add: throw error(n, "hold applies to settings (=…, spread), not to steps")
            }
        }
        return a
    }

    static func range(_ knob: Knob) -> ClosedRange<Double> {
        switch knob {
        case .weight: return 1...10_000
        case .quota: return 0.01...4096
        case .cpuset: return 0...4095
        case .nice: return -20...19
        }
    }

    static func change(_ text: String, knob: Knob) -> Change? {
        if knob == .cpuset {
            if text == "spread" { return .spread }
            guard text.hasPrefix("="), let cpus = SchedContextParser.cpuList(String(text.dropFirst())), !cpus.isEmpty else { return nil }
            return .cpus(cpus)
        }
        guard let first = text.first else { return nil }
        let rest = String(text.dropFirst())
        if first == "=" && knob == .quota && rest == "max" { return .set(nil) }
        if first == "=" && knob == .nice, let v = Int(rest) { return .set(Double(v)) }
        guard let v = Double(rest), v.isFinite else { return nil }
        switch first {
        case "x", "*": return v > 0 ? .multiply(v) : nil
        case "/": return v > 0 ? .multiply(1 / v) : nil
        case "+": return .add(v)
        case "-": return .add(-v)
        case "=": return range(knob).contains(v) ? .set(v) : nil
        default: return nil
        }
    }
}
