/*
 * libFuzzer target: the DBC parser and decoder, on any bytes.
 *
 * Invariants beyond "no crash, no sanitizer report":
 * - lenient mode never refuses (only CNP_ERR_NOMEM could fail it);
 * - a strict refusal names the origin and a line inside the text (or none);
 * - a text strict mode accepts loads the same in lenient mode;
 * - decoding every message from frames of every length 0..64, made of the
 *   input's own bytes, reports only signals that fit the frame, with the
 *   physical value cnp_dbc_physical() gives for the raw value;
 * - cnp_dbc_find() gives back each message from its own id.
 */
#include "firmware/dbc.h"
#include "firmware/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
	unsigned len;
	unsigned seen;
};

static unsigned need_bytes(const struct cnp_dbc_signal *s)
{
	unsigned first = s->byte_order == CNP_DBC_LITTLE_ENDIAN
	                         ? s->start
	                         : (s->start / 8u) * 8u + 7u - s->start % 8u;
	return (first + s->length - 1u) / 8u + 1u;
}

static int on_signal(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	struct check *c = arg;
	double again = cnp_dbc_physical(sig, raw);
	if (need_bytes(sig) > c->len || !(again == phys || (isnan(again) && isnan(phys)))) {
		fprintf(stderr, "fuzz_dbc: signal %s decoded from %u bytes (needs %u)\n", sig->name,
		        c->len, need_bytes(sig));
		abort();
	}
	c->seen++;
	return 0;
}

static void exercise(const struct cnp_dbc *db, const uint8_t *data, size_t size)
{
	uint8_t frame[64];
	for (unsigned i = 0; i < sizeof(frame); i++)
		frame[i] = size ? data[(i * 7u) % size] : (uint8_t)i;
	for (unsigned m = 0; m < cnp_dbc_message_count(db); m++) {
		const struct cnp_dbc_message *msg = cnp_dbc_message_at(db, m);
		const struct cnp_dbc_message *back =
			cnp_dbc_find(db, msg->id, (msg->flags & CNP_DBC_MSG_EXT) != 0);
		if (!back || back->id != msg->id ||
		    (back->flags & CNP_DBC_MSG_EXT) != (msg->flags & CNP_DBC_MSG_EXT)) {
			fprintf(stderr, "fuzz_dbc: message %s not found by its id\n", msg->name);
			abort();
		}
		for (unsigned len = 0; len <= 64; len++) {
			struct check c = {.len = len};
			cnp_dbc_decode(msg, frame, len, on_signal, &c);
		}
		for (unsigned k = 0; k < msg->n_signals; k++)
			(void)cnp_dbc_choice_text(&msg->signals[k], frame[k % 64]);
	}
}

static void ignore(void *arg, const char *text)
{
	(void)text;
	++*(unsigned *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of the exact size: the parser gets a length, not a string. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	unsigned lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';

	unsigned warnings = 0;
	struct cnp_dbc_options lenient = {.flags = CNP_DBC_QUIET, .warn = ignore,
	                                  .warn_arg = &warnings};
	struct cnp_dbc_options strict = lenient;
	strict.flags |= CNP_DBC_STRICT;
	struct cnp_dbc *a = NULL, *b = NULL;
	struct cnp_dbc_error err;

	int rc = cnp_dbc_parse(text, size, "f.dbc", &lenient, &a, &err);
	if (rc != CNP_OK) {
		fprintf(stderr, "fuzz_dbc: lenient mode refused (rc %d): %s\n", rc, err.text);
		abort();
	}
	exercise(a, data, size);

	rc = cnp_dbc_parse(text, size, "f.dbc", &strict, &b, &err);
	if (rc != CNP_OK) {
		if (rc != CNP_ERR_INVAL || b || strncmp(err.text, "f.dbc:", 6) != 0 || err.line > lines ||
		    strlen(err.text) < 10) {
			fprintf(stderr, "fuzz_dbc: strict refusal without file and line: %s\n", err.text);
			abort();
		}
	} else if (cnp_dbc_message_count(a) != cnp_dbc_message_count(b) ||
	           cnp_dbc_signal_count(a) != cnp_dbc_signal_count(b)) {
		fprintf(stderr, "fuzz_dbc: strict and lenient loads differ\n");
		abort();
	}
	cnp_dbc_free(a);
	cnp_dbc_free(b);
	free(text);
	return 0;
}
