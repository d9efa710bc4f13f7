// SPDX-License-Identifier: GPL-2.0
/* starve.bpf.c - per-thread scheduler accounting on scheduler tracepoints.
 *
 * Each sched_switch closes the next task's run-queue wait (the kernel's own sched_info
 * accounting: the growth of task->sched_info.run_delay since the task's last switch-in plus the
 * open piece since last_queued, exactly what /proc/<pid>/schedstat sums, also for a task moved
 * between CPUs while queued; on kernels without it our own bracket, opened at sched_wakeup /
 * sched_wakeup_new and at a runnable switch-out) and, when the previous task leaves still
 * runnable, notes who took the CPU from it.
 * Per-thread statistics live in task-local storage (no hash lookup on the hot path, freed with
 * the task). Everything the kernel counts itself (runtime, switches, migrations, identity) is
 * read from task_struct at read time by the `tasks` iterator, not kept on every switch.
 *
 * Rare things become events on the `events` ring buffer: waits over the starvation threshold,
 * priority inversions (sched_waking: a task blocked long, woken by a less important task that
 * was itself kept off the CPU), priority-inheritance boosts (sched_pi_setprio) and migration
 * storms (from the growth of the kernel's se.nr_migrations at switch-in: no program runs on
 * migrations). Every event that is not written is counted in `stats`.
 *
 * Who made a thread wait is booked in its own storage (its first preemptors); what outlives it
 * (its figures and those bookings, folded at its last switch-out) goes to LRU maps, `exited` and
 * `preempt_pairs`, with atomic adds: a bounded amount of work once per thread.
 *
 * Hot path rules: one task-storage lookup per task that has work, per-CPU counters (no atomics),
 * no helper call that a direct load of a trusted task pointer can replace, rare paths out of line.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "starve.h"
#include "core_fixes.bpf.h"

#define TASK_RUNNING 0
#define PF_EXITING 0x00000004
#define TASK_DEAD 0x00000080 /* __state of a task on its last switch-out (do_task_dead) */
#define PF_KTHREAD 0x00200000
#define NSEC_PER_SEC 1000000000ULL
#define E2BIG 7
/* Waits at least this long are remembered per task (task_state.long_waits) for inversion checks. */
#define LONG_WAIT_NS 1000000ULL
#define LONG_WAIT_SLOTS 4

/* kfuncs (6.2+), used only on rare paths: naming a task known by pid in an event. Weak: on an
 * older kernel the event names the pid alone. */
extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;

char LICENSE[] SEC("license") = "GPL";

/* Load-time settings: starve-load writes them before load (starve.h documents each field). */
const volatile struct starve_settings settings SEC(".rodata.settings") = {
	.threshold_ns = { STARVE_DEFAULT_THRESHOLD_STARVED_NS, STARVE_DEFAULT_THRESHOLD_SEVERE_NS,
			  STARVE_DEFAULT_THRESHOLD_CRITICAL_NS },
	.inversion_min_ns = STARVE_DEFAULT_INVERSION_MIN_NS,
	.storm_window_ns = STARVE_DEFAULT_STORM_WINDOW_NS,
	.storm_migrations = STARVE_DEFAULT_STORM_MIGRATIONS,
	.rate_limit = STARVE_DEFAULT_RATE_LIMIT,
	.sample_one_in = 1,
	.pid_filter = 0,
	.wait_source = STARVE_WAIT_SOURCE_SCHED_INFO,
	.events = 1,
};

/* One of a task's last few long run-queue waits (>= LONG_WAIT_NS), so that a wakeup can tell
 * whether the waker spent a blocked task's time waiting for a CPU itself. */
struct long_wait {
	__u64 end_ns;   /* on the programs' clock */
	__u64 len_ns;
	__u32 preemptor_pid;
	__u32 _pad;
};

/* A preemptor as a thread's pair slots name it (the key of struct starve_pair_slot). */
struct pair_key {
	__u64 cgroup_id;
	__u32 tgid;   /* SLOT_EMPTY: no preemptor holds the slot yet */
	__u32 start;
};

/* What a thread booked to the preemptor of the same slot (32 bytes: one cache line each). */
struct pair_val {
	__u64 count;
	__u64 wait_ns;
	__u64 max_ns;
	__u64 _pad;
};

#define SLOT_EMPTY 0xfffffffeu /* pair_key.tgid of a free slot (never a tgid, nor STARVE_PREEMPTOR_OTHER) */
#define SLOT_NONE 0xff         /* task_state.pending_slot: every slot is another's (book to the map) */

/* BPF-side only: what the programs count per thread, in task-local storage. The `tasks`
 * iterator copies it into struct starve_task next to what the kernel counts itself.
 *
 * Laid out by cache line, by what touches it. Under saturation a thread's storage is cold when it
 * gets a CPU back (each line a miss), so a switch-in after a wakeup touches line 0 and one line
 * of the histogram only, and one after a preemption adds line 1 and one slot's value line. The
 * slot was chosen at the preemption (on_preempted, on the victim's storage, which had just run),
 * not searched for at the switch-in. Line 0 is 48 bytes: on 6.18 the storage's data begins 16
 * bytes into a cache line (bpf_mem_alloc's header, then sdata's map pointer); where it begins 8
 * bytes in, the lines only move by 8. The _Static_asserts below hold the boundaries. */
struct task_state {
	/* Line 0: every switch-in. */
	__u64 run_delay_seen;      /* sched_info: run_delay as of the last wait closed here */
	struct starve_wait wait_wakeup;
	__u32 migrations_seen;     /* se.nr_migrations (low 32 bits) as of the last switch-in */
	__u8 queued_cause;         /* enum starve_wait_cause of the open wait */
	__u8 pending_slot;         /* pairs slot of the open wait's preemptor, or SLOT_NONE */
	__u8 long_next;            /* next slot of long_waits */
	__u8 folded;               /* 1: folded into `exited` already (counted as a thread once) */
	__u32 preemptor_pid;       /* who took the CPU at the last involuntary switch-out */
	__u32 start;               /* start tag of this thread's process */
	/* Line 1: preemptions, on either side. This thread's own cpu cgroup id, valid while its
	 * run-queue group (or, without CONFIG_CGROUP_SCHED, its css_set) is `cgroup_key`: a
	 * task holds a reference to both, so the pointer cannot be reused while it is current. */
	__u64 cgroup_id;
	__u64 cgroup_key;
	__u64 preemptions_caused;
	struct starve_wait wait_preempt;
	__u64 preempted_same;
	__u64 preempted_other;
	/* Line 2: rarer. */
	__u64 preempted_system;
	struct starve_wait wait_throttled;
	struct pair_key overflow;  /* the preemptor of an open wait with pending_slot SLOT_NONE */
	__u64 migration_storms;
	/* Lines 3-5: the histogram, then what only rare paths touch. */
	__u32 wait_hist[STARVE_HIST_SLOTS];
	__u64 mig_window_start_ns; /* migration-storm window, on the programs' clock */
	__u32 mig_window_count;
	__u32 _pad;
	__u64 queued_at_ns;        /* wakeup wait source: when the open wait began */
	/* The kernel's counts as of the last fold: another would add only what came after. */
	__u64 runtime_folded;
	__u64 vcsw_folded;
	__u64 ivcsw_folded;
	__u64 migrations_folded;
	/* The victim x preemptor slots (STARVE_PAIR_SLOTS): values, a line each, then keys. */
	struct pair_val pair_vals[STARVE_PAIR_SLOTS];
	struct pair_key pair_keys[STARVE_PAIR_SLOTS];
	struct long_wait long_waits[LONG_WAIT_SLOTS];
};

#define LINE_OF(field) ((__builtin_offsetof(struct task_state, field) + 16) / 64)
_Static_assert(__builtin_offsetof(struct task_state, cgroup_id) == 48, "line 0 is 48 bytes");
_Static_assert(LINE_OF(preempted_other) == 1, "line 1 holds the preemption fields");
_Static_assert(__builtin_offsetof(struct task_state, pair_vals) % 64 == 48, "one slot value a line");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} task_states SEC(".maps");

/* The iterator's record, built here (too big for its stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_task);
} iter_record SEC(".maps");

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

/* Victim x preemptor (cgroup, process) matrix beyond the threads' own slots (starve.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STARVE_DEFAULT_MAX_PAIRS);
	__type(key, struct starve_pair_key);
	__type(value, struct starve_pair);
} preempt_pairs SEC(".maps");

/* What exited threads did, per (cgroup, process) (starve.h). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STARVE_DEFAULT_MAX_EXITED); /* starve-load --max-exited */
	__type(key, struct starve_exited_key);
	__type(value, struct starve_exited);
} exited SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STARVE_DEFAULT_EVENTS_BYTES); /* starve-load --events-size */
} events SEC(".maps");

/* The stacks of events (struct starve_event_stacks): addresses, so root-only unless the load
 * grants them to its group. A ring buffer, not a stack-trace table: nothing fills up for good. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, STARVE_DEFAULT_STACKS_BYTES); /* starve-load --stacks-size */
} event_stacks SEC(".maps");

/* pids and tgids events are limited to (starve-load --event-pid). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} event_pids SEC(".maps");

/* BPF-side only (no reader): the event budget of one cgroup on one CPU in the current second. */
struct rate_window {
	__u64 start_ns;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct rate_window);
} event_budget SEC(".maps");

/* The task each CPU last switched to (struct starve_cpu). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_cpu);
} cpu_current SEC(".maps");

static __always_inline struct starve_stats *cpu_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stats, &zero);
}

#include "jobs.bpf.h" /* --jobs: off-CPU time by kind (HPC job views) */

static __always_inline bool use_sched_info(void)
{
	return settings.wait_source == STARVE_WAIT_SOURCE_SCHED_INFO && starve_have_sched_info() &&
	       starve_have_task_rq();
}

/* The programs' clock: the run queue's (sched_clock, what sched_info uses, and nearly free: a
 * field the scheduler has just updated) with sched_info; CLOCK_MONOTONIC otherwise. In a VM,
 * bpf_ktime_get_ns alone cost ~60 ns per switch here (kvm-clock), a third of the program. */
static __always_inline __u64 clock_now(struct task_struct *task_on_this_cpu)
{
	return use_sched_info() ? starve_rq_clock(task_on_this_cpu) : bpf_ktime_get_ns();
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

/* The start tag of p's process (starve_task.process_start). */
static __always_inline __u32 process_start(struct task_struct *p)
{
	return (__u32)(p->group_leader->start_time >> 20);
}

static __always_inline struct task_state *task_state_of(struct task_struct *p)
{
	return bpf_task_storage_get(&task_states, p, 0, 0);
}

/* p's cpu cgroup id through its storage's cache: one load while its run-queue group stays the
 * same (sched_task_group sits with the fields the scheduler has just used; moving to another
 * cpu cgroup changes it), or its css_set on kernels without CONFIG_CGROUP_SCHED. */
static __always_inline __u64 cached_cgroup_id(struct task_struct *p, struct task_state *t)
{
	__u64 key = starve_cgroup_key(p);

	if (t->cgroup_key != key) {
		t->cgroup_id = starve_cpu_cgroup_id(p);
		t->cgroup_key = key;
	}
	return t->cgroup_id;
}

/* First switch-in of a thread (or of one that existed before the load): out of line, it
 * happens once per thread. An exiting thread gets nothing. */
static __noinline struct task_state *task_create(struct task_struct *p)
{
	struct starve_stats *st = cpu_stats();
	struct task_state *t;

	if (!p || (p->flags & PF_EXITING))
		return NULL;
	t = bpf_task_storage_get(&task_states, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	/* Waits from now on: what the kernel summed before is not ours to count. */
	if (t) {
		__u32 i;

		t->run_delay_seen = starve_run_delay(p);
		t->start = process_start(p);
		t->migrations_seen = (__u32)p->se.nr_migrations;
		t->pending_slot = SLOT_NONE;
		for (i = 0; i < STARVE_PAIR_SLOTS; i++)
			t->pair_keys[i].tgid = SLOT_EMPTY;
	}
	if (st) {
		if (t)
			st->tasks_created++;
		else
			st->storage_failures++;
	}
	return t;
}

static __always_inline struct task_state *task_entry(struct task_struct *p)
{
	struct task_state *t = task_state_of(p);

	return t ? t : task_create(p);
}

/* ---- events: rare, all out of line ---- */

/* Whether an event about (pid, tgid) in `cgroup_id` may go out: the PID filter, sampling, then
 * the per-cgroup per-CPU budget. Every refusal is counted. */
static __noinline bool event_allowed(__u64 cgroup_id, __u32 pid, __u32 tgid)
{
	struct starve_stats *st = cpu_stats();
	struct rate_window *w;
	__u64 now;

	if (!st || !settings.events)
		return false;
	if (settings.pid_filter && !bpf_map_lookup_elem(&event_pids, &pid) &&
	    !bpf_map_lookup_elem(&event_pids, &tgid)) {
		st->events_filtered++;
		return false;
	}
	if (settings.sample_one_in > 1 && bpf_get_prandom_u32() % settings.sample_one_in) {
		st->events_sampled_out++;
		return false;
	}
	if (!settings.rate_limit)
		return true;
	now = bpf_ktime_get_ns();
	w = bpf_map_lookup_elem(&event_budget, &cgroup_id);
	if (!w) {
		struct rate_window fresh = { .start_ns = now, .count = 0 };

		bpf_map_update_elem(&event_budget, &cgroup_id, &fresh, BPF_ANY);
		w = bpf_map_lookup_elem(&event_budget, &cgroup_id);
		if (!w)
			return true;
	}
	if (now - w->start_ns >= NSEC_PER_SEC) {
		w->start_ns = now;
		w->count = 0;
	}
	if (w->count >= settings.rate_limit) {
		st->events_rate_limited++;
		return false;
	}
	w->count++;
	return true;
}

static __noinline struct starve_event *event_reserve(__u32 kind)
{
	struct starve_stats *st = cpu_stats();
	struct starve_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		if (st)
			st->events_ringbuf_full++;
		return NULL;
	}
	e->kind = kind;
	e->cpu = bpf_get_smp_processor_id();
	e->time_ns = bpf_ktime_get_ns();
	e->duration_ns = 0;
	e->value = 0;
	e->severity = 0;
	e->flags = 0;
	e->seq = st ? ((__u64)(e->cpu + 1) << 48) | (++st->event_seq & ((1ULL << 48) - 1)) : 0;
	e->_reserved[0] = 0;
	e->_reserved[1] = 0;
	__builtin_memset(&e->task, 0, sizeof(e->task));
	__builtin_memset(&e->other, 0, sizeof(e->other));
	__builtin_memset(&e->third, 0, sizeof(e->third));
	return e;
}

static __always_inline void event_task_from(struct starve_event_task *e, struct task_struct *p)
{
	e->pid = p->pid;
	e->tgid = p->tgid;
	__builtin_memcpy(e->comm, p->comm, STARVE_COMM_LEN);
	e->cgroup_id = starve_cpu_cgroup_id(p);
	e->prio = p->prio;
	e->nice = (__s32)p->static_prio - 120;
	e->policy = p->policy;
	e->flags = (p->flags & PF_KTHREAD) ? STARVE_TASK_KTHREAD : 0;
}

/* A task known only by pid (still alive, or nothing is said but its pid). */
static __always_inline void event_task_from_pid(struct starve_event_task *e, __u32 pid)
{
	struct task_struct *p;

	if (!pid)
		return;
	e->pid = pid;
	if (!bpf_task_from_pid) /* bpf_ksym_exists(), before libbpf 1.2 had it */
		return;
	p = bpf_task_from_pid(pid);
	if (!p)
		return;
	event_task_from(e, p);
	bpf_task_release(p);
}

/* The current task's kernel and user stacks, and `p`'s kernel stack, onto `event_stacks` under
 * the event's seq (before the event itself, so a reader that has the event can have its stacks).
 * Every stack that could not be taken is counted; a full ring leaves the event without stacks. */
static __always_inline void event_take_stacks(void *ctx, struct starve_event *e, struct task_struct *p)
{
	struct task_struct *current = bpf_get_current_task_btf();
	struct starve_stats *st = cpu_stats();
	struct starve_event_stacks *s;
	long n;

	s = bpf_ringbuf_reserve(&event_stacks, sizeof(*s), 0);
	if (!s) {
		if (st)
			st->stacks_ringbuf_full++;
		return;
	}
	s->seq = e->seq;
	s->kind = e->kind;
	s->task_kstack_len = 0;
	s->kstack_len = 0;
	s->ustack_len = 0;
	s->ustack_tgid = current->tgid;
	s->_pad = 0;
	n = bpf_get_stack(ctx, s->kstack, sizeof(s->kstack), 0);
	if (n > 0)
		s->kstack_len = n / sizeof(__u64);
	else if (st)
		st->kstack_failures++;
	/* Kernel threads have no user stack to take. */
	if (!(current->flags & PF_KTHREAD)) {
		n = bpf_get_stack(ctx, s->ustack, sizeof(s->ustack), BPF_F_USER_STACK);
		if (n > 0)
			s->ustack_len = n / sizeof(__u64);
		else if (st)
			st->ustack_failures++;
	}
	if (p) {
		n = bpf_get_task_stack(p, s->task_kstack, sizeof(s->task_kstack), 0);
		if (n > 0)
			s->task_kstack_len = n / sizeof(__u64);
		else if (st)
			st->kstack_failures++;
	}
	bpf_ringbuf_submit(s, 0);
	e->flags |= STARVE_EVENT_STACKS;
}

static __always_inline void event_submit(struct starve_event *e, struct starve_stats *st)
{
	bpf_ringbuf_submit(e, 0);
	if (st)
		st->events_emitted++;
}

/* At switch-in of `next` after a wait of `delta` ns over the threshold; `prev` held the CPU. */
static __noinline void emit_starvation(void *ctx, struct task_struct *prev, struct task_struct *next,
				       struct task_state *t, __u64 delta)
{
	struct starve_stats *st = cpu_stats();
	struct starve_event *e;
	__u32 cause;

	if (!t || !next || !prev)
		return;
	cause = t->queued_cause;
	if (st) {
		__u32 slot = log2_u64(delta);

		slot = slot > STARVE_STARVATION_SLOT_BASE ? slot - STARVE_STARVATION_SLOT_BASE : 0;
		if (slot >= STARVE_STARVATION_SLOTS)
			slot = STARVE_STARVATION_SLOTS - 1;
		st->starvations++;
		if (delta >= settings.threshold_ns[1])
			st->starvations_severe++;
		if (delta >= settings.threshold_ns[2])
			st->starvations_critical++;
		st->starvation_ns += delta;
		st->starvation_hist[slot]++;
	}
	if (!event_allowed(starve_cpu_cgroup_id(next), next->pid, next->tgid))
		return;
	e = event_reserve(STARVE_EVENT_STARVATION);
	if (!e)
		return;
	e->duration_ns = delta;
	e->severity = delta >= settings.threshold_ns[2] ? STARVE_SEVERITY_CRITICAL :
		      delta >= settings.threshold_ns[1] ? STARVE_SEVERITY_SEVERE : STARVE_SEVERITY_STARVED;
	if (cause == STARVE_WAIT_THROTTLED)
		e->flags |= STARVE_EVENT_THROTTLED | STARVE_EVENT_PREEMPTED;
	else if (cause == STARVE_WAIT_PREEMPT)
		e->flags |= STARVE_EVENT_PREEMPTED;
	event_task_from(&e->task, next);
	if (prev->pid)
		event_task_from(&e->other, prev);
	if (cause != STARVE_WAIT_WAKEUP)
		event_task_from_pid(&e->third, t->preemptor_pid); /* who took the CPU at the start */
	event_take_stacks(ctx, e, next);
	event_submit(e, st);
}

/* Adds one wait (or, folding, `n` of them) to `preempt_pairs` under `key`. Out of line: only
 * for a thread's overflow and at its exit. */
static __noinline void pair_add(struct starve_pair_key *key, __u64 n, __u64 wait_ns, __u64 max_ns)
{
	struct starve_stats *st = cpu_stats();
	struct starve_pair *pair;

	if (!key)
		return;
	pair = bpf_map_lookup_elem(&preempt_pairs, key);
	if (!pair) {
		/* A new entry goes in with its values: no second lookup, no atomic adds (most folds
		 * of short-lived processes make new pairs). Looked up first all the same: an LRU
		 * insert takes a free node, evicting if need be, before it finds the key exists. */
		struct starve_pair fresh = { .count = n, .wait_ns = wait_ns, .max_ns = max_ns };

		if (bpf_map_update_elem(&preempt_pairs, key, &fresh, BPF_NOEXIST) == 0) {
			if (st)
				st->pairs_created++;
			return;
		}
		pair = bpf_map_lookup_elem(&preempt_pairs, key); /* another CPU made it meanwhile */
		if (!pair) {
			if (st)
				st->pairs_map_full++;
			return;
		}
	}
	__sync_fetch_and_add(&pair->count, n);
	__sync_fetch_and_add(&pair->wait_ns, wait_ns);
	if (max_ns > pair->max_ns)
		pair->max_ns = max_ns; /* a racing larger max may be lost: a maximum, not a sum */
}

/* A wait of `victim` whose slots are all taken by other preemptors: straight to the map, under
 * the preemptor noted with it (t->overflow). */
static __noinline void account_overflow(struct task_struct *victim, struct task_state *t, __u64 delta)
{
	struct starve_stats *st = cpu_stats();
	struct starve_pair_key key = {};

	if (!victim || !t)
		return;
	key.victim_cgroup_id = cached_cgroup_id(victim, t);
	key.preemptor_cgroup_id = t->overflow.cgroup_id;
	key.victim_tgid = victim->tgid;
	key.preemptor_tgid = t->overflow.tgid;
	key.victim_start = t->start;
	key.preemptor_start = t->overflow.start;
	if (st)
		st->pairs_overflow++;
	pair_add(&key, 1, delta, delta);
}

/* The slot of `t` that books waits caused by the preemptor (cgroup, tgid, start): the one that
 * names it, else the first free one. The first slots name processes, the rest a cgroup's other
 * processes together. SLOT_NONE when every slot names another (then t->overflow names it). */
static __always_inline __u8 pair_slot(struct task_state *t, __u64 cgroup_id, __u32 tgid, __u32 start)
{
	__u32 i;

	for (i = 0; i < STARVE_PAIR_SLOTS; i++) {
		struct pair_key *k = &t->pair_keys[i];
		__u32 want_tgid = i < STARVE_PAIR_PROCESS_SLOTS ? tgid : STARVE_PREEMPTOR_OTHER;
		__u32 want_start = i < STARVE_PAIR_PROCESS_SLOTS ? start : 0;

		if (k->tgid == SLOT_EMPTY) {
			k->cgroup_id = cgroup_id;
			k->tgid = want_tgid;
			k->start = want_start;
			return i;
		}
		if (k->tgid == want_tgid && k->start == want_start && k->cgroup_id == cgroup_id)
			return i;
	}
	t->overflow.cgroup_id = cgroup_id;
	t->overflow.tgid = tgid;
	t->overflow.start = start;
	return SLOT_NONE;
}

/* A wait of `victim` ended: book it to its preemptor's slot (chosen before), or to the map. */
static __always_inline void account_pair(struct task_struct *victim, struct task_state *t, __u64 delta)
{
	__u32 i = t->pending_slot;

	if (i < STARVE_PAIR_SLOTS) {
		struct pair_val *v = &t->pair_vals[i];

		v->count++;
		v->wait_ns += delta;
		if (delta > v->max_ns)
			v->max_ns = delta;
		return;
	}
	account_overflow(victim, t, delta);
}

/* A long wait ended: remember it for inversion checks (in the task's own storage). */
static __always_inline void remember_long_wait(struct task_state *t, __u64 now, __u64 delta)
{
	__u32 i = t->long_next % LONG_WAIT_SLOTS;

	t->long_waits[i].end_ns = now;
	t->long_waits[i].len_ns = delta;
	t->long_waits[i].preemptor_pid = t->preemptor_pid;
	t->long_next = i + 1;
}

/* A wakeup wait of a millisecond or more: booked to the task that held the CPU until now. */
static __noinline void blame_holder(struct task_struct *prev, struct task_state *t)
{
	if (!t || !prev)
		return;
	t->preemptor_pid = prev->pid;
	t->pending_slot = prev->pid ? pair_slot(t, starve_cpu_cgroup_id(prev), prev->tgid, process_start(prev)) :
				      pair_slot(t, 0, 0, 0);
}

/* `next` (switching in on this CPU) waited `delta` ns; `prev` held the CPU until now. */
static __always_inline void close_wait(void *ctx, struct task_struct *prev, struct task_struct *next,
				       struct task_state *t, __u64 delta, __u64 now)
{
	__u32 cause = t->queued_cause == STARVE_WAIT_NONE ? STARVE_WAIT_WAKEUP : t->queued_cause;
	struct starve_wait *w = cause == STARVE_WAIT_PREEMPT ? &t->wait_preempt :
				cause == STARVE_WAIT_THROTTLED ? &t->wait_throttled : &t->wait_wakeup;
	__u32 slot = log2_u64(delta);

	if (slot >= STARVE_HIST_SLOTS)
		slot = STARVE_HIST_SLOTS - 1;
	w->total_ns += delta;
	w->count++;
	if (delta > w->max_ns)
		w->max_ns = delta;
	t->wait_hist[slot]++;

	/* Who made it wait: for a preemption, who took the CPU then (noted at switch-out); for a
	 * wakeup, the task that held the CPU until now, once the wait is long enough to matter
	 * (pairing every microsecond wakeup would cost a slot search per switch). */
	if (cause != STARVE_WAIT_WAKEUP) {
		account_pair(next, t, delta);
	} else if (delta >= LONG_WAIT_NS) {
		blame_holder(prev, t);
		account_pair(next, t, delta);
	}
	if (delta >= LONG_WAIT_NS || delta >= settings.threshold_ns[0]) {
		t->queued_cause = cause; /* the out-of-line callees read it there */
		if (delta >= LONG_WAIT_NS)
			remember_long_wait(t, now, delta);
		if (delta >= settings.threshold_ns[0])
			emit_starvation(ctx, prev, next, t, delta);
	}
	if (!use_sched_info())
		t->queued_at_ns = 0; /* (a line no switch-in touches otherwise) */
	t->queued_cause = STARVE_WAIT_NONE;
	t->pending_slot = SLOT_NONE;
}

static __noinline void fold_thread(struct task_struct *p, struct task_state *t); /* below */

/* `prev` leaves its CPU still runnable: note who took it. Out of line: a blocking switch-out,
 * the common case, needs nothing of prev at all. */
static __noinline void on_preempted(struct task_struct *prev, struct task_struct *next,
				    struct task_state *nt, __u64 now)
{
	struct starve_stats *st = cpu_stats();
	struct task_state *pt;
	__u64 cgroup_id;
	bool throttled;
	__u32 start;

	if (!prev || !next)
		return;
	pt = task_entry(prev);
	if (!pt)
		return;
	throttled = starve_task_throttled(prev);
	if (settings.wait_source != STARVE_WAIT_SOURCE_SCHED_INFO)
		pt->queued_at_ns = now;
	pt->queued_cause = throttled ? STARVE_WAIT_THROTTLED : STARVE_WAIT_PREEMPT;
	if (throttled && st)
		st->throttled_switches++;
	pt->preemptor_pid = next->pid;
	if (!next->pid) {
		/* the idle task: the CPU went idle with prev runnable (it is being moved away) */
		pt->pending_slot = pair_slot(pt, 0, 0, 0);
		return;
	}
	if (nt) {
		start = nt->start;
		cgroup_id = cached_cgroup_id(next, nt);
		nt->preemptions_caused++;
	} else {
		start = process_start(next);
		cgroup_id = starve_cpu_cgroup_id(next);
	}
	/* The slot now, while prev's storage is at hand: the switch-in that ends the wait may come
	 * on another CPU, with the storage cold. */
	pt->pending_slot = pair_slot(pt, cgroup_id, next->tgid, start);
	if (throttled) {
		/* its own quota took the CPU, not the next task */
	} else if ((next->flags & PF_KTHREAD) || cgroup_id <= STARVE_ROOT_CGROUP_ID) {
		pt->preempted_system++;
	} else if (cached_cgroup_id(prev, pt) == cgroup_id) {
		pt->preempted_same++;
	} else {
		pt->preempted_other++;
	}
}

/* ---- migrations ---- */

static __noinline void emit_storm(void *ctx, struct task_struct *p, struct task_state *t, __u64 window)
{
	struct starve_stats *st = cpu_stats();
	struct starve_event *e;

	if (!t || !p)
		return;
	t->migration_storms++;
	if (st)
		st->migration_storms++;
	if (!event_allowed(starve_cpu_cgroup_id(p), p->pid, p->tgid))
		return;
	e = event_reserve(STARVE_EVENT_MIGRATION_STORM);
	if (!e)
		return;
	e->duration_ns = window;
	e->value = t->mig_window_count;
	event_task_from(&e->task, p);
	event_take_stacks(ctx, e, NULL);
	event_submit(e, st);
}

/* `next`, switching in, moved between CPUs `nr` - migrations_seen times since its last switch-in
 * (the kernel's own se.nr_migrations: no program on sched_migrate_task, which would run on every
 * migration). Counted, and for user threads checked for a storm: storm_migrations in a window,
 * raised once per window when the count reaches the threshold. The window counts migrations at
 * the switch-in that follows them: a moved task is switched in on its new CPU soon after. */
static __noinline void on_migrated(void *ctx, struct task_struct *next, struct task_state *t, __u32 nr, __u64 now)
{
	struct starve_stats *st = cpu_stats();
	__u32 before, delta;

	if (!t || !next)
		return;
	delta = nr - t->migrations_seen;
	t->migrations_seen = nr;
	if (st)
		st->migrations += delta;
	/* Storms are about user work being bounced between CPUs; kernel threads such as the RCU
	 * grace-period thread follow the CPUs that need them (rcu_preempt moved ~100 times a
	 * second here under a pipe ping-pong). Their migrations are still in the tasks records. */
	if (!settings.storm_migrations || (next->flags & PF_KTHREAD))
		return;
	if (now - t->mig_window_start_ns > settings.storm_window_ns) {
		t->mig_window_start_ns = now;
		t->mig_window_count = 0;
	}
	before = t->mig_window_count;
	t->mig_window_count = before + delta;
	if (before < settings.storm_migrations && before + delta >= settings.storm_migrations)
		emit_storm(ctx, next, t, now - t->mig_window_start_ns);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(starve_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = clock_now(next);
	struct starve_stats *st = cpu_stats();
	__u32 zero = 0;
	struct starve_cpu *cur = bpf_map_lookup_elem(&cpu_current, &zero);
	struct task_state *nt = NULL;

	if (st)
		st->switches++;
	if (cur) {
		cur->pid = next->pid;
		cur->clock_ns = now;
	}
	/* pid 0: the idle tasks, one per CPU, never tracked */
	if (next->pid)
		nt = task_entry(next);
	/* Same split as the kernel's nvcsw/nivcsw: preempted, or still runnable. A dead task's
	 * last switch-out folds what it did since sched_process_exit. */
	if (prev->pid) {
		__u32 state = preempt ? TASK_RUNNING : starve_task_state(prev);

		if (state == TASK_RUNNING)
			on_preempted(prev, next, nt, now);
		else if (state == TASK_DEAD)
			fold_thread(prev, task_state_of(prev));
		else
			jobs_switch_out_asleep(prev, state);
	}

	if (nt) {
		__u32 migrations = (__u32)next->se.nr_migrations;

		if (migrations != nt->migrations_seen)
			on_migrated(ctx, next, nt, migrations, now);
		if (use_sched_info()) {
			/* What run_delay will be once sched_info_arrive (after this tracepoint) adds the
			 * open piece, on the clock it uses: this run queue's, updated at the top of
			 * __schedule. Its growth since the last switch-in is this wait, including the
			 * pieces the kernel already added when the task was dequeued while queued. */
			__u64 queued = starve_last_queued(next);
			__u64 total = starve_run_delay(next) + (queued && now > queued ? now - queued : 0);

			if (queued || total > nt->run_delay_seen) {
				__u64 delta = total > nt->run_delay_seen ? total - nt->run_delay_seen : 0;

				nt->run_delay_seen = total;
				close_wait(ctx, prev, next, nt, delta, now);
			} else if (st) {
				st->missed_wakeups++;
			}
		} else if (nt->queued_at_ns) {
			close_wait(ctx, prev, next, nt, now - nt->queued_at_ns, now);
		} else if (st) {
			st->missed_wakeups++;
		}
	}
	return 0;
}

/* ---- priority inversion ---- */

/* Of `lw`, how long the waker waited on a run queue within [from, to], and who kept it off
 * the CPU longest. */
static __always_inline __u64 waited_within(struct task_state *lw, __u64 from, __u64 to, __u32 *preemptor)
{
	__u64 total = 0, best = 0;
	__u32 i;

	for (i = 0; i < LONG_WAIT_SLOTS; i++) {
		__u64 end = lw->long_waits[i].end_ns, len = lw->long_waits[i].len_ns, begin, overlap;

		if (!end || end <= from || end - len >= to)
			continue;
		begin = end - len < from ? from : end - len;
		if (end > to)
			end = to;
		overlap = end - begin;
		total += overlap;
		if (overlap > best) {
			best = overlap;
			*preemptor = lw->long_waits[i].preemptor_pid;
		}
	}
	return total;
}

/* `p` is being woken by the current task, which is less important (the caller checked), after
 * being blocked long. Inversion when the waker spent most of `p`'s blocked time waiting for a
 * CPU itself: a more important task was held up by a less important one, which something else
 * held up. */
static __noinline void check_inversion(void *ctx, struct task_struct *p)
{
	struct task_struct *waker = bpf_get_current_task_btf();
	struct starve_stats *st = cpu_stats();
	__u32 pid = p->pid, waker_pid = waker->pid, preemptor = 0;
	struct task_state *lw;
	struct starve_event *e;
	__u64 now, blocked_at, blocked, waited;

	if (!pid || !waker_pid || waker_pid == pid || (waker->flags & PF_KTHREAD))
		return;
	/* When it blocked: the start of its last stretch on a CPU plus the stretch's length (the
	 * fair class notes the runtime at each pick; for the others the start is all we know). */
	blocked_at = starve_last_arrival(p);
	if (!blocked_at)
		return;
	if (p->prio >= 100 && p->se.sum_exec_runtime > p->se.prev_sum_exec_runtime)
		blocked_at += p->se.sum_exec_runtime - p->se.prev_sum_exec_runtime;
	now = clock_now(waker);
	if (now <= blocked_at)
		return;
	blocked = now - blocked_at;
	if (blocked < settings.inversion_min_ns)
		return;
	lw = task_state_of(waker);
	if (!lw)
		return;
	waited = waited_within(lw, blocked_at, now, &preemptor);
	if (waited * 2 < blocked)
		return;
	if (st)
		st->inversions++;
	if (!event_allowed(starve_cpu_cgroup_id(p), pid, p->tgid))
		return;
	e = event_reserve(STARVE_EVENT_INVERSION);
	if (!e)
		return;
	e->duration_ns = blocked;
	e->value = waited;
	event_task_from(&e->task, p);
	event_task_from(&e->other, waker);
	event_task_from_pid(&e->third, preemptor);
	event_take_stacks(ctx, e, p);
	event_submit(e, st);
}

/* In the waker's context (sched_wakeup may run on the wakee's CPU instead). Only a wakee more
 * important than its waker (two loads of lines try_to_wake_up has just used: most wakeups stop
 * there) that has been off its CPU for inversion_min_ns is looked at. */
SEC("tp_btf/sched_waking")
int BPF_PROG(starve_sched_waking, struct task_struct *p)
{
	struct starve_stats *st = cpu_stats();
	struct task_struct *waker;

	if (st)
		st->wakeups++;
	jobs_waking(p);
	if (!settings.events)
		return 0;
	waker = bpf_get_current_task_btf();
	if (waker->prio <= p->prio)
		return 0;
	if (use_sched_info()) {
		__u64 arrived = starve_last_arrival(p), clock = clock_now(waker);

		if (!arrived || clock < arrived || clock - arrived < settings.inversion_min_ns)
			return 0;
	}
	check_inversion(ctx, p);
	return 0;
}

/* ---- our own wait bracket, on kernels without sched_info (not loaded otherwise) ---- */

static __always_inline int on_wakeup(struct task_struct *p)
{
	struct task_state *t;

	if (!p->pid)
		return 0;
	t = task_entry(p);
	/* A wakeup of a task still on its CPU (it had not finished going to sleep) opens no wait;
	 * neither does a second wakeup while one wait is open. */
	if (t && !p->on_cpu && !t->queued_at_ns) {
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

/* ---- priority inheritance ---- */

/* Fires before the new priority is stored: p->prio is still the old one. */
SEC("tp_btf/sched_pi_setprio")
int BPF_PROG(starve_sched_pi_setprio, struct task_struct *p, struct task_struct *pi_task)
{
	struct starve_stats *st = cpu_stats();
	__u32 old = p->prio, prio = p->normal_prio, kind;
	struct starve_event *e;

	if (pi_task && pi_task->prio < prio)
		prio = pi_task->prio;
	if (prio == old)
		return 0;
	kind = prio < old ? STARVE_EVENT_PI_BOOST : STARVE_EVENT_PI_RESTORE;
	if (kind == STARVE_EVENT_PI_BOOST && st)
		st->pi_boosts++;
	if (!event_allowed(starve_cpu_cgroup_id(p), p->pid, p->tgid))
		return 0;
	e = event_reserve(kind);
	if (!e)
		return 0;
	e->value = prio;
	event_task_from(&e->task, p);
	if (pi_task)
		event_task_from(&e->other, pi_task);
	/* The owner's own stack only when it is not running elsewhere (it would be moving). */
	event_take_stacks(ctx, e, (p->on_cpu && p != bpf_get_current_task_btf()) ? NULL : p);
	event_submit(e, st);
	return 0;
}

static __always_inline void wait_fold(struct starve_wait *into, struct starve_wait *w)
{
	__sync_fetch_and_add(&into->total_ns, w->total_ns);
	__sync_fetch_and_add(&into->count, w->count);
	if (w->max_ns > into->max_ns)
		into->max_ns = w->max_ns; /* a racing larger max may be lost: a maximum, not a sum */
}

/* A new `exited` entry's first value, built here (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_exited);
} fold_scratch SEC(".maps");

static __always_inline __u64 since_folded(__u64 now, __u64 *folded)
{
	__u64 d = now > *folded ? now - *folded : 0;

	*folded = now;
	return d;
}

/* A dead thread's own figures into `exited`, under its cgroup and process, and what it booked
 * to its preemptors into `preempt_pairs`, at its last switch-out (TASK_DEAD): after it, it never
 * runs or waits again. Once per thread, out of line. (Its storage is emptied of what was
 * folded, and the runtime and switch counts folded are noted, so a second fold would add only
 * what came after.) */
static __noinline void fold_thread(struct task_struct *p, struct task_state *t)
{
	struct starve_stats *st = cpu_stats();
	struct starve_exited_key key = {};
	struct starve_pair_key pkey = {};
	struct starve_exited *e;
	__u64 runtime, vcsw, ivcsw, migrations;
	__u32 i;

	if (!p || !t)
		return;
	runtime = since_folded(p->se.sum_exec_runtime, &t->runtime_folded);
	vcsw = since_folded(p->nvcsw, &t->vcsw_folded);
	ivcsw = since_folded(p->nivcsw, &t->ivcsw_folded);
	migrations = since_folded(p->se.nr_migrations, &t->migrations_folded);
	key.cgroup_id = cached_cgroup_id(p, t);
	key.tgid = p->tgid;
	key.start = t->start;
	if (settings.jobs) {
		struct jobs_kernel_counts k = { runtime, vcsw, ivcsw, migrations };

		jobs_fold_job(p, t, &k);
	}
	e = bpf_map_lookup_elem(&exited, &key);
	if (!e) {
		/* The first thread of its (cgroup, process) to exit (every short-lived process's
		 * only one): the entry goes in with its values, no atomic adds, no second lookup. */
		__u32 zero = 0;
		struct starve_exited *fresh = bpf_map_lookup_elem(&fold_scratch, &zero);

		if (fresh) {
			fresh->threads = t->folded ? 0 : 1;
			fresh->runtime_ns = runtime;
			fresh->voluntary_switches = vcsw;
			fresh->involuntary_switches = ivcsw;
			fresh->migrations = migrations;
			fresh->wait_wakeup = t->wait_wakeup;
			fresh->wait_preempt = t->wait_preempt;
			fresh->wait_throttled = t->wait_throttled;
			fresh->preempted_same = t->preempted_same;
			fresh->preempted_other = t->preempted_other;
			fresh->preempted_system = t->preempted_system;
			fresh->preemptions_caused = t->preemptions_caused;
			for (i = 0; i < STARVE_HIST_SLOTS; i++)
				fresh->wait_hist[i] = t->wait_hist[i];
			if (bpf_map_update_elem(&exited, &key, fresh, BPF_NOEXIST) == 0) {
				if (st) {
					st->exited_created++;
					if (!t->folded)
						st->exited_folded++;
				}
				goto folded;
			}
		}
		e = bpf_map_lookup_elem(&exited, &key); /* another thread made it meanwhile */
	}
	if (e) {
		if (!t->folded) {
			__sync_fetch_and_add(&e->threads, 1);
			if (st)
				st->exited_folded++;
		}
		__sync_fetch_and_add(&e->runtime_ns, runtime);
		__sync_fetch_and_add(&e->voluntary_switches, vcsw);
		__sync_fetch_and_add(&e->involuntary_switches, ivcsw);
		__sync_fetch_and_add(&e->migrations, migrations);
		wait_fold(&e->wait_wakeup, &t->wait_wakeup);
		wait_fold(&e->wait_preempt, &t->wait_preempt);
		wait_fold(&e->wait_throttled, &t->wait_throttled);
		__sync_fetch_and_add(&e->preempted_same, t->preempted_same);
		__sync_fetch_and_add(&e->preempted_other, t->preempted_other);
		__sync_fetch_and_add(&e->preempted_system, t->preempted_system);
		__sync_fetch_and_add(&e->preemptions_caused, t->preemptions_caused);
		for (i = 0; i < STARVE_HIST_SLOTS; i++) {
			if (t->wait_hist[i])
				__sync_fetch_and_add(&e->wait_hist[i], t->wait_hist[i]);
		}
		jobs_fold(p, &e->job);
	} else if (st && !t->folded) {
		st->exited_dropped++;
	}
folded:
	t->folded = 1;
	__builtin_memset(&t->wait_wakeup, 0, sizeof(t->wait_wakeup));
	__builtin_memset(&t->wait_preempt, 0, sizeof(t->wait_preempt));
	__builtin_memset(&t->wait_throttled, 0, sizeof(t->wait_throttled));
	__builtin_memset(t->wait_hist, 0, sizeof(t->wait_hist));
	t->preempted_same = 0;
	t->preempted_other = 0;
	t->preempted_system = 0;
	t->preemptions_caused = 0;

	pkey.victim_cgroup_id = key.cgroup_id;
	pkey.victim_tgid = key.tgid;
	pkey.victim_start = key.start;
	for (i = 0; i < STARVE_PAIR_SLOTS; i++) {
		struct pair_val *v = &t->pair_vals[i];
		struct pair_key *k = &t->pair_keys[i];
		__u64 n = v->count, wait = v->wait_ns, max = v->max_ns;

		if (k->tgid == SLOT_EMPTY)
			break;
		pkey.preemptor_cgroup_id = k->cgroup_id;
		pkey.preemptor_tgid = k->tgid;
		pkey.preemptor_start = k->start;
		k->tgid = SLOT_EMPTY;
		if (!n) /* named at a preemption whose wait never ended */
			continue;
		v->count = 0;
		v->wait_ns = 0;
		v->max_ns = 0;
		pair_add(&pkey, n, wait, max);
		if (st)
			st->pairs_folded++;
	}
}

/* Counts exits. An exiting thread's figures are folded at its last switch-out (fold_thread, from
 * sched_switch), so per-process and per-cgroup figures and the matrix keep the work of threads
 * that exited; the `tasks` iterator stops reporting a thread once it is exiting (PF_EXITING):
 * a reader that reads the maps first and the threads second may miss such a thread for one
 * read, never count it twice. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(starve_sched_process_exit, struct task_struct *p)
{
	struct starve_stats *st = cpu_stats();

	if (st) {
		st->exits++;
		if (task_state_of(p))
			st->exits_tracked++;
	}
	return 0;
}

/* ---- the `tasks` iterator: what readers read ---- */

/* The slots that booked a wait, as struct starve_pair_slot (empty ones: zeros). */
static __always_inline void pairs_read(struct task_state *t, struct starve_pair_slot *out)
{
	__u32 i;

	for (i = 0; i < STARVE_PAIR_SLOTS; i++) {
		if (t->pair_keys[i].tgid == SLOT_EMPTY || !t->pair_vals[i].count)
			continue;
		out[i].preemptor_cgroup_id = t->pair_keys[i].cgroup_id;
		out[i].preemptor_tgid = t->pair_keys[i].tgid;
		out[i].preemptor_start = t->pair_keys[i].start;
		out[i].count = t->pair_vals[i].count;
		out[i].wait_ns = t->pair_vals[i].wait_ns;
		out[i].max_ns = t->pair_vals[i].max_ns;
	}
}

/* One record per live thread: identity and the kernel's counters from task_struct, the
 * programs' statistics from its storage (zeros when it has not been switched in since the
 * load). Runs in the reader's context when it reads the pin. */
SEC("iter/task")
int starve_iter_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *p = ctx->task;
	struct css_set *cgroups;
	struct starve_task *r;
	struct task_state *t;
	__u32 zero = 0;

	/* Exiting threads are left out: their figures are (being) folded into `exited`. */
	if (!p || p->exit_state || (p->flags & PF_EXITING))
		return 0;
	r = bpf_map_lookup_elem(&iter_record, &zero);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	cgroups = p->cgroups;
	r->pid = p->pid;
	r->tgid = p->tgid;
	__builtin_memcpy(r->comm, p->comm, STARVE_COMM_LEN);
	r->static_prio = p->static_prio;
	r->nice = (__s32)p->static_prio - 120;
	r->prio = p->prio;
	r->policy = p->policy;
	r->weight = p->se.load.weight;
	r->dfl_cgroup_id = cgroups->dfl_cgrp->kn->id;
	r->cpu_cgroup_id = starve_cpu_cgroup_id(p);
	r->flags = (p->flags & PF_KTHREAD) ? STARVE_TASK_KTHREAD : 0;
	r->start_time_ns = p->start_time;
	r->runtime_ns = p->se.sum_exec_runtime;
	r->voluntary_switches = p->nvcsw;
	r->involuntary_switches = p->nivcsw;
	r->migrations = p->se.nr_migrations;
	r->last_cpu = starve_task_cpu(p);
	r->process_start = process_start(p);
	if (p->on_cpu) {
		/* The stretch so far, as update_curr would add it. */
		__u64 clock_task = starve_rq_clock_task(p);

		if (clock_task > p->se.exec_start && p->se.exec_start)
			r->runtime_ns += clock_task - p->se.exec_start;
		r->oncpu_at_ns = use_sched_info() ? starve_last_arrival(p) : 0;
		if (!r->oncpu_at_ns)
			r->oncpu_at_ns = 1; /* running, start unknown */
	}
	t = task_state_of(p);
	if (use_sched_info() && !p->on_cpu)
		r->queued_at_ns = starve_last_queued(p);
	if (t && use_sched_info() && !p->on_cpu) {
		__u64 rd = starve_run_delay(p);

		if (rd > t->run_delay_seen)
			r->queued_earlier_ns = rd - t->run_delay_seen;
	}
	if (t) {
		r->wait_wakeup = t->wait_wakeup;
		r->wait_preempt = t->wait_preempt;
		r->wait_throttled = t->wait_throttled;
		__builtin_memcpy(r->wait_hist, t->wait_hist, sizeof(r->wait_hist));
		r->preempted_same = t->preempted_same;
		r->preempted_other = t->preempted_other;
		r->preempted_system = t->preempted_system;
		r->preemptions_caused = t->preemptions_caused;
		r->migration_storms = t->migration_storms;
		pairs_read(t, r->pairs);
		jobs_read(p, &r->job);
		if (!use_sched_info())
			r->queued_at_ns = t->queued_at_ns;
		if (r->queued_at_ns)
			r->queued_cause = t->queued_cause;
	}
	bpf_seq_write(ctx->meta->seq, r, sizeof(*r));
	return 0;
}

/* Futex contention (starve-load --futex): its own programs and maps, off the hot path. */
#include "futex.bpf.h"

/* Syscalls by number and network bytes (starve-load --syscalls / --net): off the hot path. */
#include "sysnet.bpf.h"
