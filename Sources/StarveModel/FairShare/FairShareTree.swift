// The scheduling hierarchy of one component, as a tree of weighted entities.

/// Root group, task groups and tasks of one CPU component, with the effective
/// weight each entity has among its siblings in that component.
struct FairShareTree {
    private struct Node {
        var parent: Int
        var children: [Int] = []
        var weight: Double
        var groupID: String?
        var key: String
        var tasks: [Int] = []
    }

    private static let separator = "\u{1F}"
    private var nodes: [Node]
    private var leafOf: [Int]

    /// Load of every group over all components: the sum of its children's weights,
    /// each child group counted once with its full weight.
    ///
    /// This is the denominator of `calc_group_shares()`: a group's weight is
    /// split across CPUs in proportion to where its load sits.
    static func totalGroupLoads(_ claimants: [ShareClaimant], _ indices: [Int]) -> [String: Double] {
        var loads: [String: Double] = [:]
        var seen = Set<String>()
        for i in indices {
            var key = ""
            for (depth, group) in claimants[i].groupPath.enumerated() {
                let child = key + separator + group.id
                if seen.insert(child).inserted && depth > 0 {
                    loads[key, default: 0] += Double(max(group.weight, 1))
                }
                key = child
            }
            if !key.isEmpty { loads[key, default: 0] += Double(max(claimants[i].weight, 1)) }
        }
        return loads
    }

    /// Builds the tree for `tasks` (one component); `groupLoads` from `totalGroupLoads`.
    init(tasks: [ShareClaimant], groupLoads: [String: Double]) {
        nodes = [Node(parent: -1, weight: 1, key: "")]
        leafOf = []
        var nodeByKey: [String: Int] = ["": 0]
        for (i, task) in tasks.enumerated() {
            var current = 0
            for group in task.groupPath {
                let key = nodes[current].key + Self.separator + group.id
                if let existing = nodeByKey[key] {
                    current = existing
                } else {
                    // Zero weights would stall progressive filling; the kernel's minimum is 2.
                    nodes.append(Node(parent: current, weight: Double(max(group.weight, 1)),
                                      groupID: group.id, key: key))
                    nodes[current].children.append(nodes.count - 1)
                    nodeByKey[key] = nodes.count - 1
                    current = nodes.count - 1
                }
            }
            nodes.append(Node(parent: current, weight: Double(max(task.weight, 1)), key: ""))
            nodes[current].children.append(nodes.count - 1)
            leafOf.append(nodes.count - 1)
            var n = nodes.count - 1
            while n >= 0 { nodes[n].tasks.append(i); n = nodes[n].parent }
        }
        // Children are created after parents, so a reverse sweep sees every child's
        // effective weight before its group scales by "load here / load everywhere".
        var localLoad = Array(repeating: 0.0, count: nodes.count)
        for n in nodes.indices.reversed() where n > 0 {
            if nodes[n].groupID != nil, let total = groupLoads[nodes[n].key], total > 0 {
                nodes[n].weight *= min(1, localLoad[n] / total)
            }
            localLoad[nodes[n].parent] += nodes[n].weight
        }
    }

    /// Growth rate of each active task: its weight's fraction among active siblings,
    /// multiplied down from the root (rates of active tasks sum to 1).
    func rates(active: [Bool]) -> [Double] {
        var nodeRate = Array(repeating: 0.0, count: nodes.count)
        var result = Array(repeating: 0.0, count: leafOf.count)
        nodeRate[0] = 1
        for n in nodes.indices where nodeRate[n] > 0 {
            let growing = nodes[n].children.filter { isActive($0, active) }
            let sum = growing.reduce(0.0) { $0 + nodes[$1].weight }
            for child in growing {
                nodeRate[child] = nodeRate[n] * nodes[child].weight / sum
            }
        }
        for (task, leaf) in leafOf.enumerated() where active[task] { result[task] = nodeRate[leaf] }
        return result
    }

    /// The topmost level on `task`'s path where its entity had a sibling that was
    /// still competing (`active`): that split bounded the task. A task entity means
    /// nice decided; a group entity means that group's weight decided.
    func decidingLevel(task: Int, active: [Bool]) -> ShareDecision {
        var path: [Int] = []
        var n = leafOf[task]
        while n > 0 { path.append(n); n = nodes[n].parent }
        for node in path.reversed() {
            let competing = nodes[nodes[node].parent].children.contains { $0 != node && isActive($0, active) }
            if competing { return nodes[node].groupID.map { .group($0) } ?? .nice }
        }
        // Nobody else was growing: it simply took what was left of its CPUs.
        return .affinity
    }

    private func isActive(_ node: Int, _ active: [Bool]) -> Bool {
        nodes[node].tasks.contains { active[$0] }
    }
}
