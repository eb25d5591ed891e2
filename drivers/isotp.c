/*
 * ISO-TP channels for the poller over the kernel's CAN_ISOTP sockets.
 *
 * Physical addressing: one socket bound to (tx_id, rx_id) sends requests
 * and receives answers, the kernel sending flow control on tx_id.
 * Functional addressing: requests go out through a socket with
 * CAN_ISOTP_SF_BROADCAST (single frames to 0x7DF or 0x18DB33F1, no flow
 * control expected), and the answers arrive on the physical socket of the
 * ECU that answers, which also sends the flow control of a multi-frame
 * answer to that ECU's physical id, as ISO 15765-4 asks.
 *
 * Frames are padded to 8 bytes (ISO 15765-4 requires DLC 8).
 */
#include "drivers/isotp.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <errno.h>
#include <linux/can.h>
#include <linux/can/isotp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PAD_BYTE 0xCC

struct link {
	struct cnp_poll_link link; /* first: the poller's handle is this */
	struct cnp_isotp_sys sys;
	char ifname[IFNAMSIZ];
};

static int sys_socket(void *ctx, int domain, int type, int protocol)
{
	(void)ctx;
	return socket(domain, type, protocol);
}

static int sys_ioctl(void *ctx, int fd, unsigned long request, struct ifreq *ifr)
{
	(void)ctx;
	return ioctl(fd, request, ifr);
}

static int sys_setsockopt(void *ctx, int fd, int level, int name, const void *value,
                          socklen_t len)
{
	(void)ctx;
	return setsockopt(fd, level, name, value, len);
}

static int sys_bind(void *ctx, int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)ctx;
	return bind(fd, addr, len);
}

static ssize_t sys_send(void *ctx, int fd, const void *buf, size_t len, int flags)
{
	(void)ctx;
	return send(fd, buf, len, flags);
}

static ssize_t sys_recv(void *ctx, int fd, void *buf, size_t len, int flags)
{
	(void)ctx;
	return recv(fd, buf, len, flags);
}

static int sys_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

const struct cnp_isotp_sys *cnp_isotp_sys_default(void)
{
	static const struct cnp_isotp_sys real = {NULL, sys_socket, sys_ioctl, sys_setsockopt,
	                                          sys_bind, sys_send, sys_recv, sys_close};
	return &real;
}

static int l_open(void *ctx, const struct cnp_poll_chan *ch, char *why, size_t why_len)
{
	struct link *l = ctx;
	const struct cnp_isotp_sys *s = &l->sys;
	int fd = s->socket(s->ctx, PF_CAN, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, CAN_ISOTP);
	if (fd < 0) {
		int e = errno;
		if (e == EPROTONOSUPPORT || e == EAFNOSUPPORT || e == ESOCKTNOSUPPORT) {
			snprintf(why, why_len, "%s: the kernel has no CAN_ISOTP sockets (%s): the "
			         "can-isotp module is missing (modprobe can-isotp)", l->ifname, strerror(e));
			return CNP_ERR_UNSUPPORTED;
		}
		snprintf(why, why_len, "socket(PF_CAN, SOCK_DGRAM, CAN_ISOTP): %s", strerror(e));
		return CNP_ERR_IO;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", l->ifname);
	int rc = CNP_ERR_IO;
	if (s->ioctl(s->ctx, fd, SIOCGIFINDEX, &ifr) != 0) {
		int e = errno;
		snprintf(why, why_len, "no interface %s (%s)", l->ifname, strerror(e));
		rc = e == ENODEV ? CNP_ERR_NOTFOUND : CNP_ERR_IO;
		goto fail;
	}
	struct can_isotp_options opt;
	memset(&opt, 0, sizeof(opt));
	opt.flags = CAN_ISOTP_TX_PADDING;
	opt.txpad_content = PAD_BYTE;
	if (ch->functional)
		opt.flags |= CAN_ISOTP_SF_BROADCAST;
	if (s->setsockopt(s->ctx, fd, SOL_CAN_ISOTP, CAN_ISOTP_OPTS, &opt, sizeof(opt)) != 0) {
		snprintf(why, why_len, "CAN_ISOTP_OPTS refused: %s", strerror(errno));
		goto fail;
	}
	struct sockaddr_can addr;
	memset(&addr, 0, sizeof(addr));
	addr.can_family = AF_CAN;
	addr.can_ifindex = ifr.ifr_ifindex;
	canid_t flag = ch->extended ? CAN_EFF_FLAG : 0;
	addr.can_addr.tp.tx_id = ch->tx_id | flag;
	addr.can_addr.tp.rx_id = ch->rx_id | flag;
	if (s->bind(s->ctx, fd, (const struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(why, why_len, "bind to %s: %s", l->ifname, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	s->close(s->ctx, fd);
	return rc;
}

static int l_send(void *ctx, int h, const uint8_t *data, size_t len)
{
	struct link *l = ctx;
	ssize_t n = l->sys.send(l->sys.ctx, h, data, len, MSG_DONTWAIT);
	if (n == (ssize_t)len)
		return CNP_OK;
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? CNP_ERR_AGAIN : CNP_ERR_IO;
}

static int l_recv(void *ctx, int h, uint8_t *buf, size_t cap, size_t *len)
{
	struct link *l = ctx;
	ssize_t n = l->sys.recv(l->sys.ctx, h, buf, cap, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? CNP_ERR_AGAIN : CNP_ERR_IO;
	*len = (size_t)n;
	return CNP_OK;
}

static void l_close(void *ctx, int h)
{
	struct link *l = ctx;
	l->sys.close(l->sys.ctx, h);
}

int cnp_isotp_link_create(const char *ifname, const struct cnp_isotp_sys *sys,
                          struct cnp_poll_link **out)
{
	struct link *l = cnp_calloc(1, sizeof(*l));
	if (!l)
		return CNP_ERR_NOMEM;
	l->sys = sys ? *sys : *cnp_isotp_sys_default();
	snprintf(l->ifname, sizeof(l->ifname), "%s", ifname);
	l->link = (struct cnp_poll_link){l, l_open, l_send, l_recv, l_close};
	*out = &l->link;
	return CNP_OK;
}

void cnp_isotp_link_destroy(struct cnp_poll_link *link)
{
	cnp_free(link);
}
