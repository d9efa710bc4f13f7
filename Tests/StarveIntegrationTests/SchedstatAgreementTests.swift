import CStarve
import Foundation
import StarveBPF
import StarveCore
import XCTest

/// Two busy loops share CPU 1 at nice 0 and nice 5; what starve counts for each over a few
/// seconds must agree with what the kernel's own schedstat says for the same window.
final class SchedstatAgreementTests: XCTestCase {
    func testRuntimeWaitAndSwitchesMatchSchedstat() throws {
        try Live.require()
        let collector = try LoadedCollector()
        defer { collector.unload() }
        let work = try Workload(["--workers", "2", "--nice", "0,5", "--cpu", "1", "--duration", "60"])
        defer { work.stop() }
        let collection = try PinnedCollection(layout: collector.layout)

        // Both workers tracked and each through a few timeslices before the window opens.
        let pids = work.workerPIDs.map(UInt32.init)
        XCTAssertTrue(try waitUntil(seconds: 10) {
            let seen = try collection.readTasks().tasks.filter { pids.contains($0.pid) }
            return seen.count == 2 && seen.allSatisfy { $0.switches >= 3 }
        }, "workers never showed up in the tasks map")

        func snapshot() throws -> [pid_t: (ours: TaskCounters, kernel: Schedstat)] {
            var out: [pid_t: (TaskCounters, Schedstat)] = [:]
            // Ours and the kernel's read back to back, well under a millisecond apart.
            let ours = try collection.readTasks().tasks
            for pid in work.workerPIDs {
                guard let mine = ours.first(where: { $0.pid == UInt32(pid) }) else { throw StarveError("pid \(pid) not reported") }
                out[pid] = (mine, try Schedstat(pid: pid))
            }
            return out
        }

        let before = try snapshot()
        usleep(5_000_000)  // the measurement window itself, not a synchronisation
        let after = try snapshot()

        for pid in work.workerPIDs {
            let (o0, k0) = before[pid]!, (o1, k1) = after[pid]!
            let ourRuntime = Double(o1.runtimeNs - o0.runtimeNs), kernelRuntime = Double(k1.runtimeNs - k0.runtimeNs)
            let ourWait = Double(o1.waitNs - o0.waitNs), kernelWait = Double(k1.waitNs - k0.waitNs)
            let ourSwitches = Int64(o1.switches - o0.switches), kernelSlices = Int64(k1.timeslices - k0.timeslices)
            print("pid \(pid) nice \(o1.nice): runtime ours \(Int(ourRuntime / 1e6)) ms kernel \(Int(kernelRuntime / 1e6)) ms; wait ours \(Int(ourWait / 1e6)) ms kernel \(Int(kernelWait / 1e6)) ms; switches ours \(ourSwitches) kernel \(kernelSlices)")
            XCTAssertGreaterThan(kernelRuntime, 5e8, "a busy worker ran less than 0.5 s in 5 s")
            XCTAssertGreaterThan(kernelWait, 5e7, "two loops on one CPU must wait for each other")
            XCTAssertEqual(ourRuntime, kernelRuntime, accuracy: kernelRuntime * 0.02, "on-CPU time off by more than 2 % (pid \(pid))")
            XCTAssertEqual(ourWait, kernelWait, accuracy: kernelWait * 0.05, "run-queue wait off by more than 5 % (pid \(pid))")
            // Switch-outs and switch-ins in a window differ by at most one at each end.
            XCTAssertLessThanOrEqual(abs(ourSwitches - kernelSlices), max(2, kernelSlices / 100), "switch count (pid \(pid))")
        }
        // And the nice-0 worker got more CPU than the nice-5 one (75 / 25 by the weights).
        let byNice = work.workerPIDs.map { (after[$0]!.ours.nice, after[$0]!.ours.runtimeNs - before[$0]!.ours.runtimeNs) }
        let nice0 = byNice.first { $0.0 == 0 }!.1, nice5 = byNice.first { $0.0 == 5 }!.1
        XCTAssertGreaterThan(nice0, nice5 * 2)
    }
}
