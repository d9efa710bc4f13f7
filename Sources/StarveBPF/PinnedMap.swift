import CLibbpf
import Glibc

/// A pinned BPF map opened from its pin. Read-only opens (BPF_F_RDONLY) are what lets a
/// non-root member of the pin's group in (kernel 5.19+); updates through such a handle fail.
public struct PinnedMap: ~Copyable {
    public let path: String
    public let descriptor: BPFDescriptor
    /// Kernel's description of the map (bpf_obj_get_info_by_fd).
    public let info: bpf_map_info

    /// Opens the pin at `path` (bpf_obj_get_opts).
    public init(path: String, readOnly: Bool = true) throws {
        var opts = bpf_obj_get_opts()
        opts.sz = MemoryLayout<bpf_obj_get_opts>.size
        opts.file_flags = readOnly ? UInt32(BPF_F_RDONLY) : 0
        let fd = bpf_obj_get_opts(path, &opts)
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
        descriptor = BPFDescriptor(owning: fd)
        self.path = path
        self.info = info
    }

    public var fd: Int32 { descriptor.rawValue }
    public var maxEntries: Int { Int(info.max_entries) }
    public var valueSize: Int { Int(info.value_size) }

    /// Requires the map's value to be `T`-sized: a pin from another build fails clearly.
    public func requireValueSize<T>(_: T.Type, perCPU: Bool = false) throws {
        guard valueSize == MemoryLayout<T>.size else {
            throw StarveError("\(path) holds \(valueSize)-byte values, this starve expects \(MemoryLayout<T>.size): the pins come from another starve version; unload and load again")
        }
    }

    /// Looks up one key; nil when absent.
    public func lookup<K, V>(_ key: K, as: V.Type) throws -> V? {
        let k = UnsafeMutablePointer<K>.allocate(capacity: 1)
        let v = UnsafeMutablePointer<V>.allocate(capacity: 1)
        defer { k.deallocate(); v.deallocate() }
        k.initialize(to: key)
        let rc = bpf_map_lookup_elem(fd, k, v)
        if rc < 0 {
            let e = rc == -1 ? errno : -rc
            if e == ENOENT { return nil }
            throw BPFError("look up \(path)", errno: e)
        }
        return v.pointee
    }

    /// Values of a per-CPU array's element `index`, one per possible CPU.
    public func perCPUValues<V>(index: UInt32 = 0, as: V.Type) throws -> [V] {
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
