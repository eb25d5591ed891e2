/*
 * Codecs 3 (signal samples) and 4 (events); see sigcodec.h and
 * docs/FORMAT.md. Samples are kept per stream while a batch is open: one
 * column of timestamps (delta of delta) and one of values (delta of the raw
 * integer, or XOR of a float's bits), so that a periodic signal that does
 * not move costs about a byte or two a sample before zlib and much less
 * after it.
 */
#include "firmware/sigcodec.h"

#include "firmware/alloc.h"
#include "firmware/dbc.h"
#include "firmware/error.h"
#include "firmware/varint.h"
#include "platform/zlib.h"

#include <stdlib.h>
#include <string.h>

/* Largest decoded section a reader accepts (as for raw frames). */
#define SIG_MAX_RAW (64u * 1024u * 1024u)

double cnp_sig_value(const struct cnp_sig_desc *d, uint64_t raw)
{
	/* The same roundings as the decoder, so a reader gets the agent's
	 * value bit for bit. */
	unsigned vt = d->type == CNP_SIG_FLOAT32   ? CNP_DBC_FLOAT32
	              : d->type == CNP_SIG_FLOAT64 ? CNP_DBC_FLOAT64
	                                           : CNP_DBC_INTEGER;
	return cnp_dbc_scale_raw(vt, d->type == CNP_SIG_SINT, raw, d->scale, d->offset);
}

struct stream {
	const struct cnp_sig_desc *key;
	struct cnp_sig_desc d;
	char *strings; /* message, signal, name, unit, each NUL-terminated */
	uint32_t count;
	uint64_t last_ts, last_raw;
	int64_t last_delta;
	struct cnp_buf ts, val;
};

struct cnp_sig_encoder {
	struct stream *s;
	unsigned n, cap;
	uint32_t *slots; /* open addressing: stream index + 1, 0 = empty */
	unsigned nslots; /* power of two */
	size_t bytes, max;
	uint32_t count;
	int level;
	int overfill; /* see cnp_sig_encoder_overfill() */
};

/* Bytes of a stream's table entry besides its strings. */
#define ENTRY_FIXED 2 + CNP_VARINT_MAX + 16 + 4

struct cnp_sig_encoder *cnp_sig_encoder_create(size_t max_bytes, int zlib_level)
{
	struct cnp_sig_encoder *e = cnp_calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->max = max_bytes;
	e->level = zlib_level;
	return e;
}

static void reset(struct cnp_sig_encoder *e)
{
	for (unsigned i = 0; i < e->n; i++) {
		cnp_free(e->s[i].strings);
		cnp_buf_free(&e->s[i].ts);
		cnp_buf_free(&e->s[i].val);
	}
	e->n = 0;
	if (e->slots)
		memset(e->slots, 0, e->nslots * sizeof(*e->slots));
	e->bytes = 0;
	e->count = 0;
}

void cnp_sig_encoder_destroy(struct cnp_sig_encoder *e)
{
	if (!e)
		return;
	reset(e);
	cnp_free(e->s);
	cnp_free(e->slots);
	cnp_free(e);
}

void cnp_sig_encoder_overfill(struct cnp_sig_encoder *e, int on)
{
	e->overfill = on;
}

int cnp_sig_encoder_full(const struct cnp_sig_encoder *e)
{
	return e->count && e->bytes + 2 * CNP_VARINT_MAX > e->max;
}

uint32_t cnp_sig_encoder_count(const struct cnp_sig_encoder *e)
{
	return e->count;
}

static unsigned slot_of(const void *key, unsigned nslots)
{
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9E3779B97F4A7C15ull;
	return (unsigned)(h >> 32) & (nslots - 1);
}

static int grow_slots(struct cnp_sig_encoder *e)
{
	unsigned n = e->nslots ? e->nslots * 2 : 64;
	uint32_t *slots = cnp_calloc(n, sizeof(*slots));
	if (!slots)
		return CNP_ERR_NOMEM;
	for (unsigned i = 0; i < e->n; i++) {
		unsigned k = slot_of(e->s[i].key, n);
		while (slots[k])
			k = (k + 1) & (n - 1);
		slots[k] = i + 1;
	}
	cnp_free(e->slots);
	e->slots = slots;
	e->nslots = n;
	return CNP_OK;
}

static size_t clamp_len(const char *s)
{
	size_t n = strlen(s);
	return n > CNP_SIG_NAME_MAX ? CNP_SIG_NAME_MAX : n;
}

static int new_stream(struct cnp_sig_encoder *e, const struct cnp_sig_desc *d, unsigned slot,
                      struct stream **out)
{
	if (e->n == e->cap) {
		unsigned cap = e->cap ? e->cap * 2 : 32;
		struct stream *s = cnp_realloc(e->s, cap * sizeof(*s));
		if (!s)
			return CNP_ERR_NOMEM;
		e->s = s;
		e->cap = cap;
	}
	const char *src[4] = {d->message, d->signal, d->name, d->unit};
	size_t lens[4], total = 0;
	for (int i = 0; i < 4; i++)
		total += (lens[i] = clamp_len(src[i])) + 1;
	struct stream *s = &e->s[e->n];
	memset(s, 0, sizeof(*s));
	s->strings = cnp_malloc(total);
	if (!s->strings)
		return CNP_ERR_NOMEM;
	s->key = d;
	s->d = *d;
	const char **dst[4] = {&s->d.message, &s->d.signal, &s->d.name, &s->d.unit};
	char *p = s->strings;
	for (int i = 0; i < 4; i++) {
		memcpy(p, src[i], lens[i]);
		p[lens[i]] = 0;
		*dst[i] = p;
		p += lens[i] + 1;
	}
	e->slots[slot] = ++e->n;
	e->bytes += ENTRY_FIXED + total;
	*out = s;
	return CNP_OK;
}

int cnp_sig_encoder_add(struct cnp_sig_encoder *e, const struct cnp_sig_desc *d,
                        uint64_t ts_us, uint64_t raw)
{
	if (!e->overfill && cnp_sig_encoder_full(e))
		return CNP_ERR_FULL;
	if (2 * (e->n + 1) > e->nslots && grow_slots(e) != CNP_OK)
		return CNP_ERR_NOMEM;
	unsigned k = slot_of(d, e->nslots);
	struct stream *s = NULL;
	while (e->slots[k]) {
		if (e->s[e->slots[k] - 1].key == d) {
			s = &e->s[e->slots[k] - 1];
			break;
		}
		k = (k + 1) & (e->nslots - 1);
	}
	if (!s) {
		if (e->count && !e->overfill &&
		    e->bytes + ENTRY_FIXED + 4 * CNP_SIG_NAME_MAX > e->max)
			return CNP_ERR_FULL;
		int rc = new_stream(e, d, k, &s);
		if (rc != CNP_OK)
			return rc;
	}
	size_t ts_before = s->ts.len, val_before = s->val.len;
	int rc;
	if (s->count == 0) {
		rc = cnp_buf_varint(&s->ts, ts_us);
		s->last_delta = 0;
	} else {
		int64_t delta = (int64_t)(ts_us - s->last_ts);
		rc = cnp_buf_varint(&s->ts, cnp_zigzag(delta - s->last_delta));
		s->last_delta = delta;
	}
	if (rc == CNP_OK) {
		if (s->d.type == CNP_SIG_FLOAT32 || s->d.type == CNP_SIG_FLOAT64)
			rc = cnp_buf_varint(&s->val, raw ^ s->last_raw);
		else
			rc = cnp_buf_varint(&s->val, cnp_zigzag((int64_t)(raw - s->last_raw)));
	}
	if (rc != CNP_OK) {
		/* Keep the stream consistent: drop what this sample wrote. */
		s->ts.len = ts_before;
		s->val.len = val_before;
		return rc;
	}
	s->last_ts = ts_us;
	s->last_raw = raw;
	s->count++;
	e->count++;
	e->bytes += s->ts.len - ts_before + s->val.len - val_before;
	return CNP_OK;
}

static void put_f64(struct cnp_buf *b, double v)
{
	uint64_t u;
	uint8_t p[8];
	memcpy(&u, &v, sizeof(u));
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(u >> (8 * i));
	cnp_buf_put(b, p, 8);
}

static int compress_out(const struct cnp_buf *b, int level, uint8_t **out, size_t *out_len,
                        size_t *raw_len)
{
	size_t cap = cnp_zlib_bound(b->len);
	uint8_t *z = cnp_malloc(cap ? cap : 1);
	if (!z)
		return CNP_ERR_NOMEM;
	int rc = cnp_zlib_compress(b->p, b->len, level, z, cap, out_len);
	if (rc != CNP_OK) {
		cnp_free(z);
		return rc;
	}
	*out = z;
	*raw_len = b->len;
	return CNP_OK;
}

int cnp_sig_encoder_finish(struct cnp_sig_encoder *e, uint8_t **out, size_t *out_len,
                           size_t *raw_len)
{
	struct cnp_buf b = {0};
	int rc = cnp_buf_reserve(&b, e->bytes + 2 * CNP_VARINT_MAX);
	if (rc != CNP_OK)
		return rc;
	cnp_buf_varint(&b, e->count);
	cnp_buf_varint(&b, e->n);
	for (unsigned i = 0; i < e->n && rc == CNP_OK; i++) {
		const struct stream *s = &e->s[i];
		uint8_t hdr[2] = {s->d.iface, s->d.type};
		cnp_buf_put(&b, hdr, 2);
		cnp_buf_varint(&b, s->count);
		put_f64(&b, s->d.scale);
		put_f64(&b, s->d.offset);
		const char *str[4] = {s->d.message, s->d.signal, s->d.name, s->d.unit};
		for (int k = 0; k < 4; k++) {
			size_t n = strlen(str[k]);
			cnp_buf_varint(&b, n);
			rc = cnp_buf_put(&b, str[k], n);
		}
	}
	for (unsigned i = 0; i < e->n && rc == CNP_OK; i++)
		rc = cnp_buf_put(&b, e->s[i].ts.p, e->s[i].ts.len);
	for (unsigned i = 0; i < e->n && rc == CNP_OK; i++)
		rc = cnp_buf_put(&b, e->s[i].val.p, e->s[i].val.len);
	if (rc == CNP_OK)
		rc = compress_out(&b, e->level, out, out_len, raw_len);
	cnp_buf_free(&b);
	if (rc == CNP_OK)
		reset(e);
	return rc;
}

/* ---- decoding ------------------------------------------------------------ */

static int inflate_exact(const uint8_t *stored, size_t stored_len, size_t raw_len,
                         uint8_t **out, const char **why)
{
	if (raw_len > SIG_MAX_RAW) {
		*why = "decoded payload size above the reader's limit";
		return CNP_ERR_CORRUPT;
	}
	uint8_t *buf = cnp_malloc(raw_len ? raw_len : 1);
	if (!buf)
		return CNP_ERR_NOMEM;
	size_t got = 0;
	if (cnp_zlib_decompress(stored, stored_len, buf, raw_len, &got) != CNP_OK ||
	    got != raw_len) {
		cnp_free(buf);
		*why = "zlib stream does not inflate to the decoded length";
		return CNP_ERR_CORRUPT;
	}
	*out = buf;
	return CNP_OK;
}

struct dsample {
	uint64_t ts, raw;
	uint32_t stream, seq;
};

static int cmp_dsample(const void *pa, const void *pb)
{
	const struct dsample *a = pa, *b = pb;
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->stream != b->stream)
		return a->stream < b->stream ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static double get_f64(const uint8_t *p)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)p[i] << (8 * i);
	double v;
	memcpy(&v, &u, sizeof(v));
	return v;
}

#define BAD(msg)                                                                       \
	do {                                                                           \
		*why = msg;                                                            \
		rc = CNP_ERR_CORRUPT;                                                  \
		goto out;                                                              \
	} while (0)

int cnp_sig_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                   uint32_t count,
                   int (*cb)(const struct cnp_sig_sample *s, void *arg), void *arg,
                   const char **why)
{
	uint8_t *buf = NULL;
	char *names = NULL;
	struct cnp_sig_desc *descs = NULL;
	uint32_t *counts = NULL;
	struct dsample *smp = NULL;
	int rc = inflate_exact(stored, stored_len, raw_len, &buf, why);
	if (rc != CNP_OK)
		return rc;
	const uint8_t *p = buf, *end = buf + raw_len;
	uint64_t n, ns;
	if (cnp_varint_get(&p, end, &n) || cnp_varint_get(&p, end, &ns))
		BAD("signals header truncated");
	/* Every sample costs at least two bytes, every stream at least 22. */
	if (n != count || ns > n || n > raw_len / 2)
		BAD("signals header: sample or stream count does not match the section");
	/* Both fit size_t: n <= raw_len / 2 and raw_len <= SIG_MAX_RAW. */
	size_t nn = (size_t)n, nns = (size_t)ns;
	descs = cnp_calloc(nns ? nns : 1, sizeof(*descs));
	counts = cnp_calloc(nns ? nns : 1, sizeof(*counts));
	names = cnp_malloc(raw_len + 4 * nns + 1);
	smp = cnp_malloc((nn ? nn : 1) * sizeof(*smp));
	if (!descs || !counts || !names || !smp) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	char *np = names;
	uint64_t total = 0;
	for (uint64_t i = 0; i < ns; i++) {
		uint64_t c;
		if (end - p < 2)
			BAD("signals stream table truncated");
		descs[i].iface = p[0];
		descs[i].type = p[1];
		p += 2;
		if (descs[i].type > CNP_SIG_FLOAT64)
			BAD("signals stream of an unknown value type");
		if (cnp_varint_get(&p, end, &c) || c == 0 || c > n - total || end - p < 16)
			BAD("signals stream table: bad sample count");
		counts[i] = (uint32_t)c;
		total += c;
		descs[i].scale = get_f64(p);
		descs[i].offset = get_f64(p + 8);
		p += 16;
		const char **dst[4] = {&descs[i].message, &descs[i].signal, &descs[i].name,
		                       &descs[i].unit};
		for (int k = 0; k < 4; k++) {
			uint64_t len;
			if (cnp_varint_get(&p, end, &len) || len > (uint64_t)(end - p) ||
			    len > CNP_SIG_NAME_MAX)
				BAD("signals stream table: bad name length");
			memcpy(np, p, (size_t)len);
			np[len] = 0;
			if (memchr(np, 0, (size_t)len))
				BAD("signals stream table: NUL byte in a name");
			*dst[k] = np;
			np += len + 1;
			p += len;
		}
	}
	if (total != n)
		BAD("signals stream counts do not add up to the sample count");
	uint32_t k = 0;
	for (uint64_t i = 0; i < ns; i++) {
		uint64_t ts = 0;
		int64_t delta = 0;
		for (uint32_t j = 0; j < counts[i]; j++, k++) {
			uint64_t z;
			if (cnp_varint_get(&p, end, &z))
				BAD("signals timestamps truncated");
			if (j == 0) {
				ts = z;
			} else {
				delta = (int64_t)((uint64_t)delta + (uint64_t)cnp_unzigzag(z));
				ts += (uint64_t)delta;
			}
			smp[k].ts = ts;
			smp[k].stream = (uint32_t)i;
			smp[k].seq = j;
		}
	}
	k = 0;
	for (uint64_t i = 0; i < ns; i++) {
		uint64_t raw = 0;
		int is_float = descs[i].type >= CNP_SIG_FLOAT32;
		for (uint32_t j = 0; j < counts[i]; j++, k++) {
			uint64_t z;
			if (cnp_varint_get(&p, end, &z))
				BAD("signals values truncated");
			raw = is_float ? raw ^ z : raw + (uint64_t)cnp_unzigzag(z);
			smp[k].raw = raw;
		}
	}
	if (p != end)
		BAD("signals section has bytes after the last value");
	qsort(smp, nn, sizeof(*smp), cmp_dsample);
	for (uint64_t i = 0; i < n; i++) {
		const struct cnp_sig_desc *d = &descs[smp[i].stream];
		struct cnp_sig_sample s = {.ts_us = smp[i].ts, .raw = smp[i].raw,
		                           .value = cnp_sig_value(d, smp[i].raw), .desc = d};
		rc = cb(&s, arg);
		if (rc != CNP_OK)
			goto out;
	}
	rc = CNP_OK;
out:
	cnp_free(smp);
	cnp_free(names);
	cnp_free(counts);
	cnp_free(descs);
	cnp_free(buf);
	return rc;
}

/* ---- events ---------------------------------------------------------------- */

struct cnp_event_encoder {
	struct cnp_buf text;
	uint32_t count;
	int level;
};

struct cnp_event_encoder *cnp_event_encoder_create(int zlib_level)
{
	struct cnp_event_encoder *e = cnp_calloc(1, sizeof(*e));
	if (e)
		e->level = zlib_level;
	return e;
}

void cnp_event_encoder_destroy(struct cnp_event_encoder *e)
{
	if (!e)
		return;
	cnp_buf_free(&e->text);
	cnp_free(e);
}

int cnp_event_encoder_add(struct cnp_event_encoder *e, const char *json)
{
	size_t n = strlen(json);
	if (cnp_buf_reserve(&e->text, n + 1) != CNP_OK)
		return CNP_ERR_NOMEM;
	cnp_buf_put(&e->text, json, n);
	cnp_buf_put(&e->text, "\n", 1);
	e->count++;
	return CNP_OK;
}

uint32_t cnp_event_encoder_count(const struct cnp_event_encoder *e)
{
	return e->count;
}

int cnp_event_encoder_finish(struct cnp_event_encoder *e, uint8_t **out, size_t *out_len,
                             size_t *raw_len)
{
	int rc = compress_out(&e->text, e->level, out, out_len, raw_len);
	if (rc == CNP_OK) {
		e->text.len = 0;
		e->count = 0;
	}
	return rc;
}

int cnp_event_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                     uint32_t count, int (*cb)(const char *json, void *arg), void *arg,
                     const char **why)
{
	uint8_t *buf = NULL;
	int rc = inflate_exact(stored, stored_len, raw_len, &buf, why);
	if (rc != CNP_OK)
		return rc;
	uint32_t lines = 0;
	for (size_t i = 0; i < raw_len; i++)
		if (buf[i] == '\n')
			lines++;
	if (lines != count || (raw_len && buf[raw_len - 1] != '\n') || memchr(buf, 0, raw_len))
		BAD("events section is not one line per event");
	char *line = (char *)buf;
	for (uint32_t i = 0; i < count; i++) {
		char *nl = strchr(line, '\n');
		*nl = 0;
		if (line[0] != '{')
			BAD("an event is not a JSON object");
		rc = cb(line, arg);
		if (rc != CNP_OK)
			goto out;
		line = nl + 1;
	}
	rc = CNP_OK;
out:
	cnp_free(buf);
	return rc;
}
