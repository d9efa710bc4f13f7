import CLibbpf
import CStarveObject
import CStarve
import Glibc
import StarveModel
import StarveHost

/// What `starve-load` needs to load the collector.
public struct LoadOptions: Sendable {
    public var layout = PinLayout(directory: PinLayout.defaultDirectory)
    /// BPF object file; nil: found next to the executables or in the source tree.
    public var objectPath: String?
    /// Kernel BTF for CO-RE.
    public var btfPath = "/sys/kernel/btf/vmlinux"
    /// Group whose members may read the maps; nil: the loading user (and root) only.
    public var group: String?
    /// Size of the `preempt_pairs` map (victim x preemptor cells).
    public var maxPairs: UInt32 = UInt32(STARVE_DEFAULT_MAX_PAIRS)
    /// Size of the `exited` map ((cgroup, process) entries of exited threads' work).
    public var maxExited: UInt32 = UInt32(STARVE_DEFAULT_MAX_EXITED)
    /// Size of the `events` ring buffer, bytes: a power of two, at least one page.
    public var eventsBytes: UInt32 = STARVE_DEFAULT_EVENTS_BYTES
    /// Size of the `event_stacks` ring buffer, bytes: a power of two, at least one page.
    public var stacksBytes: UInt32 = STARVE_DEFAULT_STACKS_BYTES
    /// Whether `group` may read the events' stacks: raw kernel addresses (which the kernel hides
    /// from non-root users through kptr_restrict: a KASLR bypass) and other users' user-space
    /// addresses. Off by default: the group reads events without stacks.
    public var groupStacks = false
    /// Starved / severe / critical wait thresholds, ns; nil: the programs' defaults.
    public var thresholdsNs: [UInt64]?
    /// Shortest block that can make a priority inversion, ns.
    public var inversionMinNs: UInt64?
    /// Migrations of one task within `stormWindowNs` that make a migration storm (0: off).
    public var stormMigrations: UInt32?
    public var stormWindowNs: UInt64?
    /// Events per second per cgroup per CPU (0: unlimited).
    public var rateLimit: UInt32?
    /// Emit one event in N.
    public var sampleOneIn: UInt32?
    /// Events only about these pids or tgids (empty: all).
    public var eventPids: [UInt32] = []
    /// No events at all: counters only.
    public var eventsOff = false
    /// Time sleeps (blocked in I/O or not) for the job views (bpf/jobs.bpf.h); off by default.
    public var jobs = false
    /// Where waits come from; nil: the kernel's sched_info when it works, else our own bracket.
    public var waitSource: WaitSource?
    /// Futex contention per thread (bpf/futex.bpf.h): off by default, it runs on every syscall.
    public var futex = false
    /// Syscalls by number per (job, process) (bpf/sysnet.bpf.h): off by default, it runs on every syscall.
    public var syscalls = false
    /// Inet socket bytes sent/received per (job, process) (bpf/sysnet.bpf.h): off by default.
    public var net = false

    /// Where the programs take run-queue waits from.
    public enum WaitSource: String, Sendable, CaseIterable {
        /// task->sched_info (CONFIG_SCHED_INFO): exact, and nothing to do per wakeup.
        case schedInfo = "sched-info"
        /// Our own bracket from sched_wakeup / sched_wakeup_new: for kernels without sched_info.
        case wakeup
    }

    public init() {}

    /// The programs' default settings (starve.h's STARVE_DEFAULT_*), for flags and docs.
    public enum Defaults {
        public static let thresholdsMs: [Double] = [STARVE_DEFAULT_THRESHOLD_STARVED_NS, STARVE_DEFAULT_THRESHOLD_SEVERE_NS,
                                                    STARVE_DEFAULT_THRESHOLD_CRITICAL_NS].map { Double($0) / 1e6 }
        public static let inversionMinMs = Double(STARVE_DEFAULT_INVERSION_MIN_NS) / 1e6
        public static let stormMigrations = UInt32(STARVE_DEFAULT_STORM_MIGRATIONS)
        public static let stormWindowMs = Double(STARVE_DEFAULT_STORM_WINDOW_NS) / 1e6
        public static let rateLimit = UInt32(STARVE_DEFAULT_RATE_LIMIT)
    }

    /// The settings the programs run with: the object's compiled-in defaults, overridden.
    func settings(over defaults: starve_settings, waitSource: WaitSource) throws -> starve_settings {
        var s = defaults
        if let t = thresholdsNs {
            guard t.count == 3, t[0] > 0, t[0] <= t[1], t[1] <= t[2] else {
                throw StarveError("thresholds must be three increasing values (starved, severe, critical)")
            }
            s.threshold_ns = (t[0], t[1], t[2])
        }
        if let v = inversionMinNs { s.inversion_min_ns = v }
        if let v = stormMigrations { s.storm_migrations = v }
        s.sysnet = (syscalls ? UInt32(STARVE_SYSNET_SYSCALLS) : 0) | (net ? UInt32(STARVE_SYSNET_NET) : 0)
            | (syscalls && futex ? UInt32(STARVE_SYSNET_FUTEX_SHARED) : 0)
        if let v = stormWindowNs { s.storm_window_ns = v }
        if let v = rateLimit { s.rate_limit = v }
        if let v = sampleOneIn { s.sample_one_in = max(1, v) }
        s.pid_filter = eventPids.isEmpty ? 0 : 1
        s.events = eventsOff ? 0 : 1
        s.jobs = jobs ? 1 : 0
        s.wait_source = waitSource == .schedInfo ? UInt32(STARVE_WAIT_SOURCE_SCHED_INFO.rawValue) : UInt32(STARVE_WAIT_SOURCE_WAKEUP.rawValue)
        return s
    }
}

/// What `starve-load` did.
public struct LoadReport: Sendable {
    public var programs: [String]
    public var maps: [String]
    public var mountedBpffs: Bool
    public var objectPath: String
    public var waitSource: LoadOptions.WaitSource
}

/// Loads, inspects and unloads the collector: the privileged half of starve.
public enum Collector {
    /// Loads the BPF object, attaches its programs, pins maps and links under the pin directory
    /// with the requested ownership, and returns; collection goes on in the kernel.
    ///
    /// All or nothing: everything is pinned into a staging directory beside the pin directory
    /// (``StagingDirectory``), which one rename(2) then makes the pin directory. An error or a
    /// stop signal at any step (``LoadSteps``) removes the staging directory, and the links
    /// that were only fds detach as they close; a kill -9 leaves a staging directory that the
    /// next starve-load command removes (``removeLeftovers(layout:)``).
    public static func load(_ options: LoadOptions) throws -> LoadReport {
        try Capability.requireForLoad()
        guard access(options.btfPath, R_OK) == 0 else {
            throw StarveError("no kernel BTF at \(options.btfPath): the kernel needs CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE")
        }
        guard options.maxPairs >= 1 else { throw StarveError("--max-pairs must be at least 1") }
        guard options.maxExited >= 1 else { throw StarveError("--max-exited must be at least 1") }
        let page = UInt32(sysconf(Int32(_SC_PAGESIZE)))
        for (name, bytes) in [("events", options.eventsBytes), ("event stacks", options.stacksBytes)] {
            guard bytes >= page, bytes & (bytes - 1) == 0 else {
                throw StarveError("the \(name) ring buffer size must be a power of two of at least \(page) bytes, not \(bytes)")
            }
        }
        if options.groupStacks && options.group == nil {
            throw StarveError("--group-stacks grants the stacks to the --group: give --group too")
        }
        guard options.eventPids.count <= 256 else { throw StarveError("at most 256 event pids") }
        let schedInfo = schedInfoWorks()
        let waitSource = options.waitSource ?? (schedInfo ? .schedInfo : .wakeup)
        if waitSource == .schedInfo, !schedInfo {
            throw StarveError("--wait-source sched-info: this kernel does not keep sched_info (/proc/self/schedstat has no timeslices); use --wait-source wakeup")
        }
        let gid: gid_t? = try options.group.map(groupID(named:))
        if let gid, let group = options.group { try requireGroupChange(to: gid, named: group) }
        let source = try BPFObjectLocator.source(explicit: options.objectPath)
        let objectPath = source.description
        let layout = options.layout

        let mounted = try Bpffs.ensureMounted(for: layout.directory)
        try Bpffs.requireStagingRoom(for: layout.directory)
        if access(layout.directory, F_OK) == 0 {
            if !directoryIsEmpty(layout.directory) {
                throw StarveError("already loaded at \(layout.directory): run `starve-load unload --pin-dir \(layout.directory)` first")
            }
        }

        var steps = LoadSteps()
        let object = try BPFObject(source, btfPath: options.btfPath == "/sys/kernel/btf/vmlinux" ? nil : options.btfPath)
        let mapNames = object.maps.map(\.name)
        var settings: starve_settings?
        if mapNames.contains(PinLayout.configMap) { // starve's own object (the floor has none of this)
            try object.setMaxEntries(map: PinLayout.pairsMap, options.maxPairs)
            try object.setMaxEntries(map: PinLayout.exitedMap, options.maxExited)
            try object.setMaxEntries(map: PinLayout.eventsMap, options.eventsBytes)
            try object.setMaxEntries(map: PinLayout.stacksMap, options.stacksBytes)
            let s = try options.settings(over: object.initialValue(section: PinLayout.settingsSection, as: starve_settings.self),
                                         waitSource: waitSource)
            try object.setInitialValue(section: PinLayout.settingsSection, s)
            // Our own wait bracket needs the wakeup probes; sched_info makes them dead weight.
            for name in PinLayout.wakeupPrograms { try object.setAutoload(program: name, waitSource == .wakeup) }
            if options.futex {
                try object.setMaxEntries(map: PinLayout.futexThreadsMap, UInt32(STARVE_DEFAULT_MAX_FUTEX_THREADS))
                for name in PinLayout.futexPrograms { try object.setAutoload(program: name, true) }
            }
            if options.syscalls {
                try object.setMaxEntries(map: PinLayout.sysCountsMap, UInt32(STARVE_DEFAULT_MAX_SYSCALL_KEYS))
                try object.setAutoload(program: PinLayout.syscallsProgram, true)
                // One sys_enter program, not two: the syscalls program does futex's entry work too.
                if options.futex { try object.setAutoload(program: PinLayout.futexPrograms[0], false) }
            }
            if options.net {
                try object.setMaxEntries(map: PinLayout.netBytesMap, UInt32(STARVE_DEFAULT_MAX_NET_KEYS))
                for name in PinLayout.netPrograms { try object.setAutoload(program: name, true) }
            }
            settings = s
        }
        try steps.reach("open")
        try object.load()
        steps.programIDs = object.programs.compactMap { BPFObject.programID($0.handle) }
        try steps.reach("load")
        if mapNames.contains(PinLayout.configMap) {
            var config = starve_config()
            config.abi_version = UInt32(STARVE_ABI_VERSION)
            config.loaded_at_ns = monotonicNs()
            if let settings { config.settings = settings }
            config.events_bytes = options.eventsBytes
            config.max_pairs = options.maxPairs
            config.max_exited = options.maxExited
            config.stacks_bytes = options.stacksBytes
            config.flags = (options.groupStacks ? UInt32(STARVE_CONFIG_GROUP_STACKS) : 0) | (options.futex ? UInt32(STARVE_CONFIG_FUTEX) : 0)
                | (options.syscalls ? UInt32(STARVE_CONFIG_SYSCALLS) : 0) | (options.net ? UInt32(STARVE_CONFIG_NET) : 0)
            var key: UInt32 = 0
            try check(bpf_map_update_elem(try object.mapFD(PinLayout.configMap), &key, &config, UInt64(BPF_ANY)), "write \(PinLayout.configMap)")
            let pidsFD = try object.mapFD(PinLayout.eventPidsMap)
            for var pid in options.eventPids {
                var one: UInt8 = 1
                try check(bpf_map_update_elem(pidsFD, &pid, &one, UInt64(BPF_ANY)), "write \(PinLayout.eventPidsMap)")
            }
        }
        try steps.reach("configure")

        // Everything is pinned under the staging directory; its rename is the commit point.
        let staging = PinLayout(directory: StagingDirectory.mine(.loading, for: layout).path)
        var links: [String] = []
        do {
            for dir in [staging.directory, staging.mapsDirectory, staging.linksDirectory] {
                if mkdir(dir, 0o700) != 0 {
                    let e = errno
                    if e == EACCES || e == EPERM {
                        throw StarveError("permission denied creating \(dir): starve-load needs write access to \(Bpffs.parent(of: layout.directory))")
                    }
                    throw BPFError("create \(dir)", errno: e)
                }
            }
            try steps.reach("stage")
            for (name, map) in object.maps {
                let path = staging.map(name)
                try check(bpf_map__pin(map, path), "pin map \(name) at \(path)")
                try steps.reach("pin-map:\(name)")
            }
            for (name, program) in object.programs {
                let link = try BPFLink(program: program, name: name)
                try steps.reach("attach:\(name)")
                // The iterator is what readers read: pinned beside the maps, not with the links.
                try link.pin(at: name == PinLayout.tasksIteratorProgram ? staging.tasksIterator : staging.link(name))
                links.append(name)
                try steps.reach("pin-link:\(name)")
            } // each link's fd closes here: a pinned link stays attached through its pin
            try setOwnership(layout: staging, maps: mapNames, gid: gid, groupStacks: options.groupStacks)
            try steps.reach("own")
            try commit(staging: staging, to: layout, steps: &steps)
        } catch {
            // Unpinned links detached as their fds closed; removing the pins detaches the rest.
            _ = try? PinTree.remove(staging.directory)
            throw error
        }
        do {
            try steps.reach("committed", stoppable: false)
        } catch {
            throw StarveError("\(error); the collection at \(layout.directory) is complete and stays loaded")
        }
        return LoadReport(programs: links, maps: mapNames, mountedBpffs: mounted, objectPath: objectPath, waitSource: waitSource)
    }

    /// The commit point: one rename(2) makes the staged tree the pin directory. An empty
    /// skeleton (`maps/` and `links/` with nothing in them, left by an old interrupted unload)
    /// is cleared first; a pin directory with pins in it (a concurrent load that committed
    /// first) makes the rename fail, and this load is undone.
    static func commit(staging: PinLayout, to layout: PinLayout, steps: inout LoadSteps) throws {
        if access(layout.directory, F_OK) == 0, directoryIsEmpty(layout.directory) {
            for dir in [layout.mapsDirectory, layout.linksDirectory] { _ = rmdir(dir) }
        }
        try steps.reach("commit")
        guard rename(staging.directory, layout.directory) == 0 else {
            let e = errno
            if e == ENOTEMPTY || e == EEXIST {
                throw StarveError("already loaded at \(layout.directory): run `starve-load unload --pin-dir \(layout.directory)` first")
            }
            throw BPFError("rename \(staging.directory) to \(layout.directory)", errno: e)
        }
    }

    /// Giving the pins to `gid`: the owner may give a file to a group it is in; any other
    /// group needs CAP_CHOWN.
    static func requireGroupChange(to gid: gid_t, named name: String) throws {
        if gid == getegid() || Capability.chown.isEffective { return }
        let n = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(0, n)))
        if n > 0, getgroups(n, &groups) == n, groups.contains(gid) { return }
        throw StarveError("--group \(name): giving the pins to a group this user is not in needs CAP_CHOWN: run as root, add CAP_CHOWN, or pick one of your groups")
    }

    /// Maps readable by `gid` (0640, directories 0750) or by their owner only (0600, 0700);
    /// links always owner only: removing a link pin detaches the program. The events' stacks
    /// (addresses) stay owner-only unless `groupStacks`.
    /// The owner stays the loading user (root, or the user given CAP_BPF and CAP_PERFMON).
    static func setOwnership(layout: PinLayout, maps: [String], gid: gid_t?, groupStacks: Bool) throws {
        let dirMode: mode_t = gid == nil ? 0o700 : 0o750
        let mapMode: mode_t = gid == nil ? 0o600 : 0o640
        for dir in [layout.directory, layout.mapsDirectory] {
            if let gid { try checkSyscall(chown(dir, uid_t.max, gid), "chown \(dir)") }
            try checkSyscall(chmod(dir, dirMode), "chmod \(dir)")
        }
        try checkSyscall(chmod(layout.linksDirectory, 0o700), "chmod \(layout.linksDirectory)")
        // The maps, and the tasks iterator (readers read it like a map) when the object has one.
        var readable: [(path: String, mode: mode_t)] = maps.map { name in
            // Consuming a ring buffer writes its consumer position: the group needs write there.
            switch name {
            case PinLayout.eventsMap: return (layout.map(name), gid != nil ? 0o660 : mapMode)
            case PinLayout.stacksMap: return (layout.map(name), gid != nil && groupStacks ? 0o660 : 0o600)
            default: return (layout.map(name), mapMode)
            }
        }
        if access(layout.tasksIterator, F_OK) == 0 { readable.append((layout.tasksIterator, mapMode)) }
        for (path, mode) in readable {
            if let gid { try checkSyscall(chown(path, uid_t.max, gid), "chown \(path)") }
            try checkSyscall(chmod(path, mode), "chmod \(path)")
        }
    }

    /// Removes every pin under the pin directory (detaching the programs) and the directory,
    /// whatever build or ABI made them: nothing is read, pins are only unlinked. The pin
    /// directory is first renamed to a staging name (``StagingDirectory``), so it is gone at
    /// once; a kill -9 in the middle leaves a staging directory that the next starve-load
    /// command removes. Needs write access to the pins' directories, no capability when the
    /// same user loaded them. Returns the removed pins.
    @discardableResult
    public static func unload(layout: PinLayout) throws -> [String] {
        guard access(layout.directory, F_OK) == 0 else {
            throw StarveError("nothing loaded at \(layout.directory)")
        }
        guard Bpffs.isBpffs(layout.directory) else {
            throw StarveError("\(layout.directory) is not on a bpf filesystem: refusing to remove anything there")
        }
        let top = listDirectory(layout.directory)
        guard top.isEmpty || top.contains(where: { ["maps", "links", "tasks"].contains($0) }) else {
            throw StarveError("\(layout.directory) does not look like starve's pins (no maps/, links/ or tasks): refusing to remove it")
        }
        let doomed = StagingDirectory.mine(.unloading, for: layout).path
        if rename(layout.directory, doomed) == 0 { return try PinTree.remove(doomed) }
        let e = errno
        if e == EACCES || e == EPERM { throw PinTree.removalError(layout.directory, e) }
        // A pin directory that is itself a mount point cannot move: removed where it is.
        guard e == EBUSY || e == EXDEV else { throw BPFError("rename \(layout.directory) to \(doomed)", errno: e) }
        return try PinTree.remove(layout.directory)
    }

    /// Whether the kernel keeps sched_info: /proc/self/schedstat counts our timeslices (always on
    /// with CONFIG_SCHED_INFO since 5.14; before, only with schedstats or delay accounting on).
    static func schedInfoWorks() -> Bool {
        (Schedstat.read(path: "/proc/self/schedstat")?.timeslices ?? 0) > 0
    }

    static func groupID(named name: String) throws -> gid_t {
        if let g = getgrnam(name) { return g.pointee.gr_gid }
        if let n = UInt32(name), getgrgid(n) != nil { return n }
        throw StarveError("no such group: \(name)")
    }
}

/// Entries of a directory, "." and ".." left out; empty when it cannot be read.
func listDirectory(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out.sorted()
}

func directoryIsEmpty(_ path: String) -> Bool {
    let entries = listDirectory(path)
    // An empty tree of our own directories counts as empty (a previous unload interrupted).
    return entries.allSatisfy { ($0 == "maps" || $0 == "links") && listDirectory(path + "/" + $0).isEmpty }
}

/// Where the collector's BPF object comes from: a file, or the copy embedded in the executable.
public enum BPFObjectSource: CustomStringConvertible, @unchecked Sendable {  // the bytes are static, read-only
    case file(String)
    case embedded(UnsafeRawBufferPointer)

    /// The object embedded at build time (CStarveObject); nil when the build had none.
    public static var embeddedObject: BPFObjectSource? {
        let size = cstarve_object_size()
        guard size > 0, let data = cstarve_object_data() else { return nil }
        return .embedded(UnsafeRawBufferPointer(start: data, count: size))
    }

    public var description: String {
        switch self {
        case .file(let path): return path
        case .embedded(let bytes): return "the embedded starve.bpf.o (\(bytes.count) bytes)"
        }
    }
}

/// Finds the collector's BPF object: --object, $STARVE_BPF_OBJECT, else the copy embedded in the
/// executable, else bpf/build/starve.bpf.o (a build that embedded none).
public enum BPFObjectLocator {
    public static let fileName = "starve.bpf.o"

    /// In order: `explicit` (--object), $STARVE_BPF_OBJECT, the embedded object, then the files
    /// ``locate(explicit:fileName:)`` looks for.
    public static func source(explicit: String?) throws -> BPFObjectSource {
        if explicit == nil, (getenv("STARVE_BPF_OBJECT").map { String(cString: $0) } ?? "").isEmpty, let embedded = BPFObjectSource.embeddedObject {
            return embedded
        }
        return .file(try locate(explicit: explicit))
    }

    /// In order: `explicit` (--object), $STARVE_BPF_OBJECT, next to the executable,
    /// ../share/starve beside it, then bpf/build/ in any directory above the executable.
    public static func locate(explicit: String?, fileName: String = fileName) throws -> String {
        if let explicit {
            guard access(explicit, R_OK) == 0 else { throw StarveError("cannot read BPF object \(explicit)") }
            return explicit
        }
        if let env = getenv("STARVE_BPF_OBJECT").map({ String(cString: $0) }), !env.isEmpty {
            guard access(env, R_OK) == 0 else { throw StarveError("cannot read BPF object \(env) (from STARVE_BPF_OBJECT)") }
            return env
        }
        var candidates: [String] = []
        let exeDir = Bpffs.parent(of: currentExecutable())
        candidates.append(exeDir + "/" + fileName)
        candidates.append(Bpffs.parent(of: exeDir) + "/share/starve/" + fileName)
        var dir = exeDir
        while dir != "/" && !dir.isEmpty {
            candidates.append(dir + "/bpf/build/" + fileName)
            dir = Bpffs.parent(of: dir)
        }
        if let found = candidates.first(where: { access($0, R_OK) == 0 }) { return found }
        throw StarveError("BPF object \(fileName) not found: this build embedded none and there is none next to the executable or in bpf/build/: run `scripts/run.sh build`, or pass --object FILE")
    }
}
