#ifndef STARVE_CLIBBPF_SHIM_H
#define STARVE_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/vfs.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#endif
