/* Active polling (firmware/poll.c) through the real ISO-TP driver
 * (drivers/isotp.c) against a fake kernel with a scripted ECU: the OBD-II
 * formulas, DTCs, the VIN, UDS identifiers decoded with a DBC, functional
 * and physical addressing with 11- and 29-bit ids, negative responses,
 * "response pending", timeouts, late answers, a kernel without can-isotp
 * and configuration errors naming the JSON path. The real kernel and
 * multi-frame segmentation are exercised by the QEMU system test. */
#include "check.h"

#include "drivers/isotp.h"
#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/codec.h"
#include "firmware/config.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/poll.h"
#include "firmware/sigcodec.h"

#include <errno.h>
#include <linux/can.h>
#include <linux/can/isotp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

/* ---- a fake kernel with one ECU ------------------------------------------ */

#define NSOCK 8
#define QLEN 8

enum ecu_mode { ECU_ANSWER, ECU_SILENT, ECU_NEGATIVE, ECU_PENDING, ECU_LATE, ECU_GARBLED };

struct msg {
	uint8_t b[256];
	size_t n;
	uint64_t at; /* deliverable from this fake time on */
};

struct fsock {
	int open, bound;
	struct sockaddr_can addr;
	struct can_isotp_options opt;
	struct msg q[QLEN];
	int qn;
};

struct fake {
	struct fsock s[NSOCK];
	int socket_errno;
	enum ecu_mode mode;
	uint64_t now;
	unsigned sent;
	uint8_t last_req[8];
	size_t last_len;
	canid_t last_tx;
	int last_broadcast;
};

static int f_socket(void *ctx, int domain, int type, int protocol)
{
	struct fake *f = ctx;
	CHECK_EQ(domain, PF_CAN);
	CHECK(type & SOCK_DGRAM);
	CHECK(type & SOCK_NONBLOCK);
	CHECK_EQ(protocol, CAN_ISOTP);
	if (f->socket_errno) {
		errno = f->socket_errno;
		return -1;
	}
	for (int i = 0; i < NSOCK; i++)
		if (!f->s[i].open) {
			memset(&f->s[i], 0, sizeof(f->s[i]));
			f->s[i].open = 1;
			return 100 + i;
		}
	errno = EMFILE;
	return -1;
}

static struct fsock *fs(struct fake *f, int fd)
{
	CHECK(fd >= 100 && fd < 100 + NSOCK && f->s[fd - 100].open);
	return &f->s[fd - 100];
}

static int f_ioctl(void *ctx, int fd, unsigned long request, struct ifreq *ifr)
{
	(void)fs(ctx, fd);
	CHECK_EQ(request, SIOCGIFINDEX);
	if (strcmp(ifr->ifr_name, "vcan0")) {
		errno = ENODEV;
		return -1;
	}
	ifr->ifr_ifindex = 7;
	return 0;
}

static int f_setsockopt(void *ctx, int fd, int level, int name, const void *value,
                        socklen_t len)
{
	struct fsock *s = fs(ctx, fd);
	CHECK_EQ(level, SOL_CAN_ISOTP);
	CHECK_EQ(name, CAN_ISOTP_OPTS);
	CHECK_EQ(len, sizeof(s->opt));
	memcpy(&s->opt, value, sizeof(s->opt));
	return 0;
}

static int f_bind(void *ctx, int fd, const struct sockaddr *addr, socklen_t len)
{
	struct fsock *s = fs(ctx, fd);
	CHECK_EQ(len, sizeof(s->addr));
	memcpy(&s->addr, addr, sizeof(s->addr));
	CHECK_EQ(s->addr.can_ifindex, 7);
	s->bound = 1;
	return 0;
}

static void push(struct fake *f, canid_t rx, const uint8_t *b, size_t n, uint64_t at)
{
	for (int i = 0; i < NSOCK; i++) {
		struct fsock *s = &f->s[i];
		if (!s->open || !s->bound || (s->opt.flags & CAN_ISOTP_SF_BROADCAST) ||
		    s->addr.can_addr.tp.rx_id != rx || s->qn == QLEN)
			continue;
		memcpy(s->q[s->qn].b, b, n);
		s->q[s->qn].n = n;
		s->q[s->qn].at = at;
		s->qn++;
	}
}

/* The ECU's answer to a request. */
static size_t answer(const uint8_t *r, size_t n, uint8_t *out)
{
	static const uint8_t dbc_did[] = {0x62, 0x01, 0x01, 0x1F, 0x40, 0x0E, 0x74, 0x01,
	                                  0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	                                  0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x10, 0x68};
	if (n == 2 && r[0] == 0x01) {
		out[0] = 0x41;
		out[1] = r[1];
		switch (r[1]) {
		case 0x0C: out[2] = 0x1A; out[3] = 0xF8; return 4;
		case 0x0D: out[2] = 60; return 3;
		case 0x05: out[2] = 0x7B; return 3;
		case 0x00: out[2] = 0xBE; out[3] = 0x1F; out[4] = 0xA8; out[5] = 0x13; return 6;
		default: break;
		}
	}
	if (n == 2 && r[0] == 0x09 && r[1] == 0x02) {
		memcpy(out, "\x49\x02\x01" "1HGCM82633A004352", 20);
		return 20;
	}
	if (n == 1 && r[0] == 0x03) {
		memcpy(out, "\x43\x03\x03\x01\xC1\x00\x00\x00", 8);
		return 8;
	}
	if (n == 1 && r[0] == 0x07) {
		out[0] = 0x47;
		out[1] = 0;
		return 2;
	}
	if (n == 3 && r[0] == 0x22 && r[1] == 0x01 && r[2] == 0x01) {
		memcpy(out, dbc_did, sizeof(dbc_did));
		return sizeof(dbc_did);
	}
	out[0] = 0x7F;
	out[1] = r[0];
	out[2] = 0x12; /* subFunctionNotSupported */
	return 3;
}

static ssize_t f_send(void *ctx, int fd, const void *buf, size_t len, int flags)
{
	struct fake *f = ctx;
	struct fsock *s = fs(f, fd);
	CHECK(flags & MSG_DONTWAIT);
	CHECK(len <= sizeof(f->last_req));
	f->sent++;
	memcpy(f->last_req, buf, len);
	f->last_len = len;
	f->last_tx = s->addr.can_addr.tp.tx_id;
	f->last_broadcast = (s->opt.flags & CAN_ISOTP_SF_BROADCAST) != 0;
	/* The ECU: 0x7E0 / 0x7DF in, 0x7E8 out; 29-bit address 0x10. */
	canid_t t = f->last_tx, rx;
	if (t == 0x7E0 || t == 0x7DF)
		rx = 0x7E8;
	else if (t == (0x18DA10F1u | CAN_EFF_FLAG) || t == (0x18DB33F1u | CAN_EFF_FLAG))
		rx = 0x18DAF110u | CAN_EFF_FLAG;
	else
		return (ssize_t)len; /* nobody there */
	uint8_t out[256];
	size_t n = answer(buf, len, out);
	switch (f->mode) {
	case ECU_ANSWER:
		push(f, rx, out, n, f->now);
		break;
	case ECU_SILENT:
		break;
	case ECU_NEGATIVE: {
		uint8_t neg[3] = {0x7F, f->last_req[0], 0x31};
		push(f, rx, neg, 3, f->now);
		break;
	}
	case ECU_PENDING: {
		uint8_t pend[3] = {0x7F, f->last_req[0], 0x78};
		push(f, rx, pend, 3, f->now + 500000);
		push(f, rx, out, n, f->now + 3000000);
		break;
	}
	case ECU_LATE:
		push(f, rx, out, n, f->now + 1500000);
		break;
	case ECU_GARBLED:
		/* Answers cut short, a DTC count above what follows, a VIN with
		 * a control character, a negative response to another service. */
		if (out[0] == 0x43) {
			static const uint8_t dtc[] = {0x43, 0x05, 0x03, 0x01};
			push(f, rx, dtc, sizeof(dtc), f->now);
		} else if (out[0] == 0x49) {
			out[10] = 0x01;
			push(f, rx, out, n, f->now);
		} else {
			static const uint8_t other[] = {0x7F, 0x3E, 0x11};
			push(f, rx, other, sizeof(other), f->now);
			push(f, rx, out, n - 1, f->now);
		}
		break;
	}
	return (ssize_t)len;
}

static ssize_t f_recv(void *ctx, int fd, void *buf, size_t len, int flags)
{
	struct fake *f = ctx;
	struct fsock *s = fs(f, fd);
	CHECK(flags & MSG_DONTWAIT);
	if (s->qn == 0 || s->q[0].at > f->now) {
		errno = EAGAIN;
		return -1;
	}
	size_t n = s->q[0].n < len ? s->q[0].n : len;
	memcpy(buf, s->q[0].b, n);
	memmove(&s->q[0], &s->q[1], sizeof(s->q[0]) * (size_t)(s->qn - 1));
	s->qn--;
	return (ssize_t)n;
}

static int f_close(void *ctx, int fd)
{
	fs(ctx, fd)->open = 0;
	return 0;
}

/* ---- a sink that records ------------------------------------------------- */

struct rec {
	unsigned n_samples, n_events;
	const struct cnp_sig_desc *d[64];
	uint64_t ts[64], raw[64];
	char events[16][512];
};

static int r_frame(void *arg, const struct cnp_frame *fr)
{
	(void)arg;
	(void)fr;
	CHECK(0); /* the poller passes on no frames */
	return CNP_OK;
}

static int r_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts, uint64_t raw)
{
	struct rec *r = arg;
	if (r->n_samples < 64) {
		r->d[r->n_samples] = d;
		r->ts[r->n_samples] = ts;
		r->raw[r->n_samples] = raw;
	}
	r->n_samples++;
	return CNP_OK;
}

static int r_event(void *arg, const char *json)
{
	struct rec *r = arg;
	if (r->n_events < 16)
		snprintf(r->events[r->n_events], sizeof(r->events[0]), "%s", json);
	r->n_events++;
	return CNP_OK;
}

/* The value of the sample of signal `name`, NAN if none. */
static double value_of(const struct rec *r, const char *name)
{
	for (unsigned i = 0; i < r->n_samples && i < 64; i++)
		if (!strcmp(r->d[i]->signal, name))
			return cnp_sig_value(r->d[i], r->raw[i]);
	return NAN;
}

/* ---- fixtures ------------------------------------------------------------ */

static const char dbc_text[] =
    "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: BMS\n\n"
    "BO_ 257 BatteryStatus: 22 BMS\n"
    " SG_ SOC : 7|16@0+ (0.01,0) [0|100] \"%\" Vector__XXX\n"
    " SG_ PackVoltage : 23|16@0+ (0.1,0) [0|1000] \"V\" Vector__XXX\n"
    " SG_ CellMax : 167|16@0+ (0.001,0) [0|5] \"V\" Vector__XXX\n";

static char dbc_path[512];

struct rig {
	struct fake f;
	struct cnp_isotp_sys sys;
	struct cnp_poll_link *link;
	struct cnp_poller *p;
	struct rec r;
	struct cnp_collect_sink sink;
};

static int rig_open(struct rig *g, const char *json, char *why, size_t why_len)
{
	memset(g, 0, sizeof(*g));
	g->sys = (struct cnp_isotp_sys){&g->f, f_socket, f_ioctl, f_setsockopt,
	                                f_bind, f_send, f_recv, f_close};
	g->sink = (struct cnp_collect_sink){r_frame, r_sample, r_event, &g->r};
	struct cnp_poll_options o = {json, strlen(json), "canopy.json", "$.capture.polling",
	                             dbc_path};
	int rc = cnp_poller_create(&o, &g->p, why, why_len);
	if (rc != CNP_OK)
		return rc;
	CHECK_EQ(cnp_isotp_link_create(cnp_poller_iface(g->p), &g->sys, &g->link), CNP_OK);
	cnp_poller_attach(g->p, g->link, 3);
	return CNP_OK;
}

static void rig_close(struct rig *g)
{
	cnp_poller_destroy(g->p);
	cnp_isotp_link_destroy(g->link);
	for (int i = 0; i < NSOCK; i++)
		CHECK(!g->f.s[i].open); /* every socket closed */
}

static uint64_t run_at(struct rig *g, uint64_t t_us)
{
	g->f.now = t_us;
	uint64_t wait = 0;
	CHECK_EQ(cnp_poller_run(g->p, t_us, 1700000000000000u + t_us, &g->sink, &wait), CNP_OK);
	return wait;
}

static struct fsock *sock_with_tx(struct fake *f, canid_t tx)
{
	for (int i = 0; i < NSOCK; i++)
		if (f->s[i].open && f->s[i].addr.can_addr.tp.tx_id == tx)
			return &f->s[i];
	return NULL;
}

/* ---- tests --------------------------------------------------------------- */

static void test_formulas(void)
{
	struct {
		uint8_t pid;
		uint64_t raw;
		double value;
		const char *name, *unit;
	} t[] = {
	    {0x04, 0xFF, 100.0, "CalculatedEngineLoad", "%"},
	    {0x04, 0x00, 0.0, "CalculatedEngineLoad", "%"},
	    {0x05, 0x7B, 83.0, "EngineCoolantTemperature", "degC"},
	    {0x05, 0x00, -40.0, "EngineCoolantTemperature", "degC"},
	    {0x0C, 0x1AF8, 1726.0, "EngineSpeed", "rpm"},
	    {0x0D, 60, 60.0, "VehicleSpeed", "km/h"},
	    {0x0F, 0x32, 10.0, "IntakeAirTemperature", "degC"},
	    {0x10, 0x0190, 4.0, "MAFAirFlowRate", "g/s"},
	    {0x11, 0x33, 20.0, "ThrottlePosition", "%"},
	    {0x1F, 0x0102, 258.0, "RunTimeSinceEngineStart", "s"},
	    {0x2F, 0x80, 128 * 100.0 / 255.0, "FuelTankLevel", "%"},
	    {0x42, 0x30D4, 12.5, "ControlModuleVoltage", "V"},
	    {0x46, 0x3C, 20.0, "AmbientAirTemperature", "degC"},
	    {0x5C, 0x82, 90.0, "EngineOilTemperature", "degC"},
	    {0x5E, 0x0190, 20.0, "EngineFuelRate", "L/h"},
	    {0xA6, 0x0001E240, 12345.6, "Odometer", "km"},
	    {0x00, 0xBE1FA813, 3189745683.0, "PIDsSupported_01_20", ""},
	    {0x20, 1, 1.0, "PIDsSupported_21_40", ""},
	    {0x40, 1, 1.0, "PIDsSupported_41_60", ""},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct cnp_obd_pid *p = cnp_obd_pid(t[i].pid);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_STR(p->name, t[i].name);
		CHECK_STR(p->unit, t[i].unit);
		struct cnp_sig_desc d = {.type = CNP_SIG_UINT, .scale = p->scale, .offset = p->offset};
		double v = cnp_sig_value(&d, t[i].raw);
		char what[96];
		snprintf(what, sizeof(what), "PID %02X: %.9g != %.9g", t[i].pid, v, t[i].value);
		check_report(fabs(v - t[i].value) < 1e-9, __FILE__, __LINE__, what, NULL);
	}
	CHECK(cnp_obd_pid(0x03) == NULL); /* fuel system status: no formula here */

	char code[6];
	cnp_obd_dtc(0x03, 0x01, code);
	CHECK_STR(code, "P0301");
	cnp_obd_dtc(0x41, 0x23, code);
	CHECK_STR(code, "C0123");
	cnp_obd_dtc(0x80, 0x01, code);
	CHECK_STR(code, "B0001");
	cnp_obd_dtc(0xC1, 0x00, code);
	CHECK_STR(code, "U0100");
	cnp_obd_dtc(0x3F, 0xFF, code);
	CHECK_STR(code, "P3FFF");
	cnp_obd_dtc(0xE2, 0xAB, code);
	CHECK_STR(code, "U22AB");

	char vin[18];
	CHECK_EQ(cnp_obd_vin((const uint8_t *)"\x49\x02\x01" "1HGCM82633A004352", 20, vin), CNP_OK);
	CHECK_STR(vin, "1HGCM82633A004352");
	/* Padding in front of the 17 characters. */
	CHECK_EQ(cnp_obd_vin((const uint8_t *)"\x49\x02\x01\x00\x00" "WP0ZZZ99ZTS392124", 22, vin),
	         CNP_OK);
	CHECK_STR(vin, "WP0ZZZ99ZTS392124");
	CHECK_EQ(cnp_obd_vin((const uint8_t *)"\x49\x02\x01" "1HGCM82633A00435", 19, vin),
	         CNP_ERR_INVAL);
	CHECK_EQ(cnp_obd_vin((const uint8_t *)"\x49\x02\x01" "1HGCM82633A00435\x01", 20, vin),
	         CNP_ERR_INVAL);
	/* Characters that would break the event's JSON (found by fuzz_poll). */
	CHECK_EQ(cnp_obd_vin((const uint8_t *)"\x49\x02\x01" "1HGCM8\"633A004352", 20, vin),
	         CNP_ERR_INVAL);
	CHECK_EQ(cnp_obd_vin((const uint8_t *)"\x49\x02\x01" "1HGCM8\\633A004352", 20, vin),
	         CNP_ERR_INVAL);
}

static void test_physical_11bit(void)
{
	struct rig g;
	char why[512] = "";
	const char *cfg =
	    "{\"interface\":\"vcan0\",\"addressing\":\"physical\",\"dbc\":\"x\",\"requests\":["
	    "{\"service\":\"01\",\"pids\":[\"0C\",\"0D\",5,\"0x00\"],\"interval_ms\":1000},"
	    "{\"service\":\"09\",\"pid\":\"02\",\"interval_ms\":60000},"
	    "{\"service\":\"03\",\"interval_ms\":60000},"
	    "{\"service\":\"07\",\"interval_ms\":60000},"
	    "{\"service\":\"22\",\"did\":\"0101\",\"interval_ms\":5000}]}";
	int rc = rig_open(&g, cfg, why, sizeof(why));
	CHECK_EQ(rc, CNP_OK);
	if (rc != CNP_OK) {
		fprintf(stderr, "%s\n", why);
		return;
	}
	CHECK_STR(cnp_poller_iface(g.p), "vcan0");
	uint64_t wait = run_at(&g, 0);
	/* Every request answered at once: 4 PIDs, VIN, 03, 07, the DID. */
	struct cnp_poll_stats st;
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 8);
	CHECK_EQ(st.responses, 8);
	CHECK_EQ(st.timeouts + st.negative + st.unexpected, 0);
	CHECK_EQ(wait, 1000000); /* the next PID round */
	/* One physical channel, padded frames. */
	struct fsock *s = sock_with_tx(&g.f, 0x7E0);
	CHECK(s != NULL);
	if (s) {
		CHECK_EQ(s->addr.can_addr.tp.rx_id, 0x7E8);
		CHECK(s->opt.flags & CAN_ISOTP_TX_PADDING);
		CHECK(!(s->opt.flags & CAN_ISOTP_SF_BROADCAST));
	}
	CHECK(fabs(value_of(&g.r, "EngineSpeed") - 1726.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "VehicleSpeed") - 60.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "EngineCoolantTemperature") - 83.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "PIDsSupported_01_20") - 3189745683.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "StoredDTCCount") - 2) < 1e-9);
	CHECK(fabs(value_of(&g.r, "PendingDTCCount") - 0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "SOC") - 80.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "PackVoltage") - 370.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "CellMax") - 4.2) < 1e-9);
	/* Samples carry the interface, the message and the wall clock. */
	CHECK_EQ(g.r.d[0]->iface, 3);
	CHECK_STR(g.r.d[0]->message, "OBD2");
	CHECK_EQ(g.r.ts[0], 1700000000000000u);
	for (unsigned i = 0; i < g.r.n_samples; i++)
		if (!strcmp(g.r.d[i]->signal, "SOC"))
			CHECK_STR(g.r.d[i]->message, "BatteryStatus");
	/* VIN and DTCs are events. */
	CHECK_EQ(g.r.n_events, 3);
	CHECK_STR(g.r.events[0], "{\"type\":\"vin\",\"ts_us\":1700000000000000,\"interface\":"
	                         "\"vcan0\",\"rx_id\":\"0x7E8\",\"vin\":\"1HGCM82633A004352\"}");
	CHECK_STR(g.r.events[1], "{\"type\":\"dtc\",\"ts_us\":1700000000000000,\"interface\":"
	                         "\"vcan0\",\"service\":\"03\",\"rx_id\":\"0x7E8\",\"codes\":"
	                         "[\"P0301\",\"U0100\"]}");
	CHECK_CONTAINS(g.r.events[2], "\"service\":\"07\",\"rx_id\":\"0x7E8\",\"codes\":[]}");
	/* Each at its own interval: at 1 s only the PIDs again. */
	run_at(&g, 999999);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 8);
	wait = run_at(&g, 1000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 12);
	CHECK_EQ(wait, 1000000);
	run_at(&g, 5000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 12 + 4 + 1); /* PIDs and the DID */
	CHECK_EQ(g.f.last_req[0], 0x22);
	rig_close(&g);
}

static void test_functional(void)
{
	struct rig g;
	char why[512] = "";
	const char *c11 = "{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pid\":12}]}";
	CHECK_EQ(rig_open(&g, c11, why, sizeof(why)), CNP_OK);
	run_at(&g, 0);
	CHECK_EQ(g.f.last_tx, 0x7DF);
	CHECK(g.f.last_broadcast);
	CHECK_EQ(g.f.last_len, 2);
	struct fsock *b = sock_with_tx(&g.f, 0x7DF), *phys = sock_with_tx(&g.f, 0x7E0);
	CHECK(b && (b->opt.flags & CAN_ISOTP_SF_BROADCAST));
	CHECK(phys && phys->addr.can_addr.tp.rx_id == 0x7E8);
	CHECK(fabs(value_of(&g.r, "EngineSpeed") - 1726.0) < 1e-9);
	rig_close(&g);

	const char *c29 = "{\"interface\":\"vcan0\",\"ids\":29,\"requests\":"
	                  "[{\"service\":\"01\",\"pid\":\"0D\"},"
	                  "{\"service\":\"01\",\"pid\":\"05\",\"addressing\":\"physical\"}]}";
	CHECK_EQ(rig_open(&g, c29, why, sizeof(why)), CNP_OK);
	run_at(&g, 0);
	b = sock_with_tx(&g.f, 0x18DB33F1u | CAN_EFF_FLAG);
	phys = sock_with_tx(&g.f, 0x18DA10F1u | CAN_EFF_FLAG);
	CHECK(b && (b->opt.flags & CAN_ISOTP_SF_BROADCAST));
	CHECK(phys && phys->addr.can_addr.tp.rx_id == (0x18DAF110u | CAN_EFF_FLAG));
	CHECK_EQ(g.f.last_tx, 0x18DA10F1u | CAN_EFF_FLAG); /* the physical one went last */
	CHECK(fabs(value_of(&g.r, "VehicleSpeed") - 60.0) < 1e-9);
	CHECK(fabs(value_of(&g.r, "EngineCoolantTemperature") - 83.0) < 1e-9);
	rig_close(&g);

	/* Explicit ids (a UDS ECU outside the OBD range). */
	const char *cx = "{\"interface\":\"vcan0\",\"addressing\":\"physical\",\"tx_id\":\"79B\","
	                 "\"rx_id\":\"7BB\",\"requests\":[{\"service\":1,\"pid\":12}]}";
	CHECK_EQ(rig_open(&g, cx, why, sizeof(why)), CNP_OK);
	run_at(&g, 0);
	phys = sock_with_tx(&g.f, 0x79B);
	CHECK(phys && phys->addr.can_addr.tp.rx_id == 0x7BB);
	rig_close(&g);
}

static void test_negative_timeout_pending(void)
{
	struct rig g;
	char why[512] = "";
	const char *cfg = "{\"interface\":\"vcan0\",\"timeout_ms\":1000,\"pending_timeout_ms\":5000,"
	                  "\"requests\":[{\"service\":\"01\",\"pid\":\"0C\",\"interval_ms\":10000}]}";
	CHECK_EQ(rig_open(&g, cfg, why, sizeof(why)), CNP_OK);
	struct cnp_poll_stats st;

	/* Negative response: counted, one event, no sample. */
	g.f.mode = ECU_NEGATIVE;
	run_at(&g, 0);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.negative, 1);
	CHECK_EQ(st.responses, 0);
	CHECK_EQ(g.r.n_samples, 0);
	CHECK_EQ(g.r.n_events, 1);
	CHECK_STR(g.r.events[0], "{\"type\":\"poll\",\"ts_us\":1700000000000000,\"interface\":"
	                         "\"vcan0\",\"request\":\"01 0C\",\"tx_id\":\"0x7DF\",\"rx_id\":"
	                         "\"0x7E8\",\"outcome\":\"negative\",\"nrc\":\"0x31\","
	                         "\"timeouts\":0,\"negative\":1}");
	/* The same again: counted, not reported again. */
	run_at(&g, 10000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.negative, 2);
	CHECK_EQ(g.r.n_events, 1);

	/* Timeout: nothing comes; waiting until the deadline, never blocking. */
	g.f.mode = ECU_SILENT;
	uint64_t wait = run_at(&g, 20000000);
	CHECK(wait > 0 && wait <= 2000);
	run_at(&g, 20999999);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.timeouts, 0);
	run_at(&g, 21000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.timeouts, 1);
	CHECK_EQ(g.r.n_events, 2);
	CHECK_CONTAINS(g.r.events[1], "\"outcome\":\"timeout\",\"timeouts\":1,\"negative\":2}");

	/* Response pending (0x78): the deadline moves to pending_timeout_ms,
	 * the answer 3 s later is taken. */
	g.f.mode = ECU_PENDING;
	run_at(&g, 30000000);
	run_at(&g, 30500000); /* the 0x78 arrives */
	run_at(&g, 31600000); /* past timeout_ms: still waiting */
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.pending, 1);
	CHECK_EQ(st.timeouts, 1);
	CHECK_EQ(st.responses, 0);
	run_at(&g, 33000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.responses, 1);
	CHECK_EQ(st.negative, 2);
	CHECK(fabs(value_of(&g.r, "EngineSpeed") - 1726.0) < 1e-9);
	CHECK_EQ(g.r.ts[0], 1700000000000000u + 33000000u);
	CHECK_EQ(g.r.n_events, 3);
	CHECK_CONTAINS(g.r.events[2], "\"outcome\":\"ok\"");

	/* An answer that comes after the timeout is not taken for the next
	 * request's: dropped as unexpected before the next one goes out. */
	g.f.mode = ECU_LATE;
	run_at(&g, 40000000);
	run_at(&g, 41000000); /* timeout */
	g.f.mode = ECU_SILENT;
	unsigned samples = g.r.n_samples;
	run_at(&g, 50000000); /* the late answer is queued by now; next request */
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.unexpected, 1);
	CHECK_EQ(g.r.n_samples, samples);
	CHECK_EQ(st.timeouts, 2);
	rig_close(&g);
}

/* What an ECU gets wrong is counted and never decoded into values. */
static void test_garbled(void)
{
	struct rig g;
	char why[512] = "";
	const char *cfg = "{\"interface\":\"vcan0\",\"requests\":["
	                  "{\"service\":\"01\",\"pid\":\"0C\",\"interval_ms\":60000},"
	                  "{\"service\":\"03\",\"interval_ms\":60000},"
	                  "{\"service\":\"09\",\"pid\":\"02\",\"interval_ms\":60000}]}";
	CHECK_EQ(rig_open(&g, cfg, why, sizeof(why)), CNP_OK);
	g.f.mode = ECU_GARBLED;
	run_at(&g, 0);        /* 01 0C: two wrong answers, then waits */
	run_at(&g, 1000000);  /* its timeout; 03 answered at once, 09 02 waits */
	run_at(&g, 2000000);  /* the VIN's timeout */
	struct cnp_poll_stats st;
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 3);
	CHECK_EQ(st.unexpected, 3); /* 7F 3E 11, 41 0C 1A, the bad VIN */
	CHECK_EQ(st.timeouts, 2);
	CHECK_EQ(st.responses, 1);
	CHECK_EQ(st.negative, 0);
	/* The DTC answer counts 5 codes but holds one: one is reported. */
	CHECK_EQ(g.r.n_samples, 1);
	CHECK_STR(g.r.d[0]->signal, "StoredDTCCount");
	CHECK_EQ(g.r.raw[0], 1);
	int dtc = 0, vin = 0;
	for (unsigned i = 0; i < g.r.n_events && i < 16; i++) {
		dtc += strstr(g.r.events[i], "\"codes\":[\"P0301\"]") != NULL;
		vin += strstr(g.r.events[i], "\"type\":\"vin\"") != NULL;
	}
	CHECK_EQ(dtc, 1);
	CHECK_EQ(vin, 0);
	rig_close(&g);
}

static void test_no_isotp(void)
{
	struct rig g;
	char why[512] = "";
	const char *cfg = "{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pid\":12}]}";
	CHECK_EQ(rig_open(&g, cfg, why, sizeof(why)), CNP_OK);
	g.f.socket_errno = EPROTONOSUPPORT;
	run_at(&g, 0);
	struct cnp_poll_stats st;
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 0);
	/* The driver's reason names the interface and the module. */
	struct cnp_poll_chan ch = {0x7E0, 0x7E8, 0, 0};
	CHECK(g.link->open(g.link->ctx, &ch, why, sizeof(why)) < 0);
	CHECK_CONTAINS(why, "vcan0");
	CHECK_CONTAINS(why, "can-isotp module is missing");
	/* Retried later: once the module is there, polling starts. */
	g.f.socket_errno = 0;
	run_at(&g, 1000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 0);
	run_at(&g, 5000000);
	cnp_poller_stats(g.p, &st);
	CHECK_EQ(st.requests, 1);
	CHECK_EQ(st.responses, 1);
	rig_close(&g);

	/* No such interface. */
	const char *cfg2 = "{\"interface\":\"can9\",\"requests\":[{\"service\":1,\"pid\":12}]}";
	CHECK_EQ(rig_open(&g, cfg2, why, sizeof(why)), CNP_OK);
	CHECK(g.link->open(g.link->ctx, &ch, why, sizeof(why)) == CNP_ERR_NOTFOUND);
	CHECK_CONTAINS(why, "no interface can9");
	rig_close(&g);
}

static void test_config_errors(void)
{
	struct {
		const char *json, *why;
	} t[] = {
	    {"[]", "canopy.json: $.capture.polling: expected an object, got an array"},
	    {"{\"requests\":[{\"service\":1,\"pid\":12}]}",
	     "canopy.json: $.capture.polling.interface: expected the CAN interface's name"},
	    {"{\"interface\":\"vcan0\",\"requests\":[]}",
	     "canopy.json: $.capture.polling.requests: expected a non-empty array"},
	    {"{\"interface\":\"vcan0\",\"speed\":1,\"requests\":[{\"service\":1,\"pid\":12}]}",
	     "canopy.json: $.capture.polling: unknown key \"speed\""},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pids\":[12,\"3A\"]}]}",
	     "canopy.json: $.capture.polling.requests[0].pids[1]: service 01 PID 0x3A has no "
	     "built-in formula"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":\"10\"}]}",
	     "canopy.json: $.capture.polling.requests[0].service: service 0x10 is not supported"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pid\":\"xyz\"}]}",
	     "canopy.json: $.capture.polling.requests[0].pid: expected hex digits up to 0xFF"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pid\":12,\"interval_ms\":1}]}",
	     "canopy.json: $.capture.polling.requests[0].interval_ms: expected a whole number "
	     "from 10"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":3,\"pid\":1}]}",
	     "canopy.json: $.capture.polling.requests[0]: service 03 takes no PID"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":\"22\",\"did\":\"F190\"}]}",
	     "canopy.json: $.capture.polling.requests[0].did: no message with id 61840 (0xF190)"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pid\":12,\"ids\":12}]}",
	     "canopy.json: $.capture.polling.requests[0].ids: expected 11 or 29"},
	    {"{\"interface\":\"vcan0\",\"requests\":[{\"service\":1,\"pid\":12,\"ecu\":\"800\"}]}",
	     "canopy.json: $.capture.polling.requests[0].ecu: expected hex digits up to 0x7F7"},
	    {"{\"interface\":\"vcan0\",\"tx_id\":\"79B\",\"requests\":[{\"service\":1,\"pid\":12}]}",
	     "canopy.json: $.capture.polling: give tx_id and rx_id together"},
	    {"{\"interface\":\"vcan0\",\"addressing\":\"broadcast\",\"requests\":[{\"service\":1,\"pid\":12}]}",
	     "canopy.json: $.capture.polling.addressing: expected \"functional\" or \"physical\""},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rig g;
		char why[512] = "";
		CHECK_EQ(rig_open(&g, t[i].json, why, sizeof(why)), CNP_ERR_CONFIG);
		CHECK_CONTAINS(why, t[i].why);
	}
	/* UDS without a DBC. */
	dbc_path[0] = 0;
	struct rig g;
	char why[512] = "";
	CHECK_EQ(rig_open(&g, "{\"interface\":\"vcan0\",\"requests\":[{\"service\":\"22\","
	                      "\"did\":\"0101\"}]}", why, sizeof(why)),
	         CNP_ERR_CONFIG);
	CHECK_CONTAINS(why, "$.capture.polling.requests[0].did: UDS identifiers need a DBC file");
}

/* The manifest's "polling": the counts since the previous batch, and no
 * key without polling. */
static void test_manifest(void)
{
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	uint8_t idx;
	CHECK_EQ(cnp_ifaces_intern(&ifs, "vcan0", 5, &idx), CNP_OK);
	for (int with = 0; with < 2; with++) {
		struct cnp_batch_writer *w = NULL;
		CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_cols_ck_zlib, 65536, 6), CNP_OK);
		if (!w)
			return;
		const struct cnp_obd_pid *pid = cnp_obd_pid(0x0C);
		struct cnp_sig_desc d = {.iface = idx, .type = CNP_SIG_UINT, .message = "OBD2",
		                         .signal = pid->name, .name = "", .unit = pid->unit,
		                         .scale = pid->scale, .offset = pid->offset};
		CHECK_EQ(cnp_batch_writer_add_sample(w, &d, 1700000000000000u, 0x1AF8), CNP_OK);
		struct cnp_batch_info info = {.vehicle = "car-1", .spool_id = "0123456789abcdef",
		                              .ifaces = &ifs, .has_polling = with,
		                              .poll_requests = 7, .poll_responses = 4,
		                              .poll_timeouts = 2, .poll_negative = 1};
		uint8_t *out = NULL, digest[CNP_SHA256_LEN];
		size_t len = 0;
		CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, &len, digest), CNP_OK);
		struct cnp_batch b;
		char why[256] = "";
		CHECK_EQ(cnp_batch_open(out, len, &b, why, sizeof(why)), CNP_OK);
		/* The manifest: after the 16-byte header, its length at byte 8
		 * (docs/FORMAT.md). */
		char manifest[4096];
		size_t m = (size_t)out[8] | (size_t)out[9] << 8 | (size_t)out[10] << 16 |
		           (size_t)out[11] << 24;
		size_t n = m < sizeof(manifest) - 1 && 16 + m <= len ? m : 0;
		memcpy(manifest, out + 16, n);
		manifest[n] = 0;
		if (with)
			CHECK_CONTAINS(manifest, "\"polling\":{\"requests\":7,\"responses\":4,"
			                         "\"timeouts\":2,\"negative\":1}");
		else
			CHECK(strstr(manifest, "polling") == NULL);
		CHECK_CONTAINS(manifest, "\"samples\":1");
		cnp_free(out);
		cnp_batch_writer_destroy(w);
	}
}

/* $.capture.polling in the configuration: kept as text, its DBC path
 * resolved against the file's folder, and checked at load. */
static void test_config_file(void)
{
	static struct cnp_config cfg;
	char text[2048];
	const char *head = "{\"vehicle_id\": \"car-1\", \"sources\": [{\"type\": \"candump\", "
	                   "\"path\": \"a.log\"}], \"spool\": {\"dir\": \"spool\"}, "
	                   "\"endpoints\": [{\"url\": \"file:///tmp/b\"}], \"capture\": "
	                   "{\"polling\": ";
	snprintf(text, sizeof(text), "%s{\"interface\": \"vcan0\", \"dbc\": \"uds.dbc\", "
	         "\"requests\": [{\"service\": \"22\", \"did\": \"0101\"}]}}}", head);
	CHECK_EQ(cnp_config_parse(text, strlen(text), "canopy.json", check_tmpdir(), &cfg), CNP_OK);
	CHECK_CONTAINS(cfg.capture.polling_json, "\"interface\":\"vcan0\"");
	CHECK_STR(cfg.capture.polling_dbc, dbc_path);
	CHECK_STR(cfg.capture.polling_origin, "canopy.json");
	snprintf(text, sizeof(text), "%s{\"interface\": \"vcan0\", \"requests\": "
	         "[{\"service\": 1, \"pid\": 99}]}}}", head);
	CHECK_EQ(cnp_config_parse(text, strlen(text), "canopy.json", check_tmpdir(), &cfg),
	         CNP_ERR_CONFIG);
	/* Without polling, nothing is kept. */
	snprintf(text, sizeof(text), "%.*s\"mode\": \"raw\"}}", (int)strlen(head) - 11, head);
	CHECK_EQ(cnp_config_parse(text, strlen(text), "canopy.json", check_tmpdir(), &cfg), CNP_OK);
	CHECK_STR(cfg.capture.polling_json, "");
}

int main(void)
{
	cnp_json_init();
	snprintf(dbc_path, sizeof(dbc_path), "%s/uds.dbc", check_tmpdir());
	if (check_write_file(dbc_path, dbc_text, strlen(dbc_text)) != 0) {
		fprintf(stderr, "cannot write %s\n", dbc_path);
		return 1;
	}
	test_formulas();
	test_physical_11bit();
	test_functional();
	test_negative_timeout_pending();
	test_garbled();
	test_no_isotp();
	test_manifest();
	test_config_file();
	test_config_errors();
	return check_finish();
}
