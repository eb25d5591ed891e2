/*
 * ecu-responder: a scripted OBD-II / UDS ECU for the QEMU system test, on
 * the kernel's CAN_ISOTP sockets (the kernel segments its multi-frame
 * answers and waits for the tester's flow control).
 *
 *   ecu-responder IFACE
 *
 * 11-bit ids: requests to 0x7E0 (physical) or 0x7DF (functional), answers
 * on 0x7E8; 29-bit ids: ECU address 0x10, requests to 0x18DA10F1 or
 * 0x18DB33F1, answers on 0x18DAF110. The same answers on both. They (docs/POLLING.md, tests/system/run.sh checks them):
 *
 *   01 00  41 00 BE 1F A8 13          01 0C  41 0C 1A F8 (1726 rpm)
 *   01 0D  41 0D 3C (60 km/h)         01 05  41 05 7B (83 degC)
 *   01 42  41 42 30 D4 (12.5 V)       01 2F  41 2F 80
 *   03     43 03 03 01 C1 00 41 23    (P0301 U0100 C0123; two frames)
 *   07     47 01 80 01                (B0001)
 *   09 02  49 02 01 + VIN             (20 bytes: three frames)
 *   22 0101  62 01 01 + 40 bytes      (a long DID: six frames)
 *   22 0103  7F 22 78, 300 ms later 62 01 03 12 34 (response pending)
 *   22 0202  7F 22 31                 (requestOutOfRange)
 *   other    7F SID 12 (or 11 for an unknown service)
 *
 * Prints "ready" when its sockets are bound and one line per request on
 * stdout. Runs until SIGTERM. Not part of canopy: test equipment.
 */
#include <errno.h>
#include <linux/can.h>
#include <linux/can/isotp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VIN "JT3HN87R2V9012345"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int open_isotp(unsigned ifindex, canid_t tx, canid_t rx)
{
	int fd = socket(PF_CAN, SOCK_DGRAM, CAN_ISOTP);
	if (fd < 0) {
		fprintf(stderr, "ecu-responder: socket(CAN_ISOTP): %s (is can-isotp loaded?)\n",
		        strerror(errno));
		exit(1);
	}
	struct can_isotp_options opt;
	memset(&opt, 0, sizeof(opt));
	opt.flags = CAN_ISOTP_TX_PADDING;
	opt.txpad_content = 0xAA;
	if (setsockopt(fd, SOL_CAN_ISOTP, CAN_ISOTP_OPTS, &opt, sizeof(opt)) != 0) {
		perror("ecu-responder: CAN_ISOTP_OPTS");
		exit(1);
	}
	struct sockaddr_can a;
	memset(&a, 0, sizeof(a));
	a.can_family = AF_CAN;
	a.can_ifindex = (int)ifindex;
	a.can_addr.tp.tx_id = tx;
	a.can_addr.tp.rx_id = rx;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		perror("ecu-responder: bind");
		exit(1);
	}
	return fd;
}

static void reply(int fd, const uint8_t *b, size_t n)
{
	if (send(fd, b, n, 0) != (ssize_t)n)
		fprintf(stderr, "ecu-responder: send: %s\n", strerror(errno));
}

static void answer(int fd, const uint8_t *r, size_t n)
{
	uint8_t out[64];
	size_t k = 0;
	printf("request");
	for (size_t i = 0; i < n; i++)
		printf(" %02X", r[i]);
	printf("\n");
	fflush(stdout);
	if (n == 2 && r[0] == 0x01) {
		static const struct {
			uint8_t pid, len, data[4];
		} pids[] = {
		    {0x00, 4, {0xBE, 0x1F, 0xA8, 0x13}}, {0x0C, 2, {0x1A, 0xF8}},
		    {0x0D, 1, {0x3C}},                   {0x05, 1, {0x7B}},
		    {0x42, 2, {0x30, 0xD4}},             {0x2F, 1, {0x80}},
		};
		for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
			if (pids[i].pid == r[1]) {
				out[k++] = 0x41;
				out[k++] = r[1];
				memcpy(out + k, pids[i].data, pids[i].len);
				reply(fd, out, k + pids[i].len);
				return;
			}
	} else if (n == 1 && r[0] == 0x03) {
		static const uint8_t a[] = {0x43, 0x03, 0x03, 0x01, 0xC1, 0x00, 0x41, 0x23};
		reply(fd, a, sizeof(a));
		return;
	} else if (n == 1 && r[0] == 0x07) {
		static const uint8_t a[] = {0x47, 0x01, 0x80, 0x01};
		reply(fd, a, sizeof(a));
		return;
	} else if (n == 2 && r[0] == 0x09 && r[1] == 0x02) {
		out[0] = 0x49;
		out[1] = 0x02;
		out[2] = 0x01;
		memcpy(out + 3, VIN, 17);
		reply(fd, out, 20);
		return;
	} else if (n == 3 && r[0] == 0x22 && r[1] == 0x01 && r[2] == 0x01) {
		/* SOC 0x1F40, pack voltage 0x0E74, then 18 cell voltages
		 * 3900 + 10 * i mV, big-endian. */
		out[k++] = 0x62;
		out[k++] = 0x01;
		out[k++] = 0x01;
		out[k++] = 0x1F;
		out[k++] = 0x40;
		out[k++] = 0x0E;
		out[k++] = 0x74;
		for (int i = 0; i < 18; i++) {
			unsigned mv = 3900u + 10u * (unsigned)i;
			out[k++] = (uint8_t)(mv >> 8);
			out[k++] = (uint8_t)mv;
		}
		reply(fd, out, k);
		return;
	} else if (n == 3 && r[0] == 0x22 && r[1] == 0x01 && r[2] == 0x03) {
		static const uint8_t pend[] = {0x7F, 0x22, 0x78};
		static const uint8_t a[] = {0x62, 0x01, 0x03, 0x12, 0x34};
		reply(fd, pend, sizeof(pend));
		struct timespec ts = {0, 300000000};
		nanosleep(&ts, NULL);
		reply(fd, a, sizeof(a));
		return;
	}
	uint8_t neg[3] = {0x7F, n ? r[0] : 0, 0x12};
	if (n == 3 && r[0] == 0x22 && r[1] == 0x02 && r[2] == 0x02)
		neg[2] = 0x31;
	else if (!n || (r[0] != 0x01 && r[0] != 0x03 && r[0] != 0x07 && r[0] != 0x09 &&
	                r[0] != 0x22))
		neg[2] = 0x11;
	reply(fd, neg, 3);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ecu-responder IFACE\n");
		return 2;
	}
	unsigned ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "ecu-responder: no interface %s\n", argv[1]);
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Per id length: physical requests and the answers (and the tester's
	 * flow control) on one socket, functional requests (single frames) on
	 * another; answers always go out physically. */
	const canid_t eff = CAN_EFF_FLAG;
	int fds[4] = {
	    open_isotp(ifindex, 0x7E8, 0x7E0),
	    open_isotp(ifindex, 0x7E8, 0x7DF),
	    open_isotp(ifindex, 0x18DAF110u | eff, 0x18DA10F1u | eff),
	    open_isotp(ifindex, 0x18DAF110u | eff, 0x18DB33F1u | eff),
	};
	printf("ready\n");
	fflush(stdout);
	struct pollfd p[4];
	for (int i = 0; i < 4; i++)
		p[i] = (struct pollfd){fds[i], POLLIN, 0};
	while (!stop) {
		int rc = poll(p, 4, 500);
		if (rc < 0 && errno != EINTR) {
			perror("ecu-responder: poll");
			return 1;
		}
		for (int i = 0; i < 4 && rc > 0; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			uint8_t buf[4096];
			ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
			if (n > 0) {
				printf("%s ", i < 2 ? "11-bit" : "29-bit");
				answer(fds[i & 2], buf, (size_t)n);
			}
		}
	}
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	return 0;
}
