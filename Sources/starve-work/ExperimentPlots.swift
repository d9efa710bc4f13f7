import Foundation
import Glibc
import StarveModel
import StarveHost

/// Per-worker runtime over time in one cell, from starve-dump's CSV.
struct ExperimentSeries {
    struct Point { var elapsedS: Double; var runtimeS: Double; var expectedS: Double }
    let cell: ExperimentCell
    /// Per worker (index order): nice and points.
    var workers: [(nice: Int, points: [Point])] = []

    init(cell: ExperimentCell, workerPIDs: [Int], dumpCSV: String) {
        self.cell = cell
        let lines = dumpCSV.split(separator: "\n")
        guard let header = lines.first.map(CSV.parseRecord) else { return }
        let col = Dictionary(header.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        var byPID: [Int: [[String]]] = [:]
        for line in lines.dropFirst() {
            let f = CSV.parseRecord(line)
            if let c = col["pid"], c < f.count, let pid = Int(f[c]) { byPID[pid, default: []].append(f) }
        }
        func num(_ row: [String], _ name: String) -> Double {
            col[name].flatMap { $0 < row.count ? Double(row[$0]) : nil } ?? 0
        }
        for pid in workerPIDs {
            let rows = byPID[pid] ?? []
            var elapsed = 0.0, runtime = 0.0, expected = 0.0
            var points = [Point(elapsedS: 0, runtimeS: 0, expectedS: 0)]
            for r in rows {
                let dt = num(r, "interval_ns") / 1e9
                elapsed += dt
                runtime += num(r, "runtime_delta_ns") / 1e9
                expected += num(r, "expected_share_pct") / 100 * dt
                points.append(Point(elapsedS: elapsed, runtimeS: runtime, expectedS: expected))
            }
            workers.append((nice: rows.last.map { Int(num($0, "nice")) } ?? 0, points: points))
        }
    }
}

/// share.png (measured vs expected share per nice level) and runtime.png (per-task runtime
/// over time), drawn by gnuplot from data files kept next to the scripts in plots/.
enum ExperimentPlots {
    static func write(plan: ExperimentPlan, summary: [ExperimentSummaryRow], series: [ExperimentSeries],
                      folder: ExperimentFolder) throws {
        let dir = folder.path + "/plots"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let plotFolder = try ExperimentFolder(existing: dir)
        let cells = plan.cells
        let f2 = { (x: Double) in formatFixed(x, decimals: 3) }

        // share.dat: one block per cell, rows sorted by nice.
        var share = ""
        for cell in cells {
            share += "# cell \(cell.index): \(cell.label)\n# nice expected_pct measured_pct lottery_win_pct\n"
            for r in summary.filter({ $0.cell == cell.index }).sorted(by: { ($0.nice, $0.worker) < ($1.nice, $1.worker) }) {
                share += "\(r.nice) \(f2(r.expectedPercent)) \(f2(r.measuredPercent)) \(r.lotteryWinPercent.map(f2) ?? "NaN")\n"
            }
            share += "\n\n"
        }
        try plotFolder.write("share.dat", share)
        var plots: [String] = []
        for (k, cell) in cells.enumerated() {
            let lt = k + 1
            plots.append("'share.dat' index \(k) using 1:2 with linespoints lt \(lt) dt 2 pt 6 ps 1.6 title '\(cell.label): expected'")
            plots.append("'share.dat' index \(k) using 1:3 with points lt \(lt) pt 7 ps 1.2 title '\(cell.label): measured'")
            if plan.draws > 0 {
                plots.append("'share.dat' index \(k) using 1:4 with points lt \(lt) pt 2 ps 1.2 title '\(cell.label): lottery'")
            }
        }
        let shareScript = """
            # Measured vs expected CPU share per nice level; regenerate with: gnuplot share.gp
            set terminal pngcairo size 1100,650 font ',11'
            set output '../share.png'
            set title "\(plan.name): measured vs expected CPU share per nice level"
            set xlabel 'nice'
            set ylabel 'share, % of one CPU'
            set yrange [0:*]
            set offsets 0.5, 0.5, 0, 0
            set grid
            set key outside right top
            plot \(plots.joined(separator: ", \\\n     "))

            """
        try plotFolder.write("share.gp", shareScript)

        // runtime.dat: one block per (cell, worker).
        var runtime = ""
        var panels: [String] = []
        var block = 0
        for s in series {
            var lines: [String] = []
            for (w, worker) in s.workers.enumerated() {
                runtime += "# cell \(s.cell.index) worker \(w) nice \(worker.nice)\n# elapsed_s runtime_s expected_runtime_s\n"
                for p in worker.points { runtime += "\(f2(p.elapsedS)) \(f2(p.runtimeS)) \(f2(p.expectedS))\n" }
                runtime += "\n\n"
                lines.append("'runtime.dat' index \(block) using 1:2 with linespoints lt \(w + 1) pt 7 ps 0.6 title 'worker \(w) nice \(worker.nice)'")
                lines.append("'runtime.dat' index \(block) using 1:3 with lines lt \(w + 1) dt 2 notitle")
                block += 1
            }
            panels.append("set title 'cell \(s.cell.index): \(s.cell.label) (dashed: expected)'\nplot \(lines.joined(separator: ", \\\n     "))")
        }
        try plotFolder.write("runtime.dat", runtime)
        let rowsCount = max(series.count, 1)
        let runtimeScript = """
            # Cumulative on-CPU time of each worker over the cell, with the CFS expectation dashed.
            set terminal pngcairo size 1100,\(max(400, 330 * rowsCount)) font ',11'
            set output '../runtime.png'
            set multiplot layout \(rowsCount),1
            set xlabel 'seconds since sampling started'
            set ylabel 'on-CPU time, s'
            set grid
            set key left top
            \(panels.joined(separator: "\n"))
            unset multiplot

            """
        try plotFolder.write("runtime.gp", runtimeScript)

        for script in ["share.gp", "runtime.gp"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["gnuplot", script]
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            do {
                try p.run()
                p.waitUntilExit()
            } catch {
                throw StarveError("cannot run gnuplot (apt-get install -y gnuplot-nox): \(error.localizedDescription); data and scripts are in \(dir)")
            }
            guard p.terminationStatus == 0 else {
                throw StarveError("gnuplot \(script) failed (exit \(p.terminationStatus)); install gnuplot-nox, then rerun it in \(dir)")
            }
        }
    }
}

extension ExperimentFolder {
    /// An existing directory, written into as is.
    init(existing path: String) throws {
        self.init(unchecked: path)
    }
}
