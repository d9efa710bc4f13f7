import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// A process run to completion, and how it ended.
struct ProcessRun {
    var status: Int32
    /// Killed by a signal (status is then the signal number).
    var signaled: Bool
    var stdout: String
    var stderr: String

    /// stderr without surrounding blank space, as lines.
    var stderrLines: [Substring] { stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n") }
}

/// Runs `executable` with extra environment variables, optionally through setpriv (`privileges`:
/// setpriv's arguments before `--`).
func runProcess(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:],
                privileges: [String]? = nil) throws -> ProcessRun {
    let p = Process()
    if let privileges {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = privileges + ["--", executable] + arguments
    } else {
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
    }
    p.environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let errReader = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
    errReader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !errReader.isFinished { usleep(1000) }
    return ProcessRun(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal,
                      stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
}

/// A pin directory of the test's own under /sys/fs/bpf, wiped (with anything staged beside it)
/// at the end even when the test fails.
final class TestPinDirectory {
    let path: String
    var layout: PinLayout { PinLayout(directory: path) }

    init(_ tag: String) throws {
        path = "/sys/fs/bpf/starve-test-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Mounts bpffs when nothing has yet (a fresh machine), as starve-load would.
        _ = try Bpffs.ensureMounted(for: path)
    }

    /// Entries beside the pin directory that belong to it: `<pin-dir>-loading-…`, `-unloading-…`.
    var stagedBeside: [String] {
        let base = (path as NSString).lastPathComponent
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/bpf")) ?? []).filter { $0.hasPrefix(base + "-") }
    }

    func wipe() {
        for p in [path] + stagedBeside.map({ "/sys/fs/bpf/" + $0 }) where FileManager.default.fileExists(atPath: p) {
            _ = try? runProcess(Live.tool("starve-load"), ["unload", "--pin-dir", p])
            try? FileManager.default.removeItem(atPath: p)
        }
    }

    deinit { wipe() }
}

/// Kernel ids of the BPF programs loaded now (`bpftool prog show -j`).
func loadedProgramIDs() throws -> Set<UInt32> {
    let r = try runProcess(bpftool, ["prog", "show", "-j"])
    guard r.status == 0, let list = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
        throw StarveError("bpftool prog show failed: \(r.stderr)")
    }
    return Set(list.compactMap { ($0["id"] as? NSNumber)?.uint32Value })
}

/// The program ids an injected failure or kill names ("programs loaded: 12,13,14").
func programIDs(in text: String) -> [UInt32] {
    guard let r = text.range(of: "programs loaded: ") else { return [] }
    return text[r.upperBound...].prefix(while: { $0.isNumber || $0 == "," }).split(separator: ",").compactMap { UInt32($0) }
}

/// The path of bpftool (Debian: /usr/sbin/bpftool).
let bpftool: String = ["/usr/sbin/bpftool", "/usr/bin/bpftool"].first { (path: String) in access(path, X_OK) == 0 } ?? "/usr/sbin/bpftool"

/// The programs behind a collection's link pins and its tasks iterator (`bpftool link show pinned`).
func programsBehindLinks(_ layout: PinLayout) throws -> Set<UInt32> {
    var ids: Set<UInt32> = []
    let links = try FileManager.default.contentsOfDirectory(atPath: layout.linksDirectory).map { layout.link($0) } + [layout.tasksIterator]
    for path in links {
        let r = try runProcess(bpftool, ["link", "show", "pinned", path, "-j"])
        if let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], let id = (o["prog_id"] as? NSNumber)?.uint32Value {
            ids.insert(id)
        }
    }
    return ids
}
