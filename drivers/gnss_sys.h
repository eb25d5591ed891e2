/*
 * The system calls the GNSS source makes to talk to gpsd, behind a table of
 * function pointers, so that unit tests can stand in a fake gpsd: hand out
 * its JSON stream in chosen pieces, refuse a connection, hang up, move the
 * clocks.
 *
 * Every call behaves like the system call it stands for: it returns 0 (or
 * a descriptor, or a count) on success and -1 with errno set on failure.
 * Every call gets the table's `ctx` first. None of them may block for
 * long: the socket is non-blocking (only the name lookup of a host name
 * waits, as getaddrinfo(3) does).
 *
 * Single-threaded: a source calls its table only from its own read(),
 * create and destroy.
 */
#ifndef CNP_GNSS_SYS_H
#define CNP_GNSS_SYS_H

#include "drivers/source.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cnp_gnss_sys {
	void *ctx; /* passed to every call; owned by whoever made the table */

	/* Resolves host and port and starts a non-blocking TCP connection
	 * (socket(2) + connect(2)): returns the descriptor, the connection
	 * possibly still in progress, or -1 with errno. */
	int (*connect)(void *ctx, const char *host, const char *port);

	/* Whether the connection `connect` started is up: 1 connected, 0 still
	 * in progress, -1 with errno when it failed (ECONNREFUSED...). */
	int (*connected)(void *ctx, int fd);

	/* send(2) and recv(2) without waiting (MSG_DONTWAIT; send also
	 * MSG_NOSIGNAL). recv returns 0 when gpsd closed the connection and -1
	 * with EAGAIN when nothing is there. */
	ssize_t (*send)(void *ctx, int fd, const void *buf, size_t len);
	ssize_t (*recv)(void *ctx, int fd, void *buf, size_t len);

	/* close(2). */
	int (*close)(void *ctx, int fd);

	/* Monotonic and wall-clock time in microseconds (platform/clock.h):
	 * monotonic time drives reconnection and duration_s and stamps each
	 * report's arrival; wall-clock time stamps a report without a time. */
	uint64_t (*mono_us)(void *ctx);
	uint64_t (*wall_us)(void *ctx);
};

/* The real table: BSD sockets and platform/clock.h. Static; never NULL. */
const struct cnp_gnss_sys *cnp_gnss_sys_default(void);

/*
 * cnp_gnss_source_create() with the given table (NULL: the real one). The
 * table is copied; its ctx must outlive the source. Connects on the first
 * read().
 * @retval CNP_ERR_FULL  no room for the "gnss" interface in the table (logged)
 * @retval CNP_ERR_NOMEM
 */
int cnp_gnss_source_create_with(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                                const struct cnp_gnss_sys *sys, struct cnp_source **out);

/* Counters of the GNSS source, for tests and logs. */
struct cnp_gnss_stats {
	uint64_t tpv;         /* TPV reports used */
	uint64_t sky;         /* SKY reports used */
	uint64_t ignored;     /* reports of other classes (VERSION, DEVICES...) */
	uint64_t connects;    /* connections established (the first included) */
	uint64_t disconnects; /* connections lost or refused */
};

/* The counters of a source made by cnp_gnss_source_create*(). */
void cnp_gnss_source_stats(const struct cnp_source *src, struct cnp_gnss_stats *st);

#endif
