import StarveModel
import XCTest

final class IntervalTrackerTests: XCTestCase {
    private func task(_ pid: UInt32, runtime: UInt64, start: UInt64 = 1, wait: UInt64 = 0, switches: UInt64 = 0) -> TaskCounters {
        TaskCounters(pid: pid, tgid: pid, comm: "t\(pid)", startTimeNs: start, runtimeNs: runtime,
                     involuntarySwitches: switches, waitAfterPreemption: WaitCounters(totalNs: wait, count: switches, maxNs: wait))
    }

    func testFirstSnapshotIsTheBaseline() {
        var t = IntervalTracker(alpha: 0.5)
        XCTAssertTrue(t.advance(to: [task(1, runtime: 100)], atNs: 0).isEmpty)
    }

    func testDeltasCPUPercentAndEMA() throws {
        var t = IntervalTracker(alpha: 0.5)
        _ = t.advance(to: [task(1, runtime: 0)], atNs: 0)
        let a = try XCTUnwrap(t.advance(to: [task(1, runtime: 500_000_000, wait: 10, switches: 2)], atNs: 1_000_000_000).first)
        XCTAssertEqual(a.runtimeDeltaNs, 500_000_000)
        XCTAssertEqual(a.cpuPercent, 50, accuracy: 1e-9)
        XCTAssertEqual(a.runtimeEMANs, 500_000_000, "the first interval seeds the EMA")
        XCTAssertEqual(a.switches, 2)
        XCTAssertEqual(a.waitNs, 10)
        let b = try XCTUnwrap(t.advance(to: [task(1, runtime: 600_000_000, wait: 10, switches: 2)], atNs: 2_000_000_000).first)
        XCTAssertEqual(b.runtimeDeltaNs, 100_000_000)
        XCTAssertEqual(b.runtimeEMANs, 0.5 * 100_000_000 + 0.5 * 500_000_000)
        XCTAssertEqual(b.switches, 0)
    }

    func testAReusedPidStartsFromZero() throws {
        var t = IntervalTracker(alpha: 1)
        _ = t.advance(to: [task(7, runtime: 900, start: 1)], atNs: 0)
        let r = try XCTUnwrap(t.advance(to: [task(7, runtime: 50, start: 2)], atNs: 1000).first)
        XCTAssertEqual(r.runtimeDeltaNs, 50, "a new task behind an old pid must not show a negative or wrapped delta")
    }

    func testAnOverestimatedRuntimeNeverWrapsAndIsNotCountedTwice() throws {
        var t = IntervalTracker(alpha: 1)
        _ = t.advance(to: [task(3, runtime: 1_000)], atNs: 0)
        // Read while on a CPU, the estimate came out above what the thread had at switch-out.
        let over = try XCTUnwrap(t.advance(to: [task(3, runtime: 5_000)], atNs: 100).first)
        XCTAssertEqual(over.runtimeDeltaNs, 4_000)
        let back = try XCTUnwrap(t.advance(to: [task(3, runtime: 4_900)], atNs: 200).first)
        XCTAssertEqual(back.runtimeDeltaNs, 0, "a runtime below the last reading is a zero delta, not a wrap")
        XCTAssertEqual(back.runtimeEMANs, 0)
        XCTAssertEqual(back.task.runtimeNs, 5_000, "the running total never goes down")
        let next = try XCTUnwrap(t.advance(to: [task(3, runtime: 6_000)], atNs: 300).first)
        XCTAssertEqual(next.runtimeDeltaNs, 1_000, "the 100 ns counted early are not counted again")
    }

    func testNewTasksCountFromZeroAndVanishedOnesAreForgotten() {
        var t = IntervalTracker(alpha: 1)
        _ = t.advance(to: [task(1, runtime: 10)], atNs: 0)
        let r = t.advance(to: [task(2, runtime: 30)], atNs: 100)
        XCTAssertEqual(r.map(\.task.pid), [2])
        XCTAssertEqual(r[0].runtimeDeltaNs, 30)
    }

    func testFilterAndBusiest() {
        let f = TaskFilter(tgids: [5], comm: "work", includeKernelThreads: false)
        var k = task(5, runtime: 0); k.comm = "kworker"; k.isKernelThread = true
        var w = task(5, runtime: 0); w.comm = "starve-work"
        XCTAssertFalse(f.matches(k))
        XCTAssertTrue(f.matches(w))
        XCTAssertFalse(f.matches(task(6, runtime: 0)))

        var t = IntervalTracker(alpha: 1)
        _ = t.advance(to: [task(1, runtime: 0), task(2, runtime: 0), task(3, runtime: 0)], atNs: 0)
        let r = t.advance(to: [task(1, runtime: 5), task(2, runtime: 50), task(3, runtime: 5, wait: 9)], atNs: 10)
        XCTAssertEqual(busiest(r, top: 2).map(\.task.pid), [2, 3])
        XCTAssertEqual(busiest(r, top: 0).count, 3)
    }
}
