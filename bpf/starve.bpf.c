// SPDX-License-Identifier: GPL-2.0
/* starve.bpf.c - per-thread scheduler accounting on scheduler tracepoints.
 *
 * Every sched_switch books the previous task's on-CPU time (the kernel's own sum_exec_runtime),
 * notes when the next task got its CPU, and closes the next task's run-queue wait. A wait opens on sched_wakeup / sched_wakeup_new (cause:
 * wakeup) or when a task is switched out while still runnable (cause: preemption). This is the
 * same bracket the kernel's sched_info uses for /proc/<pid>/schedstat, which the tests hold us to.
 *
 * Hot path rules: one hash lookup per task per event, per-CPU counters (no atomics), no helper
 * call that a direct load of a trusted task pointer can replace, rare paths out of line.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "starve.h"
#include "core_fixes.bpf.h"

#define TASK_RUNNING 0
#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STARVE_DEFAULT_MAX_PIDS); /* starve-load --max-pids */
	__type(key, __u32);
	__type(value, struct starve_task);
} tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_hist);
} run_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_stats);
} stats SEC(".maps");

/* Written once by starve-load after load; read by starve-dump to check the ABI. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_config);
} starve_config SEC(".maps");

/* The task each CPU last switched to: a sched_switch whose prev is someone else means an event
 * never reached us (seen on 6.18 for some threads), and the stale task's stretch must be closed. */
struct cpu_current {
	__u32 pid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_current);
} cpu_current SEC(".maps");

static const struct starve_task zero_task;

static __always_inline struct starve_stats *cpu_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

/* floor(log2(v)) without loops (v == 0 gives 0). */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFFULL) << 5; v >>= r;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* Who the task is: may change while it lives (exec, renice, cgroup move), so refreshed when it
 * leaves a CPU and something it is made of has changed. Plain loads through the trusted task
 * pointer, no helper calls. */
static __always_inline void refresh_identity(struct starve_task *t, struct task_struct *p)
{
	struct css_set *cgroups = p->cgroups;
	__u64 dfl_id = cgroups->dfl_cgrp->kn->id;

	t->tgid = p->tgid;
	__builtin_memcpy(t->comm, p->comm, STARVE_COMM_LEN);
	t->static_prio = p->static_prio;
	t->nice = (__s32)p->static_prio - 120;
	t->prio = p->prio;
	t->policy = p->policy;
	t->weight = p->se.load.weight;
	t->dfl_cgroup_id = dfl_id;
	t->cpu_cgroup_id = starve_cpu_cgroup_id(p, dfl_id);
	t->flags = (p->flags & PF_KTHREAD) ? STARVE_TASK_KTHREAD : 0;
	t->identity_tag = (__u32)(unsigned long)cgroups;
}

/* Whether anything refresh_identity reads can differ from what the entry holds: a cgroup move
 * swaps the task's css_set (p->cgroups), renice and setscheduler change static_prio, prio and
 * policy (and with them se.load.weight), exec and PR_SET_NAME change comm. Cheaper than the
 * refresh: no pointer chase down to the cgroups' kernfs ids, no stores. */
static __always_inline bool identity_changed(const struct starve_task *t, struct task_struct *p)
{
	__u64 comm[2], seen[2];

	__builtin_memcpy(comm, p->comm, sizeof(comm));
	__builtin_memcpy(seen, t->comm, sizeof(seen));
	return t->identity_tag != (__u32)(unsigned long)p->cgroups ||
	       t->static_prio != (__u32)p->static_prio || t->prio != (__u32)p->prio ||
	       t->policy != p->policy || comm[0] != seen[0] || comm[1] != seen[1];
}

/* Out of line: identity changes are rare next to switches. */
static __noinline void refresh_identity_slow(struct starve_task *t, struct task_struct *p)
{
	if (t && p)
		refresh_identity(t, p);
}

/* First sight of a thread: out of line, it happens once per thread. An exiting thread is never
 * (re)added: its entry was removed at sched_process_exit and must not come back. */
static __noinline struct starve_task *task_create(struct task_struct *p, __u32 pid)
{
	struct starve_stats *st = cpu_stats();
	struct starve_task *t;

	if (!p || (p->flags & PF_EXITING))
		return NULL;
	if (bpf_map_update_elem(&tasks, &pid, &zero_task, BPF_NOEXIST)) {
		/* Lost a race with another CPU adding it: fine. Otherwise the map is full. */
		t = bpf_map_lookup_elem(&tasks, &pid);
		if (!t && st)
			st->drop_map_full++;
		return t;
	}
	t = bpf_map_lookup_elem(&tasks, &pid);
	if (!t)
		return NULL;
	t->pid = pid;
	t->start_time_ns = p->start_time;
	t->runtime_base_ns = p->se.sum_exec_runtime;
	refresh_identity(t, p);
	if (st)
		st->tasks_created++;
	return t;
}

static __always_inline struct starve_task *task_entry(struct task_struct *p, __u32 pid)
{
	struct starve_task *t = bpf_map_lookup_elem(&tasks, &pid);

	return t ? t : task_create(p, pid);
}

static __always_inline void close_wait(struct starve_task *t, __u64 now)
{
	__u64 delta = now - t->queued_at_ns;
	struct starve_wait *w = t->queued_cause == STARVE_WAIT_PREEMPT ? &t->wait_preempt : &t->wait_wakeup;
	__u32 slot = log2_u64(delta), zero = 0;
	struct starve_hist *h;

	if (slot >= STARVE_HIST_SLOTS)
		slot = STARVE_HIST_SLOTS - 1;
	w->total_ns += delta;
	w->count++;
	if (delta > w->max_ns)
		w->max_ns = delta;
	t->wait_hist[slot]++;
	t->queued_at_ns = 0;
	t->queued_cause = STARVE_WAIT_NONE;

	h = bpf_map_lookup_elem(&run_hist, &zero);
	if (h) {
		h->slots[slot]++;
		h->count++;
		h->total_ns += delta;
	}
}

/* Out of line: rare. The stretch's end is unknown, so it is not counted, only the gap. */
static __noinline void close_missed_stretch(__u32 pid, struct starve_stats *st)
{
	struct starve_task *t = bpf_map_lookup_elem(&tasks, &pid);

	if (t && t->oncpu_at_ns) {
		t->oncpu_at_ns = 0;
		if (st)
			st->missed_switches++;
	}
}

SEC("tp_btf/sched_switch")
int BPF_PROG(starve_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	struct starve_stats *st = cpu_stats();
	__u32 prev_pid = prev->pid, next_pid = next->pid, zero = 0;
	struct cpu_current *cur = bpf_map_lookup_elem(&cpu_current, &zero);
	struct starve_task *t;

	if (st)
		st->switches++;
	if (cur) {
		if (cur->pid != prev_pid && cur->pid)
			close_missed_stretch(cur->pid, st);
		cur->pid = next_pid;
	}

	if (prev_pid) { /* pid 0: the idle tasks, one per CPU, never tracked */
		t = task_entry(prev, prev_pid);
		if (t) {
			/* The kernel has brought sum_exec_runtime up to date (update_curr) by now. */
			t->runtime_ns = prev->se.sum_exec_runtime - t->runtime_base_ns;
			t->oncpu_at_ns = 0;
			/* Same split as the kernel's nvcsw/nivcsw: preempted, or still runnable. */
			if (preempt || starve_task_state(prev) == TASK_RUNNING) {
				t->involuntary_switches++;
				t->queued_at_ns = now;
				t->queued_cause = STARVE_WAIT_PREEMPT;
			} else {
				t->voluntary_switches++;
				t->queued_at_ns = 0;
				t->queued_cause = STARVE_WAIT_NONE;
			}
			if (identity_changed(t, prev))
				refresh_identity_slow(t, prev);
		}
	}

	if (next_pid) {
		t = bpf_map_lookup_elem(&tasks, &next_pid);
		if (t) {
			if (t->queued_at_ns)
				close_wait(t, now);
			else if (st)
				st->missed_wakeups++;
		} else {
			t = task_create(next, next_pid); /* first sight: no wait start known */
		}
		if (t) {
			t->oncpu_at_ns = now;
			t->last_cpu = bpf_get_smp_processor_id();
		}
	}
	return 0;
}

static __always_inline int on_wakeup(struct task_struct *p)
{
	struct starve_stats *st = cpu_stats();
	__u32 pid = p->pid;
	struct starve_task *t;

	if (st)
		st->wakeups++;
	if (!pid)
		return 0;
	t = task_entry(p, pid);
	/* A wakeup of a task still on its CPU (it had not finished going to sleep) opens no wait;
	 * neither does a second wakeup while one wait is open. */
	if (t && !t->oncpu_at_ns && !t->queued_at_ns) {
		t->queued_at_ns = bpf_ktime_get_ns();
		t->queued_cause = STARVE_WAIT_WAKEUP;
	}
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(starve_sched_wakeup, struct task_struct *p)
{
	return on_wakeup(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(starve_sched_wakeup_new, struct task_struct *p)
{
	return on_wakeup(p);
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(starve_sched_migrate_task, struct task_struct *p, int dest_cpu)
{
	struct starve_stats *st = cpu_stats();
	__u32 pid = p->pid;
	struct starve_task *t;

	if (st)
		st->migrations++;
	t = bpf_map_lookup_elem(&tasks, &pid);
	if (t)
		t->migrations++;
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(starve_sched_process_exit, struct task_struct *p)
{
	struct starve_stats *st = cpu_stats();
	__u32 pid = p->pid;

	if (st)
		st->exits++;
	bpf_map_delete_elem(&tasks, &pid);
	return 0;
}
