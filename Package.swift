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
        .library(name: "StarveCore", targets: ["StarveCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // starve-export: the HTTP server (NIOHTTP1; docs/export.md says why not a framework).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // starve-export: OTLP/HTTP protobuf, code generated once from opentelemetry-proto and committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // libbpf, imported as a system library (Debian: libbpf-dev, libelf-dev).
        .systemLibrary(
            name: "CLibbpf",
            pkgConfig: "libbpf",
            providers: [.apt(["libbpf-dev", "libelf-dev", "zlib1g-dev"])]
        ),
        // The one header shared with bpf/: every struct that crosses the kernel/user boundary.
        .target(name: "CStarve"),
        // Pure analysis: deltas, EMAs, percentiles, fair share, lottery, CSV/JSON/tables.
        // No libbpf, no ArgumentParser: testable on fixed inputs anywhere.
        .target(name: "StarveCore", dependencies: ["CStarveSys"]),
        // libbpf wrapper: objects, maps, links, pins, bpffs; loading and reading the pins.
        .target(name: "StarveBPF", dependencies: ["CLibbpf", "CStarve", "StarveCore"]),
        // The sampler: pins + cgroup files -> one typed Snapshot per interval (threads, cgroups,
        // processes, workloads). Every sampling front-end consumes it.
        .target(name: "StarveMonitor", dependencies: ["StarveBPF", "StarveCore"]),
        // Linux calls Swift's Glibc does not export (affinity, parent-death signal, setsid spawn,
        // malloc tuning).
        .target(name: "CStarveSys"),
        // Process control for workloads (spawn, nice, affinity, reaping).
        .target(name: "StarveWorkload", dependencies: ["CStarveSys", "StarveCore"]),
        // Fleet export: Prometheus text / OpenMetrics, OTLP, textfile encoders of the sampler's
        // snapshot (cardinality folding, series expiry), the /metrics endpoint and the OTLP push.
        .target(name: "StarveExport", dependencies: [
            "StarveCore", "StarveMonitor", "StarveBPF", "CStarve",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .executableTarget(name: "starve-export", dependencies: [
            "StarveExport", "StarveCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-load", dependencies: [
            "StarveBPF", "StarveCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-dump", dependencies: [
            "StarveBPF", "StarveCore", "StarveMonitor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-work", dependencies: [
            "StarveWorkload", "StarveCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Overhead benchmark helper (scripts/bench.sh): starve-dump's cost on synthetic maps, report.
        .executableTarget(name: "starve-bench", dependencies: [
            "StarveBPF", "StarveCore", "CStarve", "CLibbpf",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "StarveCoreTests", dependencies: ["StarveCore"]),
        .testTarget(name: "StarveExportTests", dependencies: ["StarveExport", "StarveCore"]),
        .testTarget(name: "StarveIntegrationTests", dependencies: ["StarveBPF", "StarveCore", "StarveMonitor", "CStarve", "StarveExport"]),
    ],
    swiftLanguageModes: [.v5]
)
