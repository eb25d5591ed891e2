/*
 * Payload codecs: how a section's items are laid out and compressed. The
 * batch container names the codec of each section by id, so codecs can be
 * added without changing the container. docs/FORMAT.md specifies each one.
 *
 * An encoder holds at most `max_bytes` of encoded, uncompressed payload:
 * that is the memory bound of one open batch.
 */
#ifndef CNP_CODEC_H
#define CNP_CODEC_H

#include "firmware/frame.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_CODEC_ROWS_ZLIB 1 /* raw frames, one row each, then zlib */
#define CNP_CODEC_COLS_ZLIB 2 /* raw frames in columns, then zlib */
/* 3 and 4 are the signal and event codecs (firmware/sigcodec.h). */
#define CNP_CODEC_COLS_CK_ZLIB 5 /* codec 2 with checksums recomputed (default) */

/* Largest decoded payload a reader accepts: bounds memory on hostile input. */
#define CNP_CODEC_MAX_RAW (64u * 1024u * 1024u)

struct cnp_frame_encoder;

struct cnp_frame_codec {
	uint8_t id;
	const char *name; /* as written in the manifest */

	/* NULL on allocation failure. */
	struct cnp_frame_encoder *(*create)(size_t max_bytes, int zlib_level);
	void (*destroy)(struct cnp_frame_encoder *enc);
	/*
	 * Appends one frame.
	 * @retval CNP_ERR_FULL the frame does not fit in max_bytes: finish
	 *         this batch and add it to the next. Never returned when the
	 *         encoder is empty.
	 */
	int (*add)(struct cnp_frame_encoder *enc, const struct cnp_frame *f);
	/* Frames added since the last finish. */
	uint32_t (*count)(const struct cnp_frame_encoder *enc);
	/* Encoded bytes held now (before compression). */
	size_t (*raw_size)(const struct cnp_frame_encoder *enc);
	/*
	 * Compresses what was added into a new cnp_malloc buffer (*out, caller
	 * frees) and empties the encoder. *raw_len is the size before
	 * compression, as the decoder needs it.
	 */
	int (*finish)(struct cnp_frame_encoder *enc, uint8_t **out,
	              size_t *out_len, size_t *raw_len);
	/*
	 * Decodes `count` frames from a stored payload and calls cb for each
	 * in order; a nonzero cb return stops and is returned.
	 * @retval CNP_ERR_CORRUPT the payload is malformed; *why says how
	 */
	int (*decode)(const uint8_t *stored, size_t stored_len, size_t raw_len,
	              uint32_t count,
	              int (*cb)(const struct cnp_frame *f, void *arg), void *arg,
	              const char **why);
};

extern const struct cnp_frame_codec cnp_codec_rows_zlib;
extern const struct cnp_frame_codec cnp_codec_cols_zlib;
extern const struct cnp_frame_codec cnp_codec_cols_ck_zlib;

/* The codec with this id, or NULL. */
const struct cnp_frame_codec *cnp_codec_by_id(uint8_t id);
/* The codec with this manifest name, or NULL. */
const struct cnp_frame_codec *cnp_codec_by_name(const char *name);

#endif
