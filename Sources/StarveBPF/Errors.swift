import Glibc

/// A failed kernel or libbpf call, named by what we were doing:
/// "failed to attach sched_switch: Operation not permitted".
public struct BPFError: Error, CustomStringConvertible, Equatable {
    /// What we were doing, as a verb phrase ("attach sched_switch").
    public let operation: String
    /// The errno the call returned.
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "failed to \(operation): \(String(cString: strerror(errno)))" }
}

@_exported import struct StarveModel.StarveError

/// libbpf 1.x returns `-errno` (and sets errno): turn that into a ``BPFError``.
@discardableResult
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws -> Int32 {
    if rc < 0 { throw BPFError(operation(), errno: rc == -1 ? Glibc.errno : -rc) }
    return rc
}

/// libbpf's `NULL` + errno convention.
func check<T>(_ pointer: T?, _ operation: @autoclosure () -> String) throws -> T {
    guard let pointer else { throw BPFError(operation(), errno: Glibc.errno) }
    return pointer
}

/// A raw syscall's `-1` + errno convention.
@discardableResult
func checkSyscall(_ rc: Int32, _ operation: @autoclosure () -> String) throws -> Int32 {
    if rc == -1 { throw BPFError(operation(), errno: Glibc.errno) }
    return rc
}
