import Foundation
import StarveBPF
import StarveModel
import StarveHost
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

    /// STARVE_REQUIRE_BPF=1 (CI): every test must run, so an unmet requirement is a failure.
    static var everyTestMustRun: Bool { ProcessInfo.processInfo.environment["STARVE_REQUIRE_BPF"] == "1" }

    /// Skips with `reason`, or, under STARVE_REQUIRE_BPF=1, fails with it (and stops the test).
    static func unmet(_ reason: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if everyTestMustRun {
            XCTFail("STARVE_REQUIRE_BPF=1 but \(reason)", file: file, line: line)
            throw XCTSkip("failed: \(reason)")
        }
        throw XCTSkip(reason)
    }

    /// Skips (or, in CI, fails) when live BPF tests cannot run here.
    static func require(file: StaticString = #filePath, line: UInt = #line) throws {
        var missing: String?
        if geteuid() != 0 { missing = "live BPF tests need root" }
        else if access("/sys/kernel/btf/vmlinux", R_OK) != 0 { missing = "no kernel BTF at /sys/kernel/btf/vmlinux" }
        else if access(tool("starve-load"), X_OK) != 0 { missing = "starve-load not built in \(productsDirectory)" }
        else if (try? BPFObjectLocator.locate(explicit: nil)) == nil && access(repoRoot + "/bpf/build/starve.bpf.o", R_OK) != 0 {
            missing = "bpf/build/starve.bpf.o not built (scripts/run.sh build)"
        }
        if let missing { try unmet(missing, file: file, line: line) }
    }

    /// A test's assumption about this machine (CPUs, autogroups, an idle moment, a cgroup
    /// hierarchy): skips with `reason` when it does not hold, fails under STARVE_REQUIRE_BPF=1.
    static func requireMachine(_ condition: Bool, _ reason: @autoclosure () -> String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        if !condition { try unmet(reason(), file: file, line: line) }
    }

    /// Root, for tests that need it without BPF (scenarios: cgroups, negative nice).
    static func requireRoot(_ why: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try requireMachine(geteuid() == 0, "\(why) need root", file: file, line: line)
    }

    /// The built tools alone, for tests that only run them (argument checks: no root, no BPF).
    static func requireTools(_ names: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        for name in names where access(tool(name), X_OK) != 0 {
            try unmet("\(name) not built in \(productsDirectory) (swift build)", file: file, line: line)
        }
    }

    /// CPUs this test process may run on (online and in its affinity mask).
    static var usableCPUs: Set<Int> {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        return line.flatMap { SchedContextParser.cpuList(String($0.dropFirst("Cpus_allowed_list:".count))) } ?? []
    }

    /// The CPUs a test pins its workloads to exist and may be used here.
    static func requireCPUs(_ cpus: Set<Int>, file: StaticString = #filePath, line: UInt = #line) throws {
        let usable = usableCPUs
        try requireMachine(cpus.isSubset(of: usable),
                           "the test pins to CPUs \(formatCPUList(cpus)), this process may use \(formatCPUList(usable))",
                           file: file, line: line)
    }

    /// Autogroups on (kernel.sched_autogroup_enabled = 1): each session is a task group of its own.
    static func requireAutogroups(file: StaticString = #filePath, line: UInt = #line) throws {
        let value = (try? String(contentsOfFile: "/proc/sys/kernel/sched_autogroup_enabled", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try requireMachine(value == "1", "autogroups are off here (kernel.sched_autogroup_enabled = \(value ?? "absent"))",
                           file: file, line: line)
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
typealias ToolRun = ProcessRun

/// Runs `executable` with `arguments` to completion (optionally as another user via setpriv).
@discardableResult
func runTool(_ executable: String, _ arguments: [String], asUser user: (uid: uid_t, gid: gid_t)? = nil) throws -> ToolRun {
    try runProcess(executable, arguments,
                   privileges: user.map { ["--reuid=\($0.uid)", "--regid=\($0.gid)", "--init-groups"] })
}

/// A process left running while a test goes on, its standard output read as it comes.
final class BackgroundRun: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var data = Data()
    private var reader: Thread?

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let handle = out.fileHandleForReading
        let t = Thread { [self] in
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                lock.withLock { data.append(d) }
            }
        }
        t.start()
        reader = t
    }

    /// Bytes of output so far.
    var outputCount: Int { lock.withLock { data.count } }

    /// The output so far.
    var outputSoFar: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

    /// Waits for the process to end and its output to be read; the whole output.
    func finish() -> String {
        process.waitUntilExit()
        while reader?.isFinished == false { usleep(10_000) }
        return lock.withLock { String(decoding: data, as: UTF8.self) }
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// A CPU hog in one scratch cgroup and a duty-cycle task in another with almost no weight, both
/// on CPU 1: the noisy neighbour and its victim. (At 2:1024 the victim waits about 512 times
/// what it ran: a turn of a few ms costs it seconds, so watch it for six samples or so.) Removed (workers stopped, cgroups removed) by
/// ``tearDown()``, which tests defer.
final class NoisyNeighbours {
    let hogGroup: ScratchCgroup
    let victimGroup: ScratchCgroup
    let hog: Workload
    let victim: Workload

    init(tag: String) throws {
        hogGroup = try ScratchCgroup(prefix: "starve-test-\(tag)hog")
        do {
            victimGroup = try ScratchCgroup(prefix: "starve-test-\(tag)victim")
        } catch {
            try? hogGroup.remove()
            throw error
        }
        do {
            try victimGroup.setWeight(v1Shares: 2, v2Weight: 1)
            hog = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--cgroup", hogGroup.directory])
            victim = try Workload(["--workers", "1", "--cpu", "1", "--duration", "60", "--busy-ms", "1", "--sleep-ms", "9",
                                   "--cgroup", victimGroup.directory])
        } catch {
            try? victimGroup.remove()
            try? hogGroup.remove()
            throw error
        }
    }

    func tearDown() {
        hog.stop()
        victim.stop()
        try? victimGroup.remove()
        try? hogGroup.remove()
    }
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
    /// One worker as starve-work announced it (`worker I pid P nice N cpus C …`).
    struct Worker {
        var pid: pid_t
        var nice: Int
        /// Empty: any CPU.
        var cpus: Set<Int>
    }

    let process = Process()
    private(set) var workers: [Worker] = []
    var workerPIDs: [pid_t] { workers.map(\.pid) }

    /// Skips (fails under STARVE_REQUIRE_BPF=1) when `--cpu` names a CPU this machine does not let us use.
    init(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        if let i = arguments.firstIndex(of: "--cpu"), i + 1 < arguments.count {
            try Live.requireCPUs(SchedContextParser.cpuList(arguments[i + 1]) ?? [], file: file, line: line)
        }
        process.executableURL = URL(fileURLWithPath: Live.tool("starve-work"))
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        let expected = arguments.firstIndex(of: "--workers").map { Int(arguments[$0 + 1]) ?? 1 } ?? 2
        var text = ""
        let handle = out.fileHandleForReading
        while workers.count < expected {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            workers = text.split(separator: "\n").compactMap { line in
                let f = line.split(separator: " ").map(String.init)
                guard f.count >= 8, f[0] == "worker", f[2] == "pid", f[4] == "nice", f[6] == "cpus",
                      let pid = pid_t(f[3]), let nice = Int(f[5]) else { return nil }
                return Worker(pid: pid, nice: nice, cpus: f[7] == "any" ? [] : Set(f[7].split(separator: ",").compactMap { Int($0) }))
            }
        }
        if workers.count < expected { stop(); throw StarveError("starve-work did not start its workers: \(text)") }
    }

    /// Polls (up to `seconds`) until every worker runs as announced: at its nice level, on its
    /// CPUs, and has been on a CPU since. A worker sets these itself once the Swift runtime has
    /// started, some timeslices after starve-work printed its pid.
    func waitUntilSettled(seconds: Double = 15) -> Bool {
        waitUntil(seconds: seconds) {
            workers.allSatisfy { w in
                guard let nice = procStatField(pid: w.pid, 19).flatMap({ Int($0) }), nice == w.nice,
                      let ran = try? Schedstat(pid: w.pid), ran.runNs > 0 else { return false }
                return w.cpus.isEmpty || allowedCPUs(pid: w.pid) == w.cpus
            }
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// Field `n` (1-based, as in proc(5)) of /proc/<pid>/stat; nil when the task is gone.
func procStatField(pid: pid_t, _ n: Int) -> String? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.range(of: ")", options: .backwards) else { return nil }
    let fields = stat[close.upperBound...].split(separator: " ")  // fields[0] is field 3
    return n >= 3 && n - 3 < fields.count ? String(fields[n - 3]) : nil
}

/// Cpus_allowed_list of a task; nil when it is gone.
func allowedCPUs(pid: pid_t) -> Set<Int>? {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        .flatMap { SchedContextParser.cpuList(String($0.dropFirst("Cpus_allowed_list:".count))) }
}

extension Schedstat {
    /// /proc/<pid>/schedstat now (the kernel's own accounting), or an error naming the process.
    init(pid: pid_t) throws {
        guard let s = Schedstat.read(pid: pid) else { throw StarveError("cannot read /proc/\(pid)/schedstat") }
        self = s
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
