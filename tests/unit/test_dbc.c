/*
 * DBC parser and decoder: bit extraction against a bit-by-bit reference,
 * floats, scaling, multiplexing (simple, extended, cascaded), J1939 PGN
 * matching, CAN FD, attributes, text encodings, malformed input in both
 * modes, allocation failures, and an allocation-free decode path.
 */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/dbc.h"
#include "firmware/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---------------------------------------------------------------- */

struct warnings {
	unsigned n;
	char last[400];
	char all[4096];
};

static void collect(void *arg, const char *text)
{
	struct warnings *w = arg;
	w->n++;
	snprintf(w->last, sizeof(w->last), "%s", text);
	size_t used = strlen(w->all);
	if (used + strlen(text) + 2 < sizeof(w->all)) {
		memcpy(w->all + used, text, strlen(text));
		w->all[used + strlen(text)] = '\n';
		w->all[used + strlen(text) + 1] = '\0';
	}
}

/* Parses `text` as "t.dbc"; warnings are collected into *w (may be NULL). */
static int parse(const char *text, unsigned flags, struct warnings *w, struct cnp_dbc **db,
                 struct cnp_dbc_error *err)
{
	struct cnp_dbc_options o = {.flags = flags | CNP_DBC_QUIET, .warn = collect,
	                            .warn_arg = w};
	struct warnings scratch;
	if (!w) {
		memset(&scratch, 0, sizeof(scratch));
		o.warn_arg = &scratch;
	} else {
		memset(w, 0, sizeof(*w));
	}
	return cnp_dbc_parse(text, strlen(text), "t.dbc", &o, db, err);
}

static void hex(const char *s, uint8_t *out, unsigned *len)
{
	unsigned n = 0;
	while (s[0] && s[1]) {
		unsigned v;
		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
		s += 2;
		while (*s == ' ')
			s++;
	}
	*len = n;
}

/* Decoded signals, in callback order. */
struct got {
	unsigned n;
	const char *name[32];
	uint64_t raw[32];
	double phys[32];
	char names[512];
};

static int record(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	struct got *g = arg;
	if (g->n < 32) {
		g->name[g->n] = sig->name;
		g->raw[g->n] = raw;
		g->phys[g->n] = phys;
		g->n++;
		size_t u = strlen(g->names);
		snprintf(g->names + u, sizeof(g->names) - u, "%s%s", u ? " " : "", sig->name);
	}
	return 0;
}

static void decode(const struct cnp_dbc_message *m, const char *data_hex, struct got *g)
{
	uint8_t d[64];
	unsigned n;
	memset(g, 0, sizeof(*g));
	hex(data_hex, d, &n);
	CHECK_EQ(cnp_dbc_decode(m, d, n, record, g), CNP_OK);
}

static const char *HEAD = "VERSION \"\"\n\nNS_ :\n\tCM_\n\tBA_DEF_\n\nBS_:\n\nBU_: X\n\n";

/* ---- bit extraction ---------------------------------------------------------- */

/* Vector's definition, bit by bit: Intel from the LSB upwards; Motorola
 * from the MSB, "sawtooth" order 7..0, 15..8, ... */
static int ref_extract(const uint8_t *d, unsigned bytes, unsigned start, unsigned len,
                       int intel, uint64_t *v)
{
	*v = 0;
	if (intel) {
		if (start + len > bytes * 8)
			return 0;
		for (unsigned k = len; k-- > 0;) {
			unsigned b = start + k;
			*v = (*v << 1) | ((d[b / 8] >> (b % 8)) & 1u);
		}
		return 1;
	}
	unsigned b = start;
	for (unsigned k = 0; k < len; k++) {
		if (b >= bytes * 8)
			return 0;
		*v = (*v << 1) | ((d[b / 8] >> (b % 8)) & 1u);
		b = (b % 8 == 0) ? b + 15 : b - 1;
	}
	return 1;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Every length 1..64, both orders, signed and unsigned, many start bits,
 * in a 64-byte (CAN FD) message, against the reference. */
static void test_bits_exhaustive(void)
{
	uint64_t seed = 0x9E3779B97F4A7C15u;
	uint8_t data[64];
	unsigned bad = 0, cases = 0;
	for (unsigned i = 0; i < 64; i++)
		data[i] = (uint8_t)xorshift(&seed);
	for (int intel = 0; intel <= 1; intel++)
		for (int sgn = 0; sgn <= 1; sgn++)
			for (unsigned len = 1; len <= 64; len++)
				for (unsigned start = 0; start < 512; start += (start < 80 ? 1 : 37)) {
					uint64_t want;
					if (!ref_extract(data, 64, start, len, intel, &want))
						continue;
					char text[512];
					snprintf(text, sizeof(text),
					         "%sBO_ 1 M: 64 X\n SG_ S : %u|%u@%d%c (1,0) [0|0] \"\" X\n",
					         HEAD, start, len, intel, sgn ? '-' : '+');
					struct cnp_dbc *db;
					struct cnp_dbc_error err;
					if (parse(text, CNP_DBC_STRICT, NULL, &db, &err) != CNP_OK) {
						bad++;
						continue;
					}
					const struct cnp_dbc_signal *s = &cnp_dbc_message_at(db, 0)->signals[0];
					if (sgn && len < 64 && (want >> (len - 1)) & 1u)
						want |= ~(uint64_t)0 << len;
					uint64_t raw;
					double phys;
					cases++;
					if (cnp_dbc_read_signal(s, data, 64, &raw, &phys) != CNP_OK || raw != want ||
					    phys != (sgn ? (double)(int64_t)want : (double)want)) {
						if (bad++ < 5)
							fprintf(stderr, "bits: %u|%u@%d%c: got %016" PRIx64
							                " want %016" PRIx64 "\n",
							        start, len, intel, sgn ? '-' : '+', raw, want);
					}
					/* the frame length the signal needs, exactly */
					unsigned need = 1;
					uint64_t dummy;
					while (!ref_extract(data, need, start, len, intel, &dummy))
						need++;
					if (cnp_dbc_read_signal(s, data, need, &raw, NULL) != CNP_OK ||
					    cnp_dbc_read_signal(s, data, need - 1, &raw, NULL) !=
					            CNP_ERR_NOTFOUND)
						bad++;
					cnp_dbc_free(db);
				}
	CHECK_EQ(bad, 0);
	CHECK(cases > 10000);
	printf("bit extraction: %u cases against the reference\n", cases);
}

/* Hand-checked cases, including floats and scaling. */
static const struct {
	const char *sg;      /* SG_ definition after the name */
	const char *valtype; /* SIG_VALTYPE_ type or NULL */
	const char *data;
	uint64_t raw;
	double phys;
} bits[] = {
	{"0|16@1+ (1,0) [0|0] \"\"", NULL, "01 02", 0x0201, 513},
	{"7|16@0+ (1,0) [0|0] \"\"", NULL, "01 02", 0x0102, 258},
	{"0|12@0+ (1,0) [0|0] \"\"", NULL, "01 23 45", 0x91A, 0x91A},
	{"12|12@1+ (1,0) [0|0] \"\"", NULL, "00 B0 0A", 0xAB, 0xAB},
	{"0|8@1- (1,0) [0|0] \"\"", NULL, "FF", UINT64_MAX, -1},
	{"7|4@0- (1,0) [0|0] \"\"", NULL, "80", (uint64_t)-8, -8},
	{"0|64@1+ (1,0) [0|0] \"\"", NULL, "FF FF FF FF FF FF FF FF", UINT64_MAX, 18446744073709551615.0},
	{"7|64@0- (1,0) [0|0] \"\"", NULL, "80 00 00 00 00 00 00 00", 0x8000000000000000u,
	 -9223372036854775808.0},
	{"0|16@1- (0.1,-40) [0|0] \"degC\"", NULL, "9C FF", (uint64_t)-100, -50},
	{"0|32@1- (1,0) [0|0] \"\"", "1", "00 00 C0 3F", 0x3FC00000u, 1.5},
	{"0|32@1- (2,1) [0|0] \"\"", "1", "00 00 C0 3F", 0x3FC00000u, 4.0},
	{"7|32@0- (1,0) [0|0] \"\"", "1", "C0 49 0F DB", 0xC0490FDBu, -3.1415927410125732},
	{"7|64@0- (1,0) [0|0] \"\"", "2", "C0 02 00 00 00 00 00 00", 0xC002000000000000u, -2.25},
	{"0|64@1- (1,0) [0|0] \"\"", "2", "00 00 00 00 00 00 F0 7F", 0x7FF0000000000000u, INFINITY},
	/* a fused multiply-add would round once and give -31.8 here: raw 82,
	 * scale 0.1, offset -40 must give the double below on every machine */
	{"0|8@1+ (0.1,-40) [0|0] \"\"", NULL, "52", 82, -31.799999999999997},
	{"0|8@1+ (0.1,-40) [0|0] \"\"", NULL, "54", 84, -31.6},
	{"0|16@1+ (0.01,-327.68) [0|0] \"\"", NULL, "B3 04", 1203, -315.65},
};

static void test_bits_table(void)
{
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), "%sBO_ 1 M: 8 X\n SG_ S : %s X\n%s%s%s", HEAD, bits[i].sg,
		         bits[i].valtype ? "SIG_VALTYPE_ 1 S : " : "",
		         bits[i].valtype ? bits[i].valtype : "", bits[i].valtype ? ";\n" : "");
		struct cnp_dbc *db;
		struct cnp_dbc_error err;
		CHECK_EQ(parse(text, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
		if (!db)
			continue;
		struct got g;
		decode(cnp_dbc_message_at(db, 0), bits[i].data, &g);
		CHECK_EQ(g.n, 1);
		char d[200];
		snprintf(d, sizeof(d), "case %zu: raw %016" PRIx64 " phys %.17g", i, g.raw[0], g.phys[0]);
		check_report(g.raw[0] == bits[i].raw, __FILE__, __LINE__, "raw", d);
		check_report(g.phys[0] == bits[i].phys, __FILE__, __LINE__, "phys", d);
		cnp_dbc_free(db);
	}
}

/* Numbers are read to the same double as strtod (the C library's, correctly
 * rounded) gives, fast path or not. */
static void test_numbers(void)
{
	static const char *fixed[] = {
		"0.1", "1E-005", "-1.5e+3", "3.4E+038", "-3.4E+038", "0.03125", "123456789012345",
		"1234567890123456", "9007199254740993", "0.000000000000000000001", "1e22", "1e23",
		"-0", "+7", ".5", "5.", "1.7976931348623157e308", "4.9e-324", "0.30000000000000004",
		"100000000000000000000000", "0.0000001", "6425.5", "-273", "1e-22", "1e-23",
	};
	enum { RANDOM = 3000 };
	size_t cap = 400000, n = 0;
	char *text = malloc(cap);
	char (*num)[40] = malloc(sizeof(*num) * (RANDOM + 64));
	if (!text || !num) {
		free(text);
		free(num);
		return;
	}
	unsigned count = 0;
	uint64_t seed = 12345;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		snprintf(num[count++], sizeof(num[0]), "%s", fixed[i]);
	for (unsigned i = 0; i < RANDOM; i++) {
		uint64_t r = xorshift(&seed);
		unsigned digits = 1 + (unsigned)(r % 17);
		uint64_t mant = xorshift(&seed) % 100000000000000000u;
		int e = (int)(xorshift(&seed) % 61) - 30;
		char m[32];
		snprintf(m, sizeof(m), "%" PRIu64, mant);
		m[digits < strlen(m) ? digits : strlen(m)] = '\0';
		if (r & 1)
			snprintf(num[count++], sizeof(num[0]), "%s%se%d", (r & 2) ? "-" : "", m, e);
		else if (strlen(m) > 1)
			snprintf(num[count++], sizeof(num[0]), "%s%.1s.%se%d", (r & 2) ? "-" : "", m,
			         m + 1, e);
		else
			snprintf(num[count++], sizeof(num[0]), "%s", m);
	}
	n += (size_t)snprintf(text + n, cap - n, "BO_ 1 M: 64 X\n");
	for (unsigned i = 0; i < count; i++)
		n += (size_t)snprintf(text + n, cap - n, " SG_ S%u : %u|1@1+ (%s,0) [0|0] \"\" X\n", i,
		                      i % 512, num[i]);
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	struct warnings w;
	CHECK_EQ(parse(text, 0, &w, &db, &err), CNP_OK);
	unsigned bad = 0;
	const struct cnp_dbc_message *m = db ? cnp_dbc_message_at(db, 0) : NULL;
	CHECK(m && m->n_signals == count);
	for (unsigned i = 0; m && i < m->n_signals; i++) {
		double want = strtod(num[i], NULL);
		if (memcmp(&want, &m->signals[i].scale, sizeof(want)) != 0 && bad++ < 5)
			fprintf(stderr, "number %s: got %.17g want %.17g\n", num[i], m->signals[i].scale,
			        want);
	}
	CHECK_EQ(bad, 0);
	cnp_dbc_free(db);
	free(text);
	free(num);
}

/* ---- multiplexing ------------------------------------------------------------ */

static void test_mux(void)
{
	const char *text =
		"VERSION \"\"\nBS_:\nBU_: X\n"
		"BO_ 100 Simple: 8 X\n"
		" SG_ Sel M : 0|8@1+ (1,0) [0|0] \"\" X\n"
		" SG_ A m1 : 8|8@1+ (1,0) [0|0] \"\" X\n"
		" SG_ B m2 : 8|16@1+ (1,0) [0|0] \"\" X\n"
		" SG_ C : 56|8@1+ (1,0) [0|0] \"\" X\n"
		"BO_ 2147483649 Cascade: 8 X\n"
		" SG_ muxed_B_1 m1 : 24|8@1- (1,0) [0|0] \"\" X\n"
		" SG_ muxed_B_0 m0 : 16|8@1- (1,0) [0|0] \"\" X\n"
		" SG_ MUX_B m2M : 8|8@1- (1,0) [0|0] \"\" X\n"
		" SG_ muxed_A_1 m1 : 8|8@1- (1,0) [0|0] \"\" X\n"
		" SG_ MUX_A M : 0|8@1- (1,0) [0|0] \"\" X\n"
		"BO_ 300 Ranges: 8 X\n"
		" SG_ S0 M : 0|4@1+ (1,0) [0|0] \"\" X\n"
		" SG_ S1 m1 : 8|8@1+ (1,0) [0|0] \"\" X\n"
		" SG_ S2 m2 : 16|8@1+ (1,0) [0|0] \"\" X\n"
		"BO_ 301 TwoMux: 8 X\n"
		" SG_ P M : 0|4@1+ (1,0) [0|0] \"\" X\n"
		" SG_ Q M : 4|4@1+ (1,0) [0|0] \"\" X\n"
		" SG_ PA m1 : 8|8@1+ (1,0) [0|0] \"\" X\n"
		" SG_ QA m1 : 16|8@1+ (1,0) [0|0] \"\" X\n"
		"SG_MUL_VAL_ 2147483649 muxed_B_1 MUX_B 1-1;\n"
		"SG_MUL_VAL_ 2147483649 muxed_B_0 MUX_B 0-0;\n"
		"SG_MUL_VAL_ 2147483649 MUX_B MUX_A 2-2;\n"
		"SG_MUL_VAL_ 2147483649 muxed_A_1 MUX_A 1-1;\n"
		"SG_MUL_VAL_ 300 S1 S0 1-1, 3-5;\n"
		"SG_MUL_VAL_ 300 S2 S0 2-2;\n"
		"SG_MUL_VAL_ 300 S2 S0 7-9;\n"
		"SG_MUL_VAL_ 301 PA P 1-1;\n"
		"SG_MUL_VAL_ 301 QA Q 1-1;\n";
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	CHECK_EQ(parse(text, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	if (!db) {
		fprintf(stderr, "%s\n", err.text);
		return;
	}
	const struct cnp_dbc_message *simple = cnp_dbc_find(db, 100, 0);
	const struct cnp_dbc_message *casc = cnp_dbc_find(db, 1, 1);
	const struct cnp_dbc_message *ranges = cnp_dbc_find(db, 300, 0);
	const struct cnp_dbc_message *two = cnp_dbc_find(db, 301, 0);
	CHECK(simple && casc && ranges && two);
	if (!simple || !casc || !ranges || !two) {
		cnp_dbc_free(db);
		return;
	}
	static const struct {
		int msg;
		const char *data;
		const char *names;
	} cases[] = {
		{0, "01 0A 0B 00 00 00 00 0C", "Sel A C"},
		{0, "02 0A 0B 00 00 00 00 0C", "Sel B C"},
		{0, "03 0A 0B 00 00 00 00 0C", "Sel C"},
		{0, "01 0A", "Sel A"},        /* C does not fit: skipped */
		{0, "02 0A", "Sel"},          /* B needs 3 bytes */
		{0, "", ""},                  /* no multiplexor: nothing */
		{1, "02 01 05 06", "muxed_B_1 MUX_B MUX_A"},
		{1, "02 00 05 06", "muxed_B_0 MUX_B MUX_A"},
		{1, "02 07 05 06", "MUX_B MUX_A"},
		{1, "01 07 05 06", "muxed_A_1 MUX_A"},
		{1, "03 07 05 06", "MUX_A"},
		{1, "02", "MUX_A"},            /* MUX_B missing: its signals too */
		{2, "01 11 22", "S0 S1"},
		{2, "03 11 22", "S0 S1"},
		{2, "05 11 22", "S0 S1"},
		{2, "06 11 22", "S0"},
		{2, "02 11 22", "S0 S2"},
		{2, "08 11 22", "S0 S2"},      /* two SG_MUL_VAL_ for S2 add up */
		{2, "F4 11 22", "S0 S1"},      /* the multiplexor's own 4 bits only */
		{3, "11 AA BB", "P Q PA QA"},  /* independent multiplexors */
		{3, "01 AA BB", "P Q PA"},
		{3, "10 AA BB", "P Q QA"},
	};
	const struct cnp_dbc_message *msgs[] = {simple, casc, ranges, two};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct got g;
		decode(msgs[cases[i].msg], cases[i].data, &g);
		char what[64];
		snprintf(what, sizeof(what), "mux case %zu", i);
		check_report(strcmp(g.names, cases[i].names) == 0, __FILE__, __LINE__, what, g.names);
	}
	/* structure */
	const struct cnp_dbc_signal *b = cnp_dbc_find_signal(casc, "MUX_B");
	CHECK(b && b->mux == (CNP_DBC_MUXOR | CNP_DBC_MUXED));
	CHECK(b && b->multiplexor && strcmp(b->multiplexor->name, "MUX_A") == 0);
	const struct cnp_dbc_signal *s1 = cnp_dbc_find_signal(ranges, "S1");
	CHECK(s1 && s1->n_mux_ranges == 2 && s1->mux_ranges[0].lo == 1 && s1->mux_ranges[1].lo == 3 &&
	      s1->mux_ranges[1].hi == 5);
	cnp_dbc_free(db);
}

static int stop_at_second(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	(void)sig;
	(void)raw;
	(void)phys;
	return ++*(int *)arg == 2 ? 42 : 0;
}

static void test_callback_stop(void)
{
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	CHECK_EQ(parse("BO_ 1 M: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n"
	               " SG_ B : 8|8@1+ (1,0) [0|0] \"\" X\n SG_ C : 16|8@1+ (1,0) [0|0] \"\" X\n",
	               0, NULL, &db, &err),
	         CNP_OK);
	int calls = 0;
	uint8_t d[8] = {0};
	CHECK_EQ(cnp_dbc_decode(cnp_dbc_message_at(db, 0), d, 8, stop_at_second, &calls), 42);
	CHECK_EQ(calls, 2);
	cnp_dbc_free(db);
}

/* ---- J1939 ------------------------------------------------------------------- */

static void test_j1939(void)
{
	static const struct {
		uint32_t id, pgn;
	} pgns[] = {
		{0x0CF00400, 0xF004},  /* EEC1, PDU2: the PS byte is a group extension */
		{0x18FEF100, 0xFEF1},  /* CCVS1 */
		{0x18EA00FE, 0xEA00},  /* request, PDU1: the PS byte is the destination */
		{0x18EAFF00, 0xEA00},
		{0x1CECFF00, 0xEC00},  /* TP.CM */
		{0x18EFF9FE, 0xEF00},  /* proprietary A, PF 239 (PDU1) */
		{0x18F00010, 0xF000},  /* PF 240 (PDU2) */
		{0x01000000, 0x10000}, /* data page */
		{0x02000000, 0x20000}, /* extended data page */
		{0x1FFFFFFF, 0x3FFFF},
	};
	for (size_t i = 0; i < sizeof(pgns) / sizeof(pgns[0]); i++)
		CHECK_EQ(cnp_dbc_j1939_pgn(pgns[i].id), pgns[i].pgn);

	const char *j1939 =
		"VERSION \"\"\nBS_:\nBU_:\n"
		"BO_ 2364540158 EEC1: 8 Vector__XXX\n" /* 0x0CF004FE */
		" SG_ EngineSpeed : 24|16@1+ (0.125,0) [0|8031.875] \"rpm\" Vector__XXX\n"
		"BO_ 2364539905 EEC1_SA1: 8 Vector__XXX\n" /* 0x0CF00401: same PGN */
		" SG_ Other : 0|8@1+ (1,0) [0|0] \"\" Vector__XXX\n"
		"BO_ 2565537534 RQST: 3 Vector__XXX\n" /* 0x18EAFFFE */
		" SG_ PGN : 0|24@1+ (1,0) [0|0] \"\" Vector__XXX\n"
		"BO_ 256 Std: 8 Vector__XXX\n"
		"BA_DEF_ BO_ \"VFrameFormat\" ENUM \"StandardCAN\",\"ExtendedCAN\",\"reserved\",\"J1939PG\";\n"
		"BA_DEF_ \"ProtocolType\" STRING;\n"
		"BA_DEF_DEF_ \"VFrameFormat\" \"J1939PG\";\n"
		"BA_DEF_DEF_ \"ProtocolType\" \"\";\n"
		"BA_ \"ProtocolType\" \"J1939\";\n";
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	CHECK_EQ(parse(j1939, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	if (!db)
		return;
	const struct cnp_dbc_message *m;
	m = cnp_dbc_find(db, 0x0CF004FE, 1);
	CHECK(m && strcmp(m->name, "EEC1") == 0 && (m->flags & CNP_DBC_MSG_J1939) && m->pgn == 0xF004);
	m = cnp_dbc_find(db, 0x0CF00400, 1); /* other source address */
	CHECK(m && strcmp(m->name, "EEC1") == 0);
	m = cnp_dbc_find(db, 0x18F00400, 1); /* other priority */
	CHECK(m && strcmp(m->name, "EEC1") == 0);
	m = cnp_dbc_find(db, 0x0CF00401, 1); /* exact id wins over the PGN */
	CHECK(m && strcmp(m->name, "EEC1_SA1") == 0);
	m = cnp_dbc_find(db, 0x18EA0017, 1); /* PDU1: other destination and source */
	CHECK(m && strcmp(m->name, "RQST") == 0);
	CHECK(cnp_dbc_find(db, 0x0CF00500, 1) == NULL); /* other PGN */
	CHECK(cnp_dbc_find(db, 0x100, 1) == NULL);       /* standard id as 29-bit */
	m = cnp_dbc_find(db, 0x100, 0);
	CHECK(m && !(m->flags & CNP_DBC_MSG_J1939));
	/* decode through the PGN match */
	m = cnp_dbc_find(db, 0x0CF00400, 1);
	struct got g;
	if (m) {
		decode(m, "00 00 00 40 1F 00 00 00", &g);
		CHECK(g.n == 1 && g.phys[0] == 1000.0);
	}
	cnp_dbc_free(db);

	/* not J1939: extended ids match exactly only */
	const char *plain = "BO_ 2364540158 EEC1: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n";
	CHECK_EQ(parse(plain, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	CHECK(cnp_dbc_find(db, 0x0CF004FE, 1) != NULL);
	CHECK(cnp_dbc_find(db, 0x0CF00400, 1) == NULL);
	cnp_dbc_free(db);

	/* J1939 by VFrameFormat (an ENUM index) on one message only */
	const char *vff =
		"BO_ 2364540158 EEC1: 8 X\n"
		"BO_ 2566844926 CCVS1: 8 X\n" /* 0x18FEF1FE */
		"BA_DEF_ BO_ \"VFrameFormat\" ENUM \"StandardCAN\",\"ExtendedCAN\",\"reserved\",\"J1939PG\";\n"
		"BA_DEF_DEF_ \"VFrameFormat\" \"ExtendedCAN\";\n"
		"BA_ \"VFrameFormat\" BO_ 2364540158 3;\n";
	CHECK_EQ(parse(vff, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	CHECK(cnp_dbc_find(db, 0x0CF00400, 1) != NULL);
	CHECK(cnp_dbc_find(db, 0x18FEF100, 1) == NULL);
	CHECK(cnp_dbc_find(db, 0x18FEF1FE, 1) != NULL);
	cnp_dbc_free(db);
}

/* ---- attributes, CAN FD, names, text ------------------------------------------ */

static void test_attributes_fd(void)
{
	const char *text =
		"VERSION \"1.2\"\nNS_ :\n\tBA_DEF_\n\tBA_\nBS_:\nBU_: A B\n"
		"BO_ 2147483650 Fd64: 64 A\n"
		" SG_ Tail : 500|12@1+ (1,0) [0|0] \"\" B\n"
		"BO_ 16 Std: 8 A\n"
		" SG_ LongSignalNameTruncatedTo32Chars : 0|8@1+ (1,0) [0|0] \"\" B\n"
		"BO_ 17 Cyc: 8 A\n"
		"BA_DEF_ BO_  \"VFrameFormat\" ENUM  \"StandardCAN\",\"ExtendedCAN\",\"reserved\","
		"\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\","
		"\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"StandardCAN_FD\","
		"\"ExtendedCAN_FD\";\n"
		"BA_DEF_ BO_  \"GenMsgCycleTime\" INT 0 65535;\n"
		"BA_DEF_ SG_  \"SystemSignalLongSymbol\" STRING ;\n"
		"BA_DEF_ BO_  \"SystemMessageLongSymbol\" STRING ;\n"
		"BA_DEF_DEF_  \"VFrameFormat\" \"StandardCAN\";\n"
		"BA_DEF_DEF_  \"GenMsgCycleTime\" 100;\n"
		"BA_DEF_DEF_  \"SystemSignalLongSymbol\" \"\";\n"
		"BA_DEF_DEF_  \"SystemMessageLongSymbol\" \"\";\n"
		"BA_ \"VFrameFormat\" BO_ 2147483650 15;\n"
		"BA_ \"GenMsgCycleTime\" BO_ 17 20;\n"
		"BA_ \"SystemSignalLongSymbol\" SG_ 16 LongSignalNameTruncatedTo32Chars "
		"\"LongSignalNameTruncatedTo32CharsButReallyLonger\";\n"
		"BA_ \"SystemMessageLongSymbol\" BO_ 17 \"CycleTimeMessageWithALongName\";\n";
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	CHECK_EQ(parse(text, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	if (!db) {
		fprintf(stderr, "%s\n", err.text);
		return;
	}
	CHECK_STR(cnp_dbc_version(db), "1.2");
	const struct cnp_dbc_message *fd = cnp_dbc_find(db, 2, 1);
	CHECK(fd && fd->flags == (CNP_DBC_MSG_EXT | CNP_DBC_MSG_FD) && fd->length == 64);
	CHECK(fd && fd->cycle_time_ms == 100);
	CHECK_STR(fd ? fd->sender : NULL, "A");
	uint8_t d[64] = {0};
	d[62] = 0xB0; /* bits 500..511 */
	d[63] = 0x0A;
	uint64_t raw = 0;
	CHECK(fd && cnp_dbc_read_signal(&fd->signals[0], d, 64, &raw, NULL) == CNP_OK && raw == 0xAB);
	CHECK(fd && cnp_dbc_read_signal(&fd->signals[0], d, 48, &raw, NULL) == CNP_ERR_NOTFOUND);
	const struct cnp_dbc_message *std = cnp_dbc_find(db, 16, 0);
	CHECK(std && std->flags == 0);
	CHECK_STR(std ? std->signals[0].name : NULL, "LongSignalNameTruncatedTo32CharsButReallyLonger");
	CHECK_STR(std ? std->signals[0].dbc_name : NULL, "LongSignalNameTruncatedTo32Chars");
	CHECK(std && cnp_dbc_find_signal(std, "LongSignalNameTruncatedTo32Chars") != NULL);
	const struct cnp_dbc_message *cyc = cnp_dbc_find(db, 17, 0);
	CHECK(cyc && cyc->cycle_time_ms == 20);
	CHECK_STR(cyc ? cyc->name : NULL, "CycleTimeMessageWithALongName");
	CHECK(cnp_dbc_find_message(db, "Cyc") == cyc);
	CHECK(cnp_dbc_find_message(db, "CycleTimeMessageWithALongName") == cyc);
	CHECK(cnp_dbc_find_message(db, "Nope") == NULL);
	cnp_dbc_free(db);
}

static void test_values_text(void)
{
	const char *text =
		"// a comment line\r\n"
		"VERSION \"\"\r\n\r\n"
		"BO_ 100 2ndGear: 8 X // trailing comment\r\n"
		" SG_ 1stSignal : 0|8@1- (1,0) [0|0] \"\xb0" "C\" X\r\n"
		" SG_ Utf8 : 8|8@1+ (1,0) [0|0] \"\xc2\xb0" "C\" X\r\n"
		" SG_ Big : 16|32@1+ (1,0) [0|0] \"\" X\r\n"
		"VAL_TABLE_ Onoff 1 \"On\" 0 \"Off\" ;\r\n"
		"VAL_ 100 1stSignal -1 \"minus one\" 0 \"zero\" 1 \"one\" 0 \"ZERO\" ;\r\n"
		"VAL_ 100 Big 4294967295 \"all ones\" 2 \"two\" ;\r\n"
		"VAL_ SomeEnvVar 1 \"ignored\" ;\r\n"
		"CM_ SG_ 100 1stSignal \"Line one\r\nline two with \\\"quotes\\\" and \x80\x81\";\r\n"
		"CM_ BO_ 100 \"A message.\";\r\n"
		"CM_ \"The bus.\";\r\n"
		"CM_ BU_ X \"A node.\";\r\n";
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	struct warnings w;
	CHECK_EQ(parse(text, CNP_DBC_STRICT, &w, &db, &err), CNP_OK);
	if (!db) {
		fprintf(stderr, "%s\n", err.text);
		return;
	}
	CHECK_EQ(w.n, 0);
	const struct cnp_dbc_message *m = cnp_dbc_find_message(db, "2ndGear");
	CHECK(m != NULL);
	if (!m) {
		cnp_dbc_free(db);
		return;
	}
	CHECK_STR(m->comment, "A message.");
	const struct cnp_dbc_signal *s = cnp_dbc_find_signal(m, "1stSignal");
	CHECK_STR(s ? s->unit : NULL, "\xc2\xb0" "C"); /* cp1252 degree sign -> UTF-8 */
	CHECK_STR(s ? s->comment : NULL,
	          "Line one\nline two with \"quotes\" and \xe2\x82\xac\xef\xbf\xbd");
	CHECK_STR(cnp_dbc_find_signal(m, "Utf8")->unit, "\xc2\xb0" "C"); /* kept */
	CHECK(s && s->n_choices == 3);
	CHECK_STR(s ? cnp_dbc_choice_text(s, (uint64_t)-1) : NULL, "minus one");
	CHECK_STR(s ? cnp_dbc_choice_text(s, 0) : NULL, "ZERO"); /* the last one wins */
	CHECK(s && cnp_dbc_choice_text(s, 5) == NULL);
	const struct cnp_dbc_signal *big = cnp_dbc_find_signal(m, "Big");
	CHECK_STR(big ? cnp_dbc_choice_text(big, 4294967295u) : NULL, "all ones");
	const struct cnp_dbc_choice *c;
	unsigned n;
	CHECK_EQ(cnp_dbc_value_table(db, "Onoff", &c, &n), CNP_OK);
	CHECK(n == 2 && c[0].value == 0 && strcmp(c[1].text, "On") == 0);
	CHECK_EQ(cnp_dbc_value_table(db, "Nope", &c, &n), CNP_ERR_NOTFOUND);
	cnp_dbc_free(db);
}

/* Files without NS_, BS_ or BU_ load; so does an empty one. */
static void test_sparse_files(void)
{
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	CHECK_EQ(parse("", CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	CHECK(db && cnp_dbc_message_count(db) == 0);
	cnp_dbc_free(db);
	CHECK_EQ(parse("VERSION \"\"\n\nNS_ :\n  NS_DESC_\n\nBO_ 127 UNK_07F: 8 XXX\n\n"
	               "BO_ 265 VCU_109: 8 VCU\n SG_ Counter : 60|2@1+ (1,0) [0|3] \"\" XXX\n",
	               CNP_DBC_STRICT, NULL, &db, &err),
	         CNP_OK);
	CHECK(db && cnp_dbc_message_count(db) == 2 && cnp_dbc_signal_count(db) == 1);
	cnp_dbc_free(db);
	/* an empty value table and no value descriptions at all (fuzzer) */
	CHECK_EQ(parse("VAL_TABLE_ Empty ;\n", CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	const struct cnp_dbc_choice *c;
	unsigned n = 1;
	CHECK(db && cnp_dbc_value_table(db, "Empty", &c, &n) == CNP_OK && n == 0 && !c);
	cnp_dbc_free(db);
	CHECK_EQ(cnp_dbc_parse(NULL, 0, NULL, NULL, &db, &err), CNP_OK);
	cnp_dbc_free(db);
	cnp_dbc_free(NULL);
}

/* ---- malformed input --------------------------------------------------------- */

/*
 * Each snippet goes at line 6 of a small file whose last line holds a
 * message that must still load in lenient mode. Strict mode refuses with
 * "t.dbc:LINE: ..." containing `why`; lenient mode loads with a warning
 * naming the same line. `note`: a warning in both modes, never a refusal.
 */
static const struct {
	const char *snippet;
	unsigned line; /* 1 = the snippet's first line */
	const char *why;
	int note;
} bad[] = {
	{"BO_ 12x Msg: 8 X", 1, "expected an integer for the message id", 0},
	{"BO_ 200 Msg 8 X", 1, "expected ':'", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@2+ (1,0) [0|0] \"\" X", 2, "byte order", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@1* (1,0) [0|0] \"\" X", 2, "'+' or '-'", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|0@1+ (1,0) [0|0] \"\" X", 2, "length 0 is out of range", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|65@1+ (1,0) [0|0] \"\" X", 2, "(1 to 64 bits)", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S mx : 0|8@1+ (1,0) [0|0] \"\" X", 2, "not a multiplexer indicator", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@1+ (1,0 [0|0] \"\" X", 2, "expected ')'", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0] \"open X", 2, "not closed on its line", 0},
	{"CM_ BO_ 100 \"open comment;", 1, "comment is not closed where it should be", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@1+ (x,0) [0|0] \"\" X", 2, "a number for the scale", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@1+ (\n", 2, "a number for the scale, found the end of the line", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|\n", 2, "the length, found the end of the line", 0},
	{"BO_ 200 Msg: 8 X\n SG_ S : 0|8@1+ (1,0) [0|0]\n", 2, "the unit, found the end of the line", 0},
	{"CM_ SG_ 100 \"no signal name\";", 1, "expected a signal name", 0},
	{"CM_ BO_ 100 \"no semicolon\"", 1, "expected ';'", 0},
	{"CM_ XX_ 100 \"what\";", 1, "expected BU_, BO_, SG_, EV_", 0},
	{"CM_ BO_ 100 \"an \"unescaped\" quote\";", 1, "expected ';'", 0},
	{"VAL_ 100 S 1 \"a\" 2 ;", 1, "expected a quoted string", 0},
	{"VAL_ 100 S 1.5 \"a\" ;", 1, "expected an integer", 0},
	{"BA_DEF_ BO_ \"X\" BOGUS;", 1, "unknown type", 0},
	{"BA_ \"Undefined\" BO_ 100 1;", 1, "has no BA_DEF_", 0},
	{"SG_MUL_VAL_ 100 S Sel 3-1;", 1, "not a range", 0},
	{"SG_MUL_VAL_ 100 S Nope 1-1;", 1, "has no multiplexor Nope", 0},
	{"SIG_VALTYPE_ 100 S : 1;", 1, "needs 32 bits", 0},
	{"SIG_VALTYPE_ 100 Nope : 1;", 1, "has no signal Nope", 0},
	{"SIG_VALTYPE_ 999 S : 1;", 1, "no message with id 999", 0},
	{"BO_ 3000 Big: 8 X", 1, "does not fit 11 bits", 0},
	{"BO_ 4294967295 Huge: 8 X", 1, "does not fit 29 bits", 0},
	{"BO_ 100 Dup: 8 X", 1, "already message Msg", 0},
	{"BO_ 200 Len: 70000 X", 1, "message length 70000", 0},
	{"BO_ 200 Ov: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n SG_ B : 4|8@1+ (1,0) [0|0] \"\" X", 3,
	 "overlaps signal A", 0},
	{"BO_ 200 Fit: 2 X\n SG_ A : 8|16@1+ (1,0) [0|0] \"\" X", 2, "does not fit in message Fit", 0},
	{"BO_ 200 Dn: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n SG_ A : 8|8@1+ (1,0) [0|0] \"\" X", 3,
	 "already has a signal of that name", 0},
	{"BO_ 200 NoM: 8 X\n SG_ A m1 : 0|8@1+ (1,0) [0|0] \"\" X", 2, "no multiplexor (M)", 0},
	{"BO_ 200 Cyc: 8 X\n SG_ A m1M : 0|8@1+ (1,0) [0|0] \"\" X\n"
	 " SG_ B m1M : 8|8@1+ (1,0) [0|0] \"\" X\nSG_MUL_VAL_ 200 A B 1-1;\nSG_MUL_VAL_ 200 B A 1-1;",
	 2, "form a cycle", 0},
	{"CM_ \"bus\";\n SG_ S : 0|8@1+ (1,0) [0|0] \"\" X", 2, "outside a message", 0},
	{"FOO_ bar;", 1, "unknown keyword 'FOO_'", 0},
	{"}", 1, "expected a keyword", 0},
	{"SIG_GROUP_ 100 G 1 : S\nBO_ 300 After: 8 X", 1, "no ';' before the next statement", 0},
	/* notes: dangling references that change no value */
	{"CM_ SG_ 100 Nope \"comment\";", 1, "has no signal Nope", 1},
	{"CM_ BO_ 999 \"comment\";", 1, "no message with id 999", 1},
	{"VAL_ 100 Nope 1 \"a\" ;", 1, "has no signal Nope", 1},
	{"BA_DEF_DEF_ \"Undefined\" 1;", 1, "has no BA_DEF_", 1},
};

static void test_malformed(void)
{
	const char *pre = "VERSION \"\"\nBS_:\nBU_: X\nBO_ 100 Msg: 8 X\n"
	                  " SG_ S : 0|8@1+ (1,0) [0|0] \"\" X\n"; /* 5 lines */
	const char *post = "\nBO_ 2047 Last: 8 X\n SG_ L : 0|8@1+ (1,0) [0|0] \"\" X\n";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[1024], want[64];
		snprintf(text, sizeof(text), "%s%s%s", pre, bad[i].snippet, post);
		snprintf(want, sizeof(want), "t.dbc:%u: ", 5 + bad[i].line);
		struct cnp_dbc *db;
		struct cnp_dbc_error err;
		struct warnings w;
		char what[80];
		snprintf(what, sizeof(what), "malformed case %zu (%s)", i, bad[i].why);
		/* strict */
		int rc = parse(text, CNP_DBC_STRICT, &w, &db, &err);
		if (bad[i].note) {
			check_report(rc == CNP_OK && w.n == 1 && strstr(w.last, want) &&
			                     strstr(w.last, bad[i].why),
			             __FILE__, __LINE__, what, w.last);
			cnp_dbc_free(db);
		} else {
			check_report(rc == CNP_ERR_INVAL && !db && strstr(err.text, want) &&
			                     strstr(err.text, bad[i].why) && err.line == 5 + bad[i].line,
			             __FILE__, __LINE__, what, err.text);
			check_report(!strstr(err.text, "; "), __FILE__, __LINE__, what, err.text);
		}
		/* lenient: loads, warns at that line, keeps what follows */
		rc = parse(text, 0, &w, &db, &err);
		check_report(rc == CNP_OK && db && w.n >= 1 && strstr(w.all, want) &&
		                     strstr(w.all, bad[i].why),
		             __FILE__, __LINE__, what, w.all);
		const struct cnp_dbc_message *last = db ? cnp_dbc_find(db, 2047, 0) : NULL;
		check_report(last && last->n_signals == 1, __FILE__, __LINE__, what, "Last lost");
		check_report(db && cnp_dbc_find(db, 100, 0) != NULL, __FILE__, __LINE__, what, "Msg lost");
		cnp_dbc_free(db);
	}
}

/* Lenient recovery details. */
static void test_lenient(void)
{
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	struct warnings w;
	/* a 29-bit id written without bit 31 is read as one */
	CHECK_EQ(parse("BO_ 274923520 DriverDoorStatus: 1 GMLAN\n"
	               " SG_ DriverDoorOpened : 0|1@0+ (1,0) [0|0] \"\"  NEO\n",
	               0, &w, &db, &err),
	         CNP_OK);
	const struct cnp_dbc_message *m = db ? cnp_dbc_find(db, 0x10630000, 1) : NULL;
	CHECK(m && (m->flags & CNP_DBC_MSG_EXT) && m->n_signals == 1);
	CHECK_EQ(w.n, 1);
	cnp_dbc_free(db);
	/* a skipped message takes its signals along without more warnings */
	CHECK_EQ(parse("BO_ 4294967295 Huge: 8 X\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\n"
	               " SG_ B : 8|8@1+ (1,0) [0|0] \"\" X\nCM_ SG_ 4294967295 A \"c\";\n"
	               "BO_ 5 Ok: 8 X\n",
	               0, &w, &db, &err),
	         CNP_OK);
	CHECK(db && cnp_dbc_message_count(db) == 1 && cnp_dbc_signal_count(db) == 0);
	CHECK_EQ(w.n, 1);
	cnp_dbc_free(db);
	/* CANdb++'s pseudo message is dropped silently */
	CHECK_EQ(parse("BO_ 3221225472 VECTOR__INDEPENDENT_SIG_MSG: 0 Vector__XXX\n"
	               " SG_ A : 0|8@1+ (1,0) [0|0] \"\" X\nCM_ SG_ 3221225472 A \"c\";\n",
	               CNP_DBC_STRICT, &w, &db, &err),
	         CNP_OK);
	CHECK(db && cnp_dbc_message_count(db) == 0 && w.n == 0);
	cnp_dbc_free(db);
	/* an unbalanced quote costs its own statement only */
	CHECK_EQ(parse("BO_ 1 A: 8 X\nCM_ BO_ 1 \"broken;\nBO_ 2 B: 8 X\nCM_ BO_ 2 \"fine\";\n", 0, &w,
	               &db, &err),
	         CNP_OK);
	CHECK(db && cnp_dbc_message_count(db) == 2);
	CHECK_STR(db ? cnp_dbc_find(db, 2, 0)->comment : NULL, "fine");
	cnp_dbc_free(db);
	/* the default warning sink (the log) is used without a callback */
	struct cnp_dbc_options quiet = {.flags = CNP_DBC_QUIET};
	const char *q = "FOO_;\nBO_ 1 A: 8 X\n";
	CHECK_EQ(cnp_dbc_parse(q, strlen(q), "q.dbc", &quiet, &db, &err), CNP_OK);
	CHECK(db && cnp_dbc_warning_count(db) == 1 && cnp_dbc_message_count(db) == 1);
	cnp_dbc_free(db);
}

/* ---- resources --------------------------------------------------------------- */

static const char *RICH =
	"VERSION \"x\"\nNS_ :\n\tCM_\nBS_:\nBU_: A B\n"
	"VAL_TABLE_ T 1 \"one\" 0 \"zero\" ;\n"
	"BO_ 2147483649 Casc: 8 A\n"
	" SG_ B1 m1 : 24|8@1- (1,0) [0|0] \"\" B\n"
	" SG_ MB m2M : 8|8@1- (1,0) [0|0] \"\" B\n"
	" SG_ MA M : 0|8@1- (1,0) [0|0] \"\" B\n"
	" SG_ F : 32|32@1- (0.5,1) [0|0] \"\xb0" "C\" B\n"
	"BO_ 100 Plain: 8 A\n SG_ P : 7|16@0+ (0.1,-40) [0|0] \"\" B\n"
	"CM_ BO_ 100 \"comment\";\nCM_ SG_ 100 P \"signal comment\";\n"
	"BA_DEF_ BO_ \"GenMsgCycleTime\" INT 0 100;\nBA_DEF_DEF_ \"GenMsgCycleTime\" 10;\n"
	"BA_ \"GenMsgCycleTime\" BO_ 100 20;\n"
	"VAL_ 100 P 1 \"a\" 2 \"b\" ;\nSIG_VALTYPE_ 2147483649 F : 1;\n"
	"SG_MUL_VAL_ 2147483649 B1 MB 1-1;\nSG_MUL_VAL_ 2147483649 MB MA 2-2;\n";

static void test_alloc_failures(void)
{
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	int ok = 0;
	unsigned nomem = 0;
	for (long n = 0; n < 500 && !ok; n++) {
		cnp_alloc_fail_after(n);
		int rc = parse(RICH, CNP_DBC_STRICT, NULL, &db, &err);
		cnp_alloc_fail_after(-1);
		if (rc == CNP_OK) {
			ok = 1;
			CHECK_EQ(cnp_dbc_signal_count(db), 5);
			cnp_dbc_free(db);
		} else {
			nomem += rc == CNP_ERR_NOMEM && !db;
			CHECK_EQ(rc, CNP_ERR_NOMEM);
		}
	}
	CHECK(ok);
	CHECK(nomem > 5);
}

static void test_decode_allocates_nothing(void)
{
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	CHECK_EQ(parse(RICH, CNP_DBC_STRICT, NULL, &db, &err), CNP_OK);
	if (!db)
		return;
	uint8_t d[8] = {2, 1, 0, 5, 0, 0, 0xC0, 0x3F};
	struct got g;
	cnp_alloc_fail_after(-1); /* resets the allocation counter */
	for (unsigned i = 0; i < 1000; i++) {
		memset(&g, 0, sizeof(g));
		d[0] = (uint8_t)(i % 3);
		const struct cnp_dbc_message *m = cnp_dbc_find(db, 1, 1);
		cnp_dbc_decode(m, d, 8, record, &g);
		m = cnp_dbc_find(db, 100, 0);
		cnp_dbc_decode(m, d, 8, record, &g);
		(void)cnp_dbc_choice_text(&m->signals[0], 1);
	}
	CHECK_EQ(cnp_alloc_count(), 0);
	d[0] = 2;
	memset(&g, 0, sizeof(g));
	cnp_dbc_decode(cnp_dbc_find(db, 1, 1), d, 8, record, &g);
	CHECK_STR(g.names, "B1 MB MA F");
	CHECK(g.n == 4 && g.phys[3] == 1.5 * 0.5 + 1);
	cnp_dbc_free(db);
}

/* A synthetic 800 KB+ file with 400 messages loads in milliseconds. */
static void test_large_file(void)
{
	size_t cap = 2u << 20, n = 0;
	char *t = malloc(cap);
	if (!t)
		return;
	n += (size_t)snprintf(t + n, cap - n, "VERSION \"\"\nBS_:\nBU_: ECU\n");
	for (unsigned m = 0; m < 400; m++) {
		n += (size_t)snprintf(t + n, cap - n, "BO_ %u Message_%u: 8 ECU\n", 0x100 + m, m);
		for (unsigned s = 0; s < 16; s++)
			n += (size_t)snprintf(t + n, cap - n,
			                      " SG_ Signal_%u_%u : %u|4@1+ (0.1,-40) [-40|-38.5] \"unit\" ECU\n",
			                      m, s, s * 4);
	}
	for (unsigned m = 0; m < 400; m++)
		for (unsigned s = 0; s < 16; s++)
			n += (size_t)snprintf(t + n, cap - n,
			                      "CM_ SG_ %u Signal_%u_%u \"Comment of signal %u of message %u, "
			                      "long enough to look like a real one.\";\n"
			                      "VAL_ %u Signal_%u_%u 0 \"Zero\" 1 \"One\" 2 \"Two\" ;\n",
			                      0x100 + m, m, s, s, m, 0x100 + m, m, s);
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = cnp_dbc_parse(t, n, "large.dbc", NULL, &db, &err);
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK_EQ(rc, CNP_OK);
	CHECK(n > 800000);
	if (db) {
		CHECK_EQ(cnp_dbc_message_count(db), 400);
		CHECK_EQ(cnp_dbc_signal_count(db), 6400);
		CHECK_EQ(cnp_dbc_warning_count(db), 0);
	}
	printf("large file: %zu bytes, 400 messages, 6400 signals loaded in %.2f ms\n", n,
	       (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	cnp_dbc_free(db);
	free(t);
}

int main(void)
{
	test_bits_table();
	test_bits_exhaustive();
	test_numbers();
	test_mux();
	test_callback_stop();
	test_j1939();
	test_attributes_fd();
	test_values_text();
	test_sparse_files();
	test_malformed();
	test_lenient();
	test_alloc_failures();
	test_decode_allocates_nothing();
	test_large_file();
	return check_finish();
}
