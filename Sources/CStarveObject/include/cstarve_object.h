/* The collector's BPF object (bpf/build/starve.bpf.o) embedded in the executable at build time,
 * as libbpf skeletons embed theirs: starve-load needs no file beside it. */
#ifndef CSTARVE_OBJECT_H
#define CSTARVE_OBJECT_H

#include <stddef.h>

/* The object's bytes; NULL when the build found no bpf/build/starve.bpf.o (then starve-load
 * looks for the file, or takes --object). */
const void *cstarve_object_data(void);
/* Its size in bytes; 0 when none was embedded. */
size_t cstarve_object_size(void);

#endif
