/*
 * The agent's status: its counters at one instant, a one-line verdict
 * (is data flowing, and if not, why), the status file they are written to
 * (JSON, docs/OPERATIONS.md) and the human-readable report that
 * `canopy status` prints from that file.
 *
 * Nothing here holds a secret: endpoint URLs come without user info or
 * query (cnp_endpoint_health), and no credential is ever copied in.
 */
#ifndef CNP_STATUS_H
#define CNP_STATUS_H

#include "firmware/batch.h"
#include "firmware/transport.h"
#include "firmware/uploader.h"

#include <stddef.h>
#include <stdint.h>

/* A frame source silent this long counts as "no input". */
#define CNP_STATUS_QUIET_US (10u * 1000u * 1000u)
/* A spool whose oldest batch waits this long counts as "behind", unless
 * three batch ages are longer. */
#define CNP_STATUS_BEHIND_US (120u * 1000u * 1000u)

struct cnp_status {
	const char *state;      /* "running", "stopping" or "stopped" (static) */
	char vehicle[64];
	uint64_t pid;
	uint64_t wall_us;       /* when this snapshot was taken */
	uint64_t mono_us;       /* the same instant, monotonic (for the ages) */
	uint64_t started_mono_us;
	uint64_t interval_ms;   /* status file refresh interval */
	uint64_t batch_max_age_ms;
	uint64_t reloads;       /* configuration reloads applied */

	unsigned sources, sources_active;
	uint64_t frames;        /* read from all sources */
	double frames_per_s;    /* over the interval since the previous snapshot */
	uint64_t last_frame_mono_us; /* 0: none yet */
	uint64_t text_bytes;    /* those frames as candump text */
	uint64_t dropped[CNP_DROP_REASONS]; /* since start (spool reasons: as sealed) */

	uint64_t batches;       /* sealed into the spool */
	uint64_t stored_bytes;
	unsigned spool_batches;
	uint64_t spool_bytes;
	uint64_t spool_oldest_wall_us; /* 0: the spool is empty */
	int input_paused;       /* the spool refused a batch; reading paused */

	struct cnp_uploader_stats up; /* since start, across reloads */
	struct cnp_endpoint_health eps[CNP_UPLOADER_MAX_ENDPOINTS];
	unsigned n_eps;

	/* Active polling (docs/POLLING.md); all 0 without it. */
	int polling;
	uint64_t poll_requests, poll_responses, poll_timeouts, poll_negative, poll_pending,
	    poll_unexpected;

	/* Transport reassembly (docs/TRANSPORT.md), when configured. */
	int transport;
	struct cnp_tp_stats isotp, j1939;

	int flowing;            /* set by cnp_status_judge */
	char verdict[320];
};

/* Sets st->flowing and st->verdict from the counters. */
void cnp_status_judge(struct cnp_status *st);

/*
 * The status as JSON text (NUL-terminated, from cnp_malloc; caller frees).
 * @retval CNP_ERR_NOMEM
 */
int cnp_status_to_json(const struct cnp_status *st, char **out);

/* One log line with the main counters and the verdict (no secrets). */
void cnp_status_summary(const struct cnp_status *st, char *out, size_t cap);

/*
 * Formats a status file's JSON for a person. `now_wall_us` tells how old
 * the file is: a file older than three refresh intervals (and at least
 * 10 s) means the agent is not running or is stuck, and the verdict says
 * so. *flowing: 1 when the agent reports data flowing and the file is
 * fresh. The text is cut to `cap`.
 * @retval CNP_ERR_INVAL not a canopy status file (out holds why)
 * @retval CNP_ERR_NOMEM
 */
int cnp_status_format(const char *json, size_t len, uint64_t now_wall_us, char *out,
                      size_t cap, int *flowing);

#endif
