import Foundation
import StarveHost
import StarveModel
import XCTest

/// What ships under deploy/: the Prometheus rules pass `promtool check rules` and their unit
/// tests (`promtool test rules`); the systemd units pass `systemd-analyze verify` with the
/// built tools in their ExecStart lines.
final class DeployFilesTests: XCTestCase {
    private var deploy: String { Live.repoRoot + "/deploy" }

    func testPrometheusRulesCheckAndPassTheirUnitTests() throws {
        try Live.requireMachine(access("/usr/bin/promtool", X_OK) == 0, "promtool is not installed (scripts/run.sh test installs Debian's prometheus)")
        let check = try runTool("/usr/bin/promtool", ["check", "rules", deploy + "/prometheus/starve-rules.yml"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("SUCCESS: 12 rules found"), check.stdout)
        let test = try runTool("/usr/bin/promtool", ["test", "rules", deploy + "/prometheus/starve-rules.test.yml"])
        XCTAssertEqual(test.status, 0, test.stdout + test.stderr)
        XCTAssertTrue(test.stdout.contains("SUCCESS"), test.stdout)
    }

    func testSystemdUnitsVerify() throws {
        try Live.requireMachine(access("/usr/bin/systemd-analyze", X_OK) == 0, "systemd-analyze is not installed (scripts/run.sh test installs systemd)")
        try Live.requireTools("starve-load", "starve-export")
        let dir = try TemporaryDirectory()
        var units: [String] = []
        for unit in ["starve-load.service", "starve-export.service"] {
            let text = try String(contentsOfFile: deploy + "/systemd/" + unit, encoding: .utf8)
            XCTAssertTrue(text.contains("/usr/local/bin/"), unit)
            try text.replacingOccurrences(of: "/usr/local/bin/", with: Live.productsDirectory + "/")
                .write(toFile: dir.path + "/" + unit, atomically: true, encoding: .utf8)
            units.append(dir.path + "/" + unit)
        }
        let r = try runTool("/usr/bin/systemd-analyze", ["verify", "--man=no"] + units)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stderr, "", "no warnings: \(r.stderr)")
    }
}
