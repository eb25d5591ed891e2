/*
 * libFuzzer target: the poller (firmware/poll.c) decoding whatever an ECU
 * answers. It polls, physically on 11-bit ids, service 01 PIDs (with a
 * supported-PID bitmap), the VIN (09 02), stored and pending trouble codes
 * (03, 07) and two UDS identifiers described by a DBC (22 0101, 22 F40D).
 * The input is a list of answers, each as records:
 *   delay (1 byte, in 25 ms steps), length (1 byte), the message bytes.
 * Before each answer the clock moves by the delay and the poller runs
 * (sending what is due, timing out what is late); then the answer is
 * waiting on every channel, and the poller runs again.
 *
 * Invariants beyond "no crash, no sanitizer report, no leak":
 * - every event is valid JSON (a VIN or DTC of any bytes stays escaped);
 * - every sample's value is a finite number;
 * - no request ends in more than one way: answers, timeouts and negative
 *   responses together never exceed the requests sent, and the counts of
 *   samples and events are what the sink received;
 * - no request is longer than a single frame's 7 bytes.
 */
#include "firmware/error.h"
#include "firmware/poll.h"
#include "firmware/sigcodec.h"
#include "platform/log.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char DBC[] =
    "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: BMS\n\n"
    "BO_ 257 BatteryStatus: 22 BMS\n"
    " SG_ SOC : 7|16@0+ (0.01,0) [0|100] \"%\" Vector__XXX\n"
    " SG_ PackVoltage : 23|16@0+ (0.1,0) [0|1000] \"V\" Vector__XXX\n"
    " SG_ CellMax : 167|16@0+ (0.001,0) [0|5] \"V\" Vector__XXX\n"
    "BO_ 62477 Odometer: 4 BMS\n"
    " SG_ Km : 0|32@1+ (1,0) [0|4294967295] \"km\" Vector__XXX\n"
    " SG_ Signed : 8|12@1- (0.5,-3) [-1000|1000] \"\" Vector__XXX\n";

static const char CFG[] =
    "{\"interface\":\"vcan0\",\"addressing\":\"physical\",\"dbc\":\"x\",\"requests\":["
    "{\"service\":\"01\",\"pids\":[\"00\",\"0C\",\"0D\",\"05\",\"5B\",\"A6\"],\"interval_ms\":100},"
    "{\"service\":\"09\",\"pid\":\"02\",\"interval_ms\":300},"
    "{\"service\":\"03\",\"interval_ms\":300},"
    "{\"service\":\"07\",\"interval_ms\":300},"
    "{\"service\":\"22\",\"did\":\"0101\",\"interval_ms\":200},"
    "{\"service\":\"22\",\"did\":\"F40D\",\"interval_ms\":200}]}";

#define MAX_CH 16

struct link {
	const uint8_t *msg; /* the answer waiting on every channel, or NULL */
	size_t len;
	int open[MAX_CH];
	uint64_t samples, events;
};

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_poll: %s\n", why);
	abort();
}

static int l_open(void *ctx, const struct cnp_poll_chan *ch, char *why, size_t why_len)
{
	struct link *l = ctx;
	(void)ch;
	for (int h = 0; h < MAX_CH; h++)
		if (!l->open[h]) {
			l->open[h] = 1;
			return h;
		}
	snprintf(why, why_len, "too many channels");
	return CNP_ERR_IO;
}

static int l_send(void *ctx, int h, const uint8_t *data, size_t len)
{
	struct link *l = ctx;
	(void)data;
	if (h < 0 || h >= MAX_CH || !l->open[h])
		fail("send on a channel not open");
	if (len == 0 || len > 7)
		fail("a request longer than a single frame");
	return CNP_OK;
}

static int l_recv(void *ctx, int h, uint8_t *buf, size_t cap, size_t *len)
{
	struct link *l = ctx;
	if (h < 0 || h >= MAX_CH || !l->open[h])
		fail("recv on a channel not open");
	if (!l->msg)
		return CNP_ERR_AGAIN;
	size_t n = l->len < cap ? l->len : cap;
	memcpy(buf, l->msg, n);
	*len = n;
	l->msg = NULL; /* taken once, by whichever channel asks first */
	return CNP_OK;
}

static void l_close(void *ctx, int h)
{
	struct link *l = ctx;
	if (h < 0 || h >= MAX_CH || !l->open[h])
		fail("close of a channel not open");
	l->open[h] = 0;
}

static int s_frame(void *arg, const struct cnp_frame *f)
{
	(void)arg;
	(void)f;
	fail("the poller passed on a frame");
	return CNP_OK;
}

static int s_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts, uint64_t raw)
{
	struct link *l = arg;
	(void)ts;
	l->samples++;
	if (!isfinite(cnp_sig_value(d, raw)))
		fail("a sample that is not a finite number");
	return CNP_OK;
}

static int s_event(void *arg, const char *json)
{
	struct link *l = arg;
	l->events++;
	cJSON *j = cJSON_Parse(json);
	if (!j) {
		fprintf(stderr, "fuzz_poll: event %s\n", json);
		fail("an event that is not JSON");
	}
	cJSON_Delete(j);
	return CNP_OK;
}

static char dbc_path[64];

static void init(void)
{
	cnp_log_set_level(CNP_LOG_ERROR);
	snprintf(dbc_path, sizeof(dbc_path), "/tmp/fuzz_poll-%ld.dbc", (long)getpid());
	FILE *f = fopen(dbc_path, "w");
	if (!f || fwrite(DBC, 1, sizeof(DBC) - 1, f) != sizeof(DBC) - 1 || fclose(f) != 0)
		fail("cannot write the DBC");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		init();
		ready = 1;
	}
	struct link l;
	memset(&l, 0, sizeof(l));
	struct cnp_poll_link link = {&l, l_open, l_send, l_recv, l_close};
	struct cnp_poll_options o = {CFG, sizeof(CFG) - 1, "fuzz.json", "$.capture.polling",
	                             dbc_path};
	struct cnp_poller *p = NULL;
	char why[256];
	int rc = cnp_poller_create(&o, &p, why, sizeof(why));
	if (rc == CNP_ERR_NOMEM)
		return 0;
	if (rc != CNP_OK) {
		fprintf(stderr, "fuzz_poll: %s\n", why);
		fail("the poller refused the target's configuration");
	}
	cnp_poller_attach(p, &link, 0);
	struct cnp_collect_sink sink = {s_frame, s_sample, s_event, &l};
	uint64_t now = 1000000, wait = 0;
	for (size_t i = 0; i + 2 <= size;) {
		now += (uint64_t)data[i] * 25000u;
		size_t n = data[i + 1];
		i += 2;
		if (n > size - i)
			n = size - i;
		if (cnp_poller_run(p, now, 1764300000000000u + now, &sink, &wait) != CNP_OK)
			fail("a run failed with a sink that never fails");
		l.msg = data + i;
		l.len = n;
		i += n;
		if (cnp_poller_run(p, now, 1764300000000000u + now, &sink, &wait) != CNP_OK)
			fail("a run failed with a sink that never fails");
		l.msg = NULL;
	}
	/* Long enough for whatever is in flight to time out. */
	if (cnp_poller_run(p, now + 60000000u, 1764300000000000u + now + 60000000u, &sink,
	                   &wait) != CNP_OK)
		fail("a run failed with a sink that never fails");
	struct cnp_poll_stats st;
	cnp_poller_stats(p, &st);
	if (st.responses + st.timeouts + st.negative > st.requests)
		fail("more outcomes than requests");
	if (st.samples != l.samples || st.events != l.events)
		fail("the sample or event counts differ from what the sink received");
	cnp_poller_destroy(p);
	for (int h = 0; h < MAX_CH; h++)
		if (l.open[h])
			fail("destroy left a channel open");
	return 0;
}
