/*
 * Codec 3, "signals-zlib": decoded signal samples as per-signal time series
 * (section kind 2), and codec 4, "events-jsonl-zlib": trigger events
 * (section kind 3). docs/FORMAT.md specifies the bytes.
 *
 * A sample is a signal's raw value (the integer the DBC scaling applies to,
 * or a float's IEEE bits) at a capture time; the stream it belongs to
 * carries the names, unit, scale and offset once, so that the physical
 * value a reader computes is exactly what cnp_dbc_physical() gives.
 */
#ifndef CNP_SIGCODEC_H
#define CNP_SIGCODEC_H

#include <stddef.h>
#include <stdint.h>

#define CNP_CODEC_SIGNALS_ZLIB 3
#define CNP_CODEC_EVENTS_JSONL_ZLIB 4

/* cnp_sig_desc.type: how the raw value is read. */
enum cnp_sig_type {
	CNP_SIG_UINT = 0,  /* unsigned integer */
	CNP_SIG_SINT = 1,  /* two's complement integer (sign-extended to 64 bits) */
	CNP_SIG_FLOAT32 = 2, /* IEEE binary32 bits in the low 32 bits */
	CNP_SIG_FLOAT64 = 3, /* IEEE binary64 bits */
};

/* Longest name or unit a stream carries (bytes, without NUL). */
#define CNP_SIG_NAME_MAX 255

/* What a stream of samples is. Strings are UTF-8, never NULL. */
struct cnp_sig_desc {
	uint8_t iface;       /* index into the batch's interfaces */
	uint8_t type;        /* enum cnp_sig_type */
	const char *message; /* DBC message name */
	const char *signal;  /* DBC signal name */
	const char *name;    /* name it is collected under (a VSS path), or "" */
	const char *unit;
	double scale, offset;
};

/* The physical value of a raw value of a stream. */
double cnp_sig_value(const struct cnp_sig_desc *d, uint64_t raw);

struct cnp_sig_encoder;

/* An encoder that holds at most about `max_bytes` of encoded payload. NULL
 * on allocation failure. */
struct cnp_sig_encoder *cnp_sig_encoder_create(size_t max_bytes, int zlib_level);
void cnp_sig_encoder_destroy(struct cnp_sig_encoder *e);

/*
 * Appends one sample to the stream `d` (streams are told apart by the
 * address of `d`, which must stay the same for the same stream; its
 * contents are copied when the stream first appears in a batch).
 * @retval CNP_ERR_FULL  no room: finish the batch and add it again (never
 *                       when the encoder is empty)
 * @retval CNP_ERR_NOMEM
 */
int cnp_sig_encoder_add(struct cnp_sig_encoder *e, const struct cnp_sig_desc *d,
                        uint64_t ts_us, uint64_t raw);
/* While `on`, cnp_sig_encoder_add() never says CNP_ERR_FULL: it takes the
 * rest of a frame whose first items are in the batch already, past
 * `max_bytes` (by at most that frame's samples). */
void cnp_sig_encoder_overfill(struct cnp_sig_encoder *e, int on);
/* Whether a sample of a stream the batch has already would be refused. */
int cnp_sig_encoder_full(const struct cnp_sig_encoder *e);
uint32_t cnp_sig_encoder_count(const struct cnp_sig_encoder *e);
/* Compresses into a new cnp_malloc buffer and empties the encoder. */
int cnp_sig_encoder_finish(struct cnp_sig_encoder *e, uint8_t **out, size_t *out_len,
                           size_t *raw_len);

/* A decoded sample; `desc` is valid during the callback only. */
struct cnp_sig_sample {
	uint64_t ts_us;
	uint64_t raw;
	double value;
	const struct cnp_sig_desc *desc;
};

/*
 * Decodes a stored signals section of `count` samples and calls cb for each
 * in time order (ties in stream order, then stream order of appearance). A
 * nonzero cb return stops and is returned.
 * @retval CNP_ERR_CORRUPT malformed; *why says how
 * @retval CNP_ERR_NOMEM
 */
int cnp_sig_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                   uint32_t count,
                   int (*cb)(const struct cnp_sig_sample *s, void *arg), void *arg,
                   const char **why);

/* Events: one JSON object per event, encoded as a line of text. */
struct cnp_event_encoder;
struct cnp_event_encoder *cnp_event_encoder_create(int zlib_level);
void cnp_event_encoder_destroy(struct cnp_event_encoder *e);
/* Appends one event: `json` is one JSON object without line ends. */
int cnp_event_encoder_add(struct cnp_event_encoder *e, const char *json);
uint32_t cnp_event_encoder_count(const struct cnp_event_encoder *e);
int cnp_event_encoder_finish(struct cnp_event_encoder *e, uint8_t **out, size_t *out_len,
                             size_t *raw_len);
/*
 * Decodes an events section: calls cb with each event's JSON text (NUL-
 * terminated, valid during the call).
 * @retval CNP_ERR_CORRUPT malformed (not `count` lines of JSON objects)
 */
int cnp_event_decode(const uint8_t *stored, size_t stored_len, size_t raw_len,
                     uint32_t count, int (*cb)(const char *json, void *arg), void *arg,
                     const char **why);

#endif
