import CStarve
import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// "By whom" survives churn: after many short-lived processes have turned the attribution map
/// over many times, a noisy neighbour started afterwards is still attributed to the right cgroup
/// and process, the map stays within its size, and every entry evicted is accounted for.
final class ChurnTests: XCTestCase {
    func testAttributionSurvivesShortLivedProcesses() throws {
        try Live.require()
        let processes = Int(ProcessInfo.processInfo.environment["STARVE_CHURN_PROCESSES"] ?? "") ?? 100_000
        let maxPairs = 1024
        let collector = try LoadedCollector(extraArguments: ["--max-pairs", String(maxPairs)])
        defer { collector.unload() }
        let collection = try PinnedCollection(layout: collector.layout)

        // Two busy loops for the children to preempt: each child that takes a CPU from a loop is
        // a new preemptor process, booked past the loop's own slots into the map.
        let loops = try Workload(["--workers", "2", "--duration", "600"])
        defer { loops.stop() }
        let churn = try runTool(Live.tool("starve-work"), ["churn", "--processes", String(processes), "--parallel", "2"])
        XCTAssertEqual(churn.status, 0, churn.stderr)
        print(churn.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        loops.stop()

        let s = try collection.readStats()
        let live = try PinnedMap(path: collector.layout.map(PinLayout.pairsMap)).countKeys()
        print("after \(processes) processes: preempt_pairs \(live) of \(maxPairs) live, \(s.pairsCreated) created, \(s.pairsCreated - UInt64(live)) evicted, \(s.pairsOverflow) overflow waits, \(s.pairsFolded) slots folded, \(s.pairsMapFull) not added")
        XCTAssertGreaterThanOrEqual(s.exits, UInt64(processes), "the children's exits were not all seen")
        XCTAssertLessThanOrEqual(live, maxPairs, "the map grew past its size")
        XCTAssertGreaterThan(s.pairsCreated, UInt64(2 * maxPairs), "the churn did not turn the map over: nothing was tested")
        XCTAssertEqual(s.pairsMapFull, 0, "attributions were dropped instead of evicting old entries")
        // status says the same, row by row.
        let status = try runTool(Live.tool("starve-load"), ["status", "--pin-dir", collector.pinDir])
        XCTAssertEqual(status.status, 0, status.stderr)
        let evictedRow = status.stdout.split(separator: "\n").first { $0.hasPrefix("preempt_pairs entries evicted") }
        let evicted = evictedRow.flatMap { UInt64($0.split(separator: " ").last ?? "") }
        XCTAssertNotNil(evicted, status.stdout)
        XCTAssertGreaterThanOrEqual(evicted ?? 0, s.pairsCreated - UInt64(maxPairs), "evictions not accounted for: \(status.stdout)")

        // Now a noisy neighbour: a hog in one cgroup, a duty-cycle task in another, one CPU.
        let setup = try NoisyNeighbours(tag: "churn")
        defer { setup.tearDown() }
        let (hogGroup, victimGroup, hog, victim) = (setup.hogGroup, setup.victimGroup, setup.hog, setup.victim)
        // The reader runs on CPU 0: after the churn it reads two full LRU maps each sample (a
        // debug build spends most of a second doing it), and on CPU 1 it would itself be the
        // victim's main preemptor (seen in CI: 4.3 s of its waits against the hog's 2.1 s).
        let r = try runTool("/usr/bin/taskset", ["-c", "0", Live.tool("starve-dump"), "cgroups", "--pin-dir", collector.pinDir, "--interval", "1",
                                                 "--iterations", "6", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let victimRows = rows.filter { $0["cgroup"] as? String == victimGroup.path }
        XCTAssertTrue(victimRows.contains { $0["verdict"] as? String == "victim" && $0["top_preemptor"] as? String == hogGroup.path },
                      "after the churn, the duty-cycle cgroup is no longer found a victim of the hog's: \(victimRows)")

        // And by process: the victim's waits are booked to the hog's process above all others.
        _ = try collection.readTasks()
        var byPreemptor: [UInt32: UInt64] = [:]
        for (k, v) in try collection.readPairs() where k.victimTgid == UInt32(victim.workerPIDs[0]) {
            byPreemptor[k.preemptorTgid, default: 0] += v.waitNs
        }
        let top = byPreemptor.max { $0.value < $1.value }
        XCTAssertEqual(top?.key, UInt32(hog.workerPIDs[0]), "the victim's waits are not booked to the hog's process: \(byPreemptor)")
    }
}

/// Constants StarveModel restates from starve.h (it does not import the C module).
final class SharedConstantsTests: XCTestCase {
    func testOtherProcessesMarkerIsStarveH() {
        XCTAssertEqual(PreemptionPair.otherProcesses, UInt32(STARVE_PREEMPTOR_OTHER))
    }
}
