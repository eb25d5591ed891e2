#include "firmware/alloc.h"
#include "firmware/endpoint.h"
#include "firmware/error.h"
#include "platform/http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct https_endpoint {
	struct cnp_endpoint base;
	struct cnp_http *http;
	char prefix[CNP_URL_MAX]; /* URL without trailing slash */
};

static int https_put(struct cnp_endpoint *ep, const char *key, const uint8_t *data,
                     size_t len, struct cnp_put_result *res)
{
	struct https_endpoint *h = (struct https_endpoint *)ep;
	char url[CNP_URL_MAX + 128];
	snprintf(url, sizeof(url), "%s/%s", h->prefix, key);
	struct cnp_http_response r;
	int rc = cnp_http_put(h->http, url, "application/vnd.canopy.batch", data, len, &r);
	res->status = r.status;
	res->retry_after_s = r.retry_after_s;
	snprintf(res->detail, sizeof(res->detail), "%s", r.detail);
	return rc;
}

static void https_destroy(struct cnp_endpoint *ep)
{
	struct https_endpoint *h = (struct https_endpoint *)ep;
	cnp_http_destroy(h->http);
	cnp_free(h);
}

static const struct cnp_endpoint_ops https_ops = {
	.scheme = "https",
	.put = https_put,
	.destroy = https_destroy,
};

void cnp_endpoint_http_config(const struct cnp_endpoint_config *cfg, const atomic_int *cancel,
                              struct cnp_http_config *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc->ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
	hc->pinned_pubkey = cfg->pinned_pubkey[0] ? cfg->pinned_pubkey : NULL;
	hc->client_cert = cfg->client_cert[0] ? cfg->client_cert : NULL;
	hc->client_key = cfg->client_key[0] ? cfg->client_key : NULL;
	hc->allow_insecure = cfg->allow_insecure;
	hc->connect_timeout_ms = cfg->connect_timeout_ms;
	hc->stall_timeout_ms = cfg->stall_timeout_ms;
	hc->max_send_bytes_per_s = cfg->max_bytes_per_s;
	hc->cancel = cancel;
}

int cnp_endpoint_https_create(const struct cnp_endpoint_config *cfg,
                              const atomic_int *cancel, struct cnp_endpoint **out,
                              char *why, size_t why_len)
{
	int is_http = strncasecmp(cfg->url, "http://", 7) == 0;
	if (is_http && !cfg->allow_insecure) {
		snprintf(why, why_len,
		         "plain http:// is refused; use https:// or set \"allow_insecure\": true");
		return CNP_ERR_CONFIG;
	}
	const char *host = cfg->url + (is_http ? 7 : 8);
	if (host[0] == 0 || host[0] == '/') {
		snprintf(why, why_len, "URL \"%s\" has no host", cfg->url);
		return CNP_ERR_CONFIG;
	}
	struct https_endpoint *h = cnp_calloc(1, sizeof(*h));
	if (!h)
		return CNP_ERR_NOMEM;
	struct cnp_http_config hc;
	cnp_endpoint_http_config(cfg, cancel, &hc);
	h->http = cnp_http_create(&hc);
	if (!h->http) {
		cnp_free(h);
		return CNP_ERR_NOMEM;
	}
	h->base.ops = &https_ops;
	snprintf(h->base.url, sizeof(h->base.url), "%s", cfg->url);
	snprintf(h->prefix, sizeof(h->prefix), "%s", cfg->url);
	size_t n = strlen(h->prefix);
	while (n > 0 && h->prefix[n - 1] == '/')
		h->prefix[--n] = 0;
	*out = &h->base;
	return CNP_OK;
}
