import Foundation
import StarveBPF
import StarveHost
import StarveModel
import StarveMonitor

/// How `starve-dump hist` groups run-queue waits.
public enum HistogramGrouping: String, Sendable, CaseIterable {
    /// Every wait of the host, exited threads included.
    case system
    /// Per workload (pod, container, service, user, Slurm job, cgroup).
    case workload
    /// Per process (tgid and start tag), exited threads included.
    case process
    /// Per live thread.
    case thread
}

/// The unit a histogram's bucket bounds are printed in.
public enum HistogramUnit: String, Sendable, CaseIterable {
    case us, ms

    var divisor: Double { self == .us ? 1e3 : 1e6 }
    /// runqlat's column title.
    var title: String { self == .us ? "usecs" : "msecs" }
}

/// One histogram of `starve-dump hist`: the waits of one group, as the kernel counted them
/// (log2 slots of nanoseconds: slot i holds waits of 2^i up to 2^(i+1) ns).
public struct WaitHistogramRow: Sendable {
    public var grouping: HistogramGrouping
    /// Thread id (thread rows), process id (process and thread rows), name.
    public var tid: UInt32?
    public var pid: UInt32?
    public var comm: String?
    public var workload: WorkloadIdentity?
    public var histogram: LogHistogram
    /// Waits counted (by cause, summed) and their total, ns.
    public var waitCount: UInt64
    public var waitNs: UInt64

    public init(grouping: HistogramGrouping, tid: UInt32? = nil, pid: UInt32? = nil, comm: String? = nil, workload: WorkloadIdentity? = nil,
                histogram: LogHistogram, waitCount: UInt64, waitNs: UInt64) {
        self.grouping = grouping
        self.tid = tid
        self.pid = pid
        self.comm = comm
        self.workload = workload
        self.histogram = histogram
        self.waitCount = waitCount
        self.waitNs = waitNs
    }

    /// The title runqlat prints above a per-group histogram.
    public var title: String {
        switch grouping {
        case .system: return "all run-queue waits"
        case .workload: return "workload = \(workload?.kind.rawValue ?? "unknown") \(workload?.name ?? "-")"
        case .process: return "pid = \(pid ?? 0) \(comm ?? "")" + (workload.map { "  [\($0.name)]" } ?? "")
        case .thread: return "tid = \(tid ?? 0) \(comm ?? "") (pid \(pid ?? 0))" + (workload.map { "  [\($0.name)]" } ?? "")
        }
    }
}

/// Groups the waits of a ``Snapshot`` (one interval) or of the collection's totals since load.
public enum WaitHistograms {
    /// What the sampler must compute for `grouping` over intervals.
    public static func samplerViews(for grouping: HistogramGrouping) -> SamplerViews {
        switch grouping {
        case .system, .process: return [.processes]
        case .workload: return [.workloads]
        case .thread: return [.threadWorkloads]
        }
    }

    /// The interval's histograms, most wait first; groups without waits are left out unless
    /// `keepEmpty` (for ids a user named: one histogram per interval, waits or not).
    public static func rows(_ snapshot: Snapshot, by grouping: HistogramGrouping, keepEmpty: Bool = false) -> [WaitHistogramRow] {
        var rows: [WaitHistogramRow]
        switch grouping {
        case .system:
            // The sampler's own system-wide histogram (live threads and exited threads' work).
            var count: UInt64 = 0, ns: UInt64 = 0
            for t in snapshot.threads { count &+= t.waitCount; ns &+= t.waitNs }
            for w in snapshot.exited.values { count &+= w.waitCount; ns &+= w.waitNs }
            rows = [WaitHistogramRow(grouping: .system, histogram: snapshot.systemWaitHistogram, waitCount: count, waitNs: ns)]
        case .workload:
            rows = snapshot.workloads.map {
                WaitHistogramRow(grouping: .workload, workload: $0.identity, histogram: $0.figures.waitHistogram,
                                 waitCount: $0.figures.waitCount, waitNs: $0.figures.waitNs)
            }
        case .process:
            rows = snapshot.processes.map {
                WaitHistogramRow(grouping: .process, pid: $0.tgid, comm: $0.comm, workload: $0.workload, histogram: $0.waitHistogram,
                                 waitCount: $0.waitCount, waitNs: $0.waitNs)
            }
        case .thread:
            rows = snapshot.threads.map {
                WaitHistogramRow(grouping: .thread, tid: $0.task.pid, pid: $0.task.tgid, comm: $0.task.comm, workload: $0.workload,
                                 histogram: $0.waitHistogram, waitCount: $0.waitCount, waitNs: $0.waitNs)
            }
        }
        return ordered(rows, keepEmpty: keepEmpty || grouping == .system)
    }

    /// The totals since load: every live thread's counters (the sampler's baseline read) and
    /// the work of exited threads (system, process and workload groups).
    public static func rowsSinceLoad(_ sampler: Sampler, by grouping: HistogramGrouping, keepEmpty: Bool = false) throws -> [WaitHistogramRow] {
        let threads = sampler.baseline
        let exited = grouping == .thread ? [:] : try sampler.collection.readExited()
        var rows: [WaitHistogramRow] = []
        switch grouping {
        case .thread:
            rows = threads.map { t in
                WaitHistogramRow(grouping: .thread, tid: t.pid, pid: t.tgid, comm: t.comm,
                                 workload: sampler.resolver.identity(cpuCgroupID: t.cpuCgroupID, defaultCgroupID: t.cgroupID),
                                 histogram: t.waitHistogram, waitCount: t.waitCount, waitNs: t.waitNs)
            }
        case .system, .process, .workload:
            struct Key: Hashable { var a: UInt64; var b: UInt64; var name: String }
            var groups: [Key: WaitHistogramRow] = [:]
            func key(tgid: UInt32, start: UInt32, cgroup: UInt64, dfl: UInt64?) -> (Key, WorkloadIdentity?) {
                switch grouping {
                case .system: return (Key(a: 0, b: 0, name: ""), nil)
                case .process: return (Key(a: UInt64(tgid), b: UInt64(start), name: ""), nil)
                default:
                    let w = sampler.resolver.identity(cpuCgroupID: cgroup, defaultCgroupID: dfl)
                    return (Key(a: 0, b: 0, name: w.kind.rawValue + "\u{0}" + w.name), w)
                }
            }
            func add(_ k: Key, _ w: WorkloadIdentity?, pid: UInt32?, comm: String?, histogram: [UInt64], count: UInt64, ns: UInt64) {
                var r = groups[k] ?? WaitHistogramRow(grouping: grouping, pid: grouping == .process ? pid : nil, comm: nil, workload: w,
                                                      histogram: LogHistogram(), waitCount: 0, waitNs: 0)
                if r.comm == nil { r.comm = comm }
                for (i, c) in histogram.enumerated() where i < r.histogram.counts.count { r.histogram.counts[i] &+= c }
                r.waitCount &+= count
                r.waitNs &+= ns
                groups[k] = r
            }
            for t in threads {
                let (k, w) = key(tgid: t.tgid, start: t.processStart, cgroup: t.cpuCgroupID, dfl: t.cgroupID)
                // The leader names its process.
                if grouping == .process && t.pid == t.tgid { groups[k]?.comm = t.comm }
                add(k, w, pid: t.tgid, comm: t.comm, histogram: t.waitHistogram.counts, count: t.waitCount, ns: t.waitNs)
            }
            for (p, work) in exited where !(p.tgid == 0 && p.cgroupID == 0) {
                let (k, w) = key(tgid: p.tgid, start: p.start, cgroup: p.cgroupID, dfl: nil)
                add(k, w, pid: p.tgid, comm: "exited", histogram: work.waitHistogram, count: work.waitCount, ns: work.waitNs)
            }
            rows = Array(groups.values)
            if grouping == .system && rows.isEmpty { rows = [WaitHistogramRow(grouping: .system, histogram: LogHistogram(), waitCount: 0, waitNs: 0)] }
        }
        return ordered(rows, keepEmpty: keepEmpty || grouping == .system)
    }

    private static func ordered(_ rows: [WaitHistogramRow], keepEmpty: Bool) -> [WaitHistogramRow] {
        rows.filter { keepEmpty || $0.waitCount > 0 }.sorted {
            $0.waitNs != $1.waitNs ? $0.waitNs > $1.waitNs : ($0.tid ?? $0.pid ?? 0, $0.title) < ($1.tid ?? $1.pid ?? 0, $1.title)
        }
    }
}

/// runqlat's picture of a log2 histogram: one line per bucket, `low -> high : count |****|`.
public enum HistogramChart {
    /// Width of the bars, in characters (runqlat's 40).
    public static let barWidth = 40

    /// The lines of `row`'s histogram, from its first to its last non-empty bucket, with the
    /// bounds in `unit` (the kernel's buckets are powers of two of nanoseconds).
    public static func render(_ row: WaitHistogramRow, unit: HistogramUnit) -> String {
        var out = row.title + "  (waits \(row.waitCount), total \(formatFixed(Double(row.waitNs) / 1e6, decimals: 1)) ms)\n"
        let counts = row.histogram.counts
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else {
            return out + "  (no waits)\n"
        }
        // Buckets below one unit are one line, "0 -> the first bound of at least 1", as
        // runqlat's first bucket holds everything under one unit.
        let unitNs = UInt64(unit.divisor)
        let lumped = (0..<LogHistogram.slotCount).first { LogHistogram.lowerBound(ofSlot: $0 + 1) >= unitNs } ?? 0
        var lines: [(low: String, high: String, count: UInt64)] = []
        if first <= lumped {
            lines.append(("0", bound(LogHistogram.upperBound(ofSlot: lumped), unit), counts[0...lumped].reduce(0, &+)))
        }
        if last > lumped {
            for i in max(first, lumped + 1)...last {
                lines.append((bound(LogHistogram.lowerBound(ofSlot: i), unit),
                              i == LogHistogram.slotCount - 1 ? "inf" : bound(LogHistogram.upperBound(ofSlot: i), unit), counts[i]))
            }
        }
        let peak = max(1, lines.map(\.count).max() ?? 1)
        let lowWidth = max(8, lines.map(\.low.count).max() ?? 0), highWidth = max(8, lines.map(\.high.count).max() ?? 0)
        let countWidth = max(8, String(peak).count)
        out += pad(unit.title, lowWidth + 5, left: false) + String(repeating: " ", count: highWidth + 4) + " : " + padRight("count", countWidth) + " distribution\n"
        for l in lines {
            let stars = Int((Double(l.count) * Double(barWidth) / Double(peak)).rounded(.down))
            let bar = String(repeating: "*", count: stars) + String(repeating: " ", count: barWidth - stars)
            out += "     " + pad(l.low, lowWidth, left: false) + " -> " + padRight(l.high, highWidth)
                + " : " + padRight(String(l.count), countWidth) + " |" + bar + "|\n"
        }
        return out
    }

    /// One JSON object per histogram: the group, the figures and every non-empty bucket with
    /// its bounds in ns and in `unit`.
    public static func json(_ row: WaitHistogramRow, unit: HistogramUnit, context: SampleContext?, intervalNs: UInt64?) -> String {
        var pairs: [(String, FieldValue)] = []
        if let context {
            pairs.append(("timestamp", .string(isoTimestamp(context.timestamp))))
            pairs.append(("sample", .int(Int64(context.sample))))
        } else {
            pairs.append(("sample", .string("since-load")))
        }
        pairs.append(("interval_ns", intervalNs.map { .uint($0) } ?? .none))
        pairs.append(("by", .string(row.grouping.rawValue)))
        pairs.append(("tid", row.tid.map { .uint(UInt64($0)) } ?? .none))
        pairs.append(("pid", row.pid.map { .uint(UInt64($0)) } ?? .none))
        pairs.append(("comm", row.comm.map { .string($0) } ?? .none))
        pairs.append(("workload_kind", row.workload.map { .string($0.kind.rawValue) } ?? .none))
        pairs.append(("workload", row.workload.map { .string($0.name) } ?? .none))
        pairs.append(("unit", .string(unit.rawValue)))
        pairs.append(("wait_count", .uint(row.waitCount)))
        pairs.append(("wait_ns", .uint(row.waitNs)))
        // JSONLines.object ends with "}\n": the buckets go before it.
        let object = String(JSONLines.object(pairs).dropLast(2))
        let buckets = row.histogram.counts.enumerated().filter { $0.element > 0 }.map { i, c in
            let low = LogHistogram.lowerBound(ofSlot: i), high = LogHistogram.upperBound(ofSlot: i)
            return "{\"slot\":\(i),\"low_ns\":\(low),\"high_ns\":\(i == LogHistogram.slotCount - 1 ? "null" : String(high)),"
                + "\"low\":\(Double(low) / unit.divisor),\"high\":\(i == LogHistogram.slotCount - 1 ? "null" : String(Double(high) / unit.divisor)),\"count\":\(c)}"
        }
        return object + ",\"buckets\":[" + buckets.joined(separator: ",") + "]}\n"
    }

    /// A bound in `unit`: whole numbers as such, else up to three decimals.
    static func bound(_ ns: UInt64, _ unit: HistogramUnit) -> String {
        let v = Double(ns) / unit.divisor
        if v == v.rounded() { return String(Int64(v)) }
        if v >= 100 { return formatFixed(v, decimals: 0) }
        if v >= 10 { return formatFixed(v, decimals: 1) }
        if v >= 1 { return formatFixed(v, decimals: 3) }
        return formatFixed(v, decimals: 6)
    }

    private static func pad(_ s: String, _ n: Int, left: Bool) -> String {
        let p = String(repeating: " ", count: max(0, n - s.count))
        return left ? s + p : p + s
    }
    private static func padRight(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
}
