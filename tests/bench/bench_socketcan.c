/*
 * bench_socketcan: the SocketCAN source's read path (drivers/socketcan.c)
 * against a fake kernel, for counting instructions per frame with
 * valgrind --tool=callgrind (scripts/bench-socketcan-host runs it).
 *
 *   bench_socketcan LOG FRAMES QUEUE
 *
 * LOG     a candump -l log (canopy-sim writes one): its frames, interfaces
 *         and timestamps are what the fake kernel hands out, in the log's
 *         order, cycling when FRAMES is larger than the log. An interface
 *         with a CAN FD frame gets the CAN FD MTU (72), the others 16.
 * FRAMES  frames to read through the source (0: set up only)
 * QUEUE   frames the fake kernel queues per wake-up of the agent (1..4096):
 *         before each wake-up it queues the next QUEUE frames of the log on
 *         their interfaces' sockets; the wake-up then calls the source's
 *         read(frames, 256, ...) -- 256 as the agent does -- until it
 *         returns no frame, as the agent's loop does before it sleeps.
 *
 * The fake recv_batch does what the kernel's recvmmsg does for each frame
 * of a CAN_RAW socket with SO_TIMESTAMPING and SO_RXQ_OVFL on and no drops:
 * copies the can_frame (16 bytes) or canfd_frame (72 bytes) and writes one
 * SCM_TIMESTAMPING control message (the kernel adds SO_RXQ_OVFL only once
 * the socket has dropped something). It is kept small, but it is not free:
 * the callgrind script reports its share separately.
 *
 * Everything measured runs inside bench_wakeups(), so that callgrind can
 * count it alone (--toggle-collect=bench_wakeups); set-up (reading and
 * parsing the log, creating the source) stays outside.
 *
 * Prints: frames read, wake-ups, read() calls, recv_batch calls, and the
 * source's counters (frames, malformed, kernel_dropped).
 */
#define _GNU_SOURCE

#include "drivers/socketcan_sys.h"
#include "drivers/source.h"
#include "firmware/candump.h"
#include "firmware/config.h"
#include "firmware/error.h"
#include "firmware/frame.h"
#include "firmware/iface.h"
#include "platform/log.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/can.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_IFS 8
#define FD0 100
#define AGENT_READ_CHUNK 256 /* firmware/agent.c READ_CHUNK */

struct msg {
	union {
		struct can_frame cc;
		struct canfd_frame fd;
	} f;
	unsigned size; /* CAN_MTU or CANFD_MTU */
	struct timespec ts;
};

struct fake_if {
	char name[IFNAMSIZ];
	int mtu;
	struct msg *msgs; /* this interface's frames of the log, in order */
	size_t n_msgs;
	size_t next;      /* next to hand out (cycles) */
	size_t queued;    /* queued on the socket, not yet received */
	int fd;           /* the socket bound to it, -1: none */
};

static struct fake_if ifs[MAX_IFS];
static unsigned n_ifs;
/* The log's interface sequence: frame k of the log is on ifs[order[k]]. */
static uint8_t *order;
static size_t n_order, order_next;
static uint64_t fake_mono = 1000000000u;
static unsigned long recv_calls;

/* ---- the fake kernel ----------------------------------------------------- */

static struct fake_if *by_name(const char *name)
{
	for (unsigned i = 0; i < n_ifs; i++)
		if (strncmp(ifs[i].name, name, IFNAMSIZ) == 0)
			return &ifs[i];
	return NULL;
}

static struct fake_if *by_fd(int fd)
{
	for (unsigned i = 0; i < n_ifs; i++)
		if (ifs[i].fd == fd)
			return &ifs[i];
	return NULL;
}

static int next_fd = FD0;

static int f_socket(void *ctx, int domain, int type, int protocol)
{
	(void)ctx;
	(void)domain;
	(void)type;
	(void)protocol;
	return next_fd++;
}

static int f_ioctl(void *ctx, int fd, unsigned long request, struct ifreq *ifr)
{
	(void)ctx;
	(void)fd;
	struct fake_if *f = by_name(ifr->ifr_name);
	if (!f) {
		errno = ENODEV;
		return -1;
	}
	switch (request) {
	case SIOCGIFINDEX:
		ifr->ifr_ifindex = (int)(f - ifs) + 1;
		return 0;
	case SIOCGIFHWADDR:
		memset(&ifr->ifr_hwaddr, 0, sizeof(ifr->ifr_hwaddr));
		ifr->ifr_hwaddr.sa_family = ARPHRD_CAN;
		return 0;
	case SIOCGIFFLAGS:
		ifr->ifr_flags = IFF_UP | IFF_RUNNING;
		return 0;
	case SIOCGIFMTU:
		ifr->ifr_mtu = f->mtu;
		return 0;
	default:
		errno = ENOTTY;
		return -1;
	}
}

static int f_setsockopt(void *ctx, int fd, int level, int name, const void *value,
                        socklen_t len)
{
	(void)ctx;
	(void)fd;
	(void)level;
	(void)name;
	(void)value;
	(void)len;
	return 0;
}

static int f_getsockopt(void *ctx, int fd, int level, int name, void *value, socklen_t *len)
{
	(void)ctx;
	(void)fd;
	if (level == SOL_SOCKET && name == SO_RCVBUF && *len >= sizeof(int)) {
		int v = 1 << 30; /* large enough: no warning */
		memcpy(value, &v, sizeof(v));
		*len = sizeof(int);
		return 0;
	}
	errno = ENOPROTOOPT;
	return -1;
}

static int f_bind(void *ctx, int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)ctx;
	(void)len;
	struct sockaddr_can a;
	memcpy(&a, addr, sizeof(a));
	if (a.can_ifindex < 1 || a.can_ifindex > (int)n_ifs) {
		errno = ENODEV;
		return -1;
	}
	ifs[a.can_ifindex - 1].fd = fd;
	return 0;
}

static int f_recv_batch(void *ctx, int fd, struct msghdr *msgs, unsigned *lens, unsigned vlen)
{
	(void)ctx;
	recv_calls++;
	struct fake_if *f = by_fd(fd);
	if (!f) {
		errno = EBADF;
		return -1;
	}
	if (f->queued == 0) {
		errno = EAGAIN;
		return -1;
	}
	unsigned n = vlen < f->queued ? vlen : (unsigned)f->queued;
	for (unsigned i = 0; i < n; i++) {
		const struct msg *m = &f->msgs[f->next];
		if (++f->next == f->n_msgs)
			f->next = 0;
		struct msghdr *h = &msgs[i];
		memcpy(h->msg_iov[0].iov_base, &m->f, m->size);
		lens[i] = m->size;
		/* One SCM_TIMESTAMPING: three timespecs, the first the software
		 * receive time. */
		struct cmsghdr *c = (struct cmsghdr *)h->msg_control;
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_TIMESTAMPING;
		c->cmsg_len = CMSG_LEN(3 * sizeof(struct timespec));
		struct timespec *ts = (struct timespec *)(void *)CMSG_DATA(c);
		ts[0] = m->ts;
		memset(&ts[1], 0, 2 * sizeof(struct timespec));
		h->msg_controllen = CMSG_SPACE(3 * sizeof(struct timespec));
		h->msg_flags = 0;
	}
	f->queued -= n;
	return (int)n;
}

static int f_close(void *ctx, int fd)
{
	(void)ctx;
	struct fake_if *f = by_fd(fd);
	if (f)
		f->fd = -1;
	return 0;
}

static uint64_t f_mono_us(void *ctx)
{
	(void)ctx;
	return fake_mono;
}

static uint64_t f_wall_us(void *ctx)
{
	(void)ctx;
	return 1700000000000000u;
}

/* ---- the log ------------------------------------------------------------------ */

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "bench_socketcan: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static void load_log(const char *path)
{
	FILE *in = fopen(path, "r");
	if (!in)
		die("cannot open %s", path);
	size_t cap_order = 1 << 16;
	order = malloc(cap_order);
	size_t caps[MAX_IFS] = {0};
	char line[CNP_CANDUMP_LINE_MAX + 2];
	while (fgets(line, sizeof(line), in)) {
		size_t len = strcspn(line, "\r\n");
		if (len == 0)
			continue;
		struct cnp_frame fr;
		struct cnp_candump_line cl;
		memset(&fr, 0, sizeof(fr));
		if (cnp_candump_parse(line, len, &fr, &cl) != CNP_OK)
			die("a malformed line in %s", path);
		if (fr.flags & (CNP_FRAME_ERR | CNP_FRAME_RTR))
			continue; /* the simulator sends none; keep the fake simple */
		char name[IFNAMSIZ];
		unsigned nl = cl.ifname_len < IFNAMSIZ - 1 ? cl.ifname_len : IFNAMSIZ - 1;
		memcpy(name, cl.ifname, nl);
		name[nl] = 0;
		struct fake_if *f = by_name(name);
		if (!f) {
			if (n_ifs == MAX_IFS)
				die("more than 8 interfaces in %s", path);
			f = &ifs[n_ifs++];
			memset(f, 0, sizeof(*f));
			memcpy(f->name, name, nl + 1);
			f->mtu = (int)CAN_MTU;
			f->fd = -1;
		}
		unsigned k = (unsigned)(f - ifs);
		if (f->n_msgs == caps[k]) {
			caps[k] = caps[k] ? 2 * caps[k] : 4096;
			f->msgs = realloc(f->msgs, caps[k] * sizeof(*f->msgs));
			if (!f->msgs)
				die("out of memory reading %s", path);
		}
		struct msg *m = &f->msgs[f->n_msgs++];
		memset(m, 0, sizeof(*m));
		canid_t id = fr.id | ((fr.flags & CNP_FRAME_EXT) ? CAN_EFF_FLAG : 0);
		if (fr.flags & CNP_FRAME_FD) {
			f->mtu = (int)CANFD_MTU;
			m->size = CANFD_MTU;
			m->f.fd.can_id = id;
			m->f.fd.len = fr.len;
			m->f.fd.flags = (uint8_t)(CANFD_FDF | fr.fd_flags);
			memcpy(m->f.fd.data, fr.data, fr.len);
		} else {
			m->size = CAN_MTU;
			m->f.cc.can_id = id;
			m->f.cc.len = fr.len;
			memcpy(m->f.cc.data, fr.data, fr.len);
		}
		m->ts.tv_sec = (time_t)(fr.ts_us / 1000000u);
		m->ts.tv_nsec = (long)(fr.ts_us % 1000000u) * 1000;
		if (n_order == cap_order) {
			cap_order *= 2;
			order = realloc(order, cap_order);
			if (!order)
				die("out of memory reading %s", path);
		}
		order[n_order++] = (uint8_t)k;
	}
	fclose(in);
	if (n_order == 0)
		die("no frames in %s", path);
}

/* ---- the measured part ---------------------------------------------------------- */

static struct cnp_frame out[AGENT_READ_CHUNK];
static unsigned long wakeups, reads;

/* `frames` frames, `queue` at a time: queue them, then read until empty. */
__attribute__((noinline)) static size_t bench_wakeups(struct cnp_source *src, size_t frames,
                                                     size_t queue)
{
	size_t total = 0, handed = 0;
	while (handed < frames) {
		size_t q = frames - handed < queue ? frames - handed : queue;
		for (size_t k = 0; k < q; k++) {
			ifs[order[order_next]].queued++;
			if (++order_next == n_order)
				order_next = 0;
		}
		handed += q;
		wakeups++;
		for (;;) {
			size_t n = 0;
			uint64_t wait = 0;
			reads++;
			if (src->ops->read(src, out, AGENT_READ_CHUNK, &n, &wait) != CNP_OK)
				die("%s", "read failed");
			total += n;
			if (n == 0)
				break;
		}
		fake_mono += 100; /* time moves between wake-ups */
	}
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_socketcan LOG FRAMES QUEUE\n");
		return 2;
	}
	char *end;
	unsigned long long frames = strtoull(argv[2], &end, 10);
	if (*end)
		die("FRAMES is not a number: %s", argv[2]);
	unsigned long queue = strtoul(argv[3], &end, 10);
	if (*end || queue < 1 || queue > 4096)
		die("QUEUE must be 1..4096: %s", argv[3]);
	cnp_log_set_level(CNP_LOG_WARN);
	load_log(argv[1]);

	struct cnp_source_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.type, sizeof(cfg.type), "socketcan");
	for (unsigned i = 0; i < n_ifs; i++)
		snprintf(cfg.interfaces[i], sizeof(cfg.interfaces[i]), "%s", ifs[i].name);
	cfg.n_interfaces = n_ifs;
	cfg.rcvbuf_bytes = CNP_DEFAULT_RCVBUF_BYTES;
	cfg.reopen_ms = CNP_DEFAULT_REOPEN_MS;

	static const struct cnp_socketcan_sys sys = {
		.ctx = NULL,
		.socket = f_socket,
		.ioctl = f_ioctl,
		.setsockopt = f_setsockopt,
		.getsockopt = f_getsockopt,
		.bind = f_bind,
		.recv_batch = f_recv_batch,
		.close = f_close,
		.mono_us = f_mono_us,
		.wall_us = f_wall_us,
	};
	struct cnp_ifaces table;
	cnp_ifaces_init(&table);
	struct cnp_source *src = NULL;
	if (cnp_socketcan_source_create_with(&cfg, &table, &sys, &src) != CNP_OK)
		die("%s", "cannot create the source");
	for (unsigned i = 0; i < n_ifs; i++)
		if (ifs[i].fd < 0)
			die("interface %s did not open", ifs[i].name);

	size_t got = bench_wakeups(src, (size_t)frames, queue);
	printf("frames=%zu wakeups=%lu reads=%lu recv_calls=%lu source_frames=%" PRIu64
	       " malformed=%" PRIu64 " kernel_dropped=%" PRIu64 " interfaces=%u log_frames=%zu\n",
	       got, wakeups, reads, recv_calls, src->stats.frames, src->stats.malformed,
	       src->stats.kernel_dropped, n_ifs, n_order);
	int ok = got == frames && src->stats.malformed == 0;
	src->ops->destroy(src);
	return ok ? 0 : 1;
}
