import Foundation
import StarveBPF
import StarveCore
import XCTest

/// What a live test needs: root, kernel BTF, the built tools and the BPF object. Without them a
/// test skips with the reason, unless STARVE_REQUIRE_BPF=1 (CI), where a skip is a failure.
enum Live {
    static let productsDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // The test runner lives in <products>/starvePackageTests.xctest or next to the tools.
        while !dir.isEmpty && dir != "/" && !FileManager.default.fileExists(atPath: dir + "/starve-load") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()

    static func tool(_ name: String) -> String { productsDirectory + "/" + name }

    /// Skips (or, in CI, fails) when live BPF tests cannot run here.
    static func require(file: StaticString = #filePath, line: UInt = #line) throws {
        var missing: String?
        if geteuid() != 0 { missing = "live BPF tests need root" }
        else if access("/sys/kernel/btf/vmlinux", R_OK) != 0 { missing = "no kernel BTF at /sys/kernel/btf/vmlinux" }
        else if access(tool("starve-load"), X_OK) != 0 { missing = "starve-load not built in \(productsDirectory)" }
        else if (try? BPFObjectLocator.locate(explicit: nil)) == nil && access(repoRoot + "/bpf/build/starve.bpf.o", R_OK) != 0 {
            missing = "bpf/build/starve.bpf.o not built (scripts/run.sh build)"
        }
        guard let missing else { return }
        if ProcessInfo.processInfo.environment["STARVE_REQUIRE_BPF"] == "1" {
            XCTFail("STARVE_REQUIRE_BPF=1 but \(missing)", file: file, line: line)
            throw XCTSkip("failed: \(missing)")
        }
        throw XCTSkip(missing)
    }

    /// Skips (or, in CI, fails) when the machine lacks what a test assumes.
    static func requireMachine(_ condition: Bool, _ reason: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard !condition else { return }
        if ProcessInfo.processInfo.environment["STARVE_REQUIRE_BPF"] == "1" {
            XCTFail("STARVE_REQUIRE_BPF=1 but \(reason)", file: file, line: line)
            throw XCTSkip("failed: \(reason)")
        }
        throw XCTSkip(reason)
    }

    static let repoRoot: String = {
        var dir = (#filePath as NSString).deletingLastPathComponent
        while dir != "/" && !FileManager.default.fileExists(atPath: dir + "/Package.swift") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()

    static var objectPath: String { repoRoot + "/bpf/build/starve.bpf.o" }
}

/// The result of running a tool to completion.
struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `executable` with `arguments` to completion (optionally as another user via setpriv).
@discardableResult
func runTool(_ executable: String, _ arguments: [String], asUser user: (uid: uid_t, gid: gid_t)? = nil) throws -> ToolRun {
    let p = Process()
    if let user {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--", executable] + arguments
    } else {
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
    }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    // Read both pipes to the end before waiting, so a chatty tool cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let errReader = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
    errReader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !errReader.isFinished { usleep(1000) }
    return ToolRun(status: p.terminationStatus,
                   stdout: String(decoding: outData, as: UTF8.self),
                   stderr: String(decoding: errBox.data, as: UTF8.self))
}

/// A collector loaded under a pin directory of its own, unloaded (and wiped) at the end even
/// when the test fails.
final class LoadedCollector {
    let pinDir: String
    var layout: PinLayout { PinLayout(directory: pinDir) }

    init(extraArguments: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        pinDir = "/sys/fs/bpf/starve-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let r = try runTool(Live.tool("starve-load"), ["--pin-dir", pinDir, "--object", Live.objectPath] + extraArguments)
        guard r.status == 0 else {
            XCTFail("starve-load failed: \(r.stderr)", file: file, line: line)
            throw StarveError("starve-load failed: \(r.stderr)")
        }
    }

    func unload() {
        guard FileManager.default.fileExists(atPath: pinDir) else { return }
        _ = try? runTool(Live.tool("starve-load"), ["unload", "--pin-dir", pinDir])
        if FileManager.default.fileExists(atPath: pinDir) { try? FileManager.default.removeItem(atPath: pinDir) }
    }

    deinit { unload() }
}

/// starve-work running in the background; its workers are reaped when this is dropped.
final class Workload {
    let process = Process()
    private(set) var workerPIDs: [pid_t] = []

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Live.tool("starve-work"))
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        let expected = arguments.firstIndex(of: "--workers").map { Int(arguments[$0 + 1]) ?? 1 } ?? 2
        var text = ""
        let handle = out.fileHandleForReading
        while workerPIDs.count < expected {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            workerPIDs = text.split(separator: "\n").compactMap { line in
                let f = line.split(separator: " ")
                return f.count >= 4 && f[0] == "worker" && f[2] == "pid" ? pid_t(f[3]) : nil
            }
        }
        if workerPIDs.count < expected { stop(); throw StarveError("starve-work did not start its workers: \(text)") }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// /proc/<pid>/schedstat: on-CPU ns, run-queue wait ns, timeslices. The kernel's own accounting.
struct Schedstat {
    var runtimeNs: UInt64
    var waitNs: UInt64
    var timeslices: UInt64

    init(pid: pid_t) throws {
        let text = try String(contentsOfFile: "/proc/\(pid)/schedstat", encoding: .utf8)
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        guard f.count == 3 else { throw StarveError("unexpected schedstat: \(text)") }
        runtimeNs = f[0]
        waitNs = f[1]
        timeslices = f[2]
    }
}

/// Polls `condition` every 20 ms for up to `seconds`.
func waitUntil(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}
