import ArgumentParser
import Foundation
import Glibc
import StarveCore

/// Process churn for bench.sh's churn phase: F forker threads start N short-lived processes in
/// all, one at a time each (start, wait for its exit, start the next), as fast as they go. Prints
/// one CSV row: how many started, in how long, how many failed to start.
struct Churn: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "churn",
        abstract: "Start N short-lived processes from F forker threads as fast as they go; one CSV row on stdout.",
        discussion: """
            --mode spawn (the default) starts --program with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) \
            then exec), as a shell or make starts short commands; --mode fork forks children that exit at \
            once (no exec, but fork copies this process's page tables: no faster than spawn on the \
            project's machines). Each child is a new process (its own tgid) that lives from a few µs to \
            about a millisecond.
            """
    )

    enum Mode: String, ExpressibleByArgument, CaseIterable { case spawn, fork }

    @Option(help: "Processes to start in all.")
    var processes: Int = 100_000

    @Option(help: "Forker threads, each starting its share one after another.")
    var forkers: Int = 2

    @Option(help: "spawn: posix_spawn --program; fork: fork a child that exits at once.")
    var mode: Mode = .spawn

    @Option(help: "What --mode spawn runs (no arguments; its output goes to /dev/null).")
    var program: String = "/bin/true"

    func validate() throws {
        guard processes >= 1 else { throw ValidationError("--processes must be at least 1") }
        guard (1...64).contains(forkers) else { throw ValidationError("--forkers takes 1 to 64") }
        if mode == .spawn && access(program, X_OK) != 0 { throw ValidationError("\(program) is not executable") }
    }

    func run() throws {
        // Started with `&` by a script, SIGINT arrives ignored; bench.sh stops what it started
        // with SIGINT first, so take the default back: die at once (children exit on their own).
        signal(SIGINT, SIG_DFL)
        let jobs = (0..<forkers).map { i in
            ForkerJob(count: processes / forkers + (i < processes % forkers ? 1 : 0), mode: mode, program: program)
        }
        let t0 = monotonicNs()
        var threads: [pthread_t] = []
        for job in jobs {
            var t = pthread_t()
            let rc = pthread_create(&t, nil, { arg in
                Unmanaged<ForkerJob>.fromOpaque(arg!).takeUnretainedValue().run()
                return nil
            }, Unmanaged.passUnretained(job).toOpaque())
            guard rc == 0 else { throw StarveError("pthread_create: \(String(cString: strerror(rc)))") }
            threads.append(t)
        }
        for t in threads { pthread_join(t, nil) }
        let seconds = Double(monotonicNs() &- t0) / 1e9
        let started = jobs.reduce(0) { $0 + $1.started }, failed = jobs.reduce(0) { $0 + $1.failed }
        print("processes,forkers,mode,seconds,processes_per_second,failed")
        let what = mode == .spawn ? "spawn \(program)" : "fork"
        print("\(started),\(forkers),\(what),\(formatFixed(seconds, decimals: 3)),\(formatFixed(Double(started) / max(seconds, 1e-9), decimals: 0)),\(failed)")
        if started == 0 { throw StarveError("no process could be started (\(jobs.first?.lastError ?? "?"))") }
    }
}

/// One forker's share: start a child, wait for it, again.
final class ForkerJob {
    let count: Int, mode: Churn.Mode, program: String
    var started = 0, failed = 0
    var lastError = ""

    init(count: Int, mode: Churn.Mode, program: String) {
        self.count = count
        self.mode = mode
        self.program = program
    }

    func run() {
        // posix_spawn's arguments, made once: argv = [program], stdout and stderr to /dev/null.
        let path = strdup(program)!
        defer { free(path) }
        var argv: [UnsafeMutablePointer<CChar>?] = [path, nil]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var failures = 0
        while started < count {
            var pid: pid_t = 0
            switch mode {
            case .spawn:
                let rc = posix_spawn(&pid, path, &actions, nil, &argv, environ)
                if rc != 0 { pid = -1; lastError = String(cString: strerror(rc)) }
            case .fork:
                pid = fork()
                if pid == 0 { _exit(0) }  // the child: nothing but its exit
                if pid < 0 { lastError = String(cString: strerror(errno)) }
            }
            if pid < 0 {
                // EAGAIN (pid or memory limits): count it, let the others' children go, go on;
                // give up on a persistent error.
                failed += 1
                failures += 1
                if failures > 1000 { return }
                usleep(1000)
                continue
            }
            failures = 0
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            started += 1
        }
    }
}
