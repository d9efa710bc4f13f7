import StarveModel
import XCTest

/// The reader's view of the victim x preemptor matrix: monotonic across reads, and nothing
/// counted twice when waits move from a thread's slots to the map.
final class PreemptionMatrixTests: XCTestCase {
    let a = PreemptionPair(victimCgroup: 10, preemptorCgroup: 20, victimTgid: 100, preemptorTgid: 200, victimStart: 1, preemptorStart: 2)
    let reused = PreemptionPair(victimCgroup: 10, preemptorCgroup: 20, victimTgid: 100, preemptorTgid: 200, victimStart: 1, preemptorStart: 9)

    func testCountersNeverGoBackwards() {
        var m = PreemptionMatrix()
        m.update(with: [a: PreemptionCounts(count: 5, waitNs: 50, maxNs: 20)])
        // The thread exited between the map read and the threads' read: missing this once.
        m.update(with: [:])
        XCTAssertEqual(m.pairs[a], PreemptionCounts(count: 5, waitNs: 50, maxNs: 20))
        // Next read: folded into the map, with one more wait.
        m.update(with: [a: PreemptionCounts(count: 6, waitNs: 60, maxNs: 20)])
        XCTAssertEqual(m.pairs[a], PreemptionCounts(count: 6, waitNs: 60, maxNs: 20))
        // A smaller reading never lowers what was seen.
        m.update(with: [a: PreemptionCounts(count: 4, waitNs: 40, maxNs: 10)])
        XCTAssertEqual(m.pairs[a]?.count, 6)
    }

    func testAVanishedPairIsKeptForAFewReadsThenDropped() {
        var m = PreemptionMatrix(retainReads: 2)
        m.update(with: [a: PreemptionCounts(count: 3, waitNs: 30, maxNs: 10)])
        m.update(with: [:])
        m.update(with: [:])
        XCTAssertNotNil(m.pairs[a], "kept for retainReads reads")
        m.update(with: [:])
        XCTAssertNil(m.pairs[a], "dropped after: an evicted entry does not stay forever")
        // Coming back after that, it counts from what it says (a new entry).
        m.update(with: [a: PreemptionCounts(count: 1, waitNs: 5, maxNs: 5)])
        XCTAssertEqual(m.pairs[a]?.count, 1)
    }

    func testAReusedTgidIsAnotherProcess() {
        var m = PreemptionMatrix()
        m.update(with: [a: PreemptionCounts(count: 3, waitNs: 30, maxNs: 10), reused: PreemptionCounts(count: 1, waitNs: 1, maxNs: 1)])
        XCTAssertEqual(m.pairs.count, 2)
        XCTAssertEqual(m.pairs[reused]?.count, 1)
    }

    func testSharesOfOnePairAdd() {
        var c = PreemptionCounts(count: 2, waitNs: 20, maxNs: 15)
        c.add(PreemptionCounts(count: 3, waitNs: 30, maxNs: 12))
        XCTAssertEqual(c, PreemptionCounts(count: 5, waitNs: 50, maxNs: 15))
    }
}
