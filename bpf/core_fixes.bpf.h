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
static __always_inline __u64 starve_cpu_cgroup_id(struct task_struct *p, __u64 dfl_id)
{
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, cpu_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
		struct cgroup_subsys_state *css = p->cgroups->subsys[id];

		if (css)
			return css->cgroup->kn->id;
	}
	return dfl_id;
}

#endif
