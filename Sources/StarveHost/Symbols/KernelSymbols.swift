import StarveModel
import Glibc

/// The kernel's text symbols from `/proc/kallsyms`, for naming kernel stack addresses.
///
/// Only code is kept (types `t T w W`, in the kernel image and in modules): stack addresses are
/// instruction pointers, and a data symbol between two functions would only give wrong names.
/// Immutable after loading, so one table can serve every thread.
public final class KernelSymbols: Sendable {
    /// One text symbol: where it starts and where its name (and module) are in `text`.
    struct Entry {
        var address: UInt64
        var nameStart: UInt32
        var nameLength: UInt32
        /// Index into `modules`, -1 for the kernel image.
        var module: Int32
        /// Lower is the better name when several symbols share an address (see `rank`).
        var rank: UInt32
    }

    /// The file as read: names are sliced out of it only when printed, so loading makes no Strings.
    private let text: [UInt8]
    /// Sorted by address, one entry per address.
    private let entries: [Entry]
    private let modules: [String]
    /// True when every address in the file read as 0: kptr_restrict hides them from this user.
    public let isRestricted: Bool

    /// Why kernel stacks print as raw hex when ``isRestricted``: one line for callers to show once.
    public static let restrictedNote =
        "kernel addresses are hidden by kernel.kptr_restrict for this user: kernel stacks print as raw hex (run as root to name them)"

    /// No kernel function is anywhere near this long: an offset past it means the address is not
    /// in the symbol found (a gap after `_etext`, a module's data), so it prints as hex instead.
    static let maxFunctionOffset: UInt64 = 1 << 20

    /// Loads `path` (`/proc/kallsyms`), read whole with read(2).
    public convenience init(path: String = "/proc/kallsyms") throws {
        self.init(bytes: try HostFiles.bytes(path))
    }

    /// Parses kallsyms-format `text` (tests, saved copies).
    public convenience init(text: String) {
        self.init(bytes: Array(text.utf8))
    }

    private init(bytes: [UInt8]) {
        var entries: [Entry] = []
        var modules: [String] = []
        var sawAddress = false
        var allZero = true
        var sorted = true
        bytes.withUnsafeBufferPointer { p in
            var moduleIndex: [String: Int32] = [:]
            // Module lines come in runs of one module: compare bytes with the previous module
            // name instead of making a String per line.
            var lastModule: (start: Int, length: Int, index: Int32) = (0, 0, -1)
            entries.reserveCapacity(p.count / 40)
            let n = p.count
            var i = 0
            while i < n {
                // "ffffffff821f5f60 T schedule" or "ffffffffc0201000 t name\t[module]"
                let lineStart = i
                var address: UInt64 = 0
                while i < n, let v = hexDigit(p[i]) {
                    address = address << 4 | UInt64(v)
                    i += 1
                }
                guard i > lineStart, i + 2 < n, p[i] == 0x20, p[i + 2] == 0x20 else {
                    while i < n && p[i] != 0x0A { i += 1 }
                    i += 1
                    continue
                }
                sawAddress = true
                if address != 0 { allZero = false }
                let type = p[i + 1]
                i += 3
                let nameStart = i
                while i < n && p[i] != 0x09 && p[i] != 0x0A && p[i] != 0x20 { i += 1 }
                let nameEnd = i
                var module: Int32 = -1
                if i + 1 < n && p[i] == 0x09 && p[i + 1] == 0x5B /* [ */ {
                    let start = i + 2
                    var end = start
                    while end < n && p[end] != 0x5D /* ] */ && p[end] != 0x0A { end += 1 }
                    let length = end - start
                    if lastModule.index >= 0 && length == lastModule.length
                        && memcmp(p.baseAddress! + start, p.baseAddress! + lastModule.start, length) == 0 {
                        module = lastModule.index
                    } else {
                        let name = String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
                        if let known = moduleIndex[name] {
                            module = known
                        } else {
                            module = Int32(modules.count)
                            modules.append(name)
                            moduleIndex[name] = module
                        }
                        lastModule = (start, length, module)
                    }
                    i = end
                }
                while i < n && p[i] != 0x0A { i += 1 }
                i += 1

                let isText = type == 0x74 || type == 0x54 || type == 0x77 || type == 0x57  // t T w W
                guard isText, nameEnd > nameStart else { continue }
                var underscores: UInt32 = 0
                while nameStart + Int(underscores) < nameEnd && p[nameStart + Int(underscores)] == 0x5F { underscores += 1 }
                let isLocal = type == 0x74 || type == 0x77
                let entry = Entry(address: address, nameStart: UInt32(nameStart), nameLength: UInt32(nameEnd - nameStart),
                                  module: module, rank: Self.rank(underscores: underscores, isLocal: isLocal))
                if let last = entries.last, last.address > address { sorted = false }
                entries.append(entry)
            }
        }
        // The kernel image comes sorted; modules follow in load order and may not be.
        if !sorted { entries.sort { ($0.address, $0.rank) < ($1.address, $1.rank) } }
        self.entries = Self.bestPerAddress(entries)
        self.text = bytes
        self.modules = modules
        self.isRestricted = sawAddress && allZero
    }

    /// Several names often share an address (`_stext`, `_text`, `srso_alias_untrain_ret`; a
    /// syscall's `__x64_sys_*` and `__ia32_sys_*`). Prefer the one a reader knows: fewer leading
    /// underscores (those mark internals and section markers), then global over local.
    static func rank(underscores: UInt32, isLocal: Bool) -> UInt32 {
        min(underscores, 8) * 2 + (isLocal ? 1 : 0)
    }

    /// Keeps the best-ranked entry of each address (the first seen on a tie).
    private static func bestPerAddress(_ sorted: [Entry]) -> [Entry] {
        var out: [Entry] = []
        out.reserveCapacity(sorted.count)
        for e in sorted {
            if let last = out.last, last.address == e.address {
                if e.rank < last.rank { out[out.count - 1] = e }
            } else {
                out.append(e)
            }
        }
        return out
    }

    /// Number of distinct text addresses named.
    public var count: Int { entries.count }

    /// `func+0x1a`, or `func+0x1a [module]` for a module's code; the address in hex when it is
    /// not in a known function (or ``isRestricted``).
    public func symbolize(_ address: UInt64) -> String {
        guard !isRestricted, let i = lastIndex(atOrBelow: address) else { return hexAddress(address) }
        let e = entries[i]
        let offset = address - e.address
        guard offset < Self.maxFunctionOffset else { return hexAddress(address) }
        let sym = name(e) + "+0x" + String(offset, radix: 16)
        return e.module >= 0 ? sym + " [" + modules[Int(e.module)] + "]" : sym
    }

    /// Address of the text symbol called `name`, nil when absent or when another name was kept
    /// for its address (see ``symbolize(_:)``). A linear scan: for tests and one-off look-ups.
    public func address(of name: String) -> UInt64? {
        let wanted = Array(name.utf8)
        return text.withUnsafeBufferPointer { p in
            entries.first { e in
                Int(e.nameLength) == wanted.count && memcmp(p.baseAddress! + Int(e.nameStart), wanted, wanted.count) == 0
            }?.address
        }
    }

    private func name(_ e: Entry) -> String {
        text.withUnsafeBufferPointer { p in
            String(decoding: UnsafeBufferPointer(rebasing: p[Int(e.nameStart)..<Int(e.nameStart + e.nameLength)]), as: UTF8.self)
        }
    }

    /// Index of the last entry whose address is <= `address`.
    private func lastIndex(atOrBelow address: UInt64) -> Int? {
        var lo = 0, hi = entries.count  // first entry above `address` is in [lo, hi]
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }
}

/// `0x` and lowercase hex, no padding: how unnamed stack addresses print.
public func hexAddress(_ address: UInt64) -> String {
    "0x" + String(address, radix: 16)
}

@inline(__always)
private func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x61...0x66: return c - 0x61 + 10
    case 0x41...0x46: return c - 0x41 + 10
    default: return nil
    }
}
