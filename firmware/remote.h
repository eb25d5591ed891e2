/*
 * Remote collection schemes: a thread polls a URL for a scheme document
 * (conditional GET with ETag), checks its ECDSA P-256 signature with a
 * configured public key, compiles it, keeps it on flash as the last good
 * one and hands the compiled collector to the main loop, which applies it
 * between two frames. A document that is unsigned, badly signed or
 * invalid is refused and reported; the running schemes stay.
 * docs/SCHEMES.md describes the protocol.
 */
#ifndef CNP_REMOTE_H
#define CNP_REMOTE_H

#include "firmware/collect.h"

#include <stddef.h>
#include <stdint.h>

/* Compiles a document (text of len bytes, `origin` names it in errors). */
typedef int (*cnp_remote_compile_fn)(void *arg, const char *text, size_t len,
                                     const char *origin, struct cnp_collector **out,
                                     char *why, size_t why_len);

struct cnp_remote_config {
	const char *url;
	const char *key_path;  /* PEM P-256 public key */
	const char *ca_file;   /* "" or NULL: the system store */
	int allow_insecure;    /* http:// allowed */
	/* The endpoints' TLS policy (platform/http.h): a pinned server key,
	 * a client certificate and key; "" or NULL: none. The key file is
	 * refused when others may read it. */
	const char *pinned_pubkey;
	const char *client_cert;
	const char *client_key;
	uint64_t poll_ms;
	const char *cache_dir; /* where the last good document is kept */
	cnp_remote_compile_fn compile;
	void *compile_arg;
};

struct cnp_remote;

/*
 * Loads the key and, when the cache holds a document whose signature
 * verifies and which compiles, returns it compiled in *cached (else NULL).
 * Starts the polling thread. Errors are logged.
 * @retval CNP_ERR_CONFIG the key is unusable
 * @retval CNP_ERR_NOMEM
 */
int cnp_remote_start(const struct cnp_remote_config *cfg, struct cnp_remote **out,
                     struct cnp_collector **cached);
/* Stops the thread (aborting a transfer) and frees everything. */
void cnp_remote_stop(struct cnp_remote *r);

/*
 * For the main loop: *col is a newly verified and compiled collector or
 * NULL; `refused` gets the reason of the latest refusal since the last
 * call, or "". Never blocks for long.
 */
void cnp_remote_take(struct cnp_remote *r, struct cnp_collector **col, char *refused,
                     size_t refused_len);

/* Checks a hex DER signature over the SHA-256 of text with the key.
 * CNP_OK, or CNP_ERR_SIGNATURE with why set. For the cache and tests. */
int cnp_remote_verify(const struct cnp_remote *r, const void *text, size_t len,
                      const char *sig_hex, char *why, size_t why_len);

#endif
