import StarveModel
import StarveHost

/// Phase 5 of bench.sh, from churn.csv (rows `phase,kind,name,value`, phase before | after | churn):
/// how fast short-lived processes came and went with starve loaded, what they did to its maps and
/// counters, what its programs cost meanwhile, and how long a reader takes before and after.
struct ChurnFigures {
    var run: [String: String] = [:]
    /// map -> (entries before, entries after, max entries)
    var maps: [(name: String, before: Double?, after: Double?, max: Double?)] = []
    /// starve-load status counters about pairs, drops, losses, evictions, folding; in their order
    var counters: [(name: String, before: String, after: String)] = []
    /// program -> (run_cnt, run_time_ns) gained during the churn
    var programs: [(name: String, runCount: Double, ns: Double)] = []
    var switches = 0.0
    /// phase -> "tasks" | "cgroups" -> (wall ms less the interval, cpu ms), one per repeat
    var readers: [String: [String: (wall: [Double], cpu: [Double])]] = [:]

    init?(rows: [[String: String]]) {
        guard !rows.isEmpty else { return nil }
        var mapOrder: [String] = [], mapValues: [String: [String: Double]] = [:]
        var counterOrder: [String] = [], counterValues: [String: [String: String]] = [:]
        var progValues: [String: (Double, Double)] = [:], progOrder: [String] = []
        for row in rows {
            guard let phase = row["phase"], let kind = row["kind"], let name = row["name"], let value = row["value"] else { continue }
            switch kind {
            case "run": run[name] = value
            case "switches": switches = Double(value) ?? 0
            case "map_entries", "map_max":
                if mapValues[name] == nil { mapOrder.append(name) }
                mapValues[name, default: [:]][kind == "map_max" ? "max" : phase] = Double(value)
            case "counter":
                if counterValues[name] == nil { counterOrder.append(name) }
                counterValues[name, default: [:]][phase] = value
            case "prog_cnt", "prog_ns":
                if progValues[name] == nil { progOrder.append(name) }
                var v = progValues[name] ?? (0, 0)
                if kind == "prog_cnt" { v.0 = Double(value) ?? 0 } else { v.1 = Double(value) ?? 0 }
                progValues[name] = v
            case "reader_wall_ms", "reader_cpu_ms":
                guard let v = Double(value) else { continue }
                var r = readers[phase, default: [:]][name] ?? ([], [])
                if kind == "reader_wall_ms" { r.wall.append(v) } else { r.cpu.append(v) }
                readers[phase, default: [:]][name] = r
            default: continue
            }
        }
        maps = mapOrder.map { n in (n, mapValues[n]?["before"], mapValues[n]?["after"], mapValues[n]?["max"]) }
        counters = counterOrder.map { n in (n, counterValues[n]?["before"] ?? "-", counterValues[n]?["after"] ?? "-") }
        programs = progOrder.map { n in (n, progValues[n]!.0, progValues[n]!.1) }
    }

    /// All of starve's programs' ns during the churn over the host's switches meanwhile.
    var nsPerSwitch: Double? {
        switches > 0 ? programs.reduce(0) { $0 + $1.ns } / switches : nil
    }

    func render() -> String {
        let processes = run["processes"] ?? "?", perSecond = run["processes_per_second"] ?? "?"
        var text = "Churn: \(processes) short-lived processes (\(run["mode"] ?? "?"), \(run["forkers"] ?? "?") forkers) while \(run["background"] ?? "a busy load") saturate the CPUs; starve loaded with its defaults\n"
        text += "  \(perSecond) processes per second (\(processes) in \(run["seconds"] ?? "?") s, \(run["failed"] ?? "?") failed to start)\n"
        if let v = nsPerSwitch {
            text += "  starve's programs meanwhile: \(formatFixed(v, decimals: 0)) ns per switch in-program (\(Int(switches)) switches)\n"
        }
        // Maps: the attribution map always, the others when their entries moved.
        let shown = maps.filter { $0.name.contains("pairs") || $0.before != $0.after }
        if !shown.isEmpty {
            text += "\n" + renderTable(headers: ["map", "entries before", "after", "max", "fill after"], rows: shown.map { m in
                let fill = m.after.flatMap { a in m.max.map { $0 > 0 ? formatFixed(a / $0 * 100, decimals: 1) + " %" : "-" } } ?? "-"
                return [m.name, m.before.map { String(Int($0)) } ?? "-", m.after.map { String(Int($0)) } ?? "-", m.max.map { String(Int($0)) } ?? "-", fill]
            }, leftAligned: [0])
        }
        if !counters.isEmpty {
            text += "\n" + renderTable(headers: ["counter (starve-load status)", "before", "after", "during churn"], rows: counters.map { c in
                let delta: String = {
                    guard let b = Double(c.before), let a = Double(c.after) else { return "-" }
                    return (a >= b ? "+" : "") + String(Int(a - b))
                }()
                return [c.name, c.before, c.after, delta]
            }, leftAligned: [0])
        }
        if !programs.isEmpty, switches > 0 {
            text += "\n" + renderTable(headers: ["program (during churn)", "events", "ns/event", "events/switch", "ns/switch"], rows: programs.map { p in
                [p.name, String(Int(p.runCount)), p.runCount > 0 ? formatFixed(p.ns / p.runCount, decimals: 0) : "-",
                 formatFixed(p.runCount / switches, decimals: 3), formatFixed(p.ns / switches, decimals: 0)]
            }, leftAligned: [0])
        }
        if !readers.isEmpty {
            func cell(_ phase: String, _ sub: String, _ cpu: Bool) -> String {
                guard let r = readers[phase]?[sub], let s = Stat(cpu ? r.cpu : r.wall) else { return "-" }
                return "\(formatFixed(s.median, decimals: 1)) [\(formatFixed(s.min, decimals: 1))..\(formatFixed(s.max, decimals: 1))]"
            }
            let n = readers["after"]?["tasks"]?.cpu.count ?? 0
            text += "\nReader, one sample (two reads), ms median [min..max] of \(n): wall less the --interval slept, and CPU (user + sys)\n"
            text += renderTable(headers: ["reader", "wall before", "wall after", "cpu before", "cpu after"], rows: [("starve-dump", "tasks"), ("starve-dump cgroups", "cgroups")].map { label, sub in
                [label, cell("before", sub, false), cell("after", sub, false), cell("before", sub, true), cell("after", sub, true)]
            }, leftAligned: [0])
        }
        return text
    }

    var summaryRows: [[String]] {
        var rows: [[String]] = []
        for k in ["processes", "forkers", "seconds", "processes_per_second", "failed"] {
            if let v = run[k] { rows.append(["churn", "run", k, v, "", "", ""]) }
        }
        if let v = nsPerSwitch { rows.append(["churn", "starve", "in_program_ns_per_switch", formatFixed(v, decimals: 1), "", "", String(Int(switches))]) }
        for m in maps {
            if let b = m.before { rows.append(["churn", "map/\(m.name)", "entries_before", String(Int(b)), "", "", ""]) }
            if let a = m.after { rows.append(["churn", "map/\(m.name)", "entries_after", String(Int(a)), "", "", ""]) }
            if let x = m.max { rows.append(["churn", "map/\(m.name)", "max_entries", String(Int(x)), "", "", ""]) }
        }
        for c in counters {
            rows.append(["churn", "counter/\(c.name)", "before", c.before, "", "", ""])
            rows.append(["churn", "counter/\(c.name)", "after", c.after, "", "", ""])
        }
        for p in programs where p.runCount > 0 {
            rows.append(["churn", "prog/\(p.name)", "ns_per_event", formatFixed(p.ns / p.runCount, decimals: 1), "", "", String(Int(p.runCount))])
        }
        for phase in ["before", "after"] {
            for sub in ["tasks", "cgroups"] {
                guard let r = readers[phase]?[sub] else { continue }
                if let s = Stat(r.wall) { rows.append(["churn", "reader/\(sub)/\(phase)", "wall_ms_less_interval"] + s.cells(1)) }
                if let s = Stat(r.cpu) { rows.append(["churn", "reader/\(sub)/\(phase)", "cpu_ms"] + s.cells(1)) }
            }
        }
        return rows
    }
}
