/* The status verdict, the status file's JSON, the report canopy status
 * prints from it, and URL redaction. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/endpoint.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/status.h"

#include <stdio.h>
#include <string.h>

#define S 1000000u

static void base(struct cnp_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = "running";
	snprintf(st->vehicle, sizeof(st->vehicle), "car-1");
	st->pid = 42;
	st->wall_us = 1700000000u * (uint64_t)S;
	st->mono_us = 1000 * S;
	st->started_mono_us = 900 * S;
	st->interval_ms = 2000;
	st->batch_max_age_ms = 10000;
	st->sources = st->sources_active = 1;
	st->frames = 5000;
	st->frames_per_s = 250;
	st->last_frame_mono_us = st->mono_us - 1000;
	st->n_eps = 1;
	snprintf(st->eps[0].url, sizeof(st->eps[0].url), "https://ingest.example/can");
	st->eps[0].last_ok_us = st->mono_us - 3 * S;
}

static void test_verdicts(void)
{
	struct cnp_status st;
	base(&st);
	cnp_status_judge(&st);
	CHECK(st.flowing);
	CHECK_CONTAINS(st.verdict, "OK: data flowing: 250 frames/s");

	base(&st);
	st.eps[0].fails = 4;
	st.eps[0].last_status = 503;
	snprintf(st.eps[0].last_error, sizeof(st.eps[0].last_error), "server busy");
	st.spool_batches = 7;
	st.spool_oldest_wall_us = st.wall_us - 90 * S;
	cnp_status_judge(&st);
	CHECK(!st.flowing);
	CHECK_CONTAINS(st.verdict, "NOT FLOWING: uploads failing");
	CHECK_CONTAINS(st.verdict, "HTTP 503: server busy");
	CHECK_CONTAINS(st.verdict, "7 batches waiting, oldest 90.0 s");

	/* One of two endpoints failing: still flowing (failover). */
	st.n_eps = 2;
	snprintf(st.eps[1].url, sizeof(st.eps[1].url), "s3://backup");
	st.eps[1].last_ok_us = st.mono_us - S;
	cnp_status_judge(&st);
	CHECK(st.flowing);
	CHECK_CONTAINS(st.verdict, "to s3://backup");

	base(&st);
	st.last_frame_mono_us = st.mono_us - 30 * S;
	cnp_status_judge(&st);
	CHECK(!st.flowing);
	CHECK_CONTAINS(st.verdict, "NO INPUT: no frame for 30.0 s");

	base(&st);
	st.sources_active = 0;
	cnp_status_judge(&st);
	CHECK_CONTAINS(st.verdict, "NO INPUT: every source has finished");

	base(&st);
	st.input_paused = 1;
	cnp_status_judge(&st);
	CHECK_CONTAINS(st.verdict, "spool refuses batches");

	base(&st);
	st.spool_batches = 30;
	st.spool_oldest_wall_us = st.wall_us - 600 * S;
	cnp_status_judge(&st);
	CHECK(st.flowing);
	CHECK_CONTAINS(st.verdict, "BEHIND");

	base(&st);
	st.state = "stopped";
	cnp_status_judge(&st);
	CHECK(!st.flowing);
	CHECK_CONTAINS(st.verdict, "STOPPED");
}

static void test_json_and_report(void)
{
	struct cnp_status st;
	base(&st);
	st.dropped[CNP_DROP_KERNEL] = 12;
	st.up.attempts = 10;
	st.up.batches = 8;
	st.up.failures = 2;
	st.up.auth_failures = 1;
	st.up.latency_total_us = 8 * 20000;
	st.text_bytes = 400000;
	st.stored_bytes = 40000;
	cnp_status_judge(&st);
	char *json = NULL;
	CHECK_EQ(cnp_status_to_json(&st, &json), CNP_OK);
	CHECK_CONTAINS(json, "\"kernel\":\t12");
	CHECK_CONTAINS(json, "\"transient\":\t1");
	CHECK_CONTAINS(json, "\"mean\":\t20");

	static char text[8192];
	int flowing = -1;
	CHECK_EQ(cnp_status_format(json, strlen(json), st.wall_us + S, text, sizeof(text), &flowing),
	         CNP_OK);
	CHECK_EQ(flowing, 1);
	CHECK_CONTAINS(text, "vehicle car-1, running for 100.0 s; status written 1.0 s ago");
	CHECK_CONTAINS(text, "verdict:  OK: data flowing");
	CHECK_CONTAINS(text, "kernel 12");
	CHECK_CONTAINS(text, "(10.0x)");
	CHECK_CONTAINS(text, "failures 2 (transient 1, auth 1, rejected 0)");
	CHECK_CONTAINS(text, "endpoint: https://ingest.example/can: healthy, last upload 3.0 s ago");
	CHECK(strstr(json, "transport") == NULL); /* only when reassembling */
	CHECK(strstr(text, "isotp:") == NULL);
	cnp_free(json);

	/* Transport reassembly counters (docs/TRANSPORT.md). */
	st.transport = 1;
	st.isotp.messages = 26;
	st.isotp.broken[CNP_TP_MISSING] = 2;
	st.isotp.broken[CNP_TP_TIMEOUT] = 1;
	st.j1939.messages = 7;
	json = NULL;
	CHECK_EQ(cnp_status_to_json(&st, &json), CNP_OK);
	CHECK_CONTAINS(json, "\"missing_frame\":\t2");
	CHECK_EQ(cnp_status_format(json, strlen(json), st.wall_us + S, text, sizeof(text), &flowing),
	         CNP_OK);
	CHECK_CONTAINS(text, "isotp:   26 messages reassembled, 3 broken sessions; missing_frame 2; "
	                     "timeout 1\n");
	CHECK_CONTAINS(text, "j1939:   7 messages reassembled, 0 broken sessions\n");

	/* Stale: three intervals, at least 10 s. */
	CHECK_EQ(cnp_status_format(json, strlen(json), st.wall_us + 11 * S, text, sizeof(text),
	                           &flowing),
	         CNP_OK);
	CHECK_EQ(flowing, 0);
	CHECK_CONTAINS(text, "NOT RUNNING OR STUCK");
	cnp_free(json);

	CHECK_EQ(cnp_status_format("{\"a\":1}", 7, 0, text, sizeof(text), &flowing), CNP_ERR_INVAL);
	CHECK_CONTAINS(text, "not a canopy status file");
	CHECK_EQ(cnp_status_format("{", 1, 0, text, sizeof(text), &flowing), CNP_ERR_INVAL);
	/* Cut to the buffer, never past it. */
	char small[16];
	base(&st);
	cnp_status_judge(&st);
	CHECK_EQ(cnp_status_to_json(&st, &json), CNP_OK);
	CHECK_EQ(cnp_status_format(json, strlen(json), st.wall_us, small, sizeof(small), &flowing),
	         CNP_OK);
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	cnp_free(json);
}

static void test_redact(void)
{
	char out[CNP_URL_MAX];
	cnp_endpoint_redact_url("https://user:pw@host:8443/p/q?token=x#f", out, sizeof(out));
	CHECK_STR(out, "https://host:8443/p/q");
	cnp_endpoint_redact_url("https://host/a@b", out, sizeof(out));
	CHECK_STR(out, "https://host/a@b");
	cnp_endpoint_redact_url("s3://bucket/prefix", out, sizeof(out));
	CHECK_STR(out, "s3://bucket/prefix");
	cnp_endpoint_redact_url("file:///var/x", out, sizeof(out));
	CHECK_STR(out, "file:///var/x");
}

int main(void)
{
	cnp_json_init();
	test_verdicts();
	test_json_and_report();
	test_redact();
	return check_finish();
}
