/*
 * Network-change seam: tells the uploader that the network may be back (a
 * link came up, an address or a route was added), so that an endpoint that
 * failed for want of a network is tried again at once instead of at the
 * end of its backoff, which may have grown to the cap during a long outage.
 *
 * Linux: an rtnetlink socket (NETLINK_ROUTE) subscribed to the link,
 * IPv4/IPv6 address and route groups of the agent's network namespace.
 * Messages that take the network away (a link going down, RTM_DEL*) are
 * not reported: they cannot make an upload succeed.
 */
#ifndef CNP_PLATFORM_NETWATCH_H
#define CNP_PLATFORM_NETWATCH_H

#include <stddef.h>

struct cnp_netwatch;

/*
 * @retval CNP_OK
 * @retval CNP_ERR_NOMEM
 * @retval CNP_ERR_UNSUPPORTED no rtnetlink here (the caller goes on without)
 * @retval CNP_ERR_IO          another failure of the socket calls
 */
int cnp_netwatch_open(struct cnp_netwatch **out);
/*
 * Blocks until a change that may bring the network back, or until
 * cnp_netwatch_interrupt. Several changes read at once count as one; a
 * kernel queue overflow (messages lost) counts as a change.
 * @retval CNP_OK            the network may be back
 * @retval CNP_ERR_CANCELLED interrupted
 * @retval CNP_ERR_IO        the socket failed (the caller stops watching)
 */
int cnp_netwatch_wait(struct cnp_netwatch *w);
/* Ends a cnp_netwatch_wait in progress (or the next one); any thread. */
void cnp_netwatch_interrupt(struct cnp_netwatch *w);
/* Safe on NULL. */
void cnp_netwatch_close(struct cnp_netwatch *w);

/*
 * How many messages of one rtnetlink datagram may bring the network back:
 * RTM_NEWLINK of a running (IFF_RUNNING) interface other than loopback,
 * RTM_NEWADDR, RTM_NEWROUTE. Stops at the first malformed message.
 * Exposed for tests.
 */
unsigned cnp_netwatch_count_ups(const void *buf, size_t len);

#endif
