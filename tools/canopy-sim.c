/*
 * canopy-sim: the traffic simulator on the command line.
 *
 *   canopy-sim --profile ev|ice [--seed N] [--duration S] [--start-time US]
 *              [--out FILE|-] [--stats]
 *       writes the simulated traffic as a candump log (`candump -l` format,
 *       exactly as canopy-decode prints frames); --stats adds per-bus and
 *       total frames/s, bytes/hour and bus load (on stdout when the log goes
 *       to a file, on stderr when it goes to stdout).
 *   canopy-sim --profile ev,ice --stats [--seed N] [--duration S]
 *       runs both profiles without writing a log and prints their volumes
 *       and the EV/ICE ratios.
 *   canopy-sim --profile ev|ice --dbc [--out FILE|-]
 *       writes the profile's DBC file (tools/sim/<profile>.dbc is this).
 *
 * Same profile, seed, start time and duration: the same bytes, on every
 * architecture, and the same frames as the agent's "sim" source.
 *
 * Writing onto a SocketCAN interface is left to can-utils: `canplayer -I
 * LOG vcan0=can0 vcan1=can1 vcan2=can2` replays the log at its recorded
 * pace, interface mapping included.
 */
#include "drivers/sim_model.h"
#include "firmware/alloc.h"
#include "firmware/candump.h"
#include "firmware/config.h"
#include "firmware/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct totals {
	const char *profile;
	double seconds;
	uint64_t frames, payload, text;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: canopy-sim --profile ev|ice [--seed N] [--duration S] [--start-time US]\n"
	        "                  [--out FILE|-] [--stats]\n"
	        "       canopy-sim --profile ev,ice --stats [--seed N] [--duration S]\n"
	        "       canopy-sim --profile ev|ice --dbc [--out FILE|-]\n"
	        "\n"
	        "Writes the simulated CAN traffic of an electric car with driver assistance\n"
	        "(\"ev\") or of a petrol car (\"ice\") as a candump log.\n"
	        "\n"
	        "  --profile P      ev, ice, or ev,ice (with --stats only: compare both)\n"
	        "  --seed N         seed of the simulation (default 1)\n"
	        "  --duration S     simulated seconds (default 60; 0: endless)\n"
	        "  --start-time US  simulated time of the start, microseconds since the\n"
	        "                   Unix epoch (default %llu)\n"
	        "  --out FILE       where the log (or DBC) goes; - is stdout (default)\n"
	        "  --stats          print frames/s, bytes/hour and bus load per bus\n"
	        "  --dbc            write the profile's DBC file instead of traffic\n"
	        "  --help, --version\n",
	        (unsigned long long)CNP_DEFAULT_SIM_START_US);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	if (!*s || *s == '-')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static void mb(char *out, size_t cap, double bytes)
{
	snprintf(out, cap, "%.2f", bytes / 1e6);
}

static const char *rate(char *out, size_t cap, const struct cnp_sim_bus *b)
{
	if (b->data_bitrate)
		snprintf(out, cap, "%uk/%uM", b->bitrate / 1000, b->data_bitrate / 1000000);
	else
		snprintf(out, cap, "%uk", b->bitrate / 1000);
	return out;
}

static void print_stats(FILE *f, const struct cnp_sim_model *m, uint64_t seed, double secs,
                        const uint64_t *text, struct totals *t)
{
	const struct cnp_sim_profile *p = cnp_sim_model_profile(m);
	struct cnp_sim_model_stats st;
	cnp_sim_model_get_stats(m, &st);
	fprintf(f, "profile %s: %s\n", p->name, p->title);
	fprintf(f, "seed %" PRIu64 ", %.0f s simulated; payload = CAN data bytes, candump = "
	           "`candump -l` text bytes with line ends; load = worst-case bit stuffing\n",
	        seed, secs);
	fprintf(f, "%-5s %-11s %-8s %10s %9s %12s %13s %13s %6s\n", "bus", "role", "bitrate",
	        "frames", "frames/s", "payload B/s", "payload MB/h", "candump MB/h", "load");
	uint64_t fr = 0, pl = 0, tx = 0;
	for (unsigned b = 0; b < p->n_buses; b++) {
		char r[32], m1[32], m2[32];
		mb(m1, sizeof(m1), (double)st.payload_bytes[b] * 3600.0 / secs);
		mb(m2, sizeof(m2), (double)text[b] * 3600.0 / secs);
		fprintf(f, "%-5s %-11s %-8s %10" PRIu64 " %9.1f %12.0f %13s %13s %5.1f%%\n",
		        p->buses[b].name, p->buses[b].role, rate(r, sizeof(r), &p->buses[b]),
		        st.frames[b], (double)st.frames[b] / secs, (double)st.payload_bytes[b] / secs,
		        m1, m2, (double)st.busy_ns[b] / (secs * 1e7));
		fr += st.frames[b];
		pl += st.payload_bytes[b];
		tx += text[b];
	}
	char m1[32], m2[32];
	mb(m1, sizeof(m1), (double)pl * 3600.0 / secs);
	mb(m2, sizeof(m2), (double)tx * 3600.0 / secs);
	fprintf(f, "%-5s %-11s %-8s %10" PRIu64 " %9.1f %12.0f %13s %13s\n", "all", "", "", fr,
	        (double)fr / secs, (double)pl / secs, m1, m2);
	if (st.saturated || st.fill_errors)
		fprintf(f, "warning: model bug: %" PRIu64 " values clamped, %" PRIu64 " fill errors\n",
		        st.saturated, st.fill_errors);
	if (t) {
		t->profile = p->name;
		t->seconds = secs;
		t->frames = fr;
		t->payload = pl;
		t->text = tx;
	}
}

/* Runs one profile; writes the log to `out` unless NULL. */
static int run(const char *profile, uint64_t seed, uint64_t start_us, uint64_t duration_us,
               FILE *out, const char *out_name, FILE *stats, struct totals *t)
{
	struct cnp_sim_model *m = NULL;
	int rc = cnp_sim_model_create(profile, seed, start_us, duration_us, &m);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-sim: %s\n",
		        rc == CNP_ERR_INVAL ? "unknown profile (known: ev, ice)" : cnp_strerror(rc));
		return 1;
	}
	const struct cnp_sim_profile *p = cnp_sim_model_profile(m);
	size_t name_len[CNP_SIM_MAX_BUSES];
	for (unsigned b = 0; b < p->n_buses; b++)
		name_len[b] = strlen(p->buses[b].name);
	uint64_t text[CNP_SIM_MAX_BUSES] = {0};
	struct cnp_frame f;
	char line[CNP_CANDUMP_LINE_MAX];
	int status = 0;
	while (cnp_sim_model_next(m, &f) == CNP_OK) {
		unsigned b = f.iface;
		if (out) {
			size_t len = 0;
			if (cnp_candump_format(&f, p->buses[b].name, line, sizeof(line), &len) != CNP_OK ||
			    fwrite(line, 1, len, out) != len) {
				fprintf(stderr, "canopy-sim: %s: write failed: %s\n", out_name, strerror(errno));
				status = 1;
				break;
			}
			text[b] += len;
		} else {
			text[b] += cnp_candump_text_len(&f, name_len[b]);
		}
	}
	if (stats && status == 0)
		print_stats(stats, m, seed, (double)duration_us / 1e6, text, t);
	cnp_sim_model_destroy(m);
	return status;
}

static int write_dbc(const char *profile, FILE *out, const char *out_name)
{
	struct cnp_sim_profile *p = NULL;
	int rc = cnp_sim_profile_create(profile, &p);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-sim: %s\n",
		        rc == CNP_ERR_INVAL ? "unknown profile (known: ev, ice)" : cnp_strerror(rc));
		return 1;
	}
	char *text = NULL;
	size_t len = 0;
	rc = cnp_sim_dbc_write(p, &text, &len);
	cnp_sim_profile_destroy(p);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-sim: %s\n", cnp_strerror(rc));
		return 1;
	}
	int status = fwrite(text, 1, len, out) == len ? 0 : 1;
	if (status)
		fprintf(stderr, "canopy-sim: %s: write failed: %s\n", out_name, strerror(errno));
	cnp_free(text);
	return status;
}

int main(int argc, char **argv)
{
	const char *profile = NULL, *out_name = "-";
	uint64_t seed = 1, start_us = CNP_DEFAULT_SIM_START_US;
	double duration_s = 60;
	int stats = 0, dbc = 0, out_given = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "--version") == 0) {
			printf("canopy-sim %s\n", CANOPY_VERSION);
			return 0;
		}
		if (strcmp(a, "--stats") == 0) {
			stats = 1;
			continue;
		}
		if (strcmp(a, "--dbc") == 0) {
			dbc = 1;
			continue;
		}
		if (!v || (strcmp(a, "--profile") && strcmp(a, "--seed") && strcmp(a, "--duration") &&
		           strcmp(a, "--start-time") && strcmp(a, "--out"))) {
			fprintf(stderr, "canopy-sim: %s: %s\n", a,
			        v ? "unknown option" : "unknown option or missing value");
			usage(stderr);
			return 2;
		}
		i++;
		if (strcmp(a, "--profile") == 0) {
			profile = v;
		} else if (strcmp(a, "--seed") == 0) {
			if (parse_u64(v, &seed)) {
				fprintf(stderr, "canopy-sim: --seed: expected an unsigned integer, got \"%s\"\n", v);
				return 2;
			}
		} else if (strcmp(a, "--duration") == 0) {
			char *end = NULL;
			duration_s = strtod(v, &end);
			if (!*v || *end || !(duration_s >= 0) || duration_s > 1e7) {
				fprintf(stderr, "canopy-sim: --duration: expected 0 (endless) to 1e7 seconds, "
				                "got \"%s\"\n", v);
				return 2;
			}
		} else if (strcmp(a, "--start-time") == 0) {
			if (parse_u64(v, &start_us) || start_us > UINT64_MAX / 2) {
				fprintf(stderr, "canopy-sim: --start-time: expected microseconds since the "
				                "epoch, got \"%s\"\n", v);
				return 2;
			}
		} else {
			out_name = v;
			out_given = 1;
		}
	}
	if (!profile) {
		fprintf(stderr, "canopy-sim: --profile is required (ev or ice)\n");
		usage(stderr);
		return 2;
	}
	int both = strcmp(profile, "ev,ice") == 0 || strcmp(profile, "ice,ev") == 0;
	if (!both && strcmp(profile, "ev") && strcmp(profile, "ice")) {
		fprintf(stderr, "canopy-sim: --profile: unknown profile \"%s\" (known: ev, ice, ev,ice)\n",
		        profile);
		return 2;
	}
	if (both && (!stats || dbc || out_given)) {
		fprintf(stderr, "canopy-sim: --profile ev,ice compares the profiles: it needs --stats "
		                "and takes neither --out nor --dbc\n");
		return 2;
	}
	uint64_t duration_us = (uint64_t)(duration_s * 1e6 + 0.5);
	if (stats && duration_us == 0) {
		fprintf(stderr, "canopy-sim: --stats needs a finite --duration\n");
		return 2;
	}

	if (both) {
		struct totals ev = {0}, ice = {0};
		if (run("ev", seed, start_us, duration_us, NULL, NULL, stdout, &ev) ||
		    (printf("\n"), run("ice", seed, start_us, duration_us, NULL, NULL, stdout, &ice)))
			return 1;
		printf("\nEV/ICE ratio: frames/s %.1f, payload bytes %.1f, candump text bytes %.1f\n",
		       (double)ev.frames / (double)ice.frames, (double)ev.payload / (double)ice.payload,
		       (double)ev.text / (double)ice.text);
		return 0;
	}

	FILE *out = stdout;
	if (strcmp(out_name, "-") != 0) {
		out = fopen(out_name, "wb");
		if (!out) {
			fprintf(stderr, "canopy-sim: %s: cannot open: %s\n", out_name, strerror(errno));
			return 1;
		}
	}
	static char obuf[1 << 20];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));
	int status = dbc ? write_dbc(profile, out, out_name)
	                 : run(profile, seed, start_us, duration_us, out, out_name,
	                       stats ? (out == stdout ? stderr : stdout) : NULL, NULL);
	if (fflush(out) != 0 || (out != stdout && fclose(out) != 0)) {
		if (status == 0)
			fprintf(stderr, "canopy-sim: %s: write failed: %s\n", out_name, strerror(errno));
		status = 1;
	}
	return status;
}
