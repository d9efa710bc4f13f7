import CStarve
import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Two busy loops share CPU 1 at nice 0 and nice 5; what starve computes from its samples must
/// agree with the kernel's own schedstat over the same intervals.
///
/// Whose figures are whose: the tasks iterator reads runtime (`se.sum_exec_runtime`) and
/// switches (`nvcsw` + `nivcsw`) straight from task_struct (ABI 4), so their totals are the
/// kernel's, and comparing them with /proc/<pid>/schedstat would compare the kernel with itself.
/// This test checks what starve computes from them instead: the per-interval deltas, CPU
/// percentages and shares that `IntervalTracker` makes of successive samples (the code
/// starve-dump runs: what it prints as runtime_delta_ns, cpu_pct and switches), against
/// schedstat's own deltas over the same intervals. A wrong base, a lost or doubled interval, a
/// runtime estimate counted twice would all show. Run-queue waits are the BPF programs' own
/// measurement, not a kernel counter read back: their total is compared with schedstat's
/// run_delay.
final class SchedstatAgreementTests: XCTestCase {
    func testIntervalDeltasSharesAndWaitsMatchSchedstat() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let work = try Workload(["--workers", "2", "--nice", "0,5", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        let collection = try PinnedCollection(layout: collector.layout)
        let pids = work.workerPIDs.map(UInt32.init)
        XCTAssertTrue(work.waitUntilSettled(), "workers never got pinned to CPU 1 at nice 0 and 5")
        XCTAssertTrue(try waitUntil(seconds: 10) {
            let seen = try collection.readTasks().tasks.filter { pids.contains($0.pid) }
            return seen.count == 2 && seen.allSatisfy { $0.waitCount >= 3 }
        }, "the programs never counted the workers' waits")

        // One sample as starve-dump takes it (tasks iterator, filter, tracker), then each
        // worker's schedstat, back to back.
        var tracker = IntervalTracker(alpha: 0.3)
        let filter = TaskFilter(pids: Set(pids))
        func sample() throws -> (intervals: [UInt32: TaskInterval], kernel: [UInt32: Schedstat]) {
            let snapshot = try collection.readTasks()
            let kernel = try Dictionary(uniqueKeysWithValues: pids.map { ($0, try Schedstat(pid: pid_t($0))) })
            let intervals = tracker.advance(to: filter.apply(snapshot.tasks), atNs: snapshot.atNs)
            return (Dictionary(uniqueKeysWithValues: intervals.map { ($0.task.pid, $0) }), kernel)
        }

        let baseline = try sample()
        XCTAssertTrue(baseline.intervals.isEmpty, "the first sample only sets the baseline")
        var previous = baseline.kernel
        var ourRuntime: [UInt32: UInt64] = [:], ourWait: [UInt32: UInt64] = [:]
        let intervals = 5
        for n in 1...intervals {
            usleep(1_000_000)  // the sampling interval (starve-dump --interval 1): what is measured, not a synchronisation
            let s = try sample()
            var ourShare: [UInt32: Double] = [:], kernelShare: [UInt32: Double] = [:]
            for pid in pids {
                let i = try XCTUnwrap(s.intervals[pid], "interval \(n): no row for worker \(pid)")
                let k0 = previous[pid]!, k1 = s.kernel[pid]!
                let kernelRuntime = k1.runNs - k0.runNs
                let kernelSlices = Int64(k1.timeslices - k0.timeslices)
                print("interval \(n) pid \(pid) nice \(i.task.nice): runtime delta ours \(formatFixed(Double(i.runtimeDeltaNs) / 1e6, decimals: 2)) ms, schedstat \(formatFixed(Double(kernelRuntime) / 1e6, decimals: 2)) ms; cpu_pct \(formatFixed(i.cpuPercent, decimals: 2)); switches \(i.switches), timeslices \(kernelSlices)")
                // Ours and schedstat's are read a moment apart, and schedstat's runtime of a
                // thread that is on the CPU lags by up to a tick: 2 % or 5 ms, whichever is more.
                XCTAssertEqual(Double(i.runtimeDeltaNs), Double(kernelRuntime), accuracy: max(Double(kernelRuntime) * 0.02, 5e6),
                               "interval \(n): runtime delta of pid \(pid)")
                XCTAssertEqual(i.cpuPercent, Double(kernelRuntime) / Double(i.intervalNs) * 100, accuracy: max(i.cpuPercent * 0.02, 0.5),
                               "interval \(n): cpu_pct of pid \(pid)")
                // Switch-outs (ours) and switch-ins (schedstat) in one interval differ by one at each end.
                XCTAssertLessThanOrEqual(abs(Int64(i.switches) - kernelSlices), 2, "interval \(n): switches of pid \(pid)")
                ourRuntime[pid, default: 0] += i.runtimeDeltaNs
                ourWait[pid, default: 0] += i.waitNs
                ourShare[pid] = Double(i.runtimeDeltaNs)
                kernelShare[pid] = Double(kernelRuntime)
            }
            // One CPU: the two loops' cpu_pct cannot add up to more than 100.
            let cpuSum = pids.map { s.intervals[$0]!.cpuPercent }.reduce(0, +)
            XCTAssertLessThanOrEqual(cpuSum, 101, "interval \(n): two loops on one CPU used \(cpuSum) % of it")
            // Shares of the pair, ours and schedstat's.
            let ourTotal = ourShare.values.reduce(0, +), kernelTotal = kernelShare.values.reduce(0, +)
            for pid in pids {
                XCTAssertEqual(ourShare[pid]! / ourTotal * 100, kernelShare[pid]! / kernelTotal * 100, accuracy: 1,
                               "interval \(n): share of pid \(pid), percent")
            }
            previous = s.kernel
        }

        for pid in pids {
            let kernelRuntime = previous[pid]!.runNs - baseline.kernel[pid]!.runNs
            let kernelWait = Double(previous[pid]!.waitNs - baseline.kernel[pid]!.waitNs), wait = Double(ourWait[pid]!)
            print("pid \(pid) over \(intervals) intervals: runtime ours \(ourRuntime[pid]! / 1_000_000) ms, schedstat \(kernelRuntime / 1_000_000) ms; wait ours \(Int(wait / 1e6)) ms, schedstat \(Int(kernelWait / 1e6)) ms")
            // The intervals tile the window: no time lost or counted twice between them.
            XCTAssertEqual(Double(ourRuntime[pid]!), Double(kernelRuntime), accuracy: max(Double(kernelRuntime) * 0.02, 5e6),
                           "runtime of pid \(pid) summed over the intervals")
            XCTAssertGreaterThan(kernelWait, 5e7, "two loops on one CPU must wait for each other")
            XCTAssertEqual(wait, kernelWait, accuracy: kernelWait * 0.05, "run-queue wait off by more than 5 % (pid \(pid))")
        }
        // And the nice-0 worker got more CPU than the nice-5 one (75 / 25 by the weights).
        let byNice = Dictionary(uniqueKeysWithValues: work.workers.map { ($0.nice, ourRuntime[UInt32($0.pid)]!) })
        XCTAssertGreaterThan(try XCTUnwrap(byNice[0]), try XCTUnwrap(byNice[5]) * 2)
    }
}
