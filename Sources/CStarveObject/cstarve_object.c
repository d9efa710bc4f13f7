/* Embeds bpf/build/starve.bpf.o (CSTARVE_OBJECT_PATH, an absolute path set in Package.swift)
 * with the assembler's .incbin, when it exists at build time. Build the BPF object first
 * (`make -C bpf`, which scripts/run.sh build does). */
#include "cstarve_object.h"

/* The path arrives bare (a quoted define does not survive every build system's command
 * line): made a string literal here. */
/* GNU C predefines these lowercase names; a path may hold them as words. */
#undef linux
#undef unix
#undef i386
#define CSTARVE_STRING2(x) #x
#define CSTARVE_STRING(x) CSTARVE_STRING2(x)

#if defined(CSTARVE_OBJECT_PATH) && __has_include(CSTARVE_STRING(CSTARVE_OBJECT_PATH))
/* The object's checksum (bpf/Makefile writes it beside the object): an include the compiler
 * records as a dependency, which .incbin is not, so a rebuilt object is embedded again. */
#if defined(CSTARVE_OBJECT_STAMP_PATH) && __has_include(CSTARVE_STRING(CSTARVE_OBJECT_STAMP_PATH))
#include CSTARVE_STRING(CSTARVE_OBJECT_STAMP_PATH)
#endif
__asm__(".pushsection .rodata.cstarve_object, \"a\"\n"
        ".balign 8\n"
        "cstarve_object_start:\n"
        ".incbin \"" CSTARVE_STRING(CSTARVE_OBJECT_PATH) "\"\n"
        "cstarve_object_end:\n"
        ".popsection\n");
extern const unsigned char cstarve_object_start[];
extern const unsigned char cstarve_object_end[];

const void *cstarve_object_data(void) { return cstarve_object_start; }
size_t cstarve_object_size(void) { return (size_t)(cstarve_object_end - cstarve_object_start); }
#else
const void *cstarve_object_data(void) { return NULL; }
size_t cstarve_object_size(void) { return 0; }
#endif
