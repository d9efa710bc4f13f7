import CLibbpf
import Glibc

/// A pinned BPF map opened from its pin. Read-only opens (BPF_F_RDONLY) are what lets a
/// non-root member of the pin's group in (kernel 5.19+); updates through such a handle fail.
///
/// The kernel writes `value_size` bytes per value (times the possible CPUs for per-CPU maps)
/// whatever buffer we hand it, and pins outlive the build that made them. So typed reads go
/// through ``init(path:key:value:readOnly:)``, which checks the map's key and value sizes
/// (bpf_obj_get_info_by_fd) against the Swift types before any lookup, and every typed accessor
/// refuses types of another size than the map's: a pin of another build gives one line, never
/// an overflowed buffer.
public struct PinnedMap: ~Copyable {
    public let path: String
    public let descriptor: BPFDescriptor
    /// Kernel's description of the map (bpf_obj_get_info_by_fd).
    public let info: bpf_map_info

    /// Opens the pin at `path` (bpf_obj_get_opts) for the map's description, key counts or a
    /// ring buffer; typed accessors still check their types against the map.
    public init(path: String, readOnly: Bool = true) throws {
        try self.init(path: path, readOnly: readOnly, check: { _ in })
    }

    /// Opens the pin at `path` for reads of `K` keys and `V` values (per-CPU maps: one CPU's
    /// value), checking the map's sizes and kind before anything is read.
    public init<K, V>(path: String, key: K.Type, value: V.Type, perCPU: Bool = false, readOnly: Bool = true) throws {
        try self.init(path: path, readOnly: readOnly) { info in
            try Self.requireShape(info, path: path, key: K.self, value: V.self, perCPU: perCPU)
        }
    }

    private init(path: String, readOnly: Bool, check: (bpf_map_info) throws -> Void) throws {
        let fd = withLibbpfOptions(bpf_obj_get_opts.self) { opts in
            opts.pointee.file_flags = readOnly ? UInt32(BPF_F_RDONLY) : 0
            return bpf_obj_get_opts(path, opts)
        }
        if fd < 0 {
            let e = fd == -1 ? errno : -fd
            switch e {
            case ENOENT: throw StarveError("no pinned map at \(path): is starve loaded there (starve-load status)?")
            case EACCES, EPERM:
                throw StarveError("permission denied opening \(path): run as root or as a member of the group given to starve-load --group")
            default: throw BPFError("open pinned map \(path)", errno: e)
            }
        }
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        let rc = bpf_obj_get_info_by_fd(fd, &info, &len)
        if rc < 0 {
            close(fd)
            throw BPFError("read map info of \(path)", errno: -rc)
        }
        do { try check(info) } catch { close(fd); throw error }
        descriptor = BPFDescriptor(owning: fd)
        self.path = path
        self.info = info
    }

    public var fd: Int32 { descriptor.rawValue }
    public var maxEntries: Int { Int(info.max_entries) }
    public var keySize: Int { Int(info.key_size) }
    public var valueSize: Int { Int(info.value_size) }
    /// Whether a lookup yields one value per possible CPU.
    public var isPerCPU: Bool { Self.isPerCPU(info) }

    static func isPerCPU(_ info: bpf_map_info) -> Bool {
        [BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
         BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE].contains { $0.rawValue == info.type }
    }

    /// Requires `K`-sized keys, `V`-sized values and a per-CPU map or not: a pin of another
    /// build fails with one line that says what to do, before the kernel writes into a buffer
    /// of the wrong size.
    public func requireShape<K, V>(key: K.Type, value: V.Type, perCPU: Bool = false) throws {
        try Self.requireShape(info, path: path, key: K.self, value: V.self, perCPU: perCPU)
    }

    static func requireShape<K, V>(_ info: bpf_map_info, path: String, key: K.Type, value: V.Type, perCPU: Bool) throws {
        let k = MemoryLayout<K>.size, v = MemoryLayout<V>.size
        guard info.key_size == k, info.value_size == v else {
            throw foreign(path, "holds \(info.key_size)-byte keys and \(info.value_size)-byte values, this build reads \(k) and \(v)")
        }
        guard isPerCPU(info) == perCPU else {
            throw foreign(path, perCPU ? "is not a per-CPU map, this build reads one" : "is a per-CPU map, this build reads a plain one")
        }
    }

    /// The bytes of element `index` of an array map, as many as the map's value size, whatever
    /// that is (nil: no such element). What reads a pin before knowing which build made it.
    public func rawValue(index: UInt32) throws -> [UInt8]? {
        guard keySize == MemoryLayout<UInt32>.size, !isPerCPU else {
            throw Self.foreign(path, "holds \(keySize)-byte keys\(isPerCPU ? " per CPU" : ""), this build reads \(MemoryLayout<UInt32>.size)-byte keys of a plain map")
        }
        var k = index
        var bytes = [UInt8](repeating: 0, count: max(1, valueSize))
        let rc = bytes.withUnsafeMutableBytes { bpf_map_lookup_elem(fd, &k, $0.baseAddress) }
        if rc < 0 {
            let e = rc == -1 ? errno : -rc
            if e == ENOENT { return nil }
            throw BPFError("look up \(path)", errno: e)
        }
        return Array(bytes.prefix(valueSize))
    }

    /// "<path> <what>: the pins at <dir> are from another starve build; unload them ...".
    static func foreign(_ path: String, _ what: String) -> StarveError {
        let dir = PinLayout.directory(ofPin: path)
        return StarveError("\(path) \(what): the pins at \(dir) are from another starve build; unload them with `starve-load unload --pin-dir \(dir)` and load again")
    }

    /// Values of a per-CPU array's element `index`, one per possible CPU.
    public func perCPUValues<V>(index: UInt32 = 0, as: V.Type) throws -> [V] {
        try requireShape(key: UInt32.self, value: V.self, perCPU: true)
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { throw BPFError("count possible CPUs", errno: Int32(-cpus)) }
        let stride = (MemoryLayout<V>.size + 7) & ~7
        let buf = UnsafeMutableRawPointer.allocate(byteCount: stride * cpus, alignment: 8)
        defer { buf.deallocate() }
        var k = index
        try check(bpf_map_lookup_elem(fd, &k, buf), "read \(path)")
        return (0..<cpus).map { buf.load(fromByteOffset: $0 * stride, as: V.self) }
    }

    /// Every (key, value) of a hash map, with batched lookups where the kernel has them (5.6+)
    /// and key-by-key iteration where it does not. `body` sees each entry once.
    public func forEach<K, V>(key: K.Type, value: V.Type, _ body: (K, V) throws -> Void) throws {
        try requireShape(key: K.self, value: V.self)
        let chunk = max(1, min(maxEntries, 4096))
        let keys = UnsafeMutablePointer<K>.allocate(capacity: chunk)
        let values = UnsafeMutablePointer<V>.allocate(capacity: chunk)
        defer { keys.deallocate(); values.deallocate() }
        var inBatch: UInt64 = 0, outBatch: UInt64 = 0
        var first = true
        while true {
            var count = UInt32(chunk)
            let rc = withUnsafeMutablePointer(to: &inBatch) { inPtr in
                bpf_map_lookup_batch(fd, first ? nil : UnsafeMutableRawPointer(inPtr), &outBatch, keys, values, &count, nil)
            }
            let e = rc < 0 ? (rc == -1 ? errno : -rc) : 0
            if e != 0 && e != ENOENT {
                if first && (e == EINVAL || e == ENOTSUP || e == 524 /* ENOTSUPP */) {
                    return try forEachByKey(key: K.self, value: V.self, body)
                }
                throw BPFError("read \(path) (batched lookup)", errno: e)
            }
            for i in 0..<Int(count) { try body(keys[i], values[i]) }
            if e == ENOENT { return }
            inBatch = outBatch
            first = false
        }
    }

    private func forEachByKey<K, V>(key: K.Type, value: V.Type, _ body: (K, V) throws -> Void) throws {
        let k = UnsafeMutablePointer<K>.allocate(capacity: 1), next = UnsafeMutablePointer<K>.allocate(capacity: 1)
        let v = UnsafeMutablePointer<V>.allocate(capacity: 1)
        defer { k.deallocate(); next.deallocate(); v.deallocate() }
        var have = false
        while bpf_map_get_next_key(fd, have ? k : nil, next) == 0 {
            if bpf_map_lookup_elem(fd, next, v) == 0 { try body(next.pointee, v.pointee) }
            k.update(from: next, count: 1)
            have = true
        }
    }

    /// Number of keys in a hash map (iterates keys only).
    public func countKeys() -> Int {
        let size = max(1, Int(info.key_size))
        let k = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        let next = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { k.deallocate(); next.deallocate() }
        var n = 0
        var have = false
        while bpf_map_get_next_key(fd, have ? k : nil, next) == 0 {
            n += 1
            k.copyMemory(from: next, byteCount: size)
            have = true
        }
        return n
    }
}
