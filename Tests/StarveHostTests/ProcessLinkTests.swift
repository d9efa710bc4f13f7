import StarveModel
import StarveHost
import XCTest

/// Parents, process groups and sessions from `/proc/<pid>/stat`, and command lines.
final class ProcessLinkTests: XCTestCase {
    func testStatFieldsAfterACommandNameWithSpacesAndParentheses() {
        let line = "4242 (my (odd) cmd) S 4200 4100 4000 34816 4242 4194560 128 0 0 0 3 1 0 0 20 0 1 0 123456 1000 200\n"
        XCTAssertEqual(ProcessLink.parse(stat: line, pid: 4242), ProcessLink(pid: 4242, parent: 4200, group: 4100, session: 4000))
        XCTAssertNil(ProcessLink.parse(stat: "4242 (cut", pid: 4242))
        XCTAssertNil(ProcessLink.parse(stat: "4242 (x) S 1", pid: 4242))
    }

    func testThisProcessAsTheKernelSeesIt() throws {
        let me = UInt32(getpid())
        let l = try XCTUnwrap(ProcessLink.read(pid: me))
        XCTAssertEqual(l.parent, UInt32(getppid()))
        XCTAssertEqual(l.group, UInt32(getpgrp()))
        XCTAssertEqual(l.session, UInt32(getsid(0)))
        XCTAssertNil(ProcessLink.read(pid: 0))
        let line = try XCTUnwrap(processCommandLine(pid: me, limit: 4096))
        XCTAssertTrue(line.hasPrefix(CommandLine.arguments[0]), line)
        XCTAssertLessThanOrEqual(try XCTUnwrap(processCommandLine(pid: me, limit: 10)).count, 10)
    }
}
