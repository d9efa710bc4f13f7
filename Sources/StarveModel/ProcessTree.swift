/// A process's place in the process tree: its parent, process group and session, as
/// `/proc/<pid>/stat` fields 4, 5 and 6 give them.
public struct ProcessLink: Sendable, Equatable {
    public var pid: UInt32
    public var parent: UInt32
    public var group: UInt32
    public var session: UInt32

    public init(pid: UInt32, parent: UInt32, group: UInt32, session: UInt32) {
        self.pid = pid
        self.parent = parent
        self.group = group
        self.session = session
    }

    /// Leads its session (called setsid(): an interactive shell, a daemon, a tmux pane, ...).
    public var leadsSession: Bool { session == pid }
}

/// Where a process's tree starts: `root` is the topmost ancestor of the process (or the
/// process itself) that is still part of the same piece of work; `key` names the tree: the
/// root's pid, or for a job of a job-control shell the job's process group (a pipeline `a | b`
/// is two roots in one group: one tree).
public struct TreeRoot: Hashable, Sendable {
    public var key: UInt32
    public var root: UInt32

    public init(key: UInt32, root: UInt32) {
        self.key = key
        self.root = root
    }
}

/// Groups processes into process trees: what `starve-dump jobs --by tree` sums. Pure: the
/// links come from `/proc/<pid>/stat`.
///
/// The root of a process P is found by walking up from P (Q = P, then its parent, ...) and
/// stopping at the first Q where
/// 1. Q's parent is unknown (gone, or outside the table) or is PID 0, 1 (init) or 2 (kthreadd):
///    orphans and services are their own trees;
/// 2. Q started a session of its own (a session other than its parent's: `setsid`, a daemon, an
///    sshd connection, a tmux pane's shell);
/// 3. Q's parent leads the session and Q is in another process group than it: Q is a job that a
///    job-control (interactive) shell put in a group of its own — `make -j`, a pipeline, a
///    script started from a terminal. Such roots are keyed by their process group, so the
///    commands of one pipeline are one tree.
///
/// Everything a non-interactive shell (a batch script, `sh -c`) starts stays in its tree (its
/// children share its process group), and so does what a build tool starts in process groups
/// of their own (ninja's commands), as long as they stay in the session. A subreaper's adopted
/// orphans join the subreaper's tree.
public enum ProcessTree {
    /// Deepest walk: pids read at different moments can, in a race, form a loop.
    public static let maxDepth = 4096

    /// The root of `pid`'s tree; nil when `pid` is not in `links`.
    public static func root(of pid: UInt32, in links: [UInt32: ProcessLink]) -> TreeRoot? {
        guard var q = links[pid] else { return nil }
        for _ in 0..<maxDepth {
            guard q.parent > 2, let parent = links[q.parent], parent.pid != q.pid else { break }  // rule 1
            if q.session != parent.session { break }  // rule 2
            if parent.leadsSession && q.group != parent.group {  // rule 3
                return TreeRoot(key: q.group != 0 ? q.group : q.pid, root: q.pid)
            }
            q = parent
        }
        return TreeRoot(key: q.pid, root: q.pid)
    }

    /// The tree of every process in `links`, walked once per ancestor chain.
    public static func roots(_ links: [UInt32: ProcessLink]) -> [UInt32: TreeRoot] {
        var out: [UInt32: TreeRoot] = [:]
        out.reserveCapacity(links.count)
        for pid in links.keys where out[pid] == nil {
            // Walk up until a process whose tree is known or the root; all on the way share it.
            var chain: [UInt32] = []
            var q = links[pid]!
            var found: TreeRoot?
            for _ in 0..<maxDepth {
                if let known = out[q.pid] { found = known; break }
                chain.append(q.pid)
                guard q.parent > 2, let parent = links[q.parent], parent.pid != q.pid, q.session == parent.session else {
                    found = TreeRoot(key: q.pid, root: q.pid)
                    break
                }
                if parent.leadsSession && q.group != parent.group {
                    found = TreeRoot(key: q.group != 0 ? q.group : q.pid, root: q.pid)
                    break
                }
                q = parent
            }
            let r = found ?? TreeRoot(key: q.pid, root: q.pid)
            for p in chain { out[p] = r }
        }
        return out
    }
}

/// The fields of a `/proc/<pid>/stat` line after the command name, which may itself hold spaces
/// and parentheses: index 0 is field 3 (state), so field n (1-based, as in proc(5)) is index n - 3.
public enum ProcStat {
    /// The fields; with `through`, split only as far as that field (the rest stays in the last
    /// element). Nil when the line has no command name.
    public static func fields(_ stat: String, through field: Int? = nil) -> [Substring]? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let rest = stat[stat.index(after: close)...]
        if let field { return rest.split(separator: " ", maxSplits: max(0, field - 2)) }
        return rest.split(separator: " ")
    }
}
