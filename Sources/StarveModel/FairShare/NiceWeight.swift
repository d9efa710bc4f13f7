// Load weights as the Linux CFS/EEVDF scheduler assigns them.
//
// Everything here mirrors kernel constants so that "what the weights promise"
// is computed from the same numbers the kernel uses, not from a formula that
// merely approximates them (the table is ~1.25x per nice step, but rounded).

/// The kernel's nice-to-weight mapping (`sched_prio_to_weight`, kernel/sched/core.c)
/// plus the conversions used for cgroups and autogroups.
///
/// All weights are in the kernel's "1024 = nice 0" scale (`NICE_0_LOAD` without
/// the fixed-point shift).
public enum NiceWeight {
    /// Lowest nice value (highest priority).
    public static let minNice = -20
    /// Highest nice value (lowest priority).
    public static let maxNice = 19
    /// Weight of a nice-0 task; also the default cgroup v1 `cpu.shares`.
    public static let nice0Weight: UInt64 = 1024
    /// `WEIGHT_IDLEPRIO`: the weight of a SCHED_IDLE task, below even nice 19 (15).
    public static let idleWeight: UInt64 = 3

    /// `SCHED_OTHER` (a.k.a. SCHED_NORMAL) policy number.
    public static let policyOther = 0
    /// `SCHED_BATCH` policy number; weighted exactly like SCHED_OTHER.
    public static let policyBatch = 3
    /// `SCHED_IDLE` policy number; always gets `idleWeight` regardless of nice.
    public static let policyIdle = 5

    /// `sched_prio_to_weight`, index 0 = nice -20, index 39 = nice 19.
    public static let table: [UInt64] = [
        88761, 71755, 56483, 46273, 36291,
        29154, 23254, 18705, 14949, 11916,
        9548, 7620, 6100, 4904, 3906,
        3121, 2501, 1991, 1586, 1277,
        1024, 820, 655, 526, 423,
        335, 272, 215, 172, 137,
        110, 87, 70, 56, 45,
        36, 29, 23, 18, 15,
    ]

    /// Clamps a nice value into -20...19, as `setpriority(2)` does.
    public static func clampedNice(_ nice: Int) -> Int {
        min(max(nice, minNice), maxNice)
    }

    /// Weight of a SCHED_OTHER task at `nice` (clamped to -20...19).
    public static func weight(nice: Int) -> UInt64 {
        table[clampedNice(nice) - minNice]
    }

    /// Weight of a task with scheduling `policy` (0 OTHER, 3 BATCH, 5 IDLE) at `nice`.
    ///
    /// BATCH only changes wakeup preemption, not the weight, so it maps like OTHER.
    /// Real-time and deadline policies are not weight-scheduled; callers should not
    /// pass them here, and they are treated like OTHER rather than trapping.
    public static func weight(nice: Int, policy: Int) -> UInt64 {
        policy == policyIdle ? idleWeight : weight(nice: nice)
    }

    /// Group weight for a cgroup v1 `cpu.shares` value.
    ///
    /// v1 shares are already in the 1024 scale; the kernel clamps them to
    /// [MIN_SHARES, MAX_SHARES] = [2, 262144], so we do too.
    public static func groupWeight(cgroupV1Shares shares: UInt64) -> UInt64 {
        min(max(shares, 2), 1 << 18)
    }

    /// Group weight for a cgroup v2 `cpu.weight` value (1...10000, default 100).
    ///
    /// The kernel converts with `sched_weight_from_cgroup`: weight * 1024 / 100
    /// (done via `scale_load`), so the default 100 becomes 1024 = nice 0.
    public static func groupWeight(cgroupV2Weight weight: UInt64) -> UInt64 {
        let clamped = min(max(weight, 1), 10_000)
        return clamped * nice0Weight / 100
    }

    /// Weight of an autogroup (session group) whose nice is `nice`.
    ///
    /// Autogroup nice (`/proc/<pid>/autogroup`) maps through the same table as a
    /// task's nice (`sched_autogroup_set_nice` uses `sched_prio_to_weight`).
    public static func autogroupWeight(nice: Int) -> UInt64 {
        weight(nice: nice)
    }
}
