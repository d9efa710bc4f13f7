import CLibbpf
import CStarve
import Glibc
import StarveModel
import StarveHost

extension TaskCounters {
    /// The Swift view of one `tasks` iterator record read at `now` (on the programs' clock); a
    /// waiting thread's open wait is reported apart.
    public init(_ raw: starve_task, at now: UInt64) {
        var r = raw
        let comm = withUnsafeBytes(of: &r.comm) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let hist = withUnsafeBytes(of: &r.wait_hist) { bytes in
            let slots = bytes.bindMemory(to: UInt32.self)
            return [UInt64](unsafeUninitializedCapacity: slots.count) { out, n in
                for i in 0..<slots.count { out[i] = UInt64(slots[i]) }
                n = slots.count
            }
        }
        self.init(
            pid: raw.pid, tgid: raw.tgid, comm: comm, nice: raw.nice, staticPriority: raw.static_prio,
            priority: raw.prio, policy: raw.policy, weight: raw.weight >> UInt64(STARVE_WEIGHT_SHIFT),
            cpuCgroupID: raw.cpu_cgroup_id, cgroupID: raw.dfl_cgroup_id, startTimeNs: raw.start_time_ns,
            runtimeNs: raw.runtime_ns,
            voluntarySwitches: raw.voluntary_switches,
            involuntarySwitches: raw.involuntary_switches,
            waitAfterWakeup: WaitCounters(raw.wait_wakeup), waitAfterPreemption: WaitCounters(raw.wait_preempt),
            waitAfterThrottle: WaitCounters(raw.wait_throttled), preemptedSame: raw.preempted_same,
            preemptedOther: raw.preempted_other, preemptedSystem: raw.preempted_system,
            preemptionsCaused: raw.preemptions_caused, migrationStorms: raw.migration_storms,
            migrations: raw.migrations, lastCPU: raw.last_cpu,
            isKernelThread: raw.flags & UInt32(STARVE_TASK_KTHREAD) != 0,
            waitHistogram: LogHistogram(counts: hist, counterWidth: .bits32),
            // The open wait: pieces the kernel already added to run_delay (queued, moved to
            // another CPU, queued again) and the piece since the last enqueue.
            openWaitNs: raw.queued_earlier_ns &+ (raw.queued_at_ns != 0 && now > raw.queued_at_ns ? now - raw.queued_at_ns : 0)
        )
        processStart = raw.process_start
        blockedIONs = raw.job.blocked_io_ns
        sleepNs = raw.job.sleep_ns
    }
}

extension starve_task {
    /// Books this thread's own preemptor slots into `reading` (keyed by its cgroup and process).
    func addPairSlots(to reading: inout [PreemptionPair: PreemptionCounts]) {
        var slots = pairs
        withUnsafeBytes(of: &slots) { raw in
            for s in raw.bindMemory(to: starve_pair_slot.self) where s.count > 0 {
                let key = PreemptionPair(victimCgroup: cpu_cgroup_id, preemptorCgroup: s.preemptor_cgroup_id,
                                         victimTgid: tgid, preemptorTgid: s.preemptor_tgid,
                                         victimStart: process_start, preemptorStart: s.preemptor_start)
                reading[key, default: PreemptionCounts()].add(PreemptionCounts(count: s.count, waitNs: s.wait_ns, maxNs: s.max_ns))
            }
        }
    }
}

extension TaskIO {
    init(_ raw: starve_job_io) {
        self.init(rchar: raw.rchar, wchar: raw.wchar, syscr: raw.syscr, syscw: raw.syscw,
                  readBytes: raw.read_bytes, writeBytes: raw.write_bytes, cancelledWriteBytes: raw.cancelled_write_bytes)
    }
}

extension WaitCounters {
    init(_ raw: starve_wait) { self.init(totalNs: raw.total_ns, count: raw.count, maxNs: raw.max_ns) }
}

extension ThreadWork {
    /// The Swift view of one `exited` entry.
    init(_ raw: starve_exited) {
        self.init()
        threads = raw.threads
        runtimeNs = raw.runtime_ns
        voluntarySwitches = raw.voluntary_switches
        involuntarySwitches = raw.involuntary_switches
        waitWakeup = WaitCounters(raw.wait_wakeup)
        waitPreempt = WaitCounters(raw.wait_preempt)
        waitThrottled = WaitCounters(raw.wait_throttled)
        preemptedSame = raw.preempted_same
        preemptedOther = raw.preempted_other
        preemptedSystem = raw.preempted_system
        preemptionsCaused = raw.preemptions_caused
        migrations = raw.migrations
        blockedIONs = raw.job.blocked_io_ns
        sleepNs = raw.job.sleep_ns
        var hist = raw.wait_hist
        withUnsafeBytes(of: &hist) { setWaitHistogram($0.bindMemory(to: UInt64.self)) }
    }
}

/// The pins of a loaded collector, opened read-only: what starve-dump reads.
public final class PinnedCollection {
    public let layout: PinLayout
    /// What `readTasks` reads: the `tasks` iterator pin (or, for benchmarks, a file of records).
    public let tasksPath: String
    public let stats: PinnedMap
    public let cpus: PinnedMap
    public let pairs: PinnedMap
    public let exited: PinnedMap
    public let config: starve_config
    /// Records in the last read: the next one reserves room for them up front.
    private var lastCount = 0
    /// The victim x preemptor matrix as of the last ``readTasks()``.
    private var matrix = PreemptionMatrix()
    private var matrixRead = false
    /// The `exited` map as of the last ``readTasks()``.
    private var lastExited: [ProcessInCgroup: ThreadWork] = [:]
    /// Whether ``readTasks()`` also reads the victim x preemptor matrix and the exited threads'
    /// work (``readPairs()``, ``readExited()``); a per-thread view has no use for them.
    public var readsAggregates = true

    /// Opens the pins under `layout`, checking that they speak this build's ABI.
    public init(layout: PinLayout, tasksPath: String? = nil) throws {
        try Bpffs.requirePinDir(layout.directory)
        self.layout = layout
        config = try Self.readConfig(layout: layout)
        self.tasksPath = tasksPath ?? layout.tasksIterator
        guard access(self.tasksPath, F_OK) == 0 else {
            throw StarveError("no tasks iterator at \(self.tasksPath): the load did not finish; run starve-load unload, then load again")
        }
        stats = try PinnedMap(path: layout.map(PinLayout.statsMap), key: UInt32.self, value: starve_stats.self, perCPU: true)
        cpus = try PinnedMap(path: layout.map(PinLayout.cpuMap), key: UInt32.self, value: starve_cpu.self, perCPU: true)
        pairs = try PinnedMap(path: layout.map(PinLayout.pairsMap), key: starve_pair_key.self, value: starve_pair.self)
        exited = try PinnedMap(path: layout.map(PinLayout.exitedMap), key: starve_exited_key.self, value: starve_exited.self)
    }

    /// The pins' `starve_config`, once they are known to be this build's. The map is read as
    /// raw bytes first, sized by the map itself: `abi_version` is the first four bytes of the
    /// config in every ABI, so pins of another ABI, whatever the size of their config, get one
    /// line that names their ABI and what to do.
    public static func readConfig(layout: PinLayout) throws -> starve_config {
        let map = try PinnedMap(path: layout.map(PinLayout.configMap))
        let dir = layout.directory
        let unload = "unload them with `starve-load unload --pin-dir \(dir)` and load again"
        guard let bytes = try map.rawValue(index: 0) else {
            throw StarveError("\(map.path) is empty: the load did not finish; \(unload)")
        }
        guard bytes.count >= MemoryLayout<UInt32>.size else {
            throw StarveError("pins at \(dir) are from another starve build (a \(bytes.count)-byte \(PinLayout.configMap), this build's holds \(MemoryLayout<starve_config>.size)): \(unload)")
        }
        let abi = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        guard abi == UInt32(STARVE_ABI_VERSION) else {
            throw StarveError("pins at \(dir) are from starve ABI \(abi), this build is ABI \(STARVE_ABI_VERSION): \(unload)")
        }
        guard bytes.count == MemoryLayout<starve_config>.size else {
            throw StarveError("pins at \(dir) are from another build of starve ABI \(abi) (a \(bytes.count)-byte \(PinLayout.configMap), this build's holds \(MemoryLayout<starve_config>.size)): \(unload)")
        }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: starve_config.self) }
    }

    /// Every live thread, as the kernel and the programs have counted it so far, and the
    /// CLOCK_MONOTONIC time of the read (taken just before it; intervals are measured between
    /// such times). Reading the iterator runs it: one record per thread, straight from the kernel.
    ///
    /// The same read takes the victim x preemptor matrix (``readPairs()``): the `preempt_pairs`
    /// map first, then the threads' own slots, so that waits moving from a thread to the map
    /// (it exited meanwhile) are missed for a moment rather than counted twice.
    public func readTasks() throws -> (tasks: [TaskCounters], atNs: UInt64) {
        var out: [TaskCounters] = []
        out.reserveCapacity(max(1024, lastCount + lastCount / 8))
        var reading = readsAggregates ? try readPairMap() : [:]
        if readsAggregates { lastExited = try readExitedMap() }
        let now = monotonicNs()
        let programNow = try programClockNow() ?? now
        try Self.readRecords(path: tasksPath) { raw in
            out.append(TaskCounters(raw, at: programNow))
            if readsAggregates { raw.addPairSlots(to: &reading) }
        }
        lastCount = out.count
        if readsAggregates {
            matrix.update(with: reading)
            matrixRead = true
        }
        return (out, now)
    }

    /// Reads `path` to its end as consecutive `struct starve_task` records (a read may end
    /// inside one: the rest comes with the next).
    static func readRecords(path: String, _ body: (starve_task) -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == EACCES || e == EPERM {
                throw StarveError("permission denied opening \(path): run as root or as a member of the group given to starve-load --group")
            }
            throw StarveError("cannot open \(path): \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        let size = MemoryLayout<starve_task>.size
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var filled = 0
        while true {
            let n = read(fd, buffer + filled, capacity - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw StarveError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            filled += n
            var at = 0
            while filled - at >= size {
                body(buffer.loadUnaligned(fromByteOffset: at, as: starve_task.self))
                at += size
            }
            if at > 0 && at < filled { memmove(buffer, buffer + at, filled - at) }
            filled -= at
        }
        guard filled == 0 else {
            throw StarveError("\(path) ended inside a record (\(filled) of \(size) bytes): pins of another starve build?")
        }
    }

    /// "Now" on the programs' clock: CLOCK_MONOTONIC with the wakeup wait source; with the
    /// sched_info one, the run queues' clock at the latest context switch on any CPU.
    func programClockNow() throws -> UInt64? {
        guard config.settings.wait_source == UInt32(STARVE_WAIT_SOURCE_SCHED_INFO.rawValue) else { return nil }
        return try cpus.perCPUValues(as: starve_cpu.self).map(\.clock_ns).max()
    }

    /// The victim x preemptor matrix, cumulative, as of the last ``readTasks()`` (which it runs
    /// when there was none): live threads' slots and `preempt_pairs` together, monotonic across
    /// reads (``PreemptionMatrix``).
    public func readPairs() throws -> [PreemptionPair: PreemptionCounts] {
        if !matrixRead { readsAggregates = true; _ = try readTasks() }
        return matrix.pairs
    }

    /// What threads that exited did, per (cgroup, process), cumulative: the `exited` map as of
    /// the last ``readTasks()`` (read before the threads, like the pairs). ``ExitedWork`` turns
    /// successive reads into each interval's share.
    public func readExited() throws -> [ProcessInCgroup: ThreadWork] {
        if !matrixRead { readsAggregates = true; _ = try readTasks() }
        return lastExited
    }

    func readExitedMap() throws -> [ProcessInCgroup: ThreadWork] {
        var out: [ProcessInCgroup: ThreadWork] = [:]
        try exited.forEach(key: starve_exited_key.self, value: starve_exited.self) { k, v in
            out[ProcessInCgroup(cgroupID: k.cgroup_id, tgid: k.tgid, start: k.start)] = ThreadWork(v)
        }
        return out
    }

    /// Whether the load has --jobs (sleeps timed, Slurm jobs' exited threads folded per job).
    public var jobsEnabled: Bool { config.settings.jobs != 0 }

    /// The `job_exited` map (load --jobs): per Slurm job id, what its exited threads did and
    /// their I/O accounting. Nil when the load has no --jobs.
    public func readJobExited() throws -> [UInt64: (work: ThreadWork, io: TaskIO)]? {
        guard jobsEnabled, access(layout.map(PinLayout.jobExitedMap), F_OK) == 0 else { return nil }
        let map = try PinnedMap(path: layout.map(PinLayout.jobExitedMap), key: starve_job_key.self, value: starve_job_exited.self)
        var out: [UInt64: (work: ThreadWork, io: TaskIO)] = [:]
        try map.forEach(key: starve_job_key.self, value: starve_job_exited.self) { k, v in
            out[k.job_id] = (ThreadWork(v.work), TaskIO(v.io))
        }
        return out
    }

    /// The `preempt_pairs` map as it is now.
    func readPairMap() throws -> [PreemptionPair: PreemptionCounts] {
        var out: [PreemptionPair: PreemptionCounts] = [:]
        try pairs.forEach(key: starve_pair_key.self, value: starve_pair.self) { k, v in
            out[PreemptionPair(victimCgroup: k.victim_cgroup_id, preemptorCgroup: k.preemptor_cgroup_id,
                               victimTgid: k.victim_tgid, preemptorTgid: k.preemptor_tgid,
                               victimStart: k.victim_start, preemptorStart: k.preemptor_start), default: PreemptionCounts()]
                .add(PreemptionCounts(count: v.count, waitNs: v.wait_ns, maxNs: v.max_ns))
        }
        return out
    }

    /// Whether the load counts syscalls (--syscalls) / network bytes (--net).
    public var hasSyscalls: Bool { config.flags & UInt32(STARVE_CONFIG_SYSCALLS) != 0 }
    public var hasNet: Bool { config.flags & UInt32(STARVE_CONFIG_NET) != 0 }

    /// Syscalls entered per (job id, process), by number, cumulative since the load; an entry
    /// outlives its threads (exited ones included) until the LRU evicts it. Nil without --syscalls.
    public func readSyscalls() throws -> [SysnetKey: [UInt32: UInt64]]? {
        guard hasSyscalls else { return nil }
        let map = try PinnedMap(path: layout.map(PinLayout.sysCountsMap), key: starve_sys_key.self, value: UInt64.self)
        var out: [SysnetKey: [UInt32: UInt64]] = [:]
        try map.forEach(key: starve_sys_key.self, value: UInt64.self) { k, v in
            out[SysnetKey(jobID: k.job_id, tgid: k.tgid), default: [:]][k.nr, default: 0] &+= v
        }
        return out
    }

    /// Inet socket bytes per (job id, process), cumulative since the load. Nil without --net.
    public func readNet() throws -> [SysnetKey: NetBytes]? {
        guard hasNet else { return nil }
        let map = try PinnedMap(path: layout.map(PinLayout.netBytesMap), key: starve_net_key.self, value: starve_net_bytes.self)
        var out: [SysnetKey: NetBytes] = [:]
        try map.forEach(key: starve_net_key.self, value: starve_net_bytes.self) { k, v in
            out[SysnetKey(jobID: k.job_id, tgid: k.tgid)] = NetBytes(sentBytes: v.sent_bytes, receivedBytes: v.received_bytes,
                                                                    sends: v.sends, receives: v.receives)
        }
        return out
    }

    /// Whether the load has futex contention (starve-load --futex).
    public var hasFutex: Bool { config.flags & UInt32(STARVE_CONFIG_FUTEX) != 0 }

    /// Futex waits per thread, cumulative (the `futex_threads` map; tids of exited threads stay
    /// until the LRU evicts them); nil without --futex.
    public func readFutex() throws -> [UInt32: FutexCounters]? {
        guard hasFutex else { return nil }
        if futexMap == nil {
            futexMap = try PinnedMap(path: layout.map(PinLayout.futexThreadsMap), key: UInt32.self, value: starve_futex_thread.self)
        }
        var out: [UInt32: FutexCounters] = [:]
        try futexMap!.forEach(key: UInt32.self, value: starve_futex_thread.self) { tid, v in
            out[tid] = FutexCounters(tgid: v.tgid, waitNs: v.wait_ns, waits: v.waits)
        }
        return out
    }
    private var futexMap: PinnedMap?

    /// The settings the programs were loaded with (thresholds and volume controls).
    public var thresholdsNs: (starved: UInt64, severe: UInt64, critical: UInt64) {
        (config.settings.threshold_ns.0, config.settings.threshold_ns.1, config.settings.threshold_ns.2)
    }

    /// The kernel side's counters, summed over CPUs.
    public func readStats() throws -> CollectorStats {
        Self.sum(try stats.perCPUValues(as: starve_stats.self))
    }

    static func sum(_ perCPU: [starve_stats]) -> CollectorStats {
        var s = CollectorStats()
        for c in perCPU {
            s.switches &+= c.switches
            s.wakeups &+= c.wakeups
            s.migrations &+= c.migrations
            s.exits &+= c.exits
            s.tasksCreated &+= c.tasks_created
            s.storageFailures &+= c.storage_failures
            s.missedWakeups &+= c.missed_wakeups
            s.throttledSwitches &+= c.throttled_switches
            s.eventsEmitted &+= c.events_emitted
            s.eventsRingbufFull &+= c.events_ringbuf_full
            s.eventsRateLimited &+= c.events_rate_limited
            s.eventsSampledOut &+= c.events_sampled_out
            s.eventsFiltered &+= c.events_filtered
            s.pairsMapFull &+= c.pairs_map_full
            s.kernelStackFailures &+= c.kstack_failures
            s.userStackFailures &+= c.ustack_failures
            s.stacksRingbufFull &+= c.stacks_ringbuf_full
            s.pairsCreated &+= c.pairs_created
            s.pairsOverflow &+= c.pairs_overflow
            s.pairsFolded &+= c.pairs_folded
            s.exitedFolded &+= c.exited_folded
            s.exitedCreated &+= c.exited_created
            s.exitedDropped &+= c.exited_dropped
            s.exitsTracked &+= c.exits_tracked
            s.jobsStorageFailures &+= c.jobs_storage_failures
            s.starvations &+= c.starvations
            s.inversions &+= c.inversions
            s.piBoosts &+= c.pi_boosts
            s.migrationStorms &+= c.migration_storms
            s.starvationsSevere &+= c.starvations_severe
            s.starvationsCritical &+= c.starvations_critical
            s.starvationNs &+= c.starvation_ns
            withUnsafeBytes(of: c.starvation_hist) { raw in
                for (i, v) in raw.bindMemory(to: UInt64.self).prefix(CollectorStats.starvationSlots).enumerated() { s.starvationHistogram[i] &+= v }
            }
        }
        return s
    }
}

/// A process of a Slurm job (job 0: none), the key of the syscall and network counts.
public struct SysnetKey: Hashable, Sendable {
    public var jobID: UInt64
    public var tgid: UInt32
    public init(jobID: UInt64, tgid: UInt32) { self.jobID = jobID; self.tgid = tgid }
}

/// Inet socket bytes moved (sock:sock_send_length / sock_recv_length), cumulative.
public struct NetBytes: Hashable, Sendable, Codable {
    public var sentBytes: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    public var sends: UInt64 = 0
    public var receives: UInt64 = 0
    public init(sentBytes: UInt64 = 0, receivedBytes: UInt64 = 0, sends: UInt64 = 0, receives: UInt64 = 0) {
        self.sentBytes = sentBytes; self.receivedBytes = receivedBytes; self.sends = sends; self.receives = receives
    }
    public static func + (a: NetBytes, b: NetBytes) -> NetBytes {
        NetBytes(sentBytes: a.sentBytes &+ b.sentBytes, receivedBytes: a.receivedBytes &+ b.receivedBytes,
                 sends: a.sends &+ b.sends, receives: a.receives &+ b.receives)
    }
    enum CodingKeys: String, CodingKey {
        case sentBytes = "sent_bytes", receivedBytes = "received_bytes", sends, receives
    }
}
