import Foundation
import StarveModel
import XCTest

final class OutputTests: XCTestCase {
    func testCSVQuotesPerRFC4180() {
        XCTAssertEqual(CSV.field("plain"), "plain")
        XCTAssertEqual(CSV.field("a,b"), "\"a,b\"")
        XCTAssertEqual(CSV.field("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(CSV.parseRecord(Substring(CSV.record(["x,y", "q\"", "z"]))), ["x,y", "q\"", "z"])
    }

    func testFixedFormatting() {
        XCTAssertEqual(formatFixed(1.005, decimals: 1), "1.0")
        XCTAssertEqual(formatFixed(-2.25, decimals: 2), "-2.25")
        XCTAssertEqual(formatFixed(75.3333, decimals: 2), "75.33")
        XCTAssertEqual(formatFixed(0.04, decimals: 1), "0.0")
        XCTAssertEqual(formatFixed(12.6, decimals: 0), "13")
        // Past what Int64 holds once scaled: still a number, never a trap.
        XCTAssertEqual(Double(formatFixed(1.8446744073709552e19, decimals: 0)), 1.8446744073709552e19)
        XCTAssertEqual(Double(formatFixed(-3e17, decimals: 2)), -3e17)
    }

    private func sample(comm: String) -> (SampleContext, [TaskInterval]) {
        var t = IntervalTracker(alpha: 1)
        let c = TaskCounters(pid: 42, tgid: 40, comm: comm, nice: 5, startTimeNs: 1)
        _ = t.advance(to: [c], atNs: 0)
        var c2 = c
        c2.runtimeNs = 250_000_000
        return (SampleContext(sample: 1, timestamp: Date(timeIntervalSince1970: 0)), t.advance(to: [c2], atNs: 1_000_000_000))
    }

    func testCSVRowMatchesHeaderEvenWithAHostileComm() {
        let f = SampleFormatter()
        let (ctx, rows) = sample(comm: "evil,\"comm\"")
        let header = CSV.parseRecord(Substring(f.csvHeader))
        let row = CSV.parseRecord(Substring(f.csvRows(ctx, rows)))
        XCTAssertEqual(header.count, row.count)
        let record = Dictionary(uniqueKeysWithValues: zip(header, row))
        XCTAssertEqual(record["comm"], "evil,\"comm\"")
        XCTAssertEqual(record["pid"], "42")
        XCTAssertEqual(record["cpu_pct"], "25.00")
        XCTAssertEqual(record["wait_p50_ns"], "", "no wait: empty, not zero")
        XCTAssertEqual(record["timestamp"], "1970-01-01T00:00:00.000Z")
    }

    func testJSONKeysAreTheCSVColumns() throws {
        let f = SampleFormatter()
        let (ctx, rows) = sample(comm: "tab\there")
        let line = f.jsonLines(ctx, rows)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(Set(object.keys), Set(sampleColumns.map(\.name)))
        XCTAssertEqual(object["comm"] as? String, "tab\there")
        XCTAssertTrue(object["wait_p99_ns"] is NSNull)
        XCTAssertEqual(object["runtime_delta_ns"] as? Int, 250_000_000)
    }

    func testNonFiniteFiguresAreJSONNull() throws {
        let line = JSONLines.object([("nan", .double(.nan, decimals: 2)), ("inf", .double(.infinity, decimals: 0)),
                                     ("neg_inf", .double(-.infinity, decimals: 3)), ("x", .double(1.5, decimals: 2))])
        XCTAssertEqual(line, "{\"nan\":null,\"inf\":null,\"neg_inf\":null,\"x\":1.50}\n")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertTrue(object["nan"] is NSNull && object["inf"] is NSNull && object["neg_inf"] is NSNull)
        XCTAssertEqual(object["x"] as? Double, 1.5)
    }

    func testTaskRowsWithNonFiniteFiguresStayValidJSON() throws {
        let (ctx, rows) = sample(comm: "w")
        var odd = try XCTUnwrap(rows.first)
        odd.runtimeEMANs = .nan
        var inf = odd
        inf.runtimeEMANs = -.infinity
        let text = SampleFormatter().jsonLines(ctx, [odd, inf])
        for line in text.split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            XCTAssertTrue(object["runtime_ema_ns"] is NSNull, String(line))
        }
    }

    func testEveryColumnIsDocumented() throws {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { dir.deleteLastPathComponent() }
        let doc = try String(contentsOf: dir.appendingPathComponent("docs/columns.md"), encoding: .utf8)
        for c in sampleColumns {
            XCTAssertTrue(doc.contains("| `\(c.name)` |"), "docs/columns.md does not document \(c.name)")
        }
        let cgroupSection = try XCTUnwrap(doc.range(of: "## `starve-dump cgroups`")).upperBound
        for c in cgroupColumns {
            XCTAssertTrue(doc[cgroupSection...].contains("| `\(c.name)` |"), "docs/columns.md does not document cgroup column \(c.name)")
        }
        // Each view's table mirrors its column list: same names, same meanings, same order.
        func table(after heading: String) throws -> [String] {
            let start = try XCTUnwrap(doc.range(of: heading), heading).upperBound
            let rest = doc[start...]
            let end = rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex
            return rest[..<end].split(separator: "\n").filter { $0.hasPrefix("| `") }.map(String.init)
        }
        func rows(_ names: [String], _ meanings: [String]) -> [String] { zip(names, meanings).map { "| `\($0)` | \($1) |" } }
        XCTAssertEqual(try table(after: "# starve-dump columns"), rows(sampleColumns.map(\.name), sampleColumns.map(\.meaning)))
        XCTAssertEqual(try table(after: "## `starve-dump cgroups`"), rows(cgroupColumns.map(\.name), cgroupColumns.map(\.meaning)))
        XCTAssertEqual(try table(after: "## `starve-dump processes`"), rows(processColumns.map(\.name), processColumns.map(\.meaning)))
        XCTAssertEqual(try table(after: "## `starve-dump workloads`"), rows(workloadColumns.map(\.name), workloadColumns.map(\.meaning)))
    }
}
