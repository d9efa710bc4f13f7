import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Unpinned threads at several nice levels roam both CPUs; the load balancer moves them while
/// they are queued, and the kernel then books part of a wait before the thread ever runs. What
/// starve computes per thread must still agree with /proc/<pid>/schedstat over the same window.
///
/// The window is made identical on both sides by freezing the workers (SIGSTOP) while either
/// side reads: a stopped thread has no wait open, so nothing moves between the two reads.
final class RoamingWaitTests: XCTestCase {
    func testWaitsOfUnpinnedMixedLoadMatchSchedstat() throws {
        try Live.require()
        try Live.requireMachine(ProcessInfo.processInfo.activeProcessorCount >= 2,
                                "roaming threads need at least 2 CPUs (this machine has \(ProcessInfo.processInfo.activeProcessorCount))")
        let collector = try LoadedCollector()
        defer { collector.unload() }
        // Six busy loops at three nice levels and two short sleepers, none pinned: more runnable
        // threads than CPUs, so every thread queues, and the balancer moves queued ones.
        let busy = try Workload(["--workers", "6", "--nice", "0,5,10", "--duration", "120"])
        defer { busy.stop() }
        let sleepers = try Workload(["--workers", "2", "--busy-ms", "0.5", "--sleep-ms", "2", "--duration", "120"])
        defer { sleepers.stop() }
        let pids = busy.workerPIDs + sleepers.workerPIDs
        defer { for p in pids { kill(p, SIGCONT) } }
        let collection = try PinnedCollection(layout: collector.layout)
        let tracked = Set(pids.map(UInt32.init))
        XCTAssertTrue(try waitUntil(seconds: 10) {
            try collection.readTasks().tasks.filter { tracked.contains($0.pid) && $0.waitCount >= 3 }.count == pids.count
        }, "workers never showed up waiting in the tasks iterator")

        func frozenSnapshot() throws -> (ours: [pid_t: TaskCounters], kernel: [pid_t: Schedstat]) {
            for p in pids { kill(p, SIGSTOP) }
            defer { for p in pids { kill(p, SIGCONT) } }
            XCTAssertTrue(waitUntil(seconds: 10) { pids.allSatisfy(Self.isStopped) }, "workers did not stop")
            let tasks = try collection.readTasks().tasks
            var ours: [pid_t: TaskCounters] = [:], kernel: [pid_t: Schedstat] = [:]
            for p in pids {
                guard let t = tasks.first(where: { $0.pid == UInt32(p) }) else { throw StarveError("pid \(p) not reported") }
                ours[p] = t
                kernel[p] = try Schedstat(pid: p)
            }
            return (ours, kernel)
        }

        let before = try frozenSnapshot()
        let migrationsBefore = try collection.readStats().migrations
        usleep(4_000_000)  // the measurement window itself, not a synchronisation
        let after = try frozenSnapshot()
        let migrations = try collection.readStats().migrations - migrationsBefore

        var tracker = IntervalTracker(alpha: 1)
        _ = tracker.advance(to: Array(before.ours.values), atNs: 0)
        let intervals = tracker.advance(to: Array(after.ours.values), atNs: 4_000_000_000)
        var totalWait = 0.0
        for p in pids {
            let k0 = before.kernel[p]!, k1 = after.kernel[p]!
            guard let i = intervals.first(where: { $0.task.pid == UInt32(p) }) else {
                XCTFail("no interval for pid \(p)"); continue
            }
            let ourWait = Double(i.waitNs), kernelWait = Double(k1.waitNs - k0.waitNs)
            let ourRuntime = Double(i.runtimeDeltaNs), kernelRuntime = Double(k1.runNs - k0.runNs)
            totalWait += kernelWait
            print("pid \(p) nice \(i.task.nice): wait ours \(formatFixed(ourWait / 1e6, decimals: 2)) ms, kernel \(formatFixed(kernelWait / 1e6, decimals: 2)) ms; runtime ours \(formatFixed(ourRuntime / 1e6, decimals: 2)) ms, kernel \(formatFixed(kernelRuntime / 1e6, decimals: 2)) ms; waits \(i.waitCount)")
            XCTAssertGreaterThan(kernelWait, 1e6, "pid \(p) never waited: the load did not saturate the CPUs")
            XCTAssertEqual(ourWait, kernelWait, accuracy: kernelWait * 0.02, "run-queue wait of pid \(p) off by more than 2 %")
            XCTAssertEqual(ourRuntime, kernelRuntime, accuracy: kernelRuntime * 0.01, "runtime of pid \(p) off by more than 1 %")
            // The histogram is the same waits, counted once each.
            XCTAssertEqual(i.waitHistogram.total, i.waitCount, "histogram of pid \(p) does not add up to its waits")
        }
        print("window: \(migrations) migrations, \(formatFixed(totalWait / 1e6, decimals: 1)) ms of run-queue wait in all")
        XCTAssertGreaterThan(migrations, 0, "no thread migrated: this test would not exercise waits across CPUs")
    }

    /// Whether /proc/<pid>/stat says the process is stopped (T).
    static func isStopped(_ pid: pid_t) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return false }
        return text[text.index(close, offsetBy: 2)...].hasPrefix("T")
    }
}
