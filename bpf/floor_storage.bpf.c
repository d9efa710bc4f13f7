// SPDX-License-Identifier: GPL-2.0
/* floor_storage.bpf.c - the floor of any per-thread design: what starve's programs pay before
 * they count anything. On every sched_switch, the next thread's task-local storage (created on
 * its first switch-in, as starve's is) and one counter in it; and an empty sched_waking program,
 * the second probe that priority inversion needs (the waker is known only there). The overhead
 * benchmark loads it as the "storage" condition, beside the empty-program floor. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} stfloor_states SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(stfloor_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 *switches;

	if (!next->pid)
		return 0;
	switches = bpf_task_storage_get(&stfloor_states, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (switches)
		(*switches)++;
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(stfloor_waking, struct task_struct *p)
{
	return 0;
}
