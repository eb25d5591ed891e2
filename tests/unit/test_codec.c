/* Payload codecs, each checked the same way: random and adversarial frame
 * mixes round trip exactly; every decoded byte that is damaged (with a
 * valid zlib stream around it) is refused or decodes without crashing. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/codec.h"
#include "firmware/error.h"
#include "platform/zlib.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x1234567887654321u;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const uint8_t fd_lens[] = {0, 1, 5, 8, 12, 16, 20, 24, 32, 48, 64};

/* What ECUs put in their frames, which codec 5 recomputes: kind 9 a 2-bit
 * counter in bits 4-5 and a nibble-sum checksum in the last byte (Honda);
 * kind 10 an 8-bit counter in byte 0 and a byte-sum checksum (Toyota);
 * kind 11 a nibble sum in frames of varying length. */
static void add_checks(struct cnp_frame *f, unsigned kind, unsigned i)
{
	uint8_t *d = f->data;
	unsigned n = f->len, s = 0;
	if (kind == 9) {
		d[n - 1] = (uint8_t)((d[n - 1] & 0xC0) | (i & 3) << 4);
	} else if (kind == 10) {
		d[0] = (uint8_t)i;
		for (unsigned k = 0; k + 1 < n; k++)
			s += d[k];
		d[n - 1] = (uint8_t)(0x7B + s);
		return;
	} else if (kind != 11) {
		return;
	}
	for (unsigned k = 0; k + 1 < n; k++)
		s += (d[k] & 15u) + (d[k] >> 4);
	s += d[n - 1] >> 4;
	d[n - 1] = (uint8_t)((d[n - 1] & 0xF0) | ((0x9u - s) & 15u));
}

/* A frame mix with periodic streams, repeats, counters and odd frames. */
static void make_frame(struct cnp_frame *f, unsigned i, uint64_t *ts)
{
	memset(f, 0, sizeof(*f));
	unsigned kind = (unsigned)(next() % 16);
	*ts += next() % 3 == 0 ? 0 : next() % 2000;
	if (next() % 50 == 0)
		*ts -= next() % 30000; /* a step back, as when channels interleave */
	f->ts_us = *ts;
	f->iface = (uint8_t)(next() % 3);
	f->id = (uint32_t)(0x100 + kind * 7);
	f->len = 8;
	if (kind == 1) {
		f->flags = CNP_FRAME_EXT;
		f->id = 0x18FEF100u + (uint32_t)(next() % 4);
	} else if (kind == 2) {
		f->flags = CNP_FRAME_FD;
		f->fd_flags = (uint8_t)(next() % 4);
		f->len = fd_lens[next() % sizeof(fd_lens)];
	} else if (kind == 3) {
		f->flags = CNP_FRAME_RTR;
		f->len = 0;
		f->dlc = (uint8_t)(next() % 9);
	} else if (kind == 4) {
		f->flags = CNP_FRAME_ERR;
		f->id = 0x04;
	} else if (kind == 5) {
		f->dlc = (uint8_t)(9 + next() % 7);
	} else if (kind == 6) {
		f->len = (uint8_t)(next() % 9);
		f->style = (uint8_t)(next() % 256);
	}
	if (kind == 11)
		f->len = (uint8_t)(1 + next() % 8);
	for (unsigned k = 0; k < f->len; k++) {
		if (kind >= 9 && kind <= 11)
			f->data[k] = (uint8_t)(next() % 4 == 0 ? next() : 0x20 + k); /* few changes */
		else if (kind == 7)
			f->data[k] = (uint8_t)(i % 3); /* revisits a few states */
		else if (kind == 8)
			f->data[k] = (uint8_t)(k == 7 ? i : 0x55); /* a counter */
		else
			f->data[k] = (uint8_t)next();
	}
	add_checks(f, kind, i);
}

struct collect {
	struct cnp_frame *frames;
	size_t n, cap;
};

static int collect_cb(const struct cnp_frame *f, void *arg)
{
	struct collect *c = arg;
	if (c->n < c->cap)
		c->frames[c->n] = *f;
	c->n++;
	return 0;
}

static void round_trip(const struct cnp_frame_codec *codec, unsigned nframes, size_t cap)
{
	struct cnp_frame_encoder *e = codec->create(cap, 6);
	CHECK(e != NULL);
	if (!e)
		return;
	struct cnp_frame *in = calloc(nframes, sizeof(*in));
	uint64_t ts = 1700000000000000u;
	unsigned added = 0;
	for (unsigned i = 0; i < nframes; i++) {
		make_frame(&in[i], i, &ts);
		int rc = codec->add(e, &in[i]);
		if (rc == CNP_ERR_FULL)
			break;
		CHECK_EQ(rc, CNP_OK);
		added++;
	}
	CHECK_EQ(codec->count(e), added);
	CHECK(codec->raw_size(e) <= cap);
	uint8_t *stored = NULL;
	size_t stored_len = 0, raw_len = 0;
	CHECK_EQ(codec->finish(e, &stored, &stored_len, &raw_len), CNP_OK);
	CHECK_EQ(codec->count(e), 0);
	struct collect c = {.frames = calloc(added + 1, sizeof(struct cnp_frame)), .cap = added + 1};
	const char *why = NULL;
	CHECK_EQ(codec->decode(stored, stored_len, raw_len, added, collect_cb, &c, &why), CNP_OK);
	CHECK_EQ(c.n, added);
	unsigned bad = 0;
	for (unsigned i = 0; i < added && i < c.n; i++)
		if (memcmp(&in[i], &c.frames[i], sizeof(in[i])) != 0)
			bad++;
	CHECK_EQ(bad, 0);
	if (bad)
		fprintf(stderr, "  %s: %u of %u frames differ\n", codec->name, bad, added);

	/* A wrong frame count is refused. */
	c.n = 0;
	CHECK(codec->decode(stored, stored_len, raw_len, added + 1, collect_cb, &c, &why) != CNP_OK);

	/* Damage inside the decoded bytes, re-deflated so zlib accepts it: the
	 * decoder must refuse or decode, never crash or overrun. */
	uint8_t *raw = malloc(raw_len + 1);
	size_t got = 0;
	CHECK_EQ(cnp_zlib_decompress(stored, stored_len, raw, raw_len, &got), CNP_OK);
	size_t zcap = cnp_zlib_bound(raw_len + 1);
	uint8_t *z = malloc(zcap);
	unsigned refused = 0, tried = 0;
	for (size_t pos = 0; pos < raw_len; pos += 1 + raw_len / 300) {
		for (int variant = 0; variant < 3; variant++) {
			uint8_t saved = raw[pos];
			raw[pos] = variant == 0 ? (uint8_t)(saved ^ 0x80) : variant == 1 ? 0xFF : 0x00;
			size_t zlen = 0;
			CHECK_EQ(cnp_zlib_compress(raw, raw_len, 1, z, zcap, &zlen), CNP_OK);
			c.n = 0;
			int rc = codec->decode(z, zlen, raw_len, added, collect_cb, &c, &why);
			tried++;
			if (rc != CNP_OK) {
				CHECK_EQ(rc, CNP_ERR_CORRUPT);
				refused++;
			}
			raw[pos] = saved;
		}
	}
	CHECK(refused > 0);
	/* Truncated decoded bytes are always refused. */
	for (size_t cut = 0; cut < raw_len; cut += 1 + raw_len / 100) {
		size_t zlen = 0;
		CHECK_EQ(cnp_zlib_compress(raw, cut, 1, z, zcap, &zlen), CNP_OK);
		c.n = 0;
		CHECK_EQ(codec->decode(z, zlen, cut, added, collect_cb, &c, &why), CNP_ERR_CORRUPT);
	}
	printf("%s: %u frames round trip, %zu -> %zu bytes; %u/%u damaged payloads refused\n",
	       codec->name, added, raw_len, stored_len, refused, tried);
	free(z);
	free(raw);
	free(c.frames);
	free(in);
	cnp_free(stored);
	codec->destroy(e);
}

/* Codec 5 codes the checksums and counters of make_frame's kinds 9-11 away:
 * the same frames take far fewer bytes than in codec 2 and still round
 * trip; one frame with a wrong checksum turns the recomputation off for its
 * stream and still round trips. */
static void test_checksums(void)
{
	const struct cnp_frame_codec *codecs[] = {&cnp_codec_cols_zlib, &cnp_codec_cols_ck_zlib};
	size_t sizes[2] = {0, 0};
	for (int bad = 0; bad < 2; bad++) {
		for (int c = 0; c < 2; c++) {
			struct cnp_frame_encoder *e = codecs[c]->create(1u << 20, 6);
			struct cnp_frame in[3000];
			uint64_t ts = 1000;
			rng = 0x1234567887654321u;
			for (unsigned i = 0; i < 3000; i++) {
				unsigned kind = 9 + i % 3;
				memset(&in[i], 0, sizeof(in[i]));
				in[i].ts_us = ts += 1000;
				in[i].id = 0x200 + kind;
				in[i].len = 8;
				if (kind == 11)
					in[i].len = (uint8_t)(1 + next() % 8);
				for (unsigned k = 0; k < in[i].len; k++)
					in[i].data[k] = (uint8_t)(next() % 8 == 0 ? next() % 4 : 0x20 + k);
				add_checks(&in[i], kind, i / 3);
				if (bad && i == 1500)
					in[i].data[in[i].len - 1] ^= 1; /* kind 9: checksum wrong */
				CHECK_EQ(codecs[c]->add(e, &in[i]), CNP_OK);
			}
			uint8_t *stored = NULL;
			size_t sl, rl;
			/* Each allocation of finish fails in turn: the frames stay as
			 * they came (codec 5 codes checksums in place and must put
			 * them back), and the finish that succeeds still round trips. */
			int rc = CNP_ERR_NOMEM;
			for (long k = 0; rc == CNP_ERR_NOMEM && k < 100; k++) {
				cnp_alloc_fail_after(k);
				rc = codecs[c]->finish(e, &stored, &sl, &rl);
				cnp_alloc_fail_after(-1);
				if (rc == CNP_ERR_NOMEM)
					CHECK_EQ(codecs[c]->count(e), 3000);
			}
			CHECK_EQ(rc, CNP_OK);
			struct collect col = {calloc(3000, sizeof(struct cnp_frame)), 0, 3000};
			const char *why = "";
			CHECK_EQ(codecs[c]->decode(stored, sl, rl, 3000, collect_cb, &col, &why), CNP_OK);
			CHECK_EQ(col.n, 3000);
			unsigned same = 0;
			for (unsigned i = 0; i < 3000 && i < col.n; i++)
				same += col.frames[i].len == in[i].len &&
				        memcmp(col.frames[i].data, in[i].data, in[i].len) == 0;
			CHECK_EQ(same, 3000);
			if (!bad)
				sizes[c] = sl;
			free(col.frames);
			cnp_free(stored);
			codecs[c]->destroy(e);
		}
	}
	printf("checksums and counters: codec 2 %zu bytes, codec 5 %zu bytes\n", sizes[0], sizes[1]);
	CHECK(sizes[1] * 5 < sizes[0] * 4);
}

static void test_registry(void)
{
	CHECK(cnp_codec_by_id(CNP_CODEC_ROWS_ZLIB) == &cnp_codec_rows_zlib);
	CHECK(cnp_codec_by_id(CNP_CODEC_COLS_ZLIB) == &cnp_codec_cols_zlib);
	CHECK(cnp_codec_by_id(CNP_CODEC_COLS_CK_ZLIB) == &cnp_codec_cols_ck_zlib);
	CHECK(cnp_codec_by_name("cols-ck-zlib") == &cnp_codec_cols_ck_zlib);
	CHECK(cnp_codec_by_id(0) == NULL);
	CHECK(cnp_codec_by_id(99) == NULL);
	CHECK(cnp_codec_by_name("cols-zlib") == &cnp_codec_cols_zlib);
	CHECK(cnp_codec_by_name("nope") == NULL);
}

static void test_empty_and_single(const struct cnp_frame_codec *codec)
{
	struct cnp_frame_encoder *e = codec->create(4096, 6);
	uint8_t *stored = NULL;
	size_t stored_len, raw_len;
	CHECK_EQ(codec->finish(e, &stored, &stored_len, &raw_len), CNP_OK);
	struct collect c = {0};
	const char *why;
	CHECK_EQ(codec->decode(stored, stored_len, raw_len, 0, collect_cb, &c, &why), CNP_OK);
	CHECK_EQ(c.n, 0);
	cnp_free(stored);
	/* A frame too large for an empty encoder is refused outright. */
	struct cnp_frame f;
	memset(&f, 0, sizeof(f));
	f.len = 64;
	f.flags = CNP_FRAME_FD;
	struct cnp_frame_encoder *tiny = codec->create(1, 6);
	int rc = codec->add(tiny, &f);
	CHECK(rc == CNP_OK || rc == CNP_ERR_TOOBIG);
	codec->destroy(tiny);
	codec->destroy(e);
}

static void test_stream_limit(void)
{
	/* More distinct ids than the stream table holds: the encoder says
	 * FULL (the batch is sealed), never drops or corrupts. */
	struct cnp_frame_encoder *e = cnp_codec_cols_zlib.create(1u << 20, 6);
	struct cnp_frame f;
	memset(&f, 0, sizeof(f));
	f.len = 1;
	unsigned added = 0;
	for (uint32_t id = 0; id < 5000; id++) {
		f.id = id;
		f.flags = CNP_FRAME_EXT;
		f.ts_us = id;
		if (cnp_codec_cols_zlib.add(e, &f) != CNP_OK)
			break;
		added++;
	}
	CHECK(added >= 256 && added < 5000);
	uint8_t *stored = NULL;
	size_t sl, rl;
	CHECK_EQ(cnp_codec_cols_zlib.finish(e, &stored, &sl, &rl), CNP_OK);
	struct collect c = {0};
	const char *why;
	CHECK_EQ(cnp_codec_cols_zlib.decode(stored, sl, rl, added, collect_cb, &c, &why), CNP_OK);
	CHECK_EQ(c.n, added);
	cnp_free(stored);
	cnp_codec_cols_zlib.destroy(e);
}

int main(void)
{
	test_registry();
	const struct cnp_frame_codec *codecs[] = {&cnp_codec_rows_zlib, &cnp_codec_cols_zlib,
	                                          &cnp_codec_cols_ck_zlib};
	for (int k = 0; k < 3; k++) {
		test_empty_and_single(codecs[k]);
		round_trip(codecs[k], 3000, 1u << 20);
		round_trip(codecs[k], 100000, 65536); /* stops when full */
	}
	test_stream_limit();
	test_checksums();
	return check_finish();
}
