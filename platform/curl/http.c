/*
 * The only file that includes <curl/curl.h>.
 *
 * libcurl is loaded with dlopen() when the first HTTP handle is created,
 * not linked: libcurl brings some thirty libraries (OpenSSL, GnuTLS,
 * Kerberos, LDAP, ...) whose loading and relocation cost every process
 * about 9 million instructions and several MiB of mappings, and an agent
 * that only spools or uploads to file:// never needs them. The binary
 * therefore has no link-time dependency on libcurl: packages must list it
 * (libcurl4 on Debian) themselves. See docs/PERFORMANCE.md.
 */
#include "platform/http.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/log.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CANOPY_CURL_SONAME
#define CANOPY_CURL_SONAME "libcurl.so.4"
#endif

/* The libcurl functions this file calls, resolved from the loaded library. */
static struct {
	CURLcode (*global_init_mem)(long flags, curl_malloc_callback m, curl_free_callback f,
	                            curl_realloc_callback r, curl_strdup_callback s,
	                            curl_calloc_callback c);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
} curl_api;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_loaded; /* 1 loaded and initialised, -1 failed */

/* curl.h's type-checking macros would call the linked functions: call
 * through the table instead (the same names keep the code below plain). */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init_mem curl_api.global_init_mem
#define curl_global_cleanup curl_api.global_cleanup
#define curl_easy_init curl_api.easy_init
#define curl_easy_cleanup curl_api.easy_cleanup
#define curl_easy_reset curl_api.easy_reset
#define curl_easy_setopt curl_api.easy_setopt
#define curl_easy_perform curl_api.easy_perform
#define curl_easy_getinfo curl_api.easy_getinfo
#define curl_easy_strerror curl_api.easy_strerror
#define curl_slist_append curl_api.slist_append
#define curl_slist_free_all curl_api.slist_free_all

/* Object to function pointer: POSIX guarantees dlsym's result converts. */
#define LOAD(field, name)                                                       \
	do {                                                                    \
		void *sym_ = dlsym(lib, name);                                  \
		if (!sym_)                                                      \
			goto fail;                                              \
		memcpy(&curl_api.field, &sym_, sizeof(sym_));                   \
	} while (0)

static void load_curl(void)
{
	curl_loaded = -1;
	void *lib = dlopen(CANOPY_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		cnp_error("cannot load %s (https:// and s3:// endpoints need libcurl): %s",
		          CANOPY_CURL_SONAME, dlerror());
		return;
	}
	LOAD(global_init_mem, "curl_global_init_mem");
	LOAD(global_cleanup, "curl_global_cleanup");
	LOAD(easy_init, "curl_easy_init");
	LOAD(easy_cleanup, "curl_easy_cleanup");
	LOAD(easy_reset, "curl_easy_reset");
	LOAD(easy_setopt, "curl_easy_setopt");
	LOAD(easy_perform, "curl_easy_perform");
	LOAD(easy_getinfo, "curl_easy_getinfo");
	LOAD(easy_strerror, "curl_easy_strerror");
	LOAD(slist_append, "curl_slist_append");
	LOAD(slist_free_all, "curl_slist_free_all");
	/* libcurl's own allocations through canopy's allocator, so that the
	 * allocation-failure pass reaches them (those of the TLS library and
	 * the others it loads do not: docs/SECURITY.md). */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, cnp_malloc, cnp_free, cnp_realloc,
	                         cnp_strdup, cnp_calloc) != CURLE_OK) {
		cnp_error("%s: curl_global_init_mem failed", CANOPY_CURL_SONAME);
		return; /* the library stays loaded: unloading it buys nothing */
	}
	curl_loaded = 1;
	return;
fail:
	cnp_error("%s lacks a function canopy needs: %s", CANOPY_CURL_SONAME, dlerror());
	/* Not unloaded: a half-resolved table is never used (curl_loaded < 0). */
}

struct cnp_http {
	CURL *curl;
	char *ca_file;
	char *pinned_pubkey;
	char *client_cert;
	char *client_key;
	long connect_timeout_ms;
	long stall_timeout_ms;
	unsigned long long max_send_bytes_per_s;
	int allow_insecure;
	const atomic_int *cancel;
};

struct upload {
	const unsigned char *data;
	size_t len;
	size_t pos;
};

/* The start of every body, kept to recognise a server's TLS complaint
 * sent as an HTTP error page (nginx's client-certificate 400s). */
#define BODY_HEAD 512

/* What the callbacks fill in while a response arrives. */
struct reply {
	struct cnp_http_response *resp;
	const struct cnp_http_request *req;
	char head[BODY_HEAD];
	size_t head_len;
};

int cnp_http_global_init(void)
{
	return CNP_OK; /* libcurl is loaded by the first cnp_http_create */
}

void cnp_http_global_cleanup(void)
{
	if (curl_loaded > 0)
		curl_global_cleanup();
}

struct cnp_http *cnp_http_create(const struct cnp_http_config *config)
{
	pthread_once(&curl_once, load_curl);
	if (curl_loaded < 0)
		return NULL;
	struct cnp_http *h = cnp_calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->curl = curl_easy_init();
	if (!h->curl)
		goto fail;
	if ((config->ca_file && !(h->ca_file = cnp_strdup(config->ca_file))) ||
	    (config->pinned_pubkey && !(h->pinned_pubkey = cnp_strdup(config->pinned_pubkey))) ||
	    (config->client_cert && !(h->client_cert = cnp_strdup(config->client_cert))) ||
	    (config->client_key && !(h->client_key = cnp_strdup(config->client_key))))
		goto fail;
	h->connect_timeout_ms =
		config->connect_timeout_ms > 0 ? config->connect_timeout_ms : CNP_HTTP_CONNECT_MS;
	h->stall_timeout_ms =
		config->stall_timeout_ms > 0 ? config->stall_timeout_ms : CNP_HTTP_STALL_MS;
	h->allow_insecure = config->allow_insecure;
	h->max_send_bytes_per_s = config->max_send_bytes_per_s;
	h->cancel = config->cancel;
	return h;
fail:
	cnp_http_destroy(h);
	return NULL;
}

void cnp_http_destroy(struct cnp_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	cnp_free(h->ca_file);
	cnp_free(h->pinned_pubkey);
	cnp_free(h->client_cert);
	cnp_free(h->client_key);
	cnp_free(h);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t room = size * nitems;
	size_t left = u->len - u->pos;
	size_t n = left < room ? left : room;
	if (n == 0)
		return 0;
	memcpy(buf, u->data + u->pos, n);
	u->pos += n;
	return n;
}

/* The first BODY_HEAD bytes go to reply.head (for client_cert_page); the
 * body itself to cnp_http_response_body. */
static size_t body_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;
	if (r->head_len < BODY_HEAD - 1) {
		size_t k = BODY_HEAD - 1 - r->head_len < n ? BODY_HEAD - 1 - r->head_len : n;
		memcpy(r->head + r->head_len, buf, k);
		r->head_len += k;
		r->head[r->head_len] = 0;
	}
	cnp_http_response_body(r->req, r->resp, buf, n);
	return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nitems;
	cnp_http_response_header(r->req, r->resp, buf, n);
	return n;
}

static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	const struct cnp_http *h = arg;
	return h->cancel && atomic_load(h->cancel) ? 1 : 0;
}

/* Translates a libcurl code into canopy's, once, here. */
static int map_curl_code(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return CNP_OK;
	case CURLE_OUT_OF_MEMORY:
		return CNP_ERR_NOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return CNP_ERR_CANCELLED;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return CNP_ERR_INVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		return CNP_ERR_TLS;
	default:
		return CNP_ERR_NET;
	}
}

/* OpenSSL's X509_V_ERR_* codes that CURLINFO_SSL_VERIFYRESULT reports
 * (numbers, to keep OpenSSL's headers out of this file). */
#define X509_UNABLE_TO_GET_ISSUER_CERT 2
#define X509_CERT_NOT_YET_VALID 9
#define X509_CERT_HAS_EXPIRED 10
#define X509_DEPTH_ZERO_SELF_SIGNED 18
#define X509_SELF_SIGNED_IN_CHAIN 19
#define X509_UNABLE_TO_GET_ISSUER_LOCALLY 20
#define X509_UNABLE_TO_VERIFY_LEAF 21
#define X509_HOSTNAME_MISMATCH 62

/* Which TLS check failed, in words; NULL when the failure is not TLS. */
static const char *tls_failure(CURLcode code, long verify, const char *why,
                               const struct cnp_http *h)
{
	switch (code) {
	case CURLE_PEER_FAILED_VERIFICATION:
		switch (verify) {
		case X509_CERT_HAS_EXPIRED:
			return "the server's certificate has expired";
		case X509_CERT_NOT_YET_VALID:
			return "the server's certificate is not valid yet (or this clock is wrong)";
		case X509_UNABLE_TO_GET_ISSUER_CERT:
		case X509_DEPTH_ZERO_SELF_SIGNED:
		case X509_SELF_SIGNED_IN_CHAIN:
		case X509_UNABLE_TO_GET_ISSUER_LOCALLY:
		case X509_UNABLE_TO_VERIFY_LEAF:
			return h->ca_file ? "the server's certificate is not signed by a CA in ca_file"
			                  : "the server's certificate is not signed by a CA the "
			                    "system trusts (set ca_file?)";
		case X509_HOSTNAME_MISMATCH:
			return "the server's certificate is not for this host name";
		default:
			if (strstr(why, "host name") || strstr(why, "hostname") ||
			    strstr(why, "subject name"))
				return "the server's certificate is not for this host name";
			return "the server's certificate does not verify";
		}
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return "the server's public key does not match pinned_pubkey";
	case CURLE_SSL_CERTPROBLEM:
		return "the client certificate or key cannot be used (client_cert, client_key)";
	case CURLE_SSL_CACERT_BADFILE:
		return "ca_file cannot be read as PEM certificates";
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		/* TLS 1.3 servers refuse a client certificate with an alert
		 * after the handshake: it surfaces on the next read. */
		if (strstr(why, "alert certificate required"))
			return "the server requires a client certificate (client_cert, client_key)";
		if (strstr(why, "alert unknown ca") || strstr(why, "alert bad certificate") ||
		    strstr(why, "alert certificate unknown") ||
		    strstr(why, "alert certificate expired") ||
		    strstr(why, "alert access denied"))
			return "the server rejected the client certificate";
		if (strstr(why, "alert protocol version") || strstr(why, "unsupported protocol"))
			return "no common TLS version (canopy requires TLS 1.2 or later)";
		return code == CURLE_SSL_CONNECT_ERROR ? "the handshake failed" : NULL;
	default:
		return map_curl_code(code) == CNP_ERR_TLS ? "the handshake failed" : NULL;
	}
}

/* nginx completes the handshake without a valid client certificate and
 * answers 400 with one of these pages; NULL for any other page. */
static const char *client_cert_page(const char *head, const struct cnp_http *h)
{
	if (strstr(head, "No required SSL certificate was sent"))
		return h->client_cert ? "the server did not get the client certificate"
		                      : "the server requires a client certificate (client_cert, "
		                        "client_key)";
	if (strstr(head, "The SSL certificate error"))
		return "the server rejected the client certificate";
	return NULL;
}

/* "Name: value", or "Name;" for an empty value (curl's way of sending an
 * empty header rather than removing it). */
static int append_header(struct curl_slist **list, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n: ") || !name[0] || strpbrk(value, "\r\n"))
		return CNP_ERR_INVAL;
	size_t n = strlen(name) + strlen(value) + 3;
	char *line = cnp_malloc(n);
	if (!line)
		return CNP_ERR_NOMEM;
	if (value[0])
		snprintf(line, n, "%s: %s", name, value);
	else
		snprintf(line, n, "%s;", name);
	struct curl_slist *tmp = curl_slist_append(*list, line);
	/* curl copies the string; wipe ours (it may carry a session token). */
	memset(line, 0, n);
	cnp_free(line);
	if (!tmp)
		return CNP_ERR_NOMEM;
	*list = tmp;
	return CNP_OK;
}

static int has_header(const struct cnp_http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return 1;
	return 0;
}

int cnp_http_send(struct cnp_http *h, const struct cnp_http_request *req,
                  struct cnp_http_response *resp)
{
	cnp_http_response_begin(req, resp);
	const char *url = req->url;

	int is_https = strncasecmp(url, "https://", 8) == 0;
	int is_http = strncasecmp(url, "http://", 7) == 0;
	if (!is_https && !(is_http && h->allow_insecure)) {
		snprintf(resp->detail, sizeof(resp->detail),
		         is_http ? "%.300s: plain http:// is refused unless the endpoint sets allow_insecure"
		                 : "%.300s: unsupported URL scheme",
		         url);
		return CNP_ERR_INVAL;
	}
	const char *m = req->method;
	int put = strcmp(m, "PUT") == 0, post = strcmp(m, "POST") == 0;
	int get = strcmp(m, "GET") == 0, del = strcmp(m, "DELETE") == 0;
	if (!put && !post && !get && !del) {
		snprintf(resp->detail, sizeof(resp->detail), "%.300s: unsupported method %.20s", url, m);
		return CNP_ERR_INVAL;
	}

	CURL *c = h->curl;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct upload up = {.data = req->body, .len = req->body ? req->len : 0, .pos = 0};
	struct reply reply = {.resp = resp, .req = req};
	struct curl_slist *headers = NULL;
	int rc = CNP_OK;
	for (size_t i = 0; i < req->n_headers && rc == CNP_OK; i++)
		rc = append_header(&headers, req->headers[i].name, req->headers[i].value);
	/* "Expect:" (a colon, no value) stops curl's 100-continue round trip;
	 * "Content-Type:" stops it from labelling a POST body as a form. */
	if (rc == CNP_OK) {
		struct curl_slist *tmp = curl_slist_append(headers, "Expect:");
		rc = tmp ? CNP_OK : CNP_ERR_NOMEM;
		if (tmp)
			headers = tmp;
	}
	if (rc == CNP_OK && post && !has_header(req, "Content-Type")) {
		struct curl_slist *tmp = curl_slist_append(headers, "Content-Type:");
		rc = tmp ? CNP_OK : CNP_ERR_NOMEM;
		if (tmp)
			headers = tmp;
	}
	if (rc != CNP_OK) {
		curl_slist_free_all(headers);
		if (rc == CNP_ERR_INVAL)
			snprintf(resp->detail, sizeof(resp->detail),
			         "%.300s: a request header has a bad name or a line break", url);
		return rc;
	}
	curl_easy_reset(c); /* keeps the connection and TLS session caches */
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (put) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.len);
	} else if (post) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		if (del)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	if (put || post) {
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->allow_insecure ? "https,http" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	if (h->pinned_pubkey)
		curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, h->pinned_pubkey);
	if (h->client_cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, h->client_cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, h->client_key);
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	/* A stall (no progress) aborts; a slow but moving link does not. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
	                 (h->stall_timeout_ms + 999) / 1000);
	if (h->max_send_bytes_per_s)
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE,
		                 (curl_off_t)h->max_send_bytes_per_s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);

	CURLcode code = curl_easy_perform(c);
	/* The list may hold a session token: curl is done with it. */
	for (struct curl_slist *l = headers; l; l = l->next)
		memset(l->data, 0, strlen(l->data));
	curl_slist_free_all(headers);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);

	rc = map_curl_code(code);
	if (rc != CNP_OK) {
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(code);
		long verify = 0;
		curl_easy_getinfo(c, CURLINFO_SSL_VERIFYRESULT, &verify);
		const char *tls = tls_failure(code, verify, why, h);
		if (tls) {
			rc = CNP_ERR_TLS;
			snprintf(resp->detail, sizeof(resp->detail), "%.200s: TLS: %s (%.150s)", url,
			         tls, why);
		} else {
			snprintf(resp->detail, sizeof(resp->detail), "%.300s: %.190s", url, why);
		}
		return rc;
	}
	const char *cert = resp->status == 400 ? client_cert_page(reply.head, h) : NULL;
	if (cert) {
		/* Not a verdict on the batch: a TLS problem nginx reports late.
		 * Retried like any TLS failure, never quarantined. */
		snprintf(resp->detail, sizeof(resp->detail),
		         "%.250s: TLS: %s (server answered HTTP 400 after the handshake)", url, cert);
		return CNP_ERR_TLS;
	}
	if (resp->status < 200 || resp->status > 299) {
		snprintf(resp->detail, sizeof(resp->detail), "%.400s: server answered HTTP %ld",
		         url, resp->status);
		return CNP_ERR_HTTP;
	}
	return CNP_OK;
}

int cnp_http_put(struct cnp_http *h, const char *url, const char *content_type,
                 const void *body, size_t len, struct cnp_http_response *resp)
{
	struct cnp_http_header ct = {"Content-Type", content_type};
	struct cnp_http_request req = {
		.method = "PUT",
		.url = url,
		.headers = &ct,
		.n_headers = 1,
		.body = body,
		.len = len,
	};
	return cnp_http_send(h, &req, resp);
}
