#include "firmware/uploader.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/error.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/log.h"
#include "platform/netwatch.h"
#include "platform/random.h"
#include "platform/thread.h"
#include "platform/zlib.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Sleep when the spool is empty and nobody kicks (a kick ends it early). */
#define IDLE_WAIT_US 1000000u
/* Smallest retry delay, so that full jitter never spins. */
#define MIN_DELAY_US 50000u
/* A network change retries an endpoint at once at most this often: the
 * events of one link coming up (route, carrier, addresses) arrive over a
 * few hundred ms, and the first may come before the link carries packets;
 * a flood of events costs at most 20 attempts a second. */
#define NET_RETRY_US 50000u

struct ep_state {
	struct cnp_endpoint *ep;
	unsigned fails;      /* consecutive failures */
	uint64_t next_try_us;
	int net_fail;          /* the last failure had no answer (connect, DNS, reset...) */
	uint64_t net_retry_us; /* when a network change last cut its backoff short */
};

struct cnp_uploader {
	struct cnp_spool *spool;
	struct ep_state eps[CNP_UPLOADER_MAX_ENDPOINTS];
	unsigned n;
	struct cnp_uploader_config cfg;
	atomic_int *cancel;
	struct cnp_thread *thread;
	struct cnp_event *wake;
	struct cnp_mutex *stats_lock;
	struct cnp_uploader_stats stats;
	struct cnp_endpoint_health health[CNP_UPLOADER_MAX_ENDPOINTS]; /* under stats_lock */
	unsigned next_mirror; /* mirror: the endpoint whose turn comes first */
	atomic_int net_changed; /* cnp_uploader_network_changed since the last step */
	struct cnp_netwatch *netwatch; /* NULL: no network-change notifications */
	struct cnp_thread *watch_thread;
};

/* Replaces the endpoint's full URL in a back-end's message with the
 * redacted one, so a password in the URL reaches neither log nor status. */
static void scrub_detail(char *detail, size_t cap, const char *url, const char *redacted)
{
	char *at = strstr(detail, url);
	if (!at || strcmp(url, redacted) == 0)
		return;
	char tail[sizeof(((struct cnp_put_result *)0)->detail)];
	snprintf(tail, sizeof(tail), "%s", at + strlen(url));
	size_t head = (size_t)(at - detail);
	snprintf(at, cap - head, "%s%s", redacted, tail);
}

/* Publishes the outcome of an attempt on `st` for cnp_uploader_get_health. */
static void publish_health(struct cnp_uploader *u, const struct ep_state *st, int ok,
                           long status, const char *error, uint64_t now_us)
{
	struct cnp_endpoint_health *h = &u->health[st - u->eps];
	cnp_mutex_lock(u->stats_lock);
	h->fails = st->fails;
	h->retry_at_us = st->next_try_us;
	if (ok) {
		h->last_ok_us = now_us ? now_us : 1;
	} else {
		h->last_fail_us = now_us ? now_us : 1;
		h->last_status = status;
		snprintf(h->last_error, sizeof(h->last_error), "%.159s", error); /* cut to fit */
	}
	cnp_mutex_unlock(u->stats_lock);
}

int cnp_uploader_create(struct cnp_uploader **out, struct cnp_spool *spool,
                        struct cnp_endpoint **endpoints, unsigned n,
                        const struct cnp_uploader_config *cfg, atomic_int *cancel)
{
	if (n == 0 || n > CNP_UPLOADER_MAX_ENDPOINTS)
		return CNP_ERR_INVAL;
	struct cnp_uploader *u = cnp_calloc(1, sizeof(*u));
	if (!u)
		return CNP_ERR_NOMEM;
	u->wake = cnp_event_create();
	u->stats_lock = cnp_mutex_create();
	if (!u->wake || !u->stats_lock) {
		cnp_event_destroy(u->wake);
		cnp_mutex_destroy(u->stats_lock);
		cnp_free(u);
		return CNP_ERR_NOMEM;
	}
	u->spool = spool;
	u->n = n;
	for (unsigned i = 0; i < n; i++) {
		u->eps[i].ep = endpoints[i];
		cnp_endpoint_redact_url(endpoints[i]->url, u->health[i].url, sizeof(u->health[i].url));
	}
	u->cfg = *cfg;
	if (u->cfg.backoff_base_ms == 0)
		u->cfg.backoff_base_ms = 1;
	if (u->cfg.backoff_cap_ms < u->cfg.backoff_base_ms)
		u->cfg.backoff_cap_ms = u->cfg.backoff_base_ms;
	u->cancel = cancel;
	/* Mirror: the spool tracks each endpoint by a tag of its URL, stable
	 * across restarts and reorderings of the list. */
	char tags[CNP_UPLOADER_MAX_ENDPOINTS][CNP_SPOOL_TAG_LEN + 1];
	const char *tp[CNP_UPLOADER_MAX_ENDPOINTS];
	for (unsigned i = 0; i < n; i++) {
		uint8_t h[CNP_SHA256_LEN];
		char hex[2 * CNP_SHA256_LEN + 1];
		cnp_sha256(endpoints[i]->url, strlen(endpoints[i]->url), h);
		cnp_hex(h, sizeof(h), hex);
		snprintf(tags[i], sizeof(tags[i]), "%.8s", hex);
		tp[i] = tags[i];
	}
	u->cfg.mirror = cfg->mirror && n > 1;
	cnp_spool_set_owners(spool, u->cfg.mirror ? n : 0, tp);
	*out = u;
	return CNP_OK;
}

void cnp_uploader_destroy(struct cnp_uploader *u)
{
	if (!u)
		return;
	cnp_uploader_stop(u);
	for (unsigned i = 0; i < u->n; i++)
		cnp_endpoint_destroy(u->eps[i].ep);
	cnp_event_destroy(u->wake);
	cnp_mutex_destroy(u->stats_lock);
	cnp_free(u);
}

/* Capped exponential bound, full jitter below it. */
static uint64_t backoff_us(const struct cnp_uploader *u, unsigned fails, long retry_after_s)
{
	uint64_t bound = u->cfg.backoff_base_ms * 1000u;
	uint64_t cap = u->cfg.backoff_cap_ms * 1000u;
	for (unsigned i = 1; i < fails && bound < cap; i++)
		bound *= 2;
	if (bound > cap)
		bound = cap;
	uint64_t d = cnp_random_below(bound + 1);
	uint64_t floor_us = MIN_DELAY_US < cap ? MIN_DELAY_US : cap;
	if (d < floor_us)
		d = floor_us;
	if (retry_after_s >= 0) {
		/* Honour the server, but never sleep past the cap's order: a
		 * hostile or confused server must not park the agent for days. */
		uint64_t ra = (uint64_t)retry_after_s * 1000000u;
		if (ra > 10 * cap)
			ra = 10 * cap;
		if (ra > d)
			d = ra;
	}
	return d;
}

/*
 * What a failed put means for its batch (docs/S3.md, "Retries"): an
 * endpoint that knows better (S3's error codes) says so in res->cls;
 * otherwise the status decides. 408, 429, 5xx and every failure without a
 * status (timeout, reset, DNS, TLS) are transient; 401 and 403 are about
 * credentials, not the batch; any other 4xx refuses this batch.
 */
static enum cnp_put_class classify(int rc, const struct cnp_put_result *res)
{
	if (res->cls != CNP_PUT_BY_STATUS)
		return res->cls;
	if (rc != CNP_ERR_HTTP)
		return CNP_PUT_TRANSIENT;
	long st = res->status;
	if (st == 401 || st == 403)
		return CNP_PUT_AUTH;
	if (st >= 400 && st < 500 && st != 408 && st != 429)
		return CNP_PUT_REJECTED;
	return CNP_PUT_TRANSIENT;
}

/*
 * The network may be back: an endpoint whose last failure got no answer at
 * all (no route, connect refused, DNS, reset, timeout) is tried again now
 * with its backoff started over, instead of at the end of a pause that may
 * have grown to the cap during the outage. An endpoint that answered (5xx,
 * 429, 401...) keeps its pause: the network was not its problem. At most
 * once per NET_RETRY_US per endpoint, so that a flapping link cannot turn
 * into a retry storm.
 */
static void network_changed(struct cnp_uploader *u, uint64_t now_us)
{
	for (unsigned i = 0; i < u->n; i++) {
		struct ep_state *st = &u->eps[i];
		if (!st->net_fail || st->next_try_us <= now_us ||
		    (st->net_retry_us && now_us - st->net_retry_us < NET_RETRY_US))
			continue;
		cnp_info("network change: trying %s again now (after %u failures)",
		         u->health[i].url, st->fails);
		st->fails = 0;
		st->next_try_us = 0;
		st->net_retry_us = now_us ? now_us : 1;
		cnp_mutex_lock(u->stats_lock);
		u->health[i].retry_at_us = 0;
		cnp_mutex_unlock(u->stats_lock);
	}
}

int cnp_uploader_step(struct cnp_uploader *u, uint64_t now_us, uint64_t *wait_us)
{
	uint64_t step_mono = cnp_clock_mono_us();
	if (atomic_exchange(&u->net_changed, 0))
		network_changed(u, now_us);
	struct cnp_spool_entry e;
	*wait_us = IDLE_WAIT_US;
	struct ep_state *st = NULL;
	uint64_t soonest = UINT64_MAX;
	if (u->cfg.mirror) {
		/* Each endpoint in turn takes the oldest batch it lacks. */
		int owed = 0;
		for (unsigned k = 0; k < u->n && !st; k++) {
			unsigned i = (u->next_mirror + k) % u->n;
			if (u->eps[i].next_try_us > now_us) {
				struct cnp_spool_entry probe;
				if (cnp_spool_checkout_for(u->spool, i, &probe) == CNP_OK) {
					cnp_spool_release(u->spool, probe.name);
					owed = 1;
					if (u->eps[i].next_try_us < soonest)
						soonest = u->eps[i].next_try_us;
				}
				continue;
			}
			if (cnp_spool_checkout_for(u->spool, i, &e) == CNP_OK) {
				st = &u->eps[i];
				u->next_mirror = (i + 1) % u->n;
			}
		}
		if (!st && !owed)
			return CNP_ERR_NOTFOUND;
	} else {
		if (cnp_spool_checkout(u->spool, &e) != CNP_OK)
			return CNP_ERR_NOTFOUND;
		for (unsigned i = 0; i < u->n; i++) {
			if (u->eps[i].next_try_us <= now_us) {
				st = &u->eps[i];
				break;
			}
			if (u->eps[i].next_try_us < soonest)
				soonest = u->eps[i].next_try_us;
		}
		if (!st)
			cnp_spool_release(u->spool, e.name);
	}
	if (!st) {
		*wait_us = soonest - now_us;
		return CNP_ERR_AGAIN;
	}

	uint8_t *data = NULL;
	size_t len = 0;
	int rc = cnp_spool_read(u->spool, e.name, &data, &len);
	struct cnp_batch b;
	char why[160] = "unreadable";
	if (rc == CNP_OK)
		rc = cnp_batch_open_known(
			data, len, e.digest_known && cnp_crc32(data, len) == e.crc32 ? e.digest : NULL,
			&b, why, sizeof(why));
	if (rc == CNP_ERR_CORRUPT || rc == CNP_ERR_UNSUPPORTED || rc == CNP_ERR_NOTFOUND) {
		/* Flash corruption since it was written, a format this agent
		 * cannot read, or a file removed behind the agent's back: never
		 * upload garbage; keep what is left aside and count it. */
		cnp_error("spool batch %s %s (%s); quarantined", e.name,
		          rc == CNP_ERR_NOTFOUND ? "vanished" : "fails its checks",
		          rc == CNP_ERR_NOTFOUND ? "file removed" : why);
		cnp_spool_quarantine(u->spool, e.name, e.frames);
		cnp_free(data);
		cnp_mutex_lock(u->stats_lock);
		u->stats.quarantined++;
		cnp_mutex_unlock(u->stats_lock);
		*wait_us = 0;
		return CNP_ERR_CORRUPT;
	}
	if (rc != CNP_OK) {
		/* Out of memory, or the file could not be read (I/O error, too
		 * many open files): transient, the batch stays for later. */
		cnp_error("cannot read spool batch %s (%s); retrying later", e.name,
		          cnp_strerror(rc));
		cnp_free(data);
		cnp_spool_release(u->spool, e.name);
		*wait_us = IDLE_WAIT_US;
		return rc;
	}

	char key[CNP_BATCH_VEHICLE_MAX + CNP_SPOOL_ID_LEN + CNP_SPOOL_NAME_MAX + 3];
	snprintf(key, sizeof(key), "%s/%s/%s", b.vehicle, b.spool_id, e.name);
	struct cnp_put_result res = {
		.status = 0, .retry_after_s = -1, .detail = "", .cls = CNP_PUT_BY_STATUS};
	uint64_t t0 = cnp_clock_mono_us();
	rc = st->ep->ops->put(st->ep, key, data, len, &res);
	uint64_t t1 = cnp_clock_mono_us();
	uint64_t latency = t1 - t0;
	/* From now_us to the answer: reading and checking the batch took
	 * time too, and a pause counts from the answer. */
	uint64_t elapsed = t1 - step_mono;

	cnp_mutex_lock(u->stats_lock);
	u->stats.attempts++;
	if (rc == CNP_OK) {
		u->stats.batches++;
		u->stats.bytes += len;
		u->stats.last_latency_us = latency;
		u->stats.latency_total_us += latency;
	} else if (rc != CNP_ERR_CANCELLED) {
		u->stats.failures++;
	}
	cnp_mutex_unlock(u->stats_lock);

	enum cnp_put_class cls = classify(rc, &res);
	/* Mirror: a refusal keeps the bytes for the copy set aside below. */
	int refused = rc != CNP_OK && rc != CNP_ERR_CANCELLED && u->cfg.mirror &&
	              cls == CNP_PUT_REJECTED;
	if (!refused)
		cnp_free(data);
	if (rc == CNP_OK) {
		if (u->cfg.mirror)
			cnp_spool_ack_for(u->spool, e.name, (unsigned)(st - u->eps));
		else
			cnp_spool_ack(u->spool, e.name);
		if (st->fails)
			cnp_info("upload to %s works again after %u failures", u->health[st - u->eps].url,
			         st->fails);
		st->fails = 0;
		st->next_try_us = 0;
		st->net_fail = 0;
		publish_health(u, st, 1, 0, "", now_us + elapsed);
		cnp_debug("uploaded %s (%zu bytes, %" PRIu32 " frames) in %" PRIu64 " ms", key,
		          len, e.frames, latency / 1000);
		*wait_us = 0;
		return CNP_OK;
	}
	if (rc == CNP_ERR_CANCELLED) {
		cnp_spool_release(u->spool, e.name);
		return rc;
	}
	/* Logs and the status name the URL without user info or query. */
	const char *url = u->health[st - u->eps].url;
	scrub_detail(res.detail, sizeof(res.detail), st->ep->url, url);
	const char *detail = res.detail[0] ? res.detail : url;
	if (cls == CNP_PUT_REJECTED) {
		/* The server answered, and refuses this batch: retrying it would
		 * fail alike and hold up every batch behind it. It is kept aside,
		 * counted, and the endpoint goes on with the next one. */
		if (refused) {
			/* Mirror: refused by this endpoint only; the others still
			 * get the batch, and a copy is kept aside. */
			cnp_error("upload of %s refused by %s (HTTP %ld): %s; a copy is kept in the "
			          "spool's quarantine, not retried there; the other endpoints still "
			          "get it", key, url, res.status, detail);
			cnp_spool_refused_for(u->spool, e.name, (unsigned)(st - u->eps), data, len);
			cnp_free(data);
		} else {
			cnp_error("upload of %s refused by %s (HTTP %ld): %s; batch moved to the "
			          "spool's quarantine, not retried", key, url, res.status, detail);
			cnp_spool_quarantine(u->spool, e.name, e.frames);
		}
		cnp_mutex_lock(u->stats_lock);
		u->stats.quarantined++;
		u->stats.rejected++;
		cnp_mutex_unlock(u->stats_lock);
		st->fails = 0;
		st->next_try_us = 0;
		st->net_fail = 0;
		publish_health(u, st, 0, res.status, detail, now_us + elapsed);
		*wait_us = 0;
		return rc;
	}
	cnp_spool_release(u->spool, e.name);
	st->fails++;
	st->net_fail = cls == CNP_PUT_TRANSIENT && rc != CNP_ERR_HTTP;
	uint64_t delay;
	if (cls == CNP_PUT_AUTH) {
		/* Credentials or configuration: every batch would fail alike.
		 * Never dropped; retried at the cap (Retry-After still honoured)
		 * and said loudly each time. */
		uint64_t cap = u->cfg.backoff_cap_ms * 1000u;
		delay = backoff_us(u, st->fails, res.retry_after_s);
		if (delay < cap)
			delay = cap;
		cnp_mutex_lock(u->stats_lock);
		u->stats.auth_failures++;
		cnp_mutex_unlock(u->stats_lock);
		cnp_error("AUTHENTICATION OR CONFIGURATION FAILURE: upload of %s to %s (HTTP %ld): "
		          "%s; check the endpoint's credentials, region and bucket; batch kept in "
		          "the spool, retry in %" PRIu64 " ms", key, url, res.status, detail,
		          delay / 1000);
	} else {
		delay = backoff_us(u, st->fails, res.retry_after_s);
		cnp_warn("upload of %s failed (%s): %s; batch kept in the spool, retry in %" PRIu64
		         " ms", key, cnp_strerror(rc), detail, delay / 1000);
	}
	/* From the end of the attempt: a Retry-After counts from the answer,
	 * and a slow attempt must not eat into the pause. */
	st->next_try_us = now_us + elapsed + delay;
	char what[160];
	snprintf(what, sizeof(what), "%s%s%s", cls == CNP_PUT_AUTH ? "authentication: " : "",
	         cnp_strerror(rc), res.detail[0] ? ": " : "");
	size_t wl = strlen(what);
	snprintf(what + wl, sizeof(what) - wl, "%.159s", res.detail); /* cut to fit */
	publish_health(u, st, 0, res.status, what, now_us + elapsed);
	*wait_us = 0; /* another endpoint may take it at once */
	return rc;
}

static void thread_main(void *arg)
{
	struct cnp_uploader *u = arg;
	while (!atomic_load(u->cancel)) {
		uint64_t wait = 0;
		cnp_uploader_step(u, cnp_clock_mono_us(), &wait);
		if (wait > 0 && !atomic_load(u->cancel))
			cnp_event_wait(u->wake, wait);
	}
}

/* The watch thread: each change that may bring the network back wakes
 * the upload thread. */
static void watch_main(void *arg)
{
	struct cnp_uploader *u = arg;
	while (!atomic_load(u->cancel)) {
		int rc = cnp_netwatch_wait(u->netwatch);
		if (rc == CNP_OK) {
			cnp_debug("network change: waking the uploader");
			cnp_uploader_network_changed(u);
		} else if (rc != CNP_ERR_CANCELLED) {
			cnp_warn("network-change notifications failed (%s); retries follow the "
			         "backoff alone", cnp_strerror(rc));
			return;
		}
	}
}

int cnp_uploader_start(struct cnp_uploader *u)
{
	int rc = cnp_thread_start(&u->thread, thread_main, u);
	if (rc != CNP_OK)
		return rc;
	/* Optional: without notifications the backoff alone decides. */
	int wrc = cnp_netwatch_open(&u->netwatch);
	if (wrc == CNP_OK)
		wrc = cnp_thread_start(&u->watch_thread, watch_main, u);
	if (wrc != CNP_OK) {
		cnp_info("no network-change notifications (%s); retries follow the backoff alone",
		         cnp_strerror(wrc));
		cnp_netwatch_close(u->netwatch);
		u->netwatch = NULL;
		u->watch_thread = NULL;
	}
	return CNP_OK;
}

void cnp_uploader_stop(struct cnp_uploader *u)
{
	if (!u->thread)
		return;
	atomic_store(u->cancel, 1);
	cnp_event_signal(u->wake);
	if (u->watch_thread) {
		cnp_netwatch_interrupt(u->netwatch);
		cnp_thread_join(u->watch_thread);
		u->watch_thread = NULL;
	}
	cnp_netwatch_close(u->netwatch);
	u->netwatch = NULL;
	cnp_thread_join(u->thread);
	u->thread = NULL;
}

void cnp_uploader_network_changed(struct cnp_uploader *u)
{
	atomic_store(&u->net_changed, 1);
	cnp_event_signal(u->wake);
}

void cnp_uploader_kick(struct cnp_uploader *u)
{
	cnp_event_signal(u->wake);
}

void cnp_uploader_get_stats(struct cnp_uploader *u, struct cnp_uploader_stats *st)
{
	cnp_mutex_lock(u->stats_lock);
	*st = u->stats;
	cnp_mutex_unlock(u->stats_lock);
}

int cnp_uploader_get_health(struct cnp_uploader *u, unsigned i, struct cnp_endpoint_health *h)
{
	if (i >= u->n)
		return CNP_ERR_NOTFOUND;
	cnp_mutex_lock(u->stats_lock);
	*h = u->health[i];
	cnp_mutex_unlock(u->stats_lock);
	return CNP_OK;
}
