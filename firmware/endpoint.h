/*
 * Endpoints: where batches go. One interface, several back-ends chosen by
 * the URL's scheme:
 *
 *   file:///DIR               copy into a directory (demos, tests, a USB
 *                             stick): DIR/KEY, written atomically
 *   https://HOST[:PORT]/PATH  HTTP PUT of each batch to URL/KEY
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

struct cnp_endpoint_config {
	char url[CNP_URL_MAX];
	char ca_file[CNP_PATH_MAX]; /* "" : the system's CA store */
	int allow_insecure;         /* plain http:// allowed (explicit only) */
};

struct cnp_put_result {
	long status;         /* HTTP status; 0 when none (file://, network) */
	long retry_after_s;  /* server's Retry-After, -1 when none */
	char detail[1024];   /* what happened, with the URL, for the log */
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

/* Back-end constructors, called by cnp_endpoint_create. */
int cnp_endpoint_file_create(const struct cnp_endpoint_config *cfg,
                             struct cnp_endpoint **out, char *why, size_t why_len);
int cnp_endpoint_https_create(const struct cnp_endpoint_config *cfg,
                              const atomic_int *cancel, struct cnp_endpoint **out,
                              char *why, size_t why_len);

#endif
