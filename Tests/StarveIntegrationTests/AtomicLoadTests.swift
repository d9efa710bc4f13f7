import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// A load is all or nothing. The loader is stopped at every one of its steps in turn (a hidden
/// environment variable names the step: no timing involved), by an error, by kill -9 and by
/// SIGTERM; after each, the pin directory holds either nothing (and nothing staged beside it once
/// the next starve-load command ran, and none of the programs it loaded is still loaded) or a
/// complete collection that `status` reports and `unload` removes.
final class AtomicLoadTests: XCTestCase {
    private enum Stop: String {
        case fail = "STARVE_LOAD_FAIL_AT", kill = "STARVE_LOAD_KILL_AT", signal = "STARVE_LOAD_SIGNAL_AT"
    }

    /// Loads with `stop` at step `step`.
    private func load(_ dir: TestPinDirectory, stoppedBy stop: Stop, at step: Int) throws -> ProcessRun {
        try runProcess(Live.tool("starve-load"), ["--pin-dir", dir.path, "--object", Live.objectPath], environment: [stop.rawValue: String(step)])
    }

    /// The pin directory holds a complete collection: status reports it, unload removes it all.
    private func expectCompleteThenUnload(_ dir: TestPinDirectory, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let status = try runProcess(Live.tool("starve-load"), ["status", "--pin-dir", dir.path])
        XCTAssertEqual(status.status, 0, "\(context): status on the collection failed: \(status.stderr)", file: file, line: line)
        XCTAssertTrue(status.stdout.contains("starve collector at \(dir.path) (ABI"), "\(context): \(status.stdout)", file: file, line: line)
        XCTAssertEqual(status.stdout.components(separatedBy: "  yes  ").count - 1, 4, "\(context): not every program attached:\n\(status.stdout)", file: file, line: line)
        XCTAssertTrue(status.stdout.contains("threads reported by the tasks iterator"), "\(context): \(status.stdout)", file: file, line: line)
        let unload = try runProcess(Live.tool("starve-load"), ["unload", "--pin-dir", dir.path])
        XCTAssertEqual(unload.status, 0, "\(context): unload failed: \(unload.stderr)", file: file, line: line)
        expectNothing(dir, context, file: file, line: line)
    }

    /// Nothing under the pin directory's name, nothing staged beside it.
    private func expectNothing(_ dir: TestPinDirectory, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "\(context): \(dir.path) exists", file: file, line: line)
        XCTAssertEqual(dir.stagedBeside, [], "\(context): left beside the pin directory", file: file, line: line)
    }

    /// None of `ids` is loaded any more (freeing is deferred in the kernel: polled).
    private func expectUnloaded(_ ids: [UInt32], _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard !ids.isEmpty else { return }
        let gone = try waitUntil(seconds: 15) { try loadedProgramIDs().isDisjoint(with: ids) }
        XCTAssertTrue(gone, "\(context): programs \(ids) are still loaded", file: file, line: line)
    }

    func testFailureAtEveryStep() throws {
        try Live.require()
        let dir = try TestPinDirectory("fail")
        var step = 1
        var sawLinkSteps = false
        while step < 200 {
            let r = try load(dir, stoppedBy: .fail, at: step)
            let context = "failure at step \(step) (\(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))"
            if r.status == 0 { // past the last step: a plain load
                try expectCompleteThenUnload(dir, "load with no step left to fail")
                break
            }
            XCTAssertFalse(r.signaled, "\(context): died of a signal")
            XCTAssertTrue(r.stderr.contains("injected failure at step \(step) ("), context)
            XCTAssertEqual(r.stderrLines.count, 1, "\(context): not one line")
            sawLinkSteps = sawLinkSteps || r.stderr.contains("(pin-link:")
            if r.stderr.contains("is complete and stays loaded") {
                XCTAssertTrue(r.stderr.contains("(committed)"), context)
                try expectCompleteThenUnload(dir, context)
            } else {
                expectNothing(dir, context)
                try expectUnloaded(programIDs(in: r.stderr), context)
            }
            step += 1
        }
        XCTAssertTrue(sawLinkSteps, "no link step was reached")
        XCTAssertGreaterThan(step, 20, "too few steps: the load has more than 20")
    }

    func testKillAtEveryStep() throws {
        try Live.require()
        let dir = try TestPinDirectory("kill")
        var step = 1
        var cleanedLeftovers = 0
        while step < 200 {
            let r = try load(dir, stoppedBy: .kill, at: step)
            if !r.signaled && r.status == 0 { // past the last step
                try expectCompleteThenUnload(dir, "load with no step left to kill at")
                break
            }
            let context = "kill -9 at step \(step) (\(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))"
            XCTAssertTrue(r.signaled && r.status == SIGKILL, "\(context): not killed (status \(r.status))")
            XCTAssertTrue(r.stderr.contains("injected kill -9 at step \(step) ("), context)
            if FileManager.default.fileExists(atPath: dir.path) {
                XCTAssertTrue(r.stderr.contains("(committed)"), "\(context): a pin directory before the commit point")
                try expectCompleteThenUnload(dir, context)
            } else {
                // The next starve-load command, whichever, removes what the dead one staged.
                let staged = !dir.stagedBeside.isEmpty
                let next: [String] = switch step % 3 {
                case 0: ["status", "--pin-dir", dir.path]
                case 1: ["unload", "--pin-dir", dir.path]
                default: ["--pin-dir", dir.path, "--object", Live.objectPath]
                }
                let n = try runProcess(Live.tool("starve-load"), next)
                if staged {
                    XCTAssertTrue(n.stderr.contains("removed an unfinished load at \(dir.path)-loading-"), "\(context): starve-load \(next.first ?? "load") said: \(n.stderr)")
                    cleanedLeftovers += 1
                }
                if step % 3 == 2 { // the next command was a load: it must have loaded
                    XCTAssertEqual(n.status, 0, "\(context): the next load failed: \(n.stderr)")
                    try expectCompleteThenUnload(dir, "\(context), then a load")
                }
                expectNothing(dir, context)
                try expectUnloaded(programIDs(in: r.stderr), context)
            }
            step += 1
        }
        XCTAssertGreaterThan(cleanedLeftovers, 10, "few kills left a staging directory to clean")
    }

    func testSIGTERMAtEveryStep() throws {
        try Live.require()
        let dir = try TestPinDirectory("signal")
        var step = 1
        while step < 200 {
            let r = try load(dir, stoppedBy: .signal, at: step)
            if r.status == 0 { // past the last step, or at the commit point: done, complete
                try expectCompleteThenUnload(dir, "SIGTERM at step \(step), after the commit point")
                break
            }
            let context = "SIGTERM at step \(step) (\(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))"
            XCTAssertFalse(r.signaled, "\(context): the signal killed the loader instead of stopping the load")
            XCTAssertEqual(r.status, 128 + SIGTERM, context)
            XCTAssertTrue(r.stderr.contains("interrupted by SIGTERM at step"), context)
            XCTAssertEqual(r.stderrLines.count, 1, "\(context): not one line")
            expectNothing(dir, context)
            step += 1
        }
        XCTAssertGreaterThan(step, 20)
    }

    /// What a loader killed at `own` left (every pin staged, every link attached through its
    /// pin) is removed by the next load, which then loads.
    func testLeftoversOfADeadLoaderAreRemovedByTheNextLoad() throws {
        try Live.require()
        let dir = try TestPinDirectory("leftover")
        let dead = try runProcess(Live.tool("starve-load"), ["--pin-dir", dir.path, "--object", Live.objectPath],
                                  environment: [Stop.kill.rawValue: "own"])
        XCTAssertTrue(dead.signaled, dead.stderr)
        XCTAssertEqual(dir.stagedBeside.count, 1, "kill -9 at `own` left no staging directory")
        let ids = programIDs(in: dead.stderr)
        XCTAssertFalse(ids.isEmpty, dead.stderr)
        XCTAssertTrue(try loadedProgramIDs().isSuperset(of: ids), "the staged links should keep the programs attached")
        let again = try runProcess(Live.tool("starve-load"), ["--pin-dir", dir.path, "--object", Live.objectPath])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("removed an unfinished load at \(dir.path)-loading-"), again.stderr)
        try expectUnloaded(ids, "the dead loader's programs")
        try expectCompleteThenUnload(dir, "load after a dead loader")
    }
}
