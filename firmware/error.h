/*
 * canopy error codes.
 *
 * One convention everywhere: 0 is success, a negative CNP_ERR_* is failure.
 * Sizes, counts and ids travel through out-parameters, never through the
 * return value. Codes are append-only: a released value never changes
 * meaning. Library codes (CURLE_*, HTTP status, MBEDTLS_ERR_*, errno) are
 * translated into these once, at the platform seam that calls the library;
 * the original detail is kept for the log by that seam.
 */
#ifndef CNP_ERROR_H
#define CNP_ERROR_H

enum cnp_err {
	CNP_OK = 0,
	CNP_ERR_NOMEM = -1,       /* an allocation failed */
	CNP_ERR_INVAL = -2,       /* invalid argument or malformed input */
	CNP_ERR_IO = -3,          /* a file system operation failed */
	CNP_ERR_NOTFOUND = -4,    /* no such file, key or entry */
	CNP_ERR_FULL = -5,        /* a bounded buffer or store has no room */
	CNP_ERR_EOF = -6,         /* a source is exhausted */
	CNP_ERR_AGAIN = -7,       /* nothing available now; try again later */
	CNP_ERR_CORRUPT = -8,     /* stored data fails its checks */
	CNP_ERR_UNSUPPORTED = -9, /* unknown version, codec or feature */
	CNP_ERR_NET = -10,        /* transient network failure: DNS, connect,
	                             reset, timeout, stall */
	CNP_ERR_TLS = -11,        /* TLS handshake or certificate failure */
	CNP_ERR_HTTP = -12,       /* the server answered with a non-2xx status */
	CNP_ERR_TOOBIG = -13,     /* input exceeds a documented limit */
	CNP_ERR_CONFIG = -14,     /* the configuration is invalid */
	CNP_ERR_CANCELLED = -15,  /* stopped on request (shutdown) */
	CNP_ERR_SIGNATURE = -16,  /* a signature is missing, does not verify
	                             with the given key, or cannot be made */
	CNP_ERR_KEY = -17,        /* a key file is unusable: unreadable, not a
	                             P-256 EC key, or open to group/others */
};

/* A short English description of a CNP_ERR_* code; never NULL. */
const char *cnp_strerror(int err);

#endif
