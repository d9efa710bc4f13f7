import StarveModel
import XCTest

/// Where a process tree starts (`starve-dump jobs --by tree`), on hand-made process tables
/// shaped like what a terminal, a build, a pipeline, a batch run and init make.
final class ProcessTreeTests: XCTestCase {
    private func link(_ pid: UInt32, parent: UInt32, group: UInt32, session: UInt32) -> ProcessLink {
        ProcessLink(pid: pid, parent: parent, group: group, session: session)
    }

    /// init → tmux server → an interactive bash in a pane (its own session) → jobs it started,
    /// each in a process group of its own, as a job-control shell does; an sshd beside.
    private var host: [UInt32: ProcessLink] {
        let all = [
            link(1, parent: 0, group: 1, session: 1),
            link(100, parent: 1, group: 100, session: 100),       // tmux server (a daemon: setsid)
            link(200, parent: 100, group: 200, session: 200),     // bash in a pane: leads its session
            link(300, parent: 200, group: 300, session: 200),     // make -j8
            link(301, parent: 300, group: 300, session: 200),     //   cc1
            link(302, parent: 300, group: 300, session: 200),     //   cc1
            link(303, parent: 301, group: 300, session: 200),     //     as
            link(400, parent: 200, group: 400, session: 200),     // a | b: two children of bash ...
            link(401, parent: 200, group: 400, session: 200),     // ... in one process group
            link(600, parent: 200, group: 600, session: 200),     // ninja
            link(601, parent: 600, group: 601, session: 200),     //   a command in its own group (ninja does that)
            link(700, parent: 1, group: 300, session: 200),       // an orphan of make's, adopted by init
            link(900, parent: 1, group: 900, session: 900),       // sshd
            link(901, parent: 900, group: 901, session: 901),     //   a connection (setsid)
            link(950, parent: 200, group: 950, session: 200),     // swift test (a job of bash)
            link(951, parent: 950, group: 950, session: 200),     //   xctest: same group
            link(500, parent: 951, group: 500, session: 500),     //     setsid sh -c '...': a batch run of its own
            link(501, parent: 500, group: 500, session: 500),     //       a child of the batch shell
            link(502, parent: 501, group: 500, session: 500),     //         and its child
            link(510, parent: 951, group: 510, session: 510),     //     setsid python3 (busy loop): unrelated
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.pid, $0) })
    }

    private func key(_ pid: UInt32, _ links: [UInt32: ProcessLink]? = nil) -> UInt32? {
        ProcessTree.root(of: pid, in: links ?? host)?.key
    }

    func testABuildIsOneTreeRootedBelowTheInteractiveShell() {
        for pid: UInt32 in [300, 301, 302, 303] { XCTAssertEqual(key(pid), 300, "pid \(pid)") }
        XCTAssertEqual(ProcessTree.root(of: 303, in: host), TreeRoot(key: 300, root: 300))
        // ninja's commands run in process groups of their own, in ninja's session: ninja's tree.
        XCTAssertEqual(key(601), 600)
    }

    func testThePipelineIsOneTreeKeyedByItsProcessGroup() {
        XCTAssertEqual(ProcessTree.root(of: 400, in: host), TreeRoot(key: 400, root: 400))
        XCTAssertEqual(ProcessTree.root(of: 401, in: host), TreeRoot(key: 400, root: 401))
    }

    func testSessionsAndOrphansStartTheirOwnTrees() {
        XCTAssertEqual(key(200), 200, "the pane's shell leads a session of its own")
        XCTAssertEqual(key(100), 100, "tmux: below init")
        XCTAssertEqual(key(700), 700, "adopted by init: its own tree")
        XCTAssertEqual(key(900), 900)
        XCTAssertEqual(key(901), 901, "an sshd connection: its own session")
        XCTAssertEqual(key(1), 1)
    }

    func testABatchShellHoldsEverythingItStarted() {
        for pid: UInt32 in [500, 501, 502] { XCTAssertEqual(key(pid), 500, "pid \(pid)") }
        XCTAssertEqual(key(510), 510, "a separate setsid loop is another tree")
        XCTAssertEqual(key(951), 950, "xctest is part of the swift test job")
    }

    func testANonInteractiveShellDoesNotSplitItsChildren() {
        // A batch script run by a CI runner daemon: the script leads its session, its children
        // stay in its process group (no job control): one tree.
        let links = Dictionary(uniqueKeysWithValues: [
            link(10, parent: 1, group: 10, session: 10),   // runner daemon
            link(20, parent: 10, group: 20, session: 20),  // ci.sh (setsid by the runner)
            link(21, parent: 20, group: 20, session: 20),  //   make
            link(22, parent: 21, group: 20, session: 20),  //     cc
        ].map { ($0.pid, $0) })
        for pid: UInt32 in [20, 21, 22] { XCTAssertEqual(key(pid, links), 20, "pid \(pid)") }
        XCTAssertEqual(key(10, links), 10)
    }

    func testUnknownParentsAndLoopsEndTheWalk() {
        let links = Dictionary(uniqueKeysWithValues: [
            link(30, parent: 12345, group: 30, session: 30),  // parent gone since
            link(40, parent: 41, group: 40, session: 40),     // a loop (reads racing with reparenting)
            link(41, parent: 40, group: 40, session: 40),
        ].map { ($0.pid, $0) })
        XCTAssertEqual(key(30, links), 30)
        XCTAssertNotNil(key(40, links))
        XCTAssertNil(key(99, links))
        XCTAssertEqual(Set(ProcessTree.roots(links).keys), [30, 40, 41])
    }

    func testAllRootsAtOnceAgreeWithOneAtATime() {
        let all = ProcessTree.roots(host)
        XCTAssertEqual(all.count, host.count)
        for pid in host.keys { XCTAssertEqual(all[pid], ProcessTree.root(of: pid, in: host), "pid \(pid)") }
    }
}

final class ProcStatTests: XCTestCase {
    func testFieldsAfterACommandNameWithSpacesAndParentheses() {
        let line = "4321 (a b) (c)) S 1 4321 4321 0 -1 4194560 100 0 0 0 7 3 11 12 20 5 1 0 987654 0 0\n"
        let all = ProcStat.fields(line)
        XCTAssertEqual(all?.first, "S")                  // field 3
        XCTAssertEqual(all?[16], "5")                     // field 19: nice
        XCTAssertEqual(all?[19], "987654")                // field 22: start time
        let head = ProcStat.fields(line, through: 6)
        XCTAssertEqual(head?.prefix(4).map(String.init), ["S", "1", "4321", "4321"])  // fields 3-6
        XCTAssertEqual(head?.count, 5)                    // the rest in one piece
        XCTAssertNil(ProcStat.fields("no name here"))
    }
}
