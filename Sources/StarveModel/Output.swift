import Foundation

/// RFC 4180 CSV: fields that hold a comma, a quote, CR or LF are quoted, quotes doubled.
public enum CSV {
    /// One field, quoted when it has to be.
    public static func field(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// One record, CRLF-free (we end lines with LF, as most tools expect on Linux).
    public static func record(_ fields: [String]) -> String {
        fields.map(field).joined(separator: ",") + "\n"
    }

    /// Splits one record into fields (RFC 4180 quoting), for header checks and tests.
    public static func parseRecord(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var i = line.startIndex
        while i < line.endIndex {
            let ch = line[i]
            if quoted {
                if ch == "\"" {
                    let n = line.index(after: i)
                    if n < line.endIndex && line[n] == "\"" { current.append("\""); i = n } else { quoted = false }
                } else { current.append(ch) }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                fields.append(current); current = ""
            } else if ch != "\n" && ch != "\r" {
                current.append(ch)
            }
            i = line.index(after: i)
        }
        fields.append(current)
        return fields
    }

    static func text(_ v: FieldValue) -> String {
        switch v {
        case .int(let x): return String(x)
        case .uint(let x): return String(x)
        case .double(let x, let d): return formatFixed(x, decimals: d)
        case .string(let s): return s
        case .none: return ""
        }
    }
}

/// Fixed-point formatting without Foundation's locale machinery (fast, and always a dot).
public func formatFixed(_ x: Double, decimals: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    // Beyond what Int64 holds once scaled (1e16 and more): the shortest exact form, still a number.
    guard abs(x) * scale < 9e18 else { return String(x.rounded()) }
    if decimals == 0 { return String(Int64(x.rounded())) }
    let scaled = Int64((abs(x) * scale).rounded())
    let whole = scaled / Int64(scale), frac = scaled % Int64(scale)
    var f = String(frac)
    if f.count < decimals { f = String(repeating: "0", count: decimals - f.count) + f }
    return (x < 0 && scaled != 0 ? "-" : "") + String(whole) + "." + f
}

/// JSON lines: one object per row, keys in column order.
public enum JSONLines {
    /// A JSON string literal.
    public static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// One value. JSON has no NaN or infinity: a non-finite figure (a ratio over an empty
    /// interval, say) is `null`, like a missing one, so every line stays valid JSON.
    public static func value(_ v: FieldValue) -> String {
        switch v {
        case .string(let s): return string(s)
        case .none: return "null"
        case .double(let x, _) where !x.isFinite: return "null"
        default: return CSV.text(v)
        }
    }

    /// One object from (key, value) pairs.
    public static func object(_ pairs: [(String, FieldValue)]) -> String {
        "{" + pairs.map { string($0.0) + ":" + value($0.1) }.joined(separator: ",") + "}\n"
    }
}

/// Renders samples in the three stdout formats and as CSV rows for `--output`.
///
/// With `shareColumns` (starve-dump --share) every row also carries the share analysis of its
/// sample, and the table gains TICKETS, SHARE%, MEASURED%, ERR_PP (WIN% with lottery draws)
/// and DECIDED_BY; without them the output is exactly the default one.
public struct SampleFormatter: Sendable {
    public let columns: [SampleColumn]
    public let shareColumns: [ShareColumn]

    public init(columns: [SampleColumn] = sampleColumns, shareColumns: [ShareColumn] = []) {
        self.columns = columns
        self.shareColumns = shareColumns
    }

    /// Column names in output order.
    public var columnNames: [String] { columns.map(\.name) + shareColumns.map(\.name) }

    /// The CSV header line.
    public var csvHeader: String { CSV.record(columnNames) }

    private func values(_ context: SampleContext, _ r: TaskInterval, _ shares: ShareSample?) -> [FieldValue] {
        var out = columns.map { $0.value(context, r) }
        if !shareColumns.isEmpty {
            let sample = shares ?? .empty
            let task = sample.tasks[r.task.pid]
            out += shareColumns.map { $0.value(task, sample) }
        }
        return out
    }

    /// The CSV rows of one sample, as one string (written with one call: no partial sample).
    public func csvRows(_ context: SampleContext, _ rows: [TaskInterval], shares: ShareSample? = nil) -> String {
        var out = ""
        for r in rows { out += CSV.record(values(context, r, shares).map(CSV.text)) }
        return out
    }

    /// The JSON lines of one sample.
    public func jsonLines(_ context: SampleContext, _ rows: [TaskInterval], shares: ShareSample? = nil) -> String {
        var out = ""
        let names = columnNames
        for r in rows { out += JSONLines.object(Array(zip(names, values(context, r, shares)))) }
        return out
    }

    /// The human table of one sample, with a title line.
    public func table(_ context: SampleContext, _ rows: [TaskInterval], tracked: Int, shares: ShareSample? = nil) -> String {
        var headers = ["TID", "PID", "COMM", "NICE", "RUNTIME_MS", "DELTA_MS", "ROLL_MS", "CPU%", "SWITCHES", "WAIT_MS", "P50_MS", "P99_MS", "MIGR", "WORKLOAD"]
        let ms = { (ns: UInt64) in formatFixed(Double(ns) / 1e6, decimals: 1) }
        let msOrNone = { (ns: UInt64?) in ns.map { formatFixed(Double($0) / 1e6, decimals: 1) } ?? "-" }
        let withShares = !shareColumns.isEmpty
        let sample = shares ?? .empty
        let withLottery = withShares && sample.draws > 0
        if withShares {
            headers += ["TICKETS", "SHARE%", "MEASURED%", "ERR_PP"] + (withLottery ? ["WIN%"] : []) + ["DECIDED_BY"]
        }
        let body: [[String]] = rows.map { r in
            var cells = [String(r.task.pid), String(r.task.tgid), r.task.comm, String(r.task.nice), ms(r.task.runtimeNs), ms(r.runtimeDeltaNs),
                         formatFixed(r.runtimeEMANs / 1e6, decimals: 1), formatFixed(r.cpuPercent, decimals: 1),
                         String(r.switches), ms(r.waitNs), msOrNone(r.waitP50Ns), msOrNone(r.waitP99Ns), String(r.migrations),
                         r.workload?.label ?? "-"]
            if withShares {
                if let t = sample.tasks[r.task.pid] {
                    cells += [String(t.tickets), formatFixed(t.expectedPercent, decimals: 1), formatFixed(t.measuredPercent, decimals: 1),
                              formatFixed(t.errorPP, decimals: 1)]
                        + (withLottery ? [t.lottery.map { formatFixed($0.winPercent, decimals: 1) } ?? "-"] : [])
                        + [t.decidedBy.label]
                } else {
                    cells += Array(repeating: "-", count: withLottery ? 6 : 5)
                }
            }
            return cells
        }
        let interval = rows.first.map { formatFixed(Double($0.intervalNs) / 1e9, decimals: 2) + " s" } ?? "-"
        var title = "sample \(context.sample) at \(isoTimestamp(context.timestamp)), interval \(interval), \(tracked) tasks tracked, \(rows.count) shown"
        if withShares {
            title += "; fair share: \(sample.tasks.count) competing, Jain \(formatFixed(sample.jainIndex, decimals: 3)), max |err| \(formatFixed(sample.maxAbsErrorPP, decimals: 1)) pp"
                + " (run: Jain \(formatFixed(sample.runJainIndex, decimals: 3)), max |err| \(formatFixed(sample.runMaxAbsErrorPP, decimals: 1)) pp)"
        }
        let left: Set<Int> = withShares ? [2, 13, headers.count - 1] : [2, 13]
        return title + "\n" + renderTable(headers: headers, rows: body, leftAligned: left)
    }
}

/// Aligns columns with two spaces between them; numbers right-aligned, `leftAligned` columns left.
public func renderTable(headers: [String], rows: [[String]], leftAligned: Set<Int> = []) -> String {
    var widths = headers.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        var parts: [String] = []
        for (i, c) in cells.enumerated() {
            let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
            parts.append(leftAligned.contains(i) ? c + pad : pad + c)
        }
        var s = parts.joined(separator: "  ")
        while s.hasSuffix(" ") { s.removeLast() }
        return s + "\n"
    }
    return line(headers) + rows.map(line).joined()
}
