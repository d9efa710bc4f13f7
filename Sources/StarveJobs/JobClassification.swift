import Foundation
import StarveHost
import StarveModel
import Yams

/// What a job mostly did with its time.
public enum JobClass: String, Sendable, Codable, CaseIterable {
    /// Ready to run but kept off the CPU: waiting on a run queue behind other work.
    case starved
    /// Blocked in I/O (asleep in io_schedule: fsync, page and buffer I/O).
    case ioBound = "io-bound"
    /// Moving bytes over the network (inet bytes per second, load --net).
    case networkBound = "network-bound"
    /// On a CPU most of its time.
    case cpuBound = "cpu-bound"
    /// Asleep most of its time (not in I/O): the allocation is mostly unused.
    case idleHeavy = "idle-heavy"
    /// None of the above dominates.
    case mixed
    /// Nothing measured (no thread seen).
    case unknown
}

/// The thresholds of the classification and the score: `starve-dump jobs --config FILE`
/// (YAML; docs/jobs.md lists every key). Shares are percent of the job's allocation
/// (``JobSplit``).
public struct JobThresholds: Sendable, Equatable, Codable {
    /// starved: run-queue wait at least this share...
    public var starvedMinWaitPercent: Double = 20
    /// ... and at least this fraction of its on-CPU time (a job that waits as long as it runs
    /// has a CPU only part of the time it could use one).
    public var starvedMinWaitPerCPU: Double = 0.5
    /// io-bound: blocked in I/O at least this share.
    public var ioBoundMinBlockedPercent: Double = 20
    /// cpu-bound: on-CPU at least this share.
    public var cpuBoundMinCPUPercent: Double = 60
    /// idle-heavy: idle (allocation not used on a CPU, in a run queue or in I/O) at least this share.
    public var idleHeavyMinIdlePercent: Double = 60
    /// Efficiency (CPU time / (elapsed x allocated CPUs)) below this gets a recommendation.
    public var lowEfficiency: Double = 0.5
    /// network-bound: inet bytes sent + received per second of elapsed time at least this many
    /// MB (10^6), load --net; checked after io-bound, before starved and cpu-bound (moving bytes
    /// over loopback or a NIC costs CPU too: a job that moves this much is about the network).
    public var networkBoundMinMBPerS: Double = 10

    public init() {}

    enum CodingKeys: String, CodingKey {
        case starvedMinWaitPercent = "starved_min_wait_percent"
        case starvedMinWaitPerCPU = "starved_min_wait_per_cpu"
        case ioBoundMinBlockedPercent = "io_bound_min_blocked_percent"
        case cpuBoundMinCPUPercent = "cpu_bound_min_cpu_percent"
        case idleHeavyMinIdlePercent = "idle_heavy_min_idle_percent"
        case lowEfficiency = "low_efficiency"
        case networkBoundMinMBPerS = "network_bound_min_mb_per_s"
    }

    /// The documented default file's text (docs/jobs.md shows it; `starve-dump jobs
    /// --print-config` prints it).
    public static let defaultYAML = """
    # starve-dump jobs: classification thresholds. Shares are percent of a job's allocated CPU
    # time (elapsed x allocated CPUs): its threads' time on a CPU, waiting on a run queue,
    # blocked in I/O, and idle (the rest).
    starved_min_wait_percent: 20        # starved: run-queue wait >= this share ...
    starved_min_wait_per_cpu: 0.5       # ... and >= this fraction of its on-CPU time
    io_bound_min_blocked_percent: 20    # io-bound: blocked in I/O >= this share (checked first)
    cpu_bound_min_cpu_percent: 60       # cpu-bound: on a CPU >= this share
    idle_heavy_min_idle_percent: 60     # idle-heavy: idle (not on a CPU, queued or in I/O) >= this
    low_efficiency: 0.5                 # CPU time / (elapsed x allocated CPUs) below this: advice
    network_bound_min_mb_per_s: 10      # network-bound: inet MB (10^6) sent + received per second
                                        # of elapsed time >= this (needs starve-load --net)

    """

    /// Thresholds from a YAML document: every key optional (defaults above), unknown keys and
    /// values out of range refused with a message that names them.
    public static func parse(yaml text: String) throws -> JobThresholds {
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw StarveError("not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let node else { return JobThresholds() }
        guard let map = node as? [String: Any] else { throw StarveError("expected a mapping of thresholds at the top level") }
        let known = Set(["starved_min_wait_percent", "starved_min_wait_per_cpu", "io_bound_min_blocked_percent",
                         "cpu_bound_min_cpu_percent", "idle_heavy_min_idle_percent", "low_efficiency",
                         "network_bound_min_mb_per_s"])
        if let bad = map.keys.sorted().first(where: { !known.contains($0) }) {
            throw StarveError("unknown key '\(bad)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        var t = JobThresholds()
        func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let v = map[key] else { return nil }
            let d: Double?
            switch v {
            case let x as Double: d = x
            case let x as Int: d = Double(x)
            default: d = nil
            }
            guard let d, range.contains(d) else {
                throw StarveError("\(key) must be a number in \(formatFixed(range.lowerBound, decimals: 0))...\(formatFixed(range.upperBound, decimals: 0)), not '\(v)'")
            }
            return d
        }
        if let v = try number("starved_min_wait_percent", 0...100) { t.starvedMinWaitPercent = v }
        if let v = try number("starved_min_wait_per_cpu", 0...1000) { t.starvedMinWaitPerCPU = v }
        if let v = try number("io_bound_min_blocked_percent", 0...100) { t.ioBoundMinBlockedPercent = v }
        if let v = try number("cpu_bound_min_cpu_percent", 0...100) { t.cpuBoundMinCPUPercent = v }
        if let v = try number("idle_heavy_min_idle_percent", 0...100) { t.idleHeavyMinIdlePercent = v }
        if let v = try number("low_efficiency", 0...1) { t.lowEfficiency = v }
        if let v = try number("network_bound_min_mb_per_s", 0...1_000_000) { t.networkBoundMinMBPerS = v }
        return t
    }

    /// Reads and parses `path`; errors name the file.
    public static func load(path: String) throws -> JobThresholds {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StarveError("cannot read config \(path): \(String(cString: strerror(errno)))")
        }
        do { return try parse(yaml: String(decoding: data, as: UTF8.self)) } catch let e as StarveError {
            throw StarveError("config \(path): \(e.message)")
        }
    }
}

/// Where a job's allocation went, percent: of its allocated CPU time (elapsed x allocated
/// CPUs; seff's denominator) when Slurm gave one, else of its threads' accounted time. On-CPU,
/// run-queue wait and blocked in I/O are its threads' sums (several threads of one job can
/// exceed 100 % together); idle is what is left of the allocation (threads asleep, or no thread
/// to use a CPU). A thread that only waits for its children (the batch shell) costs nothing.
public struct JobSplit: Sendable, Equatable, Codable {
    public var onCPU: Double
    public var runQueueWait: Double
    public var blockedIO: Double
    public var idle: Double
    /// `allocation` or `thread_time`.
    public var basis: String

    public init(_ t: JobTime, allocatedNs: Double? = nil) {
        func pct(_ x: UInt64, _ total: Double) -> Double { total > 0 ? 100 * Double(x) / total : 0 }
        if let a = allocatedNs, a > 0 {
            basis = "allocation"
            onCPU = pct(t.onCPUNs, a)
            runQueueWait = pct(t.waitNs, a)
            blockedIO = pct(t.blockedIONs, a)
            idle = max(0, 100 - onCPU - runQueueWait - blockedIO)
        } else {
            basis = "thread_time"
            let total = Double(t.accountedNs)
            onCPU = pct(t.onCPUNs, total)
            runQueueWait = pct(t.waitNs, total)
            blockedIO = pct(t.blockedIONs, total)
            idle = pct(t.sleepNs, total)
        }
    }

    enum CodingKeys: String, CodingKey {
        case onCPU = "on_cpu"
        case runQueueWait = "run_queue_wait"
        case blockedIO = "blocked_io"
        case idle, basis
    }
}

/// A job's verdict: its class, a score, and what to do.
public struct JobVerdict: Sendable, Equatable, Codable {
    public var classification: JobClass
    /// 0-100: how much of its allocation the job turned into CPU time (efficiency x 100), less
    /// the share it spent starved (the node's fault, not the job's, but time lost all the same).
    public var score: Int
    public var recommendations: [String]
}

/// Classification: pure, on a job's figures and the thresholds.
public enum JobClassifier {
    public static func classify(_ t: JobTime, efficiency: Double?, allocatedCPUs: Int?, thresholds: JobThresholds,
                                sleepsTimed: Bool, allocatedNs: Double? = nil, networkBytesPerSecond: Double? = nil) -> JobVerdict {
        let split = JobSplit(t, allocatedNs: allocatedNs)
        var recs: [String] = []
        let cls: JobClass
        let waitPerCPU = t.onCPUNs > 0 ? Double(t.waitNs) / Double(t.onCPUNs) : (t.waitNs > 0 ? .infinity : 0)
        // I/O first: a job blocked in I/O for a fifth of its allocation is I/O-bound, whatever
        // else; its waits for a CPU after each I/O wakeup (behind the journal thread that woke
        // it, or other work) are said as well when they are large.
        let starvedToo = split.runQueueWait >= thresholds.starvedMinWaitPercent && waitPerCPU >= thresholds.starvedMinWaitPerCPU
        if t.accountedNs == 0 && t.onCPUNs == 0 {
            cls = .unknown
        } else if split.blockedIO >= thresholds.ioBoundMinBlockedPercent {
            cls = .ioBound
        } else if let r = networkBytesPerSecond, r >= thresholds.networkBoundMinMBPerS * 1e6 {
            // Before starved, as I/O: a job moving this much is about the network (its sender
            // and receiver threads also queue behind each other; that wait is said as well).
            cls = .networkBound
        } else if starvedToo {
            cls = .starved
        } else if split.onCPU >= thresholds.cpuBoundMinCPUPercent {
            cls = .cpuBound
        } else if split.idle >= thresholds.idleHeavyMinIdlePercent {
            cls = .idleHeavy
        } else {
            cls = .mixed
        }
        // Starved, or I/O- or network-bound and starved too: the run-queue advice.
        if cls == .starved || (starvedToo && (cls == .ioBound || cls == .networkBound)) {
            let preempted = t.preemptedSame &+ t.preemptedOther &+ t.preemptedSystem
            recs.append("ready to run but kept off the CPU for \(formatFixed(split.runQueueWait, decimals: 0)) % of its allocation "
                        + "(\(formatFixed(Double(t.waitNs) / 1e9, decimals: 1)) s run-queue wait, \(preempted) preemptions): "
                        + "the node runs more than it has CPUs for; do not oversubscribe its CPUs (OverSubscribe=NO, --exclusive) "
                        + "or move the competing work")
        }
        switch cls {
        case .ioBound:
            recs.append("blocked in I/O for \(formatFixed(split.blockedIO, decimals: 0)) % of its allocation: write larger blocks, "
                        + "fsync less often, or use node-local scratch")
        case .idleHeavy:
            recs.append("idle \(formatFixed(split.idle, decimals: 0)) % of its allocation: its CPUs sit unused; "
                        + "request fewer CPUs or a shorter time limit, or check what it waits for")
        case .networkBound:
            recs.append("moved \(formatFixed((networkBytesPerSecond ?? 0) / 1e6, decimals: 1)) MB/s over the network: its time goes to "
                        + "sending and receiving; send larger messages, overlap communication with computation, or place it next to its peer")
        case .cpuBound, .mixed, .unknown, .starved:
            break
        }
        if let e = efficiency, e < thresholds.lowEfficiency, cls != .starved {
            let used = allocatedCPUs.map { " of the \($0) allocated" } ?? ""
            recs.append("efficiency \(formatFixed(100 * e, decimals: 0)) %: it used \(formatFixed(e * Double(allocatedCPUs ?? 1), decimals: 2)) CPUs\(used); request fewer CPUs or run more in parallel")
        }
        if !sleepsTimed {
            recs.append("sleeps not timed: load with `starve-load --jobs` to split blocked-in-I/O from other sleep")
        }
        if recs.isEmpty { recs.append("none: it used what it was given") }
        let eff = min(1, max(0, efficiency ?? Double(split.onCPU) / 100))
        let score = Int((100 * eff).rounded())
        return JobVerdict(classification: cls, score: score, recommendations: recs)
    }
}
