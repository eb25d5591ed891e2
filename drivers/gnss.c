/*
 * GNSS through gpsd: a TCP connection to gpsd, ?WATCH={"enable":true,
 * "json":true}, and its JSON reports read line by line. TPV reports give
 * position, altitude, heading, speed and fix mode; SKY reports the
 * satellites used and visible. Each value becomes a signal sample with a
 * VSS name (docs/GNSS.md) in the same batches as the signals decoded from
 * CAN frames. Reads never wait: what gpsd sent is taken as it comes, lines
 * are put together across reads, and a lost connection is tried again with
 * a bounded back-off.
 */
#include "drivers/gnss_sys.h"
#include "drivers/sys_real.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Longest report line kept (gpsd's longest, a SKY with many satellites,
 * is a few KiB); a longer one is counted malformed and skipped. */
#define LINE_MAX_BYTES 16384
/* One read() takes at most this much (less than a second of gpsd's
 * reports at 1 Hz), so that the agent, which looks at the batch's age
 * between reads, cuts batches within a report of their age even when gpsd
 * has a backlog (a replay): a batch then spans as long as it would live. */
#define RECV_CHUNK 256
#define RECVS_PER_READ 1
#define POLL_US 20000u          /* how often to look again while connecting */
#define IDLE_US 1000000u        /* connected: the agent sleeps on the socket */
#define BACKOFF_MIN_MS 100u
#define CONNECT_TIMEOUT_US 5000000u
#define MALFORMED_LOGGED 5u     /* per connection; the rest are counted */
#define WATCH "?WATCH={\"enable\":true,\"json\":true}\n"

enum gsig {
	SIG_LAT, SIG_LON, SIG_ALT, SIG_HEADING, SIG_SPEED, SIG_MODE, SIG_RX_MONO,
	SIG_USED, SIG_VISIBLE, N_SIG
};

static const struct {
	const char *message, *signal, *name, *unit;
	uint8_t type;
} sig_def[N_SIG] = {
	[SIG_LAT] = {"TPV", "lat", "Vehicle.CurrentLocation.Latitude", "degrees", CNP_SIG_FLOAT64},
	[SIG_LON] = {"TPV", "lon", "Vehicle.CurrentLocation.Longitude", "degrees", CNP_SIG_FLOAT64},
	[SIG_ALT] = {"TPV", "altHAE", "Vehicle.CurrentLocation.Altitude", "m", CNP_SIG_FLOAT64},
	[SIG_HEADING] = {"TPV", "track", "Vehicle.CurrentLocation.Heading", "degrees",
	                 CNP_SIG_FLOAT64},
	[SIG_SPEED] = {"TPV", "speed", "Vehicle.Speed", "km/h", CNP_SIG_FLOAT64},
	[SIG_MODE] = {"TPV", "mode", "GNSS.FixMode", "", CNP_SIG_UINT},
	[SIG_RX_MONO] = {"TPV", "received", "GNSS.ReceivedMonotonic", "us", CNP_SIG_UINT},
	[SIG_USED] = {"SKY", "uSat", "GNSS.SatellitesUsed", "", CNP_SIG_UINT},
	[SIG_VISIBLE] = {"SKY", "nSat", "GNSS.SatellitesVisible", "", CNP_SIG_UINT},
};

enum state { DOWN, CONNECTING, UP };

struct gnss_source {
	struct cnp_source base;
	struct cnp_gnss_sys sys;
	char host[CNP_GPSD_HOST_MAX];
	char port[8];
	char where[CNP_GPSD_HOST_MAX + 16]; /* "gpsd at HOST:PORT" for messages */
	struct cnp_sig_desc desc[N_SIG];
	enum state state;
	int fd;
	uint64_t end_mono;      /* duration_s: 0 endless */
	uint64_t next_try_mono; /* DOWN: the next connection attempt */
	uint64_t connect_mono;  /* CONNECTING: since when */
	uint64_t backoff_ms, backoff_max_ms;
	unsigned failed_attempts; /* since the last connection */
	unsigned outage_logged;   /* the current outage was logged */
	int devices;              /* in gpsd's last DEVICES report */
	int watching;             /* devices when gpsd last answered the WATCH,
	                             -1 before its answer */
	int rewatched;            /* WATCH asked again since that answer */
	uint64_t line_no;         /* lines of this connection */
	unsigned malformed_logged;
	int overlong;             /* skipping the rest of a too long line */
	size_t line_len;
	struct cnp_gnss_stats st;
	char line[LINE_MAX_BYTES];
};

/* ---- the real system calls --------------------------------------------------- */

static int real_connect(void *ctx, const char *host, const char *port)
{
	(void)ctx;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		errno = gai == EAI_SYSTEM ? errno : EHOSTUNREACH;
		return -1;
	}
	int fd = -1, err = ECONNREFUSED;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		errno = err;
	return fd;
}

static int real_connected(void *ctx, int fd)
{
	(void)ctx;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int n = poll(&p, 1, 0);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return -1;
	if (err) {
		errno = err;
		return -1;
	}
	return 1;
}

static ssize_t real_send(void *ctx, int fd, const void *buf, size_t len)
{
	(void)ctx;
	return send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static ssize_t real_recv(void *ctx, int fd, void *buf, size_t len)
{
	(void)ctx;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static const struct cnp_gnss_sys real_sys = {
	.connect = real_connect,
	.connected = real_connected,
	.send = real_send,
	.recv = real_recv,
	.close = cnp_sys_real_close,
	.mono_us = cnp_sys_real_mono_us,
	.wall_us = cnp_sys_real_wall_us,
};

const struct cnp_gnss_sys *cnp_gnss_sys_default(void)
{
	return &real_sys;
}

/* ---- connection ---------------------------------------------------------------- */

/* Gives up the connection (if any) and schedules the next attempt. */
static void hang_up(struct gnss_source *s, uint64_t now, const char *what, int err)
{
	if (s->state != DOWN) {
		s->sys.close(s->sys.ctx, s->fd);
		s->fd = -1;
	}
	int was_up = s->state == UP;
	s->state = DOWN;
	s->st.disconnects++;
	if (was_up) {
		s->backoff_ms = BACKOFF_MIN_MS;
		s->failed_attempts = 0;
	} else {
		s->failed_attempts++;
	}
	/* One message per outage: the loss, or the first failed attempt. */
	if (!s->outage_logged) {
		s->outage_logged = 1;
		cnp_warn("gnss: %s %s%s%s; retrying with a back-off of up to %llu ms", s->where,
		         what, err ? ": " : "", err ? strerror(err) : "",
		         (unsigned long long)s->backoff_max_ms);
	}
	s->next_try_mono = now + s->backoff_ms * 1000u;
	s->backoff_ms *= 2;
	if (s->backoff_ms > s->backoff_max_ms)
		s->backoff_ms = s->backoff_max_ms;
}

static void try_connect(struct gnss_source *s, uint64_t now)
{
	s->fd = s->sys.connect(s->sys.ctx, s->host, s->port);
	if (s->fd < 0) {
		hang_up(s, now, "cannot be reached", errno);
		return;
	}
	s->state = CONNECTING;
	s->connect_mono = now;
}

/* Sends the WATCH request. Returns 0 once all of it is sent, else the
 * errno to report (EMSGSIZE for a short send). */
static int send_watch(struct gnss_source *s)
{
	const size_t len = sizeof(WATCH) - 1;
	ssize_t n = s->sys.send(s->sys.ctx, s->fd, WATCH, len);
	if (n < 0)
		return errno;
	return (size_t)n == len ? 0 : EMSGSIZE;
}

/* CONNECTING: once up, asks for the JSON reports. */
static void check_connected(struct gnss_source *s, uint64_t now)
{
	int r = s->sys.connected(s->sys.ctx, s->fd);
	if (r < 0) {
		hang_up(s, now, "refused the connection", errno);
		return;
	}
	if (r == 0) {
		if (now - s->connect_mono >= CONNECT_TIMEOUT_US)
			hang_up(s, now, "did not answer within 5 s", 0);
		return;
	}
	int err = send_watch(s);
	if (err) {
		hang_up(s, now, "did not take the WATCH request", err);
		return;
	}
	s->state = UP;
	s->watching = -1;
	s->rewatched = 0;
	s->st.connects++;
	s->line_len = 0;
	s->overlong = 0;
	s->line_no = 0;
	s->malformed_logged = 0;
	if (s->failed_attempts == 0)
		cnp_info("gnss: connected to %s%s", s->where, s->st.connects > 1 ? " again" : "");
	else
		cnp_info("gnss: connected to %s%s after %u failed attempts", s->where,
		         s->st.connects > 1 ? " again" : "", s->failed_attempts);
	s->failed_attempts = 0;
	s->outage_logged = 0;
}

/* ---- reports ------------------------------------------------------------------- */

static void malformed(struct gnss_source *s, const char *line, const char *why)
{
	s->base.stats.malformed++;
	if (s->malformed_logged >= MALFORMED_LOGGED)
		return;
	s->malformed_logged++;
	/* A printable excerpt of the line. */
	char ex[64];
	size_t k = 0;
	for (; line[k] && k < sizeof(ex) - 1; k++)
		ex[k] = line[k] >= 0x20 && line[k] < 0x7f ? line[k] : '?';
	ex[k] = 0;
	cnp_warn("gnss: %s: report line %llu skipped: %s (\"%s%s\")%s", s->where,
	         (unsigned long long)s->line_no, why, ex, line[k] ? "..." : "",
	         s->malformed_logged == MALFORMED_LOGGED
	                 ? "; further malformed lines of this connection are only counted"
	                 : "");
}

/*
 * An ISO 8601 UTC time as gpsd writes it ("2026-11-28T04:05:11.123Z") in
 * microseconds since the epoch; digits past the microsecond are dropped.
 * Returns -1 if it is not one.
 */
static int parse_time(const char *t, uint64_t *out)
{
	unsigned v[6];
	const char seps[6] = {'-', '-', 'T', ':', ':', 0};
	const unsigned widths[6] = {4, 2, 2, 2, 2, 2};
	for (int i = 0; i < 6; i++) {
		v[i] = 0;
		for (unsigned w = 0; w < widths[i]; w++, t++) {
			if (*t < '0' || *t > '9')
				return -1;
			v[i] = v[i] * 10u + (unsigned)(*t - '0');
		}
		if (i < 5 && *t++ != seps[i])
			return -1;
	}
	uint64_t frac = 0;
	if (*t == '.') {
		unsigned digits = 0;
		for (t++; *t >= '0' && *t <= '9'; t++, digits++)
			if (digits < 6)
				frac = frac * 10u + (uint64_t)(*t - '0');
		if (digits == 0)
			return -1;
		for (; digits < 6; digits++)
			frac *= 10u;
	}
	if (strcmp(t, "Z") != 0 || v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 ||
	    v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return -1;
	/* Days since 1970-01-01 of a proleptic Gregorian date. */
	unsigned y = v[0] - (v[1] <= 2);
	unsigned era = y / 400, yoe = y - era * 400;
	unsigned mp = (v[1] + 9) % 12;
	unsigned doy = (153 * mp + 2) / 5 + v[2] - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	uint64_t days = (uint64_t)era * 146097u + doe - 719468u;
	*out = ((days * 24u + v[3]) * 60u + v[4]) * 60000000u + (uint64_t)v[5] * 1000000u + frac;
	return 0;
}

static int emit(struct gnss_source *s, enum gsig k, uint64_t ts, uint64_t raw)
{
	if (!s->base.samples.sample)
		return CNP_OK;
	int rc = s->base.samples.sample(s->base.samples.arg, &s->desc[k], ts, raw);
	if (rc == CNP_OK)
		s->base.stats.samples++;
	return rc;
}

static uint64_t double_bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

/* The number at `key`, if there is one: 1 found, 0 absent, -1 not a
 * number in [lo, hi] (the line is malformed). */
static int number(const cJSON *o, const char *key, double lo, double hi, double *v)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!j)
		return 0;
	if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi))
		return -1;
	*v = j->valuedouble;
	return 1;
}

/* The report's "time" (or the wall clock when it has none); -1 if bad. */
static int report_time(struct gnss_source *s, const cJSON *o, uint64_t *ts)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
	if (!t) {
		*ts = s->sys.wall_us(s->sys.ctx);
		return 0;
	}
	return cJSON_IsString(t) ? parse_time(t->valuestring, ts) : -1;
}

static int on_tpv(struct gnss_source *s, const cJSON *o, const char *line, uint64_t rx_mono)
{
	static const struct {
		enum gsig sig;
		const char *key;
		double lo, hi, factor;
	} fields[] = {
		{SIG_LAT, "lat", -90, 90, 1},
		{SIG_LON, "lon", -180, 180, 1},
		{SIG_ALT, "altHAE", -1e6, 1e8, 1},
		{SIG_HEADING, "track", 0, 360, 1},
		{SIG_SPEED, "speed", 0, 1e6, 3.6}, /* m/s to km/h, as VSS has it */
	};
	enum { NF = sizeof(fields) / sizeof(fields[0]) };
	double v[NF];
	int has[NF];
	uint64_t ts;
	double mode = 0;
	int has_mode = number(o, "mode", 0, 3, &mode);
	if (has_mode < 0) {
		malformed(s, line, "TPV \"mode\" is not 0, 1, 2 or 3");
		return CNP_OK;
	}
	if (has_mode == 1 && mode != floor(mode)) {
		malformed(s, line, "TPV \"mode\" is not 0, 1, 2 or 3");
		return CNP_OK;
	}
	for (unsigned i = 0; i < NF; i++) {
		has[i] = number(o, fields[i].key, fields[i].lo, fields[i].hi, &v[i]);
		if (has[i] < 0) {
			char why[96];
			snprintf(why, sizeof(why), "TPV \"%s\" is not a number from %g to %g",
			         fields[i].key, fields[i].lo, fields[i].hi);
			malformed(s, line, why);
			return CNP_OK;
		}
	}
	if (report_time(s, o, &ts) != 0) {
		malformed(s, line, "TPV \"time\" is not an ISO 8601 UTC time");
		return CNP_OK;
	}
	s->st.tpv++;
	int rc = CNP_OK;
	for (unsigned i = 0; i < NF && rc == CNP_OK; i++)
		if (has[i])
			rc = emit(s, fields[i].sig, ts, double_bits(v[i] * fields[i].factor));
	if (rc == CNP_OK && has_mode)
		rc = emit(s, SIG_MODE, ts, (uint64_t)mode);
	if (rc == CNP_OK)
		rc = emit(s, SIG_RX_MONO, ts, rx_mono);
	return rc;
}

static int on_sky(struct gnss_source *s, const cJSON *o, const char *line)
{
	double used = 0, visible = 0;
	int has_used = number(o, "uSat", 0, 1e4, &used);
	int has_visible = number(o, "nSat", 0, 1e4, &visible);
	const cJSON *sats = cJSON_GetObjectItemCaseSensitive(o, "satellites");
	if (has_used < 0 || has_visible < 0 || (sats && !cJSON_IsArray(sats))) {
		malformed(s, line, "SKY \"uSat\", \"nSat\" or \"satellites\" of the wrong type");
		return CNP_OK;
	}
	if (sats && (!has_used || !has_visible)) {
		/* Older gpsd: count the list. */
		unsigned n = 0, u = 0;
		const cJSON *it;
		cJSON_ArrayForEach(it, sats)
		{
			n++;
			u += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "used"));
		}
		if (!has_used)
			used = u;
		if (!has_visible)
			visible = n;
		has_used = has_visible = 1;
	}
	uint64_t ts;
	if (report_time(s, o, &ts) != 0) {
		malformed(s, line, "SKY \"time\" is not an ISO 8601 UTC time");
		return CNP_OK;
	}
	s->st.sky++;
	int rc = CNP_OK;
	if (has_used == 1)
		rc = emit(s, SIG_USED, ts, (uint64_t)used);
	if (rc == CNP_OK && has_visible == 1)
		rc = emit(s, SIG_VISIBLE, ts, (uint64_t)visible);
	return rc;
}

static int on_line(struct gnss_source *s, char *line, size_t n, uint64_t rx_mono)
{
	if (n && line[n - 1] == '\r')
		line[--n] = 0;
	if (n == 0)
		return CNP_OK;
	cJSON *o = cJSON_ParseWithLength(line, n);
	int rc = CNP_OK;
	const cJSON *cls = o ? cJSON_GetObjectItemCaseSensitive(o, "class") : NULL;
	if (!o || !cJSON_IsObject(o))
		malformed(s, line, "not a JSON object");
	else if (!cJSON_IsString(cls))
		malformed(s, line, "no \"class\" string");
	else if (strcmp(cls->valuestring, "TPV") == 0)
		rc = on_tpv(s, o, line, rx_mono);
	else if (strcmp(cls->valuestring, "SKY") == 0)
		rc = on_sky(s, o, line);
	else if (strcmp(cls->valuestring, "DEVICES") == 0) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "devices");
		s->devices = cJSON_IsArray(d) ? cJSON_GetArraySize(d) : 0;
		s->st.ignored++;
	} else if (strcmp(cls->valuestring, "WATCH") == 0) {
		/* gpsd answers the WATCH once its devices are open. */
		cnp_info("gnss: %s is watching %d device%s for us", s->where, s->devices,
		         s->devices == 1 ? "" : "s");
		s->watching = s->devices;
		s->rewatched = 0;
		s->st.ignored++;
	} else if (strcmp(cls->valuestring, "DEVICE") == 0) {
		/* A receiver gpsd took on after answering our WATCH with none:
		 * gpsd 3.22 does not open it for a watch made before, so ask
		 * again (once per answer: the next answer counts it). */
		s->st.ignored++;
		if (s->watching == 0 && !s->rewatched) {
			s->rewatched = 1;
			if (send_watch(s) != 0)
				cnp_warn("gnss: %s has a new device, and did not take a new WATCH "
				         "request: its reports may wait for a reconnection", s->where);
			else
				cnp_info("gnss: %s has a new device: watching again", s->where);
		}
	} else if (strcmp(cls->valuestring, "ERROR") == 0) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
		cnp_warn("gnss: %s reports an error: %s", s->where,
		         cJSON_IsString(m) ? m->valuestring : "(no message)");
		s->st.ignored++;
	} else
		s->st.ignored++;
	cJSON_Delete(o);
	return rc;
}

/* Splits received bytes into lines; a line may span reads. */
static int take_bytes(struct gnss_source *s, const char *buf, size_t len, uint64_t rx_mono)
{
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t take = (nl ? (size_t)(nl - buf) : len) - i;
		if (!s->overlong && s->line_len + take < sizeof(s->line)) {
			memcpy(s->line + s->line_len, buf + i, take);
			s->line_len += take;
		} else if (!s->overlong) {
			/* Reported now, under the number the line will have. */
			s->overlong = 1;
			s->line[s->line_len < 60 ? s->line_len : 60] = 0;
			s->line_no++;
			malformed(s, s->line, "longer than 16 KiB");
			s->line_no--;
		}
		i += take;
		if (!nl)
			break;
		i++; /* the '\n' */
		s->line_no++;
		int rc = CNP_OK;
		if (!s->overlong) {
			s->line[s->line_len] = 0;
			if (strlen(s->line) != s->line_len)
				malformed(s, s->line, "contains a NUL byte");
			else
				rc = on_line(s, s->line, s->line_len, rx_mono);
		}
		s->overlong = 0;
		s->line_len = 0;
		if (rc != CNP_OK)
			return rc;
	}
	return CNP_OK;
}

/* ---- the source ---------------------------------------------------------------- */

static int gnss_read(struct cnp_source *src, struct cnp_frame *frames, size_t max, size_t *n,
                     uint64_t *wait_us)
{
	(void)frames;
	(void)max;
	struct gnss_source *s = (struct gnss_source *)src;
	*n = 0;
	*wait_us = POLL_US;
	uint64_t now = s->sys.mono_us(s->sys.ctx);
	if (s->end_mono && now >= s->end_mono) {
		if (s->state != DOWN) {
			s->sys.close(s->sys.ctx, s->fd);
			s->fd = -1;
			s->state = DOWN;
		}
		return CNP_ERR_EOF;
	}
	if (s->state == DOWN) {
		if (now < s->next_try_mono) {
			uint64_t w = s->next_try_mono - now;
			*wait_us = w < POLL_US ? w : POLL_US;
			return CNP_OK;
		}
		try_connect(s, now);
	}
	if (s->state == CONNECTING)
		check_connected(s, now);
	if (s->state != UP)
		return CNP_OK;
	char buf[RECV_CHUNK];
	for (unsigned k = 0; k < RECVS_PER_READ; k++) {
		ssize_t got = s->sys.recv(s->sys.ctx, s->fd, buf, sizeof(buf));
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (got <= 0) {
			hang_up(s, now, got == 0 ? "closed the connection" : "failed",
			        got == 0 ? 0 : errno);
			break;
		}
		uint64_t rx = s->sys.mono_us(s->sys.ctx);
		int rc = take_bytes(s, buf, (size_t)got, rx);
		if (rc != CNP_OK)
			return rc;
		if ((size_t)got < sizeof(buf))
			break;
		*wait_us = 0; /* more may be waiting */
	}
	if (s->state == UP && *wait_us) {
		/* Connected and drained: the agent waits on the socket
		 * (wait_fds); only the end of duration_s needs a clock. */
		*wait_us = IDLE_US;
		if (s->end_mono && s->end_mono - now < *wait_us)
			*wait_us = s->end_mono - now;
	}
	return CNP_OK;
}

/* The socket while connected: readable when gpsd sends (or hangs up).
 * While down or connecting, read()'s *wait_us paces the attempts. */
static unsigned gnss_wait_fds(const struct cnp_source *src, int *fds, unsigned max)
{
	const struct gnss_source *s = (const struct gnss_source *)src;
	if (s->state != UP || max == 0)
		return 0;
	fds[0] = s->fd;
	return 1;
}

static void gnss_destroy(struct cnp_source *src)
{
	struct gnss_source *s = (struct gnss_source *)src;
	if (s->state != DOWN)
		s->sys.close(s->sys.ctx, s->fd);
	cnp_free(s);
}

static const struct cnp_sig_desc *gnss_sample_desc(const struct cnp_source *src, unsigned k)
{
	const struct gnss_source *s = (const struct gnss_source *)src;
	return k < N_SIG ? &s->desc[k] : NULL;
}

static const struct cnp_source_ops gnss_ops = {
	.type = "gnss",
	.read = gnss_read,
	.destroy = gnss_destroy,
	.wait_fds = gnss_wait_fds,
	.sample_desc = gnss_sample_desc,
};

void cnp_gnss_source_stats(const struct cnp_source *src, struct cnp_gnss_stats *st)
{
	*st = ((const struct gnss_source *)src)->st;
}

int cnp_gnss_source_create_with(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                                const struct cnp_gnss_sys *sys, struct cnp_source **out)
{
	*out = NULL;
	uint8_t iface;
	int rc = cnp_ifaces_intern(ifaces, "gnss", 4, &iface);
	if (rc != CNP_OK) {
		cnp_error("gnss: no room for the interface \"gnss\" in the interface table");
		return rc;
	}
	struct gnss_source *s = cnp_calloc(1, sizeof(*s));
	if (!s)
		return CNP_ERR_NOMEM;
	s->base.ops = &gnss_ops;
	s->base.ifaces = ifaces;
	s->sys = sys ? *sys : real_sys;
	s->fd = -1;
	snprintf(s->host, sizeof(s->host), "%s", cfg->gpsd_host[0] ? cfg->gpsd_host : "localhost");
	snprintf(s->port, sizeof(s->port), "%s",
	         cfg->gpsd_port[0] ? cfg->gpsd_port : CNP_GPSD_DEFAULT_PORT);
	snprintf(s->where, sizeof(s->where), strchr(s->host, ':') ? "gpsd at [%s]:%s" : "gpsd at %s:%s",
	         s->host, s->port);
	for (unsigned k = 0; k < N_SIG; k++) {
		s->desc[k] = (struct cnp_sig_desc){
			.iface = iface, .type = sig_def[k].type, .message = sig_def[k].message,
			.signal = sig_def[k].signal, .name = sig_def[k].name, .unit = sig_def[k].unit,
			.scale = 1.0, .offset = 0.0};
	}
	s->backoff_max_ms = cfg->reopen_ms >= BACKOFF_MIN_MS ? cfg->reopen_ms : BACKOFF_MIN_MS;
	s->backoff_ms = BACKOFF_MIN_MS;
	uint64_t now = s->sys.mono_us(s->sys.ctx);
	s->next_try_mono = now;
	if (cfg->duration_s > 0)
		s->end_mono = now + (uint64_t)(cfg->duration_s * 1e6);
	*out = &s->base;
	return CNP_OK;
}

int cnp_gnss_source_create(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                           struct cnp_source **out)
{
	return cnp_gnss_source_create_with(cfg, ifaces, NULL, out);
}
