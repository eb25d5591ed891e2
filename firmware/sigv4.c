#include "firmware/sigv4.h"

#include "firmware/error.h"
#include "platform/crypto.h"

#include <string.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define TERMINATOR "aws4_request"

/* ---- an output that is either a bounded buffer or a running SHA-256 ----- */

struct sink {
	char *buf;               /* NULL when hashing */
	size_t cap, len;
	int overflow;
	struct cnp_sha256 *hash; /* non-NULL: bytes go into the hash instead */
};

static void put(struct sink *s, const char *p, size_t n)
{
	if (s->hash) {
		cnp_sha256_update(s->hash, p, n);
	} else if (!s->overflow && s->len + n < s->cap) {
		memcpy(s->buf + s->len, p, n);
		s->buf[s->len + n] = 0;
	} else {
		s->overflow = 1;
	}
	s->len += n;
}

static void puts_(struct sink *s, const char *p)
{
	put(s, p, strlen(p));
}

static void putc_(struct sink *s, char c)
{
	put(s, &c, 1);
}

static void sink_buf(struct sink *s, char *buf, size_t cap)
{
	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->cap = cap;
	if (cap > 0)
		buf[0] = 0;
	else
		s->overflow = 1;
}

/* ---- URI encoding -------------------------------------------------------- */

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static const char HEX_UPPER[] = "0123456789ABCDEF";

static void put_encoded(struct sink *s, const char *in, size_t n, int keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			putc_(s, (char)c);
		} else {
			char e[3] = {'%', HEX_UPPER[c >> 4], HEX_UPPER[c & 15]};
			put(s, e, 3);
		}
	}
}

int cnp_sigv4_uri_encode(const char *in, size_t in_len, int keep_slash, char *out,
                         size_t cap, size_t *out_len)
{
	struct sink s;
	sink_buf(&s, out, cap);
	put_encoded(&s, in, in_len, keep_slash);
	if (s.overflow) {
		if (cap > 0)
			out[0] = 0;
		return CNP_ERR_TOOBIG;
	}
	if (out_len)
		*out_len = s.len;
	return CNP_OK;
}

/* Yields the encoded form of a string one byte at a time, so that query
 * parameters can be sorted by their encoded bytes (the order AWS asks for,
 * which is not the order of the raw bytes: '.' sorts after "%2F") without
 * encoding them into buffers first. */
struct enc_iter {
	const unsigned char *p;
	char pending[2];
	int n_pending;
};

static int enc_next(struct enc_iter *it)
{
	if (it->n_pending > 0) {
		char c = it->pending[2 - it->n_pending];
		it->n_pending--;
		return (unsigned char)c;
	}
	if (!it->p || *it->p == 0)
		return -1;
	unsigned char c = *it->p++;
	if (unreserved(c))
		return c;
	it->pending[0] = HEX_UPPER[c >> 4];
	it->pending[1] = HEX_UPPER[c & 15];
	it->n_pending = 2;
	return '%';
}

static int cmp_encoded(const char *a, const char *b)
{
	struct enc_iter x = {(const unsigned char *)a, {0, 0}, 0};
	struct enc_iter y = {(const unsigned char *)b, {0, 0}, 0};
	for (;;) {
		int ca = enc_next(&x), cb = enc_next(&y);
		if (ca != cb)
			return ca < cb ? -1 : 1; /* -1 (end) sorts first */
		if (ca < 0)
			return 0;
	}
}

/* ---- query --------------------------------------------------------------- */

static int param_less(const struct cnp_sigv4_param *a, const struct cnp_sigv4_param *b)
{
	int c = cmp_encoded(a->key, b->key);
	if (c == 0)
		c = cmp_encoded(a->value ? a->value : "", b->value ? b->value : "");
	return c < 0;
}

static int put_query(struct sink *s, const struct cnp_sigv4_param *params, size_t n)
{
	if (n > CNP_SIGV4_MAX_PARAMS)
		return CNP_ERR_TOOBIG;
	size_t order[CNP_SIGV4_MAX_PARAMS];
	for (size_t i = 0; i < n; i++) {
		if (!params[i].key)
			return CNP_ERR_INVAL;
		/* Insertion sort: stable, and n is tiny. */
		size_t j = i;
		while (j > 0 && param_less(&params[i], &params[order[j - 1]])) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cnp_sigv4_param *p = &params[order[i]];
		if (i > 0)
			putc_(s, '&');
		put_encoded(s, p->key, strlen(p->key), 0);
		putc_(s, '=');
		if (p->value)
			put_encoded(s, p->value, strlen(p->value), 0);
	}
	return CNP_OK;
}

int cnp_sigv4_canonical_query(const struct cnp_sigv4_param *params, size_t n,
                              char *out, size_t cap, size_t *out_len)
{
	struct sink s;
	sink_buf(&s, out, cap);
	int rc = put_query(&s, params, n);
	if (rc == CNP_OK && s.overflow)
		rc = CNP_ERR_TOOBIG;
	if (rc != CNP_OK) {
		if (cap > 0)
			out[0] = 0;
		return rc;
	}
	if (out_len)
		*out_len = s.len;
	return CNP_OK;
}

/* ---- path ---------------------------------------------------------------- */

/*
 * With normalize: RFC 3986 dot-segment removal, and empty segments ("//")
 * dropped, as AWS does for services other than S3; a trailing '/' stays.
 * Without: the path as given. Either way each byte is URI-encoded once.
 */
static int put_path(struct sink *s, const char *path, int normalize)
{
	if (!path || path[0] != '/')
		return CNP_ERR_INVAL;
	if (!normalize) {
		put_encoded(s, path, strlen(path), 1);
		return CNP_OK;
	}
	struct {
		const char *p;
		size_t n;
	} seg[CNP_SIGV4_MAX_SEGMENTS];
	size_t depth = 0;
	int trailing = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 0 || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			if (depth > 0)
				depth--;
			continue;
		}
		if (depth == CNP_SIGV4_MAX_SEGMENTS)
			return CNP_ERR_TOOBIG;
		seg[depth].p = start;
		seg[depth].n = n;
		depth++;
	}
	/* "/a/" and "/a/b/.." keep a trailing slash, as in RFC 3986. */
	size_t len = strlen(path);
	trailing = path[len - 1] == '/' || (len >= 2 && strcmp(path + len - 2, "/.") == 0) ||
	           (len >= 3 && strcmp(path + len - 3, "/..") == 0);
	putc_(s, '/');
	for (size_t i = 0; i < depth; i++) {
		if (i > 0)
			putc_(s, '/');
		put_encoded(s, seg[i].p, seg[i].n, 0);
	}
	if (depth > 0 && trailing)
		putc_(s, '/');
	return CNP_OK;
}

/* ---- headers ------------------------------------------------------------- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int cmp_name_ci(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)lower(*a), cb = (unsigned char)lower(*b);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (ca == 0)
			return 0;
	}
}

static int valid_name(const char *n)
{
	if (!n || !*n)
		return 0;
	for (; *n; n++) {
		unsigned char c = (unsigned char)*n;
		if (c <= ' ' || c == ':' || c >= 0x7f)
			return 0;
	}
	return 1;
}

static int valid_value(const char *v)
{
	return v && !strpbrk(v, "\r\n");
}

static int blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trimall: no blanks at either end, each inner run of blanks as one space. */
static void put_trimmed(struct sink *s, const char *v)
{
	while (blank(*v))
		v++;
	int pending_space = 0;
	for (; *v; v++) {
		if (blank(*v)) {
			pending_space = 1;
			continue;
		}
		if (pending_space)
			putc_(s, ' ');
		pending_space = 0;
		putc_(s, *v);
	}
}

static void put_lower(struct sink *s, const char *n)
{
	for (; *n; n++)
		putc_(s, lower(*n));
}

/* Sorts the headers by lower-case name, stably (values of one name keep
 * their order), after checking them. */
static int sort_headers(const struct cnp_sigv4_request *req, size_t order[CNP_SIGV4_MAX_HEADERS])
{
	if (req->n_headers > CNP_SIGV4_MAX_HEADERS)
		return CNP_ERR_TOOBIG;
	int has_host = 0;
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct cnp_sigv4_header *h = &req->headers[i];
		if (!valid_name(h->name) || !valid_value(h->value))
			return CNP_ERR_INVAL;
		has_host |= cmp_name_ci(h->name, "host") == 0;
		size_t j = i;
		while (j > 0 && cmp_name_ci(h->name, req->headers[order[j - 1]].name) < 0) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	return has_host ? CNP_OK : CNP_ERR_INVAL;
}

static void put_signed_headers(struct sink *s, const struct cnp_sigv4_request *req,
                               const size_t *order)
{
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *name = req->headers[order[i]].name;
		if (i > 0 && cmp_name_ci(name, req->headers[order[i - 1]].name) == 0)
			continue;
		if (i > 0)
			putc_(s, ';');
		put_lower(s, name);
	}
}

static int valid_hash(const char *h)
{
	if (!h || strlen(h) != 64)
		return 0;
	for (; *h; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			return 0;
	return 1;
}

static int put_canonical_request(struct sink *s, const struct cnp_sigv4_request *req)
{
	size_t order[CNP_SIGV4_MAX_HEADERS];
	if (!req->method || !*req->method || !valid_hash(req->payload_sha256))
		return CNP_ERR_INVAL;
	int rc = sort_headers(req, order);
	if (rc != CNP_OK)
		return rc;
	puts_(s, req->method);
	putc_(s, '\n');
	rc = put_path(s, req->path, req->normalize_path);
	if (rc != CNP_OK)
		return rc;
	putc_(s, '\n');
	rc = put_query(s, req->params, req->n_params);
	if (rc != CNP_OK)
		return rc;
	putc_(s, '\n');
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct cnp_sigv4_header *h = &req->headers[order[i]];
		int same = i > 0 && cmp_name_ci(h->name, req->headers[order[i - 1]].name) == 0;
		if (same) {
			putc_(s, ',');
		} else {
			if (i > 0)
				putc_(s, '\n');
			put_lower(s, h->name);
			putc_(s, ':');
		}
		put_trimmed(s, h->value);
	}
	puts_(s, "\n\n");
	put_signed_headers(s, req, order);
	putc_(s, '\n');
	puts_(s, req->payload_sha256);
	return CNP_OK;
}

int cnp_sigv4_canonical_request(const struct cnp_sigv4_request *req, char *out,
                                size_t cap, size_t *out_len)
{
	struct sink s;
	sink_buf(&s, out, cap);
	int rc = put_canonical_request(&s, req);
	if (rc == CNP_OK && s.overflow)
		rc = CNP_ERR_TOOBIG;
	if (rc != CNP_OK) {
		if (cap > 0)
			out[0] = 0;
		return rc;
	}
	if (out_len)
		*out_len = s.len;
	return CNP_OK;
}

int cnp_sigv4_signed_headers(const struct cnp_sigv4_request *req, char *out, size_t cap)
{
	size_t order[CNP_SIGV4_MAX_HEADERS];
	struct sink s;
	sink_buf(&s, out, cap);
	int rc = sort_headers(req, order);
	if (rc == CNP_OK) {
		put_signed_headers(&s, req, order);
		if (s.overflow)
			rc = CNP_ERR_TOOBIG;
	}
	if (rc != CNP_OK && cap > 0)
		out[0] = 0;
	return rc;
}

/* ---- dates, scope, keys -------------------------------------------------- */

static int digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

static int valid_date(const char *d)
{
	return d && strlen(d) == CNP_SIGV4_DATE_LEN && digits(d, 8) && d[8] == 'T' &&
	       digits(d + 9, 6) && d[15] == 'Z';
}

static int valid_id(const char *s, int slash_ok)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > CNP_SIGV4_MAX_ID)
		return 0;
	if (!slash_ok && strchr(s, '/'))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

int cnp_sigv4_format_date(uint64_t unix_s, char out[CNP_SIGV4_DATE_LEN + 1])
{
	/* 9999-12-31T23:59:59Z */
	if (unix_s > 253402300799u) {
		out[0] = 0;
		return CNP_ERR_INVAL;
	}
	uint64_t days = unix_s / 86400u, secs = unix_s % 86400u;
	/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm,
	 * for non-negative days). */
	uint64_t z = days + 719468u;
	uint64_t era = z / 146097u;
	uint64_t doe = z - era * 146097u;
	uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
	uint64_t y = yoe + era * 400u;
	uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
	uint64_t mp = (5u * doy + 2u) / 153u;
	uint64_t d = doy - (153u * mp + 2u) / 5u + 1u;
	uint64_t m = mp < 10u ? mp + 3u : mp - 9u;
	if (m <= 2u)
		y++;
	unsigned v[6] = {(unsigned)y, (unsigned)m, (unsigned)d, (unsigned)(secs / 3600u),
	                 (unsigned)(secs / 60u % 60u), (unsigned)(secs % 60u)};
	static const unsigned width[6] = {4, 2, 2, 2, 2, 2};
	char *o = out;
	for (int f = 0; f < 6; f++) {
		if (f == 3)
			*o++ = 'T';
		for (unsigned w = width[f]; w > 0; w--) {
			unsigned div = 1;
			for (unsigned k = 1; k < w; k++)
				div *= 10;
			*o++ = (char)('0' + v[f] / div % 10);
		}
	}
	*o++ = 'Z';
	*o = 0;
	return CNP_OK;
}

static void put_scope(struct sink *s, const char *amz_date, const char *region,
                      const char *service)
{
	put(s, amz_date, 8);
	putc_(s, '/');
	puts_(s, region);
	putc_(s, '/');
	puts_(s, service);
	putc_(s, '/');
	puts_(s, TERMINATOR);
}

static void put_string_to_sign(struct sink *s, const char *amz_date, const char *region,
                               const char *service, const uint8_t creq_hash[CNP_SHA256_LEN])
{
	char hex[2 * CNP_SHA256_LEN + 1];
	cnp_hex(creq_hash, CNP_SHA256_LEN, hex);
	puts_(s, ALGORITHM "\n");
	puts_(s, amz_date);
	putc_(s, '\n');
	put_scope(s, amz_date, region, service);
	putc_(s, '\n');
	puts_(s, hex);
}

int cnp_sigv4_string_to_sign(const char *amz_date, const char *region,
                             const char *service, const char *creq, size_t creq_len,
                             char *out, size_t cap)
{
	struct sink s;
	sink_buf(&s, out, cap);
	if (!valid_date(amz_date) || !valid_id(region, 0) || !valid_id(service, 0))
		return CNP_ERR_INVAL;
	uint8_t h[CNP_SHA256_LEN];
	cnp_sha256(creq, creq_len, h);
	put_string_to_sign(&s, amz_date, region, service, h);
	if (s.overflow) {
		if (cap > 0)
			out[0] = 0;
		return CNP_ERR_TOOBIG;
	}
	return CNP_OK;
}

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static int valid_identity(const struct cnp_sigv4_identity *id)
{
	return id && valid_id(id->access_key_id, 0) && valid_id(id->secret_access_key, 1) &&
	       valid_id(id->region, 0) && valid_id(id->service, 0);
}

int cnp_sigv4_signing_key(const struct cnp_sigv4_identity *id, const char *amz_date,
                          uint8_t key[32])
{
	if (!valid_identity(id) || !valid_date(amz_date))
		return CNP_ERR_INVAL;
	char k[4 + CNP_SIGV4_MAX_ID];
	size_t n = strlen(id->secret_access_key);
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, id->secret_access_key, n);
	uint8_t a[CNP_SHA256_LEN], b[CNP_SHA256_LEN];
	cnp_hmac_sha256(k, 4 + n, amz_date, 8, a);
	cnp_hmac_sha256(a, sizeof(a), id->region, strlen(id->region), b);
	cnp_hmac_sha256(b, sizeof(b), id->service, strlen(id->service), a);
	cnp_hmac_sha256(a, sizeof(a), TERMINATOR, strlen(TERMINATOR), key);
	wipe(k, sizeof(k));
	wipe(a, sizeof(a));
	wipe(b, sizeof(b));
	return CNP_OK;
}

/* ---- the whole signature ----------------------------------------------------- */

int cnp_sigv4_sign(const struct cnp_sigv4_request *req, const struct cnp_sigv4_identity *id,
                   const char *amz_date, char *out, size_t cap)
{
	if (cap > 0)
		out[0] = 0;
	if (!valid_identity(id) || !valid_date(amz_date))
		return CNP_ERR_INVAL;

	/* Canonical request, straight into SHA-256. */
	struct cnp_sha256 h;
	cnp_sha256_init(&h);
	struct sink hs = {.hash = &h};
	int rc = put_canonical_request(&hs, req);
	uint8_t creq_hash[CNP_SHA256_LEN];
	cnp_sha256_final(&h, creq_hash);
	if (rc != CNP_OK)
		return rc;

	/* String to sign, small enough for the stack: 17 + 17 + scope + 64. */
	char sts[64 + 3 * CNP_SIGV4_MAX_ID + 2 * CNP_SHA256_LEN];
	struct sink ss;
	sink_buf(&ss, sts, sizeof(sts));
	put_string_to_sign(&ss, amz_date, id->region, id->service, creq_hash);
	if (ss.overflow)
		return CNP_ERR_TOOBIG;

	uint8_t key[CNP_SHA256_LEN], sig[CNP_SHA256_LEN];
	rc = cnp_sigv4_signing_key(id, amz_date, key);
	if (rc != CNP_OK)
		return rc;
	cnp_hmac_sha256(key, sizeof(key), sts, ss.len, sig);
	wipe(key, sizeof(key));
	char sig_hex[2 * CNP_SHA256_LEN + 1];
	cnp_hex(sig, sizeof(sig), sig_hex);

	size_t order[CNP_SIGV4_MAX_HEADERS];
	rc = sort_headers(req, order);
	if (rc != CNP_OK)
		return rc;
	struct sink os;
	sink_buf(&os, out, cap);
	puts_(&os, ALGORITHM " Credential=");
	puts_(&os, id->access_key_id);
	putc_(&os, '/');
	put_scope(&os, amz_date, id->region, id->service);
	puts_(&os, ", SignedHeaders=");
	put_signed_headers(&os, req, order);
	puts_(&os, ", Signature=");
	puts_(&os, sig_hex);
	if (os.overflow) {
		if (cap > 0)
			out[0] = 0;
		return CNP_ERR_TOOBIG;
	}
	return CNP_OK;
}
