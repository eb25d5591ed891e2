#include "firmware/agent.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/candump.h"
#include "firmware/capture.h"
#include "firmware/error.h"
#include "firmware/spool.h"
#include "firmware/uploader.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/signals.h"

#include <inttypes.h>
#include <string.h>

/* Frames taken from one source per read call. */
#define READ_CHUNK 256
/* Longest the loop sleeps when idle, so signals and ages are seen soon. */
#define MAX_IDLE_US 50000u
/* Retry interval while the spool refuses a write (disk full, I/O). */
#define PUT_RETRY_US 1000000u

struct cnp_agent {
	struct cnp_config cfg;
	struct cnp_ifaces ifaces;
	struct cnp_source *sources[CNP_MAX_SOURCES];
	int source_done[CNP_MAX_SOURCES];
	unsigned n_sources;
	struct cnp_spool *spool;
	struct cnp_uploader *uploader;
	atomic_int cancel;
	struct cnp_batch_writer *writer;
	struct cnp_signer *signer; /* NULL: batches are not signed */
	struct cnp_capture *capture; /* NULL: raw capture */
	uint64_t opened_mono; /* when the open batch got its first frame */
	uint64_t first_ts;    /* capture time of that frame */
	uint64_t max_ts;      /* latest capture time in the open batch */
	uint64_t malformed_reported;
	uint64_t kernel_reported;
	/* A sealed batch the spool refused; retried before reading more. */
	uint8_t *pending;
	size_t pending_len;
	uint64_t pending_seq;
	uint32_t pending_frames;
	uint8_t pending_digest[CNP_SHA256_LEN];
	uint64_t pending_retry_mono;
	struct cnp_agent_summary sum;
	struct cnp_frame frames[READ_CHUNK];
};

int cnp_agent_create(const struct cnp_config *cfg, struct cnp_agent **out)
{
	struct cnp_agent *a = cnp_calloc(1, sizeof(*a));
	if (!a)
		return CNP_ERR_NOMEM;
	struct cnp_endpoint *eps[CNP_UPLOADER_MAX_ENDPOINTS] = {0};
	unsigned n_eps = 0;
	a->cfg = *cfg;
	cnp_ifaces_init(&a->ifaces);
	atomic_init(&a->cancel, 0);
	/* The parser caps batch.max_bytes at 64 MiB, so it fits size_t. */
	int rc = cnp_batch_writer_create(&a->writer, &cnp_codec_cols_zlib,
	                                 (size_t)cfg->batch_max_bytes, cfg->zlib_level);
	if (rc != CNP_OK)
		goto fail;
	/* Before the spool: an agent that cannot sign must not start a boot. */
	if (cfg->signing_key[0]) {
		char why[256] = "";
		rc = cnp_signer_load(cfg->signing_key, &a->signer, why, sizeof(why));
		if (rc != CNP_OK) {
			cnp_error("signing_key %s: %s", cfg->signing_key,
			          rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : why);
			goto fail;
		}
		cnp_info("signing batches with the P-256 key %s", cfg->signing_key);
	}
	rc = cnp_capture_create(cfg, &a->capture);
	if (rc != CNP_OK)
		goto fail;
	struct cnp_spool_config sc = {.dir = cfg->spool_dir, .max_bytes = cfg->spool_max_bytes};
	rc = cnp_spool_open(&sc, &a->spool);
	if (rc != CNP_OK)
		goto fail;
	for (; n_eps < cfg->n_endpoints; n_eps++) {
		char why[256] = "";
		rc = cnp_endpoint_create(&cfg->endpoints[n_eps], &a->cancel, &eps[n_eps], why,
		                         sizeof(why));
		if (rc != CNP_OK) {
			if (rc != CNP_ERR_NOMEM)
				cnp_error("endpoint %s: %s", cfg->endpoints[n_eps].url, why);
			goto fail;
		}
	}
	rc = cnp_uploader_create(&a->uploader, a->spool, eps, n_eps, &cfg->upload, &a->cancel);
	if (rc != CNP_OK)
		goto fail;
	*out = a;
	return CNP_OK;
fail:
	for (unsigned i = 0; i < n_eps; i++)
		cnp_endpoint_destroy(eps[i]);
	cnp_agent_destroy(a);
	return rc;
}

void cnp_agent_destroy(struct cnp_agent *a)
{
	if (!a)
		return;
	cnp_uploader_destroy(a->uploader);
	for (unsigned i = 0; i < a->n_sources; i++)
		cnp_source_destroy(a->sources[i]);
	cnp_batch_writer_destroy(a->writer);
	cnp_capture_destroy(a->capture);
	cnp_signer_destroy(a->signer);
	cnp_spool_close(a->spool);
	cnp_free(a->pending);
	cnp_free(a);
}

struct cnp_ifaces *cnp_agent_ifaces(struct cnp_agent *a)
{
	return &a->ifaces;
}

int cnp_agent_add_source(struct cnp_agent *a, struct cnp_source *src)
{
	if (a->n_sources >= CNP_MAX_SOURCES)
		return CNP_ERR_FULL;
	a->sources[a->n_sources++] = src;
	return CNP_OK;
}

static uint64_t total_kernel_dropped(const struct cnp_agent *a)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < a->n_sources; i++)
		n += a->sources[i]->stats.kernel_dropped;
	return n;
}

static uint64_t total_malformed(const struct cnp_agent *a)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < a->n_sources; i++)
		n += a->sources[i]->stats.malformed;
	return n;
}

/* Stores the pending sealed batch. CNP_OK once it is in the spool. */
static int store_pending(struct cnp_agent *a)
{
	int rc = cnp_spool_put(a->spool, a->pending_seq, a->pending, a->pending_len,
	                       a->pending_frames, a->pending_digest);
	if (rc != CNP_OK) {
		a->pending_retry_mono = cnp_clock_mono_us() + PUT_RETRY_US;
		cnp_error("cannot store batch %" PRIu64 " in the spool (%s); holding it in "
		          "memory and pausing input until it can be stored",
		          a->pending_seq, cnp_strerror(rc));
		return rc;
	}
	a->sum.batches++;
	a->sum.stored_bytes += a->pending_len;
	cnp_free(a->pending);
	a->pending = NULL;
	cnp_uploader_kick(a->uploader);
	return CNP_OK;
}

/* Seals the open batch (if it has frames or drops to report). */
static int seal(struct cnp_agent *a)
{
	if (a->pending)
		return CNP_ERR_FULL; /* previous one not stored yet */
	struct cnp_batch_info info = {
		.vehicle = a->cfg.vehicle_id,
		.spool_id = cnp_spool_id(a->spool),
		.boot = cnp_spool_boot(a->spool),
		.ifaces = &a->ifaces,
		.sealed_wall_us = cnp_clock_wall_us(),
		.sealed_mono_us = cnp_clock_mono_us(),
		.signer = a->signer,
		.schemes_version = cnp_capture_version(a->capture),
	};
	uint64_t malformed = total_malformed(a);
	uint64_t kernel = total_kernel_dropped(a);
	uint32_t frames = cnp_batch_writer_count(a->writer);
	if (cnp_batch_writer_items(a->writer) == 0 && malformed == a->malformed_reported && kernel == a->kernel_reported)
		return CNP_OK;
	cnp_spool_next(a->spool, &info.seq, &info.has_prev, info.prev_sha256);
	cnp_spool_take_dropped(a->spool, &info.dropped[CNP_DROP_SPOOL_FULL],
	                       &info.dropped[CNP_DROP_CORRUPT]);
	info.dropped[CNP_DROP_MALFORMED] = malformed - a->malformed_reported;
	info.dropped[CNP_DROP_KERNEL] = kernel - a->kernel_reported;
	int rc = cnp_batch_writer_finish(a->writer, &info, &a->pending, &a->pending_len,
	                                 a->pending_digest);
	if (rc != CNP_OK) {
		cnp_error("cannot seal a batch: %s", cnp_strerror(rc));
		return rc;
	}
	a->malformed_reported = malformed;
	a->kernel_reported = kernel;
	a->pending_seq = info.seq;
	a->pending_frames = frames;
	a->opened_mono = 0;
	return store_pending(a);
}

/* One thing for the open batch: a frame, a signal sample or an event. */
struct item {
	const struct cnp_frame *f;
	const struct cnp_sig_desc *d;
	uint64_t ts, raw;
	const char *json;
};

static int writer_put(struct cnp_agent *a, const struct item *it)
{
	if (it->f)
		return cnp_batch_writer_add(a->writer, it->f);
	if (it->d)
		return cnp_batch_writer_add_sample(a->writer, it->d, it->ts, it->raw);
	return cnp_batch_writer_add_event(a->writer, it->json);
}

static int put_item(struct cnp_agent *a, const struct item *it)
{
	int rc = writer_put(a, it);
	if (rc == CNP_ERR_FULL) {
		rc = seal(a);
		while (a->pending) {
			if (cnp_signals_peek() & CNP_SIG_STOP)
				return CNP_ERR_CANCELLED;
			cnp_sleep_us(PUT_RETRY_US);
			rc = store_pending(a);
		}
		if (rc == CNP_OK)
			rc = writer_put(a, it);
	}
	if (rc == CNP_OK) {
		if (a->opened_mono == 0) {
			a->opened_mono = cnp_clock_mono_us();
			a->first_ts = a->max_ts = it->ts;
		} else if (it->ts > a->max_ts) {
			a->max_ts = it->ts;
		}
	}
	return rc;
}

static int sink_frame(void *arg, const struct cnp_frame *f)
{
	struct item it = {.f = f, .ts = f->ts_us};
	return put_item(arg, &it);
}

static int sink_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw)
{
	struct item it = {.d = d, .ts = ts_us, .raw = raw};
	return put_item(arg, &it);
}

static int sink_event(void *arg, const char *json)
{
	struct cnp_agent *a = arg;
	struct item it = {.json = json, .ts = a->max_ts};
	return put_item(a, &it);
}

/*
 * Adds a frame (raw capture), or what the collection schemes make of it,
 * sealing the open batch when it is full. If the spool refuses the sealed
 * batch, waits (retrying) until it takes it: the frame in hand and the
 * sealed batch stay in memory, and input pauses. Returns CNP_ERR_CANCELLED
 * if a stop is requested while waiting.
 */
static int add_frame(struct cnp_agent *a, const struct cnp_frame *f)
{
	int rc;
	if (a->capture) {
		struct cnp_collect_sink sink = {sink_frame, sink_sample, sink_event, a};
		rc = cnp_capture_frame(a->capture, f, &a->ifaces, &sink);
	} else {
		rc = sink_frame(a, f);
	}
	if (rc == CNP_OK) {
		a->sum.frames++;
		a->sum.text_bytes += cnp_candump_text_len(f, strlen(a->ifaces.names[f->iface]));
	}
	return rc;
}

int cnp_agent_run(struct cnp_agent *a, int exit_when_drained)
{
	int rc = cnp_uploader_start(a->uploader);
	if (rc != CNP_OK) {
		cnp_error("cannot start the upload thread");
		return rc;
	}
	int fatal = CNP_OK;
	uint64_t age_us = a->cfg.batch_max_age_ms * 1000u;
	for (;;) {
		unsigned sig = cnp_signals_take();
		if (sig & CNP_SIG_STOP) {
			cnp_info("stop requested: sealing the open batch and exiting");
			break;
		}
		if (sig & CNP_SIG_RELOAD)
			cnp_warn("configuration reload is not supported yet; restart to apply changes");

		uint64_t now = cnp_clock_mono_us();
		if (a->pending) {
			/* Back-pressure: read nothing until the spool takes it. */
			if (now >= a->pending_retry_mono && store_pending(a) == CNP_OK)
				continue;
			cnp_sleep_us(MAX_IDLE_US);
			continue;
		}

		uint64_t wait = MAX_IDLE_US;
		size_t got = 0;
		unsigned active = 0;
		for (unsigned i = 0; i < a->n_sources && !a->pending; i++) {
			if (a->source_done[i])
				continue;
			size_t n = 0;
			uint64_t w = 0;
			rc = a->sources[i]->ops->read(a->sources[i], a->frames, READ_CHUNK, &n, &w);
			for (size_t k = 0; k < n; k++) {
				int arc = add_frame(a, &a->frames[k]);
				if (arc != CNP_OK) {
					cnp_error("stopping with %zu frames of the last read not stored: %s",
					          n - k, cnp_strerror(arc));
					if (arc != CNP_ERR_CANCELLED)
						fatal = arc;
					goto out;
				}
			}
			got += n;
			if (rc == CNP_ERR_EOF) {
				a->source_done[i] = 1;
				cnp_info("source %u (%s) finished: %" PRIu64 " frames, %" PRIu64
				         " malformed lines",
				         i, a->sources[i]->ops->type, a->sources[i]->stats.frames,
				         a->sources[i]->stats.malformed);
				continue;
			}
			if (rc != CNP_OK) {
				cnp_error("source %u (%s) failed: %s; it is stopped", i,
				          a->sources[i]->ops->type, cnp_strerror(rc));
				a->source_done[i] = 1;
				continue;
			}
			active++;
			if (n == 0 && w < wait)
				wait = w;
		}

		now = cnp_clock_mono_us();
		int open = cnp_batch_writer_items(a->writer) > 0;
		/* A batch is old when either clock says so: the capture clock
		 * (so that a replay at full speed cuts the same batches a live
		 * capture would) or the agent's own (a quiet bus still gets its
		 * frames out). */
		int old = open && (now - a->opened_mono >= age_us || a->max_ts - a->first_ts >= age_us);
		if ((open && (active == 0 || old)) ||
		    (active == 0 && (total_malformed(a) != a->malformed_reported ||
		                     total_kernel_dropped(a) != a->kernel_reported)))
			seal(a);

		if (active == 0 && exit_when_drained && !a->pending &&
		    cnp_batch_writer_items(a->writer) == 0) {
			unsigned batches;
			uint64_t bytes;
			cnp_spool_usage(a->spool, &batches, &bytes);
			if (batches == 0)
				break;
		}
		if (got == 0)
			cnp_sleep_us(wait < MAX_IDLE_US ? (wait ? wait : 1000) : MAX_IDLE_US);
	}
out:
	if (!a->pending)
		seal(a);
	if (a->pending)
		cnp_error("exiting with a sealed batch of %" PRIu32 " frames that the spool refused",
		          a->pending_frames);
	cnp_uploader_stop(a->uploader);
	return fatal;
}

void cnp_agent_get_summary(struct cnp_agent *a, struct cnp_agent_summary *s)
{
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(a->uploader, &st);
	*s = a->sum;
	s->malformed = total_malformed(a);
	s->kernel_dropped = total_kernel_dropped(a);
	s->uploaded_batches = st.batches;
	s->uploaded_bytes = st.bytes;
	s->upload_failures = st.failures;
	uint64_t bytes;
	cnp_spool_usage(a->spool, &s->spool_batches, &bytes);
}
