/* candump line parsing and formatting: table-driven. */
#include "check.h"

#include "firmware/candump.h"
#include "firmware/error.h"

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
	test_format_limits();
	return check_finish();
}
