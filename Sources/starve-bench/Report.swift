import ArgumentParser
import Foundation
import StarveCore

/// Turns bench.sh's raw CSVs into the results: the table on stdout, summary.csv, the gnuplot data
/// files and results.md, all in --dir.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise a bench.sh run (reads and writes --dir).")

    @Option(help: "Directory holding e2e-raw.csv, progs-raw.csv, dump-cost.csv, dump-cpu.csv.")
    var dir: String

    @Option(help: "full or quick (goes into results.md).")
    var mode: String = "full"

    @Option var rounds: Int = 0
    @Option var pipeLoops: Int = 0
    @Option var msgLoops: Int = 0
    @Option var hbLoops: Int = 0

    static let peers = ["floor", "starve", "bpftrace", "perf-sched"]
    static let workloads = ["pipe", "messaging", "hackbench"]

    func run() throws {
        let e2e = try readCSV(dir + "/e2e-raw.csv")
        let progs = try readCSV(dir + "/progs-raw.csv")
        let dump = try readCSV(dir + "/dump-cost.csv")
        let dumpCPU = try readCSV(dir + "/dump-cpu.csv")
        let iter = access(dir + "/iter-cost.csv", R_OK) == 0 ? try readCSV(dir + "/iter-cost.csv") : []
        var summary = [["section", "subject", "metric", "median", "min", "max", "n"]]
        var md = ""

        // End to end: per round, each condition against that round's nothing-attached run.
        var extra: [String: [String: Stat]] = [:]  // workload -> condition -> extra ns/switch
        var slow: [String: [String: Stat]] = [:]   // workload -> condition -> time ratio vs none
        var switchesPerRun: [String: Stat] = [:]
        for w in Self.workloads {
            let rows = e2e.filter { $0["workload"] == w }
            let rounds = Set(rows.compactMap { $0["round"] }).sorted()
            var extras: [String: [Double]] = [:], ratios: [String: [Double]] = [:], sw: [Double] = []
            for r in rounds {
                let inRound = rows.filter { $0["round"] == r }
                for c in Self.peers {
                    // Each attached run against the nothing-attached run just before it.
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
            for c in Self.peers {
                extra[w, default: [:]][c] = Stat(extras[c] ?? [])
                slow[w, default: [:]][c] = Stat(ratios[c] ?? [])
                if let s = extra[w]?[c] { summary.append(["e2e", "\(w)/\(c)", "extra_ns_per_switch"] + s.cells(1)) }
                if let s = slow[w]?[c] { summary.append(["e2e", "\(w)/\(c)", "time_ratio_vs_none"] + s.cells(3)) }
            }
            if let s = switchesPerRun[w] { summary.append(["e2e", "\(w)/none", "ctxt_switches_per_run"] + s.cells(0)) }
        }

        // Best case: the fastest run of each condition against the fastest nothing-attached run.
        // This VM's pipe baseline is bimodal (runs land near one of two speeds), which pairing
        // cannot always cancel; the fastest runs are the ones least disturbed.
        var best: [String: [String: Double]] = [:]  // workload -> condition -> extra ns/switch
        for w in Self.workloads {
            let rows = e2e.filter { $0["workload"] == w }
            let times = { (c: String) in rows.filter { $0["condition"] == c }.compactMap { Double($0["seconds"] ?? "") } }
            guard let t0 = times("none").min() else { continue }
            let sw = switchesPerRun[w]?.median ?? 0
            let switches = w == "pipe" && pipeLoops > 0 ? Double(2 * pipeLoops) : sw
            guard switches > 0 else { continue }
            for c in Self.peers {
                if let t = times(c).min() {
                    best[w, default: [:]][c] = (t - t0) * 1e9 / switches
                    summary.append(["e2e_best", "\(w)/\(c)", "extra_ns_per_switch", formatFixed((t - t0) * 1e9 / switches, decimals: 1), "", "", ""])
                }
            }
        }

        // In-program cost from bpf_stats: per program, and per switch (all of a tool's programs).
        struct ProgCost { var cnt = 0.0, ns = 0.0; var perEvent: Double { cnt > 0 ? ns / cnt : 0 } }
        var perProgram: [String: [String: ProgCost]] = [:]
        for row in progs {
            guard let c = row["condition"], let p = row["program"], let cnt = Double(row["run_cnt"] ?? ""), let ns = Double(row["run_time_ns"] ?? "") else { continue }
            perProgram[c, default: [:]][p, default: ProgCost()].cnt += cnt
            perProgram[c, default: [:]][p, default: ProgCost()].ns += ns
        }
        var progLines: [[String]] = []
        var perSwitchInProgram: [String: Double] = [:]
        for c in ["floor", "starve", "bpftrace"] {
            guard let ps = perProgram[c] else { continue }
            let switchProg = ps.first(where: { $0.key.contains("switch") })?.value
            let total = ps.values.reduce(0) { $0 + $1.ns }
            if let s = switchProg, s.cnt > 0 { perSwitchInProgram[c] = total / s.cnt }
            for (p, cost) in ps.sorted(by: { $0.key < $1.key }) {
                progLines.append([c, p, String(Int(cost.cnt)), formatFixed(cost.perEvent, decimals: 1)])
                summary.append(["bpf_stats", "\(c)/\(p)", "ns_per_event", formatFixed(cost.perEvent, decimals: 1), "", "", String(Int(cost.cnt))])
            }
            if let v = perSwitchInProgram[c] {
                summary.append(["bpf_stats", c, "all_programs_ns_per_switch", formatFixed(v, decimals: 1), "", "", ""])
            }
        }

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

        // The table.
        func ns(_ s: Stat?) -> String { s.map { "\(formatFixed($0.median, decimals: 0)) [\(formatFixed($0.min, decimals: 0))..\(formatFixed($0.max, decimals: 0))]" } ?? "-" }
        func ratio(_ a: Stat?, _ b: Stat?) -> String {
            guard let a, let b, b.median > 0 else { return "-" }
            return formatFixed(a.median / b.median, decimals: 2)
        }
        var text = "End to end: extra ns per context switch vs nothing attached, median [min..max] over \(rounds) rounds\n"
        var rows: [[String]] = []
        for w in Self.workloads {
            let e = extra[w] ?? [:]
            rows.append([w] + Self.peers.map { ns(e[$0]) } + [
                ratio(e["starve"], e["floor"]), ratio(e["starve"], e["bpftrace"]), ratio(e["starve"], e["perf-sched"]),
                formatFixed(slow[w]?["starve"]?.median ?? 0, decimals: 3),
            ])
        }
        text += renderTable(headers: ["workload", "floor", "starve", "bpftrace", "perf-sched", "starve/floor", "starve/bpftrace", "starve/perf", "starve time x"], rows: rows, leftAligned: [0])
        text += "\nBest case: fastest run of each condition vs fastest nothing-attached run, extra ns per switch\n"
        func r2(_ a: Double?, _ b: Double?) -> String {
            guard let a, let b, b > 0 else { return "-" }
            return formatFixed(a / b, decimals: 2)
        }
        text += renderTable(headers: ["workload", "floor", "starve", "bpftrace", "perf-sched", "starve/floor", "starve/bpftrace", "starve/perf"], rows: Self.workloads.map { w in
            let b = best[w] ?? [:]
            return [w] + Self.peers.map { b[$0].map { formatFixed($0, decimals: 0) } ?? "-" } + [r2(b["starve"], b["floor"]), r2(b["starve"], b["bpftrace"]), r2(b["starve"], b["perf-sched"])]
        }, leftAligned: [0])
        text += "\nIn-program cost (kernel.bpf_stats_enabled), ns per event\n"
        var progRows = progLines
        for c in ["floor", "starve", "bpftrace"] { if let v = perSwitchInProgram[c] { progRows.append([c, "(all programs, per switch)", "", formatFixed(v, decimals: 1)]) } }
        if let f = perSwitchInProgram["floor"], let s = perSwitchInProgram["starve"], f > 0 {
            progRows.append(["starve/floor", "(per switch)", "", formatFixed(s / f, decimals: 2)])
        }
        if let b = perSwitchInProgram["bpftrace"], let s = perSwitchInProgram["starve"], b > 0 {
            progRows.append(["starve/bpftrace", "(per switch)", "", formatFixed(s / b, decimals: 2)])
        }
        text += renderTable(headers: ["tool", "program", "events", "ns/event"], rows: progRows, leftAligned: [0, 1])
        text += "\nstarve-dump, one sample on a full map (read + analyse + table; CSV of every row apart), ms median [min..max]\n"
        text += renderTable(headers: ["threads", "read", "analyse", "read+analyse+table", "cpu", "< 100 ms"], rows: dumpStats.map { d in
            [String(d.0), ms(d.2), ms(d.3), ms(d.1), ms(d.4), d.1.median < 100 ? "yes" : "NO"]
        })
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
        print(text, terminator: "")

        // Files: summary.csv, plot data, results.md.
        try summary.map { CSV.record($0) }.joined().write(toFile: dir + "/summary.csv", atomically: true, encoding: .utf8)
        var dat = "# workload " + Self.peers.map { "\($0)_med \($0)_min \($0)_max" }.joined(separator: " ") + "\n"
        for w in Self.workloads {
            dat += w + " " + Self.peers.map { c in
                let s = extra[w]?[c]
                return [s?.median, s?.min, s?.max].map { formatFixed($0 ?? 0, decimals: 1) }.joined(separator: " ")
            }.joined(separator: " ") + "\n"
        }
        try dat.write(toFile: dir + "/plot-e2e.dat", atomically: true, encoding: .utf8)
        var sdat = "# workload " + Self.peers.map { "\($0)_med \($0)_min \($0)_max" }.joined(separator: " ") + " (percent slower than nothing attached)\n"
        for w in Self.workloads {
            sdat += w + " " + Self.peers.map { c in
                let s = slow[w]?[c]
                return [s?.median, s?.min, s?.max].map { formatFixed((($0 ?? 1) - 1) * 100, decimals: 2) }.joined(separator: " ")
            }.joined(separator: " ") + "\n"
        }
        try sdat.write(toFile: dir + "/plot-slow.dat", atomically: true, encoding: .utf8)
        var ddat = "# threads total_med total_min total_max read_med analyse_med\n"
        for d in dumpStats {
            ddat += "\(d.0) \(formatFixed(d.1.median, decimals: 3)) \(formatFixed(d.1.min, decimals: 3)) \(formatFixed(d.1.max, decimals: 3)) \(formatFixed(d.2.median, decimals: 3)) \(formatFixed(d.3.median, decimals: 3))\n"
        }
        try ddat.write(toFile: dir + "/plot-dump.dat", atomically: true, encoding: .utf8)

        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let cpuModel = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first(where: { $0.hasPrefix("model name") })?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?"
        md += "# starve overhead benchmark: results\n\n"
        md += "- date: \(isoTimestamp(Date()))\n- machine: \(ProcessInfo.processInfo.activeProcessorCount) CPUs, \(cpuModel)\n"
        md += "- kernel: \(kernel)\n- run: `scripts/bench.sh\(mode == "quick" ? " --quick" : "")` (\(mode)), \(rounds) rounds; "
        md += "pipe -l \(pipeLoops), messaging -g 2 -l \(msgLoops), hackbench -p -T -g 4 -l \(hbLoops)\n\n"
        md += "How to read this: docs/overhead.md.\n\n```\n" + text + "```\n"
        try md.write(toFile: dir + "/results.md", atomically: true, encoding: .utf8)
    }

    private func ms(_ s: Stat) -> String {
        "\(formatFixed(s.median, decimals: 2)) [\(formatFixed(s.min, decimals: 2))..\(formatFixed(s.max, decimals: 2))]"
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
