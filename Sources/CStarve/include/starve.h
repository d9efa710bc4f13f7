/* starve.h - the one definition of everything that crosses the kernel/user boundary.
 *
 * Included by the BPF programs (bpf/ sources, after vmlinux.h) and imported by Swift through the
 * CStarve module. Fixed-width fields only, explicitly padded, sizes checked on both sides
 * (_Static_assert here, MemoryLayout in the Swift tests). Change a layout here and nowhere else.
 */
#ifndef STARVE_H
#define STARVE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bump when any struct below changes: the loader pins it, the reader refuses a mismatch. */
#define STARVE_ABI_VERSION 6

#define STARVE_COMM_LEN 16

/* Run-queue wait histograms are log2 over nanoseconds: slot i counts waits w with
 * 2^i <= w < 2^(i+1) ns (slot 0 also takes w < 1); the last slot takes everything above. */
#define STARVE_HIST_SLOTS 36

/* The starvation-length histogram in `starve_stats`: log2 slots from 2^20 ns (1.05 ms, below any
 * sensible starvation threshold) to 2^35 ns (34 s) and above. */
#define STARVE_STARVATION_SLOT_BASE 20
#define STARVE_STARVATION_SLOTS 16

/* se.load.weight is scaled by 2^10 on 64-bit kernels (scale_load); the reader shifts it back. */
#define STARVE_WEIGHT_SHIFT 10

/* Why a task is waiting on a run queue. */
enum starve_wait_cause {
	STARVE_WAIT_NONE = 0,
	STARVE_WAIT_WAKEUP = 1,  /* woken up (or newly created) and not yet on a CPU */
	STARVE_WAIT_PREEMPT = 2, /* switched out while still runnable */
	STARVE_WAIT_THROTTLED = 3, /* switched out runnable while its cgroup was throttled (CFS quota) */
};

/* Where the programs take run-queue waits from (a load-time setting). */
enum starve_wait_source {
	/* The kernel's own sched_info bracket (CONFIG_SCHED_INFO, 5.14+): task->sched_info.last_queued,
	 * closed at switch-in against the run queue's clock. Exactly what /proc/<pid>/schedstat sums,
	 * and no per-wakeup work at all. */
	STARVE_WAIT_SOURCE_SCHED_INFO = 0,
	/* Our own bracket: opened on sched_wakeup/sched_wakeup_new and at a runnable switch-out. */
	STARVE_WAIT_SOURCE_WAKEUP = 1,
};

/* Who took the CPU from a task switched out while still runnable. */
#define STARVE_ROOT_CGROUP_ID 1 /* the root cgroup's id in every hierarchy */

/* struct starve_task flags */
#define STARVE_TASK_KTHREAD (1u << 0) /* PF_KTHREAD was set when last seen */

/* Who made a thread wait, kept in the thread's own storage (no hash on the hot path): one
 * preemptor (cgroup, process), the waits booked to it and their total. A process is its tgid
 * and a start tag (see starve_task.process_start), so a reused tgid is another process.
 * The first STARVE_PAIR_PROCESS_SLOTS slots name processes; once they are taken, the rest name
 * a cgroup's other processes together (tgid STARVE_PREEMPTOR_OTHER, start 0), so that a thread
 * preempted by many processes (a saturated host: everyone preempts everyone) still books in its
 * own storage; only when those are taken too does a wait go to `preempt_pairs`. */
#define STARVE_PAIR_SLOTS 8
#define STARVE_PAIR_PROCESS_SLOTS 6
#define STARVE_PREEMPTOR_OTHER 0xffffffffu

struct starve_pair_slot {
	__u64 preemptor_cgroup_id; /* cpu-controller cgroup; 0 with tgid 0: nobody (the CPU went idle) */
	__u32 preemptor_tgid;
	__u32 preemptor_start;     /* the preemptor process's start tag */
	__u64 count;               /* waits booked to it */
	__u64 wait_ns;             /* their total length */
	__u64 max_ns;
};

/* Where a thread's time off the CPU went, besides run-queue waits (the `jobs` section at the end
 * of this header says more): sleeps timed from a switch-out while not runnable to the wakeup
 * (sched_waking), booked as blocked in I/O when the kernel marked the sleep as an I/O wait
 * (task->in_iowait, set by io_schedule: page and buffer I/O, direct I/O) or the thread slept
 * uninterruptibly (what the load average counts: fsync waiting for a journal commit), and as
 * other sleep otherwise. Kept only with starve-load --jobs (settings.jobs). */
struct starve_job_time {
	__u64 blocked_io_ns; /* asleep in io_schedule(), or uninterruptibly */
	__u64 sleep_ns;      /* asleep otherwise: waiting for an event, a lock, a timer, input */
};

/* One run-queue wait accumulator. */
struct starve_wait {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
};

/* One thread as the `tasks` iterator reports it (a pinned BPF iterator over every thread: reading
 * the pin runs it). Identity and the kernel's own counters are read from task_struct at read
 * time, so the hot path never keeps them; the wait and preemption statistics are the programs'
 * own, kept in task-local storage from the thread's first switch-in. Counters only grow; the
 * reader computes deltas. */
struct starve_task {
	__u32 pid;
	__u32 tgid;
	char comm[STARVE_COMM_LEN];
	__s32 nice;          /* static_prio - 120 */
	__u32 static_prio;   /* 100..139 for normal tasks */
	__u32 prio;          /* effective priority (lower runs first; < 100 is real-time) */
	__u32 policy;        /* SCHED_OTHER=0, FIFO=1, RR=2, BATCH=3, IDLE=5, DEADLINE=6 */
	__u64 weight;        /* se.load.weight, scaled by 2^STARVE_WEIGHT_SHIFT on 64-bit kernels */
	__u64 cpu_cgroup_id; /* cgroup id in the cpu controller's hierarchy (v1 cpu, or v2) */
	__u64 dfl_cgroup_id; /* cgroup id in the default (v2) hierarchy */
	__u64 start_time_ns; /* task->start_time (CLOCK_MONOTONIC): tells a reused pid from the old one */
	__u64 runtime_ns;    /* on-CPU time since the thread started: se.sum_exec_runtime (the kernel's
	                      * own count, which leaves out IRQ and steal time), plus the current
	                      * stretch of a thread on a CPU */
	__u64 voluntary_switches;   /* nvcsw: switched out while sleeping or blocking */
	__u64 involuntary_switches; /* nivcsw: switched out while still runnable (preempted) */
	struct starve_wait wait_wakeup;  /* waits that started with a wakeup */
	struct starve_wait wait_preempt; /* waits that started with a preemption */
	__u64 migrations;    /* se.nr_migrations */
	__u32 last_cpu;
	__u32 flags;         /* STARVE_TASK_* */
	__u32 wait_hist[STARVE_HIST_SLOTS]; /* all causes together; wraps at 2^32 (reader uses modular deltas) */
	struct starve_wait wait_throttled; /* waits that started with a switch-out under CFS throttling */
	/* Involuntary switch-outs by who took the CPU: a task of the same cpu cgroup, of another
	 * (non-root) cgroup, or the system (a kernel thread, or a task of the root cgroup). */
	__u64 preempted_same;
	__u64 preempted_other;
	__u64 preempted_system;
	__u64 preemptions_caused; /* times this task took the CPU from a still-runnable task */
	__u64 migration_storms;   /* migration-storm events raised for this task */

	/* State at read time, on the programs' clock: the run queues' (sched_clock) with the
	 * sched_info wait source, CLOCK_MONOTONIC with the wakeup one; struct starve_cpu tells
	 * readers "now". */
	__u64 queued_at_ns;  /* waiting on a run queue since; 0: not waiting */
	__u64 oncpu_at_ns;   /* on a CPU since; 0: not running; 1: running since a time not known
	                      * (the wakeup wait source has no sched_info to date it by) */
	__u32 queued_cause;  /* enum starve_wait_cause of the open wait (NONE: a wakeup, or unknown) */
	__u32 _pad;
	/* Parts of the open wait the kernel has already added to sched_info.run_delay: the task
	 * was queued on one CPU, then dequeued without running (moved by the load balancer while
	 * queued, stopped) and queued again. The open wait is this plus now - queued_at_ns. */
	__u64 queued_earlier_ns;
	/* Start tag of the thread's process: its group leader's start_time >> 20 (about a
	 * millisecond), truncated to 32 bits. With the tgid it names one process: a reused tgid
	 * comes with another tag. */
	__u32 process_start;
	__u32 _pad2;
	/* The victim side of the victim x preemptor matrix for this thread: its first preemptors
	 * by process, then by cgroup (see STARVE_PAIR_SLOTS; empty slots: count 0). More go to
	 * `preempt_pairs` at once; the slots go there when the thread exits. */
	struct starve_pair_slot pairs[STARVE_PAIR_SLOTS];
	struct starve_job_time job; /* off-CPU time by kind: with the load's --jobs, else zeros */
	__u64 _reserved[2];
};

/* The value of the per-CPU `cpu_current` array: the task each CPU last switched to, and the
 * programs' clock at that switch: the latest over CPUs is the readers' "now" on that clock
 * (behind by the time since the last context switch anywhere). */
struct starve_cpu {
	__u32 pid;
	__u32 _pad;
	__u64 clock_ns;
};

/* What the programs saw and what they could not record: the only value of the per-CPU `stats`
 * array. Nothing is dropped silently: every lost record is counted here. */
struct starve_stats {
	__u64 switches;          /* sched_switch events */
	__u64 wakeups;           /* sched_wakeup + sched_wakeup_new events */
	__u64 migrations;        /* migrations of tracked threads, counted at their next switch-in
	                          * (growth of se.nr_migrations; no program on sched_migrate_task) */
	__u64 exits;             /* sched_process_exit events (task entries removed) */
	__u64 tasks_created;     /* threads given task-local storage (at their first switch-in) */
	__u64 storage_failures;  /* a thread could not be given task-local storage (no memory): its
	                          * waits are not counted until a later switch-in succeeds */
	__u64 missed_wakeups;    /* switch-in of a known task with no recorded start of its wait */
	__u64 throttled_switches; /* runnable switch-outs under CFS throttling */
	__u64 events_emitted;     /* events written to the `events` ring buffer */
	__u64 events_ringbuf_full;  /* lost: the ring buffer had no room (reader too slow or absent) */
	__u64 events_rate_limited;  /* lost: over the per-cgroup per-CPU rate limit */
	__u64 events_sampled_out;   /* left out by --sample */
	__u64 events_filtered;      /* left out by the PID filter */
	__u64 pairs_map_full;     /* a preemption pair could not be added: `preempt_pairs` was full */
	__u64 kstack_failures;    /* a kernel stack could not be taken (the event went out without it) */
	__u64 inversions;         /* priority inversions detected (before volume controls) */
	__u64 pi_boosts;          /* sched_pi_setprio boosts seen */
	__u64 migration_storms;   /* migration storms detected (before volume controls) */
	__u64 starvations;        /* waits over the starvation threshold (before volume controls) */
	__u64 ustack_failures;    /* a user stack of a user task could not be taken */
	__u64 stacks_ringbuf_full; /* an event went out without its stacks: `event_stacks` had no room */
	__u64 event_seq;          /* events reserved on this CPU: the low bits of starve_event.seq */
	__u64 pairs_created;      /* entries added to `preempt_pairs` (less the live entries: evicted) */
	__u64 pairs_overflow;     /* waits booked to `preempt_pairs` directly: the victim thread's own
	                           * slots were taken by other preemptors */
	__u64 pairs_folded;       /* thread slots moved into `preempt_pairs` when their thread exited */
	__u64 exited_folded;      /* threads folded into `exited` at exit */
	__u64 exited_created;     /* entries added to `exited` (less the live entries: evicted) */
	__u64 exited_dropped;     /* threads whose figures could not be folded (no entry) */
	__u64 exits_tracked;      /* exits of threads with storage: less exited_folded, the threads
	                           * whose last switch-out the tracepoint did not show (not folded) */
	__u64 jobs_storage_failures; /* --jobs: a sleep could not be timed (no storage for the thread) */
	/* Starvations by severity (within `starvations`, counted where one is detected, before the
	 * volume controls): waits at or over threshold_ns[1] (severe) and threshold_ns[2] (critical). */
	__u64 starvations_severe;
	__u64 starvations_critical;
	/* Their lengths: the total, and a log2 histogram, slot i counting waits w with
	 * 2^(i + STARVE_STARVATION_SLOT_BASE) <= w < 2^(i + 1 + base) ns (slot 0 also takes the
	 * shorter ones, the last slot everything longer). Exact cumulative counts at 2^k ns. */
	__u64 starvation_ns;
	__u64 starvation_hist[STARVE_STARVATION_SLOTS];
	__u64 _reserved[2];
};

/* Starvation severities: a wait at or above threshold_ns[i] has severity i + 1. */
enum starve_severity {
	STARVE_SEVERITY_STARVED = 1,
	STARVE_SEVERITY_SEVERE = 2,
	STARVE_SEVERITY_CRITICAL = 3,
};

/* Load-time settings of the programs: the one `const volatile` global in section
 * .rodata.settings, written by starve-load before load (the verifier then prunes what they
 * turn off), and copied into the pinned config map for readers. */
struct starve_settings {
	__u64 threshold_ns[3];    /* starved, severe, critical (default 100, 500, 1000 ms) */
	__u64 inversion_min_ns;   /* a task blocked at least this long, woken by a less important
	                           * task that waited on a run queue for most of that time */
	__u64 storm_window_ns;    /* migration-storm window */
	__u32 storm_migrations;   /* migrations of one task within the window that make a storm */
	__u32 rate_limit;         /* events per second per cgroup per CPU; 0: unlimited */
	__u32 sample_one_in;      /* emit one event in N (1: all) */
	__u32 pid_filter;         /* 1: events only about the pids/tgids in `event_pids` */
	__u32 wait_source;        /* enum starve_wait_source */
	__u32 events;             /* 0: no events at all (counters only) */
	__u32 jobs;               /* 1: time sleeps, blocked in I/O or not (bpf/jobs.bpf.h); 0: off */
	__u32 sysnet;             /* STARVE_SYSNET_* bits: syscalls by name, network bytes (bpf/sysnet.bpf.h) */
	__u64 _reserved[3];
};

struct starve_config {
	__u32 abi_version;  /* STARVE_ABI_VERSION */
	__u32 _unused;
	__u64 loaded_at_ns; /* CLOCK_MONOTONIC at load */
	struct starve_settings settings;
	__u32 events_bytes; /* size of the `events` ring buffer */
	__u32 max_pairs;    /* size of `preempt_pairs` */
	__u32 flags;        /* STARVE_CONFIG_* */
	__u32 stacks_bytes; /* size of the `event_stacks` ring buffer */
	__u32 max_exited;   /* size of `exited` */
	__u32 _pad;
	__u64 _reserved[3];
};

/* struct starve_config flags */
#define STARVE_CONFIG_GROUP_STACKS (1u << 0) /* the load --group may read `event_stacks` (raw kernel
                                             * and user addresses); by default root only */

/* The victim x preemptor matrix, for what has left the threads' own slots: the waits of threads
 * that exited (folded in at exit), and of threads with more preemptors than slots. An LRU hash:
 * under churn, entries of long-gone processes are evicted first, in bounded memory; evictions are
 * pairs_created less the live entries. Counters in an entry only grow while it lives; a reader
 * treats an entry that vanished as evicted (its last value stays counted) and one that appears
 * as new. Counted with atomic adds (any CPU may fold into an entry). A wait is booked when it
 * ends (the victim gets a CPU back): every wait that began with a preemption, to who took the
 * CPU then, and every wakeup wait of 1 ms or more, to the task that held the CPU until the
 * victim got it. Cgroups are cpu-controller cgroup ids. */
struct starve_pair_key {
	__u64 victim_cgroup_id;
	__u64 preemptor_cgroup_id;
	__u32 victim_tgid;
	__u32 preemptor_tgid;
	__u32 victim_start;    /* process start tags (starve_task.process_start) */
	__u32 preemptor_start;
};

struct starve_pair {
	__u64 count;   /* waits booked */
	__u64 wait_ns; /* their total length */
	__u64 max_ns;
	__u64 _reserved;
};

/* What the threads of one process in one cgroup did before they exited: the value of `exited`,
 * keyed by (cpu cgroup, process). A thread's own figures are folded in when it exits (the
 * kernel's runtime and switch counts, the programs' waits, histogram and preemptions), so
 * per-process and per-cgroup figures keep the work of threads that lived less than a sample.
 * An LRU hash: under churn, entries of long-gone processes are evicted (exited_created less the
 * live entries); counters of an entry only grow while it lives (atomic adds). */
struct starve_exited_key {
	__u64 cgroup_id; /* cpu-controller cgroup the thread was in when it exited */
	__u32 tgid;
	__u32 start;     /* process start tag (starve_task.process_start) */
};

struct starve_exited {
	__u64 threads;   /* threads folded in */
	__u64 runtime_ns;
	__u64 voluntary_switches;
	__u64 involuntary_switches;
	struct starve_wait wait_wakeup;  /* max_ns: the largest of the threads' */
	struct starve_wait wait_preempt;
	struct starve_wait wait_throttled;
	__u64 preempted_same;
	__u64 preempted_other;
	__u64 preempted_system;
	__u64 preemptions_caused;
	__u64 migrations;
	__u64 wait_hist[STARVE_HIST_SLOTS];
	struct starve_job_time job; /* the threads' off-CPU time by kind (--jobs) */
	__u64 _reserved[2];
};

/* Events on the `events` ring buffer. */
enum starve_event_kind {
	STARVE_EVENT_STARVATION = 1,   /* a run-queue wait over threshold_ns[0] ended */
	STARVE_EVENT_INVERSION = 2,    /* a task was blocked long by a less important task that waited */
	STARVE_EVENT_PI_BOOST = 3,     /* the kernel lent a lock owner its top waiter's priority */
	STARVE_EVENT_PI_RESTORE = 4,   /* ... and took it back */
	STARVE_EVENT_MIGRATION_STORM = 5, /* one task migrated storm_migrations times in a window */
};

/* struct starve_event flags */
#define STARVE_EVENT_THROTTLED (1u << 0) /* the wait began under CFS throttling */
#define STARVE_EVENT_PREEMPTED (1u << 1) /* the wait began with a preemption (else a wakeup) */
#define STARVE_EVENT_STACKS    (1u << 2) /* a starve_event_stacks record with this seq was written
                                          * to `event_stacks` before this event */

/* A task as an event names it. */
struct starve_event_task {
	__u32 pid;
	__u32 tgid;
	char comm[STARVE_COMM_LEN];
	__u64 cgroup_id; /* cpu-controller cgroup */
	__u32 prio;      /* effective priority (lower runs first) */
	__s32 nice;
	__u32 policy;
	__u32 flags;     /* STARVE_TASK_* */
};

/* An event on the `events` ring buffer: no addresses at all, so the load --group may read it.
 * Its stacks (kernel and user addresses) go to `event_stacks`, root-only unless the load grants
 * them (--group-stacks): the pins never hand a reader what the kernel would hide from it. */
struct starve_event {
	__u32 kind;       /* enum starve_event_kind */
	__u32 cpu;
	__u64 time_ns;    /* CLOCK_MONOTONIC */
	__u64 duration_ns; /* starvation: the wait; inversion: how long the task was blocked;
	                    * storm: the window; pi: 0 */
	__u64 value;      /* inversion: the blocking task's run-queue wait during the block;
	                   * storm: migrations in the window; pi: the priority lent or restored */
	__u32 severity;   /* enum starve_severity (starvation), else 0 */
	__u32 flags;      /* STARVE_EVENT_* */
	/* starvation: the starved task; inversion: the blocked task; pi: the lock owner;
	 * storm: the migrating task */
	struct starve_event_task task;
	/* starvation: the task that held the CPU until the starved one got it; inversion: the
	 * blocking task (it woke the blocked one); pi: the top waiter; storm: unused */
	struct starve_event_task other;
	/* starvation: who took the CPU when the wait began (preemptions); inversion: who kept the
	 * blocking task off its CPU longest */
	struct starve_event_task third;
	__u64 seq;        /* (cpu + 1) << 48 | per-CPU count: unique while loaded; the key of its stacks */
	__u64 _reserved[2];
};

#define STARVE_EVENT_STACK_DEPTH 24 /* frames of the task's own kernel stack */
#define STARVE_STACK_DEPTH 32       /* frames of the current task's kernel and user stacks */

/* The stacks of one event, on the `event_stacks` ring buffer, written just before the event.
 * Taken inline (bpf_get_stack), so capture never depends on a table that fills up. */
struct starve_event_stacks {
	__u64 seq;             /* the event's */
	__u32 kind;            /* the event's */
	__u32 task_kstack_len; /* frames in task_kstack */
	__u32 kstack_len;      /* frames in kstack */
	__u32 ustack_len;      /* frames in ustack */
	__u32 ustack_tgid;     /* the process ustack belongs to (the current task's) */
	__u32 _pad;
	/* The kernel stack the event's `task` stopped at (where it blocked or was preempted). */
	__u64 task_kstack[STARVE_EVENT_STACK_DEPTH];
	/* The current task's at the event (the holder for starvation, the waker for inversion). */
	__u64 kstack[STARVE_STACK_DEPTH];
	__u64 ustack[STARVE_STACK_DEPTH];
};
/* Defaults, defined here once: the programs' compiled-in settings and starve-load's flags. */
#define STARVE_DEFAULT_THRESHOLD_STARVED_NS 100000000ULL   /* 100 ms */
#define STARVE_DEFAULT_THRESHOLD_SEVERE_NS 500000000ULL    /* 500 ms */
#define STARVE_DEFAULT_THRESHOLD_CRITICAL_NS 1000000000ULL /* 1 s */
#define STARVE_DEFAULT_INVERSION_MIN_NS 50000000ULL        /* 50 ms */
/* A user thread moved across CPUs 100 times within 1 s. Measured here (2 CPUs, 6.18): ordinary
 * loads stay far below (unpinned busy loops balanced by the kernel at most 6 per second per
 * thread, duty-cycle workers 3, perf bench sched messaging 37, the pinned demo 0); a busy loop
 * whose affinity flips every 5 ms makes 176-200, every 7 ms 144 (docs/signals.md). */
#define STARVE_DEFAULT_STORM_MIGRATIONS 100
#define STARVE_DEFAULT_STORM_WINDOW_NS 1000000000ULL
#define STARVE_DEFAULT_RATE_LIMIT 20 /* events per second per cgroup per CPU */
#define STARVE_DEFAULT_MAX_PAIRS 16384
#define STARVE_DEFAULT_MAX_EXITED 16384
#define STARVE_DEFAULT_EVENTS_BYTES (1u << 20)
/* Stack records are 3.5 times an event: four times the bytes keep as many of them. */
#define STARVE_DEFAULT_STACKS_BYTES (1u << 22)

/* Checked by every compiler that sees this header: clang -target bpf, clang for Swift's importer. */
_Static_assert(sizeof(struct starve_wait) == 24, "starve_wait layout");
_Static_assert(sizeof(struct starve_pair_slot) == 40, "starve_pair_slot layout");
_Static_assert(sizeof(struct starve_task) == 760, "starve_task layout");
_Static_assert(sizeof(struct starve_cpu) == 16, "starve_cpu layout");
_Static_assert(sizeof(struct starve_stats) == 408, "starve_stats layout");
_Static_assert(sizeof(struct starve_settings) == 96, "starve_settings layout");
_Static_assert(sizeof(struct starve_config) == 160, "starve_config layout");
_Static_assert(sizeof(struct starve_pair_key) == 32, "starve_pair_key layout");
_Static_assert(sizeof(struct starve_pair) == 32, "starve_pair layout");
_Static_assert(sizeof(struct starve_exited_key) == 16, "starve_exited_key layout");
_Static_assert(sizeof(struct starve_exited) == 464, "starve_exited layout");
_Static_assert(sizeof(struct starve_event_task) == 48, "starve_event_task layout");
_Static_assert(sizeof(struct starve_event) == 208, "starve_event layout");
_Static_assert(sizeof(struct starve_event_stacks) == 736, "starve_event_stacks layout");

/* ===================== futex contention (starve-load --futex; bpf/futex.bpf.h) =====================
 * Kept together at the end of the header: only the futex programs and their readers use it. */

/* `futex_threads` value, keyed by tid (__u32): futex waits of one thread. Counters only grow. */
struct starve_futex_thread {
	__u64 wait_ns;       /* time from entering a futex wait to leaving it, summed */
	__u64 waits;         /* futex waits finished */
	__u64 open_since_ns; /* bpf_ktime_get_ns() at entry of the wait in progress; 0: none */
	__u32 tgid;
	__u32 _pad;
};

/* `futex_stats`, per CPU: what the futex programs did and could not do. */
struct starve_futex_stats {
	__u64 enters;          /* futex waits entered */
	__u64 insert_failures; /* a thread that could not get an entry (its wait not counted) */
};

#define STARVE_CONFIG_FUTEX (1u << 1) /* the load has --futex: futex_threads is filled */
#define STARVE_DEFAULT_MAX_FUTEX_THREADS 16384

_Static_assert(sizeof(struct starve_futex_thread) == 32, "starve_futex_thread layout");
_Static_assert(sizeof(struct starve_futex_stats) == 16, "starve_futex_stats layout");
/* ===================== end of futex contention ===================== */

/* ==== jobs (HPC job views: bpf/jobs.bpf.h, docs/jobs.md) ====
 * What the --jobs option keeps per thread: struct starve_job_time above (in starve_task.job and
 * starve_exited.job). The programs' per-thread sleep bracket is BPF-side only (jobs.bpf.h).
 * Job identity (Slurm job, step, user) is not a kernel matter: the reader takes it from the
 * threads' cgroups and environment (Sources/StarveModel/Workloads and StarveHost). */
_Static_assert(sizeof(struct starve_job_time) == 16, "starve_job_time layout");

/* The key of `job_exited`: what the threads of one Slurm job did before they exited, summed
 * (value: struct starve_exited), so that a finished job is reported complete, short-lived
 * processes included. The job id is read at the thread's exit from the name of its first
 * `job_<id>` cgroup ancestor, in the freezer hierarchy (Slurm's v1 proctrack/cgroup) or the
 * default one (v2). Kept with --jobs only. An LRU hash of STARVE_DEFAULT_MAX_JOBS entries. */
struct starve_job_key {
	__u64 job_id;
};
#define STARVE_DEFAULT_MAX_JOBS 4096

/* The kernel's task I/O accounting of a thread (task->ioac, CONFIG_TASK_IO_ACCOUNTING): what
 * /proc/<pid>/task/<tid>/io shows. */
struct starve_job_io {
	__u64 rchar;       /* bytes read by read-like syscalls (any file, pipe, socket) */
	__u64 wchar;       /* bytes written by write-like syscalls */
	__u64 syscr;       /* read-like syscalls */
	__u64 syscw;       /* write-like syscalls */
	__u64 read_bytes;  /* bytes fetched from storage */
	__u64 write_bytes; /* bytes sent to storage (dirtied pages) */
	__u64 cancelled_write_bytes;
	__u64 _reserved;
};

/* The value of `job_exited`: the exited threads' work as in `exited`, and their I/O. */
struct starve_job_exited {
	struct starve_exited work;
	struct starve_job_io io;
};
_Static_assert(sizeof(struct starve_job_key) == 8, "starve_job_key layout");
_Static_assert(sizeof(struct starve_job_io) == 64, "starve_job_io layout");
_Static_assert(sizeof(struct starve_job_exited) == 528, "starve_job_exited layout");
/* ==== end of jobs ==== */

/* ==== syscalls and network bytes (starve-load --syscalls / --net; bpf/sysnet.bpf.h, docs/jobs.md) ====
 * Both off by default. Counted per (Slurm job, process): a process's entry outlives its threads
 * (exited threads included) until the LRU evicts it; the job id is that of jobs.bpf.h (0: none),
 * cached per thread and read again only when the thread's css_set changes. */
#define STARVE_SYSNET_SYSCALLS (1u << 0) /* settings.sysnet: count syscalls by number */
#define STARVE_SYSNET_NET (1u << 1)      /* settings.sysnet: count TCP/UDP (inet) bytes sent/received */
#define STARVE_SYSNET_FUTEX_SHARED (1u << 2) /* --futex too: the syscalls program does futex's sys_enter
                                             * work, so one program, not two, runs per syscall entry */
#define STARVE_CONFIG_SYSCALLS (1u << 2) /* the load has --syscalls: sys_counts is filled */
#define STARVE_CONFIG_NET (1u << 3)      /* the load has --net: net_bytes is filled */
#define STARVE_DEFAULT_MAX_SYSCALL_KEYS 16384
#define STARVE_DEFAULT_MAX_NET_KEYS 4096

/* `sys_counts` key: one syscall number of one process of one job. Value: __u64, calls entered. */
struct starve_sys_key {
	__u64 job_id; /* Slurm job (job_<id> cgroup ancestor), 0: none */
	__u32 tgid;
	__u32 nr;     /* the syscall number of the running ABI */
};

/* `net_bytes` key: one process of one job. */
struct starve_net_key {
	__u64 job_id;
	__u32 tgid;
	__u32 _pad;
};

/* `net_bytes` value: inet (AF_INET, AF_INET6) socket bytes, from sock:sock_send_length and
 * sock:sock_recv_length (every sendmsg/recvmsg path: send*, recv*, read/write on a socket). */
struct starve_net_bytes {
	__u64 sent_bytes;
	__u64 received_bytes;
	__u64 sends;    /* sends that moved bytes */
	__u64 receives; /* receives that moved bytes */
};

/* `sysnet_stats`, per CPU: what could not be counted. */
struct starve_sysnet_stats {
	__u64 syscall_insert_failures; /* a syscall not counted: no sys_counts entry */
	__u64 net_insert_failures;     /* bytes not counted: no net_bytes entry */
	__u64 storage_failures;        /* no per-thread cache: counted under job 0 */
	__u64 _reserved;
};
_Static_assert(sizeof(struct starve_sys_key) == 16, "starve_sys_key layout");
_Static_assert(sizeof(struct starve_net_key) == 16, "starve_net_key layout");
_Static_assert(sizeof(struct starve_net_bytes) == 32, "starve_net_bytes layout");
_Static_assert(sizeof(struct starve_sysnet_stats) == 32, "starve_sysnet_stats layout");
/* ==== end of syscalls and network bytes ==== */

#endif /* STARVE_H */
