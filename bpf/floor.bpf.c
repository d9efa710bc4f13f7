// SPDX-License-Identifier: GPL-2.0
/* floor.bpf.c - the cost floor: an empty tp_btf sched_switch program. The overhead benchmark
 * loads it to measure what attaching anything at all to sched_switch costs on this machine. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}
