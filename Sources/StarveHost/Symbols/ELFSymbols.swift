import StarveModel
import Glibc

/// The function symbols of one ELF64 little-endian file and its loadable segments: what it takes
/// to turn a file offset seen in `/proc/<pid>/maps` into a function name.
///
/// A minimal reader: ELF header, program headers, section headers, `.symtab` and `.dynsym` with
/// their string tables; no DWARF, no separate debug files. The file is read with pread and every
/// offset, size and count is checked against what was read: a truncated or garbage file yields
/// nil (or fewer symbols), never a trap.
struct ELFSymbols {
    /// A PT_LOAD program header: file bytes [offset, offset+fileSize) load at vaddr.
    struct Segment {
        var offset: UInt64
        var vaddr: UInt64
        var fileSize: UInt64
        var memorySize: UInt64
    }

    /// A function symbol; its name starts at `nameStart` in `strings` and ends at a NUL.
    struct Function {
        var value: UInt64
        var size: UInt64
        var nameStart: UInt32
        var rank: UInt8
    }

    let segments: [Segment]
    /// Sorted by value, one per value.
    let functions: [Function]
    /// The string tables of `.symtab` and `.dynsym`, back to back, each NUL-terminated.
    let strings: [UInt8]

    // Elf64 layout constants (elf.h).
    static let headerSize = 64
    static let programHeaderSize = 56
    static let sectionHeaderSize = 64
    static let symbolSize = 24
    static let ptLoad: UInt32 = 1
    static let shtSymtab: UInt32 = 2
    static let shtDynsym: UInt32 = 11
    static let sttFunc: UInt8 = 2
    static let sttGnuIfunc: UInt8 = 10
    /// More than any real binary has; stops a corrupt header from asking for gigabytes.
    static let maxTableBytes: UInt64 = 1 << 30

    /// Reads the ELF file at `path`; nil when it cannot be opened or is not a well-formed
    /// ELF64 little-endian file.
    init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        self.init(file: FileBytes(fd: fd, size: UInt64(st.st_size)))
    }

    init?(file: FileBytes) {
        guard let header = file.read(at: 0, count: Self.headerSize),
              header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46,
              header[4] == 2 /* ELFCLASS64 */, header[5] == 1 /* ELFDATA2LSB */
        else { return nil }
        let phoff = header.u64(32), shoff = header.u64(40)
        let phentsize = Int(header.u16(54)), phnum = Int(header.u16(56))
        let shentsize = Int(header.u16(58)), shnum = Int(header.u16(60))

        var segments: [Segment] = []
        if phnum > 0, phentsize >= Self.programHeaderSize,
           let table = file.read(at: phoff, count: phnum * phentsize) {
            for i in 0..<phnum {
                let at = i * phentsize
                guard table.u32(at) == Self.ptLoad else { continue }
                segments.append(Segment(offset: table.u64(at + 8), vaddr: table.u64(at + 16),
                                        fileSize: table.u64(at + 32), memorySize: table.u64(at + 40)))
            }
        }
        // Without loadable segments no file offset can be placed: not an image we can use.
        guard !segments.isEmpty else { return nil }

        var functions: [Function] = []
        var strings: [UInt8] = []
        if shnum > 0, shentsize >= Self.sectionHeaderSize,
           let sections = file.read(at: shoff, count: shnum * shentsize) {
            for i in 0..<shnum {
                let at = i * shentsize
                let type = sections.u32(at + 4)
                guard type == Self.shtSymtab || type == Self.shtDynsym else { continue }
                let link = Int(sections.u32(at + 40))
                guard link < shnum else { continue }
                let strAt = link * shentsize
                let entsize = sections.u64(at + 56)
                guard entsize >= UInt64(Self.symbolSize), entsize <= 1024,
                      sections.u64(at + 32) <= Self.maxTableBytes, sections.u64(strAt + 32) <= Self.maxTableBytes,
                      let symbols = file.read(at: sections.u64(at + 24), count: Int(sections.u64(at + 32))),
                      let names = file.read(at: sections.u64(strAt + 24), count: Int(sections.u64(strAt + 32))),
                      !names.isEmpty, strings.count + names.count < Int(UInt32.max)
                else { continue }
                Self.collectFunctions(symbols, entrySize: Int(entsize), names: names,
                                      stringBase: strings.count, into: &functions)
                strings += names
                // A table whose last name runs off its end now stops at this NUL, not in the next table.
                strings.append(0)
            }
        }
        functions.sort { ($0.value, $0.rank) < ($1.value, $1.rank) }
        self.segments = segments
        self.functions = Self.bestPerValue(functions)
        self.strings = strings
    }

    private static func collectFunctions(_ symbols: [UInt8], entrySize: Int, names: [UInt8],
                                         stringBase: Int, into functions: inout [Function]) {
        let count = symbols.count / entrySize
        functions.reserveCapacity(functions.count + count)
        for i in 0..<count {
            let at = i * entrySize
            let info = symbols[at + 4]
            let type = info & 0xF
            // Defined functions only: an undefined one (section 0) is an import, named elsewhere.
            guard type == sttFunc || type == sttGnuIfunc, symbols.u16(at + 6) != 0 else { continue }
            let name = Int(symbols.u32(at))
            let value = symbols.u64(at + 8)
            guard value != 0, name > 0, name < names.count, names[name] != 0 else { continue }
            var underscores = 0
            while name + underscores < names.count && names[name + underscores] == 0x5F && underscores < 8 { underscores += 1 }
            // Same idea as the kernel's ranking: `getpid` over `__getpid`, global over weak over local.
            let bindingRank: UInt8 = switch info >> 4 { case 1: 0; case 2: 1; default: 2 }
            functions.append(Function(value: value, size: symbols.u64(at + 16), nameStart: UInt32(stringBase + name),
                                      rank: UInt8(underscores) * 4 + bindingRank))
        }
    }

    /// One function per value: the best-ranked name, with the largest size any alias gave.
    private static func bestPerValue(_ sorted: [Function]) -> [Function] {
        var out: [Function] = []
        out.reserveCapacity(sorted.count)
        for f in sorted {
            if var last = out.last, last.value == f.value {
                last.size = max(last.size, f.size)
                out[out.count - 1] = last
            } else {
                out.append(f)
            }
        }
        return out
    }

    /// The virtual address (as linked) of the byte at `fileOffset`, via the PT_LOAD holding it.
    func virtualAddress(fileOffset: UInt64) -> UInt64? {
        for s in segments where fileOffset >= s.offset && fileOffset - s.offset < max(s.fileSize, s.memorySize) {
            return s.vaddr &+ (fileOffset - s.offset)
        }
        return nil
    }

    /// The function containing `vaddr` and the offset into it; nil in a gap between functions
    /// (PLT stubs, or local functions of a stripped file), where any name would be a guess.
    func function(containing vaddr: UInt64) -> (name: String, offset: UInt64)? {
        var lo = 0, hi = functions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if functions[mid].value <= vaddr { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        // The nearest start below usually contains it; a few steps back cover nested symbols
        // (a cold part inside its parent's range). Size 0 (assembly without .size) counts as
        // reaching up to the next symbol.
        let nearest = lo - 1
        for i in stride(from: nearest, through: max(0, nearest - 16), by: -1) {
            let f = functions[i]
            let offset = vaddr - f.value
            if offset < f.size || (f.size == 0 && i == nearest) {
                return (name(at: Int(f.nameStart)), offset)
            }
        }
        return nil
    }

    private func name(at start: Int) -> String {
        strings.withUnsafeBufferPointer { p in
            var end = start
            while end < p.count && p[end] != 0 { end += 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
        }
    }
}

/// Bounded reads of an open file: pread of exactly the bytes asked for, nil if any lie past the end.
/// (pread rather than mmap: a file truncated while mapped would raise SIGBUS.)
struct FileBytes {
    let fd: Int32
    let size: UInt64

    func read(at offset: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else { return nil }
        if count == 0 { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            done += n
        }
        return out
    }
}

/// Little-endian fields of a byte array; reads past the end give 0 (callers size-check tables
/// first, this only keeps a miscounted field from trapping).
extension Array where Element == UInt8 {
    @inline(__always)
    fileprivate func u16(_ at: Int) -> UInt16 { UInt16(truncatingIfNeeded: le(at, 2)) }
    @inline(__always)
    fileprivate func u32(_ at: Int) -> UInt32 { UInt32(truncatingIfNeeded: le(at, 4)) }
    @inline(__always)
    fileprivate func u64(_ at: Int) -> UInt64 { le(at, 8) }

    @inline(__always)
    private func le(_ at: Int, _ width: Int) -> UInt64 {
        guard at >= 0, at <= count - width else { return 0 }
        return withUnsafeBytes { raw in
            switch width {
            case 2: return UInt64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
            case 4: return UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
            default: return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            }
        }
    }
}
