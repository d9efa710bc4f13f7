import Foundation
import StarveModel
import XCTest

/// The sampler's pure steps on fixed inputs: threads and exited work summed per process, and
/// cgroups merged into workloads by the analyzer's grouping (matrix and cpu.stat deltas summed,
/// preemptors and verdicts by group).
final class WorkloadAnalysisTests: XCTestCase {
    private func histogram(_ waits: [UInt64]) -> LogHistogram {
        var counts = [UInt64](repeating: 0, count: LogHistogram.slotCount)
        for w in waits { counts[LogHistogram.slot(for: w)] += 1 }
        return LogHistogram(counts: counts)
    }

    private func thread(_ pid: UInt32, tgid: UInt32, comm: String, cgroup: UInt64, runtime: UInt64, waits: [UInt64] = []) -> TaskCounters {
        var t = TaskCounters(pid: pid, tgid: tgid, comm: comm, cpuCgroupID: cgroup, startTimeNs: UInt64(pid), runtimeNs: runtime,
                             waitAfterPreemption: WaitCounters(totalNs: waits.reduce(0, +), count: UInt64(waits.count), maxNs: waits.max() ?? 0),
                             waitHistogram: histogram(waits))
        t.processStart = 7
        return t
    }

    /// One interval from nothing to `tasks` over one second: every counter is the interval's.
    private func intervals(_ tasks: [TaskCounters]) -> [TaskInterval] {
        var tracker = IntervalTracker(alpha: 0.3)
        _ = tracker.advance(to: [], atNs: 0)
        return tracker.advance(to: tasks, atNs: 1_000_000_000)
    }

    func testAProcessSumsItsThreadsAndItsExitedThreadsAndNamesTheWorstThread() throws {
        let live = intervals([
            thread(100, tgid: 100, comm: "server", cgroup: 10, runtime: 200_000_000, waits: [1_000_000]),
            thread(101, tgid: 100, comm: "worker", cgroup: 10, runtime: 100_000_000, waits: [30_000_000, 2_000_000]),
        ])
        var gone = ThreadWork()
        gone.threads = 3
        gone.runtimeNs = 50_000_000
        gone.waitPreempt = WaitCounters(totalNs: 4_000_000, count: 2, maxNs: 3_000_000)
        gone.waitHistogram[LogHistogram.slot(for: 1_000_000)] = 1
        gone.waitHistogram[LogHistogram.slot(for: 3_000_000)] = 1
        let onlyExited = ProcessInCgroup(cgroupID: 11, tgid: 300, start: 9)
        let exited = [ProcessInCgroup(cgroupID: 10, tgid: 100, start: 7): gone, onlyExited: gone]
        let rows = ProcessAnalysis.rows(intervals: live, exited: exited, intervalNs: 1_000_000_000, path: { "/cg\($0)" },
                                        exitedWorkload: { $0 == 11 ? WorkloadIdentity.classify(path: "/system.slice/batch.service") : nil })
        XCTAssertEqual(rows.count, 2)
        let server = try XCTUnwrap(rows.first { $0.tgid == 100 })
        XCTAssertEqual(server.comm, "server", "the leader names the process")
        XCTAssertEqual(server.path, "/cg10")
        XCTAssertEqual(server.threads, 2)
        XCTAssertEqual(server.exitedThreads, 3)
        XCTAssertEqual(server.runtimeNs, 350_000_000)
        XCTAssertEqual(server.waitCount, 5)
        XCTAssertEqual(server.waitNs, 37_000_000)
        XCTAssertEqual(server.waitHistogram.counts.reduce(0, +), 5, "live and exited waits in one histogram")
        XCTAssertEqual(server.worstThread?.pid, 101)
        XCTAssertEqual(server.worstThread?.waitNs, 32_000_000)
        XCTAssertEqual(server.cpuPercent, 35, accuracy: 0.001)
        let batch = try XCTUnwrap(rows.first { $0.tgid == 300 })
        XCTAssertEqual(batch.comm, "exited")
        XCTAssertEqual(batch.threads, 0)
        XCTAssertEqual(batch.workload?.name, "batch.service")
        XCTAssertNil(batch.worstThread)
        XCTAssertEqual(rows.first?.tgid, 100, "most wait first")
    }

    func testCgroupsMergedIntoWorkloadsShareVerdictsAndPreemptors() throws {
        // Workload 2 ("api") has two cgroups, 10 and 11; workload 3 ("batch") is cgroup 20.
        let group: (UInt64, UInt32, UInt32) -> UInt64 = { c, _, _ in c == 20 ? 3 : 2 }
        let names: [UInt64: String] = [2: "api", 3: "batch"]
        let live = intervals([
            thread(100, tgid: 100, comm: "api-a", cgroup: 10, runtime: 5_000_000, waits: [300_000_000]),
            thread(110, tgid: 110, comm: "api-b", cgroup: 11, runtime: 5_000_000, waits: [200_000_000]),
            thread(200, tgid: 200, comm: "batch", cgroup: 20, runtime: 900_000_000, waits: [1_000_000]),
        ])
        func pair(_ victimCgroup: UInt64, _ victim: UInt32) -> PreemptionPair {
            PreemptionPair(victimCgroup: victimCgroup, preemptorCgroup: 20, victimTgid: victim, preemptorTgid: 200, victimStart: 7, preemptorStart: 7)
        }
        let before: [PreemptionPair: PreemptionCounts] = [pair(10, 100): PreemptionCounts(count: 4, waitNs: 40_000_000, maxNs: 10_000_000)]
        let now: [PreemptionPair: PreemptionCounts] = [pair(10, 100): PreemptionCounts(count: 5, waitNs: 340_000_000, maxNs: 300_000_000),
                                                       pair(11, 110): PreemptionCounts(count: 1, waitNs: 200_000_000, maxNs: 200_000_000)]
        let throttleBefore: [UInt64: ThrottleCounters] = [10: ThrottleCounters(periods: 100, throttledPeriods: 1, throttledNs: 5),
                                                          11: ThrottleCounters(periods: 50, throttledPeriods: 0, throttledNs: 0)]
        let throttleNow: [UInt64: ThrottleCounters] = [10: ThrottleCounters(periods: 110, throttledPeriods: 2, throttledNs: 10),
                                                       11: ThrottleCounters(periods: 55, throttledPeriods: 0, throttledNs: 0)]
        var analyzer = CgroupAnalyzer()
        analyzer.prime(pairs: before, throttle: throttleBefore)
        let rows = analyzer.analyze(intervals: live, intervalNs: 1_000_000_000, pairs: now, throttle: throttleNow,
                                    path: { names[$0] ?? "?" }, processName: { _, _ in "?" }, group: group)
        XCTAssertEqual(rows.count, 2)
        let api = try XCTUnwrap(rows.first { $0.cgroupID == 2 })
        XCTAssertEqual(api.tasks, 2)
        XCTAssertEqual(api.waitCount, 2)
        XCTAssertEqual(api.waitNs, 500_000_000)
        XCTAssertEqual(api.throttle?.periods, 15, "cpu.stat deltas of both cgroups summed")
        XCTAssertEqual(api.throttle?.throttledPeriods, 1)
        XCTAssertEqual(api.topPreemptors.count, 1)
        XCTAssertEqual(api.topPreemptors.first?.label, "batch")
        XCTAssertEqual(api.topPreemptors.first?.count, 2, "matrix deltas per pair, summed per workload")
        XCTAssertEqual(api.topPreemptors.first?.waitNs, 500_000_000)
        XCTAssertNil(api.topPreemptors.first?.tgid, "another workload, not a process")
        XCTAssertEqual(api.verdict, .victim)
        let batch = try XCTUnwrap(rows.first { $0.cgroupID == 3 })
        XCTAssertEqual(batch.verdict, .noisyNeighbour)
        XCTAssertTrue(batch.evidence.contains("api"), batch.evidence)

        // The same input by cgroup: three rows, each victim cgroup booked to cgroup 20 alone.
        var byCgroup = CgroupAnalyzer()
        byCgroup.prime(pairs: before, throttle: throttleBefore)
        let plain = byCgroup.analyze(intervals: live, intervalNs: 1_000_000_000, pairs: now, throttle: throttleNow,
                                     path: { "/cg\($0)" }, processName: { _, _ in "?" })
        XCTAssertEqual(Set(plain.map(\.cgroupID)), [10, 11, 20])
        XCTAssertEqual(plain.first { $0.cgroupID == 10 }?.topPreemptors.first?.waitNs, 300_000_000)
        XCTAssertEqual(plain.first { $0.cgroupID == 10 }?.throttle?.periods, 10)
    }

    func testVictimSentenceNeedsHalfTheWaitFromOneOtherWorkload() {
        func row(wait: UInt64, top: Preemptor?) -> WorkloadInterval {
            var analyzer = CgroupAnalyzer()
            analyzer.prime(pairs: [:], throttle: [:])
            var r = analyzer.analyze(intervals: intervals([thread(1, tgid: 1, comm: "web", cgroup: 5, runtime: 10, waits: [wait])]),
                                     intervalNs: 1_000_000_000, pairs: [:], throttle: [:], path: { _ in "web" }, processName: { _, _ in "" })[0]
            r.topPreemptors = top.map { [$0] } ?? []
            return WorkloadInterval(identity: WorkloadIdentity.classify(path: "/system.slice/web.service"), cgroups: 1, processes: 1, figures: r)
        }
        let hog = Preemptor(cgroup: 2, tgid: nil, label: "batch.service", count: 12, waitNs: 620_000_000, workloadKind: .service)
        XCTAssertEqual(ViewFormatter.preemptedBy(row(wait: 1_000_000_000, top: hog)),
                       "service web.service was preempted by service batch.service: 62 % of its wait (620.0 of 1000.0 ms, 12 waits)")
        XCTAssertNil(ViewFormatter.preemptedBy(row(wait: 2_000_000_000, top: hog)), "under half: no sentence")
        let ownProcess = Preemptor(cgroup: 1, tgid: 77, label: "77 (worker)", count: 3, waitNs: 900_000_000)
        XCTAssertNil(ViewFormatter.preemptedBy(row(wait: 1_000_000_000, top: ownProcess)), "a process of its own is not another workload")
    }

    func testWorkloadRowsSortByWaitByDefaultAndByCPUP99OrName() {
        func row(_ name: String, runtime: UInt64, waits: [UInt64]) -> WorkloadInterval {
            var analyzer = CgroupAnalyzer()
            analyzer.prime(pairs: [:], throttle: [:])
            let r = analyzer.analyze(intervals: intervals([thread(1, tgid: 1, comm: name, cgroup: 5, runtime: runtime, waits: waits)]),
                                     intervalNs: 1_000_000_000, pairs: [:], throttle: [:], path: { _ in name }, processName: { _, _ in "" })[0]
            return WorkloadInterval(identity: WorkloadIdentity.classify(path: "/system.slice/\(name).service"), cgroups: 1, processes: 1, figures: r)
        }
        let rows = [row("a", runtime: 10, waits: [50_000_000]), row("b", runtime: 900, waits: [1_000_000, 1_000_000]),
                    row("c", runtime: 500, waits: [20_000_000, 20_000_000, 20_000_000, 20_000_000])]
        XCTAssertEqual(WorkloadSort.wait.order(rows).map(\.identity.name), ["c.service", "a.service", "b.service"])
        XCTAssertEqual(WorkloadSort.cpu.order(rows).map(\.identity.name), ["b.service", "c.service", "a.service"])
        XCTAssertEqual(WorkloadSort.p99.order(rows).map(\.identity.name), ["a.service", "c.service", "b.service"])
        XCTAssertEqual(WorkloadSort.name.order(rows).map(\.identity.name), ["a.service", "b.service", "c.service"])
    }
}

/// Event JSON names each task's workload (null when it was not resolved).
final class EventWorkloadTests: XCTestCase {
    func testEventTasksCarryTheirWorkload() throws {
        var task = EventTask(pid: 5, tgid: 5, comm: "api", cgroupID: 10)
        task.workload = WorkloadIdentity.classify(path: "/system.slice/api.service")
        let holder = EventTask(pid: 6, tgid: 6, comm: "batch", cgroupID: 20)
        let line = EventFormatter.json(SchedEvent(kind: .starvation, task: task, other: holder), clock: WallClock(realtimeNs: 1_700_000_000_000_000_000, monotonicNs: 0))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let t = try XCTUnwrap(object["task"] as? [String: Any]), o = try XCTUnwrap(object["other"] as? [String: Any])
        XCTAssertEqual(t["workload_kind"] as? String, "service")
        XCTAssertEqual(t["workload"] as? String, "api.service")
        XCTAssertTrue(o["workload_kind"] is NSNull)
        XCTAssertTrue(o["workload"] is NSNull)
        XCTAssertTrue(object["third"] is NSNull)
    }
}

/// Sentences name workloads by kind and name: events, and the victim x preemptor line.
final class WorkloadPhrasingTests: XCTestCase {
    func testLabelsSayTheKindUnlessTheNameDoes() {
        XCTAssertEqual(WorkloadIdentity.classify(path: "/system.slice/api.service").label, "service api.service")
        XCTAssertEqual(WorkloadIdentity.classify(path: "/").label, "host")
        XCTAssertEqual(WorkloadIdentity.classify(path: "/batch/a").label, "cgroup /batch/a")
    }

    func testEventSummaryNamesWorkloadsAndFallsBackToTheCgroup() {
        var task = EventTask(pid: 5, tgid: 5, comm: "api", cgroupID: 10, cgroupPath: "/system.slice/api.service")
        task.workload = WorkloadIdentity.classify(path: "/system.slice/api.service")
        var holder = EventTask(pid: 6, tgid: 6, comm: "batch", cgroupID: 20, cgroupPath: "/gone")
        holder.workload = .unknown
        let e = SchedEvent(kind: .starvation, durationNs: 150_000_000, preempted: true, task: task, other: holder)
        XCTAssertEqual(e.summary, "5 (api) in service api.service waited 150.0 ms for a CPU (preempted); CPU held by 6 (batch) in /gone prio 120")
    }
}

/// The snapshot's drop counters: an interval's growth, and the one line the views print.
final class CollectorLossTests: XCTestCase {
    func testGrowthAndTheLossLine() {
        var before = CollectorStats(), after = CollectorStats()
        before.exitedDropped = 5
        after.exitedDropped = 8
        after.switches = 100
        XCTAssertNil(after.growth(since: after).lossNote, "nothing lost: no line")
        let g = after.growth(since: before)
        XCTAssertEqual(g.exitedDropped, 3)
        XCTAssertEqual(g.switches, 100)
        XCTAssertEqual(g.lossNote, "collector lost in this interval: 3 exits not folded")
        XCTAssertEqual(before.growth(since: after).exitedDropped, 0, "a counter never grows backwards")
    }
}
