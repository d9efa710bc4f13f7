// swift-tools-version:6.0
// starve: who is starved of CPU on a Linux host, by whom, and why. See README.md.
import PackageDescription

let package = Package(
    name: "starve",
    products: [
        .executable(name: "starve-load", targets: ["starve-load"]),
        .executable(name: "starve-dump", targets: ["starve-dump"]),
        .executable(name: "starve-work", targets: ["starve-work"]),
        .executable(name: "starve-export", targets: ["starve-export"]),
        .executable(name: "starve-tune", targets: ["starve-tune"]),
        .library(name: "StarveModel", targets: ["StarveModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // starve-export: the HTTP server (NIOHTTP1; docs/export.md says why not a framework).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // starve-export: OTLP/HTTP protobuf, code generated once from opentelemetry-proto and committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // YAML: policy files (starve-tune; a parser over libyaml that gives every node its line, so a
        // bad policy is reported as `file:line: what is wrong`), the job views' thresholds file and
        // their YAML output (docs/jobs.md).
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // libbpf, imported as a system library (Debian: libbpf-dev, libelf-dev).
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]
        ),
        // bpf/build/starve.bpf.o embedded in the executables (starve-load loads it from memory):
        // built by `make -C bpf` before `swift build`; without it, nothing is embedded.
        .target(name: "CStarveObject", cSettings: [
            .define("CSTARVE_OBJECT_PATH", to: "\(Context.packageDirectory)/bpf/build/starve.bpf.o"),
            // Written by bpf/Makefile with the object: included, so a new object rebuilds this.
            .define("CSTARVE_OBJECT_STAMP_PATH", to: "\(Context.packageDirectory)/bpf/build/starve.bpf.o.stamp.h"),
        ]),
        // The one header shared with bpf/: every struct that crosses the kernel/user boundary.
        .target(name: "CStarve"),
        // Pure computation: deltas, EMAs, histograms, percentiles, fair share, lottery, patterns,
        // verdicts, workload identity from paths, CSV/JSON/table formatting. No I/O, no clocks,
        // no libbpf, no ArgumentParser: testable on fixed inputs anywhere.
        .target(name: "StarveModel"),
        // Linux without BPF: the one whole-file reader, procfs (schedstat, affinity, environ),
        // cgroupfs (mounts, cpu.stat, scratch cgroups), symbols, runtime files, clocks, signals,
        // CSV files. Every read of a host file goes through here.
        .target(name: "StarveHost", dependencies: ["StarveModel", "CStarveSys"]),
        // libbpf wrapper: objects, maps, links, pins, bpffs; loading and reading the pins.
        .target(name: "StarveBPF", dependencies: ["CLibbpf", "CStarve", "CStarveObject", "StarveModel", "StarveHost"]),
        // The sampler: pins + cgroup files -> one typed Snapshot per interval (threads, cgroups,
        // processes, workloads). Every sampling front-end consumes it.
        .target(name: "StarveMonitor", dependencies: ["StarveBPF", "StarveModel", "StarveHost"]),
        // The terminal front-ends: `starve-dump top` (a live full-screen view) and `hist`
        // (runqlat-style histograms), both consumers of the sampler's Snapshot.
        .target(name: "StarveConsole", dependencies: ["StarveMonitor", "StarveBPF", "StarveModel", "StarveHost"]),
        // HPC jobs: per Slurm job time split, efficiency, classification, reports; consumes the
        // sampler's Snapshot and Slurm's squeue.
        .target(name: "StarveJobs", dependencies: ["StarveModel", "StarveHost", "StarveMonitor", "StarveBPF", .product(name: "Yams", package: "Yams")]),
        // Linux calls Swift's Glibc does not export (affinity, parent-death signal, setsid spawn,
        // malloc tuning).
        .target(name: "CStarveSys"),
        // Process control for workloads (spawn, nice, affinity, reaping).
        .target(name: "StarveWorkload", dependencies: ["CStarveSys", "StarveModel", "StarveHost"]),
        // What the executables share on the command line (ArgumentParser option groups such as
        // `--pin-dir`), so a flag is defined once; the libraries stay free of ArgumentParser.
        .target(name: "StarveCLI", dependencies: [
            "StarveBPF", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fleet export: Prometheus text / OpenMetrics, OTLP, textfile encoders of the sampler's
        // snapshot (cardinality folding, series expiry), the /metrics endpoint and the OTLP push.
        .target(name: "StarveExport", dependencies: [
            "StarveModel", "StarveHost", "StarveMonitor", "StarveBPF", "CStarve", "StarveJobs",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .executableTarget(name: "starve-export", dependencies: [
            "StarveExport", "StarveModel", "StarveHost", "StarveCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The tuner: policies (YAML), the rule engine (pure: hysteresis, cooldowns, bounds, the
        // global cap), cgroup / nice knobs, the audit log and rollback. Consumes Sampler snapshots.
        .target(name: "StarveTune", dependencies: [
            "StarveModel", "StarveHost", "StarveMonitor",
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "starve-tune", dependencies: [
            "StarveTune", "StarveModel", "StarveHost", "StarveMonitor", "StarveCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-load", dependencies: [
            "StarveBPF", "StarveModel", "StarveHost", "StarveCLI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-dump", dependencies: [
            "StarveBPF", "StarveModel", "StarveHost", "StarveMonitor", "StarveCLI", "StarveJobs", "StarveConsole",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-work", dependencies: [
            "StarveWorkload", "StarveModel", "StarveHost",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Overhead benchmark helper (scripts/bench.sh): starve-dump's cost on synthetic maps, report.
        .executableTarget(name: "starve-bench", dependencies: [
            "StarveBPF", "StarveModel", "StarveHost", "CStarve", "CLibbpf", "StarveExport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "StarveModelTests", dependencies: ["StarveModel"]),
        .testTarget(name: "StarveHostTests", dependencies: ["StarveModel", "StarveHost"]),
        .testTarget(name: "StarveConsoleTests", dependencies: ["StarveConsole", "StarveModel"]),
        .testTarget(name: "StarveExportTests", dependencies: ["StarveExport", "StarveModel", "StarveJobs"]),
        .testTarget(name: "StarveTuneTests", dependencies: ["StarveTune", "StarveModel", "StarveMonitor"]),
        .testTarget(name: "StarveIntegrationTests", dependencies: ["StarveBPF", "StarveModel", "StarveHost", "StarveMonitor", "CStarve", "StarveExport",
                                                                   .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "StarveJobsTests", dependencies: ["StarveJobs", "StarveModel", "StarveBPF"]),
    ],
    swiftLanguageModes: [.v6]
)
