/* The configuration parser: a full file, defaults, path resolution, and
 * every kind of mistake a person makes in a config file, with the message
 * that must name where the mistake is. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/config.h"
#include "firmware/error.h"
#include "firmware/json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cnp_config cfg; /* ~100 KiB: keep it off the stack */

/* ---- stderr capture: the log writes to fd 2 ---------------------------- */

static char captured[32768];
static int saved_stderr = -1;
static char capture_path[512];

static void capture_begin(void)
{
	snprintf(capture_path, sizeof(capture_path), "%s/stderr.txt", check_tmpdir());
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved_stderr < 0 || fd < 0) {
		perror("capture_begin");
		exit(1);
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Restores stderr; returns what was written meanwhile (NUL-terminated). */
static const char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	captured[0] = 0;
	FILE *f = fopen(capture_path, "rb");
	if (f) {
		size_t n = fread(captured, 1, sizeof(captured) - 1, f);
		captured[n] = 0;
		fclose(f);
	}
	return captured;
}

/* Parses `text` as "test.json" in "/base" with the log captured. */
static int parse_logged(const char *text, const char **log)
{
	capture_begin();
	int rc = cnp_config_parse(text, strlen(text), "test.json", "/base", &cfg);
	const char *l = capture_end();
	if (log)
		*log = l;
	return rc;
}

/* ---- composing configurations from parts -------------------------------- */

/* Each part is one or more "key": value members; NULL: the default part,
 * "": left out. */
struct parts {
	const char *vehicle, *sources, *batch, *spool, *endpoints, *extra;
};

#define P_VEHICLE "\"vehicle_id\": \"car-1\""
#define P_SOURCES "\"sources\": [{\"type\": \"candump\", \"path\": \"a.log\"}]"
#define P_SPOOL "\"spool\": {\"dir\": \"spool\"}"
#define P_ENDPOINTS "\"endpoints\": [{\"url\": \"https://ingest.example.com/c\"}]"

static const char *compose(const struct parts *p)
{
	static char text[8192];
	const char *list[] = {
		p->vehicle ? p->vehicle : P_VEHICLE,
		p->sources ? p->sources : P_SOURCES,
		p->batch ? p->batch : "",
		p->spool ? p->spool : P_SPOOL,
		p->endpoints ? p->endpoints : P_ENDPOINTS,
		p->extra ? p->extra : "",
	};
	size_t n = (size_t)snprintf(text, sizeof(text), "{\n");
	int first = 1;
	for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++) {
		if (!list[i][0])
			continue;
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s  %s", first ? "" : ",\n",
		                      list[i]);
		first = 0;
	}
	snprintf(text + n, sizeof(text) - n, "\n}\n");
	return text;
}

/* ---- a full configuration ------------------------------------------------ */

static const char full_config[] =
	"{\n"
	"  \"vehicle_id\": \"kona-ev_01.test\",\n"
	"  \"log_level\": \"debug\",\n"
	"  \"sources\": [\n"
	"    {\"type\": \"candump\", \"path\": \"logs/a.log\", \"pace\": \"recorded\"},\n"
	"    {\"type\": \"candump\", \"path\": \"/abs/b.log\", \"pace\": 2.5},\n"
	"    {\"type\": \"candump\", \"path\": \"c.log\", \"pace\": \"max\"}\n"
	"  ],\n"
	"  \"capture\": {\"mode\": \"raw\"},\n"
	"  \"batch\": {\"max_bytes\": 65536, \"max_age_ms\": 2000, \"zlib_level\": 9},\n"
	"  \"spool\": {\"dir\": \"var/spool\", \"max_bytes\": 1048576},\n"
	"  \"endpoints\": [\n"
	"    {\"url\": \"https://ingest.example.com/canopy\", \"ca_file\": \"certs/ca.pem\"},\n"
	"    {\"url\": \"file:///var/lib/canopy/out\"},\n"
	"    {\"url\": \"http://localhost:8080/x\", \"allow_insecure\": true,\n"
	"     \"ca_file\": \"/etc/ssl/ca.pem\"}\n"
	"  ],\n"
	"  \"upload\": {\"backoff_base_ms\": 250, \"backoff_cap_ms\": 30000,\n"
	"             \"connect_timeout_ms\": 4000, \"stall_timeout_ms\": 7000,\n"
	"             \"max_bytes_per_s\": 8000}\n"
	"}\n";

static void test_full(void)
{
	const char *log;
	CHECK_EQ(parse_logged(full_config, &log), CNP_OK);
	CHECK_STR(cfg.vehicle_id, "kona-ev_01.test");
	CHECK_STR(cfg.log_level, "debug");
	CHECK_EQ(cfg.n_sources, 3);
	CHECK_STR(cfg.sources[0].type, "candump");
	CHECK_STR(cfg.sources[0].path, "/base/logs/a.log");
	CHECK_EQ(cfg.sources[0].pace, CNP_PACE_RECORDED);
	CHECK(cfg.sources[0].speed == 1.0);
	CHECK_STR(cfg.sources[1].path, "/abs/b.log");
	CHECK_EQ(cfg.sources[1].pace, CNP_PACE_RECORDED);
	CHECK(cfg.sources[1].speed == 2.5);
	CHECK_STR(cfg.sources[2].path, "/base/c.log");
	CHECK_EQ(cfg.sources[2].pace, CNP_PACE_MAX);
	CHECK_STR(cfg.capture_mode, "raw");
	CHECK_EQ(cfg.batch_max_bytes, 65536);
	CHECK_EQ(cfg.batch_max_age_ms, 2000);
	CHECK_EQ(cfg.zlib_level, 9);
	CHECK_STR(cfg.spool_dir, "/base/var/spool");
	CHECK_EQ(cfg.spool_max_bytes, 1048576);
	CHECK_EQ(cfg.n_endpoints, 3);
	CHECK_STR(cfg.endpoints[0].url, "https://ingest.example.com/canopy");
	CHECK_STR(cfg.endpoints[0].ca_file, "/base/certs/ca.pem");
	CHECK_EQ(cfg.endpoints[0].allow_insecure, 0);
	CHECK_STR(cfg.endpoints[1].url, "file:///var/lib/canopy/out");
	CHECK_STR(cfg.endpoints[1].ca_file, "");
	CHECK_STR(cfg.endpoints[2].url, "http://localhost:8080/x");
	CHECK_EQ(cfg.endpoints[2].allow_insecure, 1);
	CHECK_STR(cfg.endpoints[2].ca_file, "/etc/ssl/ca.pem");
	CHECK_EQ(cfg.upload.backoff_base_ms, 250);
	CHECK_EQ(cfg.upload.backoff_cap_ms, 30000);
	CHECK_EQ(cfg.upload.mirror, 0); /* failover unless asked */
	/* The HTTP timeouts reach every endpoint. */
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(cfg.endpoints[i].connect_timeout_ms, 4000);
		CHECK_EQ(cfg.endpoints[i].stall_timeout_ms, 7000);
		CHECK_EQ(cfg.endpoints[i].max_bytes_per_s, 8000);
	}
	/* Valid, but plain http is worth a warning; no error lines. */
	CHECK_CONTAINS(log, "allow_insecure");
	CHECK(strstr(log, "error:") == NULL);
}

static void test_defaults(void)
{
	struct parts p = {0};
	const char *log;
	/* Dirty the struct first: parse must set every default itself. */
	memset(&cfg, 0x5A, sizeof(cfg));
	CHECK_EQ(parse_logged(compose(&p), &log), CNP_OK);
	CHECK_STR(cfg.vehicle_id, "car-1");
	CHECK_STR(cfg.log_level, "");
	CHECK_EQ(cfg.n_sources, 1);
	CHECK_STR(cfg.sources[0].path, "/base/a.log");
	CHECK_EQ(cfg.sources[0].pace, CNP_PACE_MAX);
	CHECK(cfg.sources[0].speed == 1.0);
	CHECK_STR(cfg.capture_mode, "raw");
	CHECK_EQ(cfg.batch_max_bytes, CNP_DEFAULT_BATCH_MAX_BYTES);
	CHECK_EQ(cfg.batch_max_age_ms, CNP_DEFAULT_BATCH_MAX_AGE_MS);
	CHECK_EQ(cfg.zlib_level, CNP_DEFAULT_ZLIB_LEVEL);
	CHECK_STR(cfg.spool_dir, "/base/spool");
	CHECK_EQ(cfg.spool_max_bytes, CNP_DEFAULT_SPOOL_MAX_BYTES);
	CHECK_EQ(cfg.n_endpoints, 1);
	CHECK_STR(cfg.endpoints[0].ca_file, "");
	CHECK_EQ(cfg.endpoints[0].allow_insecure, 0);
	CHECK_EQ(cfg.upload.backoff_base_ms, CNP_DEFAULT_BACKOFF_BASE_MS);
	CHECK_EQ(cfg.upload.backoff_cap_ms, CNP_DEFAULT_BACKOFF_CAP_MS);
	CHECK_STR(log, "");

	/* Partial objects: the keys given change, the others keep defaults. */
	p.batch = "\"batch\": {\"zlib_level\": 1}";
	p.spool = "\"spool\": {\"dir\": \"/abs/spool\"}";
	p.extra = "\"upload\": {\"backoff_cap_ms\": 90000}";
	CHECK_EQ(parse_logged(compose(&p), NULL), CNP_OK);
	CHECK_EQ(cfg.zlib_level, 1);
	CHECK_EQ(cfg.batch_max_bytes, CNP_DEFAULT_BATCH_MAX_BYTES);
	CHECK_EQ(cfg.batch_max_age_ms, CNP_DEFAULT_BATCH_MAX_AGE_MS);
	CHECK_STR(cfg.spool_dir, "/abs/spool");
	CHECK_EQ(cfg.upload.backoff_base_ms, CNP_DEFAULT_BACKOFF_BASE_MS);
	CHECK_EQ(cfg.upload.backoff_cap_ms, 90000);

	/* Without a base directory a relative path is taken as written
	 * (relative to the working directory). */
	const char *t = compose(&(struct parts){0});
	CHECK_EQ(cnp_config_parse(t, strlen(t), "test.json", NULL, &cfg), CNP_OK);
	CHECK(strcmp(cfg.spool_dir, "spool") == 0 || strcmp(cfg.spool_dir, "./spool") == 0);

	/* Only `len` bytes are parsed: what follows is not part of the text. */
	static char buf[sizeof(full_config) + 32];
	memcpy(buf, full_config, sizeof(full_config) - 1);
	memcpy(buf + sizeof(full_config) - 1, "garbage{{{", 11);
	capture_begin();
	int rc = cnp_config_parse(buf, sizeof(full_config) - 1, "test.json", "/base", &cfg);
	capture_end();
	CHECK_EQ(rc, CNP_OK);
	CHECK_EQ(cfg.n_endpoints, 3);
}

/* ---- the table of mistakes ---------------------------------------------- */

struct bad_case {
	const char *what;
	struct parts p;
	int rc;              /* expected return */
	const char *needle;  /* must appear in the log */
	const char *needle2; /* and this too (may be NULL) */
};

#define SRC(body) "\"sources\": [{\"type\": \"candump\", \"path\": \"a.log\"" body "}]"
#define EP(body) "\"endpoints\": [{" body "}]"

static const struct bad_case bad_cases[] = {
	{"missing vehicle_id", {.vehicle = ""}, CNP_ERR_CONFIG, "$.vehicle_id", "missing"},
	{"vehicle_id a number", {.vehicle = "\"vehicle_id\": 42"}, CNP_ERR_CONFIG,
	 "$.vehicle_id", "expected a string"},
	{"vehicle_id empty", {.vehicle = "\"vehicle_id\": \"\""}, CNP_ERR_CONFIG,
	 "$.vehicle_id", NULL},
	{"vehicle_id with '/'", {.vehicle = "\"vehicle_id\": \"car/1\""}, CNP_ERR_CONFIG,
	 "$.vehicle_id", "car/1"},
	{"vehicle_id with ' '", {.vehicle = "\"vehicle_id\": \"car 1\""}, CNP_ERR_CONFIG,
	 "$.vehicle_id", NULL},
	{"vehicle_id '..'", {.vehicle = "\"vehicle_id\": \"..\""}, CNP_ERR_CONFIG,
	 "$.vehicle_id", NULL},
	{"vehicle_id too long",
	 {.vehicle = "\"vehicle_id\": \"0123456789012345678901234567890123456789012345678901234567890123\""},
	 CNP_ERR_CONFIG, "$.vehicle_id", NULL},
	{"log_level unknown", {.extra = "\"log_level\": \"verbose\""}, CNP_ERR_CONFIG,
	 "$.log_level", "verbose"},
	{"sources missing", {.sources = ""}, CNP_ERR_CONFIG, "$.sources", NULL},
	{"sources empty", {.sources = "\"sources\": []"}, CNP_ERR_CONFIG, "$.sources", NULL},
	{"sources an object", {.sources = "\"sources\": {}"}, CNP_ERR_CONFIG, "$.sources",
	 "an object"},
	{"source not an object", {.sources = "\"sources\": [\"a.log\"]"}, CNP_ERR_CONFIG,
	 "$.sources[0]", NULL},
	{"unknown source type",
	 {.sources = "\"sources\": [{\"type\": \"flexray\", \"path\": \"can0\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].type", "flexray"},
	{"unknown simulator profile",
	 {.sources = "\"sources\": [{\"type\": \"sim\", \"profile\": \"truck\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].profile", "unknown simulator profile \"truck\""},
	{"simulator profile missing", {.sources = "\"sources\": [{\"type\": \"sim\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].profile", NULL},
	{"simulator duration negative",
	 {.sources = "\"sources\": [{\"type\": \"sim\", \"profile\": \"ev\", \"duration_s\": -1}]"},
	 CNP_ERR_CONFIG, "$.sources[0].duration_s", NULL},
	{"simulator valid",
	 {.sources = "\"sources\": [{\"type\": \"sim\", \"profile\": \"ice\", \"seed\": 7, \"duration_s\": 60}]"},
	 CNP_OK, NULL, NULL},
	{"simulator duration not a number",
	 {.sources = "\"sources\": [{\"type\": \"sim\", \"profile\": \"ev\", \"duration_s\": \"1h\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].duration_s", "got a string"},
	{"candump duration too long",
	 {.sources = "\"sources\": [{\"type\": \"candump\", \"path\": \"a.log\", \"duration_s\": 1e8}]"},
	 CNP_ERR_CONFIG, "$.sources[0].duration_s", "out of range"},
	{"candump duration valid",
	 {.sources = "\"sources\": [{\"type\": \"candump\", \"path\": \"a.log\", \"duration_s\": 0.5}]"},
	 CNP_OK, NULL, NULL},
	{"socketcan duration negative",
	 {.sources = "\"sources\": [{\"type\": \"socketcan\", \"interfaces\": [\"can0\"], \"duration_s\": -2}]"},
	 CNP_ERR_CONFIG, "$.sources[0].duration_s", NULL},
	{"socketcan duration valid",
	 {.sources = "\"sources\": [{\"type\": \"socketcan\", \"interfaces\": [\"can0\"], \"duration_s\": 30}]"},
	 CNP_OK, NULL, NULL},
	{"gnss port out of range",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"gpsd\": \"127.0.0.1:70000\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].gpsd", "port from 1 to 65535"},
	{"gnss port not a number",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"gpsd\": \"localhost:gps\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].gpsd", "\"gps\""},
	{"gnss empty host",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"gpsd\": \":2947\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].gpsd", "HOST:PORT"},
	{"gnss IPv6 without brackets",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"gpsd\": \"::1:2947\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].gpsd", "brackets"},
	{"gnss gpsd not a string",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"gpsd\": 2947}]"},
	 CNP_ERR_CONFIG, "$.sources[0].gpsd", NULL},
	{"gnss reopen_ms too small",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"reopen_ms\": 1}]"},
	 CNP_ERR_CONFIG, "$.sources[0].reopen_ms", NULL},
	{"gnss duration negative",
	 {.sources = "\"sources\": [{\"type\": \"gnss\", \"duration_s\": -1}]"},
	 CNP_ERR_CONFIG, "$.sources[0].duration_s", NULL},
	{"socketcan without interfaces", {.sources = "\"sources\": [{\"type\": \"socketcan\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].interfaces", NULL},
	{"socketcan interface name too long",
	 {.sources = "\"sources\": [{\"type\": \"socketcan\", \"interfaces\": [\"a-very-long-ifname0\"]}]"},
	 CNP_ERR_CONFIG, "$.sources[0].interfaces[0]", NULL},
	{"socketcan 11-bit filter above 7FF",
	 {.sources = "\"sources\": [{\"type\": \"socketcan\", \"interfaces\": [\"can0\"], \"filters\": [{\"id\": \"0x800\"}]}]"},
	 CNP_ERR_CONFIG, "$.sources[0].filters[0].id", "extended"},
	{"socketcan filter id not hex",
	 {.sources = "\"sources\": [{\"type\": \"socketcan\", \"interfaces\": [\"can0\"], \"filters\": [{\"id\": \"0xZZ\"}]}]"},
	 CNP_ERR_CONFIG, "$.sources[0].filters[0].id", NULL},
	{"socketcan valid with filters",
	 {.sources = "\"sources\": [{\"type\": \"socketcan\", \"interfaces\": [\"can0\", \"can1\"], \"filters\": [{\"id\": 291}, {\"id\": \"0x18FEF100\", \"mask\": \"0x1FFFFF00\", \"extended\": true}]}]"},
	 CNP_OK, NULL, NULL},
	{"source type missing", {.sources = "\"sources\": [{\"path\": \"a.log\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].type", NULL},
	{"source path missing", {.sources = "\"sources\": [{\"type\": \"candump\"}]"},
	 CNP_ERR_CONFIG, "$.sources[0].path", NULL},
	{"source path a number",
	 {.sources = "\"sources\": [{\"type\": \"candump\", \"path\": 7}]"}, CNP_ERR_CONFIG,
	 "$.sources[0].path", "a number"},
	{"pace \"fast\"", {.sources = SRC(", \"pace\": \"fast\"")}, CNP_ERR_CONFIG,
	 "$.sources[0].pace", NULL},
	{"pace -1", {.sources = SRC(", \"pace\": -1")}, CNP_ERR_CONFIG, "$.sources[0].pace",
	 NULL},
	{"pace 0", {.sources = SRC(", \"pace\": 0")}, CNP_ERR_CONFIG, "$.sources[0].pace",
	 NULL},
	{"pace 1001", {.sources = SRC(", \"pace\": 1001")}, CNP_ERR_CONFIG,
	 "$.sources[0].pace", NULL},
	{"pace true", {.sources = SRC(", \"pace\": true")}, CNP_ERR_CONFIG,
	 "$.sources[0].pace", NULL},
	{"bad pace in the second source",
	 {.sources = "\"sources\": [{\"type\": \"candump\", \"path\": \"a.log\"},"
	             " {\"type\": \"candump\", \"path\": \"b.log\", \"pace\": \"fast\"}]"},
	 CNP_ERR_CONFIG, "$.sources[1].pace", NULL},
	{"capture mode unknown", {.extra = "\"capture\": {\"mode\": \"decoded\"}"},
	 CNP_ERR_CONFIG, "$.capture.mode", "decoded"},
	{"batch not an object", {.batch = "\"batch\": 5"}, CNP_ERR_CONFIG, "$.batch",
	 "expected an object"},
	{"batch.max_bytes a string", {.batch = "\"batch\": {\"max_bytes\": \"64k\"}"},
	 CNP_ERR_CONFIG, "$.batch.max_bytes", "a string"},
	{"batch.max_bytes 10", {.batch = "\"batch\": {\"max_bytes\": 10}"}, CNP_ERR_CONFIG,
	 "$.batch.max_bytes", "4096"},
	{"batch.max_bytes fractional", {.batch = "\"batch\": {\"max_bytes\": 65536.5}"},
	 CNP_ERR_CONFIG, "$.batch.max_bytes", NULL},
	{"batch.max_bytes negative", {.batch = "\"batch\": {\"max_bytes\": -65536}"},
	 CNP_ERR_CONFIG, "$.batch.max_bytes", NULL},
	{"batch.max_bytes above 64 MiB", {.batch = "\"batch\": {\"max_bytes\": 67108865}"},
	 CNP_ERR_CONFIG, "$.batch.max_bytes", NULL},
	{"batch.max_age_ms 5", {.batch = "\"batch\": {\"max_age_ms\": 5}"}, CNP_ERR_CONFIG,
	 "$.batch.max_age_ms", NULL},
	{"zlib_level 12", {.batch = "\"batch\": {\"zlib_level\": 12}"}, CNP_ERR_CONFIG,
	 "$.batch.zlib_level", "12"},
	{"zlib_level 0", {.batch = "\"batch\": {\"zlib_level\": 0}"}, CNP_ERR_CONFIG,
	 "$.batch.zlib_level", NULL},
	{"zlib_level null", {.batch = "\"batch\": {\"zlib_level\": null}"}, CNP_ERR_CONFIG,
	 "$.batch.zlib_level", "null"},
	{"spool missing", {.spool = ""}, CNP_ERR_CONFIG, "$.spool", NULL},
	{"spool.dir missing", {.spool = "\"spool\": {\"max_bytes\": 1048576}"},
	 CNP_ERR_CONFIG, "$.spool.dir", NULL},
	{"spool.max_bytes below two batches",
	 {.batch = "\"batch\": {\"max_bytes\": 65536}",
	  .spool = "\"spool\": {\"dir\": \"s\", \"max_bytes\": 131071}"},
	 CNP_ERR_CONFIG, "$.spool.max_bytes", "two batches"},
	{"spool.max_bytes below two default batches",
	 {.spool = "\"spool\": {\"dir\": \"s\", \"max_bytes\": 300000}"}, CNP_ERR_CONFIG,
	 "$.spool.max_bytes", NULL},
	{"spool.max_bytes a string", {.spool = "\"spool\": {\"dir\": \"s\", \"max_bytes\": \"1G\"}"},
	 CNP_ERR_CONFIG, "$.spool.max_bytes", NULL},
	{"endpoints missing", {.endpoints = ""}, CNP_ERR_CONFIG, "$.endpoints", NULL},
	{"endpoints empty", {.endpoints = "\"endpoints\": []"}, CNP_ERR_CONFIG, "$.endpoints",
	 NULL},
	{"nine endpoints",
	 {.endpoints = "\"endpoints\": [{\"url\": \"file:///a\"}, {\"url\": \"file:///a\"},"
	               "{\"url\": \"file:///a\"}, {\"url\": \"file:///a\"}, {\"url\": \"file:///a\"},"
	               "{\"url\": \"file:///a\"}, {\"url\": \"file:///a\"}, {\"url\": \"file:///a\"},"
	               "{\"url\": \"file:///a\"}]"},
	 CNP_ERR_CONFIG, "$.endpoints", NULL},
	{"endpoint url missing", {.endpoints = EP("\"ca_file\": \"ca.pem\"")}, CNP_ERR_CONFIG,
	 "$.endpoints[0].url", NULL},
	{"endpoint ftp://", {.endpoints = EP("\"url\": \"ftp://example.com/up\"")},
	 CNP_ERR_CONFIG, "$.endpoints[0].url", "ftp://example.com/up"},
	{"endpoint file:// relative", {.endpoints = EP("\"url\": \"file://rel/dir\"")},
	 CNP_ERR_CONFIG, "$.endpoints[0].url", NULL},
	{"endpoint http:// without allow_insecure",
	 {.endpoints = EP("\"url\": \"http://example.com/up\"")}, CNP_ERR_CONFIG,
	 "$.endpoints[0].url", "allow_insecure"},
	{"endpoint http:// with allow_insecure false",
	 {.endpoints = EP("\"url\": \"http://example.com/up\", \"allow_insecure\": false")},
	 CNP_ERR_CONFIG, "$.endpoints[0].url", NULL},
	{"allow_insecure a string",
	 {.endpoints = EP("\"url\": \"https://example.com/up\", \"allow_insecure\": \"yes\"")},
	 CNP_ERR_CONFIG, "$.endpoints[0].allow_insecure", NULL},
	{"bad second endpoint",
	 {.endpoints = "\"endpoints\": [{\"url\": \"file:///a\"}, {\"url\": \"gopher://x\"}]"},
	 CNP_ERR_CONFIG, "$.endpoints[1].url", NULL},
	{"backoff cap below base",
	 {.extra = "\"upload\": {\"backoff_base_ms\": 5000, \"backoff_cap_ms\": 1000}"},
	 CNP_ERR_CONFIG, "$.upload.backoff_cap_ms", NULL},
	{"backoff_base_ms 0", {.extra = "\"upload\": {\"backoff_base_ms\": 0}"},
	 CNP_ERR_CONFIG, "$.upload.backoff_base_ms", NULL},
	{"unknown upload policy", {.extra = "\"upload\": {\"policy\": \"broadcast\"}"},
	 CNP_ERR_CONFIG, "$.upload.policy", "\"failover\" or \"mirror\""},
	{"stall_timeout_ms below a second", {.extra = "\"upload\": {\"stall_timeout_ms\": 500}"},
	 CNP_ERR_CONFIG, "$.upload.stall_timeout_ms", NULL},
	{"max_bytes_per_s of zero", {.extra = "\"upload\": {\"max_bytes_per_s\": 0}"},
	 CNP_ERR_CONFIG, "$.upload.max_bytes_per_s", NULL},
	{"max_bytes_per_s not a number", {.extra = "\"upload\": {\"max_bytes_per_s\": \"64k\"}"},
	 CNP_ERR_CONFIG, "$.upload.max_bytes_per_s", NULL},
	{"connect_timeout_ms a string", {.extra = "\"upload\": {\"connect_timeout_ms\": \"5s\"}"},
	 CNP_ERR_CONFIG, "$.upload.connect_timeout_ms", NULL},
	{"duplicate root key",
	 {.extra = "\"vehicle_id\": \"car-2\""}, CNP_ERR_CONFIG, "vehicle_id", "twice"},
	{"duplicate nested key",
	 {.batch = "\"batch\": {\"zlib_level\": 3, \"zlib_level\": 4}"}, CNP_ERR_CONFIG,
	 "$.batch", "twice"},
	/* Unknown keys: a warning that names them, and the file still loads. */
	{"unknown root key", {.extra = "\"colour\": \"red\""}, CNP_OK, "$.colour",
	 "unknown key"},
	{"unknown nested key", {.batch = "\"batch\": {\"max_bytes\": 65536, \"level\": 3}"},
	 CNP_OK, "$.batch.level", "unknown key"},
	{"unknown source key", {.sources = SRC(", \"bitrate\": 500000")}, CNP_OK,
	 "$.sources[0].bitrate", "unknown key"},
	{"unknown endpoint key",
	 {.endpoints = EP("\"url\": \"https://example.com/up\", \"token\": \"x\"")}, CNP_OK,
	 "$.endpoints[0].token", "unknown key"},
	/* Limits that are just valid. */
	{"http:// with allow_insecure",
	 {.endpoints = EP("\"url\": \"http://example.com/up\", \"allow_insecure\": true")},
	 CNP_OK, "allow_insecure", NULL},
	{"pace 1000", {.sources = SRC(", \"pace\": 1000")}, CNP_OK, NULL, NULL},
	{"spool exactly two batches",
	 {.batch = "\"batch\": {\"max_bytes\": 65536}",
	  .spool = "\"spool\": {\"dir\": \"s\", \"max_bytes\": 131072}"},
	 CNP_OK, NULL, NULL},
	{"batch.max_bytes 4096, zlib 1..9 ends",
	 {.batch = "\"batch\": {\"max_bytes\": 4096, \"zlib_level\": 1}"}, CNP_OK, NULL, NULL},
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *log;
		int rc = parse_logged(compose(&c->p), &log);
		if (rc != c->rc)
			fprintf(stderr, "case \"%s\": rc %d, expected %d; log:\n%s", c->what, rc,
			        c->rc, log);
		CHECK_EQ(rc, c->rc);
		if (c->needle)
			CHECK_CONTAINS(log, c->needle);
		if (c->needle2)
			CHECK_CONTAINS(log, c->needle2);
		/* Every message names the file it is about. */
		if (c->rc != CNP_OK || c->needle)
			CHECK_CONTAINS(log, "test.json");
		if (c->rc == CNP_OK)
			CHECK(strstr(log, "error:") == NULL);
		else
			CHECK_CONTAINS(log, "error:");
	}
}

static void test_ok_values_of_limits(void)
{
	struct parts p = {.sources = SRC(", \"pace\": 1000"),
	                  .batch = "\"batch\": {\"max_bytes\": 4096, \"max_age_ms\": 10, "
	                           "\"zlib_level\": 1}",
	                  .spool = "\"spool\": {\"dir\": \"s\", \"max_bytes\": 65536}"};
	CHECK_EQ(parse_logged(compose(&p), NULL), CNP_OK);
	CHECK_EQ(cfg.sources[0].pace, CNP_PACE_RECORDED);
	CHECK(cfg.sources[0].speed == 1000.0);
	CHECK_EQ(cfg.batch_max_bytes, 4096);
	CHECK_EQ(cfg.batch_max_age_ms, 10);
	CHECK_EQ(cfg.zlib_level, 1);
	CHECK_EQ(cfg.spool_max_bytes, 65536);
}

static void test_syntax(void)
{
	const char *log;
	/* The bad character is the ',' on line 3, column 15. */
	const char *t = "{\n  \"vehicle_id\": \"v1\",\n  \"sources\": [,]\n}\n";
	CHECK_EQ(parse_logged(t, &log), CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, "test.json");
	CHECK_CONTAINS(log, "line 3");
	CHECK_CONTAINS(log, "column 15");
	CHECK_CONTAINS(log, "invalid JSON");

	/* A missing comma between members, on line 2. */
	t = "{\"vehicle_id\": \"v1\"\n \"sources\": []}";
	CHECK_EQ(parse_logged(t, &log), CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, "line 2");

	/* A file cut short: the message says so. */
	t = "{\n  \"vehicle_id\": \"v1\",\n  \"sources\": [\n";
	CHECK_EQ(parse_logged(t, &log), CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, "invalid JSON");
	CHECK_CONTAINS(log, "unexpected end of file");

	/* Empty text, and a top level that is not an object. */
	CHECK_EQ(parse_logged("", &log), CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, "test.json");
	CHECK_EQ(parse_logged("[1, 2]", &log), CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, "$");
	CHECK_CONTAINS(log, "an array");
	CHECK_EQ(parse_logged("\"just a string\"", &log), CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, "a string");
}

static void test_nomem(void)
{
	/* Out of memory is not a configuration mistake: the documented
	 * CNP_ERR_NOMEM, whichever allocation fails. */
	const char *t = compose(&(struct parts){0});
	for (long n = 0; n < 3; n++) {
		capture_begin();
		cnp_alloc_fail_after(n);
		int rc = cnp_config_parse(t, strlen(t), "test.json", "/base", &cfg);
		cnp_alloc_fail_after(-1);
		const char *log = capture_end();
		if (rc != CNP_ERR_NOMEM)
			fprintf(stderr, "allocation %ld failing: rc %d; log:\n%s", n, rc, log);
		CHECK_EQ(rc, CNP_ERR_NOMEM);
	}
	/* And with memory back, the same text parses. */
	CHECK_EQ(cnp_config_parse(t, strlen(t), "test.json", "/base", &cfg), CNP_OK);
}

static void test_load(void)
{
	const char *log;
	char path[1024], dir[512];

	/* A missing file: CNP_ERR_CONFIG, and the message names the path. */
	snprintf(path, sizeof(path), "%s/no/such/canopy.json", check_tmpdir());
	capture_begin();
	int rc = cnp_config_load(path, &cfg);
	log = capture_end();
	CHECK_EQ(rc, CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, path);

	/* A directory is not a configuration file. */
	capture_begin();
	rc = cnp_config_load(check_tmpdir(), &cfg);
	log = capture_end();
	CHECK_EQ(rc, CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, check_tmpdir());

	/* A real file: relative paths resolve against its directory. */
	snprintf(dir, sizeof(dir), "%s/etc", check_tmpdir());
	CHECK_EQ(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/canopy.json", dir);
	const char *text = compose(&(struct parts){
		.spool = "\"spool\": {\"dir\": \"spool/x\"}",
		.endpoints = EP("\"url\": \"https://e.example/x\", \"ca_file\": \"/abs/ca.pem\"")});
	CHECK_EQ(check_write_file(path, text, strlen(text)), 0);
	CHECK_EQ(cnp_config_load(path, &cfg), CNP_OK);
	char want[1024];
	snprintf(want, sizeof(want), "%s/spool/x", dir);
	CHECK_STR(cfg.spool_dir, want);
	snprintf(want, sizeof(want), "%s/a.log", dir);
	CHECK_STR(cfg.sources[0].path, want);
	CHECK_STR(cfg.endpoints[0].ca_file, "/abs/ca.pem");

	/* Errors in a loaded file name the file by its path. */
	snprintf(path, sizeof(path), "%s/bad.json", dir);
	text = compose(&(struct parts){.batch = "\"batch\": {\"zlib_level\": 12}"});
	CHECK_EQ(check_write_file(path, text, strlen(text)), 0);
	capture_begin();
	rc = cnp_config_load(path, &cfg);
	log = capture_end();
	CHECK_EQ(rc, CNP_ERR_CONFIG);
	CHECK_CONTAINS(log, path);
	CHECK_CONTAINS(log, "$.batch.zlib_level");

	/* A file name without a directory: paths resolve against ".". */
	char cwd[1024];
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_EQ(chdir(dir), 0);
	CHECK_EQ(cnp_config_load("canopy.json", &cfg), CNP_OK);
	CHECK(strcmp(cfg.spool_dir, "./spool/x") == 0 || strcmp(cfg.spool_dir, "spool/x") == 0);
	CHECK_EQ(chdir(cwd), 0);

	/* Larger than 1 MiB: refused with a reason. */
	snprintf(path, sizeof(path), "%s/huge.json", dir);
	size_t big = CNP_CONFIG_MAX_BYTES + 1;
	char *huge = malloc(big);
	CHECK(huge != NULL);
	if (huge) {
		memset(huge, ' ', big);
		memcpy(huge, text, strlen(text));
		CHECK_EQ(check_write_file(path, huge, big), 0);
		free(huge);
		capture_begin();
		rc = cnp_config_load(path, &cfg);
		log = capture_end();
		CHECK_EQ(rc, CNP_ERR_CONFIG);
		CHECK_CONTAINS(log, path);
		CHECK_CONTAINS(log, "1 MiB");
	}
}

/* capture: modes, DBC files and schemes. */
static void test_capture(void)
{
	static const struct {
		const char *capture;
		int rc;
		const char *needle;
	} cases[] = {
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"car.dbc\"}],"
		 " \"schemes\": [{\"name\": \"a\", \"signals\": [{\"name\": \"S\"}]}],"
		 " \"vss_file\": \"vss.json\"}", CNP_OK, NULL},
		{"{\"mode\": \"decoded\"}", CNP_ERR_CONFIG,
		 "$.capture.mode: expected \"raw\", \"signals\" or \"raw+signals\""},
		{"{\"mode\": \"signals\"}", CNP_ERR_CONFIG,
		 "$.capture.dbc: mode \"signals\" needs at least one DBC file"},
		{"{\"mode\": \"signals\", \"dbc\": {}}", CNP_ERR_CONFIG, "$.capture.dbc: expected an array"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"path\": \"a.dbc\"}]}", CNP_ERR_CONFIG,
		 "$.capture.dbc[0].interface: required string is missing"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\"}]}", CNP_ERR_CONFIG,
		 "$.capture.dbc[0].path: required string is missing"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\"},"
		 " {\"interface\": \"can0\", \"path\": \"b\"}]}", CNP_ERR_CONFIG,
		 "$.capture.dbc[1]: a second DBC for interface \"can0\""},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\","
		 " \"strict\": 1}]}", CNP_ERR_CONFIG, "$.capture.dbc[0].strict: expected true or false"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\"}],"
		 " \"schemes\": {}}", CNP_ERR_CONFIG, "$.capture.schemes: expected an array"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\"}],"
		 " \"schemes\": [], \"schemes_file\": \"s.json\"}", CNP_ERR_CONFIG,
		 "$.capture.schemes_file: give \"schemes\" or \"schemes_file\", not both"},
		{"{\"mode\": \"raw\", \"schemes_file\": \"s.json\"}", CNP_ERR_CONFIG,
		 "$.capture.mode: schemes need mode"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\"}],"
		 " \"schemes_url\": \"https://x/s\"}", CNP_ERR_CONFIG,
		 "$.capture.schemes_key: schemes_url needs the public key"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\"}],"
		 " \"schemes_url\": \"http://x/s\", \"schemes_key\": \"k.pem\"}", CNP_ERR_CONFIG,
		 "$.capture.schemes_url: expected an https:// URL"},
		{"{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\"}],"
		 " \"schemes_url\": \"https://x/s\", \"schemes_key\": \"k.pem\","
		 " \"schemes_poll_ms\": 5}", CNP_ERR_CONFIG,
		 "$.capture.schemes_poll_ms: expected a whole number from 100"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char extra[1024];
		snprintf(extra, sizeof(extra), "\"capture\": %s", cases[i].capture);
		struct parts p = {.extra = extra};
		const char *log;
		int rc = parse_logged(compose(&p), &log);
		CHECK_EQ(rc, cases[i].rc);
		if (cases[i].needle)
			CHECK_CONTAINS(log, cases[i].needle);
		if (rc == CNP_OK) {
			CHECK_STR(cfg.capture_mode, "signals");
			CHECK_EQ(cfg.capture.n_dbc, 1);
			CHECK_STR(cfg.capture.dbc[0].path, "/base/car.dbc");
			CHECK_STR(cfg.capture.vss_file, "/base/vss.json");
			CHECK_STR(cfg.capture.schemes_json,
			          "[{\"name\":\"a\",\"signals\":[{\"name\":\"S\"}]}]");
			CHECK_STR(cfg.capture.schemes_origin, "test.json");
		}
	}
}

/* capture.dbc[].isotp and .j1939: transport reassembly, errors by path. */
static void test_transport_config(void)
{
#define DBC0 "{\"mode\": \"signals\", \"dbc\": [{\"interface\": \"can0\", \"path\": \"a\", "
	static const struct {
		const char *capture;
		const char *needle;
	} tp_cases[] = {
		{DBC0 "\"isotp\": []}]}", "$.capture.dbc[0].isotp: expected an object"},
		{DBC0 "\"isotp\": {}}]}", "$.capture.dbc[0].isotp.ids: expected an array of 1 to 16"},
		{DBC0 "\"isotp\": {\"ids\": []}}]}", "$.capture.dbc[0].isotp.ids: expected an array"},
		{DBC0 "\"isotp\": {\"ids\": [7]}}]}",
		 "$.capture.dbc[0].isotp.ids[0]: expected an object"},
		{DBC0 "\"isotp\": {\"ids\": [{\"last\": 7}]}}]}",
		 "$.capture.dbc[0].isotp.ids[0].id: required CAN id is missing"},
		{DBC0 "\"isotp\": {\"ids\": [{\"id\": \"0x7E8\"}, {\"id\": \"0xZZ\"}]}}]}",
		 "$.capture.dbc[0].isotp.ids[1].id: expected a CAN id"},
		{DBC0 "\"isotp\": {\"ids\": [{\"id\": \"0x7E8\", \"last\": \"0x7E0\"}]}}]}",
		 "$.capture.dbc[0].isotp.ids[0].last: 0x7E0 is below \"id\" 0x7E8"},
		{DBC0 "\"isotp\": {\"ids\": [{\"id\": \"0x18DAF100\"}]}}]}",
		 "$.capture.dbc[0].isotp.ids[0]: 0x18DAF100 does not fit 11 bits"},
		{DBC0 "\"isotp\": {\"ids\": [{\"id\": 1, \"last\": 4096}]}}]}",
		 "$.capture.dbc[0].isotp.ids[0].last: 0x1000 does not fit 11 bits"},
		{DBC0 "\"isotp\": {\"ids\": [{\"id\": 1}], \"length_prefix\": 1}}]}",
		 "$.capture.dbc[0].isotp.length_prefix: expected true or false"},
		{DBC0 "\"isotp\": {\"ids\": [{\"id\": 1, \"ext\": true}]}}]}",
		 "$.capture.dbc[0].isotp.ids[0].ext: unknown key"},
		{DBC0 "\"j1939\": \"yes\"}]}", "$.capture.dbc[0].j1939: expected true or false"},
	};
	for (size_t i = 0; i < sizeof(tp_cases) / sizeof(tp_cases[0]); i++) {
		char extra[1024];
		snprintf(extra, sizeof(extra), "\"capture\": %s", tp_cases[i].capture);
		struct parts p = {.extra = extra};
		const char *log;
		int rc = parse_logged(compose(&p), &log);
		if (strstr(tp_cases[i].needle, "unknown key") == NULL)
			CHECK_EQ(rc, CNP_ERR_CONFIG);
		CHECK_CONTAINS(log, tp_cases[i].needle);
	}
	struct parts p = {.extra = "\"capture\": " DBC0 "\"j1939\": true, \"isotp\": {\"ids\": ["
	                           "{\"id\": \"0x7BB\"}, {\"id\": 2024, \"last\": \"0x7EF\"},"
	                           " {\"id\": \"0x18DAF100\", \"last\": \"0x18DAF1FF\","
	                           " \"extended\": true}], \"length_prefix\": true}}]}"};
	CHECK_EQ(parse_logged(compose(&p), NULL), CNP_OK);
	const struct cnp_tp_config *t = &cfg.capture.dbc[0].transport;
	CHECK_EQ(t->j1939, 1);
	CHECK_EQ(t->isotp_length_prefix, 1);
	CHECK_EQ(t->n_isotp, 3);
	CHECK_EQ(t->isotp[0].first, 0x7BB);
	CHECK_EQ(t->isotp[0].last, 0x7BB);
	CHECK_EQ(t->isotp[1].first, 0x7E8);
	CHECK_EQ(t->isotp[1].last, 0x7EF);
	CHECK_EQ(t->isotp[2].extended, 1);
	CHECK_EQ(t->isotp[2].last, 0x18DAF1FF);
#undef DBC0
}

/* With encrypt_to, the frame journal (plaintext) is off unless asked for. */
static void test_encrypt_journal(void)
{
	struct parts p = {.extra = "\"encrypt_to\": \"r.pub.pem\""};
	CHECK_EQ(parse_logged(compose(&p), NULL), CNP_OK);
	CHECK_EQ(cfg.spool_journal, 0);
	p.spool = "\"spool\": {\"dir\": \"spool\", \"journal\": true}";
	CHECK_EQ(parse_logged(compose(&p), NULL), CNP_OK);
	CHECK_EQ(cfg.spool_journal, 1);
	p.extra = NULL;
	p.spool = NULL;
	CHECK_EQ(parse_logged(compose(&p), NULL), CNP_OK);
	CHECK_EQ(cfg.spool_journal, 1);
}

/* "gpsd": HOST:PORT, a bare host (port 2947), an IPv6 address in brackets. */
static void test_gnss(void)
{
	static const struct {
		const char *gpsd, *host, *port;
	} cases[] = {
		{NULL, "localhost", "2947"},
		{"\"gpsd.local\"", "gpsd.local", "2947"},
		{"\"127.0.0.1:29470\"", "127.0.0.1", "29470"},
		{"\"[::1]:2948\"", "::1", "2948"},
		{"\"[fe80::1]\"", "fe80::1", "2947"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char src[256];
		snprintf(src, sizeof(src),
		         "\"sources\": [{\"type\": \"gnss\"%s%s, \"duration_s\": 5}]",
		         cases[i].gpsd ? ", \"gpsd\": " : "", cases[i].gpsd ? cases[i].gpsd : "");
		const char *t = compose(&(struct parts){.sources = src});
		CHECK_EQ(cnp_config_parse(t, strlen(t), "test.json", NULL, &cfg), CNP_OK);
		CHECK_STR(cfg.sources[0].type, "gnss");
		CHECK_STR(cfg.sources[0].gpsd_host, cases[i].host);
		CHECK_STR(cfg.sources[0].gpsd_port, cases[i].port);
		CHECK_EQ(cfg.sources[0].reopen_ms, CNP_DEFAULT_REOPEN_MS);
		CHECK(cfg.sources[0].duration_s == 5);
	}
}

int main(void)
{
	cnp_json_init();
	test_gnss();
	test_full();
	test_capture();
	test_transport_config();
	test_defaults();
	test_bad();
	test_ok_values_of_limits();
	test_syntax();
	test_nomem();
	test_load();
	test_encrypt_journal();
	return check_finish();
}
