/*
 * The agent's decoding side: loads the configured DBC files, the VSS
 * mapping and the collection schemes, and runs the collector (collect.h).
 * Absent (NULL) in capture mode "raw".
 */
#ifndef CNP_CAPTURE_H
#define CNP_CAPTURE_H

#include "firmware/collect.h"
#include "firmware/config.h"
#include "firmware/transport.h"

struct cnp_capture;

/*
 * *out is NULL in mode "raw". Every problem is logged with the file and,
 * for a scheme document, the JSON path of the bad field.
 * @retval CNP_ERR_CONFIG a DBC, mapping or scheme file is unusable
 * @retval CNP_ERR_NOMEM
 */
int cnp_capture_create(const struct cnp_config *cfg, struct cnp_capture **out);
void cnp_capture_destroy(struct cnp_capture *c);

int cnp_capture_frame(struct cnp_capture *c, const struct cnp_frame *f,
                      const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink);

/*
 * Applies what the remote poller brought (schemes_url), between two frames:
 * a refusal becomes an event {"type": "schemes_refused", ...} through the
 * sink; a new document calls seal(sink->arg) first, so that each batch is
 * the work of one scheme version, then replaces the running schemes. A
 * no-op without schemes_url (and for c NULL).
 */
int cnp_capture_update(struct cnp_capture *c, int (*seal)(void *arg),
                       const struct cnp_collect_sink *sink);

/*
 * The transport reassembly counters (transport.h), since the capture was
 * created. Returns 0 (and leaves them) when no interface reassembles.
 */
int cnp_capture_transport(const struct cnp_capture *c, struct cnp_tp_stats *isotp,
                          struct cnp_tp_stats *j1939);

/* The scheme document's version for the manifest; NULL for none (also
 * when c is NULL). */
const char *cnp_capture_version(const struct cnp_capture *c);

#endif
