/*
 * libFuzzer target: the GNSS source (drivers/gnss.c) reading whatever a
 * gpsd might send. A fake gpsd (drivers/gnss_sys.h) hands the input out as
 * its JSON stream:
 *   byte 0: bits 0-6 the size of each piece recv() returns (1 to 128),
 *           bit 7 whether gpsd hangs up after the last piece;
 *   the rest: the stream, cut into pieces of that size.
 * The monotonic clock moves 7 ms per call, so reconnection and its
 * back-off run too.
 *
 * Invariants beyond "no crash, no sanitizer report, no leak":
 * - read() never delivers frames, and never fails (bad reports are counted
 *   and skipped, a lost gpsd is reconnected);
 * - every sample's value lies in its signal's range (latitude within
 *   +-90, longitude +-180, heading 0-360, speed and counts >= 0, fix mode
 *   0-3), and the source's sample count is what the sink received;
 * - every piece of the input is consumed, and the only thing ever sent is
 *   the WATCH request.
 */
#include "drivers/gnss_sys.h"
#include "firmware/error.h"
#include "firmware/sigcodec.h"
#include "platform/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FD 5
#define WATCH "?WATCH={\"enable\":true,\"json\":true}\n"

struct fake {
	const uint8_t *in;
	size_t len, pos, piece;
	int hang_up, open, hung;
	uint64_t mono, samples;
};

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_gnss: %s\n", why);
	abort();
}

static int f_connect(void *ctx, const char *host, const char *port)
{
	struct fake *f = ctx;
	(void)host;
	(void)port;
	if (f->open)
		fail("a second connection while one is open");
	if (f->hung) {
		errno = ECONNREFUSED; /* gpsd went away for good */
		return -1;
	}
	f->open = 1;
	return FD;
}

static int f_connected(void *ctx, int fd)
{
	(void)ctx;
	if (fd != FD)
		fail("connected() on another descriptor");
	return 1;
}

static ssize_t f_send(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	if (fd != FD || len != strlen(WATCH) || memcmp(buf, WATCH, len) != 0)
		fail("sent something other than the WATCH request");
	return (ssize_t)len;
}

static ssize_t f_recv(void *ctx, int fd, void *buf, size_t len)
{
	struct fake *f = ctx;
	if (fd != FD || !f->open)
		fail("recv() on a closed descriptor");
	if (f->pos < f->len) {
		size_t n = f->len - f->pos;
		if (n > f->piece)
			n = f->piece;
		if (n > len)
			n = len;
		memcpy(buf, f->in + f->pos, n);
		f->pos += n;
		return (ssize_t)n;
	}
	if (f->hang_up && !f->hung) {
		f->hung = 1;
		return 0;
	}
	errno = EAGAIN;
	return -1;
}

static int f_close(void *ctx, int fd)
{
	struct fake *f = ctx;
	if (fd != FD || !f->open)
		fail("close() of a descriptor not open");
	f->open = 0;
	return 0;
}

static uint64_t f_mono(void *ctx)
{
	struct fake *f = ctx;
	return f->mono += 7000;
}

static uint64_t f_wall(void *ctx)
{
	(void)ctx;
	return 1764300000000000u;
}

static int on_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts, uint64_t raw)
{
	struct fake *f = arg;
	(void)ts;
	f->samples++;
	double v = cnp_sig_value(d, raw);
	double lo = 0, hi = INFINITY;
	if (!strcmp(d->name, "Vehicle.CurrentLocation.Latitude"))
		lo = -90, hi = 90;
	else if (!strcmp(d->name, "Vehicle.CurrentLocation.Longitude"))
		lo = -180, hi = 180;
	else if (!strcmp(d->name, "Vehicle.CurrentLocation.Heading"))
		hi = 360;
	else if (!strcmp(d->name, "Vehicle.CurrentLocation.Altitude"))
		lo = -1e6, hi = 1e8;
	else if (!strcmp(d->name, "GNSS.FixMode"))
		hi = 3;
	if (!(v >= lo && v <= hi)) {
		fprintf(stderr, "fuzz_gnss: %s = %g\n", d->name, v);
		fail("a sample out of its signal's range");
	}
	return CNP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		cnp_log_set_level(CNP_LOG_ERROR);
		quiet = 1;
	}
	if (size < 1)
		return 0;
	struct fake f = {.in = data + 1, .len = size - 1, .piece = (data[0] & 0x7Fu) + 1u,
	                 .hang_up = (data[0] & 0x80u) != 0, .mono = 1000000};
	struct cnp_gnss_sys sys = {&f, f_connect, f_connected, f_send, f_recv, f_close,
	                           f_mono, f_wall};
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "gnss");
	snprintf(sc.gpsd_host, sizeof(sc.gpsd_host), "127.0.0.1");
	snprintf(sc.gpsd_port, sizeof(sc.gpsd_port), "2947");
	sc.reopen_ms = 10;
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	struct cnp_source *src = NULL;
	if (cnp_gnss_source_create_with(&sc, &ifs, &sys, &src) != CNP_OK)
		return 0; /* out of memory */
	src->samples.sample = on_sample;
	src->samples.arg = &f;
	/* Each read takes at most two pieces; a few more reads reconnect. */
	size_t reads = 2 * (f.len / f.piece + 1) + 40;
	for (size_t i = 0; i < reads; i++) {
		struct cnp_frame fr[2];
		size_t n = 99;
		uint64_t wait = 0;
		int rc = src->ops->read(src, fr, 2, &n, &wait);
		if (rc != CNP_OK)
			fail("read() failed");
		if (n != 0)
			fail("read() delivered frames");
	}
	if (f.pos != f.len)
		fail("the stream was not read to its end");
	if (src->stats.samples != f.samples)
		fail("the source's sample count differs from what the sink received");
	cnp_source_destroy(src);
	if (f.open)
		fail("destroy left the connection open");
	return 0;
}
