/*
 * Active polling: OBD-II requests (service 01 PIDs, 03 stored and 07
 * pending trouble codes, 09 VIN) and UDS ReadDataByIdentifier (0x22), each
 * at its own interval, over ISO-TP (docs/POLLING.md). The answers become
 * signal samples and events through the collector's sink, in the same
 * batches as the CAN capture.
 *
 * The poller never blocks: cnp_poller_run() sends what is due, takes what
 * has arrived and returns, so the agent calls it between two reads of its
 * sources. One request is in flight at a time. The transport (the kernel's
 * CAN_ISOTP sockets, drivers/isotp.c) sits behind struct cnp_poll_link so
 * that unit tests can fake it.
 *
 * Not thread-safe: one poller belongs to the agent's main loop.
 */
#ifndef CNP_POLL_H
#define CNP_POLL_H

#include "firmware/collect.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_POLL_MAX_JOBS 64      /* PIDs and DIDs polled, all requests together */
#define CNP_POLL_MAX_CHANS 16     /* distinct address pairs */
#define CNP_POLL_MAX_PDU 4095     /* longest ISO-TP message (classic CAN) */

/* An ISO-TP channel on the polling interface. */
struct cnp_poll_chan {
	uint32_t tx_id, rx_id; /* CAN ids, without flags */
	int extended;          /* 29-bit ids */
	int functional;        /* sends single frames to a functional id, receives nothing */
};

/*
 * The transport. Every call gets `ctx` first; none may block.
 * open: a handle >= 0, or CNP_ERR_UNSUPPORTED (no ISO-TP in the kernel),
 *       CNP_ERR_NOTFOUND (no such interface) or CNP_ERR_IO, with `why`.
 * send: CNP_OK once the request is handed over; CNP_ERR_AGAIN, CNP_ERR_IO.
 * recv: one whole message (reassembled) into buf: CNP_OK with *len;
 *       CNP_ERR_AGAIN when none is waiting; CNP_ERR_IO.
 */
struct cnp_poll_link {
	void *ctx;
	int (*open)(void *ctx, const struct cnp_poll_chan *ch, char *why, size_t why_len);
	int (*send)(void *ctx, int h, const uint8_t *data, size_t len);
	int (*recv)(void *ctx, int h, uint8_t *buf, size_t cap, size_t *len);
	void (*close)(void *ctx, int h);
};

struct cnp_poll_options {
	const char *json; /* the "polling" object's text */
	size_t json_len;
	const char *origin; /* names it in errors (the configuration file) */
	const char *path;   /* its JSON path, "$.capture.polling" */
	const char *dbc_path; /* resolved "dbc" (UDS identifiers); "" for none */
};

/* Counters, also in the status file (docs/POLLING.md). */
struct cnp_poll_stats {
	uint64_t requests;   /* sent */
	uint64_t responses;  /* positive responses decoded */
	uint64_t timeouts;   /* requests that got no final answer in time */
	uint64_t negative;   /* negative responses (0x7F) other than 0x78 */
	uint64_t pending;    /* 0x78 "response pending" answers */
	uint64_t unexpected; /* messages that answered no request in flight */
	uint64_t send_errors;
	uint64_t samples, events;
};

struct cnp_poller;

/*
 * Parses the options and loads the DBC. Problems are refused with `why`
 * naming the origin and the JSON path: "canopy.json:
 * $.capture.polling.requests[2].pids[0]: service 01 has no PID 0x3A here".
 * @retval CNP_ERR_CONFIG
 * @retval CNP_ERR_NOMEM
 */
int cnp_poller_create(const struct cnp_poll_options *o, struct cnp_poller **out, char *why,
                      size_t why_len);
void cnp_poller_destroy(struct cnp_poller *p);

/* The interface the poller talks on ("can0"). */
const char *cnp_poller_iface(const struct cnp_poller *p);

/* Connects the transport (borrowed; must outlive the poller) and the index
 * of the interface in the batch's table. Channels open at the first run. */
void cnp_poller_attach(struct cnp_poller *p, const struct cnp_poll_link *link, uint8_t iface);

/*
 * Does what is due at monotonic time `mono_us`: opens channels (retrying
 * failures every few seconds, logging each kind once), takes the answers
 * that arrived, decodes them into samples and events stamped `wall_us`, and
 * sends the next due request. *wait_us: how soon it wants to be called
 * again. Returns the first error of the sink.
 */
int cnp_poller_run(struct cnp_poller *p, uint64_t mono_us, uint64_t wall_us,
                   const struct cnp_collect_sink *sink, uint64_t *wait_us);

void cnp_poller_stats(const struct cnp_poller *p, struct cnp_poll_stats *s);

/* --- decoding, exposed for tests and tools --------------------------- */

/* A service 01 PID the poller knows: the value is the `bytes` bytes after
 * the PID, big-endian, times scale plus offset. */
struct cnp_obd_pid {
	uint8_t pid;
	uint8_t bytes;
	const char *name; /* signal name, "EngineSpeed" */
	const char *unit;
	double scale, offset;
};

/* The description of a service 01 PID, or NULL. Supported-PID bitmaps
 * (0x00, 0x20, ... 0xE0) are included. */
const struct cnp_obd_pid *cnp_obd_pid(uint8_t pid);

/* Writes a DTC ("P0301") from its two bytes; `out` holds 6 bytes. */
void cnp_obd_dtc(uint8_t a, uint8_t b, char out[6]);

/*
 * The VIN from a service 09 PID 02 response (0x49 0x02 count chars...):
 * 17 printable characters into out[18].
 * @retval CNP_ERR_INVAL not such a response
 */
int cnp_obd_vin(const uint8_t *resp, size_t len, char out[18]);

#endif
