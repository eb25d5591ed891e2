/*
 * All of canopy's heap allocation goes through these wrappers, so that a
 * test can make the Nth allocation fail and prove that every path cleans up
 * (curl's torture mode). They behave like the libc functions they wrap.
 * Thread-safe.
 */
#ifndef CNP_ALLOC_H
#define CNP_ALLOC_H

#include <stddef.h>

void *cnp_malloc(size_t size);
void *cnp_calloc(size_t count, size_t size);
void *cnp_realloc(void *ptr, size_t size);
void cnp_free(void *ptr);
/* Duplicates a NUL-terminated string; NULL on allocation failure. */
char *cnp_strdup(const char *s);

/*
 * Test hook: after `n` more successful allocations, every allocation fails
 * (returns NULL) until the hook is reset with n < 0. Also counts allocations
 * made since the last call, returned by cnp_alloc_count().
 */
void cnp_alloc_fail_after(long n);
unsigned long cnp_alloc_count(void);

/*
 * The allocation-failure pass (tests/integration/alloc_fail.sh) on a whole
 * run: with CANOPY_ALLOC_FAIL_AT=N in the environment, the Nth allocation
 * of the process (1-based, all threads, through these wrappers) fails, and
 * only that one; with CANOPY_ALLOC_REPORT=1, the process prints
 * "canopy: allocations: TOTAL (failed: N)" to stderr when it exits
 * normally; with CANOPY_ALLOC_SITES=DEPTH (1 to 63), every allocation
 * prints "canopy: allocation N at KEY", KEY a hash of the DEPTH innermost
 * frames of its call stack (cnp_stack_key), so that the pass can fail one
 * allocation per call path.
 * canopy's main() calls this first; nothing happens when no variable is
 * set.
 */
void cnp_alloc_init_from_env(void);

#endif
