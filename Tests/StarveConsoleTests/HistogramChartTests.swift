import Foundation
import StarveConsole
import StarveModel
import XCTest

/// hist's bars and JSON, and top's keys, on fixed inputs.
final class HistogramChartTests: XCTestCase {
    private func row(_ slots: [Int: UInt64]) -> WaitHistogramRow {
        var h = LogHistogram()
        for (i, c) in slots { h.counts[i] = c }
        return WaitHistogramRow(grouping: .thread, tid: 42, pid: 41, comm: "worker", workload: nil, histogram: h,
                                waitCount: h.total, waitNs: 123_456_789)
    }

    func testBarsLumpBucketsBelowOneUnitAndScaleToTheFullest() {
        // Slots 3 and 9 (8 ns, 512 ns) are under 1 µs; slot 10 is 1.024-2.048 µs; slot 20 ~1 ms.
        let text = HistogramChart.render(row([3: 1, 9: 3, 10: 8, 20: 2]), unit: .us)
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "tid = 42 worker (pid 41)  (waits 14, total 123.5 ms)")
        XCTAssertTrue(lines[1].contains("usecs") && lines[1].contains("count") && lines[1].contains("distribution"), lines[1])
        let buckets = lines.dropFirst(2)
        XCTAssertEqual(buckets.count, 12, "0 -> 1.024, then slots 10 to 20: \(text)")
        XCTAssertTrue(buckets.first!.contains("0 -> 1.024") && buckets.first!.contains(": 4 "), buckets.first!)
        let fullest = buckets.first { $0.contains("1.024 -> 2.048") }!
        XCTAssertTrue(fullest.contains("|" + String(repeating: "*", count: 40) + "|"), fullest)
        let last = buckets.last!
        XCTAssertTrue(last.contains("1049 -> 2097") && last.contains(": 2 ") && last.contains("|" + String(repeating: "*", count: 10) + " "), last)
        // Every count printed sums to the waits.
        let counts = buckets.compactMap { UInt64($0.split(separator: ":")[1].split(separator: " ")[0]) }
        XCTAssertEqual(counts.reduce(0, +), 14)
    }

    func testMillisecondsAndAnEmptyHistogram() {
        let text = HistogramChart.render(row([20: 5, 27: 1]), unit: .ms)
        XCTAssertTrue(text.contains("msecs"))
        XCTAssertFalse(text.contains(" 0 -> "), "no wait under 1 ms, no first line: \(text)")
        XCTAssertTrue(text.contains("1.049 -> 2.097") && text.contains(": 5 "), text)
        XCTAssertTrue(HistogramChart.render(row([5: 2, 19: 1, 20: 1]), unit: .ms).contains("0 -> 1.049    : 3 "), "slots 0-19 are under 1.049 ms")
        XCTAssertTrue(text.contains("134 -> 268"), text)
        XCTAssertTrue(HistogramChart.render(row([:]), unit: .us).contains("(no waits)"))
    }

    func testJSONCarriesEveryNonEmptySlotWithItsBounds() throws {
        let line = HistogramChart.json(row([10: 8, 35: 1]), unit: .us, context: nil, intervalNs: nil)
        let o = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(o["sample"] as? String, "since-load")
        XCTAssertEqual(o["tid"] as? Int, 42)
        XCTAssertEqual(o["pid"] as? Int, 41)
        XCTAssertEqual(o["wait_count"] as? Int, 9)
        XCTAssertEqual(o["unit"] as? String, "us")
        let buckets = try XCTUnwrap(o["buckets"] as? [[String: Any]])
        XCTAssertEqual(buckets.map { $0["slot"] as? Int }, [10, 35])
        XCTAssertEqual(buckets[0]["low_ns"] as? Int, 1024)
        XCTAssertEqual(buckets[0]["high_ns"] as? Int, 2048)
        XCTAssertEqual(buckets[0]["low"] as? Double, 1.024)
        XCTAssertTrue(buckets[1]["high_ns"] is NSNull, "the last slot is open-ended")
    }

    func testTopKeys() {
        var s = TopState()
        XCTAssertEqual(s.view, .workloads)
        XCTAssertEqual(s.sort, .wait)
        XCTAssertTrue(s.press(UInt8(ascii: "p")))
        XCTAssertEqual(s.view, .processes)
        XCTAssertTrue(s.press(UInt8(ascii: "\t")))
        XCTAssertEqual(s.view, .threads)
        XCTAssertTrue(s.press(UInt8(ascii: "C")))
        XCTAssertEqual(s.sort, .cpu)
        XCTAssertTrue(s.press(UInt8(ascii: "s")))
        XCTAssertEqual(s.sort, WorkloadSort.cpu.next)
        XCTAssertFalse(s.press(UInt8(ascii: "x")))
    }
}
