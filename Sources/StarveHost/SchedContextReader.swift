import Glibc
import StarveModel

/// Reads each task's affinity and CPU task groups from /proc and cgroupfs for the share
/// analysis; the parsing itself is StarveModel's `SchedContextParser`.
///
/// Per task: `/proc/<tgid>/task/<tid>/status` (Cpus_allowed_list), `.../cgroup` and, for tasks in
/// the root cpu cgroup, `/proc/<tgid>/autogroup`. Per sample: `kernel.sched_autogroup_enabled`
/// and each cgroup level's `cpu.shares` / `cpu.weight` / `cgroup.subtree_control`, read once
/// and cached until `beginSample()`. A task that exited before it could be read keeps what was
/// last read for it, or is left out (the analysis then takes it as unpinned, root group).
public final class SchedContextReader {
    /// Mount points of the cgroup hierarchies, read once.
    public let mounts: CgroupMounts
    /// Every CPU this machine has (the affinity of a task we could not read).
    public let allCPUs: Set<Int>
    private let procRoot: String
    private var autogroupsEnabled = false
    private var cgroupFiles: [String: String?] = [:]
    private var lastKnown: [UInt32: TaskSchedContext] = [:]

    /// Creates a reader; `procRoot` is for tests on a fake tree.
    public init(procRoot: String = "/proc") {
        self.procRoot = procRoot
        mounts = CgroupMounts(mountinfo: HostFiles.read(procRoot + "/self/mountinfo") ?? "")
        let possible = HostFiles.read("/sys/devices/system/cpu/possible").flatMap(SchedContextParser.cpuList)
        allCPUs = possible ?? Set(0..<max(1, Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))))
    }

    /// Drops per-sample caches (group weights can change between samples).
    public func beginSample() {
        cgroupFiles.removeAll(keepingCapacity: true)
        autogroupsEnabled = HostFiles.read(procRoot + "/sys/kernel/sched_autogroup_enabled")
            .map { $0.hasPrefix("1") } ?? false
    }

    /// Contexts of the given threads (thread id, process id); threads that vanished and were
    /// never read are absent. Entries of threads not asked for are forgotten.
    public func contexts(of tasks: [(pid: UInt32, tgid: UInt32)]) -> [UInt32: TaskSchedContext] {
        var out: [UInt32: TaskSchedContext] = [:]
        out.reserveCapacity(tasks.count)
        for (pid, tgid) in tasks {
            if let c = read(pid: pid, tgid: tgid) ?? lastKnown[pid] { out[pid] = c }
        }
        lastKnown = out
        return out
    }

    /// One thread's context, or nil when its /proc entry is gone.
    public func read(pid: UInt32, tgid: UInt32) -> TaskSchedContext? {
        let dir = "\(procRoot)/\(tgid)/task/\(pid)"
        guard let status = HostFiles.read(dir + "/status"),
              let cpus = SchedContextParser.allowedCPUs(status: status) else { return nil }
        var groups: [SchedGroup] = []
        if let cgroup = HostFiles.read(dir + "/cgroup"), let location = SchedContextParser.cpuCgroup(cgroup) {
            groups = SchedContextParser.cgroupGroups(location, mounts: mounts, read: cgroupFile)
        }
        if groups.isEmpty && autogroupsEnabled {
            let entry = HostFiles.read("\(procRoot)/\(tgid)/autogroup").flatMap(SchedContextParser.autogroup)
            groups = SchedContextParser.groupPath(cgroupGroups: [], autogroup: entry, autogroupsEnabled: true)
        }
        return TaskSchedContext(allowedCPUs: cpus, groupPath: groups)
    }

    private func cgroupFile(_ path: String) -> String? {
        if let cached = cgroupFiles[path] { return cached }
        let text = HostFiles.read(path)
        cgroupFiles[path] = .some(text)
        return text
    }
}
