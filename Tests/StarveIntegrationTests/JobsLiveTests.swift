import Foundation
import StarveBPF
import StarveHost
import StarveModel
import XCTest
import Yams

/// A one-node Slurm of the test's own (scripts/slurm.sh with its own state directory and
/// ports), stopped and wiped at the end even when the test fails.
final class LocalSlurm {
    let stateDir = "/run/starve-slurm-test-\(getpid())"
    let ctldPort = 17_000 + Int(getpid() % 1000) * 2
    var environment: [String: String] {
        ["STATE_DIR": stateDir, "SLURMCTLD_PORT": String(ctldPort), "SLURMD_PORT": String(ctldPort + 1),
         "SLURM_CONF": stateDir + "/slurm.conf"]
    }
    private var started = false

    init(file: StaticString = #filePath, line: UInt = #line) throws {
        started = true
        let (status, output) = script("start")
        guard status == 0 else {
            stop()
            try Live.unmet("scripts/slurm.sh start failed: \(output)", file: file, line: line)
        }
    }

    /// Runs scripts/slurm.sh with this instance's environment through system(3), its output to
    /// a file: the daemons it starts outlive it, and Foundation's Process waited forever for
    /// the script here once they had been forked from it.
    private func script(_ command: String) -> (Int32, String) {
        let log = NSTemporaryDirectory() + "starve-slurm-\(getpid())-\(command).log"
        defer { unlink(log) }
        let env = environment.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: " ")
        let status = system("\(env) '\(Live.repoRoot)/scripts/slurm.sh' \(command) </dev/null >'\(log)' 2>&1")
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (status, output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Submits `script` as batch job `name`; its id.
    func sbatch(_ script: String, name: String, directory: String, after: [String] = []) throws -> String {
        let dependency = after.isEmpty ? [] : ["--dependency=afterany:" + after.joined(separator: ":")]
        let r = try runProcess("/usr/bin/sbatch", ["--parsable", "-J", name, "-o", "/dev/null", "-e", "/dev/null",
                                                   "--chdir", directory] + dependency + [script], environment: environment)
        guard r.status == 0, let id = r.stdout.split(separator: ";").first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
              !id.isEmpty else { throw StarveError("sbatch \(name) failed: \(r.stderr)") }
        return id
    }

    /// Job id -> state, from squeue.
    func states() throws -> [String: String] {
        let r = try runProcess("/usr/bin/squeue", ["-h", "-t", "all", "-o", "%i %T"], environment: environment)
        var out: [String: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2 { out[String(f[0])] = String(f[1]) }
        }
        return out
    }

    func stop() {
        guard started else { return }
        started = false
        _ = script("stop")
    }

    deinit { stop() }
}

/// The threads of a job as the kernel's cgroups hold them (Slurm's v1 freezer hierarchy, or
/// its cgroup2 scope), and their on-CPU time by /proc/<tid>/schedstat: the kernel's own count.
func jobKernelRuntimeNs(job: String) -> (ns: UInt64, threads: Int) {
    let roots = ["/sys/fs/cgroup/freezer", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
    var total: UInt64 = 0, threads = 0
    for root in roots {
        guard let e = FileManager.default.enumerator(atPath: root) else { continue }
        var dirs: [String] = []
        while let p = e.nextObject() as? String {
            if (p as NSString).lastPathComponent == "job_\(job)" { dirs.append(root + "/" + p) }
            if p.split(separator: "/").count > 6 { e.skipDescendants() }
        }
        for dir in dirs {
            guard let walk = FileManager.default.enumerator(atPath: dir) else { continue }
            var files: [String] = []  // (the walk lists the directory's own files too)
            while let p = walk.nextObject() as? String {
                if ["tasks", "cgroup.threads"].contains((p as NSString).lastPathComponent) { files.append(dir + "/" + p) }
            }
            for f in files {
                for tid in ((try? String(contentsOfFile: f, encoding: .utf8)) ?? "").split(separator: "\n") {
                    if let s = Schedstat.read(pid: pid_t(tid) ?? 0) { total += s.runNs; threads += 1 }
                }
            }
        }
        if !dirs.isEmpty { break }
    }
    return (total, threads)
}

/// The "Done when", live: on a local Slurm, a CPU-bound job, an I/O-bound job (4 KiB
/// writes, each followed by fsync), an idle job (sleep) and two CPU-bound jobs sharing CPU 1;
/// `starve-dump jobs --format json` names each job id, classifies each, gives the shared pair
/// as starved with their run-queue wait, and CPU time within 2 % of the kernel's schedstat;
/// the finished jobs' report is complete, valid JSON and YAML, and its HTML renders in
/// headless Chromium without console errors.
final class JobsLiveTests: XCTestCase {
    func dump(_ arguments: [String], slurm: LocalSlurm) throws -> ProcessRun {
        try runProcess(Live.tool("starve-dump"), arguments, environment: slurm.environment)
    }

    func jobsJSON(_ run: ProcessRun) throws -> [String: [String: Any]] {
        let line = run.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let doc = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let jobs = doc["jobs"] as? [[String: Any]] else { throw StarveError("no jobs JSON in: \(run.stdout) \(run.stderr)") }
        return Dictionary(jobs.compactMap { j in (j["job_id"] as? String).map { ($0, j) } }, uniquingKeysWith: { a, _ in a })
    }

    func testJobsClassifiedAndMeasuredAgainstTheKernel() throws {
        try Live.require()
        try Live.requireCPUs([0, 1])
        try Live.requireTools("starve-dump")
        let collector = try LoadedCollector(extraArguments: ["--jobs"])
        defer { collector.unload() }
        let slurm = try LocalSlurm()
        defer { slurm.stop() }
        let dir = NSTemporaryDirectory() + "starve-jobs-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        // Every job raises its own autogroup's weight (nice -20): other work on this shared
        // machine then barely touches them, and what the pair on CPU 1 waits for is each other.
        // Two rounds: the I/O and idle jobs first, alone; then, once they are done (Slurm's
        // --dependency), the CPU-bound job on CPU 0 and the pair on CPU 1. The fsync loop runs
        // at SCHED_FIFO 1: under EEVDF a woken CFS task waits out the running task's slice
        // (~3 ms here) before it gets the CPU, so on a machine others keep busy an fsync loop
        // spends more time queued after each fsync than blocked in it (measured: 65 % queued,
        // 21 % blocked), which starve rightly reports; the test wants the I/O-bound pattern.
        let seconds = 12
        let scripts: [(name: String, body: String, after: [String])] = [
            ("io", "timeout \(seconds) chrt -f 1 perl -MIO::Handle -e 'open(my $f, \">\", \"io.dat\") or die; my $b = \"x\" x 4096; "
                + "while (1) { print $f $b; $f->flush; $f->sync or die \"fsync: $!\" }' || true; rm -f io.dat", []),
            ("idle", "sleep \(seconds)", []),
            ("cpu", "timeout \(seconds) taskset -c 0 sh -c 'while :; do :; done' || true", ["io", "idle"]),
            ("share1", "timeout \(seconds) taskset -c 1 sh -c 'while :; do :; done' || true", ["io", "idle"]),
            ("share2", "timeout \(seconds) taskset -c 1 sh -c 'while :; do :; done' || true", ["io", "idle"]),
        ]
        var ids: [String: String] = [:]
        for s in scripts {
            let path = dir + "/\(s.name).sh"
            try "#!/bin/sh\necho -20 > /proc/self/autogroup\n\(s.body)\n".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            ids[s.name] = try slurm.sbatch(path, name: s.name, directory: dir, after: s.after.compactMap { ids[$0] })
        }
        let second = ["cpu", "share1", "share2"].map { ids[$0]! }
        XCTAssertTrue(waitUntil(seconds: Double(seconds) + 30) { (try? slurm.states()).map { s in second.allSatisfy { s[$0] == "RUNNING" } } ?? false },
                      "the second round did not start: \((try? slurm.states()) ?? [:])")
        Thread.sleep(forTimeInterval: 2)  // let them run a while (the jobs end by themselves)

        // While they run: CPU time against the kernel's. Slurm suspends the CPU job (SIGSTOP to
        // its processes) so that its CPU time stands still while both are read; then resumes it.
        let cpuJob = ids["cpu"]!
        let suspend = try runProcess("/usr/bin/scontrol", ["suspend", cpuJob], environment: slurm.environment)
        XCTAssertEqual(suspend.status, 0, suspend.stderr)
        var before = jobKernelRuntimeNs(job: cpuJob)
        XCTAssertTrue(waitUntil(seconds: 10) {
            usleep(200_000)
            let now = jobKernelRuntimeNs(job: cpuJob)
            defer { before = now }
            return now.ns == before.ns && now.threads > 0
        }, "the suspended job's CPU time stands still")
        let running = try dump(["jobs", "--pin-dir", collector.pinDir, "--format", "json", "--interval", "0.3", "--job", cpuJob], slurm: slurm)
        let after = jobKernelRuntimeNs(job: cpuJob)
        _ = try runProcess("/usr/bin/scontrol", ["resume", cpuJob], environment: slurm.environment)
        XCTAssertEqual(running.status, 0, running.stderr)
        XCTAssertGreaterThan(before.threads, 0, "no thread of the CPU job found in its cgroups")
        let live = try jobsJSON(running)
        let cpuS = try XCTUnwrap(live[cpuJob]?["cpu_s"] as? Double)
        let kernelS = Double(after.ns) / 1e9
        print("cpu job: starve \(cpuS) s, kernel schedstat \(Double(before.ns) / 1e9) / \(kernelS) s (\(before.threads) threads)")
        XCTAssertEqual(cpuS, kernelS, accuracy: 0.02 * kernelS, "within 2 % of the kernel's own accounting")
        XCTAssertGreaterThan(cpuS, 1, "the CPU-bound job ran for seconds")

        // Once all have finished: each classified, the pair starved by its run-queue wait.
        XCTAssertTrue(waitUntil(seconds: Double(seconds) + 40) {
            (try? slurm.states()).map { s in ids.values.allSatisfy { s[$0] == "COMPLETED" } } ?? false
        }, "the jobs did not all complete: \((try? slurm.states()) ?? [:])")
        let finished = try dump(["jobs", "--pin-dir", collector.pinDir, "--format", "json", "--interval", "0.2"], slurm: slurm)
        XCTAssertEqual(finished.status, 0, finished.stderr)
        let rows = try jobsJSON(finished)
        print(finished.stdout)
        let expected = ["cpu": "cpu-bound", "io": "io-bound", "idle": "idle-heavy", "share1": "starved", "share2": "starved"]
        for (name, cls) in expected {
            let row = try XCTUnwrap(rows[ids[name]!], "job \(name) (\(ids[name]!)) missing")
            XCTAssertEqual(row["classification"] as? String, cls, "job \(name): \(row)")
            XCTAssertEqual(row["complete"] as? Bool, true, "job \(name): \(row)")
            XCTAssertEqual(row["threads_live"] as? Int, 0, "job \(name) has finished")
            XCTAssertGreaterThan(row["threads_exited"] as? Int ?? 0, 0, "job \(name): its threads were folded at exit")
        }
        for name in ["share1", "share2"] {
            let row = rows[ids[name]!]!
            let wait = row["run_queue_wait_s"] as? Double ?? 0, elapsed = row["elapsed_s"] as? Double ?? 0
            XCTAssertGreaterThan(wait, 0.3 * elapsed, "job \(name) waited for CPU 1 about half its time: \(row)")
            XCTAssertLessThan(row["efficiency"] as? Double ?? 1, 0.7, "job \(name) had CPU 1 half the time: \(row)")
        }
        let io = rows[ids["io"]!]!
        XCTAssertGreaterThan(io["blocked_io_s"] as? Double ?? 0, 0.2 * (io["elapsed_s"] as? Double ?? 0), "\(io)")
        XCTAssertGreaterThan((io["io"] as? [String: Any])?["syscw"] as? Int ?? 0, 100, "the I/O job wrote: \(io)")
        let cpuRow = rows[ids["cpu"]!]!
        XCTAssertGreaterThanOrEqual(cpuRow["cpu_s"] as? Double ?? 0, cpuS, "a finished job keeps its CPU time")

        // The finished jobs' report: complete, valid JSON and YAML, and HTML that renders.
        let all = ids.values.sorted()
        let json = try dump(["report", "--pin-dir", collector.pinDir, "--job"] + all + ["--format", "json"], slurm: slurm)
        XCTAssertEqual(json.status, 0, json.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((report["jobs"] as? [Any])?.count, all.count)
        XCTAssertEqual((report["summary"] as? [String: Any])?["jobs"] as? Int, all.count)
        XCTAssertEqual((report["session"] as? [String: Any])?["jobs_option"] as? Bool, true)
        XCTAssertEqual(((report["summary"] as? [String: Any])?["by_class"] as? [String: Int])?["starved"], 2)
        let yaml = try dump(["report", "--pin-dir", collector.pinDir, "--since", "10m", "--format", "yaml"], slurm: slurm)
        XCTAssertEqual(yaml.status, 0, yaml.stderr)
        let parsed = try XCTUnwrap(try Yams.load(yaml: yaml.stdout) as? [String: Any])
        let yamlIDs = Set(((parsed["jobs"] as? [[String: Any]]) ?? []).compactMap { $0["job_id"] as? String })
        XCTAssertTrue(Set(all).isSubset(of: yamlIDs), "--since 10m lists the jobs: \(yamlIDs)")
        let html = dir + "/report.html"
        let page = try dump(["report", "--pin-dir", collector.pinDir, "--job"] + all + ["--format", "html", "--output", html], slurm: slurm)
        XCTAssertEqual(page.status, 0, page.stderr)
        let rendered = try Chromium.render(html, screenshot: dir + "/report.png")
        XCTAssertEqual(rendered.consoleErrors, [], "console errors in the report")
        XCTAssertEqual(rendered.dom.components(separatedBy: "<svg class=\"chart\"").count - 1, all.count, "one chart per job")
        XCTAssertGreaterThan(rendered.screenshotBytes, 10_000, "a screenshot with something drawn")
        for id in all { XCTAssertTrue(rendered.dom.contains("id=\"job-\(id)\""), "job \(id) in the page") }
    }

    /// Headless Chromium catches a page's console errors: a page with a broken script is
    /// flagged (so the check above could fail), the report is not.
    func testChromiumFlagsConsoleErrors() throws {
        try Live.requireMachine(Chromium.executable != nil, "chromium is not installed (scripts/run.sh test installs it)")
        let dir = NSTemporaryDirectory() + "starve-chromium-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = dir + "/bad.html"
        try "<!DOCTYPE html><html><body><p>x</p><script>console.error('broken'); undefinedFunction();</script></body></html>"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let r = try Chromium.render(bad, screenshot: nil)
        XCTAssertFalse(r.consoleErrors.isEmpty, "a broken script must show up")
    }

    /// Bad input gets one line and a non-zero exit: a bad thresholds file, an unknown job id,
    /// Slurm absent or not answering.
    func testBadInputOneLine() throws {
        try Live.requireTools("starve-dump")
        let dir = NSTemporaryDirectory() + "starve-jobs-bad-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/bad.yaml"
        try "starved_min_wait_percent: 20\nstarvd: 3\n".write(toFile: config, atomically: true, encoding: .utf8)
        func check(_ args: [String], env: [String: String] = [:], contains text: String) throws {
            let r = try runProcess(Live.tool("starve-dump"), args, environment: env)
            XCTAssertNotEqual(r.status, 0, "\(args): \(r.stdout)")
            let lines = r.stderr.split(separator: "\n").filter { !$0.isEmpty }
            XCTAssertEqual(lines.count, 1, "\(args): one line, got \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(text), "\(args): \(r.stderr)")
        }
        try check(["jobs", "--config", config], contains: "unknown key 'starvd'")
        try check(["jobs", "--config", dir + "/absent.yaml"], contains: "cannot read config")
        try check(["jobs", "--job", "12x"], contains: "numeric Slurm job ids")
        try check(["report"], contains: "--job ID... or --since TIME")
        try check(["report", "--since", "yesterday"], contains: "--since must be")
        try check(["jobs"], env: ["PATH": dir], contains: "Slurm is not installed here")
        if access("/usr/bin/squeue", X_OK) == 0 {
            // A configuration naming a controller that is not there: squeue fails.
            let conf = dir + "/slurm.conf"
            try "ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=1\nNodeName=localhost CPUs=1\nPartitionName=p Nodes=localhost\n"
                .write(toFile: conf, atomically: true, encoding: .utf8)
            try check(["jobs"], env: ["SLURM_CONF": conf], contains: "Slurm is not answering")
        }
    }

    func testUnknownJobOneLine() throws {
        try Live.requireRoot("a local Slurm")
        try Live.requireTools("starve-dump")
        let slurm = try LocalSlurm()
        defer { slurm.stop() }
        let r = try runProcess(Live.tool("starve-dump"), ["jobs", "--job", "987654"], environment: slurm.environment)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("unknown job 987654"), r.stderr)
    }
}

/// Headless Chromium: renders a file, returns its DOM, console errors and a screenshot's size.
enum Chromium {
    static var executable: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { access($0, X_OK) == 0 }
    }

    struct Rendering {
        var dom: String
        var consoleErrors: [String]
        var screenshotBytes: Int
    }

    static func render(_ path: String, screenshot: String?) throws -> Rendering {
        guard let exe = executable else { try Live.unmet("chromium is not installed (scripts/run.sh test installs it)") }
        let profile = NSTemporaryDirectory() + "starve-chromium-profile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile,
                      "--enable-logging=stderr", "--v=0", "--virtual-time-budget=2000"]
        let url = URL(fileURLWithPath: path).absoluteString
        let r = try runProcess(exe, common + ["--dump-dom", url])
        guard r.status == 0 else { throw StarveError("chromium failed (\(r.status)): \(r.stderr.suffix(500))") }
        // Console messages, errors and uncaught exceptions among them, come as
        // `...:INFO:CONSOLE:12] "message", source: file:///... (12)` whatever their level; the
        // report has no scripts, so any console message is a fault.
        let errors = r.stderr.split(separator: "\n").map(String.init).filter { $0.contains(":CONSOLE") }
        var bytes = 0
        if let screenshot {
            let s = try runProcess(exe, common + ["--screenshot=" + screenshot, "--window-size=1200,1400", url])
            guard s.status == 0 else { throw StarveError("chromium screenshot failed: \(s.stderr.suffix(500))") }
            bytes = ((try? FileManager.default.attributesOfItem(atPath: screenshot))?[.size] as? Int) ?? 0
        }
        return Rendering(dom: r.stdout, consoleErrors: errors, screenshotBytes: bytes)
    }
}
