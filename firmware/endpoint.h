/*
 * Endpoints: where batches go. One interface, several back-ends chosen by
 * the URL's scheme:
 *
 *   file:///DIR               copy into a directory (demos, tests, a USB
 *                             stick): DIR/KEY, written atomically
 *   https://HOST[:PORT]/PATH  HTTP PUT of each batch to URL/KEY
 *   s3://BUCKET[/PREFIX]      S3 PutObject (multipart upload above a size)
 *                             of BUCKET/PREFIX/KEY, AWS Signature Version 4;
 *                             any S3-compatible server (docs/S3.md)
 *
 * KEY is "VEHICLE/SPOOLID/BOOT-SEQ.cnp": derived from the vehicle, the
 * spool's random id, the boot and the sequence number, so a repeated upload
 * (after a lost acknowledgement) overwrites itself instead of making a
 * duplicate, and no two batches ever share a key.
 */
#ifndef CNP_ENDPOINT_H
#define CNP_ENDPOINT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CNP_URL_MAX 512
#define CNP_PATH_MAX 4096
#define CNP_PIN_MAX 4096 /* a path, or up to 40 sha256// hashes */

#define CNP_S3_REGION_MAX 64
#define CNP_S3_KEY_ID_MAX 128
#define CNP_S3_SECRET_MAX 128
#define CNP_S3_TOKEN_MAX 4096
#define CNP_S3_PROFILE_MAX 64

struct cnp_endpoint_config {
	char url[CNP_URL_MAX];
	char ca_file[CNP_PATH_MAX]; /* "" : the system's CA store */
	int allow_insecure;         /* plain http:// allowed (explicit only) */
	/* TLS of https:// and s3:// (docs/CONFIG.md): a pinned server public
	 * key ("sha256//BASE64[;sha256//BASE64...]" or a PEM/DER public key
	 * file), and a client certificate and key for mutual TLS. "" : none. */
	char pinned_pubkey[CNP_PIN_MAX];
	char client_cert[CNP_PATH_MAX];
	char client_key[CNP_PATH_MAX]; /* refused when group or others may read it */

	/* s3:// only (docs/S3.md). The secrets below are never logged. */
	char endpoint_url[CNP_URL_MAX];  /* "" : https://s3.REGION.amazonaws.com */
	char region[CNP_S3_REGION_MAX];
	char access_key_id[CNP_S3_KEY_ID_MAX];     /* either these two... */
	char secret_access_key[CNP_S3_SECRET_MAX];
	char session_token[CNP_S3_TOKEN_MAX];      /* "" : none */
	char credentials_file[CNP_PATH_MAX];       /* ...or an AWS ini file */
	char profile[CNP_S3_PROFILE_MAX];          /* its section; "" : "default" */
	int virtual_hosted;         /* 1: https://BUCKET.HOST/KEY; 0: HOST/BUCKET/KEY */
	uint64_t multipart_threshold_bytes; /* larger batches go by multipart */
	uint64_t part_bytes;                /* size of each part but the last */
	/* Where multipart journals live: the spool directory, set by the
	 * configuration loader (not a key of its own); "" : no journal, an
	 * interrupted multipart upload starts over after a restart. */
	char journal_dir[CNP_PATH_MAX];
	/* From upload.* (set by the configuration loader, not keys of their
	 * own): HTTP connect and stall timeouts; 0: the defaults. */
	long connect_timeout_ms;
	long stall_timeout_ms;
	uint64_t max_bytes_per_s; /* upload pace; 0: as fast as the link goes */
};

#define CNP_S3_DEFAULT_MULTIPART_THRESHOLD (8u * 1024u * 1024u)
#define CNP_S3_DEFAULT_PART_BYTES (8u * 1024u * 1024u)
/* S3 refuses parts below 5 MiB (but the last) and uploads of more than
 * 10000 parts. */
#define CNP_S3_MIN_PART_BYTES_AWS (5u * 1024u * 1024u)
#define CNP_S3_MAX_PARTS 10000u

/*
 * How the uploader should treat a failed put. Back-ends that know more than
 * the HTTP status (S3's error codes) say so here; the others leave it at
 * CNP_PUT_BY_STATUS and the uploader decides from the return code and the
 * status (see uploader.h).
 */
enum cnp_put_class {
	CNP_PUT_BY_STATUS = 0, /* decide from the return code and status */
	CNP_PUT_TRANSIENT = 1, /* retry with backoff (e.g. S3 400 RequestTimeout) */
	CNP_PUT_AUTH = 2,      /* credentials or configuration (S3 403, wrong
	                          region, no such bucket): retry at the backoff
	                          cap, log loudly, never drop */
	CNP_PUT_REJECTED = 3,  /* the server refuses this batch for good:
	                          quarantine it */
};

struct cnp_put_result {
	long status;         /* HTTP status; 0 when none (file://, network) */
	long retry_after_s;  /* server's Retry-After, -1 when none */
	char detail[1024];   /* what happened, with the URL, for the log */
	enum cnp_put_class cls; /* CNP_PUT_BY_STATUS unless the back-end knows */
};

struct cnp_endpoint;

struct cnp_endpoint_ops {
	const char *scheme;
	/*
	 * Stores data[0..len) under `key`. Blocks until done, failed, or the
	 * cancel flag given at creation is raised.
	 * @retval CNP_OK       stored (the acknowledgement)
	 * @retval CNP_ERR_*    not stored; res->detail says why
	 */
	int (*put)(struct cnp_endpoint *ep, const char *key, const uint8_t *data,
	           size_t len, struct cnp_put_result *res);
	void (*destroy)(struct cnp_endpoint *ep);
};

struct cnp_endpoint {
	const struct cnp_endpoint_ops *ops;
	char url[CNP_URL_MAX]; /* as configured, for logs */
};

/*
 * Creates the endpoint for cfg->url. `cancel` (may be NULL) aborts a put in
 * progress when it becomes nonzero.
 * @retval CNP_ERR_CONFIG unknown scheme or malformed URL; `why` says which
 * @retval CNP_ERR_NOMEM
 */
int cnp_endpoint_create(const struct cnp_endpoint_config *cfg,
                        const atomic_int *cancel, struct cnp_endpoint **out,
                        char *why, size_t why_len);
void cnp_endpoint_destroy(struct cnp_endpoint *ep);

/* `url` without what may carry a secret ("user:password@", "?query",
 * "#fragment"), for logs and the status file. Cut to `cap`. */
void cnp_endpoint_redact_url(const char *url, char *out, size_t cap);

/* The HTTP client settings of an https:// or s3:// endpoint: CA, pin,
 * client certificate, http:// permission. Borrows cfg's strings. */
struct cnp_http_config;
void cnp_endpoint_http_config(const struct cnp_endpoint_config *cfg, const atomic_int *cancel,
                              struct cnp_http_config *hc);

/* Back-end constructors, called by cnp_endpoint_create. */
int cnp_endpoint_file_create(const struct cnp_endpoint_config *cfg,
                             struct cnp_endpoint **out, char *why, size_t why_len);
int cnp_endpoint_https_create(const struct cnp_endpoint_config *cfg,
                              const atomic_int *cancel, struct cnp_endpoint **out,
                              char *why, size_t why_len);
int cnp_endpoint_s3_create(const struct cnp_endpoint_config *cfg,
                           const atomic_int *cancel, struct cnp_endpoint **out,
                           char *why, size_t why_len);

#endif
