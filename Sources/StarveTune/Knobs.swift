import Glibc
import StarveHost
import StarveModel

/// One concrete thing the tuner writes: a cgroup file, or the nice value of one thread.
public enum KnobTarget: Hashable, Sendable, CustomStringConvertible {
    /// A cgroupfs file (`/sys/fs/cgroup/cpu/x/cpu.shares`).
    case file(String)
    /// Thread `tid`, identified also by its start time (field 22 of /proc/<tid>/stat), so a
    /// reused tid is never mistaken for it.
    case nice(tid: Int32, start: UInt64)

    public var description: String {
        switch self {
        case .file(let f): return f
        case .nice(let tid, let start): return "nice:\(tid):\(start)"
        }
    }

    /// Parses ``description``.
    public init?(_ text: String) {
        if text.hasPrefix("/") { self = .file(text); return }
        let f = text.split(separator: ":")
        guard f.count == 3, f[0] == "nice", let t = Int32(f[1]), let s = UInt64(f[2]) else { return nil }
        self = .nice(tid: t, start: s)
    }

    /// The raw value now (file text trimmed, or the nice level); nil when gone.
    public func read() -> String? {
        switch self {
        case .file(let f): return RawFile.read(f)?.trimmingWhitespace()
        case .nice(let tid, let start):
            guard let fields = ThreadStat.fields(tid), fields.count > 19, UInt64(fields[19]) == start else { return nil }
            return fields[16]
        }
    }

    /// Writes the raw value; nil on success, else the error text.
    public func write(_ raw: String) -> String? {
        switch self {
        case .file(let f): return RawFile.write(f, raw)
        case .nice(let tid, _):
            guard read() != nil else { return "thread \(tid) is gone" }
            guard let n = Int32(raw) else { return "'\(raw)' is not a nice level" }
            errno = 0
            if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), n) != 0 {
                return "setpriority(\(tid), \(n)): \(String(cString: strerror(errno)))"
            }
            return nil
        }
    }
}

/// Reads and writes the knobs of cgroups by path: the cpu hierarchy (v1 cpu.shares /
/// cpu.cfs_quota_us, v2 cpu.weight / cpu.max), the cpuset one (v1 `cpuset` mount, or v2), and
/// the nice of the threads. Values go through policy units (``Knob``).
public struct CgroupKnobs: KnobReader, Sendable {
    public var cpu: CgroupHierarchy
    /// Where cpuset.cpus lives (nil: no cpuset controller).
    public var cpuset: CgroupHierarchy?

    public init(cpu: CgroupHierarchy, cpuset: CgroupHierarchy?) {
        self.cpu = cpu
        self.cpuset = cpuset
    }

    /// This host's hierarchies: the one with the cpu controller, and the v1 `cpuset` mount or
    /// else the cgroup2 mount.
    public static func host() -> CgroupKnobs? {
        guard let cpu = CgroupFS.cpuHierarchy() else { return nil }
        return CgroupKnobs(cpu: cpu, cpuset: CgroupFS.cpusetHierarchy())
    }

    /// v1 shares per v2 weight unit (systemd's conversion: weight 100 = shares 1024).
    static let sharesPerWeight = 10.24

    /// The files behind `knob` of cgroup `path`; for nice, one target per thread now in it.
    public func targets(_ knob: Knob, of path: String) -> [KnobTarget] {
        switch knob {
        case .weight: return [.file(cpu.directory(path) + (cpu.version == .v1 ? "/cpu.shares" : "/cpu.weight"))]
        case .quota: return [.file(cpu.directory(path) + (cpu.version == .v1 ? "/cpu.cfs_quota_us" : "/cpu.max"))]
        case .cpuset: return cpuset.map { [.file($0.directory(path) + "/cpuset.cpus")] } ?? []
        case .nice:
            let list = cpu.version == .v1 ? "/tasks" : "/cgroup.threads"
            return (RawFile.read(cpu.directory(path) + list) ?? "").split(separator: "\n").compactMap { Int32($0) }.compactMap { tid in
                guard let f = ThreadStat.fields(tid), f.count > 19, let start = UInt64(f[19]) else { return nil }
                return .nice(tid: tid, start: start)
            }
        }
    }

    public func state(_ knob: Knob, of path: String) -> KnobState? {
        switch knob {
        case .weight:
            guard let raw = targets(.weight, of: path).first?.read(), let v = Double(raw) else { return nil }
            return KnobState(value: .number(cpu.version == .v1 ? v / Self.sharesPerWeight : v))
        case .quota:
            guard let q = quota(of: path) else { return nil }
            return KnobState(value: .number(q.quotaUs.map { Double($0) / Double(q.periodUs) }))
        case .cpuset:
            guard let h = cpuset, let raw = RawFile.read(h.directory(path) + "/cpuset.cpus")?.trimmingWhitespace(),
                  let cpus = SchedContextParser.cpuList(raw) ?? (raw.isEmpty ? [] : nil) else { return nil }
            let parent = Self.parent(path)
            let allowedFile = h.version == .v1 ? "/cpuset.cpus" : "/cpuset.cpus.effective"
            let allowed = RawFile.read(h.directory(parent) + allowedFile).flatMap { SchedContextParser.cpuList($0.trimmingWhitespace()) }
            return KnobState(value: .cpus(cpus), allowedCPUs: allowed)
        case .nice:
            // The most common nice among its threads (they are set together).
            let levels = targets(.nice, of: path).compactMap { $0.read().flatMap { Int($0) } }
            guard !levels.isEmpty else { return nil }
            let counts = Dictionary(levels.map { ($0, 1) }, uniquingKeysWith: +)
            let mode = counts.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }!.key
            return KnobState(value: .number(Double(mode)))
        }
    }

    public func quantize(_ knob: Knob, _ value: KnobValue, of path: String) -> KnobValue {
        guard case .number(let v?) = value else { return value }
        switch knob {
        case .weight:
            if cpu.version == .v1 { return .number(Double(nativeShares(v)) / Self.sharesPerWeight) }
            return .number(min(10_000, max(1, v.rounded())))
        case .quota:
            let period = Double(quota(of: path)?.periodUs ?? 100_000)
            return .number(max(1000, (v * period).rounded()) / period)
        case .nice: return .number(min(19, max(-20, v.rounded())))
        case .cpuset: return value
        }
    }

    func nativeShares(_ weight: Double) -> Int { min(262_144, max(2, Int((weight * Self.sharesPerWeight).rounded()))) }

    /// The raw text to write for `value` of `knob` (per target: a nice value for each thread).
    public func raw(_ knob: Knob, _ value: KnobValue, of path: String) -> String? {
        switch (knob, value) {
        case (.weight, .number(let v?)): return cpu.version == .v1 ? String(nativeShares(v)) : String(Int(min(10_000, max(1, v.rounded()))))
        case (.quota, .number(let v)):
            let period = quota(of: path)?.periodUs ?? 100_000
            guard let v else { return cpu.version == .v1 ? "-1" : "max \(period)" }
            let us = max(1000, Int64((v * Double(period)).rounded()))
            return cpu.version == .v1 ? String(us) : "\(us) \(period)"
        case (.cpuset, .cpus(let c)): return formatCPUList(c)
        case (.nice, .number(let v?)): return String(Int(min(19, max(-20, v.rounded()))))
        default: return nil
        }
    }

    /// Quota now: µs per period (nil: unlimited), and the period.
    func quota(of path: String) -> (quotaUs: Int64?, periodUs: UInt64)? {
        let dir = cpu.directory(path)
        switch cpu.version {
        case .v1:
            guard let q = RawFile.read(dir + "/cpu.cfs_quota_us").flatMap({ Int64($0.trimmingWhitespace()) }),
                  let p = RawFile.read(dir + "/cpu.cfs_period_us").flatMap({ UInt64($0.trimmingWhitespace()) }) else { return nil }
            return (q < 0 ? nil : q, p)
        case .v2:
            guard let words = RawFile.read(dir + "/cpu.max")?.split(whereSeparator: { $0 == " " || $0 == "\n" }), words.count == 2,
                  let p = UInt64(words[1]) else { return nil }
            return (words[0] == "max" ? nil : Int64(words[0]), p)
        }
    }

    /// The CPU pressure file of cgroup `path` (v2 with PSI), else the host's.
    public func pressureFile(of path: String) -> String {
        if cpu.version == .v2 {
            let f = cpu.directory(path) + "/cpu.pressure"
            if access(f, R_OK) == 0 { return f }
        }
        return "/proc/pressure/cpu"
    }

    static func parent(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.count <= 1 ? "/" : "/" + parts.dropLast().joined(separator: "/")
    }
}

/// Small files through StarveHost's one reader and writer.
enum RawFile {
    static func read(_ path: String) -> String? { HostFiles.read(path) }

    /// One write(2) of `text` (cgroupfs takes one value per write), with O_TRUNC as a shell's
    /// `echo >` opens it (so the same call works on a plain file: the tests' fixtures); nil on
    /// success, else `write 'V' to F: strerror`.
    static func write(_ path: String, _ text: String) -> String? {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { return "open \(path): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        return n < 0 ? "write '\(text)' to \(path): \(String(cString: strerror(errno)))" : nil
    }
}

/// /proc/<tid>/stat fields after the command name: index 0 is field 3 (state), 16 is field 19
/// (nice), 19 is field 22 (start time).
enum ThreadStat {
    static func fields(_ tid: Int32) -> [String]? {
        RawFile.read("/proc/\(tid)/stat").flatMap { ProcStat.fields($0) }?.map(String.init)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Whole text files for the executables (policies), with the errno text of a failure.
public enum RawText {
    public static func read(_ path: String) -> String? { RawFile.read(path) }
    public static func lastError() -> String { String(cString: strerror(errno)) }
}
