import Foundation
import StarveHost
import StarveModel
import Yams

/// `starve-dump report`: a summary of jobs (session, jobs with metrics, classification and
/// recommendations, a summary) as JSON or YAML, or a self-contained HTML page with a chart per
/// job of where its time went (inline SVG and CSS: no scripts, no network).
public struct JobsReport: Sendable, Encodable {
    public struct Session: Sendable, Encodable {
        public var host: String
        public var generatedAt: String
        public var pinDirectory: String
        /// Whether the load has --jobs (sleeps timed, exited threads folded per job).
        public var jobsOption: Bool
        /// What was asked: `--job` ids or `--since`.
        public var selection: String
        /// What a row is: `job` (Slurm's), or without Slurm `workload`, `process`, `tree`, `user`.
        public var grouping: String
        public var tool: String = "starve-dump report"

        public init(host: String, generatedAt: String, pinDirectory: String, jobsOption: Bool, selection: String,
                    grouping: String = "job") {
            self.host = host
            self.generatedAt = generatedAt
            self.pinDirectory = pinDirectory
            self.jobsOption = jobsOption
            self.selection = selection
            self.grouping = grouping
        }

        enum CodingKeys: String, CodingKey {
            case host, generatedAt = "generated_at", pinDirectory = "pin_dir", jobsOption = "jobs_option", selection, grouping, tool
        }
    }

    public struct UserSummary: Sendable, Encodable {
        public var user: String
        public var jobs: Int
        public var cpuSeconds: Double
        public var allocatedCPUSeconds: Double
        public var efficiency: Double?
        enum CodingKeys: String, CodingKey {
            case user, jobs, cpuSeconds = "cpu_s", allocatedCPUSeconds = "allocated_cpu_s", efficiency
        }
    }

    public struct Summary: Sendable, Encodable {
        public var jobs: Int
        public var byClass: [String: Int]
        public var cpuSeconds: Double
        public var allocatedCPUSeconds: Double
        /// CPU time over allocated CPU time, all jobs together.
        public var efficiency: Double?
        public var runQueueWaitSeconds: Double
        /// The job with the lowest score, and the most starved job.
        public var lowestScoreJob: String?
        public var mostStarvedJob: String?
        public var users: [UserSummary]
        enum CodingKeys: String, CodingKey {
            case jobs, byClass = "by_class", cpuSeconds = "cpu_s", allocatedCPUSeconds = "allocated_cpu_s", efficiency
            case runQueueWaitSeconds = "run_queue_wait_s", lowestScoreJob = "lowest_score_job"
            case mostStarvedJob = "most_starved_job", users
        }
    }

    public var session: Session
    public var jobs: [JobRow]
    public var summary: Summary

    public init(session: Session, jobs: [JobRow]) {
        self.session = session
        self.jobs = jobs
        var byClass: [String: Int] = [:]
        for j in jobs { byClass[j.classification.rawValue, default: 0] += 1 }
        let cpu = jobs.reduce(0) { $0 + $1.cpuSeconds }
        let alloc = jobs.reduce(0) { $0 + $1.elapsedSeconds * Double($1.allocatedCPUs) }
        var users: [String: UserSummary] = [:]
        for j in jobs {
            var u = users[j.user] ?? UserSummary(user: j.user, jobs: 0, cpuSeconds: 0, allocatedCPUSeconds: 0, efficiency: nil)
            u.jobs += 1
            u.cpuSeconds += j.cpuSeconds
            u.allocatedCPUSeconds += j.elapsedSeconds * Double(j.allocatedCPUs)
            u.efficiency = u.allocatedCPUSeconds > 0 ? u.cpuSeconds / u.allocatedCPUSeconds : nil
            users[j.user] = u
        }
        summary = Summary(jobs: jobs.count, byClass: byClass, cpuSeconds: cpu, allocatedCPUSeconds: alloc,
                          efficiency: alloc > 0 ? cpu / alloc : nil,
                          runQueueWaitSeconds: jobs.reduce(0) { $0 + $1.runQueueWaitSeconds },
                          lowestScoreJob: jobs.min { $0.score < $1.score }?.jobID,
                          mostStarvedJob: jobs.filter { $0.runQueueWaitSeconds > 0 }.max { $0.split.runQueueWait < $1.split.runQueueWait }?.jobID,
                          users: users.keys.sorted().map { users[$0]! })
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try e.encode(self), as: UTF8.self) + "\n"
    }

    public func yaml() throws -> String { try YAMLEncoder().encode(self) }

    // MARK: HTML

    static func esc(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "&": o += "&amp;"
            case "\"": o += "&quot;"
            case "'": o += "&#39;"
            default: o.append(c)
            }
        }
        return o
    }

    static let segments: [(name: String, color: String, value: @Sendable (JobRow) -> Double)] = [
        ("on CPU", "#2e7d32", { $0.split.onCPU }),
        ("run-queue wait", "#c62828", { $0.split.runQueueWait }),
        ("blocked in I/O", "#1565c0", { $0.split.blockedIO }),
        ("idle", "#9e9e9e", { $0.split.idle }),
    ]

    /// A stacked bar of where a job's thread time went, with its legend: inline SVG.
    static func chart(_ r: JobRow) -> String {
        let width = 600.0, height = 28.0
        var x = 0.0
        var svg = "<svg class=\"chart\" role=\"img\" aria-label=\"where job \(esc(r.jobID))'s time went\" width=\"\(Int(width))\" height=\"\(Int(height + 22))\" viewBox=\"0 0 \(Int(width)) \(Int(height + 22))\" xmlns=\"http://www.w3.org/2000/svg\">"
        for s in segments {
            let w = width * max(0, s.value(r)) / 100
            if w > 0 {
                svg += "<rect x=\"\(formatFixed(x, decimals: 2))\" y=\"0\" width=\"\(formatFixed(w, decimals: 2))\" height=\"\(Int(height))\" fill=\"\(s.color)\"><title>\(esc(s.name)): \(formatFixed(s.value(r), decimals: 1)) %</title></rect>"
            }
            x += w
        }
        if x == 0 { svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#eeeeee\"/>" }
        var lx = 0.0
        for s in segments {
            svg += "<rect x=\"\(Int(lx))\" y=\"\(Int(height + 8))\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            svg += "<text x=\"\(Int(lx + 14))\" y=\"\(Int(height + 17))\" font-size=\"11\">\(esc(s.name)) \(formatFixed(s.value(r), decimals: 1)) %</text>"
            lx += 150
        }
        return svg + "</svg>"
    }

    public func html() -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>starve: job report</title>
        <style>
        body{font-family:sans-serif;margin:2em;color:#222}
        table{border-collapse:collapse;margin:1em 0}
        th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
        th{background:#f4f4f4}
        td.l,th.l{text-align:left}
        .job{margin:1.5em 0;padding:0.5em 1em;border:1px solid #ddd;border-radius:6px}
        .cls{font-weight:bold}
        </style></head><body>
        <h1>Job report</h1>
        """
        h += "<p>host <b>\(Self.esc(session.host))</b>, generated \(Self.esc(session.generatedAt)), \(Self.esc(session.selection)); "
        h += session.jobsOption ? "sleeps timed and exited threads folded per job (starve-load --jobs).</p>\n"
                                : "loaded without --jobs: no blocked-in-I/O/sleep split; exited processes counted only if seen alive.</p>\n"
        h += "<h2>Summary</h2>\n<table><tr><th>jobs</th><th>CPU s</th><th>allocated CPU s</th><th>efficiency</th><th>run-queue wait s</th><th class=\"l\">classes</th></tr>"
        h += "<tr><td>\(summary.jobs)</td><td>\(formatFixed(summary.cpuSeconds, decimals: 2))</td><td>\(formatFixed(summary.allocatedCPUSeconds, decimals: 2))</td>"
        h += "<td>\(summary.efficiency.map { formatFixed(100 * $0, decimals: 1) + " %" } ?? "-")</td><td>\(formatFixed(summary.runQueueWaitSeconds, decimals: 2))</td>"
        h += "<td class=\"l\">\(Self.esc(summary.byClass.keys.sorted().map { "\($0): \(summary.byClass[$0]!)" }.joined(separator: ", ")))</td></tr></table>\n"
        h += "<table><tr><th class=\"l\">user</th><th>jobs</th><th>CPU s</th><th>allocated CPU s</th><th>efficiency</th></tr>"
        for u in summary.users {
            h += "<tr><td class=\"l\">\(Self.esc(u.user))</td><td>\(u.jobs)</td><td>\(formatFixed(u.cpuSeconds, decimals: 2))</td><td>\(formatFixed(u.allocatedCPUSeconds, decimals: 2))</td><td>\(u.efficiency.map { formatFixed(100 * $0, decimals: 1) + " %" } ?? "-")</td></tr>"
        }
        h += "</table>\n<h2>Jobs</h2>\n"
        for r in jobs {
            h += "<div class=\"job\" id=\"job-\(Self.esc(r.jobID))\"><h3>\(Self.esc(session.grouping)) \(Self.esc(r.jobID)) \(Self.esc(r.name)) (\(Self.esc(r.user)), \(Self.esc(r.state)))</h3>\n"
            h += "<p><span class=\"cls\">\(Self.esc(r.classification.rawValue))</span>, score \(r.score); \(r.allocatedCPUs) CPUs for \(formatFixed(r.elapsedSeconds, decimals: 1)) s; "
            h += "CPU \(formatFixed(r.cpuSeconds, decimals: 2)) s (\(formatFixed(r.cpuPercent, decimals: 1)) % of one CPU), efficiency \(r.efficiency.map { formatFixed(100 * $0, decimals: 1) + " %" } ?? "-"); "
            h += "run-queue wait \(formatFixed(r.runQueueWaitSeconds, decimals: 2)) s, blocked in I/O \(formatFixed(r.blockedIOSeconds, decimals: 2)) s; "
            h += "\(r.voluntarySwitches &+ r.involuntarySwitches) context switches; \(r.io.syscr) read and \(r.io.syscw) write syscalls, \(formatFixed(Double(r.io.writeBytes) / 1e6, decimals: 2)) MB written to storage.</p>\n"
            if let n = r.syscalls {
                let top = (r.topSyscalls ?? []).map { "\(Self.esc($0.name)) \($0.count)" }.joined(separator: ", ")
                h += "<p>\(n) syscalls (--syscalls)\(top.isEmpty ? "" : ": " + top).</p>\n"
            }
            if let b = r.network {
                h += "<p>Network (--net): \(formatFixed(Double(b.sentBytes) / 1e6, decimals: 2)) MB sent, \(formatFixed(Double(b.receivedBytes) / 1e6, decimals: 2)) MB received.</p>\n"
            }
            h += Self.chart(r) + "\n<ul>"
            for rec in r.recommendations { h += "<li>\(Self.esc(rec))</li>" }
            h += "</ul></div>\n"
        }
        h += "</body></html>\n"
        return h
    }
}
