/*
 * libFuzzer target: collection scheme documents and their expressions, on
 * any bytes.
 *
 * The input is compiled as a scheme document against a small fixed DBC
 * (an array when it starts with '['), and, NUL-terminated, as a bare
 * expression over the same signals. Invariants beyond "no crash, no
 * sanitizer report, no leak":
 * - a document is either accepted or refused with CNP_ERR_INVAL and a
 *   message that starts with the origin and names a JSON path ("$...") or
 *   a line of the text;
 * - an accepted document runs over frames made of the input's bytes: every
 *   sample belongs to a signal of the DBC, with a capture time of a frame
 *   seen, and every event is a JSON object with ts_us, from_us <= ts_us <=
 *   to_us;
 * - an expression is accepted or refused with a column inside the text (or
 *   one past it); an accepted one evaluates over any values without
 *   failing.
 */
#include "firmware/collect.h"
#include "firmware/error.h"
#include "firmware/expr.h"
#include "firmware/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char dbc_text[] =
	"BO_ 256 Dyn: 8 ECU\n"
	" SG_ Speed : 0|16@1+ (0.01,0) [0|655.35] \"km/h\" X\n"
	" SG_ Brake : 16|8@1+ (1,0) [0|255] \"bar\" X\n"
	" SG_ Mode M : 24|2@1+ (1,0) [0|3] \"\" X\n"
	" SG_ A m0 : 32|8@1- (0.5,-10) [0|0] \"\" X\n"
	" SG_ B m1 : 32|32@1+ (1,0) [0|0] \"\" X\n"
	"BO_ 512 Body: 2 ECU\n"
	" SG_ Door : 0|1@1+ (1,0) [0|1] \"\" X\n"
	" SG_ 1stGear : 15|8@0- (1,-40) [0|0] \"degC\" X\n"
	"SIG_VALTYPE_ 256 B : 1;\n";

static struct cnp_dbc *db;
static uint64_t max_ts;

static int on_frame(void *arg, const struct cnp_frame *f)
{
	(void)arg;
	if (f->ts_us > max_ts)
		abort();
	return 0;
}

static int on_sample(void *arg, const struct cnp_sig_desc *d, uint64_t ts, uint64_t raw)
{
	(void)arg;
	(void)raw;
	if (!d || ts > max_ts || !cnp_dbc_find_message(db, d->message))
		abort();
	return 0;
}

static int on_event(void *arg, const char *json)
{
	(void)arg;
	cJSON *o = cJSON_Parse(json);
	const cJSON *ts = cJSON_GetObjectItem(o, "ts_us"), *from = cJSON_GetObjectItem(o, "from_us"),
	            *to = cJSON_GetObjectItem(o, "to_us");
	if (!cJSON_IsNumber(ts) || !cJSON_IsNumber(from) || !cJSON_IsNumber(to) ||
	    from->valuedouble > ts->valuedouble || ts->valuedouble > to->valuedouble) {
		fprintf(stderr, "fuzz_schemes: bad event %s\n", json);
		abort();
	}
	cJSON_Delete(o);
	return 0;
}

static int names(void *arg, const char *name, unsigned *slot, char *why, size_t why_len)
{
	(void)arg;
	static const char *const known[] = {"Speed", "Brake", "Dyn.Mode", "1stGear", NULL};
	for (unsigned i = 0; known[i]; i++)
		if (strcmp(known[i], name) == 0) {
			*slot = i;
			return 0;
		}
	snprintf(why, why_len, "no signal \"%s\"", name);
	return -1;
}

static void run_document(const uint8_t *data, size_t size)
{
	struct cnp_collect_dbc d = {"can0", db};
	struct cnp_collect_options o = {.dbcs = &d, .n_dbcs = 1, .doc = (const char *)data,
	                                .doc_len = size, .doc_is_array = size && data[0] == '[',
	                                .origin = "f.json", .path = "$"};
	struct cnp_collector *c = NULL;
	char why[512] = "";
	int rc = cnp_collector_create(&o, &c, why, sizeof(why));
	if (rc != CNP_OK) {
		if (rc != CNP_ERR_INVAL || c || strncmp(why, "f.json: ", 8) != 0 ||
		    (!strstr(why, ": $") && !strstr(why, ": line "))) {
			fprintf(stderr, "fuzz_schemes: refusal without a path: rc %d: %s\n", rc, why);
			abort();
		}
		return;
	}
	struct cnp_ifaces ifs;
	cnp_ifaces_init(&ifs);
	uint8_t idx;
	cnp_ifaces_intern(&ifs, "can0", 4, &idx);
	struct cnp_collect_sink sink = {on_frame, on_sample, on_event, NULL};
	uint64_t ts = 1000000;
	for (unsigned i = 0; i < 64; i++) {
		struct cnp_frame f = {.id = i % 3 == 2 ? 0x200 : 0x100, .len = 8};
		for (unsigned k = 0; k < 8; k++)
			f.data[k] = size ? data[(i * 8 + k) % size] : (uint8_t)k;
		ts += (uint64_t)(f.data[0] % 4) * 250000u + 1000u;
		f.ts_us = max_ts = ts;
		if (cnp_collector_frame(c, &f, &ifs, &sink) != CNP_OK)
			abort();
	}
	cnp_collector_destroy(c);
}

static void run_expression(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = 0;
	size_t len = strlen(text);
	struct cnp_expr *e = NULL;
	unsigned col = 0;
	char why[256] = "";
	int rc = cnp_expr_parse(text, names, NULL, &e, &col, why, sizeof(why));
	if (rc == CNP_OK) {
		double values[4];
		uint64_t stamps[4];
		for (unsigned i = 0; i < 16; i++) {
			for (unsigned k = 0; k < 4; k++) {
				uint8_t b = size ? data[(i * 4 + k) % size] : 0;
				values[k] = b == 255 ? NAN : (double)b - 100.0;
				stamps[k] = 1000000u + i * 100000u;
			}
			(void)cnp_expr_eval(e, values, stamps, 1000000u + i * 100000u);
		}
		cnp_expr_free(e);
	} else if (rc != CNP_ERR_INVAL || e || col == 0 ||
	           (col > len + 1 && col != CNP_EXPR_MAX_LEN + 1) || !why[0]) {
		fprintf(stderr, "fuzz_schemes: expression refusal rc %d column %u of %zu: %s\n", rc, col,
		        len, why);
		abort();
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!db) {
		cnp_json_init();
		struct cnp_dbc_options opts = {.flags = CNP_DBC_QUIET | CNP_DBC_STRICT};
		struct cnp_dbc_error err;
		if (cnp_dbc_parse(dbc_text, sizeof(dbc_text) - 1, "fuzz.dbc", &opts, &db, &err) != CNP_OK) {
			fprintf(stderr, "fuzz_schemes: %s\n", err.text);
			abort();
		}
	}
	run_document(data, size);
	run_expression(data, size);
	return 0;
}
