#include "firmware/config.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/poll.h"
#include "platform/fs.h"
#include "platform/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
	const char *origin;
	const char *base_dir;
	int errors;
};

static void bad(struct ctx *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void bad(struct ctx *c, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cnp_error("%s: %s: %s", c->origin, path, msg);
	c->errors++;
}

/* Warns about unknown keys and refuses duplicates. */
static void check_keys(struct ctx *c, const cJSON *obj, const char *path,
                       const char *const *known)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		int ok = 0;
		for (const char *const *k = known; *k; k++)
			ok |= strcmp(*k, it->string) == 0;
		if (!ok)
			cnp_warn("%s: %s.%s: unknown key, ignored", c->origin, path, it->string);
		for (const cJSON *o = obj->child; o != it; o = o->next) {
			if (strcmp(o->string, it->string) == 0) {
				bad(c, path, "key \"%s\" appears twice", it->string);
				break;
			}
		}
	}
}

static const cJSON *object_at(struct ctx *c, const cJSON *parent, const char *key,
                              const char *path, int required)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (!j) {
		if (required)
			bad(c, path, "required object is missing");
		return NULL;
	}
	if (!cJSON_IsObject(j)) {
		bad(c, path, "expected an object, got %s", cnp_json_type_name(j));
		return NULL;
	}
	return j;
}

static void get_string(struct ctx *c, const cJSON *obj, const char *key,
                       const char *path, char *out, size_t cap, int required)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!j) {
		if (required)
			bad(c, path, "required string is missing");
		return;
	}
	if (!cJSON_IsString(j)) {
		bad(c, path, "expected a string, got %s", cnp_json_type_name(j));
		return;
	}
	size_t n = strlen(j->valuestring);
	if (n == 0 || n >= cap) {
		bad(c, path, "expected a string of 1 to %zu characters, got %zu", cap - 1, n);
		return;
	}
	memcpy(out, j->valuestring, n + 1);
}

static void get_path(struct ctx *c, const cJSON *obj, const char *key,
                     const char *path, char *out, size_t cap, int required)
{
	char raw[CNP_PATH_MAX] = "";
	get_string(c, obj, key, path, raw, sizeof(raw), required);
	if (!raw[0])
		return;
	int n = raw[0] == '/' || !c->base_dir
	            ? snprintf(out, cap, "%s", raw)
	            : snprintf(out, cap, "%s/%s", c->base_dir, raw);
	if (n >= (int)cap)
		bad(c, path, "path too long");
}

static void get_uint(struct ctx *c, const cJSON *obj, const char *key,
                     const char *path, uint64_t min, uint64_t max, uint64_t *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!j)
		return;
	uint64_t v;
	if (cnp_json_uint(j, UINT64_MAX, &v) != CNP_OK || v < min || v > max) {
		if (cJSON_IsNumber(j))
			bad(c, path, "expected a whole number from %llu to %llu, got %g",
			    (unsigned long long)min, (unsigned long long)max, j->valuedouble);
		else
			bad(c, path, "expected a whole number from %llu to %llu, got %s",
			    (unsigned long long)min, (unsigned long long)max, cnp_json_type_name(j));
		return;
	}
	*out = v;
}

static void get_bool(struct ctx *c, const cJSON *obj, const char *key,
                     const char *path, int *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!j)
		return;
	if (!cJSON_IsBool(j)) {
		bad(c, path, "expected true or false, got %s", cnp_json_type_name(j));
		return;
	}
	*out = cJSON_IsTrue(j);
}

/* A CAN id or mask: a JSON number or a "0x..." hex string. */
static int get_can_id(struct ctx *c, const cJSON *j, const char *path, uint32_t *out)
{
	uint64_t v = 0;
	if (cJSON_IsString(j)) {
		const char *t = j->valuestring;
		char *end = NULL;
		if ((t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) && t[2]) {
			unsigned long long x = strtoull(t + 2, &end, 16);
			if (*end == 0 && x <= 0x1FFFFFFFu) {
				*out = (uint32_t)x;
				return 0;
			}
		}
		bad(c, path, "expected a CAN id up to 0x1FFFFFFF (number or \"0x...\"), got \"%s\"", t);
		return -1;
	}
	if (cnp_json_uint(j, 0x1FFFFFFFu, &v) != CNP_OK) {
		bad(c, path, "expected a CAN id up to 0x1FFFFFFF (number or \"0x...\"), got %s",
		    cnp_json_type_name(j));
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static void parse_filters(struct ctx *c, const cJSON *arr, const char *path,
                          struct cnp_source_config *out)
{
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CNP_SOURCE_MAX_FILTERS) {
		bad(c, path, "expected an array of at most %d filters, got %s",
		    CNP_SOURCE_MAX_FILTERS, cJSON_IsArray(arr) ? "too many" : cnp_json_type_name(arr));
		return;
	}
	static const char *const keys[] = {"id", "mask", "extended", NULL};
	const cJSON *f;
	cJSON_ArrayForEach(f, arr)
	{
		char p[128], q[160];
		snprintf(p, sizeof(p), "%.100s[%u]", path, out->n_filters);
		struct cnp_can_filter *flt = &out->filters[out->n_filters++];
		if (!cJSON_IsObject(f)) {
			bad(c, p, "expected an object {\"id\", \"mask\", \"extended\"}, got %s",
			    cnp_json_type_name(f));
			continue;
		}
		check_keys(c, f, p, keys);
		snprintf(q, sizeof(q), "%s.id", p);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(f, "id");
		if (!id)
			bad(c, q, "required CAN id is missing");
		else
			get_can_id(c, id, q, &flt->id);
		snprintf(q, sizeof(q), "%s.extended", p);
		get_bool(c, f, "extended", q, &flt->extended);
		flt->mask = flt->extended ? 0x1FFFFFFFu : 0x7FFu;
		const cJSON *mask = cJSON_GetObjectItemCaseSensitive(f, "mask");
		snprintf(q, sizeof(q), "%s.mask", p);
		if (mask)
			get_can_id(c, mask, q, &flt->mask);
		if (!flt->extended && flt->id > 0x7FF) {
			snprintf(q, sizeof(q), "%s.id", p);
			bad(c, q, "0x%X does not fit 11 bits; set \"extended\": true for a 29-bit id",
			    flt->id);
		}
	}
}

/* "gpsd": "HOST:PORT", "HOST" (port 2947) or "[IPv6]:PORT". */
static void parse_gpsd(struct ctx *c, const cJSON *s, const char *path,
                       struct cnp_source_config *out)
{
	char p[112], addr[CNP_GPSD_HOST_MAX + 16] = "localhost";
	snprintf(p, sizeof(p), "%s.gpsd", path);
	get_string(c, s, "gpsd", p, addr, sizeof(addr), 0);
	const char *host = addr, *port = CNP_GPSD_DEFAULT_PORT;
	char *colon = strrchr(addr, ':');
	if (addr[0] == '[') {
		char *close = strchr(addr, ']');
		if (close && (close[1] == 0 || close[1] == ':')) {
			host = addr + 1;
			if (close[1] == ':')
				port = close + 2;
			*close = 0;
		} else {
			host = "";
		}
	} else if (colon) {
		if (strchr(addr, ':') != colon) {
			bad(c, p, "an IPv6 address needs brackets: \"[%s]:PORT\"", addr);
			return;
		}
		*colon = 0;
		port = colon + 1;
	}
	char *end = NULL;
	unsigned long n = strtoul(port, &end, 10);
	size_t hl = strlen(host);
	if (hl == 0 || hl >= sizeof(out->gpsd_host) || strpbrk(host, " \t\r\n/[]")) {
		bad(c, p, "expected \"HOST:PORT\" (HOST a name or an address, IPv6 in brackets)");
		return;
	}
	if (!port[0] || *end || port[0] < '0' || port[0] > '9' || n == 0 || n > 65535) {
		bad(c, p, "expected a port from 1 to 65535 after the host, got \"%s\"", port);
		return;
	}
	memcpy(out->gpsd_host, host, hl + 1);
	snprintf(out->gpsd_port, sizeof(out->gpsd_port), "%lu", n);
}

static void parse_source(struct ctx *c, const cJSON *s, const char *path,
                         struct cnp_source_config *out)
{
	static const char *const candump_keys[] = {"type", "path", "pace", "loop", "duration_s",
	                                           NULL};
	static const char *const socketcan_keys[] = {"type", "interfaces", "filters",
	                                             "rcvbuf_bytes", "reopen_ms", "duration_s",
	                                             NULL};
	static const char *const sim_keys[] = {"type", "profile", "seed", "duration_s",
	                                       "start_time", "pace", NULL};
	char p[96];
	if (!cJSON_IsObject(s)) {
		bad(c, path, "expected an object, got %s", cnp_json_type_name(s));
		return;
	}
	snprintf(p, sizeof(p), "%s.type", path);
	get_string(c, s, "type", p, out->type, sizeof(out->type), 1);
	out->pace = CNP_PACE_MAX;
	out->speed = 1.0;
	out->rcvbuf_bytes = CNP_DEFAULT_RCVBUF_BYTES;
	out->reopen_ms = CNP_DEFAULT_REOPEN_MS;
	out->start_time_us = CNP_DEFAULT_SIM_START_US;
	/* Every source type: an optional end (sim: simulated seconds; candump:
	 * seconds of log time; socketcan: seconds since the source opened). */
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(s, "duration_s");
	char dp[112];
	snprintf(dp, sizeof(dp), "%s.duration_s", path);
	if (d && (!cJSON_IsNumber(d) || !(d->valuedouble >= 0) || d->valuedouble > 1e7))
		bad(c, dp, "expected a number of seconds from 0 (endless) to 1e7, got %s",
		    cJSON_IsNumber(d) ? "a number out of range" : cnp_json_type_name(d));
	else if (d)
		out->duration_s = d->valuedouble;
	if (strcmp(out->type, "socketcan") == 0) {
		check_keys(c, s, path, socketcan_keys);
		const cJSON *ifs = cJSON_GetObjectItemCaseSensitive(s, "interfaces");
		snprintf(p, sizeof(p), "%s.interfaces", path);
		if (!cJSON_IsArray(ifs) || cJSON_GetArraySize(ifs) == 0 ||
		    cJSON_GetArraySize(ifs) > CNP_SOURCE_MAX_IFACES) {
			bad(c, p, "expected an array of 1 to %d interface names, got %s",
			    CNP_SOURCE_MAX_IFACES, cJSON_IsArray(ifs) ? "a wrong number" : cnp_json_type_name(ifs));
		} else {
			const cJSON *it;
			cJSON_ArrayForEach(it, ifs)
			{
				char q[128];
				snprintf(q, sizeof(q), "%.100s[%u]", p, out->n_interfaces);
				size_t n = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
				if (n == 0 || n > 15 || strchr(it->valuestring, '/') ||
				    strpbrk(it->valuestring, " \t\n")) {
					bad(c, q, "expected an interface name of 1 to 15 characters");
					out->n_interfaces++;
					continue;
				}
				memcpy(out->interfaces[out->n_interfaces++], it->valuestring, n + 1);
			}
		}
		const cJSON *filters = cJSON_GetObjectItemCaseSensitive(s, "filters");
		snprintf(p, sizeof(p), "%s.filters", path);
		if (filters)
			parse_filters(c, filters, p, out);
		snprintf(p, sizeof(p), "%s.rcvbuf_bytes", path);
		get_uint(c, s, "rcvbuf_bytes", p, 65536, 1u << 30, &out->rcvbuf_bytes);
		snprintf(p, sizeof(p), "%s.reopen_ms", path);
		get_uint(c, s, "reopen_ms", p, 10, 3600000, &out->reopen_ms);
		return;
	}
	if (strcmp(out->type, "gnss") == 0) {
		static const char *const gnss_keys[] = {"type", "gpsd", "reopen_ms", "duration_s",
		                                        NULL};
		check_keys(c, s, path, gnss_keys);
		parse_gpsd(c, s, path, out);
		snprintf(p, sizeof(p), "%s.reopen_ms", path);
		get_uint(c, s, "reopen_ms", p, 10, 3600000, &out->reopen_ms);
		return;
	}
	if (strcmp(out->type, "sim") == 0) {
		check_keys(c, s, path, sim_keys);
		snprintf(p, sizeof(p), "%s.profile", path);
		get_string(c, s, "profile", p, out->profile, sizeof(out->profile), 1);
		if (out->profile[0] && strcmp(out->profile, "ev") && strcmp(out->profile, "ice"))
			bad(c, p, "unknown simulator profile \"%s\" (known: \"ev\", \"ice\")",
			    out->profile);
		snprintf(p, sizeof(p), "%s.seed", path);
		get_uint(c, s, "seed", p, 0, UINT64_MAX, &out->seed);
		snprintf(p, sizeof(p), "%s.start_time", path);
		get_uint(c, s, "start_time", p, 0, UINT64_MAX / 2, &out->start_time_us);
	} else if (strcmp(out->type, "candump") == 0) {
		check_keys(c, s, path, candump_keys);
		snprintf(p, sizeof(p), "%s.path", path);
		get_path(c, s, "path", p, out->path, sizeof(out->path), 1);
		snprintf(p, sizeof(p), "%s.loop", path);
		get_bool(c, s, "loop", p, &out->loop);
	} else {
		if (out->type[0])
			bad(c, p, "unknown source type \"%s\" (known: \"candump\", \"socketcan\", "
			    "\"sim\", \"gnss\")", out->type);
		return;
	}
	const cJSON *pace = cJSON_GetObjectItemCaseSensitive(s, "pace");
	snprintf(p, sizeof(p), "%s.pace", path);
	if (!pace)
		return;
	if (cJSON_IsString(pace) && strcmp(pace->valuestring, "max") == 0)
		out->pace = CNP_PACE_MAX;
	else if (cJSON_IsString(pace) && strcmp(pace->valuestring, "recorded") == 0)
		out->pace = CNP_PACE_RECORDED;
	else if (cJSON_IsNumber(pace) && pace->valuedouble > 0 && pace->valuedouble <= 1000) {
		out->pace = CNP_PACE_RECORDED;
		out->speed = pace->valuedouble;
	} else
		bad(c, p, "expected \"max\", \"recorded\" or a speed factor above 0 "
		          "and at most 1000, got %s", cnp_json_type_name(pace));
}

/* The s3:// keys of an endpoint (docs/S3.md). Secrets are never echoed in
 * messages: get_string reports only their length. */
static void parse_s3(struct ctx *c, const cJSON *e, const char *path,
                     struct cnp_endpoint_config *out)
{
	char p[128];
	const char *bucket = out->url + 5;
	size_t blen = strcspn(bucket, "/");
	int bucket_ok = blen >= 3 && blen <= 63;
	for (size_t i = 0; i < blen; i++) {
		char ch = bucket[i];
		bucket_ok &= (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		             ch == '-' || ch == '_' || (ch >= 'A' && ch <= 'Z');
	}
	snprintf(p, sizeof(p), "%s.url", path);
	if (!bucket_ok)
		bad(c, p, "expected s3://BUCKET[/PREFIX] with a bucket name of 3 to 63 letters, "
		          "digits, '.', '-' or '_', got \"%s\"", out->url);

	snprintf(p, sizeof(p), "%s.endpoint_url", path);
	get_string(c, e, "endpoint_url", p, out->endpoint_url, sizeof(out->endpoint_url), 0);
	if (out->endpoint_url[0]) {
		if (strncmp(out->endpoint_url, "https://", 8) != 0 &&
		    strncmp(out->endpoint_url, "http://", 7) != 0)
			bad(c, p, "expected https://HOST[:PORT], got \"%s\"", out->endpoint_url);
		else if (strncmp(out->endpoint_url, "http://", 7) == 0 && !out->allow_insecure)
			bad(c, p, "plain http:// sends data unencrypted; use https:// or set "
			          "\"allow_insecure\": true in this endpoint");
	}
	snprintf(p, sizeof(p), "%s.region", path);
	get_string(c, e, "region", p, out->region, sizeof(out->region), 1);
	if (out->region[0] && strpbrk(out->region, "/ \t"))
		bad(c, p, "\"%s\" is not a region name (like \"us-east-1\")", out->region);

	snprintf(p, sizeof(p), "%s.access_key_id", path);
	get_string(c, e, "access_key_id", p, out->access_key_id, sizeof(out->access_key_id), 0);
	snprintf(p, sizeof(p), "%s.secret_access_key", path);
	get_string(c, e, "secret_access_key", p, out->secret_access_key,
	           sizeof(out->secret_access_key), 0);
	snprintf(p, sizeof(p), "%s.session_token", path);
	get_string(c, e, "session_token", p, out->session_token, sizeof(out->session_token), 0);
	snprintf(p, sizeof(p), "%s.credentials_file", path);
	get_path(c, e, "credentials_file", p, out->credentials_file,
	         sizeof(out->credentials_file), 0);
	snprintf(p, sizeof(p), "%s.profile", path);
	get_string(c, e, "profile", p, out->profile, sizeof(out->profile), 0);
	int inline_keys = out->access_key_id[0] || out->secret_access_key[0];
	if (inline_keys && out->credentials_file[0])
		bad(c, path, "give either access_key_id and secret_access_key, or credentials_file, "
		             "not both");
	else if (inline_keys && (!out->access_key_id[0] || !out->secret_access_key[0]))
		bad(c, path, "access_key_id and secret_access_key go together; one is missing");
	else if (!inline_keys && !out->credentials_file[0])
		bad(c, path, "an s3:// endpoint needs credentials: access_key_id and "
		             "secret_access_key, or credentials_file");
	if (out->session_token[0] && !inline_keys)
		bad(c, path, "session_token goes with access_key_id; in a credentials_file use "
		             "aws_session_token");
	if (out->profile[0] && !out->credentials_file[0])
		bad(c, path, "profile names a section of credentials_file, which is not set");

	/* AWS itself: virtual-hosted; a server of your own: path-style. */
	out->virtual_hosted = !out->endpoint_url[0];
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "addressing");
	snprintf(p, sizeof(p), "%s.addressing", path);
	if (a && cJSON_IsString(a) && strcmp(a->valuestring, "path") == 0)
		out->virtual_hosted = 0;
	else if (a && cJSON_IsString(a) && strcmp(a->valuestring, "virtual") == 0)
		out->virtual_hosted = 1;
	else if (a)
		bad(c, p, "expected \"path\" or \"virtual\", got %s",
		    cJSON_IsString(a) ? a->valuestring : cnp_json_type_name(a));

	out->multipart_threshold_bytes = CNP_S3_DEFAULT_MULTIPART_THRESHOLD;
	out->part_bytes = CNP_S3_DEFAULT_PART_BYTES;
	snprintf(p, sizeof(p), "%s.multipart_threshold_bytes", path);
	get_uint(c, e, "multipart_threshold_bytes", p, 1, 5ull << 30,
	         &out->multipart_threshold_bytes);
	snprintf(p, sizeof(p), "%s.part_bytes", path);
	get_uint(c, e, "part_bytes", p, 1024, 5ull << 30, &out->part_bytes);
	if (out->part_bytes < CNP_S3_MIN_PART_BYTES_AWS)
		cnp_warn("%s: %s: %llu bytes: AWS S3 and most S3 servers refuse parts below "
		         "5 MiB (all but the last)", c->origin, p,
		         (unsigned long long)out->part_bytes);
}

/* "sha256//" and 44 base64 characters, as curl's pinned public keys. */
static int is_pin_hash(const char *s, size_t n)
{
	if (n != 8 + 44 || strncmp(s, "sha256//", 8) != 0 || s[n - 1] != '=')
		return 0;
	for (size_t i = 8; i < n - 1; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", s[i]))
			return 0;
	return 1;
}

/* pinned_pubkey, client_cert and client_key (each name after `prefix`,
 * "" for an endpoint, "schemes_" in capture) for an https:// or s3:// url:
 * pin[CNP_PIN_MAX], cert[CNP_PATH_MAX] and key[CNP_PATH_MAX]. */
static void parse_tls_keys(struct ctx *c, const cJSON *e, const char *path, const char *prefix,
                           const char *url, char *pin_out, char *cert, char *key)
{
	char p[128], k[48];
	int tls = strncmp(url, "https://", 8) == 0 || strncmp(url, "s3://", 5) == 0;
	snprintf(k, sizeof(k), "%spinned_pubkey", prefix);
	snprintf(p, sizeof(p), "%s.%s", path, k);
	char pin[CNP_PIN_MAX] = "";
	get_string(c, e, k, p, pin, sizeof(pin), 0);
	if (pin[0] && strncmp(pin, "sha256//", 8) == 0) {
		for (const char *s = pin; *s;) {
			size_t n = strcspn(s, ";");
			if (!is_pin_hash(s, n)) {
				bad(c, p, "expected \"sha256//\" and the 44-character base64 SHA-256 of "
				          "the server's public key (several joined by ';'), or a public "
				          "key file");
				break;
			}
			s += n + (s[n] == ';');
		}
		memcpy(pin_out, pin, sizeof(pin));
	} else if (pin[0]) {
		get_path(c, e, k, p, pin_out, CNP_PIN_MAX, 0);
	}
	snprintf(k, sizeof(k), "%sclient_cert", prefix);
	snprintf(p, sizeof(p), "%s.%s", path, k);
	get_path(c, e, k, p, cert, CNP_PATH_MAX, 0);
	snprintf(k, sizeof(k), "%sclient_key", prefix);
	snprintf(p, sizeof(p), "%s.%s", path, k);
	get_path(c, e, k, p, key, CNP_PATH_MAX, 0);
	if (!cert[0] != !key[0]) {
		snprintf(p, sizeof(p), "%s.%s%s", path, prefix, cert[0] ? "client_key" : "client_cert");
		bad(c, p, "%sclient_cert and %sclient_key go together: set both or neither", prefix,
		    prefix);
	}
	if (!tls && (pin_out[0] || cert[0] || key[0])) {
		snprintf(p, sizeof(p), "%s.%surl", path, prefix);
		bad(c, p, "%spinned_pubkey, %sclient_cert and %sclient_key need an https:// or s3:// "
		    "URL", prefix, prefix, prefix);
	}
}

static void parse_endpoint(struct ctx *c, const cJSON *e, const char *path,
                           struct cnp_endpoint_config *out)
{
	static const char *const keys[] = {"url", "ca_file", "allow_insecure", "pinned_pubkey",
	                                   "client_cert", "client_key", NULL};
	static const char *const s3_keys[] = {
		"url", "ca_file", "allow_insecure", "pinned_pubkey", "client_cert", "client_key",
		"endpoint_url", "region", "access_key_id",
		"secret_access_key", "session_token", "credentials_file", "profile",
		"addressing", "multipart_threshold_bytes", "part_bytes", NULL};
	char p[96];
	if (!cJSON_IsObject(e)) {
		bad(c, path, "expected an object, got %s", cnp_json_type_name(e));
		return;
	}
	snprintf(p, sizeof(p), "%s.url", path);
	get_string(c, e, "url", p, out->url, sizeof(out->url), 1);
	int s3 = strncmp(out->url, "s3://", 5) == 0;
	check_keys(c, e, path, s3 ? s3_keys : keys);
	snprintf(p, sizeof(p), "%s.ca_file", path);
	get_path(c, e, "ca_file", p, out->ca_file, sizeof(out->ca_file), 0);
	snprintf(p, sizeof(p), "%s.allow_insecure", path);
	get_bool(c, e, "allow_insecure", p, &out->allow_insecure);
	if (!out->url[0])
		return;
	parse_tls_keys(c, e, path, "", out->url, out->pinned_pubkey, out->client_cert,
	               out->client_key);
	snprintf(p, sizeof(p), "%s.url", path);
	if (s3) {
		parse_s3(c, e, path, out);
		return;
	}
	if (strncmp(out->url, "file:///", 8) != 0 && strncmp(out->url, "https://", 8) != 0 &&
	    strncmp(out->url, "http://", 7) != 0)
		bad(c, p, "expected a file:///DIR, https://HOST/PATH or s3://BUCKET[/PREFIX] URL, "
		          "got \"%s\"", out->url);
	else if (strncmp(out->url, "http://", 7) == 0 && !out->allow_insecure)
		bad(c, p, "plain http:// sends data unencrypted; use https:// or set "
		          "\"allow_insecure\": true in this endpoint");
	if (out->allow_insecure && strncmp(out->url, "http://", 7) == 0) {
		char shown[CNP_URL_MAX];
		cnp_endpoint_redact_url(out->url, shown, sizeof(shown));
		cnp_warn("%s: %s: allow_insecure is set: batches go unencrypted to %s",
		         c->origin, path, shown);
	}
}

/* capture.polling (docs/POLLING.md): kept as text for the poller, which
 * checks it here already so that a bad one stops the agent at start. */
static void parse_polling(struct ctx *c, const cJSON *capture, struct cnp_capture_config *cc)
{
	const cJSON *pol = cJSON_GetObjectItemCaseSensitive(capture, "polling");
	if (!pol)
		return;
	if (cJSON_IsObject(pol))
		get_path(c, pol, "dbc", "$.capture.polling.dbc", cc->polling_dbc,
		         sizeof(cc->polling_dbc), 0);
	char *text = cJSON_PrintUnformatted(pol);
	if (!text || strlen(text) >= sizeof(cc->polling_json)) {
		bad(c, "$.capture.polling", "longer than %d bytes", CNP_POLLING_INLINE_MAX - 1);
		cJSON_free(text);
		return;
	}
	strcpy(cc->polling_json, text);
	cJSON_free(text);
	snprintf(cc->polling_origin, sizeof(cc->polling_origin), "%s", c->origin);
	struct cnp_poll_options po = {cc->polling_json, strlen(cc->polling_json), c->origin,
	                              "$.capture.polling", cc->polling_dbc};
	struct cnp_poller *p = NULL;
	char why[512] = "";
	int rc = cnp_poller_create(&po, &p, why, sizeof(why));
	if (rc == CNP_ERR_NOMEM) {
		cnp_error("%s: $.capture.polling: %s", c->origin, cnp_strerror(rc));
		c->errors++;
	} else if (rc != CNP_OK) {
		cnp_error("%s", why);
		c->errors++;
	}
	cnp_poller_destroy(p);
}

/* capture.dbc[].isotp: the ISO-TP ids to reassemble (docs/TRANSPORT.md). */
static void parse_isotp(struct ctx *c, const cJSON *j, const char *path, struct cnp_tp_config *tc)
{
	static const char *const keys[] = {"ids", "length_prefix", NULL};
	static const char *const id_keys[] = {"id", "last", "extended", NULL};
	char p[128], q[160];
	if (!cJSON_IsObject(j)) {
		bad(c, path, "expected an object {\"ids\", \"length_prefix\"}, got %s",
		    cnp_json_type_name(j));
		return;
	}
	check_keys(c, j, path, keys);
	snprintf(p, sizeof(p), "%.100s.length_prefix", path);
	get_bool(c, j, "length_prefix", p, &tc->isotp_length_prefix);
	const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "ids");
	snprintf(p, sizeof(p), "%.100s.ids", path);
	if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) == 0 ||
	    cJSON_GetArraySize(ids) > CNP_TP_MAX_RANGES) {
		bad(c, p, "expected an array of 1 to %d {\"id\", \"last\", \"extended\"}, got %s",
		    CNP_TP_MAX_RANGES, !ids ? "nothing" : cJSON_IsArray(ids) ? "another count"
		                                                            : cnp_json_type_name(ids));
		return;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, ids)
	{
		snprintf(p, sizeof(p), "%.100s.ids[%u]", path, tc->n_isotp);
		struct cnp_tp_range *r = &tc->isotp[tc->n_isotp++];
		if (!cJSON_IsObject(e)) {
			bad(c, p, "expected an object {\"id\", \"last\", \"extended\"}, got %s",
			    cnp_json_type_name(e));
			continue;
		}
		check_keys(c, e, p, id_keys);
		snprintf(q, sizeof(q), "%s.extended", p);
		get_bool(c, e, "extended", q, &r->extended);
		snprintf(q, sizeof(q), "%s.id", p);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (!id) {
			bad(c, q, "required CAN id is missing");
			continue;
		}
		if (get_can_id(c, id, q, &r->first) != 0)
			continue;
		r->last = r->first;
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(e, "last");
		snprintf(q, sizeof(q), "%s.last", p);
		if (last && get_can_id(c, last, q, &r->last) != 0)
			continue;
		if (r->last < r->first)
			bad(c, q, "0x%X is below \"id\" 0x%X", r->last, r->first);
		else if (!r->extended && r->last > 0x7FF)
			bad(c, last ? q : p, "0x%X does not fit 11 bits; set \"extended\": true for "
			    "29-bit ids", r->last);
	}
}

/* capture: the mode, the DBC files and the collection schemes. */
static void parse_capture(struct ctx *c, const cJSON *capture, struct cnp_config *cfg)
{
	static const char *const ck[] = {"mode", "dbc", "schemes", "schemes_file", "vss_file",
	                                 "schemes_url", "schemes_key", "schemes_ca_file",
	                                 "schemes_allow_insecure", "schemes_poll_ms", "polling",
	                                 "schemes_pinned_pubkey", "schemes_client_cert",
	                                 "schemes_client_key", NULL};
	struct cnp_capture_config *cc = &cfg->capture;
	check_keys(c, capture, "$.capture", ck);
	get_string(c, capture, "mode", "$.capture.mode", cfg->capture_mode,
	           sizeof(cfg->capture_mode), 0);
	int raw = strcmp(cfg->capture_mode, "raw") == 0;
	if (!raw && strcmp(cfg->capture_mode, "signals") != 0 &&
	    strcmp(cfg->capture_mode, "raw+signals") != 0)
		bad(c, "$.capture.mode", "expected \"raw\", \"signals\" or \"raw+signals\", got \"%s\"",
		    cfg->capture_mode);
	const cJSON *dbc = cJSON_GetObjectItemCaseSensitive(capture, "dbc");
	if (dbc && (!cJSON_IsArray(dbc) || cJSON_GetArraySize(dbc) > CNP_CAPTURE_MAX_DBC)) {
		bad(c, "$.capture.dbc", "expected an array of at most %d {\"interface\", \"path\"}",
		    CNP_CAPTURE_MAX_DBC);
		dbc = NULL;
	}
	const cJSON *d;
	cJSON_ArrayForEach(d, dbc)
	{
		static const char *const dk[] = {"interface", "path", "strict", "isotp", "j1939",
		                                 NULL};
		char p[48], kp[64];
		snprintf(p, sizeof(p), "$.capture.dbc[%u]", cc->n_dbc);
		struct cnp_dbc_config *e = &cc->dbc[cc->n_dbc++];
		if (!cJSON_IsObject(d)) {
			bad(c, p, "expected an object, got %s", cnp_json_type_name(d));
			continue;
		}
		check_keys(c, d, p, dk);
		snprintf(kp, sizeof(kp), "%s.interface", p);
		get_string(c, d, "interface", kp, e->iface, sizeof(e->iface), 1);
		snprintf(kp, sizeof(kp), "%s.path", p);
		get_path(c, d, "path", kp, e->path, sizeof(e->path), 1);
		snprintf(kp, sizeof(kp), "%s.strict", p);
		get_bool(c, d, "strict", kp, &e->strict);
		const cJSON *isotp = cJSON_GetObjectItemCaseSensitive(d, "isotp");
		snprintf(kp, sizeof(kp), "%s.isotp", p);
		if (isotp)
			parse_isotp(c, isotp, kp, &e->transport);
		snprintf(kp, sizeof(kp), "%s.j1939", p);
		get_bool(c, d, "j1939", kp, &e->transport.j1939);
		for (unsigned i = 0; i + 1 < cc->n_dbc; i++)
			if (e->iface[0] && strcmp(cc->dbc[i].iface, e->iface) == 0)
				bad(c, p, "a second DBC for interface \"%s\"", e->iface);
	}
	if (!raw && cc->n_dbc == 0)
		bad(c, "$.capture.dbc", "mode \"%s\" needs at least one DBC file", cfg->capture_mode);
	get_path(c, capture, "schemes_file", "$.capture.schemes_file", cc->schemes_file,
	         sizeof(cc->schemes_file), 0);
	get_path(c, capture, "vss_file", "$.capture.vss_file", cc->vss_file,
	         sizeof(cc->vss_file), 0);
	const cJSON *sch = cJSON_GetObjectItemCaseSensitive(capture, "schemes");
	if (sch) {
		char *text = cJSON_IsArray(sch) ? cJSON_PrintUnformatted(sch) : NULL;
		if (!cJSON_IsArray(sch))
			bad(c, "$.capture.schemes", "expected an array of schemes, got %s",
			    cnp_json_type_name(sch));
		else if (!text || strlen(text) >= sizeof(cc->schemes_json))
			bad(c, "$.capture.schemes", "longer than %d bytes: use schemes_file",
			    CNP_SCHEMES_INLINE_MAX - 1);
		else
			strcpy(cc->schemes_json, text);
		cJSON_free(text);
		snprintf(cc->schemes_origin, sizeof(cc->schemes_origin), "%s", c->origin);
	}
	if (sch && cc->schemes_file[0])
		bad(c, "$.capture.schemes_file", "give \"schemes\" or \"schemes_file\", not both");
	get_string(c, capture, "schemes_url", "$.capture.schemes_url", cc->schemes_url,
	           sizeof(cc->schemes_url), 0);
	get_path(c, capture, "schemes_key", "$.capture.schemes_key", cc->schemes_key,
	         sizeof(cc->schemes_key), 0);
	get_path(c, capture, "schemes_ca_file", "$.capture.schemes_ca_file", cc->schemes_ca_file,
	         sizeof(cc->schemes_ca_file), 0);
	get_bool(c, capture, "schemes_allow_insecure", "$.capture.schemes_allow_insecure",
	         &cc->schemes_allow_insecure);
	cc->schemes_poll_ms = CNP_DEFAULT_SCHEMES_POLL_MS;
	get_uint(c, capture, "schemes_poll_ms", "$.capture.schemes_poll_ms", 100, 86400000u,
	         &cc->schemes_poll_ms);
	if (cc->schemes_url[0]) {
		if (!cc->schemes_key[0])
			bad(c, "$.capture.schemes_key", "schemes_url needs the public key that signs "
			    "the documents");
		if (strncmp(cc->schemes_url, "https://", 8) != 0 &&
		    !(cc->schemes_allow_insecure && strncmp(cc->schemes_url, "http://", 7) == 0))
			bad(c, "$.capture.schemes_url", "expected an https:// URL (http:// needs "
			    "\"schemes_allow_insecure\": true), got \"%s\"", cc->schemes_url);
	}
	/* The same TLS policy as an endpoint's: a pin, mutual TLS. */
	parse_tls_keys(c, capture, "$.capture", "schemes_", cc->schemes_url,
	               cc->schemes_pinned_pubkey, cc->schemes_client_cert, cc->schemes_client_key);
	if (raw && (sch || cc->schemes_file[0] || cc->vss_file[0] || cc->schemes_url[0]))
		bad(c, "$.capture.mode", "schemes need mode \"signals\" or \"raw+signals\"");
	parse_polling(c, capture, cc);
}

static int parse_root(struct ctx *c, const cJSON *root, struct cnp_config *cfg)
{
	static const char *const keys[] = {"vehicle_id", "log_level", "sources", "capture",
	                                   "batch", "spool", "endpoints", "upload",
	                                   "signing_key", "operations", "encrypt_to", NULL};
	if (!cJSON_IsObject(root)) {
		bad(c, "$", "expected an object, got %s", cnp_json_type_name(root));
		return CNP_ERR_CONFIG;
	}
	check_keys(c, root, "$", keys);
	get_string(c, root, "vehicle_id", "$.vehicle_id", cfg->vehicle_id,
	           sizeof(cfg->vehicle_id), 1);
	for (const char *p = cfg->vehicle_id; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.') ||
		    cfg->vehicle_id[0] == '.') {
			bad(c, "$.vehicle_id", "\"%s\": use letters, digits, '-', '_' and '.' "
			    "(it becomes part of object keys)", cfg->vehicle_id);
			break;
		}
	}
	get_string(c, root, "log_level", "$.log_level", cfg->log_level, sizeof(cfg->log_level), 0);
	if (cfg->log_level[0] && strcmp(cfg->log_level, "error") && strcmp(cfg->log_level, "warning") &&
	    strcmp(cfg->log_level, "info") && strcmp(cfg->log_level, "debug"))
		bad(c, "$.log_level", "expected \"error\", \"warning\", \"info\" or \"debug\", got \"%s\"",
		    cfg->log_level);

	get_path(c, root, "signing_key", "$.signing_key", cfg->signing_key,
	         sizeof(cfg->signing_key), 0);
	get_path(c, root, "encrypt_to", "$.encrypt_to", cfg->encrypt_to,
	         sizeof(cfg->encrypt_to), 0);

	const cJSON *sources = cJSON_GetObjectItemCaseSensitive(root, "sources");
	if (!cJSON_IsArray(sources) || cJSON_GetArraySize(sources) == 0 ||
	    cJSON_GetArraySize(sources) > CNP_MAX_SOURCES) {
		bad(c, "$.sources", "expected an array of 1 to %d sources, got %s", CNP_MAX_SOURCES,
		    cJSON_IsArray(sources) ? "a wrong number" : cnp_json_type_name(sources));
	} else {
		const cJSON *s;
		cJSON_ArrayForEach(s, sources)
		{
			char p[32];
			snprintf(p, sizeof(p), "$.sources[%u]", cfg->n_sources);
			parse_source(c, s, p, &cfg->sources[cfg->n_sources++]);
		}
	}

	const cJSON *capture = object_at(c, root, "capture", "$.capture", 0);
	if (capture)
		parse_capture(c, capture, cfg);

	const cJSON *batch = object_at(c, root, "batch", "$.batch", 0);
	if (batch) {
		static const char *const bk[] = {"max_bytes", "max_age_ms", "zlib_level", NULL};
		check_keys(c, batch, "$.batch", bk);
		get_uint(c, batch, "max_bytes", "$.batch.max_bytes", 4096, 64u * 1024 * 1024,
		         &cfg->batch_max_bytes);
		get_uint(c, batch, "max_age_ms", "$.batch.max_age_ms", 10, 24u * 3600 * 1000,
		         &cfg->batch_max_age_ms);
		uint64_t lvl = (uint64_t)cfg->zlib_level;
		get_uint(c, batch, "zlib_level", "$.batch.zlib_level", 1, 9, &lvl);
		cfg->zlib_level = (int)lvl;
	}

	const cJSON *spool = object_at(c, root, "spool", "$.spool", 1);
	if (spool) {
		static const char *const sk[] = {"dir", "max_bytes", "journal", "sync_interval_ms",
		                                 "min_free_bytes",
		                                 NULL};
		check_keys(c, spool, "$.spool", sk);
		get_path(c, spool, "dir", "$.spool.dir", cfg->spool_dir, sizeof(cfg->spool_dir), 1);
		get_uint(c, spool, "max_bytes", "$.spool.max_bytes", 65536, UINT64_MAX / 2,
		         &cfg->spool_max_bytes);
		get_bool(c, spool, "journal", "$.spool.journal", &cfg->spool_journal);
		get_uint(c, spool, "min_free_bytes", "$.spool.min_free_bytes", 0, UINT64_MAX / 2,
		         &cfg->spool_min_free_bytes);
		get_uint(c, spool, "sync_interval_ms", "$.spool.sync_interval_ms", 0, 3600000,
		         &cfg->spool_sync_interval_ms);
	}
	/* The journal holds the open batch's frames as read, in clear: with
	 * encrypt_to, nothing may be on flash in clear unless the user asks
	 * for the journal by name (the agent then warns at every start). */
	if (cfg->encrypt_to[0] && !(spool && cJSON_GetObjectItemCaseSensitive(spool, "journal")))
		cfg->spool_journal = 0;
	if (cfg->spool_max_bytes < 2 * cfg->batch_max_bytes)
		bad(c, "$.spool.max_bytes", "must hold at least two batches (2 x $.batch.max_bytes = %llu)",
		    (unsigned long long)(2 * cfg->batch_max_bytes));

	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "endpoints");
	if (!cJSON_IsArray(eps) || cJSON_GetArraySize(eps) == 0 ||
	    cJSON_GetArraySize(eps) > CNP_UPLOADER_MAX_ENDPOINTS) {
		bad(c, "$.endpoints", "expected an array of 1 to %d endpoints, got %s",
		    CNP_UPLOADER_MAX_ENDPOINTS,
		    cJSON_IsArray(eps) ? "a wrong number" : cnp_json_type_name(eps));
	} else {
		const cJSON *e;
		cJSON_ArrayForEach(e, eps)
		{
			char p[32];
			snprintf(p, sizeof(p), "$.endpoints[%u]", cfg->n_endpoints);
			parse_endpoint(c, e, p, &cfg->endpoints[cfg->n_endpoints++]);
		}
	}
	/* Multipart journals (s3://) live beside the batches they belong to. */
	for (unsigned i = 0; i < cfg->n_endpoints; i++)
		memcpy(cfg->endpoints[i].journal_dir, cfg->spool_dir, sizeof(cfg->spool_dir));

	const cJSON *upload = object_at(c, root, "upload", "$.upload", 0);
	if (upload) {
		static const char *const uk[] = {"backoff_base_ms", "backoff_cap_ms",
		                                 "connect_timeout_ms", "stall_timeout_ms", "policy",
		                                 "max_bytes_per_s", NULL};
		check_keys(c, upload, "$.upload", uk);
		get_uint(c, upload, "backoff_base_ms", "$.upload.backoff_base_ms", 1, 3600000,
		         &cfg->upload.backoff_base_ms);
		get_uint(c, upload, "backoff_cap_ms", "$.upload.backoff_cap_ms", 1, 86400000,
		         &cfg->upload.backoff_cap_ms);
		if (cfg->upload.backoff_cap_ms < cfg->upload.backoff_base_ms)
			bad(c, "$.upload.backoff_cap_ms", "must not be below backoff_base_ms");
		get_uint(c, upload, "connect_timeout_ms", "$.upload.connect_timeout_ms", 100,
		         600000, &cfg->upload.connect_timeout_ms);
		get_uint(c, upload, "stall_timeout_ms", "$.upload.stall_timeout_ms", 1000,
		         600000, &cfg->upload.stall_timeout_ms);
		get_uint(c, upload, "max_bytes_per_s", "$.upload.max_bytes_per_s", 100,
		         1000000000, &cfg->upload.max_bytes_per_s);
		char policy[16] = "";
		get_string(c, upload, "policy", "$.upload.policy", policy, sizeof(policy), 0);
		if (policy[0] && strcmp(policy, "failover") && strcmp(policy, "mirror"))
			bad(c, "$.upload.policy", "expected \"failover\" or \"mirror\", got \"%s\"",
			    policy);
		cfg->upload.mirror = strcmp(policy, "mirror") == 0;
	}
	for (unsigned i = 0; i < cfg->n_endpoints; i++) {
		cfg->endpoints[i].connect_timeout_ms = (long)cfg->upload.connect_timeout_ms;
		cfg->endpoints[i].stall_timeout_ms = (long)cfg->upload.stall_timeout_ms;
		cfg->endpoints[i].max_bytes_per_s = cfg->upload.max_bytes_per_s;
	}

	const cJSON *ops = object_at(c, root, "operations", "$.operations", 0);
	if (ops) {
		static const char *const ok[] = {"status_file", "status_interval_ms",
		                                 "summary_interval_s", NULL};
		check_keys(c, ops, "$.operations", ok);
		get_path(c, ops, "status_file", "$.operations.status_file", cfg->status_file,
		         sizeof(cfg->status_file), 0);
		get_uint(c, ops, "status_interval_ms", "$.operations.status_interval_ms", 0,
		         3600000, &cfg->status_interval_ms);
		if (cfg->status_interval_ms > 0 && cfg->status_interval_ms < 100)
			bad(c, "$.operations.status_interval_ms", "expected 0 (off) or at least 100");
		get_uint(c, ops, "summary_interval_s", "$.operations.summary_interval_s", 0,
		         86400, &cfg->summary_interval_s);
	}
	return c->errors ? CNP_ERR_CONFIG : CNP_OK;
}

static void defaults(struct cnp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->capture_mode, "raw");
	cfg->batch_max_bytes = CNP_DEFAULT_BATCH_MAX_BYTES;
	cfg->batch_max_age_ms = CNP_DEFAULT_BATCH_MAX_AGE_MS;
	cfg->zlib_level = CNP_DEFAULT_ZLIB_LEVEL;
	cfg->spool_max_bytes = CNP_DEFAULT_SPOOL_MAX_BYTES;
	cfg->spool_journal = 1;
	cfg->spool_sync_interval_ms = CNP_DEFAULT_SPOOL_SYNC_INTERVAL_MS;
	cfg->upload.backoff_base_ms = CNP_DEFAULT_BACKOFF_BASE_MS;
	cfg->upload.backoff_cap_ms = CNP_DEFAULT_BACKOFF_CAP_MS;
	cfg->status_interval_ms = CNP_DEFAULT_STATUS_INTERVAL_MS;
	cfg->summary_interval_s = CNP_DEFAULT_SUMMARY_INTERVAL_S;
}

int cnp_config_parse(const char *text, size_t len, const char *origin,
                     const char *base_dir, struct cnp_config *cfg)
{
	struct ctx c = {.origin = origin, .base_dir = base_dir, .errors = 0};
	defaults(cfg);
	const char *end = NULL;
	cnp_json_clear_alloc_failure();
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!root) {
		if (cnp_json_alloc_failed())
			return CNP_ERR_NOMEM;
		if (!end || end < text || end > text + len)
			end = text + len;
		unsigned line = 1, col = 1;
		for (const char *p = text; p < end; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		/* cJSON stops on the last byte of a file cut short: nothing but
		 * white space from there on means the text ended too soon. */
		size_t rest = (size_t)(text + len - end), blank = 0;
		/* Within len: the text need not be NUL-terminated. */
		while (blank < rest && strchr(" \t\r\n", end[blank]) && end[blank])
			blank++;
		int at_eof = blank == rest;
		cnp_error("%s: line %u, column %u: invalid JSON%s", origin, line, col,
		          at_eof ? " (unexpected end of file)" : "");
		return CNP_ERR_CONFIG;
	}
	int rc = parse_root(&c, root, cfg);
	cJSON_Delete(root);
	return rc;
}

int cnp_config_load(const char *path, struct cnp_config *cfg)
{
	uint8_t *text = NULL;
	size_t len = 0;
	int rc = cnp_fs_read_file(path, CNP_CONFIG_MAX_BYTES, &text, &len);
	if (rc != CNP_OK) {
		if (rc == CNP_ERR_NOMEM)
			return rc;
		cnp_error("%s: cannot read the configuration: %s", path,
		          rc == CNP_ERR_TOOBIG ? "larger than 1 MiB" : cnp_fs_last_error());
		return CNP_ERR_CONFIG;
	}
	char dir[CNP_PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (slash) {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			n = sizeof(dir) - 1;
		memcpy(dir, path, n ? n : 1);
		dir[n ? n : 1] = 0;
	} else {
		strcpy(dir, ".");
	}
	rc = cnp_config_parse((const char *)text, len, path, dir, cfg);
	cnp_free(text);
	return rc;
}
