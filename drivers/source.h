/*
 * CAN sources: one small interface for every way frames come in (candump
 * log replay, SocketCAN, the traffic simulator; a fake in the tests).
 *
 * Operations:
 *   read    mandatory. Non-blocking: returns at once with what is ready.
 *   destroy mandatory.
 *   tell    optional: where the source stands, so that a restarted agent
 *           can resume after the last frame it journaled (a replayed log).
 *   seek    optional, with tell: resume at a position tell gave.
 *   wait_fds optional: descriptors that turn readable when frames arrive,
 *           so that an idle agent sleeps in poll() instead of waking to ask.
 *   sample_desc optional: numbers the stream descriptions of the samples a
 *           source measures itself, so that the frame journal can keep them.
 */
#ifndef CNP_SOURCE_H
#define CNP_SOURCE_H

#include "firmware/config.h"
#include "firmware/frame.h"
#include "firmware/iface.h"
#include "firmware/sigcodec.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Error frames by class: the CAN_ERR_* bits of an error frame's id (see
 * <linux/can/error.h>). A frame with several class bits counts once in
 * `frames` and once in each of its classes. All zero for sources that carry
 * no error frames.
 */
struct cnp_can_error_stats {
	uint64_t frames;      /* error frames delivered (also in stats.frames) */
	uint64_t tx_timeout;  /* CAN_ERR_TX_TIMEOUT: a transmission timed out */
	uint64_t lost_arb;    /* CAN_ERR_LOSTARB: lost arbitration */
	uint64_t controller;  /* CAN_ERR_CRTL: controller problems, any of: */
	uint64_t warning;     /*   error counters reached the warning level */
	uint64_t passive;     /*   error-passive state (receive or transmit) */
	uint64_t overflow;    /*   controller buffer overflow: frames lost in
	                           hardware, before the kernel saw them */
	uint64_t protocol;    /* CAN_ERR_PROT: protocol violations */
	uint64_t transceiver; /* CAN_ERR_TRX: transceiver status */
	uint64_t no_ack;      /* CAN_ERR_ACK: no ACK on transmission */
	uint64_t bus_off;     /* CAN_ERR_BUSOFF */
	uint64_t bus_error;   /* CAN_ERR_BUSERROR */
	uint64_t restarted;   /* CAN_ERR_RESTARTED: restarted after bus-off */
};

struct cnp_source_stats {
	uint64_t frames;    /* frames delivered */
	uint64_t samples;   /* signal samples delivered (sources that measure
	                       signals themselves: GNSS) */
	uint64_t malformed; /* input rejected as malformed (lines, frames) */
	/* SocketCAN only (zero elsewhere): */
	uint64_t kernel_dropped; /* frames the kernel dropped on a full socket
	                            receive queue (SO_RXQ_OVFL) */
	uint64_t outages;        /* times an interface became unavailable:
	                            missing, down, not CAN, or failing */
	unsigned ifaces_down;    /* interfaces unavailable right now */
	struct cnp_can_error_stats errors;
};

/*
 * A resumable source's position, opaque to the agent, which stores it in
 * the frame journal (firmware/journal.h) next to the frames it covers.
 */
struct cnp_source_pos {
	uint64_t ident;     /* which input (a hash of the log's path and size) */
	uint64_t offset;    /* bytes of input consumed */
	uint64_t line;      /* lines consumed */
	uint64_t malformed; /* stats.malformed at that point */
};

struct cnp_source;

struct cnp_source_ops {
	const char *type;
	/*
	 * Reads up to `max` frames into frames[], sets *n. Frames' iface fields
	 * index the interface table given at creation.
	 * @retval CNP_OK      *n frames (possibly 0: nothing due yet; then
	 *                     *wait_us says when to ask again)
	 * @retval CNP_ERR_EOF the source is exhausted (*n may still be > 0)
	 * @retval other       a fatal error, logged by the source
	 */
	int (*read)(struct cnp_source *src, struct cnp_frame *frames, size_t max,
	            size_t *n, uint64_t *wait_us);
	void (*destroy)(struct cnp_source *src);
	/*
	 * Optional. The position just after the first k frames (0 <= k <= *n)
	 * the last read() delivered. Never fails.
	 */
	void (*tell)(const struct cnp_source *src, size_t k, struct cnp_source_pos *pos);
	/*
	 * Optional. Continues at `pos` (from tell, maybe of an earlier run):
	 * the next read() delivers the frame after it, and stats.malformed
	 * starts from pos->malformed. Only before the first read().
	 * @retval CNP_ERR_UNSUPPORTED the position is not of this input (other
	 *                             file, changed size) or cannot be resumed
	 *                             (a looping replay); nothing changed
	 * @retval CNP_ERR_IO          the seek failed (logged)
	 */
	int (*seek)(struct cnp_source *src, const struct cnp_source_pos *pos);
	/*
	 * Optional. Writes up to `max` descriptors that become readable when
	 * the source has frames for read(), returns how many. The agent waits
	 * on them as well as for the *wait_us of an empty read, so a source
	 * that offers them may give a long *wait_us while idle.
	 */
	unsigned (*wait_fds)(const struct cnp_source *src, int *fds, unsigned max);
	/*
	 * Optional, for sources that deliver samples (below): stream
	 * description k (0, 1, ...), or NULL past the last. The numbering is
	 * the same in every run of the same build, so that the frame journal
	 * (firmware/journal.h) can record samples by number and a restarted
	 * agent put them back under the same descriptions.
	 */
	const struct cnp_sig_desc *(*sample_desc)(const struct cnp_source *src, unsigned k);
};

/*
 * Where a source that measures signals itself rather than reading CAN
 * frames (GNSS) delivers them: read() calls sample() for each, with a
 * stream description that stays at the same address for the source's life
 * (sigcodec.h), the sample's capture time and raw value. The samples go
 * into the same batches as the signals decoded from CAN frames. The agent
 * sets it before the first read(); while `sample` is NULL, such a source
 * drops its samples. An error sample() returns ends read(), which returns
 * it (CNP_ERR_CANCELLED: a stop was requested while the spool was full).
 */
struct cnp_source_samples {
	int (*sample)(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw);
	void *arg;
};

struct cnp_source {
	const struct cnp_source_ops *ops;
	struct cnp_ifaces *ifaces; /* shared with the agent, not owned */
	struct cnp_source_stats stats;
	struct cnp_source_samples samples;
};

/*
 * Creates the source a configuration entry describes.
 * @retval CNP_ERR_CONFIG unknown type
 * @retval CNP_ERR_IO     the input cannot be opened (logged with the path)
 * @retval CNP_ERR_NOMEM
 */
int cnp_source_create(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                      struct cnp_source **out);
void cnp_source_destroy(struct cnp_source *src);

int cnp_candump_source_create(const struct cnp_source_config *cfg,
                              struct cnp_ifaces *ifaces, struct cnp_source **out);

/*
 * The traffic simulator (drivers/sim_model.h): profile cfg->profile, seed
 * cfg->seed, cfg->duration_s of simulated time (0: endless) from
 * cfg->start_time_us, paced by cfg->pace / cfg->speed. Interns the
 * profile's interfaces ("can0"...) in `ifaces` at creation. Never blocks.
 * @retval CNP_ERR_CONFIG unknown profile, bad duration or pace (logged)
 * @retval CNP_ERR_FULL   no room for its interfaces in the table (logged)
 * @retval CNP_ERR_NOMEM
 */
int cnp_sim_source_create(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                          struct cnp_source **out);

/*
 * SocketCAN: one CAN_RAW socket per configured interface (cfg->interfaces),
 * all read in one non-blocking pass per read() (see docs/SOCKETCAN.md).
 * Interfaces are interned into `ifaces` in configuration order. An
 * interface that is missing, down or not CAN is not fatal: it is logged by
 * name and retried every cfg->reopen_ms from read(), which never returns
 * CNP_ERR_EOF. Uses the real system calls (cnp_socketcan_sys_default()).
 * @retval CNP_ERR_CONFIG no interfaces, an interface listed twice, or a name
 *                        the interface table refuses (logged)
 * @retval CNP_ERR_NOMEM
 */
int cnp_socketcan_source_create(const struct cnp_source_config *cfg,
                                struct cnp_ifaces *ifaces, struct cnp_source **out);

/*
 * GNSS through gpsd (drivers/gnss.c, docs/GNSS.md): connects to
 * cfg->gpsd_host:cfg->gpsd_port on the first read(), asks for gpsd's JSON
 * reports and delivers position, altitude, heading, speed, fix mode and
 * satellite counts as signal samples (src->samples), never frames; the
 * interface "gnss" names them. A lost or refused connection is logged and
 * tried again (back-off from 100 ms to cfg->reopen_ms); read() returns
 * CNP_ERR_EOF only after cfg->duration_s.
 * @retval CNP_ERR_FULL  no room for the interface in the table (logged)
 * @retval CNP_ERR_NOMEM
 */
int cnp_gnss_source_create(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                           struct cnp_source **out);

#endif
