#include "platform/random.h"

#include "platform/clock.h"

#include <sys/random.h>

void cnp_random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n <= 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	/* Only reached if getrandom fails (very old kernels): good enough
	 * for jitter, which is all this seam promises. */
	uint64_t x = cnp_clock_mono_us() ^ 0x9E3779B97F4A7C15u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

uint64_t cnp_random_below(uint64_t bound)
{
	if (bound == 0)
		return 0;
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t v;
	do {
		cnp_random_bytes(&v, sizeof(v));
	} while (v >= limit);
	return v % bound;
}
