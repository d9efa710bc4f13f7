/* SPDX-License-Identifier: GPL-2.0 */
/* sysnet.bpf.h - syscalls by number and network bytes per (Slurm job, process): the load-time
 * options --syscalls and --net of starve-load, both off by default (docs/jobs.md; cost in
 * docs/overhead.md). Layouts: starve.h's "syscalls and network bytes" section.
 *
 * --syscalls: tp_btf/sys_enter (the raw syscall tracepoint; no kprobes or fentry here), one
 *   hash update per syscall. With --futex as well, this program also does futex's sys_enter
 *   work (futex_on_enter) and starve_futex_enter is not loaded: one program per syscall entry.
 * --net: tp_btf/sock_send_length and sock_recv_length, which fire in sock_sendmsg/sock_recvmsg
 *   for every path to a socket (send*, recv*, read/write/splice on a socket fd), in the
 *   sending or receiving task's context, with the byte count. net_dev_xmit and
 *   netif_receive_skb are per device and, for receives, run in softirq context (not the task's);
 *   sys_exit of the send/recv family would miss read()/write() on sockets and cost every
 *   syscall. Only AF_INET/AF_INET6 sockets count (not AF_UNIX: local IPC is not network).
 *
 * Keys carry the process (tgid): an entry outlives the threads that made it, so exited
 * threads are included until the LRU evicts the entry. The job id is jobs.bpf.h's (job_<id>
 * cgroup ancestor), cached per thread in task storage with the css_set it was read from and
 * read again only when the thread changes cgroups (Slurm moves a task into its job's cgroup
 * after fork).
 */
#ifndef STARVE_SYSNET_BPF_H
#define STARVE_SYSNET_BPF_H

struct sysnet_task {
	__u64 css_set; /* task->cgroups the job id was read from */
	__u64 job_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sysnet_task);
} sysnet_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* starve-load --syscalls sets STARVE_DEFAULT_MAX_SYSCALL_KEYS */
	__type(key, struct starve_sys_key);
	__type(value, __u64);
} sys_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1); /* starve-load --net sets STARVE_DEFAULT_MAX_NET_KEYS */
	__type(key, struct starve_net_key);
	__type(value, struct starve_net_bytes);
} net_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct starve_sysnet_stats);
} sysnet_stats SEC(".maps");

static __always_inline struct starve_sysnet_stats *sysnet_stat(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sysnet_stats, &zero);
}

/* The current thread's job id (0: none), from its cache. */
static __always_inline __u64 sysnet_job(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct starve_sysnet_stats *st;
	struct sysnet_task *s;
	__u64 cs;

	s = bpf_task_storage_get(&sysnet_tasks, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		st = sysnet_stat();
		if (st)
			st->storage_failures++;
		return 0;
	}
	cs = (__u64)task->cgroups;
	if (s->css_set != cs) {
		s->job_id = jobs_job_of(task);
		s->css_set = cs;
	}
	return s->job_id;
}

static const __u64 sysnet_one = 1;

SEC("?tp_btf/sys_enter")
int BPF_PROG(starve_syscalls_enter, struct pt_regs *regs, long id)
{
	struct starve_sys_key key;
	struct starve_sysnet_stats *st;
	__u64 *n;

	if (settings.sysnet & STARVE_SYSNET_FUTEX_SHARED)
		futex_on_enter(regs, id);
	if (id < 0)
		return 0;
	key.job_id = sysnet_job();
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.nr = (__u32)id;
	n = bpf_map_lookup_elem(&sys_counts, &key);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	if (bpf_map_update_elem(&sys_counts, &key, &sysnet_one, BPF_NOEXIST)) {
		/* a racing insert by another thread of the process: add to it */
		n = bpf_map_lookup_elem(&sys_counts, &key);
		if (n) {
			__sync_fetch_and_add(n, 1);
		} else {
			st = sysnet_stat();
			if (st)
				st->syscall_insert_failures++;
		}
	}
	return 0;
}

#define SYSNET_AF_INET 2
#define SYSNET_AF_INET6 10
#define SYSNET_MSG_PEEK 2

static __always_inline void sysnet_count(struct sock *sk, int ret, int flags, int sent)
{
	struct starve_net_key key = {};
	struct starve_net_bytes *b;
	struct starve_sysnet_stats *st;
	__u16 family;

	if (ret <= 0 || !sk || (!sent && (flags & SYSNET_MSG_PEEK)))
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != SYSNET_AF_INET && family != SYSNET_AF_INET6)
		return;
	key.job_id = sysnet_job();
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	b = bpf_map_lookup_elem(&net_bytes, &key);
	if (!b) {
		struct starve_net_bytes zero = {};

		bpf_map_update_elem(&net_bytes, &key, &zero, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&net_bytes, &key);
		if (!b) {
			st = sysnet_stat();
			if (st)
				st->net_insert_failures++;
			return;
		}
	}
	if (sent) {
		__sync_fetch_and_add(&b->sent_bytes, ret);
		__sync_fetch_and_add(&b->sends, 1);
	} else {
		__sync_fetch_and_add(&b->received_bytes, ret);
		__sync_fetch_and_add(&b->receives, 1);
	}
}

SEC("?tp_btf/sock_send_length")
int BPF_PROG(starve_net_send, struct sock *sk, int ret, int flags)
{
	sysnet_count(sk, ret, flags, 1);
	return 0;
}

SEC("?tp_btf/sock_recv_length")
int BPF_PROG(starve_net_recv, struct sock *sk, int ret, int flags)
{
	sysnet_count(sk, ret, flags, 0);
	return 0;
}

#endif /* STARVE_SYSNET_BPF_H */
