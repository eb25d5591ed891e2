/* The network-change seam: which rtnetlink messages may bring the network
 * back (crafted datagrams), and a real watch that opens and is interrupted. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/netwatch.h"
#include "platform/thread.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* Appends one message of `type` with `payload` to buf at *off. */
static void put_msg(uint8_t *buf, size_t *off, uint16_t type, const void *payload, size_t n)
{
	struct nlmsghdr h;
	memset(&h, 0, sizeof(h));
	h.nlmsg_len = (uint32_t)NLMSG_LENGTH(n);
	h.nlmsg_type = type;
	memcpy(buf + *off, &h, sizeof(h));
	memcpy(buf + *off + NLMSG_HDRLEN, payload, n);
	*off += NLMSG_ALIGN(h.nlmsg_len);
}

static void test_count_ups(void)
{
	/* From the agent's allocator (aligned as malloc's), which also links
	 * the platform library's own dependency on it. */
	uint8_t *buf = cnp_malloc(4096);
	CHECK(buf != NULL);
	if (!buf)
		return;
	size_t off = 0;
	struct ifinfomsg up = {.ifi_family = AF_UNSPEC, .ifi_index = 2,
	                       .ifi_flags = IFF_UP | IFF_RUNNING};
	struct ifinfomsg down = {.ifi_family = AF_UNSPEC, .ifi_index = 2, .ifi_flags = IFF_UP};
	struct ifinfomsg lo = {.ifi_family = AF_UNSPEC, .ifi_index = 1,
	                       .ifi_flags = IFF_UP | IFF_RUNNING | IFF_LOOPBACK};
	struct ifaddrmsg addr = {.ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = 2};
	struct rtmsg route = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN};

	put_msg(buf, &off, RTM_NEWLINK, &down, sizeof(down));
	CHECK_EQ(cnp_netwatch_count_ups(buf, off), 0); /* a link going down */
	put_msg(buf, &off, RTM_NEWLINK, &lo, sizeof(lo));
	put_msg(buf, &off, RTM_DELADDR, &addr, sizeof(addr));
	put_msg(buf, &off, RTM_DELROUTE, &route, sizeof(route));
	put_msg(buf, &off, RTM_DELLINK, &up, sizeof(up));
	CHECK_EQ(cnp_netwatch_count_ups(buf, off), 0); /* loopback, removals */
	put_msg(buf, &off, RTM_NEWLINK, &up, sizeof(up));
	CHECK_EQ(cnp_netwatch_count_ups(buf, off), 1);
	put_msg(buf, &off, RTM_NEWADDR, &addr, sizeof(addr));
	put_msg(buf, &off, RTM_NEWROUTE, &route, sizeof(route));
	CHECK_EQ(cnp_netwatch_count_ups(buf, off), 3);

	/* Malformed: a payload shorter than its header, a length past the
	 * datagram, a length below the header: counting stops there. */
	size_t good = off;
	put_msg(buf, &off, RTM_NEWLINK, &up, 4);
	CHECK_EQ(cnp_netwatch_count_ups(buf, off), 3);
	off = good;
	put_msg(buf, &off, RTM_NEWADDR, &addr, sizeof(addr));
	CHECK_EQ(cnp_netwatch_count_ups(buf, off - 1), 3); /* cut short */
	struct nlmsghdr bad = {.nlmsg_len = 4, .nlmsg_type = RTM_NEWROUTE};
	memcpy(buf + good, &bad, sizeof(bad));
	CHECK_EQ(cnp_netwatch_count_ups(buf, good + sizeof(bad) + sizeof(route)), 3);
	CHECK_EQ(cnp_netwatch_count_ups(buf, 0), 0);
	CHECK_EQ(cnp_netwatch_count_ups(buf, 3), 0);
	cnp_free(buf);
}

static atomic_int waited_rc;

static void waiter(void *arg)
{
	atomic_store(&waited_rc, cnp_netwatch_wait(arg));
}

/* A real rtnetlink watch: opens (or says it cannot), and an interrupt ends
 * a wait in progress. */
static void test_watch_interrupt(void)
{
	struct cnp_netwatch *w = NULL;
	int rc = cnp_netwatch_open(&w);
	if (rc == CNP_ERR_UNSUPPORTED) {
		printf("SKIP: no rtnetlink here\n");
		return;
	}
	CHECK_EQ(rc, CNP_OK);
	if (!w)
		return;
	atomic_store(&waited_rc, 1);
	struct cnp_thread *t = NULL;
	CHECK_EQ(cnp_thread_start(&t, waiter, w), CNP_OK);
	cnp_netwatch_interrupt(w);
	if (t)
		cnp_thread_join(t);
	/* A change in this namespace meanwhile may answer first; never an error. */
	rc = atomic_load(&waited_rc);
	CHECK(rc == CNP_ERR_CANCELLED || rc == CNP_OK);
	/* An interrupt before the wait ends the next one. */
	if (rc == CNP_OK) {
		cnp_netwatch_interrupt(w);
		rc = cnp_netwatch_wait(w);
		CHECK(rc == CNP_ERR_CANCELLED || rc == CNP_OK);
	}
	cnp_netwatch_close(w);
	cnp_netwatch_close(NULL);
}

int main(void)
{
	test_count_ups();
	test_watch_interrupt();
	return check_finish();
}
