/*
 * s3://BUCKET[/PREFIX]: batches as S3 objects, signed with AWS Signature
 * Version 4 (firmware/sigv4.c) over the HTTP seam. See docs/S3.md.
 *
 * - A batch up to multipart_threshold_bytes goes by one PutObject; a larger
 *   one by multipart upload (CreateMultipartUpload, UploadPart for each
 *   part, CompleteMultipartUpload with the parts' ETags).
 * - The multipart state (upload id, size and SHA-256 of the batch, part
 *   size, ETags of the parts done) is kept in memory and, when a journal
 *   directory is configured (the spool), in a small JSON journal beside the
 *   batch: "BATCH.s3-TAG.json", TAG naming this endpoint. A retry, or the
 *   next run after a kill or a power cut, resumes at the first part the
 *   server does not hold (checked with ListParts) instead of starting over.
 * - S3's XML error (Code, Message) goes into the put result's detail, and
 *   its Code refines the uploader's retry class (enum cnp_put_class).
 * - A device clock that S3 finds too far off (RequestTimeTooSkewed) is
 *   corrected by the offset to the server's Date header, and logged.
 */
#include "firmware/alloc.h"
#include "firmware/endpoint.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/sigv4.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/fs.h"
#include "platform/http.h"
#include "platform/log.h"
#include "platform/secret.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONTENT_TYPE "application/vnd.canopy.batch"
/* Bound of an S3 response body kept (errors, upload ids, part lists). */
#define RESP_BODY_CAP (64u * 1024u)
#define ETAG_MAX 128
#define UPLOAD_ID_MAX 1024
#define OBJKEY_MAX 1024
#define HOST_MAX 300
/* ListParts page size: keeps one page well inside RESP_BODY_CAP. */
#define LIST_PAGE 100
/* Multipart uploads of one batch started over (server lost or refused
 * the parts) before the batch counts as refused by the server. */
#define MAX_RESTARTS 3
#define CREDENTIALS_MAX (64u * 1024u)
/* Orphaned journals handled per scan (the rest at the next one). */
#define ORPHANS_PER_SCAN 16
#define JOURNAL_SUFFIX_MAX 24

struct credentials {
	char key_id[CNP_S3_KEY_ID_MAX];
	char secret[CNP_S3_SECRET_MAX];
	char token[CNP_S3_TOKEN_MAX];
};

struct multipart {
	int active;
	char objkey[OBJKEY_MAX];
	char batch[128];          /* the batch's file name (journal name) */
	char upload_id[UPLOAD_ID_MAX];
	uint8_t sha[CNP_SHA256_LEN];
	size_t len;
	size_t part_bytes;
	unsigned n_parts;
	char (*etags)[ETAG_MAX];  /* n_parts entries; "" : not uploaded yet */
	int verified;             /* parts confirmed by the server this run */
	unsigned restarts;
};

struct s3_endpoint {
	struct cnp_endpoint base;
	struct cnp_http *http;
	char origin[CNP_URL_MAX];  /* "https://HOST[:PORT]" requests go to */
	char host[HOST_MAX];       /* the Host header, signed */
	char bucket[64];
	char prefix[CNP_URL_MAX];  /* "" or "a/b" (no slash at either end) */
	int virtual_hosted;
	char region[CNP_S3_REGION_MAX];
	struct credentials cred;
	char credentials_file[CNP_PATH_MAX];
	char profile[CNP_S3_PROFILE_MAX];
	int reload_credentials;    /* re-read the file before the next request */
	uint64_t threshold;
	uint64_t part_bytes;
	char journal_dir[CNP_PATH_MAX];
	char journal_suffix[JOURNAL_SUFFIX_MAX]; /* ".s3-TAG.json" */
	int orphans_checked;
	int64_t clock_offset_s;    /* server time minus device time */
	struct multipart mp;
	char last_code[64];        /* S3 error Code of the last request, or "" */
	char *body;                /* RESP_BODY_CAP bytes: response bodies */
};

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

/* ---- credentials ---------------------------------------------------------- */

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/*
 * An AWS credentials file: "[profile]" sections ("[profile NAME]" also
 * accepted) of "key = value" lines; '#' and ';' start comments. Reads
 * aws_access_key_id, aws_secret_access_key and aws_session_token of the
 * profile. Never puts a value into `why`.
 */
static int load_credentials(const char *path, const char *profile, struct credentials *out,
                            char *why, size_t why_len)
{
	char *text = NULL;
	size_t len = 0;
	char swhy[160] = "";
	int rc = cnp_secret_read(path, CREDENTIALS_MAX, &text, &len, swhy, sizeof(swhy));
	if (rc != CNP_OK) {
		snprintf(why, why_len, "credentials_file %s: %s", path,
		         rc == CNP_ERR_NOMEM ? "out of memory" : swhy);
		return rc == CNP_ERR_NOMEM ? rc : CNP_ERR_CONFIG;
	}
	const char *want = profile[0] ? profile : "default";
	struct credentials c;
	memset(&c, 0, sizeof(c));
	int in_section = 0, found = 0, too_long = 0;
	unsigned line_no = 0;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		line_no++;
		char *l = trim(line);
		if (*l == '[') {
			char *end = strchr(l, ']');
			if (end) {
				*end = 0;
				char *name = trim(l + 1);
				if (strncmp(name, "profile ", 8) == 0)
					name = trim(name + 8);
				in_section = strcmp(name, want) == 0;
				found |= in_section;
			}
		} else if (in_section && *l && *l != '#' && *l != ';') {
			char *eq = strchr(l, '=');
			if (eq) {
				*eq = 0;
				char *k = trim(l), *v = trim(eq + 1);
				char *dst = NULL;
				size_t cap = 0;
				if (strcasecmp(k, "aws_access_key_id") == 0) {
					dst = c.key_id;
					cap = sizeof(c.key_id);
				} else if (strcasecmp(k, "aws_secret_access_key") == 0) {
					dst = c.secret;
					cap = sizeof(c.secret);
				} else if (strcasecmp(k, "aws_session_token") == 0) {
					dst = c.token;
					cap = sizeof(c.token);
				}
				if (dst && strlen(v) < cap)
					memcpy(dst, v, strlen(v) + 1);
				else if (dst)
					too_long = (int)line_no;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	cnp_secret_free(text, len);
	rc = CNP_ERR_CONFIG;
	if (!found)
		snprintf(why, why_len, "credentials_file %s: no [%s] profile", path, want);
	else if (too_long)
		snprintf(why, why_len, "credentials_file %s: line %d: value too long", path, too_long);
	else if (!c.key_id[0] || !c.secret[0])
		snprintf(why, why_len,
		         "credentials_file %s: profile [%s] lacks aws_access_key_id or "
		         "aws_secret_access_key", path, want);
	else {
		*out = c;
		rc = CNP_OK;
	}
	wipe(&c, sizeof(c));
	return rc;
}

/* ---- small XML readers (S3 answers are flat and machine-made) ----------- */

/* Copies the text of the next <tag>...</tag> at or after *from into out,
 * with the five XML entities and numeric ASCII ones decoded; moves *from
 * past it. 0 when there is none. */
static int xml_text(const char **from, const char *tag, char *out, size_t cap)
{
	char open[48], close[48];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(*from, open);
	if (!a)
		return 0;
	a += strlen(open);
	const char *b = strstr(a, close);
	if (!b)
		return 0;
	*from = b + strlen(close);
	size_t n = 0;
	for (const char *p = a; p < b && n + 1 < cap; p++) {
		char ch = *p;
		if (ch == '&') {
			static const struct {
				const char *ent;
				char ch;
			} ents[] = {{"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'},
			            {"&gt;", '>'}, {"&apos;", '\''}, {"&#34;", '"'}, {"&#39;", '\''}};
			for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
				size_t el = strlen(ents[i].ent);
				if ((size_t)(b - p) >= el && strncmp(p, ents[i].ent, el) == 0) {
					ch = ents[i].ch;
					p += el - 1;
					break;
				}
			}
		}
		out[n++] = ch;
	}
	if (cap > 0)
		out[n] = 0;
	return 1;
}

static size_t xml_escape(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (; *in; in++) {
		const char *rep = *in == '&' ? "&amp;" : *in == '<' ? "&lt;" : *in == '>' ? "&gt;" : NULL;
		char one[2] = {*in, 0};
		const char *w = rep ? rep : one;
		size_t wl = strlen(w);
		if (n + wl < cap)
			memcpy(out + n, w, wl);
		n += wl;
	}
	if (n < cap)
		out[n] = 0;
	else if (cap > 0)
		out[0] = 0;
	return n;
}

/* ---- HTTP dates (for clock-skew correction) ------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153u * (m > 2 ? m - 3 : m + 9) + 2u) / 5u + d - 1u;
	unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" -> Unix seconds; -1 if not that form. */
static int64_t parse_http_date(const char *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int d, y, hh, mm, ss;
	char mon[4];
	if (sscanf(s, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &d, mon, &y, &hh, &mm, &ss) != 6)
		return -1;
	const char *m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3 != 0 || d < 1 || d > 31 || y < 1970 ||
	    hh > 23 || mm > 59 || ss > 60)
		return -1;
	unsigned month = (unsigned)((m - months) / 3 + 1);
	return days_from_civil(y, month, (unsigned)d) * 86400 + hh * 3600 + mm * 60 + ss;
}

/* ---- classification ------------------------------------------------------- */

static int code_in(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(code, *list) == 0)
			return 1;
	return 0;
}

/* S3 error codes that say more than their status. */
static enum cnp_put_class classify(long status, const char *code)
{
	static const char *const transient[] = {
		"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable",
		"OperationAborted", "IncompleteBody", "XAmzContentSHA256Mismatch", "BadDigest",
		"RequestTimeTooSkewed", NULL};
	/* Credentials and configuration: every batch would fail alike, so
	 * none must be quarantined for it. */
	static const char *const auth[] = {
		"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "TokenRefreshRequired", "AuthorizationHeaderMalformed",
		"NoSuchBucket", "PermanentRedirect", "TemporaryRedirect", "InvalidBucketName",
		"AllAccessDisabled", "AccountProblem", "InvalidSecurity", "NotSignedUp",
		"MissingSecurityHeader", "EntityTooSmall", "InvalidRegion",
		"IllegalLocationConstraintException", NULL};
	if (code[0] && code_in(code, transient))
		return CNP_PUT_TRANSIENT;
	if (code[0] && code_in(code, auth))
		return CNP_PUT_AUTH;
	if (status == 301 || status == 307)
		return CNP_PUT_AUTH; /* wrong region or endpoint */
	return CNP_PUT_BY_STATUS;
}

/* ---- one signed request ---------------------------------------------------- */

struct call {
	const char *what;      /* "upload part 2/5 of", for the log */
	const char *method;
	const char *objkey;    /* "" : the bucket itself */
	const struct cnp_sigv4_param *params;
	size_t n_params;
	const void *body;
	size_t len;
	const char *content_type;
	char *etag;            /* optional: the ETag response header */
	/* out */
	long status;
	char code[64];         /* S3 error Code, "" when none */
};

static int refresh_credentials(struct s3_endpoint *s)
{
	if (!s->credentials_file[0] || !s->reload_credentials)
		return CNP_OK;
	char why[256];
	struct credentials c;
	int rc = load_credentials(s->credentials_file, s->profile, &c, why, sizeof(why));
	if (rc == CNP_OK) {
		if (memcmp(&c, &s->cred, sizeof(c)) != 0)
			cnp_info("%s: credentials re-read from %s", s->base.url, s->credentials_file);
		s->cred = c;
		s->reload_credentials = 0;
	} else if (rc != CNP_ERR_NOMEM) {
		cnp_warn("%s: %s; keeping the credentials read before", s->base.url, why);
	}
	wipe(&c, sizeof(c));
	return rc == CNP_ERR_NOMEM ? rc : CNP_OK;
}

static void set_skew(struct s3_endpoint *s, const char *date_header)
{
	int64_t server = parse_http_date(date_header);
	if (server < 0)
		return;
	int64_t local = (int64_t)(cnp_clock_wall_us() / 1000000u);
	int64_t off = server - local;
	if (off == s->clock_offset_s)
		return;
	cnp_warn("%s: the device clock is %" PRId64 " s %s the S3 server's; signing with "
	         "the server's time from now on (fix the clock: NTP, RTC)",
	         s->base.url, off > 0 ? off : -off, off > 0 ? "behind" : "ahead of");
	s->clock_offset_s = off;
}

static int build_path(const struct s3_endpoint *s, const char *objkey, char *out, size_t cap)
{
	int n = s->virtual_hosted ? snprintf(out, cap, "/%s", objkey)
	                          : (objkey[0] ? snprintf(out, cap, "/%s/%s", s->bucket, objkey)
	                                       : snprintf(out, cap, "/%s", s->bucket));
	return n > 0 && (size_t)n < cap ? CNP_OK : CNP_ERR_TOOBIG;
}

/*
 * Signs and sends one request; fills res (status, Retry-After, detail, class)
 * on failure. The response body is in s->body.
 */
static int s3_call(struct s3_endpoint *s, struct call *c, struct cnp_put_result *res)
{
	c->status = 0;
	c->code[0] = 0;
	s->last_code[0] = 0;
	res->status = 0;
	res->retry_after_s = -1;
	res->detail[0] = 0;
	res->cls = CNP_PUT_BY_STATUS;
	int rc = refresh_credentials(s);
	if (rc != CNP_OK)
		return rc;

	char path[OBJKEY_MAX + 80], epath[3 * (OBJKEY_MAX + 80)], query[2048];
	char url[CNP_URL_MAX + sizeof(epath) + sizeof(query)];
	rc = build_path(s, c->objkey, path, sizeof(path));
	if (rc == CNP_OK)
		rc = cnp_sigv4_uri_encode(path, strlen(path), 1, epath, sizeof(epath), NULL);
	if (rc == CNP_OK)
		rc = cnp_sigv4_canonical_query(c->params, c->n_params, query, sizeof(query), NULL);
	if (rc != CNP_OK) {
		snprintf(res->detail, sizeof(res->detail), "%s: object key or query too long for %s",
		         s->base.url, c->what);
		res->cls = CNP_PUT_REJECTED;
		return CNP_ERR_TOOBIG;
	}
	snprintf(url, sizeof(url), "%s%s%s%s", s->origin, epath, query[0] ? "?" : "", query);

	uint8_t h[CNP_SHA256_LEN];
	char payload[2 * CNP_SHA256_LEN + 1];
	cnp_sha256(c->body, c->len, h);
	cnp_hex(h, sizeof(h), payload);
	char date[CNP_SIGV4_DATE_LEN + 1];
	int64_t now = (int64_t)(cnp_clock_wall_us() / 1000000u) + s->clock_offset_s;
	cnp_sigv4_format_date(now > 0 ? (uint64_t)now : 0, date);

	struct cnp_http_header hdr[7];
	size_t n = 0;
	hdr[n++] = (struct cnp_http_header){"Host", s->host};
	hdr[n++] = (struct cnp_http_header){"x-amz-content-sha256", payload};
	hdr[n++] = (struct cnp_http_header){"x-amz-date", date};
	if (s->cred.token[0])
		hdr[n++] = (struct cnp_http_header){"x-amz-security-token", s->cred.token};
	if (c->content_type)
		hdr[n++] = (struct cnp_http_header){"Content-Type", c->content_type};
	struct cnp_sigv4_header sh[6];
	for (size_t i = 0; i < n; i++)
		sh[i] = (struct cnp_sigv4_header){hdr[i].name, hdr[i].value};
	struct cnp_sigv4_request sreq = {
		.method = c->method,
		.path = path,
		.normalize_path = 0,
		.params = c->params,
		.n_params = c->n_params,
		.headers = sh,
		.n_headers = n,
		.payload_sha256 = payload,
	};
	struct cnp_sigv4_identity id = {
		.access_key_id = s->cred.key_id,
		.secret_access_key = s->cred.secret,
		.region = s->region,
		.service = "s3",
	};
	char authz[512];
	rc = cnp_sigv4_sign(&sreq, &id, date, authz, sizeof(authz));
	if (rc != CNP_OK) {
		snprintf(res->detail, sizeof(res->detail),
		         "%s: cannot sign the request (%s): check access_key_id and region",
		         s->base.url, cnp_strerror(rc));
		res->cls = CNP_PUT_AUTH;
		return CNP_ERR_CONFIG;
	}
	hdr[n++] = (struct cnp_http_header){"Authorization", authz};

	char date_hdr[64] = "", request_id[128] = "";
	struct cnp_http_capture caps[3] = {
		{"Date", date_hdr, sizeof(date_hdr)},
		{"x-amz-request-id", request_id, sizeof(request_id)},
		{"ETag", c->etag, c->etag ? ETAG_MAX : 0},
	};
	struct cnp_http_request hreq = {
		.method = c->method,
		.url = url,
		.headers = hdr,
		.n_headers = n,
		.body = c->body,
		.len = c->len,
		.resp_body = s->body,
		.resp_body_cap = RESP_BODY_CAP,
		.captures = caps,
		.n_captures = c->etag ? 3 : 2,
	};
	struct cnp_http_response r;
	rc = cnp_http_send(s->http, &hreq, &r);
	wipe(authz, sizeof(authz));
	c->status = r.status;
	res->status = r.status;
	res->retry_after_s = r.retry_after_s;

	/* CompleteMultipartUpload may answer 200 and an <Error> body. */
	int error_body = rc == CNP_OK && strstr(s->body, "<Error>") != NULL;
	if (rc == CNP_OK && !error_body)
		return CNP_OK;
	if (rc != CNP_OK && rc != CNP_ERR_HTTP) {
		snprintf(res->detail, sizeof(res->detail), "%s %s: %s", c->what, c->objkey, r.detail);
		return rc;
	}
	char message[300] = "";
	const char *from = s->body;
	xml_text(&from, "Code", c->code, sizeof(c->code));
	memcpy(s->last_code, c->code, sizeof(s->last_code));
	from = s->body;
	xml_text(&from, "Message", message, sizeof(message));
	snprintf(res->detail, sizeof(res->detail), "%s %.400s: S3 answered HTTP %ld%s%s%s%.200s%s%s%s",
	         c->what, url, r.status, c->code[0] ? " " : "", c->code, message[0] ? ": " : "",
	         message, request_id[0] ? " (request id " : "", request_id,
	         request_id[0] ? ")" : "");
	res->cls = classify(r.status, c->code);
	if (res->cls == CNP_PUT_AUTH)
		s->reload_credentials = 1;
	if (strcmp(c->code, "RequestTimeTooSkewed") == 0)
		set_skew(s, date_hdr);
	return CNP_ERR_HTTP;
}

/* ---- multipart journal --------------------------------------------------- */

static void mp_clear(struct multipart *mp)
{
	cnp_free(mp->etags);
	memset(mp, 0, sizeof(*mp));
}

static int journal_path(const struct s3_endpoint *s, const char *batch, char *out, size_t cap)
{
	if (!s->journal_dir[0] || !batch[0])
		return CNP_ERR_NOTFOUND;
	int n = snprintf(out, cap, "%s/%s%s", s->journal_dir, batch, s->journal_suffix);
	return n > 0 && (size_t)n < cap ? CNP_OK : CNP_ERR_TOOBIG;
}

static void journal_remove(const struct s3_endpoint *s, const char *batch)
{
	char path[CNP_PATH_MAX + 160];
	if (journal_path(s, batch, path, sizeof(path)) == CNP_OK)
		cnp_fs_remove(path);
}

/* {"v":1,"key":K,"upload_id":U,"size":N,"sha256":H,"part_bytes":P,
 *  "parts":[[1,"etag"],...]}: written atomically after every change. A
 * failed write only costs a restart after a crash, so it is logged, not
 * fatal. */
static void journal_write(const struct s3_endpoint *s)
{
	const struct multipart *mp = &s->mp;
	char name[160];
	if (!s->journal_dir[0] ||
	    snprintf(name, sizeof(name), "%s%s", mp->batch, s->journal_suffix) >= (int)sizeof(name))
		return;
	char hex[2 * CNP_SHA256_LEN + 1];
	cnp_hex(mp->sha, sizeof(mp->sha), hex);
	cJSON *j = cJSON_CreateObject();
	cJSON *parts = cJSON_CreateArray();
	int ok = j && parts && cnp_json_add_uint(j, "v", 1) == CNP_OK &&
	         cJSON_AddStringToObject(j, "key", mp->objkey) &&
	         cJSON_AddStringToObject(j, "upload_id", mp->upload_id) &&
	         cnp_json_add_uint(j, "size", mp->len) == CNP_OK &&
	         cJSON_AddStringToObject(j, "sha256", hex) &&
	         cnp_json_add_uint(j, "part_bytes", mp->part_bytes) == CNP_OK;
	for (unsigned i = 0; ok && i < mp->n_parts; i++) {
		if (!mp->etags[i][0])
			continue;
		cJSON *pair = cJSON_CreateArray();
		cJSON *num = cJSON_CreateNumber(i + 1);
		cJSON *tag = cJSON_CreateString(mp->etags[i]);
		ok = pair && num && tag;
		if (ok) {
			cJSON_AddItemToArray(pair, num);
			cJSON_AddItemToArray(pair, tag);
			cJSON_AddItemToArray(parts, pair);
		} else {
			cJSON_Delete(pair);
			cJSON_Delete(num);
			cJSON_Delete(tag);
		}
	}
	char *text = NULL;
	if (ok) {
		cJSON_AddItemToObject(j, "parts", parts);
		parts = NULL;
		text = cJSON_PrintUnformatted(j);
	}
	if (text) {
		if (cnp_fs_write_atomic(s->journal_dir, name, text, strlen(text)) != CNP_OK)
			cnp_warn("%s: cannot write the multipart journal %s/%s: %s; an interrupted "
			         "upload of %s will start over", s->base.url, s->journal_dir, name,
			         cnp_fs_last_error(), mp->batch);
	} else {
		cnp_warn("%s: out of memory writing the multipart journal of %s", s->base.url,
		         mp->batch);
	}
	cJSON_free(text);
	cJSON_Delete(parts);
	cJSON_Delete(j);
}

/* Reads a journal into mp (not active, not verified). */
static int journal_read(const struct s3_endpoint *s, const char *batch, struct multipart *mp)
{
	char path[CNP_PATH_MAX + 160];
	int rc = journal_path(s, batch, path, sizeof(path));
	if (rc != CNP_OK)
		return rc;
	uint8_t *text = NULL;
	size_t len = 0;
	rc = cnp_fs_read_file(path, 2u * 1024u * 1024u, &text, &len);
	if (rc != CNP_OK)
		return rc;
	cJSON *j = cJSON_ParseWithLength((const char *)text, len);
	cnp_free(text);
	rc = CNP_ERR_CORRUPT;
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(j, "key");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(j, "upload_id");
	const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "sha256");
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(j, "parts");
	uint64_t v = 0, size = 0, pb = 0;
	if (!cJSON_IsString(key) || !cJSON_IsString(uid) || !cJSON_IsString(sha) ||
	    !cJSON_IsArray(parts) ||
	    cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "v"), 1, &v) != CNP_OK || v != 1 ||
	    cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "size"), SIZE_MAX, &size) != CNP_OK ||
	    cnp_json_uint(cJSON_GetObjectItemCaseSensitive(j, "part_bytes"), SIZE_MAX, &pb) !=
	            CNP_OK ||
	    pb == 0 || strlen(key->valuestring) >= sizeof(mp->objkey) ||
	    strlen(uid->valuestring) >= sizeof(mp->upload_id) || strlen(sha->valuestring) != 64)
		goto out;
	memset(mp, 0, sizeof(*mp));
	snprintf(mp->objkey, sizeof(mp->objkey), "%s", key->valuestring);
	snprintf(mp->upload_id, sizeof(mp->upload_id), "%s", uid->valuestring);
	snprintf(mp->batch, sizeof(mp->batch), "%s", batch);
	for (unsigned i = 0; i < CNP_SHA256_LEN; i++) {
		unsigned byte;
		if (sscanf(sha->valuestring + 2 * i, "%2x", &byte) != 1)
			goto out;
		mp->sha[i] = (uint8_t)byte;
	}
	mp->len = (size_t)size;
	mp->part_bytes = (size_t)pb;
	uint64_t n_parts = (size + pb - 1) / pb;
	if (n_parts == 0 || n_parts > CNP_S3_MAX_PARTS)
		goto out;
	mp->n_parts = (unsigned)n_parts;
	mp->etags = cnp_calloc(mp->n_parts, ETAG_MAX);
	if (!mp->etags) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	const cJSON *pair;
	cJSON_ArrayForEach(pair, parts)
	{
		uint64_t num = 0;
		const cJSON *tag = cJSON_GetArrayItem(pair, 1);
		if (cnp_json_uint(cJSON_GetArrayItem(pair, 0), mp->n_parts, &num) != CNP_OK ||
		    num == 0 || !cJSON_IsString(tag) || strlen(tag->valuestring) >= ETAG_MAX)
			continue;
		snprintf(mp->etags[num - 1], ETAG_MAX, "%s", tag->valuestring);
	}
	rc = CNP_OK;
out:
	if (rc != CNP_OK && rc != CNP_ERR_NOMEM)
		mp_clear(mp);
	cJSON_Delete(j);
	return rc;
}

/* ---- multipart steps ---------------------------------------------------------- */

static int mp_abort(struct s3_endpoint *s, const char *objkey, const char *upload_id)
{
	struct cnp_sigv4_param p[] = {{"uploadId", upload_id}};
	struct call c = {.what = "abort multipart upload of", .method = "DELETE",
	                 .objkey = objkey, .params = p, .n_params = 1};
	struct cnp_put_result res = {.status = 0, .retry_after_s = -1, .detail = ""};
	int rc = s3_call(s, &c, &res);
	if (rc == CNP_OK || c.status == 404) /* gone already */
		return CNP_OK;
	cnp_warn("%s", res.detail);
	return rc;
}

/* Forgets the multipart state of the current batch, aborting the upload on
 * the server (best effort: S3 lifecycle rules clean up what this misses). */
static void mp_drop(struct s3_endpoint *s, int abort_upload)
{
	if (!s->mp.active)
		return;
	if (abort_upload && s->mp.upload_id[0])
		mp_abort(s, s->mp.objkey, s->mp.upload_id);
	journal_remove(s, s->mp.batch);
	unsigned restarts = s->mp.restarts;
	char objkey[OBJKEY_MAX];
	memcpy(objkey, s->mp.objkey, sizeof(objkey));
	mp_clear(&s->mp);
	/* Remember how often this object started over. */
	memcpy(s->mp.objkey, objkey, sizeof(objkey));
	s->mp.restarts = restarts;
}

/* Confirms the journaled parts with ListParts: a part counts as done only
 * if the server lists it with the ETag the journal holds. */
static int mp_verify(struct s3_endpoint *s, struct cnp_put_result *res)
{
	struct multipart *mp = &s->mp;
	char (*listed)[ETAG_MAX] = cnp_calloc(mp->n_parts, ETAG_MAX);
	if (!listed)
		return CNP_ERR_NOMEM;
	char marker[16] = "0", page[8];
	snprintf(page, sizeof(page), "%d", LIST_PAGE);
	int rc = CNP_OK;
	for (unsigned pages = 0; pages <= mp->n_parts / LIST_PAGE + 1; pages++) {
		struct cnp_sigv4_param p[] = {{"uploadId", mp->upload_id},
		                              {"max-parts", page},
		                              {"part-number-marker", marker}};
		struct call c = {.what = "list parts of", .method = "GET", .objkey = mp->objkey,
		                 .params = p, .n_params = 3};
		rc = s3_call(s, &c, res);
		if (rc != CNP_OK)
			break;
		const char *from = s->body;
		char block[2 * ETAG_MAX + 256];
		while (xml_text(&from, "Part", block, sizeof(block))) {
			const char *b = block;
			char num[16] = "", etag[ETAG_MAX] = "";
			xml_text(&b, "PartNumber", num, sizeof(num));
			b = block;
			xml_text(&b, "ETag", etag, sizeof(etag));
			unsigned long n = strtoul(num, NULL, 10);
			if (n >= 1 && n <= mp->n_parts)
				memcpy(listed[n - 1], etag, sizeof(etag));
		}
		char truncated[8] = "", next[16] = "";
		from = s->body;
		xml_text(&from, "IsTruncated", truncated, sizeof(truncated));
		from = s->body;
		xml_text(&from, "NextPartNumberMarker", next, sizeof(next));
		if (strcmp(truncated, "true") != 0 || !next[0] || strcmp(next, marker) == 0)
			break;
		snprintf(marker, sizeof(marker), "%s", next);
	}
	if (rc == CNP_OK) {
		unsigned kept = 0;
		for (unsigned i = 0; i < mp->n_parts; i++) {
			if (mp->etags[i][0] && strcmp(mp->etags[i], listed[i]) != 0)
				mp->etags[i][0] = 0;
			kept += mp->etags[i][0] != 0;
		}
		mp->verified = 1;
		cnp_info("%s: resuming the multipart upload of %s: %u of %u parts already stored",
		         s->base.url, mp->objkey, kept, mp->n_parts);
	}
	cnp_free(listed);
	return rc;
}

static int mp_create(struct s3_endpoint *s, struct cnp_put_result *res)
{
	struct multipart *mp = &s->mp;
	struct cnp_sigv4_param p[] = {{"uploads", NULL}};
	struct call c = {.what = "create multipart upload of", .method = "POST",
	                 .objkey = mp->objkey, .params = p, .n_params = 1,
	                 .content_type = CONTENT_TYPE};
	int rc = s3_call(s, &c, res);
	if (rc != CNP_OK)
		return rc;
	const char *from = s->body;
	if (!xml_text(&from, "UploadId", mp->upload_id, sizeof(mp->upload_id)) ||
	    !mp->upload_id[0] || strlen(mp->upload_id) + 1 >= sizeof(mp->upload_id)) {
		snprintf(res->detail, sizeof(res->detail),
		         "create multipart upload of %.500s: %.300s answered without a usable "
		         "UploadId", mp->objkey, s->base.url);
		res->cls = CNP_PUT_TRANSIENT;
		mp->upload_id[0] = 0;
		return CNP_ERR_HTTP;
	}
	mp->verified = 1; /* nothing to verify: no part exists yet */
	journal_write(s);
	return CNP_OK;
}

static int mp_upload_part(struct s3_endpoint *s, const uint8_t *data, unsigned i,
                          struct cnp_put_result *res)
{
	struct multipart *mp = &s->mp;
	size_t off = (size_t)i * mp->part_bytes;
	size_t n = mp->len - off < mp->part_bytes ? mp->len - off : mp->part_bytes;
	char num[16], what[64];
	snprintf(num, sizeof(num), "%u", i + 1);
	snprintf(what, sizeof(what), "upload part %u/%u of", i + 1, mp->n_parts);
	struct cnp_sigv4_param p[] = {{"partNumber", num}, {"uploadId", mp->upload_id}};
	char etag[ETAG_MAX] = "";
	struct call c = {.what = what, .method = "PUT", .objkey = mp->objkey, .params = p,
	                 .n_params = 2, .body = data + off, .len = n, .etag = etag};
	int rc = s3_call(s, &c, res);
	if (rc != CNP_OK)
		return rc;
	if (!etag[0]) {
		snprintf(res->detail, sizeof(res->detail), "%s %.500s: %.300s answered without an ETag",
		         what, mp->objkey, s->base.url);
		res->cls = CNP_PUT_TRANSIENT;
		return CNP_ERR_HTTP;
	}
	memcpy(mp->etags[i], etag, sizeof(etag));
	journal_write(s);
	return CNP_OK;
}

static int mp_complete(struct s3_endpoint *s, struct cnp_put_result *res, const char **code)
{
	struct multipart *mp = &s->mp;
	static const char head[] = "<CompleteMultipartUpload>";
	static const char tail[] = "</CompleteMultipartUpload>";
	/* Each part: the fixed tags, a number, an escaped ETag (x5 at most). */
	size_t cap = sizeof(head) + sizeof(tail) + (size_t)mp->n_parts * (64 + 5 * ETAG_MAX);
	char *xml = cnp_malloc(cap);
	if (!xml)
		return CNP_ERR_NOMEM;
	size_t n = (size_t)snprintf(xml, cap, "%s", head);
	for (unsigned i = 0; i < mp->n_parts; i++) {
		char esc[5 * ETAG_MAX];
		xml_escape(mp->etags[i], esc, sizeof(esc));
		n += (size_t)snprintf(xml + n, cap - n, "<Part><PartNumber>%u</PartNumber>"
		                      "<ETag>%s</ETag></Part>", i + 1, esc);
	}
	n += (size_t)snprintf(xml + n, cap - n, "%s", tail);
	struct cnp_sigv4_param p[] = {{"uploadId", mp->upload_id}};
	struct call c = {.what = "complete multipart upload of", .method = "POST",
	                 .objkey = mp->objkey, .params = p, .n_params = 1, .body = xml,
	                 .len = n, .content_type = "application/xml"};
	int rc = s3_call(s, &c, res);
	cnp_free(xml);
	*code = NULL;
	if (rc == CNP_ERR_HTTP) {
		if (strcmp(c.code, "NoSuchUpload") == 0)
			*code = "NoSuchUpload";
		else if (strcmp(c.code, "InvalidPart") == 0 || strcmp(c.code, "InvalidPartOrder") == 0)
			*code = "InvalidPart";
	}
	return rc;
}

/* The object key: PREFIX/KEY, or KEY without a prefix. */
static int object_key(const struct s3_endpoint *s, const char *key, char *out, size_t cap)
{
	int n = s->prefix[0] ? snprintf(out, cap, "%s/%s", s->prefix, key)
	                     : snprintf(out, cap, "%s", key);
	return n > 0 && (size_t)n < cap ? CNP_OK : CNP_ERR_TOOBIG;
}

/* Starts the state for a new multipart upload of data (no request yet). */
static int mp_start(struct s3_endpoint *s, const char *objkey, const char *batch,
                    const uint8_t sha[CNP_SHA256_LEN], size_t len, unsigned restarts)
{
	struct multipart *mp = &s->mp;
	mp_clear(mp);
	size_t pb = (size_t)s->part_bytes;
	/* Never more than S3's 10000 parts: larger parts when needed. */
	if ((len + pb - 1) / pb > CNP_S3_MAX_PARTS)
		pb = (len + CNP_S3_MAX_PARTS - 1) / CNP_S3_MAX_PARTS;
	mp->n_parts = (unsigned)((len + pb - 1) / pb);
	mp->etags = cnp_calloc(mp->n_parts, ETAG_MAX);
	if (!mp->etags)
		return CNP_ERR_NOMEM;
	mp->active = 1;
	snprintf(mp->objkey, sizeof(mp->objkey), "%s", objkey);
	snprintf(mp->batch, sizeof(mp->batch), "%s", batch);
	memcpy(mp->sha, sha, CNP_SHA256_LEN);
	mp->len = len;
	mp->part_bytes = pb;
	mp->restarts = restarts;
	return CNP_OK;
}

/* ---- orphaned journals ------------------------------------------------------ */

struct orphan_scan {
	const struct s3_endpoint *s;
	char names[ORPHANS_PER_SCAN][160];
	unsigned n;
};

static int orphan_cb(const char *name, void *arg)
{
	struct orphan_scan *o = arg;
	size_t n = strlen(name), sl = strlen(o->s->journal_suffix);
	if (n <= sl || n >= sizeof(o->names[0]) || strcmp(name + n - sl, o->s->journal_suffix) != 0)
		return 0;
	char batch[160], path[CNP_PATH_MAX + 200];
	memcpy(batch, name, n - sl);
	batch[n - sl] = 0;
	uint64_t size;
	snprintf(path, sizeof(path), "%s/%s", o->s->journal_dir, batch);
	if (cnp_fs_file_size(path, &size) == CNP_OK)
		return 0; /* its batch is still waiting: a resume, not an orphan */
	if (o->n < ORPHANS_PER_SCAN)
		memcpy(o->names[o->n++], batch, n - sl + 1);
	return 0;
}

/* Journals whose batch left the spool without this endpoint finishing the
 * upload (delivered elsewhere, quarantined, evicted): abort the upload on
 * the server, then forget the journal. */
static void clean_orphans(struct s3_endpoint *s)
{
	if (!s->journal_dir[0])
		return;
	struct orphan_scan *o = cnp_calloc(1, sizeof(*o));
	if (!o)
		return;
	o->s = s;
	cnp_fs_list(s->journal_dir, orphan_cb, o);
	for (unsigned i = 0; i < o->n; i++) {
		if (s->mp.active && strcmp(s->mp.batch, o->names[i]) == 0)
			continue;
		struct multipart j;
		memset(&j, 0, sizeof(j));
		int rc = journal_read(s, o->names[i], &j);
		if (rc == CNP_OK)
			rc = mp_abort(s, j.objkey, j.upload_id);
		else if (rc != CNP_ERR_NOMEM)
			rc = CNP_OK; /* unreadable: nothing to abort */
		if (rc == CNP_OK) {
			cnp_info("%s: aborted the multipart upload of %s, whose batch is no longer "
			         "in the spool", s->base.url, j.objkey[0] ? j.objkey : o->names[i]);
			journal_remove(s, o->names[i]);
		}
		mp_clear(&j);
	}
	cnp_free(o);
}

/* ---- put ------------------------------------------------------------------------------ */

static int put_object(struct s3_endpoint *s, const char *objkey, const uint8_t *data,
                      size_t len, struct cnp_put_result *res)
{
	struct call c = {.what = "put object", .method = "PUT", .objkey = objkey, .body = data,
	                 .len = len, .content_type = CONTENT_TYPE};
	return s3_call(s, &c, res);
}

/* A failure that quarantines the batch (the uploader's rule, see
 * uploader.h): the multipart upload is then aborted, not left behind. */
static int refused(int rc, const struct cnp_put_result *res)
{
	if (rc != CNP_ERR_HTTP)
		return 0;
	if (res->cls != CNP_PUT_BY_STATUS)
		return res->cls == CNP_PUT_REJECTED;
	long st = res->status;
	return st >= 400 && st < 500 && st != 401 && st != 403 && st != 408 && st != 429;
}

/* One more new start of this batch's multipart upload; refused after
 * MAX_RESTARTS, so that a server that keeps losing parts cannot make the
 * agent upload the same batch forever. */
static void count_restart(struct s3_endpoint *s, struct cnp_put_result *res)
{
	if (++s->mp.restarts > MAX_RESTARTS) {
		res->cls = CNP_PUT_REJECTED;
		size_t used = strlen(res->detail);
		snprintf(res->detail + used, sizeof(res->detail) - used,
		         "; gave up after %u new starts", MAX_RESTARTS);
	} else {
		res->cls = CNP_PUT_TRANSIENT;
	}
}

static int put_multipart(struct s3_endpoint *s, const char *objkey, const char *batch,
                         const uint8_t *data, size_t len, struct cnp_put_result *res)
{
	struct multipart *mp = &s->mp;
	uint8_t sha[CNP_SHA256_LEN];
	cnp_sha256(data, len, sha);
	int same = mp->active && strcmp(mp->objkey, objkey) == 0 && mp->len == len &&
	           memcmp(mp->sha, sha, sizeof(sha)) == 0;
	if (!same) {
		unsigned restarts = strcmp(mp->objkey, objkey) == 0 ? mp->restarts : 0;
		if (mp->active || (mp->objkey[0] && strcmp(mp->objkey, objkey) != 0)) {
			/* Another batch's upload: its journal stays for a resume
			 * if that batch comes back; an orphan is aborted below. */
			mp_clear(mp);
			s->orphans_checked = 0;
		}
		struct multipart j;
		memset(&j, 0, sizeof(j));
		int rc = journal_read(s, batch, &j);
		if (rc == CNP_ERR_NOMEM)
			return rc;
		if (rc == CNP_OK && strcmp(j.objkey, objkey) == 0 && j.len == len &&
		    memcmp(j.sha, sha, sizeof(sha)) == 0) {
			*mp = j; /* takes j.etags */
			mp->active = 1;
			mp->restarts = restarts;
		} else {
			if (rc == CNP_OK) {
				/* A journal of other bytes under this name: abort it. */
				mp_abort(s, j.objkey, j.upload_id);
				journal_remove(s, batch);
			}
			mp_clear(&j);
			rc = mp_start(s, objkey, batch, sha, len, restarts);
			if (rc != CNP_OK)
				return rc;
		}
	}
	if (!s->orphans_checked) {
		clean_orphans(s);
		s->orphans_checked = 1;
	}
	int rc = CNP_OK;
	if (mp->upload_id[0] && !mp->verified) {
		rc = mp_verify(s, res);
		if (rc == CNP_ERR_HTTP && strcmp(s->last_code, "NoSuchUpload") == 0) {
			/* The server no longer knows the upload: start over. */
			cnp_info("%s: the multipart upload of %s is gone from the server; starting "
			         "over", s->base.url, objkey);
			unsigned restarts = mp->restarts;
			journal_remove(s, batch);
			rc = mp_start(s, objkey, batch, sha, len, restarts);
		}
		if (rc != CNP_OK)
			return rc;
	}
	if (!mp->upload_id[0]) {
		rc = mp_create(s, res);
		if (rc != CNP_OK)
			return rc;
	}
	for (unsigned i = 0; i < mp->n_parts; i++) {
		if (mp->etags[i][0])
			continue;
		rc = mp_upload_part(s, data, i, res);
		if (rc == CNP_OK)
			continue;
		if (rc == CNP_ERR_HTTP && strcmp(s->last_code, "NoSuchUpload") == 0) {
			/* Aborted behind our back, or expired: start over. */
			mp_drop(s, 0);
			count_restart(s, res);
		} else if (refused(rc, res)) {
			/* The batch is refused: leave nothing behind on the server. */
			mp_drop(s, 1);
		}
		return rc;
	}
	const char *code = NULL;
	rc = mp_complete(s, res, &code);
	if (rc == CNP_OK) {
		journal_remove(s, batch);
		mp_clear(mp);
		return CNP_OK;
	}
	if (code) {
		/* The server lost or refused the parts: start over, a few times. */
		mp_drop(s, strcmp(code, "InvalidPart") == 0);
		count_restart(s, res);
	} else if (refused(rc, res)) {
		mp_drop(s, 1);
	}
	return rc;
}

static int s3_put(struct cnp_endpoint *ep, const char *key, const uint8_t *data, size_t len,
                  struct cnp_put_result *res)
{
	struct s3_endpoint *s = (struct s3_endpoint *)ep;
	res->status = 0;
	res->retry_after_s = -1;
	res->detail[0] = 0;
	res->cls = CNP_PUT_BY_STATUS;
	char objkey[OBJKEY_MAX];
	if (object_key(s, key, objkey, sizeof(objkey)) != CNP_OK) {
		snprintf(res->detail, sizeof(res->detail), "%s: object key too long for %s",
		         ep->url, key);
		res->cls = CNP_PUT_REJECTED;
		return CNP_ERR_TOOBIG;
	}
	if (!s->orphans_checked) {
		clean_orphans(s);
		s->orphans_checked = 1;
	}
	if (len <= s->threshold)
		return put_object(s, objkey, data, len, res);
	const char *slash = strrchr(key, '/');
	return put_multipart(s, objkey, slash ? slash + 1 : key, data, len, res);
}

static void s3_destroy(struct cnp_endpoint *ep)
{
	struct s3_endpoint *s = (struct s3_endpoint *)ep;
	cnp_http_destroy(s->http);
	mp_clear(&s->mp);
	cnp_free(s->body);
	wipe(s, sizeof(*s));
	cnp_free(s);
}

static const struct cnp_endpoint_ops s3_ops = {
	.scheme = "s3",
	.put = s3_put,
	.destroy = s3_destroy,
};

/* ---- creation -------------------------------------------------------------------------- */

static int is_ip_literal(const char *host)
{
	if (host[0] == '[')
		return 1;
	for (; *host && *host != ':'; host++)
		if (!((*host >= '0' && *host <= '9') || *host == '.'))
			return 0;
	return 1;
}

/* "https://HOST[:PORT][/]" into origin and the Host header (lower case,
 * default port dropped). */
static int parse_endpoint_url(struct s3_endpoint *s, const char *url, char *why, size_t why_len)
{
	int https = strncasecmp(url, "https://", 8) == 0;
	const char *auth = url + (https ? 8 : 7);
	size_t n = strcspn(auth, "/?#");
	if (n == 0 || n >= HOST_MAX - 70 || (auth[n] && strcmp(auth + n, "/") != 0) ||
	    memchr(auth, '@', n)) {
		snprintf(why, why_len, "endpoint_url \"%s\": expected https://HOST[:PORT] with no "
		         "path or user", url);
		return CNP_ERR_CONFIG;
	}
	char host[HOST_MAX];
	for (size_t i = 0; i < n; i++)
		host[i] = (char)(auth[i] >= 'A' && auth[i] <= 'Z' ? auth[i] - 'A' + 'a' : auth[i]);
	host[n] = 0;
	const char *def = https ? ":443" : ":80";
	size_t dl = strlen(def);
	if (n > dl && strcmp(host + n - dl, def) == 0 && host[n - dl - 1] != ':')
		host[n - dl] = 0;
	if (s->virtual_hosted) {
		if (is_ip_literal(host)) {
			snprintf(why, why_len, "virtual-hosted addressing needs a DNS name in "
			         "endpoint_url, not \"%s\"; set \"addressing\": \"path\"", host);
			return CNP_ERR_CONFIG;
		}
		snprintf(s->host, sizeof(s->host), "%s.%.200s", s->bucket, host);
	} else {
		snprintf(s->host, sizeof(s->host), "%s", host);
	}
	snprintf(s->origin, sizeof(s->origin), "%s://%s", https ? "https" : "http", s->host);
	return CNP_OK;
}

int cnp_endpoint_s3_create(const struct cnp_endpoint_config *cfg, const atomic_int *cancel,
                           struct cnp_endpoint **out, char *why, size_t why_len)
{
	if (strncasecmp(cfg->url, "s3://", 5) != 0) {
		snprintf(why, why_len, "not an s3:// URL");
		return CNP_ERR_CONFIG;
	}
	const char *bucket = cfg->url + 5;
	size_t blen = strcspn(bucket, "/");
	if (blen < 3 || blen > 63) {
		snprintf(why, why_len, "expected s3://BUCKET[/PREFIX] with a bucket name of 3 to 63 "
		         "characters");
		return CNP_ERR_CONFIG;
	}
	if (!cfg->region[0]) {
		snprintf(why, why_len, "an s3:// endpoint needs \"region\"");
		return CNP_ERR_CONFIG;
	}
	struct s3_endpoint *s = cnp_calloc(1, sizeof(*s));
	if (!s)
		return CNP_ERR_NOMEM;
	int rc = CNP_ERR_NOMEM;
	s->base.ops = &s3_ops;
	snprintf(s->base.url, sizeof(s->base.url), "%s", cfg->url);
	memcpy(s->bucket, bucket, blen);
	s->bucket[blen] = 0;
	const char *prefix = bucket + blen;
	while (*prefix == '/')
		prefix++;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	size_t pl = strlen(s->prefix);
	while (pl > 0 && s->prefix[pl - 1] == '/')
		s->prefix[--pl] = 0;
	snprintf(s->region, sizeof(s->region), "%s", cfg->region);
	s->virtual_hosted = cfg->virtual_hosted;
	if (s->virtual_hosted && strchr(s->bucket, '.'))
		cnp_warn("%s: a bucket name with '.' rarely matches the server certificate with "
		         "virtual-hosted addressing; consider \"addressing\": \"path\"", cfg->url);
	s->threshold = cfg->multipart_threshold_bytes ? cfg->multipart_threshold_bytes
	                                              : CNP_S3_DEFAULT_MULTIPART_THRESHOLD;
	s->part_bytes = cfg->part_bytes ? cfg->part_bytes : CNP_S3_DEFAULT_PART_BYTES;

	char def_url[CNP_URL_MAX];
	const char *endpoint_url = cfg->endpoint_url;
	if (!endpoint_url[0]) {
		snprintf(def_url, sizeof(def_url), "https://s3.%s.amazonaws.com%s", cfg->region,
		         strncmp(cfg->region, "cn-", 3) == 0 ? ".cn" : "");
		endpoint_url = def_url;
	}
	int is_http = strncasecmp(endpoint_url, "http://", 7) == 0;
	if (!is_http && strncasecmp(endpoint_url, "https://", 8) != 0) {
		snprintf(why, why_len, "endpoint_url \"%s\": expected https://HOST[:PORT]",
		         endpoint_url);
		rc = CNP_ERR_CONFIG;
		goto fail;
	}
	if (is_http && !cfg->allow_insecure) {
		snprintf(why, why_len, "plain http:// is refused; use https:// or set "
		         "\"allow_insecure\": true");
		rc = CNP_ERR_CONFIG;
		goto fail;
	}
	rc = parse_endpoint_url(s, endpoint_url, why, why_len);
	if (rc != CNP_OK)
		goto fail;

	if (cfg->credentials_file[0]) {
		snprintf(s->credentials_file, sizeof(s->credentials_file), "%s", cfg->credentials_file);
		snprintf(s->profile, sizeof(s->profile), "%s", cfg->profile);
		rc = load_credentials(s->credentials_file, s->profile, &s->cred, why, why_len);
		if (rc != CNP_OK)
			goto fail;
	} else if (cfg->access_key_id[0] && cfg->secret_access_key[0]) {
		snprintf(s->cred.key_id, sizeof(s->cred.key_id), "%s", cfg->access_key_id);
		snprintf(s->cred.secret, sizeof(s->cred.secret), "%s", cfg->secret_access_key);
		snprintf(s->cred.token, sizeof(s->cred.token), "%s", cfg->session_token);
	} else {
		snprintf(why, why_len, "an s3:// endpoint needs access_key_id and secret_access_key, "
		         "or credentials_file");
		rc = CNP_ERR_CONFIG;
		goto fail;
	}

	/* The journal suffix names this endpoint (URL, server, addressing), so
	 * that two s3:// endpoints (mirror) keep separate journals. */
	if (cfg->journal_dir[0]) {
		char ident[2 * CNP_URL_MAX + 8];
		uint8_t h[CNP_SHA256_LEN];
		char hex[2 * CNP_SHA256_LEN + 1];
		snprintf(ident, sizeof(ident), "%s %s", cfg->url, s->origin);
		cnp_sha256(ident, strlen(ident), h);
		cnp_hex(h, sizeof(h), hex);
		snprintf(s->journal_suffix, sizeof(s->journal_suffix), ".s3-%.8s.json", hex);
		snprintf(s->journal_dir, sizeof(s->journal_dir), "%s", cfg->journal_dir);
	}

	rc = CNP_ERR_NOMEM;
	s->body = cnp_malloc(RESP_BODY_CAP);
	if (!s->body)
		goto fail;
	s->body[0] = 0;
	struct cnp_http_config hc;
	cnp_endpoint_http_config(cfg, cancel, &hc);
	s->http = cnp_http_create(&hc);
	if (!s->http)
		goto fail;
	cnp_info("%s: S3 endpoint %s, bucket %s, %s addressing, region %s, multipart above %" PRIu64
	         " bytes in parts of %" PRIu64, cfg->url, s->origin, s->bucket,
	         s->virtual_hosted ? "virtual-hosted" : "path-style", s->region, s->threshold,
	         s->part_bytes);
	*out = &s->base;
	return CNP_OK;
fail:
	s3_destroy(&s->base);
	return rc;
}
