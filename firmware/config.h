/*
 * The agent's configuration: one JSON file (see docs/CONFIG.md).
 *
 * Errors name the file and the JSON path of the bad key ("$.batch.max_bytes")
 * with what was expected; JSON syntax errors name the line and column.
 * Unknown keys are warned about by path and otherwise ignored, so that a
 * newer file still runs an older agent. Relative paths are resolved against
 * the configuration file's directory.
 */
#ifndef CNP_CONFIG_H
#define CNP_CONFIG_H

#include "firmware/endpoint.h"
#include "firmware/uploader.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_MAX_SOURCES 16
#define CNP_CONFIG_MAX_BYTES (1024u * 1024u)

enum cnp_pace {
	CNP_PACE_MAX = 0,      /* as fast as the agent can take it */
	CNP_PACE_RECORDED = 1, /* at the recorded timing, times `speed` */
};

struct cnp_source_config {
	char type[16];              /* "candump" */
	char path[CNP_PATH_MAX];    /* candump: the log file */
	enum cnp_pace pace;
	double speed;               /* recorded pace factor; 1.0 = real time */
};

struct cnp_config {
	char vehicle_id[64];
	char log_level[16];

	struct cnp_source_config sources[CNP_MAX_SOURCES];
	unsigned n_sources;

	char capture_mode[16]; /* "raw" */

	uint64_t batch_max_bytes;
	uint64_t batch_max_age_ms;
	int zlib_level;

	char spool_dir[CNP_PATH_MAX];
	uint64_t spool_max_bytes;

	struct cnp_endpoint_config endpoints[CNP_UPLOADER_MAX_ENDPOINTS];
	unsigned n_endpoints;

	struct cnp_uploader_config upload;
};

/* Defaults (documented in docs/CONFIG.md). */
#define CNP_DEFAULT_BATCH_MAX_BYTES (256u * 1024u)
#define CNP_DEFAULT_BATCH_MAX_AGE_MS 10000u
#define CNP_DEFAULT_ZLIB_LEVEL 6
#define CNP_DEFAULT_SPOOL_MAX_BYTES (256u * 1024u * 1024u)
#define CNP_DEFAULT_BACKOFF_BASE_MS 500u
#define CNP_DEFAULT_BACKOFF_CAP_MS 60000u

/*
 * Parses configuration text. `origin` names it in messages (the file path);
 * `base_dir` resolves relative paths ("." if NULL). Every problem is logged;
 * the return says whether any was fatal.
 * @retval CNP_ERR_CONFIG invalid; the log says where and why
 * @retval CNP_ERR_NOMEM
 */
int cnp_config_parse(const char *text, size_t len, const char *origin,
                     const char *base_dir, struct cnp_config *cfg);

/* Reads and parses a configuration file. CNP_ERR_CONFIG also when the file
 * cannot be read (the log says why). */
int cnp_config_load(const char *path, struct cnp_config *cfg);

#endif
