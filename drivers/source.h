/*
 * CAN sources: one small interface for every way frames come in (candump
 * log replay now; SocketCAN and the simulator next; a fake in the tests).
 *
 * Operations:
 *   read    mandatory. Non-blocking: returns at once with what is ready.
 *   destroy mandatory.
 */
#ifndef CNP_SOURCE_H
#define CNP_SOURCE_H

#include "firmware/config.h"
#include "firmware/frame.h"
#include "firmware/iface.h"

#include <stddef.h>
#include <stdint.h>

struct cnp_source_stats {
	uint64_t frames;    /* frames delivered */
	uint64_t malformed; /* input rejected as malformed (lines, frames) */
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
};

struct cnp_source {
	const struct cnp_source_ops *ops;
	struct cnp_ifaces *ifaces; /* shared with the agent, not owned */
	struct cnp_source_stats stats;
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

#endif
