import CLibbpf
import CStarve
import Glibc
import StarveModel
import StarveHost

/// A snapshot of a loaded collector: what `starve-load status` prints.
public struct CollectorStatus: Sendable {
    public struct Program: Sendable {
        public var name: String
        /// nil when the link pin could not be opened (not root).
        public var attached: Bool?
        public var programID: UInt32?
        /// Events run and total ns in them; only counted while kernel.bpf_stats_enabled=1.
        public var runCount: UInt64?
        public var runTimeNs: UInt64?
    }
    public struct Map: Sendable {
        public var name: String
        public var entries: Int?
        public var maxEntries: Int
    }
    public var directory: String
    public var abiVersion: UInt32?
    public var loadedForNs: UInt64?
    public var programs: [Program]
    public var maps: [Map]
    public var stats: CollectorStats?
    /// Records the `tasks` iterator gave (nil: it could not be read).
    public var threads: Int?
    /// Futex contention counters (`futex_stats`, summed over CPUs); nil without --futex.
    public var futex: (enters: UInt64, insertFailures: UInt64)?
    /// Live entries of `preempt_pairs` (nil: not read).
    public var pairsLive: Int? { maps.first { $0.name == PinLayout.pairsMap }?.entries }
    /// Live entries of `exited` (nil: not read).
    public var exitedLive: Int? { maps.first { $0.name == PinLayout.exitedMap }?.entries }

    /// Human-readable report.
    public func render() -> String {
        var out = "starve collector at \(directory)"
        if let abiVersion { out += " (ABI \(abiVersion)" + (loadedForNs.map { ", loaded \(formatFixed(Double($0) / 1e9, decimals: 1)) s ago" } ?? "") + ")" }
        out += "\n\n"
        out += renderTable(headers: ["PROGRAM", "ATTACHED", "PROG_ID", "RUN_CNT", "NS/EVENT"], rows: programs.map { p in
            let nsPerEvent: String = {
                guard let c = p.runCount, let t = p.runTimeNs else { return "-" }
                return c == 0 ? "- (kernel.bpf_stats_enabled=0)" : formatFixed(Double(t) / Double(c), decimals: 1)
            }()
            return [p.name, p.attached.map { $0 ? "yes" : "NO" } ?? "? (loader only)", p.programID.map(String.init) ?? "-",
                    p.runCount.map(String.init) ?? "-", nsPerEvent]
        }, leftAligned: [0, 1])
        if programs.contains(where: { $0.programID != nil && $0.runCount == nil }) {
            out += "(RUN_CNT and NS/EVENT need CAP_SYS_ADMIN: the kernel gives a program's fd by id to it only)\n"
        }
        out += "\n"
        out += renderTable(headers: ["MAP", "ENTRIES", "MAX", "FILL%"], rows: maps.map { m in
            [m.name, m.entries.map(String.init) ?? "-", String(m.maxEntries),
             m.entries.map { formatFixed(Double($0) / Double(max(1, m.maxEntries)) * 100, decimals: 1) } ?? "-"]
        }, leftAligned: [0])
        if let s = stats {
            out += "\n"
            var counters: [[String]] = [
                ["threads reported by the tasks iterator", threads.map(String.init) ?? "-"],
                ["sched_switch events", String(s.switches)],
                ["wakeup events", String(s.wakeups)],
                ["migrations", String(s.migrations)],
                ["exits", String(s.exits)],
                ["threads given storage", String(s.tasksCreated)],
                ["dropped: no storage (out of memory, or storage busy)", String(s.storageFailures)],
                ["missed wakeups (wait start unknown)", String(s.missedWakeups)],
                ["switch-outs under CFS throttling", String(s.throttledSwitches)],
                ["dropped: preempt_pairs entry not added", String(s.pairsMapFull)],
                ["preempt_pairs entries created", String(s.pairsCreated)],
                ["preempt_pairs entries evicted (LRU)", pairsLive.map { String(s.pairsCreated >= UInt64($0) ? s.pairsCreated - UInt64($0) : 0) } ?? "-"],
                ["waits booked past a thread's own slots", String(s.pairsOverflow)],
                ["thread slots folded at exit", String(s.pairsFolded)],
                ["exited threads folded into exited", String(s.exitedFolded)],
                ["dropped: exited thread not folded", String(s.exitedDropped)],
                ["exited threads whose last switch was not seen", String(s.exitsTracked >= s.exitedFolded ? s.exitsTracked - s.exitedFolded : 0)],
                ["exited entries created", String(s.exitedCreated)],
                ["exited entries evicted (LRU)", exitedLive.map { String(s.exitedCreated >= UInt64($0) ? s.exitedCreated - UInt64($0) : 0) } ?? "-"],
                ["starvations detected", String(s.starvations)],
                ["priority inversions detected", String(s.inversions)],
                ["priority-inheritance boosts", String(s.piBoosts)],
                ["migration storms detected", String(s.migrationStorms)],
                ["events written", String(s.eventsEmitted)],
                ["events lost: ring buffer full", String(s.eventsRingbufFull)],
                ["events lost: rate limit", String(s.eventsRateLimited)],
                ["events lost: sampling", String(s.eventsSampledOut)],
                ["events lost: PID filter", String(s.eventsFiltered)],
                ["kernel stacks not taken", String(s.kernelStackFailures)],
                ["user stacks not taken", String(s.userStackFailures)],
                ["events without stacks: event_stacks full", String(s.stacksRingbufFull)],
            ]
            if let f = futex {
                counters.append(["futex waits entered (--futex)", String(f.enters)])
                counters.append(["dropped: futex waits of threads without a futex_threads entry", String(f.insertFailures)])
            }
            out += renderTable(headers: ["COUNTER", "VALUE"], rows: counters, leftAligned: [0])
        }
        return out
    }
}

extension Collector {
    /// Reads what is pinned under `layout`: programs (attached? cost per event), map fill levels,
    /// and the drop counters. Links are pins of the loading user (and root): others see maps and counters.
    /// `countThreads`: walk the tasks iterator to count live threads (a reader that already read
    /// it this interval passes false).
    public static func status(layout: PinLayout, countThreads: Bool = true) throws -> CollectorStatus {
        try Bpffs.requirePinDir(layout.directory)
        var status = CollectorStatus(directory: layout.directory, programs: [], maps: [])
        let mapNames = listDirectory(layout.mapsDirectory)
        if mapNames.contains(PinLayout.configMap) { // starve's pins (the floor has no maps): this build's?
            let c = try PinnedCollection.readConfig(layout: layout)
            status.abiVersion = c.abi_version
            status.loadedForNs = monotonicNs() &- c.loaded_at_ns
        }
        for name in mapNames {
            let map = try PinnedMap(path: layout.map(name))
            var entries: Int? = nil
            if [BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH].contains(where: { map.info.type == $0.rawValue }) { entries = map.countKeys() }
            status.maps.append(.init(name: name, entries: entries, maxEntries: map.maxEntries))
            if name == PinLayout.futexStatsMap, status.abiVersion != nil,
               ((try? PinnedCollection.readConfig(layout: layout))?.flags ?? 0) & UInt32(STARVE_CONFIG_FUTEX) != 0 {
                try map.requireShape(key: UInt32.self, value: starve_futex_stats.self, perCPU: true)
                let perCPU = try map.perCPUValues(as: starve_futex_stats.self)
                status.futex = (perCPU.reduce(0) { $0 &+ $1.enters }, perCPU.reduce(0) { $0 &+ $1.insert_failures })
            }
            if name == PinLayout.statsMap {
                try map.requireShape(key: UInt32.self, value: starve_stats.self, perCPU: true)
                status.stats = PinnedCollection.sum(try map.perCPUValues(as: starve_stats.self))
            }
        }
        var threads = 0
        if countThreads, (try? PinnedCollection.readRecords(path: layout.tasksIterator) { _ in threads += 1 }) != nil { status.threads = threads }
        if access(layout.linksDirectory, R_OK | X_OK) != 0 {
            status.programs = [.init(name: "(links are readable by the loading user and root only)", attached: nil)]
            return status
        }
        for name in listDirectory(layout.linksDirectory) {
            status.programs.append(programStatus(name: name, path: layout.link(name)))
        }
        return status
    }

    /// One pinned link's program: attached, and its run count and time (bpf_stats).
    public static func programStatus(name: String, path: String) -> CollectorStatus.Program {
        var p = CollectorStatus.Program(name: name, attached: nil)
        let fd = bpf_obj_get(path)
        guard fd >= 0 else { return p }
        defer { close(fd) }
        var link = bpf_link_info()
        var len = UInt32(MemoryLayout<bpf_link_info>.size)
        guard bpf_obj_get_info_by_fd(fd, &link, &len) == 0 else { return p }
        p.attached = link.prog_id != 0
        p.programID = link.prog_id
        let progFD = bpf_prog_get_fd_by_id(link.prog_id)
        guard progFD >= 0 else { return p }
        defer { close(progFD) }
        var info = bpf_prog_info()
        len = UInt32(MemoryLayout<bpf_prog_info>.size)
        if bpf_obj_get_info_by_fd(progFD, &info, &len) == 0 {
            p.runCount = info.run_cnt
            p.runTimeNs = info.run_time_ns
        }
        return p
    }
}
