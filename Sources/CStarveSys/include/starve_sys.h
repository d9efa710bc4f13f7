/* starve_sys.h - the Linux calls Swift's Glibc module does not export (they need _GNU_SOURCE):
 * affinity, parent-death signal, POSIX_SPAWN_SETSID, thread ids and names, PI mutexes.
 * Every symbol prefixed starve_sys_. */
#ifndef STARVE_SYS_H
#define STARVE_SYS_H

#include <pthread.h>
#include <sys/types.h>

/* sched_setaffinity(0, ...) for the calling thread with the given CPUs; -1 + errno on failure. */
int starve_sys_set_affinity(const int *cpus, int count);

/* prctl(PR_SET_PDEATHSIG, sig): the kernel sends sig when the parent exits. */
int starve_sys_set_parent_death_signal(int sig);

/* POSIX_SPAWN_SETSID (glibc 2.26+). */
short starve_sys_posix_spawn_setsid(void);

/* The calling thread's id (syscall(SYS_gettid): the variadic syscall() is not callable from Swift). */
pid_t starve_sys_gettid(void);

/* prctl(PR_SET_NAME): the calling thread's comm (15 bytes kept), as /proc and tracers show it. */
int starve_sys_set_thread_name(const char *name);

/* pthread_mutex_init with PTHREAD_PRIO_INHERIT when priority_inheritance is non-zero (glibc then
 * locks through FUTEX_LOCK_PI, i.e. a kernel rt_mutex); 0 or an error number. */
int starve_sys_mutex_init(pthread_mutex_t *mutex, int priority_inheritance);

/* Large blocks from the heap, kept when freed (mallopt M_MMAP_THRESHOLD and M_TRIM_THRESHOLD
 * at 1 GiB): 1 on success. */
int starve_sys_reuse_large_blocks(void);

/* Forks `count` short-lived children one after another: each burns `burn_ns` of CPU time and
 * exits; each is reaped before the next. Returns the children made, or -errno when none could be. */
long starve_sys_fork_exit(long count, long burn_ns);

#endif
