import CLibbpf
import Glibc

/// An opened (and later loaded) BPF object file: owns libbpf's `struct bpf_object`.
public struct BPFObject: ~Copyable {
    let raw: OpaquePointer

    /// Opens `path` (bpf_object__open_file); `btfPath` overrides the kernel BTF used for CO-RE.
    public init(path: String, btfPath: String?) throws {
        let obj: OpaquePointer? = withLibbpfOptions(bpf_object_open_opts.self) { opts in
            if let btfPath {
                return btfPath.withCString { btf in
                    opts.pointee.btf_custom_path = btf
                    return bpf_object__open_file(path, opts)
                }
            }
            return bpf_object__open_file(path, opts)
        }
        raw = try check(obj, "open BPF object \(path)")
    }

    /// Opens an object held in memory (bpf_object__open_mem): the one embedded in the
    /// executable. `name` names it in libbpf's messages; `bytes` must outlive the object.
    public init(memory bytes: UnsafeRawBufferPointer, name: String, btfPath: String?) throws {
        let obj: OpaquePointer? = name.withCString { cName in
            withLibbpfOptions(bpf_object_open_opts.self) { opts in
                opts.pointee.object_name = cName
                if let btfPath {
                    return btfPath.withCString { btf in
                        opts.pointee.btf_custom_path = btf
                        return bpf_object__open_mem(bytes.baseAddress, bytes.count, opts)
                    }
                }
                return bpf_object__open_mem(bytes.baseAddress, bytes.count, opts)
            }
        }
        raw = try check(obj, "open the embedded BPF object")
    }

    /// Opens what `source` names.
    public init(_ source: BPFObjectSource, btfPath: String?) throws {
        switch source {
        case .file(let path): try self.init(path: path, btfPath: btfPath)
        case .embedded(let bytes): try self.init(memory: bytes, name: "starve.bpf.o", btfPath: btfPath)
        }
    }

    deinit { bpf_object__close(raw) }

    /// The object's maps, with libbpf's internal ones (.rodata, .bss) left out.
    public var maps: [(name: String, handle: OpaquePointer)] {
        var out: [(String, OpaquePointer)] = []
        var m = bpf_object__next_map(raw, nil)
        while let map = m {
            if !bpf_map__is_internal(map) { out.append((String(cString: bpf_map__name(map)), map)) }
            m = bpf_object__next_map(raw, map)
        }
        return out
    }

    /// The object's programs that are (to be) loaded.
    public var programs: [(name: String, handle: OpaquePointer)] {
        var out: [(String, OpaquePointer)] = []
        var p = bpf_object__next_program(raw, nil)
        while let prog = p {
            if bpf_program__autoload(prog) { out.append((String(cString: bpf_program__name(prog)), prog)) }
            p = bpf_object__next_program(raw, prog)
        }
        return out
    }

    /// A loaded program's kernel id (bpf_prog_get_info_by_fd); nil before load.
    static func programID(_ program: OpaquePointer) -> UInt32? {
        let fd = bpf_program__fd(program)
        guard fd >= 0 else { return nil }
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : nil
    }

    /// Sets a map's size before load (bpf_map__set_max_entries).
    public func setMaxEntries(map name: String, _ n: UInt32) throws {
        guard let map = bpf_object__find_map_by_name(raw, name) else {
            throw StarveError("the BPF object has no map \(name)")
        }
        try check(bpf_map__set_max_entries(map, n), "size map \(name)")
    }

    /// The internal map (a global data section) whose name ends in `suffix`, e.g. "rodata.settings".
    private func internalMap(suffix: String) throws -> OpaquePointer {
        var m = bpf_object__next_map(raw, nil)
        while let map = m {
            if bpf_map__is_internal(map) && String(cString: bpf_map__name(map)).hasSuffix(suffix) { return map }
            m = bpf_object__next_map(raw, map)
        }
        throw StarveError("the BPF object has no \(suffix) section: is it starve's, and from this version?")
    }

    /// The initial contents of a global data section before load (bpf_map__initial_value), read
    /// as one `T`: a `const volatile` settings struct keeps its compiled-in defaults there.
    public func initialValue<T>(section suffix: String, as: T.Type) throws -> T {
        let map = try internalMap(suffix: suffix)
        var size = 0
        guard let p = bpf_map__initial_value(map, &size), size == MemoryLayout<T>.size else {
            throw StarveError("section \(suffix) of the BPF object holds \(size) bytes, expected \(MemoryLayout<T>.size): rebuild the BPF object with this version (scripts/run.sh build)")
        }
        return p.loadUnaligned(as: T.self)
    }

    /// Overwrites a global data section before load: the verifier then sees the new constants.
    public func setInitialValue<T>(section suffix: String, _ value: T) throws {
        let map = try internalMap(suffix: suffix)
        var v = value
        try check(withUnsafeMutableBytes(of: &v) { bpf_map__set_initial_value(map, $0.baseAddress, $0.count) },
                  "set \(suffix)")
    }

    /// Whether a program is loaded at all (bpf_program__set_autoload); off: not loaded, not attached.
    public func setAutoload(program name: String, _ on: Bool) throws {
        guard let prog = bpf_object__find_program_by_name(raw, name) else {
            throw StarveError("the BPF object has no program \(name)")
        }
        try check(bpf_program__set_autoload(prog, on), "set autoload of \(name)")
    }

    /// Verifies and loads every program, creates every map (bpf_object__load).
    public func load() throws {
        let rc = bpf_object__load(raw)
        if rc < 0 {
            throw StarveError("failed to load BPF programs: \(String(cString: strerror(-rc))) (run with --verbose for libbpf's and the verifier's log)")
        }
    }

    /// The fd of a loaded map.
    public func mapFD(_ name: String) throws -> Int32 {
        guard let map = bpf_object__find_map_by_name(raw, name) else {
            throw StarveError("the BPF object has no map \(name)")
        }
        return try check(bpf_map__fd(map), "get fd of map \(name)")
    }
}

/// An attached program (bpf_program__attach): owns libbpf's `struct bpf_link`.
public struct BPFLink: ~Copyable {
    let raw: OpaquePointer
    public let programName: String

    /// Attaches `program` where its SEC() says (tp_btf/sched_switch, …).
    public init(program: OpaquePointer, name: String) throws {
        let tp = String(cString: bpf_program__section_name(program)).split(separator: "/").last.map(String.init) ?? name
        raw = try check(bpf_program__attach(program), "attach \(tp)")
        programName = name
    }

    /// Pins the link (bpf_link__pin): it stays attached after we exit, until the pin is removed.
    public func pin(at path: String) throws {
        try check(bpf_link__pin(raw, path), "pin link \(programName) at \(path)")
    }

    /// Closes our fd: an unpinned link detaches, a pinned one stays attached through its pin.
    deinit { bpf_link__destroy(raw) }
}

/// Runs `body` with a libbpf options struct (`struct *_opts`, whose first field is `size_t sz`)
/// that is zero in every byte, padding included, with `sz` set. libbpf refuses options whose
/// bytes past the fields it knows are not zero, and a Swift value of an imported struct keeps no
/// promise about its padding (an optimised build left garbage there: "has non-zero extra bytes").
func withLibbpfOptions<T, R>(_ type: T.Type, _ body: (UnsafeMutablePointer<T>) -> R) -> R {
    withUnsafeTemporaryAllocation(of: T.self, capacity: 1) { buffer in
        let p = buffer.baseAddress!
        memset(p, 0, MemoryLayout<T>.size)
        UnsafeMutableRawPointer(p).storeBytes(of: MemoryLayout<T>.size, as: Int.self)
        return body(p)
    }
}
