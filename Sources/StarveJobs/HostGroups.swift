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
    /// One process tree: a build, a pipeline, a batch run and all it started, exited children
    /// included (``ProcessTree`` says where a tree starts; ``ProcessTrees`` remembers them).
    case tree
}

/// The process trees a reader has seen, remembered across samples: a process's tree is known
/// only while it is alive (its parent is in `/proc/<pid>/stat`), but its work goes on counting
/// after it exits (the kernel folds it into the `exited` map per (cgroup, tgid, start)), so
/// each process seen alive is remembered in its tree for as long as the tree lives.
///
/// Not thread-safe: one per reader, like the sampler.
public final class ProcessTrees {
    struct ProcessKey: Hashable { var tgid: UInt32; var start: UInt32 }
    /// One tree (keyed in `trees` by the pid that names it: the root's, or a pipeline's process group): a serial
    /// number (a key pid reused by a later tree is another tree), its name, the sample it was
    /// last alive in.
    struct Tree { var serial: Int; var name: String; var lastAlive: Int }
    private var trees: [UInt32: Tree] = [:]
    private var members: [ProcessKey: (key: UInt32, serial: Int)] = [:]
    private var nextSerial = 0
    /// The kernel's CPU time of the reaped children of each live process, as of the last update.
    private var reaped: [UInt32: Double] = [:]
    private var reads = 0
    private let procRoot: String
    /// Reads a tree is kept after its last live process exited: its members' exited work is
    /// still reported once more when the reads race with the exits.
    public let memory: Int

    public init(procRoot: String = "/proc", memory: Int = 30) {
        self.procRoot = procRoot
        self.memory = memory
    }

    /// Places the live processes of `snapshot` (kernel threads left out) in their trees and
    /// remembers them; returns each live process's tree key. A process that exited between the
    /// tasks read and its stat read is its own tree for this read.
    func update(_ snapshot: Snapshot) -> [UInt32: UInt32] {
        reads += 1
        var links: [UInt32: ProcessLink] = [:]
        var starts: [UInt32: UInt32] = [:]
        reaped = [:]
        for t in snapshot.threads where !t.task.isKernelThread && starts[t.task.tgid] == nil {
            starts[t.task.tgid] = t.task.processStart
            if let l = ProcessLink.readWithReapedChildren(pid: t.task.tgid, procRoot: procRoot) {
                links[t.task.tgid] = l.link
                reaped[t.task.tgid] = l.reapedSeconds
            }
        }
        // Ancestors not in the snapshot (kernel threads are, as are processes started since the
        // read): read so the walk goes on through them.
        var pending = links.values.map(\.parent).filter { $0 > 2 && links[$0] == nil }
        var extra = 0
        while let p = pending.popLast(), extra < 4096 {
            guard links[p] == nil, let l = ProcessLink.read(pid: p, procRoot: procRoot) else { continue }
            links[p] = l
            extra += 1
            if l.parent > 2 && links[l.parent] == nil { pending.append(l.parent) }
        }
        let roots = ProcessTree.roots(links)
        var out: [UInt32: UInt32] = [:]
        for (tgid, start) in starts {
            let key = roots[tgid]?.key ?? tgid
            out[tgid] = key
            var tree: Tree
            if let t = trees[key], t.lastAlive >= reads - 1 {
                tree = t  // alive at the last read too: the same tree
            } else {
                tree = Tree(serial: nextSerial, name: "", lastAlive: reads)
                nextSerial += 1
            }
            // Named by the key process (the root, or a pipeline's first command) while it is
            // alive, else by the first process of the tree seen.
            if tgid == key || tree.name.isEmpty,
               let line = processCommandLine(pid: tgid, procRoot: procRoot) ?? snapshot.threads.first(where: { $0.task.pid == tgid })?.task.comm {
                tree.name = line
            }
            tree.lastAlive = reads
            trees[key] = tree
            members[ProcessKey(tgid: tgid, start: start)] = (key, tree.serial)
        }
        if reads % memory == 0 {
            trees = trees.filter { reads - $0.value.lastAlive <= memory }
            members = members.filter { trees[$0.value.key]?.serial == $0.value.serial }
        }
        return out
    }

    /// The tree key of a process seen alive (by tgid and start tag), if its tree lives.
    func tree(of tgid: UInt32, start: UInt32) -> UInt32? {
        guard let m = members[ProcessKey(tgid: tgid, start: start)], let t = trees[m.key], t.serial == m.serial else { return nil }
        return m.key
    }

    /// The kernel's CPU time of the children that the live processes `tgids` waited for (their
    /// `cutime + cstime`), as of the last update, seconds.
    func reapedSeconds(_ tgids: some Sequence<UInt32>) -> Double {
        tgids.reduce(0) { $0 + (reaped[$1] ?? 0) }
    }

    /// The name of tree `key`: its root's command line.
    func name(_ key: UInt32) -> String { trees[key]?.name ?? "" }
}

/// Groups the live threads of a snapshot (kernel threads left out) as jobs: the same figures,
/// classes and advice as Slurm jobs. The allocation of a group is the CPUs it could use (the
/// union of its processes' affinity, `Cpus_allowed_list`) over its life: since its oldest
/// thread started (on-CPU time counts from each thread's start too).
public enum HostGroups {
    /// What a tree's row says when the kernel accounted more CPU time to the children its
    /// processes waited for (their `cutime + cstime`) than the exited processes this reader
    /// saw alive add up to: processes that started and exited between two samples, or before
    /// the reader started, whose parent the `exited` map does not keep. Nil below 0.1 s and
    /// 5 % of the row's CPU time (clock ticks, and a child reaped between the reads).
    public static func unseenNote(reaped: Double, seen: Double, cpu: Double) -> String? {
        let unseen = reaped - seen
        guard unseen >= 0.1 && unseen >= 0.05 * cpu else { return nil }
        return "about \(formatFixed(unseen, decimals: 2)) s more CPU time went to processes of this tree that exited before a sample saw them "
            + "(before this reader started, or between two samples: the kernel's cutime + cstime of its processes): not in these figures"
    }

    struct Group {
        var measure = JobMeasure()
        var processes = Set<ProcessInCgroup>()
        var cpus = Set<Int>()
        var oldestStartNs = UInt64.max
        var name = ""
        var user = ""
        /// On-CPU time of the processes seen alive before and gone now (by tree).
        var goneOnCPUNs: UInt64 = 0
    }

    /// The rows of one snapshot. `exited`: the kernel's `exited` map, cumulative (what every
    /// exited thread of a process did, `PinnedCollection.readExited()`): a group counts the
    /// exited threads of its live processes and, by tree, of every process of the tree seen
    /// alive before. Nil: only the snapshot's interval share. `trees`: needed `by: .tree`.
    public static func rows(_ snapshot: Snapshot, by: HostGrouping, trees: ProcessTrees? = nil,
                            exited: [ProcessInCgroup: ThreadWork]? = nil,
                            syscalls: [SysnetKey: [UInt32: UInt64]]?,
                            net: [SysnetKey: NetBytes]?, thresholds: JobThresholds, sleepsTimed: Bool,
                            nowMonotonicNs: UInt64 = monotonicNs(), procRoot: String = "/proc") -> [JobRow] {
        var groups: [String: Group] = [:]
        var groupOfTgid: [UInt32: String] = [:]
        var groupOfProcess: [ProcessTrees.ProcessKey: String] = [:]
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
        let trees = by == .tree ? trees ?? ProcessTrees(procRoot: procRoot) : nil
        let treeOf = trees?.update(snapshot) ?? [:]
        for t in snapshot.threads where !t.task.isKernelThread {
            let c = t.task
            let st = processStatus(c.tgid)
            let key: String
            switch by {
            case .workload: key = t.workload.map { $0.name == $0.kind.rawValue ? $0.name : "\($0.kind.rawValue) \($0.name)" } ?? "host"
            case .user: key = st.user
            case .process: key = "\(c.tgid)"
            case .tree: key = "\(treeOf[c.tgid] ?? c.tgid)"
            }
            var g = groups[key] ?? Group()
            g.measure.time = g.measure.time + JobTime(c)
            g.measure.liveThreads += 1
            // By tree, a process's I/O as the kernel keeps it per process (`/proc/<pid>/io`, once
            // per process): its exited threads' and the children's it waited for too, so a tree's
            // I/O does not drop as its children exit. Otherwise each thread's own.
            let ioPath = by == .tree ? (groupOfTgid[c.tgid] == nil ? "\(procRoot)/\(c.tgid)/io" : nil) : "\(procRoot)/\(c.tgid)/task/\(c.pid)/io"
            if let ioPath, let io = HostFiles.read(ioPath).flatMap(TaskIO.init(procIO:)) { g.measure.io = g.measure.io + io }
            g.processes.insert(ProcessInCgroup(cgroupID: 0, tgid: c.tgid, start: c.processStart))
            g.cpus.formUnion(st.cpus)
            g.oldestStartNs = min(g.oldestStartNs, c.startTimeNs)
            switch by {
            case .process where g.name.isEmpty || c.pid == c.tgid: g.name = c.comm
            case .user: g.name = st.user
            case .tree:
                if let k = treeOf[c.tgid], g.name.isEmpty || c.tgid == k {
                    g.name = trees?.name(k) ?? c.comm
                    g.user = st.user
                }
            default: break
            }
            groups[key] = g
            groupOfTgid[c.tgid] = key
            groupOfProcess[ProcessTrees.ProcessKey(tgid: c.tgid, start: c.processStart)] = key
        }
        if let exited {
            // Cumulative: the exited threads of the live processes, and by tree those of every
            // process of the tree seen alive before (gone since, or alive with exited threads).
            for (k, work) in exited {
                let process = ProcessTrees.ProcessKey(tgid: k.tgid, start: k.start)
                let key: String
                if let live = groupOfProcess[process] {
                    key = live
                } else if by == .tree, let tree = trees?.tree(of: k.tgid, start: k.start), groups["\(tree)"] != nil {
                    key = "\(tree)"
                    groupOfTgid[k.tgid] = groupOfTgid[k.tgid] ?? key
                    groups[key]!.goneOnCPUNs &+= work.runtimeNs
                } else {
                    continue
                }
                groups[key]!.measure.time = groups[key]!.measure.time + JobTime(work)
                groups[key]!.measure.exitedThreads &+= work.threads
                groups[key]!.processes.insert(ProcessInCgroup(cgroupID: 0, tgid: k.tgid, start: k.start))
            }
        } else {
            // The exited threads of the processes seen (the interval's share only).
            for (k, work) in snapshot.exited {
                guard let key = groupOfTgid[k.tgid] else { continue }
                groups[key]!.measure.time = groups[key]!.measure.time + JobTime(work)
                groups[key]!.measure.exitedThreads &+= work.threads
            }
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
        let keys = by == .tree ? groups.keys.sorted(by: JobRows.idPrecedes) : groups.keys.sorted()
        return keys.map { key in
            let g = groups[key]!
            var m = g.measure
            m.processes = g.processes.count
            let elapsed = g.oldestStartNs < nowMonotonicNs ? Double(nowMonotonicNs - g.oldestStartNs) / 1e9 : 0
            var row = JobRows.make(id: key, name: by == .workload ? key : g.name, user: by == .user ? key : g.user, state: "RUNNING",
                                   cpus: g.cpus.count, allocatedCPUSeconds: elapsed * Double(g.cpus.count), elapsed: elapsed,
                                   m: m, thresholds: thresholds, sleepsTimed: sleepsTimed)
            if let trees, let note = unseenNote(reaped: trees.reapedSeconds(g.processes.lazy.map(\.tgid)),
                                                seen: Double(g.goneOnCPUNs) / 1e9, cpu: row.cpuSeconds) {
                row.recommendations.append(note)
            }
            return row
        }
    }
}
