import XCTest
@testable import StarveModel

/// PRNG, lottery and stride scheduling.
final class LotteryTests: XCTestCase {
    private let niceTasks = [LotteryTask(id: 1, nice: 0), LotteryTask(id: 2, nice: 5), LotteryTask(id: 3, nice: 10)]

    func testGeneratorMatchesReferenceVectors() {
        var state: UInt64 = 0
        XCTAssertEqual(LotteryRNG.splitMix64(&state), 0xE220_A839_7B1D_CDAF)
        var rng = LotteryRNG(seed: 42)
        XCTAssertEqual(rng.next(), 0x1578_0B2E_0C2E_C716)
        XCTAssertEqual(rng.next(), 0x6104_D986_6D11_3A7E)
        XCTAssertEqual(rng.next(), 0xAE17_5332_39E4_99A1)
    }

    func testBoundedDrawIsInRangeAndUniform() {
        var rng = LotteryRNG(seed: 1)
        XCTAssertEqual(rng.uniform(below: 1), 0)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[Int(rng.uniform(below: 7))] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 400) }
        for _ in 0..<1000 { XCTAssertLessThan(rng.uniform(below: UInt64.max - 3), UInt64.max - 3) }
    }

    func testTicketMappings() {
        XCTAssertEqual(TicketMapping.linear.tickets(nice: -20), 40)
        XCTAssertEqual(TicketMapping.linear.tickets(nice: 0), 20)
        XCTAssertEqual(TicketMapping.linear.tickets(nice: 19), 1)
        XCTAssertEqual(TicketMapping.linear.tickets(nice: 50), 1)
        XCTAssertEqual(TicketMapping.linear.tickets(nice: 0, policy: 5), 1)
        for nice in -20...19 { XCTAssertEqual(TicketMapping.weight.tickets(nice: nice), NiceWeight.weight(nice: nice)) }
        XCTAssertEqual(TicketMapping.weight.tickets(nice: 0, policy: 5), 3)
        XCTAssertEqual(LotteryTask(id: 9, nice: 0, mapping: .linear).tickets, 20)
    }

    func testSameSeedSameWinsDifferentSeedDifferent() {
        let a = LotterySimulation.run(tasks: niceTasks, draws: 10_000, seed: 7)
        let b = LotterySimulation.run(tasks: niceTasks, draws: 10_000, seed: 7)
        let c = LotterySimulation.run(tasks: niceTasks, draws: 10_000, seed: 8)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a.outcomes.map(\.wins), c.outcomes.map(\.wins))
        XCTAssertEqual(a.outcomes.map(\.wins).reduce(0, +), 10_000)
    }

    func testConvergesToTicketShare() {
        let report = LotterySimulation.run(tasks: niceTasks, draws: 100_000, seed: 12345)
        let total = Double(niceTasks.reduce(0) { $0 + $1.tickets })
        for (task, outcome) in zip(niceTasks, report.outcomes) {
            XCTAssertEqual(outcome.theoreticalPercent, 100 * Double(task.tickets) / total, accuracy: 1e-9)
            XCTAssertLessThan(abs(outcome.errorPP), 1)
            XCTAssertEqual(outcome.errorPP, outcome.winPercent - outcome.theoreticalPercent)
        }
        XCTAssertLessThan(report.maxAbsErrorPP, 1)
    }

    func testContinuationEqualsOneLongRun() {
        var sim = LotterySimulation(tasks: niceTasks, seed: 99)
        let first = sim.sample(draws: 30_000)
        let second = sim.sample(draws: 70_000)
        let whole = LotterySimulation.run(tasks: niceTasks, draws: 100_000, seed: 99)
        XCTAssertEqual(zip(first.outcomes, second.outcomes).map { $0.wins + $1.wins }, whole.outcomes.map(\.wins))
        XCTAssertEqual(sim.totalWins, whole.outcomes.map(\.wins))
        XCTAssertEqual(sim.cumulativeReport, whole)
        XCTAssertEqual(second.draws, 70_000)
    }

    func testZeroTicketsNeverWin() {
        let report = LotterySimulation.run(tasks: [LotteryTask(id: 1, tickets: 0), LotteryTask(id: 2, tickets: 5)],
                                           draws: 1000, seed: 3)
        XCTAssertEqual(report.outcomes.map(\.wins), [0, 1000])
        let empty = LotterySimulation.run(tasks: [LotteryTask(id: 1, tickets: 0)], draws: 10, seed: 3)
        XCTAssertEqual(empty.outcomes[0].wins, 0)
    }

    // MARK: stride

    func testStrideIsDeterministicAndExactOverACycle() {
        let tasks = [LotteryTask(id: 1, tickets: 3), LotteryTask(id: 2, tickets: 2), LotteryTask(id: 3, tickets: 1)]
        var a = StrideScheduler(tasks: tasks), b = StrideScheduler(tasks: tasks)
        XCTAssertEqual(a.run(quanta: 6).map(\.quanta), [3, 2, 1])
        XCTAssertEqual(a.run(quanta: 600), b.run(quanta: 606))
        XCTAssertEqual(a.allocations.map(\.quanta), [303, 202, 101])
    }

    func testStrideTiesGoToLowestID() {
        var s = StrideScheduler(tasks: [LotteryTask(id: 5, tickets: 1), LotteryTask(id: 2, tickets: 1)])
        XCTAssertEqual(s.nextIndex(), 1)
        _ = s.run(quanta: 1)
        XCTAssertEqual(s.received, [0, 1])
    }

    func testStrideErrorBound() {
        // Observed and asserted: with two tasks the allocation is always within one
        // quantum of the entitlement; with n tasks within n - 1 quanta (Waldspurger's
        // O(n) absolute-error bound). Passes never drift apart by more than a stride.
        var rng = LotteryRNG(seed: 5)
        for n in [2, 3, 5, 10] {
            for _ in 0..<30 {
                let tasks = (0..<n).map { LotteryTask(id: $0, tickets: 1 + rng.uniform(below: 100)) }
                var s = StrideScheduler(tasks: tasks)
                let maxStride = s.strides.compactMap { $0 }.max()!
                for _ in 0..<1000 {
                    for a in s.run(quanta: 1) {
                        XCTAssertLessThanOrEqual(abs(a.errorQuanta), n == 2 ? 1 : Double(n - 1))
                    }
                    XCTAssertLessThanOrEqual(s.passes.max()! - s.passes.min()!, maxStride)
                }
            }
        }
    }

    func testStrideWithWeightTicketsMatchesShares() {
        var s = StrideScheduler(tasks: niceTasks)
        for a in s.run(quanta: 100_000) { XCTAssertLessThan(abs(a.sharePercent - a.expectedPercent), 0.01) }
    }
}
