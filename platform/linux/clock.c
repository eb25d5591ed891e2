#include "platform/clock.h"

#include <errno.h>
#include <poll.h>
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

void cnp_sleep_fds_us(const int *fds, unsigned n, uint64_t us)
{
	if (n == 0) {
		cnp_sleep_us(us);
		return;
	}
	struct pollfd pfd[CNP_SLEEP_FDS_MAX];
	if (n > CNP_SLEEP_FDS_MAX)
		n = CNP_SLEEP_FDS_MAX;
	for (unsigned i = 0; i < n; i++)
		pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	uint64_t ms = (us + 999u) / 1000u; /* never shorter than asked */
	/* poll() is never restarted after a signal, whatever SA_RESTART says:
	 * a stop or reload request cuts the wait short, as it does a sleep. */
	poll(pfd, (nfds_t)n, ms > 3600000u ? 3600000 : (int)ms);
}
