#include "firmware/alloc.h"

#include "platform/stack.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;
static atomic_ulong allocations;
/* CANOPY_ALLOC_FAIL_AT: the 1-based index of the one allocation to fail
 * (0: none), counted in total_allocations since the start. */
static atomic_ulong fail_at;
static atomic_ulong total_allocations;
/* CANOPY_ALLOC_SITES=DEPTH: each allocation prints its index and a hash of
 * the DEPTH innermost frames of its call stack. */
static atomic_uint print_sites;

/* Returns nonzero when this allocation must fail (test hook). */
static int should_fail(void)
{
	atomic_fetch_add(&allocations, 1);
	unsigned long nth = atomic_fetch_add(&total_allocations, 1) + 1;
	unsigned depth = atomic_load(&print_sites);
	if (depth)
		fprintf(stderr, "canopy: allocation %lu at %016llx\n", nth,
		        (unsigned long long)cnp_stack_key(depth));
	unsigned long at = atomic_load(&fail_at);
	if (at != 0 && nth == at)
		return 1;
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

static void report(void)
{
	fprintf(stderr, "canopy: allocations: %lu (failed: %lu)\n",
	        atomic_load(&total_allocations), atomic_load(&fail_at));
}

void cnp_alloc_init_from_env(void)
{
	const char *at = getenv("CANOPY_ALLOC_FAIL_AT");
	if (at && *at) {
		char *end;
		unsigned long n = strtoul(at, &end, 10);
		if (*end == 0)
			atomic_store(&fail_at, n);
	}
	const char *sites = getenv("CANOPY_ALLOC_SITES");
	if (sites && *sites) {
		char *end;
		unsigned long n = strtoul(sites, &end, 10);
		if (*end == 0 && n > 0 && n < 64)
			atomic_store(&print_sites, (unsigned)n);
	}
	const char *rep = getenv("CANOPY_ALLOC_REPORT");
	if (rep && strcmp(rep, "1") == 0)
		atexit(report);
}
