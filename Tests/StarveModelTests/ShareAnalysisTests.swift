import XCTest
@testable import StarveModel

/// /proc and cgroupfs parsing, the per-sample share analysis, share columns and experiment plans.
final class ShareAnalysisTests: XCTestCase {
    // MARK: parsing

    func testCPUListsAndStatus() {
        XCTAssertEqual(SchedContextParser.cpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(SchedContextParser.cpuList("1"), [1])
        XCTAssertEqual(SchedContextParser.cpuList(""), [])
        XCTAssertNil(SchedContextParser.cpuList("3-1"))
        XCTAssertNil(SchedContextParser.cpuList("a"))
        let status = "Name:\tstarve-work\nCpus_allowed:\t2\nCpus_allowed_list:\t1\nMems_allowed_list:\t0\n"
        XCTAssertEqual(SchedContextParser.allowedCPUs(status: status), [1])
        XCTAssertNil(SchedContextParser.allowedCPUs(status: "Name:\tx\n"))
        XCTAssertEqual(formatCPUList([0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11")
        XCTAssertEqual(formatCPUList([1]), "1")
        XCTAssertEqual(formatCPUList([]), "")
    }

    func testAutogroupFile() {
        XCTAssertEqual(SchedContextParser.autogroup("/autogroup-6 nice 0\n"), AutogroupEntry(id: 6, nice: 0))
        XCTAssertEqual(SchedContextParser.autogroup("/autogroup-12 nice -5\n")?.group,
                       SchedGroup(id: "autogroup:12", weight: NiceWeight.weight(nice: -5), kind: .autogroup))
        XCTAssertNil(SchedContextParser.autogroup(""), "init and kernel threads: root autogroup, file empty")
        XCTAssertNil(SchedContextParser.autogroup("/autogroup-0 nice 0\n"))
    }

    func testProcCgroupPicksTheCPUController() {
        let hybrid = "9:name=systemd:/\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/starve/a\n0::/user.slice\n"
        XCTAssertEqual(SchedContextParser.cpuCgroup(hybrid), .v1("/starve/a"))
        XCTAssertEqual(SchedContextParser.cpuCgroup("4:cpu,cpuacct:/x\n0::/\n"), .v1("/x"))
        XCTAssertEqual(SchedContextParser.cpuCgroup("2:cpuacct:/x\n0::/y\n"), .v2("/y"), "cpuacct is not cpu")
        XCTAssertEqual(SchedContextParser.cpuCgroup("0::/user.slice/user-0.slice/session-1.scope\n"),
                       .v2("/user.slice/user-0.slice/session-1.scope"))
        XCTAssertNil(SchedContextParser.cpuCgroup(""))
    }

    func testMounts() {
        let hybrid = """
            25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
            30 25 0:26 / /sys/fs/cgroup/cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpuacct
            31 25 0:27 / /sys/fs/cgroup/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu
            32 25 0:28 / /sys/fs/cgroup/unified rw,relatime shared:11 - cgroup2 cgroup2 rw,nsdelegate
            """
        XCTAssertEqual(CgroupMounts(mountinfo: hybrid), CgroupMounts(v1CPU: "/sys/fs/cgroup/cpu", unified: "/sys/fs/cgroup/unified"))
        XCTAssertEqual(CgroupMounts(mountinfo: "29 1 0:25 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"),
                       CgroupMounts(v1CPU: nil, unified: "/sys/fs/cgroup"))
        XCTAssertEqual(CgroupMounts(mountinfo: "40 1 0:30 / /mnt/my\\040cg rw - cgroup cgroup rw,cpu,cpuacct\n").v1CPU, "/mnt/my cg")
    }

    func testV1GroupsAreEveryLevelWithItsShares() {
        let files = ["/cg/cpu/a/cpu.shares": "2048\n", "/cg/cpu/a/b/cpu.shares": "512\n"]
        let groups = SchedContextParser.cgroupGroups(.v1("/a/b"), mounts: CgroupMounts(v1CPU: "/cg/cpu")) { files[$0] }
        XCTAssertEqual(groups, [SchedGroup(id: "cgroup:/a", weight: 2048, kind: .cgroup), SchedGroup(id: "cgroup:/a/b", weight: 512, kind: .cgroup)])
        XCTAssertEqual(SchedContextParser.cgroupGroups(.v1("/"), mounts: CgroupMounts(v1CPU: "/cg/cpu")) { files[$0] }, [])
        // A vanished cgroup reads as the default weight rather than failing.
        XCTAssertEqual(SchedContextParser.cgroupGroups(.v1("/gone"), mounts: CgroupMounts(v1CPU: "/cg/cpu")) { _ in nil },
                       [SchedGroup(id: "cgroup:/gone", weight: 1024, kind: .cgroup)])
    }

    func testV2GroupsOnlyWhereTheParentEnablesCPU() {
        let files = [
            "/sys/fs/cgroup/cgroup.subtree_control": "cpuset cpu io memory pids\n",
            "/sys/fs/cgroup/a/cgroup.subtree_control": "memory\n",  // cpu not passed down
            "/sys/fs/cgroup/a/cpu.weight": "200\n",
            "/sys/fs/cgroup/a/b/cpu.weight": "50\n",
        ]
        let mounts = CgroupMounts(unified: "/sys/fs/cgroup")
        XCTAssertEqual(SchedContextParser.cgroupGroups(.v2("/a/b"), mounts: mounts) { files[$0] },
                       [SchedGroup(id: "cgroup:/a", weight: 2048, kind: .cgroup)], "b's tasks run in a's task group")
        XCTAssertEqual(SchedContextParser.cgroupGroups(.v2("/a"), mounts: CgroupMounts(unified: "/u")) { _ in "memory\n" }, [],
                       "no cpu controller anywhere: root task group")
    }

    func testAutogroupOnlyInTheRootTaskGroup() {
        let ag = AutogroupEntry(id: 3, nice: 0)
        let cg = [SchedGroup(id: "cgroup:/a", weight: 1024, kind: .cgroup)]
        XCTAssertEqual(SchedContextParser.groupPath(cgroupGroups: [], autogroup: ag, autogroupsEnabled: true), [ag.group])
        XCTAssertEqual(SchedContextParser.groupPath(cgroupGroups: [], autogroup: ag, autogroupsEnabled: false), [])
        XCTAssertEqual(SchedContextParser.groupPath(cgroupGroups: cg, autogroup: ag, autogroupsEnabled: true), cg)
    }

    // MARK: analysis

    private func interval(_ pid: UInt32, nice: Int32 = 0, policy: UInt32 = 0, runMs: Double, waitMs: Double = 0,
                          openWaitMs: Double = 0, intervalMs: Double = 1000, sleeps: UInt64 = 0) -> TaskInterval {
        let task = TaskCounters(pid: pid, tgid: pid, comm: "w", nice: nice, policy: policy, startTimeNs: UInt64(pid),
                                openWaitNs: UInt64(openWaitMs * 1e6))
        return TaskInterval(task: task, intervalNs: UInt64(intervalMs * 1e6), runtimeDeltaNs: UInt64(runMs * 1e6), runtimeEMANs: 0,
                            voluntarySwitches: sleeps, involuntarySwitches: 0, waitWakeupNs: 0, waitPreemptNs: UInt64(waitMs * 1e6),
                            waitCount: 0, migrations: 0, baseHistogram: nil)
    }

    private let cpu1 = TaskSchedContext(allowedCPUs: [1])

    func testNiceZeroAndFiveOnOneCPUWithinTheSet() {
        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings())
        // Someone outside the set took 20 % of the CPU: the within-set split is unchanged.
        let s = analyzer.analyze(sample: 1, intervals: [interval(10, runMs: 602.8, waitMs: 397.2), interval(11, nice: 5, runMs: 197.2, waitMs: 802.8)],
                                 contexts: [10: cpu1, 11: cpu1], allCPUs: [0, 1])
        let w0 = Double(NiceWeight.weight(nice: 0)), w5 = Double(NiceWeight.weight(nice: 5))
        XCTAssertEqual(s.tasks[10]!.expectedPercent, w0 / (w0 + w5) * 100, accuracy: 1e-9)
        XCTAssertEqual(s.tasks[11]!.expectedPercent, w5 / (w0 + w5) * 100, accuracy: 1e-9)
        XCTAssertEqual(s.tasks[10]!.measuredPercent, 75.35, accuracy: 0.01)
        XCTAssertEqual(s.tasks[10]!.decidedBy, .nice)
        XCTAssertEqual(s.tasks[10]!.runnablePercent, 100)
        XCTAssertEqual(s.tasks[10]!.tickets, 1024)
        XCTAssertEqual(s.tasks[10]!.component, 0)
        XCTAssertLessThan(s.maxAbsErrorPP, 0.02)
        XCTAssertGreaterThan(s.jainIndex, 0.9999)
        XCTAssertNil(s.tasks[10]!.lottery, "no draws asked")
    }

    func testSeparateAutogroupsAndCgroupsDecide() {
        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings())
        let a = AutogroupEntry(id: 1, nice: 0).group, b = AutogroupEntry(id: 2, nice: 0).group
        let s = analyzer.analyze(sample: 1, intervals: [interval(1, runMs: 500, waitMs: 500), interval(2, nice: 5, runMs: 500, waitMs: 500)],
                                 contexts: [1: TaskSchedContext(allowedCPUs: [1], groupPath: [a]), 2: TaskSchedContext(allowedCPUs: [1], groupPath: [b])],
                                 allCPUs: [0, 1])
        XCTAssertEqual(s.tasks[1]!.expectedPercent, 50, accuracy: 1e-9)
        XCTAssertEqual(s.tasks[2]!.decidedBy, .group("autogroup:2"))
        XCTAssertEqual(s.tasks[2]!.decidedBy.label, "autogroup:2")

        var v2 = ShareAnalyzer(settings: ShareAnalysisSettings())
        let heavy = SchedGroup(id: "cgroup:/h", weight: NiceWeight.groupWeight(cgroupV2Weight: 200), kind: .cgroup)
        let light = SchedGroup(id: "cgroup:/l", weight: NiceWeight.groupWeight(cgroupV2Weight: 100), kind: .cgroup)
        let c = v2.analyze(sample: 1, intervals: [interval(1, runMs: 667, waitMs: 333), interval(2, runMs: 333, waitMs: 667)],
                           contexts: [1: TaskSchedContext(allowedCPUs: [1], groupPath: [heavy]), 2: TaskSchedContext(allowedCPUs: [1], groupPath: [light])],
                           allCPUs: [0, 1])
        XCTAssertEqual(c.tasks[1]!.expectedPercent, 200.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(c.tasks[1]!.decidedBy.label, "cgroup:/h")
    }

    func testCompetingSetDemandAndExclusions() {
        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings())
        let s = analyzer.analyze(sample: 1, intervals: [
            interval(1, runMs: 750, waitMs: 250),          // busy
            interval(2, runMs: 200, waitMs: 50, sleeps: 10), // runnable 25 %: demand-capped
            interval(6, runMs: 300, waitMs: 10),           // never blocked: a full CPU's demand
            interval(3, runMs: 0),                         // slept all along: not competing
            interval(4, policy: 1, runMs: 300),            // SCHED_FIFO: not weight-scheduled
            interval(5, runMs: 0, openWaitMs: 400),        // queued at the end, never ran: competes
        ], contexts: [1: cpu1, 2: cpu1, 5: cpu1, 6: cpu1], allCPUs: [0, 1])
        XCTAssertEqual(Set(s.tasks.keys), [1, 2, 5, 6])
        XCTAssertEqual(s.tasks[6]!.runnablePercent, 100)
        XCTAssertEqual(s.tasks[2]!.runnablePercent, 25, accuracy: 1e-9)
        XCTAssertEqual(s.tasks[2]!.expectedPercent, 25, accuracy: 1e-6)
        XCTAssertEqual(s.tasks[2]!.decidedBy, .demand)
        XCTAssertEqual(s.tasks[5]!.measuredPercent, 0)
        // A task with no readable context is taken as unpinned.
        var b = ShareAnalyzer(settings: ShareAnalysisSettings())
        XCTAssertEqual(b.analyze(sample: 1, intervals: [interval(9, runMs: 10)], contexts: [:], allCPUs: [0, 1]).tasks[9]!.allowedCPUs, [0, 1])
    }

    func testDisjointCPUSetsAreSeparateComponents() {
        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings(draws: 100))
        let s = analyzer.analyze(sample: 1, intervals: [interval(1, runMs: 1000), interval(2, runMs: 500, waitMs: 500), interval(3, nice: 19, runMs: 500, waitMs: 500)],
                                 contexts: [1: TaskSchedContext(allowedCPUs: [1]), 2: TaskSchedContext(allowedCPUs: [0]), 3: TaskSchedContext(allowedCPUs: [0])],
                                 allCPUs: [0, 1])
        XCTAssertEqual(s.tasks[1]!.component, 1)
        XCTAssertEqual(s.tasks[2]!.component, 0)
        XCTAssertEqual(s.tasks[1]!.expectedPercent, 100)
        XCTAssertEqual(s.tasks[1]!.decidedBy, .alone)
        XCTAssertEqual(s.tasks[1]!.lottery?.winPercent, 100)
        XCTAssertEqual(s.tasks[2]!.lottery!.wins + s.tasks[3]!.lottery!.wins, 100)
    }

    func testLotteryIsReproducibleAndIndependentOfPids() {
        func run(_ pids: [UInt32], seed: UInt64) -> [[Int]] {
            var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings(draws: 1000, seed: seed))
            return (1...3).map { sample in
                let s = analyzer.analyze(sample: sample, intervals: [interval(pids[0], runMs: 700, waitMs: 300), interval(pids[1], nice: 5, runMs: 300, waitMs: 700)],
                                         contexts: [pids[0]: cpu1, pids[1]: cpu1], allCPUs: [0, 1])
                return pids.map { s.tasks[$0]!.lottery!.wins }
            }
        }
        let a = run([100, 200], seed: 9), b = run([901, 17], seed: 9), c = run([100, 200], seed: 10)
        XCTAssertEqual(a, b, "same seed and tickets: same draws whatever the pids")
        XCTAssertNotEqual(a, c)
        XCTAssertNotEqual(a[0], a[1], "each sample draws afresh")
        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings(draws: 1000, seed: 9, tickets: .linear))
        let s = analyzer.analyze(sample: 1, intervals: [interval(1, runMs: 500), interval(2, nice: 5, runMs: 500)],
                                 contexts: [1: cpu1, 2: cpu1], allCPUs: [0, 1])
        XCTAssertEqual(s.tasks[1]!.tickets, 20)
        XCTAssertEqual(s.tasks[2]!.tickets, 15)
        XCTAssertEqual(s.tasks[1]!.lottery!.theoreticalPercent, 20.0 / 35 * 100, accuracy: 1e-9)
        XCTAssertEqual(s.tasks[1]!.strideSharePercent!, 20.0 / 35 * 100, accuracy: 0.2)
    }

    func testRunAveragesWeightIntervalsAndResetForANewTask() {
        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings(draws: 10))
        _ = analyzer.analyze(sample: 1, intervals: [interval(1, runMs: 800), interval(2, runMs: 200, waitMs: 800)],
                             contexts: [1: cpu1, 2: cpu1], allCPUs: [0, 1])
        let s = analyzer.analyze(sample: 2, intervals: [interval(1, runMs: 1200, intervalMs: 2000), interval(2, runMs: 800, waitMs: 1200, intervalMs: 2000)],
                                 contexts: [1: cpu1, 2: cpu1], allCPUs: [0, 1])
        // Task 1 measured 80 % for 1 s and 60 % for 2 s: 66.7 % over the run; expected 50 % throughout.
        XCTAssertEqual(s.tasks[1]!.runMeasuredPercent, (80.0 + 2 * 60) / 3, accuracy: 1e-9)
        XCTAssertEqual(s.tasks[1]!.runExpectedPercent, 50, accuracy: 1e-9)
        XCTAssertEqual(s.runMaxAbsErrorPP, 200.0 / 3 - 50, accuracy: 1e-9)
        XCTAssertNotNil(s.tasks[1]!.runLotteryWinPercent)
    }

    // MARK: output

    func testShareColumnsOnlyWhenAsked() {
        let rows = [interval(1, runMs: 750, waitMs: 250), interval(2, nice: 5, runMs: 0)]
        let context = SampleContext(sample: 1, timestamp: Date(timeIntervalSince1970: 0))
        XCTAssertFalse(SampleFormatter().csvHeader.contains("expected_share_pct"))
        XCTAssertFalse(SampleFormatter().table(context, rows, tracked: 2).contains("SHARE%"))

        var analyzer = ShareAnalyzer(settings: ShareAnalysisSettings(draws: 50))
        let shares = analyzer.analyze(sample: 1, intervals: rows, contexts: [1: cpu1], allCPUs: [0, 1])
        let f = SampleFormatter(shareColumns: shareColumns)
        let names = CSV.parseRecord(Substring(f.csvHeader))
        XCTAssertEqual(names.count, sampleColumns.count + shareColumns.count)
        XCTAssertEqual(Set(names).count, names.count, "column names are unique")
        for required in ["expected_share_pct", "measured_share_pct", "share_error_pp", "tickets", "lottery_wins", "lottery_win_pct",
                         "stride_share_pct", "share_decided_by"] {
            XCTAssertTrue(names.contains(required), required)
        }
        let csv = f.csvRows(context, rows, shares: shares).split(separator: "\n").map(CSV.parseRecord)
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        XCTAssertEqual(csv[0][index["expected_share_pct"]!], "100.00")
        XCTAssertEqual(csv[0][index["share_decided_by"]!], "alone")
        XCTAssertEqual(csv[0][index["lottery_draws"]!], "50")
        XCTAssertEqual(csv[1][index["share_competing"]!], "0")
        XCTAssertEqual(csv[1][index["expected_share_pct"]!], "", "not competing: empty")
        let table = f.table(context, rows, tracked: 2, shares: shares)
        let header = table.split(separator: "\n")[1].split(separator: " ")
        XCTAssertEqual(Array(header.suffix(6)), ["TICKETS", "SHARE%", "MEASURED%", "ERR_PP", "WIN%", "DECIDED_BY"], table)
        XCTAssertTrue(table.contains("fair share: 1 competing"), table)
        XCTAssertTrue(f.jsonLines(context, rows, shares: shares).contains("\"share_decided_by\":\"alone\""))
    }

    // MARK: experiment plans

    func testPlanFileMatrixAndRoundTrip() throws {
        let plan = try ExperimentPlan.parse("""
            # nice matrix on one CPU
            name = demo
            nice = 0,5 ; 0,5,10
            cpus = 1 ; 0-1
            duration = 5
            draws = 200   # per sample
            seed = 77
            tickets = linear
            setsid = yes
            repeat = 2
            """)
        XCTAssertEqual(plan.cells.count, 2 * 2 * 2)
        XCTAssertEqual(plan.cells[0], ExperimentCell(index: 1, nice: [0, 5], cpus: "1", durationSeconds: 5, repetition: 1, workers: 2))
        XCTAssertEqual(plan.cells[7].nice, [0, 5, 10])
        XCTAssertEqual(plan.cells[7].cpus, "0-1")
        XCTAssertEqual(plan.cells[7].workers, 3)
        XCTAssertEqual(plan.seed, 77)
        XCTAssertEqual(plan.tickets, .linear)
        XCTAssertTrue(plan.setsid)
        XCTAssertEqual(plan.samples(for: plan.cells[0]), 5)
        XCTAssertEqual(try ExperimentPlan.parse(plan.text), plan)
    }

    func testPlanErrorsNameTheLine() {
        XCTAssertThrowsError(try ExperimentPlan.parse("nice = 0,50\n")) { XCTAssertTrue("\($0)".contains("line 1"), "\($0)") }
        XCTAssertThrowsError(try ExperimentPlan.parse("\ncolour = red\n")) { XCTAssertTrue("\($0)".contains("line 2: plan: unknown key"), "\($0)") }
        XCTAssertThrowsError(try ExperimentPlan.parse("busy-ms = 10\n"))
        XCTAssertThrowsError(try ExperimentPlan.parse("duration = 0\n"))
        XCTAssertThrowsError(try ExperimentPlan.parse("just words\n"))
    }

    func testSummaryFromDumpCSV() {
        let header = "pid,nice,policy,cpu_pct,share_competing,tickets,expected_share_run_pct,measured_share_run_pct,share_decided_by,lottery_draws,lottery_wins,lottery_theory_pct,stride_share_pct\n"
        let csv = header
            + "7,0,0,70.0,1,1024,75.35,75.00,nice,100,74,75.35,75.4\n"
            + "8,5,0,25.0,1,335,24.65,25.00,nice,100,26,24.65,24.6\n"
            + "7,0,0,74.0,1,1024,75.35,75.20,nice,100,77,75.35,75.4\n"
            + "8,5,0,24.0,1,335,24.65,24.80,nice,100,23,24.65,24.6\n"
        let rows = ExperimentSummaryRow.summarize(cell: 3, workerPIDs: [7, 8], dumpCSV: csv)
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].worker, 0)
        XCTAssertEqual(rows[0].weight, 1024)
        XCTAssertEqual(rows[1].weight, 335)
        XCTAssertEqual(rows[0].measuredPercent, 75.20)
        XCTAssertEqual(rows[0].errorPP, 75.20 - 75.35, accuracy: 1e-9)
        XCTAssertEqual(rows[0].lotteryWinPercent!, 75.5, accuracy: 1e-9)
        XCTAssertEqual(rows[1].cpuPercent, 24.5, accuracy: 1e-9)
        XCTAssertEqual(rows[1].samples, 2)
        XCTAssertEqual(rows[0].csvFields.count, ExperimentSummaryRow.csvHeader.count)
    }
}
