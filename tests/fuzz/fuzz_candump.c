/*
 * libFuzzer target: the candump line parser, on any bytes.
 *
 * Invariants beyond "no crash, no sanitizer report": a refused line says
 * why and where (a column inside the line or just past it); an accepted
 * line formats back to exactly itself (the promise that raw capture gives
 * back the text that went in).
 */
#include "firmware/candump.h"
#include "firmware/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of the exact size: the parser gets a length, not a string. */
	char *line = malloc(size ? size : 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	struct cnp_frame f;
	struct cnp_candump_line l = {0};
	int rc = cnp_candump_parse(line, size, &f, &l);
	if (rc != CNP_OK) {
		if (rc != CNP_ERR_INVAL || !l.why || l.column < 1 || l.column > size + 1) {
			fprintf(stderr, "fuzz_candump: refused without a reason or column (rc %d)\n", rc);
			abort();
		}
		free(line);
		return 0;
	}
	char ifname[64];
	if (!l.ifname || l.ifname_len == 0 || l.ifname_len >= sizeof(ifname) ||
	    l.ifname < line || l.ifname + l.ifname_len > line + size)
		abort();
	memcpy(ifname, l.ifname, l.ifname_len);
	ifname[l.ifname_len] = 0;
	f.iface = 0;
	f.style |= CNP_STYLE_NO_EOL; /* the line came without its line end */
	char out[CNP_CANDUMP_LINE_MAX];
	size_t len = 0;
	rc = cnp_candump_format(&f, ifname, out, sizeof(out), &len);
	if (rc != CNP_OK || len != size || memcmp(out, line, size) != 0 ||
	    cnp_candump_text_len(&f, l.ifname_len) != len) {
		fprintf(stderr, "fuzz_candump: accepted \"%.*s\" but formats as \"%.*s\" (rc %d)\n",
		        (int)size, line, (int)len, out, rc);
		abort();
	}
	free(line);
	return 0;
}
