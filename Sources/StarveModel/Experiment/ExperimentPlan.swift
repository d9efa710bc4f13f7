// The plan of a nice-level experiment (starve-work experiment, scripts/experiment.sh) and the
// summary of its results: pure text in, text out, so both are testable anywhere.
// The plan format is documented in docs/experiments.md.

/// One cell of an experiment: one combination of the plan's matrix keys.
public struct ExperimentCell: Sendable, Hashable {
    /// Cell number, from 1, in plan order (nice sets vary slowest, then CPU sets, durations, repeats).
    public var index: Int
    /// Nice levels, assigned to workers round-robin.
    public var nice: [Int]
    /// CPU sets in starve-work's `--cpu` syntax (`1`, `0-1`, `0,1`).
    public var cpus: String
    /// Seconds sampled (after the warm-up).
    public var durationSeconds: Double
    /// Repetition number, from 1.
    public var repetition: Int
    /// Number of workers.
    public var workers: Int

    /// `nice 0,5 cpus 1 8 s`-style label for plots and tables.
    public var label: String {
        "nice \(nice.map(String.init).joined(separator: ",")) cpus \(cpus)"
            + (repetition > 1 ? " #\(repetition)" : "")
    }
}

/// A matrix of nice sets x CPU sets x durations (x repetitions), plus the settings every cell shares.
public struct ExperimentPlan: Sendable, Hashable {
    /// Name, used in plot titles.
    public var name = "nice-levels"
    public var niceSets: [[Int]] = [[0, 5]]
    public var cpuSets: [String] = ["1"]
    public var durations: [Double] = [10]
    /// Workers per cell; 0 = one per nice level of the cell.
    public var workers = 0
    /// Sampling interval of starve-dump, seconds.
    public var interval = 1.0
    /// Seconds the workers run before sampling starts.
    public var warmup = 1.0
    /// Lottery draws per sample (starve-dump --simulate-draws).
    public var draws = 1000
    /// Lottery seed (starve-dump --seed).
    public var seed: UInt64 = 1
    public var tickets: TicketMapping = .weight
    /// Start each worker in its own session (own autogroup).
    public var setsid = false
    /// Worker policy: other, batch or idle.
    public var policy = "other"
    /// Duty cycle (both or neither).
    public var busyMs: Double?
    public var sleepMs: Double?
    /// cgroup directories for the workers, round-robin (empty: none).
    public var cgroups: [String] = []
    /// Repetitions of every cell.
    public var repeats = 1

    /// The default plan.
    public init() {}

    /// Every cell, in run order.
    public var cells: [ExperimentCell] {
        var out: [ExperimentCell] = []
        for nice in niceSets {
            for cpus in cpuSets {
                for duration in durations {
                    for r in 1...max(repeats, 1) {
                        out.append(ExperimentCell(index: out.count + 1, nice: nice, cpus: cpus, durationSeconds: duration,
                                                  repetition: r, workers: workers > 0 ? workers : nice.count))
                    }
                }
            }
        }
        return out
    }

    /// Samples per cell: the duration in whole intervals (at least 1).
    public func samples(for cell: ExperimentCell) -> Int {
        max(1, Int((cell.durationSeconds / interval).rounded()))
    }

    /// Sets one key from its text value; matrix keys take alternatives separated by `;`.
    public mutating func set(_ key: String, _ value: String) throws {
        let v = value.trimmed
        func number(_ s: String) throws -> Double {
            guard let d = Double(s.trimmed), d.isFinite else { throw StarveError("plan: \(key) = \(value): not a number") }
            return d
        }
        func alternatives() -> [String] { v.split(separator: ";").map { String($0).trimmed }.filter { !$0.isEmpty } }
        switch key {
        case "name": name = v
        case "nice":
            niceSets = try alternatives().map { set in
                try set.split(separator: ",").map { item in
                    guard let n = Int(String(item).trimmed), (-20...19).contains(n) else {
                        throw StarveError("plan: nice = \(value): '\(item)' is not a nice level (-20..19)")
                    }
                    return n
                }
            }
        case "cpus": cpuSets = alternatives().map { $0.replacingSpaces }
        case "duration": durations = try alternatives().map(number)
        case "workers": workers = Int(try number(v))
        case "interval": interval = try number(v)
        case "warmup": warmup = try number(v)
        case "draws": draws = Int(try number(v))
        case "seed":
            guard let s = UInt64(v) else { throw StarveError("plan: seed = \(value): not an unsigned integer") }
            seed = s
        case "tickets":
            guard let t = TicketMapping(rawValue: v) else { throw StarveError("plan: tickets = \(value): use weight or linear") }
            tickets = t
        case "setsid":
            guard let b = ["yes": true, "true": true, "1": true, "no": false, "false": false, "0": false][v] else {
                throw StarveError("plan: setsid = \(value): use yes or no")
            }
            setsid = b
        case "policy":
            guard ["other", "batch", "idle"].contains(v) else { throw StarveError("plan: policy = \(value): use other, batch or idle") }
            policy = v
        case "busy-ms": busyMs = try number(v)
        case "sleep-ms": sleepMs = try number(v)
        case "cgroups": cgroups = v.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
        case "repeat": repeats = Int(try number(v))
        default: throw StarveError("plan: unknown key '\(key)' (keys: \(Self.keys.joined(separator: ", ")))")
        }
    }

    /// Keys a plan file may set.
    public static let keys = ["name", "nice", "cpus", "duration", "workers", "interval", "warmup", "draws", "seed",
                              "tickets", "setsid", "policy", "busy-ms", "sleep-ms", "cgroups", "repeat"]

    /// Parses a plan file: `key = value` lines, `#` comments, blank lines ignored; keys not
    /// given keep their defaults.
    public static func parse(_ text: String) throws -> ExperimentPlan {
        var plan = ExperimentPlan()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmed
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else { throw StarveError("plan line \(n + 1): expected key = value, got '\(line)'") }
            do {
                try plan.set(String(line[..<eq]).trimmed, String(line[line.index(after: eq)...]))
            } catch let e as StarveError {
                throw StarveError("plan line \(n + 1): \(e.message)")
            }
        }
        try plan.validate()
        return plan
    }

    /// Checks the values every cell relies on.
    public func validate() throws {
        guard !niceSets.isEmpty, niceSets.allSatisfy({ !$0.isEmpty }) else { throw StarveError("plan: nice needs at least one level") }
        guard !cpuSets.isEmpty else { throw StarveError("plan: cpus needs at least one CPU set") }
        guard !durations.isEmpty, durations.allSatisfy({ $0 > 0 && $0 <= 86_400 }) else { throw StarveError("plan: durations must be in (0, 86400] s") }
        guard interval > 0 && interval <= 3600 else { throw StarveError("plan: interval must be in (0, 3600] s") }
        guard warmup >= 0 && warmup <= 3600 else { throw StarveError("plan: warmup must be in [0, 3600] s") }
        guard (0...64).contains(workers) else { throw StarveError("plan: workers must be 0 (one per nice level) to 64") }
        guard (0...100_000_000).contains(draws) else { throw StarveError("plan: draws must be 0 to 100000000") }
        guard (1...100).contains(repeats) else { throw StarveError("plan: repeat must be 1 to 100") }
        guard (busyMs == nil) == (sleepMs == nil) else { throw StarveError("plan: busy-ms and sleep-ms go together") }
        if let b = busyMs, let s = sleepMs, !(b > 0 && s >= 0) { throw StarveError("plan: busy-ms must be > 0 and sleep-ms >= 0") }
    }

    /// The plan as a file `parse` reads back to the same plan (written next to the results).
    public var text: String {
        func num(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
        var lines = [
            "name = \(name)",
            "nice = " + niceSets.map { $0.map(String.init).joined(separator: ",") }.joined(separator: " ; "),
            "cpus = " + cpuSets.joined(separator: " ; "),
            "duration = " + durations.map(num).joined(separator: " ; "),
            "workers = \(workers)",
            "interval = \(num(interval))",
            "warmup = \(num(warmup))",
            "draws = \(draws)",
            "seed = \(seed)",
            "tickets = \(tickets.rawValue)",
            "setsid = \(setsid ? "yes" : "no")",
            "policy = \(policy)",
            "repeat = \(repeats)",
        ]
        if let b = busyMs, let s = sleepMs { lines += ["busy-ms = \(num(b))", "sleep-ms = \(num(s))"] }
        if !cgroups.isEmpty { lines.append("cgroups = " + cgroups.joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// One worker's result in one cell: a row of summary.csv.
public struct ExperimentSummaryRow: Sendable, Hashable {
    public var cell: Int
    public var worker: Int
    public var pid: Int
    public var nice: Int
    public var weight: Int
    public var tickets: Int
    /// Expected and measured shares over the cell (run averages), percent of one CPU.
    public var expectedPercent: Double
    public var measuredPercent: Double
    public var lotteryWinPercent: Double?
    public var lotteryTheoryPercent: Double?
    public var strideSharePercent: Double?
    /// Mean share of one CPU over the samples (not normalised within the set).
    public var cpuPercent: Double
    public var decidedBy: String
    public var samples: Int

    public var errorPP: Double { measuredPercent - expectedPercent }

    /// summary.csv's header.
    public static let csvHeader = ["cell", "worker", "pid", "nice", "weight", "tickets", "expected_share_pct", "measured_share_pct",
                                   "share_error_pp", "lottery_win_pct", "lottery_theory_pct", "stride_share_pct", "cpu_pct",
                                   "share_decided_by", "samples"]

    /// The row's fields, in `csvHeader` order.
    public var csvFields: [String] {
        let f = { (x: Double?) in x.map { formatFixed($0, decimals: 2) } ?? "" }
        return [String(cell), String(worker), String(pid), String(nice), String(weight), String(tickets), f(expectedPercent),
                f(measuredPercent), f(errorPP), f(lotteryWinPercent), f(lotteryTheoryPercent), f(strideSharePercent),
                f(cpuPercent), decidedBy, String(samples)]
    }

    /// Summarises one cell from starve-dump's CSV lines (header first, `--share` columns on):
    /// per worker pid, the last sample's run averages, and lottery wins / draws over all samples.
    public static func summarize(cell: Int, workerPIDs: [Int], dumpCSV: String) -> [ExperimentSummaryRow] {
        let lines = dumpCSV.split(separator: "\n")
        guard let header = lines.first.map(CSV.parseRecord) else { return [] }
        let column = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var byPID: [Int: [[String]]] = [:]
        for line in lines.dropFirst() {
            let f = CSV.parseRecord(line)
            guard let c = column["pid"], c < f.count, let pid = Int(f[c]) else { continue }
            byPID[pid, default: []].append(f)
        }
        return workerPIDs.enumerated().compactMap { worker, pid in
            guard let rows = byPID[pid], !rows.isEmpty else { return nil }
            func value(_ row: [String], _ name: String) -> String? {
                column[name].flatMap { $0 < row.count && !row[$0].isEmpty ? row[$0] : nil }
            }
            let competing = rows.filter { value($0, "share_competing") == "1" }
            let last = competing.last ?? rows.last!
            let wins = competing.compactMap { value($0, "lottery_wins").flatMap(Int.init) }.reduce(0, +)
            let draws = competing.compactMap { value($0, "lottery_draws").flatMap(Int.init) }.reduce(0, +)
            let theory = competing.compactMap { value($0, "lottery_theory_pct").flatMap(Double.init) }
            let cpu = rows.compactMap { value($0, "cpu_pct").flatMap(Double.init) }
            return ExperimentSummaryRow(
                cell: cell, worker: worker, pid: pid,
                nice: value(last, "nice").flatMap(Int.init) ?? 0,
                weight: value(last, "nice").flatMap(Int.init).map { Int(NiceWeight.weight(nice: $0, policy: value(last, "policy").flatMap(Int.init) ?? 0)) } ?? 0,
                tickets: value(last, "tickets").flatMap(Int.init) ?? 0,
                expectedPercent: value(last, "expected_share_run_pct").flatMap(Double.init) ?? 0,
                measuredPercent: value(last, "measured_share_run_pct").flatMap(Double.init) ?? 0,
                lotteryWinPercent: draws > 0 ? Double(wins) * 100 / Double(draws) : nil,
                lotteryTheoryPercent: theory.isEmpty ? nil : theory.reduce(0, +) / Double(theory.count),
                strideSharePercent: value(last, "stride_share_pct").flatMap(Double.init),
                cpuPercent: cpu.isEmpty ? 0 : cpu.reduce(0, +) / Double(cpu.count),
                decidedBy: value(last, "share_decided_by") ?? "",
                samples: competing.count)
        }
    }
}

extension String {
    fileprivate var trimmed: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s.removeLast() }
        return String(s)
    }

    fileprivate var replacingSpaces: String { String(filter { $0 != " " }) }
}
