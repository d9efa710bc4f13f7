import StarveModel
import CStarveSys

/// Memory policy for the samplers.
public enum Allocator {
    /// A sample of 100k threads builds arrays of tens of MB. glibc serves blocks that large with
    /// fresh mmaps (its threshold stops adapting at 32 MB) and unmaps them when freed, so every
    /// sample paid for faulting in and zeroing ~100 MB of new pages: a third of its time. Taking
    /// them from the heap and keeping freed memory lets the next sample reuse the same pages.
    public static func reuseLargeBlocks() {
        _ = starve_sys_reuse_large_blocks()
    }
}
