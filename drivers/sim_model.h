/*
 * The traffic simulator's model: a pure, deterministic generator of the CAN
 * and CAN FD traffic of a simulated car (profile "ev": a battery-electric
 * car with driver assistance; "ice": a petrol car). No OS calls, no clock:
 * simulated time only. Same profile, seed, start and duration give the same
 * frames, bit for bit, on every architecture: everything that lands in a
 * frame is integer arithmetic on the model's own PRNG (splitmix64).
 *
 * What it models (docs/SIMULATOR.md has the full catalogue):
 *   - a drive cycle (park, accelerate, cruise, brake, stop, charge) that
 *     every signal follows smoothly: speed, wheel speeds, yaw, steering,
 *     motor and engine states, battery cells, temperatures, ADAS objects;
 *   - every message on its own cycle time, each ECU with its own clock
 *     drift, per-transmission jitter, rolling counters and checksums;
 *   - the buses: frames are serialised per bus (arbitration by id, frame
 *     length at the bus's bit rates with worst-case bit stuffing), and a
 *     frame's timestamp is the end of its transmission.
 *
 * The message and signal tables below are what the model sends and what
 * cnp_sim_dbc_write() describes, so the DBC cannot drift from the model.
 *
 * Not thread-safe; one model per thread.
 */
#ifndef CNP_SIM_MODEL_H
#define CNP_SIM_MODEL_H

#include "firmware/frame.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_SIM_MAX_BUSES 3

/* struct cnp_sim_signal.flags */
#define CNP_SIM_SIG_SIGNED 0x01u   /* two's complement raw value */
#define CNP_SIM_SIG_MOTOROLA 0x02u /* big endian; start is the DBC start bit
                                      (the most significant bit) */
#define CNP_SIM_SIG_COUNTER 0x04u  /* rolling counter, +1 per frame of the id */
#define CNP_SIM_SIG_CHECKSUM 0x08u /* the message's checksum (one byte) */
#define CNP_SIM_SIG_MUX 0x10u      /* the multiplexor */

/* struct cnp_sim_message.checksum */
enum cnp_sim_checksum {
	CNP_SIM_CK_NONE = 0,
	/* CRC-8/SAE-J1850 (poly 0x1D, init 0xFF, xor-out 0xFF) over the id's
	 * low byte, its second byte, then every payload byte but the checksum's
	 * own (AUTOSAR E2E profile 1 style, the data id being the CAN id). */
	CNP_SIM_CK_CRC8_J1850 = 1,
	/* 8-bit sum of the payload length, the id's low byte, its second byte
	 * and every payload byte but the checksum's own (Toyota style). */
	CNP_SIM_CK_SUM8 = 2,
};

struct cnp_sim_signal {
	const char *name;    /* unique within the profile */
	const char *unit;    /* "" when none */
	const char *values;  /* DBC value table body ("0 \"Off\" 1 \"On\""), or NULL */
	const char *comment; /* or NULL */
	double factor, offset; /* physical = raw * factor + offset (DBC text only) */
	double min, max;       /* physical range, as the DBC states it */
	int64_t raw_min, raw_max; /* the model never sends a raw value outside */
	uint16_t start;      /* DBC start bit: the lsb (Intel) or msb (Motorola) */
	uint8_t size;        /* bits, 1..32 */
	uint8_t flags;       /* CNP_SIM_SIG_* */
	int16_t mux;         /* -1: in every frame; else the multiplexor value
	                        the signal is sent under */
};

struct cnp_sim_msg_impl; /* private to the model */

struct cnp_sim_message {
	uint32_t id;         /* 11 or 29 bits (see ext) */
	const char *name;
	const char *sender;  /* the ECU, a DBC node */
	const char *comment; /* or NULL */
	uint8_t bus;         /* index into the profile's buses */
	uint8_t ext;         /* 29-bit identifier */
	uint8_t fd;          /* CAN FD frame with bit rate switch */
	uint8_t len;         /* payload bytes (a valid CAN FD length when fd) */
	uint8_t checksum;    /* enum cnp_sim_checksum */
	uint32_t period_us;  /* nominal cycle of each (multiplexed) instance */
	uint16_t n_mux;      /* multiplexed: mux values 0..n_mux-1, sent one after
	                        the other, evenly spread over period_us; else 1 */
	uint16_t burst;      /* >1: the first of a group of `burst` messages (the
	                        next ones in the table) sent back to back each
	                        period, as a sensor sends its object list; 0 for
	                        the group's other members; 1 otherwise */
	const struct cnp_sim_signal *signals;
	unsigned n_signals;
	uint32_t tx_ns;      /* time on the bus, worst-case bit stuffing */
};

struct cnp_sim_bus {
	const char *name;       /* "can0" */
	const char *role;       /* "powertrain", "chassis", "ADAS" */
	uint32_t bitrate;       /* arbitration (nominal) bit rate, bit/s */
	uint32_t data_bitrate;  /* CAN FD data phase bit rate; 0 for classic */
};

struct cnp_sim_profile {
	const char *name;       /* "ev" or "ice" */
	const char *title;      /* one line for humans and the DBC */
	struct cnp_sim_bus buses[CNP_SIM_MAX_BUSES];
	unsigned n_buses;
	const struct cnp_sim_message *messages;
	unsigned n_messages;
	const char *const *nodes; /* every sender, in order of first use */
	unsigned n_nodes;
	const struct cnp_sim_msg_impl *impl; /* private */
};

/* The profile names the model knows, NULL-terminated. */
extern const char *const cnp_sim_profile_names[];

/*
 * Builds the tables of profile `name`. The result is owned by the caller.
 * @retval CNP_ERR_INVAL   unknown profile
 * @retval CNP_ERR_CORRUPT the tables fail their own checks (overlapping
 *                         signals, bad lengths, duplicate ids: a model bug)
 * @retval CNP_ERR_NOMEM
 */
int cnp_sim_profile_create(const char *name, struct cnp_sim_profile **out);
void cnp_sim_profile_destroy(struct cnp_sim_profile *p);

struct cnp_sim_model;

/*
 * Creates a model of profile `profile`. Simulated time starts at start_us
 * (the first frame comes a few ms later); duration_us > 0 ends the traffic
 * after that much simulated time (frames stamped before start_us +
 * duration_us are sent), 0 never ends it.
 * @retval CNP_ERR_INVAL   unknown profile (nothing logged: the caller names it)
 * @retval CNP_ERR_CORRUPT the profile's tables fail their own checks (a bug
 *                         in the model, caught by its unit test)
 * @retval CNP_ERR_NOMEM
 */
int cnp_sim_model_create(const char *profile, uint64_t seed, uint64_t start_us,
                         uint64_t duration_us, struct cnp_sim_model **out);
void cnp_sim_model_destroy(struct cnp_sim_model *m);

/* The tables the model sends by; valid until the model is destroyed. */
const struct cnp_sim_profile *cnp_sim_model_profile(const struct cnp_sim_model *m);

/*
 * The next frame, in timestamp order over all buses. f->iface is the bus
 * index (cnp_sim_model_profile(m)->buses[f->iface]); f->ts_us is simulated
 * time; f->style is 0. Never blocks; costs a few microseconds.
 * @retval CNP_OK
 * @retval CNP_ERR_EOF  the duration is over (and stays over)
 */
int cnp_sim_model_next(struct cnp_sim_model *m, struct cnp_frame *f);

struct cnp_sim_model_stats {
	uint64_t sim_us;                          /* simulated time so far */
	uint64_t frames[CNP_SIM_MAX_BUSES];
	uint64_t payload_bytes[CNP_SIM_MAX_BUSES];
	uint64_t busy_ns[CNP_SIM_MAX_BUSES];      /* bus occupied (load) */
	uint64_t saturated;  /* values clamped to their DBC range (model bug) */
	uint64_t fill_errors;/* fill functions that set the wrong number of
	                        signals (model bug) */
};

void cnp_sim_model_get_stats(const struct cnp_sim_model *m, struct cnp_sim_model_stats *st);

/*
 * Writes the profile's DBC file text into a buffer the caller frees with
 * cnp_free(): every node, message, signal, value table, comment, cycle time
 * and (for CAN FD messages) VFrameFormat. Deterministic text.
 * @retval CNP_ERR_NOMEM
 */
int cnp_sim_dbc_write(const struct cnp_sim_profile *p, char **text, size_t *len);

#endif
