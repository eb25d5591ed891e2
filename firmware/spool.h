/*
 * The spool: sealed batches on flash, waiting for the endpoint.
 *
 * - A batch is written atomically (temporary file, fsync, rename, directory
 *   fsync) as DIR/BBBBBBBB-SSSSSSSSSSSS.cnp (boot and sequence number, zero
 *   padded so that names sort in order) and removed only by cnp_spool_ack(),
 *   after an endpoint acknowledged it.
 * - DIR/state.json keeps the boot counter, the next sequence number and the
 *   digest of the last batch, so batch names never repeat and batches form
 *   a chain across restarts.
 * - On open, every batch is verified (structure and SHA-256); a corrupt or
 *   torn one is moved to DIR/quarantine/ and its frames (when the manifest
 *   can still be read) or the batch itself are counted.
 * - Bounded by max_bytes: when a new batch does not fit, batches not being
 *   uploaded are evicted, the oldest of the lowest priority (the manifest's
 *   "priority", 0 when absent) first, and their frames counted as dropped. The
 *   batch being uploaded is never evicted, so the spool can exceed max_bytes
 *   by at most that one batch.
 *
 * Thread-safe: the collector puts while the uploader checks out and acks.
 */
#ifndef CNP_SPOOL_H
#define CNP_SPOOL_H

#include "firmware/batch.h"
#include "platform/crypto.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_SPOOL_NAME_MAX 32
/* Mirror: at most this many endpoints owed each batch, named by tags of
 * CNP_SPOOL_TAG_LEN hex digits. */
#define CNP_SPOOL_MAX_OWNERS 8
#define CNP_SPOOL_TAG_LEN 8
#define CNP_SPOOL_ANY_OWNER 0xffffffffu

struct cnp_spool_config {
	const char *dir;
	uint64_t max_bytes; /* total size of stored batches */
	/* Free space to leave on the spool's file system (0: no such bound). */
	uint64_t min_free_bytes;
};

struct cnp_spool_entry {
	char name[CNP_SPOOL_NAME_MAX]; /* file name in the spool directory */
	uint64_t size;
	uint32_t frames;
	/* Stored by this process: the SHA-256 computed when it was sealed and
	 * the CRC-32 of the bytes written. When the bytes read back have that
	 * CRC, the uploader need not hash them again (cnp_batch_open_known):
	 * flash damage since the write still fails the CRC and gets the full
	 * check. 0 for batches found on flash at open: checked in full. */
	int digest_known;
	uint8_t digest[CNP_SHA256_LEN];
	uint32_t crc32;
};

struct cnp_spool;

/*
 * Opens (creating if needed) the spool directory, starts a new boot,
 * verifies and indexes the batches already there.
 * @retval CNP_ERR_IO the directory cannot be created or written; the log
 *                    says which and why
 */
int cnp_spool_open(const struct cnp_spool_config *cfg, struct cnp_spool **out);
void cnp_spool_close(struct cnp_spool *s);

/* The spool's random id (CNP_SPOOL_ID_LEN hex digits), made when the spool
 * is created: it keeps object keys unique when a vehicle's flash is wiped
 * and boot numbers start again. */
const char *cnp_spool_id(const struct cnp_spool *s);

/* The boot number of this run (previous boot + 1). */
uint32_t cnp_spool_boot(const struct cnp_spool *s);

/* The sequence number and previous digest for the next batch. */
void cnp_spool_next(struct cnp_spool *s, uint64_t *seq, int *has_prev,
                    uint8_t prev[CNP_SHA256_LEN]);

/*
 * Stores a sealed batch with sequence number `seq` (from cnp_spool_next).
 * Evicts the oldest batches if needed (see cnp_spool_take_dropped): while
 * the spool would exceed max_bytes, or the file system would keep less than
 * min_free_bytes free.
 * @retval CNP_ERR_TOOBIG the batch alone is larger than max_bytes
 * @retval CNP_ERR_FULL   min_free_bytes cannot be kept even with every
 *                        batch that may go evicted; nothing was stored
 * @retval CNP_ERR_IO     the write failed; nothing was stored
 */
int cnp_spool_put(struct cnp_spool *s, uint64_t seq, const uint8_t *data,
                  size_t len, uint32_t frames,
                  const uint8_t digest[CNP_SHA256_LEN]);
/* The same for a batch of the given priority (its manifest's "priority"):
 * when the spool is full, lower priorities are evicted first. `carried`
 * (NULL: none) is its manifest's "dropped": if the batch is evicted or
 * quarantined before delivery, those counts are owed again and go into a
 * later batch (cnp_spool_take_all), so no count vanishes with a batch. */
int cnp_spool_put_priority(struct cnp_spool *s, uint64_t seq, const uint8_t *data, size_t len,
                           uint32_t frames, const uint8_t digest[CNP_SHA256_LEN],
                           int64_t priority, const uint64_t carried[CNP_DROP_REASONS]);

/*
 * The oldest batch not checked out, now checked out (skipped by eviction)
 * until acked or released. @retval CNP_ERR_NOTFOUND none waiting.
 */
int cnp_spool_checkout(struct cnp_spool *s, struct cnp_spool_entry *e);
/*
 * Mirror (several owners): the oldest batch not checked out that `owner`
 * has not acknowledged yet. CNP_SPOOL_ANY_OWNER: as cnp_spool_checkout.
 */
int cnp_spool_checkout_for(struct cnp_spool *s, unsigned owner, struct cnp_spool_entry *e);
/*
 * Mirror: every batch is owed to `n` endpoints (n >= 2; 0 or 1: a batch
 * leaves at its first acknowledgement), named by `tags` (CNP_SPOOL_TAG_LEN
 * lower-case hex digits, stable across restarts: derived from the URL).
 * Reads which of them already have which batch from the markers on flash
 * (BATCH.ack-TAG) and removes markers of batches no longer in the spool.
 * @retval CNP_ERR_INVAL more than CNP_SPOOL_MAX_OWNERS, or a bad tag
 */
int cnp_spool_set_owners(struct cnp_spool *s, unsigned n, const char *const tags[]);
/*
 * Mirror: `owner` acknowledged the batch. The batch leaves the spool when
 * every owner has; until then a marker on flash (written atomically before
 * this returns) records it, so a restart does not send it to that owner
 * again. Without owners: cnp_spool_ack.
 */
int cnp_spool_ack_for(struct cnp_spool *s, const char *name, unsigned owner);
/*
 * Mirror: `owner` refused the batch for good (a 4xx other than 401, 403,
 * 408 and 429). A copy goes to quarantine/NAME.refused-TAG, and the batch
 * counts as done for that owner only: the others still get it, and it
 * leaves once they have.
 * @retval CNP_ERR_NOTFOUND no owners, or no such batch
 */
int cnp_spool_refused_for(struct cnp_spool *s, const char *name, unsigned owner,
                          const void *data, size_t len);
/* Gives a checked-out batch back (upload failed; retry later). */
void cnp_spool_release(struct cnp_spool *s, const char *name);
/* Deletes a batch the endpoint acknowledged. */
int cnp_spool_ack(struct cnp_spool *s, const char *name);
/* Moves a batch that fails its checks to quarantine/ and counts it. */
void cnp_spool_quarantine(struct cnp_spool *s, const char *name,
                          uint32_t frames_if_known);

/* Reads a batch's bytes into a cnp_malloc buffer (caller frees). */
int cnp_spool_read(struct cnp_spool *s, const char *name, uint8_t **data,
                   size_t *len);

/*
 * Frames lost by eviction (spool_full) and corruption not yet reported by a
 * stored batch; they go into the manifest of the batch being sealed, and
 * count as reported once cnp_spool_put() stores it (so a batch that is
 * never stored leaves them for the next one). The counts live in
 * state.json: a crash between storing a batch and updating state.json is
 * recognised on open, so no drop is reported twice or not at all.
 */
void cnp_spool_take_dropped(struct cnp_spool *s, uint64_t *spool_full,
                            uint64_t *corrupt);
/* The same for every reason: spool_full and corrupt as above, plus the
 * malformed-input and kernel counts of evicted or quarantined batches,
 * owed again. The caller adds its own new malformed and kernel drops. */
void cnp_spool_take_all(struct cnp_spool *s, uint64_t dropped[CNP_DROP_REASONS]);

/* Nonzero while some dropped frames wait for a stored batch to report
 * them (the agent then seals a batch for them even without frames). */
int cnp_spool_has_unreported(struct cnp_spool *s);

/* When the oldest stored batch was written (wall clock, microseconds since
 * the Unix epoch; its file's time for batches of earlier runs).
 * @retval CNP_ERR_NOTFOUND the spool is empty */
int cnp_spool_oldest_wall_us(struct cnp_spool *s, uint64_t *wall_us);
/*
 * Nonzero if batch (boot, seq) was stored, whether or not it has been
 * uploaded since: batch names only grow, and the spool remembers the last
 * one it stored (in state.json, corrected on open by the batches found).
 */
int cnp_spool_was_stored(struct cnp_spool *s, uint32_t boot, uint64_t seq);

/* Batches and bytes stored now. */
void cnp_spool_usage(struct cnp_spool *s, unsigned *batches, uint64_t *bytes);

#endif
