#include "firmware/spool.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/clock.h"
#include "platform/fs.h"
#include "platform/log.h"
#include "platform/random.h"
#include "platform/thread.h"
#include "platform/zlib.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_FILE "state.json"
/* Mirror: BATCH.ack-TAG, an empty file, says endpoint TAG has BATCH. */
#define MARKER_INFIX ".ack-"

struct cnp_spool;
static void remove_markers(struct cnp_spool *s, const char *name);
#define QUARANTINE_DIR "quarantine"
#define STATE_MAX_BYTES 4096
/* A batch file larger than this is not read back: it cannot be ours. */
#define BATCH_FILE_MAX (256u * 1024u * 1024u)

struct entry {
	char name[CNP_SPOOL_NAME_MAX];
	uint64_t size;
	uint32_t frames;
	int checked_out;
	int digest_known; /* put by this process: digest is the sealed one */
	uint8_t digest[CNP_SHA256_LEN];
	uint32_t crc32;   /* of the bytes written */
	uint64_t stored_wall_us; /* when it was written */
	int64_t priority; /* the manifest's: lowest goes first when full */
	/* The drop counts its manifest reports: owed again when it is evicted
	 * or quarantined, or they would vanish with it. */
	uint64_t carried[CNP_DROP_REASONS];
	unsigned acked; /* mirror: bit i, owner i acknowledged it */
};

struct cnp_spool {
	char *dir;
	uint64_t max_bytes;
	uint64_t min_free_bytes;
	struct cnp_mutex *lock;
	struct entry *entries; /* sorted by name = by (boot, seq) */
	size_t count, cap;
	uint64_t bytes;
	char id[CNP_SPOOL_ID_LEN + 1];
	uint32_t boot;
	uint64_t next_seq;
	int has_prev;
	uint8_t prev[CNP_SHA256_LEN];
	/* Frames dropped since the spool was made (cumulative, in state.json),
	 * how many of them batches already reported, and how many the batch
	 * being stored reports (committed when it is stored). */
	uint64_t dropped_full, dropped_corrupt;
	uint64_t reported_full, reported_corrupt;
	uint64_t taken_full, taken_corrupt;
	/* Malformed-input and kernel drops carried by evicted or quarantined
	 * batches: owed again (cumulative, reported, taken), by reason; only
	 * [CNP_DROP_MALFORMED] and [CNP_DROP_KERNEL] are used (the spool's own
	 * reasons go back into dropped_full and dropped_corrupt). */
	uint64_t reowed[CNP_DROP_REASONS], reowed_reported[CNP_DROP_REASONS];
	uint64_t reowed_taken[CNP_DROP_REASONS];
	/* A batch has taken reowed_taken and is not stored yet (in state.json
	 * too, so that the scan after a crash knows what a stored batch newer
	 * than state.json took); saved_*: the values state.json had. */
	int taken_pending, saved_taken_pending;
	uint64_t saved_taken[CNP_DROP_REASONS];
	/* Mirror: the endpoints every batch is owed to, by tag; 0: one owner
	 * (the first acknowledgement deletes a batch). */
	unsigned n_owners;
	char owner_tags[CNP_SPOOL_MAX_OWNERS][CNP_SPOOL_TAG_LEN + 1];
	/* The last batch stored, in any boot: (boot, seq) of the newest name. */
	int has_last;
	uint32_t last_boot;
	uint64_t last_seq;
	/* A batch being moved to quarantine/, already counted in state.json:
	 * if a crash leaves it in place, the next open takes the count back
	 * (the scan counts it again). */
	char pending_q[CNP_SPOOL_NAME_MAX];
	uint64_t pending_q_frames;
	/* Found by the scan: stored batches newer than state.json's last. */
	int stale_found, scan_has_max;
	uint32_t scan_boot;
	uint64_t scan_seq;
};

/* Orders batch identities as their names sort. */
static int after(uint32_t b1, uint64_t s1, uint32_t b2, uint64_t s2)
{
	return b1 > b2 || (b1 == b2 && s1 > s2);
}

static int parse_name(const char *name, uint32_t *boot, uint64_t *seq)
{
	unsigned long b;
	unsigned long long q;
	char tail[8];
	if (sscanf(name, "%8lu-%12llu%7s", &b, &q, tail) != 3 || strcmp(tail, ".cnp") != 0)
		return CNP_ERR_INVAL;
	*boot = (uint32_t)b;
	*seq = q;
	return CNP_OK;
}

static int path_of(const struct cnp_spool *s, const char *name, char *out, size_t cap)
{
	return snprintf(out, cap, "%s/%s", s->dir, name) < (int)cap ? CNP_OK : CNP_ERR_INVAL;
}

static int write_state(struct cnp_spool *s)
{
	char hex[2 * CNP_SHA256_LEN + 1] = "";
	if (s->has_prev)
		cnp_hex(s->prev, CNP_SHA256_LEN, hex);
	char text[1536];
	int n = snprintf(text, sizeof(text),
	                 "{\"spool_id\":\"%s\",\"boot\":%" PRIu32 ",\"next_seq\":%" PRIu64
	                 ",\"last_sha256\":\"%s\",\"dropped_spool_full\":%" PRIu64
	                 ",\"dropped_corrupt\":%" PRIu64 ",\"last_boot\":%" PRIu32
	                 ",\"last_seq\":%" PRIu64 ",\"has_last\":%d,\"reported_spool_full\":%" PRIu64
	                 ",\"reported_corrupt\":%" PRIu64 ",\"pending_quarantine\":\"%s\""
	                 ",\"pending_quarantine_frames\":%" PRIu64 ",\"reowed_malformed\":%" PRIu64
	                 ",\"reowed_kernel\":%" PRIu64 ",\"reported_reowed_malformed\":%" PRIu64
	                 ",\"reported_reowed_kernel\":%" PRIu64 ",\"taken_pending\":%d"
	                 ",\"taken_reowed_malformed\":%" PRIu64 ",\"taken_reowed_kernel\":%" PRIu64
	                 "}\n",
	                 s->id, s->boot, s->next_seq, hex, s->dropped_full, s->dropped_corrupt,
	                 s->last_boot, s->last_seq, s->has_last, s->reported_full,
	                 s->reported_corrupt, s->pending_q, s->pending_q_frames,
	                 s->reowed[CNP_DROP_MALFORMED], s->reowed[CNP_DROP_KERNEL],
	                 s->reowed_reported[CNP_DROP_MALFORMED],
	                 s->reowed_reported[CNP_DROP_KERNEL], s->taken_pending,
	                 s->reowed_taken[CNP_DROP_MALFORMED], s->reowed_taken[CNP_DROP_KERNEL]);
	int rc = cnp_fs_write_atomic(s->dir, STATE_FILE, text, (size_t)n);
	if (rc != CNP_OK)
		cnp_error("spool %s: cannot write %s: %s", s->dir, STATE_FILE, cnp_fs_last_error());
	return rc;
}

static int is_batch_name(const char *name);

static void read_state(struct cnp_spool *s)
{
	char path[PATH_MAX];
	uint8_t *text = NULL;
	size_t len;
	if (path_of(s, STATE_FILE, path, sizeof(path)) != CNP_OK)
		return;
	int rc = cnp_fs_read_file(path, STATE_MAX_BYTES, &text, &len);
	if (rc == CNP_ERR_NOTFOUND)
		return; /* a new spool */
	if (rc != CNP_OK) {
		cnp_warn("spool %s: cannot read %s (%s); starting a new chain", s->dir,
		         STATE_FILE, cnp_strerror(rc));
		return;
	}
	cJSON *j = cJSON_ParseWithLength((const char *)text, len);
	uint64_t v;
	if (!j || cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "boot"), UINT32_MAX - 1, &v)) {
		cnp_warn("spool %s: %s is damaged; starting a new chain", s->dir, STATE_FILE);
	} else {
		s->boot = (uint32_t)v;
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "spool_id");
		if (cJSON_IsString(id) && strlen(id->valuestring) == CNP_SPOOL_ID_LEN &&
		    strspn(id->valuestring, "0123456789abcdef") == CNP_SPOOL_ID_LEN)
			memcpy(s->id, id->valuestring, CNP_SPOOL_ID_LEN + 1);
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "last_sha256");
		if (cJSON_IsString(h) && strlen(h->valuestring) == 2 * CNP_SHA256_LEN) {
			s->has_prev = 1;
			for (size_t i = 0; i < CNP_SHA256_LEN; i++) {
				unsigned byte;
				if (sscanf(h->valuestring + 2 * i, "%2x", &byte) != 1)
					s->has_prev = 0;
				s->prev[i] = (uint8_t)byte;
			}
		}
		if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "dropped_spool_full"),
		                   UINT64_MAX, &v))
			s->dropped_full = v;
		if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "dropped_corrupt"),
		                   UINT64_MAX, &v))
			s->dropped_corrupt = v;
		if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "reported_spool_full"),
		                   UINT64_MAX, &v))
			s->reported_full = v;
		if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "reported_corrupt"),
		                   UINT64_MAX, &v))
			s->reported_corrupt = v;
		static const struct {
			const char *key;
			int reason, which;
		} ro[] = {{"reowed_malformed", CNP_DROP_MALFORMED, 0},
		          {"reowed_kernel", CNP_DROP_KERNEL, 0},
		          {"reported_reowed_malformed", CNP_DROP_MALFORMED, 1},
		          {"reported_reowed_kernel", CNP_DROP_KERNEL, 1},
		          {"taken_reowed_malformed", CNP_DROP_MALFORMED, 2},
		          {"taken_reowed_kernel", CNP_DROP_KERNEL, 2}};
		uint64_t *arrays[] = {s->reowed, s->reowed_reported, s->saved_taken};
		for (size_t k = 0; k < sizeof(ro) / sizeof(ro[0]); k++)
			if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, ro[k].key), UINT64_MAX, &v))
				arrays[ro[k].which][ro[k].reason] = v;
		if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "taken_pending"), 1, &v))
			s->saved_taken_pending = (int)v;
		const cJSON *pq = cJSON_GetObjectItemCaseSensitive(j, "pending_quarantine");
		if (cJSON_IsString(pq) && is_batch_name(pq->valuestring) &&
		    !cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "pending_quarantine_frames"),
		                   UINT64_MAX, &v)) {
			snprintf(s->pending_q, sizeof(s->pending_q), "%s", pq->valuestring);
			s->pending_q_frames = v;
		}
		uint64_t lb, ls, hl;
		if (!cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "has_last"), 1, &hl) &&
		    !cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "last_boot"), UINT32_MAX, &lb) &&
		    !cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "last_seq"), UINT64_MAX, &ls)) {
			s->has_last = hl != 0;
			s->last_boot = (uint32_t)lb;
			s->last_seq = ls;
		}
	}
	cJSON_Delete(j);
	cnp_free(text);
}

static int add_entry(struct cnp_spool *s, const char *name, uint64_t size, uint32_t frames,
                     uint64_t stored_wall_us, int64_t priority,
                     const uint64_t carried[CNP_DROP_REASONS])
{
	if (s->count == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct entry *e = cnp_realloc(s->entries, cap * sizeof(*e));
		if (!e)
			return CNP_ERR_NOMEM;
		s->entries = e;
		s->cap = cap;
	}
	struct entry *e = &s->entries[s->count++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->size = size;
	e->frames = frames;
	e->stored_wall_us = stored_wall_us;
	e->priority = priority;
	if (carried)
		memcpy(e->carried, carried, sizeof(e->carried));
	s->bytes += size;
	return CNP_OK;
}

static void remove_at(struct cnp_spool *s, size_t i)
{
	s->bytes -= s->entries[i].size;
	memmove(&s->entries[i], &s->entries[i + 1], (s->count - i - 1) * sizeof(*s->entries));
	s->count--;
}

static int is_batch_name(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && n < CNP_SPOOL_NAME_MAX && strcmp(name + n - 4, ".cnp") == 0 &&
	       name[0] != '.';
}

static void quarantine_file(struct cnp_spool *s, const char *name)
{
	char from[PATH_MAX], qdir[PATH_MAX], to[PATH_MAX];
	if (path_of(s, name, from, sizeof(from)) ||
	    path_of(s, QUARANTINE_DIR, qdir, sizeof(qdir)) ||
	    snprintf(to, sizeof(to), "%s/%s", qdir, name) >= (int)sizeof(to))
		return;
	int rc = cnp_fs_mkdirs(qdir);
	if (rc == CNP_OK)
		rc = cnp_fs_rename(from, to);
	if (rc == CNP_ERR_NOTFOUND)
		return; /* already gone */
	if (rc != CNP_OK) {
		cnp_error("spool %s: cannot move %s to %s/: %s; removing it", s->dir, name,
		          QUARANTINE_DIR, cnp_fs_last_error());
		cnp_fs_remove(from);
	}
}

/*
 * Counts a damaged batch's frames as dropped and moves it aside, so that a
 * crash at any point counts it exactly once: the count and the name go to
 * state.json first; if the move did not happen, the next open takes the
 * count back and the scan finds the batch again.
 */
static void quarantine_counted(struct cnp_spool *s, const char *name, uint64_t frames)
{
	s->dropped_corrupt += frames;
	snprintf(s->pending_q, sizeof(s->pending_q), "%s", name);
	s->pending_q_frames = frames;
	write_state(s);
	quarantine_file(s, name);
	s->pending_q[0] = 0;
	s->pending_q_frames = 0;
	write_state(s);
}

/* Verifies one file found in the directory and indexes it. */
static int scan_cb(const char *name, void *arg)
{
	struct cnp_spool *s = arg;
	char path[PATH_MAX];
	if (path_of(s, name, path, sizeof(path)) != CNP_OK)
		return 0;
	if (strncmp(name, ".tmp-", 5) == 0) {
		/* A write cut short by a crash: never acknowledged, so never
		 * counted as stored; its frames were re-read or are in a newer
		 * batch. */
		cnp_fs_remove(path);
		return 0;
	}
	if (!is_batch_name(name))
		return 0;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = cnp_fs_read_file(path, BATCH_FILE_MAX, &data, &len);
	if (rc == CNP_ERR_NOMEM)
		return rc;
	struct cnp_batch b;
	char why[160] = "unreadable";
	if (rc == CNP_OK)
		rc = cnp_batch_open(data, len, &b, why, sizeof(why));
	if (rc == CNP_ERR_NOMEM) {
		cnp_free(data);
		return rc;
	}
	if (rc != CNP_OK) {
		/* Count what it held if the manifest survived; else the batch
		 * counts as one. */
		uint32_t frames = 0;
		if (data && cnp_batch_peek_frames(data, len, &frames) != CNP_OK)
			frames = 0;
		cnp_warn("spool %s: %s is corrupt (%s); moved to %s/ (%" PRIu32 " frames)", s->dir,
		         name, why, QUARANTINE_DIR, frames);
		quarantine_counted(s, name, frames ? frames : 1);
		cnp_free(data);
		return 0;
	}
	cnp_free(data);
	uint32_t boot;
	uint64_t seq;
	if (parse_name(name, &boot, &seq) == CNP_OK &&
	    (!s->has_last || after(boot, seq, s->last_boot, s->last_seq))) {
		/* Stored, but the crash came before state.json said so: the drop
		 * counts it carries are reported, not to be reported again. */
		s->reported_full += b.dropped[CNP_DROP_SPOOL_FULL];
		s->reported_corrupt += b.dropped[CNP_DROP_CORRUPT];
		/* Its malformed and kernel counts mix the source's own (never
		 * in state.json) with re-owed ones: the re-owed part is what it
		 * took, state.json's taken values if a batch had taken them when
		 * it was written, else everything re-owed then (re-owing writes
		 * state.json, so nothing was re-owed between that and the take). */
		static const int mixed[] = {CNP_DROP_MALFORMED, CNP_DROP_KERNEL};
		for (size_t k = 0; k < 2; k++) {
			int r = mixed[k];
			uint64_t took = s->saved_taken_pending ? s->saved_taken[r] : s->reowed[r];
			if (took > s->reowed_reported[r])
				s->reowed_reported[r] += took - s->reowed_reported[r] < b.dropped[r]
				                             ? took - s->reowed_reported[r]
				                             : b.dropped[r];
		}
		s->stale_found = 1;
		if (!s->scan_has_max || after(boot, seq, s->scan_boot, s->scan_seq)) {
			s->scan_has_max = 1;
			s->scan_boot = boot;
			s->scan_seq = seq;
		}
	}
	uint64_t mtime;
	if (cnp_fs_mtime_us(path, &mtime) != CNP_OK)
		mtime = cnp_clock_wall_us();
	return add_entry(s, name, len, b.frames, mtime, b.priority, b.dropped);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

int cnp_spool_open(const struct cnp_spool_config *cfg, struct cnp_spool **out)
{
	struct cnp_spool *s = cnp_calloc(1, sizeof(*s));
	if (!s)
		return CNP_ERR_NOMEM;
	int rc = CNP_ERR_NOMEM;
	s->dir = cnp_strdup(cfg->dir);
	s->lock = cnp_mutex_create();
	if (!s->dir || !s->lock)
		goto fail;
	s->max_bytes = cfg->max_bytes;
	s->min_free_bytes = cfg->min_free_bytes;
	rc = cnp_fs_mkdirs(s->dir);
	if (rc != CNP_OK) {
		cnp_error("spool %s: cannot create the directory: %s", s->dir, cnp_fs_last_error());
		goto fail;
	}
	read_state(s);
	if (!s->id[0]) {
		uint8_t raw[CNP_SPOOL_ID_LEN / 2];
		cnp_random_bytes(raw, sizeof(raw));
		cnp_hex(raw, sizeof(raw), s->id);
	}
	if (s->pending_q[0]) {
		char p[PATH_MAX];
		uint64_t size;
		if (path_of(s, s->pending_q, p, sizeof(p)) == CNP_OK &&
		    cnp_fs_file_size(p, &size) == CNP_OK)
			s->dropped_corrupt -= s->pending_q_frames < s->dropped_corrupt
			                          ? s->pending_q_frames : s->dropped_corrupt;
		s->pending_q[0] = 0;
		s->pending_q_frames = 0;
	}
	uint64_t old_corrupt = s->dropped_corrupt;
	rc = cnp_fs_list(s->dir, scan_cb, s);
	if (rc != CNP_OK) {
		if (rc != CNP_ERR_NOMEM)
			cnp_error("spool %s: cannot list the directory: %s", s->dir,
			          cnp_fs_last_error());
		goto fail;
	}
	if (s->count > 1)
		qsort(s->entries, s->count, sizeof(*s->entries), cmp_entry);
	if (s->scan_has_max) {
		s->has_last = 1;
		s->last_boot = s->scan_boot;
		s->last_seq = s->scan_seq;
	}
	if (s->reported_full > s->dropped_full)
		s->reported_full = s->dropped_full;
	if (s->reported_corrupt > s->dropped_corrupt)
		s->reported_corrupt = s->dropped_corrupt;
	for (int r = 0; r < CNP_DROP_REASONS; r++) {
		if (s->reowed_reported[r] > s->reowed[r])
			s->reowed_reported[r] = s->reowed[r];
		s->reowed_taken[r] = s->reowed_reported[r];
	}
	/* Never reuse a boot number that a stored batch carries. */
	for (size_t i = 0; i < s->count; i++) {
		unsigned long b = strtoul(s->entries[i].name, NULL, 10);
		if (b >= s->boot && b < UINT32_MAX)
			s->boot = (uint32_t)b;
	}
	s->boot++;
	s->next_seq = 0;
	rc = write_state(s);
	if (rc != CNP_OK)
		goto fail;
	cnp_info("spool %s (id %s): boot %" PRIu32 ", %zu batches (%" PRIu64 " bytes) waiting%s",
	         s->dir, s->id, s->boot, s->count, s->bytes,
	         s->dropped_corrupt > old_corrupt ? ", corrupt ones quarantined" : "");
	*out = s;
	return CNP_OK;
fail:
	cnp_spool_close(s);
	return rc;
}

void cnp_spool_close(struct cnp_spool *s)
{
	if (!s)
		return;
	cnp_mutex_destroy(s->lock);
	cnp_free(s->entries);
	cnp_free(s->dir);
	cnp_free(s);
}

const char *cnp_spool_id(const struct cnp_spool *s)
{
	return s->id;
}

uint32_t cnp_spool_boot(const struct cnp_spool *s)
{
	return s->boot;
}

void cnp_spool_next(struct cnp_spool *s, uint64_t *seq, int *has_prev,
                    uint8_t prev[CNP_SHA256_LEN])
{
	cnp_mutex_lock(s->lock);
	*seq = s->next_seq;
	*has_prev = s->has_prev;
	memcpy(prev, s->prev, CNP_SHA256_LEN);
	cnp_mutex_unlock(s->lock);
}

static void batch_name(char *out, uint32_t boot, uint64_t seq)
{
	snprintf(out, CNP_SPOOL_NAME_MAX, "%08" PRIu32 "-%012" PRIu64 ".cnp", boot, seq);
}

/* The batch to evict: the oldest of the lowest priority that is not being
 * uploaded; s->count when there is none. */
static size_t eviction_victim(const struct cnp_spool *s)
{
	size_t v = s->count;
	for (size_t i = 0; i < s->count; i++)
		if (!s->entries[i].checked_out &&
		    (v == s->count || s->entries[i].priority < s->entries[v].priority))
			v = i;
	return v;
}

int cnp_spool_put(struct cnp_spool *s, uint64_t seq, const uint8_t *data,
                  size_t len, uint32_t frames, const uint8_t digest[CNP_SHA256_LEN])
{
	return cnp_spool_put_priority(s, seq, data, len, frames, digest, 0, NULL);
}

/* The drop counts a batch leaving unreported carried are owed again, each
 * under its own reason. */
static void reowe(struct cnp_spool *s, const struct entry *e)
{
	s->dropped_full += e->carried[CNP_DROP_SPOOL_FULL];
	s->dropped_corrupt += e->carried[CNP_DROP_CORRUPT];
	s->reowed[CNP_DROP_MALFORMED] += e->carried[CNP_DROP_MALFORMED];
	s->reowed[CNP_DROP_KERNEL] += e->carried[CNP_DROP_KERNEL];
}

int cnp_spool_put_priority(struct cnp_spool *s, uint64_t seq, const uint8_t *data, size_t len,
                           uint32_t frames, const uint8_t digest[CNP_SHA256_LEN],
                           int64_t priority, const uint64_t carried[CNP_DROP_REASONS])
{
	if (len > s->max_bytes)
		return CNP_ERR_TOOBIG;
	char name[CNP_SPOOL_NAME_MAX];
	batch_name(name, s->boot, seq);
	cnp_mutex_lock(s->lock);
	/* Free space now plus what evictions free must cover the headroom
	 * (min_free_bytes) and the batch. */
	uint64_t have = UINT64_MAX, fs_free = 0, need = s->min_free_bytes + len;
	if (s->min_free_bytes && cnp_fs_free_bytes(s->dir, &fs_free) == CNP_OK)
		have = fs_free;
	/* Make room first: of the batches not being uploaded, the oldest of
	 * the lowest priority goes first. */
	int evicted = 0;
	size_t i;
	while ((s->bytes + len > s->max_bytes || have < need) &&
	       (i = eviction_victim(s)) < s->count) {
		char path[PATH_MAX];
		if (path_of(s, s->entries[i].name, path, sizeof(path)) == CNP_OK)
			cnp_fs_remove(path);
		cnp_warn("spool %s: full; dropped %s (%" PRIu32 " frames, priority %" PRId64 ")",
		         s->dir, s->entries[i].name, s->entries[i].frames, s->entries[i].priority);
		s->dropped_full += s->entries[i].frames;
		reowe(s, &s->entries[i]);
		remove_markers(s, s->entries[i].name);
		if (have != UINT64_MAX)
			have += s->entries[i].size;
		remove_at(s, i);
		evicted = 1;
	}
	/* The count must survive a crash before the batch is stored. */
	if (evicted)
		write_state(s);
	int rc = CNP_OK;
	if (have < need) {
		cnp_error("spool %s: the file system has %" PRIu64 " bytes free, less than "
		          "spool.min_free_bytes (%" PRIu64 ") plus the batch (%zu bytes); not "
		          "storing it",
		          s->dir, fs_free, s->min_free_bytes, len);
		rc = CNP_ERR_FULL;
		goto out;
	}
	rc = cnp_fs_write_atomic(s->dir, name, data, len);
	if (rc != CNP_OK) {
		cnp_error("spool %s: cannot write %s: %s", s->dir, name, cnp_fs_last_error());
		goto out;
	}
	rc = add_entry(s, name, len, frames, cnp_clock_wall_us(), priority, carried);
	if (rc != CNP_OK)
		goto out;
	s->entries[s->count - 1].digest_known = 1; /* names grow: it is last */
	memcpy(s->entries[s->count - 1].digest, digest, CNP_SHA256_LEN);
	s->entries[s->count - 1].crc32 = cnp_crc32(data, len);
	s->next_seq = seq + 1;
	s->has_last = 1;
	s->last_boot = s->boot;
	s->last_seq = seq;
	s->reported_full = s->taken_full;
	s->reported_corrupt = s->taken_corrupt;
	memcpy(s->reowed_reported, s->reowed_taken, sizeof(s->reowed_reported));
	s->taken_pending = 0;
	s->has_prev = 1;
	memcpy(s->prev, digest, CNP_SHA256_LEN);
	/* The batch is safe even if this fails: the next boot number is
	 * derived from the batch names as well. */
	write_state(s);
out:
	cnp_mutex_unlock(s->lock);
	return rc;
}

/* Mirror: the file saying that owner `o` acknowledged batch `name`. */
static int marker_name(const struct cnp_spool *s, const char *name, unsigned o, char *out,
                       size_t cap)
{
	int n = snprintf(out, cap, "%s%s%s", name, MARKER_INFIX, s->owner_tags[o]);
	return n < 0 || (size_t)n >= cap ? CNP_ERR_INVAL : CNP_OK;
}

/* Removes the acknowledgement markers of a batch leaving the spool. */
static void remove_markers(struct cnp_spool *s, const char *name)
{
	for (unsigned o = 0; o < s->n_owners; o++) {
		char m[CNP_SPOOL_NAME_MAX + 16], path[PATH_MAX];
		if (marker_name(s, name, o, m, sizeof(m)) == CNP_OK &&
		    path_of(s, m, path, sizeof(path)) == CNP_OK)
			cnp_fs_remove(path);
	}
}

static struct entry *find(struct cnp_spool *s, const char *name, size_t *index)
{
	for (size_t i = 0; i < s->count; i++) {
		if (strcmp(s->entries[i].name, name) == 0) {
			*index = i;
			return &s->entries[i];
		}
	}
	return NULL;
}

int cnp_spool_checkout(struct cnp_spool *s, struct cnp_spool_entry *out)
{
	return cnp_spool_checkout_for(s, CNP_SPOOL_ANY_OWNER, out);
}

int cnp_spool_checkout_for(struct cnp_spool *s, unsigned owner, struct cnp_spool_entry *out)
{
	int rc = CNP_ERR_NOTFOUND;
	cnp_mutex_lock(s->lock);
	for (size_t i = 0; i < s->count; i++) {
		struct entry *e = &s->entries[i];
		if (e->checked_out)
			continue;
		if (owner < s->n_owners && (e->acked & (1u << owner)))
			continue;
		e->checked_out = 1;
		memcpy(out->name, e->name, sizeof(out->name));
		out->size = e->size;
		out->frames = e->frames;
		out->digest_known = e->digest_known;
		memcpy(out->digest, e->digest, CNP_SHA256_LEN);
		out->crc32 = e->crc32;
		rc = CNP_OK;
		break;
	}
	cnp_mutex_unlock(s->lock);
	return rc;
}

void cnp_spool_release(struct cnp_spool *s, const char *name)
{
	size_t i;
	cnp_mutex_lock(s->lock);
	struct entry *e = find(s, name, &i);
	if (e)
		e->checked_out = 0;
	cnp_mutex_unlock(s->lock);
}

int cnp_spool_ack(struct cnp_spool *s, const char *name)
{
	char path[PATH_MAX];
	size_t i;
	int rc = path_of(s, name, path, sizeof(path));
	if (rc != CNP_OK)
		return rc;
	cnp_mutex_lock(s->lock);
	if (find(s, name, &i)) {
		rc = cnp_fs_remove(path);
		if (rc == CNP_OK || rc == CNP_ERR_NOTFOUND) {
			remove_markers(s, name);
			remove_at(s, i);
			rc = CNP_OK;
		} else {
			cnp_error("spool %s: cannot remove acknowledged %s: %s", s->dir, name,
			          cnp_fs_last_error());
		}
	} else {
		rc = CNP_ERR_NOTFOUND;
	}
	cnp_mutex_unlock(s->lock);
	return rc;
}

void cnp_spool_quarantine(struct cnp_spool *s, const char *name, uint32_t frames)
{
	size_t i;
	cnp_mutex_lock(s->lock);
	if (find(s, name, &i)) {
		reowe(s, &s->entries[i]);
		remove_markers(s, name);
		quarantine_counted(s, name, frames ? frames : 1);
		remove_at(s, i);
	}
	cnp_mutex_unlock(s->lock);
}

int cnp_spool_read(struct cnp_spool *s, const char *name, uint8_t **data, size_t *len)
{
	char path[PATH_MAX];
	int rc = path_of(s, name, path, sizeof(path));
	if (rc == CNP_OK)
		rc = cnp_fs_read_file(path, BATCH_FILE_MAX, data, len);
	return rc;
}

void cnp_spool_take_dropped(struct cnp_spool *s, uint64_t *spool_full, uint64_t *corrupt)
{
	cnp_mutex_lock(s->lock);
	*spool_full = s->dropped_full - s->reported_full;
	*corrupt = s->dropped_corrupt - s->reported_corrupt;
	s->taken_full = s->dropped_full;
	s->taken_corrupt = s->dropped_corrupt;
	cnp_mutex_unlock(s->lock);
}

void cnp_spool_take_all(struct cnp_spool *s, uint64_t dropped[CNP_DROP_REASONS])
{
	memset(dropped, 0, CNP_DROP_REASONS * sizeof(dropped[0]));
	cnp_spool_take_dropped(s, &dropped[CNP_DROP_SPOOL_FULL], &dropped[CNP_DROP_CORRUPT]);
	cnp_mutex_lock(s->lock);
	for (int r = 0; r < CNP_DROP_REASONS; r++) {
		dropped[r] += s->reowed[r] - s->reowed_reported[r];
		s->reowed_taken[r] = s->reowed[r];
	}
	s->taken_pending = 1;
	cnp_mutex_unlock(s->lock);
}

int cnp_spool_has_unreported(struct cnp_spool *s)
{
	cnp_mutex_lock(s->lock);
	int r = s->dropped_full != s->reported_full || s->dropped_corrupt != s->reported_corrupt ||
	        memcmp(s->reowed, s->reowed_reported, sizeof(s->reowed)) != 0;
	cnp_mutex_unlock(s->lock);
	return r;
}

int cnp_spool_oldest_wall_us(struct cnp_spool *s, uint64_t *wall_us)
{
	int rc = CNP_ERR_NOTFOUND;
	cnp_mutex_lock(s->lock);
	for (size_t i = 0; i < s->count; i++) {
		if (rc != CNP_OK || s->entries[i].stored_wall_us < *wall_us)
			*wall_us = s->entries[i].stored_wall_us;
		rc = CNP_OK;
	}
	cnp_mutex_unlock(s->lock);
	return rc;
}

int cnp_spool_was_stored(struct cnp_spool *s, uint32_t boot, uint64_t seq)
{
	cnp_mutex_lock(s->lock);
	int stored = s->has_last && !after(boot, seq, s->last_boot, s->last_seq);
	cnp_mutex_unlock(s->lock);
	return stored;
}

void cnp_spool_usage(struct cnp_spool *s, unsigned *batches, uint64_t *bytes)
{
	cnp_mutex_lock(s->lock);
	*batches = (unsigned)s->count;
	*bytes = s->bytes;
	cnp_mutex_unlock(s->lock);
}

/* Removes markers whose batch is no longer in the spool. */
static int orphan_cb(const char *name, void *arg)
{
	struct cnp_spool *s = arg;
	const char *infix = strstr(name, ".cnp" MARKER_INFIX);
	if (!infix || name[0] == '.')
		return 0;
	char batch[CNP_SPOOL_NAME_MAX];
	size_t n = (size_t)(infix - name) + 4;
	size_t i;
	if (n >= sizeof(batch))
		return 0;
	memcpy(batch, name, n);
	batch[n] = 0;
	if (!find(s, batch, &i)) {
		char path[PATH_MAX];
		if (path_of(s, name, path, sizeof(path)) == CNP_OK)
			cnp_fs_remove(path);
	}
	return 0;
}

int cnp_spool_set_owners(struct cnp_spool *s, unsigned n, const char *const tags[])
{
	if (n > CNP_SPOOL_MAX_OWNERS)
		return CNP_ERR_INVAL;
	for (unsigned o = 0; o < n; o++)
		if (strlen(tags[o]) != CNP_SPOOL_TAG_LEN ||
		    strspn(tags[o], "0123456789abcdef") != CNP_SPOOL_TAG_LEN)
			return CNP_ERR_INVAL;
	cnp_mutex_lock(s->lock);
	s->n_owners = n > 1 ? n : 0;
	for (unsigned o = 0; o < s->n_owners; o++)
		memcpy(s->owner_tags[o], tags[o], CNP_SPOOL_TAG_LEN + 1);
	/* What each endpoint already has, from the markers on flash. */
	unsigned done = 0;
	for (size_t i = 0; i < s->count; i++) {
		struct entry *e = &s->entries[i];
		e->acked = 0;
		for (unsigned o = 0; o < s->n_owners; o++) {
			char m[CNP_SPOOL_NAME_MAX + 16], path[PATH_MAX];
			uint64_t size;
			if (marker_name(s, e->name, o, m, sizeof(m)) == CNP_OK &&
			    path_of(s, m, path, sizeof(path)) == CNP_OK &&
			    cnp_fs_file_size(path, &size) == CNP_OK)
				e->acked |= 1u << o;
		}
		if (e->acked)
			done++;
	}
	cnp_fs_list(s->dir, orphan_cb, s);
	cnp_mutex_unlock(s->lock);
	if (done)
		cnp_info("spool %s: %u batches already delivered to some of the %u mirrored endpoints",
		         s->dir, done, n);
	return CNP_OK;
}

int cnp_spool_ack_for(struct cnp_spool *s, const char *name, unsigned owner)
{
	size_t i;
	cnp_mutex_lock(s->lock);
	struct entry *e = find(s, name, &i);
	if (owner >= s->n_owners || !e) {
		cnp_mutex_unlock(s->lock);
		return e ? cnp_spool_ack(s, name) : CNP_ERR_NOTFOUND;
	}
	unsigned all = (1u << s->n_owners) - 1u;
	if ((e->acked | (1u << owner)) == all) {
		cnp_mutex_unlock(s->lock);
		return cnp_spool_ack(s, name); /* the last owner: it leaves */
	}
	/* Flash first: a crash after this and the endpoint is not sent the
	 * batch again; before, it is sent again (the same key, no duplicate). */
	char m[CNP_SPOOL_NAME_MAX + 16];
	int rc = marker_name(s, name, owner, m, sizeof(m));
	if (rc == CNP_OK)
		rc = cnp_fs_write_atomic(s->dir, m, "", 0);
	e->checked_out = 0; /* the other owners may take it now */
	if (rc == CNP_OK)
		e->acked |= 1u << owner;
	else
		cnp_error("spool %s: cannot record that endpoint %s has %s: %s", s->dir,
		          s->owner_tags[owner], name, cnp_fs_last_error());
	cnp_mutex_unlock(s->lock);
	return rc;
}

int cnp_spool_refused_for(struct cnp_spool *s, const char *name, unsigned owner,
                          const void *data, size_t len)
{
	size_t i;
	cnp_mutex_lock(s->lock);
	int mirror = owner < s->n_owners && find(s, name, &i);
	char qdir[PATH_MAX], copy[CNP_SPOOL_NAME_MAX + CNP_SPOOL_TAG_LEN + 16];
	int rc = CNP_OK;
	if (mirror && (path_of(s, QUARANTINE_DIR, qdir, sizeof(qdir)) != CNP_OK ||
	               snprintf(copy, sizeof(copy), "%s.refused-%s", name, s->owner_tags[owner]) >=
	                   (int)sizeof(copy)))
		rc = CNP_ERR_INVAL;
	cnp_mutex_unlock(s->lock);
	if (!mirror)
		return CNP_ERR_NOTFOUND;
	/* A copy for whoever looks into why; the batch itself stays owed to
	 * the other endpoints. Best effort: the refusal is logged either way. */
	if (rc == CNP_OK)
		rc = cnp_fs_mkdirs(qdir);
	if (rc == CNP_OK)
		rc = cnp_fs_write_atomic(qdir, copy, data, len);
	if (rc != CNP_OK)
		cnp_warn("spool %s: cannot keep a copy of %s in %s/: %s", s->dir, name,
		         QUARANTINE_DIR, cnp_fs_last_error());
	return cnp_spool_ack_for(s, name, owner);
}
