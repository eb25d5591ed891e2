/*
 * Randomness seam: for jitter and identifiers, not for keys (keys come from
 * the crypto seam).
 */
#ifndef CNP_PLATFORM_RANDOM_H
#define CNP_PLATFORM_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills `buf` with `len` bytes from the kernel's generator. Never fails:
 * falls back to a time-seeded generator if the kernel refuses. */
void cnp_random_bytes(void *buf, size_t len);

/* A uniformly distributed value in [0, bound); 0 when bound is 0. */
uint64_t cnp_random_below(uint64_t bound);

#endif
