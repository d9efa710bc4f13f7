import StarveModel
import XCTest

/// Each interval's share of the work of threads that exited: never counted twice with what the
/// threads were counted for while alive, never lost when the fold comes a read late.
final class ExitedWorkTests: XCTestCase {
    let key = ProcessInCgroup(cgroupID: 7, tgid: 100, start: 3)

    func work(runtime: UInt64, waits: UInt64, threads: UInt64 = 1) -> ThreadWork {
        var w = ThreadWork()
        w.threads = threads
        w.runtimeNs = runtime
        w.waitWakeup = WaitCounters(totalNs: waits * 10, count: waits, maxNs: 10)
        var h = [UInt64](repeating: 0, count: LogHistogram.slotCount)
        h[3] = waits
        w.waitHistogram = h
        return w
    }

    func thread(runtime: UInt64, waits: UInt64) -> TaskCounters {
        var hist = [UInt64](repeating: 0, count: LogHistogram.slotCount)
        hist[3] = waits
        return TaskCounters(pid: 101, tgid: 100, comm: "t", cpuCgroupID: 7, runtimeNs: runtime,
                            waitAfterWakeup: WaitCounters(totalNs: waits * 10, count: waits, maxNs: 10),
                            waitHistogram: LogHistogram(counts: hist, counterWidth: .bits32))
    }

    func testThreadBornAndGoneWithinAnIntervalCountsWhole() {
        var e = ExitedWork()
        XCTAssertTrue(e.advance(reading: [:], vanished: []).isEmpty, "the first read is the baseline")
        let share = e.advance(reading: [key: work(runtime: 500, waits: 4)], vanished: [])
        XCTAssertEqual(share[key]?.runtimeNs, 500)
        XCTAssertEqual(share[key]?.waitCount, 4)
        XCTAssertEqual(share[key]?.waitHistogram[3], 4)
    }

    func testThreadSeenAliveCountsOnlyWhatCameAfter() {
        var e = ExitedWork()
        _ = e.advance(reading: [:], vanished: [])
        var seen = thread(runtime: 300, waits: 3)
        seen.processStart = 3
        // It vanished this read, and its fold (its whole life: 350 ns, 4 waits) is in.
        let share = e.advance(reading: [key: work(runtime: 350, waits: 4)], vanished: [seen])
        XCTAssertEqual(share[key]?.runtimeNs, 50)
        XCTAssertEqual(share[key]?.waitCount, 1)
        XCTAssertEqual(share[key]?.waitHistogram[3], 1)
        XCTAssertEqual(share[key]?.threads, 0, "the thread itself was counted while alive")
    }

    func testAFoldThatComesAReadLateIsNeitherLostNorCountedTwice() {
        var e = ExitedWork()
        _ = e.advance(reading: [:], vanished: [])
        var seen = thread(runtime: 300, waits: 3)
        seen.processStart = 3
        // Gone from the threads, not yet in the map.
        XCTAssertTrue(e.advance(reading: [:], vanished: [seen]).isEmpty)
        // The fold arrives.
        let share = e.advance(reading: [key: work(runtime: 360, waits: 5)], vanished: [])
        XCTAssertEqual(share[key]?.runtimeNs, 60)
        XCTAssertEqual(share[key]?.waitCount, 2)
        // Later growth of the same process's entry (another of its threads) counts whole.
        let more = e.advance(reading: [key: work(runtime: 400, waits: 6, threads: 2)], vanished: [])
        XCTAssertEqual(more[key]?.runtimeNs, 40)
        XCTAssertEqual(more[key]?.threads, 1)
    }

    func testAnEntryMissingForAReadDoesNotCountAgainWhenItReturns() {
        var e = ExitedWork()
        _ = e.advance(reading: [key: work(runtime: 100, waits: 1)], vanished: [])
        _ = e.advance(reading: [:], vanished: [])
        let back = e.advance(reading: [key: work(runtime: 100, waits: 1)], vanished: [])
        XCTAssertNil(back[key], "its value was kept: nothing new")
    }

    func testArithmeticNeverGoesBelowZero() {
        let a = work(runtime: 10, waits: 1), b = work(runtime: 30, waits: 2)
        XCTAssertTrue((a - b).isZero)
        XCTAssertEqual((a + b).runtimeNs, 40)
        XCTAssertEqual((b - a).waitCount, 1)
    }
}
