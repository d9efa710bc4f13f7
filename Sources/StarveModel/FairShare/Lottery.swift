// Lottery scheduling (Waldspurger & Weihl, 1994): each quantum goes to a task
// drawn with probability tickets / total tickets. Simulating it shows how much
// a randomized proportional-share scheduler would deviate from the promise.

/// How nice values become lottery tickets.
public enum TicketMapping: String, Sendable, Hashable, CaseIterable {
    /// Tickets = CFS weight (`NiceWeight.weight(nice:policy:)`), so lottery shares
    /// equal what CFS promises: nice -20 -> 88761 tickets, nice 19 -> 15, SCHED_IDLE -> 3.
    case weight
    /// Tickets = 20 - nice: nice -20 -> 40, nice 0 -> 20, nice 19 -> 1 (SCHED_IDLE -> 1).
    /// A linear scale, as in textbook lottery examples; far flatter than CFS's
    /// ~1.25x-per-step geometric weights, which is the point of comparing them.
    case linear

    /// Tickets for a task at `nice` (clamped to -20...19) with `policy` (0/3/5).
    public func tickets(nice: Int, policy: Int = NiceWeight.policyOther) -> UInt64 {
        switch self {
        case .weight:
            return NiceWeight.weight(nice: nice, policy: policy)
        case .linear:
            return policy == NiceWeight.policyIdle ? 1 : UInt64(20 - NiceWeight.clampedNice(nice))
        }
    }
}

/// A lottery (or stride) participant.
public struct LotteryTask: Sendable, Hashable {
    /// The task's pid (or any unique id).
    public var id: Int
    /// Ticket count; 0 means it never wins.
    public var tickets: UInt64

    /// Creates a participant.
    public init(id: Int, tickets: UInt64) {
        self.id = id
        self.tickets = tickets
    }

    /// Creates a participant whose tickets come from nice/policy via `mapping`.
    public init(id: Int, nice: Int, policy: Int = NiceWeight.policyOther, mapping: TicketMapping = .weight) {
        self.init(id: id, tickets: mapping.tickets(nice: nice, policy: policy))
    }
}

/// One task's result over some number of draws.
public struct LotteryOutcome: Sendable, Hashable {
    /// The task's id.
    public var id: Int
    /// Its tickets.
    public var tickets: UInt64
    /// Draws it won.
    public var wins: Int
    /// Wins / draws, in percent.
    public var winPercent: Double
    /// Tickets / total tickets, in percent: what the lottery promises in the long run.
    public var theoreticalPercent: Double
    /// winPercent - theoreticalPercent, in percentage points.
    public var errorPP: Double { winPercent - theoreticalPercent }
}

/// Results of a batch of draws, tasks in input order.
public struct LotteryReport: Sendable, Hashable {
    /// Number of draws in this batch.
    public var draws: Int
    /// Per-task results.
    public var outcomes: [LotteryOutcome]
    /// Largest |errorPP| over the tasks (0 when there are none).
    public var maxAbsErrorPP: Double { outcomes.map { abs($0.errorPP) }.max() ?? 0 }
}

/// A continuable lottery: successive `sample(draws:)` calls consume one seeded
/// stream, so samples 1...k together equal a single run of their total length.
public struct LotterySimulation: Sendable {
    /// Participants, in the order results are reported.
    public let tasks: [LotteryTask]
    /// Total tickets in the pool.
    public let totalTickets: UInt64
    /// Wins per task (input order) over all samples so far.
    public private(set) var totalWins: [Int]
    /// Draws over all samples so far.
    public private(set) var totalDraws = 0
    private var generator: LotteryRNG
    /// Running ticket sums: task i wins draw r iff cumulative[i-1] <= r < cumulative[i].
    private let cumulative: [UInt64]

    /// Starts a simulation for `tasks` with the stream determined by `seed`.
    public init(tasks: [LotteryTask], seed: UInt64) {
        self.tasks = tasks
        var running: UInt64 = 0
        cumulative = tasks.map { running += $0.tickets; return running }
        totalTickets = running
        totalWins = Array(repeating: 0, count: tasks.count)
        generator = LotteryRNG(seed: seed)
    }

    /// Runs `draws` more draws and reports this sample alone (totals keep accumulating).
    /// With no tickets in the pool nobody can win and no randomness is consumed.
    public mutating func sample(draws: Int) -> LotteryReport {
        var wins = Array(repeating: 0, count: tasks.count)
        if totalTickets > 0 {
            for _ in 0..<max(draws, 0) {
                wins[winner(of: generator.uniform(below: totalTickets))] += 1
            }
        }
        for i in wins.indices { totalWins[i] += wins[i] }
        totalDraws += max(draws, 0)
        return report(wins: wins, draws: max(draws, 0))
    }

    /// Report over all draws so far.
    public var cumulativeReport: LotteryReport { report(wins: totalWins, draws: totalDraws) }

    /// One-shot convenience: `draws` draws from a fresh simulation seeded with `seed`.
    public static func run(tasks: [LotteryTask], draws: Int, seed: UInt64) -> LotteryReport {
        var simulation = LotterySimulation(tasks: tasks, seed: seed)
        return simulation.sample(draws: draws)
    }

    /// Index of the task owning ticket number `ticket` (binary search on `cumulative`).
    private func winner(of ticket: UInt64) -> Int {
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] > ticket { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }

    private func report(wins: [Int], draws: Int) -> LotteryReport {
        let outcomes = tasks.indices.map { i in
            LotteryOutcome(
                id: tasks[i].id, tickets: tasks[i].tickets, wins: wins[i],
                winPercent: draws > 0 ? Double(wins[i]) * 100 / Double(draws) : 0,
                theoreticalPercent: totalTickets > 0 ? Double(tasks[i].tickets) * 100 / Double(totalTickets) : 0)
        }
        return LotteryReport(draws: draws, outcomes: outcomes)
    }
}
