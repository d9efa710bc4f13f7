import StarveModel
import XCTest
@testable import StarveTune

/// Knob values held in a dictionary: the engine's view of cgroupfs on synthetic snapshots.
final class FixedKnobs: KnobReader {
    var values: [String: KnobValue] = [:]
    var allowed: Set<Int>? = [0, 1, 2, 3]
    func key(_ k: Knob, _ p: String) -> String { "\(p)|\(k.rawValue)" }
    func state(_ knob: Knob, of path: String) -> KnobState? { values[key(knob, path)].map { KnobState(value: $0, allowedCPUs: allowed) } }
    func quantize(_ knob: Knob, _ value: KnobValue, of path: String) -> KnobValue { value }
    /// Applies decisions as the live tuner would (lift: back to `original`).
    func apply(_ ds: [Decision], original: [String: KnobValue] = [:]) {
        for d in ds { values[key(d.knob, d.path)] = d.to ?? original[key(d.knob, d.path)] }
    }
}

final class RuleEngineTests: XCTestCase {
    func subject(_ path: String, p99: Double? = nil, verdict: String = "ok", psi: Double? = nil, kind: WorkloadKind = .unknown) -> Subject {
        var n: [Signal: Double] = [:]
        n[.p99WaitMs] = p99
        n[.psiSome] = psi
        return Subject(path: path, workload: WorkloadIdentity(kind: kind, cgroupPath: path), values: SignalValues(numbers: n, words: [.verdict: [verdict]]))
    }

    func policy(_ yaml: String) throws -> Policy { try PolicyParser.parse(yaml, file: "test.yaml") }

    func testConditionMustHoldForItsDurationBeforeTheFirstStep() throws {
        let p = try policy("""
            rules:
              - name: raise
                when: p99_wait_ms > 50 for 3s
                action: {weight: x2, max: 400}
                cooldown: 0s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        k.values[k.key(.weight, "/a")] = .number(100)
        // Two seconds of evidence: not yet; a quiet second resets the clock.
        XCTAssertTrue(e.evaluate(subjects: [subject("/a", p99: 80)], now: 1, interval: 1, knobs: k).decisions.isEmpty)
        XCTAssertTrue(e.evaluate(subjects: [subject("/a", p99: 80)], now: 2, interval: 1, knobs: k).decisions.isEmpty)
        XCTAssertTrue(e.evaluate(subjects: [subject("/a", p99: 10)], now: 3, interval: 1, knobs: k).decisions.isEmpty)
        XCTAssertTrue(e.evaluate(subjects: [subject("/a", p99: 80)], now: 4, interval: 1, knobs: k).decisions.isEmpty)
        XCTAssertTrue(e.evaluate(subjects: [subject("/a", p99: 80)], now: 5, interval: 1, knobs: k).decisions.isEmpty)
        let d = e.evaluate(subjects: [subject("/a", p99: 80)], now: 6, interval: 1, knobs: k).decisions
        XCTAssertEqual(d.map(\.to), [.number(200)], "three seconds of p99 > 50: one step x2")
        XCTAssertEqual(d.first?.kind, .step)
        XCTAssertTrue(d.first?.evidence.contains("p99_wait_ms=80.0") == true, d.first?.evidence ?? "")
    }

    func testCooldownSpacesStepsAndBoundsStopThem() throws {
        let p = try policy("""
            rules:
              - name: raise
                when: p99_wait_ms > 50 for 1s
                action: {weight: x2, max: 300}
                cooldown: 5s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        k.values[k.key(.weight, "/a")] = .number(100)
        var steps: [(Double, KnobValue?)] = []
        var notes: [String] = []
        for t in 1...20 {
            let r = e.evaluate(subjects: [subject("/a", p99: 90)], now: Double(t), interval: 1, knobs: k)
            k.apply(r.decisions)
            steps += r.decisions.map { (Double(t), $0.to) }
            notes += r.notes.map(\.text)
        }
        XCTAssertEqual(steps.map(\.0), [1, 6], "a step, 5 s of cooldown, the step that reaches the bound")
        XCTAssertEqual(steps.map(\.1), [.number(200), .number(300)], "x2, then clamped to max 300")
        XCTAssertEqual(notes, ["weight at its bound (300)"], "said once, not every sample")
    }

    func testHysteresisHeldSettingIsLiftedOnlyAfterTheClearConditionHeld() throws {
        let p = try policy("""
            rules:
              - name: psi-backoff
                scope: {cgroup: "/batch/**"}
                when: psi_some > 60 for 2s
                clear: psi_some < 20 for 3s
                action: {quota: =0.5, hold: true}
                cooldown: 0s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        k.values[k.key(.quota, "/batch/job")] = .number(nil)
        let original = [k.key(.quota, "/batch/job"): KnobValue.number(nil)]
        let psi: [Double] = [70, 70, 70, 40, 10, 10, 50, 10, 10, 10, 10]
        var log: [String] = []
        for (i, x) in psi.enumerated() {
            let r = e.evaluate(subjects: [subject("/batch/job", psi: x)], now: Double(i + 1), interval: 1, knobs: k)
            k.apply(r.decisions, original: original)
            log += r.decisions.map { "\(i + 1):\($0.kind.rawValue)" }
        }
        // Capped after two seconds over 60; 40 is neither over 60 nor under 20 (no change);
        // two seconds under 20 are not three; 50 resets; lifted after three seconds under 20.
        XCTAssertEqual(log, ["2:set", "10:lift"])
        XCTAssertEqual(k.values[k.key(.quota, "/batch/job")], .number(nil), "the original (unlimited) is back")
    }

    func testScopeNeverIncludesTheRootOrOtherSubtrees() throws {
        let p = try policy("""
            rules:
              - name: lower
                scope: {cgroup: "/kubepods/**", kind: [pod, container]}
                when: verdict == noisy-neighbour for 0s
                action: {weight: /2, min: 10}
                cooldown: 0s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        for path in ["/", "/kubepods/pod1", "/system.slice/x.service", "/kubepods/pod2"] { k.values[k.key(.weight, path)] = .number(100) }
        let r = e.evaluate(subjects: [subject("/", verdict: "noisy-neighbour", kind: .pod),
                                      subject("/kubepods/pod1", verdict: "noisy-neighbour", kind: .pod),
                                      subject("/system.slice/x.service", verdict: "noisy-neighbour", kind: .pod),
                                      subject("/kubepods/pod2", verdict: "noisy-neighbour", kind: .service)],
                           now: 1, interval: 1, knobs: k)
        XCTAssertEqual(r.decisions.map(\.path), ["/kubepods/pod1"], "not the root, not outside /kubepods, not a service")
        XCTAssertEqual(r.decisions.first?.to, .number(50))
        XCTAssertFalse(Scope(cgroup: "/**").contains(path: "/", identity: nil))
        XCTAssertFalse(Scope(cgroup: "/**").contains(path: "/a/../..", identity: nil))
        XCTAssertTrue(Glob.matches("/a/**", "/a/b/c"))
        XCTAssertFalse(Glob.matches("/a/*", "/a/b/c"))
        XCTAssertTrue(Glob.matches("/starve-*", "/starve-test-1"))
        XCTAssertTrue(Glob.matches("/batch*/**", "/batch-1"))
        XCTAssertTrue(Glob.matches("/batch*/**", "/batch-1/step/task"))
        XCTAssertFalse(Glob.matches("/batch*/**", "/other/batch-1"))
        XCTAssertTrue(Glob.matches("/a/**", "/a"))
        XCTAssertTrue(Glob.matches("/**", "/a/b"))
        XCTAssertTrue(Glob.matches("/**/x.service", "/system.slice/x.service"))
    }

    func testGlobalCapHoldsBackChangesBeyondTheMinutesBudget() throws {
        let p = try policy("""
            max_changes_per_minute: 2
            rules:
              - name: lower
                when: verdict == noisy-neighbour for 0s
                action: {weight: /2, min: 1}
                cooldown: 0s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        let paths = ["/a", "/b", "/c"]
        for path in paths { k.values[k.key(.weight, path)] = .number(1000) }
        var count: [Int] = []
        for t in [1.0, 2, 30, 61, 62] {
            let r = e.evaluate(subjects: paths.map { subject($0, verdict: "noisy-neighbour") }, now: t, interval: 1, knobs: k)
            k.apply(r.decisions)
            count.append(r.decisions.count)
        }
        XCTAssertEqual(count, [2, 0, 0, 2, 0], "two changes per 60 s, whatever the rules want")
    }

    func testReleasedKnobIsNeverTouchedAgain() throws {
        let p = try policy("""
            rules:
              - name: raise
                when: verdict == victim for 0s
                action: {weight: x2, max: 1000}
                cooldown: 0s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        k.values[k.key(.weight, "/v")] = .number(10)
        XCTAssertEqual(e.evaluate(subjects: [subject("/v", verdict: "victim")], now: 1, interval: 1, knobs: k).decisions.count, 1)
        e.release(.weight, of: "/v")
        let r = e.evaluate(subjects: [subject("/v", verdict: "victim")], now: 2, interval: 1, knobs: k)
        XCTAssertTrue(r.decisions.isEmpty)
        XCTAssertEqual(r.notes.map(\.text), ["not managed any more (changed by someone else)"])
    }

    func testVanishedSubjectLosesItsState() throws {
        let p = try policy("""
            rules:
              - name: raise
                when: p99_wait_ms > 50 for 2s
                action: {weight: +10}
                cooldown: 0s
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        k.values[k.key(.weight, "/v")] = .number(10)
        _ = e.evaluate(subjects: [subject("/v", p99: 90)], now: 1, interval: 1, knobs: k)
        _ = e.evaluate(subjects: [], now: 2, interval: 1, knobs: k)  // gone (and made again)
        XCTAssertTrue(e.evaluate(subjects: [subject("/v", p99: 90)], now: 3, interval: 1, knobs: k).decisions.isEmpty,
                      "the evidence before it vanished does not count for the new cgroup")
        XCTAssertEqual(e.evaluate(subjects: [subject("/v", p99: 90)], now: 4, interval: 1, knobs: k).decisions.first?.to, .number(20))
    }

    func testSpreadSetsTheParentsCPUs() throws {
        let p = try policy("""
            rules:
              - name: spread
                when: p99_wait_ms > 5 for 0s
                action: {cpuset: spread}
            """)
        var e = RuleEngine(policy: p)
        let k = FixedKnobs()
        k.values[k.key(.cpuset, "/x")] = .cpus([1])
        k.allowed = [0, 1]
        let d = e.evaluate(subjects: [subject("/x", p99: 9)], now: 1, interval: 1, knobs: k).decisions
        XCTAssertEqual(d.map(\.to), [.cpus([0, 1])])
        XCTAssertEqual(d.first?.kind, .set)
    }
}
