// Stride scheduling (Waldspurger & Weihl, 1995): the deterministic counterpart
// of lottery scheduling. Each task advances a "pass" by its stride = L / tickets
// each time it runs; the lowest pass runs next. Over N quanta every task gets
// its ticket share to within a small constant number of quanta, with no
// randomness, which makes it the reference for "what exact proportional share
// looks like at quantum granularity".

/// One task's allocation after some quanta of stride scheduling.
public struct StrideAllocation: Sendable, Hashable {
    /// The task's id.
    public var id: Int
    /// Its tickets.
    public var tickets: UInt64
    /// Quanta it received.
    public var quanta: Int
    /// Quanta received / quanta run, in percent.
    public var sharePercent: Double
    /// Tickets / total tickets, in percent.
    public var expectedPercent: Double
    /// Quanta received minus its exact entitlement (quantaRun * tickets / total).
    public var errorQuanta: Double
}

/// A continuable stride scheduler over a fixed set of tasks.
public struct StrideScheduler: Sendable {
    /// The stride numerator L. 2^32 rather than the textbook 2^20: with CFS weights
    /// as tickets (up to 88761) 2^20 / tickets would round strides by up to ~8 %;
    /// at 2^32 the rounding error is below 0.003 % and passes still fit in UInt64
    /// for 2^31 quanta (and are rebased long before overflow anyway).
    public static let strideConstant: UInt64 = 1 << 32

    /// Participants, in the order results are reported.
    public let tasks: [LotteryTask]
    /// Stride of each task; nil for tasks without tickets, which never run.
    public let strides: [UInt64?]
    /// Current pass of each task (lowest runs next).
    public private(set) var passes: [UInt64]
    /// Quanta received by each task so far.
    public private(set) var received: [Int]
    /// Quanta run so far.
    public private(set) var quantaRun = 0

    /// Sets up the tasks; each starts with pass = stride, as in Waldspurger's
    /// implementation, so a task with more tickets runs first.
    public init(tasks: [LotteryTask]) {
        self.tasks = tasks
        strides = tasks.map { $0.tickets > 0 ? Self.strideConstant / $0.tickets : nil }
        passes = strides.map { $0 ?? .max }
        received = Array(repeating: 0, count: tasks.count)
    }

    /// The task index that runs the next quantum: lowest pass, ties to the lowest id.
    public func nextIndex() -> Int? {
        var best: Int?
        for i in tasks.indices where strides[i] != nil {
            guard let b = best else { best = i; continue }
            if passes[i] < passes[b] || (passes[i] == passes[b] && tasks[i].id < tasks[b].id) { best = i }
        }
        return best
    }

    /// Runs `quanta` more quanta and returns the cumulative allocations.
    public mutating func run(quanta: Int) -> [StrideAllocation] {
        for _ in 0..<max(quanta, 0) {
            guard let i = nextIndex(), let stride = strides[i] else { break }
            received[i] += 1
            quantaRun += 1
            passes[i] += stride
            // Only differences between passes matter; rebase so they never overflow.
            if passes[i] > 1 << 62 { rebase() }
        }
        return allocations
    }

    /// Cumulative allocations so far, tasks in input order.
    public var allocations: [StrideAllocation] {
        let total = tasks.reduce(UInt64(0)) { $0 + $1.tickets }
        return tasks.indices.map { i in
            let expected = total > 0 ? Double(tasks[i].tickets) / Double(total) : 0
            return StrideAllocation(
                id: tasks[i].id, tickets: tasks[i].tickets, quanta: received[i],
                sharePercent: quantaRun > 0 ? Double(received[i]) * 100 / Double(quantaRun) : 0,
                expectedPercent: expected * 100,
                errorQuanta: Double(received[i]) - expected * Double(quantaRun))
        }
    }

    private mutating func rebase() {
        let floor = tasks.indices.compactMap { strides[$0] != nil ? passes[$0] : nil }.min() ?? 0
        for i in tasks.indices where strides[i] != nil { passes[i] -= floor }
    }
}
