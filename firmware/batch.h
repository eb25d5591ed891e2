/*
 * The batch container: one batch is one object in the spool and in the
 * bucket. docs/FORMAT.md specifies the bytes; in short:
 *
 *   header (16 bytes) | manifest (JSON) | sections
 *     | signature block (signed batches only) | SHA-256 of all before
 *
 * Writer: frames go into an open batch until it is full or old enough, then
 * cnp_batch_writer_finish() builds the bytes, and signs them when given a
 * signer. Reader: cnp_batch_open() checks structure and digest and parses
 * the manifest; frames are then decoded on demand, and cnp_batch_verify()
 * checks the signature against a public key.
 */
#ifndef CNP_BATCH_H
#define CNP_BATCH_H

#include "firmware/codec.h"
#include "firmware/frame.h"
#include "firmware/iface.h"
#include "firmware/sigcodec.h"
#include "firmware/transport.h"
#include "platform/crypto.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_BATCH_MAGIC "CNPB"
#define CNP_BATCH_MAJOR 1
#define CNP_BATCH_MINOR 3 /* 1: signature block; 2: signal and event sections;
                             3: raw frames in codec 5 (cols-ck-zlib) */
/* The minor version written for a batch with signal or event sections and
 * raw frames in codec 1 or 2. */
#define CNP_BATCH_MINOR_SIGNALS 2
/* The minor version written for a batch without signal or event sections:
 * such a batch is readable by every 1.1 reader, byte for byte as before. */
#define CNP_BATCH_MINOR_RAW 1
#define CNP_BATCH_HEADER_LEN 16
#define CNP_BATCH_SECTION_HEADER_LEN 16
#define CNP_BATCH_VEHICLE_MAX 64 /* bytes of vehicle id, NUL included */
#define CNP_BATCH_MAX_SECTIONS 16
#define CNP_SPOOL_ID_LEN 16 /* hex digits of the random spool id */

/* Header flags. */
#define CNP_BATCH_FLAG_SIGNED 0x0001u /* a signature block follows the sections */

/* Signature block: type (1 byte), reserved 0 (1), length L (2), L bytes. */
#define CNP_BATCH_SIG_HEADER_LEN 4
#define CNP_SIG_ECDSA_P256_SHA256 1 /* DER ECDSA P-256 signature of a SHA-256 */

/* Section kinds. */
#define CNP_SECTION_RAW_FRAMES 1
#define CNP_SECTION_SIGNALS 2 /* decoded signal samples (codec 3), since 1.2 */
#define CNP_SECTION_EVENTS 3  /* trigger events (codec 4), since 1.2 */
/* An encrypted section: its body seals a whole inner section (header and
 * body) to the receiver's key; the codec byte names the scheme. */
#define CNP_SECTION_ENCRYPTED 4
#define CNP_SEAL_P256_HKDF_AES256GCM 1 /* platform/crypto.h cnp_seal() */
/* Section flag: a reader that does not know the kind or codec must refuse
 * the batch instead of skipping the section. */
#define CNP_SECTION_CRITICAL 0x0001u

/* Why frames were lost before reaching a batch; counted per batch. */
enum cnp_drop_reason {
	CNP_DROP_MALFORMED = 0,   /* input lines that did not parse */
	CNP_DROP_SPOOL_FULL = 1,  /* frames of batches evicted from a full spool */
	CNP_DROP_CORRUPT = 2,     /* frames of batches found corrupt on flash */
	CNP_DROP_KERNEL = 3,      /* frames the kernel dropped on a full socket
	                             receive queue (SocketCAN's SO_RXQ_OVFL) */
	CNP_DROP_REASONS
};

/* The manifest name of a drop reason. */
const char *cnp_drop_reason_name(enum cnp_drop_reason r);

/* What the agent knows about a batch when it seals it. */
struct cnp_batch_info {
	const char *vehicle;
	const char *spool_id; /* CNP_SPOOL_ID_LEN hex digits, random per spool */
	uint32_t boot;       /* agent start counter, persisted in the spool */
	uint64_t seq;        /* sequence number within the boot, from 0 */
	int has_prev;        /* nonzero: prev_sha256 holds the previous digest */
	uint8_t prev_sha256[CNP_SHA256_LEN];
	const struct cnp_ifaces *ifaces;
	uint64_t sealed_wall_us;
	uint64_t sealed_mono_us;
	uint64_t dropped[CNP_DROP_REASONS]; /* since the previous batch */
	/* Signs the batch when not NULL; borrowed for the finish call only,
	 * which must not overlap another use of the same signer. */
	const struct cnp_signer *signer;
	/* Version of the collection schemes in force, written to the manifest
	 * as "schemes"; NULL when none. */
	const char *schemes_version;
	/* Active polling since the previous batch, written to the manifest
	 * as "polling" when has_polling (docs/POLLING.md): requests sent,
	 * positive responses, timeouts, negative responses. */
	int has_polling;
	uint64_t poll_requests, poll_responses, poll_timeouts, poll_negative;
	/* Passive transport reassembly since the previous batch, written to
	 * the manifest as "transport" when has_transport (docs/TRANSPORT.md):
	 * messages reassembled and sessions broken, by reason. */
	int has_transport;
	struct cnp_tp_stats tp_isotp, tp_j1939;
	/* How much the batch matters when the spool is full (the highest
	 * priority of the collection schemes' events it holds; 0 without
	 * events): written to the manifest as "priority" when not 0. */
	int64_t priority;
	/* Encrypts every section to this receiver's public key when not NULL
	 * (docs/FORMAT.md "Encrypted section"); the digest and signature then
	 * cover the ciphertext. */
	const struct cnp_verifier *encrypt_to;
	/* Tests only, for reproducible bytes: a fixed ephemeral private key
	 * (CNP_SEAL_EPHEMERAL_LEN bytes) for the first section instead of a
	 * fresh one. NULL. */
	const uint8_t *test_ephemeral;
};

struct cnp_batch_writer;

/*
 * A writer whose open batch holds at most `max_bytes` of encoded payload.
 * @retval CNP_ERR_NOMEM
 */
int cnp_batch_writer_create(struct cnp_batch_writer **w,
                            const struct cnp_frame_codec *codec,
                            size_t max_bytes, int zlib_level);
void cnp_batch_writer_destroy(struct cnp_batch_writer *w);

/*
 * Adds a frame to the open batch.
 * @retval CNP_ERR_FULL no room: finish the batch, then add the frame again
 */
int cnp_batch_writer_add(struct cnp_batch_writer *w, const struct cnp_frame *f);

/* Frames in the open batch. */
uint32_t cnp_batch_writer_count(const struct cnp_batch_writer *w);

/*
 * Adds a decoded signal sample (see cnp_sig_encoder_add) or a trigger event
 * (one JSON object, no line end) to the open batch.
 * @retval CNP_ERR_FULL no room: finish the batch, then add it again
 * @retval CNP_ERR_NOMEM
 */
int cnp_batch_writer_add_sample(struct cnp_batch_writer *w, const struct cnp_sig_desc *d,
                                uint64_t ts_us, uint64_t raw);
int cnp_batch_writer_add_event(struct cnp_batch_writer *w, const char *json);

/*
 * While `on`, adding a sample never says CNP_ERR_FULL: the caller is adding
 * the rest of what one frame makes (its signals after its raw frame) and
 * keeps it in one batch, past `max_bytes` by at most that frame's samples,
 * so that a batch boundary never falls inside a frame (the frame journal
 * assigns each frame to one batch).
 */
void cnp_batch_writer_overfill(struct cnp_batch_writer *w, int on);
/* Whether the open batch should be sealed before the next frame's first
 * item: its signal section has no room for another sample. */
int cnp_batch_writer_full(const struct cnp_batch_writer *w);

/* Frames, samples and events in the open batch. */
uint32_t cnp_batch_writer_items(const struct cnp_batch_writer *w);

/*
 * Seals the open batch: builds the container into a new cnp_malloc buffer
 * (*out, caller frees), signs it when info->signer is set, writes its
 * SHA-256 to `digest`, and empties the writer for the next batch. A batch
 * without frames is allowed (it carries drop counts).
 * @retval CNP_ERR_NOMEM
 * @retval CNP_ERR_TOOBIG     manifest or payload beyond 4 GiB
 * @retval CNP_ERR_SIGNATURE  the signer failed (the frames are lost)
 * @retval CNP_ERR_IO         no random bytes for the encryption key
 */
int cnp_batch_writer_finish(struct cnp_batch_writer *w,
                            const struct cnp_batch_info *info, uint8_t **out,
                            size_t *out_len, uint8_t digest[CNP_SHA256_LEN]);

/* A parsed batch. Borrows the buffer given to cnp_batch_open(). */
struct cnp_batch {
	const uint8_t *buf;
	size_t len;
	unsigned major, minor;
	unsigned flags;      /* header flags, CNP_BATCH_FLAG_* and unknown bits */
	int is_signed;       /* the batch carries a signature block */
	uint8_t sig_type;    /* CNP_SIG_*, or a type this reader does not know */
	size_t signed_len;   /* bytes the signature covers: buf[0..signed_len) */
	size_t sig_offset;   /* of the signature bytes in buf */
	size_t sig_len;
	char vehicle[CNP_BATCH_VEHICLE_MAX];
	char spool_id[CNP_SPOOL_ID_LEN + 1];
	uint32_t boot;
	uint64_t seq;
	uint32_t frames;
	int has_prev;
	uint8_t prev_sha256[CNP_SHA256_LEN];
	uint8_t sha256[CNP_SHA256_LEN];
	uint64_t first_us, last_us;
	uint64_t dropped[CNP_DROP_REASONS];
	struct cnp_ifaces ifaces;
	uint32_t samples, events; /* manifest "samples", "events" (0 if absent) */
	char schemes[64];         /* manifest "schemes" (version), "" if absent */
	int64_t priority;         /* manifest "priority", 0 if absent */
	int encrypted; /* some section was encrypted (see cnp_batch_decrypt) */
	unsigned nsections;
	struct {
		uint8_t kind, codec;
		uint16_t flags;
		uint32_t count, raw_len, stored_len;
		size_t offset; /* of the section's body in buf */
		/* The body: buf + offset, or after cnp_batch_decrypt the
		 * decrypted inner section's body. */
		const uint8_t *body;
	} sections[CNP_BATCH_MAX_SECTIONS];
};

/*
 * Checks a whole batch: magic, version, lengths, digest, manifest, and the
 * layout of the signature block when the header says it is signed (not the
 * signature itself: see cnp_batch_verify).
 * @retval CNP_ERR_CORRUPT     malformed, truncated or digest mismatch
 * @retval CNP_ERR_UNSUPPORTED a major version or critical section this
 *                             reader does not know
 * On failure `why` holds a sentence for the user.
 */
/*
 * cnp_batch_open for a batch whose digest the caller already knows (it
 * sealed it): when the batch ends with `known` (CNP_SHA256_LEN bytes), the
 * SHA-256 pass over the whole batch is skipped and the rest is checked as
 * by cnp_batch_open; otherwise (or with known NULL) it is cnp_batch_open.
 */
int cnp_batch_open_known(const uint8_t *buf, size_t len, const uint8_t *known,
                         struct cnp_batch *b, char *why, size_t why_len);
int cnp_batch_open(const uint8_t *buf, size_t len, struct cnp_batch *b,
                   char *why, size_t why_len);

/*
 * Checks the signature of an opened batch with a public key. Does not block
 * on I/O; costs one SHA-256 of the batch and one ECDSA verification. Calls
 * with the same verifier must not overlap (see cnp_verifier_verify).
 * @retval CNP_OK            signed by the key of `v`, unchanged since
 * @retval CNP_ERR_SIGNATURE unsigned, of a signature type this reader does
 *                           not know, altered after signing, or signed by
 *                           another key; `why` says which it can tell
 * @retval CNP_ERR_NOMEM
 */
int cnp_batch_verify(const struct cnp_batch *b, const struct cnp_verifier *v,
                     char *why, size_t why_len);

/*
 * Decrypts the encrypted sections of an opened batch with the receiver's
 * private key (the file `encrypt_to` names the public half of): each is
 * replaced in b->sections by the section it seals, whose body lies in
 * *plain (a new cnp_malloc buffer, NULL when nothing was encrypted; free
 * it after the last use of b), and the counts are checked against the
 * manifest. The ciphertext is bound to every byte of the batch before it,
 * so a header or manifest altered and the digest recomputed fails here
 * too. On failure *plain is NULL and `why` says why.
 * @retval CNP_ERR_KEY     encrypted to another key
 * @retval CNP_ERR_CORRUPT altered ciphertext, tag or manifest, or a
 *                         decrypted section that does not fit its envelope
 * @retval CNP_ERR_NOMEM
 */
int cnp_batch_decrypt(struct cnp_batch *b, const struct cnp_signer *key, uint8_t **plain,
                      char *why, size_t why_len);

/*
 * Reads only the manifest's frame count of a batch that failed
 * cnp_batch_open (torn or corrupt), without checking the digest: how many
 * frames a damaged batch cost, when its header and manifest survive.
 * @retval CNP_ERR_CORRUPT the header or manifest is unreadable too
 */
int cnp_batch_peek_frames(const uint8_t *buf, size_t len, uint32_t *frames);

/*
 * Decodes the raw frames of an opened batch in order, calling cb for each
 * with the frame's interface name. A nonzero cb return stops and is
 * returned. @retval CNP_ERR_CORRUPT with `why` set.
 * @retval CNP_ERR_KEY an encrypted section was not decrypted first
 */
int cnp_batch_frames(const struct cnp_batch *b,
                     int (*cb)(const struct cnp_frame *f, const char *ifname,
                               void *arg),
                     void *arg, char *why, size_t why_len);

/*
 * Decodes the signal samples (in time order within each section) and the
 * events of an opened batch. As cnp_batch_frames; `ifname` is the name of
 * the sample's interface.
 */
int cnp_batch_samples(const struct cnp_batch *b,
                      int (*cb)(const struct cnp_sig_sample *s, const char *ifname,
                                void *arg),
                      void *arg, char *why, size_t why_len);
int cnp_batch_events(const struct cnp_batch *b, int (*cb)(const char *json, void *arg),
                     void *arg, char *why, size_t why_len);

#endif
