import Foundation
import StarveModel
import StarveHost
import XCTest

/// Samples appended to CSV files: one header, and files with another header refused.
final class CSVFileTests: XCTestCase {
    func testCSVAppenderWritesHeaderOnceAndRefusesForeignFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starve-csv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.csv").path
        do {
            let a = try CSVAppender(path: path, header: "x,y\n")
            try a.append("1,2\n")
        }
        do {
            let b = try CSVAppender(path: path, header: "x,y\n")
            try b.append("3,4\n")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "x,y\n1,2\n3,4\n")
        XCTAssertTrue(openError(path, header: "x,z\n").contains("different CSV header"))
        XCTAssertTrue(openError(dir.path, header: "x\n").contains("cannot write"))
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "x,y\n1,2\n3,4\n", "a refused file is left as it was")
    }

    private func openError(_ path: String, header: String) -> String {
        do {
            _ = try CSVAppender(path: path, header: header)
            return "opened"
        } catch {
            return "\(error)"
        }
    }
}
