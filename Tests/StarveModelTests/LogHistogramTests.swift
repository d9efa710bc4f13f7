import StarveModel
import XCTest

final class LogHistogramTests: XCTestCase {
    func testSlotsMatchTheBPFSide() {
        // floor(log2(ns)), 0 and 1 in slot 0, everything huge in the last slot.
        XCTAssertEqual(LogHistogram.slot(for: 0), 0)
        XCTAssertEqual(LogHistogram.slot(for: 1), 0)
        XCTAssertEqual(LogHistogram.slot(for: 2), 1)
        XCTAssertEqual(LogHistogram.slot(for: 1023), 9)
        XCTAssertEqual(LogHistogram.slot(for: 1024), 10)
        XCTAssertEqual(LogHistogram.slot(for: UInt64.max), LogHistogram.slotCount - 1)
    }

    func testPercentilesInterpolateInsideTheSlot() {
        var h = LogHistogram()
        h.counts[10] = 100  // 100 waits in [1024, 2048) ns
        XCTAssertEqual(h.percentile(0.5), 1024 + 512)
        XCTAssertEqual(h.percentile(0.99), 1024 + 1013)
        XCTAssertEqual(h.percentile(1.0), 2048)
        XCTAssertEqual(h.percentile(0.5, ceiling: 1200), 1200, "a known maximum caps the estimate")
    }

    func testPercentilesAcrossSlots() {
        var h = LogHistogram()
        h.counts[10] = 90   // ~1-2 us
        h.counts[20] = 10   // ~1-2 ms
        let p50 = h.percentile(0.5)!, p99 = h.percentile(0.99)!
        XCTAssertTrue((1024..<2048).contains(p50))
        XCTAssertTrue((1 << 20 ..< 1 << 21).contains(p99))
        XCTAssertNil(LogHistogram().percentile(0.5), "no values, no percentile")
    }

    func testDeltaSurvivesA32BitWrap() {
        var old = LogHistogram(counterWidth: .bits32), new = LogHistogram(counterWidth: .bits32)
        old.counts[3] = 0xFFFF_FFF0
        new.counts[3] = 0x10  // wrapped: 0x20 more
        XCTAssertEqual(new.delta(since: old).counts[3], 0x20)
    }
}
