/*
 * Signal collection: the signal-sample and event codecs, batches of format
 * 1.2, the expression language, and collection schemes (periodic, on
 * change, triggers with windows, VSS names) on a small DBC, with every
 * malformed scheme refused by path and column.
 */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/collect.h"
#include "firmware/error.h"
#include "firmware/expr.h"
#include "firmware/json.h"
#include "firmware/sigcodec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- codec ------------------------------------------------------------------ */

#define NS 2000
struct got {
	unsigned n;
	uint64_t ts[NS], raw[NS];
	double value[NS];
	char sig[NS][16];
};

static int got_sample(const struct cnp_sig_sample *s, void *arg)
{
	struct got *g = arg;
	if (g->n >= NS)
		return CNP_ERR_FULL;
	g->ts[g->n] = s->ts_us;
	g->raw[g->n] = s->raw;
	g->value[g->n] = s->value;
	snprintf(g->sig[g->n], sizeof(g->sig[0]), "%s", s->desc->signal);
	g->n++;
	return 0;
}

static void test_codec_roundtrip(void)
{
	struct cnp_sig_desc d[4] = {
		{0, CNP_SIG_UINT, "M1", "u", "", "km/h", 0.01, 0},
		{1, CNP_SIG_SINT, "M1", "s", "Vehicle.Speed", "", 1, -40},
		{0, CNP_SIG_FLOAT32, "M2", "f", "", "", 1, 0},
		{0, CNP_SIG_FLOAT64, "M2", "d", "", "V", 2, 0.5},
	};
	struct cnp_sig_encoder *e = cnp_sig_encoder_create(1 << 20, 6);
	CHECK(e != NULL);
	/* Times in order per stream, one going back (a window flush). */
	uint64_t want_ts[NS], want_raw[NS];
	unsigned want_k[NS], n = 0;
	srand(7);
	for (unsigned i = 0; i < 1000; i++) {
		unsigned k = i % 4;
		uint64_t ts = 1700000000000000ull + i * 1000u - (i == 500 ? 700000u : 0);
		uint64_t raw = k == 1 ? (uint64_t)(int64_t)(rand() % 200 - 100)
		               : k == 2 ? 0x3F800000u + (uint64_t)(rand() % 1000)
		               : k == 3 ? 0x4000000000000000ull ^ (uint64_t)rand()
		                        : (uint64_t)(i / 10);
		CHECK_EQ(cnp_sig_encoder_add(e, &d[k], ts, raw), CNP_OK);
		want_ts[n] = ts;
		want_raw[n] = raw;
		want_k[n++] = k;
	}
	CHECK_EQ(cnp_sig_encoder_count(e), 1000);
	uint8_t *out = NULL;
	size_t out_len = 0, raw_len = 0;
	CHECK_EQ(cnp_sig_encoder_finish(e, &out, &out_len, &raw_len), CNP_OK);
	CHECK_EQ(cnp_sig_encoder_count(e), 0);
	static struct got g;
	memset(&g, 0, sizeof(g));
	const char *why = NULL;
	CHECK_EQ(cnp_sig_decode(out, out_len, raw_len, 1000, got_sample, &g, &why), CNP_OK);
	CHECK_EQ(g.n, 1000);
	/* Every sample comes back once, and in time order. */
	unsigned matched = 0;
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < g.n; j++) {
			if (g.ts[j] == want_ts[i] && g.raw[j] == want_raw[i] &&
			    strcmp(g.sig[j], d[want_k[i]].signal) == 0) {
				matched++;
				double v = cnp_sig_value(&d[want_k[i]], want_raw[i]);
				CHECK(memcmp(&v, &g.value[j], sizeof(v)) == 0);
				break;
			}
		}
	}
	CHECK_EQ(matched, 1000);
	int sorted = 1;
	for (unsigned j = 1; j < g.n; j++)
		sorted &= g.ts[j - 1] <= g.ts[j];
	CHECK(sorted);
	/* Bad input: wrong count, truncated, trailing bytes. */
	CHECK_EQ(cnp_sig_decode(out, out_len, raw_len, 999, got_sample, &g, &why), CNP_ERR_CORRUPT);
	CHECK_EQ(cnp_sig_decode(out, out_len / 2, raw_len, 1000, got_sample, &g, &why),
	         CNP_ERR_CORRUPT);
	CHECK_EQ(cnp_sig_decode(out, out_len, raw_len + 1, 1000, got_sample, &g, &why),
	         CNP_ERR_CORRUPT);
	cnp_free(out);
	/* Full: a small encoder refuses once it holds something. */
	struct cnp_sig_encoder *small = cnp_sig_encoder_create(64, 6);
	int rc = CNP_OK;
	unsigned added = 0;
	for (; added < 100 && rc == CNP_OK; added++)
		rc = cnp_sig_encoder_add(small, &d[0], added * 10u, added);
	CHECK_EQ(rc, CNP_ERR_FULL);
	CHECK(added > 1);
	/* It says so before the next frame; the rest of a frame whose first
	 * items went in is taken past the limit (overfill), then refused again. */
	CHECK(cnp_sig_encoder_full(small));
	cnp_sig_encoder_overfill(small, 1);
	for (unsigned k = 0; k < 8; k++)
		CHECK_EQ(cnp_sig_encoder_add(small, &d[k % 2], 5000u + k, k), CNP_OK);
	cnp_sig_encoder_overfill(small, 0);
	CHECK_EQ(cnp_sig_encoder_add(small, &d[0], 6000u, 1), CNP_ERR_FULL);
	cnp_sig_encoder_destroy(small);
	cnp_sig_encoder_destroy(e);
}

static int count_cb(const struct cnp_frame *f, const char *ifname, void *arg)
{
	(void)f;
	(void)ifname;
	(*(unsigned *)arg)++;
	return 0;
}

static int sample_cb(const struct cnp_sig_sample *s, const char *ifname, void *arg)
{
	CHECK_STR(ifname, "can0");
	CHECK_STR(s->desc->name, "Vehicle.Speed");
	(*(unsigned *)arg)++;
	return 0;
}

static int event_cb(const char *json, void *arg)
{
	CHECK_STR(json, "{\"trigger\":\"t\"}");
	(*(unsigned *)arg)++;
	return 0;
}

static void test_batch_sections(void)
{
	struct cnp_batch_writer *w;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_cols_zlib, 65536, 6), CNP_OK);
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	uint8_t idx;
	cnp_ifaces_intern(&ifs, "can0", 4, &idx);
	struct cnp_batch_info info = {.vehicle = "v", .spool_id = "0123456789abcdef", .boot = 1,
	                              .ifaces = &ifs, .schemes_version = "v7"};
	struct cnp_frame f = {.ts_us = 5, .id = 0x123, .len = 1, .data = {1}};
	struct cnp_sig_desc d = {0, CNP_SIG_UINT, "M", "S", "Vehicle.Speed", "km/h", 1, 0};
	uint8_t *buf = NULL, digest[32];
	size_t len = 0;
	/* Raw only: still 1.1 (byte for byte what a 1.1 writer made). */
	CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	info.schemes_version = NULL;
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &buf, &len, digest), CNP_OK);
	CHECK_EQ(buf[5], 1);
	cnp_free(buf);
	/* Frames, samples and an event: 1.2, three sections. */
	info.schemes_version = "v7";
	CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	for (unsigned i = 0; i < 10; i++)
		CHECK_EQ(cnp_batch_writer_add_sample(w, &d, 10 + i, i), CNP_OK);
	CHECK_EQ(cnp_batch_writer_add_event(w, "{\"trigger\":\"t\"}"), CNP_OK);
	CHECK_EQ(cnp_batch_writer_items(w), 12);
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &buf, &len, digest), CNP_OK);
	CHECK_EQ(buf[5], 2);
	struct cnp_batch b;
	char why[256] = "";
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(b.frames, 1);
	CHECK_EQ(b.samples, 10);
	CHECK_EQ(b.events, 1);
	CHECK_STR(b.schemes, "v7");
	CHECK_EQ(b.nsections, 3);
	unsigned nf = 0, ns = 0, ne = 0;
	CHECK_EQ(cnp_batch_frames(&b, count_cb, &nf, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_samples(&b, sample_cb, &ns, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_events(&b, event_cb, &ne, why, sizeof(why)), CNP_OK);
	CHECK_EQ(nf, 1);
	CHECK_EQ(ns, 10);
	CHECK_EQ(ne, 1);
	cnp_free(buf);
	/* Samples only: no raw section at all. */
	CHECK_EQ(cnp_batch_writer_add_sample(w, &d, 10, 1), CNP_OK);
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &buf, &len, digest), CNP_OK);
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(b.nsections, 1);
	CHECK_EQ(b.sections[0].kind, CNP_SECTION_SIGNALS);
	cnp_free(buf);
	cnp_batch_writer_destroy(w);
}

/* ---- expressions --------------------------------------------------------------- */

static int names(void *arg, const char *name, unsigned *slot, char *why, size_t why_len)
{
	(void)arg;
	static const char *const known[] = {"Speed", "Brake", "Msg.Sig", "1stGear", NULL};
	for (unsigned i = 0; known[i]; i++)
		if (strcmp(known[i], name) == 0) {
			*slot = i;
			return 0;
		}
	snprintf(why, why_len, "no signal \"%s\"", name);
	return -1;
}

static double ev(const char *text, const double *vals)
{
	struct cnp_expr *e;
	unsigned col;
	char why[200];
	uint64_t stamps[4] = {1, 1, 1, 1};
	if (cnp_expr_parse(text, names, NULL, &e, &col, why, sizeof(why)) != CNP_OK) {
		printf("parse failed: %s: column %u: %s\n", text, col, why);
		return -12345;
	}
	double v = cnp_expr_eval(e, vals, stamps, 10);
	cnp_expr_free(e);
	return v;
}

static void expr_error(const char *text, unsigned want_col, const char *want)
{
	struct cnp_expr *e = NULL;
	unsigned col = 0;
	char why[200] = "";
	CHECK_EQ(cnp_expr_parse(text, names, NULL, &e, &col, why, sizeof(why)), CNP_ERR_INVAL);
	CHECK(e == NULL);
	CHECK_EQ(col, want_col);
	CHECK_CONTAINS(why, want);
}

static void test_expr(void)
{
	double v[4] = {90, 60, 3, 2};
	CHECK(ev("Speed > 80 && Brake >= 60", v) == 1);
	CHECK(ev("Speed > 80 && !(Brake >= 60)", v) == 0);
	CHECK(ev("Speed < 80 || Brake == 60", v) == 1);
	CHECK(ev("1 + 2 * 3 - 4 / 2", v) == 5);
	CHECK(ev("-Speed + 100", v) == 10);
	CHECK(ev("(Speed - Brake) % 7", v) == 2);
	CHECK(ev("abs(Brake - Speed)", v) == 30);
	CHECK(ev("Msg.Sig * `1stGear`", v) == 6);
	CHECK(ev("Speed != Brake", v) == 1);
	CHECK(ev("2e1 == 20", v) == 1);
	/* An unknown value (NaN) makes comparisons false, and ! of that true. */
	double u[4] = {NAN, 60, 3, 2};
	CHECK(ev("Speed > 80", u) == 0);
	CHECK(ev("Speed <= 80", u) == 0);
	CHECK(ev("Speed != 80", u) == 0);
	CHECK(ev("Speed > 80 || Brake > 10", u) == 1);
	CHECK(ev("!(Speed > 80)", u) == 1);

	expr_error("Speed >", 8, "unexpected end");
	expr_error("Speed > Foo", 9, "no signal \"Foo\"");
	expr_error("Speed & 1", 7, "use && and ||");
	expr_error("Speed = 1", 7, "use == to compare");
	expr_error("1 < Speed < 3", 11, "do not chain");
	expr_error("(Speed > 1", 11, "expected \")\"");
	expr_error("Speed > 1)", 10, "unexpected \")\"");
	expr_error("sqrt(Speed)", 1, "unknown function");
	expr_error("min(3, 100)", 5, "takes a signal name");
	expr_error("max(Speed, 0)", 12, "whole number of ms");
	expr_error("avg(Speed)", 10, "expected \",\"");
	expr_error("1stGear > 1", 1, "backticks");
	expr_error("Speed > #", 9, "unexpected \"#\"");
	expr_error("", 1, "unexpected end");
	/* Bounded: deep nesting and long expressions are refused, not run. */
	char deep[200];
	memset(deep, '(', 100);
	strcpy(deep + 100, "1");
	expr_error(deep, 33, "nested too deeply");
	char *many = malloc(4000);
	strcpy(many, "1");
	for (int i = 0; i < 300; i++)
		strcat(many, "+1");
	expr_error(many, 258, "too long");
	strcpy(many, "1");
	for (int i = 0; i < 600; i++)
		strcat(many, "+1");
	expr_error(many, CNP_EXPR_MAX_LEN + 1, "longer than");
	free(many);

	/* Window functions over capture time. */
	struct cnp_expr *e;
	unsigned col;
	char why[200];
	CHECK_EQ(cnp_expr_parse("max(Speed, 1000) - min(Speed, 1000) >= 20 && avg(Speed, 1000) < 50",
	                        names, NULL, &e, &col, why, sizeof(why)),
	         CNP_OK);
	double vals[4] = {0, 0, 0, 0};
	uint64_t st[4] = {0, 0, 0, 0};
	double seq[] = {10, 20, 30, 40, 50, 60};
	double want[] = {0, 0, 1, 1, 1, 0}; /* 3 values a window: range 0, 10, 20...; avg 50 at the end */
	for (unsigned i = 0; i < 6; i++) {
		vals[0] = seq[i];
		st[0] = 1000000 + i * 400000u; /* 0.4 s apart: a 1 s window holds 3 */
		double r = cnp_expr_eval(e, vals, st, st[0]);
		char d[64];
		snprintf(d, sizeof(d), "step %u: %g", i, r);
		check_report(r == want[i], __FILE__, __LINE__, "window function", d);
	}
	unsigned slots[4];
	CHECK_EQ(cnp_expr_slots(e, slots, 4), 1);
	cnp_expr_free(e);
}

/* ---- schemes --------------------------------------------------------------------- */

static const char dbc_text[] =
	"VERSION \"\"\n"
	"BO_ 256 Dyn: 8 ECU\n"
	" SG_ Speed : 0|16@1+ (0.01,0) [0|655.35] \"km/h\" X\n"
	" SG_ Brake : 16|8@1+ (1,0) [0|255] \"bar\" X\n"
	"BO_ 512 Body: 2 ECU\n"
	" SG_ Door : 0|1@1+ (1,0) [0|1] \"\" X\n"
	" SG_ Temp : 8|8@1- (1,-40) [-168|87] \"degC\" X\n";

struct rec {
	char log[20000];
	unsigned frames, samples, events;
};

static int r_frame(void *arg, const struct cnp_frame *f)
{
	struct rec *r = arg;
	size_t n = strlen(r->log);
	snprintf(r->log + n, sizeof(r->log) - n, "F%llu:%X ", (unsigned long long)(f->ts_us / 1000),
	         (unsigned)f->id);
	r->frames++;
	return 0;
}

static int r_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts, uint64_t raw)
{
	struct rec *r = arg;
	size_t n = strlen(r->log);
	snprintf(r->log + n, sizeof(r->log) - n, "S%llu:%s=%llu ", (unsigned long long)(ts / 1000),
	         d->name[0] ? d->name : d->signal, (unsigned long long)raw);
	r->samples++;
	return 0;
}

static int r_event(void *arg, const char *json)
{
	struct rec *r = arg;
	cJSON *o = cJSON_Parse(json);
	CHECK(o != NULL);
	const cJSON *t = cJSON_GetObjectItem(o, "trigger"), *from = cJSON_GetObjectItem(o, "from_us"),
	            *to = cJSON_GetObjectItem(o, "to_us");
	size_t n = strlen(r->log);
	snprintf(r->log + n, sizeof(r->log) - n, "E%s[%g,%g] ", t ? t->valuestring : "?",
	         from ? from->valuedouble / 1000 : -1, to ? to->valuedouble / 1000 : -1);
	cJSON_Delete(o);
	r->events++;
	return 0;
}

static struct cnp_dbc *test_db(void)
{
	struct cnp_dbc *db = NULL;
	struct cnp_dbc_options o = {.flags = CNP_DBC_QUIET};
	CHECK_EQ(cnp_dbc_parse(dbc_text, sizeof(dbc_text) - 1, "test.dbc", &o, &db, NULL), CNP_OK);
	return db;
}

static int make(const struct cnp_dbc *db, const char *doc, const char *vss,
                struct cnp_collector **c, char *why, size_t why_len)
{
	struct cnp_collect_dbc d = {"can0", db};
	struct cnp_collect_options o = {.dbcs = &d, .n_dbcs = 1, .doc = doc,
	                                .doc_len = doc ? strlen(doc) : 0, .origin = "s.json",
	                                .path = "$", .vss = vss, .vss_len = vss ? strlen(vss) : 0,
	                                .vss_origin = "vss.json"};
	return cnp_collector_create(&o, c, why, why_len);
}

static void feed(struct cnp_collector *c, struct rec *r, uint64_t ms, uint32_t id,
                 unsigned speed, unsigned brake)
{
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	uint8_t idx;
	cnp_ifaces_intern(&ifs, "can0", 4, &idx);
	struct cnp_frame f = {.ts_us = ms * 1000, .id = id, .len = 8};
	f.data[0] = (uint8_t)speed;
	f.data[1] = (uint8_t)(speed >> 8);
	f.data[2] = (uint8_t)brake;
	struct cnp_collect_sink s = {r_frame, r_sample, r_event, r};
	CHECK_EQ(cnp_collector_frame(c, &f, &ifs, &s), CNP_OK);
}

static void test_collect_all(void)
{
	struct cnp_dbc *db = test_db();
	struct cnp_collector *c;
	char why[512];
	CHECK_EQ(make(db, NULL, NULL, &c, why, sizeof(why)), CNP_OK);
	static struct rec r;
	memset(&r, 0, sizeof(r));
	feed(c, &r, 1, 0x100, 1000, 5);
	feed(c, &r, 2, 0x200, 0, 0);
	feed(c, &r, 3, 0x300, 0, 0); /* not in the DBC */
	CHECK_STR(r.log, "S1:Speed=1000 S1:Brake=5 S2:Door=0 S2:Temp=0 ");
	CHECK(cnp_collector_version(c) == NULL);
	cnp_collector_destroy(c);
	cnp_dbc_free(db);
}

static void test_schemes(void)
{
	struct cnp_dbc *db = test_db();
	struct cnp_collector *c;
	char why[512] = "";
	const char *doc =
		"{\"version\": \"v1\", \"vss\": {\"Vehicle.Speed\": \"Dyn.Speed\"},"
		" \"schemes\": ["
		"  {\"name\": \"slow\", \"signals\": [{\"name\": \"Vehicle.Speed\", \"interval_ms\": 100},"
		"                                   {\"name\": \"Brake\", \"on_change\": true}]},"
		"  {\"name\": \"brake\", \"priority\": 5, \"triggers\": [{\"name\": \"hard\","
		"     \"condition\": \"Vehicle.Speed > 50 && Brake >= 80\", \"before_ms\": 30,"
		"     \"after_ms\": 20, \"raw\": true, \"signals\": [\"Brake\"], \"min_interval_ms\": 0}]}"
		"]}";
	int rc = make(db, doc, NULL, &c, why, sizeof(why));
	CHECK_EQ(rc, CNP_OK);
	if (rc != CNP_OK) {
		printf("%s\n", why);
		cnp_dbc_free(db);
		return;
	}
	CHECK_STR(cnp_collector_version(c), "v1");
	static struct rec r;
	memset(&r, 0, sizeof(r));
	/* Speed 60 km/h = 6000 raw, every 10 ms; brake rises at 50 ms. */
	for (unsigned t = 0; t <= 120; t += 10)
		feed(c, &r, t, 0x100, 6000, t >= 50 && t < 60 ? 90 : t >= 60 && t < 100 ? 0 : t >= 100 ? 95 : 0);
	CHECK_STR(r.log,
	          /* t=0: periodic speed, brake first value */
	          "S0:Vehicle.Speed=6000 S0:Brake=0 "
	          /* t=50: brake changes (on change), trigger fires: event, then
	           * the window's raw frames from 20 ms and its Brake samples
	           * not yet passed on (50 ms was) */
	          "S50:Brake=90 Ehard[20,70] F20:100 S20:Brake=0 F30:100 S30:Brake=0 F40:100 "
	          "S40:Brake=0 F50:100 "
	          /* t=60, 70: in the window: raw and Brake */
	          "F60:100 S60:Brake=0 F70:100 S70:Brake=0 "
	          /* t=100: periodic speed; brake rises again (rising edge);
	           * 70 ms was in the first window already */
	          "S100:Vehicle.Speed=6000 S100:Brake=95 Ehard[70,120] F80:100 S80:Brake=0 "
	          "F90:100 S90:Brake=0 F100:100 "
	          "F110:100 S110:Brake=95 F120:100 S120:Brake=95 ");
	struct cnp_collect_stats st;
	cnp_collector_stats(c, &st);
	CHECK_EQ(st.events, 2);
	cnp_collector_destroy(c);

	/* Level mode with a minimum interval. */
	const char *lvl = "{\"schemes\": [{\"name\": \"l\", \"triggers\": [{\"name\": \"b\","
	                  " \"condition\": \"Brake > 10\", \"rising_edge\": false,"
	                  " \"min_interval_ms\": 25}]}]}";
	CHECK_EQ(make(db, lvl, NULL, &c, why, sizeof(why)), CNP_OK);
	memset(&r, 0, sizeof(r));
	for (unsigned t = 0; t <= 60; t += 10)
		feed(c, &r, t, 0x100, 0, 20);
	CHECK_STR(r.log, "Eb[0,0] Eb[30,30] Eb[60,60] ");
	cnp_collector_destroy(c);

	/* Start and expiry: only frames in [start, expiry) count. */
	const char *timed = "{\"schemes\": [{\"name\": \"t\", \"start\": \"1970-01-01T00:00:01Z\","
	                    " \"expiry\": \"1970-01-01T00:00:02Z\","
	                    " \"signals\": [{\"name\": \"Brake\"}]}]}";
	CHECK_EQ(make(db, timed, NULL, &c, why, sizeof(why)), CNP_OK);
	memset(&r, 0, sizeof(r));
	feed(c, &r, 999, 0x100, 0, 1);
	feed(c, &r, 1000, 0x100, 0, 2);
	feed(c, &r, 1999, 0x100, 0, 3);
	feed(c, &r, 2000, 0x100, 0, 4);
	CHECK_STR(r.log, "S1000:Brake=2 S1999:Brake=3 ");
	cnp_collector_destroy(c);

	/* A VSS mapping file. */
	CHECK_EQ(make(db, "{\"schemes\": [{\"name\": \"v\", \"signals\": [{\"name\": \"Vehicle.Cabin.Temp\"}]}]}",
	              "{\"Vehicle.Cabin.Temp\": \"Body.Temp\"}", &c, why, sizeof(why)),
	         CNP_OK);
	memset(&r, 0, sizeof(r));
	feed(c, &r, 5, 0x200, 0, 0);
	CHECK_STR(r.log, "S5:Vehicle.Cabin.Temp=0 ");
	cnp_collector_destroy(c);
	cnp_dbc_free(db);
}

/* A message of 130 signals: a window never repeats a sample of its 130th,
 * as it never does of its first (the passed-on marks cover every index). */
static void test_wide_message(void)
{
	static char text[16384];
	size_t n = (size_t)snprintf(text, sizeof(text), "VERSION \"\"\nBO_ 256 Wide: 64 ECU\n");
	for (unsigned i = 0; i < 130; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      " SG_ W%u : %u|1@1+ (1,0) [0|1] \"\" X\n", i, i);
	struct cnp_dbc *db = NULL;
	struct cnp_dbc_options o = {.flags = CNP_DBC_QUIET};
	CHECK_EQ(cnp_dbc_parse(text, n, "wide.dbc", &o, &db, NULL), CNP_OK);
	const char *doc =
		"{\"schemes\": [{\"name\": \"w\", \"signals\": [{\"name\": \"W129\", \"on_change\": true}],"
		" \"triggers\": [{\"name\": \"hard\", \"condition\": \"W129 > 0\", \"before_ms\": 20,"
		" \"after_ms\": 0, \"signals\": [\"W129\"], \"min_interval_ms\": 0}]}]}";
	struct cnp_collector *c = NULL;
	char why[512] = "";
	CHECK_EQ(make(db, doc, NULL, &c, why, sizeof(why)), CNP_OK);
	if (!c) {
		printf("%s\n", why);
		cnp_dbc_free(db);
		return;
	}
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	uint8_t idx;
	cnp_ifaces_intern(&ifs, "can0", 4, &idx);
	static struct rec r;
	memset(&r, 0, sizeof(r));
	struct cnp_collect_sink sink = {r_frame, r_sample, r_event, &r};
	for (unsigned t = 0; t <= 20; t += 10) {
		struct cnp_frame f = {.ts_us = t * 1000u, .id = 0x100, .len = 64, .flags = CNP_FRAME_FD};
		f.data[129 / 8] = t == 20 ? (uint8_t)(1u << (129 % 8)) : 0;
		CHECK_EQ(cnp_collector_frame(c, &f, &ifs, &sink), CNP_OK);
	}
	/* 0 ms and 20 ms were passed on by the on-change rule: the window adds
	 * only 10 ms. */
	CHECK_STR(r.log, "S0:W129=0 S20:W129=1 Ehard[0,20] S10:W129=0 ");
	cnp_collector_destroy(c);
	cnp_dbc_free(db);
}

static void bad_doc(const char *doc, const char *vss, const char *want)
{
	struct cnp_dbc *db = test_db();
	struct cnp_collector *c = NULL;
	char why[512] = "";
	CHECK_EQ(make(db, doc, vss, &c, why, sizeof(why)), CNP_ERR_INVAL);
	CHECK(c == NULL);
	CHECK_CONTAINS(why, want);
	cnp_dbc_free(db);
}

static void test_bad_schemes(void)
{
	bad_doc("{\"schemes\": [", NULL, "s.json: line 1, column 13: invalid JSON");
	bad_doc("[]", NULL, "s.json: $: expected a scheme document object");
	bad_doc("{\"schemes\": 3}", NULL, "s.json: $.schemes: expected an array");
	bad_doc("{\"schemes\": [], \"colour\": 1}", NULL, "s.json: $: unknown key \"colour\"");
	bad_doc("{\"version\": 7, \"schemes\": []}", NULL, "s.json: $.version: expected a string");
	bad_doc("{\"schemes\": [{\"signals\": []}]}", NULL,
	        "s.json: $.schemes[0].name: expected a non-empty string");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"signals\": []}, {\"name\": \"a\", \"signals\": []}]}",
	        NULL, "$.schemes[1].name: a second scheme named \"a\"");
	bad_doc("{\"schemes\": [{\"name\": \"a\"}]}", NULL,
	        "$.schemes[0]: a scheme needs \"signals\" or \"triggers\"");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"signals\": [{\"name\": \"Nope\"}]}]}", NULL,
	        "$.schemes[0].signals[0].name: no signal \"Nope\"");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"signals\": [{\"name\": \"Brake\", \"interval_ms\": -1}]}]}",
	        NULL, "$.schemes[0].signals[0].interval_ms: expected a whole number");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"signals\": [{\"name\": \"Brake\", \"on_change\": 1}]}]}",
	        NULL, "$.schemes[0].signals[0].on_change: expected true or false");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"signals\": [{\"name\": \"Brake\", \"every\": 1}]}]}",
	        NULL, "$.schemes[0].signals[0]: unknown key \"every\"");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"start\": \"tomorrow\", \"signals\": []}]}", NULL,
	        "$.schemes[0].start: expected a UTC time");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"start\": \"2026-01-02T00:00:00Z\","
	        " \"expiry\": \"2026-01-01T00:00:00Z\", \"signals\": []}]}",
	        NULL, "$.schemes[0].expiry: expires before it starts");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"priority\": 1.5, \"signals\": []}]}", NULL,
	        "$.schemes[0].priority: expected a whole number");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"triggers\": [{\"name\": \"t\", "
	        "\"condition\": \"Brake > 1 && Speed >\"}]}]}",
	        NULL, "s.json: $.schemes[0].triggers[0].condition: column 21: unexpected end");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"triggers\": [{\"name\": \"t\", "
	        "\"condition\": \"Brak > 1\"}]}]}",
	        NULL, "$.schemes[0].triggers[0].condition: column 1: no signal \"Brak\"");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"triggers\": [{\"name\": \"t\"}]}]}", NULL,
	        "$.schemes[0].triggers[0].condition: expected an expression string");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"triggers\": [{\"name\": \"t\", "
	        "\"condition\": \"Brake > 1\", \"after_ms\": 100}]}]}",
	        NULL, "$.schemes[0].triggers[0]: a window (before_ms/after_ms) needs");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"triggers\": [{\"name\": \"t\", "
	        "\"condition\": \"Brake > 1\", \"signals\": [\"Brake\", 4]}]}]}",
	        NULL, "$.schemes[0].triggers[0].signals[1]: expected a signal name");
	bad_doc("{\"schemes\": [{\"name\": \"a\", \"triggers\": [{\"name\": \"t\", "
	        "\"condition\": \"Brake > 1\", \"before_ms\": 3600001, \"raw\": true}]}]}",
	        NULL, "$.schemes[0].triggers[0].before_ms: expected a whole number from 0 to 3600000");
	bad_doc("{\"schemes\": []}", "{\"Vehicle.Speed\": \"Dyn.Nope\"}",
	        "vss.json: $[\"Vehicle.Speed\"]: no signal \"Dyn.Nope\"");
	bad_doc("{\"schemes\": []}", "[1]", "vss.json: $: expected an object");
	bad_doc("{\"vss\": {\"A\": 3}, \"schemes\": []}", NULL,
	        "s.json: $.vss[\"A\"]: expected a string");
}

int main(void)
{
	cnp_json_init();
	test_codec_roundtrip();
	test_batch_sections();
	test_expr();
	test_collect_all();
	test_schemes();
	test_wide_message();
	test_bad_schemes();
	return check_finish();
}
