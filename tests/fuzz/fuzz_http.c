/*
 * libFuzzer target: what canopy does with a server's replies. The HTTP
 * seam (platform/http.h) is replaced by a fake server that answers each
 * request with the next reply of the input; the header lines and the body
 * go through the real response handling (platform/http_reply.c: status
 * lines after a 1xx, Retry-After, captured headers such as ETag, Date and
 * x-amz-request-id, the bounded body), then into the real endpoints: s3://
 * (firmware/endpoint_s3.c: S3 XML error bodies, CreateMultipartUpload,
 * UploadPart, ListParts and CompleteMultipartUpload replies, the multipart
 * journal and its resume) and https://.
 *
 * Input: byte 0 chooses the run (bits 0-1: 0 s3 PutObject, 1 s3
 * multipart, 2 https, 3 s3 multipart over three agent restarts that resume
 * from the journal; bits 2-4: the batch size). The rest is the server's
 * replies, one after the other, each ended by a NUL byte: header lines
 * ("HTTP/1.1 200 OK", "ETag: \"x\"", ...; a 1xx status line may come
 * first), an empty line, then the body. A reply whose first line is "!net",
 * "!tls", "!cancel" or "!nomem" is that transport failure instead; a reply
 * without a status line the client could read is a network error, as
 * libcurl reports one. When the replies run out every request fails with a
 * network error, so that every run is bounded.
 *
 * Invariants beyond "no crash, no sanitizer report, no leak":
 * - a put returns CNP_OK only after a 2xx reply, and, for a multipart
 *   upload, only after a CompleteMultipartUpload request;
 * - a failed put says why (a non-empty detail) and classes itself with a
 *   known cnp_put_class; Retry-After is -1 or a value from the server;
 * - no detail ever contains the secret access key;
 * - every request the endpoint makes is well formed: a known method, an
 *   https:// URL of the configured server.
 * With CANOPY_FUZZ_TRACE set, each put's outcome goes to stderr (to check
 * that a seed goes where it should).
 */
#include "firmware/endpoint.h"
#include "firmware/error.h"
#include "platform/http.h"
#include "platform/log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYFUZZSECRET"
#define BATCH "0000000001-fuzz.cnp"

static struct {
	const char *in;
	size_t len, pos;
	int last_ok;        /* the last reply was 2xx */
	int last_complete;  /* the last request was CompleteMultipartUpload */
	unsigned requests;
} srv;

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_http: %s\n", why);
	abort();
}

/* ---- the fake HTTP client ---------------------------------------------------- */

struct cnp_http {
	int unused;
};

int cnp_http_global_init(void)
{
	return CNP_OK;
}

void cnp_http_global_cleanup(void)
{
}

struct cnp_http *cnp_http_create(const struct cnp_http_config *config)
{
	(void)config;
	return malloc(sizeof(struct cnp_http));
}

void cnp_http_destroy(struct cnp_http *http)
{
	free(http);
}

/* "HTTP/1.1 200 ..." or "HTTP/2 200": the status, or -1. */
static long status_of(const char *line, size_t n)
{
	const char *sp = memchr(line, ' ', n);
	if (!sp || (size_t)(sp - line) + 4 > n)
		return -1;
	long st = 0;
	for (int i = 1; i <= 3; i++) {
		char ch = sp[i];
		if (ch < '0' || ch > '9')
			return -1;
		st = st * 10 + (ch - '0');
	}
	return st >= 100 ? st : -1;
}

int cnp_http_send(struct cnp_http *http, const struct cnp_http_request *req,
                  struct cnp_http_response *resp)
{
	(void)http;
	cnp_http_response_begin(req, resp);
	srv.requests++;
	srv.last_ok = 0;
	srv.last_complete = 0;
	const char *m = req->method;
	if (strcmp(m, "PUT") != 0 && strcmp(m, "POST") != 0 && strcmp(m, "GET") != 0 &&
	    strcmp(m, "DELETE") != 0)
		fail("a request with an unknown method");
	if (strncmp(req->url, "https://s3.fuzz.test/fuzz-bucket/", 33) != 0 &&
	    strncmp(req->url, "https://up.fuzz.test/in/", 24) != 0)
		fail("a request to another server");
	srv.last_complete = strcmp(m, "POST") == 0 && strstr(req->url, "uploadId=") != NULL;
	if (srv.pos >= srv.len) {
		snprintf(resp->detail, sizeof(resp->detail), "%.300s: no more replies", req->url);
		return CNP_ERR_NET;
	}
	const char *r = srv.in + srv.pos;
	const char *end = memchr(r, 0, srv.len - srv.pos);
	size_t rlen = end ? (size_t)(end - r) : srv.len - srv.pos;
	srv.pos += rlen + 1;
	static const struct {
		const char *word;
		int rc;
	} failures[] = {{"!net", CNP_ERR_NET}, {"!tls", CNP_ERR_TLS},
	                {"!cancel", CNP_ERR_CANCELLED}, {"!nomem", CNP_ERR_NOMEM}};
	for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
		size_t wl = strlen(failures[i].word);
		if (rlen >= wl && memcmp(r, failures[i].word, wl) == 0) {
			snprintf(resp->detail, sizeof(resp->detail), "%.300s: %s", req->url,
			         failures[i].word + 1);
			return failures[i].rc;
		}
	}
	/* Header lines up to an empty one, each with its line end. */
	size_t p = 0;
	long status = -1;
	while (p < rlen) {
		const char *nl = memchr(r + p, '\n', rlen - p);
		size_t ll = nl ? (size_t)(nl - (r + p)) + 1 : rlen - p;
		const char *line = r + p;
		p += ll;
		size_t bare = ll;
		while (bare > 0 && (line[bare - 1] == '\n' || line[bare - 1] == '\r'))
			bare--;
		if (bare == 0 && status >= 100 && status < 200) {
			status = -1; /* an interim response: the real one follows */
			continue;
		}
		if (bare == 0)
			break;
		if (bare >= 5 && memcmp(line, "HTTP/", 5) == 0)
			status = status_of(line, bare);
		else if (status < 0)
			break; /* a header before any status line */
		cnp_http_response_header(req, resp, line, ll);
	}
	if (status < 200) {
		snprintf(resp->detail, sizeof(resp->detail), "%.300s: weird server reply", req->url);
		return CNP_ERR_NET;
	}
	/* The body, in two pieces, as a network delivers it. */
	size_t body = rlen - p, half = body / 2;
	cnp_http_response_body(req, resp, r + p, half);
	cnp_http_response_body(req, resp, r + p + half, body - half);
	resp->status = status;
	if (status > 299) {
		snprintf(resp->detail, sizeof(resp->detail), "%.400s: server answered HTTP %ld",
		         req->url, status);
		return CNP_ERR_HTTP;
	}
	srv.last_ok = 1;
	return CNP_OK;
}

int cnp_http_put(struct cnp_http *http, const char *url, const char *content_type,
                 const void *body, size_t len, struct cnp_http_response *resp)
{
	struct cnp_http_header ct = {"Content-Type", content_type};
	struct cnp_http_request req = {.method = "PUT", .url = url, .headers = &ct,
	                               .n_headers = 1, .body = body, .len = len};
	return cnp_http_send(http, &req, resp);
}

/* ---- the run ------------------------------------------------------------------ */

static char dir[64];
static struct cnp_endpoint_config cfg; /* large: off the stack */

static void clean_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[sizeof(dir) + 300];
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, BATCH) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

static void remove_dir(void)
{
	clean_dir();
	char path[sizeof(dir) + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, BATCH);
	unlink(path);
	rmdir(dir);
}

static void setup_once(void)
{
	if (dir[0])
		return;
	/* tmpfs when there is one: the journal is written with fsync. */
	snprintf(dir, sizeof(dir), "/dev/shm/canopy-fuzz-http.XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/canopy-fuzz-http.XXXXXX");
		if (!mkdtemp(dir))
			fail("cannot make a folder for the multipart journal");
	}
	/* The batch being uploaded is in the spool: its journal is a resume,
	 * not an orphan. */
	char path[sizeof(dir) + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, BATCH);
	FILE *f = fopen(path, "wb");
	if (f)
		fclose(f);
	atexit(remove_dir);
}

static void check_result(int rc, const struct cnp_put_result *res, int multipart)
{
	if (memchr(res->detail, 0, sizeof(res->detail)) == NULL)
		fail("detail not NUL-terminated");
	if (strstr(res->detail, SECRET))
		fail("the secret access key in a detail");
	if ((unsigned)res->cls > CNP_PUT_REJECTED)
		fail("an unknown put class");
	if (res->retry_after_s < -1)
		fail("a negative Retry-After");
	if (rc == CNP_OK) {
		if (!srv.last_ok)
			fail("stored without a 2xx reply");
		if (multipart && !srv.last_complete)
			fail("a multipart upload stored without CompleteMultipartUpload");
	} else if (!res->detail[0]) {
		fail("a failure without a reason");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	cnp_log_set_level(CNP_LOG_ERROR);
	setup_once();
	clean_dir();
	memset(&srv, 0, sizeof(srv));
	srv.in = (const char *)data + 1;
	srv.len = size - 1;
	unsigned mode = data[0] & 3u;
	size_t len = 40u + 24u * ((data[0] >> 2) & 7u);

	memset(&cfg, 0, sizeof(cfg));
	if (mode == 2) {
		snprintf(cfg.url, sizeof(cfg.url), "https://up.fuzz.test/in/");
	} else {
		snprintf(cfg.url, sizeof(cfg.url), "s3://fuzz-bucket/pre/");
		snprintf(cfg.endpoint_url, sizeof(cfg.endpoint_url), "https://s3.fuzz.test");
		snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
		snprintf(cfg.access_key_id, sizeof(cfg.access_key_id), "AKIDFUZZ");
		snprintf(cfg.secret_access_key, sizeof(cfg.secret_access_key), "%s", SECRET);
		cfg.virtual_hosted = 0;
		cfg.multipart_threshold_bytes = mode == 0 ? 1u << 20 : 32u;
		cfg.part_bytes = 32u;
		snprintf(cfg.journal_dir, sizeof(cfg.journal_dir), "%s", dir);
	}
	uint8_t batch[256];
	for (size_t i = 0; i < sizeof(batch); i++)
		batch[i] = (uint8_t)(i * 31u + 7u);

	unsigned lives = mode == 3 ? 3 : 1;
	for (unsigned life = 0; life < lives; life++) {
		struct cnp_endpoint *ep = NULL;
		char why[256];
		int rc = cnp_endpoint_create(&cfg, NULL, &ep, why, sizeof(why));
		if (rc != CNP_OK)
			return 0; /* only CNP_ERR_NOMEM could refuse this configuration */
		/* The uploader retries a batch until it is stored or refused. */
		for (unsigned attempt = 0; attempt < 4; attempt++) {
			/* As the uploader starts each put (firmware/uploader.c). */
			struct cnp_put_result res = {
				.status = 0, .retry_after_s = -1, .detail = "", .cls = CNP_PUT_BY_STATUS};
			rc = ep->ops->put(ep, "v/" BATCH, batch, len, &res);
			check_result(rc, &res, mode != 0 && mode != 2);
			if (getenv("CANOPY_FUZZ_TRACE"))
				fprintf(stderr, "fuzz_http: life %u put %u: %s (%s) after %u requests\n",
				        life, attempt, cnp_strerror(rc), res.detail, srv.requests);
			if (rc == CNP_OK || srv.pos >= srv.len)
				break;
		}
		cnp_endpoint_destroy(ep);
	}
	clean_dir();
	return 0;
}
