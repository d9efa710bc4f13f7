import Foundation
import StarveModel
import StarveHost
import XCTest

/// Runs `tool` with `args` and expects a refusal: non-zero exit, `text` on stderr, no crash.
private func expectError(_ tool: String, _ args: [String], contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try runTool(Live.tool(tool), args)
    XCTAssertNotEqual(r.status, 0, "\(tool) \(args) succeeded", file: file, line: line)
    XCTAssertTrue(r.stderr.contains(text), "\(tool) \(args): expected '\(text)' in: \(r.stderr)", file: file, line: line)
    XCTAssertFalse(r.stderr.contains("Fatal error"), "crashed: \(r.stderr)", file: file, line: line)
}

/// Mistakes in the arguments alone: refused before anything is loaded or opened, so these need
/// only the built tools (no root, no BPF). A pin directory given to them does not exist: a
/// check that came after opening the pins would say "nothing loaded" instead, and fail here.
final class BadArgumentTests: XCTestCase {
    private let absent = "/sys/fs/bpf/starve-test-absent-\(getpid())"

    func testLoaderRefusesBadFlags() throws {
        try Live.requireTools("starve-load")
        try expectError("starve-load", ["--pin-dir", absent, "--max-pairs", "0"], contains: "--max-pairs")
        try expectError("starve-load", ["--pin-dir", absent, "--bogus-flag"], contains: "Unknown option")
        XCTAssertFalse(FileManager.default.fileExists(atPath: absent), "a refused load left \(absent) behind")
    }

    func testDumpRefusesBadFlags() throws {
        try Live.requireTools("starve-dump")
        try expectError("starve-dump", ["--pin-dir", absent, "--interval", "0"], contains: "--interval")
        try expectError("starve-dump", ["--pin-dir", absent, "--alpha", "1.5"], contains: "--alpha")
        try expectError("starve-dump", ["--pin-dir", absent, "--format", "xml"], contains: "xml")
        try expectError("starve-dump", ["cgroups", "--pin-dir", absent, "--interval", "0"], contains: "--interval")
        // /tmp is never bpffs: refused by what it is, before anything is opened.
        try expectError("starve-dump", ["--pin-dir", "/tmp"], contains: "is not on a bpf filesystem")
    }

    func testWorkRefusals() throws {
        try Live.requireTools("starve-work")
        try expectError("starve-work", ["--nice", "25"], contains: "bad nice level '25'")
        try expectError("starve-work", ["--cpu", "9999"], contains: "does not exist")
        try expectError("starve-work", ["--cpu", "1-0"], contains: "bad CPU list item")
        try expectError("starve-work", ["--workers", "0"], contains: "--workers")
    }

    func testScenarioRefusals() throws {
        try Live.requireTools("starve-work")
        for (args, text) in [(["quota", "--cpu", "99999"], "--cpu 99999 does not exist"),
                             (["quota", "--period-ms", "0"], "--period-ms"),
                             (["inversion", "--control", "--holder-nice", "5"], "--control sets the holder's nice"),
                             (["migration", "--other-cpu", "0", "--cpu", "0"], "--other-cpu must differ")] {
            try expectError("starve-work", ["scenario"] + args, contains: text)
        }
    }
}

/// Refusals that need a loaded collection (or root, to try loading one).
final class BadInputTests: XCTestCase {
    func testLoaderRefusals() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        try expectError("starve-load", ["--pin-dir", collector.pinDir, "--object", Live.objectPath], contains: "already loaded at \(collector.pinDir)")
        let absent = "/sys/fs/bpf/starve-test-absent-\(getpid())"
        try expectError("starve-load", ["unload", "--pin-dir", absent], contains: "nothing loaded at \(absent)")
        try expectError("starve-load", ["status", "--pin-dir", absent], contains: "nothing loaded at \(absent)")
        try expectError("starve-load", ["--pin-dir", absent, "--btf", "/nonexistent/vmlinux"], contains: "no kernel BTF at /nonexistent/vmlinux")
        try expectError("starve-load", ["--pin-dir", absent, "--object", "/nonexistent.bpf.o"], contains: "cannot read BPF object")
        try expectError("starve-load", ["--pin-dir", absent, "--group", "no-such-group-xyz"], contains: "no such group: no-such-group-xyz")
        try expectError("starve-load", ["--pin-dir", "/tmp/not-bpffs-\(getpid())/starve"], contains: "is not on a bpf filesystem")
        XCTAssertFalse(FileManager.default.fileExists(atPath: absent), "a refused load left \(absent) behind")
    }

    func testDumpRefusals() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let dir = try TemporaryDirectory()
        let pin = ["--pin-dir", collector.pinDir, "--iterations", "1", "--interval", "0.1"]

        try expectError("starve-dump", ["--pin-dir", "/sys/fs/bpf/starve-test-absent-\(getpid())"], contains: "nothing loaded at")
        try expectError("starve-dump", pin + ["--pid", "999999999"], contains: "no such process: --pid 999999999")
        try expectError("starve-dump", pin + ["--output", dir.path + "/no/such/dir/out.csv"], contains: "cannot write")
        try expectError("starve-dump", pin + ["--output", dir.path], contains: "cannot write")

        // A CSV file with somebody else's header is refused and left untouched.
        let foreign = dir.path + "/foreign.csv"
        try "a,b,c\n1,2,3\n".write(toFile: foreign, atomically: true, encoding: .utf8)
        try expectError("starve-dump", pin + ["--output", foreign], contains: "has a different CSV header")
        XCTAssertEqual(try String(contentsOfFile: foreign, encoding: .utf8), "a,b,c\n1,2,3\n")
    }
}
