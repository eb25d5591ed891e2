/* The spool: storing, checking out, acknowledging, surviving restarts,
 * quarantining damaged batches and evicting the oldest when full. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/spool.h"
#include "platform/fs.h"
#include "platform/zlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VEHICLE "test-car"

static struct cnp_ifaces ifaces;

struct built {
	uint8_t *data;
	size_t len;
	uint32_t frames;
	uint8_t digest[CNP_SHA256_LEN];
};

/* The manifest "priority" and "dropped" of the batches build() makes. */
static int64_t build_priority;
static uint64_t build_dropped[CNP_DROP_REASONS];

/* A real sealed batch of `nframes` frames for (boot, seq), chained to prev. */
static void build(struct built *b, const char *spool_id, uint32_t boot, uint64_t seq,
                  int has_prev, const uint8_t prev[CNP_SHA256_LEN], unsigned nframes)
{
	struct cnp_batch_writer *w = NULL;
	memset(b, 0, sizeof(*b));
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, 65536, 6), CNP_OK);
	if (!w)
		return;
	for (unsigned i = 0; i < nframes; i++) {
		struct cnp_frame f;
		memset(&f, 0, sizeof(f));
		f.ts_us = 1000000u * seq + 1000u * i;
		f.id = 0x100u + (i % 50);
		f.len = 8;
		for (unsigned k = 0; k < 8; k++) /* not too compressible */
			f.data[k] = (uint8_t)((i * 2654435761u + k * 40503u + seq * 977u) >> 7);
		CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	}
	struct cnp_batch_info info;
	memset(&info, 0, sizeof(info));
	info.vehicle = VEHICLE;
	info.spool_id = spool_id;
	info.boot = boot;
	info.seq = seq;
	info.has_prev = has_prev;
	if (has_prev)
		memcpy(info.prev_sha256, prev, CNP_SHA256_LEN);
	info.ifaces = &ifaces;
	info.sealed_wall_us = 1700000000000000u;
	info.sealed_mono_us = 5000000u;
	info.priority = build_priority;
	memcpy(info.dropped, build_dropped, sizeof(info.dropped));
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &b->data, &b->len, b->digest), CNP_OK);
	b->frames = nframes;
	cnp_batch_writer_destroy(w);
}

static void release_built(struct built *b)
{
	cnp_free(b->data);
	b->data = NULL;
}

/* Builds the next batch for `s` (its boot, next seq, chained) and puts it. */
static int put_next(struct cnp_spool *s, unsigned nframes, struct built *out)
{
	uint64_t seq;
	int has_prev;
	uint8_t prev[CNP_SHA256_LEN];
	cnp_spool_next(s, &seq, &has_prev, prev);
	build(out, cnp_spool_id(s), cnp_spool_boot(s), seq, has_prev, prev, nframes);
	return cnp_spool_put(s, seq, out->data, out->len, out->frames, out->digest);
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= cap)
		CHECK(!"path too long");
}

static int exists(const char *dir, const char *name)
{
	char p[1024];
	struct stat st;
	path_in(p, sizeof(p), dir, name);
	return stat(p, &st) == 0;
}

static void make_dir(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", check_tmpdir(), name);
}

static void batch_file(char *out, uint32_t boot, uint64_t seq)
{
	snprintf(out, CNP_SPOOL_NAME_MAX, "%08u-%012llu.cnp", (unsigned)boot,
	         (unsigned long long)seq);
}

/* Compares a file's bytes with a buffer. */
static int file_equals(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char p[1024];
	uint8_t *got = NULL;
	size_t got_len = 0;
	path_in(p, sizeof(p), dir, name);
	if (cnp_fs_read_file(p, 1u << 30, &got, &got_len) != CNP_OK)
		return 0;
	int eq = got_len == len && memcmp(got, data, len) == 0;
	cnp_free(got);
	return eq;
}

static void test_basic(void)
{
	char dir[512];
	make_dir(dir, sizeof(dir), "basic/a/b/spool");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 16u * 1024 * 1024};
	struct cnp_spool *s = NULL;

	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(cnp_fs_is_dir(dir));
	CHECK(exists(dir, "state.json"));
	CHECK_EQ(cnp_spool_boot(s), 1);

	uint64_t seq = 99, full = 99, corrupt = 99, bytes = 99;
	int has_prev = 99;
	unsigned batches = 99;
	uint8_t prev[CNP_SHA256_LEN];
	cnp_spool_next(s, &seq, &has_prev, prev);
	CHECK_EQ(seq, 0);
	CHECK_EQ(has_prev, 0);
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 0);
	CHECK_EQ(bytes, 0);
	struct cnp_spool_entry e;
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_ERR_NOTFOUND);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	CHECK_EQ(corrupt, 0);

	/* Put one batch. */
	struct built b0;
	CHECK_EQ(strlen(cnp_spool_id(s)), CNP_SPOOL_ID_LEN);
	CHECK_EQ(strspn(cnp_spool_id(s), "0123456789abcdef"), CNP_SPOOL_ID_LEN);
	char id[CNP_SPOOL_ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", cnp_spool_id(s));
	build(&b0, id, 1, 0, 0, NULL, 25);
	CHECK_EQ(cnp_spool_put(s, 0, b0.data, b0.len, b0.frames, b0.digest), CNP_OK);
	char name0[CNP_SPOOL_NAME_MAX];
	batch_file(name0, 1, 0);
	CHECK_STR(name0, "00000001-000000000000.cnp");
	CHECK(file_equals(dir, name0, b0.data, b0.len));
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 1);
	CHECK_EQ(bytes, b0.len);
	cnp_spool_next(s, &seq, &has_prev, prev);
	CHECK_EQ(seq, 1);
	CHECK_EQ(has_prev, 1);
	CHECK(memcmp(prev, b0.digest, CNP_SHA256_LEN) == 0);

	/* Check out, once only while it is out. */
	memset(&e, 0, sizeof(e));
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_STR(e.name, name0);
	CHECK_EQ(e.size, b0.len);
	CHECK_EQ(e.frames, 25);
	CHECK_EQ(b0.frames, 25);
	/* Put by this process: the sealed digest comes with it. */
	CHECK_EQ(e.digest_known, 1);
	CHECK(memcmp(e.digest, b0.digest, CNP_SHA256_LEN) == 0);
	CHECK_EQ(e.crc32, cnp_crc32(b0.data, b0.len));
	struct cnp_spool_entry e2;
	CHECK_EQ(cnp_spool_checkout(s, &e2), CNP_ERR_NOTFOUND);
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 1); /* still stored while out */

	uint8_t *data = NULL;
	size_t len = 0;
	CHECK_EQ(cnp_spool_read(s, e.name, &data, &len), CNP_OK);
	CHECK(len == b0.len && data && memcmp(data, b0.data, len) == 0);
	cnp_free(data);
	CHECK_EQ(cnp_spool_read(s, "00000009-000000000000.cnp", &data, &len), CNP_ERR_NOTFOUND);

	/* Released: available again. */
	cnp_spool_release(s, e.name);
	memset(&e2, 0, sizeof(e2));
	CHECK_EQ(cnp_spool_checkout(s, &e2), CNP_OK);
	CHECK_STR(e2.name, name0);

	/* Acknowledged: gone from disk and index. */
	CHECK_EQ(cnp_spool_ack(s, e2.name), CNP_OK);
	CHECK(!exists(dir, name0));
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 0);
	CHECK_EQ(bytes, 0);
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_ERR_NOTFOUND);
	CHECK_EQ(cnp_spool_ack(s, name0), CNP_ERR_NOTFOUND);
	release_built(&b0);

	/* Several batches: indexed, counted, checked out oldest first. */
	struct built b[5];
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(put_next(s, 10 + i, &b[i]), CNP_OK);
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 5);
	CHECK_EQ(bytes, b[0].len + b[1].len + b[2].len + b[3].len + b[4].len);
	/* Checkouts come oldest first. */
	for (unsigned i = 0; i < 5; i++) {
		char want[CNP_SPOOL_NAME_MAX];
		batch_file(want, 1, 1 + i);
		CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
		CHECK_STR(e.name, want);
		CHECK_EQ(e.frames, 10 + i);
	}
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_ERR_NOTFOUND);
	/* Ack the first one; release the rest (an aborted upload round). */
	char n1[CNP_SPOOL_NAME_MAX];
	batch_file(n1, 1, 1);
	CHECK_EQ(cnp_spool_ack(s, n1), CNP_OK);
	for (unsigned i = 1; i < 5; i++) {
		char n[CNP_SPOOL_NAME_MAX];
		batch_file(n, 1, 1 + i);
		cnp_spool_release(s, n);
	}
	cnp_spool_close(s);
	s = NULL;

	/* Reopen: a new boot, the four waiting batches indexed in order, and the
	 * chain carried over. */
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_boot(s), 2);
	CHECK_STR(cnp_spool_id(s), id); /* the id is kept across restarts */
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 4);
	CHECK_EQ(bytes, b[1].len + b[2].len + b[3].len + b[4].len);
	cnp_spool_next(s, &seq, &has_prev, prev);
	CHECK_EQ(seq, 0);
	CHECK_EQ(has_prev, 1);
	CHECK(memcmp(prev, b[4].digest, CNP_SHA256_LEN) == 0);
	for (unsigned i = 1; i < 5; i++) {
		char want[CNP_SPOOL_NAME_MAX];
		batch_file(want, 1, 1 + i);
		CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
		CHECK_STR(e.name, want);
		CHECK_EQ(e.size, b[i].len);
		CHECK_EQ(e.frames, 10 + i);
		CHECK_EQ(e.digest_known, 0); /* found on flash: checked in full */
	}
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	CHECK_EQ(corrupt, 0);

	/* A batch of the new boot sorts after the old ones. */
	struct built nb;
	CHECK_EQ(put_next(s, 3, &nb), CNP_OK);
	CHECK(exists(dir, "00000002-000000000000.cnp"));
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_STR(e.name, "00000002-000000000000.cnp");
	release_built(&nb);
	cnp_spool_close(s);
	s = NULL;

	/* state.json lost: the boot number still never repeats a stored one. */
	char state[1024];
	path_in(state, sizeof(state), dir, "state.json");
	CHECK_EQ(unlink(state), 0);
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_boot(s), 3);
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 5);
	cnp_spool_close(s);
	s = NULL;

	/* state.json damaged: same. */
	CHECK_EQ(check_write_file(state, "{\"boot\": \"x", 11), 0);
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_boot(s), 3);
	cnp_spool_close(s);
	s = NULL;

	/* Boot counter persisted beyond the batches' boots: it keeps counting. */
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_boot(s), 4);
	cnp_spool_close(s);
	for (unsigned i = 0; i < 5; i++)
		release_built(&b[i]);
}

static void test_corrupt(void)
{
	char dir[512];
	make_dir(dir, sizeof(dir), "corrupt");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 16u * 1024 * 1024};
	struct cnp_spool *s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	struct built b[5];
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(put_next(s, 40, &b[i]), CNP_OK);
	cnp_spool_close(s);
	s = NULL;

	char n[5][CNP_SPOOL_NAME_MAX], p[1024];
	for (unsigned i = 0; i < 5; i++)
		batch_file(n[i], 1, i);

	/* #1: one byte flipped in the middle. */
	uint8_t *copy = malloc(b[1].len);
	CHECK(copy != NULL);
	if (!copy)
		return;
	memcpy(copy, b[1].data, b[1].len);
	copy[b[1].len / 2] ^= 0x10;
	path_in(p, sizeof(p), dir, n[1]);
	CHECK_EQ(check_write_file(p, copy, b[1].len), 0);
	free(copy);
	/* #2: truncated (a torn write). */
	path_in(p, sizeof(p), dir, n[2]);
	CHECK_EQ(truncate(p, (off_t)(b[2].len - 40)), 0);
	/* #3: emptied. */
	path_in(p, sizeof(p), dir, n[3]);
	CHECK_EQ(truncate(p, 0), 0);
	/* A write a crash cut short, and a file that is none of ours. */
	path_in(p, sizeof(p), dir, ".tmp-00000001-000000000005.cnp");
	CHECK_EQ(check_write_file(p, "partial", 7), 0);
	path_in(p, sizeof(p), dir, "README");
	CHECK_EQ(check_write_file(p, "hello", 5), 0);

	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	unsigned batches = 0;
	uint64_t bytes = 0, full = 99, corrupt = 0;
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 2);
	CHECK_EQ(bytes, b[0].len + b[4].len);

	char qdir[1024];
	path_in(qdir, sizeof(qdir), dir, "quarantine");
	CHECK(cnp_fs_is_dir(qdir));
	for (unsigned i = 1; i <= 3; i++) {
		CHECK(!exists(dir, n[i]));
		CHECK(exists(qdir, n[i]));
	}
	CHECK(exists(dir, n[0]));
	CHECK(exists(dir, n[4]));
	CHECK(!exists(qdir, n[0]));
	CHECK(!exists(dir, ".tmp-00000001-000000000005.cnp"));
	CHECK(exists(dir, "README"));

	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	CHECK(corrupt >= 3); /* at least one per damaged batch */
	CHECK(corrupt <= 3u * 40u);
	/* Owed until a batch that reports them is stored. */
	uint64_t first_corrupt = corrupt;
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	CHECK_EQ(corrupt, first_corrupt);

	/* Only the good ones come out, in order. */
	struct cnp_spool_entry e;
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_STR(e.name, n[0]);
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_STR(e.name, n[4]);
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_ERR_NOTFOUND);

	/* The chain goes on from the last batch put, damaged or not. */
	uint64_t seq;
	int has_prev;
	uint8_t prev[CNP_SHA256_LEN];
	cnp_spool_next(s, &seq, &has_prev, prev);
	CHECK_EQ(has_prev, 1);
	CHECK(memcmp(prev, b[4].digest, CNP_SHA256_LEN) == 0);

	/* Quarantine at run time (the uploader found it bad): frames counted. */
	cnp_spool_release(s, n[0]);
	cnp_spool_quarantine(s, n[0], 40);
	CHECK(!exists(dir, n[0]));
	CHECK(exists(qdir, n[0]));
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 1);
	CHECK_EQ(bytes, b[4].len);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(corrupt, first_corrupt + 40);
	cnp_spool_close(s);
	for (unsigned i = 0; i < 5; i++)
		release_built(&b[i]);
}

static void test_torn_frames_counted(void)
{
	/* spool.h: a torn batch's frames are counted "when the manifest can
	 * still be read". A write cut 10 bytes short of its end loses part of
	 * the digest only: header and manifest are intact, so its 40 frames
	 * (not 1) must be reported as lost. */
	char dir[512];
	make_dir(dir, sizeof(dir), "torn");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 16u * 1024 * 1024};
	struct cnp_spool *s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	struct built b;
	CHECK_EQ(put_next(s, 40, &b), CNP_OK);
	cnp_spool_close(s);
	s = NULL;
	char name[CNP_SPOOL_NAME_MAX], p[1024];
	batch_file(name, 1, 0);
	path_in(p, sizeof(p), dir, name);
	CHECK_EQ(truncate(p, (off_t)(b.len - 10)), 0);

	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	uint64_t full = 99, corrupt = 0;
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	CHECK_EQ(corrupt, 40);
	CHECK(!exists(dir, name));
	cnp_spool_close(s);
	release_built(&b);
}

static void test_evict(void)
{
	/* A first run learns the spool's id; the batches are then built for
	 * boot 2, with different frame counts. */
	char dir[512], id[CNP_SPOOL_ID_LEN + 1];
	make_dir(dir, sizeof(dir), "evict");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 1u << 30};
	struct cnp_spool *s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	snprintf(id, sizeof(id), "%s", cnp_spool_id(s));
	cnp_spool_close(s);
	s = NULL;

	struct built a, b, c, d;
	build(&a, id, 2, 0, 0, NULL, 100);
	build(&b, id, 2, 1, 1, a.digest, 200);
	build(&c, id, 2, 2, 1, b.digest, 300);
	build(&d, id, 2, 3, 1, c.digest, 250);
	/* Room for any two of them, never for three. */
	uint64_t max = a.len + b.len + c.len - 1;
	CHECK(b.len + c.len <= max);
	CHECK(b.len + d.len <= max);
	CHECK(b.len + c.len + d.len > max);

	sc.max_bytes = max;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_boot(s), 2);
	char na[CNP_SPOOL_NAME_MAX], nb[CNP_SPOOL_NAME_MAX], nc[CNP_SPOOL_NAME_MAX],
		nd[CNP_SPOOL_NAME_MAX];
	batch_file(na, 2, 0);
	batch_file(nb, 2, 1);
	batch_file(nc, 2, 2);
	batch_file(nd, 2, 3);

	uint64_t full = 99, corrupt = 99, bytes = 0;
	unsigned batches = 0;
	CHECK_EQ(cnp_spool_put(s, 0, a.data, a.len, a.frames, a.digest), CNP_OK);
	CHECK_EQ(cnp_spool_put(s, 1, b.data, b.len, b.frames, b.digest), CNP_OK);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	CHECK_EQ(corrupt, 0);

	/* The third evicts the oldest, and only it. */
	CHECK_EQ(cnp_spool_put(s, 2, c.data, c.len, c.frames, c.digest), CNP_OK);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 100);
	CHECK_EQ(corrupt, 0);
	CHECK(!exists(dir, na));
	CHECK(exists(dir, nb));
	CHECK(exists(dir, nc));
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 2);
	CHECK_EQ(bytes, b.len + c.len);
	CHECK(bytes <= max);

	/* A checked-out batch is never evicted: the next oldest goes. */
	struct cnp_spool_entry e;
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_STR(e.name, nb);
	CHECK_EQ(cnp_spool_put(s, 3, d.data, d.len, d.frames, d.digest), CNP_OK);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 300);
	CHECK(exists(dir, nb));
	CHECK(!exists(dir, nc));
	CHECK(exists(dir, nd));
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 2);
	CHECK_EQ(bytes, b.len + d.len);
	/* The checked-out one can still be acked. */
	CHECK_EQ(cnp_spool_ack(s, nb), CNP_OK);
	CHECK(!exists(dir, nb));

	/* A batch larger than the whole spool: refused, nothing evicted. */
	uint64_t seq;
	int has_prev;
	uint8_t prev[CNP_SHA256_LEN];
	cnp_spool_next(s, &seq, &has_prev, prev);
	CHECK_EQ(seq, 4);
	size_t big_len = (size_t)max + 1;
	uint8_t *big = calloc(1, big_len);
	CHECK(big != NULL);
	if (big) {
		CHECK_EQ(cnp_spool_put(s, seq, big, big_len, 1, prev), CNP_ERR_TOOBIG);
		free(big);
	}
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 1);
	CHECK_EQ(bytes, d.len);
	CHECK(exists(dir, nd));
	/* The refused batch reported nothing: the 300 are still owed. */
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 300);
	CHECK(cnp_spool_was_stored(s, 2, 3));
	CHECK(cnp_spool_was_stored(s, 1, 99));
	CHECK(!cnp_spool_was_stored(s, 2, 4));
	CHECK(!cnp_spool_was_stored(s, 3, 0));
	uint64_t seq2;
	cnp_spool_next(s, &seq2, &has_prev, prev);
	CHECK_EQ(seq2, 4); /* the refused batch took no number */
	CHECK(memcmp(prev, d.digest, CNP_SHA256_LEN) == 0);
	cnp_spool_close(s);

	release_built(&a);
	release_built(&b);
	release_built(&c);
	release_built(&d);
}

/* Full: the oldest batch of the lowest priority goes first, also for
 * batches found on flash (their manifest's priority). */
static void test_evict_priority(void)
{
	char dir[512], id[CNP_SPOOL_ID_LEN + 1];
	make_dir(dir, sizeof(dir), "evict-priority");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 1u << 30};
	struct cnp_spool *s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	snprintf(id, sizeof(id), "%s", cnp_spool_id(s));
	cnp_spool_close(s);
	s = NULL;

	struct built a, b, c, d, e;
	build_priority = 5;
	build(&a, id, 2, 0, 0, NULL, 200);
	build_priority = 0;
	build(&b, id, 2, 1, 1, a.digest, 200);
	build(&c, id, 2, 2, 1, b.digest, 201);
	build_priority = 5;
	build(&d, id, 2, 3, 1, c.digest, 150);
	build(&e, id, 3, 0, 1, d.digest, 150);
	build_priority = 0;
	uint64_t max = a.len + b.len + c.len;
	CHECK(d.len < b.len && d.len < c.len && e.len < b.len && e.len < c.len);

	sc.max_bytes = max;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	char na[CNP_SPOOL_NAME_MAX], nb[CNP_SPOOL_NAME_MAX], nc[CNP_SPOOL_NAME_MAX],
		nd[CNP_SPOOL_NAME_MAX], ne[CNP_SPOOL_NAME_MAX];
	batch_file(na, 2, 0);
	batch_file(nb, 2, 1);
	batch_file(nc, 2, 2);
	batch_file(nd, 2, 3);
	batch_file(ne, 3, 0);
	uint64_t full = 99, corrupt = 99;
	CHECK_EQ(cnp_spool_put_priority(s, 0, a.data, a.len, a.frames, a.digest, 5, NULL), CNP_OK);
	/* b reports drops of its own (as if its manifest said so): when it is
	 * evicted, they are owed again, each under its reason. */
	uint64_t carried[CNP_DROP_REASONS] = {0}, all[CNP_DROP_REASONS];
	carried[CNP_DROP_MALFORMED] = 3;
	carried[CNP_DROP_SPOOL_FULL] = 7;
	carried[CNP_DROP_KERNEL] = 2;
	CHECK_EQ(cnp_spool_put_priority(s, 1, b.data, b.len, b.frames, b.digest, 0, carried),
	         CNP_OK);
	CHECK_EQ(cnp_spool_put_priority(s, 2, c.data, c.len, c.frames, c.digest, 0, NULL), CNP_OK);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 0);
	/* d needs room: b goes (oldest of priority 0), not the older a. */
	CHECK_EQ(cnp_spool_put_priority(s, 3, d.data, d.len, d.frames, d.digest, 5, NULL), CNP_OK);
	CHECK(cnp_spool_has_unreported(s));
	cnp_spool_take_all(s, all);
	CHECK_EQ(all[CNP_DROP_SPOOL_FULL], 200 + 7);
	CHECK_EQ(all[CNP_DROP_MALFORMED], 3);
	CHECK_EQ(all[CNP_DROP_KERNEL], 2);
	CHECK_EQ(all[CNP_DROP_CORRUPT], 0);
	CHECK(exists(dir, na));
	CHECK(!exists(dir, nb));
	CHECK(exists(dir, nc));
	CHECK(exists(dir, nd));
	cnp_spool_close(s);

	/* After a restart the priorities come from the manifests: e (priority
	 * 5) evicts c (0), not the older a (5). */
	s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_boot(s), 3);
	CHECK_EQ(cnp_spool_put_priority(s, 0, e.data, e.len, e.frames, e.digest, 5, NULL), CNP_OK);
	/* Nothing stored reported them yet: still owed, from state.json. */
	cnp_spool_take_all(s, all);
	CHECK_EQ(all[CNP_DROP_SPOOL_FULL], 200 + 7 + 201);
	CHECK_EQ(all[CNP_DROP_MALFORMED], 3);
	CHECK_EQ(all[CNP_DROP_KERNEL], 2);
	CHECK(exists(dir, na));
	CHECK(!exists(dir, nc));
	CHECK(exists(dir, nd));
	CHECK(exists(dir, ne));
	cnp_spool_close(s);
	release_built(&a);
	release_built(&b);
	release_built(&c);
	release_built(&d);
	release_built(&e);
}

/* Copies dir/state.json to or from `saved` (a crash just before the spool
 * wrote it: the batch is on flash, state.json is the one before). */
static void state_copy(const char *dir, uint8_t **saved, size_t *len, int restore)
{
	char p[1024];
	path_in(p, sizeof(p), dir, "state.json");
	if (!restore) {
		CHECK_EQ(cnp_fs_read_file(p, 1u << 20, saved, len), CNP_OK);
		return;
	}
	CHECK_EQ(cnp_fs_write_atomic(dir, "state.json", *saved, *len), CNP_OK);
	cnp_free(*saved);
	*saved = NULL;
}

/* Builds the next batch of `s` and stores it as carrying `malformed` and
 * `kernel` drops (its manifest's counts); its name into `name`. */
static void put_carrying(struct cnp_spool *s, struct built *out, char name[CNP_SPOOL_NAME_MAX],
                         uint64_t malformed, uint64_t kernel)
{
	uint64_t seq, carried[CNP_DROP_REASONS] = {0};
	int has_prev;
	uint8_t prev[CNP_SHA256_LEN];
	carried[CNP_DROP_MALFORMED] = malformed;
	carried[CNP_DROP_KERNEL] = kernel;
	cnp_spool_next(s, &seq, &has_prev, prev);
	build(out, cnp_spool_id(s), cnp_spool_boot(s), seq, has_prev, prev, 10);
	batch_file(name, cnp_spool_boot(s), seq);
	CHECK_EQ(cnp_spool_put_priority(s, seq, out->data, out->len, out->frames, out->digest, 0,
	                                carried),
	         CNP_OK);
}

/* A batch stored with re-owed malformed and kernel counts, then a crash
 * before state.json says so: after the restart those counts are not owed
 * again (they are in the stored batch), and counts re-owed after the take
 * still are. The batch's own (source) drops ride along in the same
 * manifest fields. */
static void test_reowed_crash(void)
{
	for (int variant = 0; variant < 2; variant++) {
		char dir[512];
		make_dir(dir, sizeof(dir), variant ? "reowed-crash-1" : "reowed-crash-0");
		struct cnp_spool_config sc = {.dir = dir, .max_bytes = 1u << 30};
		struct cnp_spool *s = NULL;
		CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
		if (!s)
			return;
		uint64_t seq, all[CNP_DROP_REASONS];
		int has_prev;
		uint8_t prev[CNP_SHA256_LEN];
		/* b and d carried drops of their own (3 malformed and 2 kernel,
		 * 4 and 1); both will be refused, so that these are owed again. */
		struct built b, c, d;
		char nb[CNP_SPOOL_NAME_MAX], nd[CNP_SPOOL_NAME_MAX];
		put_carrying(s, &b, nb, 3, 2);
		put_carrying(s, &d, nd, 4, 1);
		cnp_spool_quarantine(s, nb, b.frames);
		/* Variant 0: d is refused before the next batch takes the counts;
		 * variant 1: after (state.json is written with the take pending). */
		if (variant == 0)
			cnp_spool_quarantine(s, nd, d.frames);
		cnp_spool_take_all(s, all);
		CHECK_EQ(all[CNP_DROP_MALFORMED], variant ? 3u : 7u);
		CHECK_EQ(all[CNP_DROP_KERNEL], variant ? 2u : 3u);
		if (variant == 1)
			cnp_spool_quarantine(s, nd, d.frames);
		/* c reports what it took (the quarantined frames as corrupt too)
		 * plus 5 and 7 of its own source's; the
		 * crash comes before state.json says it is stored. */
		uint8_t *saved = NULL;
		size_t saved_len = 0;
		state_copy(dir, &saved, &saved_len, 0);
		cnp_spool_next(s, &seq, &has_prev, prev);
		memcpy(build_dropped, all, sizeof(build_dropped));
		build_dropped[CNP_DROP_MALFORMED] = all[CNP_DROP_MALFORMED] + 5;
		build_dropped[CNP_DROP_KERNEL] = all[CNP_DROP_KERNEL] + 7;
		build(&c, cnp_spool_id(s), cnp_spool_boot(s), seq, has_prev, prev, 10);
		memset(build_dropped, 0, sizeof(build_dropped));
		CHECK_EQ(cnp_spool_put(s, seq, c.data, c.len, c.frames, c.digest), CNP_OK);
		cnp_spool_close(s);
		state_copy(dir, &saved, &saved_len, 1);

		/* After the restart: owed only what c did not take. */
		s = NULL;
		CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
		if (!s)
			return;
		cnp_spool_take_all(s, all);
		CHECK_EQ(all[CNP_DROP_MALFORMED], variant ? 4u : 0u);
		CHECK_EQ(all[CNP_DROP_KERNEL], variant ? 1u : 0u);
		CHECK_EQ(cnp_spool_has_unreported(s), variant ? 1 : 0);
		cnp_spool_close(s);
		release_built(&b);
		release_built(&c);
		release_built(&d);
	}
}

/* Mirror: a batch is owed to two endpoints; each acknowledgement is kept
 * on flash; the batch leaves when both have it. */
static void test_mirror(void)
{
	char dir[512];
	make_dir(dir, sizeof(dir), "mirror");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 1u << 30};
	struct cnp_spool *s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	const char *const tags[] = {"0123abcd", "89abcdef"};
	const char *const bad[] = {"0123abcd", "XYZ"};
	CHECK_EQ(cnp_spool_set_owners(s, 2, bad), CNP_ERR_INVAL);
	CHECK_EQ(cnp_spool_set_owners(s, 2, tags), CNP_OK);
	struct built a, b;
	CHECK_EQ(put_next(s, 10, &a), CNP_OK);
	CHECK_EQ(put_next(s, 20, &b), CNP_OK);
	char na[CNP_SPOOL_NAME_MAX], nb[CNP_SPOOL_NAME_MAX], m[64];
	batch_file(na, cnp_spool_boot(s), 0);
	batch_file(nb, cnp_spool_boot(s), 1);

	/* Owner 0 takes a and acknowledges it: a stays for owner 1. */
	struct cnp_spool_entry e;
	CHECK_EQ(cnp_spool_checkout_for(s, 0, &e), CNP_OK);
	CHECK_STR(e.name, na);
	CHECK_EQ(cnp_spool_ack_for(s, na, 0), CNP_OK);
	CHECK(exists(dir, na));
	snprintf(m, sizeof(m), "%s.ack-0123abcd", na);
	CHECK(exists(dir, m));
	/* Owner 0's next is b; owner 1's is still a. */
	CHECK_EQ(cnp_spool_checkout_for(s, 0, &e), CNP_OK);
	CHECK_STR(e.name, nb);
	cnp_spool_release(s, nb);
	CHECK_EQ(cnp_spool_checkout_for(s, 1, &e), CNP_OK);
	CHECK_STR(e.name, na);
	cnp_spool_release(s, na);
	cnp_spool_close(s);

	/* After a restart the marker still says owner 0 has a. */
	s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	CHECK_EQ(cnp_spool_set_owners(s, 2, tags), CNP_OK);
	CHECK_EQ(cnp_spool_checkout_for(s, 0, &e), CNP_OK);
	CHECK_STR(e.name, nb);
	cnp_spool_release(s, nb);
	/* Owner 1 acknowledges a: both have it, it leaves with its marker. */
	CHECK_EQ(cnp_spool_checkout_for(s, 1, &e), CNP_OK);
	CHECK_STR(e.name, na);
	CHECK_EQ(cnp_spool_ack_for(s, na, 1), CNP_OK);
	CHECK(!exists(dir, na));
	CHECK(!exists(dir, m));
	unsigned batches;
	uint64_t bytes;
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 1);
	/* Back to one owner (failover): b leaves at its first acknowledgement. */
	CHECK_EQ(cnp_spool_set_owners(s, 0, NULL), CNP_OK);
	CHECK_EQ(cnp_spool_checkout(s, &e), CNP_OK);
	CHECK_EQ(cnp_spool_ack_for(s, nb, 1), CNP_OK);
	CHECK(!exists(dir, nb));
	cnp_spool_close(s);
	release_built(&a);
	release_built(&b);
}

static void test_bad_dir(void)
{
	char file[512], dir[1024];
	make_dir(file, sizeof(file), "plain-file");
	CHECK_EQ(check_write_file(file, "x", 1), 0);
	snprintf(dir, sizeof(dir), "%s/spool", file);
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 1u << 20};
	struct cnp_spool *s = (struct cnp_spool *)&sc; /* must not be touched */
	int rc = cnp_spool_open(&sc, &s);
	CHECK(rc != CNP_OK);
	CHECK_EQ(rc, CNP_ERR_IO);
	CHECK(s == (struct cnp_spool *)&sc);

	/* The spool directory itself is a regular file. */
	sc.dir = file;
	rc = cnp_spool_open(&sc, &s);
	CHECK_EQ(rc, CNP_ERR_IO);
}

/* spool.min_free_bytes: a file system that cannot keep the headroom makes
 * the spool evict its oldest batches (counted), then refuse the new one. */
static void test_min_free(void)
{
	char dir[512];
	make_dir(dir, sizeof(dir), "min-free");
	struct cnp_spool_config sc = {.dir = dir, .max_bytes = 1u << 30};
	struct cnp_spool *s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	struct built a, b, c;
	CHECK_EQ(put_next(s, 30, &a), CNP_OK);
	CHECK_EQ(put_next(s, 50, &b), CNP_OK);
	cnp_spool_close(s);
	s = NULL;

	/* No disk has this much free: everything that may go, goes. */
	sc.min_free_bytes = UINT64_MAX / 2;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	unsigned batches;
	uint64_t bytes, full, corrupt;
	CHECK_EQ(put_next(s, 70, &c), CNP_ERR_FULL);
	cnp_spool_usage(s, &batches, &bytes);
	CHECK_EQ(batches, 0);
	cnp_spool_take_dropped(s, &full, &corrupt);
	CHECK_EQ(full, 80);
	CHECK_EQ(corrupt, 0);
	cnp_spool_close(s);
	release_built(&a);
	release_built(&b);
	release_built(&c);

	/* A bound the disk can keep changes nothing. */
	uint64_t fs_free = 0;
	CHECK_EQ(cnp_fs_free_bytes(dir, &fs_free), CNP_OK);
	sc.min_free_bytes = 4096;
	s = NULL;
	CHECK_EQ(cnp_spool_open(&sc, &s), CNP_OK);
	if (!s)
		return;
	if (fs_free > (64u << 20)) {
		CHECK_EQ(put_next(s, 10, &a), CNP_OK);
		release_built(&a);
	}
	cnp_spool_close(s);
}

int main(void)
{
	cnp_json_init();
	cnp_ifaces_init(&ifaces);
	uint8_t idx = 99;
	CHECK_EQ(cnp_ifaces_intern(&ifaces, "can0", 4, &idx), CNP_OK);
	CHECK_EQ(idx, 0);
	test_basic();
	test_corrupt();
	test_torn_frames_counted();
	test_evict();
	test_evict_priority();
	test_reowed_crash();
	test_mirror();
	test_min_free();
	test_bad_dir();
	return check_finish();
}
