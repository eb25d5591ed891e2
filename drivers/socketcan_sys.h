/*
 * The system calls the SocketCAN source makes, behind a table of function
 * pointers, so that unit tests can stand in a fake kernel (the build hosts
 * have no vcan) and steer it: refuse options, report a missing or non-CAN
 * interface, hand out frames with chosen control messages, fail a receive
 * with ENETDOWN, move a clock.
 *
 * Every call behaves like the system call it is named after: it returns 0
 * (or a descriptor, or a count) on success and -1 with errno set on failure.
 * Every call gets the table's `ctx` first. None of them may block: the
 * sockets are non-blocking and receives use MSG_DONTWAIT.
 *
 * Single-threaded: a source calls its table only from its own read(),
 * create and destroy.
 */
#ifndef CNP_SOCKETCAN_SYS_H
#define CNP_SOCKETCAN_SYS_H

#include "drivers/source.h"

#include <net/if.h>
#include <stdint.h>
#include <sys/socket.h>

/* At most this many messages are asked of one recv_batch call. */
#define CNP_SOCKETCAN_BATCH 64

struct cnp_socketcan_sys {
	void *ctx; /* passed to every call; owned by whoever made the table */

	/* socket(2). Asked for PF_CAN, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
	 * CAN_RAW. */
	int (*socket)(void *ctx, int domain, int type, int protocol);

	/* ioctl(2) with a struct ifreq: SIOCGIFINDEX, SIOCGIFHWADDR,
	 * SIOCGIFFLAGS and SIOCGIFMTU, ifr_name set to the interface. */
	int (*ioctl)(void *ctx, int fd, unsigned long request, struct ifreq *ifr);

	/* setsockopt(2) and getsockopt(2). */
	int (*setsockopt)(void *ctx, int fd, int level, int name, const void *value,
	                  socklen_t len);
	int (*getsockopt)(void *ctx, int fd, int level, int name, void *value,
	                  socklen_t *len);

	/* bind(2) to a struct sockaddr_can. */
	int (*bind)(void *ctx, int fd, const struct sockaddr *addr, socklen_t len);

	/*
	 * Receives up to `vlen` (1..CNP_SOCKETCAN_BATCH) messages without
	 * waiting, like recvmmsg(2) with MSG_DONTWAIT: msgs[i] comes with one
	 * iovec for the frame and a control buffer (msg_controllen is its size
	 * on entry). For each message received, the call sets lens[i] to the
	 * frame's byte count, msg_controllen to the control bytes written and
	 * msg_flags (MSG_TRUNC, MSG_CTRUNC).
	 * Returns the number of messages (>= 1), or -1 with errno: EAGAIN when
	 * nothing is queued, ENETDOWN or ENODEV when the interface went away.
	 */
	int (*recv_batch)(void *ctx, int fd, struct msghdr *msgs, unsigned *lens,
	                  unsigned vlen);

	/* close(2). */
	int (*close)(void *ctx, int fd);

	/* Monotonic and wall-clock time in microseconds (see platform/clock.h).
	 * Monotonic times drive the reopen schedule and the warning rate limit;
	 * wall-clock time stamps a frame the kernel gave no timestamp for. */
	uint64_t (*mono_us)(void *ctx);
	uint64_t (*wall_us)(void *ctx);
};

/*
 * The real table: Linux system calls (recvmmsg(2) where the C library has
 * it, else recvmsg(2) in a loop) and platform/clock.h. Static storage; never
 * NULL.
 */
const struct cnp_socketcan_sys *cnp_socketcan_sys_default(void);

/*
 * cnp_socketcan_source_create() with the given system call table (NULL: the
 * real one). The table is copied; its ctx must outlive the source. Opens
 * the interfaces through it at once (failures are logged and retried, not
 * returned).
 * @retval CNP_ERR_CONFIG no interfaces, an interface listed twice, or a name
 *                        the interface table refuses (logged)
 * @retval CNP_ERR_NOMEM
 */
int cnp_socketcan_source_create_with(const struct cnp_source_config *cfg,
                                     struct cnp_ifaces *ifaces,
                                     const struct cnp_socketcan_sys *sys,
                                     struct cnp_source **out);

#endif
