import CStarveSys
import Glibc
import StarveHost
import StarveModel
import Synchronization

/// Threads of this process taking turns on one plain pthread mutex: each takes it, computes
/// `holdUs` of CPU inside, releases it and computes `outsideUs` outside. On fewer CPUs than
/// threads a holder is often preempted inside, and the others block in FUTEX_WAIT until it runs
/// again: a contended lock, as `starve-load --futex` sees it. Each thread times its own
/// `pthread_mutex_lock` calls (what the futex figures should add up to).
public final class ContendedLock: @unchecked Sendable {
    public let threads: Int
    public let holdUs: Double
    public let outsideUs: Double
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let stopping = Atomic<Bool>(false)
    private let blockedNs = Atomic<UInt64>(0)
    private let acquisitions = Atomic<UInt64>(0)
    private let tidsReady = Atomic<Int>(0)
    private let tidList: UnsafeMutablePointer<pid_t>
    private var pthreads: [pthread_t] = []

    public init(threads: Int, holdUs: Double, outsideUs: Double) throws {
        self.threads = threads
        self.holdUs = holdUs
        self.outsideUs = outsideUs
        mutex = .allocate(capacity: 1)
        tidList = .allocate(capacity: threads)
        let rc = starve_sys_mutex_init(mutex, 0)
        guard rc == 0 else { throw StarveError("cannot create the mutex: \(String(cString: strerror(rc)))") }
    }

    /// Starts the threads; their tids once each runs.
    public func start() throws -> [pid_t] {
        for i in 0..<threads {
            pthreads.append(try startThread { [self] in
                tidList[i] = starve_sys_gettid()
                _ = starve_sys_set_thread_name("starve-lock-\(i)")
                tidsReady.add(1, ordering: .sequentiallyConsistent)
                loop()
            })
        }
        while tidsReady.load(ordering: .sequentiallyConsistent) < threads { usleep(1000) }
        return (0..<threads).map { tidList[$0] }
    }

    /// Time spent in `pthread_mutex_lock` by all threads so far, and the locks taken.
    public var totals: (blockedNs: UInt64, acquisitions: UInt64) {
        (blockedNs.load(ordering: .relaxed), acquisitions.load(ordering: .relaxed))
    }

    private func loop() {
        while !stopping.load(ordering: .relaxed) {
            let t0 = monotonicNs()
            pthread_mutex_lock(mutex)
            blockedNs.add(monotonicNs() - t0, ordering: .relaxed)
            acquisitions.add(1, ordering: .relaxed)
            burnCPU(ns: UInt64(holdUs * 1000))
            pthread_mutex_unlock(mutex)
            burnCPU(ns: UInt64(outsideUs * 1000))
        }
    }

    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        for t in pthreads { pthread_join(t, nil) }
        pthreads.removeAll()
    }

    deinit {
        stop()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        tidList.deallocate()
    }
}
