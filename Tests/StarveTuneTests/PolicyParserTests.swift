import StarveModel
import XCTest
@testable import StarveTune

final class PolicyParserTests: XCTestCase {
    func error(_ yaml: String) -> String {
        do { _ = try PolicyParser.parse(yaml, file: "p.yaml"); return "parsed" } catch { return "\(error)" }
    }

    func testAFullRuleParses() throws {
        let p = try PolicyParser.parse("""
            interval: 500ms
            max_changes_per_minute: 6
            neighbour_min_cpu: 30
            rules:
              - name: r
                scope: {cgroup: "/kubepods/**", kind: [pod], workload: "web-*"}
                when: wait_share >= 30 for 2s
                clear: wait_share < 10 for 10s
                action: {weight: x1.5, min: 10, max: 1000}
                cooldown: 1m
            """)
        XCTAssertEqual(p.interval, 0.5)
        XCTAssertEqual(p.maxChangesPerMinute, 6)
        XCTAssertEqual(p.neighbourMinCPUPercent, 30)
        let r = try XCTUnwrap(p.rules.first)
        XCTAssertEqual(r.scope, Scope(cgroup: "/kubepods/**", kinds: [.pod], workload: "web-*"))
        XCTAssertEqual(r.when, Condition(signal: .waitShare, op: .ge, number: 30, duration: 2))
        XCTAssertEqual(r.clear?.duration, 10)
        XCTAssertEqual(r.action, Action(knob: .weight, change: .multiply(1.5), min: 10, max: 1000))
        XCTAssertEqual(r.cooldown, 60)
    }

    func testMistakesAreOneLineWithTheirLine() {
        XCTAssertEqual(error("rules:\n  - when: p98_wait > 3 for 1s\n    action: {weight: x2}\n"),
                       "p.yaml:2: unknown signal 'p98_wait' in rule 'rule-1' (known: \(Signal.allCases.map(\.rawValue).joined(separator: ", ")))")
        XCTAssertTrue(error("rules:\n  - when: verdict > victim\n    action: {weight: x2}\n").hasPrefix("p.yaml:2: verdict is compared with == or != only"))
        XCTAssertTrue(error("rules:\n  - when: verdict == hungry\n    action: {weight: x2}\n").hasPrefix("p.yaml:2: unknown verdict 'hungry'"))
        XCTAssertTrue(error("rules:\n  - when: cpu_percent > 5\n    action: {weight: x2, quota: =1}\n").contains("exactly one knob"))
        XCTAssertTrue(error("rules:\n  - when: cpu_percent > 5\n    action: {weight: x2}\n    scope: {cgroup: /}\n").contains("root cgroup"))
        XCTAssertTrue(error("rules:\n  - when: cpu_percent > 5\n    action: {weight: x2, hold: true}\n").contains("hold applies to settings"))
        XCTAssertTrue(error("rules:\n  - when: cpu_percent > 5\n    action: {weight: x2, min: 500, max: 10}\n").contains("min 500.0 is above max 10.0"))
        XCTAssertTrue(error("rules:\n  - when: cpu_percent > 5\n    action: {weight: x2}\n    colldown: 3s\n").hasPrefix("p.yaml:4: unknown key 'colldown'"))
        XCTAssertTrue(error("rules: [\n").hasPrefix("p.yaml: not valid YAML: line"))
        XCTAssertEqual(error("rules: []\n"), "p.yaml:1: `rules` must be a non-empty list")
        for e in [error("rules:\n  - when: p98_wait > 3 for 1s\n"), error("rules: [\n"), error("- 1\n")] {
            XCTAssertFalse(e.contains("\n"), "one line: \(e)")
        }
    }

    func testChanges() {
        XCTAssertEqual(ReaderProbe.change("x4", .weight), .multiply(4))
        XCTAssertEqual(ReaderProbe.change("/4", .weight), .multiply(0.25))
        XCTAssertEqual(ReaderProbe.change("-1", .nice), .add(-1))
        XCTAssertEqual(ReaderProbe.change("=max", .quota), .set(nil))
        XCTAssertEqual(ReaderProbe.change("=0-1", .cpuset), .cpus([0, 1]))
        XCTAssertEqual(ReaderProbe.change("spread", .cpuset), .spread)
        XCTAssertNil(ReaderProbe.change("=20000", .weight))
    }
}

/// The change syntax through a one-rule policy.
enum ReaderProbe {
    static func change(_ text: String, _ knob: Knob) -> Change? {
        try? PolicyParser.parse("rules:\n  - when: cpu_percent > 1\n    action: {\(knob.rawValue): \"\(text)\"}\n").rules[0].action.change
    }
}
