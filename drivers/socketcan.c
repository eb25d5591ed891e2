/*
 * SocketCAN source: one CAN_RAW socket per configured interface, all read
 * without blocking in one pass per read() call.
 *
 * Why one socket per interface rather than one bound to ifindex 0 (all
 * interfaces): each interface then has its own CAN FD setting (from its
 * MTU), its own kernel drop counter and its own outage; an interface that
 * disappears is closed and reopened alone while the others keep delivering;
 * and CAN interfaces that are not configured are never read.
 *
 * Why interfaces are reopened rather than kept open across an outage: a
 * socket whose interface was unregistered is unbound by the kernel and
 * receives nothing ever again, and a down interface may come back with a
 * different MTU (the MTU can only change while it is down). Reopening reads
 * the interface afresh; it costs a few system calls every reopen_ms while
 * the interface is away and nothing while it is up.
 *
 * All system calls go through struct cnp_socketcan_sys so that unit tests
 * can run the driver against a fake kernel.
 */
#define _GNU_SOURCE /* recvmmsg(2), struct mmsghdr */

#include "drivers/socketcan_sys.h"
#include "drivers/sys_real.h"
#include "drivers/source.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/log.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/can.h>
#include <linux/can/error.h>
#include <linux/can/raw.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef HAVE_SO_TIMESTAMPING
#include <linux/net_tstamp.h>
#endif

/* The read hint while sockets are open but idle. The agent also waits on the
 * sockets themselves (wait_fds), so a frame wakes it at once: this only
 * bounds how long it sleeps on a quiet bus. */
#define IDLE_WAIT_US 1000000u
/* At most one warning about malformed frames per source in this interval. */
#define MALFORMED_WARN_US 10000000u
/* Control bytes per message: a software timestamp (three timespecs, 64-bit
 * fields at most), the drop counter, headers and alignment, with room. */
#define CTRL_SPACE 128

/* Why an interface is unavailable. */
enum why {
	WHY_NONE = 0,  /* open */
	WHY_SOCKET,    /* socket() failed */
	WHY_MISSING,   /* no such interface (or it disappeared) */
	WHY_LOOKUP,    /* SIOCGIFINDEX failed otherwise */
	WHY_NOT_CAN,   /* link type is not ARPHRD_CAN */
	WHY_DOWN,      /* interface down (or it went down) */
	WHY_FILTER,    /* CAN_RAW_FILTER refused */
	WHY_BIND,      /* bind() failed */
	WHY_RECV,      /* a receive failed with another error */
};

struct sc_iface {
	char name[CNP_IFNAMSIZ];
	uint8_t index;       /* in the agent's interface table */
	int fd;              /* -1 while unavailable */
	int fd_frames;       /* CAN FD frames enabled on this socket */
	uint32_t drops_seen; /* last SO_RXQ_OVFL value of this socket */
	/* While unavailable: */
	enum why why;        /* the cause last logged */
	int detail;          /* its errno or link type */
	uint64_t retry_at;   /* monotonic time of the next open attempt */
	uint64_t down_since;
};

union rx_frame {
	struct can_frame cc;
#ifdef HAVE_CAN_RAW_FD_FRAMES
	struct canfd_frame fd;
#endif
};

union rx_ctrl {
	struct cmsghdr align;
	unsigned char buf[CTRL_SPACE];
};

struct socketcan_source {
	struct cnp_source base;
	struct cnp_socketcan_sys sys;
	struct sc_iface ifs[CNP_SOURCE_MAX_IFACES];
	unsigned n_ifs;
	unsigned first; /* round robin: the interface read first next time */
	struct can_filter filters[CNP_SOURCE_MAX_FILTERS];
	unsigned n_filters;
	int rcvbuf;     /* bytes asked for; 0: the kernel's default */
	uint64_t reopen_ms;
	uint64_t end_at; /* duration_s: monotonic time the source ends; 0: never */
	int ended;       /* end_at reached: EOF from now on */
	/* One-time warnings (per source, naming the first interface affected). */
	unsigned warned; /* WARNED_* bits */
	uint64_t malformed_warn_at;
	/* The receive area, reused by every read. */
	union rx_frame rx[CNP_SOCKETCAN_BATCH];
	union rx_ctrl ctrl[CNP_SOCKETCAN_BATCH];
	struct iovec iov[CNP_SOCKETCAN_BATCH];
	struct msghdr msgs[CNP_SOCKETCAN_BATCH];
	unsigned lens[CNP_SOCKETCAN_BATCH];
};

#define WARNED_FD 0x01u
#define WARNED_ERRFILTER 0x02u
#define WARNED_RCVBUF 0x04u
#define WARNED_TIMESTAMP 0x08u
#define WARNED_OVFL 0x10u
#define WARNED_MALFORMED 0x20u

/* ---- the real system calls ---------------------------------------------------- */

static int real_socket(void *ctx, int domain, int type, int protocol)
{
	(void)ctx;
	return socket(domain, type, protocol);
}

static int real_ioctl(void *ctx, int fd, unsigned long request, struct ifreq *ifr)
{
	(void)ctx;
	return ioctl(fd, request, ifr);
}

static int real_setsockopt(void *ctx, int fd, int level, int name, const void *value,
                           socklen_t len)
{
	(void)ctx;
	return setsockopt(fd, level, name, value, len);
}

static int real_getsockopt(void *ctx, int fd, int level, int name, void *value,
                           socklen_t *len)
{
	(void)ctx;
	return getsockopt(fd, level, name, value, len);
}

static int real_bind(void *ctx, int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)ctx;
	return bind(fd, addr, len);
}

static int real_recv_batch(void *ctx, int fd, struct msghdr *msgs, unsigned *lens,
                           unsigned vlen)
{
	(void)ctx;
	if (vlen > CNP_SOCKETCAN_BATCH)
		vlen = CNP_SOCKETCAN_BATCH;
#ifdef HAVE_RECVMMSG
	if (vlen > 1) {
		/* One system call for the whole batch: at high frame rates the
		 * per-call cost dominates a CAN frame's 16 or 72 bytes. */
		struct mmsghdr mm[CNP_SOCKETCAN_BATCH];
		for (unsigned i = 0; i < vlen; i++) {
			mm[i].msg_hdr = msgs[i];
			mm[i].msg_len = 0;
		}
		int n = recvmmsg(fd, mm, vlen, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			msgs[i] = mm[i].msg_hdr;
			lens[i] = mm[i].msg_len;
		}
		return n;
	}
#endif
	unsigned n = 0;
	while (n < vlen) {
		ssize_t r = recvmsg(fd, &msgs[n], MSG_DONTWAIT);
		if (r < 0) /* after some messages, a real error comes back next call */
			return n > 0 ? (int)n : -1;
		lens[n++] = (unsigned)r;
	}
	return (int)n;
}

static const struct cnp_socketcan_sys real_sys = {
	.ctx = NULL,
	.socket = real_socket,
	.ioctl = real_ioctl,
	.setsockopt = real_setsockopt,
	.getsockopt = real_getsockopt,
	.bind = real_bind,
	.recv_batch = real_recv_batch,
	.close = cnp_sys_real_close,
	.mono_us = cnp_sys_real_mono_us,
	.wall_us = cnp_sys_real_wall_us,
};

const struct cnp_socketcan_sys *cnp_socketcan_sys_default(void)
{
	return &real_sys;
}

/* ---- opening and closing an interface ---------------------------------------- */

static void ifreq_for(struct ifreq *ifr, const struct sc_iface *f)
{
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, f->name, sizeof(f->name) < IFNAMSIZ ? sizeof(f->name) : IFNAMSIZ);
	ifr->ifr_name[IFNAMSIZ - 1] = 0;
}

static int set_int(struct socketcan_source *s, int fd, int level, int name, int value)
{
	return s->sys.setsockopt(s->sys.ctx, fd, level, name, &value, sizeof(value));
}

static void warn_once(struct socketcan_source *s, unsigned bit, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void warn_once(struct socketcan_source *s, unsigned bit, const char *fmt, ...)
{
	if (s->warned & bit)
		return;
	s->warned |= bit;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cnp_warn("%s", msg);
}

/* Receive buffer: SO_RCVBUFFORCE passes net.core.rmem_max but needs
 * CAP_NET_ADMIN; SO_RCVBUF is capped by rmem_max. A small buffer is not
 * fatal, but it is where frames get lost at high rates: say so. */
static void set_rcvbuf(struct socketcan_source *s, struct sc_iface *f, int fd)
{
	if (s->rcvbuf <= 0)
		return;
	if (set_int(s, fd, SOL_SOCKET, SO_RCVBUFFORCE, s->rcvbuf) != 0 &&
	    set_int(s, fd, SOL_SOCKET, SO_RCVBUF, s->rcvbuf) != 0) {
		warn_once(s, WARNED_RCVBUF, "%s: cannot set the receive buffer to %d bytes: %s",
		          f->name, s->rcvbuf, strerror(errno));
		return;
	}
	int got = 0;
	socklen_t len = sizeof(got);
	/* The kernel reports twice the size asked for (its bookkeeping share). */
	if (s->sys.getsockopt(s->sys.ctx, fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 &&
	    got / 2 < s->rcvbuf)
		warn_once(s, WARNED_RCVBUF,
		          "%s: receive buffer is %d bytes, less than the %d asked for "
		          "(net.core.rmem_max caps it without CAP_NET_ADMIN); frames may be "
		          "dropped at high rates",
		          f->name, got / 2, s->rcvbuf);
}

/* Kernel receive timestamps: SO_TIMESTAMPING (software receive stamps),
 * else SO_TIMESTAMP, else frames are stamped when read (less exact). */
static void set_timestamps(struct socketcan_source *s, struct sc_iface *f, int fd)
{
#ifdef HAVE_SO_TIMESTAMPING
	int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
	if (set_int(s, fd, SOL_SOCKET, SO_TIMESTAMPING, flags) == 0)
		return;
	cnp_debug("%s: SO_TIMESTAMPING refused (%s); using SO_TIMESTAMP", f->name,
	          strerror(errno));
#endif
	if (set_int(s, fd, SOL_SOCKET, SO_TIMESTAMP, 1) == 0)
		return;
	warn_once(s, WARNED_TIMESTAMP,
	          "%s: no kernel receive timestamps (%s); frames are stamped when read",
	          f->name, strerror(errno));
}

/*
 * Opens and configures f's socket. Returns WHY_NONE with f->fd set, or the
 * cause with *detail (an errno or a link type); nothing is left open then.
 */
static enum why iface_open(struct socketcan_source *s, struct sc_iface *f, int *detail)
{
	const struct cnp_socketcan_sys *sys = &s->sys;
	enum why why = WHY_NONE;
	*detail = 0;
	int fd = sys->socket(sys->ctx, PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_RAW);
	if (fd < 0) {
		*detail = errno;
		return WHY_SOCKET;
	}

	struct ifreq ifr;
	ifreq_for(&ifr, f);
	if (sys->ioctl(sys->ctx, fd, SIOCGIFINDEX, &ifr) != 0) {
		why = errno == ENODEV ? WHY_MISSING : WHY_LOOKUP;
		*detail = why == WHY_LOOKUP ? errno : 0;
		goto fail;
	}
	int ifindex = ifr.ifr_ifindex;

	ifreq_for(&ifr, f);
	if (sys->ioctl(sys->ctx, fd, SIOCGIFHWADDR, &ifr) == 0 &&
	    ifr.ifr_hwaddr.sa_family != ARPHRD_CAN) {
		*detail = ifr.ifr_hwaddr.sa_family;
		why = WHY_NOT_CAN;
		goto fail;
	}
	/* If SIOCGIFHWADDR failed, bind() still refuses a non-CAN device. */

	ifreq_for(&ifr, f);
	if (sys->ioctl(sys->ctx, fd, SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
		why = WHY_DOWN;
		goto fail;
	}

	int fd_frames = 0;
#ifdef HAVE_CAN_RAW_FD_FRAMES
	ifreq_for(&ifr, f);
	/* An FD-capable interface (CAN XL ones included) has an MTU of at
	 * least CANFD_MTU; a classic one has CAN_MTU. */
	if (sys->ioctl(sys->ctx, fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu >= (int)CANFD_MTU) {
		if (set_int(s, fd, SOL_CAN_RAW, CAN_RAW_FD_FRAMES, 1) == 0)
			fd_frames = 1;
		else
			warn_once(s, WARNED_FD,
			          "%s: cannot enable CAN FD frames (%s); receiving classic frames only",
			          f->name, strerror(errno));
	}
#endif

	can_err_mask_t err_mask = CAN_ERR_MASK;
	if (sys->setsockopt(sys->ctx, fd, SOL_CAN_RAW, CAN_RAW_ERR_FILTER, &err_mask,
	                    sizeof(err_mask)) != 0)
		warn_once(s, WARNED_ERRFILTER,
		          "%s: cannot subscribe to error frames (%s); bus errors are not counted",
		          f->name, strerror(errno));

	/* Without CAN_RAW_FILTER the kernel's default passes every frame. A
	 * refused filter is an open failure, not a silent "everything". */
	if (s->n_filters > 0 &&
	    sys->setsockopt(sys->ctx, fd, SOL_CAN_RAW, CAN_RAW_FILTER, s->filters,
	                    (socklen_t)(s->n_filters * sizeof(s->filters[0]))) != 0) {
		*detail = errno;
		why = WHY_FILTER;
		goto fail;
	}

	set_rcvbuf(s, f, fd);
	set_timestamps(s, f, fd);
	if (set_int(s, fd, SOL_SOCKET, SO_RXQ_OVFL, 1) != 0)
		warn_once(s, WARNED_OVFL,
		          "%s: cannot enable the kernel drop counter (%s); kernel drops are not "
		          "counted",
		          f->name, strerror(errno));

	struct sockaddr_can addr;
	memset(&addr, 0, sizeof(addr));
	addr.can_family = AF_CAN;
	addr.can_ifindex = ifindex;
	if (sys->bind(sys->ctx, fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) {
		*detail = errno;
		why = WHY_BIND;
		goto fail;
	}

	f->fd = fd;
	f->fd_frames = fd_frames;
	f->drops_seen = 0; /* a new socket counts from zero */
	return WHY_NONE;
fail:
	sys->close(sys->ctx, fd);
	return why;
}

static const char *describe(enum why why, int detail, char *buf, size_t size)
{
	switch (why) {
	case WHY_SOCKET:
		snprintf(buf, size, "cannot create a CAN_RAW socket: %s%s", strerror(detail),
		         detail == EAFNOSUPPORT || detail == EPROTONOSUPPORT
		             ? " (are the can and can-raw kernel modules loaded?)"
		             : "");
		break;
	case WHY_MISSING:
		snprintf(buf, size, "no such interface");
		break;
	case WHY_LOOKUP:
		snprintf(buf, size, "cannot look up the interface: %s", strerror(detail));
		break;
	case WHY_NOT_CAN:
		snprintf(buf, size, "not a CAN interface (link type %d, CAN is %d)", detail,
		         ARPHRD_CAN);
		break;
	case WHY_DOWN:
		snprintf(buf, size, "interface is down");
		break;
	case WHY_FILTER:
		snprintf(buf, size, "the kernel refused the CAN id filters: %s", strerror(detail));
		break;
	case WHY_BIND:
		snprintf(buf, size, "cannot bind to the interface: %s%s", strerror(detail),
		         detail == ENODEV ? " (not a CAN interface, or it just disappeared)" : "");
		break;
	case WHY_RECV:
		snprintf(buf, size, "receive failed: %s", strerror(detail));
		break;
	case WHY_NONE:
	default:
		snprintf(buf, size, "available");
		break;
	}
	return buf;
}

/*
 * Records that f is unavailable for `why`. Logged once per outage, and
 * again only when the cause changes (missing, then present but not CAN).
 * `text` overrides the description (an interface that "went down").
 */
static void outage(struct socketcan_source *s, struct sc_iface *f, enum why why, int detail,
                   const char *text, uint64_t now)
{
	if (f->fd >= 0) {
		s->sys.close(s->sys.ctx, f->fd);
		f->fd = -1;
		f->why = WHY_NONE;
	}
	if (f->why == WHY_NONE) {
		s->base.stats.outages++;
		f->down_since = now;
	}
	if (f->why != why || f->detail != detail) {
		char buf[200];
		cnp_error("%s: %s; retrying every %" PRIu64 " ms", f->name,
		          text ? text : describe(why, detail, buf, sizeof(buf)), s->reopen_ms);
	}
	f->why = why;
	f->detail = detail;
	f->retry_at = now + s->reopen_ms * 1000u;
}

/* Tries to open f; on failure schedules the next attempt. */
static void try_open(struct socketcan_source *s, struct sc_iface *f, uint64_t now, int first)
{
	int detail = 0;
	enum why why = iface_open(s, f, &detail);
	if (why != WHY_NONE) {
		outage(s, f, why, detail, NULL, now);
		return;
	}
	if (first)
		cnp_info("%s: receiving (%s)", f->name,
		         f->fd_frames ? "CAN and CAN FD frames" : "classic CAN frames");
	else
		cnp_info("%s: receiving again after %" PRIu64 " ms unavailable (%s)", f->name,
		         (now - f->down_since) / 1000u,
		         f->fd_frames ? "CAN and CAN FD frames" : "classic CAN frames");
	f->why = WHY_NONE;
	f->detail = 0;
}

/* ---- turning received messages into frames ------------------------------------- */

static void malformed(struct socketcan_source *s, const struct sc_iface *f, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

static void malformed(struct socketcan_source *s, const struct sc_iface *f, const char *fmt,
                      ...)
{
	s->base.stats.malformed++;
	uint64_t now = s->sys.mono_us(s->sys.ctx);
	if ((s->warned & WARNED_MALFORMED) && now - s->malformed_warn_at < MALFORMED_WARN_US)
		return;
	s->warned |= WARNED_MALFORMED;
	s->malformed_warn_at = now;
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	cnp_warn("%s: malformed frame dropped: %s (%" PRIu64 " malformed so far; at most one "
	         "such warning every %u s)",
	         f->name, why, s->base.stats.malformed, MALFORMED_WARN_US / 1000000u);
}

/* A pair of seconds and sub-second units from a control message, as 64-bit
 * or 32-bit fields by the payload's size: the kernel's "_NEW" messages carry
 * 64-bit fields on every architecture, the "_OLD" ones the kernel's long. */
static int pair_us(const unsigned char *data, size_t payload, size_t pairs_in_msg,
                   uint64_t sub_per_us, uint64_t *us)
{
	int64_t sec, sub;
	if (payload >= pairs_in_msg * 16) {
		memcpy(&sec, data, 8);
		memcpy(&sub, data + 8, 8);
	} else if (payload >= pairs_in_msg * 8) {
		int32_t s32, u32;
		memcpy(&s32, data, 4);
		memcpy(&u32, data + 4, 4);
		sec = s32;
		sub = u32;
	} else {
		return 0;
	}
	if (sec <= 0 || sub < 0 || (uint64_t)sub >= 1000000u * sub_per_us)
		return 0;
	*us = (uint64_t)sec * 1000000u + (uint64_t)sub / sub_per_us;
	return 1;
}

static int is_timestamping(int type)
{
	if (type == SCM_TIMESTAMPING)
		return 1;
#if defined(SO_TIMESTAMPING_OLD) && defined(SO_TIMESTAMPING_NEW)
	if (type == SO_TIMESTAMPING_OLD || type == SO_TIMESTAMPING_NEW)
		return 1;
#endif
	return 0;
}

static int is_timestamp(int type)
{
	if (type == SCM_TIMESTAMP)
		return 1;
#if defined(SO_TIMESTAMP_OLD) && defined(SO_TIMESTAMP_NEW)
	if (type == SO_TIMESTAMP_OLD || type == SO_TIMESTAMP_NEW)
		return 1;
#endif
	return 0;
}

/* Takes the timestamp and the drop counter from a message's control data. */
static void take_cmsgs(struct socketcan_source *s, struct sc_iface *f, struct msghdr *m,
                       uint64_t *ts_us)
{
	uint64_t tsing = 0, tval = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t payload = (size_t)c->cmsg_len - CMSG_LEN(0);
		const unsigned char *data = CMSG_DATA(c);
		if (is_timestamping(c->cmsg_type)) {
			/* ts[0] is the software stamp; ts[1], ts[2] are for hardware. */
			pair_us(data, payload, 3, 1000u, &tsing);
		} else if (is_timestamp(c->cmsg_type)) {
			pair_us(data, payload, 1, 1u, &tval);
		} else if (c->cmsg_type == SO_RXQ_OVFL && payload >= sizeof(uint32_t)) {
			/* Cumulative per socket, wrapping at 2^32: the difference in
			 * uint32_t arithmetic is right across the wrap. */
			uint32_t drops;
			memcpy(&drops, data, sizeof(drops));
			s->base.stats.kernel_dropped += (uint32_t)(drops - f->drops_seen);
			f->drops_seen = drops;
		}
	}
	*ts_us = tsing ? tsing : tval;
}

static void count_error(struct cnp_can_error_stats *e, uint32_t cls, const uint8_t *data)
{
	e->frames++;
	e->tx_timeout += (cls & CAN_ERR_TX_TIMEOUT) != 0;
	e->lost_arb += (cls & CAN_ERR_LOSTARB) != 0;
	e->protocol += (cls & CAN_ERR_PROT) != 0;
	e->transceiver += (cls & CAN_ERR_TRX) != 0;
	e->no_ack += (cls & CAN_ERR_ACK) != 0;
	e->bus_off += (cls & CAN_ERR_BUSOFF) != 0;
	e->bus_error += (cls & CAN_ERR_BUSERROR) != 0;
	e->restarted += (cls & CAN_ERR_RESTARTED) != 0;
	if (cls & CAN_ERR_CRTL) {
		e->controller++;
		e->warning += (data[1] & (CAN_ERR_CRTL_RX_WARNING | CAN_ERR_CRTL_TX_WARNING)) != 0;
		e->passive += (data[1] & (CAN_ERR_CRTL_RX_PASSIVE | CAN_ERR_CRTL_TX_PASSIVE)) != 0;
		e->overflow += (data[1] & (CAN_ERR_CRTL_RX_OVERFLOW | CAN_ERR_CRTL_TX_OVERFLOW)) != 0;
	}
}

/* Classic frames: CAN_MTU bytes. Returns 1 with *out filled, 0 if dropped. */
static int convert_classic(struct socketcan_source *s, const struct sc_iface *f,
                           const struct can_frame *cf, struct cnp_frame *out)
{
	canid_t id = cf->can_id;
	unsigned len = cf->len;
	if (len > CAN_MAX_DLEN) {
		malformed(s, f, "classic frame %03" PRIX32 " with length %u", (uint32_t)id, len);
		return 0;
	}
	if (id & CAN_ERR_FLAG) {
		/* Error frames always carry CAN_ERR_DLC bytes; the kernel zeroes
		 * what a driver did not fill. */
		out->flags = CNP_FRAME_ERR;
		out->id = id & CAN_ERR_MASK;
		out->len = CAN_ERR_DLC;
		memcpy(out->data, cf->data, CAN_ERR_DLC);
		count_error(&s->base.stats.errors, out->id, cf->data);
		return 1;
	}
	if (id & CAN_EFF_FLAG) {
		out->flags = CNP_FRAME_EXT;
		out->id = id & CAN_EFF_MASK;
	} else {
		out->id = id & CAN_SFF_MASK;
	}
	if (id & CAN_RTR_FLAG) {
		/* A remote frame has no data; its DLC is what it asks for. A raw
		 * DLC 9..15 of a remote frame is not kept (one DLC field). */
		out->flags |= CNP_FRAME_RTR;
		out->dlc = (uint8_t)len;
		return 1;
	}
	out->len = (uint8_t)len;
	memcpy(out->data, cf->data, len);
#ifdef HAVE_CAN_MAX_RAW_DLC
	if (len == CAN_MAX_DLEN && cf->len8_dlc > CAN_MAX_DLEN && cf->len8_dlc <= CAN_MAX_RAW_DLC)
		out->dlc = cf->len8_dlc;
#endif
	return 1;
}

#ifdef HAVE_CAN_RAW_FD_FRAMES
static int convert_fd(struct socketcan_source *s, const struct sc_iface *f,
                      const struct canfd_frame *cf, struct cnp_frame *out)
{
	canid_t id = cf->can_id;
	unsigned len = cf->len;
	if (id & (CAN_ERR_FLAG | CAN_RTR_FLAG)) {
		malformed(s, f, "CAN FD frame %08" PRIX32 " with the %s flag", (uint32_t)id,
		          id & CAN_ERR_FLAG ? "error" : "remote");
		return 0;
	}
	if (len > CANFD_MAX_DLEN || !cnp_frame_fd_len_valid(len)) {
		malformed(s, f, "CAN FD frame %03" PRIX32 " with length %u", (uint32_t)id, len);
		return 0;
	}
	out->flags = CNP_FRAME_FD;
	if (id & CAN_EFF_FLAG) {
		out->flags |= CNP_FRAME_EXT;
		out->id = id & CAN_EFF_MASK;
	} else {
		out->id = id & CAN_SFF_MASK;
	}
	/* CANFD_FDF only marks the frame as FD in mixed buffers: not kept. */
	out->fd_flags = cf->flags & (CANFD_BRS | CANFD_ESI);
	out->len = (uint8_t)len;
	memcpy(out->data, cf->data, len);
	return 1;
}
#endif

/* Converts message i. Returns 1 with *out filled, 0 if it was dropped. */
static int convert(struct socketcan_source *s, struct sc_iface *f, unsigned i,
                   struct cnp_frame *out)
{
	uint64_t ts = 0;
	struct msghdr *m = &s->msgs[i];
	take_cmsgs(s, f, m, &ts);
	unsigned size = s->lens[i];
	memset(out, 0, offsetof(struct cnp_frame, data));
	int ok = 0;
	if (m->msg_flags & MSG_TRUNC)
		malformed(s, f, "frame larger than %zu bytes", sizeof(s->rx[i]));
	else if (size == CAN_MTU)
		ok = convert_classic(s, f, &s->rx[i].cc, out);
#ifdef HAVE_CAN_RAW_FD_FRAMES
	else if (size == CANFD_MTU && f->fd_frames)
		ok = convert_fd(s, f, &s->rx[i].fd, out);
#endif
	else
		malformed(s, f, "unexpected frame size of %u bytes", size);
	if (!ok)
		return 0;
	out->ts_us = ts ? ts : s->sys.wall_us(s->sys.ctx);
	out->iface = f->index;
	s->base.stats.frames++;
	return 1;
}

/* Reads what f has queued, up to `room` frames. */
static size_t read_iface(struct socketcan_source *s, struct sc_iface *f,
                         struct cnp_frame *out, size_t room, uint64_t now)
{
	unsigned vlen = room < CNP_SOCKETCAN_BATCH ? (unsigned)room : CNP_SOCKETCAN_BATCH;
	for (unsigned i = 0; i < vlen; i++) {
		s->msgs[i].msg_control = s->ctrl[i].buf;
		s->msgs[i].msg_controllen = sizeof(s->ctrl[i].buf);
		s->msgs[i].msg_flags = 0;
		s->lens[i] = 0;
	}
	int got = s->sys.recv_batch(s->sys.ctx, f->fd, s->msgs, s->lens, vlen);
	if (got < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
			return 0;
		if (e == ENETDOWN)
			outage(s, f, WHY_DOWN, 0, "interface went down", now);
		else if (e == ENODEV || e == ENXIO)
			outage(s, f, WHY_MISSING, 0, "interface disappeared", now);
		else
			outage(s, f, WHY_RECV, e, NULL, now);
		return 0;
	}
	if ((unsigned)got > vlen)
		got = (int)vlen;
	size_t n = 0;
	for (unsigned i = 0; i < (unsigned)got; i++)
		n += (size_t)convert(s, f, i, &out[n]);
	return n;
}

/* ---- the source interface ------------------------------------------------------- */

static int socketcan_read(struct cnp_source *src, struct cnp_frame *frames, size_t max,
                          size_t *n, uint64_t *wait_us)
{
	struct socketcan_source *s = (struct socketcan_source *)src;
	*n = 0;
	*wait_us = 0;
	uint64_t now = s->sys.mono_us(s->sys.ctx);
	if (s->end_at && (s->ended || now >= s->end_at)) {
		if (!s->ended)
			cnp_info("socketcan %s: duration_s reached after %" PRIu64 " frames",
			         s->ifs[0].name, s->base.stats.frames);
		s->ended = 1; /* logged once; EOF from now on */
		return CNP_ERR_EOF;
	}

	for (unsigned i = 0; i < s->n_ifs; i++) {
		struct sc_iface *f = &s->ifs[i];
		if (f->fd < 0 && now >= f->retry_at)
			try_open(s, f, now, 0);
	}

	/* Round robin in batches: a busy interface cannot starve the others
	 * of a read call's room, and the first interface changes each call. */
	size_t total = 0;
	for (;;) {
		size_t pass = 0;
		for (unsigned k = 0; k < s->n_ifs && total < max; k++) {
			struct sc_iface *f = &s->ifs[(s->first + k) % s->n_ifs];
			if (f->fd < 0)
				continue;
			size_t got = read_iface(s, f, frames + total, max - total, now);
			total += got;
			pass += got;
		}
		if (pass == 0 || total >= max)
			break;
	}
	s->first = (s->first + 1) % s->n_ifs;

	unsigned down = 0;
	uint64_t next_retry = UINT64_MAX;
	for (unsigned i = 0; i < s->n_ifs; i++) {
		if (s->ifs[i].fd >= 0)
			continue;
		down++;
		if (s->ifs[i].retry_at < next_retry)
			next_retry = s->ifs[i].retry_at;
	}
	s->base.stats.ifaces_down = down;
	*n = total;
	if (total == 0) {
		/* Until the next reopen attempt, if one is due sooner. */
		*wait_us = IDLE_WAIT_US;
		if (down > 0 && next_retry < now + IDLE_WAIT_US)
			*wait_us = next_retry > now ? next_retry - now : 1;
	}
	if (total == 0 && s->end_at && *wait_us > s->end_at - now)
		*wait_us = s->end_at - now;
	return CNP_OK; /* CNP_ERR_EOF only at duration_s: interfaces may come back */
}

static void socketcan_destroy(struct cnp_source *src)
{
	struct socketcan_source *s = (struct socketcan_source *)src;
	for (unsigned i = 0; i < s->n_ifs; i++)
		if (s->ifs[i].fd >= 0)
			s->sys.close(s->sys.ctx, s->ifs[i].fd);
	cnp_free(s);
}

static unsigned socketcan_wait_fds(const struct cnp_source *src, int *fds, unsigned max)
{
	const struct socketcan_source *s = (const struct socketcan_source *)src;
	unsigned n = 0;
	for (unsigned i = 0; i < s->n_ifs && n < max; i++)
		if (s->ifs[i].fd >= 0)
			fds[n++] = s->ifs[i].fd;
	return n;
}

static const struct cnp_source_ops socketcan_ops = {
	.type = "socketcan",
	.read = socketcan_read,
	.destroy = socketcan_destroy,
	.wait_fds = socketcan_wait_fds,
};

int cnp_socketcan_source_create_with(const struct cnp_source_config *cfg,
                                     struct cnp_ifaces *ifaces,
                                     const struct cnp_socketcan_sys *sys,
                                     struct cnp_source **out)
{
	*out = NULL;
	if (cfg->n_interfaces == 0 || cfg->n_interfaces > CNP_SOURCE_MAX_IFACES) {
		cnp_error("socketcan source: expected 1 to %d interfaces, got %u",
		          CNP_SOURCE_MAX_IFACES, cfg->n_interfaces);
		return CNP_ERR_CONFIG;
	}
	if (cfg->n_filters > CNP_SOURCE_MAX_FILTERS) {
		cnp_error("socketcan source: at most %d filters, got %u", CNP_SOURCE_MAX_FILTERS,
		          cfg->n_filters);
		return CNP_ERR_CONFIG;
	}
	struct socketcan_source *s = cnp_calloc(1, sizeof(*s));
	if (!s)
		return CNP_ERR_NOMEM;
	s->base.ops = &socketcan_ops;
	s->base.ifaces = ifaces;
	s->sys = sys ? *sys : real_sys;
	s->reopen_ms = cfg->reopen_ms ? cfg->reopen_ms : CNP_DEFAULT_REOPEN_MS;
	s->rcvbuf = cfg->rcvbuf_bytes > (uint64_t)(1u << 30) ? (1 << 30) : (int)cfg->rcvbuf_bytes;
	for (unsigned i = 0; i < CNP_SOCKETCAN_BATCH; i++) {
		s->iov[i].iov_base = &s->rx[i];
		s->iov[i].iov_len = sizeof(s->rx[i]);
		s->msgs[i].msg_iov = &s->iov[i];
		s->msgs[i].msg_iovlen = 1;
	}

	/* The id length must match too: CAN_EFF_FLAG is always in the mask. */
	for (unsigned i = 0; i < cfg->n_filters; i++) {
		const struct cnp_can_filter *cf = &cfg->filters[i];
		canid_t flag = cf->extended ? CAN_EFF_FLAG : 0;
		canid_t idmask = cf->extended ? CAN_EFF_MASK : CAN_SFF_MASK;
		s->filters[i].can_id = (cf->id & idmask) | flag;
		s->filters[i].can_mask = (cf->mask & idmask) | CAN_EFF_FLAG;
	}
	s->n_filters = cfg->n_filters;

	int rc = CNP_OK;
	for (unsigned i = 0; i < cfg->n_interfaces; i++) {
		struct sc_iface *f = &s->ifs[i];
		const char *name = cfg->interfaces[i];
		size_t len = strnlen(name, sizeof(cfg->interfaces[i]));
		f->fd = -1;
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(s->ifs[j].name, name) == 0) {
				cnp_error("socketcan source: interface \"%s\" is listed twice", name);
				rc = CNP_ERR_CONFIG;
				goto fail;
			}
		}
		if (len == 0 || len >= CNP_IFNAMSIZ ||
		    cnp_ifaces_intern(ifaces, name, (unsigned)len, &f->index) != CNP_OK) {
			cnp_error("socketcan source: interface \"%.*s\" refused (empty, longer than "
			          "15 characters, or more than %d interfaces in all)",
			          (int)len, name, CNP_IFACE_MAX);
			rc = CNP_ERR_CONFIG;
			goto fail;
		}
		memcpy(f->name, name, len);
		f->name[len] = 0;
		s->n_ifs++;
	}

	uint64_t now = s->sys.mono_us(s->sys.ctx);
	if (cfg->duration_s > 0)
		s->end_at = now + (uint64_t)(cfg->duration_s * 1e6 + 0.5);
	for (unsigned i = 0; i < s->n_ifs; i++)
		try_open(s, &s->ifs[i], now, 1);
	for (unsigned i = 0; i < s->n_ifs; i++)
		s->base.stats.ifaces_down += s->ifs[i].fd < 0;
	*out = &s->base;
	return CNP_OK;
fail:
	socketcan_destroy(&s->base);
	return rc;
}

int cnp_socketcan_source_create(const struct cnp_source_config *cfg,
                                struct cnp_ifaces *ifaces, struct cnp_source **out)
{
	return cnp_socketcan_source_create_with(cfg, ifaces, &real_sys, out);
}
