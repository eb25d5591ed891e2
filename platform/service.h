/*
 * Service manager seam: what the agent tells systemd (or any manager that
 * speaks the sd_notify protocol) and where it keeps its runtime files.
 *
 * The notify protocol is implemented directly: one datagram of
 * "KEY=value\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * path, or "@name" for the abstract namespace). Without $NOTIFY_SOCKET every
 * call is a no-op, so the agent behaves the same outside systemd.
 */
#ifndef CNP_PLATFORM_SERVICE_H
#define CNP_PLATFORM_SERVICE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sends `msg` (e.g. "READY=1", "WATCHDOG=1", "STOPPING=1",
 * "STATUS=text") as one datagram. Never blocks: a manager that does not
 * read its socket costs a dropped message, not a stalled agent.
 * @retval CNP_OK
 * @retval CNP_ERR_NOTFOUND $NOTIFY_SOCKET is not set (not an error to report)
 * @retval CNP_ERR_IO       the socket could not be reached
 */
int cnp_service_notify(const char *msg);

/*
 * The watchdog interval the manager asked for ($WATCHDOG_USEC, when
 * $WATCHDOG_PID is unset or names this process), in microseconds;
 * 0 when there is no watchdog.
 */
uint64_t cnp_service_watchdog_us(void);

/*
 * The folder for runtime files such as the status file, without a trailing
 * slash: $RUNTIME_DIRECTORY (set by systemd's RuntimeDirectory=; its first
 * entry), else /run/canopy for root, else $XDG_RUNTIME_DIR/canopy, else
 * /tmp/canopy-UID.
 * @retval CNP_ERR_TOOBIG the path does not fit `cap`
 */
int cnp_service_runtime_dir(char *out, size_t cap);

/* This process's id (for the status file). */
uint64_t cnp_service_pid(void);

#endif
