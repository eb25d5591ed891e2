/*
 * Codec 2, "cols-zlib": raw frames rearranged into columns that zlib codes
 * well, then deflated as one stream. docs/FORMAT.md specifies the bytes.
 *
 * Why this layout: CAN traffic is a few hundred periodic messages whose
 * payloads change slowly or revisit a few states, interleaved by the bus.
 * So frames are grouped into streams (interface, id, kind); the
 * interleaving is kept as a column of stream numbers; timestamps become
 * deltas in the batch's time unit, mapped to byte symbols (the most
 * frequent deltas get their own symbol; the rest a logarithmic bucket plus
 * raw extra bits), so that deflate's Huffman stage sees a small alphabet;
 * and each stream's payloads are coded against its recent payloads (a
 * move-to-front list of 8: a repeat costs one symbol), new payloads as
 * byte-wise differences to the previous one, stored column by column so
 * that unchanged bytes become runs of zeros.
 *
 * Codec 5 ("cols-ck-zlib") is codec 2 plus one thing: many ECUs end each
 * payload with a checksum of the other bytes (Honda a nibble sum, Toyota a
 * byte sum), which differs in nearly every frame and costs 4 to 8 bits of
 * entropy each time. When every frame of a stream in the batch carries such
 * a checksum (with a per-stream constant), the stream table says so, the
 * checksum bits are coded as zero and the decoder computes them again.
 * Likewise a rolling counter (a bit field that steps by one from frame to
 * frame, as most ECUs send) is coded as its difference from the expected
 * step, zero as a rule, so that payloads that differ only in counter and
 * checksum become repeats.
 *
 * Memory: frames are held in one buffer of max_bytes, records growing from
 * the front and payload bytes from the back; the stream table is bounded.
 */
#include "firmware/codec.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/varint.h"
#include "platform/zlib.h"

#include <stdlib.h>
#include <string.h>

#define MAX_STREAMS 1024
#define STREAM_HASH 2048 /* power of two, > MAX_STREAMS */
#define MTF_LEN 8
#define SYM_LITERAL 255
#define DICT_MAX 90       /* most frequent deltas with a symbol of their own */
#define DICT_MIN_COUNT 3  /* rarer deltas are cheaper as buckets */
#define TS_HASH 4096      /* distinct deltas counted per batch */
#define BUCKET_BITS_MAX 40
#define SYM_ESCAPE 254    /* after the buckets: a raw 64-bit delta follows */

/* Attributes that are stored once per stream when constant. */
#define ATTR_LEN 1u
#define ATTR_DLC 2u
#define ATTR_FDF 4u
#define ATTR_STYLE 8u

/* Checksum kinds in the last data byte (codec 5), with a per-stream K. */
#define CK_NONE 0u
#define CK_NIBBLE 1u /* low nibble = K - (sum of all other nibbles), mod 16 */
#define CK_BYTE 2u   /* byte = K + (sum of all other bytes), mod 256 */
#define CK_MIN_FRAMES 3u
#define CK_COUNTER 4u /* flag in the checksum byte: a counter field follows */
#define CTR_SAMPLE 16u /* frames a counter must step through to be chosen */
#define LOAD_SLACK 8u  /* bytes after the encoder's buffer: whole-word loads */

/* 16 bytes a frame besides its payload: the payload offset is implied
 * (payloads are stored back to front in frame order). */
struct rec {
	uint64_t ts;
	uint16_t stream;
	uint8_t len, dlc, fd_flags, style;
};

struct stream {
	uint64_t key;    /* iface << 40 | flags << 32 | id */
	uint32_t count;
	uint8_t maxlen;
	uint8_t varying; /* ATTR_* that differ between frames */
	uint8_t len, dlc, fd_flags, style; /* of the first frame */
	uint8_t ck, ck_k; /* codec 5: checksum kind and constant (set by finish) */
	uint8_t ctr_w, ctr_lo, ctr_j; /* codec 5: counter bits [lo, lo+w) of byte j,
	                                 w = 0 none (set by finish) */
};

struct cnp_frame_encoder {
	uint8_t *buf;
	size_t cap;
	size_t nrec;       /* records at the front */
	size_t data_used;  /* payload bytes at the back */
	struct stream streams[MAX_STREAMS];
	unsigned nstreams;
	uint16_t hash[STREAM_HASH]; /* stream index + 1, 0 = empty */
	int level;
	int checksums; /* codec 5: the stream table carries checksum kinds */
};

/* ---- byte output --------------------------------------------------------- */

struct out {
	uint8_t *p;
	size_t len, cap;
};

static void put_u8(struct out *o, uint8_t v)
{
	o->p[o->len++] = v;
}

static void put_varint(struct out *o, uint64_t v)
{
	while (v >= 0x80) {
		o->p[o->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	o->p[o->len++] = (uint8_t)v;
}

/* ---- encoder ------------------------------------------------------------- */

static struct cnp_frame_encoder *cols_create(size_t max_bytes, int level, int checksums)
{
	if (max_bytes < 1024)
		max_bytes = 1024;
	struct cnp_frame_encoder *e = cnp_calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->buf = cnp_malloc(max_bytes + LOAD_SLACK);
	if (!e->buf) {
		cnp_free(e);
		return NULL;
	}
	e->cap = max_bytes;
	e->level = level;
	e->checksums = checksums;
	return e;
}

static struct cnp_frame_encoder *cols2_create(size_t max_bytes, int level)
{
	return cols_create(max_bytes, level, 0);
}

static struct cnp_frame_encoder *cols5_create(size_t max_bytes, int level)
{
	return cols_create(max_bytes, level, 1);
}

/* ---- checksums (codec 5) ------------------------------------------------- */

/* The first n (<= 8) bytes at p as a word, the others zero; reads 8
 * bytes (the encoder's buffer has LOAD_SLACK after its end). */
static inline uint64_t load_first(const uint8_t *p, unsigned n)
{
	uint64_t w;
	memcpy(&w, p, 8);
	if (n >= 8)
		return w;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return w & ~(~0ull >> (8 * n));
#else
	return w & ((1ull << (8 * n)) - 1);
#endif
}

/* Adds the sums of the nibbles and of the bytes of w. */
static inline void sums_word(uint64_t w, unsigned *sn, unsigned *sb)
{
	uint64_t nb = (w & 0x0F0F0F0F0F0F0F0Full) + ((w >> 4) & 0x0F0F0F0F0F0F0F0Full);
	*sn += (unsigned)((nb * 0x0101010101010101ull) >> 56); /* each byte <= 30 */
	uint64_t hw = (w & 0x00FF00FF00FF00FFull) + ((w >> 8) & 0x00FF00FF00FF00FFull);
	*sb += (unsigned)((hw * 0x0001000100010001ull) >> 48); /* lanes <= 510 */
}

/* Sum of the nibbles of p[0..n) and, separately, of the bytes. */
static void sums(const uint8_t *p, unsigned n, unsigned *nib, unsigned *byte)
{
	unsigned sn = 0, sb = 0, k = 0;
	for (; k + 8 <= n; k += 8) {
		uint64_t w;
		memcpy(&w, p + k, 8);
		sums_word(w, &sn, &sb);
	}
	for (; k < n; k++) {
		sn += (p[k] & 15u) + (p[k] >> 4);
		sb += p[k];
	}
	*nib = sn;
	*byte = sb;
}

/* The checksum of payload p[0..len) (len >= 1) for kind ck with constant k:
 * the whole last byte (CK_BYTE) or its low nibble (CK_NIBBLE). */
static uint8_t checksum_of(const uint8_t *p, unsigned len, unsigned ck, unsigned k)
{
	unsigned sn, sb;
	sums(p, len - 1, &sn, &sb);
	if (ck == CK_BYTE)
		return (uint8_t)(k + sb);
	return (uint8_t)((k - sn - (p[len - 1] >> 4)) & 15u);
}

/* Codes the checksum bits of a payload as zero (encoder) ... */
static void ck_strip(uint8_t *p, unsigned len, unsigned ck)
{
	p[len - 1] = ck == CK_BYTE ? 0 : (uint8_t)(p[len - 1] & 0xF0u);
}

/* ... and puts them back (decoder, and the encoder after coding). */
static void ck_fill(uint8_t *p, unsigned len, unsigned ck, unsigned k)
{
	uint8_t c = checksum_of(p, len, ck, k);
	p[len - 1] = ck == CK_BYTE ? c : (uint8_t)((p[len - 1] & 0xF0u) | c);
}

static void cols_destroy(struct cnp_frame_encoder *e)
{
	if (!e)
		return;
	cnp_free(e->buf);
	cnp_free(e);
}

static void reset(struct cnp_frame_encoder *e)
{
	e->nrec = 0;
	e->data_used = 0;
	e->nstreams = 0;
	memset(e->hash, 0, sizeof(e->hash));
}

static struct rec *recs(const struct cnp_frame_encoder *e)
{
	return (struct rec *)(void *)e->buf;
}

static uint32_t hash_key(uint64_t key)
{
	key *= 0x9E3779B97F4A7C15u;
	return (uint32_t)(key >> 40);
}

static int cols_add(struct cnp_frame_encoder *e, const struct cnp_frame *f)
{
	size_t need = (e->nrec + 1) * sizeof(struct rec) + e->data_used + f->len;
	if (need > e->cap)
		return e->nrec ? CNP_ERR_FULL : CNP_ERR_TOOBIG;
	uint64_t key = (uint64_t)f->iface << 40 | (uint64_t)(f->flags & 0x0F) << 32 | f->id;
	uint32_t h = hash_key(key) & (STREAM_HASH - 1);
	struct stream *s = NULL;
	unsigned idx = 0;
	for (;;) {
		uint16_t slot = e->hash[h];
		if (slot == 0) {
			if (e->nstreams >= MAX_STREAMS)
				return CNP_ERR_FULL;
			idx = e->nstreams++;
			e->hash[h] = (uint16_t)(idx + 1);
			s = &e->streams[idx];
			memset(s, 0, sizeof(*s));
			s->key = key;
			s->len = f->len;
			s->dlc = f->dlc;
			s->fd_flags = f->fd_flags;
			s->style = f->style;
			break;
		}
		if (e->streams[slot - 1].key == key) {
			idx = slot - 1u;
			s = &e->streams[idx];
			break;
		}
		h = (h + 1) & (STREAM_HASH - 1);
	}
	s->count++;
	if (f->len > s->maxlen)
		s->maxlen = f->len;
	if (f->len != s->len)
		s->varying |= ATTR_LEN;
	if (f->dlc != s->dlc)
		s->varying |= ATTR_DLC;
	if (f->fd_flags != s->fd_flags)
		s->varying |= ATTR_FDF;
	if (f->style != s->style)
		s->varying |= ATTR_STYLE;
	e->data_used += f->len;
	size_t off = e->cap - e->data_used;
	memcpy(e->buf + off, f->data, f->len);
	struct rec *r = &recs(e)[e->nrec++];
	r->ts = f->ts_us;
	r->stream = (uint16_t)idx;
	r->len = f->len;
	r->dlc = f->dlc;
	r->fd_flags = f->fd_flags;
	r->style = f->style;
	return CNP_OK;
}

static uint32_t cols_count(const struct cnp_frame_encoder *e)
{
	return (uint32_t)e->nrec;
}

static size_t cols_raw_size(const struct cnp_frame_encoder *e)
{
	return e->nrec * sizeof(struct rec) + e->data_used;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

struct tsent {
	uint64_t value; /* zigzag delta + 1; 0 = empty slot */
	uint32_t count;
	int16_t code;   /* dictionary symbol, -1 if none */
};

/* Insertion sort of stream indexes by key: the table is small (<= 1024)
 * and mostly sorted already (ids appear in bus order). */
static void sort_streams(const struct stream *st, unsigned *idx, unsigned n)
{
	for (unsigned i = 1; i < n; i++) {
		unsigned v = idx[i], j = i;
		while (j > 0 && st[idx[j - 1]].key > st[v].key) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
}

static int cmp_tsent_desc(const void *a, const void *b)
{
	const struct tsent *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

static int cmp_tsent_value(const void *a, const void *b)
{
	const struct tsent *x = a, *y = b;
	return x->value < y->value ? -1 : x->value > y->value;
}

static struct tsent *ts_find(struct tsent *t, uint64_t v, int insert)
{
	uint32_t h = hash_key(v) & (TS_HASH - 1);
	for (unsigned probes = 0; probes < TS_HASH; probes++) {
		if (t[h].value == v + 1)
			return &t[h];
		if (t[h].value == 0) {
			if (!insert)
				return NULL;
			t[h].value = v + 1;
			t[h].code = -1;
			return &t[h];
		}
		h = (h + 1) & (TS_HASH - 1);
	}
	return NULL;
}

/* Symbol of a delta that has no dictionary entry: 16 direct values, then
 * four buckets per power of two (two bits below the top bit are in the
 * symbol), the rest of the bits raw. */
static unsigned bucket_symbol(uint64_t v, unsigned k, unsigned *extra_bits)
{
	if (v < 16) {
		*extra_bits = 0;
		return k + (unsigned)v;
	}
	unsigned b = 64 - (unsigned)__builtin_clzll(v);
	if (b > BUCKET_BITS_MAX) {
		*extra_bits = 64;
		return SYM_ESCAPE;
	}
	*extra_bits = b - 3;
	return k + 16 + (b - 5) * 4 + (unsigned)((v >> (b - 3)) & 3);
}

struct bits {
	uint8_t *p;
	size_t len;    /* whole bytes written */
	uint64_t acc;
	unsigned nacc;
};

static void bits_put(struct bits *w, uint64_t v, unsigned n)
{
	/* At most 64 bits; split so the accumulator never overflows. */
	if (n > 32) {
		bits_put(w, v & 0xFFFFFFFFu, 32);
		v >>= 32;
		n -= 32;
	}
	w->acc |= (v & ((n == 64) ? ~0ull : ((1ull << n) - 1))) << w->nacc;
	w->nacc += n;
	while (w->nacc >= 8) {
		w->p[w->len++] = (uint8_t)w->acc;
		w->acc >>= 8;
		w->nacc -= 8;
	}
}

static void bits_flush(struct bits *w)
{
	if (w->nacc > 0)
		w->p[w->len++] = (uint8_t)w->acc;
	w->acc = 0;
	w->nacc = 0;
}

/* Codec 5: does every frame of the stream (ord[0..cnt), frame indexes) end
 * with a checksum of one kind and one constant? Sets st->ck and st->ck_k. */
static void detect_checksum(struct stream *st, const struct rec *r, const uint8_t *buf,
                            const uint32_t *off, const uint32_t *ord, uint32_t cnt)
{
	st->ck = CK_NONE;
	st->ck_k = 0;
	if (cnt < CK_MIN_FRAMES || st->maxlen == 0)
		return;
	int nib_ok = 1, byte_ok = 1;
	unsigned kn = 0, kb = 0;
	for (uint32_t k = 0; k < cnt && (nib_ok || byte_ok); k++) {
		unsigned len = r[ord[k]].len;
		if (len == 0)
			return;
		const uint8_t *p = buf + off[ord[k]];
		unsigned sn = 0, sb = 0, last = p[len - 1];
		if (len <= 8)
			sums_word(load_first(p, len - 1), &sn, &sb);
		else
			sums(p, len - 1, &sn, &sb);
		unsigned n_k = ((last & 15u) + sn + (last >> 4)) & 15u;
		unsigned b_k = (last - sb) & 255u;
		if (k == 0) {
			kn = n_k;
			kb = b_k;
		} else {
			nib_ok &= n_k == kn;
			byte_ok &= b_k == kb;
		}
	}
	if (byte_ok) {
		st->ck = CK_BYTE;
		st->ck_k = (uint8_t)kb;
	} else if (nib_ok) {
		st->ck = CK_NIBBLE;
		st->ck_k = (uint8_t)kn;
	}
}

/* Codec 5: a counter field in a stream of constant length (checksums
 * already stripped): the first field, widest first, that steps by one mod
 * 2^w through the stream's first CTR_SAMPLE frames. (A tolerant choice, 3/4
 * of frame pairs sampled over the stream, codes more counters but gives
 * more bytes on the Honda trace: its repeats already hit the move-to-front
 * list.) Sets st->ctr_*. */
static void detect_counter(struct stream *st, const uint8_t *buf, const uint32_t *off,
                           const uint32_t *ord, uint32_t cnt)
{
	static const uint8_t cand[][2] = {{8, 0}, {4, 0}, {4, 4}, {2, 0}, {2, 2}, {2, 4}, {2, 6}};
	st->ctr_w = 0;
	if (cnt < 4 || (st->varying & ATTR_LEN) || st->len == 0)
		return;
	uint32_t m = cnt < CTR_SAMPLE ? cnt : CTR_SAMPLE;
	for (unsigned j = 0; j < st->len; j++) {
		for (unsigned c = 0; c < sizeof(cand) / sizeof(cand[0]); c++) {
			unsigned w = cand[c][0], lo = cand[c][1], mask = (1u << w) - 1;
			unsigned prev = (buf[off[ord[0]] + j] >> lo) & mask;
			uint32_t k = 1;
			for (; k < m; k++) {
				unsigned v = (buf[off[ord[k]] + j] >> lo) & mask;
				if (((v - prev) & mask) != 1)
					break;
				prev = v;
			}
			if (k == m) {
				st->ctr_w = (uint8_t)w;
				st->ctr_lo = (uint8_t)lo;
				st->ctr_j = (uint8_t)j;
				return;
			}
		}
	}
}

/* Counter field of p: read, and write (other bits kept). */
static unsigned ctr_get(const uint8_t *p, unsigned j, unsigned lo, unsigned w)
{
	return (p[j] >> lo) & ((1u << w) - 1);
}

static void ctr_put(uint8_t *p, unsigned j, unsigned lo, unsigned w, unsigned v)
{
	unsigned mask = ((1u << w) - 1) << lo;
	p[j] = (uint8_t)((p[j] & ~mask) | ((v << lo) & mask));
}

/* Codec 5: codes (fill = 0) or restores (fill = 1) the checksums and
 * counters of every stream that has them, in place in the encoder's
 * buffer. Coding strips checksums first, then replaces each counter after
 * the stream's first frame by (value - previous value - 1) mod 2^w;
 * restoring undoes both in the opposite order, as the decoder does. */
static void checksums_apply(struct cnp_frame_encoder *e, const unsigned *sorted,
                            const uint32_t *start, const uint32_t *order, const uint32_t *off,
                            int fill)
{
	const struct rec *r = recs(e);
	for (unsigned s = 0; s < e->nstreams; s++) {
		struct stream *st = &e->streams[sorted[s]];
		uint32_t k0 = start[s], k1 = start[s + 1];
		if (!fill) {
			if (st->ck != CK_NONE)
				for (uint32_t k = k0; k < k1; k++)
					ck_strip(e->buf + off[order[k]], r[order[k]].len, st->ck);
			detect_counter(st, e->buf, off, order + k0, k1 - k0);
		}
		unsigned w = st->ctr_w, lo = st->ctr_lo, j = st->ctr_j, mask = (1u << w) - 1;
		if (w && !fill) {
			unsigned prev = ctr_get(e->buf + off[order[k0]], j, lo, w);
			for (uint32_t k = k0 + 1; k < k1; k++) {
				uint8_t *p = e->buf + off[order[k]];
				unsigned v = ctr_get(p, j, lo, w);
				ctr_put(p, j, lo, w, (v - prev - 1) & mask);
				prev = v;
			}
		}
		if (w && fill) {
			unsigned prev = ctr_get(e->buf + off[order[k0]], j, lo, w);
			for (uint32_t k = k0 + 1; k < k1; k++) {
				uint8_t *p = e->buf + off[order[k]];
				prev = (ctr_get(p, j, lo, w) + prev + 1) & mask;
				ctr_put(p, j, lo, w, prev);
			}
		}
		if (fill && st->ck != CK_NONE)
			for (uint32_t k = k0; k < k1; k++)
				ck_fill(e->buf + off[order[k]], r[order[k]].len, st->ck, st->ck_k);
	}
}

static int cols_finish(struct cnp_frame_encoder *e, uint8_t **out, size_t *out_len,
                       size_t *raw_len)
{
	const size_t n = e->nrec;
	const struct rec *r = recs(e);
	int rc = CNP_ERR_NOMEM;
	uint32_t *order = NULL, *start = NULL, *off = NULL;
	uint16_t *rank = NULL; /* stream -> position in the sorted table */
	unsigned *sorted = NULL;
	struct tsent *tt = NULL, *cand = NULL;
	uint8_t *zbuf = NULL;
	struct out o = {0};

	/* Upper bound of the decoded size: header, stream table, and per
	 * frame: stream number (2), symbol (1), extra bits (8), attributes
	 * (4), payload symbol (1), plus payload bytes (padded to maxlen). */
	size_t payload_bound = 0;
	for (unsigned s = 0; s < e->nstreams; s++)
		payload_bound += (size_t)e->streams[s].count * e->streams[s].maxlen;
	o.cap = 64 + (size_t)e->nstreams * 26 + DICT_MAX * 10 + n * 17 + payload_bound;
	o.p = cnp_malloc(o.cap);
	order = cnp_malloc((n ? n : 1) * sizeof(*order));
	start = cnp_calloc(e->nstreams + 1, sizeof(*start));
	tt = cnp_calloc(TS_HASH, sizeof(*tt));
	cand = cnp_malloc(TS_HASH * sizeof(*cand));
	off = cnp_malloc((n ? n : 1) * sizeof(*off));
	rank = cnp_malloc((e->nstreams ? e->nstreams : 1) * sizeof(*rank));
	sorted = cnp_malloc((e->nstreams ? e->nstreams : 1) * sizeof(*sorted));
	if (!o.p || !order || !start || !tt || !cand || !off || !rank || !sorted)
		goto out;
	{
		size_t end = e->cap;
		for (size_t i = 0; i < n; i++) {
			end -= r[i].len;
			off[i] = (uint32_t)end;
		}
	}
	/* The stream table is sorted by key so that keys delta-code small. */
	for (unsigned s = 0; s < e->nstreams; s++)
		sorted[s] = s;
	sort_streams(e->streams, sorted, e->nstreams);
	for (unsigned s = 0; s < e->nstreams; s++)
		rank[sorted[s]] = (uint16_t)s;

	/* Frames of each stream, in order: counting sort by stream. */
	for (size_t i = 0; i < n; i++)
		start[rank[r[i].stream] + 1]++;
	for (unsigned s = 0; s < e->nstreams; s++)
		start[s + 1] += start[s];
	{
		uint32_t *fill = cnp_malloc((e->nstreams + 1) * sizeof(*fill));
		if (!fill)
			goto out;
		memcpy(fill, start, (e->nstreams + 1) * sizeof(*fill));
		for (size_t i = 0; i < n; i++)
			order[fill[rank[r[i].stream]]++] = (uint32_t)i;
		cnp_free(fill);
	}
	/* Codec 5: checksums and counters are found and coded in place here
	 * (no failure until compression; see there). */
	if (e->checksums) {
		for (unsigned s = 0; s < e->nstreams; s++)
			detect_checksum(&e->streams[sorted[s]], r, e->buf, off, order + start[s],
			                start[s + 1] - start[s]);
		checksums_apply(e, sorted, start, order, off, 0);
	}

	/* Time unit: the largest unit dividing every delta (50 us loggers). */
	uint64_t unit = 0;
	for (size_t i = 1; i < n && unit != 1; i++) {
		uint64_t d = r[i].ts > r[i - 1].ts ? r[i].ts - r[i - 1].ts : r[i - 1].ts - r[i].ts;
		unit = gcd64(unit, d);
	}
	if (unit == 0)
		unit = 1;

	/* Count the deltas, pick the dictionary. */
	for (size_t i = 1; i < n; i++) {
		uint64_t z = cnp_zigzag((int64_t)(r[i].ts - r[i - 1].ts) / (int64_t)unit);
		struct tsent *t = ts_find(tt, z, 1);
		if (t)
			t->count++;
	}
	struct tsent dict[DICT_MAX];
	unsigned ndict = 0;
	{
		/* Copy the candidates out of the table, sort them. */
		size_t m = 0;
		for (size_t i = 0; i < TS_HASH; i++)
			if (tt[i].value && tt[i].count >= DICT_MIN_COUNT)
				cand[m++] = tt[i];
		qsort(cand, m, sizeof(*cand), cmp_tsent_desc);
		ndict = m < DICT_MAX ? (unsigned)m : DICT_MAX;
		memcpy(dict, cand, ndict * sizeof(*dict));
		/* Codec 5 lists the dictionary by value, as differences: smaller
		 * than by frequency, and symbol numbers mean nothing to deflate. */
		if (e->checksums)
			qsort(dict, ndict, sizeof(*dict), cmp_tsent_value);
		for (unsigned k = 0; k < ndict; k++) /* in the table: it was counted */
			ts_find(tt, dict[k].value - 1, 0)->code = (int16_t)k;
	}

	/* Header. */
	put_varint(&o, n);
	put_varint(&o, e->nstreams);
	put_varint(&o, unit);
	put_varint(&o, n ? r[0].ts : 0);
	put_varint(&o, ndict);
	for (unsigned k = 0; k < ndict; k++)
		put_varint(&o, dict[k].value - (e->checksums && k ? dict[k - 1].value : 1));

	/* Stream table, sorted by key: key delta, count, longest payload,
	 * which attributes vary, which constant ones are nonzero, those. */
	uint64_t prev_key = 0;
	for (unsigned k = 0; k < e->nstreams; k++) {
		const struct stream *st = &e->streams[sorted[k]];
		put_varint(&o, st->key - prev_key);
		prev_key = st->key;
		put_varint(&o, st->count);
		put_u8(&o, st->maxlen);
		uint8_t nz = 0;
		if (!(st->varying & ATTR_LEN) && st->len != st->maxlen)
			nz |= ATTR_LEN;
		if (!(st->varying & ATTR_DLC) && st->dlc)
			nz |= ATTR_DLC;
		if (!(st->varying & ATTR_FDF) && st->fd_flags)
			nz |= ATTR_FDF;
		if (!(st->varying & ATTR_STYLE) && st->style)
			nz |= ATTR_STYLE;
		put_u8(&o, (uint8_t)(st->varying | nz << 4));
		if (nz & ATTR_LEN)
			put_u8(&o, st->len);
		if (nz & ATTR_DLC)
			put_u8(&o, st->dlc);
		if (nz & ATTR_FDF)
			put_u8(&o, st->fd_flags);
		if (nz & ATTR_STYLE)
			put_u8(&o, st->style);
		if (e->checksums) {
			put_u8(&o, (uint8_t)(st->ck | (st->ctr_w ? CK_COUNTER : 0) |
			                     (st->ck == CK_NIBBLE ? st->ck_k << 4 : 0)));
			if (st->ck == CK_BYTE)
				put_u8(&o, st->ck_k);
			if (st->ctr_w) {
				put_u8(&o, (uint8_t)(st->ctr_w | st->ctr_lo << 4));
				put_u8(&o, st->ctr_j);
			}
		}
	}

	/* Deflate blocks end where the parts' statistics change: header and
	 * stream table, order, timestamp symbols, extra bits, then attributes
	 * and payloads (3 to 6 % fewer bytes than one run of blocks). */
	size_t ends[4];
	ends[0] = o.len;

	/* Order: the stream of each frame. */
	int wide = e->nstreams > 256;
	for (size_t i = 0; i < n; i++) {
		unsigned sr = rank[r[i].stream];
		put_u8(&o, (uint8_t)sr);
		if (wide)
			put_u8(&o, (uint8_t)(sr >> 8));
	}

	/* Timestamps: a symbol per frame after the first, then extra bits. */
	size_t sym_at = o.len;
	ends[1] = o.len;
	o.len += n ? n - 1 : 0;
	ends[2] = o.len;
	struct bits bw = {.p = o.p + o.len};
	for (size_t i = 1; i < n; i++) {
		uint64_t z = cnp_zigzag((int64_t)(r[i].ts - r[i - 1].ts) / (int64_t)unit);
		const struct tsent *t = ts_find(tt, z, 0);
		unsigned sym, extra = 0;
		if (t && t->code >= 0) {
			sym = (unsigned)t->code;
		} else {
			sym = bucket_symbol(z, ndict, &extra);
			if (extra)
				bits_put(&bw, z, extra);
		}
		o.p[sym_at + i - 1] = (uint8_t)sym;
	}
	bits_flush(&bw);
	o.len += bw.len;
	ends[3] = o.len;


	/* Varying attributes, stream by stream (in table order). */
	for (unsigned s = 0; s < e->nstreams; s++) {
		uint8_t v = e->streams[sorted[s]].varying;
		if (!v)
			continue;
		for (uint32_t k = start[s]; k < start[s + 1]; k++) {
			const struct rec *x = &r[order[k]];
			if (v & ATTR_LEN)
				put_u8(&o, x->len);
			if (v & ATTR_DLC)
				put_u8(&o, x->dlc);
			if (v & ATTR_FDF)
				put_u8(&o, x->fd_flags);
			if (v & ATTR_STYLE)
				put_u8(&o, x->style);
		}
	}

	/* Payloads: per stream, a move-to-front symbol per frame, then the new
	 * payloads as differences to the previous payload, column-major; with
	 * their checksum bits zero while coded (codec 5). */
	for (unsigned s = 0; s < e->nstreams; s++) {
		unsigned L = e->streams[sorted[s]].maxlen;
		if (L == 0)
			continue;
		uint32_t mtf[MTF_LEN];
		unsigned nmtf = 0;
		size_t sym0 = o.len;
		uint32_t nlit = 0;
		for (uint32_t k = start[s]; k < start[s + 1]; k++) {
			uint32_t fi = order[k];
			const struct rec *x = &r[fi];
			unsigned hit = nmtf;
			if (x->len <= 8) {
				/* Classic frames: compare as one word, no call. */
				uint64_t a = load_first(e->buf + off[fi], x->len);
				for (unsigned m = 0; m < nmtf; m++) {
					if (r[mtf[m]].len != x->len)
						continue;
					uint64_t b = load_first(e->buf + off[mtf[m]], x->len);
					if (a == b) {
						hit = m;
						break;
					}
				}
			} else {
				for (unsigned m = 0; m < nmtf; m++) {
					const struct rec *y = &r[mtf[m]];
					if (y->len == x->len &&
					    memcmp(e->buf + off[mtf[m]], e->buf + off[fi], x->len) == 0) {
						hit = m;
						break;
					}
				}
			}
			if (hit < nmtf) {
				put_u8(&o, (uint8_t)hit);
				memmove(&mtf[1], &mtf[0], hit * sizeof(mtf[0]));
			} else {
				put_u8(&o, SYM_LITERAL);
				nlit++;
				if (nmtf < MTF_LEN)
					nmtf++;
				memmove(&mtf[1], &mtf[0], (nmtf - 1) * sizeof(mtf[0]));
			}
			mtf[0] = fi;
		}
		/* Literal columns: byte j of each new payload minus byte j of the
		 * frame before it in the stream (zero-padded to maxlen). */
		size_t col0 = o.len;
		o.len += (size_t)nlit * L;
		uint32_t li = 0;
		const struct rec *prev = NULL;
		uint32_t prev_off = 0;
		if (L <= 8) {
			/* Classic payloads: a word at a time, bytes subtracted in
			 * parallel (no borrow across bytes). */
			const uint64_t H = 0x8080808080808080ull;
			uint64_t ref = 0;
			for (uint32_t k = start[s]; k < start[s + 1]; k++) {
				const struct rec *x = &r[order[k]];
				uint64_t cur = load_first(e->buf + off[order[k]], x->len);
				if (o.p[sym0 + (k - start[s])] == SYM_LITERAL) {
					uint64_t d = ((cur | H) - (ref & ~H)) ^ ((cur ^ ~ref) & H);
					uint8_t b[8];
					memcpy(b, &d, 8);
					uint8_t *col = o.p + col0 + li++;
					for (unsigned j = 0; j < L; j++)
						col[(size_t)j * nlit] = b[j];
				}
				ref = cur;
			}
			continue;
		}
		for (uint32_t k = start[s]; k < start[s + 1]; k++) {
			const struct rec *x = &r[order[k]];
			uint32_t x_off = off[order[k]];
			if (o.p[sym0 + (k - start[s])] == SYM_LITERAL) {
				for (unsigned j = 0; j < L; j++) {
					uint8_t cur = j < x->len ? e->buf[x_off + j] : 0;
					uint8_t ref = prev && j < prev->len ? e->buf[prev_off + j] : 0;
					o.p[col0 + (size_t)j * nlit + li] = (uint8_t)(cur - ref);
				}
				li++;
			}
			prev = x;
			prev_off = x_off;
		}
	}

	/* The encoder's frames are dropped on success, so the coded checksums
	 * and counters are restored only if compression fails: the frames stay
	 * as they came for the next attempt. */
	size_t zcap = cnp_zlib_bound(o.len) + 8 * 4;
	zbuf = cnp_malloc(zcap);
	rc = zbuf ? cnp_zlib_compress_blocks(o.p, o.len, ends, 4, e->level, zbuf, zcap, out_len)
	          : CNP_ERR_NOMEM;
	if (rc != CNP_OK) {
		if (e->checksums)
			checksums_apply(e, sorted, start, order, off, 1);
		goto out;
	}
	*out = zbuf;
	zbuf = NULL;
	*raw_len = o.len;
	reset(e);
out:
	cnp_free(zbuf);
	cnp_free(o.p);
	cnp_free(order);
	cnp_free(start);
	cnp_free(tt);
	cnp_free(cand);
	cnp_free(off);
	cnp_free(rank);
	cnp_free(sorted);
	return rc;
}

/* ---- decoder ------------------------------------------------------------- */

struct in {
	const uint8_t *p, *end;
};

static int get_u8(struct in *in, uint8_t *v)
{
	if (in->p >= in->end)
		return CNP_ERR_CORRUPT;
	*v = *in->p++;
	return CNP_OK;
}

static int get_varint(struct in *in, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (in->p >= in->end)
			return CNP_ERR_CORRUPT;
		uint8_t b = *in->p++;
		x |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return CNP_OK;
		}
	}
	return CNP_ERR_CORRUPT;
}

static const uint8_t *take(struct in *in, size_t n)
{
	if ((size_t)(in->end - in->p) < n)
		return NULL;
	const uint8_t *p = in->p;
	in->p += n;
	return p;
}

struct bitreader {
	const uint8_t *p, *end;
	uint64_t acc;
	unsigned nacc;
};

static int bits_get(struct bitreader *b, unsigned n, uint64_t *v)
{
	if (n > 32) {
		uint64_t lo, hi;
		if (bits_get(b, 32, &lo) || bits_get(b, n - 32, &hi))
			return CNP_ERR_CORRUPT;
		*v = lo | hi << 32;
		return CNP_OK;
	}
	while (b->nacc < n) {
		if (b->p >= b->end)
			return CNP_ERR_CORRUPT;
		b->acc |= (uint64_t)*b->p++ << b->nacc;
		b->nacc += 8;
	}
	*v = n ? b->acc & ((1ull << n) - 1) : 0;
	b->acc = n < 64 ? b->acc >> n : 0;
	b->nacc -= n;
	return CNP_OK;
}

struct dstream {
	uint32_t iface_flags_id[3];
	uint32_t count, seen;
	uint8_t maxlen, varying, len, dlc, fd_flags, style;
	uint8_t ck, ck_k;     /* codec 5: checksum kind and constant */
	uint8_t ctr_w, ctr_lo, ctr_j; /* codec 5: counter field, w = 0 none */
	unsigned ctr_prev;    /* the counter's value in the previous frame */
	const uint8_t *attrs; /* varying attributes, in frame order */
	const uint8_t *syms;  /* payload symbols */
	const uint8_t *lits;  /* literal columns */
	uint32_t nlit, lit_seen;
	uint8_t *mtf;         /* MTF_LEN x (1 length byte + maxlen) */
	unsigned nmtf;
	uint8_t *prev;        /* 1 length byte + maxlen, zero padded */
};

static int cols_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                       uint32_t count, int (*cb)(const struct cnp_frame *f, void *arg),
                       void *arg, const char **why, int checksums)
{
	if (raw_len > CNP_CODEC_MAX_RAW) {
		*why = "decoded payload size above the reader's limit";
		return CNP_ERR_CORRUPT;
	}
	int rc = CNP_ERR_NOMEM;
	uint8_t *raw = cnp_malloc(raw_len ? raw_len : 1);
	struct dstream *ds = NULL;
	uint8_t *arena = NULL;
	uint64_t dict[DICT_MAX];
	if (!raw)
		return rc;
	size_t got = 0;
	rc = cnp_zlib_decompress(stored, stored_len, raw, raw_len, &got);
	if (rc == CNP_ERR_NOMEM)
		goto out;
	if (rc != CNP_OK || got != raw_len) {
		*why = "payload does not inflate to its declared size";
		rc = CNP_ERR_CORRUPT;
		goto out;
	}
	rc = CNP_ERR_CORRUPT;
	struct in in = {.p = raw, .end = raw + raw_len};
	uint64_t n, nstreams, unit, first_ts, ndict;
	*why = "payload header malformed";
	if (get_varint(&in, &n) || get_varint(&in, &nstreams) || get_varint(&in, &unit) ||
	    get_varint(&in, &first_ts) || get_varint(&in, &ndict))
		goto out;
	if (n != count || nstreams > 65536 || (n > 0 && nstreams == 0) || unit == 0 ||
	    ndict > DICT_MAX)
		goto out;
	for (unsigned k = 0; k < ndict; k++) {
		if (get_varint(&in, &dict[k]))
			goto out;
		if (checksums && k > 0) { /* codec 5: ascending, as differences */
			if (dict[k] == 0 || dict[k] > UINT64_MAX - dict[k - 1])
				goto out;
			dict[k] += dict[k - 1];
		}
	}

	ds = cnp_calloc(nstreams ? (size_t)nstreams : 1, sizeof(*ds));
	if (!ds) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	*why = "stream table malformed";
	uint64_t total = 0, key = 0;
	size_t arena_len = 0;
	for (uint64_t s = 0; s < nstreams; s++) {
		struct dstream *d = &ds[s];
		uint64_t delta, cnt;
		uint8_t mask;
		if (get_varint(&in, &delta) || get_varint(&in, &cnt) || get_u8(&in, &d->maxlen) ||
		    get_u8(&in, &mask))
			goto out;
		if ((s > 0 && delta == 0) || delta > (1ull << 48) || cnt == 0 || cnt > n ||
		    d->maxlen > CNP_FRAME_MAX_DATA)
			goto out;
		key += delta;
		if (key >= (1ull << 48) || ((key >> 32) & 0xF0) || (key & 0xFFFFFFFFu) > 0x1FFFFFFFu)
			goto out;
		d->varying = mask & 0x0F;
		uint8_t nz = (uint8_t)(mask >> 4);
		if (nz & d->varying)
			goto out;
		d->iface_flags_id[0] = (uint32_t)(key >> 40);
		d->iface_flags_id[1] = (uint32_t)((key >> 32) & 0x0F);
		d->iface_flags_id[2] = (uint32_t)(key & 0xFFFFFFFFu);
		d->count = (uint32_t)cnt;
		total += cnt;
		d->len = d->maxlen;
		if (((nz & ATTR_LEN) && get_u8(&in, &d->len)) ||
		    ((nz & ATTR_DLC) && get_u8(&in, &d->dlc)) ||
		    ((nz & ATTR_FDF) && get_u8(&in, &d->fd_flags)) ||
		    ((nz & ATTR_STYLE) && get_u8(&in, &d->style)))
			goto out;
		if (checksums) {
			uint8_t c;
			if (get_u8(&in, &c))
				goto out;
			d->ck = c & 3u;
			d->ck_k = (uint8_t)(c >> 4);
			if (d->ck > CK_BYTE || (c & 8u) || (d->ck != CK_NIBBLE && d->ck_k != 0) ||
			    (d->ck != CK_NONE && d->maxlen == 0))
				goto out;
			if (d->ck == CK_BYTE && get_u8(&in, &d->ck_k))
				goto out;
			if (c & CK_COUNTER) {
				uint8_t t;
				if (get_u8(&in, &t) || get_u8(&in, &d->ctr_j))
					goto out;
				d->ctr_w = t & 15u;
				d->ctr_lo = (t >> 4) & 15u;
				/* Only in streams of one length, inside the data. */
				if (d->ctr_w == 0 || d->ctr_lo + d->ctr_w > 8 || (d->varying & ATTR_LEN) ||
				    d->ctr_j >= d->len)
					goto out;
			}
		}
		arena_len += (MTF_LEN + 1) * (1u + d->maxlen);
	}
	if (total != n)
		goto out;

	*why = "payload columns truncated";
	int wide = nstreams > 256;
	const uint8_t *order = take(&in, (size_t)n * (wide ? 2u : 1u));
	const uint8_t *tsyms = take(&in, n ? (size_t)n - 1 : 0);
	if (!order || !tsyms)
		goto out;
	/* Extra bits: their count follows from the symbols. */
	uint64_t extra_bits = 0;
	for (uint64_t i = 0; i + 1 < n; i++) {
		unsigned sym = tsyms[i];
		if (sym == SYM_ESCAPE)
			extra_bits += 64;
		else if (sym >= ndict + 16 && sym < ndict + 16 + (BUCKET_BITS_MAX - 4) * 4)
			extra_bits += (sym - ndict - 16) / 4 + 2;
	}
	struct bitreader br = {.p = in.p};
	if (!take(&in, (size_t)((extra_bits + 7) / 8)))
		goto out;
	br.end = in.p;
	for (uint64_t s = 0; s < nstreams; s++) {
		struct dstream *d = &ds[s];
		unsigned per = (unsigned)__builtin_popcount(d->varying);
		if (per && !(d->attrs = take(&in, (size_t)d->count * per)))
			goto out;
	}
	for (uint64_t s = 0; s < nstreams; s++) {
		struct dstream *d = &ds[s];
		if (d->maxlen == 0)
			continue;
		if (!(d->syms = take(&in, d->count)))
			goto out;
		for (uint32_t k = 0; k < d->count; k++)
			d->nlit += d->syms[k] == SYM_LITERAL;
		if (!(d->lits = take(&in, (size_t)d->nlit * d->maxlen)))
			goto out;
	}
	if (in.p != in.end) {
		*why = "payload has bytes after its last column";
		goto out;
	}

	arena = cnp_calloc(arena_len ? arena_len : 1, 1);
	if (!arena) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	size_t at = 0;
	for (uint64_t s = 0; s < nstreams; s++) {
		ds[s].mtf = arena + at;
		at += MTF_LEN * (1u + ds[s].maxlen);
		ds[s].prev = arena + at;
		at += 1u + ds[s].maxlen;
	}

	uint64_t ts = first_ts;
	struct cnp_frame f;
	for (uint64_t i = 0; i < n; i++) {
		unsigned s = wide ? (unsigned)(order[2 * i] | order[2 * i + 1] << 8) : order[i];
		if (s >= nstreams) {
			*why = "frame names a stream that does not exist";
			goto out;
		}
		struct dstream *d = &ds[s];
		if (d->seen >= d->count) {
			*why = "a stream has more frames than its count";
			goto out;
		}
		if (i > 0) {
			unsigned sym = tsyms[i - 1];
			uint64_t z;
			if (sym < ndict) {
				z = dict[sym];
			} else if (sym < ndict + 16) {
				z = sym - ndict;
			} else if (sym == SYM_ESCAPE) {
				if (bits_get(&br, 64, &z))
					goto bad_bits;
			} else if (sym < ndict + 16 + (BUCKET_BITS_MAX - 4) * 4) {
				unsigned t = sym - (unsigned)ndict - 16, b = t / 4 + 5;
				uint64_t low;
				if (bits_get(&br, b - 3, &low))
					goto bad_bits;
				z = 1ull << (b - 1) | (uint64_t)(t % 4) << (b - 3) | low;
			} else {
				*why = "timestamp symbol out of range";
				goto out;
			}
			ts += (uint64_t)cnp_unzigzag(z) * unit;
		}
		memset(&f, 0, sizeof(f));
		f.ts_us = ts;
		f.iface = (uint8_t)d->iface_flags_id[0];
		f.flags = (uint8_t)d->iface_flags_id[1];
		f.id = d->iface_flags_id[2];
		f.len = d->len;
		f.dlc = d->dlc;
		f.fd_flags = d->fd_flags;
		f.style = d->style;
		if (d->varying) {
			const uint8_t *a = d->attrs + (size_t)d->seen * (unsigned)__builtin_popcount(d->varying);
			if (d->varying & ATTR_LEN)
				f.len = *a++;
			if (d->varying & ATTR_DLC)
				f.dlc = *a++;
			if (d->varying & ATTR_FDF)
				f.fd_flags = *a++;
			if (d->varying & ATTR_STYLE)
				f.style = *a++;
		}
		if (f.len > d->maxlen) {
			*why = "frame longer than its stream's longest";
			goto out;
		}
		if (d->maxlen) {
			unsigned L = d->maxlen, sym = d->syms[d->seen];
			uint8_t *slot;
			if (sym == SYM_LITERAL) {
				uint8_t cur[1 + CNP_FRAME_MAX_DATA];
				cur[0] = f.len;
				for (unsigned j = 0; j < L; j++)
					cur[1 + j] = (uint8_t)(d->lits[(size_t)j * d->nlit + d->lit_seen] +
					                       d->prev[1 + j]);
				d->lit_seen++;
				for (unsigned j = f.len; j < L; j++)
					if (cur[1 + j]) {
						*why = "payload bytes beyond the frame's length";
						goto out;
					}
				if (d->ck != CK_NONE) {
					if (f.len == 0) {
						*why = "frame without data in a stream with checksums";
						goto out;
					}
					uint8_t last = cur[f.len];
					if (d->ck == CK_BYTE ? last != 0 : (last & 15u) != 0) {
						*why = "checksum bits not coded as zero";
						goto out;
					}
				}
				if (d->nmtf < MTF_LEN)
					d->nmtf++;
				memmove(d->mtf + (1 + L), d->mtf, (size_t)(d->nmtf - 1) * (1 + L));
				memcpy(d->mtf, cur, 1 + L);
			} else {
				if (sym >= d->nmtf) {
					*why = "payload symbol names no recent payload";
					goto out;
				}
				uint8_t hit[1 + CNP_FRAME_MAX_DATA];
				memcpy(hit, d->mtf + (size_t)sym * (1 + L), 1 + L);
				if (hit[0] != f.len) {
					*why = "repeated payload has another length";
					goto out;
				}
				memmove(d->mtf + (1 + L), d->mtf, (size_t)sym * (1 + L));
				memcpy(d->mtf, hit, 1 + L);
			}
			slot = d->mtf;
			memcpy(d->prev, slot, 1 + L);
			memcpy(f.data, slot + 1, f.len);
			if (d->ctr_w) {
				unsigned v = ctr_get(f.data, d->ctr_j, d->ctr_lo, d->ctr_w);
				if (d->seen > 0)
					v = (v + d->ctr_prev + 1) & ((1u << d->ctr_w) - 1);
				ctr_put(f.data, d->ctr_j, d->ctr_lo, d->ctr_w, v);
				d->ctr_prev = v;
			}
			if (d->ck != CK_NONE)
				ck_fill(f.data, f.len, d->ck, d->ck_k);
		} else if (f.len) {
			*why = "frame longer than its stream's longest";
			goto out;
		}
		d->seen++;
		rc = cb(&f, arg);
		if (rc != 0)
			goto out;
		rc = CNP_ERR_CORRUPT;
	}
	rc = CNP_OK;
	goto out;
bad_bits:
	*why = "timestamp bits truncated";
out:
	cnp_free(arena);
	cnp_free(ds);
	cnp_free(raw);
	return rc;
}

static int cols2_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                        uint32_t count, int (*cb)(const struct cnp_frame *f, void *arg),
                        void *arg, const char **why)
{
	return cols_decode(stored, stored_len, raw_len, count, cb, arg, why, 0);
}

static int cols5_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                        uint32_t count, int (*cb)(const struct cnp_frame *f, void *arg),
                        void *arg, const char **why)
{
	return cols_decode(stored, stored_len, raw_len, count, cb, arg, why, 1);
}

const struct cnp_frame_codec cnp_codec_cols_zlib = {
	.id = CNP_CODEC_COLS_ZLIB,
	.name = "cols-zlib",
	.create = cols2_create,
	.destroy = cols_destroy,
	.add = cols_add,
	.count = cols_count,
	.raw_size = cols_raw_size,
	.finish = cols_finish,
	.decode = cols2_decode,
};

const struct cnp_frame_codec cnp_codec_cols_ck_zlib = {
	.id = CNP_CODEC_COLS_CK_ZLIB,
	.name = "cols-ck-zlib",
	.create = cols5_create,
	.destroy = cols_destroy,
	.add = cols_add,
	.count = cols_count,
	.raw_size = cols_raw_size,
	.finish = cols_finish,
	.decode = cols5_decode,
};
