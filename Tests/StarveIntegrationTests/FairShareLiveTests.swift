import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Busy workers pinned to CPU 1 in the situations that decide CFS shares: nice within one
/// autogroup, separate autogroups (setsid), and cgroups with weights 2:1. For each: what the
/// model expects from the weight table and what /proc and cgroupfs say about the tasks, and what
/// the tasks map measured over a multi-second window.
///
/// Measured share = a worker's runtime delta / the sum of the workers' runtime deltas over the
/// window (within the set): all workers share one CPU, so CPU taken by other engineers' builds
/// on that CPU lowers every worker alike and does not move the split. The window lasts until
/// the workers have had `windowCPUSeconds` of CPU between them, however long that takes.
final class FairShareLiveTests: XCTestCase {
    /// CPU time, summed over the workers, over which shares are measured.
    private let windowCPUSeconds = 5.0

    func testNiceZeroAndFiveInOneSessionSplit75To25() throws {
        try Live.require()
        try checkShares(workload: ["--workers", "2", "--nice", "0,5", "--cpu", "1", "--duration", "60"],
                        expectDecidedBy: { $0 == .nice })
    }

    func testNiceZeroFiveAndTenInOneSessionFollowTheWeightTable() throws {
        try Live.require()
        try checkShares(workload: ["--workers", "3", "--nice", "0,5,10", "--cpu", "1", "--duration", "60"],
                        expectDecidedBy: { $0 == .nice })
    }

    func testSeparateSessionsSplit50To50WhateverTheirNice() throws {
        try Live.require()
        try Live.requireAutogroups()
        let expected = try checkShares(workload: ["--workers", "2", "--nice", "0,5", "--cpu", "1", "--setsid", "--duration", "60"],
                                       expectDecidedBy: { if case .group(let id) = $0 { return id.hasPrefix("autogroup:") } else { return false } })
        for e in expected { XCTAssertEqual(e, 50, accuracy: 1e-9) }
    }

    func testCgroupsWithWeightsTwoToOneSplit67To33() throws {
        try Live.require()
        let heavy = try TestCgroup(name: "heavy", weight: 2048)
        defer { heavy.remove() }
        let light = try TestCgroup(name: "light", weight: 1024)
        defer { light.remove() }
        let expected = try checkShares(
            workload: ["--workers", "2", "--nice", "0", "--cpu", "1", "--cgroup", heavy.path + "," + light.path, "--duration", "60"],
            expectDecidedBy: { if case .group(let id) = $0 { return id.hasPrefix("cgroup:") } else { return false } })
        XCTAssertEqual(expected[0], 200.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(expected[1], 100.0 / 3, accuracy: 1e-9)
    }

    /// Runs `workload`, reads its workers' contexts from /proc, computes the CFS expectation
    /// and measures the split over `windowCPUSeconds` of their CPU time; returns the expected shares in worker order.
    @discardableResult
    private func checkShares(workload arguments: [String], expectDecidedBy: (ShareDecision) -> Bool,
                             file: StaticString = #filePath, line: UInt = #line) throws -> [Double] {
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let work = try Workload(arguments)
        defer { work.stop() }
        let collection = try PinnedCollection(layout: collector.layout)
        let pids = work.workerPIDs.map(UInt32.init)
        let reader = SchedContextReader()
        // A worker sets its affinity and nice only after the Swift runtime has started, which
        // takes several timeslices: wait until all are pinned and have spun for a while.
        XCTAssertTrue(try waitUntil(seconds: 15) {
            reader.beginSample()
            let pinned = reader.contexts(of: pids.map { ($0, $0) }).values.filter { $0.allowedCPUs == [1] }.count == pids.count
            let seen = try collection.readTasks().tasks.filter { pids.contains($0.pid) }
            return pinned && seen.count == pids.count && seen.allSatisfy { $0.runtimeNs >= 50_000_000 }
        }, "workers never got pinned and busy", file: file, line: line)

        // What the kernel says about the workers: affinity, groups, weights.
        reader.beginSample()
        let before = try collection.readTasks().tasks.filter { pids.contains($0.pid) }
        let byPID = Dictionary(uniqueKeysWithValues: before.map { ($0.pid, $0) })
        let contexts = reader.contexts(of: pids.map { ($0, $0) })
        XCTAssertEqual(contexts.count, pids.count, "could not read /proc for the workers", file: file, line: line)
        let claimants = pids.map { pid in
            ShareClaimant(id: Int(pid), weight: NiceWeight.weight(nice: Int(byPID[pid]!.nice), policy: Int(byPID[pid]!.policy)),
                          allowedCPUs: contexts[pid]!.allowedCPUs, groupPath: contexts[pid]!.groupPath)
        }
        XCTAssertTrue(claimants.allSatisfy { $0.allowedCPUs == [1] }, "workers not pinned to CPU 1: \(claimants)", file: file, line: line)
        let expected = CFSShareModel.expectedShares(claimants)
        for e in expected {
            XCTAssertTrue(expectDecidedBy(e.decidedBy), "pid \(e.id) decided by \(e.decidedBy.label)", file: file, line: line)
        }

        var after: [TaskCounters] = []
        func deltas() -> [Double] { pids.map { pid in Double((after.first { $0.pid == pid }?.runtimeNs ?? 0) &- byPID[pid]!.runtimeNs) } }
        let got = try waitUntil(seconds: 60) {
            after = try collection.readTasks().tasks.filter { pids.contains($0.pid) }
            return deltas().reduce(0, +) >= windowCPUSeconds * 1e9
        }
        try Live.requireMachine(got, "CPU 1 is too busy: the workers got \(formatFixed(deltas().reduce(0, +) / 1e9, decimals: 2)) s of it in 60 s",
                                file: file, line: line)
        XCTAssertEqual(Set(after.map(\.pid)), Set(pids), "a worker vanished", file: file, line: line)
        let total = deltas().reduce(0, +)
        for (k, pid) in pids.enumerated() {
            let measured = deltas()[k] / total * 100
            print("pid \(pid) nice \(byPID[pid]!.nice) groups \(claimants[k].groupPath.map(\.id)): expected \(formatFixed(expected[k].percent, decimals: 2)) % (\(expected[k].decidedBy.label)), measured \(formatFixed(measured, decimals: 2)) % over \(formatFixed(total / 1e9, decimals: 1)) s of CPU")
            XCTAssertEqual(measured, expected[k].percent, accuracy: 2, "pid \(pid) nice \(byPID[pid]!.nice)", file: file, line: line)
        }
        return expected.map(\.percent)
    }
}

/// A cgroup with the cpu controller made for one test: v1 `cpu` (cpu.shares) where it is mounted,
/// else cgroup2 with cpu enabled at the root (cpu.weight). `remove()` moves any task left in it to
/// the root and removes it; it also runs when the object is dropped.
final class TestCgroup {
    let path: String
    private let root: String
    private var removed = false

    /// `weight` on the 1024 scale: v1 cpu.shares as is, v2 cpu.weight = weight * 100 / 1024.
    init(name: String, weight: UInt64) throws {
        let mounts = CgroupMounts(mountinfo: try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8))
        let file: String, value: String
        if let v1 = mounts.v1CPU {
            root = v1
            file = "cpu.shares"
            value = String(weight)
        } else if let v2 = mounts.unified,
                  ((try? String(contentsOfFile: v2 + "/cgroup.subtree_control", encoding: .utf8)) ?? "").contains("cpu") {
            root = v2
            file = "cpu.weight"
            value = String(weight * 100 / 1024)
        } else {
            try Live.unmet("no cgroup hierarchy with the cpu controller is mounted")
        }
        path = root + "/starve-test-\(getpid())-\(name)"
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw StarveError("mkdir \(path): \(String(cString: strerror(errno)))")
        }
        do {
            try value.write(toFile: path + "/" + file, atomically: false, encoding: .utf8)
        } catch {
            remove()
            throw StarveError("cannot set \(path)/\(file): \(error)")
        }
    }

    func remove() {
        guard !removed else { return }
        removed = true
        _ = waitUntil(seconds: 5) {
            let procs = (try? String(contentsOfFile: path + "/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in procs.split(separator: "\n") {
                try? (String(pid) + "\n").write(toFile: root + "/cgroup.procs", atomically: false, encoding: .utf8)
            }
            return rmdir(path) == 0 || errno == ENOENT
        }
    }

    deinit { remove() }
}
