/*
 * Recorded pacing for replayed or simulated sources: frames are released
 * at their capture timing, sped up by a factor. The first frame sets the
 * origin; a frame stamped earlier than it (a step back) is due at once.
 */
#ifndef CNP_PACE_H
#define CNP_PACE_H

#include <stdint.h>

struct cnp_pacer {
	int started;
	uint64_t first_ts;   /* capture time of the first frame */
	uint64_t start_mono; /* monotonic time it was released */
	double speed;        /* 1.0: real time */
};

static inline void cnp_pacer_init(struct cnp_pacer *p, double speed)
{
	p->started = 0;
	p->first_ts = p->start_mono = 0;
	p->speed = speed > 0 ? speed : 1.0;
}

/* 0 when a frame stamped ts_us is due at now_us; else the microseconds
 * until it is. */
static inline uint64_t cnp_pacer_wait(struct cnp_pacer *p, uint64_t ts_us, uint64_t now_us)
{
	if (!p->started) {
		p->started = 1;
		p->first_ts = ts_us;
		p->start_mono = now_us;
	}
	uint64_t due = p->start_mono;
	if (ts_us > p->first_ts)
		due += (uint64_t)((double)(ts_us - p->first_ts) / p->speed);
	return due > now_us ? due - now_us : 0;
}

#endif
