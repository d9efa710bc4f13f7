#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <spawn.h>
#include <sys/prctl.h>
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
