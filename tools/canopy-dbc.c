/*
 * canopy-dbc: load a DBC file the way the agent does, and decode a candump
 * log with it.
 *
 *   canopy-dbc [--strict] [--quiet] DBC
 *       check the file; print "messages N signals N warnings N"
 *   canopy-dbc [--strict] [--quiet] --list DBC
 *       also list every message and signal
 *   canopy-dbc [--strict] [--quiet] [--interface IF] DBC LOG
 *       decode LOG ("-": standard input) to CSV on standard output:
 *       timestamp,interface,id,message,signal,value
 *
 * Warnings and errors go to standard error. Exit status: 0 done, 1 the DBC
 * or the log could not be read, 2 usage.
 */
#include "firmware/candump.h"
#include "firmware/dbc.h"
#include "firmware/error.h"
#include "platform/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fputs("usage: canopy-dbc [--strict] [--quiet] [--list] DBC\n"
	      "       canopy-dbc [--strict] [--quiet] [--interface IF] DBC LOG|-\n"
	      "Checks a DBC file, or decodes a candump log with it to CSV\n"
	      "(timestamp,interface,id,message,signal,value).\n",
	      f);
}

struct row {
	FILE *out;
	const char *ts;
	const char *ifname;
	const char *id;
	const struct cnp_dbc_message *msg;
	unsigned long long signals;
};

/*
 * One CSV row. An integer signal without scaling is printed from its raw
 * bits (exact up to 64 bits); anything else as the double, with 17
 * significant digits so that it reads back to the same value.
 */
static int emit(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	struct row *r = arg;
	fprintf(r->out, "%s,%s,%s,%s,%s,", r->ts, r->ifname, r->id, r->msg->name, sig->name);
	if (sig->value_type == CNP_DBC_INTEGER && sig->scale == 1.0 && sig->offset == 0.0) {
		if (sig->is_signed)
			fprintf(r->out, "%" PRId64 "\n", (int64_t)raw);
		else
			fprintf(r->out, "%" PRIu64 "\n", raw);
	} else {
		fprintf(r->out, "%.17g\n", phys);
	}
	r->signals++;
	return 0;
}

static void list(const struct cnp_dbc *db)
{
	for (unsigned i = 0; i < cnp_dbc_message_count(db); i++) {
		const struct cnp_dbc_message *m = cnp_dbc_message_at(db, i);
		printf("BO_ %s id=0x%0*X%s%s%s", m->name, (m->flags & CNP_DBC_MSG_EXT) ? 8 : 3,
		       (unsigned)m->id, (m->flags & CNP_DBC_MSG_EXT) ? " ext" : "",
		       (m->flags & CNP_DBC_MSG_FD) ? " fd" : "",
		       (m->flags & CNP_DBC_MSG_J1939) ? " j1939" : "");
		if (m->flags & CNP_DBC_MSG_J1939)
			printf(" pgn=0x%05X", (unsigned)m->pgn);
		printf(" length=%u", m->length);
		if (m->cycle_time_ms)
			printf(" cycle=%" PRIu32 "ms", m->cycle_time_ms);
		printf(" signals=%u\n", m->n_signals);
		for (unsigned k = 0; k < m->n_signals; k++) {
			const struct cnp_dbc_signal *s = &m->signals[k];
			printf("  SG_ %s %u|%u@%u%c (%.17g,%.17g) [%.17g|%.17g] \"%s\"", s->name,
			       s->start, s->length, s->byte_order, s->is_signed ? '-' : '+', s->scale,
			       s->offset, s->minimum, s->maximum, s->unit);
			if (s->value_type)
				printf(" %s", s->value_type == CNP_DBC_FLOAT32 ? "float" : "double");
			if (s->mux & CNP_DBC_MUXOR)
				printf(" multiplexor");
			if (s->multiplexor) {
				printf(" when %s in", s->multiplexor->name);
				for (unsigned j = 0; j < s->n_mux_ranges; j++)
					printf("%s%" PRId64 "-%" PRId64, j ? "," : " ", s->mux_ranges[j].lo,
					       s->mux_ranges[j].hi);
			}
			if (s->n_choices)
				printf(" choices=%u", s->n_choices);
			printf("\n");
		}
	}
}

static int decode_log(const struct cnp_dbc *db, const char *path, const char *only_if)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!in) {
		fprintf(stderr, "canopy-dbc: %s: cannot open\n", path);
		return 1;
	}
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	printf("timestamp,interface,id,message,signal,value\n");
	char line[CNP_CANDUMP_LINE_MAX + 8];
	unsigned long long lineno = 0, frames = 0, matched = 0, bad = 0;
	struct row r = {.out = stdout};
	while (fgets(line, sizeof(line), in)) {
		lineno++;
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (!n)
			continue;
		struct cnp_frame f;
		struct cnp_candump_line info;
		if (cnp_candump_parse(line, n, &f, &info) != CNP_OK) {
			if (bad++ < 10)
				fprintf(stderr, "canopy-dbc: %s:%llu:%u: %s\n", path, lineno,
				        info.column, info.why);
			continue;
		}
		char ifname[32];
		snprintf(ifname, sizeof(ifname), "%.*s", (int)info.ifname_len, info.ifname);
		if (only_if && strcmp(ifname, only_if) != 0)
			continue;
		frames++;
		if (f.flags & (CNP_FRAME_RTR | CNP_FRAME_ERR))
			continue;
		const struct cnp_dbc_message *m =
			cnp_dbc_find(db, f.id, (f.flags & CNP_FRAME_EXT) != 0);
		if (!m)
			continue;
		matched++;
		char ts[32], id[16];
		snprintf(ts, sizeof(ts), "%" PRIu64 ".%06" PRIu64, f.ts_us / 1000000u,
		         f.ts_us % 1000000u);
		snprintf(id, sizeof(id), (f.flags & CNP_FRAME_EXT) ? "%08" PRIX32 : "%03" PRIX32, f.id);
		r.ts = ts;
		r.ifname = ifname;
		r.id = id;
		r.msg = m;
		cnp_dbc_decode(m, f.data, f.len, emit, &r);
	}
	int rc = ferror(in) ? 1 : 0;
	if (in != stdin)
		fclose(in);
	if (fflush(stdout) != 0)
		rc = 1;
	fprintf(stderr, "canopy-dbc: %s: frames %llu, matched %llu, signals %llu, bad lines %llu\n",
	        path, frames, matched, r.signals, bad);
	if (rc)
		fprintf(stderr, "canopy-dbc: %s: read or write error\n", path);
	return rc;
}

int main(int argc, char **argv)
{
	struct cnp_dbc_options opts = {0};
	const char *only_if = NULL;
	int do_list = 0, i;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (strcmp(argv[i], "--strict") == 0) {
			opts.flags |= CNP_DBC_STRICT;
		} else if (strcmp(argv[i], "--quiet") == 0) {
			opts.flags |= CNP_DBC_QUIET;
		} else if (strcmp(argv[i], "--list") == 0) {
			do_list = 1;
		} else if (strcmp(argv[i], "--interface") == 0 && i + 1 < argc) {
			only_if = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - i < 1 || argc - i > 2) {
		usage(stderr);
		return 2;
	}
	if (!(opts.flags & CNP_DBC_QUIET))
		cnp_log_set_level(CNP_LOG_WARN);
	struct cnp_dbc *db;
	struct cnp_dbc_error err;
	int rc = cnp_dbc_load(argv[i], &opts, &db, &err);
	if (rc) {
		fprintf(stderr, "canopy-dbc: error: %s\n", err.text);
		return 1;
	}
	if (argc - i == 1) {
		printf("messages %u signals %u warnings %u\n", cnp_dbc_message_count(db),
		       cnp_dbc_signal_count(db), cnp_dbc_warning_count(db));
		if (do_list)
			list(db);
		cnp_dbc_free(db);
		return 0;
	}
	rc = decode_log(db, argv[i + 1], only_if);
	cnp_dbc_free(db);
	return rc;
}
