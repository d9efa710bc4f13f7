import CStarveSys
import Glibc
import StarveModel
import StarveHost
import Synchronization

/// Settings of the priority-inversion scenario: three threads of this process on one CPU.
public struct InversionSettings: Sendable, Equatable {
    /// The CPU all three threads are pinned to.
    public var cpu: Int
    /// Nice of the thread that takes the lock first and computes inside it.
    public var holderNice: Int32
    /// Nice of the thread that then waits for the lock (the one that should win).
    public var blockedNice: Int32
    /// Nice of the thread that spins while the lock is held, in between the other two.
    public var hogNice: Int32
    /// CPU time the holder spends inside the lock, ms.
    public var criticalSectionMs: Double
    /// Time from one cycle's start to the next, ms.
    public var cycleMs: Double
    /// Use a PTHREAD_PRIO_INHERIT mutex (a kernel rt_mutex: the holder gets the waiter's priority).
    public var priorityInheritance: Bool

    /// The classic inversion: holder nice 19, waiter nice -10, hog nice 0; 5 ms inside the lock, every second.
    public init(cpu: Int, holderNice: Int32 = 19, blockedNice: Int32 = -10, hogNice: Int32 = 0,
                criticalSectionMs: Double = 5, cycleMs: Double = 1000, priorityInheritance: Bool = false) {
        self.cpu = cpu
        self.holderNice = holderNice
        self.blockedNice = blockedNice
        self.hogNice = hogNice
        self.criticalSectionMs = criticalSectionMs
        self.cycleMs = cycleMs
        self.priorityInheritance = priorityInheritance
    }
}

/// What each thread of the inversion does.
public enum InversionRole: String, Sendable, CaseIterable {
    /// Takes the lock and computes inside it.
    case holder
    /// Waits for the lock the holder has.
    case blocked
    /// Spins while the lock is held, keeping the holder off the CPU.
    case hog
}

/// One started thread.
public struct InversionThread: Sendable, Equatable {
    public var role: InversionRole
    public var tid: pid_t
    public var nice: Int32
}

/// One lock cycle, as the threads timed it.
public struct InversionCycle: Sendable, Equatable {
    /// 1, 2, …
    public var index: Int
    /// From the waiter calling lock to getting it, ns: the inversion itself.
    public var blockedNs: UInt64
    /// From the holder taking the lock to releasing it, ns (wall time for `criticalSectionMs` of CPU).
    public var heldNs: UInt64
}

/// Priority inversion, reproduced: a low-priority holder takes a mutex and computes; a
/// high-priority thread then blocks on the mutex; a medium-priority hog, woken at the same
/// moment, takes the CPU from the holder, so the high-priority thread waits for as long as the
/// hog lets the holder run. All three are threads of this process pinned to one CPU (threads
/// of one process share its autogroup and cgroup, so only their nice levels differ).
///
/// Note: for SCHED_OTHER threads a PI mutex changes the holder's `prio` (the kernel's
/// `rt_mutex_setprio`, traced as `sched_pi_setprio`) but not its CFS weight, which follows
/// the static nice: the inversion stays.
public final class PriorityInversion: @unchecked Sendable {
    /// The settings it runs with.
    public let settings: InversionSettings
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    // Semaphores: each thread sleeps on its own until its part of the cycle starts.
    private let holderGo, blockedGo, hogGo, cycleDone, started: UnsafeMutablePointer<sem_t>
    private let stopping = Atomic<Bool>(false)
    private let hogSpins = Atomic<Bool>(false)
    private let lastBlockedNs = Atomic<UInt64>(0)
    // Not Synchronization's Mutex: on Linux that is a PI futex (FUTEX_LOCK_PI), so a thread
    // waiting for this bookkeeping would boost whoever holds it, and those boosts (the hog or
    // the main thread lending its prio to the holder) are not the inversion this scenario shows.
    private let state = PlainLock<(threads: [InversionThread], errors: [String], cycles: [InversionCycle])>(([], [], []))
    private var pthreads: [pthread_t] = []

    /// Prepares the mutex (PI or not); `start` runs the threads.
    public init(settings: InversionSettings) throws {
        self.settings = settings
        mutex = .allocate(capacity: 1)
        let rc = starve_sys_mutex_init(mutex, settings.priorityInheritance ? 1 : 0)
        func semaphore() -> UnsafeMutablePointer<sem_t> {
            let s = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
            sem_init(s, 0, 0)
            return s
        }
        holderGo = semaphore(); blockedGo = semaphore(); hogGo = semaphore(); cycleDone = semaphore(); started = semaphore()
        guard rc == 0 else {
            throw StarveError("cannot create the\(settings.priorityInheritance ? " priority-inheritance" : "") mutex: \(String(cString: strerror(rc)))")
        }
    }

    /// Starts the three threads, waits until each is pinned and at its nice level, then lets
    /// the first cycle begin. `onCycle` is called (on the holder's thread) after each cycle.
    public func start(onCycle: @escaping @Sendable (InversionCycle) -> Void) throws -> [InversionThread] {
        let niceOf: [InversionRole: Int32] = [.holder: settings.holderNice, .blocked: settings.blockedNice, .hog: settings.hogNice]
        for role in InversionRole.allCases {
            let body: () -> Void
            switch role {
            case .holder: body = { [self] in holderLoop(onCycle) }
            case .blocked: body = { [self] in blockedLoop() }
            case .hog: body = { [self] in hogLoop() }
            }
            let nice = niceOf[role]!
            try spawnThread { [self] in
                if enter(role: role, nice: nice) { body() }
            }
        }
        for _ in InversionRole.allCases { semWait(started) }
        let (threads, errors) = state.withLock { ($0.threads, $0.errors) }
        if let error = errors.first {
            stop()
            throw StarveError(error)
        }
        sem_post(holderGo)
        return InversionRole.allCases.compactMap { role in threads.first { $0.role == role } }
    }

    /// The cycles completed so far.
    public var cycles: [InversionCycle] { state.withLock { $0.cycles } }

    /// Ends the cycles and joins the threads (a cycle under way finishes first: the hog stops
    /// spinning, so that takes about `criticalSectionMs`).
    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for s in [holderGo, blockedGo, hogGo, cycleDone] { sem_post(s) }
        for t in pthreads { pthread_join(t, nil) }
        pthreads.removeAll()
    }

    deinit {
        stop()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        for s in [holderGo, blockedGo, hogGo, cycleDone, started] {
            sem_destroy(s)
            s.deallocate()
        }
    }

    /// Names, pins and renices the calling thread; records it (or why it failed) and tells `start`.
    private func enter(role: InversionRole, nice: Int32) -> Bool {
        let tid = starve_sys_gettid()
        _ = starve_sys_set_thread_name("starve-\(role.rawValue)")
        var failure: String?
        var cpu = Int32(settings.cpu)
        if starve_sys_set_affinity(&cpu, 1) != 0 {
            failure = "cannot pin the \(role.rawValue) thread to CPU \(settings.cpu): \(String(cString: strerror(errno)))"
        } else if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), nice) != 0 {
            failure = "cannot set nice \(nice) on the \(role.rawValue) thread: \(String(cString: strerror(errno)))\(nice < 0 ? " (negative nice needs root)" : "")"
        }
        state.withLock {
            if let failure { $0.errors.append(failure) } else { $0.threads.append(InversionThread(role: role, tid: tid, nice: nice)) }
        }
        sem_post(started)
        return failure == nil
    }

    private func holderLoop(_ onCycle: @Sendable (InversionCycle) -> Void) {
        semWait(holderGo)
        var index = 0
        var cycleStart = monotonicNs()
        while !stopping.load(ordering: .relaxed) {
            pthread_mutex_lock(mutex)
            let heldAt = monotonicNs()
            hogSpins.store(true, ordering: .sequentiallyConsistent)
            // The waiter first: it preempts us at once and blocks on the mutex. The hog next:
            // it preempts us too and, being heavier, keeps the CPU.
            sem_post(blockedGo)
            sem_post(hogGo)
            burnCPU(ns: UInt64(settings.criticalSectionMs * 1e6))
            let releasedAt = monotonicNs()
            pthread_mutex_unlock(mutex)
            semWait(cycleDone)
            if stopping.load(ordering: .relaxed) { break }
            index += 1
            let cycle = InversionCycle(index: index, blockedNs: lastBlockedNs.load(ordering: .sequentiallyConsistent),
                                       heldNs: releasedAt - heldAt)
            state.withLock { $0.cycles.append(cycle) }
            onCycle(cycle)
            cycleStart += UInt64(settings.cycleMs * 1e6)
            // Sleep in short steps so stop() does not wait for a whole cycle.
            while !stopping.load(ordering: .relaxed), monotonicNs() < cycleStart {
                usleep(UInt32(min(10_000, (cycleStart - min(cycleStart, monotonicNs())) / 1000 + 1)))
            }
        }
    }

    private func blockedLoop() {
        while true {
            semWait(blockedGo)
            if stopping.load(ordering: .relaxed) { return }
            let asked = monotonicNs()
            pthread_mutex_lock(mutex)
            let got = monotonicNs()
            pthread_mutex_unlock(mutex)
            hogSpins.store(false, ordering: .sequentiallyConsistent)
            lastBlockedNs.store(got - asked, ordering: .sequentiallyConsistent)
            sem_post(cycleDone)
        }
    }

    private func hogLoop() {
        while true {
            semWait(hogGo)
            while hogSpins.load(ordering: .relaxed) && !stopping.load(ordering: .relaxed) { spin() }
            if stopping.load(ordering: .relaxed) { return }
        }
    }

    private func spawnThread(_ body: @escaping () -> Void) throws {
        pthreads.append(try startThread(body))
    }
}

/// A value behind a pthread mutex without priority inheritance (waiters never change the
/// holder's prio, so the scenario's PI mutex is the only one that does).
private final class PlainLock<Value>: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var value: Value

    init(_ value: Value) {
        self.value = value
        precondition(starve_sys_mutex_init(mutex, 0) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// sem_wait, again after EINTR.
private func semWait(_ s: UnsafeMutablePointer<sem_t>) {
    while sem_wait(s) != 0 && errno == EINTR {}
}

/// Spends `ns` of this thread's CPU time (not wall time: under contention it takes longer).
func burnCPU(ns: UInt64) {
    let start = threadCPUTimeNs()
    while threadCPUTimeNs() - start < ns { spin() }
}

/// A few microseconds of arithmetic the optimiser cannot drop.
@inline(never)
func spin() {
    var x: UInt64 = 1
    for i in 0..<2_000 { x = x &* 6364136223846793005 &+ UInt64(truncatingIfNeeded: i) }
    if x == 42 { print("") }
}
