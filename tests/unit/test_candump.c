/* candump line parsing and formatting: table-driven. */
#include "check.h"

#include "firmware/candump.h"
#include "firmware/error.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Lines that must parse and format back byte for byte. */
static const struct {
	const char *line;
	uint32_t id;
	uint8_t flags, len, dlc, fd_flags;
	uint64_t ts_us;
} good[] = {
	{"(1674148739.212264) can0 112#FF0015", 0x112, 0, 3, 0, 0, 1674148739212264u},
	{"(1953.613500) can0 109#000100FFFFFF0F3D", 0x109, 0, 8, 0, 0, 1953613500u},
	{"(0.000000) vcan0 000#", 0, 0, 0, 0, 0, 0},
	{"(1701363725.986550) can0 18F75E89#FF3528282B2D00A3", 0x18F75E89, CNP_FRAME_EXT, 8, 0, 0,
	 1701363725986550u},
	{"(1.000001) can1 7FF#R", 0x7FF, CNP_FRAME_RTR, 0, 0, 0, 1000001u},
	{"(1.000001) can1 123#R8", 0x123, CNP_FRAME_RTR, 0, 8, 0, 1000001u},
	{"(1.000002) can0 20000080#0000000000000000", 0x80, CNP_FRAME_ERR, 8, 0, 0, 1000002u},
	{"(1.000003) can0 123##1", 0x123, CNP_FRAME_FD, 0, 0, 1, 1000003u},
	{"(1.000003) can0 123##3001122334455667788990011", 0x123, CNP_FRAME_FD, 12, 0, 3, 1000003u},
	{"(1.000004) can0 1FFFFFFF##0"
	 "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
	 "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
	 0x1FFFFFFF, CNP_FRAME_EXT | CNP_FRAME_FD, 64, 0, 0, 1000004u},
	{"(1.000005) can0 123#1122334455667788_C", 0x123, 0, 8, 12, 0, 1000005u},
	{"(0000046408.584930) can0 260#08fffb0000001884", 0x260, 0, 8, 0, 0, 46408584930u},
	{"(12.000000) a-long-name.1 0ab#ab", 0xAB, 0, 1, 0, 0, 12000000u},
	/* Either side of the 10-digit seconds that text lengths count first. */
	{"(999999999.999999) can0 001#01", 1, 0, 1, 0, 0, 999999999999999u},
	{"(1000000000.000000) can0 001#01", 1, 0, 1, 0, 0, 1000000000000000u},
	{"(9999999999.999999) can0 001#01", 1, 0, 1, 0, 0, 9999999999999999u},
	{"(10000000000.000000) can0 001#01", 1, 0, 1, 0, 0, 10000000000000000u},
};

/* Lines that must be refused, with a word of the reason. */
static const struct {
	const char *line;
	const char *why;
} bad[] = {
	{"", "expected '('"},
	{"1.000000 can0 123#11", "expected '('"},
	{"(1.5) can0 123#11", "6 fractional digits"},
	{"(1.0000001) can0 123#11", "expected ')'"},
	{"(.000000) can0 123#11", "seconds"},
	{"(1.000000)can0 123#11", "one space"},
	{"(1.000000) can0", "expected a frame"},
	{"(1.000000)  123#11", "interface name"},
	{"(1.000000) averyveryverylongname 123#11", "longer than 15"},
	{"(1.000000) can0 800#11", "above 7FF"},
	{"(1.000000) can0 12#11", "3 or 8 hex digits"},
	{"(1.000000) can0 123456789#11", "longer than 8"},
	{"(1.000000) can0 40000000#11", "bits 30/31"},
	{"(1.000000) can0 123#112", "odd number"},
	{"(1.000000) can0 123#112233445566778899", "more than 8"},
	{"(1.000000) can0 123#11 ", "expected hex data"},
	{"(1.000000) can0 123#1G", "odd number"},
	{"(1.000000) can0 123#11_9", "raw DLC"},
	{"(1.000000) can0 123#1122334455667788_3", "9 to F"},
	{"(1.000000) can0 123##", "flags digit"},
	{"(1.000000) can0 123##0112233445566778899", "valid CAN FD data length"},
	{"(1.000000) can0 123#R9", "1 to 8"},
	{"(1.000000) can0 123#RX", "1 to 8"},
	{"(1.000000) can0 123#aB", "both upper and lower"},
	{"(1.000000) can0 20000080#00", "8 data bytes"},
	{"(1.000000) can0 20000080##000", "cannot be CAN FD"},
	{"(1.000000) can0 123", "expected '#'"},
	{"(1.000000) can0 #11", "hex identifier"},
	{"(99999999999999999999.000000) can0 123#11", "too large"},
	{"(1.000000) can\t0 123#11", "control character"},
};

static void test_good(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct cnp_frame f;
		struct cnp_candump_line info;
		const char *line = good[i].line;
		int rc = cnp_candump_parse(line, strlen(line), &f, &info);
		CHECK_EQ(rc, CNP_OK);
		if (rc != CNP_OK) {
			fprintf(stderr, "  line %zu: %s (%s at %u)\n", i, line, info.why, info.column);
			continue;
		}
		CHECK_EQ(f.id, good[i].id);
		CHECK_EQ(f.flags, good[i].flags);
		CHECK_EQ(f.len, good[i].len);
		CHECK_EQ(f.dlc, good[i].dlc);
		CHECK_EQ(f.fd_flags, good[i].fd_flags);
		CHECK_EQ(f.ts_us, good[i].ts_us);
		char ifname[16];
		snprintf(ifname, sizeof(ifname), "%.*s", (int)info.ifname_len, info.ifname);
		/* Every line ending style formats back exactly. */
		static const struct {
			uint8_t style;
			const char *eol;
		} eols[] = {{0, "\n"}, {CNP_STYLE_CRLF, "\r\n"}, {CNP_STYLE_NO_EOL, ""}};
		for (size_t e = 0; e < 3; e++) {
			struct cnp_frame g = f;
			g.style |= eols[e].style;
			char out[CNP_CANDUMP_LINE_MAX + 1], want[CNP_CANDUMP_LINE_MAX + 1];
			size_t len = 0;
			CHECK_EQ(cnp_candump_format(&g, ifname, out, sizeof(out) - 1, &len), CNP_OK);
			out[len] = 0;
			snprintf(want, sizeof(want), "%s%s", line, eols[e].eol);
			CHECK_STR(out, want);
			CHECK_EQ(cnp_candump_text_len(&g, strlen(ifname)), len);
		}
	}
}

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cnp_frame f;
		struct cnp_candump_line info = {0};
		int rc = cnp_candump_parse(bad[i].line, strlen(bad[i].line), &f, &info);
		CHECK_EQ(rc, CNP_ERR_INVAL);
		if (rc == CNP_ERR_INVAL) {
			CHECK_CONTAINS(info.why, bad[i].why);
			CHECK(info.column >= 1 && info.column <= strlen(bad[i].line) + 1);
		} else {
			fprintf(stderr, "  accepted: %s\n", bad[i].line);
		}
	}
}

/* cnp_candump_scan at the start of buf (text of tlen bytes, slack after):
 * its length, and when nonzero, that cnp_candump_parse gives the same. */
static size_t scan_agrees(const char *text, size_t tlen)
{
	char buf[CNP_CANDUMP_LINE_MAX + CNP_CANDUMP_SCAN_SLACK + 8];
	memset(buf, 0, sizeof(buf));
	memcpy(buf, text, tlen);
	struct cnp_frame f, g;
	struct cnp_candump_line a = {0}, b = {0};
	size_t n = cnp_candump_scan(buf, buf + tlen, &f, &a, NULL);
	if (!n)
		return 0;
	CHECK(n <= tlen && buf[n - 1] == '\n');
	int crlf = n >= 2 && buf[n - 2] == '\r';
	CHECK_EQ(cnp_candump_parse(buf, n - 1 - (size_t)crlf, &g, &b), CNP_OK);
	g.style |= crlf ? CNP_STYLE_CRLF : 0;
	CHECK_EQ(memcmp(&f, &g, offsetof(struct cnp_frame, data)), 0);
	CHECK_EQ(memcmp(f.data, g.data, g.len), 0);
	CHECK(a.ifname == b.ifname && a.ifname_len == b.ifname_len);
	CHECK_EQ(cnp_candump_text_len(&f, a.ifname_len), n);
	return n;
}

/* The fast path takes the common lines, whole, and gives what the full
 * parser gives; it leaves every other line (valid or not) to the parser,
 * and a line that the text's end cuts short. */
static void test_scan(void)
{
	static const char *const taken[] = {
		"(1674148739.212264) can0 112#FF0015",
		"(1953.613500) can0 109#000100FFFFFF0F3D",
		"(0.000000) vcan0 000#",
		"(1701363725.986550) can0 18F75E89#FF3528282B2D00A3",
		"(12.000000) a-long-name.1 0ab#ab",
		"(999999999999.999999) can0 7FF#0A",
		"(46408.584948) can128 2E4#BE000000A9",
		"(1.000001) abcdefghijklmno 1FFFFFFF#12",
		"(1.000001) can\x80 123#11",
	};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		char text[CNP_CANDUMP_LINE_MAX];
		for (int crlf = 0; crlf < 2; crlf++) {
			int len = snprintf(text, sizeof(text), "%s%s", taken[i], crlf ? "\r\n" : "\n");
			size_t n = scan_agrees(text, (size_t)len);
			CHECK_EQ(n, (size_t)len);
			if (n != (size_t)len)
				fprintf(stderr, "  not taken: %s\n", taken[i]);
			/* Cut anywhere before its end: never taken. */
			for (int cut = 0; cut < len; cut++)
				CHECK_EQ(scan_agrees(text, (size_t)cut), 0);
		}
	}
	/* Every other good line and every bad one goes to the parser (or,
	 * if taken, agrees with it). */
	size_t taken_good = 0;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[CNP_CANDUMP_LINE_MAX + 2];
		int len = snprintf(text, sizeof(text), "%s\n", good[i].line);
		taken_good += scan_agrees(text, (size_t)len) != 0;
	}
	CHECK(taken_good >= 5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[CNP_CANDUMP_LINE_MAX + 2];
		int len = snprintf(text, sizeof(text), "%s\n", bad[i].line);
		CHECK_EQ(scan_agrees(text, (size_t)len), 0);
	}
	static const char *const left[] = {
		"(01.000000) can0 123#11\n",       /* padded seconds */
		"(1000000000000.000000) can0 123#11\n", /* 13 digits */
		"(1.000000) can0 123#1122334455667788_C\n",
		"(1.000000) can0 123#11\r\r\n",
		"(1.000000) can0 123#11\r",
		"(1.000000) can0 123#11",
		"(1.000000) can0 123#11 \n",
		"(1.000000) can0 20000080#0000000000000000\n",
		"(1.000000) can0 123##100\n",
		"(1.000000) can0 123#R\n",
		"(1.000000) can\x7f 123#11\n",
		"(1.000000) can0 1FFFFFFF#1\n",
		"(1.000000) can0 1FFFFFFF#aabbccddeeff0011\n", /* cases in two words */
		"(1.000000) can0 ABC#00000000000000ab\n",
	};
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
		CHECK_EQ(scan_agrees(left[i], strlen(left[i])), 0);
	/* A log, line after line with the cache: lines that share their
	 * seconds, or only a prefix of them, or differ in the digit count. */
	const char *log = "(1674148739.212264) can0 112#FF0015\n"
	                  "(1674148739.212487) can1 14A#FFF1000007FFF124\n"
	                  "(1674148740.000001) can1 14A#00\n"
	                  "(167414874.000002) can1 14A#01\n"
	                  "(16741487400.000003) can1 14A#02\n"
	                  "(9.000004) can1 14A#03\n"
	                  "(90.000005) can1 14A#04\n"
	                  "(9.000006) can1 14A#05\n";
	static const uint64_t want_ts[] = {
		1674148739212264u, 1674148739212487u, 1674148740000001u, 167414874000002u,
		16741487400000003u, 9000004u, 90000005u, 9000006u,
	};
	struct cnp_candump_scan_cache cache;
	memset(&cache, 0, sizeof(cache));
	char lbuf[512];
	memset(lbuf, 0, sizeof(lbuf));
	memcpy(lbuf, log, strlen(log));
	const char *at = lbuf, *lend = lbuf + strlen(log);
	for (size_t i = 0; i < sizeof(want_ts) / sizeof(want_ts[0]); i++) {
		struct cnp_frame f;
		struct cnp_candump_line li;
		size_t n = cnp_candump_scan(at, lend, &f, &li, &cache);
		CHECK(n > 0);
		if (!n)
			break;
		CHECK_EQ(f.ts_us, want_ts[i]);
		CHECK_EQ(f.data[0], i < 2 ? 0xFF : i - 2);
		at += n;
	}
	CHECK(at == lend);
	/* Two lines: the first alone is taken. */
	const char *two = "(1.000000) can0 123#11\n(1.000001) can0 123#22\n";
	CHECK_EQ(scan_agrees(two, strlen(two)), 23);
}

static void test_format_limits(void)
{
	struct cnp_frame f;
	memset(&f, 0, sizeof(f));
	f.len = 8;
	char small[10];
	size_t len;
	CHECK_EQ(cnp_candump_format(&f, "can0", small, sizeof(small), &len), CNP_ERR_FULL);
	char big[CNP_CANDUMP_LINE_MAX];
	CHECK_EQ(cnp_candump_format(&f, "", big, sizeof(big), &len), CNP_ERR_INVAL);
	f.len = 65;
	CHECK_EQ(cnp_candump_format(&f, "can0", big, sizeof(big), &len), CNP_ERR_INVAL);
	/* The longest line fits CNP_CANDUMP_LINE_MAX. */
	memset(&f, 0xFF, sizeof(f));
	f.flags = CNP_FRAME_FD | CNP_FRAME_EXT;
	f.len = 64;
	f.dlc = 0;
	f.style = CNP_STYLE_CRLF | 31;
	f.ts_us = UINT64_MAX;
	f.id = 0x1FFFFFFF;
	CHECK_EQ(cnp_candump_format(&f, "abcdefghijklmno", big, sizeof(big), &len), CNP_OK);
}

int main(void)
{
	test_good();
	test_bad();
	test_scan();
	test_format_limits();
	return check_finish();
}
