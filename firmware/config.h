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
#include "firmware/transport.h"
#include "firmware/uploader.h"

#include <stddef.h>
#include <stdint.h>

#define CNP_MAX_SOURCES 16
#define CNP_CONFIG_MAX_BYTES (1024u * 1024u)

enum cnp_pace {
	CNP_PACE_MAX = 0,      /* as fast as the agent can take it */
	CNP_PACE_RECORDED = 1, /* at the recorded timing, times `speed` */
};

#define CNP_SOURCE_MAX_IFACES 8
#define CNP_SOURCE_MAX_FILTERS 32

/* A kernel-style CAN id filter: a frame passes when
 * (frame id & mask) == (id & mask) and its id length matches `extended`. */
struct cnp_can_filter {
	uint32_t id;
	uint32_t mask;
	int extended; /* nonzero: 29-bit ids; zero: 11-bit ids */
};

#define CNP_GPSD_HOST_MAX 256
#define CNP_GPSD_DEFAULT_PORT "2947"

struct cnp_source_config {
	char type[16];              /* "candump", "socketcan", "sim" or "gnss" */
	enum cnp_pace pace;         /* candump, sim */
	double speed;               /* recorded pace factor; 1.0 = real time */

	/* candump */
	char path[CNP_PATH_MAX];    /* the log file */
	int loop;                   /* start again at the end (never EOF) */

	/* socketcan */
	char interfaces[CNP_SOURCE_MAX_IFACES][16];
	unsigned n_interfaces;
	struct cnp_can_filter filters[CNP_SOURCE_MAX_FILTERS];
	unsigned n_filters;         /* 0: every frame */
	uint64_t rcvbuf_bytes;      /* socket receive buffer asked for */
	uint64_t reopen_ms;         /* retry interval for a missing/down interface */

	/* every type: when the source ends; 0: endless. sim: simulated seconds;
	 * candump: log seconds after the first frame; socketcan: seconds after
	 * the source opened (monotonic clock). */
	double duration_s;

	/* gnss: gpsd's address ("gpsd": "HOST:PORT"; IPv6 as "[::1]:2947").
	 * reopen_ms is the longest wait between reconnection attempts. */
	char gpsd_host[CNP_GPSD_HOST_MAX];
	char gpsd_port[8];

	/* sim */
	char profile[8];            /* "ev" or "ice" */
	uint64_t seed;
	uint64_t start_time_us;     /* simulated epoch of the first frame */
};

#define CNP_DEFAULT_RCVBUF_BYTES (4u * 1024u * 1024u)
#define CNP_DEFAULT_REOPEN_MS 1000u
#define CNP_DEFAULT_SIM_START_US 1700000000000000u /* 2023-11-14T22:13:20Z */

#define CNP_CAPTURE_MAX_DBC 8
#define CNP_SCHEMES_INLINE_MAX 16384
#define CNP_POLLING_INLINE_MAX 8192

/* capture.dbc[]: the DBC file that decodes one interface. */
struct cnp_dbc_config {
	char iface[16];
	char path[CNP_PATH_MAX];
	int strict; /* refuse a file with problems instead of loading what loads */
	struct cnp_tp_config transport; /* "isotp", "j1939" (docs/TRANSPORT.md) */
};

/* The decoding side of capture (docs/SCHEMES.md). */
struct cnp_capture_config {
	struct cnp_dbc_config dbc[CNP_CAPTURE_MAX_DBC];
	unsigned n_dbc;
	/* Collection schemes: a document file, or an inline array (as JSON
	 * text) from the configuration file `schemes_origin`; neither: collect
	 * every signal. */
	char schemes_file[CNP_PATH_MAX];
	char schemes_json[CNP_SCHEMES_INLINE_MAX];
	char schemes_origin[CNP_PATH_MAX];
	char vss_file[CNP_PATH_MAX]; /* VSS name mapping; "" for none */
	/* Remote schemes: polled, signed documents (docs/SCHEMES.md). */
	char schemes_url[CNP_URL_MAX];       /* "" for none */
	char schemes_key[CNP_PATH_MAX];      /* PEM P-256 public key */
	char schemes_ca_file[CNP_PATH_MAX];  /* "" : the system's CA store */
	int schemes_allow_insecure;          /* plain http:// allowed */
	/* TLS of schemes_url, as an endpoint's (docs/CONFIG.md): "" : none. */
	char schemes_pinned_pubkey[CNP_PIN_MAX];
	char schemes_client_cert[CNP_PATH_MAX];
	char schemes_client_key[CNP_PATH_MAX]; /* refused when others may read it */
	uint64_t schemes_poll_ms;
	/* Active polling (docs/POLLING.md): the "polling" object as JSON text,
	 * "" for none; its DBC file, resolved; the file it came from. */
	char polling_json[CNP_POLLING_INLINE_MAX];
	char polling_dbc[CNP_PATH_MAX];
	char polling_origin[CNP_PATH_MAX];
};
#define CNP_DEFAULT_SCHEMES_POLL_MS 60000u

struct cnp_config {
	char vehicle_id[64];
	char log_level[16];

	struct cnp_source_config sources[CNP_MAX_SOURCES];
	unsigned n_sources;

	char capture_mode[16]; /* "raw", "signals" or "raw+signals" */
	struct cnp_capture_config capture;

	uint64_t batch_max_bytes;
	uint64_t batch_max_age_ms;
	int zlib_level;

	char spool_dir[CNP_PATH_MAX];
	uint64_t spool_max_bytes;
	uint64_t spool_min_free_bytes;    /* free space to leave, 0: none */
	int spool_journal;                /* journal frames of the open batch */
	uint64_t spool_sync_interval_ms;  /* journal fdatasync period, 0: always */

	struct cnp_endpoint_config endpoints[CNP_UPLOADER_MAX_ENDPOINTS];
	unsigned n_endpoints;

	struct cnp_uploader_config upload;

	/* PEM EC P-256 private key that signs every batch; "" for none. */
	char signing_key[CNP_PATH_MAX];

	/* Operations ($.operations, docs/OPERATIONS.md). */
	char status_file[CNP_PATH_MAX]; /* "" : RUNTIME_DIR/status.json */
	uint64_t status_interval_ms;    /* status file refresh; 0: never written */
	uint64_t summary_interval_s;    /* summary log line; 0: only at exit */
	/* PEM EC P-256 public key of the receiver every batch is encrypted to
	 * before it is spooled; "" for none. */
	char encrypt_to[CNP_PATH_MAX];
};

/* Defaults (documented in docs/CONFIG.md). */
#define CNP_DEFAULT_BATCH_MAX_BYTES (256u * 1024u)
#define CNP_DEFAULT_BATCH_MAX_AGE_MS 10000u
#define CNP_DEFAULT_ZLIB_LEVEL 5
#define CNP_DEFAULT_SPOOL_MAX_BYTES (256u * 1024u * 1024u)
/* A power cut loses at most this much of the open batch. */
#define CNP_DEFAULT_SPOOL_SYNC_INTERVAL_MS 1000u
#define CNP_DEFAULT_BACKOFF_BASE_MS 500u
#define CNP_DEFAULT_BACKOFF_CAP_MS 60000u
#define CNP_DEFAULT_STATUS_INTERVAL_MS 2000u
#define CNP_DEFAULT_SUMMARY_INTERVAL_S 300u

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
