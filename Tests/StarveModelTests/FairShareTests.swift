import XCTest
@testable import StarveModel

/// Weight table, cgroup conversions and the expected-share model.
final class FairShareTests: XCTestCase {
    private let all2: Set<Int> = [0, 1]

    private func shares(_ claimants: [ShareClaimant]) -> [Int: ExpectedShare] {
        Dictionary(uniqueKeysWithValues: CFSShareModel.expectedShares(claimants).map { ($0.id, $0) })
    }

    private func w(_ nice: Int) -> Double { Double(NiceWeight.weight(nice: nice)) }

    private func task(_ id: Int, nice: Int = 0, cpus: Set<Int> = [0], max: Double = 1,
                      path: [SchedGroup] = []) -> ShareClaimant {
        ShareClaimant(id: id, weight: NiceWeight.weight(nice: nice), allowedCPUs: cpus, maxCPUs: max, groupPath: path)
    }

    private func group(_ id: String, _ weight: UInt64 = 1024, kind: SchedGroupKind = .cgroup) -> SchedGroup {
        SchedGroup(id: id, weight: weight, kind: kind)
    }

    // MARK: weights

    func testWeightTable() {
        XCTAssertEqual(NiceWeight.table.count, 40)
        XCTAssertEqual(NiceWeight.weight(nice: -20), 88761)
        XCTAssertEqual(NiceWeight.weight(nice: 0), 1024)
        XCTAssertEqual(NiceWeight.weight(nice: 5), 335)
        XCTAssertEqual(NiceWeight.weight(nice: 10), 110)
        XCTAssertEqual(NiceWeight.weight(nice: 19), 15)
        XCTAssertEqual(NiceWeight.weight(nice: -100), 88761)
        XCTAssertEqual(NiceWeight.weight(nice: 100), 15)
        // Each nice step is ~10 % of CPU, i.e. a weight ratio of ~1.25.
        for nice in -20..<19 {
            let ratio = w(nice) / w(nice + 1)
            XCTAssert(ratio >= 1.19 && ratio <= 1.3, "nice \(nice) ratio \(ratio)")
        }
    }

    func testPolicies() {
        for nice in -20...19 {
            XCTAssertEqual(NiceWeight.weight(nice: nice, policy: 3), NiceWeight.weight(nice: nice))
            XCTAssertEqual(NiceWeight.weight(nice: nice, policy: 0), NiceWeight.weight(nice: nice))
            XCTAssertEqual(NiceWeight.weight(nice: nice, policy: 5), 3)
        }
        XCTAssertEqual(NiceWeight.idleWeight, 3)
    }

    func testGroupWeights() {
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV2Weight: 100), 1024)
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV2Weight: 200), 2048)
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV2Weight: 1), 10)
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV2Weight: 10_000), 102_400)
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV2Weight: 0), 10)
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV1Shares: 2048), 2048)
        XCTAssertEqual(NiceWeight.groupWeight(cgroupV1Shares: 1), 2)
        XCTAssertEqual(NiceWeight.autogroupWeight(nice: 0), 1024)
        XCTAssertEqual(NiceWeight.autogroupWeight(nice: 5), 335)
    }

    // MARK: flat shares on one CPU

    func testNice0And5OnOneCPU() {
        let s = shares([task(1, nice: 0), task(2, nice: 5)])
        XCTAssertEqual(s[1]!.percent, 100 * w(0) / (w(0) + w(5)), accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 100 * w(5) / (w(0) + w(5)), accuracy: 1e-6)
        XCTAssertEqual(s[1]!.percent, 75.3, accuracy: 0.05)
        XCTAssertEqual(s[1]!.decidedBy, .nice)
        XCTAssertEqual(s[2]!.decidedBy, .nice)
    }

    func testNice0_5_10OnOneCPU() {
        let s = shares([task(1, nice: 0), task(2, nice: 5), task(3, nice: 10)])
        let total = w(0) + w(5) + w(10)
        XCTAssertEqual(s[1]!.percent, 100 * w(0) / total, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 100 * w(5) / total, accuracy: 1e-6)
        XCTAssertEqual(s[3]!.percent, 100 * w(10) / total, accuracy: 1e-6)
    }

    // MARK: hierarchy

    func testAutogroupsOverrideNice() {
        let ag0 = NiceWeight.autogroupWeight(nice: 0)
        let s = shares([task(1, nice: 0, path: [group("autogroup:1", ag0, kind: .autogroup)]),
                        task(2, nice: 5, path: [group("autogroup:2", ag0, kind: .autogroup)])])
        XCTAssertEqual(s[1]!.percent, 50, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 50, accuracy: 1e-6)
        XCTAssertEqual(s[1]!.decidedBy, .group("autogroup:1"))
        XCTAssertEqual(s[2]!.decidedBy, .group("autogroup:2"))
    }

    func testCgroupsTwoToOne() {
        for (a, b) in [(NiceWeight.groupWeight(cgroupV2Weight: 200), NiceWeight.groupWeight(cgroupV2Weight: 100)),
                       (NiceWeight.groupWeight(cgroupV1Shares: 2048), NiceWeight.groupWeight(cgroupV1Shares: 1024))] {
            let s = shares([task(1, path: [group("cgroup:/a", a)]), task(2, nice: -10, path: [group("cgroup:/b", b)])])
            XCTAssertEqual(s[1]!.percent, 200.0 / 3, accuracy: 1e-6)
            XCTAssertEqual(s[2]!.percent, 100.0 / 3, accuracy: 1e-6)
            XCTAssertEqual(s[2]!.decidedBy, .group("cgroup:/b"))
        }
    }

    func testNestedGroups() {
        // Top: G vs root task r. Inside G: child group H vs task g1. Inside H: h1, h2.
        let g = group("cgroup:/G"), h = group("cgroup:/G/H")
        let s = shares([task(1), task(2, path: [g]), task(3, path: [g, h]), task(4, path: [g, h])])
        XCTAssertEqual(s[1]!.percent, 50, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 25, accuracy: 1e-6)
        XCTAssertEqual(s[3]!.percent, 12.5, accuracy: 1e-6)
        XCTAssertEqual(s[4]!.percent, 12.5, accuracy: 1e-6)
        XCTAssertEqual(s[1]!.decidedBy, .nice)
        XCTAssertEqual(s[3]!.decidedBy, .group("cgroup:/G"))
    }

    func testSurplusStaysInsideGroup() {
        // a only wants 10 %; its group keeps its half, so the rest goes to b, not c.
        let g = group("cgroup:/G")
        let s = shares([task(1, max: 0.1, path: [g]), task(2, path: [g]), task(3)])
        XCTAssertEqual(s[1]!.percent, 10, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 40, accuracy: 1e-6)
        XCTAssertEqual(s[3]!.percent, 50, accuracy: 1e-6)
        XCTAssertEqual(s[1]!.decidedBy, .demand)
        XCTAssertEqual(s[2]!.decidedBy, .group("cgroup:/G"))
    }

    func testGroupCappedByDemandGivesSurplusAway() {
        let s = shares([task(1, max: 0.2, path: [group("cgroup:/G", 10 * 1024)]), task(2)])
        XCTAssertEqual(s[1]!.percent, 20, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 80, accuracy: 1e-6)
    }

    func testGroupPinnedToOneCPUCannotGetTwo() {
        // G outweighs c 10:1, but all of G's tasks may only use CPU 0.
        let g = group("cgroup:/G", 10 * 1024)
        let s = shares([task(1, cpus: [0], path: [g]), task(2, cpus: [0], path: [g]), task(3, cpus: all2)])
        XCTAssertEqual(s[1]!.percent + s[2]!.percent, 100, accuracy: 1e-6)
        XCTAssertEqual(s[1]!.percent, 50, accuracy: 1e-6)
        XCTAssertEqual(s[3]!.percent, 100, accuracy: 1e-6)
        XCTAssertEqual(s[1]!.decidedBy, .affinity)
    }

    func testGroupSpanningComponentsSplitsItsWeightByLoad() {
        // calc_group_shares: G's 1024 is split 512/512 over CPU 0 and CPU 1.
        let g = group("cgroup:/G")
        let s = shares([task(1, cpus: [0], path: [g]), task(2, cpus: [1], path: [g]),
                        ShareClaimant(id: 3, weight: 1024, allowedCPUs: [0]),
                        ShareClaimant(id: 4, weight: 3072, allowedCPUs: [1])])
        XCTAssertEqual(s[1]!.percent, 100 * 512.0 / (512 + 1024), accuracy: 1e-6)
        XCTAssertEqual(s[3]!.percent, 100 * 1024.0 / (512 + 1024), accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 100 * 512.0 / (512 + 3072), accuracy: 1e-6)
        XCTAssertEqual(s[4]!.percent, 100 * 3072.0 / (512 + 3072), accuracy: 1e-6)
    }

    // MARK: affinity

    func testDisjointCPUsDoNotCompete() {
        let s = shares([task(1, nice: 0, cpus: [0]), task(2, nice: 19, cpus: [1])])
        XCTAssertEqual(s[1]!.percent, 100, accuracy: 1e-9)
        XCTAssertEqual(s[2]!.percent, 100, accuracy: 1e-9)
        XCTAssertEqual(s[1]!.decidedBy, .alone)
        XCTAssertEqual(s[2]!.decidedBy, .alone)
    }

    func testThreeEqualTasksOnTwoCPUs() {
        let s = shares((1...3).map { task($0, cpus: all2) })
        for id in 1...3 { XCTAssertEqual(s[id]!.percent, 200.0 / 3, accuracy: 1e-6) }
    }

    func testOverlappingSetsAreMaxMinFair() {
        let s = shares([task(1, cpus: [0]), task(2, cpus: all2), task(3, cpus: all2)])
        for id in 1...3 { XCTAssertEqual(s[id]!.percent, 200.0 / 3, accuracy: 1e-6) }
        XCTAssertEqual(s[1]!.decidedBy, .nice)
    }

    func testPinnedHeavyTaskLeavesOtherCPUToLightOne() {
        let s = shares([task(1, nice: 0, cpus: [0]), task(2, nice: 19, cpus: all2)])
        XCTAssertEqual(s[1]!.percent, 100, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 100, accuracy: 1e-6)
        XCTAssertEqual(s[1]!.decidedBy, .affinity)
        XCTAssertEqual(s[2]!.decidedBy, .demand)
    }

    func testChainOfSetsIsWeightedMaxMin() {
        // a {0}, b {0,1}, c {1}: raising all three in weight proportion fills both CPUs
        // exactly when a + b + c = 2, and b fits in the two leftovers, so the
        // weighted max-min allocation is plain weight proportion over 2 CPUs.
        let s = shares([task(1, nice: 0, cpus: [0]), task(2, nice: 5, cpus: [0, 1]), task(3, nice: 0, cpus: [1])])
        let total = w(0) + w(5) + w(0)
        XCTAssertEqual(s[1]!.percent, 200 * w(0) / total, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.percent, 200 * w(5) / total, accuracy: 1e-6)
        XCTAssertEqual(s[3]!.percent, 200 * w(0) / total, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.decidedBy, .nice)
    }

    func testHeavyFloatingTaskTakesOneCPUAcrossTwo() {
        // b (nice -10) may use both CPUs: it reaches one full CPU, made of 2/3 of
        // CPU 0 and 1/3 of CPU 1, and a, c, d end up with a third each (fluid model).
        let s = shares([task(1, nice: 0, cpus: [0]), task(2, nice: -10, cpus: [0, 1]),
                        task(3, nice: 0, cpus: [1]), task(4, nice: 0, cpus: [1])])
        XCTAssertEqual(s[2]!.percent, 100, accuracy: 1e-6)
        XCTAssertEqual(s[2]!.decidedBy, .demand)
        for id in [1, 3, 4] {
            XCTAssertEqual(s[id]!.percent, 100.0 / 3, accuracy: 1e-6)
            XCTAssertEqual(s[id]!.decidedBy, .nice)
        }
    }

    func testMultiThreadedAndDegenerateClaimants() {
        let s = shares([task(1, cpus: [0, 1, 2], max: 2), task(2, cpus: [5], max: 0.5),
                        ShareClaimant(id: 3, weight: 1024, allowedCPUs: []), task(4, cpus: [7], max: 0)])
        XCTAssertEqual(s[1]!.percent, 200, accuracy: 1e-9)
        XCTAssertEqual(s[2]!.percent, 50, accuracy: 1e-9)
        XCTAssertEqual(s[3]!.percent, 0)
        XCTAssertEqual(s[3]!.decidedBy, .affinity)
        XCTAssertEqual(s[4]!.percent, 0)
        XCTAssertEqual(s[4]!.decidedBy, .demand)
    }

    func testRandomInstancesAreFeasibleAndWorkConserving() {
        var rng = LotteryRNG(seed: 2024)
        for _ in 0..<40 {
            let n = 2 + Int(rng.uniform(below: 6))
            let claimants = (0..<n).map { id -> ShareClaimant in
                var cpus = Set<Int>()
                while cpus.isEmpty { for cpu in 0..<4 where rng.uniform(below: 2) == 0 { cpus.insert(cpu) } }
                let path = rng.uniform(below: 2) == 0 ? [group("g\(rng.uniform(below: 2))")] : []
                return ShareClaimant(id: id, weight: NiceWeight.weight(nice: Int(rng.uniform(below: 40)) - 20),
                                     allowedCPUs: cpus, groupPath: path)
            }
            let result = CFSShareModel.expectedShares(claimants)
            let cpuIndex = claimants.map { $0.allowedCPUs.sorted() }
            let alloc = result.map { $0.percent / 100 }
            XCTAssert(fairShareFeasible(demand: alloc, allowed: cpuIndex, cpuCount: 4, tolerance: 1e-6))
            // Work conservation: nobody could take more without someone giving up some.
            for i in 0..<n where alloc[i] < 1 - 1e-6 {
                var more = alloc
                more[i] += 1e-4
                XCTAssertFalse(fairShareFeasible(demand: more, allowed: cpuIndex, cpuCount: 4))
            }
        }
    }
}
