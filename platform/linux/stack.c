#include "platform/stack.h"

#include <execinfo.h>

uint64_t cnp_stack_key(unsigned depth)
{
	void *pcs[64];
	int n = backtrace(pcs, depth < 63 ? (int)depth + 1 : 64);
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a over the addresses */
	for (int i = 1; i < n; i++) { /* not this function's own frame */
		h ^= (uint64_t)(uintptr_t)pcs[i];
		h *= 0x100000001b3u;
	}
	return n > 0 ? h : 0;
}
