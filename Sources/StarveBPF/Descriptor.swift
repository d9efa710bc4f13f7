import Glibc

/// An owned file descriptor of a BPF object (map, program or link): closed when dropped.
public struct BPFDescriptor: ~Copyable {
    public let rawValue: Int32

    public init(owning fd: Int32) { rawValue = fd }

    deinit { close(rawValue) }
}
