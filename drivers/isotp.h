/*
 * The polling transport (firmware/poll.h) over the kernel's ISO-TP
 * sockets: socket(PF_CAN, SOCK_DGRAM, CAN_ISOTP), one per address pair,
 * bound to the polling interface. The kernel segments, reassembles and
 * sends flow control; the poller sees whole messages.
 *
 * The system calls go through struct cnp_isotp_sys so that unit tests can
 * stand in a fake kernel (as drivers/socketcan_sys.h does for CAN_RAW).
 * Every call behaves like the system call it is named after (0, a
 * descriptor or a count on success; -1 with errno on failure) and gets the
 * table's ctx first. Sockets are non-blocking; send and recv are asked with
 * MSG_DONTWAIT.
 */
#ifndef CNP_ISOTP_H
#define CNP_ISOTP_H

#include "firmware/poll.h"

#include <net/if.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct cnp_isotp_sys {
	void *ctx;
	int (*socket)(void *ctx, int domain, int type, int protocol);
	int (*ioctl)(void *ctx, int fd, unsigned long request, struct ifreq *ifr);
	int (*setsockopt)(void *ctx, int fd, int level, int name, const void *value,
	                  socklen_t len);
	int (*bind)(void *ctx, int fd, const struct sockaddr *addr, socklen_t len);
	ssize_t (*send)(void *ctx, int fd, const void *buf, size_t len, int flags);
	ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len, int flags);
	int (*close)(void *ctx, int fd);
};

/* The real system calls. Static storage; never NULL. */
const struct cnp_isotp_sys *cnp_isotp_sys_default(void);

/*
 * A transport on interface `ifname` with the given table (NULL: the real
 * one; copied, its ctx must outlive the link). Opens nothing yet.
 * @retval CNP_ERR_NOMEM
 */
int cnp_isotp_link_create(const char *ifname, const struct cnp_isotp_sys *sys,
                          struct cnp_poll_link **out);
/* Closes nothing (the poller closes its channels); frees the link. */
void cnp_isotp_link_destroy(struct cnp_poll_link *link);

#endif
