import CStarve
import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Pins left by another build (another ABI, or maps of other sizes): every reader says so in one
/// line and exits non-zero before it reads a value, and `starve-load unload` removes them anyway.
/// The foreign maps are made with bpftool, as an older or newer starve would have left them.
final class ForeignPinsTests: XCTestCase {
    private let configSize = MemoryLayout<starve_config>.size
    private let statsSize = MemoryLayout<starve_stats>.size

    /// `bpftool map create` at `path`.
    private func createMap(_ path: String, type: String, key: Int, value: Int, name: String) throws {
        let r = try runProcess(bpftool, ["map", "create", path, "type", type, "key", String(key), "value", String(value),
                                         "entries", "1", "name", name])
        guard r.status == 0 else { throw StarveError("bpftool map create \(path) failed: \(r.stderr)") }
    }

    /// Element 0 of the array pinned at `path` := `value` (`bpftool map update`).
    private func writeElementZero(_ path: String, _ value: [UInt8]) throws {
        let r = try runProcess(bpftool, ["map", "update", "pinned", path, "key", "0", "0", "0", "0", "value"] + value.map(String.init))
        guard r.status == 0 else { throw StarveError("bpftool map update \(path) failed: \(r.stderr)") }
    }

    /// A config value of `size` bytes whose first four say ABI `abi` (little-endian, as here).
    private func config(abi: UInt32, size: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        for i in 0..<min(4, size) { bytes[i] = UInt8((abi >> (8 * UInt32(i))) & 0xff) }
        return bytes
    }

    /// A crafted pin directory: `maps/` with a `starve_config` of `configSize` bytes saying `abi`.
    private func craft(abi: UInt32, configSize size: Int) throws -> TestPinDirectory {
        let dir = try TestPinDirectory("foreign")
        try FileManager.default.createDirectory(atPath: dir.layout.mapsDirectory, withIntermediateDirectories: true)
        let path = dir.layout.map(PinLayout.configMap)
        try createMap(path, type: "array", key: 4, value: size, name: PinLayout.configMap)
        try writeElementZero(path, config(abi: abi, size: size))
        return dir
    }

    /// Every reader of `dir` fails with one line containing `text`, and no crash.
    private func expectEveryReaderRefuses(_ dir: TestPinDirectory, saying text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let readers: [(String, [String])] = [
            ("starve-load", ["status", "--pin-dir", dir.path]),
            ("starve-dump", ["--pin-dir", dir.path, "--iterations", "1", "--interval", "0.1"]),
            ("starve-dump", ["cgroups", "--pin-dir", dir.path, "--iterations", "1", "--interval", "0.1"]),
            ("starve-dump", ["events", "--pin-dir", dir.path, "--duration", "0.1"]),
        ]
        for (tool, args) in readers {
            let r = try runProcess(Live.tool(tool), args)
            let what = "\(tool) \(args.joined(separator: " "))"
            XCTAssertNotEqual(r.status, 0, "\(what) succeeded on foreign pins: \(r.stdout)", file: file, line: line)
            XCTAssertFalse(r.signaled, "\(what) died of signal \(r.status): \(r.stderr)", file: file, line: line)
            XCTAssertEqual(r.stderrLines.count, 1, "\(what): not one line: \(r.stderr)", file: file, line: line)
            XCTAssertTrue(r.stderr.contains(text), "\(what): expected '\(text)' in: \(r.stderr)", file: file, line: line)
        }
    }

    /// `starve-load unload` removes the pins without reading them.
    private func expectUnloadRemoves(_ dir: TestPinDirectory, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runProcess(Live.tool("starve-load"), ["unload", "--pin-dir", dir.path])
        XCTAssertEqual(r.status, 0, "unload failed: \(r.stderr)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path), "unload left \(dir.path)", file: file, line: line)
        XCTAssertEqual(dir.stagedBeside, [], "unload left something beside the pin directory", file: file, line: line)
    }

    private func unloadHint(_ dir: TestPinDirectory) -> String {
        "unload them with `starve-load unload --pin-dir \(dir.path)` and load again"
    }

    func testOlderABIWithASmallerConfigIsNamed() throws {
        try Live.require()
        let dir = try craft(abi: 3, configSize: 24)
        try expectEveryReaderRefuses(dir, saying: "pins at \(dir.path) are from starve ABI 3, this build is ABI \(STARVE_ABI_VERSION): \(unloadHint(dir))")
        try expectUnloadRemoves(dir)
    }

    func testNewerABIWithALargerConfigIsNamed() throws {
        try Live.require()
        let dir = try craft(abi: UInt32(STARVE_ABI_VERSION) + 1, configSize: configSize + 64)
        try expectEveryReaderRefuses(dir, saying: "pins at \(dir.path) are from starve ABI \(STARVE_ABI_VERSION + 1), this build is ABI \(STARVE_ABI_VERSION): \(unloadHint(dir))")
        try expectUnloadRemoves(dir)
    }

    func testAnotherABIWithThisConfigSizeIsNamed() throws {
        try Live.require()
        let dir = try craft(abi: 99, configSize: configSize)
        try expectEveryReaderRefuses(dir, saying: "pins at \(dir.path) are from starve ABI 99, this build is ABI \(STARVE_ABI_VERSION): \(unloadHint(dir))")
        try expectUnloadRemoves(dir)
    }

    func testConfigTooSmallForAnABIVersion() throws {
        try Live.require()
        let dir = try craft(abi: 0, configSize: 2)
        try expectEveryReaderRefuses(dir, saying: "pins at \(dir.path) are from another starve build (a 2-byte starve_config, this build's holds \(configSize)): \(unloadHint(dir))")
        try expectUnloadRemoves(dir)
    }

    /// This ABI's config, but a map of another size or kind beside it: the size check at open.
    func testMapOfAnotherShapeBesideThisABIsConfig() throws {
        try Live.require()
        for (type, value, complaint) in [("percpu_array", 8, "holds 4-byte keys and 8-byte values, this build reads 4 and \(statsSize)"),
                                         ("array", statsSize, "is not a per-CPU map, this build reads one")] {
            let dir = try craft(abi: UInt32(STARVE_ABI_VERSION), configSize: configSize)
            try createMap(dir.layout.map(PinLayout.statsMap), type: type, key: 4, value: value, name: PinLayout.statsMap)
            try createMap(dir.layout.tasksIterator, type: "array", key: 4, value: 4, name: "tasks") // any pin will do
            let stats = dir.layout.map(PinLayout.statsMap)
            let expected = "\(stats) \(complaint): the pins at \(dir.path) are from another starve build; \(unloadHint(dir))"
            for (tool, args) in [("starve-load", ["status", "--pin-dir", dir.path]),
                                 ("starve-dump", ["--pin-dir", dir.path, "--iterations", "1", "--interval", "0.1"])] {
                let r = try runProcess(Live.tool(tool), args)
                XCTAssertNotEqual(r.status, 0, "\(tool) read a \(type) stats map of \(value)-byte values")
                XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
                XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)")
            }
            try expectUnloadRemoves(dir)
        }
    }

    /// A live collection whose config says another ABI: refused by readers, unloaded, detached.
    func testLoadedCollectionOfAnotherABIIsRefusedAndUnloaded() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let dir = collector.pinDir
        let linkIDs = try programsBehindLinks(collector.layout)
        XCTAssertFalse(linkIDs.isEmpty)
        try writeElementZero(collector.layout.map(PinLayout.configMap), config(abi: 3, size: configSize))
        let expected = "pins at \(dir) are from starve ABI 3, this build is ABI \(STARVE_ABI_VERSION): unload them with `starve-load unload --pin-dir \(dir)` and load again"
        for args in [["status", "--pin-dir", dir]] {
            let r = try runProcess(Live.tool("starve-load"), args)
            XCTAssertNotEqual(r.status, 0)
            XCTAssertEqual(r.stderrLines.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(expected), r.stderr)
        }
        let dump = try runProcess(Live.tool("starve-dump"), ["--pin-dir", dir, "--iterations", "1", "--interval", "0.1"])
        XCTAssertNotEqual(dump.status, 0)
        XCTAssertTrue(dump.stderr.contains(expected), dump.stderr)

        let unload = try runProcess(Live.tool("starve-load"), ["unload", "--pin-dir", dir])
        XCTAssertEqual(unload.status, 0, unload.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
        XCTAssertTrue(try waitUntil(seconds: 10) { try loadedProgramIDs().isDisjoint(with: linkIDs) },
                      "programs of the unloaded collection are still loaded")
    }
}
