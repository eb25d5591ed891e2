#include "platform/clock.h"

#include <errno.h>
#include <time.h>

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t cnp_clock_mono_us(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

uint64_t cnp_clock_wall_us(void)
{
	return read_clock(CLOCK_REALTIME);
}

void cnp_sleep_us(uint64_t us)
{
	struct timespec ts = {
		.tv_sec = (time_t)(us / 1000000u),
		.tv_nsec = (long)(us % 1000000u) * 1000,
	};
	/* A signal cuts the sleep short on purpose: the caller re-checks. */
	nanosleep(&ts, NULL);
}
