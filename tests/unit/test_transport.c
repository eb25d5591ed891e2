/*
 * Passive transport reassembly: ISO-TP (classic and CAN FD, 11- and 29-bit,
 * escape sequences) and J1939 BAM and RTS/CTS, each broken case counted by
 * its reason and never passed on.
 */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/codec.h"
#include "firmware/error.h"
#include "firmware/transport.h"

#include <stdio.h>
#include <string.h>

#define MAXMSG 16

struct got {
	unsigned n;
	uint32_t id[MAXMSG];
	uint64_t ts[MAXMSG];
	uint8_t flags[MAXMSG];
	size_t len[MAXMSG];
	uint8_t data[MAXMSG][2048];
};

static int on_msg(void *arg, const struct cnp_tp_message *m)
{
	struct got *g = arg;
	if (g->n >= MAXMSG)
		return CNP_ERR_FULL;
	g->id[g->n] = m->id;
	g->ts[g->n] = m->ts_us;
	g->flags[g->n] = m->flags;
	g->len[g->n] = m->len;
	memcpy(g->data[g->n], m->data, m->len < sizeof(g->data[0]) ? m->len : sizeof(g->data[0]));
	g->n++;
	return CNP_OK;
}

static struct cnp_ifaces ifaces;
static struct cnp_tp *tp;
static struct got g;
static unsigned consumed_n;

static void setup(const struct cnp_tp_config *cfg)
{
	cnp_tp_destroy(tp);
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	cnp_ifaces_intern(&ifaces, "can0", 4, &idx);
	cnp_ifaces_intern(&ifaces, "can1", 4, &idx);
	struct cnp_tp_iface ifs[1] = {{"can0", cfg}};
	CHECK_EQ(cnp_tp_create(ifs, 1, &tp), CNP_OK);
	memset(&g, 0, sizeof(g));
	consumed_n = 0;
}

/* Feeds one frame: `hex` its data, at `ms` milliseconds. */
static void feed_on(uint8_t iface, uint32_t id, int ext, int fd, uint64_t ms, const char *hex)
{
	struct cnp_frame f = {.ts_us = ms * 1000, .id = id, .iface = iface};
	f.flags = (uint8_t)((ext ? CNP_FRAME_EXT : 0) | (fd ? CNP_FRAME_FD : 0));
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		sscanf(hex + 2 * i, "%2x", &b);
		f.data[i] = (uint8_t)b;
	}
	f.len = (uint8_t)n;
	consumed_n += (unsigned)cnp_tp_claims(tp, &f, &ifaces);
	CHECK_EQ(cnp_tp_frame(tp, &f, &ifaces, on_msg, &g), CNP_OK);
}

static void feed(uint32_t id, uint64_t ms, const char *hex)
{
	feed_on(0, id, id > 0x7FF, 0, ms, hex);
}

static struct cnp_tp_stats iso(void)
{
	struct cnp_tp_stats a, b;
	cnp_tp_stats(tp, &a, &b);
	return a;
}

static struct cnp_tp_stats j(void)
{
	struct cnp_tp_stats a, b;
	cnp_tp_stats(tp, &a, &b);
	return b;
}

static uint64_t broken_total(struct cnp_tp_stats s)
{
	uint64_t n = 0;
	for (int r = 0; r < CNP_TP_REASONS; r++)
		n += s.broken[r];
	return n;
}

static struct cnp_tp_config isotp_cfg(void)
{
	struct cnp_tp_config c = {0};
	c.isotp[0] = (struct cnp_tp_range){0x7BB, 0x7BB, 0};
	c.isotp[1] = (struct cnp_tp_range){0x7E8, 0x7EF, 0};
	c.isotp[2] = (struct cnp_tp_range){0x18DAF100, 0x18DAF1FF, 1};
	c.n_isotp = 3;
	return c;
}

static void test_isotp_whole(void)
{
	struct cnp_tp_config c = isotp_cfg();
	setup(&c);
	/* The Leaf's 0x7BB answer shape: 31 bytes in an FF and 4 CFs, with
	 * the tester's FC (another id, not configured) in between. */
	feed(0x7BB, 0, "101F610402BB0202");
	feed(0x79B, 30, "3000000000000000");
	feed(0x7BB, 40, "21BF01FFFFFF02C7");
	feed(0x7BB, 50, "22000000FFFFFFFF");
	feed(0x7BB, 60, "23FFFFFFFFFFFFFF");
	CHECK_EQ(g.n, 0);
	feed(0x7BB, 70, "24FFFFFFFFFFFFFF");
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.len[0], 31);
	CHECK_EQ(g.id[0], 0x7BB);
	CHECK_EQ(g.ts[0], 70000);
	static const uint8_t want[31] = {0x61, 0x04, 0x02, 0xBB, 0x02, 0x02, 0xBF, 0x01, 0xFF,
	                                 0xFF, 0xFF, 0x02, 0xC7, 0x00, 0x00, 0x00, 0xFF, 0xFF,
	                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	                                 0xFF, 0xFF, 0xFF, 0xFF};
	CHECK(memcmp(g.data[0], want, 31) == 0);
	CHECK_EQ(consumed_n, 5); /* 0x79B is not an ISO-TP id here */
	/* Single frames, with and without padding; a 29-bit id. */
	feed(0x7E8, 100, "04410D32AAAAAAAA");
	feed(0x18DAF110, 110, "03620102");
	CHECK_EQ(g.n, 3);
	CHECK_EQ(g.len[1], 4);
	CHECK(memcmp(g.data[1], "\x41\x0D\x32\xAA", 4) == 0);
	CHECK_EQ(g.id[2], 0x18DAF110);
	CHECK_EQ(g.flags[2], CNP_FRAME_EXT);
	CHECK_EQ(g.len[2], 3);
	/* Sequence numbers wrap from 15 to 0: 6 + 17 * 7 = 125 bytes. */
	char hex[17];
	feed(0x7E9, 200, "107D000102030405");
	for (unsigned i = 1; i <= 17; i++) {
		snprintf(hex, sizeof(hex), "2%X%02X%02X%02X%02X%02X%02X%02X", i % 16,
		         (6 + (i - 1) * 7) & 0xFF, (7 + (i - 1) * 7) & 0xFF, (8 + (i - 1) * 7) & 0xFF,
		         (9 + (i - 1) * 7) & 0xFF, (10 + (i - 1) * 7) & 0xFF,
		         (11 + (i - 1) * 7) & 0xFF, (12 + (i - 1) * 7) & 0xFF);
		feed(0x7E9, 200 + i * 10, hex);
	}
	CHECK_EQ(g.n, 4);
	CHECK_EQ(g.len[3], 125);
	int ok = 1;
	for (unsigned i = 0; i < 125; i++)
		ok &= g.data[3][i] == i;
	CHECK(ok);
	CHECK_EQ(iso().messages, 4);
	CHECK_EQ(broken_total(iso()), 0);
	CHECK_EQ(cnp_tp_open(tp), 0);
	/* The length prefix: the low byte of the length, then the payload. */
	c.isotp_length_prefix = 1;
	setup(&c);
	feed(0x7BB, 0, "0441003355");
	feed(0x7BB, 10, "1009610102030405");
	feed(0x7BB, 20, "21060708");
	CHECK_EQ(g.n, 2);
	CHECK_EQ(g.len[0], 5);
	CHECK(memcmp(g.data[0], "\x04\x41\x00\x33\x55", 5) == 0);
	CHECK_EQ(g.len[1], 10);
	CHECK(memcmp(g.data[1], "\x09\x61\x01\x02\x03\x04\x05\x06\x07\x08", 10) == 0);
	cnp_tp_destroy(tp);
	tp = NULL;
}

static void test_isotp_broken(void)
{
	struct cnp_tp_config c = isotp_cfg();
	setup(&c);
	/* Missing CF: 0x21 then 0x23. */
	feed(0x7BB, 0, "1014000102030405");
	feed(0x7BB, 10, "2106070809101112");
	feed(0x7BB, 20, "2320212223242526");
	CHECK_EQ(iso().broken[CNP_TP_MISSING], 1);
	/* The rest of that answer is stray now, never glued on. */
	feed(0x7BB, 30, "2427");
	CHECK_EQ(iso().broken[CNP_TP_STRAY], 1);
	/* Wrong SN: 0x21 repeated. */
	feed(0x7BB, 100, "1010000102030405");
	feed(0x7BB, 110, "2106070809101112");
	feed(0x7BB, 120, "2106070809101112");
	CHECK_EQ(iso().broken[CNP_TP_WRONG_SN], 1);
	/* Timeout: N_Cr is 1000 ms; 1000 ms exactly is still in time. */
	feed(0x7BB, 200, "1010000102030405");
	feed(0x7BB, 1200, "2106070809101112");
	CHECK_EQ(iso().broken[CNP_TP_TIMEOUT], 0);
	feed(0x7BB, 2201, "2213141516");
	CHECK_EQ(iso().broken[CNP_TP_TIMEOUT], 1);
	CHECK_EQ(iso().broken[CNP_TP_STRAY], 2);
	/* A timeout found by another id's frame, on another interface. */
	feed(0x7E8, 3000, "1010000102030405");
	feed_on(1, 0x100, 0, 0, 4001, "00");
	CHECK_EQ(iso().broken[CNP_TP_TIMEOUT], 2);
	CHECK_EQ(cnp_tp_open(tp), 0);
	/* Or by the clock of a frame not given to the reassembler. */
	feed(0x7E8, 4100, "1010000102030405");
	cnp_tp_tick(tp, 5100 * 1000);
	CHECK_EQ(cnp_tp_open(tp), 1);
	cnp_tp_tick(tp, 5100 * 1000 + 1);
	CHECK_EQ(cnp_tp_open(tp), 0);
	CHECK_EQ(iso().broken[CNP_TP_TIMEOUT], 3);
	/* A new FF while one is open; then an SF over the new one. */
	feed(0x7BB, 5000, "1010000102030405");
	feed(0x7BB, 5010, "1010000102030405");
	CHECK_EQ(iso().broken[CNP_TP_REPLACED], 1);
	feed(0x7BB, 5020, "023E00");
	CHECK_EQ(iso().broken[CNP_TP_REPLACED], 2);
	CHECK_EQ(g.n, 1); /* only the SF */
	/* Malformed: SF length 0 or beyond the frame, FF announcing what fits
	 * in one frame, short FF, short CF before the last, reserved PCI. */
	feed(0x7BB, 6000, "0012");
	feed(0x7BB, 6001, "0512");
	feed(0x7BB, 6002, "1006000102030405");
	feed(0x7BB, 6003, "10200001");
	feed(0x7BB, 6004, "1020000102030405");
	feed(0x7BB, 6005, "21060708");
	feed(0x7BB, 6006, "4000");
	feed(0x7BB, 6007, "");
	CHECK_EQ(iso().broken[CNP_TP_MALFORMED], 7);
	/* Interleaved sessions on two ids (and on the same id of another
	 * interface, not configured: ignored) complete apart. */
	feed(0x7E8, 7000, "100A410001020304");
	feed(0x7E9, 7001, "100A420001020304");
	feed_on(1, 0x7E8, 0, 0, 7002, "2199999999");
	feed(0x7E9, 7003, "2105060708");
	feed(0x7E8, 7004, "2105060708");
	CHECK_EQ(g.n, 3);
	CHECK_EQ(g.id[1], 0x7E9);
	CHECK_EQ(g.id[2], 0x7E8);
	CHECK(memcmp(g.data[2], "\x41\x00\x01\x02\x03\x04\x05\x06\x07\x08", 10) == 0);
	CHECK(memcmp(g.data[1], "\x42\x00\x01\x02\x03\x04\x05\x06\x07\x08", 10) == 0);
	/* Flow control frames on an ISO-TP id are counted, not sessions. */
	feed(0x7EF, 8000, "3000000000000000");
	CHECK_EQ(iso().flow_control, 1);
	CHECK_EQ(iso().broken[CNP_TP_MISSING], 1);
	CHECK_EQ(iso().broken[CNP_TP_WRONG_SN], 1);
	CHECK_EQ(iso().messages, 3);
	cnp_tp_destroy(tp);
	tp = NULL;
}

static void test_isotp_fd(void)
{
	struct cnp_tp_config c = isotp_cfg();
	setup(&c);
	char hex[2 * 64 + 1];
	/* SF with the escape: length in byte 1, 20 bytes in a 24-byte frame. */
	strcpy(hex, "0014");
	for (unsigned i = 0; i < 22; i++)
		sprintf(hex + 4 + 2 * i, "%02X", i < 20 ? i + 1 : 0xCC);
	feed_on(0, 0x7E8, 0, 1, 0, hex);
	CHECK_EQ(g.n, 1);
	CHECK_EQ(g.len[0], 20);
	CHECK_EQ(g.data[0][19], 20);
	CHECK_EQ(g.flags[0], CNP_FRAME_FD);
	/* The nibble form in a frame longer than 8 bytes is refused. */
	feed_on(0, 0x7E8, 0, 1, 1, "03010203040506070809101112");
	CHECK_EQ(iso().broken[CNP_TP_MALFORMED], 1);
	/* FF with the 32-bit escape (5000 bytes, > 4095): 58 in the FF, then
	 * 63 a CF, SN wrapping, the last CF short; 29-bit id. */
	unsigned total = 5000, sent = 0, sn = 1;
	int ok;
	strcpy(hex, "1000");
	sprintf(hex + 4, "%08X", total);
	for (unsigned i = 0; i < 58; i++)
		sprintf(hex + 12 + 2 * i, "%02X", (sent++) & 0xFF);
	feed_on(0, 0x18DAF1EE, 1, 1, 100, hex);
	uint64_t ms = 100;
	while (sent < total) {
		unsigned n = total - sent < 63 ? total - sent : 63;
		sprintf(hex, "2%X", sn++ % 16);
		for (unsigned i = 0; i < n; i++)
			sprintf(hex + 2 + 2 * i, "%02X", (sent++) & 0xFF);
		/* A CAN FD frame's length is one of the valid ones: pad. */
		unsigned len = n + 1;
		while (!cnp_frame_fd_len_valid(len))
			sprintf(hex + 2 * len++, "CC");
		feed_on(0, 0x18DAF1EE, 1, 1, ms += 5, hex);
	}
	CHECK_EQ(g.n, 2);
	CHECK_EQ(g.len[1], 5000);
	CHECK_EQ(g.flags[1], CNP_FRAME_EXT | CNP_FRAME_FD);
	ok = 1;
	for (unsigned i = 0; i < sizeof(g.data[1]); i++)
		ok &= g.data[1][i] == (i & 0xFF);
	CHECK(ok);
	struct cnp_tp_stats s = iso();
	CHECK_EQ(s.messages, 2);
	CHECK_EQ(broken_total(s), 1);
	/* An FD FF of 64 bytes must announce more than 62. */
	strcpy(hex, "103E");
	for (unsigned i = 0; i < 62; i++)
		sprintf(hex + 4 + 2 * i, "%02X", i);
	feed_on(0, 0x7E8, 0, 1, 10000, hex);
	CHECK_EQ(iso().broken[CNP_TP_MALFORMED], 2);
	/* Escape announcing 4095 or less is malformed; above the limit too long. */
	feed_on(0, 0x7E8, 0, 1, 10001, "1000000000FF0102");
	feed_on(0, 0x7E8, 0, 1, 10002, "1000FFFFFFFF0102");
	CHECK_EQ(iso().broken[CNP_TP_MALFORMED], 3);
	CHECK_EQ(iso().broken[CNP_TP_TOO_LONG], 1);
	cnp_tp_destroy(tp);
	tp = NULL;
}

/* ---- J1939 ------------------------------------------------------------------------ */

/* 29-bit id of priority 7 with PF, PS (DA) and SA. */
static uint32_t jid(unsigned pf, unsigned da, unsigned sa)
{
	return 7u << 26 | pf << 16 | da << 8 | sa;
}

/* TP.DT number `sn` from sa to da: bytes 7*(sn-1)+k, padded with FF
 * beyond `size`. */
static void dt(unsigned sa, unsigned da, uint64_t ms, unsigned sn, unsigned size)
{
	char hex[17];
	sprintf(hex, "%02X", sn);
	for (unsigned k = 0; k < 7; k++) {
		unsigned b = 7 * (sn - 1) + k;
		sprintf(hex + 2 + 2 * k, "%02X", b < size ? b & 0xFF : 0xFF);
	}
	feed(jid(0xEB, da, sa), ms, hex);
}

static void cm(unsigned sa, unsigned da, uint64_t ms, const char *hex)
{
	feed(jid(0xEC, da, sa), ms, hex);
}

static struct cnp_tp_config j1939_cfg(void)
{
	struct cnp_tp_config c = {0};
	c.j1939 = 1;
	return c;
}

static int payload_ok(unsigned k, unsigned size)
{
	if (g.len[k] != size)
		return 0;
	for (unsigned i = 0; i < size; i++)
		if (g.data[k][i] != (i & 0xFF))
			return 0;
	return 1;
}

static void test_j1939_bam(void)
{
	struct cnp_tp_config c = j1939_cfg();
	setup(&c);
	/* BAM of PGN 0xFEE5 (PDU2), 20 bytes in 3 packets, from SA 0x21. */
	cm(0x21, 0xFF, 0, "201400" "03" "FF" "E5FE00");
	dt(0x21, 0xFF, 50, 1, 20);
	dt(0x21, 0xFF, 100, 2, 20);
	/* A plain frame in between is not transport. */
	feed(jid(0xF0, 0x04, 0x00), 120, "FFFFFF0000FFFFFF");
	CHECK_EQ(g.n, 0);
	dt(0x21, 0xFF, 150, 3, 20);
	CHECK_EQ(g.n, 1);
	CHECK(payload_ok(0, 20));
	CHECK_EQ(g.id[0], 7u << 26 | 0xFEE5u << 8 | 0x21);
	CHECK_EQ(consumed_n, 4);
	/* Two BAMs from two senders interleaved. */
	cm(0x00, 0xFF, 1000, "201000" "03" "FF" "CAFE00");
	cm(0x03, 0xFF, 1001, "200A00" "02" "FF" "CBFE00");
	dt(0x00, 0xFF, 1050, 1, 16);
	dt(0x03, 0xFF, 1051, 1, 10);
	dt(0x00, 0xFF, 1100, 2, 16);
	dt(0x03, 0xFF, 1101, 2, 10);
	dt(0x00, 0xFF, 1150, 3, 16);
	CHECK_EQ(g.n, 3);
	CHECK(payload_ok(1, 10));
	CHECK_EQ(g.id[1] & 0xFF, 0x03);
	CHECK(payload_ok(2, 16));
	CHECK_EQ(j().messages, 3);
	CHECK_EQ(broken_total(j()), 0);
	/* Broken: missing packet, wrong SN, T1 timeout, new BAM over one. */
	cm(0x21, 0xFF, 2000, "201400" "03" "FF" "E5FE00");
	dt(0x21, 0xFF, 2050, 1, 20);
	dt(0x21, 0xFF, 2100, 3, 20);
	CHECK_EQ(j().broken[CNP_TP_MISSING], 1);
	cm(0x21, 0xFF, 3000, "201400" "03" "FF" "E5FE00");
	dt(0x21, 0xFF, 3050, 3, 20);
	CHECK_EQ(j().broken[CNP_TP_WRONG_SN], 1);
	cm(0x21, 0xFF, 4000, "201400" "03" "FF" "E5FE00");
	dt(0x21, 0xFF, 4750, 1, 20); /* 750 ms: in time */
	dt(0x21, 0xFF, 5501, 2, 20); /* 751 ms: too late */
	CHECK_EQ(j().broken[CNP_TP_TIMEOUT], 1);
	CHECK_EQ(j().broken[CNP_TP_STRAY], 1);
	cm(0x21, 0xFF, 6000, "201400" "03" "FF" "E5FE00");
	dt(0x21, 0xFF, 6050, 1, 20);
	cm(0x21, 0xFF, 6100, "201400" "03" "FF" "E5FE00");
	CHECK_EQ(j().broken[CNP_TP_REPLACED], 1);
	dt(0x21, 0xFF, 6150, 1, 20);
	dt(0x21, 0xFF, 6200, 2, 20);
	dt(0x21, 0xFF, 6250, 3, 20);
	CHECK_EQ(g.n, 4);
	CHECK(payload_ok(3, 20));
	/* Malformed: BAM to a single address, size/packets disagreeing, size
	 * below 9, a DT of 7 bytes; too long: above 1785 bytes. */
	cm(0x21, 0x00, 7000, "201400" "03" "FF" "E5FE00");
	cm(0x21, 0xFF, 7001, "201400" "04" "FF" "E5FE00");
	cm(0x21, 0xFF, 7002, "200800" "02" "FF" "E5FE00");
	feed(jid(0xEB, 0xFF, 0x21), 7003, "01020304050607");
	cm(0x21, 0xFF, 7004, "20FA07" "FF" "FF" "E5FE00");
	CHECK_EQ(j().broken[CNP_TP_MALFORMED], 4);
	CHECK_EQ(j().broken[CNP_TP_TOO_LONG], 1);
	CHECK_EQ(j().messages, 4);
	CHECK_EQ(cnp_tp_open(tp), 0);
	cnp_tp_destroy(tp);
	tp = NULL;
}

static void test_j1939_rts(void)
{
	struct cnp_tp_config c = j1939_cfg();
	setup(&c);
	/* RTS 0x21 -> 0x00 of PGN 0xD900 (PDU1), 23 bytes in 4 packets, at
	 * most 2 per CTS; EoMA completes. */
	cm(0x21, 0x00, 0, "101700" "04" "02" "00D900");
	cm(0x00, 0x21, 10, "1102" "01" "FFFF" "00D900");
	dt(0x21, 0x00, 20, 1, 23);
	dt(0x21, 0x00, 30, 2, 23);
	cm(0x00, 0x21, 40, "1102" "03" "FFFF" "00D900");
	dt(0x21, 0x00, 50, 3, 23);
	dt(0x21, 0x00, 60, 4, 23);
	CHECK_EQ(g.n, 0); /* not before the receiver acknowledges */
	cm(0x00, 0x21, 70, "131700" "04" "FF" "00D900");
	CHECK_EQ(g.n, 1);
	CHECK(payload_ok(0, 23));
	CHECK_EQ(g.id[0], 7u << 26 | 0xD900u << 8 | 0x21); /* DA 0x00 in PS */
	/* A retransmission asked by CTS, and a hold (CTS of 0 packets). */
	cm(0x21, 0x00, 1000, "101700" "04" "FF" "00D900");
	cm(0x00, 0x21, 1010, "1104" "01" "FFFF" "00D900");
	dt(0x21, 0x00, 1020, 1, 23);
	dt(0x21, 0x00, 1030, 2, 23);
	dt(0x21, 0x00, 1040, 3, 23);
	dt(0x21, 0x00, 1050, 4, 23);
	cm(0x00, 0x21, 1060, "1100" "FF" "FFFF" "00D900");
	cm(0x00, 0x21, 2100, "1101" "02" "FFFF" "00D900"); /* T4: 1040 ms in time */
	dt(0x21, 0x00, 2110, 2, 23);
	cm(0x00, 0x21, 2120, "131700" "04" "FF" "00D900");
	CHECK_EQ(g.n, 2);
	CHECK(payload_ok(1, 23));
	CHECK_EQ(broken_total(j()), 0);
	/* Abort from the receiver, then from the sender. */
	cm(0x21, 0x00, 3000, "101700" "04" "FF" "00D900");
	cm(0x00, 0x21, 3010, "1104" "01" "FFFF" "00D900");
	dt(0x21, 0x00, 3020, 1, 23);
	cm(0x00, 0x21, 3030, "FF03" "FFFFFF" "00D900");
	CHECK_EQ(j().broken[CNP_TP_ABORT], 1);
	dt(0x21, 0x00, 3040, 2, 23);
	CHECK_EQ(j().broken[CNP_TP_STRAY], 1);
	cm(0x21, 0x00, 4000, "101700" "04" "FF" "00D900");
	cm(0x21, 0x00, 4010, "FF01" "FFFFFF" "00D900");
	CHECK_EQ(j().broken[CNP_TP_ABORT], 2);
	/* No CTS within T3 (1250 ms). */
	cm(0x21, 0x00, 5000, "101700" "04" "FF" "00D900");
	cm(0x00, 0x21, 6251, "1104" "01" "FFFF" "00D900");
	CHECK_EQ(j().broken[CNP_TP_TIMEOUT], 1);
	CHECK_EQ(j().broken[CNP_TP_STRAY], 2);
	/* No EoMA within T3 after the last packet. */
	cm(0x21, 0x00, 7000, "101700" "04" "FF" "00D900");
	cm(0x00, 0x21, 7010, "1104" "01" "FFFF" "00D900");
	for (unsigned sn = 1; sn <= 4; sn++)
		dt(0x21, 0x00, 7010 + sn * 10, sn, 23);
	feed(0x100, 8301, "00"); /* any later frame finds the timeout */
	CHECK_EQ(j().broken[CNP_TP_TIMEOUT], 2);
	/* A DT beyond what the CTS allowed; a DT before any CTS. */
	cm(0x21, 0x00, 9000, "101700" "04" "FF" "00D900");
	cm(0x00, 0x21, 9010, "1101" "01" "FFFF" "00D900");
	dt(0x21, 0x00, 9020, 1, 23);
	dt(0x21, 0x00, 9030, 2, 23);
	CHECK_EQ(j().broken[CNP_TP_WRONG_SN], 1);
	cm(0x21, 0x00, 9100, "101700" "04" "FF" "00D900");
	dt(0x21, 0x00, 9110, 1, 23);
	CHECK_EQ(j().broken[CNP_TP_WRONG_SN], 2);
	/* EoMA before every packet: malformed. A BAM and an RTS from the
	 * same sender at once are two sessions. */
	cm(0x21, 0x00, 10000, "101700" "04" "FF" "00D900");
	cm(0x21, 0xFF, 10001, "200A00" "02" "FF" "CBFE00");
	cm(0x00, 0x21, 10010, "1104" "01" "FFFF" "00D900");
	dt(0x21, 0xFF, 10011, 1, 10);
	dt(0x21, 0x00, 10020, 1, 23);
	dt(0x21, 0xFF, 10021, 2, 10);
	CHECK_EQ(g.n, 3);
	CHECK(payload_ok(2, 10));
	cm(0x00, 0x21, 10030, "131700" "04" "FF" "00D900");
	CHECK_EQ(j().broken[CNP_TP_MALFORMED], 1);
	/* A CTS for another PGN is stray. */
	cm(0x00, 0x21, 10040, "1104" "01" "FFFF" "00EF00");
	CHECK_EQ(j().broken[CNP_TP_STRAY], 3);
	CHECK_EQ(j().messages, 3);
	CHECK_EQ(cnp_tp_open(tp), 0);
	/* Allocation failure costs that session only. */
	cnp_alloc_fail_after(0);
	cm(0x21, 0x00, 11000, "101700" "04" "FF" "00D900");
	cnp_alloc_fail_after(-1);
	CHECK_EQ(j().broken[CNP_TP_NO_SLOT], 1);
	CHECK_EQ(cnp_tp_open(tp), 0);
	cnp_tp_destroy(tp);
	tp = NULL;
}

static void test_slots(void)
{
	struct cnp_tp_config c = isotp_cfg();
	c.isotp[0] = (struct cnp_tp_range){0x000, 0x7FF, 0};
	setup(&c);
	for (unsigned i = 0; i < CNP_TP_MAX_SESSIONS + 2; i++)
		feed(0x100 + i, i, "1010000102030405");
	CHECK_EQ(cnp_tp_open(tp), CNP_TP_MAX_SESSIONS);
	CHECK_EQ(iso().broken[CNP_TP_NO_SLOT], 2);
	/* All time out together; destroy frees what is left otherwise. */
	feed(0x7FF, 5000, "00");
	CHECK_EQ(cnp_tp_open(tp), 0);
	CHECK_EQ(iso().broken[CNP_TP_TIMEOUT], CNP_TP_MAX_SESSIONS);
	feed(0x100, 6000, "1010000102030405");
	cnp_tp_destroy(tp);
	tp = NULL;
	CHECK(strcmp(cnp_tp_reason_name(CNP_TP_MISSING), "missing_frame") == 0);
	CHECK(strcmp(cnp_tp_reason_name(CNP_TP_NO_SLOT), "no_slot") == 0);
}

/* The counters in a batch's manifest: what happened since the previous
 * batch (cnp_tp_stats_since), only the broken reasons that are not 0. */
static void test_manifest(void)
{
	struct cnp_tp_stats then = {.messages = 5, .flow_control = 2}, now = then, iso, j;
	now.messages = 9;
	now.flow_control = 3;
	now.broken[CNP_TP_MISSING] = 2;
	then.broken[CNP_TP_STRAY] = 1;
	now.broken[CNP_TP_STRAY] = 1;
	cnp_tp_stats_since(&now, &then, &iso);
	CHECK_EQ(iso.messages, 4);
	CHECK_EQ(iso.flow_control, 1);
	CHECK_EQ(iso.broken[CNP_TP_MISSING], 2);
	CHECK_EQ(iso.broken[CNP_TP_STRAY], 0);
	memset(&j, 0, sizeof(j));
	j.messages = 7;
	j.broken[CNP_TP_TIMEOUT] = 1;
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	for (int with = 0; with < 2; with++) {
		struct cnp_batch_writer *w = NULL;
		CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_cols_ck_zlib, 65536, 6), CNP_OK);
		if (!w)
			return;
		struct cnp_batch_info info = {.vehicle = "car-1", .spool_id = "0123456789abcdef",
		                              .ifaces = &ifs, .has_transport = with,
		                              .tp_isotp = iso, .tp_j1939 = j};
		uint8_t *out = NULL, digest[CNP_SHA256_LEN];
		size_t len = 0;
		CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, &len, digest), CNP_OK);
		/* The manifest: after the 16-byte header, its length at byte 8
		 * (docs/FORMAT.md). */
		char manifest[4096];
		size_t m = out ? (size_t)out[8] | (size_t)out[9] << 8 | (size_t)out[10] << 16 |
		                         (size_t)out[11] << 24
		               : 0;
		size_t n = m < sizeof(manifest) - 1 && 16 + m <= len ? m : 0;
		if (n)
			memcpy(manifest, out + 16, n);
		manifest[n] = 0;
		if (with)
			CHECK_CONTAINS(manifest, "\"transport\":{\"isotp\":{\"messages\":4,"
			                         "\"broken\":{\"missing_frame\":2}},"
			                         "\"j1939\":{\"messages\":7,\"broken\":{\"timeout\":1}}}");
		else
			CHECK(strstr(manifest, "transport") == NULL);
		cnp_free(out);
		cnp_batch_writer_destroy(w);
	}
}

int main(void)
{
	test_manifest();
	test_isotp_whole();
	test_isotp_broken();
	test_isotp_fd();
	test_j1939_bam();
	test_j1939_rts();
	test_slots();
	return check_finish();
}
