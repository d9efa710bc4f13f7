import Foundation
import StarveBPF
import StarveModel
@testable import StarveJobs
import XCTest

/// The classification, the thresholds file and squeue's JSON, on fixed inputs.
final class JobClassificationTests: XCTestCase {
    func time(cpu: Double, wait: Double = 0, io: Double = 0, sleep: Double = 0) -> JobTime {
        var t = JobTime()
        t.onCPUNs = UInt64(cpu * 1e9)
        t.waitPreemptNs = UInt64(wait * 1e9)
        t.blockedIONs = UInt64(io * 1e9)
        t.sleepNs = UInt64(sleep * 1e9)
        return t
    }

    func testClassesFollowTheTimeSplit() {
        let th = JobThresholds()
        XCTAssertEqual(JobClassifier.classify(time(cpu: 9.5, wait: 0.5), efficiency: 0.95, allocatedCPUs: 1, thresholds: th, sleepsTimed: true).classification, .cpuBound)
        XCTAssertEqual(JobClassifier.classify(time(cpu: 5, wait: 5), efficiency: 0.5, allocatedCPUs: 1, thresholds: th, sleepsTimed: true).classification, .starved)
        XCTAssertEqual(JobClassifier.classify(time(cpu: 1, io: 8, sleep: 1), efficiency: 0.1, allocatedCPUs: 1, thresholds: th, sleepsTimed: true).classification, .ioBound)
        // An fsync loop that also waits for a CPU after each wakeup is I/O-bound first; the
        // wait is said too.
        let io = JobClassifier.classify(time(cpu: 0.4, wait: 5, io: 3), efficiency: 0.04, allocatedCPUs: 1, thresholds: th, sleepsTimed: true, allocatedNs: 9e9)
        XCTAssertEqual(io.classification, .ioBound)
        XCTAssertTrue(io.recommendations.contains { $0.contains("kept off the CPU") }, "\(io.recommendations)")
        XCTAssertEqual(JobClassifier.classify(time(cpu: 0.01, sleep: 10), efficiency: 0.001, allocatedCPUs: 1, thresholds: th, sleepsTimed: true).classification, .idleHeavy)
        XCTAssertEqual(JobClassifier.classify(JobTime(), efficiency: nil, allocatedCPUs: nil, thresholds: th, sleepsTimed: true).classification, .unknown)
        // A short burst of waiting behind a busy node is not starvation when the job mostly ran.
        XCTAssertEqual(JobClassifier.classify(time(cpu: 10, wait: 1), efficiency: 0.9, allocatedCPUs: 1, thresholds: th, sleepsTimed: true).classification, .cpuBound)
    }

    func testNetworkBoundFromBytesPerSecondAndItsThreshold() throws {
        let th = JobThresholds()
        // 50 MB/s over the network: network-bound before starved (its wait is said too) and cpu-bound.
        let v = JobClassifier.classify(time(cpu: 5, wait: 5), efficiency: 0.5, allocatedCPUs: 1, thresholds: th, sleepsTimed: true,
                                       networkBytesPerSecond: 50e6)
        XCTAssertEqual(v.classification, .networkBound)
        XCTAssertTrue(v.recommendations.contains { $0.contains("50.0 MB/s") }, "\(v.recommendations)")
        XCTAssertTrue(v.recommendations.contains { $0.contains("kept off the CPU") }, "\(v.recommendations)")
        // Below the threshold, or without --net: what the time split says.
        XCTAssertEqual(JobClassifier.classify(time(cpu: 9.5), efficiency: 0.95, allocatedCPUs: 1, thresholds: th, sleepsTimed: true,
                                              networkBytesPerSecond: 9e6).classification, .cpuBound)
        XCTAssertEqual(JobClassifier.classify(time(cpu: 9.5), efficiency: 0.95, allocatedCPUs: 1, thresholds: th, sleepsTimed: true).classification, .cpuBound)
        // An fsync loop stays I/O-bound whatever it sends.
        XCTAssertEqual(JobClassifier.classify(time(cpu: 1, io: 8, sleep: 1), efficiency: 0.1, allocatedCPUs: 1, thresholds: th, sleepsTimed: true,
                                              networkBytesPerSecond: 1e9).classification, .ioBound)
        let t = try JobThresholds.parse(yaml: "network_bound_min_mb_per_s: 2.5\n")
        XCTAssertEqual(t.networkBoundMinMBPerS, 2.5)
        XCTAssertEqual(JobClassifier.classify(time(cpu: 9.5), efficiency: 0.95, allocatedCPUs: 1, thresholds: t, sleepsTimed: true,
                                              networkBytesPerSecond: 3e6).classification, .networkBound)
        XCTAssertThrowsError(try JobThresholds.parse(yaml: "network_bound_min_mb_per_s: -1\n"))
        XCTAssertEqual(try JobThresholds.parse(yaml: JobThresholds.defaultYAML), JobThresholds(), "the documented file is the defaults")
    }

    func testTopSyscallsByName() {
        #if arch(x86_64)
        let top = SyscallCount.top([39: 5, 110: 100, 0: 7, 1: 7, 999: 1], 3)
        XCTAssertEqual(top, [SyscallCount(name: "getppid", count: 100), SyscallCount(name: "read", count: 7),
                             SyscallCount(name: "write", count: 7)])
        XCTAssertEqual(SyscallNames.name(999), "syscall_999")
        XCTAssertEqual(SyscallNames.name(454), "futex_wake")
        #endif
    }

    func testLowEfficiencyGetsAdviceAndScore() {
        let v = JobClassifier.classify(time(cpu: 10), efficiency: 0.25, allocatedCPUs: 4, thresholds: JobThresholds(), sleepsTimed: true)
        XCTAssertEqual(v.classification, .cpuBound)
        XCTAssertEqual(v.score, 25)
        XCTAssertTrue(v.recommendations.contains { $0.contains("1.00 CPUs of the 4 allocated") }, "\(v.recommendations)")
    }

    func testThresholdsFile() throws {
        let t = try JobThresholds.parse(yaml: "starved_min_wait_percent: 40\nlow_efficiency: 0.8\n")
        XCTAssertEqual(t.starvedMinWaitPercent, 40)
        XCTAssertEqual(t.lowEfficiency, 0.8)
        XCTAssertEqual(try JobThresholds.parse(yaml: JobThresholds.defaultYAML), JobThresholds())
        XCTAssertThrowsError(try JobThresholds.parse(yaml: "starved_wait: 3\n")) { e in
            XCTAssertTrue("\(e)".contains("unknown key 'starved_wait'"), "\(e)")
        }
        XCTAssertThrowsError(try JobThresholds.parse(yaml: "low_efficiency: 7\n")) { e in
            XCTAssertTrue("\(e)".contains("low_efficiency must be a number in 0...1"), "\(e)")
        }
        XCTAssertThrowsError(try JobThresholds.parse(yaml: "[1, 2"))
        XCTAssertThrowsError(try JobThresholds.parse(yaml: "- a\n- b\n"))
    }

    func testSqueueJSON() throws {
        let text = """
        {"meta":{},"errors":[],"jobs":[
         {"job_id":7,"name":"loop","user_name":"root","user_id":0,"job_state":"RUNNING","cpus":2,"start_time":1000,"end_time":0},
         {"job_id":8,"name":"io","user_name":"ann","user_id":1001,"job_state":["COMPLETED"],"cpus":{"set":true,"number":1},"start_time":1000,"end_time":1010}]}
        """
        let jobs = try SlurmQueue.parse(json: Data(text.utf8))
        XCTAssertEqual(jobs.count, 2)
        XCTAssertEqual(jobs[0].cpus, 2)
        XCTAssertEqual(jobs[0].elapsedSeconds(now: 1030), 30)
        XCTAssertEqual(jobs[1].state, "COMPLETED")
        XCTAssertEqual(jobs[1].cpus, 1)
        XCTAssertEqual(jobs[1].elapsedSeconds(now: 5000), 10)
        XCTAssertThrowsError(try SlurmQueue.parse(json: Data("{\"errors\":[{\"error\":\"no controller\"}],\"jobs\":[]}".utf8)))
    }

    func testRowsAndEfficiency() {
        var m = JobMeasure()
        m.time = time(cpu: 8, wait: 1, sleep: 1)
        m.liveThreads = 1
        let slurm = [SlurmJob(id: "3", name: "x", user: "u", uid: 5, state: "COMPLETED", cpus: 2, startTime: 100, endTime: 110)]
        let rows = JobRows.rows(measures: ["3": m], slurm: slurm, now: 500, thresholds: JobThresholds(), sleepsTimed: true)
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0].efficiency ?? 0, 0.4, accuracy: 1e-9)   // 8 s / (10 s x 2 CPUs)
        XCTAssertEqual(rows[0].cpuPercent, 80, accuracy: 1e-9)
        XCTAssertEqual(rows[0].split.onCPU, 40, accuracy: 1e-9)  // of the allocation: 20 CPU-seconds
        let users = JobRows.byUser(measures: ["3": m], slurm: slurm, now: 500, thresholds: JobThresholds(), sleepsTimed: true)
        XCTAssertEqual(users.map(\.user), ["u"])
    }

    func testSortOrders() {
        func measure(cpu: Double, wait: Double) -> JobMeasure {
            var m = JobMeasure()
            m.time = time(cpu: cpu, wait: wait, sleep: 0)
            m.liveThreads = 1
            return m
        }
        // Job 2 waited most, 10 used the most CPU, 3 has the lowest efficiency (1 s of 2 x 10 s).
        let slurm = [SlurmJob(id: "2", name: "b", user: "u", uid: 5, state: "RUNNING", cpus: 1, startTime: 100, endTime: 0),
                     SlurmJob(id: "10", name: "a", user: "u", uid: 5, state: "RUNNING", cpus: 1, startTime: 100, endTime: 0),
                     SlurmJob(id: "3", name: "c", user: "u", uid: 5, state: "RUNNING", cpus: 2, startTime: 100, endTime: 0)]
        let rows = JobRows.rows(measures: ["2": measure(cpu: 2, wait: 5), "10": measure(cpu: 9, wait: 1), "3": measure(cpu: 1, wait: 0)],
                                slurm: slurm, now: 110, thresholds: JobThresholds(), sleepsTimed: true)
        XCTAssertEqual(JobSort.wait.order(rows).map(\.jobID), ["2", "10", "3"])
        XCTAssertEqual(JobSort.cpu.order(rows).map(\.jobID), ["10", "2", "3"])
        XCTAssertEqual(JobSort.efficiency.order(rows).map(\.jobID), ["3", "2", "10"])
        XCTAssertEqual(JobSort.id.order(rows).map(\.jobID), ["2", "3", "10"])
        XCTAssertEqual(JobSort.name.order(rows).map(\.jobID), ["10", "2", "3"])
    }

    func testReportRendersEveryFormat() throws {
        var m = JobMeasure()
        m.time = time(cpu: 1, io: 3)
        m.exitedThreads = 2
        #if arch(x86_64)
        m.syscalls = [110: 40, 0: 3]  // getppid, read
        #endif
        m.net = NetBytes(sentBytes: 2_000_000, receivedBytes: 1_000_000, sends: 2, receives: 1)
        let slurm = [SlurmJob(id: "9", name: "<io>", user: "u", uid: 5, state: "COMPLETED", cpus: 1, startTime: 100, endTime: 104)]
        let rows = JobRows.rows(measures: ["9": m], slurm: slurm, now: 500, thresholds: JobThresholds(), sleepsTimed: true)
        let r = JobsReport(session: .init(host: "h", generatedAt: "t", pinDirectory: "/p", jobsOption: true, selection: "jobs 9"), jobs: rows)
        let json = try JSONSerialization.jsonObject(with: Data(try r.json().utf8)) as? [String: Any]
        XCTAssertEqual((json?["summary"] as? [String: Any])?["jobs"] as? Int, 1)
        XCTAssertTrue(try r.yaml().contains("classification: io-bound"))
        let html = r.html()
        XCTAssertTrue(html.contains("&lt;io&gt;"))
        XCTAssertFalse(html.contains("<script"))
        XCTAssertTrue(html.contains("<svg class=\"chart\""))
        XCTAssertTrue(html.contains("2.00 MB sent, 1.00 MB received"), html)
        #if arch(x86_64)
        XCTAssertTrue(html.contains("43 syscalls (--syscalls): getppid 40, read 3"), html)
        let job = (json?["jobs"] as? [[String: Any]])?.first
        XCTAssertEqual((job?["top_syscalls"] as? [[String: Any]])?.first?["name"] as? String, "getppid")
        XCTAssertEqual((job?["network"] as? [String: Any])?["sent_bytes"] as? Int, 2_000_000)
        #endif
        // CSV: one record per row, as many fields as the header.
        let csv = JobsOutput.csvRows(SampleContext(sample: 1, timestamp: Date(timeIntervalSince1970: 0)), rows)
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, rows.count, csv)
        XCTAssertEqual(CSV.parseRecord(lines[0]).count, JobsOutput.csvColumns.count)
    }
}
