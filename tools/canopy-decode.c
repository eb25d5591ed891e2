/*
 * canopy-decode: verifies canopy batches and prints their frames.
 *
 *   canopy-decode [--format candump|csv|jsonl] [--signals | --events]
 *                 [--verify-key PUB.pem] [--decrypt-key PRIV.pem] [--check] PATH...
 *
 * PATH is a batch file or a directory, read recursively (files ending in
 * .cnp). Batches are verified (structure, SHA-256, and with --verify-key
 * the signature) and printed in order of vehicle, spool, boot and sequence
 * number (--signals: the decoded signal samples instead of the frames, as
 * CSV or JSON lines; --events: the trigger events as JSON lines)
 * number, whatever order they arrived in. A batch that fails is reported
 * with its path and the reason; the others are still printed, and the exit
 * status is 1. Identical copies of a batch are printed once.
 *
 * --check prints no frames: it decodes every batch and reports each chain
 * (the batches of one vehicle and spool): gaps in the sequence numbers,
 * duplicates, and breaks (a batch whose prev_sha256 is not the digest of the
 * batch before it).
 */
#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/crypto.h"
#include "platform/fs.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_MAX (256u * 1024u * 1024u)
/* Deeper directories are not entered (a symlink loop ends here). */
#define WALK_DEPTH_MAX 32

enum format { FMT_CANDUMP, FMT_CSV, FMT_JSONL };

#define CSV_HEADER "timestamp,interface,id,extended,fd,brs,esi,rtr,error,len,dlc,data\n"
#define SIGNALS_CSV_HEADER "timestamp,interface,message,signal,value,unit\n"

enum what { WHAT_FRAMES, WHAT_SIGNALS, WHAT_EVENTS };

struct item {
	char *path;
	char vehicle[CNP_BATCH_VEHICLE_MAX];
	char spool_id[CNP_SPOOL_ID_LEN + 1];
	uint32_t boot;
	uint64_t seq;
	uint32_t frames;
	uint8_t sha256[CNP_SHA256_LEN];
	int has_prev;
	uint8_t prev_sha256[CNP_SHA256_LEN];
	uint64_t dropped[CNP_DROP_REASONS];
};

struct list {
	struct item *items;
	size_t n, cap;
	unsigned errors;
	int check;
	const struct cnp_verifier *key;
	const char *key_path;
	const struct cnp_signer *dkey; /* --decrypt-key */
	const char *dkey_path;
};

static int count_frame(const struct cnp_frame *f, const char *ifname, void *arg)
{
	(void)f;
	(void)ifname;
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_sample(const struct cnp_sig_sample *s, const char *ifname, void *arg)
{
	(void)s;
	(void)ifname;
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_event(const char *json, void *arg)
{
	(void)json;
	(*(uint64_t *)arg)++;
	return 0;
}

/* Reads, opens, (with a key) verifies and (with a decryption key)
 * decrypts a batch; on failure says why on stderr and counts an error.
 * Returns CNP_OK with *data and *plain to free. */
static int load_batch(struct list *l, const char *path, uint8_t **data, uint8_t **plain,
                      struct cnp_batch *b)
{
	size_t len = 0;
	char why[256] = "";
	*data = NULL;
	*plain = NULL;
	int rc = cnp_fs_read_file(path, FILE_MAX, data, &len);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-decode: %s: cannot read: %s\n", path,
		        rc == CNP_ERR_TOOBIG   ? "larger than 256 MiB"
		        : rc == CNP_ERR_NOMEM ? "out of memory"
		                              : cnp_fs_last_error());
		l->errors++;
		return rc;
	}
	rc = cnp_batch_open(*data, len, b, why, sizeof(why));
	if (rc == CNP_OK && l->key) {
		rc = cnp_batch_verify(b, l->key, why, sizeof(why));
		if (rc == CNP_ERR_SIGNATURE) {
			fprintf(stderr, "canopy-decode: %s: %s%s; key %s\n", path, why,
			        b->is_signed ? "" : ", and --verify-key requires one", l->key_path);
			l->errors++;
			cnp_free(*data);
			*data = NULL;
			return rc;
		}
	}
	if (rc == CNP_OK && l->dkey && b->encrypted) {
		rc = cnp_batch_decrypt(b, l->dkey, plain, why, sizeof(why));
		if (rc == CNP_ERR_KEY || rc == CNP_ERR_CORRUPT) {
			fprintf(stderr, "canopy-decode: %s: cannot decrypt: %s; key %s\n", path, why,
			        l->dkey_path);
			l->errors++;
			cnp_free(*data);
			*data = NULL;
			return rc;
		}
	}
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-decode: %s: %s\n", path, why[0] ? why : cnp_strerror(rc));
		l->errors++;
		cnp_free(*data);
		*data = NULL;
	}
	return rc;
}

static int add_file(struct list *l, const char *path)
{
	uint8_t *data = NULL, *plain = NULL;
	struct cnp_batch b;
	if (load_batch(l, path, &data, &plain, &b) != CNP_OK)
		return 0;
	/* The chain of encrypted batches is checked without the key: only
	 * their frames need it. */
	if (l->check && !(b.encrypted && !l->dkey)) {
		/* --check decodes too: a batch is valid only if its frames are. */
		char why[256] = "";
		uint64_t n = 0;
		int rc = cnp_batch_frames(&b, count_frame, &n, why, sizeof(why));
		if (rc == CNP_OK)
			rc = cnp_batch_samples(&b, count_sample, &n, why, sizeof(why));
		if (rc == CNP_OK)
			rc = cnp_batch_events(&b, count_event, &n, why, sizeof(why));
		if (rc != CNP_OK) {
			fprintf(stderr, "canopy-decode: %s: %s\n", path, why[0] ? why : cnp_strerror(rc));
			l->errors++;
			cnp_free(data);
			cnp_free(plain);
			return rc == CNP_ERR_NOMEM ? rc : 0;
		}
	}
	cnp_free(data);
	cnp_free(plain);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct item *it = cnp_realloc(l->items, cap * sizeof(*it));
		if (!it)
			return CNP_ERR_NOMEM;
		l->items = it;
		l->cap = cap;
	}
	struct item *it = &l->items[l->n];
	memset(it, 0, sizeof(*it));
	it->path = cnp_strdup(path);
	if (!it->path)
		return CNP_ERR_NOMEM;
	memcpy(it->vehicle, b.vehicle, sizeof(it->vehicle));
	memcpy(it->spool_id, b.spool_id, sizeof(it->spool_id));
	it->boot = b.boot;
	it->seq = b.seq;
	it->frames = b.frames;
	memcpy(it->sha256, b.sha256, CNP_SHA256_LEN);
	it->has_prev = b.has_prev;
	memcpy(it->prev_sha256, b.prev_sha256, CNP_SHA256_LEN);
	memcpy(it->dropped, b.dropped, sizeof(it->dropped));
	l->n++;
	return 0;
}

static int walk(struct list *l, const char *path, int explicit, unsigned depth)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "canopy-decode: %s: %s\n", path, strerror(errno));
		l->errors++;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		size_t n = strlen(path);
		if (explicit || (n > 4 && strcmp(path + n - 4, ".cnp") == 0))
			return add_file(l, path);
		return 0;
	}
	if (depth >= WALK_DEPTH_MAX) {
		fprintf(stderr, "canopy-decode: %s: more than %d folders deep; not entered\n", path,
		        WALK_DEPTH_MAX);
		l->errors++;
		return 0;
	}
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "canopy-decode: %s: %s\n", path, strerror(errno));
		l->errors++;
		return 0;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno != 0) {
				fprintf(stderr, "canopy-decode: %s: cannot list: %s\n", path,
				        strerror(errno));
				l->errors++;
			}
			break;
		}
		if (e->d_name[0] == '.')
			continue; /* ".", "..", and temporary files */
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= (int)sizeof(sub))
			continue;
		rc = walk(l, sub, 0, depth + 1);
	}
	closedir(d);
	return rc;
}

static int same_chain(const struct item *a, const struct item *b)
{
	return strcmp(a->vehicle, b->vehicle) == 0 && strcmp(a->spool_id, b->spool_id) == 0;
}

static int same_place(const struct item *a, const struct item *b)
{
	return same_chain(a, b) && a->boot == b->boot && a->seq == b->seq;
}

static int cmp_item(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = strcmp(a->vehicle, b->vehicle);
	if (c)
		return c;
	c = strcmp(a->spool_id, b->spool_id);
	if (c)
		return c;
	if (a->boot != b->boot)
		return a->boot < b->boot ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return strcmp(a->path, b->path);
}

/* ---- output formats --------------------------------------------------------- */

struct out {
	enum format fmt;
};

/* The DLC code of a frame as on the wire: for CAN FD the code of its
 * length, for a classic frame the raw DLC (which may exceed 8). */
static unsigned dlc_code(const struct cnp_frame *f)
{
	if (f->flags & CNP_FRAME_FD) {
		static const uint8_t fd_len[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64};
		for (unsigned c = 0; c < 16; c++)
			if (fd_len[c] == f->len)
				return c;
		return 15;
	}
	if (f->flags & CNP_FRAME_RTR)
		return f->dlc;
	return f->dlc ? f->dlc : f->len;
}

/* Interface names come from the manifest: quote what CSV needs quoted. */
static void put_csv_name(const char *s, FILE *o)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, o);
		return;
	}
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', o);
		fputc(*s, o);
	}
	fputc('"', o);
}

/* A JSON string of plain ASCII: anything else is escaped as \u00XX, so the
 * line is valid JSON (and UTF-8) whatever bytes the manifest held. */
static void put_json_string(const char *s, FILE *o)
{
	fputc('"', o);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(o, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7F)
			fprintf(o, "\\u%04x", *p);
		else
			fputc(*p, o);
	}
	fputc('"', o);
}

static int print_frame(const struct cnp_frame *f, const char *ifname, void *arg)
{
	const struct out *o = arg;
	char line[CNP_CANDUMP_LINE_MAX];
	size_t len;
	/* The candump text doubles as the check that the frame is sound. */
	if (cnp_candump_format(f, ifname, line, sizeof(line), &len) != CNP_OK)
		return CNP_ERR_CORRUPT;
	if (o->fmt == FMT_CANDUMP)
		return fwrite(line, 1, len, stdout) == len ? 0 : CNP_ERR_IO;

	char ts[32], data[2 * CNP_FRAME_MAX_DATA + 1];
	snprintf(ts, sizeof(ts), "%" PRIu64 ".%06u", f->ts_us / 1000000u,
	         (unsigned)(f->ts_us % 1000000u));
	unsigned n = f->flags & CNP_FRAME_RTR ? 0 : f->len;
	for (unsigned i = 0; i < n; i++)
		snprintf(data + 2 * i, 3, "%02X", f->data[i]);
	data[2 * n] = 0;
	unsigned ext = !!(f->flags & CNP_FRAME_EXT), fd = !!(f->flags & CNP_FRAME_FD),
	         rtr = !!(f->flags & CNP_FRAME_RTR), err = !!(f->flags & CNP_FRAME_ERR),
	         brs = fd && (f->fd_flags & 1), esi = fd && (f->fd_flags & 2);
	if (o->fmt == FMT_CSV) {
		printf("%s,", ts);
		put_csv_name(ifname, stdout);
		printf(",%0*" PRIX32 ",%u,%u,%u,%u,%u,%u,%u,%u,%s\n", ext || err ? 8 : 3, f->id, ext, fd,
		       brs, esi, rtr, err, n, dlc_code(f), data);
	} else {
		static const char *const tf[2] = {"false", "true"};
		printf("{\"ts_us\":%" PRIu64 ",\"timestamp\":\"%s\",\"interface\":", f->ts_us, ts);
		put_json_string(ifname, stdout);
		printf(",\"id\":%" PRIu32 ",\"extended\":%s,\"fd\":%s,\"brs\":%s,\"esi\":%s,"
		       "\"rtr\":%s,\"error\":%s,\"len\":%u,\"dlc\":%u,\"data\":\"%s\"}\n",
		       f->id, tf[ext], tf[fd], tf[brs], tf[esi], tf[rtr], tf[err], n, dlc_code(f), data);
	}
	return ferror(stdout) ? CNP_ERR_IO : 0;
}

/* A sample's value: an unscaled integer from its raw bits (exact to 64
 * bits), anything else with 17 significant digits (reads back the same). */
static void put_value(const struct cnp_sig_sample *s, FILE *o)
{
	const struct cnp_sig_desc *d = s->desc;
	if (d->type <= CNP_SIG_SINT && d->scale == 1.0 && d->offset == 0.0) {
		if (d->type == CNP_SIG_SINT)
			fprintf(o, "%" PRId64, (int64_t)s->raw);
		else
			fprintf(o, "%" PRIu64, s->raw);
	} else if (isfinite(s->value)) {
		fprintf(o, "%.17g", s->value);
	} else {
		/* NaN and infinities of float signals: not JSON numbers. */
		fputs(s->value != s->value ? "\"nan\"" : s->value > 0 ? "\"inf\"" : "\"-inf\"", o);
	}
}

static int print_sample(const struct cnp_sig_sample *s, const char *ifname, void *arg)
{
	const struct out *o = arg;
	const struct cnp_sig_desc *d = s->desc;
	const char *name = d->name[0] ? d->name : d->signal;
	char ts[32];
	snprintf(ts, sizeof(ts), "%" PRIu64 ".%06u", s->ts_us / 1000000u,
	         (unsigned)(s->ts_us % 1000000u));
	if (o->fmt == FMT_CSV) {
		printf("%s,", ts);
		put_csv_name(ifname, stdout);
		putchar(',');
		put_csv_name(d->message, stdout);
		putchar(',');
		put_csv_name(name, stdout);
		putchar(',');
		put_value(s, stdout);
		putchar(',');
		put_csv_name(d->unit, stdout);
		putchar('\n');
	} else {
		printf("{\"ts_us\":%" PRIu64 ",\"timestamp\":\"%s\",\"interface\":", s->ts_us, ts);
		put_json_string(ifname, stdout);
		fputs(",\"message\":", stdout);
		put_json_string(d->message, stdout);
		fputs(",\"signal\":", stdout);
		put_json_string(name, stdout);
		if (d->name[0]) {
			fputs(",\"dbc_signal\":", stdout);
			put_json_string(d->signal, stdout);
		}
		fputs(",\"value\":", stdout);
		put_value(s, stdout);
		printf(",\"raw\":%" PRIu64 ",\"unit\":", s->raw);
		put_json_string(d->unit, stdout);
		fputs("}\n", stdout);
	}
	return ferror(stdout) ? CNP_ERR_IO : 0;
}

static int print_event(const char *json, void *arg)
{
	(void)arg;
	puts(json);
	return ferror(stdout) ? CNP_ERR_IO : 0;
}

/* ---- --check: the chain of each vehicle and spool ---------------------------- */

struct chain {
	const struct item *first, *last;
	size_t batches;
	uint64_t frames;
	unsigned gaps, breaks, identical, conflicting;
	uint64_t missing;
};

static void report_gap(struct chain *c, const struct item *before, const struct item *after,
                       uint64_t from, uint64_t to)
{
	c->gaps++;
	c->missing += to - from + 1;
	printf("%s/%s: gap: boot %" PRIu32 " seq %" PRIu64, after->vehicle, after->spool_id,
	       after->boot, from);
	if (to > from)
		printf("-%" PRIu64 " (%" PRIu64 " batches)", to, to - from + 1);
	printf(" missing, %s%s%s %s", before ? "between " : "", before ? before->path : "",
	       before ? " and" : "before", after->path);
	uint64_t full = after->dropped[CNP_DROP_SPOOL_FULL], bad = after->dropped[CNP_DROP_CORRUPT];
	if (full || bad)
		printf("; that batch reports %" PRIu64 " frames dropped from a full spool and %" PRIu64
		       " from corrupt batches",
		       full, bad);
	printf("\n");
}

/* Does the batch at `cur` name one of the copies in [prev, prev_end) as its
 * predecessor? Reports a break for each copy at `cur` that does not. */
static void check_link(struct chain *c, const struct item *prev, const struct item *prev_end,
                       const struct item *cur, const struct item *cur_end)
{
	for (const struct item *it = cur; it < cur_end; it++) {
		int ok = 0;
		for (const struct item *p = prev; p < prev_end && it->has_prev; p++)
			ok |= memcmp(it->prev_sha256, p->sha256, CNP_SHA256_LEN) == 0;
		if (ok)
			continue;
		c->breaks++;
		printf("%s/%s: break: %s (boot %" PRIu32 " seq %" PRIu64 ") %s %s (boot %" PRIu32
		       " seq %" PRIu64 ")%s\n",
		       it->vehicle, it->spool_id, it->path, it->boot, it->seq,
		       it->has_prev ? "names another predecessor than"
		                    : "starts a new chain (prev_sha256 null) after",
		       prev->path, prev->boot, prev->seq,
		       it->boot != prev->boot && it->has_prev
		           ? "; or the last batches of that boot are missing"
		           : "");
	}
}

/* Reports one chain: items [begin, end), sorted. Returns nonzero if it has
 * gaps, breaks or conflicting copies. */
static int check_chain(const struct item *begin, const struct item *end, int verified)
{
	struct chain c = {.first = begin, .last = end - 1};
	const struct item *prev = NULL, *prev_end = NULL;
	for (const struct item *cur = begin; cur < end;) {
		const struct item *cur_end = cur + 1;
		while (cur_end < end && same_place(cur, cur_end))
			cur_end++;
		c.batches++;
		c.frames += cur->frames;
		for (const struct item *d = cur + 1; d < cur_end; d++) {
			const struct item *same = NULL;
			for (const struct item *e = cur; e < d && !same; e++)
				if (memcmp(e->sha256, d->sha256, CNP_SHA256_LEN) == 0)
					same = e;
			if (same) {
				c.identical++;
				printf("%s/%s: duplicate: %s is an identical copy of %s (boot %" PRIu32
				       " seq %" PRIu64 ")\n",
				       d->vehicle, d->spool_id, d->path, same->path, d->boot, d->seq);
			} else {
				c.conflicting++;
				printf("%s/%s: conflict: %s and %s are different batches with the same "
				       "boot %" PRIu32 " and seq %" PRIu64 "\n",
				       d->vehicle, d->spool_id, d->path, cur->path, d->boot, d->seq);
			}
		}
		if (!prev) {
			if (cur->seq > 0)
				report_gap(&c, NULL, cur, 0, cur->seq - 1);
		} else if (cur->boot == prev->boot) {
			if (cur->seq != prev->seq + 1)
				report_gap(&c, prev, cur, prev->seq + 1, cur->seq - 1);
			else
				check_link(&c, prev, prev_end, cur, cur_end);
		} else if (cur->seq > 0) {
			report_gap(&c, prev, cur, 0, cur->seq - 1);
		} else {
			check_link(&c, prev, prev_end, cur, cur_end);
		}
		prev = cur;
		prev_end = cur_end;
		cur = cur_end;
	}
	int bad = c.gaps || c.breaks || c.conflicting;
	printf("%s/%s: %zu batches, %" PRIu64 " frames, boot %" PRIu32 " seq %" PRIu64
	       " to boot %" PRIu32 " seq %" PRIu64 "%s: %u gaps (%" PRIu64
	       " batches missing), %u breaks, %u duplicates (%u identical, %u conflicting)%s: %s\n",
	       begin->vehicle, begin->spool_id, c.batches, c.frames, c.first->boot, c.first->seq,
	       c.last->boot, c.last->seq,
	       c.first->has_prev ? " (its predecessor not given)" : "", c.gaps, c.missing,
	       c.breaks, c.identical + c.conflicting, c.identical, c.conflicting,
	       verified ? ", all signatures valid" : "", bad ? "FAILED" : "OK");
	return bad;
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fputs("usage: canopy-decode [--format candump|csv|jsonl] [--signals | --events]\n"
	      "                     [--verify-key PUB.pem] [--decrypt-key PRIV.pem]\n"
	      "                     [--check] PATH...\n"
	      "\n"
	      "Verifies canopy batch files (or directories of them, read recursively)\n"
	      "and prints their frames in sequence order.\n"
	      "\n"
	      "  --format candump  candump -l text, byte for byte what was captured (default)\n"
	      "  --format csv      a header line, then one line per frame:\n"
	      "                    " CSV_HEADER
	      "                    (timestamp in seconds with 6 decimals; id in hex, 3 or 8\n"
	      "                    digits; flags 0/1; len data bytes; dlc the DLC code;\n"
	      "                    data hex)\n"
	      "  --format jsonl    one JSON object per frame: ts_us, timestamp, interface,\n"
	      "                    id (number), extended, fd, brs, esi, rtr, error, len, dlc,\n"
	      "                    data (hex)\n"
	      "  --signals         print the decoded signal samples instead of the frames,\n"
	      "                    in time order within each batch; csv (the default here):\n"
	      "                    " SIGNALS_CSV_HEADER
	      "                    jsonl: ts_us, timestamp, interface, message, signal,\n"
	      "                    dbc_signal (when signal is a VSS name), value, raw, unit\n"
	      "  --events          print the trigger events, one JSON object a line\n"
	      "  --verify-key PUB.pem\n"
	      "                    every batch must be signed by this P-256 public key; an\n"
	      "                    unsigned, tampered or otherwise signed batch is refused\n"
	      "  --decrypt-key PRIV.pem\n"
	      "                    decrypt encrypted batches with the receiver's P-256 private\n"
	      "                    key (the half of the agent's encrypt_to); without it their\n"
	      "                    frames cannot be printed, but --check still checks chains\n"
	      "  --check           print no frames: decode every batch and report each chain\n"
	      "                    (vehicle/spool): gaps, duplicates, breaks\n"
	      "\n"
	      "Exit status: 0 all batches valid (and with --check every chain complete),\n"
	      "1 some batch refused or unreadable, or a chain has a gap, a break or\n"
	      "conflicting copies; 2 usage error.\n",
	      out);
}

int main(int argc, char **argv)
{
	int check = 0, npaths = 0, format_given = 0;
	enum what what = WHAT_FRAMES;
	const char *format = "candump", *key_path = NULL, *dkey_path = NULL;
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("canopy-decode %s\n", CANOPY_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			format = argv[++i];
			format_given = 1;
		} else if (strcmp(argv[i], "--signals") == 0 && what != WHAT_EVENTS) {
			what = WHAT_SIGNALS;
		} else if (strcmp(argv[i], "--events") == 0 && what != WHAT_SIGNALS) {
			what = WHAT_EVENTS;
		} else if (strcmp(argv[i], "--verify-key") == 0 && i + 1 < argc) {
			key_path = argv[++i];
		} else if (strcmp(argv[i], "--decrypt-key") == 0 && i + 1 < argc) {
			dkey_path = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0) {
			check = 1;
		} else if (argv[i][0] == '-' && argv[i][1] != 0) {
			fprintf(stderr, "canopy-decode: unknown or incomplete option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		} else {
			npaths++;
		}
	}
	struct out out = {.fmt = FMT_CANDUMP};
	if (what == WHAT_SIGNALS && !format_given)
		format = "csv";
	if (what == WHAT_EVENTS && !format_given)
		format = "jsonl";
	if ((what == WHAT_SIGNALS && strcmp(format, "candump") == 0) ||
	    (what == WHAT_EVENTS && strcmp(format, "jsonl") != 0)) {
		fprintf(stderr, "canopy-decode: --%s cannot be printed as %s\n",
		        what == WHAT_SIGNALS ? "signals" : "events", format);
		return 2;
	}
	if (strcmp(format, "csv") == 0) {
		out.fmt = FMT_CSV;
	} else if (strcmp(format, "jsonl") == 0) {
		out.fmt = FMT_JSONL;
	} else if (strcmp(format, "candump") != 0) {
		fprintf(stderr, "canopy-decode: unknown format \"%s\" (known: candump, csv, jsonl)\n",
		        format);
		return 2;
	}
	if (npaths == 0) {
		usage(stderr);
		return 2;
	}
	cnp_json_init();
	struct cnp_verifier *key = NULL;
	if (key_path) {
		char why[256] = "";
		int rc = cnp_verifier_load(key_path, &key, why, sizeof(why));
		if (rc != CNP_OK) {
			fprintf(stderr, "canopy-decode: --verify-key %s: %s\n", key_path,
			        rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : why);
			return 2;
		}
	}
	struct cnp_signer *dkey = NULL;
	if (dkey_path) {
		char why[256] = "";
		int rc = cnp_signer_load(dkey_path, &dkey, why, sizeof(why));
		if (rc != CNP_OK) {
			fprintf(stderr, "canopy-decode: --decrypt-key %s: %s\n", dkey_path,
			        rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : why);
			cnp_verifier_destroy(key);
			return 2;
		}
	}
	struct list l = {.check = check, .key = key, .key_path = key_path, .dkey = dkey,
	                 .dkey_path = dkey_path};
	int status = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0 || strcmp(argv[i], "--verify-key") == 0 ||
		    strcmp(argv[i], "--decrypt-key") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] != 0)
			continue;
		if (walk(&l, argv[i], 1, 0) != 0) {
			fprintf(stderr, "canopy-decode: out of memory\n");
			goto out;
		}
	}
	if (l.n == 0 && l.errors == 0)
		fprintf(stderr, "canopy-decode: no batches found (files ending in .cnp)\n");
	if (l.n > 1) /* qsort's array may not be NULL, even empty */
		qsort(l.items, l.n, sizeof(*l.items), cmp_item);

	int chains_bad = 0;
	if (check) {
		for (size_t i = 0; i < l.n;) {
			size_t j = i + 1;
			while (j < l.n && same_chain(&l.items[i], &l.items[j]))
				j++;
			chains_bad |= check_chain(&l.items[i], &l.items[j], key != NULL);
			i = j;
		}
		if (l.errors)
			fprintf(stderr, "canopy-decode: %u files refused (see above)\n", l.errors);
	} else if (out.fmt == FMT_CSV) {
		fputs(what == WHAT_SIGNALS ? SIGNALS_CSV_HEADER : CSV_HEADER, stdout);
	}
	for (size_t i = 0; i < l.n && !check; i++) {
		struct item *it = &l.items[i];
		if (i > 0 && same_place(it, &l.items[i - 1])) {
			if (memcmp(it->sha256, l.items[i - 1].sha256, CNP_SHA256_LEN) == 0)
				continue; /* an identical copy */
			fprintf(stderr,
			        "canopy-decode: %s: vehicle %s boot %" PRIu32 " seq %" PRIu64
			        " differs from %s with the same numbers; skipped\n",
			        it->path, it->vehicle, it->boot, it->seq, l.items[i - 1].path);
			l.errors++;
			continue;
		}
		uint8_t *data = NULL, *plain = NULL;
		struct cnp_batch b;
		char why[256] = "";
		if (load_batch(&l, it->path, &data, &plain, &b) != CNP_OK)
			continue;
		int rc = CNP_OK;
		if (memcmp(b.sha256, it->sha256, CNP_SHA256_LEN) != 0) {
			snprintf(why, sizeof(why), "the file changed while canopy-decode ran");
			rc = CNP_ERR_CORRUPT;
		}
		if (rc == CNP_OK && what == WHAT_FRAMES)
			rc = cnp_batch_frames(&b, print_frame, &out, why, sizeof(why));
		else if (rc == CNP_OK && what == WHAT_SIGNALS)
			rc = cnp_batch_samples(&b, print_sample, &out, why, sizeof(why));
		else if (rc == CNP_OK)
			rc = cnp_batch_events(&b, print_event, NULL, why, sizeof(why));
		if (rc != CNP_OK) {
			fprintf(stderr, "canopy-decode: %s: %s\n", it->path,
			        why[0] ? why : cnp_strerror(rc));
			l.errors++;
		}
		cnp_free(data);
		cnp_free(plain);
	}
	status = l.errors || chains_bad ? 1 : 0;
out:
	for (size_t i = 0; i < l.n; i++)
		cnp_free(l.items[i].path);
	cnp_free(l.items);
	cnp_verifier_destroy(key);
	cnp_signer_destroy(dkey);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "canopy-decode: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return status;
}
