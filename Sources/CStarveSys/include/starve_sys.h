/* starve_sys.h - the Linux calls Swift's Glibc module does not export (they need _GNU_SOURCE):
 * affinity, parent-death signal, POSIX_SPAWN_SETSID. Every symbol prefixed starve_sys_. */
#ifndef STARVE_SYS_H
#define STARVE_SYS_H

/* sched_setaffinity(0, ...) for the calling thread with the given CPUs; -1 + errno on failure. */
int starve_sys_set_affinity(const int *cpus, int count);

/* prctl(PR_SET_PDEATHSIG, sig): the kernel sends sig when the parent exits. */
int starve_sys_set_parent_death_signal(int sig);

/* POSIX_SPAWN_SETSID (glibc 2.26+). */
short starve_sys_posix_spawn_setsid(void);

#endif
