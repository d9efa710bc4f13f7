import ArgumentParser
import CLibbpf
import CStarve
import Foundation
import Glibc
import StarveBPF
import StarveModel
import StarveHost

/// Times what one starve-dump sample costs at N threads: pins synthetic maps with starve's layout
/// (same names, value sizes and config ABI) under a scratch pin directory, writes N made-up
/// `tasks` iterator records to a file in /dev/shm (what reading the iterator pin yields, without
/// N live threads), and runs starve-dump's own code path on them: PinnedCollection.readTasks
/// (read and decode), IntervalTracker.advance, busiest and the table (top 20: the default
/// output), and apart the CSV of every row in order (what --output adds). The kernel's side of
/// a real read (the iterator walking the threads) is timed apart by `starve-bench iter`.
struct DumpCost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "starve-dump's read + analysis cost at N synthetic threads; CSV on stdout (root)."
    )

    @Option(help: "Comma-separated map sizes (threads).")
    var entries: String = "1000,10000,100000"

    @Option(name: .customLong("repeat"), help: "Timed samples per size (after one baseline sample).")
    var samples: Int = 5

    @Flag(help: "Skip the CSV rendering of every row (csv_ms is then 0).")
    var noCSV = false

    @Option(help: "Scratch pin directory on bpffs (removed after).")
    var pinDir: String = "/sys/fs/bpf/starve-bench-dump"

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard pinDir != PinLayout.defaultDirectory else { throw ValidationError("refusing the live pin directory \(pinDir)") }
    }

    func run() throws {
        Allocator.reuseLargeBlocks()
        guard geteuid() == 0 else { throw StarveError("starve-bench dump must run as root (creates maps)") }
        let sizes = entries.split(separator: ",").compactMap { Int($0) }
        print("entries,sample,read_ms,analyse_ms,table_ms,csv_ms,total_ms,cpu_ms")
        for n in sizes {
            let maps = try SyntheticMaps(layout: PinLayout(directory: pinDir), threads: n)
            defer { maps.remove() }
            let collection = try PinnedCollection(layout: maps.layout, tasksPath: maps.tasksPath)
            var tracker = IntervalTracker(alpha: 0.3)
            let formatter = SampleFormatter()
            let baseline = try collection.readTasks()
            precondition(baseline.tasks.count == n, "read \(baseline.tasks.count) of \(n) entries")
            _ = tracker.advance(to: baseline.tasks, atNs: baseline.atNs)
            for sample in 1...samples {
                try maps.advance(generation: UInt64(sample))  // every counter moves, as on a busy host
                let cpu0 = cpuNs(), t0 = monotonicNs()
                let snapshot = try collection.readTasks()
                let t1 = monotonicNs()
                let intervals = tracker.advance(to: snapshot.tasks, atNs: snapshot.atNs)
                let top = WorkloadSort.wait.order(intervals, top: 20)  // starve-dump's default: a table of the top 20
                let t2 = monotonicNs()
                let context = SampleContext(sample: sample, timestamp: Date())
                let table = formatter.table(context, top, tracked: snapshot.tasks.count)
                let t3 = monotonicNs()
                let csv = noCSV ? "-" : formatter.csvRows(context, WorkloadSort.wait.order(intervals, top: 0))  // --output: every row, in order
                let t4 = monotonicNs(), cpu1 = cpuNs()
                precondition(!table.isEmpty && !csv.isEmpty && intervals.count == n)
                let ms = { (a: UInt64, b: UInt64) in formatFixed(Double(b &- a) / 1e6, decimals: 3) }
                print("\(n),\(sample),\(ms(t0, t1)),\(ms(t1, t2)),\(ms(t2, t3)),\(ms(t3, t4)),\(ms(t0, t3)),\(ms(cpu0, cpu1))")
            }
        }
    }
}

/// CPU time of this process, ns.
func cpuNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// starve's maps that starve-dump reads, created with bpf_map_create and pinned under `layout`,
/// and a file of made-up `tasks` records with real-looking pids; the maps belong to no program.
final class SyntheticMaps {
    let layout: PinLayout
    let threads: Int
    /// Distinct cpu cgroup ids the threads are spread over.
    let cgroups: Int
    /// The made-up iterator output.
    let tasksPath: String
    private var fds: [Int32] = []
    private var pinned: [String] = []

    init(layout: PinLayout, threads: Int, cgroups: Int = 16) throws {
        self.layout = layout
        self.threads = threads
        self.cgroups = max(1, cgroups)
        tasksPath = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/starve-bench-tasks-\(getpid())"
        do {
            for dir in [layout.directory, layout.mapsDirectory] where access(dir, F_OK) != 0 {
                guard mkdir(dir, 0o700) == 0 else { throw BPFError("create \(dir)", errno: errno) }
                pinned.append(dir)
            }
            _ = try create(PinLayout.statsMap, BPF_MAP_TYPE_PERCPU_ARRAY, key: 4, value: MemoryLayout<starve_stats>.size, max: 1)
            _ = try create(PinLayout.cpuMap, BPF_MAP_TYPE_PERCPU_ARRAY, key: 4, value: MemoryLayout<starve_cpu>.size, max: 1)
            _ = try create(PinLayout.pairsMap, BPF_MAP_TYPE_LRU_HASH, key: MemoryLayout<starve_pair_key>.size, value: MemoryLayout<starve_pair>.size, max: 16)
            _ = try create(PinLayout.exitedMap, BPF_MAP_TYPE_LRU_HASH, key: MemoryLayout<starve_exited_key>.size, value: MemoryLayout<starve_exited>.size, max: 16)
            let configFD = try create(PinLayout.configMap, BPF_MAP_TYPE_ARRAY, key: 4, value: MemoryLayout<starve_config>.size, max: 1)
            var config = starve_config()
            config.abi_version = UInt32(STARVE_ABI_VERSION)
            config.loaded_at_ns = monotonicNs()
            var zero: UInt32 = 0
            guard bpf_map_update_elem(configFD, &zero, &config, UInt64(BPF_ANY)) == 0 else {
                throw BPFError("write synthetic config", errno: errno)
            }
            try advance(generation: 0)
        } catch {
            remove()
            throw error
        }
    }

    private func create(_ name: String, _ type: bpf_map_type, key: Int, value: Int, max: UInt32) throws -> Int32 {
        let fd = bpf_map_create(type, name, UInt32(key), UInt32(value), max, nil)
        guard fd >= 0 else { throw BPFError("create synthetic map \(name)", errno: fd == -1 ? errno : -fd) }
        fds.append(fd)
        let path = layout.map(name)
        guard bpf_obj_pin(fd, path) == 0 else { throw BPFError("pin \(path)", errno: errno) }
        pinned.append(path)
        return fd
    }

    /// Writes every thread's record for `generation`: each sample sees every counter moved.
    func advance(generation g: UInt64) throws {
        let records = (0..<threads).map { Self.thread($0, generation: g, cgroups: cgroups) }
        let fd = open(tasksPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StarveError("cannot write \(tasksPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = records.count * MemoryLayout<starve_task>.size
        let written = records.withUnsafeBytes { write(fd, $0.baseAddress, bytes) }
        guard written == bytes else { throw StarveError("short write to \(tasksPath)") }
    }

    /// A plausible thread: varied runtimes, waits spread over a few histogram slots.
    static func thread(_ i: Int, generation g: UInt64, cgroups: Int = 16) -> starve_task {
        var t = starve_task()
        t.pid = UInt32(1000 + i)
        t.tgid = UInt32(1000 + i - i % 8)
        let name = Array("worker-\(i)".utf8.prefix(15))
        withUnsafeMutableBytes(of: &t.comm) { b in for (k, c) in name.enumerated() { b[k] = c } }
        t.nice = Int32(i % 40) - 20
        t.static_prio = UInt32(t.nice + 120)
        t.prio = t.static_prio
        t.weight = 1024 << 10
        t.cpu_cgroup_id = 1 + UInt64(i % cgroups)
        t.dfl_cgroup_id = 1
        t.start_time_ns = 1_000_000 + UInt64(i)
        let k = UInt64(i % 97 + 1)
        t.runtime_ns = g * k * 1_000_000
        t.voluntary_switches = g * k
        t.involuntary_switches = g * (k / 3)
        t.wait_wakeup = starve_wait(total_ns: g * k * 20_000, count: g * k, max_ns: 500_000)
        t.wait_preempt = starve_wait(total_ns: g * (k / 3) * 80_000, count: g * (k / 3), max_ns: 900_000)
        t.migrations = g * (k % 5)
        t.last_cpu = UInt32(i % 2)
        withUnsafeMutableBytes(of: &t.wait_hist) { b in
            let slots = b.bindMemory(to: UInt32.self)
            for s in 10..<20 { slots[s] = UInt32(truncatingIfNeeded: g * k * UInt64(s - 9)) }
        }
        return t
    }

    /// Unpins everything and closes the maps (idempotent).
    func remove() {
        unlink(tasksPath)
        for path in pinned.reversed() { _ = unlink(path) == 0 || rmdir(path) == 0 }
        pinned = []
        for fd in fds { close(fd) }
        fds = []
    }

    deinit { remove() }
}
