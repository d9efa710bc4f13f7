import ArgumentParser
import Foundation
import Glibc
import StarveBPF
import StarveModel
import StarveHost

/// Times the kernel's side of a real read: loads the collector under a scratch pin directory,
/// parks N extra sleeping threads, and reads the `tasks` iterator (the kernel walks every thread
/// and writes one record each; the reader decodes them), as starve-dump does each sample.
struct IterCost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iter",
        abstract: "Cost of reading the live `tasks` iterator with N extra threads parked; CSV on stdout (root)."
    )

    @Option(help: "Comma-separated counts of extra sleeping threads to park.")
    var threads: String = "0,1000,10000"

    @Option(name: .customLong("repeat"), help: "Timed reads per count.")
    var samples: Int = 5

    @Option(help: "Scratch pin directory on bpffs (removed after).")
    var pinDir: String = "/sys/fs/bpf/starve-bench-iter"

    @Option(help: "BPF object (default: found like starve-load finds it).")
    var object: String?

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--repeat must be at least 1") }
        guard pinDir != PinLayout.defaultDirectory else { throw ValidationError("refusing the live pin directory \(pinDir)") }
        guard threads.split(separator: ",").allSatisfy({ Int($0).map { $0 >= 0 && $0 <= 30_000 } ?? false }) else {
            throw ValidationError("--threads takes counts between 0 and 30000")
        }
    }

    func run() throws {
        var options = LoadOptions()
        options.layout = PinLayout(directory: pinDir)
        options.objectPath = object
        _ = try Collector.load(options)
        defer { _ = try? Collector.unload(layout: options.layout) }
        let collection = try PinnedCollection(layout: options.layout)
        print("extra_threads,sample,records,read_ms,cpu_ms")
        for n in threads.split(separator: ",").compactMap({ Int($0) }) {
            let parked = try ParkedThreads(count: n)
            defer { parked.release() }
            for sample in 1...samples {
                let cpu0 = cpuNs(), t0 = monotonicNs()
                let read = try collection.readTasks()
                let t1 = monotonicNs(), cpu1 = cpuNs()
                let ms = { (a: UInt64, b: UInt64) in formatFixed(Double(b &- a) / 1e6, decimals: 3) }
                print("\(n),\(sample),\(read.tasks.count),\(ms(t0, t1)),\(ms(cpu0, cpu1))")
            }
        }
    }
}

/// N threads with small stacks, each blocked reading a pipe until `release` closes it.
final class ParkedThreads {
    private var threads: [pthread_t] = []
    private var fds: [Int32] = [-1, -1]
    /// The pipe's read end, where the threads can see it.
    private let readFD = UnsafeMutablePointer<Int32>.allocate(capacity: 1)

    init(count: Int) throws {
        guard pipe(&fds) == 0 else { throw StarveError("pipe: \(String(cString: strerror(errno)))") }
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, 64 * 1024)
        readFD.pointee = fds[0]
        for _ in 0..<count {
            var t = pthread_t()
            let rc = pthread_create(&t, &attr, { arg in
                var b: UInt8 = 0
                _ = read(arg!.assumingMemoryBound(to: Int32.self).pointee, &b, 1)
                return nil
            }, readFD)
            guard rc == 0 else {
                release()
                throw StarveError("could not start thread \(threads.count + 1) of \(count): \(String(cString: strerror(rc)))")
            }
            threads.append(t)
        }
    }

    /// Wakes every thread (end of file on the pipe) and joins them.
    func release() {
        if fds[1] >= 0 { close(fds[1]); fds[1] = -1 }
        for t in threads { pthread_join(t, nil) }
        threads = []
        if fds[0] >= 0 { close(fds[0]); fds[0] = -1 }
    }

    deinit {
        release()
        readFD.deallocate()
    }
}
