/*
 * How a response's header lines and body bytes land in a cnp_http_response
 * and the request's captures and body buffer (platform/http.h). No libcurl
 * here: platform/curl/http.c feeds it what libcurl reads, and the fuzz
 * target tests/fuzz/fuzz_http.c feeds it any bytes.
 */
#include "platform/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cnp_http_response_begin(const struct cnp_http_request *req, struct cnp_http_response *resp)
{
	resp->status = 0;
	resp->retry_after_s = -1;
	resp->detail[0] = 0;
	resp->body_len = 0;
	resp->body_truncated = 0;
	if (req->resp_body && req->resp_body_cap > 0)
		req->resp_body[0] = 0;
	for (size_t i = 0; i < req->n_captures; i++)
		if (req->captures[i].cap > 0)
			req->captures[i].value[0] = 0;
}

/* Keeps the first resp_body_cap - 1 bytes of the body; the rest is read
 * and dropped, so a huge error page cannot grow memory. */
void cnp_http_response_body(const struct cnp_http_request *req, struct cnp_http_response *resp,
                            const char *buf, size_t n)
{
	if (!req->resp_body || req->resp_body_cap == 0)
		return;
	size_t room = req->resp_body_cap - 1 - resp->body_len;
	size_t take = n < room ? n : room;
	memcpy(req->resp_body + resp->body_len, buf, take);
	resp->body_len += take;
	req->resp_body[resp->body_len] = 0;
	if (take < n)
		resp->body_truncated = 1;
}

/* The value of a "Name: value\r\n" header line when its name is `name`
 * (case-insensitive): *value and *len, blanks and CR/LF trimmed. */
static int header_value(const char *buf, size_t n, const char *name, const char **value,
                        size_t *len)
{
	size_t nl = strlen(name);
	if (n <= nl || buf[nl] != ':' || strncasecmp(buf, name, nl) != 0)
		return 0;
	const char *v = buf + nl + 1, *end = buf + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*len = (size_t)(end - v);
	return 1;
}

void cnp_http_response_header(const struct cnp_http_request *req, struct cnp_http_response *resp,
                              const char *buf, size_t n)
{
	const char *v;
	size_t vlen;
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): forget what the last one said. */
		resp->retry_after_s = -1;
		for (size_t i = 0; i < req->n_captures; i++)
			if (req->captures[i].cap > 0)
				req->captures[i].value[0] = 0;
		return;
	}
	if (header_value(buf, n, "retry-after", &v, &vlen)) {
		char value[64];
		if (vlen >= sizeof(value))
			vlen = sizeof(value) - 1;
		memcpy(value, v, vlen);
		value[vlen] = 0;
		char *end;
		long secs = strtol(value, &end, 10);
		/* Only delta-seconds; an HTTP date leaves it absent (-1). */
		if (end != value && secs >= 0)
			resp->retry_after_s = secs;
	}
	for (size_t i = 0; i < req->n_captures; i++) {
		struct cnp_http_capture *c = &req->captures[i];
		if (c->cap == 0 || !header_value(buf, n, c->name, &v, &vlen))
			continue;
		if (vlen >= c->cap)
			vlen = c->cap - 1;
		memcpy(c->value, v, vlen);
		c->value[vlen] = 0;
	}
}
