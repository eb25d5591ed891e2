/*
 * Call-stack seam, for the allocation-failure pass only: a key that tells
 * the call paths of a process apart.
 */
#ifndef CNP_PLATFORM_STACK_H
#define CNP_PLATFORM_STACK_H

#include <stdint.h>

/* A hash of the return addresses of the `depth` innermost frames of the
 * calling thread's stack above this call: equal for calls made through the
 * same path within one process (not across processes: addresses move). 0
 * where stacks cannot be walked. */
uint64_t cnp_stack_key(unsigned depth);

#endif
