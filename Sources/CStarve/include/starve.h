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
#define STARVE_ABI_VERSION 1

#define STARVE_COMM_LEN 16

/* Run-queue wait histograms are log2 over nanoseconds: slot i counts waits w with
 * 2^i <= w < 2^(i+1) ns (slot 0 also takes w < 1); the last slot takes everything above. */
#define STARVE_HIST_SLOTS 36

/* se.load.weight is scaled by 2^10 on 64-bit kernels (scale_load); the reader shifts it back. */
#define STARVE_WEIGHT_SHIFT 10

/* Default map size (tasks tracked at once); starve-load --max-pids overrides it at load time. */
#define STARVE_DEFAULT_MAX_PIDS 32768

/* Why a task is waiting on a run queue. */
enum starve_wait_cause {
	STARVE_WAIT_NONE = 0,
	STARVE_WAIT_WAKEUP = 1,  /* woken up (or newly created) and not yet on a CPU */
	STARVE_WAIT_PREEMPT = 2, /* switched out while still runnable */
};

/* struct starve_task flags */
#define STARVE_TASK_KTHREAD (1u << 0) /* PF_KTHREAD was set when last seen */

/* One run-queue wait accumulator. */
struct starve_wait {
	__u64 total_ns;
	__u64 count;
	__u64 max_ns;
};

/* Per-thread scheduler statistics: the value of the `tasks` map, keyed by thread id (__u32 pid).
 * Counters only grow; the reader computes deltas. The last block is the BPF side's own state. */
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
	__u64 runtime_ns;    /* on-CPU time since first seen: se.sum_exec_runtime (the kernel's own
	                      * count, which leaves out IRQ and steal time) read at each switch-out,
	                      * less its value at first sight */
	__u64 voluntary_switches;   /* switched out while sleeping or blocking */
	__u64 involuntary_switches; /* switched out while still runnable (preempted) */
	struct starve_wait wait_wakeup;  /* waits that started with a wakeup */
	struct starve_wait wait_preempt; /* waits that started with a preemption */
	__u64 migrations;    /* sched_migrate_task events */
	__u32 last_cpu;
	__u32 flags;         /* STARVE_TASK_* */
	__u32 wait_hist[STARVE_HIST_SLOTS]; /* both causes together; wraps at 2^32 (reader uses modular deltas) */

	/* BPF-side state, not statistics. */
	__u64 queued_at_ns;  /* when the current wait began; 0 when not waiting */
	__u64 oncpu_at_ns;   /* when it last got a CPU; 0 when not running (or unknown) */
	__u32 queued_cause;  /* enum starve_wait_cause of the current wait */
	__u32 identity_tag;  /* low bits of the task's css_set pointer at the last identity refresh */
	__u64 runtime_base_ns; /* se.sum_exec_runtime when first seen */
};

/* System-wide run-queue latency: the only value of the per-CPU `run_hist` array. */
struct starve_hist {
	__u64 slots[STARVE_HIST_SLOTS];
	__u64 count;
	__u64 total_ns;
};

/* What the programs saw and what they could not record: the only value of the per-CPU `stats`
 * array. Nothing is dropped silently: every lost record is counted here. */
struct starve_stats {
	__u64 switches;          /* sched_switch events */
	__u64 wakeups;           /* sched_wakeup + sched_wakeup_new events */
	__u64 migrations;        /* sched_migrate_task events */
	__u64 exits;             /* sched_process_exit events (task entries removed) */
	__u64 tasks_created;     /* entries added to `tasks` */
	__u64 drop_map_full;     /* a task could not be added: `tasks` was full */
	__u64 missed_wakeups;    /* switch-in of a known task with no recorded start of its wait */
	__u64 missed_switches;   /* a CPU changed tasks without a sched_switch reaching us: the
	                          * stretch of the task last seen switching in there is not counted */
	__u64 _reserved[8];
};

/* Load-time settings of the programs (const volatile in .rodata), pinned as `config` for readers. */
struct starve_config {
	__u32 abi_version;  /* STARVE_ABI_VERSION */
	__u32 max_pids;
	__u64 loaded_at_ns; /* CLOCK_MONOTONIC at load */
	__u64 _reserved[6];
};

/* Checked by every compiler that sees this header: clang -target bpf, clang for Swift's importer. */
_Static_assert(sizeof(struct starve_wait) == 24, "starve_wait layout");
_Static_assert(sizeof(struct starve_task) == 336, "starve_task layout");
_Static_assert(sizeof(struct starve_hist) == 304, "starve_hist layout");
_Static_assert(sizeof(struct starve_stats) == 128, "starve_stats layout");
_Static_assert(sizeof(struct starve_config) == 64, "starve_config layout");

#endif /* STARVE_H */
