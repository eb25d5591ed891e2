#include "firmware/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;
static atomic_ulong allocations;

/* Returns nonzero when this allocation must fail (test hook). */
static int should_fail(void)
{
	atomic_fetch_add(&allocations, 1);
	long left = atomic_load(&fail_countdown);
	while (left >= 0) {
		if (left == 0)
			return 1;
		if (atomic_compare_exchange_weak(&fail_countdown, &left, left - 1))
			return 0;
	}
	return 0;
}

void *cnp_malloc(size_t size)
{
	return should_fail() ? NULL : malloc(size ? size : 1);
}

void *cnp_calloc(size_t count, size_t size)
{
	return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *cnp_realloc(void *ptr, size_t size)
{
	return should_fail() ? NULL : realloc(ptr, size ? size : 1);
}

void cnp_free(void *ptr)
{
	free(ptr);
}

char *cnp_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy = cnp_malloc(n);
	if (copy)
		memcpy(copy, s, n);
	return copy;
}

void cnp_alloc_fail_after(long n)
{
	atomic_store(&fail_countdown, n < 0 ? -1 : n);
	atomic_store(&allocations, 0);
}

unsigned long cnp_alloc_count(void)
{
	return atomic_load(&allocations);
}
