/* The GNSS source against a fake gpsd (drivers/gnss_sys.h): TPV and SKY
 * reports become samples with exact values and times, malformed lines are
 * counted and skipped, lines are put together across reads, a lost gpsd is
 * reconnected with a bounded back-off, and duration_s ends the source. */
#include "check.h"

#include "drivers/gnss_sys.h"
#include "firmware/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the fake gpsd ---------------------------------------------------------- */

#define MAX_CHUNKS 64
#define FAKE_FD 7

struct fake {
	unsigned refuse;      /* connect attempts still to fail */
	int pending;          /* connected() says "in progress" */
	unsigned connects, closes;
	int open;
	char sent[256];
	unsigned sends;       /* send calls */
	const char *chunks[MAX_CHUNKS]; /* what recv hands out, one per call */
	size_t chunk_len[MAX_CHUNKS];
	unsigned n_chunks, next_chunk;
	size_t chunk_off;     /* bytes of chunks[next_chunk] handed out */
	int hang_up;          /* after the chunks: recv returns 0 */
	uint64_t mono, wall;
};

static int f_connect(void *ctx, const char *host, const char *port)
{
	struct fake *f = ctx;
	CHECK_STR(host, "gpsd.example");
	CHECK_STR(port, "2947");
	f->connects++;
	if (f->refuse) {
		f->refuse--;
		errno = ECONNREFUSED;
		return -1;
	}
	f->open = 1;
	f->sent[0] = 0;
	return FAKE_FD;
}

static int f_connected(void *ctx, int fd)
{
	struct fake *f = ctx;
	CHECK_EQ(fd, FAKE_FD);
	return f->pending ? 0 : 1;
}

static ssize_t f_send(void *ctx, int fd, const void *buf, size_t len)
{
	struct fake *f = ctx;
	CHECK_EQ(fd, FAKE_FD);
	snprintf(f->sent, sizeof(f->sent), "%.*s", (int)len, (const char *)buf);
	f->sends++;
	return (ssize_t)len;
}

static ssize_t f_recv(void *ctx, int fd, void *buf, size_t len)
{
	struct fake *f = ctx;
	CHECK_EQ(fd, FAKE_FD);
	if (f->next_chunk < f->n_chunks) {
		/* What fits of the current piece; the rest on the next call. */
		size_t n = f->chunk_len[f->next_chunk] - f->chunk_off;
		if (n > len)
			n = len;
		memcpy(buf, f->chunks[f->next_chunk] + f->chunk_off, n);
		f->chunk_off += n;
		if (f->chunk_off == f->chunk_len[f->next_chunk]) {
			f->next_chunk++;
			f->chunk_off = 0;
		}
		return (ssize_t)n;
	}
	if (f->hang_up)
		return 0;
	errno = EAGAIN;
	return -1;
}

static int f_close(void *ctx, int fd)
{
	struct fake *f = ctx;
	CHECK_EQ(fd, FAKE_FD);
	CHECK(f->open);
	f->open = 0;
	f->closes++;
	return 0;
}

static uint64_t f_mono(void *ctx)
{
	return ((struct fake *)ctx)->mono;
}

static uint64_t f_wall(void *ctx)
{
	return ((struct fake *)ctx)->wall;
}

static void push(struct fake *f, const char *text, size_t len)
{
	CHECK(f->n_chunks < MAX_CHUNKS);
	f->chunks[f->n_chunks] = text;
	f->chunk_len[f->n_chunks++] = len;
}

static void push_str(struct fake *f, const char *text)
{
	push(f, text, strlen(text));
}

/* ---- what the source delivers --------------------------------------------------- */

#define MAX_SAMPLES 256

struct got {
	unsigned n;
	const struct cnp_sig_desc *d[MAX_SAMPLES];
	uint64_t ts[MAX_SAMPLES], raw[MAX_SAMPLES];
	int fail; /* return this from the next sample */
};

static int on_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts_us, uint64_t raw)
{
	struct got *g = arg;
	if (g->fail)
		return g->fail;
	CHECK(g->n < MAX_SAMPLES);
	if (g->n < MAX_SAMPLES) {
		g->d[g->n] = d;
		g->ts[g->n] = ts_us;
		g->raw[g->n++] = raw;
	}
	return CNP_OK;
}

/* Index of the k-th sample named `name` (k from 0), or -1. */
static int find(const struct got *g, const char *name, unsigned k)
{
	for (unsigned i = 0; i < g->n; i++)
		if (strcmp(g->d[i]->name, name) == 0 && k-- == 0)
			return (int)i;
	return -1;
}

static unsigned count(const struct got *g, const char *name)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->n; i++)
		n += strcmp(g->d[i]->name, name) == 0;
	return n;
}

static double value(const struct got *g, int i)
{
	CHECK(i >= 0);
	if (i < 0)
		return -1e300;
	return cnp_sig_value(g->d[i], g->raw[i]);
}

static struct cnp_source *open_gnss(struct fake *f, struct got *g, struct cnp_ifaces *ifs,
                                    double duration_s)
{
	static const struct cnp_gnss_sys proto = {
		.connect = f_connect, .connected = f_connected, .send = f_send, .recv = f_recv,
		.close = f_close, .mono_us = f_mono, .wall_us = f_wall};
	struct cnp_gnss_sys sys = proto;
	sys.ctx = f;
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "gnss");
	snprintf(sc.gpsd_host, sizeof(sc.gpsd_host), "gpsd.example");
	snprintf(sc.gpsd_port, sizeof(sc.gpsd_port), "2947");
	sc.reopen_ms = 1000;
	sc.duration_s = duration_s;
	cnp_ifaces_init(ifs);
	struct cnp_source *src = NULL;
	CHECK_EQ(cnp_gnss_source_create_with(&sc, ifs, &sys, &src), CNP_OK);
	if (!src)
		exit(1);
	src->samples.sample = on_sample;
	src->samples.arg = g;
	return src;
}

static int step(struct cnp_source *src)
{
	struct cnp_frame fr[4];
	size_t n = 99;
	uint64_t w = 0;
	int rc = src->ops->read(src, fr, 4, &n, &w);
	CHECK_EQ(n, 0); /* never frames */
	return rc;
}

/* Reads until the fake has handed out everything (bounded). */
static void drain(struct cnp_source *src, struct fake *f)
{
	for (unsigned i = 0; i < 200 && f->next_chunk < f->n_chunks; i++)
		CHECK_EQ(step(src), CNP_OK);
	CHECK_EQ(step(src), CNP_OK);
	CHECK_EQ(f->next_chunk, f->n_chunks);
}

static uint64_t epoch_us(int y, int mo, int d, int h, int mi, int s, unsigned us)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
	                .tm_min = mi, .tm_sec = s};
	return (uint64_t)timegm(&tm) * 1000000u + us;
}

static const char TPV[] =
	"{\"class\":\"TPV\",\"device\":\"/dev/pts/3\",\"mode\":3,"
	"\"time\":\"2026-11-28T12:00:03.250Z\",\"ept\":0.005,\"lat\":48.117600000,"
	"\"lon\":-11.517300001,\"altHAE\":595.3000,\"altMSL\":548.4000,\"alt\":548.4000,"
	"\"track\":87.4000,\"magtrack\":84.3000,\"speed\":5.916,\"climb\":1.000}\r\n";

/* ---- tests ------------------------------------------------------------------ */

static void test_reports(void)
{
	struct fake f = {.mono = 1000000, .wall = 1700000000123456u};
	struct got g = {0};
	struct cnp_ifaces ifs;
	struct cnp_source *src = open_gnss(&f, &g, &ifs, 0);
	CHECK_EQ(ifs.count, 1);
	CHECK_STR(ifs.names[0], "gnss");
	push_str(&f, "{\"class\":\"VERSION\",\"release\":\"3.22\",\"proto_major\":3}\r\n"
	             "{\"class\":\"WATCH\",\"enable\":true,\"json\":true}\r\n");
	push_str(&f, TPV);
	/* A SKY of gpsd 3.22 (counts given) and of older ones (only the list),
	 * and a TPV without a fix (no time: stamped with the wall clock). */
	push_str(&f, "{\"class\":\"SKY\",\"time\":\"2026-11-28T12:00:04Z\",\"nSat\":8,\"uSat\":5,"
	             "\"satellites\":[]}\n"
	             "{\"class\":\"SKY\",\"satellites\":[{\"PRN\":1,\"used\":true},"
	             "{\"PRN\":2,\"used\":false},{\"PRN\":3,\"used\":true}]}\n"
	             "{\"class\":\"TPV\",\"mode\":1}\n"
	             "{\"class\":\"DEVICE\",\"path\":\"/dev/ttyACM0\"}\n");
	drain(src, &f);
	CHECK_STR(f.sent, "?WATCH={\"enable\":true,\"json\":true}\n");
	/* gpsd watched no device for us, then took one on: asked again. */
	CHECK_EQ(f.sends, 2);
	struct cnp_gnss_stats st;
	cnp_gnss_source_stats(src, &st);
	CHECK_EQ(st.tpv, 2);
	CHECK_EQ(st.sky, 2);
	CHECK_EQ(st.ignored, 3);
	CHECK_EQ(st.connects, 1);
	CHECK_EQ(src->stats.malformed, 0);

	uint64_t t = epoch_us(2026, 11, 28, 12, 0, 3, 250000);
	int i = find(&g, "Vehicle.CurrentLocation.Latitude", 0);
	CHECK(value(&g, i) == strtod("48.117600000", NULL));
	CHECK_EQ(g.ts[i], t);
	CHECK_STR(g.d[i]->unit, "degrees");
	CHECK_EQ(g.d[i]->iface, 0);
	i = find(&g, "Vehicle.CurrentLocation.Longitude", 0);
	CHECK(value(&g, i) == strtod("-11.517300001", NULL));
	CHECK(value(&g, find(&g, "Vehicle.CurrentLocation.Altitude", 0)) == 595.3);
	CHECK(value(&g, find(&g, "Vehicle.CurrentLocation.Heading", 0)) == 87.4);
	i = find(&g, "Vehicle.Speed", 0);
	CHECK(value(&g, i) == 5.916 * 3.6);
	CHECK_STR(g.d[i]->unit, "km/h");
	i = find(&g, "GNSS.FixMode", 0);
	CHECK(value(&g, i) == 3);
	CHECK_EQ(g.ts[i], t);
	i = find(&g, "GNSS.ReceivedMonotonic", 0);
	CHECK_EQ(g.raw[i], 1000000);
	CHECK_EQ(g.ts[i], t);
	/* SKY: counts as given, then counted from the list. */
	i = find(&g, "GNSS.SatellitesUsed", 0);
	CHECK(value(&g, i) == 5);
	CHECK_EQ(g.ts[i], epoch_us(2026, 11, 28, 12, 0, 4, 0));
	CHECK(value(&g, find(&g, "GNSS.SatellitesVisible", 0)) == 8);
	CHECK(value(&g, find(&g, "GNSS.SatellitesUsed", 1)) == 2);
	i = find(&g, "GNSS.SatellitesVisible", 1);
	CHECK(value(&g, i) == 3);
	CHECK_EQ(g.ts[i], f.wall);
	/* No fix: the mode alone, at the wall clock. */
	i = find(&g, "GNSS.FixMode", 1);
	CHECK(value(&g, i) == 1);
	CHECK_EQ(g.ts[i], f.wall);
	CHECK_EQ(count(&g, "Vehicle.CurrentLocation.Latitude"), 1);
	CHECK_EQ(g.n, 7 + 2 + 2 + 2);
	CHECK_EQ(src->stats.samples, g.n);
	/* The same stream description for every sample of a signal. */
	CHECK(g.d[find(&g, "GNSS.FixMode", 0)] == g.d[find(&g, "GNSS.FixMode", 1)]);
	cnp_source_destroy(src);
	CHECK_EQ(f.closes, 1);

	/* Watching one device already: a DEVICE report asks nothing again;
	 * and with none, a second DEVICE before gpsd answers asks once. */
	struct fake f2 = {.mono = 1000000, .wall = 1700000000123456u};
	struct got g2 = {0};
	src = open_gnss(&f2, &g2, &ifs, 0);
	push_str(&f2, "{\"class\":\"DEVICES\",\"devices\":[{\"path\":\"/dev/ttyACM0\"}]}\n"
	              "{\"class\":\"WATCH\",\"enable\":true}\n"
	              "{\"class\":\"DEVICE\",\"path\":\"/dev/ttyACM1\"}\n"
	              "{\"class\":\"DEVICES\",\"devices\":[]}\n"
	              "{\"class\":\"WATCH\",\"enable\":true}\n"
	              "{\"class\":\"DEVICE\",\"path\":\"/dev/ttyACM0\"}\n"
	              "{\"class\":\"DEVICE\",\"path\":\"/dev/ttyACM0\"}\n");
	drain(src, &f2);
	CHECK_EQ(f2.sends, 2);
	cnp_source_destroy(src);
}

static void test_malformed(void)
{
	struct fake f = {.mono = 5, .wall = 1700000000000000u};
	struct got g = {0};
	struct cnp_ifaces ifs;
	struct cnp_source *src = open_gnss(&f, &g, &ifs, 0);
	static char huge[20050];
	memset(huge, 'x', sizeof(huge));
	memcpy(huge, "{\"class\":\"TPV\",\"lat\":1,\"x\":\"", 29);
	huge[sizeof(huge) - 3] = '"';
	huge[sizeof(huge) - 2] = '}';
	huge[sizeof(huge) - 1] = '\n';
	static const char nul[] = "{\"class\":\"TPV\",\0\"lat\":2}\n";
	push_str(&f, "this is not JSON\n"
	             "[1,2,3]\n"
	             "{\"lat\":1}\n"
	             "{\"class\":\"TPV\",\"lat\":\"48.1\"}\n"
	             "{\"class\":\"TPV\",\"lat\":91}\n"
	             "{\"class\":\"TPV\",\"mode\":7}\n"
	             "{\"class\":\"TPV\",\"mode\":2.5}\n"
	             "{\"class\":\"TPV\",\"lat\":1,\"time\":\"yesterday\"}\n"
	             "{\"class\":\"TPV\",\"lat\":1,\"time\":\"2026-13-01T00:00:00Z\"}\n"
	             "{\"class\":\"SKY\",\"satellites\":{}}\n"
	             "{\"class\":\"TPV\",\"lat\":1,\n");
	/* Too long for the line buffer, in pieces; then a NUL byte. */
	push(&f, huge, 4096);
	push(&f, huge + 4096, 4096);
	push(&f, huge + 8192, 4096);
	push(&f, huge + 12288, 4096);
	push(&f, huge + 16384, sizeof(huge) - 16384);
	push(&f, nul, sizeof(nul) - 1);
	/* Still working after all that. */
	push_str(&f, "{\"class\":\"TPV\",\"mode\":2,\"lat\":10.5,\"lon\":20.25,"
	             "\"time\":\"2026-11-28T12:00:03.123456789Z\"}\n");
	drain(src, &f);
	CHECK_EQ(src->stats.malformed, 13);
	struct cnp_gnss_stats st;
	cnp_gnss_source_stats(src, &st);
	CHECK_EQ(st.tpv, 1);
	CHECK_EQ(g.n, 4);
	int i = find(&g, "Vehicle.CurrentLocation.Latitude", 0);
	CHECK(value(&g, i) == 10.5);
	CHECK_EQ(g.ts[i], epoch_us(2026, 11, 28, 12, 0, 3, 123456));
	CHECK(value(&g, find(&g, "Vehicle.CurrentLocation.Longitude", 0)) == 20.25);
	cnp_source_destroy(src);
}

static void test_partial_lines(void)
{
	struct fake f = {.mono = 5};
	struct got g = {0};
	struct cnp_ifaces ifs;
	struct cnp_source *src = open_gnss(&f, &g, &ifs, 0);
	/* Byte by byte: each read gets one. */
	size_t n = strlen(TPV);
	for (size_t k = 0; k < n && k < MAX_CHUNKS - 1; k++)
		push(&f, TPV + k, k + 1 < MAX_CHUNKS - 1 ? 1 : n - k);
	drain(src, &f);
	CHECK_EQ(src->stats.malformed, 0);
	CHECK_EQ(count(&g, "Vehicle.CurrentLocation.Latitude"), 1);
	CHECK(value(&g, find(&g, "Vehicle.CurrentLocation.Longitude", 0)) ==
	      strtod("-11.517300001", NULL));
	CHECK_EQ(g.n, 7);
	cnp_source_destroy(src);
}

static void test_reconnect(void)
{
	struct fake f = {.mono = 1000000, .refuse = 3};
	struct got g = {0};
	struct cnp_ifaces ifs;
	struct cnp_source *src = open_gnss(&f, &g, &ifs, 0);
	/* Refused: tried again after 100, 200, 400 ms (doubling). */
	CHECK_EQ(step(src), CNP_OK);
	CHECK_EQ(f.connects, 1);
	static const unsigned waits_ms[] = {100, 200, 400};
	for (unsigned k = 0; k < 3; k++) {
		f.mono += waits_ms[k] * 1000u - 1;
		CHECK_EQ(step(src), CNP_OK);
		CHECK_EQ(f.connects, 1 + k);
		f.mono += 1;
		CHECK_EQ(step(src), CNP_OK);
		CHECK_EQ(f.connects, 2 + k);
	}
	CHECK(f.open);
	CHECK_STR(f.sent, "?WATCH={\"enable\":true,\"json\":true}\n");
	push_str(&f, TPV);
	drain(src, &f);
	CHECK_EQ(count(&g, "Vehicle.CurrentLocation.Latitude"), 1);
	/* gpsd goes away in the middle of a line: the piece is dropped, the
	 * connection tried again after the shortest wait. */
	push(&f, TPV, 20);
	f.hang_up = 1;
	drain(src, &f);
	CHECK(!f.open);
	CHECK_EQ(f.closes, 1);
	f.hang_up = 0;
	unsigned before = f.connects;
	f.mono += 99999;
	CHECK_EQ(step(src), CNP_OK);
	CHECK_EQ(f.connects, before);
	f.mono += 1;
	push_str(&f, "2,\"lat\":5}\n"); /* must not join the dropped piece */
	push_str(&f, TPV);
	CHECK_EQ(step(src), CNP_OK);
	CHECK_EQ(f.connects, before + 1);
	CHECK_STR(f.sent, "?WATCH={\"enable\":true,\"json\":true}\n");
	drain(src, &f);
	CHECK_EQ(count(&g, "Vehicle.CurrentLocation.Latitude"), 2);
	CHECK_EQ(src->stats.malformed, 1);
	struct cnp_gnss_stats st;
	cnp_gnss_source_stats(src, &st);
	CHECK_EQ(st.connects, 2);
	CHECK_EQ(st.disconnects, 4);

	/* A long outage: the back-off stops growing at reopen_ms (1000). */
	f.hang_up = 1;
	drain(src, &f);
	f.hang_up = 0;
	f.refuse = 100;
	unsigned attempts = f.connects;
	for (unsigned k = 0; k < 100; k++) {
		f.mono += 1000000;
		CHECK_EQ(step(src), CNP_OK);
	}
	CHECK_EQ(f.connects - attempts, 100);
	/* A connection that never completes is given up after 5 s. */
	f.refuse = 0;
	f.pending = 1;
	f.mono += 1000000;
	CHECK_EQ(step(src), CNP_OK);
	CHECK(f.open);
	f.mono += 4999999;
	CHECK_EQ(step(src), CNP_OK);
	CHECK(f.open);
	f.mono += 1;
	CHECK_EQ(step(src), CNP_OK);
	CHECK(!f.open);
	cnp_source_destroy(src);
}

static void test_duration_and_errors(void)
{
	struct fake f = {.mono = 1000000};
	struct got g = {0};
	struct cnp_ifaces ifs;
	struct cnp_source *src = open_gnss(&f, &g, &ifs, 2.5);
	CHECK_EQ(step(src), CNP_OK);
	CHECK(f.open);
	/* A sink error (a stop while the spool was full) ends the read. */
	g.fail = CNP_ERR_CANCELLED;
	push_str(&f, TPV);
	CHECK_EQ(step(src), CNP_ERR_CANCELLED);
	g.fail = 0;
	f.mono += 2499999;
	CHECK_EQ(step(src), CNP_OK);
	f.mono += 1;
	CHECK_EQ(step(src), CNP_ERR_EOF);
	CHECK(!f.open);
	cnp_source_destroy(src);
	CHECK_EQ(f.closes, 1);
}

/* wait_fds: the socket while connected (the agent sleeps on it), nothing
 * while down or connecting; a drained connection asks to be read again
 * only after a long wait (or at the end of duration_s), a backlog at once,
 * and a read takes less than a second of reports. */
static uint64_t read_wait(struct cnp_source *src)
{
	struct cnp_frame fr[1];
	size_t n = 0;
	uint64_t w = 0;
	CHECK_EQ(src->ops->read(src, fr, 1, &n, &w), CNP_OK);
	return w;
}

static void test_wait_fds(void)
{
	struct fake f = {.mono = 1000000, .pending = 1};
	struct got g = {0};
	struct cnp_ifaces ifs;
	struct cnp_source *src = open_gnss(&f, &g, &ifs, 10);
	int fds[2] = {-1, -1};
	CHECK(src->ops->wait_fds != NULL);
	CHECK_EQ(src->ops->wait_fds(src, fds, 2), 0); /* not connected yet */
	CHECK(read_wait(src) <= 20000u);              /* connecting: looks again soon */
	CHECK_EQ(src->ops->wait_fds(src, fds, 2), 0);
	f.pending = 0;
	CHECK(read_wait(src) >= 1000000u); /* up, nothing sent: sleeps on the socket */
	CHECK_EQ(src->ops->wait_fds(src, fds, 2), 1);
	CHECK_EQ(fds[0], FAKE_FD);
	CHECK_EQ(fds[1], -1);
	CHECK_EQ(src->ops->wait_fds(src, fds, 0), 0);
	/* A backlog of 4 reports: each read takes at most 256 bytes. */
	char backlog[4 * sizeof(TPV)];
	snprintf(backlog, sizeof(backlog), "%s%s%s%s", TPV, TPV, TPV, TPV);
	push_str(&f, backlog);
	CHECK_EQ(read_wait(src), 0);
	CHECK_EQ(f.chunk_off, 256);
	unsigned reads = 1;
	while (f.next_chunk < f.n_chunks && reads < 100) {
		read_wait(src);
		reads++;
	}
	CHECK_EQ(reads, (strlen(backlog) + 255) / 256);
	CHECK_EQ(count(&g, "Vehicle.CurrentLocation.Latitude"), 4);
	/* Near the end of duration_s the wait ends with it. */
	f.mono = 1000000 + 10000000 - 300000;
	CHECK_EQ(read_wait(src), 300000u);
	/* gpsd gone: no descriptor until connected again. */
	f.hang_up = 1;
	read_wait(src);
	CHECK(!f.open);
	CHECK_EQ(src->ops->wait_fds(src, fds, 2), 0);
	cnp_source_destroy(src);
}

int main(void)
{
	test_reports();
	test_malformed();
	test_partial_lines();
	test_reconnect();
	test_duration_and_errors();
	test_wait_fds();
	return check_finish();
}
