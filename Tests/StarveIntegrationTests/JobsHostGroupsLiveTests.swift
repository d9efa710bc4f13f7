import Foundation
import StarveHost
import StarveModel
import XCTest
import Yams

/// `starve-dump jobs` without Slurm (no squeue in PATH, Slurm never started): groups by
/// process, workload and user, with the syscall counts of `--syscalls`; and `--watch`.
final class JobsHostGroupsLiveTests: XCTestCase {
    /// A process that calls getppid(2) in a loop on CPU 1 until killed.
    func startGetppidLoop() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        p.arguments = ["-c", "1", "python3", "-c", "import os\nwhile True: os.getppid()"]
        try p.run()
        return p
    }

    func rows(_ text: String) throws -> [[String: Any]] {
        guard let doc = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let jobs = doc["jobs"] as? [[String: Any]] else { throw StarveError("no jobs JSON in: \(text)") }
        return jobs
    }

    func testGroupsWithoutSlurm() throws {
        try Live.require()
        try Live.requireCPUs([1])
        try Live.requireTools("starve-dump")
        try Live.requireMachine(access("/usr/bin/python3", X_OK) == 0, "python3 is not installed")
        let collector = try LoadedCollector(extraArguments: ["--jobs", "--syscalls"])
        defer { collector.unload() }
        let loop = try startGetppidLoop()
        defer { loop.terminate(); loop.waitUntilExit() }
        let pid = String(loop.processIdentifier)
        // No squeue in PATH: Slurm absent.
        let noSlurm = ["PATH": "/nonexistent"]
        var row: [String: Any]?
        XCTAssertTrue(waitUntil(seconds: 20) {
            guard let r = try? runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "process",
                                                                     "--format", "json", "--interval", "0.5"], environment: noSlurm),
                  r.status == 0, let all = try? self.rows(r.stdout) else { return false }
            row = all.first { $0["job_id"] as? String == pid }
            return ((row?["top_syscalls"] as? [[String: Any]])?.first?["count"] as? Int ?? 0) > 1000
                && (row?["elapsed_s"] as? Double ?? 0) > 2
        }, "the loop's process row: \(String(describing: row))")
        let r = try XCTUnwrap(row)
        XCTAssertEqual(r["name"] as? String, "python3")
        XCTAssertEqual(r["processes"] as? Int, 1)
        XCTAssertEqual(r["allocated_cpus"] as? Int, 1, "taskset -c 1: the process may use one CPU")
        XCTAssertEqual((r["top_syscalls"] as? [[String: Any]])?.first?["name"] as? String, "getppid", "\(r)")
        // A busy loop on its one CPU: on it or queued for it (others' work shares CPU 1 here).
        XCTAssertTrue(["cpu-bound", "starved"].contains(r["classification"] as? String ?? ""), "\(r)")
        let split = r["time_split_percent"] as? [String: Any] ?? [:]
        XCTAssertGreaterThan((split["on_cpu"] as? Double ?? 0) + (split["run_queue_wait"] as? Double ?? 0), 70, "\(r)")
        XCTAssertGreaterThan(r["cpu_s"] as? Double ?? 0, 0.1)
        let kernel = Double(Schedstat.read(pid: loop.processIdentifier)?.runNs ?? 0) / 1e9
        XCTAssertLessThanOrEqual(r["cpu_s"] as? Double ?? .infinity, kernel, "read before the kernel's later count")

        // By user: root's row has the loop's syscalls in it; by workload: some group does.
        let byUser = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "user", "--format", "json",
                                                              "--interval", "0.3"], environment: noSlurm)
        XCTAssertEqual(byUser.status, 0, byUser.stderr)
        let root = try XCTUnwrap(try rows(byUser.stdout).first { $0["user"] as? String == "root" }, byUser.stdout)
        XCTAssertEqual((root["top_syscalls"] as? [[String: Any]])?.first?["name"] as? String, "getppid")
        XCTAssertGreaterThanOrEqual(root["processes"] as? Int ?? 0, 1)
        let byWorkload = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "workload",
                                                                  "--format", "json", "--interval", "0.3"], environment: noSlurm)
        XCTAssertEqual(byWorkload.status, 0, byWorkload.stderr)
        let groups = try rows(byWorkload.stdout)
        XCTAssertTrue(groups.contains { ($0["top_syscalls"] as? [[String: Any]])?.first?["name"] as? String == "getppid" }, byWorkload.stdout)
        // --job needs Slurm: one line.
        let bad = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "process", "--job", "3"],
                                 environment: noSlurm)
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
    }

    /// --watch: N frames, each parsable on its own (JSON: one object per line; YAML: one
    /// document each), samples numbered 1...N, and a CPU time that never goes backwards.
    func testWatchFramesParse() throws {
        try Live.require()
        try Live.requireCPUs([1])
        try Live.requireTools("starve-dump")
        try Live.requireMachine(access("/usr/bin/python3", X_OK) == 0, "python3 is not installed")
        let collector = try LoadedCollector(extraArguments: ["--jobs"])
        defer { collector.unload() }
        let loop = try startGetppidLoop()
        defer { loop.terminate(); loop.waitUntilExit() }
        let pid = String(loop.processIdentifier)
        let json = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "process", "--watch",
                                                            "--iterations", "3", "--interval", "0.3", "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let lines = json.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 3, json.stdout)
        var last = 0.0
        for (i, line) in lines.enumerated() {
            let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "frame \(i + 1)")
            XCTAssertEqual(doc["sample"] as? Int, i + 1)
            let row = try XCTUnwrap((doc["jobs"] as? [[String: Any]])?.first { $0["job_id"] as? String == pid }, "frame \(i + 1)")
            let cpu = row["cpu_s"] as? Double ?? -1
            XCTAssertGreaterThanOrEqual(cpu, last, "frame \(i + 1): CPU time never goes backwards")
            last = cpu
        }
        XCTAssertGreaterThan(last, 0)
        let yaml = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "process", "--watch",
                                                            "--iterations", "2", "--interval", "0.3", "--format", "yaml"])
        XCTAssertEqual(yaml.status, 0, yaml.stderr)
        let docs = try Array(Yams.load_all(yaml: yaml.stdout))
        XCTAssertEqual(docs.count, 2)
        XCTAssertEqual(docs.compactMap { ($0 as? [String: Any])?["sample"] as? Int }, [1, 2])
        let table = try runProcess(Live.tool("starve-dump"), ["jobs", "--pin-dir", collector.pinDir, "--by", "process", "--watch",
                                                             "--iterations", "2", "--interval", "0.3"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertEqual(table.stdout.components(separatedBy: "\nsample ").count + (table.stdout.hasPrefix("sample ") ? 0 : -1), 2, table.stdout)
        XCTAssertTrue(table.stdout.contains(" \(pid) "), "the loop in every frame's table")
    }
}
