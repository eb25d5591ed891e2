/*
 * libFuzzer target: the JSON configuration loader (firmware/config.c), on
 * any bytes, as cnp_config_load() hands a file's text to it.
 *
 * Invariants beyond "no crash, no sanitizer report, no leak":
 * - the text is accepted (CNP_OK) or refused with CNP_ERR_CONFIG (or
 *   CNP_ERR_NOMEM), nothing else;
 * - an accepted configuration has what the loader promises: a vehicle id,
 *   at least one source and one endpoint, every string NUL-terminated
 *   inside its field;
 * - parsing the same text again gives the same result, byte for byte (no
 *   state leaks from one load into the next: SIGHUP reloads rely on it).
 * Messages go to stderr; scripts/fuzz runs this target with
 * -close_fd_mask=2 so that the fuzzer is not slowed by them.
 */
#include "firmware/config.h"
#include "firmware/error.h"
#include "platform/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cnp_config a, b; /* large: off the stack */

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_config: %s\n", why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > CNP_CONFIG_MAX_BYTES)
		return 0; /* cnp_config_load() refuses bigger files before parsing */
	cnp_log_set_level(CNP_LOG_ERROR);
	/* A copy of the exact size: the loader gets a length, not a string. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	memset(&a, 0x5a, sizeof(a));
	memset(&b, 0xa5, sizeof(b));
	int rc = cnp_config_parse(text, size, "fuzz.json", "/etc/canopy", &a);
	int again = cnp_config_parse(text, size, "fuzz.json", "/etc/canopy", &b);
	free(text);
	if (rc != CNP_OK && rc != CNP_ERR_CONFIG && rc != CNP_ERR_NOMEM)
		fail("refused with an unexpected code");
	if (again != rc)
		fail("the same text parsed twice gave two answers");
	if (rc != CNP_OK)
		return 0;
	if (memchr(a.vehicle_id, 0, sizeof(a.vehicle_id)) == NULL || a.vehicle_id[0] == 0)
		fail("accepted without a vehicle id");
	if (a.n_sources < 1 || a.n_sources > CNP_MAX_SOURCES)
		fail("accepted with no source or too many");
	if (a.n_endpoints < 1 || a.n_endpoints > CNP_UPLOADER_MAX_ENDPOINTS)
		fail("accepted with no endpoint or too many");
	if (memchr(a.spool_dir, 0, sizeof(a.spool_dir)) == NULL ||
	    memchr(a.signing_key, 0, sizeof(a.signing_key)) == NULL ||
	    memchr(a.encrypt_to, 0, sizeof(a.encrypt_to)) == NULL)
		fail("a path is not NUL-terminated");
	for (unsigned i = 0; i < a.n_endpoints; i++)
		if (memchr(a.endpoints[i].url, 0, sizeof(a.endpoints[i].url)) == NULL)
			fail("an endpoint URL is not NUL-terminated");
	if (memcmp(&a.vehicle_id, &b.vehicle_id, sizeof(a.vehicle_id)) != 0 ||
	    strcmp(a.spool_dir, b.spool_dir) != 0 || a.n_sources != b.n_sources ||
	    a.n_endpoints != b.n_endpoints || a.batch_max_bytes != b.batch_max_bytes ||
	    a.batch_max_age_ms != b.batch_max_age_ms || a.spool_max_bytes != b.spool_max_bytes)
		fail("the same text parsed twice gave two configurations");
	return 0;
}
