/* core_fixes.bpf.h - one block per kernel change we read around (libbpf-tools style). */
#ifndef STARVE_CORE_FIXES_BPF_H
#define STARVE_CORE_FIXES_BPF_H

#include <bpf/bpf_core_read.h>

/* Kernel 5.14 renamed task_struct::state to __state (commit 2f064a59a11f,
 * "sched: Change task_struct::state"). Direct loads: tp_btf hands us a trusted task pointer. */
struct task_struct___o {
	volatile long int state;
} __attribute__((preserve_access_index));

struct task_struct___x {
	unsigned int __state;
} __attribute__((preserve_access_index));

static __always_inline __u32 starve_task_state(void *task)
{
	struct task_struct___x *t = task;
	struct task_struct___o *o = task;

	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return (__u32)o->state;
}

/* The cpu controller's subsystem id exists only with CONFIG_CGROUP_SCHED; without it (or on a
 * kernel whose enum lacks it) the cpu-controller cgroup is reported as the default one. */
static __always_inline struct cgroup *starve_cpu_cgroup(struct task_struct *p)
{
	struct css_set *cgroups = p->cgroups;

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpu_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
		struct cgroup_subsys_state *css = cgroups->subsys[id];

		if (css)
			return css->cgroup;
	}
	return cgroups->dfl_cgrp;
}

static __always_inline __u64 starve_cpu_cgroup_id(struct task_struct *p)
{
	return starve_cpu_cgroup(p)->kn->id;
}

/* What a task's cpu cgroup id can be cached under: its run-queue group (sched_task_group,
 * CONFIG_CGROUP_SCHED), which moving it to another cpu cgroup changes (an autogroup change, on
 * setsid, only costs a lookup again), else its css_set. sched_task_group sits by the fields the
 * scheduler has just used; `cgroups` is lines away in a cold part of task_struct. */
struct task_struct___tg {
	void *sched_task_group;
} __attribute__((preserve_access_index));

static __always_inline __u64 starve_cgroup_key(struct task_struct *p)
{
	struct task_struct___tg *t = (void *)p;

	if (bpf_core_field_exists(t->sched_task_group))
		return (__u64)t->sched_task_group;
	return (__u64)p->cgroups;
}

/* The CPU a task is on, or last ran on (task_cpu()). */
struct thread_info___cpu {
	unsigned int cpu;
} __attribute__((preserve_access_index));

struct task_struct___cpu {
	struct thread_info___cpu thread_info;
	unsigned int cpu;
} __attribute__((preserve_access_index));

static __always_inline __u32 starve_task_cpu(void *task)
{
	struct task_struct___cpu *t = task;

	if (bpf_core_field_exists(t->thread_info.cpu))
		return t->thread_info.cpu;
	if (bpf_core_field_exists(t->cpu))
		return t->cpu;
	return 0;
}

/* CFS bandwidth throttling of a task being switched out.
 * 6.18 throttles tasks one by one on their way back to user space (the "task based throttle"
 * series by Aaron Lu and Valentin Schneider): task_struct::throttled.
 * Before, a throttled cfs_rq was dequeued whole (throttle_cfs_rq) and its throttle_count,
 * which also counts throttled ancestors, said so. Neither exists without CONFIG_CFS_BANDWIDTH. */
struct task_struct___throttle {
	bool throttled;
} __attribute__((preserve_access_index));

struct cfs_rq___throttle {
	int throttle_count;
} __attribute__((preserve_access_index));

struct sched_entity___group {
	struct cfs_rq___throttle *cfs_rq;
} __attribute__((preserve_access_index));

struct task_struct___group {
	struct sched_entity___group se;
} __attribute__((preserve_access_index));

static __always_inline bool starve_task_throttled(void *task)
{
	struct task_struct___throttle *t = task;
	struct task_struct___group *g = task;

	if (bpf_core_field_exists(t->throttled))
		return t->throttled;
	if (bpf_core_field_exists(g->se.cfs_rq) &&
	    bpf_core_field_exists(struct cfs_rq___throttle, throttle_count)) {
		struct cfs_rq___throttle *cfs_rq = g->se.cfs_rq;

		return cfs_rq && cfs_rq->throttle_count > 0;
	}
	return false;
}

/* The kernel's own run-queue bracket (CONFIG_SCHED_INFO): last_queued is set at enqueue (and at
 * a runnable switch-out) and cleared at switch-in, after sched_switch fires. */
struct sched_info___si {
	unsigned long long run_delay;
	unsigned long long last_queued;
	unsigned long long last_arrival;
} __attribute__((preserve_access_index));

struct task_struct___si {
	struct sched_info___si sched_info;
} __attribute__((preserve_access_index));

static __always_inline bool starve_have_sched_info(void)
{
	return bpf_core_field_exists(struct task_struct___si, sched_info);
}

static __always_inline __u64 starve_last_queued(void *task)
{
	struct task_struct___si *t = task;

	return bpf_core_field_exists(t->sched_info) ? t->sched_info.last_queued : 0;
}

/* The kernel's running total of run-queue wait: sched_info_dequeue() adds the part of a wait
 * spent queued on a CPU when the task leaves that queue without running (load-balancer
 * migration of a queued task, a stop signal) and clears last_queued; sched_info_arrive() adds
 * the last part at switch-in. What /proc/<pid>/schedstat's second field shows. */
static __always_inline __u64 starve_run_delay(void *task)
{
	struct task_struct___si *t = task;

	return bpf_core_field_exists(t->sched_info) ? t->sched_info.run_delay : 0;
}

static __always_inline __u64 starve_last_arrival(void *task)
{
	struct task_struct___si *t = task;

	return bpf_core_field_exists(t->sched_info) ? t->sched_info.last_arrival : 0;
}

/* A task's run queue, for its clock: through its CFS run queue (CONFIG_FAIR_GROUP_SCHED), since
 * the per-CPU `runqueues` symbol is not resolvable as a ksym without CONFIG_KALLSYMS_ALL.
 * Every task, of any class, has se.cfs_rq set to its CPU's (set_task_rq). */
struct rq___clock {
	unsigned long long clock;
	unsigned long long clock_task;
} __attribute__((preserve_access_index));

struct cfs_rq___rq {
	struct rq___clock *rq;
} __attribute__((preserve_access_index));

struct sched_entity___rq {
	struct cfs_rq___rq *cfs_rq;
} __attribute__((preserve_access_index));

struct task_struct___rq {
	struct sched_entity___rq se;
} __attribute__((preserve_access_index));

static __always_inline bool starve_have_task_rq(void)
{
	return bpf_core_field_exists(struct sched_entity___rq, cfs_rq) &&
	       bpf_core_field_exists(struct cfs_rq___rq, rq);
}

static __always_inline __u64 starve_rq_clock(void *task)
{
	struct task_struct___rq *t = task;
	struct cfs_rq___rq *cfs_rq;

	if (!starve_have_task_rq())
		return 0;
	cfs_rq = t->se.cfs_rq;
	return cfs_rq && cfs_rq->rq ? cfs_rq->rq->clock : 0;
}

/* The run queue's task clock (what se.exec_start and sum_exec_runtime are counted on). */
static __always_inline __u64 starve_rq_clock_task(void *task)
{
	struct task_struct___rq *t = task;
	struct cfs_rq___rq *cfs_rq;

	if (!starve_have_task_rq() || !bpf_core_field_exists(struct rq___clock, clock_task))
		return 0;
	cfs_rq = t->se.cfs_rq;
	return cfs_rq && cfs_rq->rq ? cfs_rq->rq->clock_task : 0;
}

#endif
