import Foundation
import StarveHost
import StarveModel

/// Slurm's view of the jobs: `squeue --json` (Slurm 21.08+; no slurmdbd needed). Finished jobs
/// stay listed for the controller's MinJobAge (300 s by default).
public enum SlurmQueue {
    /// Parses `squeue --json` output (openapi v0.0.37/38 job records).
    public static func parse(json data: Data) throws -> [SlurmJob] {
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw StarveError("squeue --json printed no JSON object")
        }
        if let errors = top["errors"] as? [[String: Any]], let first = errors.first {
            let text = (first["error"] as? String) ?? (first["description"] as? String) ?? "\(first)"
            throw StarveError("Slurm is not answering (squeue --json: \(text)); is slurmctld running? (scripts/slurm.sh status)")
        }
        guard let jobs = top["jobs"] as? [[String: Any]] else { throw StarveError("squeue --json printed no jobs list") }
        return jobs.compactMap { j in
            guard let id = int(j["job_id"]) else { return nil }
            // 22.05: job_state is a string; 23.02+: a list of strings.
            let state = (j["job_state"] as? String) ?? ((j["job_state"] as? [String])?.first) ?? "UNKNOWN"
            return SlurmJob(id: String(id), name: (j["name"] as? String) ?? "", user: (j["user_name"] as? String) ?? "",
                            uid: UInt32(clamping: int(j["user_id"]) ?? 0), state: state, cpus: int(j["cpus"]) ?? 0,
                            startTime: Int64(int(j["start_time"]) ?? 0), endTime: Int64(int(j["end_time"]) ?? 0))
        }
    }

    /// A number, or Slurm 23.02+'s `{"set": true, "number": N}`.
    private static func int(_ v: Any?) -> Int? {
        switch v {
        case let n as Int: return n
        case let n as Double: return Int(n)
        case let n as NSNumber: return n.intValue
        case let d as [String: Any]:
            if let set = d["set"] as? Bool, !set { return nil }
            return int(d["number"])
        default: return nil
        }
    }

    /// Runs `squeue --json` (SLURM_CONF from the environment) and parses it. One-line errors:
    /// Slurm not installed, the controller not answering.
    public static func query(squeue: String = "squeue") throws -> [SlurmJob] {
        guard let path = findExecutable(squeue) else {
            throw StarveError("Slurm is not installed here: no \(squeue) in PATH (scripts/slurm.sh start sets up a local one)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--json", "--states=all"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw StarveError("cannot run \(path): \(error.localizedDescription)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let line = errText.split(separator: "\n").first.map(String.init) ?? "exit status \(p.terminationStatus)"
            throw StarveError("Slurm is not answering (squeue: \(line)); is slurmctld running? (scripts/slurm.sh status)")
        }
        return try parse(json: data)
    }

    static func findExecutable(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for d in dirs {
            let p = "\(d)/\(name)"
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }
}
