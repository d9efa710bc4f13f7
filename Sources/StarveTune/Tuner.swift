import Glibc
import StarveHost
import StarveModel
import StarveMonitor

/// How a ``Tuner`` runs.
public struct TunerSettings: Sendable {
    /// Write knobs (false: dry run, the default: decide and say what would be written).
    public var act = false
    /// Leave the changes in place on exit instead of restoring the originals.
    public var keep = false
    /// Only cgroups matching this glob as well as a rule's scope (nil: the rules' scopes alone).
    public var scope: String?
    /// Print each sample's subjects (in some rule's scope) with the signals the rules read.
    public var explain = false

    public init(act: Bool = false, keep: Bool = false, scope: String? = nil, explain: Bool = false) {
        self.act = act
        self.keep = keep
        self.scope = scope
        self.explain = explain
    }
}

/// The tuner: consumes the sampler's snapshots, turns them into subjects and signals, lets the
/// ``RuleEngine`` decide, writes the knobs (or, dry, says what it would write), logs every
/// change with its reason and the original value, stands down from knobs someone else
/// changed, and restores the originals at the end.
public final class Tuner {
    public let policy: Policy
    public let settings: TunerSettings
    public let knobs: CgroupKnobs
    private let audit: AuditLog?
    private let say: (String) -> Void
    private var engine: RuleEngine
    private var extractor = SignalExtractor()
    private let patterns = PatternDetector()
    /// What the tuner wrote and has not given back: the original and the last value written.
    private struct Managed { var cgroup: String; var knob: Knob; var rule: String; var original: String; var written: String }
    private var managed: [KnobTarget: Managed] = [:]
    private var order: [KnobTarget] = []
    /// The workload each cgroup was last seen as (for held cgroups that had no thread since).
    private var lastWorkload: [String: WorkloadIdentity] = [:]
    public private(set) var changes = 0

    /// Checks that the policy can run here (the knobs it names exist; with `act`, that the
    /// cgroup files are writable) and writes the `start` record. Throws one line otherwise.
    public init(policy: Policy, settings: TunerSettings, knobs: CgroupKnobs, audit: AuditLog?, say: @escaping (String) -> Void) throws {
        self.policy = policy
        self.settings = settings
        self.knobs = knobs
        self.audit = audit
        self.say = say
        engine = RuleEngine(policy: policy)
        try Self.check(policy: policy, act: settings.act, knobs: knobs)
        try audit?.append(AuditRecord(event: .start, reason: "\(policy.rules.count) rules, \(settings.act ? "act" : "dry run")\(settings.keep ? ", keep" : "")", dryRun: !settings.act))
    }

    /// Whether `policy` can run here: the knobs it names exist, and with `act` cgroupfs is
    /// writable. Throws one line; tools call it before opening anything else.
    public static func check(policy: Policy, act: Bool, knobs: CgroupKnobs) throws {
        if policy.rules.contains(where: { $0.action.knob == .cpuset }) && knobs.cpuset == nil {
            throw StarveError("the policy changes cpusets but no cgroup hierarchy has the cpuset controller here")
        }
        if act {
            let probe = knobs.cpu.directory("/") + "/cgroup.procs"
            guard access(probe, W_OK) == 0 else {
                throw StarveError("starve-tune --act cannot write cgroupfs (\(probe): \(String(cString: strerror(errno)))): run as root, or leave out --act for a dry run")
            }
        }
    }

    /// One sample: checks the knobs it set, decides, acts.
    public func process(_ snapshot: Snapshot, severeNs: UInt64) throws {
        try checkOwnership()
        // Transitions are starve-dump's to print; the tuner reads which patterns are active.
        _ = patterns.observe(PatternObservation.cgroups(snapshot.cgroups, intervals: snapshot.threads, severeNs: severeNs))
        var bySubject: [String: Set<String>] = [:]
        for p in patterns.active { bySubject[p.subject, default: []].insert(p.kind.rawValue) }
        var pressure: [String: [Signal: Double]] = [:]
        var subjects: [Subject] = []
        for r in snapshot.cgroups where r.path.hasPrefix("/") && r.path != "/" {
            if let s = settings.scope, !Glob.matches(s, r.path) { continue }
            let file = knobs.pressureFile(of: r.path)
            if pressure[file] == nil {
                pressure[file] = extractor.pressureSignals(RawFile.read(file).flatMap(Pressure.parse), source: file, intervalNs: snapshot.intervalNs)
            }
            let f = r.futex.map { (waitNs: $0.waitNs, threads: r.tasks) }
            subjects.append(Subject(path: r.path, workload: r.workload,
                                    values: SignalExtractor.values(of: r, patterns: bySubject[r.path] ?? [], pressure: pressure[file] ?? [:], futex: f)))
        }
        // A cgroup whose knob we hold but that had no thread this interval (its work stopped)
        // is still a subject: idle figures and its pressure, so a held setting can be lifted.
        let seen = Set(subjects.map(\.path))
        for path in Set(managed.values.map(\.cgroup)) where !seen.contains(path) && access(knobs.cpu.directory(path), F_OK) == 0 {
            let file = knobs.pressureFile(of: path)
            if pressure[file] == nil {
                pressure[file] = extractor.pressureSignals(RawFile.read(file).flatMap(Pressure.parse), source: file, intervalNs: snapshot.intervalNs)
            }
            var numbers = pressure[file] ?? [:]
            for s in [Signal.cpuPercent, .waitMs, .waitShare, .preemptedByOther, .maxWaitMs] { numbers[s] = 0 }
            subjects.append(Subject(path: path, workload: lastWorkload[path],
                                    values: SignalValues(numbers: numbers, words: [.verdict: [CgroupVerdict.ok.rawValue], .pattern: []])))
        }
        let held = Set(managed.values.map(\.cgroup))
        lastWorkload = lastWorkload.filter { held.contains($0.key) }
        for s in subjects { if let w = s.workload { lastWorkload[s.path] = w } }
        if settings.explain {
            let read = Array(Set(policy.rules.flatMap { [$0.when.signal] + ($0.clear.map { [$0.signal] } ?? []) } + [.p99WaitMs, .cpuPercent]))
                .sorted { $0.rawValue < $1.rawValue }
            for s in subjects where policy.rules.contains(where: { $0.scope.contains(path: s.path, identity: s.workload) }) {
                say("\(isoNow()) sample \(snapshot.context.sample) \(s.path): \(s.values.evidence(read))")
            }
        }
        let (decisions, notes) = engine.evaluate(subjects: subjects, now: Double(snapshot.atNs) / 1e9,
                                                 interval: Double(snapshot.intervalNs) / 1e9, knobs: knobs)
        for n in notes {
            say("\(isoNow()) note \(n.rule) \(n.path): \(n.text)")
            try audit?.append(AuditRecord(event: .note, rule: n.rule, cgroup: n.path, reason: n.text))
        }
        for d in decisions { try apply(d) }
    }

    private func apply(_ d: Decision) throws {
        let what = "\(d.rule) \(d.path) \(d.knob.rawValue) \(d.from) -> \(d.to.map { "\($0)" } ?? "original")"
        if d.kind == .lift {
            let targets = order.filter { managed[$0]?.cgroup == d.path && managed[$0]?.knob == d.knob }
            if !settings.act {
                say("\(isoNow()) would-lift \(what) — \(d.evidence)")
                try audit?.append(AuditRecord(event: .wouldChange, rule: d.rule, cgroup: d.path, knob: d.knob.rawValue, from: "\(d.from)", to: "original", reason: d.evidence, dryRun: true))
                return
            }
            for t in targets { try restore(t, event: .lift, reason: d.evidence) }
            say("\(isoNow()) lift \(what) — \(d.evidence)")
            return
        }
        guard let to = d.to else { return }
        let targets = knobs.targets(d.knob, of: d.path)
        guard let raw = knobs.raw(d.knob, to, of: d.path), !targets.isEmpty else {
            say("\(isoNow()) error \(what): nothing to write")
            return
        }
        if !settings.act {
            say("\(isoNow()) would-change \(what) [\(targets.map { "\($0)=\($0.read() ?? "?")" }.prefix(3).joined(separator: " ")) -> \(raw)] — \(d.evidence)")
            try audit?.append(AuditRecord(event: .wouldChange, rule: d.rule, cgroup: d.path, knob: d.knob.rawValue,
                                          target: targets.first?.description, from: "\(d.from)", to: raw, reason: d.evidence, dryRun: true))
            return
        }
        for t in targets {
            guard let now = t.read() else { continue }
            if now == raw { continue }
            let original = managed[t]?.original ?? now
            // The record first: killed between the two, rollback finds the original unchanged.
            try audit?.append(AuditRecord(event: .change, rule: d.rule, cgroup: d.path, knob: d.knob.rawValue, target: t.description,
                                          from: now, to: raw, original: original, reason: d.evidence, dryRun: false))
            if let e = t.write(raw) {
                say("\(isoNow()) error \(what): \(e); not managing it")
                try audit?.append(AuditRecord(event: .error, rule: d.rule, cgroup: d.path, knob: d.knob.rawValue, target: t.description, reason: e))
                engine.release(d.knob, of: d.path)
                continue
            }
            // Read back: the kernel may round (v1 shares) or refuse silently.
            let readBack = t.read() ?? raw
            if managed[t] == nil { order.append(t) }
            managed[t] = Managed(cgroup: d.path, knob: d.knob, rule: d.rule, original: original, written: readBack)
            changes += 1
        }
        say("\(isoNow()) change \(what) [\(targets.first.map { "\($0)" } ?? "") -> \(raw)\(targets.count > 1 ? ", \(targets.count) threads" : "")] — \(d.evidence)")
    }

    /// Knobs that changed under us (someone else wrote them) are left to whoever did; knobs of
    /// cgroups or threads that are gone are forgotten.
    private func checkOwnership() throws {
        for t in order {
            guard let m = managed[t] else { continue }
            guard let now = t.read() else {
                managed[t] = nil
                say("\(isoNow()) vanished \(m.cgroup) \(m.knob.rawValue) (\(t)): nothing to restore")
                try audit?.append(AuditRecord(event: .vanished, rule: m.rule, cgroup: m.cgroup, knob: m.knob.rawValue, target: t.description))
                continue
            }
            if now != m.written {
                managed[t] = nil
                engine.release(m.knob, of: m.cgroup)
                let why = "changed from \(m.written) (set by starve-tune) to \(now) by someone else\(Self.writers(of: t)); not managing it any more, not restoring it"
                say("\(isoNow()) stand-down \(m.cgroup) \(m.knob.rawValue) (\(t)): \(why)")
                try audit?.append(AuditRecord(event: .standDown, rule: m.rule, cgroup: m.cgroup, knob: m.knob.rawValue, target: t.description,
                                              from: m.written, to: now, original: m.original, reason: why))
            }
        }
        order.removeAll { managed[$0] == nil }
    }

    /// Processes that hold the knob's file open for writing now (a manager that keeps it open);
    /// usually none: a shell `echo >` is gone by the time we look.
    static func writers(of t: KnobTarget) -> String {
        guard case .file(let path) = t else { return "" }
        var found: [String] = []
        for pid in (try? listDirectory("/proc")) ?? [] where Int32(pid) != nil {
            for fd in (try? listDirectory("/proc/\(pid)/fd")) ?? [] {
                var buf = [CChar](repeating: 0, count: 4096)
                let n = readlink("/proc/\(pid)/fd/\(fd)", &buf, buf.count - 1)
                guard n > 0, String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == path else { continue }
                let comm = RawFile.read("/proc/\(pid)/comm")?.trimmingWhitespace() ?? "?"
                found.append("\(comm)[\(pid)]")
            }
            if found.count >= 3 { break }
        }
        return found.isEmpty ? " (no process holds the file open now)" : " (held open by \(found.joined(separator: ", ")))"
    }

    private func restore(_ t: KnobTarget, event: AuditRecord.Event, reason: String) throws {
        guard let m = managed[t] else { return }
        managed[t] = nil
        guard let now = t.read() else {
            try audit?.append(AuditRecord(event: .vanished, rule: m.rule, cgroup: m.cgroup, knob: m.knob.rawValue, target: t.description))
            return
        }
        guard now == m.written else {
            say("\(isoNow()) stand-down \(m.cgroup) \(m.knob.rawValue) (\(t)): now \(now), not \(m.written) as set: left alone")
            try audit?.append(AuditRecord(event: .standDown, rule: m.rule, cgroup: m.cgroup, knob: m.knob.rawValue, target: t.description,
                                          from: m.written, to: now, original: m.original, reason: "changed by someone else; left alone"))
            return
        }
        if let e = t.write(m.original) {
            say("\(isoNow()) error restoring \(t) to \(m.original): \(e)")
            try audit?.append(AuditRecord(event: .error, rule: m.rule, cgroup: m.cgroup, knob: m.knob.rawValue, target: t.description, reason: "restore: \(e)"))
            return
        }
        try audit?.append(AuditRecord(event: event, rule: m.rule, cgroup: m.cgroup, knob: m.knob.rawValue, target: t.description,
                                      from: now, to: m.original, original: m.original, reason: reason))
        if event == .restore { say("\(isoNow()) restore \(m.cgroup) \(m.knob.rawValue) (\(t)) \(now) -> \(m.original)") }
    }

    /// The end of the run: restores every knob still managed (unless `keep`), then writes `stop`.
    public func finish(reason: String) throws {
        try checkOwnership()
        if !settings.keep {
            for t in order.reversed() { try restore(t, event: .restore, reason: reason) }
            order.removeAll()
        }
        try audit?.append(AuditRecord(event: .stop, reason: reason + (settings.keep ? "; kept \(managed.count) changes" : "")))
    }
}

func listDirectory(_ path: String) throws -> [String] {
    guard let d = opendir(path) else { throw StarveError("cannot list \(path)") }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafePointer(to: &e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        if name != "." && name != ".." { out.append(name) }
    }
    return out
}

/// Rollback after a crash: from the audit log, every knob changed and not given back since is
/// restored to its original, if it still holds what the tuner wrote (else someone else changed
/// it: left alone, and said so).
public enum Rollback {
    public struct Outcome: Sendable, Equatable {
        public var restored: [String]
        public var leftAlone: [String]
    }

    public static func run(auditPath: String, say: (String) -> Void) throws -> Outcome {
        let records = try AuditLog.records(at: auditPath)
        struct Open { var cgroup: String; var knob: String; var original: String; var written: String }
        var open: [String: Open] = [:]
        var order: [String] = []
        for r in records {
            guard let t = r.target else { continue }
            switch r.event {
            case .change:
                guard let to = r.to else { continue }
                if let o = open[t] { open[t]?.written = to; _ = o }
                else {
                    open[t] = Open(cgroup: r.cgroup ?? "?", knob: r.knob ?? "?", original: r.original ?? r.from ?? "", written: to)
                    order.append(t)
                }
            case .restore, .lift, .standDown, .vanished:
                open[t] = nil
            default: break
            }
        }
        let log = try AuditLog(path: auditPath)
        var out = Outcome(restored: [], leftAlone: [])
        for t in order {
            guard let o = open[t], let target = KnobTarget(t) else { continue }
            guard let now = target.read() else {
                say("vanished \(o.cgroup) \(o.knob) (\(t)): nothing to restore")
                try log.append(AuditRecord(event: .vanished, cgroup: o.cgroup, knob: o.knob, target: t, reason: "rollback"))
                continue
            }
            if now == o.original {
                say("unchanged \(o.cgroup) \(o.knob) (\(t)) = \(now): already the original")
                try log.append(AuditRecord(event: .restore, cgroup: o.cgroup, knob: o.knob, target: t, from: now, to: now, original: o.original, reason: "rollback: already original"))
                continue
            }
            guard now == o.written else {
                say("left alone \(o.cgroup) \(o.knob) (\(t)): now \(now), starve-tune wrote \(o.written): someone else changed it")
                try log.append(AuditRecord(event: .standDown, cgroup: o.cgroup, knob: o.knob, target: t, from: o.written, to: now, original: o.original, reason: "rollback: changed by someone else"))
                out.leftAlone.append(t)
                continue
            }
            if let e = target.write(o.original) { throw StarveError("rollback: cannot restore \(t) to \(o.original): \(e)") }
            say("restored \(o.cgroup) \(o.knob) (\(t)) \(now) -> \(o.original)")
            try log.append(AuditRecord(event: .restore, cgroup: o.cgroup, knob: o.knob, target: t, from: now, to: o.original, original: o.original, reason: "rollback"))
            out.restored.append(t)
        }
        return out
    }
}
