/* The only file that includes <curl/curl.h>. */
#include "platform/http.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cnp_http {
	CURL *curl;
	char *ca_file;
	long connect_timeout_ms;
	long stall_timeout_ms;
	int allow_insecure;
	const atomic_int *cancel;
};

struct upload {
	const unsigned char *data;
	size_t len;
	size_t pos;
};

int cnp_http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? CNP_OK
	                                                         : CNP_ERR_NOMEM;
}

void cnp_http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct cnp_http *cnp_http_create(const struct cnp_http_config *config)
{
	struct cnp_http *h = cnp_calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->curl = curl_easy_init();
	if (!h->curl)
		goto fail;
	if (config->ca_file) {
		h->ca_file = cnp_strdup(config->ca_file);
		if (!h->ca_file)
			goto fail;
	}
	h->connect_timeout_ms =
		config->connect_timeout_ms > 0 ? config->connect_timeout_ms : CNP_HTTP_CONNECT_MS;
	h->stall_timeout_ms =
		config->stall_timeout_ms > 0 ? config->stall_timeout_ms : CNP_HTTP_STALL_MS;
	h->allow_insecure = config->allow_insecure;
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
	cnp_free(h);
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t room = size * nitems;
	size_t left = u->len - u->pos;
	size_t n = left < room ? left : room;
	memcpy(buf, u->data + u->pos, n);
	u->pos += n;
	return n;
}

static size_t discard_cb(char *buf, size_t size, size_t nmemb, void *arg)
{
	(void)buf;
	(void)arg;
	return size * nmemb;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct cnp_http_response *resp = arg;
	size_t n = size * nitems;
	static const char name[] = "retry-after:";
	if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		char value[64];
		size_t vlen = n - (sizeof(name) - 1);
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, buf + sizeof(name) - 1, vlen);
		value[vlen] = 0;
		char *end;
		long secs = strtol(value, &end, 10);
		/* Only delta-seconds; an HTTP date leaves it absent (-1). */
		if (end != value && secs >= 0)
			resp->retry_after_s = secs;
	}
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

int cnp_http_put(struct cnp_http *h, const char *url, const char *content_type,
                 const void *body, size_t len, struct cnp_http_response *resp)
{
	resp->status = 0;
	resp->retry_after_s = -1;
	resp->detail[0] = 0;

	int is_https = strncasecmp(url, "https://", 8) == 0;
	int is_http = strncasecmp(url, "http://", 7) == 0;
	if (!is_https && !(is_http && h->allow_insecure)) {
		snprintf(resp->detail, sizeof(resp->detail),
		         is_http ? "%.300s: plain http:// is refused unless the endpoint sets allow_insecure"
		                 : "%.300s: unsupported URL scheme",
		         url);
		return CNP_ERR_INVAL;
	}

	CURL *c = h->curl;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct upload up = {.data = body, .len = len, .pos = 0};
	struct curl_slist *headers = NULL;
	char ctype[128];
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
	struct curl_slist *tmp = curl_slist_append(headers, ctype);
	if (!tmp)
		return CNP_ERR_NOMEM;
	headers = tmp;
	/* No "Expect: 100-continue" round trip: batches are small. */
	tmp = curl_slist_append(headers, "Expect:");
	if (!tmp) {
		curl_slist_free_all(headers);
		return CNP_ERR_NOMEM;
	}
	headers = tmp;

	curl_easy_reset(c); /* keeps the connection and TLS session caches */
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(c, CURLOPT_READDATA, &up);
	curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->allow_insecure ? "https,http" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (h->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	/* A stall (no progress) aborts; a slow but moving link does not. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
	                 (h->stall_timeout_ms + 999) / 1000);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);

	CURLcode code = curl_easy_perform(c);
	curl_slist_free_all(headers);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);

	int rc = map_curl_code(code);
	if (rc != CNP_OK) {
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(code);
		if (rc == CNP_ERR_TLS && code == CURLE_PEER_FAILED_VERIFICATION)
			snprintf(resp->detail, sizeof(resp->detail),
			         "%.300s: TLS certificate verification failed: %.150s", url, why);
		else
			snprintf(resp->detail, sizeof(resp->detail), "%.300s: %.190s", url, why);
		return rc;
	}
	if (resp->status < 200 || resp->status > 299) {
		snprintf(resp->detail, sizeof(resp->detail), "%.400s: server answered HTTP %ld",
		         url, resp->status);
		return CNP_ERR_HTTP;
	}
	return CNP_OK;
}
