/* The batch container and the rows-zlib codec: round trips, bounds, and
 * every kind of damage a reader must catch. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/error.h"
#include "firmware/json.h"

#include <stdlib.h>
#include <string.h>

static struct cnp_ifaces ifaces;

static void make_frame(struct cnp_frame *f, unsigned i)
{
	memset(f, 0, sizeof(*f));
	f->ts_us = 1000000u + i * 997u - (i % 7 == 3 ? 5000u : 0u); /* some steps back */
	f->iface = (uint8_t)(i % 2);
	switch (i % 5) {
	case 0:
		f->id = 0x123;
		f->len = 8;
		break;
	case 1:
		f->id = 0x18F75E89;
		f->flags = CNP_FRAME_EXT;
		f->len = 3;
		break;
	case 2:
		f->id = 0x7FF;
		f->flags = CNP_FRAME_FD;
		f->fd_flags = 1;
		f->len = 64;
		break;
	case 3:
		f->id = 0x42;
		f->flags = CNP_FRAME_RTR;
		f->dlc = 4;
		break;
	default:
		f->id = 0x80;
		f->flags = CNP_FRAME_ERR;
		f->len = 8;
		f->style = CNP_STYLE_LOWER_HEX | CNP_STYLE_CRLF;
		break;
	}
	for (unsigned k = 0; k < f->len; k++)
		f->data[k] = (uint8_t)(i * 31 + k);
}

struct collect {
	struct cnp_frame *frames;
	unsigned n, cap;
	int bad_name;
};

static int collect_cb(const struct cnp_frame *f, const char *ifname, void *arg)
{
	struct collect *c = arg;
	if (strcmp(ifname, ifaces.names[f->iface]) != 0)
		c->bad_name = 1;
	if (c->n < c->cap)
		c->frames[c->n] = *f;
	c->n++;
	return 0;
}

static uint8_t *build(unsigned nframes, size_t max_bytes, uint64_t seq, size_t *len,
                      uint8_t digest[32], unsigned *added)
{
	struct cnp_batch_writer *w = NULL;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, max_bytes, 6), CNP_OK);
	unsigned i;
	for (i = 0; i < nframes; i++) {
		struct cnp_frame f;
		make_frame(&f, i);
		if (cnp_batch_writer_add(w, &f) != CNP_OK)
			break;
	}
	*added = i;
	struct cnp_batch_info info = {
		.vehicle = "veh-1", .spool_id = "0123456789abcdef", .boot = 7, .seq = seq, .ifaces = &ifaces,
		.sealed_wall_us = 1700000000000000u, .sealed_mono_us = 5,
	};
	info.dropped[CNP_DROP_MALFORMED] = 3;
	info.dropped[CNP_DROP_KERNEL] = 5;
	info.has_prev = seq > 0;
	memset(info.prev_sha256, 0xAB, 32);
	uint8_t *out = NULL;
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, len, digest), CNP_OK);
	CHECK_EQ(cnp_batch_writer_count(w), 0);
	cnp_batch_writer_destroy(w);
	return out;
}

static void test_round_trip(void)
{
	size_t len;
	uint8_t digest[32];
	unsigned added;
	uint8_t *buf = build(1000, 1u << 20, 1, &len, digest, &added);
	CHECK_EQ(added, 1000);
	struct cnp_batch b;
	char why[200] = "";
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_STR(b.vehicle, "veh-1");
	CHECK_STR(b.spool_id, "0123456789abcdef");
	CHECK_EQ(b.boot, 7);
	CHECK_EQ(b.seq, 1);
	CHECK_EQ(b.frames, 1000);
	CHECK_EQ(b.dropped[CNP_DROP_MALFORMED], 3);
	CHECK_EQ(b.dropped[CNP_DROP_SPOOL_FULL], 0);
	CHECK_EQ(b.dropped[CNP_DROP_KERNEL], 5);
	CHECK_STR(cnp_drop_reason_name(CNP_DROP_KERNEL), "kernel");
	CHECK(b.has_prev && b.prev_sha256[0] == 0xAB && b.prev_sha256[31] == 0xAB);
	CHECK(memcmp(b.sha256, digest, 32) == 0);
	CHECK_EQ(b.ifaces.count, 2);
	struct cnp_frame first;
	make_frame(&first, 0);
	CHECK_EQ(b.first_us, first.ts_us);

	struct collect c = {.frames = calloc(1000, sizeof(struct cnp_frame)), .cap = 1000};
	CHECK_EQ(cnp_batch_frames(&b, collect_cb, &c, why, sizeof(why)), CNP_OK);
	CHECK_EQ(c.n, 1000);
	CHECK(!c.bad_name);
	unsigned mismatches = 0;
	for (unsigned i = 0; i < c.n && i < 1000; i++) {
		struct cnp_frame f;
		make_frame(&f, i);
		if (memcmp(&f, &c.frames[i], sizeof(f)) != 0)
			mismatches++;
	}
	CHECK_EQ(mismatches, 0);
	free(c.frames);
	cnp_free(buf);
}

static void test_size_cap(void)
{
	/* A small cap: the writer refuses frames once the payload is full, and
	 * never holds more than the cap. */
	size_t len;
	uint8_t digest[32];
	unsigned added;
	uint8_t *buf = build(100000, 8192, 0, &len, digest, &added);
	CHECK(added > 50 && added < 1000);
	struct cnp_batch b;
	char why[200];
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(b.frames, added);
	CHECK(!b.has_prev);
	CHECK(b.sections[0].raw_len <= 8192);
	cnp_free(buf);
}

static void test_empty_batch_reports_drops(void)
{
	size_t len;
	uint8_t digest[32];
	unsigned added;
	uint8_t *buf = build(0, 4096, 2, &len, digest, &added);
	struct cnp_batch b;
	char why[200];
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(b.frames, 0);
	CHECK_EQ(b.dropped[CNP_DROP_MALFORMED], 3);
	cnp_free(buf);
}

static void reseal(uint8_t *buf, size_t len)
{
	cnp_sha256(buf, len - 32, buf + len - 32);
}

static int open_status(const uint8_t *buf, size_t len, char *why, size_t why_len)
{
	struct cnp_batch b;
	int rc = cnp_batch_open(buf, len, &b, why, why_len);
	if (rc == CNP_OK)
		rc = cnp_batch_frames(&b, collect_cb, &(struct collect){0}, why, why_len);
	return rc;
}

static void test_damage(void)
{
	size_t len;
	uint8_t digest[32];
	unsigned added;
	uint8_t *buf = build(300, 1u << 16, 1, &len, digest, &added);
	uint8_t *copy = malloc(len);
	char why[200];

	/* Every single flipped bit is caught (sampled across the file). */
	unsigned caught = 0, tried = 0;
	for (size_t pos = 0; pos < len; pos += 1 + len / 400) {
		memcpy(copy, buf, len);
		copy[pos] ^= 0x10;
		tried++;
		if (open_status(copy, len, why, sizeof(why)) != CNP_OK)
			caught++;
	}
	CHECK_EQ(caught, tried);

	/* Every truncation is caught. */
	caught = tried = 0;
	for (size_t cut = 0; cut < len; cut += 1 + len / 300) {
		tried++;
		if (open_status(buf, cut, why, sizeof(why)) != CNP_OK)
			caught++;
	}
	CHECK_EQ(caught, tried);

	memcpy(copy, buf, len);
	copy[0] = 'X';
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "magic");

	memcpy(copy, buf, len);
	copy[len / 2] ^= 1;
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "digest");

	/* A known digest skips the hash only when the batch ends with it: the
	 * sealed batch opens with its own digest recorded; a truncated one, or
	 * one with another trailer, is hashed and refused as before. */
	{
		struct cnp_batch kb;
		CHECK_EQ(cnp_batch_open_known(buf, len, digest, &kb, why, sizeof(why)), CNP_OK);
		CHECK(memcmp(kb.sha256, digest, 32) == 0);
		CHECK_EQ(cnp_batch_open_known(buf, len - 1, digest, &kb, why, sizeof(why)),
		         CNP_ERR_CORRUPT);
		memcpy(copy, buf, len);
		copy[len - 1] ^= 1;
		CHECK_EQ(cnp_batch_open_known(copy, len, digest, &kb, why, sizeof(why)),
		         CNP_ERR_CORRUPT);
		CHECK_CONTAINS(why, "digest");
		copy[len - 1] ^= 1;
		copy[len / 2] ^= 1;
		CHECK_EQ(cnp_batch_open_known(copy, len, NULL, &kb, why, sizeof(why)),
		         CNP_ERR_CORRUPT);
	}

	/* An unknown major version is refused as unsupported, not corrupt. */
	memcpy(copy, buf, len);
	copy[4] = 9;
	reseal(copy, len);
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_UNSUPPORTED);
	CHECK_CONTAINS(why, "version 9");

	/* A newer minor version of the same major is read. */
	memcpy(copy, buf, len);
	copy[5] = 7;
	reseal(copy, len);
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_OK);

	/* Locate the section header: after header and manifest. */
	uint32_t mlen = (uint32_t)buf[8] | (uint32_t)buf[9] << 8 | (uint32_t)buf[10] << 16 |
	                (uint32_t)buf[11] << 24;
	size_t sec = CNP_BATCH_HEADER_LEN + mlen;

	/* An unknown critical codec is refused; a non-critical one skipped
	 * (and then the frame count no longer matches the manifest). */
	memcpy(copy, buf, len);
	copy[sec + 1] = 200;
	reseal(copy, len);
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_UNSUPPORTED);
	CHECK_CONTAINS(why, "does not know");
	copy[sec + 2] = 0;
	reseal(copy, len);
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "manifest says");

	/* A payload whose declared size lies, with a valid digest. */
	memcpy(copy, buf, len);
	copy[sec + 8] ^= 0x01;
	reseal(copy, len);
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "section 0");

	/* Garbage manifest with a valid digest. */
	memcpy(copy, buf, len);
	copy[CNP_BATCH_HEADER_LEN] = '[';
	reseal(copy, len);
	CHECK_EQ(open_status(copy, len, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "manifest");

	free(copy);
	cnp_free(buf);
}

static void test_alloc_failures(void)
{
	/* Fail each allocation of a build-and-read in turn: a clean error,
	 * never a crash (leaks are for the sanitizer build to find). */
	unsigned failures_seen = 0;
	for (long n = 0; n < 200; n++) {
		cnp_alloc_fail_after(n);
		struct cnp_batch_writer *w = NULL;
		int rc = cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, 16384, 6);
		uint8_t *out = NULL;
		size_t len = 0;
		uint8_t digest[32];
		if (rc == CNP_OK) {
			struct cnp_frame f;
			for (unsigned i = 0; i < 50; i++) {
				make_frame(&f, i);
				cnp_batch_writer_add(w, &f);
			}
			struct cnp_batch_info info = {.vehicle = "v", .spool_id = "0000000000000000",
			                              .ifaces = &ifaces};
			rc = cnp_batch_writer_finish(w, &info, &out, &len, digest);
		}
		if (rc == CNP_OK) {
			struct cnp_batch b;
			char why[200];
			rc = cnp_batch_open(out, len, &b, why, sizeof(why));
			if (rc == CNP_OK)
				rc = cnp_batch_frames(&b, collect_cb, &(struct collect){0}, why,
				                      sizeof(why));
		}
		cnp_alloc_fail_after(-1);
		cnp_free(out);
		cnp_batch_writer_destroy(w);
		if (rc == CNP_OK)
			break; /* n allocations were enough: every earlier one failed cleanly */
		CHECK(rc == CNP_ERR_NOMEM || rc == CNP_ERR_CORRUPT);
		failures_seen++;
	}
	CHECK(failures_seen > 3);
}

int main(void)
{
	cnp_json_init();
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	cnp_ifaces_intern(&ifaces, "can0", 4, &idx);
	cnp_ifaces_intern(&ifaces, "can1", 4, &idx);
	test_round_trip();
	test_size_cap();
	test_empty_batch_reports_drops();
	test_damage();
	test_alloc_failures();
	return check_finish();
}
