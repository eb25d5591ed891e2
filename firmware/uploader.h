/*
 * The uploader: takes the oldest batch from the spool, sends it to the
 * first endpoint that is not backing off (failover in configured order),
 * and deletes it from the spool only when that endpoint acknowledged it.
 * With the mirror policy every endpoint gets every batch: each endpoint, in
 * turn, takes the oldest batch it does not have yet; the spool records each
 * acknowledgement on flash (cnp_spool_ack_for) and deletes the batch once
 * all have it. An endpoint that is down holds up only itself.
 * A failed attempt leaves the batch in the spool and backs the endpoint off
 * with capped, fully jittered exponential delays (a server's Retry-After is
 * honoured as a minimum, up to ten times the cap: a confused server must not
 * park the agent for days).
 *
 * Failures are told apart (enum cnp_put_class in endpoint.h; an endpoint
 * may refine the class, as S3 does with its error codes):
 * - transient (408, 429, 5xx, timeouts, resets, DNS and TLS failures):
 *   retried with the backoff above;
 * - authentication (401, 403) and configuration: logged as errors and
 *   retried at the backoff cap, never dropped;
 * - refused (any other 4xx): the batch is moved to the spool's quarantine
 *   (cnp_spool_quarantine, which counts its frames as dropped), counted in
 *   stats.rejected and logged with the URL and status; not retried.
 *
 * A quick return: an endpoint that failed for want of a network (no
 * answer at all) is retried at once when the network changes (a link comes
 * up, an address or a route is added: cnp_uploader_network_changed, fed
 * by rtnetlink through platform/netwatch.h), not at the end of a backoff
 * that grew to the cap during the outage.
 *
 * Runs on its own thread (cnp_uploader_start) so that a slow link never
 * stalls reading the bus; cnp_uploader_step() runs one attempt on the
 * caller's thread, for tests.
 */
#ifndef CNP_UPLOADER_H
#define CNP_UPLOADER_H

#include "firmware/endpoint.h"
#include "firmware/spool.h"

#include <stdatomic.h>
#include <stdint.h>

#define CNP_UPLOADER_MAX_ENDPOINTS 8

struct cnp_uploader_config {
	uint64_t backoff_base_ms; /* first retry delay bound */
	uint64_t backoff_cap_ms;  /* largest retry delay */
	/* HTTP timeouts of every https:// and s3:// endpoint (copied into
	 * each endpoint's config by the loader); 0: the defaults. */
	uint64_t connect_timeout_ms;
	uint64_t stall_timeout_ms;
	/* Upload pace of every https:// and s3:// transfer, bytes of request
	 * body per second (libcurl's send-speed limit); 0: none. */
	uint64_t max_bytes_per_s;
	/* "policy": 0 failover (a batch goes to the first endpoint that takes
	 * it), 1 mirror (to every endpoint, each tracked in the spool). */
	int mirror;
};

struct cnp_uploader_stats {
	uint64_t batches;    /* acknowledged */
	uint64_t bytes;      /* acknowledged batch bytes */
	uint64_t attempts;
	uint64_t failures;
	uint64_t quarantined;   /* batches moved to quarantine (damaged or refused) */
	uint64_t rejected;      /* of those, refused by an endpoint (4xx) */
	uint64_t auth_failures; /* attempts failed on credentials (401, 403...) */
	uint64_t last_latency_us;
	uint64_t latency_total_us; /* of the acknowledged uploads (mean = / batches) */
};

/* One endpoint's health as the status report shows it. */
struct cnp_endpoint_health {
	char url[CNP_URL_MAX];  /* user info and query removed: never a secret */
	unsigned fails;         /* consecutive failed attempts; 0: healthy */
	uint64_t retry_at_us;   /* monotonic time of the next try; 0: now */
	uint64_t last_ok_us;    /* monotonic time of its last acknowledged upload; 0: none */
	uint64_t last_fail_us;  /* monotonic time of its last failure; 0: none */
	long last_status;       /* HTTP status of the last failure; 0: none or no answer */
	char last_error[160];   /* what the last failure said; "" : none */
};

struct cnp_uploader;

/*
 * Takes ownership of the `n` endpoints (destroyed with the uploader).
 * `cancel` is raised by cnp_uploader_stop to abort a transfer in progress;
 * pass the same flag to the endpoints.
 */
int cnp_uploader_create(struct cnp_uploader **out, struct cnp_spool *spool,
                        struct cnp_endpoint **endpoints, unsigned n,
                        const struct cnp_uploader_config *cfg, atomic_int *cancel);
void cnp_uploader_destroy(struct cnp_uploader *u);

/* Starts the upload thread. */
int cnp_uploader_start(struct cnp_uploader *u);
/* Raises the cancel flag, aborts a transfer in progress, joins the thread.
 * A batch being sent stays in the spool. */
void cnp_uploader_stop(struct cnp_uploader *u);
/* Wakes the thread: a new batch is in the spool. */
void cnp_uploader_kick(struct cnp_uploader *u);
/*
 * The network may be back (a link came up, an address or route was added):
 * the next step retries at once every endpoint whose last failure got no
 * answer (connect, DNS, reset, timeout) and starts its backoff over; at
 * most once per 50 ms per endpoint. Any thread; cnp_uploader_start calls it
 * from its own watch of the network (platform/netwatch.h) where there is one.
 */
void cnp_uploader_network_changed(struct cnp_uploader *u);

/*
 * One attempt at `now_us` (monotonic).
 * @retval CNP_OK           a batch was delivered and removed from the spool
 * @retval CNP_ERR_NOTFOUND the spool is empty
 * @retval CNP_ERR_AGAIN    every endpoint is backing off
 * @retval other            the attempt failed; the batch stays
 * *wait_us: how long the caller may sleep before the next useful attempt.
 */
int cnp_uploader_step(struct cnp_uploader *u, uint64_t now_us, uint64_t *wait_us);

void cnp_uploader_get_stats(struct cnp_uploader *u, struct cnp_uploader_stats *st);
/*
 * Copies endpoint i's health (endpoints in configured order). Thread-safe.
 * @retval CNP_ERR_NOTFOUND i is not below the number of endpoints
 */
int cnp_uploader_get_health(struct cnp_uploader *u, unsigned i,
                            struct cnp_endpoint_health *h);

#endif
