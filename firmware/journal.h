/*
 * The frame journal: frames on their way into the open batch, kept on
 * flash so that a crash loses none of them.
 *
 * One file, DIR/journal.cnj, holds the frames of the open batch only. It
 * starts with a header naming the batch it feeds (boot and sequence number)
 * and the sources' positions; then each source read that went into the
 * batch is appended as one record (its frames and the source's position
 * after them) with one write() call: no user-space buffering, so a killed
 * process loses nothing it appended, and every `sync_interval_us` the file
 * is flushed to the medium (fdatasync), so a power cut loses at most the
 * records of the last interval. Every record carries a checksum; a torn
 * tail (a write cut by a power cut) is detected, cut and counted.
 *
 * When the batch is stored in the spool, cnp_journal_restart() replaces the
 * file atomically with a new header for the next batch. After a crash,
 * cnp_journal_open() hands back the frames of the journal, the sources'
 * positions and the batch they were meant for; the caller asks the spool
 * whether that batch was stored after all (a crash between storing it and
 * restarting the journal), in which case the frames are already safe.
 *
 * Records are in the host's byte order: a journal is read back only by the
 * agent that wrote it, on the same machine. Not thread-safe.
 */
#ifndef CNP_JOURNAL_H
#define CNP_JOURNAL_H

#include "drivers/source.h"
#include "firmware/frame.h"
#include "firmware/iface.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_JOURNAL_FILE "journal.cnj"
/* A journal larger than this is not read back. */
#define CNP_JOURNAL_MAX_BYTES (512u * 1024u * 1024u)

/*
 * A signal sample that a source measured itself (GNSS, drivers/source.h):
 * which source, which of its stream descriptions (the source's
 * sample_desc op numbers them), its time and raw value.
 */
struct cnp_journal_sample {
	uint32_t src, k;
	uint64_t ts_us, raw;
};

/* What a previous run left in the journal. */
struct cnp_journal_recovered {
	int found;            /* a journal with a valid header was there */
	uint32_t boot;        /* the batch its frames were meant for */
	uint64_t seq;
	uint64_t malformed_reported; /* the agent's count when it started */
	struct cnp_frame *frames; /* cnp_malloc'd (free with cnp_free), or NULL */
	size_t n_frames;
	struct cnp_journal_sample *samples; /* likewise: sources' own samples */
	size_t n_samples;
	struct cnp_ifaces ifaces; /* the table the frames' iface fields index */
	int has_pos[CNP_MAX_SOURCES];
	struct cnp_source_pos pos[CNP_MAX_SOURCES]; /* after the last frame */
	uint64_t torn_bytes;  /* bytes of a torn or corrupt tail cut off */
};

struct cnp_journal;

/*
 * Opens DIR/journal.cnj, reading back what is there into *rec (zeroed
 * first) and keeping the sources' positions for the next restart. Appends
 * are refused until cnp_journal_restart(). `sync_interval_us` 0 syncs
 * after every append.
 * @retval CNP_ERR_NOMEM
 * @retval CNP_ERR_IO    the journal exists but cannot be read (logged)
 */
int cnp_journal_open(const char *dir, uint64_t sync_interval_us,
                     struct cnp_journal **out, struct cnp_journal_recovered *rec);
void cnp_journal_close(struct cnp_journal *j);

/*
 * Starts the journal of batch (boot, seq), atomically replacing the file:
 * a header, the interface table, every source's last position, and `n`
 * frames and `ns` samples that belong to that batch already (recovered
 * ones; n and ns may be 0).
 * `malformed_reported` is stored for the next recovery.
 * @retval CNP_ERR_IO    (logged); the previous journal is still there, and
 *                       appends are refused until a restart succeeds
 * @retval CNP_ERR_NOMEM
 */
int cnp_journal_restart(struct cnp_journal *j, uint32_t boot, uint64_t seq,
                        uint64_t malformed_reported, const struct cnp_ifaces *ifaces,
                        const struct cnp_frame *frames, size_t n,
                        const struct cnp_journal_sample *samples, size_t ns);

/*
 * Appends `n` frames read from source `src` (n may be 0), with the source's
 * position after them (NULL: the source cannot resume). One write() call;
 * an fdatasync when the sync interval has passed (`now_us`, monotonic).
 * The interface table is recorded first when it grew.
 * @retval CNP_ERR_IO    the write failed (logged once per failure streak)
 * @retval CNP_ERR_NOMEM
 * @retval CNP_ERR_INVAL before the first restart, or src out of range
 */
int cnp_journal_append(struct cnp_journal *j, unsigned src, const struct cnp_frame *frames,
                       size_t n, const struct cnp_source_pos *pos,
                       const struct cnp_ifaces *ifaces, uint64_t now_us);

/*
 * Appends `n` samples that sources measured themselves (each names its
 * source), as cnp_journal_append() does frames; no position changes.
 * @retval CNP_ERR_IO, CNP_ERR_NOMEM, CNP_ERR_INVAL as there
 */
int cnp_journal_append_samples(struct cnp_journal *j, const struct cnp_journal_sample *s,
                               size_t n, uint64_t now_us);

/* Syncs the file if appends are waiting and the interval has passed. */
void cnp_journal_tick(struct cnp_journal *j, uint64_t now_us);

/* Forgets source `src`'s position (it started over from the beginning). */
void cnp_journal_forget(struct cnp_journal *j, unsigned src);

#endif
