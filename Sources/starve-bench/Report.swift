import ArgumentParser
import Foundation
import StarveModel
import StarveHost

/// Turns bench.sh's raw CSVs into the results: the table on stdout, summary.csv, the gnuplot data
/// files and results.md, all in --dir. Every input is optional (`--churn-only` writes churn.csv
/// alone): a section is left out when its file is missing.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise a bench.sh run (reads and writes --dir).")

    @Option(help: "Directory holding e2e-raw.csv, progs-raw.csv, dump-cost.csv, dump-cpu.csv, iter-cost.csv, churn.csv.")
    var dir: String

    @Option(help: "full or quick (goes into results.md).")
    var mode: String = "full"

    @Option var rounds: Int = 0
    @Option var pipeLoops: Int = 0
    @Option var msgLoops: Int = 0
    @Option var hbLoops: Int = 0

    static let peers = ["floor", "starve", "bpftrace", "perf-sched"]
    /// The saturated workloads first: they are the headline (issue #11).
    static let workloads = ["messaging", "hackbench", "pipe"]
    /// The tools whose in-program cost phase 2 measures.
    /// "storage": the floor of any per-thread design (bpf/floor_storage.bpf.c).
    static let inProgramTools = ["floor", "storage", "starve", "bpftrace"]

    func run() throws {
        func input(_ name: String) throws -> [[String: String]] {
            access(dir + "/" + name, R_OK) == 0 ? try readCSV(dir + "/" + name) : []
        }
        let e2e = try input("e2e-raw.csv"), progs = try input("progs-raw.csv"), dump = try input("dump-cost.csv")
        let dumpCPU = try input("dump-cpu.csv"), iter = try input("iter-cost.csv"), churnRows = try input("churn.csv")
        var summary = [["section", "subject", "metric", "median", "min", "max", "n"]]
        var text = ""

        let endToEnd = EndToEnd(rows: e2e, pipeLoops: pipeLoops)
        summary += endToEnd.summaryRows
        let inProgram = InProgramCost(rows: progs)
        summary += inProgram.summaryRows

        // The headline: in-program ns per switch by workload, saturated first, the end-to-end
        // paired medians beside it.
        if !progs.isEmpty {
            text += inProgram.renderHeadline(endToEnd: e2e.isEmpty ? nil : endToEnd)
            text += "\n" + inProgram.renderPrograms()
        }
        if !e2e.isEmpty { text += (text.isEmpty ? "" : "\n") + endToEnd.render(rounds: rounds) }

        // starve-dump cost.
        var dumpStats: [(Int, Stat, Stat, Stat, Stat)] = []  // entries, total, read, analyse, cpu
        for n in Set(dump.compactMap { Int($0["entries"] ?? "") }).sorted() {
            let rows = dump.filter { Int($0["entries"] ?? "") == n }
            func col(_ k: String) -> Stat { Stat(rows.compactMap { Double($0[k] ?? "") }) ?? Stat([0])! }
            let total = col("total_ms"), read = col("read_ms"), analyse = col("analyse_ms"), csv = col("csv_ms"), cpu = col("cpu_ms")
            dumpStats.append((n, total, read, analyse, cpu))
            for (k, s) in [("read_ms", read), ("analyse_ms", analyse), ("table_ms", col("table_ms")), ("csv_ms", csv), ("total_ms", total), ("cpu_ms", cpu)] {
                summary.append(["dump", String(n), k] + s.cells(2))
            }
        }
        var dumpCPUPercent: Double?, tracked = ""
        if let row = dumpCPU.first, let wall = Double(row["wall_s"] ?? ""), let u = Double(row["user_s"] ?? ""), let s = Double(row["sys_s"] ?? ""), wall > 0 {
            dumpCPUPercent = (u + s) / wall * 100
            tracked = row["tracked"] ?? ""
            summary.append(["dump_busy", "interval_1s", "cpu_percent_of_one_cpu", formatFixed(dumpCPUPercent!, decimals: 2), "", "", row["samples"] ?? ""])
        }
        if !dumpStats.isEmpty {
            text += "\nstarve-dump, one sample on a full map (read + analyse + table; CSV of every row apart), ms median [min..max]\n"
            text += renderTable(headers: ["threads", "read", "analyse", "read+analyse+table", "cpu", "< 100 ms"], rows: dumpStats.map { d in
                [String(d.0), ms(d.2), ms(d.3), ms(d.1), ms(d.4), d.1.median < 100 ? "yes" : "NO"]
            })
        }
        var iterRows: [[String]] = []
        for n in Set(iter.compactMap { Int($0["extra_threads"] ?? "") }).sorted() {
            let rows = iter.filter { Int($0["extra_threads"] ?? "") == n }
            guard let read = Stat(rows.compactMap { Double($0["read_ms"] ?? "") }) else { continue }
            let records = rows.first?["records"] ?? "-"
            iterRows.append([records, ms(read), formatFixed(read.median / max(1, Double(records) ?? 1) * 1e6, decimals: 0)])
            summary.append(["iter", records, "read_ms"] + read.cells(2))
        }
        if !iterRows.isEmpty {
            text += "\nThe live tasks iterator (the kernel walks every thread; the reader decodes), ms median [min..max]\n"
            text += renderTable(headers: ["threads", "read", "ns/thread"], rows: iterRows)
        }
        if let p = dumpCPUPercent {
            text += "\nstarve-dump --interval 1 on a busy host (\(tracked) threads tracked): \(formatFixed(p, decimals: 2)) % of one CPU\n"
        }
        if let churn = ChurnFigures(rows: churnRows) {
            text += (text.isEmpty ? "" : "\n") + churn.render()
            summary += churn.summaryRows
        }
        print(text, terminator: "")

        // Files: summary.csv, plot data, results.md.
        try summary.map { CSV.record($0) }.joined().write(toFile: dir + "/summary.csv", atomically: true, encoding: .utf8)
        if !progs.isEmpty { try inProgram.plotData.write(toFile: dir + "/plot-inprog.dat", atomically: true, encoding: .utf8) }
        if !e2e.isEmpty {
            try endToEnd.plotData(\.extra, scale: { $0 }, note: "").write(toFile: dir + "/plot-e2e.dat", atomically: true, encoding: .utf8)
            try endToEnd.plotData(\.slow, scale: { ($0 - 1) * 100 }, note: " (percent slower than nothing attached)")
                .write(toFile: dir + "/plot-slow.dat", atomically: true, encoding: .utf8)
        }
        if !dumpStats.isEmpty {
            var ddat = "# threads total_med total_min total_max read_med analyse_med\n"
            for d in dumpStats {
                ddat += "\(d.0) \(formatFixed(d.1.median, decimals: 3)) \(formatFixed(d.1.min, decimals: 3)) \(formatFixed(d.1.max, decimals: 3)) \(formatFixed(d.2.median, decimals: 3)) \(formatFixed(d.3.median, decimals: 3))\n"
            }
            try ddat.write(toFile: dir + "/plot-dump.dat", atomically: true, encoding: .utf8)
        }

        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let cpuModel = HostFiles.read("/proc/cpuinfo")?
            .split(separator: "\n").first(where: { $0.hasPrefix("model name") })?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
        var md = "# starve overhead benchmark: results\n\n"
        md += "- date: \(isoTimestamp(Date()))\n- machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, \(cpuModel)\n"
        md += "- kernel: \(kernel)\n- run: `scripts/bench.sh`, \(mode); \(rounds) rounds end to end; "
        md += "messaging -g 4 -l \(msgLoops), hackbench -p -T -g 4 -l \(hbLoops), pipe -l \(pipeLoops)\n\n"
        md += "How to read this: docs/overhead.md.\n\n```\n" + text + "```\n"
        try md.write(toFile: dir + "/results.md", atomically: true, encoding: .utf8)
    }

    private func ms(_ s: Stat) -> String {
        "\(formatFixed(s.median, decimals: 2)) [\(formatFixed(s.min, decimals: 2))..\(formatFixed(s.max, decimals: 2))]"
    }
}

/// Phase 1: each attached run against the nothing-attached run just before it.
struct EndToEnd {
    /// workload -> condition -> extra ns per switch over rounds
    var extra: [String: [String: Stat]] = [:]
    /// workload -> condition -> time ratio to nothing attached over rounds
    var slow: [String: [String: Stat]] = [:]
    /// workload -> condition -> extra ns per switch, fastest run against fastest nothing-attached run
    var best: [String: [String: Double]] = [:]
    var switchesPerRun: [String: Stat] = [:]
    var summaryRows: [[String]] = []

    init(rows e2e: [[String: String]], pipeLoops: Int) {
        for w in Report.workloads {
            let rows = e2e.filter { $0["workload"] == w }
            let rounds = Set(rows.compactMap { $0["round"] }).sorted()
            var extras: [String: [Double]] = [:], ratios: [String: [Double]] = [:], sw: [Double] = []
            for r in rounds {
                let inRound = rows.filter { $0["round"] == r }
                for c in Report.peers {
                    guard let none = inRound.first(where: { $0["condition"] == "none" && $0["pair"] == c }),
                          let t0 = Double(none["seconds"] ?? ""), let s0 = Double(none["switches"] ?? ""),
                          let row = inRound.first(where: { $0["condition"] == c }), let t = Double(row["seconds"] ?? "") else { continue }
                    // pipe: 2 switches per loop on one CPU (checked against /proc/stat ctxt, which also
                    // counts the rest of the host); the others: the host's ctxt delta of the none run.
                    let switches = w == "pipe" && pipeLoops > 0 ? Double(2 * pipeLoops) : s0
                    sw.append(s0)
                    extras[c, default: []].append((t - t0) * 1e9 / switches)
                    ratios[c, default: []].append(t / t0)
                }
            }
            switchesPerRun[w] = Stat(sw)
            for c in Report.peers {
                extra[w, default: [:]][c] = Stat(extras[c] ?? [])
                slow[w, default: [:]][c] = Stat(ratios[c] ?? [])
                if let s = extra[w]?[c] { summaryRows.append(["e2e", "\(w)/\(c)", "extra_ns_per_switch"] + s.cells(1)) }
                if let s = slow[w]?[c] { summaryRows.append(["e2e", "\(w)/\(c)", "time_ratio_vs_none"] + s.cells(3)) }
            }
            if let s = switchesPerRun[w] { summaryRows.append(["e2e", "\(w)/none", "ctxt_switches_per_run"] + s.cells(0)) }
        }
        // Best case: the fastest run of each condition against the fastest nothing-attached run.
        // This VM's pipe baseline is bimodal (runs land near one of two speeds), which pairing
        // cannot always cancel; the fastest runs are the ones least disturbed.
        for w in Report.workloads {
            let rows = e2e.filter { $0["workload"] == w }
            let times = { (c: String) in rows.filter { $0["condition"] == c }.compactMap { Double($0["seconds"] ?? "") } }
            guard let t0 = times("none").min() else { continue }
            let sw = switchesPerRun[w]?.median ?? 0
            let switches = w == "pipe" && pipeLoops > 0 ? Double(2 * pipeLoops) : sw
            guard switches > 0 else { continue }
            for c in Report.peers {
                if let t = times(c).min() {
                    best[w, default: [:]][c] = (t - t0) * 1e9 / switches
                    summaryRows.append(["e2e_best", "\(w)/\(c)", "extra_ns_per_switch", formatFixed((t - t0) * 1e9 / switches, decimals: 1), "", "", ""])
                }
            }
        }
    }

    func render(rounds: Int) -> String {
        func ns(_ s: Stat?) -> String { s.map { "\(formatFixed($0.median, decimals: 0)) [\(formatFixed($0.min, decimals: 0))..\(formatFixed($0.max, decimals: 0))]" } ?? "-" }
        func ratio(_ a: Stat?, _ b: Stat?) -> String {
            guard let a, let b, b.median > 0 else { return "-" }
            return formatFixed(a.median / b.median, decimals: 2)
        }
        var text = "End to end: extra ns per context switch vs nothing attached, median [min..max] over \(rounds) rounds\n"
        text += renderTable(headers: ["workload", "floor", "starve", "bpftrace", "perf-sched", "starve/floor", "starve/bpftrace", "starve/perf", "starve time x"], rows: Report.workloads.map { w in
            let e = extra[w] ?? [:]
            return [w] + Report.peers.map { ns(e[$0]) } + [
                ratio(e["starve"], e["floor"]), ratio(e["starve"], e["bpftrace"]), ratio(e["starve"], e["perf-sched"]),
                formatFixed(slow[w]?["starve"]?.median ?? 0, decimals: 3),
            ]
        }, leftAligned: [0])
        text += "\nBest case: fastest run of each condition vs fastest nothing-attached run, extra ns per switch\n"
        func r2(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b, b > 0 else { return "-" }
            return formatFixed(a / b, decimals: 2)
        }
        text += renderTable(headers: ["workload", "floor", "starve", "bpftrace", "perf-sched", "starve/floor", "starve/bpftrace", "starve/perf"], rows: Report.workloads.map { w in
            let b = best[w] ?? [:]
            return [w] + Report.peers.map { b[$0].map { formatFixed($0, decimals: 0) } ?? "-" } + [r2(b["starve"], b["floor"]), r2(b["starve"], b["bpftrace"]), r2(b["starve"], b["perf-sched"])]
        }, leftAligned: [0])
        return text
    }

    /// gnuplot rows: workload, then median min max per condition.
    func plotData(_ figure: KeyPath<EndToEnd, [String: [String: Stat]]>, scale: (Double) -> Double, note: String) -> String {
        var dat = "# workload " + Report.peers.map { "\($0)_med \($0)_min \($0)_max" }.joined(separator: " ") + note + "\n"
        for w in Report.workloads {
            dat += w + " " + Report.peers.map { c in
                guard let s = self[keyPath: figure][w]?[c] else { return "0 0 0" }
                return [s.median, s.min, s.max].map { formatFixed(scale($0), decimals: 2) }.joined(separator: " ")
            }.joined(separator: " ") + "\n"
        }
        return dat
    }
}

/// Phase 2: what each tool's programs spend per context switch, from kernel.bpf_stats_enabled.
struct InProgramCost {
    /// workload -> tool -> in-program ns per switch, one figure per round
    var perSwitch: [String: [String: Stat]] = [:]
    struct Totals { var runCount = 0.0, ns = 0.0 }
    /// tool -> program -> workload -> totals over rounds
    var programs: [String: [String: [String: Totals]]] = [:]
    /// tool -> workload -> switches over rounds
    var switches: [String: [String: Double]] = [:]
    var rounds = 0
    var summaryRows: [[String]] = []
    /// The issue's target: starve below a third of bpftrace runqlat, per switch.
    static let targetRatio = 1.0 / 3

    init(rows: [[String: String]]) {
        // One run = one (round, tool, workload): the sum of its programs' ns over its switches.
        struct Run { var ns = 0.0, switches = 0.0 }
        var runs: [String: [String: [String: Run]]] = [:]  // workload -> tool -> round -> run
        for row in rows {
            guard let r = row["round"], let c = row["condition"], let w = row["workload"], let p = row["program"],
                  let cnt = Double(row["run_cnt"] ?? ""), let ns = Double(row["run_time_ns"] ?? ""),
                  let sw = Double(row["switches"] ?? "") else { continue }
            runs[w, default: [:]][c, default: [:]][r, default: Run()].ns += ns
            runs[w, default: [:]][c, default: [:]][r, default: Run()].switches = sw
            programs[c, default: [:]][p, default: [:]][w, default: Totals()].runCount += cnt
            programs[c, default: [:]][p, default: [:]][w, default: Totals()].ns += ns
        }
        for (w, byTool) in runs {
            for (c, byRound) in byTool {
                perSwitch[w, default: [:]][c] = Stat(byRound.values.filter { $0.switches > 0 }.map { $0.ns / $0.switches })
                switches[c, default: [:]][w] = byRound.values.reduce(0) { $0 + $1.switches }
                rounds = max(rounds, byRound.count)
            }
        }
        for w in Report.workloads {
            for c in Report.inProgramTools {
                if let s = perSwitch[w]?[c] { summaryRows.append(["in_program", "\(w)/\(c)", "ns_per_switch"] + s.cells(1)) }
            }
            if let r = ratio(w) {
                summaryRows.append(["in_program", w, "starve_over_bpftrace", formatFixed(r, decimals: 3), "", "", ""])
                summaryRows.append(["in_program", w, "starve_below_third_of_bpftrace", r < Self.targetRatio ? "yes" : "no", "", "", ""])
            }
        }
        for c in Report.inProgramTools {
            for (p, byWorkload) in (programs[c] ?? [:]).sorted(by: { $0.key < $1.key }) {
                for w in Report.workloads {
                    guard let t = byWorkload[w], let sw = switches[c]?[w], sw > 0 else { continue }
                    summaryRows.append(["in_program_prog", "\(w)/\(c)/\(p)", "ns_per_event", t.runCount > 0 ? formatFixed(t.ns / t.runCount, decimals: 1) : "", "", "", String(Int(t.runCount))])
                    summaryRows.append(["in_program_prog", "\(w)/\(c)/\(p)", "events_per_switch", formatFixed(t.runCount / sw, decimals: 3), "", "", ""])
                }
            }
        }
    }

    /// starve (or another tool) / bpftrace, medians.
    func ratio(_ w: String, of tool: String = "starve") -> Double? {
        guard let s = perSwitch[w]?[tool], let b = perSwitch[w]?["bpftrace"], b.median > 0 else { return nil }
        return s.median / b.median
    }

    func renderHeadline(endToEnd: EndToEnd?) -> String {
        func ns(_ s: Stat?) -> String { s.map { "\(formatFixed($0.median, decimals: 0)) [\(formatFixed($0.min, decimals: 0))..\(formatFixed($0.max, decimals: 0))]" } ?? "-" }
        func e2e(_ w: String, _ c: String) -> String { endToEnd?.extra[w]?[c].map { formatFixed($0.median, decimals: 0) } ?? "-" }
        var text = "In-program ns per context switch (all of a tool's programs' run_time_ns / the run's switches), median [min..max] over \(rounds) rounds;\n"
        text += "end to end beside it: extra ns per switch, paired medians (phase 1)\n"
        text += renderTable(headers: ["workload", "floor", "storage floor", "starve", "bpftrace", "starve/bpftrace", "< 1/3", "storage/bpftrace", "e2e floor", "e2e starve", "e2e bpftrace"], rows: Report.workloads.compactMap { w in
            guard perSwitch[w] != nil else { return nil }
            let r = ratio(w)
            let costs: [String] = Report.inProgramTools.map { ns(perSwitch[w]?[$0]) }
            let target: [String] = [
                r.map { formatFixed($0, decimals: 2) } ?? "-", r.map { $0 < Self.targetRatio ? "yes" : "NO" } ?? "-",
                ratio(w, of: "storage").map { formatFixed($0, decimals: 2) } ?? "-",
            ]
            return [w] + costs + target + [e2e(w, "floor"), e2e(w, "starve"), e2e(w, "bpftrace")]
        }, leftAligned: [0])
        let ratios = Report.workloads.compactMap { w in ratio(w).map { (w, $0) } }
        if let worst = ratios.max(by: { $0.1 < $1.1 }) {
            let met = ratios.count == Report.workloads.count && worst.1 < Self.targetRatio
            text += "target (starve < 1/3 of bpftrace runqlat in-program on every workload): \(met ? "met" : "NOT met") (highest starve/bpftrace: \(worst.0) \(formatFixed(worst.1, decimals: 2)))\n"
        }
        text += "storage floor: a task-storage lookup per switch and an empty sched_waking program (bpf/floor_storage.bpf.c), what any per-thread design with inversion pays before it counts anything; storage/bpftrace is its share of bpftrace's cost\n"
        return text
    }

    /// Per program, per workload: ns per event, events per switch, and their product (ns per switch).
    func renderPrograms() -> String {
        let ws = Report.workloads.filter { w in switches.values.contains { $0[w] != nil } }
        var rows: [[String]] = []
        for c in Report.inProgramTools {
            for (p, byWorkload) in (programs[c] ?? [:]).sorted(by: { $0.key < $1.key }) {
                rows.append([c, p] + ws.flatMap { w -> [String] in
                    guard let t = byWorkload[w], let sw = switches[c]?[w], sw > 0 else { return ["-", "-", "-"] }
                    return [t.runCount > 0 ? formatFixed(t.ns / t.runCount, decimals: 0) : "-", formatFixed(t.runCount / sw, decimals: 3), formatFixed(t.ns / sw, decimals: 0)]
                })
            }
        }
        var text = "Per program (totals over rounds): ns per event, events per switch, ns per switch\n"
        text += renderTable(headers: ["tool", "program"] + ws.flatMap { ["\($0) ns/ev", "ev/sw", "ns/sw"] }, rows: rows, leftAligned: [0, 1])
        return text
    }

    /// gnuplot rows: workload, then median min max per tool.
    var plotData: String {
        var dat = "# workload " + Report.inProgramTools.map { "\($0)_med \($0)_min \($0)_max" }.joined(separator: " ") + " (in-program ns per switch)\n"
        for w in Report.workloads {
            dat += w + " " + Report.inProgramTools.map { c in
                guard let s = perSwitch[w]?[c] else { return "0 0 0" }
                return [s.median, s.min, s.max].map { formatFixed($0, decimals: 1) }.joined(separator: " ")
            }.joined(separator: " ") + "\n"
        }
        return dat
    }
}

/// Median, min and max of a set of figures.
struct Stat {
    var median = 0.0, min = 0.0, max = 0.0, n = 0

    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        n = s.count
        median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
        min = s[0]
        max = s[n - 1]
    }

    func cells(_ decimals: Int) -> [String] {
        [formatFixed(median, decimals: decimals), formatFixed(min, decimals: decimals), formatFixed(max, decimals: decimals), String(n)]
    }
}

/// A small CSV file (no quoted fields) as rows keyed by the header.
func readCSV(_ path: String) throws -> [[String: String]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw StarveError("cannot read \(path)") }
    let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    guard let header = lines.first else { return [] }
    return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
}
