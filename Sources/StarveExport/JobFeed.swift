import Foundation
import StarveBPF
import StarveJobs
import StarveModel
import StarveMonitor

/// Feeds ``JobMetrics`` from the exporter's own snapshots: the job measures of each snapshot
/// (``JobAccountant``, as `starve-dump jobs` computes them: live threads named by the workload
/// pipeline, exited ones from the kernel's per-job fold with `starve-load --jobs`) and Slurm's
/// records (`squeue --json`, once per sample while this node has job threads or job series). No second sampling loop: it reads what the
/// exporter's ``Sampler`` already read, plus the `job_exited` map and squeue.
///
/// Without Slurm (no `squeue` in PATH) it says so once and adds no families.
public final class JobFeed {
    /// Slurm states of a job that has not finished: its series go on.
    public static let activeStates: Set<String> = ["RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING", "RESIZING",
                                                   "STOPPED", "SIGNALING", "STAGE_OUT", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED"]

    private var metrics: JobMetrics
    private let accountant = JobAccountant()
    private let thresholds = JobThresholds()
    private var slurm: [SlurmJob] = []
    private var slurmUp = false
    private var asked = false
    /// Exited job threads at the last sample (the kernel's per-job fold only grows).
    private var exitedSeen: UInt64 = 0
    private var lastComplaint: String?
    /// Whether Slurm is installed here (squeue in PATH) and job series are wanted.
    public let enabled: Bool

    /// `maxJobs` 0: job families off. Says once on stderr when Slurm is absent.
    public init(maxJobs: Int, retentionSeconds: Double) {
        metrics = JobMetrics(maxJobs: maxJobs, retentionSeconds: retentionSeconds)
        if maxJobs == 0 {
            enabled = false
        } else if SlurmQueue.findExecutable("squeue") == nil {
            enabled = false
            FileHandle.standardError.write(Data("starve-export: no Slurm here (no squeue in PATH): no per-job families\n".utf8))
        } else {
            enabled = true
        }
    }

    /// Takes one snapshot: asks Slurm, measures the jobs, updates the series.
    public func observe(_ snapshot: Snapshot, collection: PinnedCollection) {
        guard enabled else { return }
        let exited: [UInt64: (work: ThreadWork, io: TaskIO)]?
        do { exited = try collection.readJobExited() } catch {
            complain("cannot read the job_exited map: \(error)")
            exited = nil
        }
        let measures = accountant.measure(snapshot, jobExited: exited)
        // Slurm is asked only while this node has job threads, job series, or threads of a job
        // exited since the last sample: a node without jobs pays no squeue.
        let exitedNow = measures.values.reduce(UInt64(0)) { $0 &+ $1.exitedThreads }
        if measures.values.contains(where: { $0.liveThreads > 0 }) || metrics.hasSeries || exitedNow != exitedSeen {
            asked = true
            do {
                slurm = try SlurmQueue.query()
                slurmUp = true
                if lastComplaint != nil { say("Slurm answers again") }
                lastComplaint = nil
            } catch {
                // Keep the last records: the measures go on, Slurm's figures stand still.
                slurmUp = false
                complain("\(error); the job series keep Slurm's last figures")
            }
        }
        exitedSeen = exitedNow
        let now = snapshot.context.timestamp.timeIntervalSince1970
        // Jobs Slurm lists as started and this node measured (a thread seen, alive or exited).
        let listed = slurm.filter { $0.state != "PENDING" && measures[$0.id]?.isMeasured == true }
        let ids = Set(listed.map(\.id))
        let rows = JobRows.rows(measures: measures.filter { ids.contains($0.key) }, slurm: listed, now: now,
                                thresholds: thresholds, sleepsTimed: collection.jobsEnabled)
        let active = Set(listed.filter { Self.activeStates.contains($0.state) }.map(\.id))
        metrics.observe(rows, running: active, sleepsTimed: collection.jobsEnabled, now: now)
    }

    /// The job families and the exporter's own job figures; none without Slurm.
    public func families() -> [MetricFamily] {
        guard enabled else { return [] }
        return metrics.families() + metrics.exporterFamilies(slurmUp: asked ? slurmUp : nil)
    }

    private func complain(_ text: String) {
        guard text != lastComplaint else { return }
        lastComplaint = text
        say(text)
    }

    private func say(_ text: String) {
        FileHandle.standardError.write(Data("starve-export: \(text)\n".utf8))
    }
}
