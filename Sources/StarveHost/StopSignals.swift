import StarveModel
import Glibc

/// SIGINT and SIGTERM, taken synchronously: blocked for the whole process and waited for with
/// sigtimedwait between samples, so a Ctrl-C never lands in the middle of writing a row.
public struct StopSignals: Sendable {
    private let set: sigset_t

    /// Blocks SIGINT and SIGTERM (call before starting threads; children inherit the mask, so
    /// spawners unblock it in the child).
    public init(including extra: [Int32] = []) {
        var s = sigset_t()
        sigemptyset(&s)
        for sig in [SIGINT, SIGTERM] + extra { sigaddset(&s, sig) }
        pthread_sigmask(SIG_BLOCK, &s, nil)
        set = s
    }

    /// A stop signal already pending, taken without waiting; nil when there is none.
    public func pending() -> Int32? {
        var s = set
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        let sig = sigtimedwait(&s, nil, &zero)
        return sig > 0 ? sig : nil
    }

    /// Waits up to `seconds` (forever when nil) for a signal; returns it, or nil on time-out.
    public func wait(seconds: Double?) -> Int32? {
        var s = set
        guard let seconds else {
            var sig: Int32 = 0
            return sigwait(&s, &sig) == 0 ? sig : nil
        }
        let deadline = Double(monotonicNs()) / 1e9 + seconds
        while true {
            let left = deadline - Double(monotonicNs()) / 1e9
            if left <= 0 { return nil }
            var ts = timespec(tv_sec: Int(left), tv_nsec: Int((left - Double(Int(left))) * 1e9))
            let sig = sigtimedwait(&s, nil, &ts)
            if sig > 0 { return sig }
            if errno == EAGAIN { return nil }
            // EINTR: some other signal; keep waiting for the rest of the time.
        }
    }
}
