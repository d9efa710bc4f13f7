import Glibc
import StarveModel
import StarveHost

/// Starts a pthread running `body` (scenario threads are pthreads: they are pinned, reniced and
/// named one by one, and joined on stop).
public func startThread(_ body: @escaping () -> Void) throws -> pthread_t {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    var t = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&t, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, box)
    guard rc == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        throw StarveError("cannot start a thread: \(String(cString: strerror(rc)))")
    }
    return t
}
