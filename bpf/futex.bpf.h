/* futex.bpf.h - futex contention, a load-time option (starve-load --futex), off by default.
 *
 * Per thread: time from entering a futex wait (FUTEX_WAIT, WAIT_BITSET, LOCK_PI, LOCK_PI2,
 * WAIT_REQUEUE_PI; futex_waitv) to leaving it, and how many such waits, in `futex_threads`
 * (an LRU hash keyed by tid: an exited thread's entry stays until evicted, so readers take
 * per-interval growth per tid). Blocked time, mostly: a wait that finds the lock free returns
 * at once.
 *
 * Hooked to the raw syscall tracepoints (tp_btf/sys_enter, sys_exit), which need no tracefs
 * and load where fentry and kprobes do not (KERNEL.md); they fire for every syscall, so the
 * first thing each does is compare the syscall number (one load), and the programs are loaded
 * only with --futex (SEC("?...")): their cost is measured with kernel.bpf_stats_enabled
 * (docs/tuning.md). Nothing here runs in sched_switch.
 *
 * Included at the end of starve.bpf.c; its layouts are in starve.h's futex section.
 */

#ifndef __NR_futex
#if defined(__TARGET_ARCH_x86)
#define __NR_futex 202
#define __NR_futex_waitv 449
#elif defined(__TARGET_ARCH_arm64)
#define __NR_futex 98
#define __NR_futex_waitv 449
#endif
#endif

#define STARVE_FUTEX_CMD_MASK 0x7f /* without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256) */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* starve-load --futex sets STARVE_DEFAULT_MAX_FUTEX_THREADS */
	__type(key, __u32);
	__type(value, struct starve_futex_thread);
} futex_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_futex_stats);
} futex_stats SEC(".maps");

/* tp_btf hands over a trusted pt_regs: direct loads (CO-RE relocated, no helper call), which
 * matters here, on every syscall's exit. */
static __always_inline long starve_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return regs->syscallno;
#else
	return -1;
#endif
}

static __always_inline int starve_futex_is_wait(int op)
{
	switch (op & STARVE_FUTEX_CMD_MASK) {
	case 0:  /* FUTEX_WAIT */
	case 6:  /* FUTEX_LOCK_PI */
	case 9:  /* FUTEX_WAIT_BITSET */
	case 11: /* FUTEX_WAIT_REQUEUE_PI */
	case 13: /* FUTEX_LOCK_PI2 */
		return 1;
	}
	return 0;
}

SEC("?tp_btf/sys_enter")
int BPF_PROG(starve_futex_enter, struct pt_regs *regs, long id)
{
	struct starve_futex_thread *f, fresh = {};
	struct starve_futex_stats *st;
	__u64 pid_tgid;
	__u32 tid, zero = 0;

	if (id != __NR_futex && id != __NR_futex_waitv)
		return 0;
	if (id == __NR_futex && !starve_futex_is_wait((int)PT_REGS_PARM2_SYSCALL(regs)))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tid = (__u32)pid_tgid;
	st = bpf_map_lookup_elem(&futex_stats, &zero);
	f = bpf_map_lookup_elem(&futex_threads, &tid);
	if (!f) {
		fresh.tgid = pid_tgid >> 32;
		if (bpf_map_update_elem(&futex_threads, &tid, &fresh, BPF_NOEXIST) && st)
			st->insert_failures++;
		f = bpf_map_lookup_elem(&futex_threads, &tid);
		if (!f)
			return 0;
	}
	f->open_since_ns = bpf_ktime_get_ns();
	if (st)
		st->enters++;
	return 0;
}

SEC("?tp_btf/sys_exit")
int BPF_PROG(starve_futex_exit, struct pt_regs *regs, long ret)
{
	struct starve_futex_thread *f;
	__u32 tid;
	__u64 now;
	long nr = starve_syscall_nr(regs);

	if (nr != __NR_futex && nr != __NR_futex_waitv)
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	f = bpf_map_lookup_elem(&futex_threads, &tid);
	if (!f || !f->open_since_ns)
		return 0;
	now = bpf_ktime_get_ns();
	/* Only this thread writes its entry: plain adds. */
	f->wait_ns += now - f->open_since_ns;
	f->waits++;
	f->open_since_ns = 0;
	return 0;
}
