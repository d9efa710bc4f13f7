import StarveModel
import Glibc

/// Names user-space stack addresses of any process: `/proc/<pid>/maps` finds the file and file
/// offset behind an address, the file's PT_LOAD headers turn that into the address it was linked
/// at, and its `.symtab`/`.dynsym` name the function there.
///
/// Caches each process's mappings and each parsed file (by path, device and inode), so a stack
/// costs a few binary searches once warm. Not thread-safe: use one per thread.
///
/// Addresses are named exactly as given. For frames other than the innermost, which are return
/// addresses, callers may pass `address - 1` so that a call at the very end of a function (to a
/// `noreturn` one) is not named after the next function.
public final class UserSymbolizer {
    /// An executable mapping of a file (or a named pseudo-mapping such as `[vdso]`).
    struct Mapping: Equatable {
        var start: UInt64
        var end: UInt64
        var offset: UInt64
        var device: String
        var inode: UInt64
        /// The path as maps shows it, without the ` (deleted)` suffix.
        var path: String
        var isDeleted: Bool

        var isFile: Bool { path.hasPrefix("/") }
        var basename: String { path.split(separator: "/").last.map(String.init) ?? path }
    }

    private struct ProcessMaps {
        var mappings: [Mapping]
        var readAtNs: UInt64
    }

    private struct FileKey: Hashable {
        var path: String
        var device: String
        var inode: UInt64
    }

    private let procRoot: String
    private let demangle: Bool
    private var processes: [Int32: ProcessMaps] = [:]
    /// nil: the file could not be read or is not an ELF we understand; not retried.
    private var files: [FileKey: ELFSymbols?] = [:]

    /// A miss re-reads a process's maps (it may have loaded a library since) at most this often,
    /// so addresses in anonymous code (JIT) do not re-read maps for every frame.
    static let mapsRefreshNs: UInt64 = 1_000_000_000

    /// - Parameters:
    ///   - procRoot: where proc is mounted (tests may point elsewhere).
    ///   - demangle: demangle Swift names when the Swift runtime's `swift_demangle` is loaded.
    public init(procRoot: String = "/proc", demangle: Bool = true) {
        self.procRoot = procRoot
        self.demangle = demangle
    }

    /// `symbol+0x1a (libc.so.6)`; `0x7f12... (libc.so.6)` in a file but no known function;
    /// `0x7f12...` outside any file mapping, or when the process is gone and was never seen.
    public func symbolize(_ address: UInt64, pid: Int32) -> String {
        guard let mapping = mapping(of: address, pid: pid) else { return hexAddress(address) }
        let label = mapping.basename
        guard mapping.isFile, let elf = elf(for: mapping, pid: pid),
              let vaddr = elf.virtualAddress(fileOffset: address - mapping.start &+ mapping.offset),
              let hit = elf.function(containing: vaddr)
        else { return hexAddress(address) + " (" + label + ")" }
        return displayName(hit.name) + "+0x" + String(hit.offset, radix: 16) + " (" + label + ")"
    }

    /// Drops what is cached about `pid` (call when it exits, so a reused pid is read afresh).
    public func forget(pid: Int32) {
        processes[pid] = nil
    }

    private func mapping(of address: UInt64, pid: Int32) -> Mapping? {
        let now = monotonicNs()
        if let cached = processes[pid] {
            if let m = Self.find(address, in: cached.mappings) { return m }
            if now &- cached.readAtNs < Self.mapsRefreshNs { return nil }
        }
        // First sight, or a miss on old maps. A process that has exited keeps its last maps:
        // events often arrive after their process is gone.
        let fresh = readMaps(pid: pid)
        let maps = ProcessMaps(mappings: fresh ?? processes[pid]?.mappings ?? [], readAtNs: now)
        processes[pid] = maps
        return Self.find(address, in: maps.mappings)
    }

    private func readMaps(pid: Int32) -> [Mapping]? {
        guard let bytes = try? HostFiles.bytes("\(procRoot)/\(pid)/maps") else { return nil }
        return Self.parseMaps(String(decoding: bytes, as: UTF8.self))
    }

    /// The executable mappings in a maps file, sorted by start.
    /// Line: `start-end perms offset major:minor inode   path`; the path may contain spaces.
    static func parseMaps(_ text: String) -> [Mapping] {
        var out: [Mapping] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var rest = line[...]
            func field() -> Substring {
                let f = rest.prefix { $0 != " " }
                rest = rest.dropFirst(f.count).drop { $0 == " " }
                return f
            }
            let range = field(), perms = field(), offset = field(), device = field(), inode = field()
            let bounds = range.split(separator: "-")
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
                  start < end, perms.count >= 3, perms[perms.index(perms.startIndex, offsetBy: 2)] == "x",
                  let off = UInt64(offset, radix: 16), let ino = UInt64(inode)
            else { continue }
            var path = String(rest)
            guard !path.isEmpty else { continue }  // anonymous code: nothing to name it by
            let deleted = path.hasSuffix(" (deleted)")
            if deleted { path.removeLast(" (deleted)".count) }
            out.append(Mapping(start: start, end: end, offset: off, device: String(device), inode: ino,
                               path: path, isDeleted: deleted))
        }
        out.sort { $0.start < $1.start }
        return out
    }

    private static func find(_ address: UInt64, in mappings: [Mapping]) -> Mapping? {
        var lo = 0, hi = mappings.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if mappings[mid].start <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, address < mappings[lo - 1].end else { return nil }
        return mappings[lo - 1]
    }

    private func elf(for mapping: Mapping, pid: Int32) -> ELFSymbols? {
        let key = FileKey(path: mapping.path, device: mapping.device, inode: mapping.inode)
        if let cached = files[key] { return cached }
        // map_files is the very file mapped, even deleted or replaced since, or in another mount
        // namespace (needs privileges); then the path as that process sees it; then as we do.
        var candidates = ["\(procRoot)/\(pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))",
                          "\(procRoot)/\(pid)/root\(mapping.path)"]
        if !mapping.isDeleted { candidates.append(mapping.path) }
        var parsed: ELFSymbols?
        for path in candidates {
            if let elf = ELFSymbols(path: path) { parsed = elf; break }
        }
        // A failure is remembered only when some candidate was there to read (so it is not an
        // ELF we understand): a file we could not reach yet may be reachable from a later pid.
        if parsed != nil || candidates.contains(where: { access($0, R_OK) == 0 }) { files[key] = .some(parsed) }
        return parsed
    }

    func displayName(_ name: String) -> String {
        guard demangle, name.hasPrefix("$s") || name.hasPrefix("$S") || name.hasPrefix("_T0"),
              let swiftDemangle = swiftDemangleFunction else { return name }
        return name.withCString { c -> String in
            guard let out = swiftDemangle(c, strlen(c), nil, nil, 0) else { return name }
            defer { free(out) }
            return String(cString: out)
        }
    }
}

/// `char *swift_demangle(const char *, size_t, char *, size_t *, uint32_t)`, exported by the
/// Swift runtime when it is loaded as a shared library (the usual case); nil otherwise.
private typealias SwiftDemangle = @convention(c) (
    UnsafePointer<CChar>, Int, UnsafeMutablePointer<CChar>?, UnsafeMutablePointer<Int>?, UInt32
) -> UnsafeMutablePointer<CChar>?

private let swiftDemangleFunction: SwiftDemangle? = {
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "swift_demangle") else { return nil }
    return unsafeBitCast(symbol, to: SwiftDemangle.self)
}()
