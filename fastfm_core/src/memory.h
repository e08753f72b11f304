/* Allocation of the solvers' large scratch buffers (see memory.c). */
#ifndef FM_MEMORY_H
#define FM_MEMORY_H

#include <stddef.h>

/* Like malloc, for buffers of megabytes that are accessed at random: on Linux
 * they are aligned to 2 MiB and marked for transparent huge pages, which
 * saves a TLB miss on most random accesses. Free with fm_free_large. */
void *fm_alloc_large(size_t bytes);
void fm_free_large(void *p);

#endif
