#include "firmware/remote.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/fs.h"
#include "platform/http.h"
#include "platform/log.h"
#include "platform/secret.h"
#include "platform/thread.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define DOC_NAME "schemes.json"
#define SIG_NAME "schemes.sig"
#define ETAG_NAME "schemes.etag"
#define SIG_HEADER "X-Canopy-Signature"
#define ETAG_MAX 256

struct cnp_remote {
	struct cnp_remote_config cfg;
	char url[2048], cache_dir[4096];
	struct cnp_verifier *key;
	struct cnp_http *http;
	struct cnp_thread *thread;
	struct cnp_event *wake;
	atomic_int stop;
	struct cnp_mutex *lock;
	struct cnp_collector *ready; /* under lock */
	char refused[512];           /* under lock */
	char etag[ETAG_MAX];         /* of the running document */
	char bad_etag[ETAG_MAX];     /* of the last refused one */
	char last_problem[512];      /* transport problems are logged once */
	char *body;
};

static int unhex(const char *hex, uint8_t *out, size_t cap, size_t *n)
{
	size_t len = strlen(hex);
	while (len && (hex[len - 1] == ' ' || hex[len - 1] == '\r' || hex[len - 1] == '\n'))
		len--;
	if (len % 2 || len / 2 > cap || len == 0)
		return CNP_ERR_INVAL;
	for (size_t i = 0; i < len; i++) {
		char c = hex[i];
		unsigned v = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
		                                    : 16;
		if (v > 15)
			return CNP_ERR_INVAL;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	*n = len / 2;
	return CNP_OK;
}

int cnp_remote_verify(const struct cnp_remote *r, const void *text, size_t len,
                      const char *sig_hex, char *why, size_t why_len)
{
	uint8_t sig[CNP_ECDSA_P256_SIG_MAX], hash[CNP_SHA256_LEN];
	size_t n = 0;
	if (!sig_hex || !sig_hex[0]) {
		snprintf(why, why_len, "unsigned: no " SIG_HEADER);
		return CNP_ERR_SIGNATURE;
	}
	if (unhex(sig_hex, sig, sizeof(sig), &n) != CNP_OK) {
		snprintf(why, why_len, SIG_HEADER " is not a hex DER signature of at most %d bytes",
		         CNP_ECDSA_P256_SIG_MAX);
		return CNP_ERR_SIGNATURE;
	}
	cnp_sha256(text, len, hash);
	if (cnp_verifier_verify(r->key, hash, sig, n) != CNP_OK) {
		snprintf(why, why_len, "the signature does not verify with schemes_key %s",
		         r->cfg.key_path);
		return CNP_ERR_SIGNATURE;
	}
	return CNP_OK;
}

static void refuse(struct cnp_remote *r, const char *etag, const char *text)
{
	cnp_error("schemes_url %s: document refused, the running schemes stay: %s", r->url, text);
	snprintf(r->bad_etag, sizeof(r->bad_etag), "%s", etag);
	cnp_mutex_lock(r->lock);
	snprintf(r->refused, sizeof(r->refused), "%s", text);
	cnp_mutex_unlock(r->lock);
}

static void problem(struct cnp_remote *r, const char *text)
{
	if (strcmp(text, r->last_problem) != 0)
		cnp_warn("schemes_url %s: %s; retrying every %llu ms", r->url, text,
		         (unsigned long long)r->cfg.poll_ms);
	snprintf(r->last_problem, sizeof(r->last_problem), "%s", text);
}

static void poll_once(struct cnp_remote *r)
{
	char etag[ETAG_MAX] = "", sig[2 * CNP_ECDSA_P256_SIG_MAX + 8] = "";
	char inm[ETAG_MAX + 16];
	struct cnp_http_header hdr = {"If-None-Match", inm};
	struct cnp_http_capture caps[2] = {{"ETag", etag, sizeof(etag)},
	                                   {SIG_HEADER, sig, sizeof(sig)}};
	snprintf(inm, sizeof(inm), "%s", r->etag);
	struct cnp_http_request req = {.method = "GET", .url = r->url,
	                               .headers = r->etag[0] ? &hdr : NULL,
	                               .n_headers = r->etag[0] ? 1 : 0, .resp_body = r->body,
	                               .resp_body_cap = CNP_COLLECT_MAX_DOC_BYTES + 1,
	                               .captures = caps, .n_captures = 2};
	struct cnp_http_response resp;
	memset(&resp, 0, sizeof(resp));
	int rc = cnp_http_send(r->http, &req, &resp);
	if (rc == CNP_ERR_CANCELLED || atomic_load(&r->stop))
		return;
	/* A TLS failure may come with a status: nginx answers 400 when a
	 * client certificate it requires is missing. */
	if (rc != CNP_OK && (resp.status == 0 || rc != CNP_ERR_HTTP)) {
		problem(r, resp.detail[0] ? resp.detail : cnp_strerror(rc));
		return;
	}
	if (resp.status == 304)
		return;
	if (resp.status != 200) {
		char t[64];
		snprintf(t, sizeof(t), "HTTP status %ld", resp.status);
		problem(r, t);
		return;
	}
	r->last_problem[0] = 0;
	if (etag[0] && strcmp(etag, r->bad_etag) == 0)
		return; /* refused already and reported */
	if (resp.body_truncated) {
		refuse(r, etag, "larger than 1 MiB");
		return;
	}
	char why[512] = "";
	if (cnp_remote_verify(r, r->body, resp.body_len, sig, why, sizeof(why)) != CNP_OK) {
		refuse(r, etag, why);
		return;
	}
	struct cnp_collector *col = NULL;
	rc = r->cfg.compile(r->cfg.compile_arg, r->body, resp.body_len, r->url, &col, why,
	                    sizeof(why));
	if (rc != CNP_OK) {
		refuse(r, etag, rc == CNP_ERR_NOMEM ? "out of memory" : why);
		return;
	}
	/* The last good one on flash, document first: a torn update leaves a
	 * signature that does not match, and the cache is then ignored. */
	if (cnp_fs_write_atomic(r->cache_dir, DOC_NAME, r->body, resp.body_len) != CNP_OK ||
	    cnp_fs_write_atomic(r->cache_dir, SIG_NAME, sig, strlen(sig)) != CNP_OK ||
	    cnp_fs_write_atomic(r->cache_dir, ETAG_NAME, etag, strlen(etag)) != CNP_OK)
		cnp_warn("schemes_url %s: cannot keep the document in %s: %s", r->url,
		         r->cache_dir, cnp_fs_last_error());
	snprintf(r->etag, sizeof(r->etag), "%s", etag);
	r->bad_etag[0] = 0;
	const char *v = cnp_collector_version(col);
	cnp_info("schemes_url %s: document %s verified and compiled; applying it", r->url,
	         v ? v : "(no version)");
	cnp_mutex_lock(r->lock);
	cnp_collector_destroy(r->ready);
	r->ready = col;
	cnp_mutex_unlock(r->lock);
}

static void run(void *arg)
{
	struct cnp_remote *r = arg;
	while (!atomic_load(&r->stop)) {
		poll_once(r);
		cnp_event_wait(r->wake, r->cfg.poll_ms * 1000u);
	}
}

static char *read_small(const char *dir, const char *name, size_t max, size_t *len)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	uint8_t *data = NULL;
	if (cnp_fs_read_file(path, max, &data, len) != CNP_OK)
		return NULL;
	char *s = cnp_realloc(data, *len + 1);
	if (!s) {
		cnp_free(data);
		return NULL;
	}
	s[*len] = 0;
	return s;
}

static struct cnp_collector *load_cache(struct cnp_remote *r)
{
	size_t dlen = 0, slen = 0, elen = 0;
	char *doc = read_small(r->cache_dir, DOC_NAME, CNP_COLLECT_MAX_DOC_BYTES, &dlen);
	char *sig = read_small(r->cache_dir, SIG_NAME, 4 * CNP_ECDSA_P256_SIG_MAX, &slen);
	char *etag = read_small(r->cache_dir, ETAG_NAME, ETAG_MAX - 1, &elen);
	struct cnp_collector *col = NULL;
	char why[512] = "", origin[4200];
	snprintf(origin, sizeof(origin), "%s/%s", r->cache_dir, DOC_NAME);
	if (doc && sig) {
		if (cnp_remote_verify(r, doc, dlen, sig, why, sizeof(why)) != CNP_OK ||
		    r->cfg.compile(r->cfg.compile_arg, doc, dlen, origin, &col, why, sizeof(why)) !=
		        CNP_OK) {
			cnp_warn("%s: the kept scheme document is not usable (%s); waiting for %s",
			         origin, why, r->url);
			col = NULL;
		} else {
			const char *v = cnp_collector_version(col);
			cnp_info("%s: using the last good scheme document %s until %s answers", origin,
			         v ? v : "(no version)", r->url);
			if (etag)
				snprintf(r->etag, sizeof(r->etag), "%s", etag);
		}
	}
	cnp_free(doc);
	cnp_free(sig);
	cnp_free(etag);
	return col;
}

int cnp_remote_start(const struct cnp_remote_config *cfg, struct cnp_remote **out,
                     struct cnp_collector **cached)
{
	*out = NULL;
	*cached = NULL;
	struct cnp_remote *r = cnp_calloc(1, sizeof(*r));
	if (!r)
		return CNP_ERR_NOMEM;
	r->cfg = *cfg;
	snprintf(r->url, sizeof(r->url), "%s", cfg->url);
	snprintf(r->cache_dir, sizeof(r->cache_dir), "%s", cfg->cache_dir);
	atomic_init(&r->stop, 0);
	char why[256] = "";
	int rc = cnp_verifier_load(cfg->key_path, &r->key, why, sizeof(why));
	if (rc != CNP_OK) {
		if (rc != CNP_ERR_NOMEM) {
			cnp_error("capture.schemes_key %s: %s", cfg->key_path, why);
			rc = CNP_ERR_CONFIG;
		}
		goto fail;
	}
#define SET_OR_NULL(s) ((s) && (s)[0] ? (s) : NULL)
	struct cnp_http_config hc = {.ca_file = SET_OR_NULL(cfg->ca_file),
	                             .pinned_pubkey = SET_OR_NULL(cfg->pinned_pubkey),
	                             .client_cert = SET_OR_NULL(cfg->client_cert),
	                             .client_key = SET_OR_NULL(cfg->client_key),
	                             .allow_insecure = cfg->allow_insecure, .cancel = &r->stop};
#undef SET_OR_NULL
	if (hc.client_key) {
		rc = cnp_secret_check(hc.client_key, why, sizeof(why));
		if (rc != CNP_OK) {
			if (rc != CNP_ERR_NOMEM) {
				cnp_error("capture.schemes_client_key %s: %s", hc.client_key, why);
				rc = CNP_ERR_CONFIG;
			}
			goto fail;
		}
	}
	rc = CNP_ERR_NOMEM;
	r->body = cnp_malloc(CNP_COLLECT_MAX_DOC_BYTES + 1);
	r->lock = cnp_mutex_create();
	r->wake = cnp_event_create();
	r->http = cnp_http_create(&hc);
	if (!r->body || !r->lock || !r->wake || !r->http)
		goto fail;
	cnp_fs_mkdirs(r->cache_dir);
	*cached = load_cache(r);
	rc = cnp_thread_start(&r->thread, run, r);
	if (rc != CNP_OK)
		goto fail;
	*out = r;
	return CNP_OK;
fail:
	cnp_collector_destroy(*cached);
	*cached = NULL;
	cnp_remote_stop(r);
	return rc;
}

void cnp_remote_stop(struct cnp_remote *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, 1);
	if (r->thread) {
		cnp_event_signal(r->wake);
		cnp_thread_join(r->thread);
	}
	cnp_collector_destroy(r->ready);
	cnp_http_destroy(r->http);
	if (r->wake)
		cnp_event_destroy(r->wake);
	if (r->lock)
		cnp_mutex_destroy(r->lock);
	cnp_verifier_destroy(r->key);
	cnp_free(r->body);
	cnp_free(r);
}

void cnp_remote_take(struct cnp_remote *r, struct cnp_collector **col, char *refused,
                     size_t refused_len)
{
	cnp_mutex_lock(r->lock);
	*col = r->ready;
	r->ready = NULL;
	snprintf(refused, refused_len, "%s", r->refused);
	r->refused[0] = 0;
	cnp_mutex_unlock(r->lock);
}
