#include "platform/netwatch.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct cnp_netwatch {
	int nl; /* rtnetlink socket, non-blocking */
	int ev; /* eventfd: cnp_netwatch_interrupt */
};

unsigned cnp_netwatch_count_ups(const void *buf, size_t len)
{
	unsigned ups = 0;
	const uint8_t *p = buf;
	while (len >= sizeof(struct nlmsghdr)) {
		struct nlmsghdr h;
		memcpy(&h, p, sizeof(h)); /* the buffer need not be aligned */
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			break;
		size_t body = h.nlmsg_len - NLMSG_HDRLEN;
		const uint8_t *payload = p + NLMSG_HDRLEN;
		if (h.nlmsg_type == RTM_NEWLINK && body >= sizeof(struct ifinfomsg)) {
			struct ifinfomsg ifi;
			memcpy(&ifi, payload, sizeof(ifi));
			if ((ifi.ifi_flags & IFF_RUNNING) && !(ifi.ifi_flags & IFF_LOOPBACK))
				ups++;
		} else if ((h.nlmsg_type == RTM_NEWADDR && body >= sizeof(struct ifaddrmsg)) ||
		           (h.nlmsg_type == RTM_NEWROUTE && body >= sizeof(struct rtmsg))) {
			ups++;
		}
		size_t step = NLMSG_ALIGN(h.nlmsg_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return ups;
}

int cnp_netwatch_open(struct cnp_netwatch **out)
{
	*out = NULL;
	struct cnp_netwatch *w = cnp_calloc(1, sizeof(*w));
	if (!w)
		return CNP_ERR_NOMEM;
	w->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (w->nl < 0) {
		int e = errno;
		cnp_free(w);
		return e == EAFNOSUPPORT || e == EPROTONOSUPPORT ? CNP_ERR_UNSUPPORTED : CNP_ERR_IO;
	}
	struct sockaddr_nl sa;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
	               RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE;
	w->ev = -1;
	if (bind(w->nl, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    (w->ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		cnp_netwatch_close(w);
		return CNP_ERR_IO;
	}
	*out = w;
	return CNP_OK;
}

/* Reads every queued datagram; 1 if one of them may bring the network back
 * (or the queue overflowed), 0 if none, -1 on a socket failure. */
static int drain(int nl)
{
	int up = 0;
	for (;;) {
		/* Aligned for the kernel's messages; 8 KiB is what the kernel
		 * sends at most per datagram with the default page size. */
		uint32_t buf[2048];
		ssize_t n = recv(nl, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			up |= cnp_netwatch_count_ups(buf, (size_t)n) > 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			up = 1; /* lost messages: assume the best */
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return up;
		return -1;
	}
}

int cnp_netwatch_wait(struct cnp_netwatch *w)
{
	for (;;) {
		struct pollfd fds[2] = {{.fd = w->ev, .events = POLLIN},
		                        {.fd = w->nl, .events = POLLIN}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return CNP_ERR_IO;
		}
		if (fds[0].revents) {
			uint64_t v;
			if (read(w->ev, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return CNP_ERR_IO;
			return CNP_ERR_CANCELLED;
		}
		if (fds[1].revents & (POLLERR | POLLNVAL))
			return CNP_ERR_IO;
		int up = drain(w->nl);
		if (up < 0)
			return CNP_ERR_IO;
		if (up)
			return CNP_OK;
	}
}

void cnp_netwatch_interrupt(struct cnp_netwatch *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->ev, &one, sizeof(one));
	(void)n; /* a full counter is already signalled */
}

void cnp_netwatch_close(struct cnp_netwatch *w)
{
	if (!w)
		return;
	if (w->nl >= 0)
		close(w->nl);
	if (w->ev >= 0)
		close(w->ev);
	cnp_free(w);
}
