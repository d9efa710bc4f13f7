import StarveJobs
import XCTest

/// What a process tree's row says of the CPU time of children it never saw alive.
final class ProcessTreeRowsTests: XCTestCase {
    func testUnseenChildrenAreSaidWithTheKernelsFigure() throws {
        // The kernel reaped 3.5 s of children; 1.0 s of them were seen alive: 2.5 s unseen.
        let note = try XCTUnwrap(HostGroups.unseenNote(reaped: 3.5, seen: 1.0, cpu: 4))
        XCTAssertTrue(note.hasPrefix("about 2.50 s more CPU time"), note)
        XCTAssertTrue(note.contains("cutime + cstime"), note)
    }

    func testClockTicksAndRacesAreNotReported() {
        XCTAssertNil(HostGroups.unseenNote(reaped: 1.05, seen: 1.0, cpu: 2), "under 0.1 s: ticks")
        XCTAssertNil(HostGroups.unseenNote(reaped: 10.4, seen: 10.0, cpu: 20), "under 5 % of the row")
        XCTAssertNil(HostGroups.unseenNote(reaped: 1.0, seen: 3.0, cpu: 4), "more seen than reaped (orphans reaped by init)")
        XCTAssertNotNil(HostGroups.unseenNote(reaped: 2.0, seen: 0, cpu: 0))
    }
}
