/*
 * libFuzzer target: the SocketCAN source's receive path (drivers/socketcan.c)
 * behind its system-call table (drivers/socketcan_sys.h), with a fake kernel
 * that hands out whatever the input says: frames of any size and content
 * (can_frame and canfd_frame with any id, flags, len and len8_dlc), any
 * message flags (MSG_TRUNC, MSG_CTRUNC), any sequence of control messages
 * (timestamps old and new, drop counters, unknown types, short and long
 * payloads, laid out as the kernel lays them out), receive errors that take
 * an interface away, and a clock that jumps.
 *
 * Input: byte 0 chooses the setup (bit 0/1: can0/can1 CAN FD capable,
 * bit 2: CAN_RAW_FD_FRAMES refused, bit 3: SO_TIMESTAMPING refused, bit 4:
 * two interfaces, bit 5: filters configured, bit 6: SIOCGIFHWADDR fails);
 * then each read takes a byte for its room, and each receive takes what
 * fake_recv_batch() documents below.
 *
 * Invariants beyond "no crash, no sanitizer report, no leak":
 * - a read returns CNP_OK with at most `max` frames;
 * - every frame is one a CAN bus can carry: a configured interface, a
 *   classic length 0..8 or a valid CAN FD length, an id of 11 bits (29 with
 *   the EXT flag), no FD frame that is also remote or an error frame, a
 *   nonzero capture time;
 * - stats.frames counts exactly the frames delivered;
 * - every socket the source opened is closed when it is destroyed.
 */
#include "drivers/socketcan_sys.h"
#include "drivers/source.h"
#include "firmware/error.h"
#include "firmware/iface.h"
#include "platform/log.h"

#include <errno.h>
#include <linux/can.h>
#include <linux/can/raw.h>
#include <linux/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FDS 8
#define FD0 100

static struct {
	const uint8_t *in;
	size_t len, pos;
	uint8_t setup;
	int open[FDS];
	uint64_t mono, wall;
} fk;

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_socketcan: %s\n", why);
	abort();
}

static int more(void)
{
	return fk.pos < fk.len;
}

static uint8_t take(void)
{
	return fk.pos < fk.len ? fk.in[fk.pos++] : 0;
}

static int f_socket(void *ctx, int domain, int type, int protocol)
{
	(void)ctx, (void)domain, (void)type, (void)protocol;
	for (int k = 0; k < FDS; k++) {
		if (!fk.open[k]) {
			fk.open[k] = 1;
			return FD0 + k;
		}
	}
	errno = EMFILE;
	return -1;
}

static int valid_fd(int fd)
{
	return fd >= FD0 && fd < FD0 + FDS && fk.open[fd - FD0];
}

static int f_ioctl(void *ctx, int fd, unsigned long request, struct ifreq *ifr)
{
	(void)ctx;
	if (!valid_fd(fd))
		fail("ioctl on a socket that is not open");
	int can1 = strcmp(ifr->ifr_name, "can1") == 0;
	if (request == SIOCGIFINDEX) {
		ifr->ifr_ifindex = can1 ? 3 : 2;
	} else if (request == SIOCGIFHWADDR) {
		if (fk.setup & 0x40) {
			errno = EOPNOTSUPP;
			return -1;
		}
		memset(&ifr->ifr_hwaddr, 0, sizeof(ifr->ifr_hwaddr));
		ifr->ifr_hwaddr.sa_family = ARPHRD_CAN;
	} else if (request == SIOCGIFFLAGS) {
		ifr->ifr_flags = (short)(IFF_UP | IFF_RUNNING);
	} else if (request == SIOCGIFMTU) {
		ifr->ifr_mtu = (fk.setup & (can1 ? 2 : 1)) ? (int)CANFD_MTU : (int)CAN_MTU;
	} else {
		errno = ENOTTY;
		return -1;
	}
	return 0;
}

static int f_setsockopt(void *ctx, int fd, int level, int name, const void *value,
                        socklen_t len)
{
	(void)ctx, (void)value, (void)len;
	if (!valid_fd(fd))
		fail("setsockopt on a socket that is not open");
	if (((fk.setup & 0x04) && level == SOL_CAN_RAW && name == CAN_RAW_FD_FRAMES) ||
	    ((fk.setup & 0x08) && level == SOL_SOCKET && name == SO_TIMESTAMPING)) {
		errno = ENOPROTOOPT;
		return -1;
	}
	return 0;
}

static int f_getsockopt(void *ctx, int fd, int level, int name, void *value, socklen_t *len)
{
	(void)ctx, (void)level, (void)name;
	if (!valid_fd(fd))
		fail("getsockopt on a socket that is not open");
	int v = 1 << 20;
	if (*len < sizeof(v)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(value, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

static int f_bind(void *ctx, int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)ctx, (void)addr, (void)len;
	if (!valid_fd(fd))
		fail("bind on a socket that is not open");
	return 0;
}

static int f_close(void *ctx, int fd)
{
	(void)ctx;
	if (!valid_fd(fd))
		fail("close of a socket that is not open");
	fk.open[fd - FD0] = 0;
	return 0;
}

static uint64_t f_mono(void *ctx)
{
	(void)ctx;
	return fk.mono;
}

static uint64_t f_wall(void *ctx)
{
	(void)ctx;
	return fk.wall;
}

/* The control message types the source knows, and one it does not. */
static const int cmsg_types[] = {
	SCM_TIMESTAMPING, SCM_TIMESTAMP, SO_RXQ_OVFL,
#ifdef SO_TIMESTAMPING_NEW
	SO_TIMESTAMPING_NEW, SO_TIMESTAMPING_OLD,
#endif
#ifdef SO_TIMESTAMP_NEW
	SO_TIMESTAMP_NEW, SO_TIMESTAMP_OLD,
#endif
	SCM_RIGHTS,
};

/* Fills m's control buffer as the kernel does: whole messages, each at a
 * CMSG_SPACE step; one that does not fit is cut off with MSG_CTRUNC. */
static void put_cmsgs(struct msghdr *m)
{
	size_t cap = m->msg_controllen, pos = 0;
	unsigned count = take() % 4u;
	for (unsigned k = 0; k < count; k++) {
		uint8_t sel = take();
		int type = cmsg_types[sel % (sizeof(cmsg_types) / sizeof(cmsg_types[0]))];
		int level = (sel & 0x80) ? SOL_CAN_RAW : SOL_SOCKET;
		size_t plen = take() % 73u;
		if (pos + CMSG_SPACE(plen) > cap) {
			m->msg_flags |= MSG_CTRUNC;
			break;
		}
		struct cmsghdr *c = (struct cmsghdr *)((unsigned char *)m->msg_control + pos);
		memset(c, 0, CMSG_SPACE(plen));
		c->cmsg_level = level;
		c->cmsg_type = type;
		c->cmsg_len = CMSG_LEN(plen);
		for (size_t i = 0; i < plen; i++)
			CMSG_DATA(c)[i] = take();
		pos += CMSG_SPACE(plen);
	}
	m->msg_controllen = pos;
}

/*
 * One receive. A byte: 0xF0 and above fails the call (EAGAIN, EINTR,
 * ENETDOWN, ENODEV, ENXIO, EIO, EBADF as the low bits say); otherwise its
 * value modulo vlen, plus one, is how many messages come. Each message: a
 * size byte (below 0x80 CAN_MTU, below 0xE0 CANFD_MTU, else any size up to
 * the buffer), that many frame bytes, a flags byte (bit 0 MSG_TRUNC),
 * then its control messages (put_cmsgs). The clocks move by a byte.
 */
static int f_recv_batch(void *ctx, int fd, struct msghdr *msgs, unsigned *lens, unsigned vlen)
{
	(void)ctx;
	if (!valid_fd(fd))
		fail("receive on a socket that is not open");
	if (vlen < 1 || vlen > CNP_SOCKETCAN_BATCH)
		fail("receive asked for a bad message count");
	uint8_t t = take();
	fk.mono += (uint64_t)t * 20000u;
	fk.wall += (uint64_t)t * 20000u;
	if (!more()) {
		errno = EAGAIN;
		return -1;
	}
	uint8_t op = take();
	if (op >= 0xF0) {
		static const int errs[] = {EAGAIN, EINTR, ENETDOWN, ENODEV, ENXIO, EIO, EBADF};
		errno = errs[(op & 0x0F) % (sizeof(errs) / sizeof(errs[0]))];
		return -1;
	}
	unsigned n = op % vlen + 1u;
	for (unsigned i = 0; i < n; i++) {
		struct msghdr *m = &msgs[i];
		if (m->msg_iovlen != 1 || !m->msg_control)
			fail("a message without one buffer and a control area");
		size_t cap = m->msg_iov[0].iov_len;
		uint8_t s = take();
		size_t size = s < 0x80 ? CAN_MTU : s < 0xE0 ? CANFD_MTU : (size_t)(s - 0xE0) * 3u;
		if (size > cap)
			size = cap;
		unsigned char *buf = m->msg_iov[0].iov_base;
		for (size_t k = 0; k < size; k++)
			buf[k] = take();
		lens[i] = (unsigned)size;
		m->msg_flags = (take() & 1) ? MSG_TRUNC : 0;
		put_cmsgs(m);
	}
	return (int)n;
}

static const struct cnp_socketcan_sys fake_sys = {
	.ctx = &fk,
	.socket = f_socket,
	.ioctl = f_ioctl,
	.setsockopt = f_setsockopt,
	.getsockopt = f_getsockopt,
	.bind = f_bind,
	.recv_batch = f_recv_batch,
	.close = f_close,
	.mono_us = f_mono,
	.wall_us = f_wall,
};

static void check_frame(const struct cnp_frame *f, unsigned n_ifaces)
{
	if (f->iface >= n_ifaces)
		fail("a frame from an interface not configured");
	if (f->ts_us == 0)
		fail("a frame without a capture time");
	if (f->flags & CNP_FRAME_FD) {
		if (f->flags & (CNP_FRAME_RTR | CNP_FRAME_ERR))
			fail("a CAN FD frame that is also remote or an error frame");
		if (!cnp_frame_fd_len_valid(f->len) || f->len > CNP_FRAME_MAX_DATA)
			fail("a CAN FD frame with an invalid length");
	} else if (f->len > 8) {
		fail("a classic frame longer than 8 bytes");
	}
	if (!(f->flags & CNP_FRAME_ERR) &&
	    f->id > ((f->flags & CNP_FRAME_EXT) ? CAN_EFF_MASK : CAN_SFF_MASK))
		fail("an identifier wider than its format");
	if ((f->flags & CNP_FRAME_RTR) && f->len != 0)
		fail("a remote frame with data");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cnp_log_set_level(CNP_LOG_ERROR);
	memset(&fk, 0, sizeof(fk));
	fk.in = data;
	fk.len = size;
	fk.setup = take();
	fk.mono = 1000000;
	fk.wall = 1700000000000000u;

	struct cnp_source_config c;
	memset(&c, 0, sizeof(c));
	snprintf(c.type, sizeof(c.type), "socketcan");
	snprintf(c.interfaces[0], sizeof(c.interfaces[0]), "can0");
	c.n_interfaces = 1;
	if (fk.setup & 0x10) {
		snprintf(c.interfaces[1], sizeof(c.interfaces[1]), "can1");
		c.n_interfaces = 2;
	}
	if (fk.setup & 0x20) {
		c.filters[0].id = 0x100;
		c.filters[0].mask = 0x700;
		c.n_filters = 1;
	}
	c.rcvbuf_bytes = CNP_DEFAULT_RCVBUF_BYTES;
	c.reopen_ms = CNP_DEFAULT_REOPEN_MS;

	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	struct cnp_source *src = NULL;
	int rc = cnp_socketcan_source_create_with(&c, &ifaces, &fake_sys, &src);
	if (rc != CNP_OK)
		return 0; /* only CNP_ERR_NOMEM can refuse this configuration */

	static struct cnp_frame frames[CNP_SOCKETCAN_BATCH * 2];
	uint64_t delivered = 0;
	/* Bounded: every read consumes input or the clock moves towards the
	 * end of it; stop well after the input is gone. */
	for (unsigned round = 0; round < 4096 && (more() || round < 8); round++) {
		size_t max = take() % (sizeof(frames) / sizeof(frames[0])) + 1u, n = 0;
		uint64_t wait = 0;
		rc = src->ops->read(src, frames, max, &n, &wait);
		if (rc != CNP_OK)
			fail("read failed");
		if (n > max)
			fail("read delivered more frames than asked");
		for (size_t i = 0; i < n; i++)
			check_frame(&frames[i], c.n_interfaces);
		delivered += n;
		if (n == 0)
			fk.mono += wait ? wait : 1;
	}
	if (src->stats.frames != delivered)
		fail("stats.frames is not the count of frames delivered");
	cnp_source_destroy(src);
	for (int k = 0; k < FDS; k++)
		if (fk.open[k])
			fail("a socket left open after destroy");
	return 0;
}
