/* The s3:// endpoint without a server: its configuration keys and their
 * mistakes, credentials files (profiles, mode 0600), addressing, and that a
 * secret never reaches a message. The requests themselves are checked
 * against a botocore-verifying receiver in tests/integration/s3.sh. */
#include "check.h"

#include "firmware/config.h"
#include "firmware/endpoint.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/http.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYsecretTEST"

static struct cnp_config cfg; /* large: off the stack */

/* ---- stderr capture (the log writes to fd 2) ------------------------------ */

static char captured[32768];
static int saved = -1;

static void capture_begin(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/stderr.txt", check_tmpdir());
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0) {
		perror("capture");
		exit(1);
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static const char *capture_end(void)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/stderr.txt", check_tmpdir());
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	captured[0] = 0;
	FILE *f = fopen(path, "rb");
	if (f) {
		size_t n = fread(captured, 1, sizeof(captured) - 1, f);
		captured[n] = 0;
		fclose(f);
	}
	return captured;
}

/* Parses a config whose only endpoint is `endpoint` (a JSON object). */
static int parse_endpoint(const char *endpoint, const char **log)
{
	char text[4096];
	snprintf(text, sizeof(text),
	         "{\"vehicle_id\": \"v1\", \"sources\": [{\"type\": \"candump\", \"path\": \"x.log\"}],"
	         " \"spool\": {\"dir\": \"/var/spool/canopy\"}, \"endpoints\": [%s]}",
	         endpoint);
	capture_begin();
	int rc = cnp_config_parse(text, strlen(text), "test.json", "/etc/canopy", &cfg);
	const char *l = capture_end();
	if (log)
		*log = l;
	return rc;
}

static void test_config_keys(void)
{
	const char *log;
	int rc = parse_endpoint("{\"url\": \"s3://my-bucket/fleet/eu/\", \"region\": \"eu-west-1\","
	                        " \"access_key_id\": \"AKID\", \"secret_access_key\": \"" SECRET "\","
	                        " \"session_token\": \"TOKEN\"}", &log);
	CHECK_EQ(rc, CNP_OK);
	const struct cnp_endpoint_config *e = &cfg.endpoints[0];
	CHECK_STR(e->url, "s3://my-bucket/fleet/eu/");
	CHECK_STR(e->region, "eu-west-1");
	CHECK_STR(e->access_key_id, "AKID");
	CHECK_STR(e->secret_access_key, SECRET);
	CHECK_STR(e->session_token, "TOKEN");
	CHECK_EQ(e->virtual_hosted, 1); /* AWS itself: virtual-hosted by default */
	CHECK_EQ(e->multipart_threshold_bytes, CNP_S3_DEFAULT_MULTIPART_THRESHOLD);
	CHECK_EQ(e->part_bytes, CNP_S3_DEFAULT_PART_BYTES);
	CHECK_STR(e->journal_dir, "/var/spool/canopy");
	CHECK(strstr(log, SECRET) == NULL);

	rc = parse_endpoint("{\"url\": \"s3://b-1\", \"region\": \"us-east-1\","
	                    " \"endpoint_url\": \"https://minio.local:9000\","
	                    " \"credentials_file\": \"creds\", \"profile\": \"car\","
	                    " \"multipart_threshold_bytes\": 10485760, \"part_bytes\": 5242880}",
	                    &log);
	CHECK_EQ(rc, CNP_OK);
	CHECK_EQ(e->virtual_hosted, 0); /* a server of one's own: path-style */
	CHECK_STR(e->credentials_file, "/etc/canopy/creds");
	CHECK_STR(e->profile, "car");
	CHECK_EQ(e->multipart_threshold_bytes, 10485760);
	CHECK_EQ(e->part_bytes, 5242880);
	CHECK(strstr(log, "5 MiB") == NULL);

	rc = parse_endpoint("{\"url\": \"s3://b-1\", \"region\": \"us-east-1\","
	                    " \"endpoint_url\": \"https://minio.local\", \"addressing\": \"virtual\","
	                    " \"credentials_file\": \"/c\", \"part_bytes\": 4096}", &log);
	CHECK_EQ(rc, CNP_OK);
	CHECK_EQ(e->virtual_hosted, 1);
	CHECK_CONTAINS(log, "$.endpoints[0].part_bytes");
	CHECK_CONTAINS(log, "5 MiB"); /* warned, not refused */

	/* s3 keys on an https:// endpoint are unknown there: warned, ignored. */
	rc = parse_endpoint("{\"url\": \"https://h/p\", \"region\": \"us-east-1\"}", &log);
	CHECK_EQ(rc, CNP_OK);
	CHECK_CONTAINS(log, "$.endpoints[0].region: unknown key");
}

static void test_config_mistakes(void)
{
	static const struct {
		const char *endpoint;
		const char *message;
	} cases[] = {
		{"{\"url\": \"s3://bk\", \"region\": \"us-east-1\", \"credentials_file\": \"/c\"}",
		 "bucket name of 3 to 63"},
		{"{\"url\": \"s3://bucket\", \"credentials_file\": \"/c\"}",
		 "$.endpoints[0].region: required string is missing"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us east\", \"credentials_file\": \"/c\"}",
		 "is not a region name"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\"}", "needs credentials"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"access_key_id\": \"A\"}",
		 "go together"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"access_key_id\": \"A\","
		 " \"secret_access_key\": \"" SECRET "\", \"credentials_file\": \"/c\"}",
		 "not both"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"credentials_file\": \"/c\","
		 " \"session_token\": \"T\"}", "aws_session_token"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"access_key_id\": \"A\","
		 " \"secret_access_key\": \"" SECRET "\", \"profile\": \"p\"}", "profile names a section"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"credentials_file\": \"/c\","
		 " \"addressing\": \"dns\"}", "expected \"path\" or \"virtual\", got dns"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"credentials_file\": \"/c\","
		 " \"endpoint_url\": \"http://minio:9000\"}", "allow_insecure"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"credentials_file\": \"/c\","
		 " \"endpoint_url\": \"ftp://minio\"}", "expected https://HOST[:PORT]"},
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"credentials_file\": \"/c\","
		 " \"part_bytes\": 10}", "$.endpoints[0].part_bytes: expected a whole number"},
		/* A secret too long: the message gives its length, never the value. */
		{"{\"url\": \"s3://bucket\", \"region\": \"us-east-1\", \"access_key_id\": \"A\","
		 " \"secret_access_key\": \"" SECRET SECRET SECRET SECRET "\"}",
		 "$.endpoints[0].secret_access_key: expected a string of 1 to 127 characters, got 160"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *log;
		int rc = parse_endpoint(cases[i].endpoint, &log);
		if (rc != CNP_ERR_CONFIG || !strstr(log, cases[i].message) || strstr(log, SECRET))
			fprintf(stderr, "case %zu: rc %d, log:\n%s\n", i, rc, log);
		CHECK_EQ(rc, CNP_ERR_CONFIG);
		CHECK_CONTAINS(log, cases[i].message);
		CHECK(strstr(log, SECRET) == NULL);
	}
}

/* ---- endpoint creation ---------------------------------------------------------- */

static void base_config(struct cnp_endpoint_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->url, sizeof(c->url), "s3://canopy-test/pre/fix/");
	snprintf(c->region, sizeof(c->region), "us-east-1");
	snprintf(c->endpoint_url, sizeof(c->endpoint_url), "https://127.0.0.1:1");
	snprintf(c->access_key_id, sizeof(c->access_key_id), "AKIDTEST");
	snprintf(c->secret_access_key, sizeof(c->secret_access_key), "%s", SECRET);
}

static int create(const struct cnp_endpoint_config *c, struct cnp_endpoint **ep, char *why,
                  size_t why_len)
{
	why[0] = 0;
	capture_begin();
	int rc = cnp_endpoint_create(c, NULL, ep, why, why_len);
	const char *log = capture_end();
	CHECK(strstr(log, SECRET) == NULL);
	CHECK(strstr(why, SECRET) == NULL);
	return rc;
}

static void write_creds(const char *path, int mode, const char *text)
{
	CHECK_EQ(check_write_file(path, text, strlen(text)), 0);
	CHECK_EQ(chmod(path, (mode_t)mode), 0);
}

static void test_create(void)
{
	struct cnp_endpoint_config c;
	struct cnp_endpoint *ep = NULL;
	char why[512];

	base_config(&c);
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_OK);
	CHECK(ep != NULL);
	if (ep) {
		CHECK_STR(ep->ops->scheme, "s3");
		CHECK_STR(ep->url, "s3://canopy-test/pre/fix/");
		/* Nothing listens on port 1: a network failure that names the
		 * URL (bucket and prefix in the path) and no secret. */
		struct cnp_put_result res;
		memset(&res, 0, sizeof(res));
		capture_begin();
		int rc = ep->ops->put(ep, "v1/0123/00000001-000000000000.cnp", (const uint8_t *)"x", 1,
		                      &res);
		const char *log = capture_end();
		CHECK_EQ(rc, CNP_ERR_NET);
		CHECK_EQ(res.status, 0);
		CHECK_EQ(res.cls, CNP_PUT_BY_STATUS);
		CHECK_CONTAINS(res.detail,
		               "https://127.0.0.1:1/canopy-test/pre/fix/v1/0123/00000001-000000000000.cnp");
		CHECK(strstr(res.detail, SECRET) == NULL);
		CHECK(strstr(log, SECRET) == NULL);
		cnp_endpoint_destroy(ep);
		ep = NULL;
	}

	/* Virtual-hosted addressing needs a DNS name. */
	c.virtual_hosted = 1;
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "\"addressing\": \"path\"");
	snprintf(c.endpoint_url, sizeof(c.endpoint_url), "https://s3.example.net");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_OK);
	cnp_endpoint_destroy(ep);
	ep = NULL;

	/* An endpoint URL with a path, a user, plain http. */
	base_config(&c);
	snprintf(c.endpoint_url, sizeof(c.endpoint_url), "https://h/some/path");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "no path or user");
	snprintf(c.endpoint_url, sizeof(c.endpoint_url), "http://h:9000");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "allow_insecure");
	c.allow_insecure = 1;
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_OK);
	cnp_endpoint_destroy(ep);
	ep = NULL;

	/* Default endpoint: AWS's, from the region. */
	base_config(&c);
	c.endpoint_url[0] = 0;
	c.virtual_hosted = 1;
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_OK);
	cnp_endpoint_destroy(ep);
	ep = NULL;
	c.region[0] = 0;
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "region");
}

static void test_credentials_file(void)
{
	struct cnp_endpoint_config c;
	struct cnp_endpoint *ep = NULL;
	char why[512], path[600];
	base_config(&c);
	c.access_key_id[0] = c.secret_access_key[0] = 0;
	snprintf(path, sizeof(path), "%s/credentials", check_tmpdir());
	snprintf(c.credentials_file, sizeof(c.credentials_file), "%s", path);

	write_creds(path, 0600,
	            "# comment\n[default]\naws_access_key_id=AKIDDEFAULT\n"
	            "aws_secret_access_key = " SECRET "\n\n"
	            "[profile car]\r\n  aws_access_key_id = AKIDCAR \r\n"
	            "; another comment\naws_secret_access_key=" SECRET "\r\n"
	            "aws_session_token = TOKEN\n[other]\naws_access_key_id = X\n");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_OK); /* [default] */
	cnp_endpoint_destroy(ep);
	ep = NULL;
	snprintf(c.profile, sizeof(c.profile), "car");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_OK);
	cnp_endpoint_destroy(ep);
	ep = NULL;

	snprintf(c.profile, sizeof(c.profile), "nope");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "no [nope] profile");
	snprintf(c.profile, sizeof(c.profile), "other");
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "lacks aws_access_key_id or aws_secret_access_key");

	/* Readable by others: refused, with the fix. */
	c.profile[0] = 0;
	CHECK_EQ(chmod(path, 0644), 0);
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "chmod 600");
	CHECK_CONTAINS(why, path);
	CHECK_EQ(chmod(path, 0640), 0);
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);

	snprintf(c.credentials_file, sizeof(c.credentials_file), "%s/absent", check_tmpdir());
	CHECK_EQ(create(&c, &ep, why, sizeof(why)), CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "absent");
}

int main(void)
{
	cnp_json_init();
	if (cnp_http_global_init() != CNP_OK)
		return 1;
	test_config_keys();
	test_config_mistakes();
	test_create();
	test_credentials_file();
	cnp_http_global_cleanup();
	return check_finish();
}
