import CLibbpf
import CStarve
import Glibc
import StarveCore

/// What `starve-load` needs to load the collector.
public struct LoadOptions: Sendable {
    public var layout = PinLayout(directory: PinLayout.defaultDirectory)
    /// BPF object file; nil: found next to the executables or in the source tree.
    public var objectPath: String?
    /// Kernel BTF for CO-RE.
    public var btfPath = "/sys/kernel/btf/vmlinux"
    /// Group whose members may read the maps; nil: root only.
    public var group: String?
    /// Size of the `tasks` map.
    public var maxPids: UInt32 = UInt32(STARVE_DEFAULT_MAX_PIDS)

    public init() {}
}

/// What `starve-load` did.
public struct LoadReport: Sendable {
    public var programs: [String]
    public var maps: [String]
    public var mountedBpffs: Bool
    public var objectPath: String
}

/// Loads, inspects and unloads the collector: the privileged half of starve.
public enum Collector {
    /// Loads the BPF object, attaches its programs, pins maps and links under the pin directory
    /// with the requested ownership, and returns; collection goes on in the kernel.
    /// Anything pinned before a failure is removed again.
    public static func load(_ options: LoadOptions) throws -> LoadReport {
        guard geteuid() == 0 else {
            throw StarveError("starve-load must run as root: loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)")
        }
        guard access(options.btfPath, R_OK) == 0 else {
            throw StarveError("no kernel BTF at \(options.btfPath): the kernel needs CONFIG_DEBUG_INFO_BTF=y, or pass --btf FILE")
        }
        guard options.maxPids >= 1 else { throw StarveError("--max-pids must be at least 1") }
        let gid: gid_t? = try options.group.map(groupID(named:))
        let objectPath = try BPFObjectLocator.locate(explicit: options.objectPath)
        let layout = options.layout

        let mounted = try Bpffs.ensureMounted(for: layout.directory)
        if access(layout.directory, F_OK) == 0 {
            if !directoryIsEmpty(layout.directory) {
                throw StarveError("already loaded at \(layout.directory): run `starve-load unload --pin-dir \(layout.directory)` first")
            }
        }

        let object = try BPFObject(path: objectPath, btfPath: options.btfPath == "/sys/kernel/btf/vmlinux" ? nil : options.btfPath)
        let mapNames = object.maps.map(\.name)
        if mapNames.contains(PinLayout.tasksMap) {
            try object.setMaxEntries(map: PinLayout.tasksMap, options.maxPids)
        }
        try object.load()
        if mapNames.contains(PinLayout.configMap) {
            var config = starve_config()
            config.abi_version = UInt32(STARVE_ABI_VERSION)
            config.max_pids = options.maxPids
            config.loaded_at_ns = monotonicNs()
            var key: UInt32 = 0
            try check(bpf_map_update_elem(try object.mapFD(PinLayout.configMap), &key, &config, UInt64(BPF_ANY)), "write \(PinLayout.configMap)")
        }

        var created: [String] = []  // pins and directories to remove if anything fails
        do {
            for dir in [layout.directory, layout.mapsDirectory, layout.linksDirectory] where access(dir, F_OK) != 0 {
                try checkSyscall(mkdir(dir, 0o700), "create \(dir)")
                created.append(dir)
            }
            for (name, map) in object.maps {
                let path = layout.map(name)
                try check(bpf_map__pin(map, path), "pin map \(name) at \(path)")
                created.append(path)
            }
            var links: [String] = []
            for (name, program) in object.programs {
                let link = try BPFLink(program: program, name: name)
                let path = layout.link(name)
                try link.pin(at: path)
                created.append(path)
                links.append(name)
            }
            try setOwnership(layout: layout, maps: mapNames, gid: gid)
            return LoadReport(programs: links, maps: mapNames, mountedBpffs: mounted, objectPath: objectPath)
        } catch {
            for path in created.reversed() { _ = unlink(path) == 0 || rmdir(path) == 0 }
            throw error
        }
    }

    /// Maps readable by `gid` (0640, directories 0750) or by root only (0600, 0700);
    /// links always root only: removing a link pin detaches the program.
    static func setOwnership(layout: PinLayout, maps: [String], gid: gid_t?) throws {
        let group = gid ?? 0
        let dirMode: mode_t = gid == nil ? 0o700 : 0o750
        let mapMode: mode_t = gid == nil ? 0o600 : 0o640
        for dir in [layout.directory, layout.mapsDirectory] {
            try checkSyscall(chown(dir, 0, group), "chown \(dir)")
            try checkSyscall(chmod(dir, dirMode), "chmod \(dir)")
        }
        try checkSyscall(chmod(layout.linksDirectory, 0o700), "chmod \(layout.linksDirectory)")
        for name in maps {
            let path = layout.map(name)
            try checkSyscall(chown(path, 0, group), "chown \(path)")
            try checkSyscall(chmod(path, mapMode), "chmod \(path)")
        }
    }

    /// Removes every pin under the pin directory (detaching the programs) and the directory.
    /// Returns the removed pins.
    @discardableResult
    public static func unload(layout: PinLayout) throws -> [String] {
        guard geteuid() == 0 else { throw StarveError("starve-load unload must run as root") }
        guard access(layout.directory, F_OK) == 0 else {
            throw StarveError("nothing loaded at \(layout.directory)")
        }
        guard Bpffs.isBpffs(layout.directory) else {
            throw StarveError("\(layout.directory) is not on a bpf filesystem: refusing to remove anything there")
        }
        var removed: [String] = []
        // Links first: programs stop before their maps go.
        for dir in [layout.linksDirectory, layout.mapsDirectory] {
            for name in listDirectory(dir) {
                let path = dir + "/" + name
                try checkSyscall(unlink(path), "remove \(path)")
                removed.append(path)
            }
        }
        for dir in [layout.linksDirectory, layout.mapsDirectory, layout.directory] where access(dir, F_OK) == 0 {
            try checkSyscall(rmdir(dir), "remove \(dir) (does it hold pins that starve did not make?)")
        }
        return removed
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

/// Finds the compiled BPF object (bpf/build/starve.bpf.o, built by `scripts/run.sh build`).
public enum BPFObjectLocator {
    public static let fileName = "starve.bpf.o"

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
        throw StarveError("BPF object \(fileName) not found next to the executable or in bpf/build/: run `scripts/run.sh build`, or pass --object FILE")
    }
}
