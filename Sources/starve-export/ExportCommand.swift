import ArgumentParser
import Foundation
import StarveBPF
import StarveHost
import StarveModel
import StarveCLI
import StarveExport

/// starve-export: the sampler's workload figures for a fleet: a Prometheus /metrics endpoint,
/// a node_exporter textfile, an OTLP/HTTP push.
@main
struct StarveExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "starve-export",
        abstract: "Export starve's per-workload (and per-Slurm-job) run-queue waits, preemptions and throttling to Prometheus (/metrics), node_exporter (textfile) or an OTLP receiver.",
        discussion: "Needs no root when the pins are readable (starve-load --group). Started before starve-load, or across an unload and reload, it serves starve_up 0 and picks the pins up again. Metric families: docs/export.md.")

    @OptionGroup var pins: PinDirectory

    @Option(help: "Serve /metrics on HOST:PORT ([IPv6]:PORT, :PORT for every address), or 'none'.")
    var listen: String = ListenAddress.default.description

    @Option(help: "Seconds between samples (scrapes in between see the last sample).")
    var interval: Double = ExportSettings.defaultInterval

    @Option(help: "Workloads with series of their own; the rest are summed into workload=\"other\".")
    var maxWorkloads: Int = FleetMetrics.defaultMaxWorkloads

    @Option(help: "Preemptors per workload in the victim x preemptor families.")
    var maxPreemptors: Int = FleetMetrics.defaultMaxPreemptors

    @Option(help: "Seconds after its last thread is gone that a workload stops being exported.")
    var expire: Double = ExportSettings.defaultExpirySeconds

    @Option(help: "Slurm jobs with series of their own at once (the per-job families; 0: none). A job arriving when all are taken gets none until a place frees (counted).")
    var maxJobs: Int = JobMetrics.defaultMaxJobs

    @Option(help: "Seconds a finished Slurm job keeps its series (then they stop).")
    var jobRetention: Double = JobMetrics.defaultRetentionSeconds

    @Option(help: "Also write the metrics to this file after each sample (atomic rename; for node_exporter's textfile collector, must end in .prom).")
    var textfile: String?

    @Option(help: "Also push the metrics to this OTLP/HTTP receiver (protobuf), e.g. http://collector:4318/v1/metrics.")
    var otlpEndpoint: String?

    @Option(help: "Seconds between OTLP pushes (rounded to samples).")
    var otlpInterval: Double = 15

    @Option(help: "OTLP resource attribute service.name.")
    var serviceName: String = "starve"

    @Option(help: "OTLP resource attribute host.name (default: this host's name).")
    var hostName: String?

    @Option(help: "Samples to take; 0 = until SIGINT/SIGTERM.")
    var iterations: Int = 0

    @Flag(help: "Do not look processes up in /proc when their cgroups name no container, pod or Slurm job.")
    var noProcessFallback = false

    func validate() throws {
        guard interval > 0 && interval <= 3600 else { throw ValidationError("--interval must be in (0, 3600] seconds") }
        guard maxWorkloads >= 1 else { throw ValidationError("--max-workloads must be 1 or more") }
        guard maxPreemptors >= 0 else { throw ValidationError("--max-preemptors must be 0 or more") }
        guard expire >= interval else { throw ValidationError("--expire must be at least --interval (\(interval) s)") }
        guard maxJobs >= 0 else { throw ValidationError("--max-jobs must be 0 (no job families) or more") }
        guard jobRetention >= interval && jobRetention <= 86_400 else {
            throw ValidationError("--job-retention must be at least --interval (\(interval) s) and at most 86400 s")
        }
        guard iterations >= 0 else { throw ValidationError("--iterations must be 0 (until a signal) or more") }
        if listen != "none" {
            do { _ = try ListenAddress.parse(listen) } catch { throw ValidationError("\(error)") }
        }
        if listen == "none" && textfile == nil && otlpEndpoint == nil {
            throw ValidationError("nothing to do: --listen none and no --textfile or --otlp-endpoint")
        }
        guard otlpInterval > 0 && otlpInterval <= 86_400 else { throw ValidationError("--otlp-interval must be in (0, 86400] seconds") }
        guard !serviceName.isEmpty else { throw ValidationError("--service-name must not be empty") }
    }

    func run() throws {
        // Before any thread starts: SIGINT and SIGTERM are taken between samples.
        let signals = StopSignals()
        let pinDir = pins.pinDir
        try ExportLoop.checkPins(pinDir)
        var settings = ExportSettings()
        settings.pinDirectory = pinDir
        settings.interval = interval
        settings.maxWorkloads = maxWorkloads
        settings.maxPreemptors = maxPreemptors
        settings.expirySeconds = expire
        settings.maxJobs = maxJobs
        settings.jobRetentionSeconds = jobRetention
        settings.processFallback = !noProcessFallback
        settings.iterations = iterations

        var sinks: [MetricsSink] = []
        if let textfile { sinks.append(try TextfileSink(path: textfile)) }
        if let otlpEndpoint {
            let host = hostName ?? ProcessInfo.processInfo.hostName
            sinks.append(try OTLPPushSink(endpoint: otlpEndpoint, interval: otlpInterval,
                                          resource: .init(hostName: host, serviceName: serviceName)))
        }
        let store = MetricsStore()
        sinks.append(store)
        var server: MetricsServer?
        if listen != "none" {
            server = try MetricsServer(address: try ListenAddress.parse(listen), store: store)
            FileHandle.standardError.write(Data("starve-export: serving http://\(server!.address)/metrics from \(pinDir)\n".utf8))
        }
        defer { server?.close() }
        ExportLoop(settings: settings, signals: signals, sinks: sinks).run()
    }
}
