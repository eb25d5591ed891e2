/*
 * Signal collection: decodes frames with the configured DBC files and
 * decides, frame by frame, what goes into the batch: raw frames, decoded
 * signal samples and trigger events, as a collection scheme document says
 * (docs/SCHEMES.md). Without a document every signal of every frame a DBC
 * covers is collected, each sample as decoded.
 *
 * Time is the capture clock of the frames (their ts_us): intervals,
 * windows, start and expiry times and window functions all use it, so a
 * replayed trace gives the same result as the live bus did.
 *
 * Not thread-safe: one collector belongs to the agent's main loop.
 */
#ifndef CNP_COLLECT_H
#define CNP_COLLECT_H

#include "firmware/dbc.h"
#include "firmware/frame.h"
#include "firmware/iface.h"
#include "firmware/sigcodec.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_COLLECT_MAX_DBC 8
#define CNP_COLLECT_MAX_SCHEMES 32
#define CNP_COLLECT_MAX_SIGNALS 1024  /* per scheme */
#define CNP_COLLECT_MAX_TRIGGERS 16   /* per scheme */
#define CNP_COLLECT_MAX_WINDOWS 64    /* post-trigger windows open at once */
#define CNP_COLLECT_DEFAULT_RING 16384 /* frames kept for pre-trigger windows */
#define CNP_COLLECT_MAX_RING 1000000
#define CNP_COLLECT_MAX_DOC_BYTES (1024u * 1024u)

/* A DBC database that decodes the frames of one interface (borrowed). */
struct cnp_collect_dbc {
	const char *iface;
	const struct cnp_dbc *db;
};

struct cnp_collect_options {
	const struct cnp_collect_dbc *dbcs;
	unsigned n_dbcs;
	int raw_all; /* every frame goes to the batch raw as well ("raw+signals") */
	/*
	 * The scheme document (JSON text, `doc_len` bytes), or NULL to collect
	 * everything. With `doc_is_array` the text is a bare array of schemes
	 * (the configuration's inline "schemes"). `origin` names it in errors
	 * (a file) and `path` is the JSON path of its root ("$" for a file of
	 * its own, "$.capture.schemes" inline).
	 */
	const char *doc;
	size_t doc_len;
	int doc_is_array;
	const char *origin;
	const char *path;
	/* A VSS mapping file's text ({"Vehicle.Speed": "MESSAGE.SIGNAL"}), or
	 * NULL; `vss_origin` names it. A document's own "vss" adds to it. */
	const char *vss;
	size_t vss_len;
	const char *vss_origin;
};

/* Where the collector puts what it collects; each returns CNP_OK or an
 * error that stops the frame's processing and is returned. */
struct cnp_collect_sink {
	int (*frame)(void *arg, const struct cnp_frame *f);
	int (*sample)(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw);
	int (*event)(void *arg, const char *json);
	void *arg;
};

struct cnp_collect_stats {
	uint64_t frames;      /* frames seen */
	uint64_t decoded;     /* frames a DBC described */
	uint64_t raw;         /* frames passed on raw */
	uint64_t samples;     /* samples passed on */
	uint64_t events;      /* triggers fired */
	uint64_t truncated;   /* events whose pre-trigger window the ring could
	                         not hold entirely */
	uint64_t messages;    /* reassembled messages a DBC described */
};

struct cnp_collector;

/*
 * Compiles the options. An invalid document is refused with `why` naming
 * the origin, the JSON path of the bad field and, in a condition, the
 * column: "schemes.json: $.schemes[0].triggers[1].condition: column 14:
 * unknown signal \"Foo\"".
 * @retval CNP_ERR_INVAL invalid document or mapping
 * @retval CNP_ERR_NOMEM
 */
int cnp_collector_create(const struct cnp_collect_options *o, struct cnp_collector **out,
                         char *why, size_t why_len);
void cnp_collector_destroy(struct cnp_collector *c);

/*
 * Processes one frame; `ifaces` names the frame's interface. Calls the sink
 * for what the frame yields, in this order: the frame itself if captured
 * raw, its samples, then for each trigger that fires an event followed by
 * the pre-trigger window's frames and samples not passed on before.
 */
int cnp_collector_frame(struct cnp_collector *c, const struct cnp_frame *f,
                        const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink);

/* Describes the samples of a DBC signal (name "": no VSS path). */
void cnp_collect_desc_init(struct cnp_sig_desc *d, const struct cnp_dbc_signal *sig,
                           uint8_t iface);

/*
 * A frame of a transport session (transport.h): handled as any frame (the
 * ring, raw capture, windows) but not decoded by the DBC, since its data
 * is only a piece of a message.
 */
int cnp_collector_transport_frame(struct cnp_collector *c, const struct cnp_frame *f,
                                  const struct cnp_ifaces *ifaces,
                                  const struct cnp_collect_sink *sink);

/* A message reassembled from transport frames (borrowed data). */
struct cnp_collect_message {
	uint64_t ts_us; /* of the frame that completed it */
	uint32_t id;
	uint8_t flags;  /* CNP_FRAME_EXT */
	uint8_t iface;
	const uint8_t *data;
	unsigned len;
};

/*
 * Decodes a reassembled message with its interface's DBC, as a frame of
 * that id and length would be (J1939: on its PGN), and fires the triggers
 * it makes true. Its samples are stamped with the completing frame's time.
 * It is not itself a frame: never captured raw, and not in the pre-trigger
 * ring (a window opened later holds its frames, not its samples).
 */
int cnp_collector_message(struct cnp_collector *c, const struct cnp_collect_message *msg,
                          const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink);

/* The document's "version", or NULL when there is none. */
const char *cnp_collector_version(const struct cnp_collector *c);
/* Number of signals the collector keeps state for, and its heap bytes. */
void cnp_collector_footprint(const struct cnp_collector *c, unsigned *signals, size_t *bytes);
void cnp_collector_stats(const struct cnp_collector *c, struct cnp_collect_stats *s);

#endif
