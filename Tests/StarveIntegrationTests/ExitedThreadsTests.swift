import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Per-cgroup figures include the threads that exited within the interval: a cgroup of
/// short-lived processes (each lives a fraction of a sample) gets all of its waits counted.
/// The check is an independent path: with a 2 ns threshold every wait but the instant ones is a
/// starvation event, emitted as it ends; the cgroup's waits at or over the threshold (its
/// histogram from slot 1 on: exactly the waits of 2 ns or more), summed over the samples, must
/// match its events. (Waits of 0 ns are common here: a vfork child runs as its parent blocks.)
final class ExitedThreadsTests: XCTestCase {
    private func objects(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testCgroupOfShortLivedProcessesCountsEveryWait() throws {
        try Live.require()
        let collector = try LoadedCollector(extraArguments: ["--thresholds", "0.000002,1000,2000", "--rate-limit", "0",
                                                             "--events-kb", "131072", "--stacks-kb", "4"])
        defer { collector.unload() }
        let group = try ScratchCgroup(prefix: "starve-test-shortlived")
        defer { try? group.remove() }

        // Every event of the run, read as it comes (the big ring holds what a slow read leaves).
        let reader = try BackgroundRun(Live.tool("starve-dump"), ["events", "--pin-dir", collector.pinDir, "--format", "json",
                                                                  "--kind", "starvation", "--duration", "16", "--no-stacks"])
        // Cgroup samples: the baseline is taken before any process of the group exists.
        let dump = try BackgroundRun(Live.tool("starve-dump"), ["cgroups", "--pin-dir", collector.pinDir, "--interval", "1",
                                                                "--iterations", "10", "--format", "json", "--no-patterns"])
        // Wait for the first sample (the baseline is behind it), by its output.
        XCTAssertTrue(waitUntil(seconds: 15) { dump.outputCount > 0 }, "starve-dump cgroups printed nothing")

        // Short-lived processes in the group: each burns 0.3 ms and exits, well within a sample.
        let churn = try runTool(Live.tool("starve-work"), ["churn", "--processes", "3000", "--parallel", "2", "--burn-us", "300", "--cgroup", group.directory])
        XCTAssertEqual(churn.status, 0, churn.stderr)
        let rowsText = dump.finish(), eventsText = reader.finish()

        let rows = objects(rowsText).filter { $0["cgroup"] as? String == group.path }
        let counted = rows.reduce(0) { $0 + (($1["waits_over_threshold"] as? Int) ?? 0) }
        let all = rows.reduce(0) { $0 + (($1["waits"] as? Int) ?? 0) }
        var st = stat()
        XCTAssertEqual(stat(group.directory, &st), 0)
        let groupID = UInt64(st.st_ino)  // a cgroup's id is its directory's inode number
        let seen = objects(eventsText).filter { (($0["task"] as? [String: Any])?["cgroup_id"] as? UInt64) == groupID }.count
        let stats = try PinnedCollection(layout: collector.layout).readStats()
        print("short-lived cgroup: \(counted) waits of 2 ns or more (\(all) in all) in \(rows.count) samples, \(seen) events; events lost \(stats.eventsLost), threads folded \(stats.exitedFolded), not folded \(stats.exitedDropped)")
        XCTAssertEqual(stats.eventsLost, 0, "events were lost: the comparison would not be fair")
        XCTAssertGreaterThan(seen, 3000, "each of the 3000 processes waits at least once")
        XCTAssertEqual(Double(counted), Double(seen), accuracy: Double(seen) * 0.02,
                       "the cgroup's waits (live and exited threads) differ from its events by more than 2 %")
        XCTAssertGreaterThanOrEqual(stats.exitedFolded, 3000, "the children were not folded at exit")
    }
}
