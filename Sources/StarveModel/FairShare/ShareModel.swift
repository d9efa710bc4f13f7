// Inputs and outputs of the expected-share model (see CFSShareModel).

/// What kind of scheduling group a `SchedGroup` is; only used for display,
/// because the kernel treats both as a task group with one weight.
public enum SchedGroupKind: String, Sendable, Hashable, Codable {
    /// A cgroup with the cpu controller (v1 `cpu.shares` or v2 `cpu.weight`).
    case cgroup
    /// An autogroup (one per session when `kernel.sched_autogroup_enabled=1`).
    case autogroup
}

/// One task group on a claimant's path from the top level down.
public struct SchedGroup: Sendable, Hashable, Codable {
    /// Stable identifier, e.g. "cgroup:/a/b" or "autogroup:12". Two claimants are
    /// in the same group exactly when their paths agree up to and including this id.
    public var id: String
    /// Group weight in the 1024 scale (see `NiceWeight.groupWeight`).
    public var weight: UInt64
    /// cgroup or autogroup.
    public var kind: SchedGroupKind

    /// Creates a group entry.
    public init(id: String, weight: UInt64, kind: SchedGroupKind) {
        self.id = id
        self.weight = weight
        self.kind = kind
    }
}

/// A CPU-bound task competing for CPU time.
public struct ShareClaimant: Sendable, Hashable {
    /// The task's pid (or any unique id).
    public var id: Int
    /// Task weight from nice/policy (see `NiceWeight.weight(nice:policy:)`).
    public var weight: UInt64
    /// CPUs the task may run on (its affinity mask). Empty means it can run nowhere.
    public var allowedCPUs: Set<Int>
    /// Most CPUs the task can consume: 1 for a single thread; less for a task that
    /// sleeps part of the time. Never raised above `allowedCPUs.count`.
    public var maxCPUs: Double
    /// Task groups from the top level down; empty = the task sits in the root group.
    public var groupPath: [SchedGroup]

    /// Creates a claimant; `maxCPUs` defaults to one CPU (one thread).
    public init(id: Int, weight: UInt64, allowedCPUs: Set<Int>, maxCPUs: Double = 1,
                groupPath: [SchedGroup] = []) {
        self.id = id
        self.weight = weight
        self.allowedCPUs = allowedCPUs
        self.maxCPUs = maxCPUs
        self.groupPath = groupPath
    }
}

/// Which level of the scheduling hierarchy decided a claimant's share.
public enum ShareDecision: Sendable, Hashable {
    /// Nothing else competes for its CPUs: it gets all it can use.
    case alone
    /// Its weight against sibling tasks (nice/policy) decided the split.
    case nice
    /// The split between this group (the claimant's ancestor) and its siblings decided.
    case group(String)
    /// Its CPU set decided: pinned to fewer CPUs than it could use, or its CPUs were
    /// saturated while claimants on other CPUs could still grow.
    case affinity
    /// It got all it can consume (`maxCPUs`) before anyone's weight limited it.
    case demand
}

/// The share a claimant should get according to the weights.
public struct ExpectedShare: Sendable, Hashable {
    /// The claimant's id.
    public var id: Int
    /// Expected share in percent of ONE CPU (alone on a CPU = 100, two CPUs = 200).
    public var percent: Double
    /// What decided it.
    public var decidedBy: ShareDecision

    /// Creates a result row.
    public init(id: Int, percent: Double, decidedBy: ShareDecision) {
        self.id = id
        self.percent = percent
        self.decidedBy = decidedBy
    }
}
