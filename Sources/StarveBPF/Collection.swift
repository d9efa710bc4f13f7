import CLibbpf
import CStarve
import Glibc
import StarveCore

extension TaskCounters {
    /// The Swift view of one `tasks` map value read at `now` (on the programs' clock): a thread
    /// on a CPU has its current stretch added to its runtime (`onCPURuntimeNs`: the kernel's
    /// sum_exec_runtime now, when known), so CPU time does not arrive in lumps at switch-out; a
    /// waiting thread's open wait is reported apart.
    public init(_ raw: starve_task, at now: UInt64, onCPURuntimeNs: UInt64? = nil) {
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
            runtimeNs: onCPURuntimeNs.flatMap { $0 >= raw.runtime_base_ns ? max(raw.runtime_ns, $0 - raw.runtime_base_ns) : nil }
                ?? raw.runtime_ns &+ (raw.oncpu_at_ns != 0 && now > raw.oncpu_at_ns ? now - raw.oncpu_at_ns : 0),
            voluntarySwitches: raw.voluntary_switches,
            involuntarySwitches: raw.involuntary_switches,
            waitAfterWakeup: WaitCounters(raw.wait_wakeup), waitAfterPreemption: WaitCounters(raw.wait_preempt),
            waitAfterThrottle: WaitCounters(raw.wait_throttled), preemptedSame: raw.preempted_same,
            preemptedOther: raw.preempted_other, preemptedSystem: raw.preempted_system,
            preemptionsCaused: raw.preemptions_caused, migrationStorms: raw.migration_storms,
            migrations: raw.migrations, lastCPU: raw.last_cpu,
            isKernelThread: raw.flags & UInt32(STARVE_TASK_KTHREAD) != 0,
            waitHistogram: LogHistogram(counts: hist, counterWidth: .bits32),
            openWaitNs: raw.queued_at_ns != 0 && now > raw.queued_at_ns ? now - raw.queued_at_ns : 0
        )
    }
}

extension WaitCounters {
    init(_ raw: starve_wait) { self.init(totalNs: raw.total_ns, count: raw.count, maxNs: raw.max_ns) }
}

/// The pinned maps of a loaded collector, opened read-only: what starve-dump reads.
public final class PinnedCollection {
    public let layout: PinLayout
    public let tasks: PinnedMap
    public let runHist: PinnedMap
    public let stats: PinnedMap
    public let cpus: PinnedMap
    public let pairs: PinnedMap
    public let config: starve_config

    /// Opens the pins under `layout`, checking that they speak this build's ABI.
    public init(layout: PinLayout) throws {
        try Bpffs.requirePinDir(layout.directory)
        self.layout = layout
        let configMap = try PinnedMap(path: layout.map(PinLayout.configMap))
        try configMap.requireValueSize(starve_config.self)
        guard let config = try configMap.lookup(UInt32(0), as: starve_config.self) else {
            throw StarveError("\(configMap.path) is empty: the load did not finish; run starve-load unload, then load again")
        }
        guard config.abi_version == UInt32(STARVE_ABI_VERSION) else {
            throw StarveError("the pins at \(layout.directory) speak ABI \(config.abi_version), this starve speaks \(STARVE_ABI_VERSION): unload and load again with this version")
        }
        self.config = config
        tasks = try PinnedMap(path: layout.map(PinLayout.tasksMap))
        try tasks.requireValueSize(starve_task.self)
        runHist = try PinnedMap(path: layout.map(PinLayout.runHistMap))
        stats = try PinnedMap(path: layout.map(PinLayout.statsMap))
        cpus = try PinnedMap(path: layout.map(PinLayout.cpuMap))
        try cpus.requireValueSize(starve_cpu.self)
        pairs = try PinnedMap(path: layout.map(PinLayout.pairsMap))
        try pairs.requireValueSize(starve_pair.self)
    }

    /// Every tracked thread, as the kernel side has counted it so far, and the CLOCK_MONOTONIC
    /// time of the read (taken just before it; intervals are measured between such times).
    public func readTasks() throws -> (tasks: [TaskCounters], atNs: UInt64) {
        var out: [TaskCounters] = []
        out.reserveCapacity(max(1024, min(tasks.maxEntries, 1 << 17)))
        let now = monotonicNs()
        let programNow = try programClockNow() ?? now
        try tasks.forEach(key: UInt32.self, value: starve_task.self) { _, raw in
            guard raw.pid != 0 else { return }
            // At most one thread per CPU is on one: its runtime up to now from the kernel.
            let onCPU = raw.oncpu_at_ns != 0 ? Self.schedstatRuntimeNs(pid: raw.pid) : nil
            out.append(TaskCounters(raw, at: programNow, onCPURuntimeNs: onCPU))
        }
        return (out, now)
    }

    /// "Now" on the programs' clock: CLOCK_MONOTONIC with the wakeup wait source; with the
    /// sched_info one, the run queues' clock at the latest context switch on any CPU.
    func programClockNow() throws -> UInt64? {
        guard config.settings.wait_source == UInt32(STARVE_WAIT_SOURCE_SCHED_INFO.rawValue) else { return nil }
        return try cpus.perCPUValues(as: starve_cpu.self).map(\.clock_ns).max()
    }

    /// A thread's on-CPU time so far (/proc/<tid>/schedstat, first field: sum_exec_runtime).
    static func schedstatRuntimeNs(pid: UInt32) -> UInt64? {
        schedstat("/proc/\(pid)/schedstat")?.runtimeNs
    }

    /// /proc/<pid>/schedstat: on-CPU ns, run-queue wait ns, timeslices (the kernel's sched_info).
    static func schedstat(_ path: String) -> (runtimeNs: UInt64, waitNs: UInt64, timeslices: UInt64)? {
        guard let text = SchedContextReader.readText(path) else { return nil }
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        return f.count >= 3 ? (f[0], f[1], f[2]) : nil
    }

    /// The victim x preemptor matrix, cumulative.
    public func readPairs() throws -> [PreemptionPair: PreemptionCounts] {
        var out: [PreemptionPair: PreemptionCounts] = [:]
        try pairs.forEach(key: starve_pair_key.self, value: starve_pair.self) { k, v in
            out[PreemptionPair(victimCgroup: k.victim_cgroup_id, preemptorCgroup: k.preemptor_cgroup_id,
                               victimTgid: k.victim_tgid, preemptorTgid: k.preemptor_tgid)] =
                PreemptionCounts(count: v.count, waitNs: v.wait_ns, maxNs: v.max_ns)
        }
        return out
    }

    /// The settings the programs were loaded with (thresholds and volume controls).
    public var thresholdsNs: (starved: UInt64, severe: UInt64, critical: UInt64) {
        (config.settings.threshold_ns.0, config.settings.threshold_ns.1, config.settings.threshold_ns.2)
    }

    /// The kernel side's counters, summed over CPUs.
    public func readStats() throws -> CollectorStats {
        Self.sum(try stats.perCPUValues(as: starve_stats.self))
    }

    /// The system-wide run-queue latency histogram, summed over CPUs.
    public func readRunHistogram() throws -> (histogram: LogHistogram, count: UInt64, totalNs: UInt64) {
        var counts = [UInt64](repeating: 0, count: LogHistogram.slotCount)
        var n: UInt64 = 0, total: UInt64 = 0
        for var h in try runHist.perCPUValues(as: starve_hist.self) {
            withUnsafeBytes(of: &h.slots) { b in
                for (i, c) in b.bindMemory(to: UInt64.self).enumerated() where i < counts.count { counts[i] &+= c }
            }
            n &+= h.count
            total &+= h.total_ns
        }
        return (LogHistogram(counts: counts, counterWidth: .bits64), n, total)
    }

    static func sum(_ perCPU: [starve_stats]) -> CollectorStats {
        var s = CollectorStats()
        for c in perCPU {
            s.switches &+= c.switches
            s.wakeups &+= c.wakeups
            s.migrations &+= c.migrations
            s.exits &+= c.exits
            s.tasksCreated &+= c.tasks_created
            s.dropMapFull &+= c.drop_map_full
            s.missedWakeups &+= c.missed_wakeups
            s.missedSwitches &+= c.missed_switches
            s.throttledSwitches &+= c.throttled_switches
            s.eventsEmitted &+= c.events_emitted
            s.eventsRingbufFull &+= c.events_ringbuf_full
            s.eventsRateLimited &+= c.events_rate_limited
            s.eventsSampledOut &+= c.events_sampled_out
            s.eventsFiltered &+= c.events_filtered
            s.pairsMapFull &+= c.pairs_map_full
            s.stackFailures &+= c.stack_failures
            s.starvations &+= c.starvations
            s.inversions &+= c.inversions
            s.piBoosts &+= c.pi_boosts
            s.migrationStorms &+= c.migration_storms
        }
        return s
    }
}
