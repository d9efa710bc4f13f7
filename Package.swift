// swift-tools-version:6.0
// starve: who is starved of CPU on a Linux host, by whom, and why. See README.md.
import PackageDescription

let package = Package(
    name: "starve",
    products: [
        .executable(name: "starve-load", targets: ["starve-load"]),
        .executable(name: "starve-dump", targets: ["starve-dump"]),
        .executable(name: "starve-work", targets: ["starve-work"]),
        .library(name: "StarveCore", targets: ["StarveCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
        // Pure analysis: deltas, EMAs, percentiles, fair share, lottery, CSV/JSON/tables.
        // No libbpf, no ArgumentParser: testable on fixed inputs anywhere.
        .target(name: "StarveCore", dependencies: ["CStarveSys"]),
        // libbpf wrapper: objects, maps, links, pins, bpffs; loading and reading the pins.
        .target(name: "StarveBPF", dependencies: ["CLibbpf", "CStarve", "CStarveObject", "StarveCore"]),
        // The sampler: pins + cgroup files -> one typed Snapshot per interval (threads, cgroups,
        // processes, workloads). Every sampling front-end consumes it.
        .target(name: "StarveMonitor", dependencies: ["StarveBPF", "StarveCore"]),
        // The terminal front-ends: `starve-dump top` (a live full-screen view) and `hist`
        // (runqlat-style histograms), both consumers of the sampler's Snapshot.
        .target(name: "StarveConsole", dependencies: ["StarveMonitor", "StarveBPF", "StarveCore"]),
        // Linux calls Swift's Glibc does not export (affinity, parent-death signal, setsid spawn,
        // malloc tuning).
        .target(name: "CStarveSys"),
        // Process control for workloads (spawn, nice, affinity, reaping).
        .target(name: "StarveWorkload", dependencies: ["CStarveSys", "StarveCore"]),
        .executableTarget(name: "starve-load", dependencies: [
            "StarveBPF", "StarveCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "starve-dump", dependencies: [
            "StarveBPF", "StarveCore", "StarveMonitor", "StarveConsole",
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
        .testTarget(name: "StarveIntegrationTests", dependencies: ["StarveBPF", "StarveCore", "StarveMonitor", "CStarve"]),
    ],
    swiftLanguageModes: [.v5]
)
