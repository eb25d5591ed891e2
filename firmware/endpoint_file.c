#include "firmware/alloc.h"
#include "firmware/endpoint.h"
#include "firmware/error.h"
#include "platform/fs.h"
#include "platform/secret.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct file_endpoint {
	struct cnp_endpoint base;
	char dir[CNP_PATH_MAX];
};

static int file_put(struct cnp_endpoint *ep, const char *key, const uint8_t *data,
                    size_t len, struct cnp_put_result *res)
{
	struct file_endpoint *f = (struct file_endpoint *)ep;
	res->status = 0;
	res->retry_after_s = -1;
	res->detail[0] = 0;
	char path[CNP_PATH_MAX];
	const char *slash = strrchr(key, '/');
	const char *base = slash ? slash + 1 : key;
	int n = slash ? snprintf(path, sizeof(path), "%s/%.*s", f->dir, (int)(slash - key), key)
	              : snprintf(path, sizeof(path), "%s", f->dir);
	if (n >= (int)sizeof(path)) {
		snprintf(res->detail, sizeof(res->detail), "%s: key too long", ep->url);
		return CNP_ERR_INVAL;
	}
	int rc = cnp_fs_mkdirs(path);
	if (rc == CNP_OK)
		rc = cnp_fs_write_atomic(path, base, data, len);
	if (rc != CNP_OK)
		snprintf(res->detail, sizeof(res->detail), "%s/%s: %s", ep->url, key,
		         cnp_fs_last_error());
	return rc;
}

static void file_destroy(struct cnp_endpoint *ep)
{
	cnp_free(ep);
}

static const struct cnp_endpoint_ops file_ops = {
	.scheme = "file",
	.put = file_put,
	.destroy = file_destroy,
};

int cnp_endpoint_file_create(const struct cnp_endpoint_config *cfg,
                             struct cnp_endpoint **out, char *why, size_t why_len)
{
	const char *path = cfg->url + strlen("file://");
	if (path[0] != '/') {
		snprintf(why, why_len, "file:// URL needs an absolute path (file:///DIR)");
		return CNP_ERR_CONFIG;
	}
	struct file_endpoint *f = cnp_calloc(1, sizeof(*f));
	if (!f)
		return CNP_ERR_NOMEM;
	f->base.ops = &file_ops;
	snprintf(f->base.url, sizeof(f->base.url), "%s", cfg->url);
	snprintf(f->dir, sizeof(f->dir), "%s", path);
	size_t n = strlen(f->dir);
	while (n > 1 && f->dir[n - 1] == '/')
		f->dir[--n] = 0;
	*out = &f->base;
	return CNP_OK;
}

/* The URL without what may carry a secret: "user:password@" and "?query". */
void cnp_endpoint_redact_url(const char *url, char *out, size_t cap)
{
	const char *scheme = strstr(url, "://");
	const char *host = scheme ? scheme + 3 : url;
	size_t auth = strcspn(host, "/?#");
	const char *at = memchr(host, '@', auth);
	size_t head = (size_t)(host - url);
	const char *rest = at ? at + 1 : host;
	snprintf(out, cap, "%.*s%.*s", (int)head, url, (int)strcspn(rest, "?#"), rest);
}

int cnp_endpoint_create(const struct cnp_endpoint_config *cfg,
                        const atomic_int *cancel, struct cnp_endpoint **out,
                        char *why, size_t why_len)
{
	if (strncasecmp(cfg->url, "file://", 7) == 0)
		return cnp_endpoint_file_create(cfg, out, why, why_len);
	if (cfg->client_key[0]) {
		/* The mutual-TLS key is a secret like the others: refused when
		 * group or others may read it. */
		char w[160] = "";
		int rc = cnp_secret_check(cfg->client_key, w, sizeof(w));
		if (rc != CNP_OK) {
			snprintf(why, why_len, "client_key %s: %s", cfg->client_key, w);
			return rc == CNP_ERR_NOMEM ? rc : CNP_ERR_CONFIG;
		}
	}
	if (strncasecmp(cfg->url, "s3://", 5) == 0)
		return cnp_endpoint_s3_create(cfg, cancel, out, why, why_len);
	if (strncasecmp(cfg->url, "https://", 8) == 0 ||
	    strncasecmp(cfg->url, "http://", 7) == 0)
		return cnp_endpoint_https_create(cfg, cancel, out, why, why_len);
	snprintf(why, why_len, "unsupported URL scheme in \"%s\" (use file://, https:// or s3://)",
	         cfg->url);
	return CNP_ERR_CONFIG;
}

void cnp_endpoint_destroy(struct cnp_endpoint *ep)
{
	if (ep)
		ep->ops->destroy(ep);
}
