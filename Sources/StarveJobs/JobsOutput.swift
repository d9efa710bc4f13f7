import Foundation
import StarveHost
import StarveModel
import Yams

/// `starve-dump jobs` output formats.
public enum JobsFormat: String, Sendable, CaseIterable {
    case table, csv, json, yaml
}

/// Renders job rows: a table, CSV, JSON (one object per sample), YAML (one document per sample).
public enum JobsOutput {
    public static let csvColumns = [
        "sample", "time", "job_id", "name", "user", "state", "allocated_cpus", "elapsed_s", "threads_live", "threads_exited",
        "processes", "cpu_s", "cpu_percent", "efficiency", "on_cpu_percent", "run_queue_wait_percent", "blocked_io_percent",
        "idle_percent", "run_queue_wait_s", "wait_after_wakeup_s", "wait_after_preemption_s", "wait_throttled_s",
        "blocked_io_s", "sleep_s", "voluntary_switches", "involuntary_switches", "read_syscalls", "write_syscalls",
        "rchar", "wchar", "read_bytes", "write_bytes", "classification", "score", "complete", "recommendations",
    ]

    static func f(_ x: Double, _ d: Int = 1) -> String { formatFixed(x, decimals: d) }

    public static func csvRows(_ context: SampleContext, _ rows: [JobRow]) -> String {
        rows.map { r in
            CSV.record([String(context.sample), isoTimestamp(context.timestamp), r.jobID, r.name, r.user, r.state, String(r.allocatedCPUs),
                        f(r.elapsedSeconds, 3), String(r.liveThreads), String(r.exitedThreads), String(r.processes),
                        f(r.cpuSeconds, 3), f(r.cpuPercent, 2), r.efficiency.map { f($0, 4) } ?? "", f(r.split.onCPU, 2),
                        f(r.split.runQueueWait, 2), f(r.split.blockedIO, 2), f(r.split.idle, 2), f(r.runQueueWaitSeconds, 3),
                        f(r.waitAfterWakeupSeconds, 3), f(r.waitAfterPreemptionSeconds, 3), f(r.waitThrottledSeconds, 3),
                        f(r.blockedIOSeconds, 3), f(r.sleepSeconds, 3), String(r.voluntarySwitches), String(r.involuntarySwitches),
                        String(r.io.syscr), String(r.io.syscw), String(r.io.rchar), String(r.io.wchar), String(r.io.readBytes),
                        String(r.io.writeBytes), r.classification.rawValue, String(r.score), String(r.complete),
                        r.recommendations.joined(separator: " | ")])
        }.joined()
    }

    struct SampleDocument: Encodable {
        var sample: Int
        var time: String
        var by: String
        var jobs: [JobRow]
    }

    public static func json(_ context: SampleContext, by: String, _ rows: [JobRow]) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(SampleDocument(sample: context.sample, time: isoTimestamp(context.timestamp), by: by, jobs: rows)), as: UTF8.self) + "\n"
    }

    public static func yaml(_ context: SampleContext, by: String, _ rows: [JobRow]) throws -> String {
        "---\n" + (try YAMLEncoder().encode(SampleDocument(sample: context.sample, time: isoTimestamp(context.timestamp), by: by, jobs: rows)))
    }

    public static func table(_ context: SampleContext, by: String, _ rows: [JobRow]) -> String {
        let byUser = by == "user"
        let headers = [byUser ? "USER" : "JOBID", byUser ? "JOBS" : "NAME", byUser ? "RUNNING_CPUS" : "USER", byUser ? "-" : "STATE",
                       byUser ? "" : "CPUS", "ELAPSED_S", "CPU_S", "CPU%", "EFF%", "ONCPU%", "RQWAIT%", "IOWAIT%", "IDLE%",
                       "SWITCHES", "WRITE_MB", "CLASS", "SCORE"].enumerated().filter { !(byUser && ($0.offset == 3 || $0.offset == 4)) }.map(\.element)
        let body: [[String]] = rows.map { r in
            var cells = byUser ? [r.user, r.name, String(r.allocatedCPUs)] : [r.jobID, r.name, r.user, r.state, String(r.allocatedCPUs)]
            cells += [f(r.elapsedSeconds), f(r.cpuSeconds, 2), f(r.cpuPercent), r.efficiency.map { f(100 * $0) } ?? "-",
                      f(r.split.onCPU), f(r.split.runQueueWait), f(r.split.blockedIO), f(r.split.idle),
                      String(r.voluntarySwitches &+ r.involuntarySwitches), f(Double(r.io.writeBytes) / 1e6, 2),
                      r.classification.rawValue, String(r.score)]
            return cells
        }
        var out = "sample \(context.sample) at \(isoTimestamp(context.timestamp)): \(rows.count) \(byUser ? "users" : "jobs")\n"
        out += renderTable(headers: headers, rows: body, leftAligned: byUser ? [0, 1, 11] : [1, 2, 3, 14])
        for r in rows where r.classification != .unknown {
            for rec in r.recommendations where !rec.hasPrefix("none") { out += "  \(byUser ? r.user : "job " + r.jobID): \(rec)\n" }
        }
        return out
    }
}
