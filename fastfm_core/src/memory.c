/*
 * Large buffers on transparent huge pages where the OS offers them.
 *
 * The per-thread model replicas are read and written at random feature
 * offsets; with 4 KiB pages most of those accesses also miss the TLB. Linux
 * in the common "madvise" THP mode backs a region with 2 MiB pages only when
 * asked (numpy asks for its own large arrays), so ask here too.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#include <sys/mman.h>
#endif
#include <stdlib.h>

#include "memory.h"

#define FM_HUGE_PAGE ((size_t)2 << 20)

void *fm_alloc_large(size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= FM_HUGE_PAGE) {
        void *p = NULL;
        const size_t rounded = (bytes + FM_HUGE_PAGE - 1) / FM_HUGE_PAGE * FM_HUGE_PAGE;
        if (posix_memalign(&p, FM_HUGE_PAGE, rounded) != 0)
            return NULL;
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: failure only costs speed */
        return p;
    }
#endif
    return malloc(bytes ? bytes : 1);
}

void fm_free_large(void *p)
{
    free(p);
}
