/*
 * libFuzzer target: the candump line parser, on any bytes.
 *
 * Invariants beyond "no crash, no sanitizer report": a refused line says
 * why and where (a column inside the line or just past it); an accepted
 * line formats back to exactly itself (the promise that raw capture gives
 * back the text that went in); and the fast path (cnp_candump_scan) takes
 * only lines the parser takes, with the same frame.
 */
#include "firmware/candump.h"
#include "firmware/error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The fast path on the same bytes as a buffer of lines, line after line
 * with its cache, as the replay runs it: each line it takes, the full
 * parser must take too and give the same frame.
 */
static void check_scan(const uint8_t *data, size_t size)
{
	char *buf = calloc(1, size + CNP_CANDUMP_SCAN_SLACK);
	if (!buf)
		return;
	memcpy(buf, data, size);
	struct cnp_candump_scan_cache cache;
	memset(&cache, 0, sizeof(cache));
	char *p = buf, *end = buf + size;
	for (;;) {
		struct cnp_frame f, g;
		struct cnp_candump_line a = {0}, b = {0};
		size_t n = cnp_candump_scan(p, end, &f, &a, &cache);
		if (!n) {
			/* The parser may still take it: skip it as the replay would. */
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				break;
			p = nl + 1;
			continue;
		}
		int crlf = n >= 2 && p[n - 2] == '\r';
		if (n > (size_t)(end - p) || p[n - 1] != '\n' ||
		    cnp_candump_parse(p, n - 1 - (size_t)crlf, &g, &b) != CNP_OK) {
			fprintf(stderr, "fuzz_candump: scan took %zu bytes the parser refuses\n", n);
			abort();
		}
		g.style |= crlf ? CNP_STYLE_CRLF : 0;
		if (memcmp(&f, &g, offsetof(struct cnp_frame, data)) != 0 ||
		    memcmp(f.data, g.data, g.len) != 0 || a.ifname != b.ifname ||
		    a.ifname_len != b.ifname_len || cnp_candump_text_len(&f, a.ifname_len) != n) {
			fprintf(stderr, "fuzz_candump: scan and parser disagree on \"%.*s\"\n", (int)n, p);
			abort();
		}
		p += n;
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_scan(data, size);
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
