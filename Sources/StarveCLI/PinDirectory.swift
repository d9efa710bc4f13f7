import ArgumentParser
import StarveBPF

/// `--pin-dir DIR`: where starve-load pins the collector and every reader finds it. The one
/// definition every executable includes with `@OptionGroup`, so the flag, its default
/// (``PinLayout/defaultDirectory``) and its help read the same everywhere.
public struct PinDirectory: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Directory on bpffs for starve's pins.", valueName: "dir"))
    public var pinDir: String = PinLayout.defaultDirectory

    public init() {}

    /// The pins' layout under `pinDir`.
    public var layout: PinLayout { PinLayout(directory: pinDir) }
}
