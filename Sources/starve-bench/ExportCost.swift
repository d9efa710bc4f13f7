import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import StarveBPF
import StarveExport
import StarveHost
import StarveModel

/// Times what starve-export costs at N threads over M cgroups: synthetic pinned maps (as
/// `starve-bench dump`), the exporter's own loop (`ExportLoop`: the shared sampler with the
/// workloads and cgroups views, the pattern detector, the families) publishing to the store its
/// HTTP server serves, and one real HTTP scrape of /metrics after each sample (the first scrape
/// of a sample also encodes it). Every counter of every thread moves between samples.
struct ExportCost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "starve-export's sample + encode + scrape cost at N synthetic threads; CSV on stdout (root)."
    )

    @Option(help: "Threads in the synthetic tasks map.")
    var threads: Int = 100_000

    @Option(help: "Distinct cpu cgroup ids the threads are spread over.")
    var cgroups: Int = 10_000

    @Option(name: .customLong("repeat"), help: "Timed samples (after the baseline).")
    var samples: Int = 5

    @Option(help: "--max-workloads of the exporter.")
    var maxWorkloads: Int = FleetMetrics.defaultMaxWorkloads

    @Option(help: "Scratch pin directory on bpffs (removed after).")
    var pinDir: String = "/sys/fs/bpf/starve-bench-export"

    func validate() throws {
        guard samples >= 1, threads >= 1, cgroups >= 1 else { throw ValidationError("--repeat, --threads and --cgroups must be at least 1") }
        guard pinDir != PinLayout.defaultDirectory else { throw ValidationError("refusing the live pin directory \(pinDir)") }
    }

    func run() throws {
        Allocator.reuseLargeBlocks()
        guard geteuid() == 0 else { throw StarveError("starve-bench export must run as root (creates maps)") }
        let maps = try SyntheticMaps(layout: PinLayout(directory: pinDir), threads: threads, cgroups: cgroups)
        defer { maps.remove() }
        let store = MetricsStore()
        let server = try MetricsServer(address: ListenAddress(host: "127.0.0.1", port: 0), store: store)
        defer { server.close() }
        let probe = ScrapeProbe(url: "http://127.0.0.1:\(server.address.port)/metrics", maps: maps, threads: threads, cgroups: cgroups)
        var settings = ExportSettings()
        settings.pinDirectory = pinDir
        settings.tasksPath = maps.tasksPath
        settings.interval = 0.001  // the loop's wait: 1 ms of each sample_ms is this sleep
        settings.iterations = samples
        settings.maxWorkloads = maxWorkloads
        settings.processFallback = false  // the made-up pids are not this host's processes
        print("threads,cgroups,sample,sample_ms,scrape_ms,total_ms,cpu_ms,bytes,series")
        ExportLoop(settings: settings, signals: StopSignals(), sinks: [store, probe]).run()
        if let error = probe.error { throw StarveError(error) }
    }
}

/// Runs after the store in the loop's sinks: times the sample since its own last turn, scrapes
/// the server, then moves every counter for the next sample (not timed).
private final class ScrapeProbe: MetricsSink {
    let url: String
    let maps: SyntheticMaps
    let threads: Int
    let cgroups: Int
    var error: String?
    private var turn = 0
    private var lastEnd = monotonicNs()
    private var lastCPU = cpuNs()

    init(url: String, maps: SyntheticMaps, threads: Int, cgroups: Int) {
        self.url = url
        self.maps = maps
        self.threads = threads
        self.cgroups = cgroups
    }

    func publish(_ families: [MetricFamily], unixNs: UInt64) {
        let t1 = monotonicNs()
        // The first publish is the baseline read (no interval yet): nothing to time.
        if turn > 0 {
            let body = scrape()
            let t2 = monotonicNs(), cpu = cpuNs()
            let series = body.split(separator: "\n").filter { !$0.hasPrefix("#") }.count
            let ms = { (a: UInt64, b: UInt64) in formatFixed(Double(b &- a) / 1e6, decimals: 3) }
            print("\(threads),\(cgroups),\(turn),\(ms(lastEnd, t1)),\(ms(t1, t2)),\(ms(lastEnd, t2)),\(ms(lastCPU, cpu)),\(body.utf8.count),\(series)")
            if body.isEmpty { error = "the scrape of \(url) returned nothing" }
        }
        turn += 1
        do { try maps.advance(generation: UInt64(turn)) } catch { self.error = "\(error)" }
        lastEnd = monotonicNs()
        lastCPU = cpuNs()
    }

    private func scrape() -> String {
        let done = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var body = "" }  // written by the one URLSession callback, read after the semaphore
        let box = Box()
        URLSession.shared.dataTask(with: URL(string: url)!) { data, _, _ in
            box.body = data.map { String(decoding: $0, as: UTF8.self) } ?? ""
            done.signal()
        }.resume()
        done.wait()
        return box.body
    }
}
