import Foundation
import StarveHost
import StarveModel
import StarveMonitor

/// The tables `starve-dump top` switches between.
public enum TopView: String, Sendable, CaseIterable {
    case workloads, processes, threads

    /// The view after this one (Tab).
    public var next: TopView { TopView.allCases[(TopView.allCases.firstIndex(of: self)! + 1) % TopView.allCases.count] }
}

extension WorkloadSort {
    /// The order after this one (`s`).
    public var next: WorkloadSort { WorkloadSort.allCases[(WorkloadSort.allCases.firstIndex(of: self)! + 1) % WorkloadSort.allCases.count] }

    /// What the order puts first, for headers.
    public var meaning: String {
        switch self {
        case .wait: return "most run-queue wait first"
        case .cpu: return "most CPU first"
        case .p99: return "worst p99 wait first"
        case .name: return "by name"
        }
    }
}

/// What the live view shows: the view, its order, and the long waits seen lately.
public struct TopState: Sendable {
    public var view: TopView
    public var sort: WorkloadSort
    /// Lines of recent long waits, newest last.
    public var recent: [String] = []
    /// How many recent lines are kept.
    public var recentKept = 50

    public init(view: TopView = .workloads, sort: WorkloadSort = .wait) {
        self.view = view
        self.sort = sort
    }

    /// Applies one key; returns false for keys it does not know. `q` is the caller's.
    public mutating func press(_ key: UInt8) -> Bool {
        switch Character(UnicodeScalar(key)) {
        case "w": view = .workloads
        case "p": view = .processes
        case "t": view = .threads
        case "\t", "v": view = view.next
        case "s": sort = sort.next
        case "W": sort = .wait
        case "C": sort = .cpu
        case "L": sort = .p99
        case "N": sort = .name
        default: return false
        }
        return true
    }

    /// Notes the long waits of `snapshot` (threads with waits in buckets at or above
    /// `thresholdNs`: waits of at least that long), newest last.
    public mutating func noteLongWaits(_ snapshot: Snapshot, thresholdNs: UInt64) {
        let first = (0..<LogHistogram.slotCount).first { LogHistogram.lowerBound(ofSlot: $0) >= thresholdNs } ?? LogHistogram.slotCount
        let time = TopScreen.clock(snapshot.context.timestamp)
        var found: [(count: UInt64, line: String, wait: UInt64)] = []
        for t in snapshot.threads where t.waitCount > 0 {
            let counts = t.waitHistogram.counts
            guard first < counts.count else { continue }
            let n = counts[first...].reduce(0, &+)
            guard n > 0, let top = counts.lastIndex(where: { $0 > 0 }) else { continue }
            let at = TopScreen.ms(LogHistogram.lowerBound(ofSlot: top))
            found.append((n, "\(time)  long wait  \(t.task.pid) \(t.task.comm) [\(t.workload?.name ?? "-")]: \(n) wait\(n == 1 ? "" : "s") ≥ \(TopScreen.ms(thresholdNs)) ms, longest ≥ \(at) ms; waited \(TopScreen.ms(t.waitNs)) ms in the interval", t.waitNs))
        }
        for f in found.sorted(by: { $0.wait < $1.wait }) { recent.append(f.line) }
        if recent.count > recentKept { recent.removeFirst(recent.count - recentKept) }
    }
}

/// Renders one frame of `starve-dump top` from a snapshot: a header with the host's run-queue
/// wait percentiles, what the collector counted and lost, the table of the view, and recent
/// long waits. Pure: the same snapshot and state give the same lines.
public enum TopScreen {
    /// Every duration in the view is in ms (named in the headers).
    static func ms(_ ns: UInt64) -> String { formatFixed(Double(ns) / 1e6, decimals: 1) }
    static func ms(_ ns: UInt64?) -> String { ns.map { ms($0) } ?? "-" }

    static func clock(_ date: Date) -> String {
        let s = isoTimestamp(date)  // 2026-11-22T02:27:54.508Z
        guard let t = s.firstIndex(of: "T") else { return s }
        return String(s[s.index(after: t)...].prefix(8))
    }

    /// The frame's lines; `rows` limits the table to fit (nil: `top` rows, for plain output).
    public static func lines(_ snapshot: Snapshot, state: TopState, rows: Int?, top: Int = 20, interactive: Bool) -> [String] {
        var out: [String] = []
        // The sampler's system-wide histogram: every live thread's waits and exited threads'.
        let host = snapshot.systemWaitHistogram
        let hostWaits = host.total
        var hostWaitNs: UInt64 = 0, hostMax: UInt64 = 0, runtime: UInt64 = 0
        for p in snapshot.processes {
            hostWaitNs &+= p.waitNs
            hostMax = max(hostMax, p.waitMaxNs ?? 0)
            runtime &+= p.runtimeNs
        }
        let seconds = Double(snapshot.intervalNs) / 1e9
        let pct = { (q: Double) in ms(host.percentile(q, ceiling: hostMax == 0 ? nil : hostMax)) }
        out.append("starve top  \(clock(snapshot.context.timestamp))  sample \(snapshot.context.sample), interval \(formatFixed(seconds, decimals: 2)) s"
                   + "  view: \(state.view.rawValue)  sort: \(state.sort.rawValue) (\(state.sort.meaning))")
        out.append("run-queue wait, all tasks (ms): p50 \(pct(0.5))  p90 \(pct(0.9))  p99 \(pct(0.99))  max \(hostWaits == 0 ? "-" : ms(hostMax))"
                   + "  waits \(hostWaits)  total \(ms(hostWaitNs))  CPU \(formatFixed(snapshot.intervalNs == 0 ? 0 : Double(runtime) / Double(snapshot.intervalNs) * 100, decimals: 1)) %")
        let d = snapshot.statsDelta
        let perSecond = { (n: UInt64) in seconds > 0 ? formatFixed(Double(n) / seconds, decimals: 0) : "-" }
        out.append("collector: \(snapshot.tracked) threads, \(perSecond(d.switches)) switches/s, \(perSecond(d.wakeups)) wakeups/s"
                   + "  events: starvation \(d.starvations), inversion \(d.inversions), pi-boost \(d.piBoosts), migration-storm \(d.migrationStorms)"
                   + "  drops: " + (d.lossNote ?? "none"))
        out.append("")

        let tableRows: [[String]], headers: [String], left: Set<Int>
        switch state.view {
        case .workloads:
            headers = ["KIND", "WORKLOAD", "PROCS", "CPU%", "WAITS", "WAIT_MS", "P50_MS", "P99_MS", "MAX_MS", "VERDICT"]
            left = [0, 1, 9]
            tableRows = state.sort.order(snapshot.workloads.filter { $0.figures.runtimeNs > 0 || $0.figures.waitCount > 0 }).map { w in
                let f = w.figures
                return [w.identity.kind.rawValue, w.identity.name, String(w.processes), formatFixed(f.cpuPercent, decimals: 1),
                        String(f.waitCount), ms(f.waitNs), ms(f.waitPercentileNs(0.5)), ms(f.waitPercentileNs(0.99)), ms(f.waitMaxNs),
                        f.verdict.rawValue]
            }
        case .processes:
            headers = ["PID", "COMM", "THR", "WORKLOAD", "CPU%", "WAITS", "WAIT_MS", "P50_MS", "P99_MS", "MAX_MS", "WORST_TID"]
            left = [1, 3]
            tableRows = state.sort.order(snapshot.processes.filter { $0.runtimeNs > 0 || $0.waitCount > 0 }).map { p in
                [String(p.tgid), p.comm, String(p.threads), p.workload?.name ?? "-", formatFixed(p.cpuPercent, decimals: 1),
                 String(p.waitCount), ms(p.waitNs), ms(p.waitPercentileNs(0.5)), ms(p.waitPercentileNs(0.99)), ms(p.waitMaxNs),
                 p.worstThread.map { String($0.pid) } ?? "-"]
            }
        case .threads:
            headers = ["TID", "PID", "COMM", "NICE", "WORKLOAD", "CPU%", "WAITS", "WAIT_MS", "P50_MS", "P99_MS", "MIGR"]
            left = [2, 4]
            tableRows = state.sort.order(snapshot.threads.filter { $0.runtimeDeltaNs > 0 || $0.waitCount > 0 }).map { t in
                [String(t.task.pid), String(t.task.tgid), t.task.comm, String(t.task.nice), t.workload?.name ?? "-",
                 formatFixed(t.cpuPercent, decimals: 1), String(t.waitCount), ms(t.waitNs), ms(t.waitP50Ns), ms(t.waitP99Ns),
                 String(t.migrations)]
            }
        }
        // Interactive: the table takes what the header, recent waits and key line leave.
        let recentShown = min(state.recent.count, 5)
        let room = rows.map { max(1, $0 - out.count - 1 - (recentShown > 0 ? recentShown + 2 : 0) - (interactive ? 2 : 0)) } ?? top
        let shown = Array(tableRows.prefix(room == 0 ? tableRows.count : room))
        out += renderTable(headers: headers, rows: shown, leftAligned: left).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if out.last == "" { out.removeLast() }
        if tableRows.count > shown.count { out.append("  … \(tableRows.count - shown.count) more") }
        if recentShown > 0 {
            out.append("")
            out.append("recent long waits:")
            out += state.recent.suffix(recentShown)
        }
        if interactive {
            if let rows { while out.count < rows - 1 { out.append("") } }
            out.append("q quit  w/p/t workloads/processes/threads  Tab next view  s next sort  W wait  C cpu  L p99  N name")
        }
        return out
    }
}
