import Glibc
import StarveHost

/// The Linux capabilities (capabilities(7)) starve-load checks before it acts, read from the
/// effective set (`CapEff` in /proc/self/status): a missing one is named in one line up front,
/// not found out as an EPERM halfway through.
public enum Capability: Int, CaseIterable, Sendable {
    case chown = 0
    case dacOverride = 1
    case fowner = 3
    case sysAdmin = 21
    case perfmon = 38
    case bpf = 39

    /// The name capabilities(7) gives it.
    public var name: String {
        switch self {
        case .chown: "CAP_CHOWN"
        case .dacOverride: "CAP_DAC_OVERRIDE"
        case .fowner: "CAP_FOWNER"
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .perfmon: "CAP_PERFMON"
        case .bpf: "CAP_BPF"
        }
    }

    /// Whether this process has it in its effective set.
    public var isEffective: Bool { Self.effectiveSet() & (1 << UInt64(rawValue)) != 0 }

    /// The effective set as a bit mask (0 when /proc/self/status cannot be read).
    public static func effectiveSet() -> UInt64 {
        guard let status = HostFiles.read("/proc/self/status") else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last.flatMap { UInt64($0, radix: 16) } ?? 0
        }
        return 0
    }

    /// Loading tracing programs and creating their maps: CAP_BPF and CAP_PERFMON (kernel 5.8+),
    /// or CAP_SYS_ADMIN, which the kernel takes for both.
    static func requireForLoad() throws {
        if sysAdmin.isEffective { return }
        let missing = [bpf, perfmon].filter { !$0.isEffective }
        guard missing.isEmpty else {
            throw StarveError("starve-load needs CAP_BPF and CAP_PERFMON to load programs (missing: \(missing.map(\.name).joined(separator: ", "))): run it as root, or give it those capabilities (e.g. `setpriv --inh-caps +bpf,+perfmon --ambient-caps +bpf,+perfmon starve-load ...`)")
        }
    }
}
