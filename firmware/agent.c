#include "firmware/agent.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/candump.h"
#include "firmware/capture.h"
#include "firmware/error.h"
#include "firmware/journal.h"
#include "firmware/json.h"
#include "firmware/poll.h"
#include "firmware/spool.h"
#include "firmware/status.h"
#include "firmware/uploader.h"
#include "platform/clock.h"
#include "platform/fs.h"
#include "platform/log.h"
#include "platform/service.h"
#include "platform/signals.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Frames taken from one source per read call. */
#define READ_CHUNK 256
/* Longest the loop sleeps when idle, so signals and ages are seen soon. */
#define MAX_IDLE_US 50000u
/*
 * Waiting for frames from sources with descriptors (SocketCAN). While frames
 * flow, the loop looks again every COALESCE_US: a wake-up per frame would
 * cost far more CPU per frame (docs/PERFORMANCE.md), and the socket queues
 * easily hold 2 ms. After QUIET_US without a frame it sleeps in poll() on
 * the descriptors, so that a quiet bus costs no wake-ups, and the first
 * frame wakes it (then, too, it lets frames gather for COALESCE_US).
 */
#define COALESCE_US 2000u
#define QUIET_US 200000u
/* Retry interval while the spool refuses a write (disk full, I/O). */
#define PUT_RETRY_US 1000000u

/* Operations: status file, summary line, watchdog, reload (see the end). */
struct ops {
	char config_path[CNP_PATH_MAX]; /* "" : SIGHUP cannot reload */
	int log_level_fixed;            /* --log-level given: reload keeps it */
	char status_dir[CNP_PATH_MAX];
	char status_name[CNP_PATH_MAX];
	int status_failed;              /* the last write failed (logged once) */
	const char *state;
	uint64_t started_mono, last_frame_mono;
	uint64_t status_next, summary_next, watchdog_next, watchdog_us;
	uint64_t rate_frames, rate_mono; /* at the previous snapshot */
	double rate;
	uint64_t reloads;
	uint64_t dropped[CNP_DROP_REASONS]; /* as sealed into batches */
	struct cnp_uploader_stats up_base;  /* of uploaders replaced by reloads */
	struct cnp_status status;
};

static void ops_init(struct cnp_agent *a);
static void ops_tick(struct cnp_agent *a, int final);
static void reload(struct cnp_agent *a);

struct cnp_agent {
	struct cnp_config cfg;
	struct cnp_ifaces ifaces;
	struct cnp_source *sources[CNP_MAX_SOURCES];
	/* What each source's sample callback gets: the agent and the source. */
	struct src_ref {
		struct cnp_agent *a;
		unsigned i;
	} src_refs[CNP_MAX_SOURCES];
	int source_done[CNP_MAX_SOURCES];
	unsigned n_sources;
	struct cnp_spool *spool;
	struct cnp_uploader *uploader;
	atomic_int cancel;
	struct cnp_batch_writer *writer;
	struct cnp_signer *signer; /* NULL: batches are not signed */
	struct cnp_verifier *encrypt_to; /* NULL: batches are stored in clear */
	struct cnp_capture *capture; /* NULL: raw capture */
	struct cnp_poller *poller;   /* NULL: no active polling */
	struct cnp_poll_stats poll_sealed; /* as of the last sealed batch */
	struct cnp_tp_stats tp_sealed[2];  /* transport (ISO-TP, J1939), likewise */
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
	int64_t pending_priority;
	uint64_t pending_dropped[CNP_DROP_REASONS]; /* its manifest's "dropped" */
	/* The open batch's priority: the highest of its events' (0 without
	 * events); the spool evicts the lowest first when full. */
	int64_t open_priority;
	int open_has_priority;
	uint8_t pending_digest[CNP_SHA256_LEN];
	uint64_t pending_retry_mono;
	struct cnp_agent_summary sum;
	struct ops ops;
	/* Frame journal (NULL when spool.journal is false) and what a previous
	 * run left in it; carry: recovered frames the next restart keeps. */
	struct cnp_journal *journal;
	int seal_failed; /* building a batch, or adding to it, failed: stop
	                    without sealing and leave the batch to the journal */
	struct cnp_journal_recovered rec;
	const struct cnp_frame *carry;
	size_t carry_n;
	const struct cnp_journal_sample *carry_samples; /* recovered, put back */
	size_t carry_samples_n;                         /* when sources are added */
	/* The read being added: frames [chunk_from, chunk_k) are not journaled
	 * yet, a->frames[chunk_k] is going in. */
	int chunk_active;
	unsigned chunk_src;
	size_t chunk_from, chunk_k;
	/* A frame being added: 1 until its first item (raw frame, sample or
	 * event) is in the open batch, 2 after; 0 between frames. */
	int frame_state;
	struct cnp_frame frames[READ_CHUNK];
};

static int seal(struct cnp_agent *a);
static int recover_journal(struct cnp_agent *a);
static int add_frame(struct cnp_agent *a, const struct cnp_frame *f);
static int sink_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw);
static int source_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw);
static int put_back_samples(struct cnp_agent *a, unsigned i);

int cnp_agent_create(const struct cnp_config *cfg, struct cnp_agent **out)
{
	struct cnp_agent *a = cnp_calloc(1, sizeof(*a));
	if (!a)
		return CNP_ERR_NOMEM;
	struct cnp_endpoint *eps[CNP_UPLOADER_MAX_ENDPOINTS] = {0};
	unsigned n_eps = 0;
	memcpy(&a->cfg, cfg, sizeof(*cfg)); /* padding too: reload compares with memcmp */
	cnp_ifaces_init(&a->ifaces);
	atomic_init(&a->cancel, 0);
	/* The parser caps batch.max_bytes at 64 MiB, so it fits size_t. */
	int rc = cnp_batch_writer_create(&a->writer, &cnp_codec_cols_ck_zlib,
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
	if (cfg->encrypt_to[0]) {
		char why[256] = "";
		rc = cnp_verifier_load(cfg->encrypt_to, &a->encrypt_to, why, sizeof(why));
		if (rc != CNP_OK) {
			cnp_error("encrypt_to %s: %s", cfg->encrypt_to,
			          rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : why);
			goto fail;
		}
		cnp_info("encrypting batches to the P-256 public key %s", cfg->encrypt_to);
		if (cfg->spool_journal)
			cnp_warn("$.spool.journal is on with encrypt_to: the frames of the open batch "
			         "are kept in clear in the spool's journal until the batch is sealed");
		else
			cnp_info("frame journal off with encrypt_to (nothing in clear on flash): a "
			         "crash loses the open batch; $.spool.journal: true keeps it, in clear");
	}
	rc = cnp_capture_create(cfg, &a->capture);
	if (rc != CNP_OK)
		goto fail;
	struct cnp_spool_config sc = {.dir = cfg->spool_dir, .max_bytes = cfg->spool_max_bytes,
	                              .min_free_bytes = cfg->spool_min_free_bytes};
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
	n_eps = 0; /* the uploader owns them now: a later failure must not free them twice */
	ops_init(a);
	if (cfg->spool_journal) {
		rc = recover_journal(a);
		if (rc != CNP_OK)
			goto fail;
	}
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
	cnp_poller_destroy(a->poller);
	cnp_capture_destroy(a->capture);
	cnp_signer_destroy(a->signer);
	cnp_verifier_destroy(a->encrypt_to);
	cnp_spool_close(a->spool);
	cnp_journal_close(a->journal);
	cnp_free(a->rec.frames);
	cnp_free(a->rec.samples);
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
	unsigned i = a->n_sources++;
	a->sources[i] = src;
	/* Signals a source measures itself join those decoded from frames. */
	a->src_refs[i] = (struct src_ref){a, i};
	src->samples.sample = source_sample;
	src->samples.arg = &a->src_refs[i];
	if (a->journal && a->rec.has_pos[i]) {
		const struct cnp_source_pos *p = &a->rec.pos[i];
		int rc = src->ops->seek ? src->ops->seek(src, p) : CNP_ERR_UNSUPPORTED;
		if (rc == CNP_OK) {
			cnp_info("source %u (%s): resuming after line %" PRIu64
			         ", the last one the journal holds",
			         i, src->ops->type, p->line);
		} else {
			cnp_warn("source %u (%s): cannot resume where the last run stopped (%s); "
			         "reading from the start",
			         i, src->ops->type,
			         rc == CNP_ERR_UNSUPPORTED ? "the input changed or loops"
			                                   : cnp_strerror(rc));
			cnp_journal_forget(a->journal, i);
		}
	}
	return a->journal ? put_back_samples(a, i) : CNP_OK;
}

void cnp_agent_set_poller(struct cnp_agent *a, struct cnp_poller *p)
{
	a->poller = p;
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

/*
 * Starts the journal of the next batch, once the last one is stored (or at
 * start). A failure is logged; appends then wait for the next restart, and
 * a crash meanwhile loses the open batch of a live source (a replay
 * resumes where the stored batches end).
 */
static void restart_journal(struct cnp_agent *a)
{
	if (!a->journal)
		return;
	uint64_t seq;
	int has_prev;
	uint8_t prev[CNP_SHA256_LEN];
	cnp_spool_next(a->spool, &seq, &has_prev, prev);
	cnp_journal_restart(a->journal, cnp_spool_boot(a->spool), seq, a->malformed_reported,
	                    &a->ifaces, a->carry, a->carry_n, a->carry_samples,
	                    a->carry_samples_n);
}

/*
 * Reads back what the journal of the last run holds: the interface table,
 * the sources' positions (applied in cnp_agent_add_source) and, unless the
 * batch they were meant for was stored after all, the frames, which go
 * into the open batch again.
 */
static int recover_journal(struct cnp_agent *a)
{
	struct cnp_journal_recovered *r = &a->rec;
	int rc = cnp_journal_open(a->cfg.spool_dir, a->cfg.spool_sync_interval_ms * 1000u,
	                          &a->journal, r);
	if (rc != CNP_OK)
		return rc;
	if (!r->found)
		return (restart_journal(a), CNP_OK);
	a->ifaces = r->ifaces;
	if (cnp_spool_was_stored(a->spool, r->boot, r->seq)) {
		/* The crash came after the batch was stored: its frames are safe,
		 * and the malformed lines up to the positions are reported. */
		cnp_info("journal: its %zu frames are in batch %08" PRIu32 "-%012" PRIu64
		         " already", r->n_frames, r->boot, r->seq);
		for (unsigned i = 0; i < CNP_MAX_SOURCES; i++)
			if (r->has_pos[i])
				a->malformed_reported += r->pos[i].malformed;
		r->n_frames = 0;
		r->n_samples = 0;
	} else {
		a->malformed_reported = r->malformed_reported;
		cnp_info("journal: recovered %zu frames and %zu samples of the batch open when "
		         "the last run stopped", r->n_frames, r->n_samples);
	}
	/* Samples go back when their sources are added; until then every
	 * restart of the journal keeps them. */
	a->carry_samples = r->samples;
	a->carry_samples_n = r->n_samples;
	size_t k0 = 0;
	for (size_t k = 0; k < r->n_frames; k++) {
		/* Should a batch fill up on the way (batch.max_bytes shrank
		 * since), the journal restarts with the frames not stored yet. */
		a->carry = &r->frames[k];
		a->carry_n = r->n_frames - k;
		uint64_t stored = a->sum.batches;
		rc = add_frame(a, &r->frames[k]);
		if (rc != CNP_OK) {
			cnp_error("journal: cannot batch the recovered frames (%s); they stay in "
			          "the journal",
			          cnp_strerror(rc));
			return rc;
		}
		if (a->sum.batches != stored)
			k0 = k;
	}
	a->carry = &r->frames[k0];
	a->carry_n = r->n_frames - k0;
	restart_journal(a);
	a->carry = NULL;
	a->carry_n = 0;
	a->carry_samples = NULL;
	a->carry_samples_n = 0;
	return CNP_OK;
}

/* Stores the pending sealed batch. CNP_OK once it is in the spool. */
static int store_pending(struct cnp_agent *a)
{
	int rc = cnp_spool_put_priority(a->spool, a->pending_seq, a->pending, a->pending_len,
	                                a->pending_frames, a->pending_digest,
	                                a->pending_priority, a->pending_dropped);
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
	restart_journal(a);
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
		.encrypt_to = a->encrypt_to,
		.schemes_version = cnp_capture_version(a->capture),
		.priority = a->open_has_priority ? a->open_priority : 0,
	};
	uint64_t malformed = total_malformed(a);
	uint64_t kernel = total_kernel_dropped(a);
	uint32_t frames = cnp_batch_writer_count(a->writer);
	if (cnp_batch_writer_items(a->writer) == 0 && malformed == a->malformed_reported &&
	    kernel == a->kernel_reported && !cnp_spool_has_unreported(a->spool))
		return CNP_OK;
	cnp_spool_next(a->spool, &info.seq, &info.has_prev, info.prev_sha256);
	cnp_spool_take_all(a->spool, info.dropped);
	info.dropped[CNP_DROP_MALFORMED] += malformed - a->malformed_reported;
	info.dropped[CNP_DROP_KERNEL] += kernel - a->kernel_reported;
	struct cnp_poll_stats ps = {0};
	if (a->poller) {
		cnp_poller_stats(a->poller, &ps);
		info.has_polling = 1;
		info.poll_requests = ps.requests - a->poll_sealed.requests;
		info.poll_responses = ps.responses - a->poll_sealed.responses;
		info.poll_timeouts = ps.timeouts - a->poll_sealed.timeouts;
		info.poll_negative = ps.negative - a->poll_sealed.negative;
	}
	struct cnp_tp_stats tp[2];
	info.has_transport = cnp_capture_transport(a->capture, &tp[0], &tp[1]);
	if (info.has_transport) {
		cnp_tp_stats_since(&tp[0], &a->tp_sealed[0], &info.tp_isotp);
		cnp_tp_stats_since(&tp[1], &a->tp_sealed[1], &info.tp_j1939);
	}
	int rc = cnp_batch_writer_finish(a->writer, &info, &a->pending, &a->pending_len,
	                                 a->pending_digest);
	if (rc != CNP_OK) {
		cnp_error("cannot seal a batch: %s", cnp_strerror(rc));
		a->seal_failed = 1;
		return rc;
	}
	a->malformed_reported = malformed;
	a->kernel_reported = kernel;
	a->poll_sealed = ps;
	if (info.has_transport)
		memcpy(a->tp_sealed, tp, sizeof(tp));
	for (int r = 0; r < CNP_DROP_REASONS; r++)
		a->ops.dropped[r] += info.dropped[r];
	a->pending_seq = info.seq;
	a->pending_frames = frames;
	a->pending_priority = info.priority;
	memcpy(a->pending_dropped, info.dropped, sizeof(a->pending_dropped));
	a->open_has_priority = 0;
	a->opened_mono = 0;
	return store_pending(a);
}

/* Journals frames [from, to) of the last read of source `src`. */
static void journal_frames(struct cnp_agent *a, unsigned src, size_t from, size_t to)
{
	struct cnp_source *s = a->sources[src];
	struct cnp_source_pos pos;
	if (s->ops->tell)
		s->ops->tell(s, to, &pos);
	cnp_journal_append(a->journal, src, &a->frames[from], to - from,
	                   s->ops->tell ? &pos : NULL, &a->ifaces, cnp_clock_mono_us());
}

/*
 * The open batch is full while the frames of a read go in: journal those
 * that went in before it is sealed, so the journal's position ends where
 * the batch does.
 */
static void journal_cut(struct cnp_agent *a)
{
	if (!a->journal || !a->chunk_active || a->chunk_k == a->chunk_from)
		return;
	journal_frames(a, a->chunk_src, a->chunk_from, a->chunk_k);
	a->chunk_from = a->chunk_k;
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
	/*
	 * What a frame makes goes into one batch, as the journal has the frame
	 * in one batch: a batch whose signal section is full is sealed before
	 * a frame's first item, and the frame's other samples are then taken
	 * past batch.max_bytes. Otherwise a frame whose raw frame went into a
	 * batch and whose samples filled it would be journaled for the next
	 * one, and come twice out of a restart after a crash.
	 */
	int first = a->frame_state == 1;
	int rc = first && cnp_batch_writer_full(a->writer) ? CNP_ERR_FULL : writer_put(a, it);
	if (rc == CNP_ERR_FULL) {
		journal_cut(a);
		rc = seal(a);
		while (a->pending) {
			if (cnp_signals_peek() & CNP_SIG_STOP)
				return CNP_ERR_CANCELLED;
			ops_tick(a, 0);
			cnp_sleep_us(PUT_RETRY_US);
			rc = store_pending(a);
		}
		if (rc == CNP_OK)
			rc = writer_put(a, it);
	}
	if (rc == CNP_OK) {
		if (first) {
			a->frame_state = 2;
			cnp_batch_writer_overfill(a->writer, 1);
		}
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

/* Journals a sample of source i that went into the open batch. */
static void journal_sample(struct cnp_agent *a, unsigned i, uint32_t k, uint64_t ts_us,
                           uint64_t raw)
{
	struct cnp_journal_sample js = {.src = i, .k = k, .ts_us = ts_us, .raw = raw};
	cnp_journal_append_samples(a->journal, &js, 1, cnp_clock_mono_us());
}

/*
 * A sample a source measured itself (GNSS): into the open batch, and into
 * the journal under its description's number, so that a crash loses it
 * no more than a frame (one write() each: such sources give a few a
 * second).
 */
static int source_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw)
{
	const struct src_ref *ref = arg;
	struct cnp_agent *a = ref->a;
	int rc = sink_sample(a, d, ts_us, raw);
	const struct cnp_source *src = a->sources[ref->i];
	if (rc != CNP_OK || !a->journal || !src->ops->sample_desc)
		return rc;
	const struct cnp_sig_desc *e;
	for (uint32_t k = 0; (e = src->ops->sample_desc(src, k)) != NULL; k++)
		if (e == d) {
			journal_sample(a, ref->i, k, ts_us, raw);
			break;
		}
	return rc;
}

/*
 * Puts the samples of source i that the journal of the last run held back
 * into the open batch. They are in the journal already (restarts carried
 * them), unless a batch was sealed on the way: then those after it go in
 * again. A source that has no such description (the configuration
 * changed) loses them, counted in the log.
 */
static int put_back_samples(struct cnp_agent *a, unsigned i)
{
	const struct cnp_source *src = a->sources[i];
	size_t back = 0, lost = 0;
	uint64_t batches = a->sum.batches;
	for (size_t n = 0; n < a->rec.n_samples; n++) {
		const struct cnp_journal_sample *js = &a->rec.samples[n];
		if (js->src != i)
			continue;
		const struct cnp_sig_desc *d =
		        src->ops->sample_desc ? src->ops->sample_desc(src, js->k) : NULL;
		if (!d) {
			lost++;
			continue;
		}
		int rc = sink_sample(a, d, js->ts_us, js->raw);
		if (rc != CNP_OK)
			return rc;
		back++;
		if (a->sum.batches != batches)
			journal_sample(a, i, js->k, js->ts_us, js->raw);
	}
	if (back)
		cnp_info("journal: put back %zu samples of source %u (%s)", back, i, src->ops->type);
	if (lost)
		cnp_warn("journal: %zu samples of source %u of the last run lost: source %u (%s) "
		         "does not make them (the configuration changed)",
		         lost, i, i, src->ops->type);
	return CNP_OK;
}

/* A trigger event's "priority" (its scheme's), 0 if it has none. Events
 * are rare (one per trigger), so parsing them again costs nothing. */
static int64_t event_priority(const char *json)
{
	cJSON *j = cJSON_Parse(json);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "priority");
	int64_t v = cJSON_IsNumber(p) && p->valuedouble >= -1e15 && p->valuedouble <= 1e15
	                    ? (int64_t)p->valuedouble
	                    : 0;
	cJSON_Delete(j);
	return v;
}

static int sink_event(void *arg, const char *json)
{
	struct cnp_agent *a = arg;
	struct item it = {.json = json, .ts = a->max_ts};
	int64_t pr = event_priority(json);
	int rc = put_item(a, &it);
	/* After put_item: a full batch is sealed first, and the event opens
	 * the next one. */
	if (rc == CNP_OK && (!a->open_has_priority || pr > a->open_priority)) {
		a->open_priority = pr;
		a->open_has_priority = 1;
	}
	return rc;
}

static int seal_cb(void *arg)
{
	return seal(arg);
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
		a->frame_state = 1;
		rc = cnp_capture_frame(a->capture, f, &a->ifaces, &sink);
		a->frame_state = 0;
		cnp_batch_writer_overfill(a->writer, 0);
	} else {
		rc = sink_frame(a, f);
	}
	if (rc == CNP_OK) {
		a->sum.frames++;
		a->sum.text_bytes += cnp_candump_text_len(f, strlen(a->ifaces.names[f->iface]));
	}
	return rc;
}

/*
 * Adds the n frames source `src` just read (a->frames) and journals them:
 * one append per batch they went to, with the source's position after
 * them. *done says how many went in; the rest are read again after a
 * restart (the journal's position is before them).
 */
static int add_frames(struct cnp_agent *a, unsigned src, size_t n, size_t *done)
{
	int rc = CNP_OK;
	a->chunk_src = src;
	a->chunk_from = 0;
	a->chunk_active = 1;
	for (*done = 0; *done < n; (*done)++) {
		a->chunk_k = *done;
		rc = add_frame(a, &a->frames[*done]);
		if (rc != CNP_OK)
			break;
	}
	a->chunk_active = 0;
	if (a->journal && *done > a->chunk_from)
		journal_frames(a, src, a->chunk_from, *done);
	return rc;
}

int cnp_agent_run(struct cnp_agent *a, int exit_when_drained)
{
	int rc = cnp_uploader_start(a->uploader);
	if (rc != CNP_OK) {
		cnp_error("cannot start the upload thread");
		return rc;
	}
	/* Sources that could not resume count their malformed lines afresh. */
	if (total_malformed(a) < a->malformed_reported)
		a->malformed_reported = total_malformed(a);
	int fatal = CNP_OK;
	cnp_service_notify("READY=1");
	for (;;) {
		unsigned sig = cnp_signals_take();
		if (sig & CNP_SIG_STOP) {
			cnp_info("stop requested: sealing the open batch and exiting");
			a->ops.state = "stopping";
			cnp_service_notify("STOPPING=1");
			break;
		}
		if (sig & CNP_SIG_RELOAD)
			reload(a);
		ops_tick(a, 0);
		uint64_t age_us = a->cfg.batch_max_age_ms * 1000u;

		uint64_t now = cnp_clock_mono_us();
		if (a->pending) {
			/* Back-pressure: read nothing until the spool takes it. */
			if (now >= a->pending_retry_mono && store_pending(a) == CNP_OK)
				continue;
			cnp_sleep_us(MAX_IDLE_US);
			continue;
		}

		if (a->capture) {
			struct cnp_collect_sink sink = {sink_frame, sink_sample, sink_event, a};
			cnp_capture_update(a->capture, seal_cb, &sink);
		}

		uint64_t wait = MAX_IDLE_US;
		if (a->poller) {
			/* Between two reads: sends what is due, takes what arrived,
			 * never waits. */
			struct cnp_collect_sink sink = {sink_frame, sink_sample, sink_event, a};
			uint64_t pw = MAX_IDLE_US;
			int prc = cnp_poller_run(a->poller, cnp_clock_mono_us(), cnp_clock_wall_us(),
			                         &sink, &pw);
			if (prc != CNP_OK) {
				cnp_error("stopping: polled values not stored: %s", cnp_strerror(prc));
				if (prc != CNP_ERR_CANCELLED)
					fatal = prc;
				goto out;
			}
			if (pw < wait)
				wait = pw;
		}
		size_t got = 0;
		unsigned active = 0, nfds = 0;
		int fds[CNP_SLEEP_FDS_MAX];
		for (unsigned i = 0; i < a->n_sources && !a->pending; i++) {
			if (a->source_done[i])
				continue;
			size_t n = 0;
			uint64_t w = 0;
			rc = a->sources[i]->ops->read(a->sources[i], a->frames, READ_CHUNK, &n, &w);
			if (n > 0) {
				size_t k;
				int arc = add_frames(a, i, n, &k);
				if (arc != CNP_OK) {
					cnp_error("stopping with %zu frames of the last read not stored: %s",
					          n - k, cnp_strerror(arc));
					if (arc != CNP_ERR_CANCELLED) {
						fatal = arc;
						/* A frame may be half in (raw in, its signals
						 * not): leave the batch to the journal, as after
						 * a crash, so the next start has each frame once. */
						if (a->journal)
							a->seal_failed = 1;
					}
					goto out;
				}
			}
			got += n;
			if (rc == CNP_ERR_CANCELLED)
				goto out; /* a sample waited for a full spool: stop */
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
				if (fatal == CNP_OK)
					fatal = rc; /* the others go on; the exit status says it */
				continue;
			}
			active++;
			if (n == 0 && w < wait)
				wait = w;
			if (n == 0 && a->sources[i]->ops->wait_fds)
				nfds += a->sources[i]->ops->wait_fds(a->sources[i], fds + nfds,
				                                     CNP_SLEEP_FDS_MAX - nfds);
		}

		now = cnp_clock_mono_us();
		if (got)
			a->ops.last_frame_mono = now;
		int open = cnp_batch_writer_items(a->writer) > 0;
		/* A batch is old when either clock says so: the capture clock
		 * (so that a replay at full speed cuts the same batches a live
		 * capture would) or the agent's own (a quiet bus still gets its
		 * frames out). */
		int old = open && (now - a->opened_mono >= age_us || a->max_ts - a->first_ts >= age_us);
		if ((open && (active == 0 || old)) ||
		    (active == 0 && (total_malformed(a) != a->malformed_reported ||
		                     total_kernel_dropped(a) != a->kernel_reported ||
		                     cnp_spool_has_unreported(a->spool)))) {
			int src = seal(a);
			if (a->seal_failed) {
				/* The batch could not be built (out of memory): its frames
				 * are in the journal, which the next start batches again. */
				cnp_error("stopping: the open batch could not be sealed (%s); %s",
				          cnp_strerror(src),
				          a->journal ? "the journal keeps its frames for the next start"
				                     : "its frames are lost (spool.journal is off)");
				fatal = src;
				goto out;
			}
		}

		/* Drained: every source done, nothing open, nothing stored, and
		 * no drop (a batch quarantined by the uploader) left to report:
		 * the next turn seals a batch for it. */
		if (active == 0 && exit_when_drained && !a->pending &&
		    cnp_batch_writer_items(a->writer) == 0 && !cnp_spool_has_unreported(a->spool)) {
			unsigned batches;
			uint64_t bytes;
			cnp_spool_usage(a->spool, &batches, &bytes);
			if (batches == 0)
				break;
		}
		if (a->journal)
			cnp_journal_tick(a->journal, now);
		if (got == 0) {
			uint64_t w = wait < MAX_IDLE_US ? (wait ? wait : 1000) : MAX_IDLE_US;
			if (nfds > 0 && now - a->ops.last_frame_mono < QUIET_US) {
				cnp_sleep_us(w < COALESCE_US ? w : COALESCE_US);
			} else {
				cnp_sleep_fds_us(fds, nfds, w);
				if (nfds > 0 && cnp_clock_mono_us() - now < w)
					cnp_sleep_us(COALESCE_US); /* woken early: let frames gather */
			}
		}
	}
out:
	/* Not after a failed seal: the batch writer has lost the frames the
	 * journal still holds, and a batch sealed now would take their
	 * sequence number, so that the next start would think them stored. */
	if (!a->pending && !a->seal_failed)
		seal(a);
	if (a->pending)
		cnp_error("exiting with a sealed batch of %" PRIu32 " frames that the spool refused",
		          a->pending_frames);
	cnp_uploader_stop(a->uploader);
	a->ops.state = "stopped";
	ops_tick(a, 1);
	return fatal;
}

void cnp_agent_get_summary(struct cnp_agent *a, struct cnp_agent_summary *s)
{
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(a->uploader, &st);
	*s = a->sum;
	st.batches += a->ops.up_base.batches;
	st.bytes += a->ops.up_base.bytes;
	st.failures += a->ops.up_base.failures;
	s->malformed = total_malformed(a);
	s->kernel_dropped = total_kernel_dropped(a);
	s->uploaded_batches = st.batches;
	s->uploaded_bytes = st.bytes;
	s->upload_failures = st.failures;
	uint64_t bytes;
	cnp_spool_usage(a->spool, &s->spool_batches, &bytes);
}

/* --- operations: status, summary, watchdog, reload (docs/OPERATIONS.md) --- */

static void set_status_path(struct cnp_agent *a)
{
	struct ops *o = &a->ops;
	char path[CNP_PATH_MAX];
	if (a->cfg.status_file[0])
		snprintf(path, sizeof(path), "%s", a->cfg.status_file);
	else if (cnp_service_runtime_dir(path, sizeof(path) - 12) == CNP_OK)
		strcat(path, "/status.json");
	else
		path[0] = 0;
	const char *slash = strrchr(path, '/');
	if (!path[0] || !slash || !slash[1]) {
		o->status_dir[0] = o->status_name[0] = 0;
		return;
	}
	snprintf(o->status_dir, sizeof(o->status_dir), "%.*s",
	         (int)(slash == path ? 1 : slash - path), path);
	snprintf(o->status_name, sizeof(o->status_name), "%s", slash + 1);
	o->status_failed = 0;
}

static void ops_init(struct cnp_agent *a)
{
	struct ops *o = &a->ops;
	o->state = "running";
	o->started_mono = o->rate_mono = cnp_clock_mono_us();
	o->watchdog_us = cnp_service_watchdog_us();
	set_status_path(a);
}

void cnp_agent_set_reload(struct cnp_agent *a, const char *config_path, int log_level_fixed)
{
	snprintf(a->ops.config_path, sizeof(a->ops.config_path), "%s", config_path);
	a->ops.log_level_fixed = log_level_fixed;
}

static void add_stats(struct cnp_uploader_stats *to, const struct cnp_uploader_stats *from)
{
	to->batches += from->batches;
	to->bytes += from->bytes;
	to->attempts += from->attempts;
	to->failures += from->failures;
	to->quarantined += from->quarantined;
	to->rejected += from->rejected;
	to->auth_failures += from->auth_failures;
	to->latency_total_us += from->latency_total_us;
	if (from->last_latency_us)
		to->last_latency_us = from->last_latency_us;
}

void cnp_agent_get_status(struct cnp_agent *a, struct cnp_status *st)
{
	const struct ops *o = &a->ops;
	memset(st, 0, sizeof(*st));
	st->state = o->state;
	snprintf(st->vehicle, sizeof(st->vehicle), "%s", a->cfg.vehicle_id);
	st->pid = cnp_service_pid();
	st->wall_us = cnp_clock_wall_us();
	st->mono_us = cnp_clock_mono_us();
	st->started_mono_us = o->started_mono;
	st->interval_ms = a->cfg.status_interval_ms;
	st->batch_max_age_ms = a->cfg.batch_max_age_ms;
	st->reloads = o->reloads;
	st->sources = a->n_sources;
	for (unsigned i = 0; i < a->n_sources; i++)
		st->sources_active += !a->source_done[i];
	st->frames = a->sum.frames;
	st->frames_per_s = o->rate;
	st->last_frame_mono_us = o->last_frame_mono;
	st->text_bytes = a->sum.text_bytes;
	memcpy(st->dropped, o->dropped, sizeof(st->dropped));
	st->dropped[CNP_DROP_MALFORMED] = total_malformed(a);
	st->dropped[CNP_DROP_KERNEL] = total_kernel_dropped(a);
	st->transport = cnp_capture_transport(a->capture, &st->isotp, &st->j1939);
	st->batches = a->sum.batches;
	st->stored_bytes = a->sum.stored_bytes;
	cnp_spool_usage(a->spool, &st->spool_batches, &st->spool_bytes);
	if (cnp_spool_oldest_wall_us(a->spool, &st->spool_oldest_wall_us) != CNP_OK)
		st->spool_oldest_wall_us = 0;
	st->input_paused = a->pending != NULL;
	if (a->poller) {
		struct cnp_poll_stats ps;
		cnp_poller_stats(a->poller, &ps);
		st->polling = 1;
		st->poll_requests = ps.requests;
		st->poll_responses = ps.responses;
		st->poll_timeouts = ps.timeouts;
		st->poll_negative = ps.negative;
		st->poll_pending = ps.pending;
		st->poll_unexpected = ps.unexpected;
	}
	st->up = o->up_base;
	struct cnp_uploader_stats now;
	cnp_uploader_get_stats(a->uploader, &now);
	add_stats(&st->up, &now);
	while (st->n_eps < CNP_UPLOADER_MAX_ENDPOINTS &&
	       cnp_uploader_get_health(a->uploader, st->n_eps, &st->eps[st->n_eps]) == CNP_OK)
		st->n_eps++;
	cnp_status_judge(st);
}

static void write_status(struct cnp_agent *a, const struct cnp_status *st)
{
	struct ops *o = &a->ops;
	char *json = NULL;
	if (!o->status_name[0] || cnp_status_to_json(st, &json) != CNP_OK)
		return;
	int rc = cnp_fs_mkdirs(o->status_dir);
	if (rc == CNP_OK)
		rc = cnp_fs_write_atomic(o->status_dir, o->status_name, json, strlen(json));
	if (rc != CNP_OK && !o->status_failed)
		cnp_warn("cannot write the status file %s/%s: %s (set $.operations.status_file)",
		         o->status_dir, o->status_name, cnp_fs_last_error());
	else if (rc == CNP_OK && o->status_failed)
		cnp_info("status file %s/%s written again", o->status_dir, o->status_name);
	o->status_failed = rc != CNP_OK;
	cnp_free(json);
}

/*
 * Called by the main loop on every turn (and while it waits for the
 * spool): feeds the watchdog, so a loop that stops turning gets the agent
 * restarted; refreshes the status file and logs the summary when due.
 */
static void ops_tick(struct cnp_agent *a, int final)
{
	struct ops *o = &a->ops;
	uint64_t now = cnp_clock_mono_us();
	if (o->watchdog_us && now >= o->watchdog_next) {
		cnp_service_notify("WATCHDOG=1");
		o->watchdog_next = now + o->watchdog_us / 2;
	}
	int status_due = a->cfg.status_interval_ms && now >= o->status_next;
	int summary_due = a->cfg.summary_interval_s && now >= o->summary_next;
	if (!status_due && !summary_due && !final)
		return;
	if (now > o->rate_mono) {
		o->rate = (double)(a->sum.frames - o->rate_frames) * 1e6 / (double)(now - o->rate_mono);
		o->rate_frames = a->sum.frames;
		o->rate_mono = now;
	}
	struct cnp_status *st = &o->status;
	cnp_agent_get_status(a, st);
	if (status_due || (final && a->cfg.status_interval_ms)) {
		write_status(a, st);
		char msg[sizeof(st->verdict) + 8];
		snprintf(msg, sizeof(msg), "STATUS=%s", st->verdict);
		cnp_service_notify(msg);
		o->status_next = now + a->cfg.status_interval_ms * 1000u;
	}
	if (summary_due) {
		if (o->summary_next) { /* not at start: nothing to sum up yet */
			char line[1024];
			cnp_status_summary(st, line, sizeof(line));
			cnp_info("%s", line);
		}
		o->summary_next = now + a->cfg.summary_interval_s * 1000000u;
	}
}

/* Names the first key whose new value needs a restart; NULL if none. */
static const char *fixed_change(const struct cnp_config *old, const struct cnp_config *next)
{
	if (strcmp(old->vehicle_id, next->vehicle_id))
		return "$.vehicle_id";
	if (old->n_sources != next->n_sources ||
	    memcmp(old->sources, next->sources, sizeof(old->sources)))
		return "$.sources";
	if (strcmp(old->capture_mode, next->capture_mode) ||
	    memcmp(&old->capture, &next->capture, sizeof(old->capture)))
		return "$.capture";
	if (old->batch_max_bytes != next->batch_max_bytes || old->zlib_level != next->zlib_level)
		return "$.batch.max_bytes or $.batch.zlib_level";
	if (strcmp(old->spool_dir, next->spool_dir) || old->spool_max_bytes != next->spool_max_bytes ||
	    old->spool_min_free_bytes != next->spool_min_free_bytes ||
	    old->spool_journal != next->spool_journal ||
	    old->spool_sync_interval_ms != next->spool_sync_interval_ms)
		return "$.spool";
	if (strcmp(old->signing_key, next->signing_key))
		return "$.signing_key";
	if (strcmp(old->encrypt_to, next->encrypt_to))
		return "$.encrypt_to";
	return NULL;
}

/* Replaces the uploader with one for next's endpoints and upload settings.
 * The spool, the open batch and the sources are not touched: a batch being
 * sent is aborted and stays in the spool for the new uploader. */
static int replace_uploader(struct cnp_agent *a, const struct cnp_config *next)
{
	struct cnp_endpoint *eps[CNP_UPLOADER_MAX_ENDPOINTS] = {0};
	struct cnp_uploader *u = NULL;
	unsigned n = 0;
	int rc = CNP_OK;
	for (; n < next->n_endpoints; n++) {
		char why[256] = "";
		rc = cnp_endpoint_create(&next->endpoints[n], &a->cancel, &eps[n], why, sizeof(why));
		if (rc != CNP_OK) {
			cnp_error("reload: endpoint %s: %s", next->endpoints[n].url,
			          rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : why);
			goto fail;
		}
	}
	rc = cnp_uploader_create(&u, a->spool, eps, n, &next->upload, &a->cancel);
	if (rc != CNP_OK)
		goto fail;
	struct cnp_uploader_stats old;
	cnp_uploader_stop(a->uploader);
	cnp_uploader_get_stats(a->uploader, &old);
	add_stats(&a->ops.up_base, &old);
	cnp_uploader_destroy(a->uploader);
	atomic_store(&a->cancel, 0);
	a->uploader = u;
	rc = cnp_uploader_start(u);
	if (rc != CNP_OK)
		cnp_error("reload: cannot start the upload thread");
	return rc;
fail:
	for (unsigned i = 0; i < n; i++)
		cnp_endpoint_destroy(eps[i]);
	return rc;
}

/*
 * SIGHUP: reads the configuration file again and applies what can change
 * while running (log level, batch age, endpoints, upload and operations
 * settings). A key that needs a restart is named, and its running value
 * stays; an invalid file changes nothing. Frames keep flowing: the
 * sources, the open batch and the spool are never touched.
 */
static void reload(struct cnp_agent *a)
{
	struct ops *o = &a->ops;
	if (!o->config_path[0]) {
		cnp_warn("SIGHUP: no configuration file to reload");
		return;
	}
	struct cnp_config *next = cnp_malloc(sizeof(*next));
	if (!next) {
		cnp_error("reload: %s", cnp_strerror(CNP_ERR_NOMEM));
		return;
	}
	cnp_info("SIGHUP: reloading %s", o->config_path);
	if (cnp_config_load(o->config_path, next) != CNP_OK) {
		cnp_error("reload: %s is invalid (see above); the running configuration stays",
		          o->config_path);
		goto out;
	}
	const char *fixed = fixed_change(&a->cfg, next);
	if (fixed)
		cnp_warn("reload: %s changed, which needs a restart; the running value stays "
		         "(the other changes are applied)", fixed);
	if (next->n_endpoints != a->cfg.n_endpoints ||
	    memcmp(next->endpoints, a->cfg.endpoints, sizeof(next->endpoints)) ||
	    memcmp(&next->upload, &a->cfg.upload, sizeof(next->upload))) {
		if (replace_uploader(a, next) != CNP_OK) {
			cnp_error("reload: the endpoints stay as they were; nothing else changed");
			goto out;
		}
		memcpy(a->cfg.endpoints, next->endpoints, sizeof(next->endpoints));
		a->cfg.n_endpoints = next->n_endpoints;
		memcpy(&a->cfg.upload, &next->upload, sizeof(next->upload));
		cnp_info("reload: %u endpoints and the upload settings applied", next->n_endpoints);
	}
	enum cnp_log_level lvl = CNP_LOG_INFO;
	if (!o->log_level_fixed) {
		if (next->log_level[0])
			cnp_log_parse_level(next->log_level, &lvl);
		cnp_log_set_level(lvl);
	}
	memcpy(a->cfg.log_level, next->log_level, sizeof(next->log_level));
	a->cfg.batch_max_age_ms = next->batch_max_age_ms;
	memcpy(a->cfg.status_file, next->status_file, sizeof(next->status_file));
	a->cfg.status_interval_ms = next->status_interval_ms;
	a->cfg.summary_interval_s = next->summary_interval_s;
	set_status_path(a);
	o->status_next = o->summary_next = 0;
	o->reloads++;
	cnp_info("reload: done (log level %s, batch age %" PRIu64 " ms)",
	         o->log_level_fixed ? "fixed by --log-level" : next->log_level[0] ? next->log_level : "info",
	         next->batch_max_age_ms);
out:
	cnp_free(next);
}
