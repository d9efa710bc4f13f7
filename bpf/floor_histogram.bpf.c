// SPDX-License-Identifier: GPL-2.0
/* floor_histogram.bpf.c - the least a per-thread run-queue latency probe can do: the storage
 * floor (floor_storage.bpf.c) plus, at each switch-in, the growth of the kernel's run-queue total
 * (sched_info, as starve reads it) into one histogram slot of the thread's storage. No causes,
 * no attribution, no events: a lower bound for starve's switch program, for A/B runs with
 * scripts/bench/pairedcost.sh (docs/overhead.md, "Why the 1/3 target is out of reach"). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "starve.h"
#include "core_fixes.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct hfloor_state {
	__u64 run_delay_seen;
	__u32 wait_hist[STARVE_HIST_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hfloor_state);
} hfloor_states SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(hfloor_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now, queued, total, delta;
	struct hfloor_state *t;
	__u32 slot;

	if (!next->pid)
		return 0;
	t = bpf_task_storage_get(&hfloor_states, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return 0;
	now = starve_rq_clock(next);
	queued = starve_last_queued(next);
	total = starve_run_delay(next) + (queued && now > queued ? now - queued : 0);
	delta = total > t->run_delay_seen ? total - t->run_delay_seen : 0;
	t->run_delay_seen = total;
	slot = delta ? 63 - __builtin_clzll(delta) : 0;
	if (slot >= STARVE_HIST_SLOTS)
		slot = STARVE_HIST_SLOTS - 1;
	t->wait_hist[slot]++;
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(hfloor_waking, struct task_struct *p)
{
	return 0;
}
