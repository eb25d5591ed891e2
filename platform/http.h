/*
 * HTTP client seam (libcurl behind it). One struct cnp_http is one
 * connection cache: reuse it for requests to the same server so that TCP
 * connections and TLS sessions are reused. Not thread-safe: one thread per
 * handle. Calls block until the request completes, fails, times out, or the
 * cancel flag is raised.
 *
 * TLS peer and host verification are always on; there is no switch to turn
 * them off. Minimum protocol version TLS 1.2. A TLS failure's detail says
 * which check failed in words (untrusted CA, expired, wrong host name, pin
 * mismatch, client certificate missing or rejected).
 */
#ifndef CNP_PLATFORM_HTTP_H
#define CNP_PLATFORM_HTTP_H

#include <stdatomic.h>
#include <stddef.h>

struct cnp_http_config {
	const char *ca_file;         /* PEM CA bundle; NULL: the system store */
	const char *pinned_pubkey;   /* CURLOPT_PINNEDPUBLICKEY: "sha256//..."
	                                hashes or a key file; NULL: no pin */
	const char *client_cert;     /* PEM client certificate (mutual TLS) */
	const char *client_key;      /* its PEM private key; NULL with no cert */
	long connect_timeout_ms;     /* 0: the default (CNP_HTTP_CONNECT_MS) */
	long stall_timeout_ms;       /* abort when no byte moves for this long;
	                                0: the default (CNP_HTTP_STALL_MS) */
	int allow_insecure;          /* nonzero: plain http:// URLs accepted */
	unsigned long long max_send_bytes_per_s; /* upload pace (libcurl's
	                                CURLOPT_MAX_SEND_SPEED_LARGE); 0: none */
	const atomic_int *cancel;    /* optional: nonzero aborts a transfer */
};

#define CNP_HTTP_CONNECT_MS 10000
#define CNP_HTTP_STALL_MS 30000

struct cnp_http_response {
	long status;          /* HTTP status, 0 if no response was read */
	long retry_after_s;   /* Retry-After in seconds, -1 when absent */
	char detail[512];     /* what went wrong, for the log; "" on success */
	size_t body_len;      /* bytes stored in the request's resp_body */
	int body_truncated;   /* nonzero: the body was longer than resp_body_cap - 1
	                         (the rest was read and discarded) */
};

/* One extra request header, sent as "name: value". */
struct cnp_http_header {
	const char *name;
	const char *value; /* no CR or LF */
};

/* A response header to capture: its value (trimmed) goes into value[0..cap),
 * NUL-terminated and cut to fit; "" when the response has no such header. */
struct cnp_http_capture {
	const char *name; /* case-insensitive */
	char *value;
	size_t cap;
};

/*
 * One request for cnp_http_send. Every pointer is borrowed for the call.
 */
struct cnp_http_request {
	const char *method;  /* "GET", "PUT", "POST" or "DELETE" */
	const char *url;
	const struct cnp_http_header *headers; /* extra headers, may be NULL. A
	                        "Host" here replaces the one from the URL (the
	                        caller signs what is sent). */
	size_t n_headers;
	const void *body;    /* PUT and POST: body[0..len), sent with a
	                        Content-Length (no chunking, no "Expect:
	                        100-continue"); GET and DELETE send none */
	size_t len;
	char *resp_body;     /* optional: up to resp_body_cap - 1 bytes of the
	                        response body, NUL-terminated (S3's XML); the
	                        rest is discarded; NULL discards it all */
	size_t resp_body_cap;
	struct cnp_http_capture *captures; /* optional response headers */
	size_t n_captures;
};

/* Once per process, before any thread starts. Cheap: libcurl itself is
 * loaded (dlopen) and initialised by the first cnp_http_create, so a
 * process that never makes an HTTP handle never loads it. Cleanup after
 * the last handle is destroyed. */
int cnp_http_global_init(void);
void cnp_http_global_cleanup(void);

/* NULL on allocation failure, or when libcurl cannot be loaded (logged
 * with the loader's reason). The config's strings are copied. */
struct cnp_http *cnp_http_create(const struct cnp_http_config *config);
void cnp_http_destroy(struct cnp_http *http);

/*
 * PUTs body[0..len) to `url` with the given Content-Type.
 * @retval CNP_OK            the server answered 2xx
 * @retval CNP_ERR_HTTP      the server answered another status (resp->status)
 * @retval CNP_ERR_TLS       TLS handshake or certificate verification failed
 * @retval CNP_ERR_NET       DNS, connect, reset, timeout or stall
 * @retval CNP_ERR_CANCELLED the cancel flag was raised
 * @retval CNP_ERR_INVAL     a malformed or refused URL (http:// without
 *                           allow_insecure, unknown scheme)
 * @retval CNP_ERR_NOMEM
 * resp->detail says what happened in words, with the URL.
 */
int cnp_http_put(struct cnp_http *http, const char *url,
                 const char *content_type, const void *body, size_t len,
                 struct cnp_http_response *resp);

/*
 * Sends one request and reads the whole response (its body bounded as the
 * request says). Same connection reuse, TLS rules, timeouts and cancel flag
 * as cnp_http_put, which is this call with method PUT and one Content-Type
 * header.
 * @retval as for cnp_http_put; CNP_ERR_INVAL also for an unknown method or
 *         a header with CR or LF in it
 */
int cnp_http_send(struct cnp_http *http, const struct cnp_http_request *req,
                  struct cnp_http_response *resp);

/*
 * Response handling without the network, shared by the libcurl client and
 * the fuzz target (platform/http_reply.c). _begin clears resp, the body
 * buffer and the captures; _header takes one header line as received
 * ("Name: value\r\n"; a status line "HTTP/..." starts a new response, as
 * after a 1xx, and forgets what the last one said): Retry-After in
 * delta-seconds and the request's captures; _body appends body bytes, at
 * most resp_body_cap - 1 in all (the rest sets body_truncated).
 */
void cnp_http_response_begin(const struct cnp_http_request *req, struct cnp_http_response *resp);
void cnp_http_response_header(const struct cnp_http_request *req, struct cnp_http_response *resp,
                              const char *line, size_t len);
void cnp_http_response_body(const struct cnp_http_request *req, struct cnp_http_response *resp,
                            const char *buf, size_t len);

#endif
