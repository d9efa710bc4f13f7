import Glibc
import StarveModel
import StarveHost

/// The steps of a load, counted as they are reached, and what may stop one.
///
/// SIGINT, SIGTERM and SIGHUP are blocked while a load runs and taken at each step: the load
/// then stops there and undoes itself (``LoadInterrupted``), so a signal never leaves half a
/// pin set. For tests, three hidden environment variables act at the step they name (by number,
/// from 1, or by name: `load`, `pin-map:stats`, or just `pin-map` for the first of its kind):
/// `STARVE_LOAD_FAIL_AT` makes the step fail, `STARVE_LOAD_KILL_AT` makes the process kill -9
/// itself there, `STARVE_LOAD_SIGNAL_AT` sends it SIGTERM there. The step list is in
/// docs/design.md ("Loading: all or nothing").
struct LoadSteps: ~Copyable {
    private(set) var count = 0
    /// Programs loaded so far (kernel ids): named by an injected failure or kill, for tests.
    var programIDs: [UInt32] = []
    private let failAt: String?
    private let killAt: String?
    private let signalAt: String?
    private var reachedKinds: Set<String> = []
    private var signals = sigset_t()
    private var previousMask = sigset_t()

    init() {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        failAt = env("STARVE_LOAD_FAIL_AT")
        killAt = env("STARVE_LOAD_KILL_AT")
        signalAt = env("STARVE_LOAD_SIGNAL_AT")
        sigemptyset(&signals)
        for sig in Self.stopSignals { sigaddset(&signals, sig) }
        pthread_sigmask(SIG_BLOCK, &signals, &previousMask)
    }

    /// The signals that stop a load.
    static let stopSignals = [SIGINT, SIGTERM, SIGHUP]

    /// Marks step `name` as reached; throws when the load must stop here. After the commit
    /// point (`stoppable` false) a stop signal no longer stops anything: the load is complete.
    mutating func reach(_ name: String, stoppable: Bool = true) throws {
        count += 1
        let kind = String(name.prefix(while: { $0 != ":" }))
        let firstOfKind = reachedKinds.insert(kind).inserted
        func named(_ target: String?) -> Bool {
            guard let target else { return false }
            if let n = Int(target) { return n == count }
            return target == name || target == kind && firstOfKind
        }
        let ids = programIDs.isEmpty ? "" : "; programs loaded: " + programIDs.map(String.init).joined(separator: ",")
        if named(killAt) {
            writeStderr("starve-load: injected kill -9 at step \(count) (\(name))\(ids)\n")
            kill(getpid(), SIGKILL)
            while true { pause() }
        }
        if named(signalAt) { kill(getpid(), SIGTERM) }
        if stoppable, let sig = takePendingSignal() { throw LoadInterrupted(signal: sig, step: name) }
        if named(failAt) { throw StarveError("injected failure at step \(count) (\(name))\(ids)") }
    }

    private func takePendingSignal() -> Int32? {
        var set = signals
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        let sig = sigtimedwait(&set, nil, &zero)
        return sig > 0 ? sig : nil
    }

    /// The load is over: a stop signal that came after its last step (complete or undone by
    /// then) is taken, and the signal mask is what it was.
    deinit {
        _ = takePendingSignal()
        var mask = previousMask
        pthread_sigmask(SIG_SETMASK, &mask, nil)
    }
}

/// A load stopped by SIGINT, SIGTERM or SIGHUP; nothing of it is left.
public struct LoadInterrupted: Error, CustomStringConvertible {
    public let signal: Int32
    public let step: String

    public var description: String {
        "interrupted by \(Self.name(signal)) at step \(step): nothing loaded, what was staged is removed"
    }

    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(sig)"
        }
    }
}
