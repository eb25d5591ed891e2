/*
 * AWS Signature Version 4 (header-based, "AWS4-HMAC-SHA256"): the canonical
 * request, the string to sign, the signing key and the Authorization header
 * value, as AWS's "Create a signed AWS API request" describes them and as
 * its Signature Version 4 test suite checks them.
 *
 * Pure C over the crypto seam (SHA-256, HMAC-SHA256): no allocation, no
 * OS call, no global state; every function may be called from any thread.
 * Nothing here logs, so secrets cannot leak into a log from this module.
 *
 * Inputs are raw (not percent-encoded): the path and the query keys and
 * values are URI-encoded here, byte by byte, with AWS's rules (unreserved
 * A-Z a-z 0-9 - . _ ~ kept, every other byte as %XY in upper-case hex,
 * '/' kept in the path). Use cnp_sigv4_uri_encode() and
 * cnp_sigv4_canonical_query() to build the URL that goes on the wire, so
 * that the request sent and the request signed can never differ.
 *
 * S3 differs from other services in one point that matters here: its path
 * is used exactly as sent (no removal of "." and ".." segments, no merging
 * of "//"), and it is encoded once, not twice. Set normalize_path to 0 for
 * S3 (what canopy sends) and to 1 for the other services.
 */
#ifndef CNP_SIGV4_H
#define CNP_SIGV4_H

#include <stddef.h>
#include <stdint.h>

/* Limits of one request. A request beyond them is refused with
 * CNP_ERR_TOOBIG (never truncated: a truncated request would be signed
 * wrongly). canopy's own requests use at most 6 headers and 4 parameters. */
#define CNP_SIGV4_MAX_HEADERS 32
#define CNP_SIGV4_MAX_PARAMS 16
#define CNP_SIGV4_MAX_SEGMENTS 128 /* path segments, with normalize_path */
#define CNP_SIGV4_MAX_ID 128       /* access key id, region, service, secret */

/* "YYYYMMDDTHHMMSSZ" (ISO 8601 basic, UTC), the x-amz-date header value. */
#define CNP_SIGV4_DATE_LEN 16

/* Hex SHA-256 of an empty payload. */
#define CNP_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct cnp_sigv4_header {
	const char *name;  /* any case; no white space, ':' or control bytes */
	const char *value; /* trimmed and inner runs of blanks collapsed when
	                      signed; must not contain CR or LF */
};

struct cnp_sigv4_param {
	const char *key;   /* raw */
	const char *value; /* raw; NULL or "" for a key without value ("uploads") */
};

/*
 * One request to sign. All pointers are borrowed for the duration of the
 * call only.
 *
 * headers: every header to sign, in any order and case. Several entries
 * with the same name (case-insensitive) are one header whose values are
 * joined with ',' in the order given. It must hold "host" and
 * "x-amz-date"; for S3 also "x-amz-content-sha256" (the same value as
 * payload_sha256) and, with temporary credentials, "x-amz-security-token".
 * A header sent but not listed here is not signed (allowed by AWS; canopy
 * signs everything it sets except Content-Length).
 */
struct cnp_sigv4_request {
	const char *method;          /* "GET", "PUT", "POST", "DELETE"... */
	const char *path;            /* raw absolute path, starts with '/' */
	int normalize_path;          /* 0: S3 (as is); 1: other services */
	const struct cnp_sigv4_param *params;
	size_t n_params;
	const struct cnp_sigv4_header *headers;
	size_t n_headers;
	const char *payload_sha256;  /* 64 lower-case hex digits of the body's
	                                SHA-256 (CNP_SIGV4_EMPTY_SHA256 when
	                                empty) */
};

/* Who signs and for what. Strings of 1 to CNP_SIGV4_MAX_ID bytes; the id,
 * region and service must not contain '/'. */
struct cnp_sigv4_identity {
	const char *access_key_id;
	const char *secret_access_key;
	const char *region;  /* "us-east-1" */
	const char *service; /* "s3" */
};

/*
 * Formats Unix time (seconds, UTC) as an x-amz-date value into
 * out[0..CNP_SIGV4_DATE_LEN] (NUL-terminated). Years 1970 to 9999.
 * @retval CNP_ERR_INVAL a time after 9999-12-31T23:59:59Z
 */
int cnp_sigv4_format_date(uint64_t unix_s, char out[CNP_SIGV4_DATE_LEN + 1]);

/*
 * URI-encodes in[0..in_len) into out (NUL-terminated), keeping '/' when
 * keep_slash is nonzero (paths) and encoding it otherwise (query keys and
 * values). *out_len (may be NULL) gets the length without the NUL.
 * @retval CNP_ERR_TOOBIG out (cap bytes) is too small; out is then ""
 */
int cnp_sigv4_uri_encode(const char *in, size_t in_len, int keep_slash, char *out,
                         size_t cap, size_t *out_len);

/*
 * The canonical query string: every key and value URI-encoded, "key=value"
 * pairs sorted by encoded key, then by encoded value, joined with '&'
 * ("" for no parameters). For the URL on the wire the same string may be
 * sent as is (S3 accepts "uploads=" for "uploads").
 * @retval CNP_ERR_TOOBIG more than CNP_SIGV4_MAX_PARAMS, or out too small
 */
int cnp_sigv4_canonical_query(const struct cnp_sigv4_param *params, size_t n,
                              char *out, size_t cap, size_t *out_len);

/*
 * Writes the canonical request (method, canonical URI, canonical query,
 * canonical headers, signed headers, payload hash, separated by '\n', with
 * no final newline) into out (NUL-terminated); *out_len (may be NULL) gets
 * its length.
 * @retval CNP_ERR_INVAL  a malformed request: empty or bad header name, CR
 *                        or LF in a value, path not starting with '/',
 *                        payload hash not 64 hex digits, no host header
 * @retval CNP_ERR_TOOBIG too many headers, parameters or path segments, or
 *                        out too small
 */
int cnp_sigv4_canonical_request(const struct cnp_sigv4_request *req, char *out,
                                size_t cap, size_t *out_len);

/*
 * The signed-headers list: lower-case header names, sorted, unique, joined
 * with ';'. Errors as cnp_sigv4_canonical_request.
 */
int cnp_sigv4_signed_headers(const struct cnp_sigv4_request *req, char *out, size_t cap);

/*
 * The string to sign for a canonical request: "AWS4-HMAC-SHA256\n" DATE
 * "\n" SCOPE "\n" hex(SHA-256(creq)), SCOPE being
 * "YYYYMMDD/REGION/SERVICE/aws4_request".
 * @retval CNP_ERR_INVAL  amz_date is not YYYYMMDDTHHMMSSZ, or a bad region
 *                        or service
 * @retval CNP_ERR_TOOBIG out too small
 */
int cnp_sigv4_string_to_sign(const char *amz_date, const char *region,
                             const char *service, const char *creq, size_t creq_len,
                             char *out, size_t cap);

/*
 * The signing key: HMAC chain "AWS4"+secret -> date (YYYYMMDD, the first 8
 * characters of amz_date) -> region -> service -> "aws4_request".
 * Cache it per day if you like; it is as secret as the secret key.
 * @retval CNP_ERR_INVAL bad identity or date
 */
int cnp_sigv4_signing_key(const struct cnp_sigv4_identity *id, const char *amz_date,
                          uint8_t key[32]);

/*
 * Signs a request: writes the whole Authorization header value
 * "AWS4-HMAC-SHA256 Credential=ID/SCOPE, SignedHeaders=..., Signature=HEX"
 * into out. amz_date must be the value of the request's x-amz-date header.
 * Hashes the canonical request as it is produced, so it needs no buffer of
 * its size. Does not block; wipes the derived keys before returning.
 * @retval CNP_ERR_INVAL  see cnp_sigv4_canonical_request; bad identity or date
 * @retval CNP_ERR_TOOBIG see cnp_sigv4_canonical_request, or out too small
 */
int cnp_sigv4_sign(const struct cnp_sigv4_request *req, const struct cnp_sigv4_identity *id,
                   const char *amz_date, char *out, size_t cap);

#endif
