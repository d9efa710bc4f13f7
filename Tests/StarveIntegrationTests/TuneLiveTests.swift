import Foundation
import StarveHost
import StarveModel
import XCTest

/// Issue 15 live: starve-tune acting on the noisy-neighbour scenario, a PSI backoff, a cpuset
/// spread and a throttled service, against the kernel's own figures (schedstat, cpu.stat,
/// Cpus_allowed_list) — with dry runs that write nothing, originals restored on SIGTERM, a knob
/// changed by hand left alone, and rollback after SIGKILL.
final class TuneLiveTests: XCTestCase {
    private func objects(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    private func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func policy(_ name: String) -> String { Live.repoRoot + "/policies/" + name }

    /// A scratch audit log, removed at the end.
    private func auditFile() -> String {
        let path = NSTemporaryDirectory() + "starve-tune-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Median of the victim cgroup's per-sample p99 wait (starve-dump cgroups), over samples
    /// in which it waited at all, with its schedstat run_delay per timeslice over the same time.
    private func victimWait(_ collector: LoadedCollector, cgroup: String, pid: pid_t, samples: Int) throws -> (p99Ms: Double, schedstatMsPerSlice: Double) {
        let s0 = try Schedstat(pid: pid)
        let r = try runTool(Live.tool("starve-dump"), ["cgroups", "--pin-dir", collector.pinDir, "--interval", "1",
                                                       "--iterations", String(samples), "--format", "json", "--no-patterns"])
        let s1 = try Schedstat(pid: pid)
        XCTAssertEqual(r.status, 0, r.stderr)
        let p99 = objects(r.stdout).filter { $0["cgroup"] as? String == cgroup && ($0["waits"] as? Int ?? 0) > 0 }
            .compactMap { $0["wait_p99_ms"] as? Double }.sorted()
        let slices = max(1, s1.timeslices - s0.timeslices)
        return (p99.isEmpty ? 0 : p99[p99.count / 2], Double(s1.waitNs - s0.waitNs) / 1e6 / Double(slices))
    }

    func testNoisyNeighbourPolicyHalvesTheVictimsWaitAndGivesEveryKnobBack() throws {
        try Live.require()
        try Live.requireTools("starve-tune")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // Weights 1024 : 8: the duty task waits ~128 ms for each 1 ms turn, several times a second.
        let run = try ScenarioRun(["noisy", "--duration", "0", "--weight-ratio", "128"])
        defer { _ = try? run.finish(signal: SIGTERM) }
        let hog = try XCTUnwrap(run.participant("hog")), duty = try XCTUnwrap(run.participant("duty"))
        let h = try run.hierarchy()
        XCTAssertEqual(h.version, .v1, "this host has the cpu controller on cgroup v1 (KERNEL.md)")
        let hogPath = try XCTUnwrap(hog["cgroup"]), dutyPath = try XCTUnwrap(duty["cgroup"])
        let dutyPID = try XCTUnwrap(duty["pid"].flatMap { pid_t($0) })
        let hogShares = h.directory(hogPath) + "/cpu.shares", dutyShares = h.directory(dutyPath) + "/cpu.shares"
        XCTAssertEqual([read(hogShares), read(dutyShares)], ["1024", "8"])
        let scope = ["--scope", "/starve-noisy-*-\(run.process.processIdentifier)"]

        let before = try victimWait(collector, cgroup: dutyPath, pid: dutyPID, samples: 5)

        // Dry run: decisions printed, nothing written (checked while it runs, not only after).
        let dryAudit = auditFile()
        let dry = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policy("noisy-neighbour.yaml"), "--pin-dir", collector.pinDir,
                                                                 "--dry-run", "--iterations", "40", "--audit", dryAudit] + scope)
        var changedInDryRun = false
        // Until it has decided for both (verdicts need the hog to dominate the victim's waits:
        // on this shared machine other work on the CPU sometimes blurs a sample).
        _ = waitUntil(seconds: 40) {
            if read(hogShares) != "1024" || read(dutyShares) != "8" { changedInDryRun = true }
            let decided = objects(read(dryAudit) ?? "").filter { $0["event"] as? String == "would-change" }.compactMap { $0["cgroup"] as? String }
            return Set(decided) == [hogPath, dutyPath] || !dry.process.isRunning
        }
        kill(dry.process.processIdentifier, SIGTERM)
        let dryOut = dry.finish()
        XCTAssertFalse(changedInDryRun, "a dry run wrote a knob")
        XCTAssertEqual([read(hogShares), read(dutyShares)], ["1024", "8"])
        XCTAssertTrue(dryOut.contains("would-change raise-its-victim \(dutyPath) weight"), dryOut)
        XCTAssertTrue(dryOut.contains("would-change lower-the-noisy-neighbour \(hogPath) weight"), dryOut)
        let dryRecords = objects(read(dryAudit) ?? "")
        XCTAssertTrue(dryRecords.contains { $0["event"] as? String == "would-change" }, "\(dryRecords)")
        XCTAssertFalse(dryRecords.contains { $0["event"] as? String == "change" }, "\(dryRecords)")

        // --act: the victim's weight goes up, the hog's down.
        let audit = auditFile()
        let tuner = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policy("noisy-neighbour.yaml"), "--pin-dir", collector.pinDir,
                                                                   "--act", "--audit", audit] + scope)
        defer { if tuner.process.isRunning { kill(tuner.process.processIdentifier, SIGKILL) } }
        XCTAssertTrue(waitUntil(seconds: 40) { read(dutyShares) != "8" && read(hogShares) != "1024" },
                      "the tuner did not change both weights: \(read(audit) ?? "")")
        // Until the tuner is done stepping (no change for a cooldown and more): a few intervals.
        var last = (read(hogShares), read(dutyShares)), stableSince = Date()
        XCTAssertTrue(waitUntil(seconds: 40) {
            let now = (read(hogShares), read(dutyShares))
            if now != last { last = now; stableSince = Date() }
            return Date().timeIntervalSince(stableSince) >= 6
        }, "the weights kept changing: \(read(audit) ?? "")")
        let raised = try XCTUnwrap(read(dutyShares).flatMap { Int($0) }), lowered = try XCTUnwrap(read(hogShares).flatMap { Int($0) })
        XCTAssertGreaterThan(raised, 8)
        XCTAssertLessThan(lowered, 1024)
        XCTAssertGreaterThanOrEqual(lowered, 102, "the policy's min weight 10 is 102 shares on v1")

        let after = try victimWait(collector, cgroup: dutyPath, pid: dutyPID, samples: 5)
        print("noisy under starve-tune: shares hog 1024 -> \(lowered), duty 8 -> \(raised); victim p99 \(before.p99Ms) -> \(after.p99Ms) ms (starve), run_delay per timeslice \(before.schedstatMsPerSlice) -> \(after.schedstatMsPerSlice) ms (schedstat)")
        XCTAssertGreaterThan(before.p99Ms, 50, "the victim starved before the tuner")
        XCTAssertLessThanOrEqual(after.p99Ms, before.p99Ms / 2, "starve: the victim's p99 wait at least halved")
        XCTAssertLessThanOrEqual(after.schedstatMsPerSlice, before.schedstatMsPerSlice / 2, "schedstat: run_delay per timeslice at least halved")

        // Someone changes the hog's weight by hand: the tuner stands down from that knob.
        try "500".write(toFile: hogShares, atomically: false, encoding: .utf8)
        XCTAssertTrue(waitUntil(seconds: 10) { objects(read(audit) ?? "").contains { $0["event"] as? String == "stand-down" && $0["cgroup"] as? String == hogPath } },
                      "no stand-down recorded for the hand-changed knob: \(read(audit) ?? "")")

        // SIGTERM: every knob it still manages is back; the hand-changed one stays as set.
        kill(tuner.process.processIdentifier, SIGTERM)
        let out = tuner.finish()
        XCTAssertEqual(tuner.process.terminationStatus, 0, out)
        XCTAssertEqual(read(dutyShares), "8", "the victim's original weight is back: \(out)")
        XCTAssertEqual(read(hogShares), "500", "the knob changed by hand is left alone: \(out)")
        let records = objects(read(audit) ?? "")
        XCTAssertTrue(records.contains { $0["event"] as? String == "restore" && $0["cgroup"] as? String == dutyPath && $0["to"] as? String == "8" })
        for r in records where r["event"] as? String == "change" {
            XCTAssertNotNil(r["original"], "every change records the original: \(r)")
            XCTAssertNotNil(r["reason"], "and its reason: \(r)")
        }
        XCTAssertEqual(try run.finish(signal: SIGTERM).status, 0)
        try run.assertNothingLeft()
    }

    func testRollbackAfterSIGKILLRestoresFromTheAuditLog() throws {
        try Live.require()
        try Live.requireTools("starve-tune")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let run = try ScenarioRun(["noisy", "--duration", "0", "--weight-ratio", "128"])
        defer { _ = try? run.finish(signal: SIGTERM) }
        let h = try run.hierarchy()
        let hogShares = h.directory(try XCTUnwrap(run.participant("hog")?["cgroup"])) + "/cpu.shares"
        let dutyShares = h.directory(try XCTUnwrap(run.participant("duty")?["cgroup"])) + "/cpu.shares"
        let audit = auditFile()
        let tuner = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policy("noisy-neighbour.yaml"), "--pin-dir", collector.pinDir, "--act",
                                                                   "--audit", audit, "--scope", "/starve-noisy-*-\(run.process.processIdentifier)"])
        // One change is enough here (both need the hog to dominate a sample, which other work
        // on a shared CPU can prevent for a while).
        XCTAssertTrue(waitUntil(seconds: 30) { read(dutyShares) != "8" || read(hogShares) != "1024" }, "no change: \(read(audit) ?? "")")
        kill(tuner.process.processIdentifier, SIGKILL)
        _ = tuner.finish()
        let changed = [read(hogShares) != "1024", read(dutyShares) != "8"].filter { $0 }.count
        XCTAssertGreaterThan(changed, 0, "SIGKILL cannot be caught: the change is still there")

        let r = try runTool(Live.tool("starve-tune"), ["rollback", "--audit", audit])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual([read(hogShares), read(dutyShares)], ["1024", "8"], r.stdout)
        XCTAssertTrue(r.stdout.contains("rollback: \(changed) restored, 0 left alone"), r.stdout)
        // A second rollback has nothing left to do.
        let again = try runTool(Live.tool("starve-tune"), ["rollback", "--audit", audit])
        XCTAssertTrue(again.stdout.contains("rollback: 0 restored"), again.stdout)
        XCTAssertEqual(try run.finish(signal: SIGTERM).status, 0)
    }

    /// The cgroup knobs' file of `path` in the cpuset hierarchy.
    private func cpusetFile(_ path: String) throws -> String {
        try XCTUnwrap(CgroupFS.cpusetHierarchy()).directory(path) + "/cpuset.cpus"
    }

    func testFutexWaitsOfAContendedMutexMatchWhatItsThreadsTimed() throws {
        try Live.require()
        let collector = try LoadedCollector(extraArguments: ["--futex"])
        defer { collector.unload() }
        let run = try ScenarioRun(["lock", "--duration", "0", "--threads", "4"])
        defer { _ = try? run.finish(signal: SIGTERM) }
        let pid = try XCTUnwrap(run.participant("lock")?["pid"].flatMap { Int($0) })
        let r = try runTool(Live.tool("starve-dump"), ["processes", "--pin-dir", collector.pinDir, "--interval", "1", "--iterations", "4",
                                                       "--format", "json", "--top", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let mine = objects(r.stdout).filter { $0["tgid"] as? Int == pid }
        XCTAssertEqual(mine.count, 4, "one row per sample: \(mine)")
        let futexMs = mine.compactMap { $0["futex_wait_ms"] as? Double }.reduce(0, +)
        let futexWaits = mine.compactMap { $0["futex_waits"] as? Int }.reduce(0, +)
        let seconds = mine.compactMap { $0["interval_ms"] as? Double }.reduce(0, +) / 1000
        let end = try run.finish(signal: SIGTERM)
        XCTAssertEqual(end.status, 0, end.output)
        let result = try XCTUnwrap(end.output.split(separator: "\n").first { $0.hasPrefix("result=lock") }.map(ScenarioRun.fields))
        let timedMs = try XCTUnwrap(result["blocked_ms"].flatMap(Double.init)), timedSeconds = try XCTUnwrap(result["seconds"].flatMap(Double.init))
        let acquisitions = try XCTUnwrap(result["acquisitions"].flatMap(Double.init))
        let starveRate = futexMs / seconds, timedRate = timedMs / timedSeconds
        print("contended mutex: starve futex \(futexMs) ms in \(futexWaits) waits over \(seconds) s (\(starveRate) ms/s); the threads timed \(timedRate) ms/s in pthread_mutex_lock, \(acquisitions / timedSeconds) locks/s")
        XCTAssertGreaterThan(starveRate, 200, "four threads on one CPU and a lock held 5/6 of the time: much blocking")
        // The futex waits are the blocking part of the lock calls the threads timed themselves
        // (over the whole run; starve saw four seconds of it).
        XCTAssertLessThanOrEqual(starveRate, timedRate * 1.15)
        XCTAssertGreaterThanOrEqual(starveRate, timedRate * 0.6)
        XCTAssertLessThan(Double(futexWaits) / seconds, acquisitions / timedSeconds, "a futex wait only for a lock found taken")
        // starve-load status counts them too, and every wait that could not be booked.
        let status = try runTool(Live.tool("starve-load"), ["status", "--pin-dir", collector.pinDir])
        let entered = status.stdout.split(separator: "\n").first { $0.hasPrefix("futex waits entered") }
            .flatMap { $0.split(separator: " ").last.flatMap { UInt64($0) } } ?? 0
        XCTAssertGreaterThanOrEqual(entered, UInt64(futexWaits), status.stdout)
        XCTAssertTrue(status.stdout.contains("dropped: futex waits of threads without a futex_threads entry"), status.stdout)
        try run.assertNothingLeft()
    }

    func testContendedLockPolicySpreadsTheCpusetAndGivesItBack() throws {
        try Live.require()
        try Live.requireTools("starve-tune")
        try Live.requireCPUs([0, 1])
        let collector = try LoadedCollector(extraArguments: ["--futex"])
        defer { collector.unload() }
        let run = try ScenarioRun(["lock", "--duration", "0", "--cpu", "1"])
        defer { _ = try? run.finish(signal: SIGTERM) }
        let lock = try XCTUnwrap(run.participant("lock"))
        let path = try XCTUnwrap(lock["cpuset_cgroup"]), tid = try XCTUnwrap(lock["tid"].flatMap { pid_t($0) })
        let cpus = try cpusetFile(path)
        XCTAssertEqual(read(cpus), "1")
        XCTAssertEqual(allowedCPUs(pid: tid), [1])
        let audit = auditFile()
        let tuner = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policy("contended-lock.yaml"), "--pin-dir", collector.pinDir,
                                                                   "--act", "--audit", audit, "--scope", path])
        defer { if tuner.process.isRunning { kill(tuner.process.processIdentifier, SIGKILL) } }
        XCTAssertTrue(waitUntil(seconds: 20) { read(cpus) == "0-1" }, "not spread: \(read(audit) ?? "")")
        // The kernel moved the threads' affinity with the cpuset.
        XCTAssertTrue(waitUntil(seconds: 5) { allowedCPUs(pid: tid) == [0, 1] }, "\(String(describing: allowedCPUs(pid: tid)))")
        let change = try XCTUnwrap(objects(read(audit) ?? "").first { $0["event"] as? String == "change" })
        XCTAssertEqual(change["rule"] as? String, "spread-contended-group")
        XCTAssertTrue((change["reason"] as? String ?? "").contains("futex_wait_share="), "\(change)")
        kill(tuner.process.processIdentifier, SIGTERM)
        let out = tuner.finish()
        XCTAssertEqual(tuner.process.terminationStatus, 0, out)
        XCTAssertEqual(read(cpus), "1", "the original cpuset is back: \(out)")
        XCTAssertTrue(waitUntil(seconds: 5) { allowedCPUs(pid: tid) == [1] })
        XCTAssertEqual(try run.finish(signal: SIGTERM).status, 0)
        try run.assertNothingLeft()
    }

    func testPSIBackoffCapsABatchCgroupWhileCPUPressureIsHigh() throws {
        try Live.require()
        try Live.requireTools("starve-tune")
        try Live.requireCPUs([0, 1])
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let batch = try ScratchCgroup(prefix: "batch-starve-test")
        defer { try? batch.remove() }
        let quota = batch.directory + "/cpu.cfs_quota_us"
        XCTAssertEqual(read(quota), "-1")
        // Four loops on two CPUs: on each CPU a runnable task waits for it all the time, so the
        // host's psi_some is near 100 % on a quiet machine too (three loops leave one CPU
        // without a waiter: about 50 %, under the policy's 60).
        let work = try Workload(["--workers", "4", "--cpu", "0-1", "--duration", "60", "--cgroup", batch.directory])
        defer { work.stop() }
        let audit = auditFile()
        let tuner = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policy("psi-backoff.yaml"), "--pin-dir", collector.pinDir,
                                                                   "--act", "--audit", audit, "--scope", batch.path])
        defer { if tuner.process.isRunning { kill(tuner.process.processIdentifier, SIGKILL) } }
        XCTAssertTrue(waitUntil(seconds: 20) { read(quota) == "50000" }, "not capped to half a CPU: \(read(audit) ?? "")")
        let change = try XCTUnwrap(objects(read(audit) ?? "").first { $0["event"] as? String == "change" })
        XCTAssertTrue((change["reason"] as? String ?? "").contains("psi_some="), "\(change)")
        // The cap is in force: the kernel counts its periods (cpu.stat) and the four loops get
        // at most half a CPU between them (schedstat), whatever else the machine runs.
        let ran = { work.workerPIDs.compactMap { try? Schedstat(pid: $0).runNs }.reduce(0, +) }
        let s0 = try XCTUnwrap(CgroupFS.cpuStat(hierarchy: batch.hierarchy, path: batch.path)), r0 = ran(), t0 = Date()
        XCTAssertTrue(waitUntil(seconds: 10) { (CgroupFS.cpuStat(hierarchy: batch.hierarchy, path: batch.path)?.periods ?? 0) >= s0.periods + 20 })
        let s1 = try XCTUnwrap(CgroupFS.cpuStat(hierarchy: batch.hierarchy, path: batch.path))
        let share = Double(ran() - r0) / 1e9 / Date().timeIntervalSince(t0)
        print("psi backoff: the capped loops used \(share) CPUs (schedstat), throttled in \(s1.throttledPeriods - s0.throttledPeriods) of \(s1.periods - s0.periods) periods (cpu.stat)")
        XCTAssertLessThanOrEqual(share, 0.6, "a 0.5-CPU quota")
        // Without its load the host's pressure falls, unless other work keeps it up: the cap is
        // lifted once psi_some stayed under 20 % for 10 s. On a busy machine that may not happen.
        work.stop()
        let lifted = waitUntil(seconds: 25) { read(quota) == "-1" }
        let psi = (try? String(contentsOfFile: "/proc/pressure/cpu", encoding: .utf8))?.split(separator: "\n").first ?? "?"
        print("psi backoff: capped to 50000 us per 100000 us; after the load stopped the cap was \(lifted ? "lifted" : "kept (other load: \(psi))")")
        if lifted {
            // A restore is written to the knob first and to the audit log once done (so that
            // the log never says "restored" of a write that failed): poll for its record.
            XCTAssertTrue(waitUntil(seconds: 5) {
                objects(read(audit) ?? "").contains { $0["event"] as? String == "lift" && $0["to"] as? String == "-1" }
            }, read(audit) ?? "")
        }
        kill(tuner.process.processIdentifier, SIGTERM)
        let out = tuner.finish()
        XCTAssertEqual(tuner.process.terminationStatus, 0, out)
        XCTAssertEqual(read(quota), "-1", "the original (unlimited) quota is back: \(out)")
    }

    func testThrottledServicePolicyRaisesTheQuotaAStepAtATime() throws {
        try Live.require()
        try Live.requireTools("starve-tune")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let run = try ScenarioRun(["quota", "--duration", "0"])
        defer { _ = try? run.finish(signal: SIGTERM) }
        let path = try XCTUnwrap(run.participant("throttled")?["cgroup"])
        let quota = try run.hierarchy().directory(path) + "/cpu.cfs_quota_us"
        XCTAssertEqual(read(quota), "20000")
        let audit = auditFile()
        let tuner = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policy("throttled-service.yaml"), "--pin-dir", collector.pinDir,
                                                                   "--act", "--audit", audit, "--scope", path])
        defer { if tuner.process.isRunning { kill(tuner.process.processIdentifier, SIGKILL) } }
        // One tenth of a CPU per step, at least 5 s apart: 20 -> 30 (-> 40 … while the loop
        // still uses its quota: on a busy machine it may not, and the steps stop there).
        XCTAssertTrue(waitUntil(seconds: 30) { read(quota) != "20000" }, "quota \(read(quota) ?? "?"): \(read(audit) ?? "")")
        let changes = objects(read(audit) ?? "").filter { $0["event"] as? String == "change" }
        let steps = changes.compactMap { ($0["to"] as? String).flatMap { Int($0) } }
        XCTAssertEqual(steps.first, 30000)
        XCTAssertEqual(steps, Array(stride(from: 30000, through: 30000 + 10000 * (steps.count - 1), by: 10000)), "a tenth of a CPU per step")
        XCTAssertEqual(changes.first?["original"] as? String, "20000")
        XCTAssertTrue(changes.allSatisfy { ($0["reason"] as? String ?? "").contains("throttled_share=") }, "\(changes)")
        kill(tuner.process.processIdentifier, SIGTERM)
        let out = tuner.finish()
        XCTAssertEqual(read(quota), "20000", "the original quota is back: \(out)")
        XCTAssertEqual(try run.finish(signal: SIGTERM).status, 0)
    }

    func testNiceStepsStayWithinBoundsAndComeBack() throws {
        try Live.require()
        try Live.requireTools("starve-tune")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let run = try ScenarioRun(["noisy", "--duration", "0", "--weight-ratio", "128"])
        defer { _ = try? run.finish(signal: SIGTERM) }
        let duty = try XCTUnwrap(run.participant("duty"))
        let path = try XCTUnwrap(duty["cgroup"]), pid = try XCTUnwrap(duty["pid"].flatMap { pid_t($0) })
        let policyFile = NSTemporaryDirectory() + "starve-tune-nice-\(getpid()).yaml"
        try """
            rules:
              - name: renice-waiting-threads
                when: p99_wait_ms > 20 for 1s
                action: {nice: -1, min: -2}
                cooldown: 1s
            """.write(toFile: policyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: policyFile) }
        XCTAssertEqual(procStatField(pid: pid, 19), "0")
        let audit = auditFile()
        let tuner = try BackgroundRun(Live.tool("starve-tune"), ["--policy", policyFile, "--pin-dir", collector.pinDir, "--act",
                                                                   "--audit", audit, "--scope", path])
        defer { if tuner.process.isRunning { kill(tuner.process.processIdentifier, SIGKILL) } }
        XCTAssertTrue(waitUntil(seconds: 20) { procStatField(pid: pid, 19) == "-2" }, "nice \(procStatField(pid: pid, 19) ?? "?"): \(read(audit) ?? "")")
        // At the bound it stays: no -3 however long the waits go on.
        XCTAssertTrue(waitUntil(seconds: 15) { objects(read(audit) ?? "").contains { ($0["reason"] as? String ?? "").contains("at its bound") } })
        XCTAssertEqual(procStatField(pid: pid, 19), "-2")
        let changes = objects(read(audit) ?? "").filter { $0["event"] as? String == "change" }
        XCTAssertEqual(changes.compactMap { $0["to"] as? String }, ["-1", "-2"])
        XCTAssertTrue(changes.allSatisfy { ($0["target"] as? String ?? "").hasPrefix("nice:\(pid):") }, "\(changes)")
        kill(tuner.process.processIdentifier, SIGTERM)
        let out = tuner.finish()
        XCTAssertEqual(procStatField(pid: pid, 19), "0", "the original nice is back: \(out)")
        XCTAssertEqual(try run.finish(signal: SIGTERM).status, 0)
    }

    /// Bad input: one line on stderr, a non-zero exit, nothing written.
    func testBadPoliciesAndFlagsAreOneLine() throws {
        try Live.requireTools("starve-tune")
        let dir = NSTemporaryDirectory() + "starve-tune-bad-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(String, String)] = [
            ("rules:\n  - when: p98_wait_ms > 3 for 1s\n    action: {weight: x2}\n", "bad.yaml:2: unknown signal 'p98_wait_ms'"),
            ("rules:\n  - when: verdict == victim\n    action: {shares: x2}\n", "bad.yaml:3: unknown key 'shares' in an action"),
            ("rules:\n  - when: verdict == victim\n    action: {weight: x2}\n    scope: {cgroup: /}\n", "the root cgroup, which starve-tune never touches"),
            ("rules: [\n", "bad.yaml: not valid YAML"),
        ]
        for (text, expected) in cases {
            let file = dir + "/bad.yaml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try runTool(Live.tool("starve-tune"), ["--policy", file, "--act", "--pin-dir", "/sys/fs/bpf/starve-test-absent-\(getpid())"])
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains(expected), "expected '\(expected)' in: \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
        }
        let missing = try runTool(Live.tool("starve-tune"), ["--policy", dir + "/absent.yaml"])
        XCTAssertTrue(missing.stderr.contains("cannot read the policy"), missing.stderr)
        let both = try runTool(Live.tool("starve-tune"), ["--policy", dir + "/absent.yaml", "--act", "--dry-run"])
        XCTAssertTrue(both.stderr.contains("--act and --dry-run exclude each other"), both.stderr)
        if geteuid() == 0 {
            // --act without write access to cgroupfs: refused before anything is opened.
            let r = try runTool(Live.tool("starve-tune"), ["--policy", policy("noisy-neighbour.yaml"), "--act", "--audit", dir + "/a.jsonl"],
                                asUser: (65534, 65534))
            XCTAssertNotEqual(r.status, 0)
            XCTAssertTrue(r.stderr.contains("starve-tune --act cannot write cgroupfs"), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a.jsonl"), "nothing opened, nothing logged")
        }
        let rollback = try runTool(Live.tool("starve-tune"), ["rollback", "--audit", dir + "/absent.jsonl"])
        XCTAssertNotEqual(rollback.status, 0)
        XCTAssertTrue(rollback.stderr.contains("cannot read the audit log"), rollback.stderr)
    }
}
