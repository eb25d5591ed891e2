/*
 * libFuzzer target: passive transport reassembly (firmware/transport.c) on
 * any sequence of frames, read from the input as records:
 *   flags (bit 0: interface can1, bit 1: 29-bit, bit 2: CAN FD, bit 3:
 *   remote), id (4 bytes, little-endian, cut to 11 or 29 bits), time step
 *   (2 bytes, little-endian, milliseconds), length (cut to 64), data.
 * can0 reassembles ISO-TP on 0x700..0x7FF and 0x18DA0000..0x18DAFFFF
 * (length prefix when the first record's flags have bit 7), can1 J1939.
 *
 * Invariants beyond "no crash, no sanitizer report, no leak":
 * - a message is never longer than its protocol allows, and has data;
 * - an ISO-TP message comes with its own frame's id, a J1939 one with a
 *   29-bit id whose PGN is not the transport's own;
 * - never more sessions open than there are slots; every message and
 *   every broken session is counted; destroy frees whatever is open.
 */
#include "firmware/error.h"
#include "firmware/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	uint64_t messages;
	int prefix;
	uint32_t last_id;
	uint8_t last_ext;
};

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_transport: %s\n", why);
	abort();
}

static int on_message(void *arg, const struct cnp_tp_message *m)
{
	struct seen *s = arg;
	s->messages++;
	if (!m->data || m->len == 0)
		fail("an empty message");
	if (m->j1939) {
		unsigned pf = (m->id >> 16) & 0xFFu;
		if (m->len < 9 || m->len > CNP_J1939_MAX_LEN || !(m->flags & CNP_FRAME_EXT) ||
		    pf == 0xEC || pf == 0xEB)
			fail("a J1939 message of a bad length or id");
	} else {
		if (m->len > CNP_ISOTP_MAX_LEN + (size_t)s->prefix)
			fail("an ISO-TP message too long");
		if (m->id != s->last_id || !(m->flags & CNP_FRAME_EXT) != !s->last_ext)
			fail("an ISO-TP message with another frame's id");
		if (s->prefix && m->data[0] != (uint8_t)((m->len - 1) & 0xFFu))
			fail("an ISO-TP message whose prefix is not its length");
	}
	/* Touch every byte: the sanitizer checks they are inside the buffer. */
	unsigned sum = 0;
	for (size_t i = 0; i < m->len; i++)
		sum += m->data[i];
	return sum == 0xFFFFFFFFu ? CNP_ERR_INVAL : CNP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cnp_tp_config c0 = {0}, c1 = {0};
	c0.isotp[0] = (struct cnp_tp_range){0x700, 0x7FF, 0};
	c0.isotp[1] = (struct cnp_tp_range){0x18DA0000, 0x18DAFFFF, 1};
	c0.n_isotp = 2;
	c0.isotp_length_prefix = size > 0 && (data[0] & 0x80u);
	c1.j1939 = 1;
	struct cnp_tp_iface ifs[2] = {{"can0", &c0}, {"can1", &c1}};
	struct cnp_ifaces names = {.count = 2};
	strcpy(names.names[0], "can0");
	strcpy(names.names[1], "can1");
	struct cnp_tp *t = NULL;
	if (cnp_tp_create(ifs, 2, &t) != CNP_OK)
		return 0;
	struct seen s = {.prefix = c0.isotp_length_prefix};
	uint64_t ts = 0;
	size_t p = 0;
	while (p + 8 <= size) {
		struct cnp_frame f = {0};
		uint8_t fl = data[p];
		f.iface = fl & 1u;
		f.flags = (uint8_t)(((fl & 2u) ? CNP_FRAME_EXT : 0) | ((fl & 4u) ? CNP_FRAME_FD : 0) |
		                    ((fl & 8u) ? CNP_FRAME_RTR : 0));
		uint32_t id = (uint32_t)data[p + 1] | (uint32_t)data[p + 2] << 8 |
		              (uint32_t)data[p + 3] << 16 | (uint32_t)data[p + 4] << 24;
		f.id = id & ((f.flags & CNP_FRAME_EXT) ? 0x1FFFFFFFu : 0x7FFu);
		ts += ((uint64_t)data[p + 5] | (uint64_t)data[p + 6] << 8) * 1000u;
		f.ts_us = ts;
		unsigned len = data[p + 7] % 65u;
		p += 8;
		if (len > size - p)
			len = (unsigned)(size - p);
		f.len = (uint8_t)len;
		memcpy(f.data, data + p, len);
		p += len;
		s.last_id = f.id;
		s.last_ext = (uint8_t)((f.flags & CNP_FRAME_EXT) != 0);
		if (cnp_tp_claims(t, &f, &names)) {
			if (cnp_tp_frame(t, &f, &names, on_message, &s) != CNP_OK)
				fail("the callback's return was not passed on, or an error came");
		} else {
			uint64_t before = s.messages;
			cnp_tp_tick(t, f.ts_us);
			if (cnp_tp_frame(t, &f, &names, on_message, &s) != CNP_OK || s.messages != before)
				fail("a frame not claimed made a message");
		}
		if (cnp_tp_open(t) > CNP_TP_MAX_SESSIONS)
			fail("more sessions open than slots");
	}
	struct cnp_tp_stats a, b;
	cnp_tp_stats(t, &a, &b);
	if (a.messages + b.messages != s.messages)
		fail("messages passed on and counted differ");
	cnp_tp_destroy(t);
	return 0;
}
