#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "starve_sys.h"

int starve_sys_set_affinity(const int *cpus, int count)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (int i = 0; i < count; i++) {
		if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) {
			errno = EINVAL;
			return -1;
		}
		CPU_SET(cpus[i], &set);
	}
	return sched_setaffinity(0, sizeof(set), &set);
}

int starve_sys_set_parent_death_signal(int sig)
{
	return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0);
}

short starve_sys_posix_spawn_setsid(void)
{
	return POSIX_SPAWN_SETSID;
}

pid_t starve_sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int starve_sys_set_thread_name(const char *name)
{
	return prctl(PR_SET_NAME, name, 0, 0, 0);
}

int starve_sys_mutex_init(pthread_mutex_t *mutex, int priority_inheritance)
{
	pthread_mutexattr_t attr;
	int rc = pthread_mutexattr_init(&attr);

	if (rc)
		return rc;
	if (priority_inheritance)
		rc = pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
	if (!rc)
		rc = pthread_mutex_init(mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

int starve_sys_reuse_large_blocks(void)
{
	return mallopt(M_MMAP_THRESHOLD, 1 << 30) && mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

/* The child of vfork: runs on the parent's stack below its frame, touches nothing of it. */
static __attribute__((noreturn, noinline)) void churn_child(long burn_ns)
{
	struct timespec t0, t;

	if (burn_ns > 0) {
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
		do {
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
		} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < burn_ns);
	}
	_exit(0);
}

long starve_sys_fork_exit(long count, long burn_ns)
{
	long made = 0;

	while (made < count) {
		/* vfork: no copy of the parent's (large) address space, so thousands a second. */
		pid_t pid = vfork();

		if (pid < 0)
			return made ? made : -errno;
		if (pid == 0)
			churn_child(burn_ns);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		made++;
	}
	return made;
}
