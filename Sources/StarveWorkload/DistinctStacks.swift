import CStarveSys
import Glibc
import StarveModel
import StarveHost
import Synchronization

/// A ping-pong over two pipes between two threads of this process pinned to one CPU, where each
/// thread blocks on every round trip from a different call path: round `n` descends `depth`
/// levels choosing one of two functions by bit `i` of `n`, so up to 2^depth rounds have pairwise
/// distinct user stacks. Every round is two context switches with a short wakeup wait each: with
/// a starvation threshold below that wait, every switch is an event, with a new stack.
///
/// For testing stack capture at volume: a fixed-size stack table fills after a few thousand
/// distinct stacks; what starve keeps must go on working after millions.
public final class DistinctStacks: @unchecked Sendable {
    /// Levels of the choice tree (2^depth distinct paths), at most 24 (the user stacks starve
    /// keeps are 32 frames deep).
    public let depth: Int
    public let cpu: Int
    private var ping: [Int32] = [-1, -1]
    private var pong: [Int32] = [-1, -1]
    private let stopping = Atomic<Bool>(false)
    private let done = Atomic<UInt64>(0)
    private var pthreads: [pthread_t] = []
    private let tids = Mutex<[pid_t]>([])

    public init(depth: Int, cpu: Int) throws {
        precondition((1...24).contains(depth), "depth must be in 1...24")
        self.depth = depth
        self.cpu = cpu
        guard pipe(&ping) == 0, pipe(&pong) == 0 else {
            throw StarveError("cannot create pipes: \(String(cString: strerror(errno)))")
        }
    }

    /// Round trips completed so far.
    public var rounds: UInt64 { done.load(ordering: .relaxed) }

    /// The two threads' ids, caller first.
    public var threadIDs: [pid_t] { tids.withLock { $0 } }

    /// Starts the echo and the caller threads; `rounds` 0: until ``stop()``.
    public func start(rounds limit: UInt64) throws {
        let ready = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(ready, 0, 0)
        defer { sem_destroy(ready); ready.deallocate() }
        let failure = Mutex<String?>(nil)
        func enter(_ name: String) {
            _ = starve_sys_set_thread_name(name)
            var c = Int32(cpu)
            if starve_sys_set_affinity(&c, 1) != 0 {
                failure.withLock { $0 = "cannot pin a thread to CPU \(cpu): \(String(cString: strerror(errno)))" }
            }
            tids.withLock { $0.append(starve_sys_gettid()) }
            sem_post(ready)
        }
        try spawn { [self] in
            enter("starve-caller")
            var n: UInt64 = 0
            while !stopping.load(ordering: .relaxed) && (limit == 0 || n < limit) {
                guard roundTrip(n, level: 0, echo: false) else { break }
                n += 1
                done.store(n, ordering: .relaxed)
            }
            // Tell the echo thread to end (deinit closes the rest).
            close(ping[1])
        }
        while sem_wait(ready) != 0 && errno == EINTR {}
        try spawn { [self] in
            enter("starve-echo")
            var n: UInt64 = 0
            while roundTrip(n, level: 0, echo: true) { n += 1 }
        }
        while sem_wait(ready) != 0 && errno == EINTR {}
        if let f = failure.withLock({ $0 }) { stop(); throw StarveError(f) }
    }

    /// Ends the round trips and joins the threads.
    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for t in pthreads { pthread_join(t, nil) }
        pthreads.removeAll()
    }

    deinit {
        stop()
        // ping[1] was closed by the caller thread on its way out.
        for fd in [ping[0], pong[0], pong[1]] where fd >= 0 { close(fd) }
    }

    // Two functions that differ only in where they are: the path through them is the stack, one
    // frame per level. The deepest levels take the lowest bits of n, so consecutive rounds
    // differ in the frames nearest the leaf (a captured stack is its innermost frames).
    @inline(never)
    private func left(_ n: UInt64, level: Int, echo: Bool) -> Bool {
        let ok = roundTrip(n, level: level + 1, echo: echo)
        blackHole(level)
        return ok
    }
    @inline(never)
    private func right(_ n: UInt64, level: Int, echo: Bool) -> Bool {
        let ok = roundTrip(n, level: level + 1, echo: echo)
        blackHole(level &+ 1)
        return ok
    }

    @inline(__always)
    private func roundTrip(_ n: UInt64, level: Int, echo: Bool) -> Bool {
        if level < depth {
            let bit = (n >> UInt64(depth - 1 - level)) & 1
            return bit == 0 ? left(n, level: level, echo: echo) : right(n, level: level, echo: echo)
        }
        return echo ? answer() : ask()
    }

    /// The caller's half of a round: ping, then block until the pong.
    @inline(never)
    private func ask() -> Bool {
        var b: UInt8 = 1
        guard write(ping[1], &b, 1) == 1 else { return false }
        return read(pong[0], &b, 1) == 1
    }

    /// The echo's half: block until the ping (0 bytes: the caller is done), then pong.
    @inline(never)
    private func answer() -> Bool {
        var b: UInt8 = 0
        guard read(ping[0], &b, 1) == 1 else { return false }
        return write(pong[1], &b, 1) == 1
    }

    private func spawn(_ body: @escaping () -> Void) throws {
        pthreads.append(try startThread(body))
    }
}

/// Keeps `x` alive past the call it follows (so the call is not a tail call).
@inline(never)
private func blackHole(_ x: Int) { if x == Int.min { print("") } }
