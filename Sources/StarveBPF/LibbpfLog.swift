import CLibbpf
import Glibc

/// Where libbpf's own messages go. Quiet by default: users get our one-line errors; `--verbose`
/// passes libbpf's warnings and the verifier log through to stderr.
public enum LibbpfLog {
    /// Set once by `configure`, before any libbpf call that could log; read by the C callback,
    /// which cannot capture context.
    nonisolated(unsafe) static var verbose = false

    /// Installs the print hook (libbpf_set_print). Call once, before opening any object.
    public static func configure(verbose: Bool) {
        Self.verbose = verbose
        libbpf_set_print { level, format, args in
            guard LibbpfLog.verbose, let format, let args else { return 0 }
            return vdprintf(STDERR_FILENO, format, args)
        }
    }
}
