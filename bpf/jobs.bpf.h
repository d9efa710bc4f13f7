/* SPDX-License-Identifier: GPL-2.0 */
/* jobs.bpf.h - where a thread's time off the CPU goes, for the HPC job views (docs/jobs.md).
 *
 * Included by starve.bpf.c after its maps and settings. Off by default: with settings.jobs == 0
 * (starve-load without --jobs) every hook below is a constant-false branch the verifier prunes,
 * so the default load runs exactly the instructions it ran before.
 *
 * With --jobs, a thread switched out while not runnable (asleep) gets a timestamp and the
 * kernel's in_iowait bit (set by io_schedule() around page and buffer waits) or its uninterruptible state in a task
 * storage of its own (`job_sleeps`: the hot path's `task_states` is untouched); the wakeup
 * (sched_waking) closes the sleep into blocked_io_ns or sleep_ns. The run-queue wait after the
 * wakeup is the programs' usual wait, so on-CPU + run-queue wait + blocked in I/O + other sleep
 * cover a thread's life since the load. Cost: one storage lookup per sleeping switch-out and
 * one per wakeup, out of line (docs/overhead.md).
 */
#ifndef STARVE_JOBS_BPF_H
#define STARVE_JOBS_BPF_H

struct job_sleep {
	__u64 since_ns;      /* asleep since (bpf_ktime_get_ns); 0: not asleep */
	__u32 io;            /* in_iowait at the switch-out */
	__u32 _pad;
	struct starve_job_time time;
	struct starve_job_time folded; /* what fold_thread already moved to `exited` */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct job_sleep);
} job_sleeps SEC(".maps");

#define JOBS_TASK_UNINTERRUPTIBLE 0x0002
#define JOBS_TASK_NOLOAD 0x0400 /* TASK_IDLE: uninterruptible but not a wait for anything */

static __noinline void jobs_note_sleep(struct task_struct *task, __u32 state)
{
	struct job_sleep *s;
	struct starve_stats *st;

	if (!task)
		return;
	s = bpf_task_storage_get(&job_sleeps, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		st = cpu_stats();
		if (st)
			st->jobs_storage_failures++;
		return;
	}
	s->since_ns = bpf_ktime_get_ns();
	/* Blocked in I/O: an io_schedule() sleep, or any uninterruptible one (what the load average
	 * counts: fsync waiting for the journal commit sleeps so without in_iowait). */
	s->io = BPF_CORE_READ_BITFIELD(task, in_iowait) || /* (the macro has a local named p) */
		((state & JOBS_TASK_UNINTERRUPTIBLE) && !(state & JOBS_TASK_NOLOAD));
}

/* sched_switch: `prev` leaves its CPU asleep (not runnable, not dead). */
static __always_inline void jobs_switch_out_asleep(struct task_struct *prev, __u32 state)
{
	if (settings.jobs)
		jobs_note_sleep(prev, state);
}

static __noinline void jobs_close_sleep(struct task_struct *p)
{
	struct job_sleep *s;
	__u64 now, d;

	if (!p)
		return;
	s = bpf_task_storage_get(&job_sleeps, p, 0, 0);
	if (!s || !s->since_ns)
		return;
	now = bpf_ktime_get_ns();
	d = now > s->since_ns ? now - s->since_ns : 0;
	if (s->io)
		s->time.blocked_io_ns += d;
	else
		s->time.sleep_ns += d;
	s->since_ns = 0;
}

/* sched_waking: `p` is being woken (it may not have gone to sleep: then nothing is open). */
static __always_inline void jobs_waking(struct task_struct *p)
{
	if (settings.jobs)
		jobs_close_sleep(p);
}

/* The `tasks` iterator: a thread's figures so far, an open sleep up to now included. */
static __always_inline void jobs_read(struct task_struct *p, struct starve_job_time *out)
{
	struct job_sleep *s;
	__u64 now;

	if (!settings.jobs)
		return;
	s = bpf_task_storage_get(&job_sleeps, p, 0, 0);
	if (!s)
		return;
	*out = s->time;
	if (s->since_ns) {
		now = bpf_ktime_get_ns();
		if (now > s->since_ns) {
			if (s->io)
				out->blocked_io_ns += now - s->since_ns;
			else
				out->sleep_ns += now - s->since_ns;
		}
	}
}

/* What exited threads of each Slurm job did (starve.h, struct starve_job_key). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STARVE_DEFAULT_MAX_JOBS);
	__type(key, struct starve_job_key);
	__type(value, struct starve_job_exited);
} job_exited SEC(".maps");

#define JOBS_MAX_DEPTH 8   /* cgroup levels walked up from the thread's own */
#define JOBS_NAME_LEN 24   /* "job_" and up to 19 digits, NUL */

/* The Slurm job id in the name of the first `job_<digits>` cgroup at or above `cg`; 0: none. */
static __always_inline __u64 jobs_id_in(struct cgroup *cg)
{
	char name[JOBS_NAME_LEN];
	__u32 i, k;

	for (i = 0; i < JOBS_MAX_DEPTH && cg; i++) {
		const char *n = BPF_CORE_READ(cg, kn, name);
		struct cgroup_subsys_state *parent;

		__builtin_memset(name, 0, sizeof(name));
		if (n && bpf_probe_read_kernel_str(name, sizeof(name), n) > 5 &&
		    name[0] == 'j' && name[1] == 'o' && name[2] == 'b' && name[3] == '_') {
			__u64 id = 0;

			for (k = 4; k < JOBS_NAME_LEN - 1; k++) {
				char c = name[k];

				if (c < '0' || c > '9')
					break;
				id = id * 10 + (c - '0');
			}
			if (k > 4 && name[k] == 0)
				return id;
		}
		parent = BPF_CORE_READ(cg, self.parent);
		cg = parent ? BPF_CORE_READ(parent, cgroup) : NULL;
	}
	return 0;
}

/* The Slurm job of a thread: its freezer cgroup (v1 Slurm tracks jobs there), else its
 * default-hierarchy cgroup (v2). */
static __noinline __u64 jobs_job_of(struct task_struct *p)
{
	struct css_set *cgroups;
	__u64 id = 0;

	if (!p)
		return 0;
	cgroups = BPF_CORE_READ(p, cgroups);
	if (!cgroups)
		return 0;
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, freezer_cgrp_id)) {
		int sub = bpf_core_enum_value(enum cgroup_subsys_id, freezer_cgrp_id);
		struct cgroup_subsys_state *css = NULL;

		if (sub >= 0 && sub < 16)
			css = BPF_CORE_READ(cgroups, subsys[sub]);
		if (css)
			id = jobs_id_in(BPF_CORE_READ(css, cgroup));
	}
	if (!id)
		id = jobs_id_in(BPF_CORE_READ(cgroups, dfl_cgrp));
	return id;
}

static const struct starve_job_exited jobs_zero_exited;

/* fold_thread, before it empties the thread's storage: a dead thread of a Slurm job into the
 * job's `job_exited` entry (the kernel's counts since the last fold, as fold_thread computed). */
/* The kernel's counts of a dead thread since its last fold (fold_thread computes them). */
struct jobs_kernel_counts {
	__u64 runtime, vcsw, ivcsw, migrations;
};

static __noinline void jobs_fold_job(struct task_struct *p, struct task_state *t,
				     struct jobs_kernel_counts *k)
{
	struct starve_job_key key = {};
	struct starve_job_exited *je;
	struct starve_exited *e;
	struct job_sleep *s;

	if (!p || !t || !k)
		return;
	key.job_id = jobs_job_of(p);
	if (!key.job_id)
		return;
	je = bpf_map_lookup_elem(&job_exited, &key);
	if (!je) {
		bpf_map_update_elem(&job_exited, &key, &jobs_zero_exited, BPF_NOEXIST);
		je = bpf_map_lookup_elem(&job_exited, &key);
		if (!je)
			return;
	}
	e = &je->work;
	if (!t->folded) {
		/* the kernel's I/O accounting of the thread: whole, once */
		__sync_fetch_and_add(&je->io.rchar, p->ioac.rchar);
		__sync_fetch_and_add(&je->io.wchar, p->ioac.wchar);
		__sync_fetch_and_add(&je->io.syscr, p->ioac.syscr);
		__sync_fetch_and_add(&je->io.syscw, p->ioac.syscw);
		__sync_fetch_and_add(&je->io.read_bytes, p->ioac.read_bytes);
		__sync_fetch_and_add(&je->io.write_bytes, p->ioac.write_bytes);
		__sync_fetch_and_add(&je->io.cancelled_write_bytes, p->ioac.cancelled_write_bytes);
	}
	if (!t->folded)
		__sync_fetch_and_add(&e->threads, 1);
	__sync_fetch_and_add(&e->runtime_ns, k->runtime);
	__sync_fetch_and_add(&e->voluntary_switches, k->vcsw);
	__sync_fetch_and_add(&e->involuntary_switches, k->ivcsw);
	__sync_fetch_and_add(&e->migrations, k->migrations);
	__sync_fetch_and_add(&e->wait_wakeup.total_ns, t->wait_wakeup.total_ns);
	__sync_fetch_and_add(&e->wait_wakeup.count, t->wait_wakeup.count);
	__sync_fetch_and_add(&e->wait_preempt.total_ns, t->wait_preempt.total_ns);
	__sync_fetch_and_add(&e->wait_preempt.count, t->wait_preempt.count);
	__sync_fetch_and_add(&e->wait_throttled.total_ns, t->wait_throttled.total_ns);
	__sync_fetch_and_add(&e->wait_throttled.count, t->wait_throttled.count);
	__sync_fetch_and_add(&e->preempted_same, t->preempted_same);
	__sync_fetch_and_add(&e->preempted_other, t->preempted_other);
	__sync_fetch_and_add(&e->preempted_system, t->preempted_system);
	s = bpf_task_storage_get(&job_sleeps, p, 0, 0);
	if (s) {
		/* before jobs_fold (below) moves `folded` up to `time` */
		__u64 io = s->time.blocked_io_ns - s->folded.blocked_io_ns;
		__u64 other = s->time.sleep_ns - s->folded.sleep_ns;

		if (io)
			__sync_fetch_and_add(&e->job.blocked_io_ns, io);
		if (other)
			__sync_fetch_and_add(&e->job.sleep_ns, other);
	}
}

/* fold_thread: a dead thread's sleeps into its `exited` entry (what came after an earlier fold). */
static __always_inline void jobs_fold(struct task_struct *p, struct starve_job_time *into)
{
	struct job_sleep *s;
	__u64 io, other;

	if (!settings.jobs)
		return;
	s = bpf_task_storage_get(&job_sleeps, p, 0, 0);
	if (!s)
		return;
	io = s->time.blocked_io_ns - s->folded.blocked_io_ns;
	other = s->time.sleep_ns - s->folded.sleep_ns;
	s->folded = s->time;
	if (io)
		__sync_fetch_and_add(&into->blocked_io_ns, io);
	if (other)
		__sync_fetch_and_add(&into->sleep_ns, other);
}

#endif /* STARVE_JOBS_BPF_H */
