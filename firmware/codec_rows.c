/*
 * Codec 1, "rows-zlib": every frame as one row of varints and bytes, the
 * whole then deflated. Simple and robust; a columnar codec can replace it
 * as the default without touching the container.
 */
#include "firmware/codec.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/varint.h"
#include "platform/zlib.h"

#include <string.h>

/* Worst case of one row: 10 (ts) + 3 + 5 (id) + 2 + 64 data. */
#define ROW_MAX 84

struct cnp_frame_encoder {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint32_t count;
	uint64_t prev_ts;
	int level;
};

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static struct cnp_frame_encoder *rows_create(size_t max_bytes, int level)
{
	if (max_bytes < ROW_MAX)
		max_bytes = ROW_MAX;
	struct cnp_frame_encoder *e = cnp_calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->buf = cnp_malloc(max_bytes);
	if (!e->buf) {
		cnp_free(e);
		return NULL;
	}
	e->cap = max_bytes;
	e->level = level;
	return e;
}

static void rows_destroy(struct cnp_frame_encoder *e)
{
	if (!e)
		return;
	cnp_free(e->buf);
	cnp_free(e);
}

static int rows_add(struct cnp_frame_encoder *e, const struct cnp_frame *f)
{
	if (e->cap - e->len < ROW_MAX)
		return CNP_ERR_FULL; /* cap >= ROW_MAX, so never when empty */
	uint8_t *p = e->buf + e->len;
	int64_t delta = (int64_t)(f->ts_us - e->prev_ts);
	uint64_t zz = ((uint64_t)delta << 1) ^ (uint64_t)(delta >> 63);
	size_t n = put_varint(p, zz);
	p[n++] = f->iface;
	p[n++] = (uint8_t)((f->flags & 0x0F) | (f->fd_flags << 4));
	p[n++] = f->style;
	n += put_varint(p + n, f->id);
	p[n++] = f->len;
	p[n++] = f->dlc;
	memcpy(p + n, f->data, f->len);
	n += f->len;
	e->len += n;
	e->prev_ts = f->ts_us;
	e->count++;
	return CNP_OK;
}

static uint32_t rows_count(const struct cnp_frame_encoder *e)
{
	return e->count;
}

static size_t rows_raw_size(const struct cnp_frame_encoder *e)
{
	return e->len;
}

static int rows_finish(struct cnp_frame_encoder *e, uint8_t **out,
                       size_t *out_len, size_t *raw_len)
{
	size_t cap = cnp_zlib_bound(e->len);
	uint8_t *buf = cnp_malloc(cap);
	if (!buf)
		return CNP_ERR_NOMEM;
	int rc = cnp_zlib_compress(e->buf, e->len, e->level, buf, cap, out_len);
	if (rc != CNP_OK) {
		cnp_free(buf);
		return rc;
	}
	*out = buf;
	*raw_len = e->len;
	e->len = 0;
	e->count = 0;
	e->prev_ts = 0;
	return CNP_OK;
}

static int rows_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                       uint32_t count,
                       int (*cb)(const struct cnp_frame *f, void *arg),
                       void *arg, const char **why)
{
	if (raw_len > CNP_CODEC_MAX_RAW) {
		*why = "decoded payload size above the reader's limit";
		return CNP_ERR_CORRUPT;
	}
	uint8_t *raw = cnp_malloc(raw_len);
	if (!raw)
		return CNP_ERR_NOMEM;
	size_t got = 0;
	int rc = cnp_zlib_decompress(stored, stored_len, raw, raw_len, &got);
	if (rc == CNP_ERR_NOMEM)
		goto out;
	if (rc != CNP_OK || got != raw_len) {
		*why = "payload does not inflate to its declared size";
		rc = CNP_ERR_CORRUPT;
		goto out;
	}
	const uint8_t *p = raw, *end = raw + raw_len;
	uint64_t ts = 0;
	struct cnp_frame f;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t zz, id;
		memset(&f, 0, sizeof(f));
		if (cnp_varint_get(&p, end, &zz) != CNP_OK || end - p < 3)
			goto truncated;
		f.iface = p[0];
		f.flags = p[1] & 0x0F;
		f.fd_flags = (uint8_t)(p[1] >> 4);
		f.style = p[2];
		p += 3;
		if (cnp_varint_get(&p, end, &id) != CNP_OK || end - p < 2)
			goto truncated;
		ts += (uint64_t)((int64_t)(zz >> 1) ^ -(int64_t)(zz & 1));
		f.ts_us = ts;
		f.len = p[0];
		f.dlc = p[1];
		p += 2;
		if (id > 0x1FFFFFFFu || f.len > CNP_FRAME_MAX_DATA ||
		    (size_t)(end - p) < f.len) {
			*why = "payload row out of range";
			rc = CNP_ERR_CORRUPT;
			goto out;
		}
		f.id = (uint32_t)id;
		memcpy(f.data, p, f.len);
		p += f.len;
		rc = cb(&f, arg);
		if (rc != 0)
			goto out;
	}
	if (p != end) {
		*why = "payload has bytes after its last row";
		rc = CNP_ERR_CORRUPT;
	}
	goto out;
truncated:
	*why = "payload row truncated";
	rc = CNP_ERR_CORRUPT;
out:
	cnp_free(raw);
	return rc;
}

const struct cnp_frame_codec cnp_codec_rows_zlib = {
	.id = CNP_CODEC_ROWS_ZLIB,
	.name = "rows-zlib",
	.create = rows_create,
	.destroy = rows_destroy,
	.add = rows_add,
	.count = rows_count,
	.raw_size = rows_raw_size,
	.finish = rows_finish,
	.decode = rows_decode,
};

static const struct cnp_frame_codec *const codecs[] = {
	&cnp_codec_rows_zlib,
	&cnp_codec_cols_zlib,
	&cnp_codec_cols_ck_zlib,
};

const struct cnp_frame_codec *cnp_codec_by_id(uint8_t id)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (codecs[i]->id == id)
			return codecs[i];
	return NULL;
}

const struct cnp_frame_codec *cnp_codec_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (strcmp(codecs[i]->name, name) == 0)
			return codecs[i];
	return NULL;
}
