/*
 * candump log replay. Lines are read in large blocks and parsed in place.
 * A malformed line is skipped, counted (stats.malformed, reported in the
 * next batch's manifest as dropped.malformed_input) and logged with file and
 * line number (the first MAX_LINE_WARNINGS of them; then a total at the
 * end): one bad line in a day-long log must not cost the rest of it.
 *
 * With "loop", the log starts again at its end, its timestamps shifted so
 * that time keeps going forward: pass k adds k x (last - first + 1 ms).
 *
 * A replay that does not loop can resume (tell/seek): the position is the
 * byte offset and line number after a frame, so an agent restarted after a
 * crash continues with the first frame its journal does not hold.
 */
#include "drivers/pace.h"
#include "drivers/source.h"

#include "firmware/alloc.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "platform/clock.h"
#include "platform/log.h"

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>

#define BLOCK 65536
#define MAX_LINE_WARNINGS 10

struct candump_source {
	struct cnp_source base;
	FILE *f;
	char *path;
	char *buf;         /* BLOCK + one line of carry-over + scan slack */
	size_t pos, len;   /* unparsed bytes are buf[pos..len) */
	uint64_t buf_off;  /* file offset of buf[0] */
	uint64_t ident;    /* hash of the path and the file's size */
	struct cnp_source_pos *ends; /* after each frame of the last read */
	size_t ends_cap;
	struct cnp_source_pos start; /* before the first frame of the last read */
	struct cnp_source_pos last_end; /* after the last frame delivered */
	struct cnp_source_pos pending_end;
	int eof;
	uint64_t line_no;
	int skipping;      /* inside an over-long line: drop to its end */
	enum cnp_pace pace;
	int loop;
	uint64_t loop_offset;  /* added to timestamps from the second pass on */
	uint64_t file_first_ts, file_last_ts;
	int have_file_ts;
	uint64_t frames_this_pass;
	struct cnp_pacer pacer;
	uint64_t duration_us; /* duration_s: log time to deliver; 0: all */
	uint64_t end_ts;      /* frames stamped at or after this end the source */
	int ended;            /* duration_s reached: EOF from now on */
	int have_pending;  /* a parsed frame waits for its time (paced) */
	struct cnp_candump_scan_cache scan_cache;
	char last_ifname[CNP_IFNAMSIZ];
	unsigned last_iflen; /* 0: none yet */
	uint8_t last_iface;
	struct cnp_frame pending;
};

static int refill(struct candump_source *s)
{
	if (s->pos > 0) {
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->buf_off += s->pos;
		s->len -= s->pos;
		s->pos = 0;
	}
	if (s->eof)
		return CNP_OK;
	size_t room = BLOCK + CNP_CANDUMP_LINE_MAX - s->len;
	size_t n = fread(s->buf + s->len, 1, room, s->f);
	s->len += n;
	if (n < room) {
		if (ferror(s->f)) {
			cnp_error("%s: read failed after line %" PRIu64 ": %s", s->path, s->line_no,
			          strerror(errno));
			return CNP_ERR_IO;
		}
		s->eof = 1;
	}
	return CNP_OK;
}

static void malformed(struct candump_source *s, const char *why, unsigned column)
{
	s->base.stats.malformed++;
	if (s->base.stats.malformed <= MAX_LINE_WARNINGS)
		cnp_warn("%s:%" PRIu64 ":%u: malformed candump line skipped: %s", s->path,
		         s->line_no, column, why);
	if (s->base.stats.malformed == MAX_LINE_WARNINGS)
		cnp_warn("%s: further malformed lines are counted, not shown", s->path);
}

/* Whether the n (<= 15) bytes at a are those at b (16 readable bytes at
 * each): two word compares instead of a call. */
static int same_name(const char *a, const char *b, unsigned n)
{
	static const uint8_t ones[32] = {
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	};
	uint64_t x[2], y[2], m[2];
	memcpy(x, a, 16);
	memcpy(y, b, 16);
	memcpy(m, ones + 16 - n, 16); /* n bytes of 0xFF, then zeros */
	return ((x[0] ^ y[0]) & m[0]) == 0 && ((x[1] ^ y[1]) & m[1]) == 0;
}

/* Sets f->iface from the line's interface name. */
static int set_iface(struct candump_source *s, struct cnp_frame *f,
                     const struct cnp_candump_line *info)
{
	/* Most lines name the interface of the line before: skip the lookup.
	 * (The name lies in the block buffer, which has slack after it: its
	 * first 16 bytes can be read as two words.) */
	int rc = CNP_OK;
	if (info->ifname_len == s->last_iflen && same_name(info->ifname, s->last_ifname,
	                                                   info->ifname_len)) {
		f->iface = s->last_iface;
	} else {
		rc = cnp_ifaces_intern(s->base.ifaces, info->ifname, info->ifname_len, &f->iface);
		if (rc == CNP_OK) {
			memcpy(s->last_ifname, info->ifname, info->ifname_len);
			s->last_iflen = info->ifname_len;
			s->last_iface = f->iface;
		}
	}
	if (rc != CNP_OK) {
		malformed(s, rc == CNP_ERR_FULL ? "too many interfaces (at most 64)"
		                                : "bad interface name", 1);
		return CNP_ERR_AGAIN;
	}
	return CNP_OK;
}

/*
 * Parses the next line into *f. Returns CNP_OK with a frame, CNP_ERR_AGAIN
 * when a line was skipped, CNP_ERR_EOF at the end, or an I/O error.
 */
static int next_frame(struct candump_source *s, struct cnp_frame *f)
{
	struct cnp_candump_line info;
	/* The common line in one pass, without looking for its end first. */
	size_t fast = s->skipping ? 0
	                          : cnp_candump_scan(s->buf + s->pos, s->buf + s->len, f, &info,
	                                             &s->scan_cache);
	if (fast) {
		s->pos += fast;
		s->line_no++;
		return set_iface(s, f, &info);
	}
	char *nl = memchr(s->buf + s->pos, '\n', s->len - s->pos);
	if (!nl && !s->eof) {
		int rc = refill(s);
		if (rc != CNP_OK)
			return rc;
		nl = memchr(s->buf + s->pos, '\n', s->len - s->pos);
	}
	if (!nl && s->len - s->pos >= CNP_CANDUMP_LINE_MAX) {
		/* No line end within the longest line: skip to the next one. */
		s->line_no += s->skipping ? 0 : 1;
		if (!s->skipping)
			malformed(s, "line longer than 256 bytes", CNP_CANDUMP_LINE_MAX);
		s->skipping = 1;
		s->pos = s->len;
		return CNP_ERR_AGAIN;
	}
	if (!nl && s->pos == s->len)
		return CNP_ERR_EOF;
	char *line = s->buf + s->pos;
	size_t len = nl ? (size_t)(nl - line) : s->len - s->pos;
	s->pos += len + (nl ? 1 : 0);
	if (s->skipping) {
		s->skipping = 0;
		return CNP_ERR_AGAIN;
	}
	s->line_no++;
	uint8_t style = nl ? 0 : CNP_STYLE_NO_EOL;
	if (len > 0 && line[len - 1] == '\r') {
		len--;
		style |= CNP_STYLE_CRLF;
	}
	if (cnp_candump_parse(line, len, f, &info) != CNP_OK) {
		malformed(s, info.why, info.column);
		return CNP_ERR_AGAIN;
	}
	f->style |= style;
	return set_iface(s, f, &info);
}

static void here(const struct candump_source *s, struct cnp_source_pos *pos)
{
	pos->ident = s->ident;
	pos->offset = s->buf_off + s->pos;
	pos->line = s->line_no;
	pos->malformed = s->base.stats.malformed;
}

static int candump_read(struct cnp_source *src, struct cnp_frame *frames, size_t max,
                        size_t *n, uint64_t *wait_us)
{
	struct candump_source *s = (struct candump_source *)src;
	*n = 0;
	*wait_us = 0;
	if (max > s->ends_cap) {
		struct cnp_source_pos *e = cnp_realloc(s->ends, max * sizeof(*e));
		if (!e)
			return CNP_ERR_NOMEM;
		s->ends = e;
		s->ends_cap = max;
	}
	s->start = s->last_end;
	if (s->ended)
		return CNP_ERR_EOF;
	while (*n < max) {
		struct cnp_frame *f = &frames[*n];
		if (s->have_pending) {
			*f = s->pending;
			s->have_pending = 0;
			s->ends[*n] = s->pending_end;
		} else {
			int rc = next_frame(s, f);
			if (rc == CNP_ERR_AGAIN)
				continue;
			if (rc == CNP_ERR_EOF && s->loop && s->frames_this_pass > 0) {
				/* Start again, time moving on. */
				if (fseek(s->f, 0, SEEK_SET) != 0) {
					cnp_error("%s: cannot rewind to loop: %s", s->path, strerror(errno));
					return CNP_ERR_IO;
				}
				clearerr(s->f);
				s->pos = s->len = 0;
				s->buf_off = 0;
				s->eof = 0;
				s->line_no = 0;
				s->frames_this_pass = 0;
				s->loop_offset += s->file_last_ts - s->file_first_ts + 1000u;
				continue;
			}
			if (rc == CNP_ERR_EOF) {
				if (s->base.stats.malformed > MAX_LINE_WARNINGS)
					cnp_warn("%s: %" PRIu64 " malformed lines skipped in all", s->path,
					         s->base.stats.malformed);
				return CNP_ERR_EOF;
			}
			if (rc != CNP_OK)
				return rc;
			if (!s->have_file_ts) {
				s->have_file_ts = 1;
				s->file_first_ts = s->file_last_ts = f->ts_us;
			}
			if (s->loop_offset == 0 && f->ts_us > s->file_last_ts)
				s->file_last_ts = f->ts_us;
			if (f->ts_us < s->file_first_ts && s->loop_offset == 0)
				s->file_first_ts = f->ts_us;
			f->ts_us += s->loop_offset;
			if (s->duration_us) {
				if (s->end_ts == 0)
					s->end_ts = f->ts_us + s->duration_us;
				else if (f->ts_us >= s->end_ts) {
					cnp_info("%s: duration_s reached after %" PRIu64 " frames", s->path,
					         s->base.stats.frames);
					s->ended = 1;
					return CNP_ERR_EOF;
				}
			}
			s->frames_this_pass++;
			here(s, &s->ends[*n]);
		}
		if (s->pace == CNP_PACE_RECORDED) {
			uint64_t wait = cnp_pacer_wait(&s->pacer, f->ts_us, cnp_clock_mono_us());
			if (wait > 0) {
				s->pending = *f;
				s->pending_end = s->ends[*n];
				s->have_pending = 1;
				*wait_us = wait;
				return CNP_OK;
			}
		}
		s->last_end = s->ends[*n];
		(*n)++;
		s->base.stats.frames++;
	}
	return CNP_OK;
}

static void candump_tell(const struct cnp_source *src, size_t k, struct cnp_source_pos *pos)
{
	const struct candump_source *s = (const struct candump_source *)src;
	*pos = k == 0 ? s->start : s->ends[k - 1];
}

static int candump_seek(struct cnp_source *src, const struct cnp_source_pos *pos)
{
	struct candump_source *s = (struct candump_source *)src;
	if (s->loop || pos->ident != s->ident)
		return CNP_ERR_UNSUPPORTED;
	if (fseeko(s->f, (off_t)pos->offset, SEEK_SET) != 0) {
		cnp_error("%s: cannot seek to byte %" PRIu64 ": %s", s->path, pos->offset,
		          strerror(errno));
		return CNP_ERR_IO;
	}
	s->pos = s->len = 0;
	s->buf_off = pos->offset;
	s->eof = 0;
	s->skipping = 0;
	s->line_no = pos->line;
	s->base.stats.malformed = pos->malformed;
	s->last_end = *pos;
	return CNP_OK;
}

static void candump_destroy(struct cnp_source *src)
{
	struct candump_source *s = (struct candump_source *)src;
	if (s->f)
		fclose(s->f);
	cnp_free(s->ends);
	cnp_free(s->buf);
	cnp_free(s->path);
	cnp_free(s);
}

static const struct cnp_source_ops candump_ops = {
	.type = "candump",
	.read = candump_read,
	.destroy = candump_destroy,
	.tell = candump_tell,
	.seek = candump_seek,
};

int cnp_candump_source_create(const struct cnp_source_config *cfg,
                              struct cnp_ifaces *ifaces, struct cnp_source **out)
{
	struct candump_source *s = cnp_calloc(1, sizeof(*s));
	if (!s)
		return CNP_ERR_NOMEM;
	s->base.ops = &candump_ops;
	s->base.ifaces = ifaces;
	s->pace = cfg->pace;
	cnp_pacer_init(&s->pacer, cfg->speed);
	s->loop = cfg->loop;
	if (cfg->duration_s > 0)
		s->duration_us = (uint64_t)(cfg->duration_s * 1e6 + 0.5);
	s->path = cnp_strdup(cfg->path);
	/* Zeroed: the fast path may read (not use) bytes past the text. */
	s->buf = cnp_calloc(1, BLOCK + CNP_CANDUMP_LINE_MAX + CNP_CANDUMP_SCAN_SLACK);
	if (!s->path || !s->buf) {
		candump_destroy(&s->base);
		return CNP_ERR_NOMEM;
	}
	s->f = fopen(cfg->path, "rb");
	if (!s->f) {
		cnp_error("%s: cannot open the candump log: %s", cfg->path, strerror(errno));
		candump_destroy(&s->base);
		return CNP_ERR_IO;
	}
	/* The identity a resumed position must match: same path, same size. */
	struct stat st;
	uint64_t h = 0xcbf29ce484222325u;
	for (const char *c = cfg->path; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3u;
	if (fstat(fileno(s->f), &st) == 0)
		h = (h ^ (uint64_t)st.st_size) * 0x100000001b3u;
	s->ident = h;
	here(s, &s->last_end);
	*out = &s->base;
	return CNP_OK;
}
