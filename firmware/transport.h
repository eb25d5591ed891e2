/*
 * Passive transport reassembly (docs/TRANSPORT.md): ISO-TP (ISO 15765-2)
 * and J1939 transport (SAE J1939-21 TP.CM / TP.DT, BAM and RTS/CTS)
 * sessions seen on the bus are put back together into the messages they
 * carry, so that a DBC can decode them like any frame.
 *
 * A session that breaks (a frame missing, a sequence number out of order,
 * a timeout by the frames' own timestamps, an abort, a new session over an
 * open one) is counted by reason and dropped: a message is only ever
 * passed on whole, with every byte in place.
 *
 * Time is the frames' capture clock (ts_us), so a replayed trace gives what
 * the live bus gave. Not thread-safe: one reassembler per agent main loop.
 */
#ifndef CNP_TRANSPORT_H
#define CNP_TRANSPORT_H

#include "firmware/frame.h"
#include "firmware/iface.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_TP_MAX_RANGES 16     /* ISO-TP id ranges per interface */
#define CNP_TP_MAX_IFACES 8      /* interfaces with transport configured */
#define CNP_TP_MAX_SESSIONS 64   /* sessions open at once, all interfaces */
#define CNP_ISOTP_MAX_LEN 65535u /* longest ISO-TP message reassembled */
#define CNP_J1939_MAX_LEN 1785u  /* 255 packets of 7 bytes */

/* Timeouts, microseconds (ISO 15765-2 N_Cr; SAE J1939-21 T1..T4). */
#define CNP_ISOTP_N_CR_US 1000000u
#define CNP_J1939_T1_US 750000u  /* between two data packets */
#define CNP_J1939_T2_US 1250000u /* after a CTS, before its first packet */
#define CNP_J1939_T3_US 1250000u /* after an RTS or a CTS window's last
                                    packet, before the CTS or EoMA */
#define CNP_J1939_T4_US 1050000u /* after a CTS holding the connection */

/* ISO-TP ids first..last, 11-bit or 29-bit (`extended`). */
struct cnp_tp_range {
	uint32_t first, last;
	int extended;
};

/* What one interface carries. */
struct cnp_tp_config {
	struct cnp_tp_range isotp[CNP_TP_MAX_RANGES];
	unsigned n_isotp;           /* 0: no ISO-TP (the default) */
	int isotp_length_prefix;    /* message = low byte of its length, then
	                               the payload (CSS Electronics' layout) */
	int j1939;                  /* reassemble TP.CM/TP.DT (PGN 0xEC00/0xEB00) */
};

enum cnp_tp_reason {
	CNP_TP_MISSING = 0,   /* a frame skipped: sequence number one ahead */
	CNP_TP_WRONG_SN = 1,  /* any other sequence number out of order */
	CNP_TP_TIMEOUT = 2,   /* N_Cr or T1..T4 elapsed */
	CNP_TP_ABORT = 3,     /* J1939 Conn_Abort */
	CNP_TP_REPLACED = 4,  /* a new FF or SF (RTS or BAM) over an open one */
	CNP_TP_MALFORMED = 5, /* bad PCI, length or control message */
	CNP_TP_TOO_LONG = 6,  /* announced length above the limit */
	CNP_TP_STRAY = 7,     /* a CF or DT with no session open */
	CNP_TP_NO_SLOT = 8,   /* CNP_TP_MAX_SESSIONS open already */
	CNP_TP_REASONS
};

/* The status-file name of a reason ("missing_frame", ...). */
const char *cnp_tp_reason_name(int reason);

struct cnp_tp_stats {
	uint64_t messages;                  /* passed on whole */
	uint64_t broken[CNP_TP_REASONS];    /* dropped, by reason */
	uint64_t flow_control;              /* ISO-TP FC frames seen */
};

/* One interface's configuration (borrowed). */
struct cnp_tp_iface {
	const char *iface;
	const struct cnp_tp_config *cfg;
};

/* A reassembled message: valid during the callback only. */
struct cnp_tp_message {
	uint64_t ts_us;     /* the frame that completed it */
	uint32_t id;        /* ISO-TP: the CAN id; J1939: priority, PGN, SA */
	uint8_t flags;      /* CNP_FRAME_EXT, CNP_FRAME_FD */
	uint8_t iface;
	int j1939;          /* 0: ISO-TP */
	const uint8_t *data;
	size_t len;
};

/* Nonzero return: stops and is returned by cnp_tp_frame(). */
typedef int (*cnp_tp_message_cb)(void *arg, const struct cnp_tp_message *m);

struct cnp_tp;

/*
 * `ifs` is copied; the configurations it points to are too.
 * @retval CNP_ERR_INVAL more than CNP_TP_MAX_IFACES interfaces
 * @retval CNP_ERR_NOMEM
 */
int cnp_tp_create(const struct cnp_tp_iface *ifs, unsigned n, struct cnp_tp **out);
void cnp_tp_destroy(struct cnp_tp *t);

/*
 * Nonzero when the frame belongs to the transport layer (an ISO-TP id, or
 * a J1939 TP.CM/TP.DT frame on an interface that reassembles J1939): a
 * DBC should then not decode it as a frame of its own.
 */
int cnp_tp_claims(struct cnp_tp *t, const struct cnp_frame *f, const struct cnp_ifaces *ifaces);

/*
 * Feeds one frame (any frame: each one advances the clock that times
 * sessions out). Calls `cb` for each message the frame completes. A session that finds no slot or no memory
 * for its buffer is counted no_slot, and the frames go on.
 * @retval CNP_OK
 * @retval other  what cb returned
 */
int cnp_tp_frame(struct cnp_tp *t, const struct cnp_frame *f, const struct cnp_ifaces *ifaces,
                 cnp_tp_message_cb cb, void *arg);

/* For a frame not claimed: advances the clock that times sessions out
 * (cnp_tp_frame() does for the frames it is given). */
void cnp_tp_tick(struct cnp_tp *t, uint64_t ts_us);

/* Counters since creation; isotp and j1939 apart. */
void cnp_tp_stats(const struct cnp_tp *t, struct cnp_tp_stats *isotp,
                  struct cnp_tp_stats *j1939);

/* Counters of `now` minus those of `then` (taken earlier): what happened
 * between two snapshots, as each batch's manifest reports it. */
void cnp_tp_stats_since(const struct cnp_tp_stats *now, const struct cnp_tp_stats *then,
                        struct cnp_tp_stats *out);

/*
 * Adds {"isotp": {...}, "j1939": {...}} to `obj` (a cJSON object; void *
 * so that this header needs no cJSON): per protocol "messages" and
 * "broken" by reason name. `full` (the status file): every reason, and
 * ISO-TP's "flow_control"; otherwise (a batch's manifest) only the reasons
 * that are not 0, a reader taking a missing one as 0.
 * @retval CNP_OK
 * @retval CNP_ERR_NOMEM
 */
int cnp_tp_stats_json(void *obj, const struct cnp_tp_stats *isotp,
                      const struct cnp_tp_stats *j1939, int full);

/* Sessions open now. */
unsigned cnp_tp_open(const struct cnp_tp *t);

#endif
