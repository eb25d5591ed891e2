/*
 * The agent: sources -> open batch -> spool -> uploader, on one main loop
 * (reading, batching, sealing) plus the uploader's thread.
 */
#ifndef CNP_AGENT_H
#define CNP_AGENT_H

#include "drivers/source.h"
#include "firmware/config.h"

#include <stdint.h>

struct cnp_agent_summary {
	uint64_t frames;        /* frames read from all sources */
	uint64_t malformed;     /* input lines rejected */
	uint64_t kernel_dropped;/* frames the kernel dropped (SocketCAN queue) */
	uint64_t text_bytes;    /* size of those frames as candump text */
	uint64_t batches;       /* batches sealed into the spool */
	uint64_t stored_bytes;  /* their size */
	uint64_t uploaded_batches;
	uint64_t uploaded_bytes;
	uint64_t upload_failures;
	unsigned spool_batches; /* still waiting at the end */
};

struct cnp_agent;

/*
 * Opens the spool, creates the endpoints and the uploader. The
 * configuration is copied. Errors are logged.
 */
int cnp_agent_create(const struct cnp_config *cfg, struct cnp_agent **out);
void cnp_agent_destroy(struct cnp_agent *a);

/* The interface table sources must intern their names in. */
struct cnp_ifaces *cnp_agent_ifaces(struct cnp_agent *a);

struct cnp_poller;
/* Hands the active poller to the agent (owned from then on; its transport
 * must outlive the agent). The main loop runs it between reads. */
void cnp_agent_set_poller(struct cnp_agent *a, struct cnp_poller *p);

/* Hands a source to the agent (owned from then on). At most CNP_MAX_SOURCES. */
int cnp_agent_add_source(struct cnp_agent *a, struct cnp_source *src);

/*
 * Runs until a stop signal (SIGTERM, SIGINT), or, with exit_when_drained,
 * until every source is exhausted and the spool is empty. On the way out
 * the open batch is sealed into the spool, so nothing read is lost.
 * @retval CNP_OK
 * @retval other  a fatal error (logged); what was read is in the spool
 */
int cnp_agent_run(struct cnp_agent *a, int exit_when_drained);

void cnp_agent_get_summary(struct cnp_agent *a, struct cnp_agent_summary *s);

/*
 * Lets SIGHUP reload `config_path` (see reload in agent.c and
 * docs/OPERATIONS.md). With log_level_fixed, the level set on the command
 * line wins over the file's.
 */
void cnp_agent_set_reload(struct cnp_agent *a, const char *config_path, int log_level_fixed);

struct cnp_status;
/* The counters and the verdict now (thread: the caller of cnp_agent_run). */
void cnp_agent_get_status(struct cnp_agent *a, struct cnp_status *st);

#endif
