import XCTest
@testable import StarveModel

/// Fairness figures.
final class FairShareReportTests: XCTestCase {
    func testJainKnownValues() {
        XCTAssertEqual(FairnessReport.jainIndex([2, 2, 2, 2]), 1, accuracy: 1e-12)
        for n in 1...6 {
            XCTAssertEqual(FairnessReport.jainIndex([5] + Array(repeating: 0, count: n - 1)), 1 / Double(n), accuracy: 1e-12)
        }
        XCTAssertEqual(FairnessReport.jainIndex([1, 2, 3]), 36.0 / 42.0, accuracy: 1e-12)
        XCTAssertEqual(FairnessReport.jainIndex([]), 1)
    }

    func testReportUsesRatiosToEntitlement() {
        // Everyone got exactly what the weights promise: perfectly fair despite unequal shares.
        let fair = FairnessReport(measured: [1: 75.3, 2: 24.7], expected: [1: 75.3, 2: 24.7])
        XCTAssertEqual(fair.jainIndex, 1, accuracy: 1e-12)
        XCTAssertEqual(fair.maxAbsErrorPP, 0)

        let starved = FairnessReport(measured: [1: 90, 2: 10, 4: 5], expected: [1: 50, 2: 50, 3: 0])
        XCTAssertEqual(starved.tasks.map(\.id), [1, 2, 3, 4])
        XCTAssertEqual(starved.tasks[0].errorPP, 40, accuracy: 1e-12)
        XCTAssertEqual(starved.tasks[1].errorPP, -40, accuracy: 1e-12)
        XCTAssertNil(starved.tasks[2].ratio)
        XCTAssertNil(starved.tasks[3].ratio)
        XCTAssertEqual(starved.maxAbsErrorPP, 40, accuracy: 1e-12)
        XCTAssertEqual(starved.jainIndex, FairnessReport.jainIndex([1.8, 0.2]), accuracy: 1e-12)
    }

    func testReportAgainstModel() {
        let expected = CFSShareModel.expectedShares([
            ShareClaimant(id: 1, weight: NiceWeight.weight(nice: 0), allowedCPUs: [0]),
            ShareClaimant(id: 2, weight: NiceWeight.weight(nice: 5), allowedCPUs: [0]),
        ])
        let report = FairnessReport(measured: [1: 50, 2: 50], expected: expected)
        XCTAssertEqual(report.tasks[1].errorPP, 50 - expected[1].percent, accuracy: 1e-9)
        XCTAssertLessThan(report.jainIndex, 1)
    }
}
