import Foundation
import StarveBPF
import StarveHost
import StarveModel
import StarveMonitor

/// Without Slurm: what `starve-dump jobs --by workload|user|process` groups threads by.
public enum HostGrouping: String, Sendable, CaseIterable {
    /// The workload pipeline's identity (container, pod, systemd unit, Slurm job, ...; "host" for the rest).
    case workload
    /// The process owner's user name (real uid).
    case user
    /// One process (tgid and name).
    case process
}

/// Groups the live threads of a snapshot (kernel threads left out) as jobs: the same figures,
/// classes and advice as Slurm jobs. The allocation of a group is the CPUs it could use (the
/// union of its processes' affinity, `Cpus_allowed_list`) over its life: since its oldest
/// thread started (on-CPU time counts from each thread's start too).
public enum HostGroups {
    struct Group {
        var measure = JobMeasure()
        var tgids = Set<UInt32>()
        var cpus = Set<Int>()
        var oldestStartNs = UInt64.max
        var name = ""
    }

    public static func rows(_ snapshot: Snapshot, by: HostGrouping, syscalls: [SysnetKey: [UInt32: UInt64]]?,
                            net: [SysnetKey: NetBytes]?, thresholds: JobThresholds, sleepsTimed: Bool,
                            nowMonotonicNs: UInt64 = monotonicNs(), procRoot: String = "/proc") -> [JobRow] {
        var groups: [String: Group] = [:]
        var groupOfTgid: [UInt32: String] = [:]
        var status: [UInt32: (user: String, cpus: Set<Int>)] = [:]
        func processStatus(_ tgid: UInt32) -> (user: String, cpus: Set<Int>) {
            if let s = status[tgid] { return s }
            var user = "?", cpus = Set<Int>()
            for line in (HostFiles.read("\(procRoot)/\(tgid)/status") ?? "").split(separator: "\n") {
                if line.hasPrefix("Uid:"), let uid = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap({ uid_t($0) }) {
                    user = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
                } else if line.hasPrefix("Cpus_allowed_list:") {
                    cpus = SchedContextParser.cpuList(String(line.dropFirst("Cpus_allowed_list:".count))) ?? []
                }
            }
            status[tgid] = (user, cpus)
            return (user, cpus)
        }
        for t in snapshot.threads where !t.task.isKernelThread {
            let c = t.task
            let st = processStatus(c.tgid)
            let key: String
            switch by {
            case .workload: key = t.workload.map { $0.name == $0.kind.rawValue ? $0.name : "\($0.kind.rawValue) \($0.name)" } ?? "host"
            case .user: key = st.user
            case .process: key = "\(c.tgid)"
            }
            var g = groups[key] ?? Group()
            g.measure.time = g.measure.time + JobTime(c)
            g.measure.liveThreads += 1
            if let io = HostFiles.read("\(procRoot)/\(c.tgid)/task/\(c.pid)/io").flatMap(TaskIO.init(procIO:)) { g.measure.io = g.measure.io + io }
            g.tgids.insert(c.tgid)
            g.cpus.formUnion(st.cpus)
            g.oldestStartNs = min(g.oldestStartNs, c.startTimeNs)
            if by == .process && (g.name.isEmpty || c.pid == c.tgid) { g.name = c.comm }
            if by == .user { g.name = st.user }
            groups[key] = g
            groupOfTgid[c.tgid] = key
        }
        // The exited threads of the processes seen (the interval's; cumulative ones per process
        // are in the sampler's totals, the kernel keeps no per-group fold without Slurm).
        for (k, work) in snapshot.exited {
            guard let key = groupOfTgid[k.tgid] else { continue }
            groups[key]!.measure.time = groups[key]!.measure.time + JobTime(work)
            groups[key]!.measure.exitedThreads &+= work.threads
        }
        if let syscalls {
            for k in groups.keys { groups[k]!.measure.syscalls = [:] }
            for (k, counts) in syscalls {
                guard let key = groupOfTgid[k.tgid] else { continue }
                groups[key]!.measure.syscalls!.merge(counts, uniquingKeysWith: &+)
            }
        }
        if let net {
            for k in groups.keys { groups[k]!.measure.net = NetBytes() }
            for (k, b) in net {
                guard let key = groupOfTgid[k.tgid] else { continue }
                groups[key]!.measure.net = groups[key]!.measure.net! + b
            }
        }
        return groups.keys.sorted().map { key in
            let g = groups[key]!
            var m = g.measure
            m.processes = g.tgids.count
            let elapsed = g.oldestStartNs < nowMonotonicNs ? Double(nowMonotonicNs - g.oldestStartNs) / 1e9 : 0
            return JobRows.make(id: key, name: by == .workload ? key : g.name, user: by == .user ? key : "", state: "RUNNING",
                                cpus: g.cpus.count, allocatedCPUSeconds: elapsed * Double(g.cpus.count), elapsed: elapsed,
                                m: m, thresholds: thresholds, sleepsTimed: sleepsTimed)
        }
    }
}
