// Feasibility of a CPU allocation under affinity, as a bipartite max-flow.
//
// An allocation x (CPUs per task) is schedulable iff the flow
//   source --x_i--> task_i --x_i--> each allowed CPU --1--> sink
// saturates every source edge (fractional Hall condition). This is what lets
// the progressive-filling loop handle arbitrary overlapping CPU sets exactly.

/// Dinic max-flow on `Double` capacities, sized for tasks x CPUs bipartite graphs.
struct FairShareFlow {
    private struct Edge {
        var to: Int
        var capacity: Double
    }

    /// Residuals below this are treated as zero, so rounding noise cannot create
    /// endless augmenting paths.
    private static let epsilon = 1e-13

    private var edges: [Edge] = []
    private var adjacency: [[Int]]
    private var level: [Int]
    private var cursor: [Int]

    /// Creates an empty graph with `nodeCount` nodes.
    init(nodeCount: Int) {
        adjacency = Array(repeating: [], count: nodeCount)
        level = Array(repeating: -1, count: nodeCount)
        cursor = Array(repeating: 0, count: nodeCount)
    }

    /// Adds a directed edge and its zero-capacity reverse (edge index ^ 1).
    mutating func addEdge(_ from: Int, _ to: Int, _ capacity: Double) {
        adjacency[from].append(edges.count)
        edges.append(Edge(to: to, capacity: capacity))
        adjacency[to].append(edges.count)
        edges.append(Edge(to: from, capacity: 0))
    }

    /// Maximum flow from `source` to `sink`.
    mutating func maxFlow(source: Int, sink: Int) -> Double {
        var total = 0.0
        while buildLevels(source: source, sink: sink) {
            for i in cursor.indices { cursor[i] = 0 }
            while true {
                let pushed = push(source, sink, .infinity)
                if pushed <= Self.epsilon { break }
                total += pushed
            }
        }
        return total
    }

    private mutating func buildLevels(source: Int, sink: Int) -> Bool {
        for i in level.indices { level[i] = -1 }
        level[source] = 0
        var queue = [source]
        var head = 0
        while head < queue.count {
            let node = queue[head]
            head += 1
            for e in adjacency[node] where edges[e].capacity > Self.epsilon && level[edges[e].to] < 0 {
                level[edges[e].to] = level[node] + 1
                queue.append(edges[e].to)
            }
        }
        return level[sink] >= 0
    }

    private mutating func push(_ node: Int, _ sink: Int, _ limit: Double) -> Double {
        if node == sink { return limit }
        while cursor[node] < adjacency[node].count {
            let e = adjacency[node][cursor[node]]
            let next = edges[e].to
            if edges[e].capacity > Self.epsilon && level[next] == level[node] + 1 {
                let pushed = push(next, sink, min(limit, edges[e].capacity))
                if pushed > Self.epsilon {
                    edges[e].capacity -= pushed
                    edges[e ^ 1].capacity += pushed
                    return pushed
                }
            }
            cursor[node] += 1
        }
        return 0
    }
}

/// Is `demand[i]` CPUs for each task schedulable on `cpuCount` CPUs given
/// `allowed[i]` (local CPU indices 0..<cpuCount)?
func fairShareFeasible(demand: [Double], allowed: [[Int]], cpuCount: Int,
                       tolerance: Double = 1e-10) -> Bool {
    let source = demand.count + cpuCount
    let sink = source + 1
    var flow = FairShareFlow(nodeCount: sink + 1)
    var wanted = 0.0
    for (task, need) in demand.enumerated() where need > 0 {
        wanted += need
        flow.addEdge(source, task, need)
        for cpu in allowed[task] { flow.addEdge(task, demand.count + cpu, need) }
    }
    for cpu in 0..<cpuCount { flow.addEdge(demand.count + cpu, sink, 1) }
    return flow.maxFlow(source: source, sink: sink) >= wanted - tolerance
}
