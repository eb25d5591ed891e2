/* The uploader against scripted fake endpoints and a real spool: delivery,
 * keys, backoff with jitter and Retry-After, failover, quarantine of damaged
 * batches, retry classes (transient, authentication, refused), and the
 * upload thread. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/spool.h"
#include "firmware/uploader.h"
#include "platform/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VEHICLE "VEHICLE"
#define MS 1000u
#define SEC 1000000u

/* ---- the fake endpoint --------------------------------------------------- */

struct step {
	int rc;
	long status;
	long retry_after_s;
};

#define MAX_KEYS 16

struct fake_ep {
	struct cnp_endpoint base; /* first: the uploader sees only this */
	const struct step *script;
	size_t n_script;
	/* Optional, parallel to script: the class the back-end reports
	 * (CNP_PUT_BY_STATUS when NULL or past the script). */
	const enum cnp_put_class *cls_script;
	struct step after; /* once the script is used up */
	unsigned calls;
	char keys[MAX_KEYS][160];
	uint8_t *last;
	size_t last_len;
	/* Blocks in put until the cancel flag rises, then CNP_ERR_CANCELLED. */
	int block_until_cancel;
	const atomic_int *cancel;
	atomic_int in_put;
};

static unsigned destroyed;

static int fake_put(struct cnp_endpoint *ep, const char *key, const uint8_t *data,
                    size_t len, struct cnp_put_result *res)
{
	struct fake_ep *f = (struct fake_ep *)ep;
	if (f->calls < MAX_KEYS)
		snprintf(f->keys[f->calls], sizeof(f->keys[0]), "%s", key);
	free(f->last);
	f->last = malloc(len ? len : 1);
	if (f->last)
		memcpy(f->last, data, len);
	f->last_len = len;
	struct step s = f->calls < f->n_script ? f->script[f->calls] : f->after;
	f->calls++;
	res->status = s.status;
	res->retry_after_s = s.retry_after_s;
	res->cls = f->cls_script && f->calls - 1 < f->n_script ? f->cls_script[f->calls - 1]
	                                                       : CNP_PUT_BY_STATUS;
	snprintf(res->detail, sizeof(res->detail), "fake %s: scripted %d", ep->url, s.rc);
	if (f->block_until_cancel) {
		atomic_store(&f->in_put, 1);
		for (int i = 0; i < 5000 && !atomic_load(f->cancel); i++)
			cnp_sleep_us(1000);
		res->status = 0;
		res->retry_after_s = -1;
		return CNP_ERR_CANCELLED;
	}
	return s.rc;
}

static void fake_destroy(struct cnp_endpoint *ep)
{
	struct fake_ep *f = (struct fake_ep *)ep;
	destroyed++;
	free(f->last);
	free(f);
}

static const struct cnp_endpoint_ops fake_ops = {
	.scheme = "fake",
	.put = fake_put,
	.destroy = fake_destroy,
};

static const struct step OK = {CNP_OK, 200, -1};
static const struct step NET = {CNP_ERR_NET, 0, -1};

static struct fake_ep *fake_new(const char *url, const struct step *script, size_t n,
                                struct step after)
{
	struct fake_ep *f = calloc(1, sizeof(*f));
	if (!f) {
		perror("calloc");
		exit(1);
	}
	f->base.ops = &fake_ops;
	snprintf(f->base.url, sizeof(f->base.url), "%s", url);
	f->script = script;
	f->n_script = n;
	f->after = after;
	return f;
}

/* ---- spool helpers -------------------------------------------------------- */

static struct cnp_ifaces ifaces;

static struct cnp_spool *spool_new(const char *name)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/%s", check_tmpdir(), name);
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 64u * 1024 * 1024};
	struct cnp_spool *s = NULL;
	if (cnp_spool_open(&sc, &s) != CNP_OK) {
		fprintf(stderr, "cannot open spool %s\n", dir);
		exit(1);
	}
	return s;
}

/* Seals a batch of `nframes` for the spool's next number and puts it;
 * returns its file name in `name`. */
static void put_batch(struct cnp_spool *s, unsigned nframes, char name[CNP_SPOOL_NAME_MAX])
{
	struct cnp_batch_writer *w = NULL;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, 65536, 6), CNP_OK);
	if (!w)
		exit(1);
	for (unsigned i = 0; i < nframes; i++) {
		struct cnp_frame f;
		memset(&f, 0, sizeof(f));
		f.ts_us = 1000u * i;
		f.id = 0x200u + (i % 7);
		f.len = 4;
		for (unsigned k = 0; k < 4; k++)
			f.data[k] = (uint8_t)(i * 13 + k);
		CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	}
	struct cnp_batch_info info;
	memset(&info, 0, sizeof(info));
	info.vehicle = VEHICLE;
	info.spool_id = cnp_spool_id(s);
	info.boot = cnp_spool_boot(s);
	cnp_spool_next(s, &info.seq, &info.has_prev, info.prev_sha256);
	info.ifaces = &ifaces;
	uint8_t *data = NULL, digest[CNP_SHA256_LEN];
	size_t len = 0;
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &data, &len, digest), CNP_OK);
	CHECK_EQ(cnp_spool_put(s, info.seq, data, len, nframes, digest), CNP_OK);
	snprintf(name, CNP_SPOOL_NAME_MAX, "%08u-%012llu.cnp", (unsigned)info.boot,
	         (unsigned long long)info.seq);
	cnp_free(data);
	cnp_batch_writer_destroy(w);
}

static unsigned spool_batches(struct cnp_spool *s)
{
	unsigned n;
	uint64_t bytes;
	cnp_spool_usage(s, &n, &bytes);
	return n;
}

static void expected_key(char *out, size_t cap, struct cnp_spool *s, const char *name)
{
	snprintf(out, cap, "%s/%s/%s", VEHICLE, cnp_spool_id(s), name);
}

static const struct cnp_uploader_config fast_cfg = {.backoff_base_ms = 100,
                                                     .backoff_cap_ms = 1000};

/* One uploader over `n` fakes; destroyed with uploader_free. */
static struct cnp_uploader *uploader_new(struct cnp_spool *s, struct fake_ep **fakes,
                                         unsigned n, const struct cnp_uploader_config *cfg,
                                         atomic_int *cancel)
{
	struct cnp_endpoint *eps[CNP_UPLOADER_MAX_ENDPOINTS];
	for (unsigned i = 0; i < n; i++) {
		fakes[i]->cancel = cancel;
		eps[i] = &fakes[i]->base;
	}
	struct cnp_uploader *u = NULL;
	CHECK_EQ(cnp_uploader_create(&u, s, eps, n, cfg, cancel), CNP_OK);
	if (!u)
		exit(1);
	return u;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_create_args(void)
{
	struct cnp_spool *s = spool_new("args");
	atomic_int cancel = 0;
	struct cnp_endpoint *eps[CNP_UPLOADER_MAX_ENDPOINTS + 1] = {0};
	struct cnp_uploader *u = NULL;
	CHECK_EQ(cnp_uploader_create(&u, s, eps, 0, &fast_cfg, &cancel), CNP_ERR_INVAL);
	CHECK(u == NULL);
	CHECK_EQ(cnp_uploader_create(&u, s, eps, CNP_UPLOADER_MAX_ENDPOINTS + 1, &fast_cfg,
	                             &cancel),
	         CNP_ERR_INVAL);
	CHECK(u == NULL);
	cnp_spool_close(s);
}

static void test_empty(void)
{
	struct cnp_spool *s = spool_new("empty");
	atomic_int cancel = 0;
	struct fake_ep *f = fake_new("fake://a", NULL, 0, OK);
	unsigned before = destroyed;
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	uint64_t wait = 0;
	CHECK_EQ(cnp_uploader_step(u, 10 * SEC, &wait), CNP_ERR_NOTFOUND);
	CHECK(wait > 0);
	CHECK_EQ(f->calls, 0);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.attempts, 0);
	cnp_uploader_destroy(u);
	CHECK_EQ(destroyed, before + 1); /* the uploader owns its endpoints */
	cnp_spool_close(s);
}

static void test_success(void)
{
	struct cnp_spool *s = spool_new("success");
	atomic_int cancel = 0;
	struct fake_ep *f = fake_new("fake://a", NULL, 0, OK);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX], key[160];
	put_batch(s, 30, name);
	CHECK_STR(name, "00000001-000000000000.cnp");
	uint8_t *stored = NULL;
	size_t stored_len = 0;
	CHECK_EQ(cnp_spool_read(s, name, &stored, &stored_len), CNP_OK);

	uint64_t wait = 12345;
	CHECK_EQ(cnp_uploader_step(u, 10 * SEC, &wait), CNP_OK);
	CHECK_EQ(wait, 0); /* more may be waiting: no reason to sleep */
	CHECK_EQ(f->calls, 1);
	expected_key(key, sizeof(key), s, name);
	CHECK_STR(f->keys[0], key);
	CHECK_CONTAINS(f->keys[0], VEHICLE "/");
	CHECK_EQ(f->last_len, stored_len);
	CHECK(f->last && stored && memcmp(f->last, stored, stored_len) == 0);
	CHECK_EQ(spool_batches(s), 0);
	char path[1024];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/success/%s", check_tmpdir(), name);
	CHECK(stat(path, &sb) != 0);

	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.batches, 1);
	CHECK_EQ(st.bytes, stored_len);
	CHECK_EQ(st.attempts, 1);
	CHECK_EQ(st.failures, 0);
	CHECK_EQ(st.quarantined, 0);
	CHECK_EQ(cnp_uploader_step(u, 10 * SEC, &wait), CNP_ERR_NOTFOUND);
	CHECK_EQ(f->calls, 1);

	/* Several batches go oldest first, one per step. */
	char n1[CNP_SPOOL_NAME_MAX], n2[CNP_SPOOL_NAME_MAX];
	put_batch(s, 5, n1);
	put_batch(s, 6, n2);
	CHECK_EQ(cnp_uploader_step(u, 11 * SEC, &wait), CNP_OK);
	CHECK_EQ(cnp_uploader_step(u, 11 * SEC, &wait), CNP_OK);
	expected_key(key, sizeof(key), s, n1);
	CHECK_STR(f->keys[1], key);
	expected_key(key, sizeof(key), s, n2);
	CHECK_STR(f->keys[2], key);
	CHECK_EQ(spool_batches(s), 0);
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.batches, 3);
	cnp_free(stored);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

static void test_retry(void)
{
	struct cnp_spool *s = spool_new("retry");
	atomic_int cancel = 0;
	static const struct step script[] = {{CNP_ERR_NET, 0, -1}};
	struct fake_ep *f = fake_new("fake://a", script, 1, OK);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX], key[160];
	put_batch(s, 10, name);
	expected_key(key, sizeof(key), s, name);

	uint64_t now = 50 * SEC, wait = 0;
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(f->calls, 1);
	CHECK_EQ(spool_batches(s), 1);
	/* Released, not left checked out. */
	struct cnp_spool_entry e;
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_STR(e.name, name);
	cnp_spool_release(s, e.name);

	/* At once again: the only endpoint backs off. First failure: the delay
	 * is at most the base, at least the 50 ms floor. */
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
	CHECK_EQ(f->calls, 1);
	CHECK(wait >= 50 * MS);
	CHECK(wait <= 100 * MS);
	CHECK_EQ(spool_batches(s), 1);
	/* Asked again a little later: the remaining time. */
	uint64_t wait2 = 0;
	CHECK_EQ(cnp_uploader_step(u, now + 10 * MS, &wait2), CNP_ERR_AGAIN);
	CHECK_EQ(wait2, wait - 10 * MS);
	CHECK_EQ(cnp_uploader_step(u, now + wait - 1, &wait2), CNP_ERR_AGAIN);
	CHECK_EQ(wait2, 1);
	CHECK_EQ(f->calls, 1);

	/* Once the wait is over, the retry succeeds, with the same key. */
	CHECK_EQ(cnp_uploader_step(u, now + wait, &wait2), CNP_OK);
	CHECK_EQ(f->calls, 2);
	CHECK_STR(f->keys[1], key);
	CHECK_EQ(spool_batches(s), 0);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.attempts, 2);
	CHECK_EQ(st.failures, 1);
	CHECK_EQ(st.batches, 1);

	/* Success reset the backoff: a new failure starts from the base again. */
	f->after = NET;
	put_batch(s, 10, name);
	now += 100 * SEC;
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
	CHECK(wait >= 50 * MS && wait <= 100 * MS);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

static void test_backoff_growth(void)
{
	struct cnp_spool *s = spool_new("growth");
	atomic_int cancel = 0;
	struct fake_ep *f = fake_new("fake://a", NULL, 0, NET);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 10, name);

	/* Bound after the n-th consecutive failure: base * 2^(n-1), capped. */
	static const uint64_t bound_ms[] = {100, 200, 400, 800, 1000, 1000, 1000, 1000,
	                                    1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
	                                    1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
	                                    1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
	                                    1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
	const unsigned n = sizeof(bound_ms) / sizeof(bound_ms[0]);
	uint64_t now = 1000 * SEC;
	unsigned ok = 0;
	/* The pause runs from the endpoint's answer, which comes after `now`
	 * by the real time the step took (reading and checking the batch):
	 * that time, measured around the step, is allowed on top of the bound. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t wait = 0;
		uint64_t t0 = cnp_clock_mono_us();
		int rc = cnp_uploader_step(u, now, &wait);
		uint64_t took = cnp_clock_mono_us() - t0;
		CHECK_EQ(rc, CNP_ERR_NET);
		rc = cnp_uploader_step(u, now, &wait);
		CHECK_EQ(rc, CNP_ERR_AGAIN);
		if (rc == CNP_ERR_AGAIN && wait >= 50 * MS && wait <= bound_ms[i] * MS + took)
			ok++;
		else
			fprintf(stderr, "failure %u: wait %llu us, bound %llu ms\n", i + 1,
			        (unsigned long long)wait, (unsigned long long)bound_ms[i]);
		now += wait;
	}
	CHECK_EQ(ok, n);
	CHECK_EQ(f->calls, n);
	CHECK_EQ(spool_batches(s), 1);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.attempts, n);
	CHECK_EQ(st.failures, n);
	CHECK_EQ(st.batches, 0);

	/* Very many failures: the bound stays at the cap (no overflow). */
	for (unsigned i = 0; i < 100; i++) {
		uint64_t wait = 0;
		uint64_t t0 = cnp_clock_mono_us();
		cnp_uploader_step(u, now, &wait);
		uint64_t took = cnp_clock_mono_us() - t0;
		CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
		CHECK(wait >= 50 * MS && wait <= 1000 * MS + took);
		now += wait;
	}
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

static void test_retry_after(void)
{
	static const struct {
		int rc;
		long status, retry_after_s;
		uint64_t min_us, max_us;
	} cases[] = {
		{CNP_ERR_HTTP, 503, 5, 5 * SEC, 10 * SEC},
		{CNP_ERR_HTTP, 429, 5, 5 * SEC, 10 * SEC},
		{CNP_ERR_HTTP, 429, 2, 2 * SEC, 10 * SEC},
		{CNP_ERR_HTTP, 503, -1, 50 * MS, 100 * MS}, /* no header: jitter */
		{CNP_ERR_HTTP, 500, 0, 50 * MS, 100 * MS},  /* 0: no extra wait */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[32];
		snprintf(dir, sizeof(dir), "retry-after-%zu", i);
		struct cnp_spool *s = spool_new(dir);
		atomic_int cancel = 0;
		struct step script[1] = {{cases[i].rc, cases[i].status, cases[i].retry_after_s}};
		struct fake_ep *f = fake_new("fake://a", script, 1, OK);
		struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
		char name[CNP_SPOOL_NAME_MAX];
		put_batch(s, 3, name);
		uint64_t now = 7 * SEC, wait = 0;
		CHECK_EQ(cnp_uploader_step(u, now, &wait), cases[i].rc);
		CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
		if (wait < cases[i].min_us || wait > cases[i].max_us)
			fprintf(stderr, "case %zu (status %ld, Retry-After %ld): wait %llu us\n", i,
			        cases[i].status, cases[i].retry_after_s, (unsigned long long)wait);
		CHECK(wait >= cases[i].min_us);
		CHECK(wait <= cases[i].max_us);
		/* Not before: still backing off one microsecond early. */
		uint64_t w2;
		CHECK_EQ(cnp_uploader_step(u, now + wait - 1, &w2), CNP_ERR_AGAIN);
		CHECK_EQ(cnp_uploader_step(u, now + wait, &w2), CNP_OK);
		CHECK_EQ(f->calls, 2);
		CHECK_EQ(spool_batches(s), 0);
		cnp_uploader_destroy(u);
		cnp_spool_close(s);
	}
}

static void test_failover(void)
{
	struct cnp_spool *s = spool_new("failover");
	atomic_int cancel = 0;
	static const struct step script1[] = {{CNP_ERR_NET, 0, -1}, {CNP_ERR_TLS, 0, -1}};
	struct fake_ep *f[2] = {fake_new("fake://one", script1, 2, OK),
	                        fake_new("fake://two", NULL, 0, OK)};
	unsigned before = destroyed;
	struct cnp_uploader *u = uploader_new(s, f, 2, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX], key[160];
	put_batch(s, 8, name);
	expected_key(key, sizeof(key), s, name);

	/* #1 fails; the batch goes to #2 at the same instant. */
	uint64_t now = 20 * SEC, wait = 99;
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(wait, 0);
	CHECK_EQ(f[0]->calls, 1);
	CHECK_EQ(f[1]->calls, 0);
	CHECK_EQ(spool_batches(s), 1);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_OK);
	CHECK_EQ(f[0]->calls, 1);
	CHECK_EQ(f[1]->calls, 1);
	CHECK_STR(f[1]->keys[0], key);
	CHECK_EQ(spool_batches(s), 0);

	/* While #1 backs off, new batches go straight to #2. */
	put_batch(s, 8, name);
	CHECK_EQ(cnp_uploader_step(u, now + 1, &wait), CNP_OK);
	CHECK_EQ(f[0]->calls, 1);
	CHECK_EQ(f[1]->calls, 2);

	/* Once #1's backoff is over it is first again (configured order): its
	 * second scripted answer fails, #2 takes over; the third succeeds. */
	now += 2 * SEC;
	put_batch(s, 8, name);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_TLS);
	CHECK_EQ(f[0]->calls, 2);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_OK);
	CHECK_EQ(f[1]->calls, 3);
	now += 5 * SEC;
	put_batch(s, 8, name);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_OK);
	CHECK_EQ(f[0]->calls, 3);
	CHECK_EQ(f[1]->calls, 3);
	expected_key(key, sizeof(key), s, name);
	CHECK_STR(f[0]->keys[2], key);

	/* Both failing: each tried once, then AGAIN until the sooner is due. */
	f[0]->after = NET;
	f[1]->after = NET;
	now += 5 * SEC;
	put_batch(s, 8, name);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(f[0]->calls, 4);
	CHECK_EQ(f[1]->calls, 4);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
	CHECK(wait >= 50 * MS && wait <= 1000 * MS);
	CHECK_EQ(spool_batches(s), 1);
	CHECK_EQ(cnp_uploader_step(u, now + wait, &wait), CNP_ERR_NET);
	CHECK_EQ(f[0]->calls + f[1]->calls, 9);

	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.batches, 4);
	CHECK_EQ(st.failures, 5);
	CHECK_EQ(st.attempts, 9);
	cnp_uploader_destroy(u);
	CHECK_EQ(destroyed, before + 2);
	cnp_spool_close(s);
}

static void test_cancelled_put(void)
{
	/* A put cut short by shutdown is not a failure: no backoff, no count. */
	struct cnp_spool *s = spool_new("cancelled");
	atomic_int cancel = 0;
	static const struct step script[] = {{CNP_ERR_CANCELLED, 0, -1}};
	struct fake_ep *f = fake_new("fake://a", script, 1, OK);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 4, name);
	uint64_t wait = 0;
	CHECK_EQ(cnp_uploader_step(u, 3 * SEC, &wait), CNP_ERR_CANCELLED);
	CHECK_EQ(spool_batches(s), 1);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.failures, 0);
	CHECK_EQ(cnp_uploader_step(u, 3 * SEC, &wait), CNP_OK);
	CHECK_EQ(f->calls, 2);
	CHECK_EQ(spool_batches(s), 0);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

static void test_corrupt(void)
{
	struct cnp_spool *s = spool_new("corrupt");
	atomic_int cancel = 0;
	struct fake_ep *f = fake_new("fake://a", NULL, 0, OK);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX], good[CNP_SPOOL_NAME_MAX];
	put_batch(s, 17, name);
	put_batch(s, 5, good);

	/* Flash damage after the batch was stored. */
	char path[1024];
	snprintf(path, sizeof(path), "%s/corrupt/%s", check_tmpdir(), name);
	uint8_t *data = NULL;
	size_t len = 0;
	CHECK_EQ(cnp_spool_read(s, name, &data, &len), CNP_OK);
	if (!data)
		exit(1);
	data[len / 2] ^= 0x01;
	CHECK_EQ(check_write_file(path, data, len), 0);
	cnp_free(data);

	uint64_t wait = 99, full = 0, corrupt = 0;
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(cnp_uploader_step(u, 5 * SEC, &wait), CNP_ERR_CORRUPT);
	CHECK_EQ(wait, 0);
	CHECK_EQ(f->calls, 0);
	CHECK_EQ(spool_batches(s), 1);
	struct stat sb;
	CHECK(stat(path, &sb) != 0);
	snprintf(path, sizeof(path), "%s/corrupt/quarantine/%s", check_tmpdir(), name);
	CHECK(stat(path, &sb) == 0);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(corrupt, 17); /* the index knew its frames */
	CHECK_EQ(full, 0);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.quarantined, 1);
	CHECK_EQ(st.attempts, 0);
	CHECK_EQ(st.failures, 0);

	/* The good one behind it still goes, and the endpoint is not backing
	 * off because of a damaged file. */
	CHECK_EQ(cnp_uploader_step(u, 5 * SEC, &wait), CNP_OK);
	CHECK_EQ(f->calls, 1);
	char key[160];
	expected_key(key, sizeof(key), s, good);
	CHECK_STR(f->keys[0], key);

	/* A batch file that vanished is not sent either. */
	put_batch(s, 5, name);
	snprintf(path, sizeof(path), "%s/corrupt/%s", check_tmpdir(), name);
	CHECK_EQ(remove(path), 0);
	CHECK(cnp_uploader_step(u, 6 * SEC, &wait) != CNP_OK);
	CHECK_EQ(f->calls, 1);
	CHECK_EQ(spool_batches(s), 0);
	CHECK_EQ(cnp_uploader_step(u, 6 * SEC, &wait), CNP_ERR_NOTFOUND);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

static int wait_delivered(struct cnp_spool *s, uint64_t timeout_us)
{
	uint64_t t0 = cnp_clock_mono_us();
	while (cnp_clock_mono_us() - t0 < timeout_us) {
		if (spool_batches(s) == 0)
			return 1;
		cnp_sleep_us(5000);
	}
	return spool_batches(s) == 0;
}

static void test_thread(void)
{
	struct cnp_spool *s = spool_new("thread");
	atomic_int cancel = 0;
	/* #1 fails once and asks for a minute's pause (held to 10 x the 1 s
	 * cap): #2 must take every batch, however slow this machine is. */
	static const struct step script[] = {{CNP_ERR_NET, 0, 60}};
	struct fake_ep *f[2] = {fake_new("fake://one", script, 1, OK),
	                        fake_new("fake://two", NULL, 0, OK)};
	unsigned before = destroyed;
	struct cnp_uploader *u = uploader_new(s, f, 2, &fast_cfg, &cancel);
	CHECK_EQ(cnp_uploader_start(u), CNP_OK);

	/* A batch arrives while the thread idles; the kick wakes it. (How
	 * soon is a benchmark's business, not a test's.) */
	cnp_sleep_us(50 * MS);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 12, name);
	cnp_uploader_kick(u);
	CHECK(wait_delivered(s, 5 * SEC));

	/* More batches, one kick: all delivered. */
	for (int i = 0; i < 4; i++)
		put_batch(s, 12, name);
	cnp_uploader_kick(u);
	CHECK(wait_delivered(s, 5 * SEC));

	cnp_uploader_stop(u);
	CHECK(atomic_load(&cancel) != 0);
	/* Joined: reading the fakes is safe now. #1 failed once, #2 took all. */
	CHECK_EQ(f[0]->calls, 1);
	CHECK_EQ(f[1]->calls, 5);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.batches, 5);
	CHECK_EQ(st.failures, 1);
	cnp_uploader_stop(u); /* twice is harmless */
	cnp_uploader_destroy(u);
	CHECK_EQ(destroyed, before + 2);
	cnp_spool_close(s);
}

static void test_thread_stop(void)
{
	/* Stop while backing off (Retry-After 5 s): returns at once. */
	struct cnp_spool *s = spool_new("stop-backoff");
	atomic_int cancel = 0;
	struct fake_ep *f = fake_new("fake://a", NULL, 0,
	                             (struct step){CNP_ERR_HTTP, 503, 5});
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 3, name);
	CHECK_EQ(cnp_uploader_start(u), CNP_OK);
	cnp_sleep_us(200 * MS);
	uint64_t t0 = cnp_clock_mono_us();
	cnp_uploader_stop(u);
	CHECK(cnp_clock_mono_us() - t0 < 1 * SEC);
	CHECK_EQ(f->calls, 1); /* one try, then waiting on Retry-After */
	CHECK_EQ(spool_batches(s), 1);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);

	/* Stop during a transfer: the put is cancelled, the batch stays. */
	s = spool_new("stop-put");
	atomic_int cancel2 = 0;
	f = fake_new("fake://a", NULL, 0, OK);
	f->block_until_cancel = 1;
	u = uploader_new(s, &f, 1, &fast_cfg, &cancel2);
	put_batch(s, 3, name);
	CHECK_EQ(cnp_uploader_start(u), CNP_OK);
	t0 = cnp_clock_mono_us();
	while (!atomic_load(&f->in_put) && cnp_clock_mono_us() - t0 < 2 * SEC)
		cnp_sleep_us(1000);
	CHECK(atomic_load(&f->in_put));
	t0 = cnp_clock_mono_us();
	cnp_uploader_stop(u);
	CHECK(cnp_clock_mono_us() - t0 < 1 * SEC);
	CHECK_EQ(f->calls, 1);
	CHECK_EQ(spool_batches(s), 1);
	struct cnp_spool_entry e;
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK); /* released, not stuck out */
	CHECK_STR(e.name, name);
	cnp_spool_release(s, e.name);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.failures, 0);
	CHECK_EQ(st.batches, 0);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

/* ---- retry classes ------------------------------------------------------------ */

/* Files in SPOOL/quarantine/ whose names match the grep pattern. */
static unsigned quarantine_matching(const char *spool, const char *pattern)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "ls -1 '%s/%s/quarantine' 2>/dev/null | grep -c '%s'",
	         check_tmpdir(), spool, pattern);
	FILE *p = popen(cmd, "r");
	unsigned n = 0;
	if (p) {
		if (fscanf(p, "%u", &n) != 1)
			n = 0;
		pclose(p);
	}
	return n;
}

static unsigned quarantine_files(const char *spool)
{
	return quarantine_matching(spool, "\\.cnp$");
}

static void test_classes(void)
{
	enum outcome { RETRY, AUTH, REFUSED };
	static const struct {
		struct step step;
		enum cnp_put_class cls;
		enum outcome want;
	} cases[] = {
		/* transient: backoff from the base */
		{{CNP_ERR_HTTP, 408, -1}, 0, RETRY},
		{{CNP_ERR_HTTP, 429, -1}, 0, RETRY},
		{{CNP_ERR_HTTP, 500, -1}, 0, RETRY},
		{{CNP_ERR_HTTP, 502, -1}, 0, RETRY},
		{{CNP_ERR_HTTP, 503, -1}, 0, RETRY},
		{{CNP_ERR_HTTP, 504, -1}, 0, RETRY},
		{{CNP_ERR_HTTP, 301, -1}, 0, RETRY},
		{{CNP_ERR_NET, 0, -1}, 0, RETRY},   /* timeout, reset, DNS */
		{{CNP_ERR_TLS, 0, -1}, 0, RETRY},
		{{CNP_ERR_IO, 0, -1}, 0, RETRY},
		/* credentials: at the cap, never dropped */
		{{CNP_ERR_HTTP, 401, -1}, 0, AUTH},
		{{CNP_ERR_HTTP, 403, -1}, 0, AUTH},
		/* the batch is refused: quarantined */
		{{CNP_ERR_HTTP, 400, -1}, 0, REFUSED},
		{{CNP_ERR_HTTP, 404, -1}, 0, REFUSED},
		{{CNP_ERR_HTTP, 409, -1}, 0, REFUSED},
		{{CNP_ERR_HTTP, 413, -1}, 0, REFUSED},
		{{CNP_ERR_HTTP, 422, -1}, 0, REFUSED},
		/* the back-end knows better than the status (S3 error codes) */
		{{CNP_ERR_HTTP, 400, -1}, CNP_PUT_TRANSIENT, RETRY},  /* RequestTimeout */
		{{CNP_ERR_HTTP, 404, -1}, CNP_PUT_AUTH, AUTH},        /* NoSuchBucket */
		{{CNP_ERR_HTTP, 400, -1}, CNP_PUT_AUTH, AUTH},        /* wrong region */
		{{CNP_ERR_HTTP, 403, -1}, CNP_PUT_TRANSIENT, RETRY},  /* clock skew */
		{{CNP_ERR_TOOBIG, 0, -1}, CNP_PUT_REJECTED, REFUSED}, /* key too long */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char dir[32];
		snprintf(dir, sizeof(dir), "class-%zu", i);
		struct cnp_spool *s = spool_new(dir);
		atomic_int cancel = 0;
		struct fake_ep *f = fake_new("fake://a", &cases[i].step, 1, OK);
		f->cls_script = &cases[i].cls;
		struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
		char name[CNP_SPOOL_NAME_MAX], next[CNP_SPOOL_NAME_MAX];
		put_batch(s, 11, name);
		put_batch(s, 3, next);
		uint64_t full = 0, corrupt = 0;
		cnp_spool_take_dropped(s, &full, &corrupt);
		uint64_t now = 30 * SEC, wait = 99;
		uint64_t t0 = cnp_clock_mono_us();
		int rc = cnp_uploader_step(u, now, &wait);
		uint64_t took = cnp_clock_mono_us() - t0; /* the pause runs from the answer */
		CHECK_EQ(rc, cases[i].step.rc);
		CHECK_EQ(wait, 0);
		struct cnp_uploader_stats st;
		cnp_uploader_get_stats(u, &st);
		cnp_spool_take_dropped(s, &full, &corrupt);
		int ok = 1;
		if (cases[i].want == REFUSED) {
			/* Moved aside and counted; its frames reported as dropped;
			 * the next batch goes at once (the endpoint is healthy). */
			ok &= spool_batches(s) == 1 && quarantine_files(dir) == 1;
			ok &= st.quarantined == 1 && st.rejected == 1 && st.auth_failures == 0;
			ok &= corrupt == 11;
			ok &= cnp_uploader_step(u, now, &wait) == CNP_OK && f->calls == 2;
			char key[160];
			expected_key(key, sizeof(key), s, next);
			ok &= strcmp(f->keys[1], key) == 0 && spool_batches(s) == 0;
		} else {
			/* Kept, released, nothing quarantined or counted dropped. */
			ok &= spool_batches(s) == 2 && quarantine_files(dir) == 0;
			ok &= st.quarantined == 0 && st.rejected == 0 && corrupt == 0;
			ok &= cnp_uploader_step(u, now, &wait) == CNP_ERR_AGAIN;
			if (cases[i].want == AUTH)
				/* the cap (plus the attempt's own time) */
				ok &= st.auth_failures == 1 && wait >= 1000 * MS &&
				      wait <= 1000 * MS + took;
			else
				ok &= st.auth_failures == 0 && wait >= 50 * MS && wait <= 100 * MS + took;
			ok &= f->calls == 1;
			/* Retried (the same batch first) once the wait is over. */
			char key[160];
			expected_key(key, sizeof(key), s, name);
			ok &= cnp_uploader_step(u, now + wait, &wait) == CNP_OK && f->calls == 2 &&
			      strcmp(f->keys[1], key) == 0;
		}
		if (!ok)
			fprintf(stderr, "class case %zu (rc %d, HTTP %ld, cls %d) failed\n", i,
			        cases[i].step.rc, cases[i].step.status, (int)cases[i].cls);
		CHECK(ok);
		cnp_uploader_destroy(u);
		cnp_spool_close(s);
	}
}

static void test_mirror_refused(void)
{
	/* Mirror: one endpoint refuses a batch (400). The other must still get
	 * it; the refusing one is not sent it again, a copy is kept aside, and
	 * no frame is counted dropped (the other endpoint has them). */
	struct cnp_spool *s = spool_new("mirror-refused");
	atomic_int cancel = 0;
	static const struct step script0[] = {{CNP_ERR_HTTP, 400, -1}};
	struct fake_ep *f[2] = {fake_new("fake://refuses", script0, 1, OK),
	                        fake_new("fake://takes", NULL, 0, OK)};
	struct cnp_uploader_config cfg = fast_cfg;
	cfg.mirror = 1;
	struct cnp_uploader *u = uploader_new(s, f, 2, &cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX], next[CNP_SPOOL_NAME_MAX], key[160], key2[160];
	put_batch(s, 11, name);
	put_batch(s, 3, next);
	expected_key(key, sizeof(key), s, name);
	expected_key(key2, sizeof(key2), s, next);
	uint64_t full = 0, corrupt = 0;
	cnp_spool_take_dropped(s, &full, &corrupt);
	uint64_t now = 30 * SEC, wait = 99;
	for (int i = 0; i < 20 && spool_batches(s) > 0; i++)
		(void)cnp_uploader_step(u, now, &wait);
	CHECK_EQ(spool_batches(s), 0);
	CHECK_EQ(f[0]->calls, 2); /* refused the first, took the second */
	CHECK_STR(f[0]->keys[0], key);
	CHECK_STR(f[0]->keys[1], key2);
	CHECK_EQ(f[1]->calls, 2); /* both batches */
	CHECK_STR(f[1]->keys[0], key);
	CHECK_STR(f[1]->keys[1], key2);
	char pattern[CNP_SPOOL_NAME_MAX + 16];
	snprintf(pattern, sizeof(pattern), "^%s\\.refused-", name);
	CHECK_EQ(quarantine_matching("mirror-refused", pattern), 1);
	CHECK_EQ(quarantine_files("mirror-refused"), 0); /* no batch moved away */
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.rejected, 1);
	CHECK_EQ(st.batches, 3);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(corrupt, 0);
	CHECK_EQ(full, 0);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

static void test_auth_never_dropped(void)
{
	/* 403 forever: always at the cap (Retry-After above it honoured up to
	 * ten times the cap), the batch never leaves the spool. */
	struct cnp_spool *s = spool_new("auth-forever");
	atomic_int cancel = 0;
	static const struct step script[] = {{CNP_ERR_HTTP, 403, 5}};
	struct fake_ep *f = fake_new("fake://a", script, 1, (struct step){CNP_ERR_HTTP, 401, -1});
	struct cnp_uploader *u = uploader_new(s, &f, 1, &fast_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 9, name);
	uint64_t now = 40 * SEC, wait = 0;
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_HTTP);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
	CHECK(wait >= 5 * SEC && wait < 5 * SEC + 50 * MS); /* Retry-After 5 s > cap 1 s */
	now += wait;
	unsigned at_cap = 0;
	for (unsigned i = 0; i < 200; i++) {
		CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_HTTP);
		CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
		at_cap += wait >= 1000 * MS && wait < 1050 * MS;
		now += wait;
	}
	CHECK_EQ(at_cap, 200);
	CHECK_EQ(spool_batches(s), 1);
	CHECK_EQ(quarantine_files("auth-forever"), 0);
	struct cnp_uploader_stats st;
	cnp_uploader_get_stats(u, &st);
	CHECK_EQ(st.auth_failures, 201);
	CHECK_EQ(st.quarantined, 0);
	CHECK_EQ(st.batches, 0);
	/* Credentials fixed: delivered. */
	f->after = OK;
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_OK);
	CHECK_EQ(spool_batches(s), 0);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}


/* A network change retries at once an endpoint that got no answer, starts
 * its backoff over, leaves one that answered (503) alone, and does so at
 * most once a second per endpoint. */
static void test_network_change(void)
{
	static const struct cnp_uploader_config slow_cfg = {.backoff_base_ms = 60000,
	                                                     .backoff_cap_ms = 60000};
	struct cnp_spool *s = spool_new("netchange");
	atomic_int cancel = 0;
	static const struct step script[] = {{CNP_ERR_NET, 0, -1}, {CNP_ERR_NET, 0, -1},
	                                     {CNP_ERR_HTTP, 503, 600}, {CNP_ERR_NET, 0, -1}};
	struct fake_ep *f = fake_new("fake://a", script, 4, OK);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &slow_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 10, name);
	uint64_t now = 1000 * SEC, wait = 0;

	/* No answer: a pause (at least 50 ms, up to the minute's bound)... */
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
	/* ...cut short when the network changes: the next step tries now. */
	cnp_uploader_network_changed(u);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	CHECK_EQ(f->calls, 2);
	struct cnp_endpoint_health h;
	CHECK_EQ(cnp_uploader_get_health(u, 0, &h), CNP_OK);
	CHECK_EQ(h.fails, 1); /* the backoff started over */
	/* Another change within 50 ms is ignored: no retry storm. */
	cnp_uploader_network_changed(u);
	CHECK_EQ(cnp_uploader_step(u, now + 40 * MS, &wait), CNP_ERR_AGAIN);
	CHECK_EQ(f->calls, 2);
	/* 50 ms later a change counts again; this time the server answers
	 * 503 with Retry-After: 600 (held to 10 x the cap: 600 s). */
	now += 50 * MS;
	cnp_uploader_network_changed(u);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_HTTP);
	CHECK_EQ(f->calls, 3);
	/* The server answered: a network change does not cut that pause. */
	now += 2 * SEC;
	cnp_uploader_network_changed(u);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_AGAIN);
	CHECK_EQ(f->calls, 3);
	CHECK(wait >= 590 * SEC);
	/* After it: no answer, then a change, and the batch goes at once. */
	now += wait;
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_ERR_NET);
	cnp_uploader_network_changed(u);
	CHECK_EQ(cnp_uploader_step(u, now, &wait), CNP_OK);
	CHECK_EQ(f->calls, 5);
	CHECK_EQ(spool_batches(s), 0);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

/* On the upload thread: a network change wakes it out of a long pause. */
static void test_network_change_thread(void)
{
	static const struct cnp_uploader_config slow_cfg = {.backoff_base_ms = 600000,
	                                                     .backoff_cap_ms = 600000};
	struct cnp_spool *s = spool_new("netthread");
	atomic_int cancel = 0;
	static const struct step script[] = {{CNP_ERR_NET, 0, -1}};
	struct fake_ep *f = fake_new("fake://a", script, 1, OK);
	struct cnp_uploader *u = uploader_new(s, &f, 1, &slow_cfg, &cancel);
	char name[CNP_SPOOL_NAME_MAX];
	put_batch(s, 10, name);
	CHECK_EQ(cnp_uploader_start(u), CNP_OK);
	struct cnp_endpoint_health h = {0};
	for (int i = 0; i < 3000 && h.fails == 0; i++) {
		cnp_sleep_us(10000);
		cnp_uploader_get_health(u, 0, &h);
	}
	CHECK_EQ(h.fails, 1); /* failed once; the next try is minutes away */
	cnp_uploader_network_changed(u);
	CHECK(wait_delivered(s, 30 * SEC)); /* generous: far below the pause */
	CHECK_EQ(f->calls, 2);
	cnp_uploader_destroy(u);
	cnp_spool_close(s);
}

int main(void)
{
	cnp_json_init();
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	CHECK_EQ(cnp_ifaces_intern(&ifaces, "can0", 4, &idx), CNP_OK);
	test_create_args();
	test_empty();
	test_success();
	test_retry();
	test_backoff_growth();
	test_retry_after();
	test_failover();
	test_cancelled_put();
	test_corrupt();
	test_classes();
	test_mirror_refused();
	test_auth_never_dropped();
	test_thread();
	test_thread_stop();
	test_network_change();
	test_network_change_thread();
	return check_finish();
}
