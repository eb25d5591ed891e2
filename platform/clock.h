/*
 * Time seam. All times are in microseconds.
 */
#ifndef CNP_PLATFORM_CLOCK_H
#define CNP_PLATFORM_CLOCK_H

#include <stdint.h>

/* Monotonic time since an arbitrary point (CLOCK_MONOTONIC); never steps. */
uint64_t cnp_clock_mono_us(void);

/* Wall-clock time since the Unix epoch (CLOCK_REALTIME); may step. */
uint64_t cnp_clock_wall_us(void);

/* Sleeps for `us` microseconds or until a signal arrives. */
void cnp_sleep_us(uint64_t us);

/*
 * Like cnp_sleep_us(), and returns early too when one of the n descriptors
 * fds[] is readable (or has an error or hang-up to report). n may be 0.
 */
#define CNP_SLEEP_FDS_MAX 64 /* descriptors beyond this are not watched */
void cnp_sleep_fds_us(const int *fds, unsigned n, uint64_t us);

#endif
