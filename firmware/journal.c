#include "firmware/journal.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/fs.h"
#include "platform/log.h"

#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/*
 * Record: magic (4) | type (2) | source (2) | frames (4) | payload length
 * (4) | checksum (8) of the 16 bytes before it and the payload | payload.
 */
#define REC_MAGIC 0x4a504e43u /* "CNPJ" little-endian */
#define REC_HEADER_LEN 24
#define REC_HEADER 1 /* boot u32, version u32, seq u64, malformed_reported u64 */
#define REC_IFACES 2 /* count u32, then count names of CNP_IFNAMSIZ bytes */
#define REC_FRAMES 3 /* has_pos u32, pad u32, position, then the frames */
#define REC_SAMPLES 4 /* "frames" samples of struct cnp_journal_sample */
#define JOURNAL_VERSION 1
#define NO_SOURCE 0xffffu
#define POS_LEN (4 * 8)
/* A frame is stored as its fixed fields, then its `len` data bytes. */
#define FRAME_FIXED offsetof(struct cnp_frame, data)

struct cnp_journal {
	char *dir;
	char *path;
	uint64_t sync_us;
	struct cnp_fs_appender *file; /* NULL until the first restart */
	uint8_t *buf;
	size_t cap;
	unsigned ifaces_logged;
	int dirty;
	uint64_t last_sync_us;
	int failing;
	int has_pos[CNP_MAX_SOURCES];
	struct cnp_source_pos pos[CNP_MAX_SOURCES];
};

/*
 * Not cryptographic: it only has to catch a torn or garbled tail. A
 * multiply-xorshift over 8-byte words costs about one instruction a byte.
 */
static uint64_t checksum(const uint8_t *head, const uint8_t *p, size_t len)
{
	uint64_t h = 0x6a09e667f3bcc908u ^ len, w;
	for (int i = 0; i < 2; i++) {
		memcpy(&w, head + 8 * i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15u;
		h ^= h >> 29;
	}
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15u;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, p + i, len - i);
	h = (h ^ w) * 0x9e3779b97f4a7c15u;
	return h ^ (h >> 32);
}

static int reserve(struct cnp_journal *j, size_t need)
{
	if (need <= j->cap)
		return CNP_OK;
	size_t cap = j->cap ? j->cap : 16384;
	while (cap < need)
		cap *= 2;
	uint8_t *b = cnp_realloc(j->buf, cap);
	if (!b)
		return CNP_ERR_NOMEM;
	j->buf = b;
	j->cap = cap;
	return CNP_OK;
}

/* Appends a record with `plen` payload bytes at j->buf + *at (room reserved). */
static void put_record(struct cnp_journal *j, size_t *at, uint16_t type, uint16_t src,
                       uint32_t frames, size_t plen)
{
	uint8_t *h = j->buf + *at;
	uint32_t magic = REC_MAGIC, len32 = (uint32_t)plen;
	memcpy(h, &magic, 4);
	memcpy(h + 4, &type, 2);
	memcpy(h + 6, &src, 2);
	memcpy(h + 8, &frames, 4);
	memcpy(h + 12, &len32, 4);
	uint64_t c = checksum(h, h + REC_HEADER_LEN, plen);
	memcpy(h + 16, &c, 8);
	*at += REC_HEADER_LEN + plen;
}

static size_t frames_len(const struct cnp_frame *f, size_t n)
{
	size_t len = n * FRAME_FIXED;
	for (size_t i = 0; i < n; i++)
		len += f[i].len;
	return len;
}

static int add_ifaces(struct cnp_journal *j, size_t *at, const struct cnp_ifaces *t)
{
	size_t plen = 4 + (size_t)t->count * CNP_IFNAMSIZ;
	int rc = reserve(j, *at + REC_HEADER_LEN + plen);
	if (rc != CNP_OK)
		return rc;
	uint8_t *p = j->buf + *at + REC_HEADER_LEN;
	uint32_t count = t->count;
	memcpy(p, &count, 4);
	memcpy(p + 4, t->names, (size_t)t->count * CNP_IFNAMSIZ);
	put_record(j, at, REC_IFACES, NO_SOURCE, 0, plen);
	j->ifaces_logged = t->count;
	return CNP_OK;
}

static int add_frames(struct cnp_journal *j, size_t *at, unsigned src,
                      const struct cnp_frame *f, size_t n, const struct cnp_source_pos *pos)
{
	size_t plen = 8 + POS_LEN + frames_len(f, n);
	int rc = reserve(j, *at + REC_HEADER_LEN + plen);
	if (rc != CNP_OK)
		return rc;
	uint8_t *p = j->buf + *at + REC_HEADER_LEN;
	uint32_t has_pos = pos != NULL, pad = 0;
	memcpy(p, &has_pos, 4);
	memcpy(p + 4, &pad, 4);
	if (pos)
		memcpy(p + 8, pos, POS_LEN);
	else
		memset(p + 8, 0, POS_LEN);
	p += 8 + POS_LEN;
	for (size_t i = 0; i < n; i++) {
		memcpy(p, &f[i], FRAME_FIXED + f[i].len);
		p += FRAME_FIXED + f[i].len;
	}
	put_record(j, at, REC_FRAMES, (uint16_t)src, (uint32_t)n, plen);
	return CNP_OK;
}

static int add_samples(struct cnp_journal *j, size_t *at, const struct cnp_journal_sample *s,
                       size_t n)
{
	size_t plen = n * sizeof(*s);
	int rc = reserve(j, *at + REC_HEADER_LEN + plen);
	if (rc != CNP_OK)
		return rc;
	memcpy(j->buf + *at + REC_HEADER_LEN, s, plen);
	put_record(j, at, REC_SAMPLES, NO_SOURCE, (uint32_t)n, plen);
	return CNP_OK;
}

/* Reads a REC_SAMPLES payload, appending to rec->samples. */
static int take_samples(struct cnp_journal_recovered *rec, size_t *cap, const uint8_t *p,
                        size_t len, uint32_t n)
{
	if (len != (size_t)n * sizeof(struct cnp_journal_sample))
		return CNP_ERR_CORRUPT;
	if (rec->n_samples + n > *cap) {
		size_t c = *cap ? *cap : 256;
		while (c < rec->n_samples + n)
			c *= 2;
		struct cnp_journal_sample *s = cnp_realloc(rec->samples, c * sizeof(*s));
		if (!s)
			return CNP_ERR_NOMEM;
		rec->samples = s;
		*cap = c;
	}
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&rec->samples[rec->n_samples + i], p + i * sizeof(struct cnp_journal_sample),
		       sizeof(struct cnp_journal_sample));
		if (rec->samples[rec->n_samples + i].src >= CNP_MAX_SOURCES)
			return CNP_ERR_CORRUPT;
	}
	rec->n_samples += n;
	return CNP_OK;
}

/* Reads the frames of a REC_FRAMES payload, appending to rec->frames. */
static int take_frames(struct cnp_journal_recovered *rec, size_t *cap, const uint8_t *p,
                       size_t len, uint32_t n)
{
	if (rec->n_frames + n > *cap) {
		size_t c = *cap ? *cap : 1024;
		while (c < rec->n_frames + n)
			c *= 2;
		struct cnp_frame *f = cnp_realloc(rec->frames, c * sizeof(*f));
		if (!f)
			return CNP_ERR_NOMEM;
		rec->frames = f;
		*cap = c;
	}
	size_t off = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct cnp_frame *f = &rec->frames[rec->n_frames];
		if (len - off < FRAME_FIXED)
			return CNP_ERR_CORRUPT;
		memset(f, 0, sizeof(*f));
		memcpy(f, p + off, FRAME_FIXED);
		if (f->len > CNP_FRAME_MAX_DATA || len - off - FRAME_FIXED < f->len ||
		    f->iface >= rec->ifaces.count)
			return CNP_ERR_CORRUPT;
		memcpy(f->data, p + off + FRAME_FIXED, f->len);
		off += FRAME_FIXED + f->len;
		rec->n_frames++;
	}
	return off == len ? CNP_OK : CNP_ERR_CORRUPT;
}

/* Parses a journal's bytes; stops at the first record that fails. */
static int parse(struct cnp_journal *j, const uint8_t *d, size_t len,
                 struct cnp_journal_recovered *rec)
{
	size_t at = 0, cap = 0, scap = 0;
	while (len - at >= REC_HEADER_LEN) {
		const uint8_t *h = d + at;
		uint32_t magic, n, plen;
		uint16_t type, src;
		uint64_t c;
		memcpy(&magic, h, 4);
		memcpy(&type, h + 4, 2);
		memcpy(&src, h + 6, 2);
		memcpy(&n, h + 8, 4);
		memcpy(&plen, h + 12, 4);
		memcpy(&c, h + 16, 8);
		if (magic != REC_MAGIC || plen > len - at - REC_HEADER_LEN ||
		    checksum(h, h + REC_HEADER_LEN, plen) != c)
			break;
		const uint8_t *p = h + REC_HEADER_LEN;
		if (!rec->found && type != REC_HEADER)
			break;
		if (type == REC_HEADER) {
			uint32_t version;
			if (rec->found || plen != 24)
				break;
			memcpy(&rec->boot, p, 4);
			memcpy(&version, p + 4, 4);
			if (version != JOURNAL_VERSION)
				break;
			memcpy(&rec->seq, p + 8, 8);
			memcpy(&rec->malformed_reported, p + 16, 8);
			rec->found = 1;
		} else if (type == REC_IFACES) {
			uint32_t count;
			if (plen < 4)
				break;
			memcpy(&count, p, 4);
			if (count > CNP_IFACE_MAX || plen != 4 + count * CNP_IFNAMSIZ ||
			    count < rec->ifaces.count)
				break;
			rec->ifaces.count = count;
			memcpy(rec->ifaces.names, p + 4, (size_t)count * CNP_IFNAMSIZ);
			for (unsigned i = 0; i < count; i++)
				rec->ifaces.names[i][CNP_IFNAMSIZ - 1] = 0;
		} else if (type == REC_FRAMES) {
			uint32_t has_pos;
			if (plen < 8 + POS_LEN || (src != NO_SOURCE && src >= CNP_MAX_SOURCES))
				break;
			memcpy(&has_pos, p, 4);
			size_t before = rec->n_frames;
			int rc = take_frames(rec, &cap, p + 8 + POS_LEN, plen - 8 - POS_LEN, n);
			if (rc == CNP_ERR_NOMEM)
				return rc;
			if (rc != CNP_OK) {
				rec->n_frames = before;
				break;
			}
			if (src != NO_SOURCE) {
				rec->has_pos[src] = has_pos != 0;
				if (has_pos)
					memcpy(&rec->pos[src], p + 8, POS_LEN);
			}
		} else if (type == REC_SAMPLES) {
			int rc = take_samples(rec, &scap, p, plen, n);
			if (rc == CNP_ERR_NOMEM)
				return rc;
			if (rc != CNP_OK)
				break;
		} else {
			break;
		}
		at += REC_HEADER_LEN + plen;
	}
	rec->torn_bytes = len - at;
	memcpy(j->has_pos, rec->has_pos, sizeof(j->has_pos));
	memcpy(j->pos, rec->pos, sizeof(j->pos));
	return CNP_OK;
}

int cnp_journal_open(const char *dir, uint64_t sync_interval_us, struct cnp_journal **out,
                     struct cnp_journal_recovered *rec)
{
	memset(rec, 0, sizeof(*rec));
	struct cnp_journal *j = cnp_calloc(1, sizeof(*j));
	if (!j)
		return CNP_ERR_NOMEM;
	char path[PATH_MAX];
	int rc = CNP_ERR_NOMEM;
	uint8_t *data = NULL;
	size_t len = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, CNP_JOURNAL_FILE) >= (int)sizeof(path)) {
		rc = CNP_ERR_INVAL;
		goto fail;
	}
	j->sync_us = sync_interval_us;
	j->dir = cnp_strdup(dir);
	j->path = cnp_strdup(path);
	if (!j->dir || !j->path)
		goto fail;
	rc = cnp_fs_read_file(path, CNP_JOURNAL_MAX_BYTES, &data, &len);
	if (rc == CNP_ERR_NOTFOUND) {
		*out = j;
		return CNP_OK;
	}
	if (rc != CNP_OK) {
		if (rc != CNP_ERR_NOMEM)
			cnp_error("journal %s: cannot read it: %s", path,
			          rc == CNP_ERR_TOOBIG ? "larger than 512 MiB" : cnp_fs_last_error());
		goto fail;
	}
	rc = parse(j, data, len, rec);
	cnp_free(data);
	if (rc != CNP_OK)
		goto fail;
	if (rec->torn_bytes)
		cnp_warn("journal %s: cut a torn or corrupt tail of %" PRIu64 " bytes after %zu "
		         "frames and %zu samples (a write cut short by a crash or power cut)",
		         path, rec->torn_bytes, rec->n_frames, rec->n_samples);
	*out = j;
	return CNP_OK;
fail:
	cnp_free(rec->frames);
	rec->frames = NULL;
	rec->n_frames = 0;
	cnp_free(rec->samples);
	rec->samples = NULL;
	rec->n_samples = 0;
	cnp_journal_close(j);
	return rc;
}

void cnp_journal_close(struct cnp_journal *j)
{
	if (!j)
		return;
	cnp_fs_append_close(j->file);
	cnp_free(j->buf);
	cnp_free(j->path);
	cnp_free(j->dir);
	cnp_free(j);
}

int cnp_journal_restart(struct cnp_journal *j, uint32_t boot, uint64_t seq,
                        uint64_t malformed_reported, const struct cnp_ifaces *ifaces,
                        const struct cnp_frame *frames, size_t n,
                        const struct cnp_journal_sample *samples, size_t ns)
{
	/* Until the new file is in place nothing is appended: the old one
	 * describes a batch already stored. */
	cnp_fs_append_close(j->file);
	j->file = NULL;
	size_t at = 0;
	int rc = reserve(j, REC_HEADER_LEN + 24);
	if (rc != CNP_OK)
		return rc;
	uint8_t *p = j->buf + REC_HEADER_LEN;
	uint32_t version = JOURNAL_VERSION;
	memcpy(p, &boot, 4);
	memcpy(p + 4, &version, 4);
	memcpy(p + 8, &seq, 8);
	memcpy(p + 16, &malformed_reported, 8);
	put_record(j, &at, REC_HEADER, NO_SOURCE, 0, 24);
	rc = add_ifaces(j, &at, ifaces);
	for (unsigned s = 0; s < CNP_MAX_SOURCES && rc == CNP_OK; s++)
		if (j->has_pos[s])
			rc = add_frames(j, &at, s, NULL, 0, &j->pos[s]);
	if (rc == CNP_OK && n > 0)
		rc = add_frames(j, &at, NO_SOURCE, frames, n, NULL);
	if (rc == CNP_OK && ns > 0)
		rc = add_samples(j, &at, samples, ns);
	if (rc != CNP_OK)
		return rc;
	/* The new file replaces the old at once: a crash leaves one or the
	 * other, never a mix. */
	rc = cnp_fs_write_atomic(j->dir, CNP_JOURNAL_FILE, j->buf, at);
	if (rc == CNP_OK)
		rc = cnp_fs_append_open(j->path, &j->file);
	if (rc != CNP_OK) {
		cnp_error("journal %s: cannot start it: %s", j->path, cnp_fs_last_error());
		return rc;
	}
	j->dirty = 0;
	j->failing = 0;
	return CNP_OK;
}

static void sync_now(struct cnp_journal *j, uint64_t now_us)
{
	j->last_sync_us = now_us;
	j->dirty = 0;
	if (cnp_fs_append_sync(j->file) != CNP_OK)
		cnp_warn("journal %s: sync failed: %s", j->path, cnp_fs_last_error());
}

/* Appends the `at` bytes of records in j->buf with one write(), and syncs
 * when the interval has passed. */
static int write_records(struct cnp_journal *j, size_t at, uint64_t now_us)
{
	int rc = cnp_fs_append(j->file, j->buf, at);
	if (rc != CNP_OK) {
		if (!j->failing)
			cnp_error("journal %s: cannot append: %s; frames and samples are still "
			          "batched, but a crash now loses the open batch",
			          j->path, cnp_fs_last_error());
		j->failing = 1;
		/* The table may not have made it: record it again next time. */
		j->ifaces_logged = 0;
		return rc;
	}
	j->failing = 0;
	j->dirty = 1;
	if (now_us - j->last_sync_us >= j->sync_us)
		sync_now(j, now_us);
	return CNP_OK;
}

int cnp_journal_append(struct cnp_journal *j, unsigned src, const struct cnp_frame *frames,
                       size_t n, const struct cnp_source_pos *pos,
                       const struct cnp_ifaces *ifaces, uint64_t now_us)
{
	if (!j->file || src >= CNP_MAX_SOURCES)
		return CNP_ERR_INVAL;
	size_t at = 0;
	int rc = CNP_OK;
	if (ifaces->count != j->ifaces_logged)
		rc = add_ifaces(j, &at, ifaces);
	if (rc == CNP_OK)
		rc = add_frames(j, &at, src, frames, n, pos);
	if (rc == CNP_OK)
		rc = write_records(j, at, now_us);
	if (rc != CNP_OK)
		return rc;
	j->has_pos[src] = pos != NULL;
	if (pos)
		j->pos[src] = *pos;
	return CNP_OK;
}

int cnp_journal_append_samples(struct cnp_journal *j, const struct cnp_journal_sample *s,
                               size_t n, uint64_t now_us)
{
	if (!j->file)
		return CNP_ERR_INVAL;
	size_t at = 0;
	int rc = add_samples(j, &at, s, n);
	return rc == CNP_OK ? write_records(j, at, now_us) : rc;
}

void cnp_journal_tick(struct cnp_journal *j, uint64_t now_us)
{
	if (j->dirty && j->file && now_us - j->last_sync_us >= j->sync_us)
		sync_now(j, now_us);
}

void cnp_journal_forget(struct cnp_journal *j, unsigned src)
{
	if (src < CNP_MAX_SOURCES)
		j->has_pos[src] = 0;
}
