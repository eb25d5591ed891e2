/*
 * The simulator as a CAN source: frames of drivers/sim_model.c, stamped
 * with simulated time from the configuration's start_time. Pace "max"
 * produces simulated time as fast as the agent reads it; "recorded" (or a
 * speed factor) holds each frame back until its simulated time, scaled,
 * has passed on the monotonic clock, as the candump replay does.
 */
#include "drivers/pace.h"
#include "drivers/source.h"

#include "drivers/sim_model.h"
#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/clock.h"
#include "platform/log.h"

#include <inttypes.h>
#include <string.h>

struct sim_source {
	struct cnp_source base;
	struct cnp_sim_model *model;
	uint8_t iface[CNP_SIM_MAX_BUSES]; /* bus -> index in the interface table */
	enum cnp_pace pace;
	struct cnp_pacer pacer;
	int have_pending;  /* a frame waits for its time (paced) */
	struct cnp_frame pending;
};

static int sim_read(struct cnp_source *src, struct cnp_frame *frames, size_t max, size_t *n,
                    uint64_t *wait_us)
{
	struct sim_source *s = (struct sim_source *)src;
	*n = 0;
	*wait_us = 0;
	while (*n < max) {
		struct cnp_frame *f = &frames[*n];
		if (s->have_pending) {
			*f = s->pending;
			s->have_pending = 0;
		} else {
			int rc = cnp_sim_model_next(s->model, f);
			if (rc == CNP_ERR_EOF)
				return CNP_ERR_EOF;
			if (rc != CNP_OK)
				return rc;
			f->iface = s->iface[f->iface];
		}
		if (s->pace == CNP_PACE_RECORDED) {
			uint64_t wait = cnp_pacer_wait(&s->pacer, f->ts_us, cnp_clock_mono_us());
			if (wait > 0) {
				s->pending = *f;
				s->have_pending = 1;
				*wait_us = wait;
				return CNP_OK;
			}
		}
		(*n)++;
		s->base.stats.frames++;
	}
	return CNP_OK;
}

static void sim_destroy(struct cnp_source *src)
{
	struct sim_source *s = (struct sim_source *)src;
	cnp_sim_model_destroy(s->model);
	cnp_free(s);
}

static const struct cnp_source_ops sim_ops = {
	.type = "sim",
	.read = sim_read,
	.destroy = sim_destroy,
};

int cnp_sim_source_create(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                          struct cnp_source **out)
{
	/* The configuration parser checks these too; a source made in code
	 * (tests, tools) gets the same answers. */
	if (!(cfg->duration_s >= 0) || cfg->duration_s > 1e7) {
		cnp_error("sim source: duration_s must be 0 (endless) to 1e7 seconds");
		return CNP_ERR_CONFIG;
	}
	if (cfg->pace == CNP_PACE_RECORDED && !(cfg->speed > 0)) {
		cnp_error("sim source: the pace factor must be above 0");
		return CNP_ERR_CONFIG;
	}
	uint64_t duration_us = (uint64_t)(cfg->duration_s * 1e6 + 0.5);
	struct sim_source *s = cnp_calloc(1, sizeof(*s));
	if (!s)
		return CNP_ERR_NOMEM;
	s->base.ops = &sim_ops;
	s->base.ifaces = ifaces;
	s->pace = cfg->pace;
	cnp_pacer_init(&s->pacer, cfg->speed);
	int rc = cnp_sim_model_create(cfg->profile, cfg->seed, cfg->start_time_us, duration_us,
	                              &s->model);
	if (rc != CNP_OK) {
		if (rc == CNP_ERR_INVAL) {
			cnp_error("sim source: unknown simulator profile \"%s\" (known: \"ev\", \"ice\")",
			          cfg->profile);
			rc = CNP_ERR_CONFIG;
		} else if (rc != CNP_ERR_NOMEM) {
			cnp_error("sim source: profile \"%s\" failed its own table checks: %s",
			          cfg->profile, cnp_strerror(rc));
		}
		cnp_free(s);
		return rc;
	}
	const struct cnp_sim_profile *p = cnp_sim_model_profile(s->model);
	for (unsigned b = 0; b < p->n_buses; b++) {
		rc = cnp_ifaces_intern(ifaces, p->buses[b].name, (unsigned)strlen(p->buses[b].name),
		                       &s->iface[b]);
		if (rc != CNP_OK) {
			cnp_error("sim source: no room for interface %s in the interface table",
			          p->buses[b].name);
			sim_destroy(&s->base);
			return rc;
		}
	}
	cnp_debug("sim source: profile %s, seed %" PRIu64 ", %s%.3f s of simulated time from %" PRIu64
	          " us", p->name, cfg->seed, duration_us ? "" : "endless, ",
	          (double)duration_us / 1e6, cfg->start_time_us);
	*out = &s->base;
	return CNP_OK;
}
