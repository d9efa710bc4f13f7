import Foundation
import Glibc
import XCTest
@testable import StarveModel
@testable import StarveHost

/// A C-callable function of this test binary, for naming an address of the main executable.
@_cdecl("starve_symbols_test_marker")
public func starveSymbolsTestMarker() -> Int32 { 42 }

/// Stack symbolisation: the kernel's symbols from kallsyms, a process's from its maps and ELF files.
final class SymbolsTests: XCTestCase {
    // MARK: kernel

    private let kallsyms = """
        ffffffff81000100 T second_func
        ffffffff81000000 T _stext
        ffffffff81000000 T first_func
        ffffffff81000050 D some_data
        ffffffff81000080 t local_func
        ffffffff810000f0 r rodata_thing
        ffffffff81000180 b bss_thing
        not a kallsyms line

        ffffffffc0001000 t mod_func\t[mymod]
        ffffffffc0001800 d mod_data\t[mymod]
        ffffffffc0000f00 T mod_first\t[othermod]
        ffffffff81000200 W weak_func

        """

    func testKallsymsKeepsTextSymbolsInAddressOrder() {
        let k = KernelSymbols(text: kallsyms)
        XCTAssertFalse(k.isRestricted)
        // first_func and _stext share an address: one entry, named by the name a reader knows.
        XCTAssertEqual(k.count, 6)
        XCTAssertEqual(k.symbolize(0xffffffff81000000), "first_func+0x0")
        XCTAssertEqual(k.symbolize(0xffffffff81000085), "local_func+0x5")
        XCTAssertEqual(k.symbolize(0xffffffff81000100), "second_func+0x0")
        XCTAssertEqual(k.symbolize(0xffffffff81000210), "weak_func+0x10")
        XCTAssertEqual(k.address(of: "local_func"), 0xffffffff81000080)
        XCTAssertNil(k.address(of: "some_data"), "data symbols are not kept")
    }

    func testKallsymsBetweenSymbolsIgnoresData() {
        let k = KernelSymbols(text: kallsyms)
        // some_data (0x50) and rodata_thing (0xf0) lie in between but are not code.
        XCTAssertEqual(k.symbolize(0xffffffff81000060), "first_func+0x60")
        XCTAssertEqual(k.symbolize(0xffffffff810000f8), "local_func+0x78")
        XCTAssertEqual(k.symbolize(0xffffffff81000190), "second_func+0x90")
    }

    func testKallsymsModules() {
        let k = KernelSymbols(text: kallsyms)
        XCTAssertEqual(k.symbolize(0xffffffffc0000f01), "mod_first+0x1 [othermod]")
        XCTAssertEqual(k.symbolize(0xffffffffc0001010), "mod_func+0x10 [mymod]")
        XCTAssertEqual(k.symbolize(0xffffffffc0001810), "mod_func+0x810 [mymod]", "module data is skipped too")
    }

    func testKallsymsUnknownAddressesPrintAsHex() {
        let k = KernelSymbols(text: kallsyms)
        XCTAssertEqual(k.symbolize(0xffffffff80000000), "0xffffffff80000000", "before the first symbol")
        XCTAssertEqual(k.symbolize(0x401000), "0x401000", "a user address")
        XCTAssertEqual(k.symbolize(0xffffffff81000200 + (4 << 20)), "0xffffffff81400200", "far past the last function")
        XCTAssertEqual(KernelSymbols(text: "").symbolize(0xffffffff81000000), "0xffffffff81000000")
        XCTAssertFalse(KernelSymbols(text: "").isRestricted)
    }

    func testKallsymsRestrictedReadsAllZero() {
        // What a non-root user sees with kernel.kptr_restrict=1.
        let k = KernelSymbols(text: """
            0000000000000000 T _stext
            0000000000000000 T schedule
            0000000000000000 D jiffies
            0000000000000000 t ext4_file_read_iter\t[ext4]

            """)
        XCTAssertTrue(k.isRestricted)
        XCTAssertEqual(k.symbolize(0xffffffff821f5f65), "0xffffffff821f5f65")
        XCTAssertFalse(KernelSymbols.restrictedNote.isEmpty)
    }

    func testRealKallsymsNamesSchedule() throws {
        let t0 = monotonicNs()
        let k = try KernelSymbols()
        let ms = Double(monotonicNs() - t0) / 1e6
        print("loaded /proc/kallsyms: \(k.count) text addresses in \(String(format: "%.1f", ms)) ms (this build)")
        if k.isRestricted {
            XCTAssertNotEqual(getuid(), 0, "root must see kernel addresses")
            throw XCTSkip("kptr_restrict hides kernel addresses from this user")
        }
        XCTAssertGreaterThan(k.count, 10_000)
        let schedule = try XCTUnwrap(k.address(of: "schedule"))
        XCTAssertEqual(k.symbolize(schedule), "schedule+0x0")
        XCTAssertEqual(k.symbolize(schedule + 5), "schedule+0x5")
    }

    // MARK: user, live on this process

    private let me = getpid()

    /// "name+0x1a (file)" split into its parts.
    private func parts(_ s: String) -> (name: String, offset: String, file: String)? {
        guard let plus = s.lastIndex(of: "+"), let paren = s.range(of: " (", options: .backwards), plus < paren.lowerBound,
              s.hasSuffix(")") else { return nil }
        return (String(s[..<plus]), String(s[s.index(after: plus)..<paren.lowerBound]),
                String(s[paren.upperBound..<s.index(before: s.endIndex)]))
    }

    private func basename(_ path: String) -> String { (path as NSString).lastPathComponent }

    func testLibcFunctionsAgreeWithDladdr() throws {
        let symbolizer = UserSymbolizer()
        let handle = dlopen(nil, RTLD_NOW)
        for function in ["getpid", "qsort", "fopen", "pthread_create"] {
            let pointer = try XCTUnwrap(dlsym(handle, function), function)
            let info = try XCTUnwrap(dladdr(pointer), function)
            let oracle = String(cString: try XCTUnwrap(info.symbolName))
            let file = basename(String(cString: try XCTUnwrap(info.fileName)))
            let address = UInt64(UInt(bitPattern: pointer))

            for delta: UInt64 in [0, 1] {
                let s = symbolizer.symbolize(address + delta, pid: me)
                let p = try XCTUnwrap(parts(s), s)
                XCTAssertEqual(p.offset, "0x\(delta)", s)
                XCTAssertEqual(p.file, file, s)
                // An alias (getpid / __getpid) is as right as dladdr's pick: it names the same code.
                XCTAssertTrue(p.name == oracle || dlsym(handle, p.name) == pointer, "\(s) vs dladdr \(oracle)")
            }
        }
    }

    func testFunctionOfTheTestBinary() throws {
        let cFunction: @convention(c) () -> Int32 = starveSymbolsTestMarker
        let address = UInt64(UInt(bitPattern: unsafeBitCast(cFunction, to: UnsafeRawPointer.self)))
        let s = UserSymbolizer().symbolize(address, pid: me)
        let p = try XCTUnwrap(parts(s), s)
        XCTAssertEqual(p.file, basename(currentExecutable()), s)
        XCTAssertTrue(p.name.contains("starve_symbols_test_marker") || p.name.contains("starveSymbolsTestMarker"), s)
    }

    func testSwiftNamesAreDemangledWhenTheRuntimeCan() {
        let mangled = "$sSi1poiyS2i_SitFZ"
        let shown = UserSymbolizer().displayName(mangled)
        XCTAssertTrue(shown == mangled || shown.contains("Swift.Int"), shown)
        XCTAssertEqual(UserSymbolizer(demangle: false).displayName(mangled), mangled)
        XCTAssertEqual(UserSymbolizer().displayName("getpid"), "getpid")
    }

    func testUnknownPidAndUnmappedAddressGiveHex() {
        let symbolizer = UserSymbolizer()
        XCTAssertEqual(symbolizer.symbolize(0x401000, pid: Int32.max), "0x401000")
        XCTAssertEqual(symbolizer.symbolize(0x10, pid: me), "0x10")
    }

    // MARK: maps and ELF files

    func testMapsKeepExecutableMappingsWithPaths() {
        let maps = UserSymbolizer.parseMaps("""
            55d0a000-55d0b000 r--p 00000000 08:01 1234                       /usr/bin/prog
            55d0b000-55d0c000 r-xp 00001000 08:01 1234                       /usr/bin/prog
            7f0000000000-7f0000001000 rw-p 00000000 00:00 0
            7f0000001000-7f0000002000 r-xp 00000000 00:00 0
            7f0000100000-7f0000200000 r-xp 00026000 08:01 99                 /tmp/my lib.so (deleted)
            7ffc00001000-7ffc00003000 r-xp 00000000 00:00 0                  [vdso]
            garbage

            """)
        XCTAssertEqual(maps.map(\.path), ["/usr/bin/prog", "/tmp/my lib.so", "[vdso]"])
        XCTAssertEqual(maps[0].start, 0x55d0b000)
        XCTAssertEqual(maps[0].offset, 0x1000)
        XCTAssertEqual(maps[0].device, "08:01")
        XCTAssertEqual(maps[0].inode, 1234)
        XCTAssertTrue(maps[1].isDeleted)
        XCTAssertEqual(maps[1].basename, "my lib.so")
        XCTAssertFalse(maps[2].isFile)
    }

    private func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "starve-symbols-\(me)-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Maps `path` whole, readable and executable, like the loader would; unmapped at teardown.
    private func mapExecutable(_ path: String) throws -> (base: UInt64, length: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let length = Int(st.st_size)
        let p = mmap(nil, length, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED { throw XCTSkip("cannot map \(path) executable: \(String(cString: strerror(errno)))") }
        addTeardownBlock { munmap(p, length) }
        return (UInt64(UInt(bitPattern: p)), length)
    }

    private var libcPath: String {
        String(cString: dladdr(dlsym(dlopen(nil, RTLD_NOW), "getpid")!)!.fileName!)
    }

    func testDeletedLibraryIsStillNamed() throws {
        // getpid's file offset in libc, from our own maps.
        let getpidAddress = UInt64(UInt(bitPattern: dlsym(dlopen(nil, RTLD_NOW), "getpid")))
        let ours = UserSymbolizer.parseMaps(String(decoding: try HostFiles.bytes("/proc/self/maps"), as: UTF8.self))
        let libc = try XCTUnwrap(ours.first { $0.start <= getpidAddress && getpidAddress < $0.end })
        let fileOffset = getpidAddress - libc.start + libc.offset

        let copy = try tempDir() + "/libc-copy.so.6"
        try FileManager.default.copyItem(atPath: libcPath, toPath: copy)
        let mapped = try mapExecutable(copy)
        unlink(copy)

        let after = UserSymbolizer.parseMaps(String(decoding: try HostFiles.bytes("/proc/self/maps"), as: UTF8.self))
        XCTAssertTrue(try XCTUnwrap(after.first { $0.start == mapped.base }).isDeleted)
        let s = UserSymbolizer().symbolize(mapped.base + fileOffset, pid: me)
        let p = try XCTUnwrap(parts(s), s)
        XCTAssertEqual(p.file, "libc-copy.so.6")
        XCTAssertEqual(p.offset, "0x0")
        XCTAssertTrue(p.name.hasSuffix("getpid"), s)
    }

    func testGarbageFileMappedExecutableGivesHexAndTheFileName() throws {
        let path = try tempDir() + "/garbage.so"
        var rng = SplitMix(seed: 7)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: rng.next()) })))
        XCTAssertNil(ELFSymbols(path: path))
        let mapped = try mapExecutable(path)
        XCTAssertEqual(UserSymbolizer().symbolize(mapped.base + 100, pid: me), "0x\(String(mapped.base + 100, radix: 16)) (garbage.so)")
    }

    func testTruncatedAndCorruptELFNeverCrash() throws {
        let original = try XCTUnwrap(FileManager.default.contents(atPath: libcPath))
        let whole = try XCTUnwrap(ELFSymbols(path: libcPath))
        XCTAssertGreaterThan(whole.functions.count, 1000)
        let dir = try tempDir()

        // Cut anywhere: inside the header, the program headers, the symbol tables, the section headers.
        for length in [0, 3, 63, 64, 100, 1000, 40_000, 100_000, original.count / 2, original.count - 1] {
            let path = dir + "/cut-\(length).so"
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: original.prefix(length)))
            if let elf = ELFSymbols(path: path) { _ = elf.function(containing: 0x26000) }
        }
        XCTAssertNil(ELFSymbols(path: dir + "/cut-63.so"))

        // Random bytes in the headers and tables, restored after each round.
        let path = dir + "/corrupt.so"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: original))
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        let bytes = [UInt8](original)
        func le(_ at: Int, _ width: Int) -> Int { bytes[at..<at + width].reversed().reduce(0) { $0 << 8 | Int($1) } }
        let phoff = le(32, 8), shoff = le(40, 8), shnum = le(60, 2)
        let dynsym = try XCTUnwrap((0..<shnum).map { shoff + $0 * 64 }.first { le($0 + 4, 4) == 11 })
        let dynsymOffset = le(dynsym + 24, 8)
        let regions = [0..<64, phoff..<phoff + 56 * le(56, 2), dynsymOffset..<dynsymOffset + 4096,
                       shoff..<shoff + 64 * shnum]
        var rng = SplitMix(seed: 1)
        for _ in 0..<400 {
            var touched: [Int] = []
            for _ in 0..<Int(rng.next() % 6 + 1) {
                let region = regions[Int(rng.next() % UInt64(regions.count))]
                let at = region.lowerBound + Int(rng.next() % UInt64(region.count))
                var b = UInt8(truncatingIfNeeded: rng.next())
                pwrite(fd, &b, 1, off_t(at))
                touched.append(at)
            }
            if let elf = ELFSymbols(path: path) {
                for _ in 0..<8 {
                    if let v = elf.virtualAddress(fileOffset: rng.next() % UInt64(bytes.count)) { _ = elf.function(containing: v) }
                }
            }
            for at in touched { var b = bytes[at]; pwrite(fd, &b, 1, off_t(at)) }
        }
    }
}

/// `Dl_info` (dlfcn.h): Swift's Glibc leaves dladdr out (it needs _GNU_SOURCE), so the test
/// finds it with dlsym and lays the struct out itself: four pointers, as in C.
private struct DlInfo {
    var fileName: UnsafePointer<CChar>?
    var fileBase: UnsafeMutableRawPointer?
    var symbolName: UnsafePointer<CChar>?
    var symbolAddress: UnsafeMutableRawPointer?
}

/// dladdr(3), the oracle: what the dynamic linker itself says is at `address`.
private func dladdr(_ address: UnsafeRawPointer) -> DlInfo? {
    typealias Dladdr = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer?) -> Int32
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "dladdr") else { return nil }
    var info = DlInfo()
    let found = withUnsafeMutablePointer(to: &info) { unsafeBitCast(symbol, to: Dladdr.self)(address, $0) }
    return found != 0 ? info : nil
}

/// A seeded generator, so a failing corruption round can be replayed.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
