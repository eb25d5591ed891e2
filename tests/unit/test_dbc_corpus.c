/*
 * DBC conformance on the cantools corpus ($CANOPY_DATA/dbc-corpus/cantools,
 * 83 files) and on the DBC files of the shared traces. Skips (77) when the
 * data is absent.
 *
 * Expected message counts are cantools 42.0.3's, from MANIFEST.md (strict
 * and non-strict); expected signal counts are what Debian's python3-canmatrix
 * loads (tests/tools/dbc_counts_canmatrix.py). canopy's strict mode matches
 * cantools' strict mode on every file; its lenient mode differs on the files
 * in `deviations` only, on purpose (docs/DBC.md).
 */
#include "check.h"

#include "firmware/dbc.h"
#include "firmware/error.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* file, cantools strict / non-strict messages (-1: refused), signals */
static const struct {
	const char *file;
	int strict_msgs, msgs, sigs;
} corpus[] = {
	{"abs.dbc", 18, 18, 89},
	{"add_two_dbc_files_1.dbc", 2, 2, 0},
	{"add_two_dbc_files_2.dbc", 1, 1, 0},
	{"attribute_Event.dbc", 1, 1, 1},
	{"attributes.dbc", 2, 2, 2},
	{"bad_message_length.dbc", -1, 1, 1},
	{"big_numbers.dbc", 2, 2, 2},
	{"BU_BO_REL_.dbc", 1, 1, 1},
	{"BU_BO_REL_Message.dbc", 1, 1, 1},
	{"bus_comment.dbc", 1, 1, 12},
	{"bus_comment_bare.dbc", 0, 0, 0},
	{"bus_comment_bare_out.dbc", 0, 0, 0},
	{"CamelCaseEmpty.dbc", 1, 1, 0},
	{"choices.dbc", 1, 1, 1},
	{"choices_issue_with_name.dbc", 1, 1, 1},
	{"comments_hex_and_motorola_converted_from_sym.dbc", 2, 2, 11},
	{"cp1252.dbc", 0, 0, 0},
	{"dump_signal_choices.dbc", 1, 1, 2},
	{"emc32.dbc", 1, 1, 5},
	{"empty_choice.dbc", 1, 1, 3},
	{"empty_ns.dbc", 0, 0, 0},
	{"fd_test.dbc", 4, 4, 4},
	{"fd_test_int.dbc", 4, 4, 4},
	{"floating_point.dbc", 2, 2, 3},
	{"floating_point_use_float.dbc", 3, 3, 4},
	{"foobar.dbc", 5, 5, 8},
	{"is_in_phys_range.dbc", 2, 2, 4},
	{"issue_163_newline.dbc", 1, 1, 0},
	{"issue_168.DBC", 5, 5, 8},
	{"issue_184_extended_mux_cascaded.dbc", 1, 1, 5},
	{"issue_184_extended_mux_cascaded_dumped.dbc", 1, 1, 5},
	{"issue_184_extended_mux_independent_multiplexors.dbc", 1, 1, 6},
	{"issue_184_extended_mux_independent_multiplexors_dumped.dbc", 1, 1, 6},
	{"issue_184_extended_mux_multiple_values.dbc", 1, 1, 4},
	{"issue_184_extended_mux_multiple_values_dumped.dbc", 1, 1, 4},
	{"issue_199.dbc", -1, -1, 0},
	{"issue_199_extended.dbc", -1, -1, 25},
	{"issue_207_sig_plus.dbc", 1, 1, 2},
	{"issue_228.dbc", 2, 2, 5},
	{"issue_62.dbc", 0, 0, 0},
	{"issue_63.dbc", -1, 1, 6},
	{"issue_636_negative_scaling.dbc", 1, 1, 1},
	{"issue_725.dbc", 1, 1, 1},
	{"issue_784.dbc", 2, 2, 3},
	{"j1939.dbc", 2, 2, 2},
	{"long_names.dbc", 10, 10, 13},
	{"long_names_multiple_relations.dbc", 8, 8, 13},
	{"long_names_multiple_relations_dumped.dbc", 8, 8, 13},
	{"message-dlc-zero.dbc", 1, 1, 0},
	{"mod_name_len_dest.dbc", 1, 1, 1},
	{"mod_name_len_src.dbc", 1, 1, 1},
	{"motohawk.dbc", 1, 1, 3},
	{"motohawk_fd.dbc", 1, 1, 3},
	{"motohawk_use_round.dbc", 1, 1, 3},
	{"motohawk_with_comments.dbc", 1, 1, 3},
	{"msxii_system_can.dbc", 1, 1, 73},
	{"multiple_senders.dbc", 1, 1, 1},
	{"multiplex.dbc", 1, 1, 12},
	{"multiplex_2.dbc", 4, 4, 19},
	{"multiplex_2_dumped.dbc", 4, 4, 19},
	{"multiplex_choices.dbc", 3, 3, 29},
	{"multiplex_choices_dumped.dbc", 3, 3, 29},
	{"multiplex_dumped.dbc", 1, 1, 12},
	{"no_sender.dbc", 1, 1, 1},
	{"no_signals.dbc", 2, 2, 0},
	{"open_actuator.dbc", 5, 5, 21},
	{"padding_bit_order.dbc", 5, 5, 13},
	{"relation_attributes.dbc", 2, 2, 2},
	{"sig_groups.dbc", 4, 4, 10},
	{"sig_groups_del.dbc", 4, 4, 10},
	{"sig_groups_out.dbc", 4, 4, 10},
	{"signed.dbc", 11, 11, 18},
	{"socialledge-written-by-cantools-with-default-sort-signals.dbc", 5, 5, 19},
	{"socialledge-written-by-cantools-with-sort-signals-by-name.dbc", 5, 5, 19},
	{"socialledge-written-by-cantools.dbc", 5, 5, 19},
	{"socialledge.dbc", 5, 5, 19},
	{"test_extended_id_dump.dbc", 2, 2, 2},
	{"test_multiplex_dump.dbc", 1, 1, 3},
	{"timing.dbc", 2, 2, 2},
	{"val_table.dbc", 1, 1, 1},
	{"variable_dlc.dbc", 2, 2, 8},
	{"vehicle.dbc", 217, 217, 462},
	{"vframeformat_int.dbc", 2, 2, 2},
};

/*
 * Lenient mode loads these, where cantools refuses them even non-strict
 * (docs/DBC.md): messages and signals canopy keeps, and the warnings.
 */
static const struct {
	const char *file;
	int msgs, sigs;
	unsigned warnings;
} deviations[] = {
	/* eleven 29-bit ids written without bit 31: read as 29-bit ids */
	{"issue_199.dbc", 11, 25, 11},
	/* one id with bit 31 set is 0x7FFFFFFF, over 29 bits: that message
	 * is skipped (1 signal), the other ten have the same problem as in
	 * issue_199.dbc */
	{"issue_199_extended.dbc", 10, 24, 11},
};

/* The DBC files of the shared traces (lenient counts; strict: loads?). */
static const struct {
	const char *file;
	int msgs, sigs, strict_ok;
} traces[] = {
	{"honda_civic_type_r_2019.dbc", 48, 369, 1}, /* a dangling CM_: a note */
	{"hyundai_kona_ev_2019.dbc", 107, 445, 1},   /* no BS_ / BU_ */
	{"hyundai_kona_ev_2019.can1.dbc", 2, 1, 1},
	{"j1939_stationary_canedge.dbc", 2, 2, 1},
	{"nissan_leaf_2019_uds_canedge.dbc", 1, 6, 1},
	{"nissan_leaf_2019_uds_canedge.can1.dbc", 9, 39, 1},
	{"toyota_rav4_2017_comma2k19.dbc", 58, 353, 0}, /* overlapping signals */
	{"toyota_rav4_2017_comma2k19.can1.dbc", 33, 179, 1},
};

static void count_warning(void *arg, const char *text)
{
	(void)text;
	++*(unsigned *)arg;
}

static int load(const char *path, unsigned flags, unsigned *warnings, struct cnp_dbc **db,
                struct cnp_dbc_error *err)
{
	struct cnp_dbc_options o = {.flags = flags, .warn = count_warning, .warn_arg = warnings};
	*warnings = 0;
	return cnp_dbc_load(path, &o, db, err);
}

/* A refusal names the file and a line: "PATH:LINE: reason". */
static int names_file_and_line(const struct cnp_dbc_error *err, const char *path)
{
	size_t n = strlen(path);
	return strncmp(err->text, path, n) == 0 && err->text[n] == ':' && err->line > 0 &&
	       atoi(err->text + n + 1) == (int)err->line && strlen(err->text) > n + 8;
}

static void test_corpus(const char *dir)
{
	unsigned loads = 0, refusals = 0, strict_loads = 0, strict_refusals = 0;
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		char path[2048], what[160];
		snprintf(path, sizeof(path), "%s/%s", dir, corpus[i].file);
		int msgs = corpus[i].msgs, sigs = corpus[i].sigs;
		int dev = 0;
		unsigned dev_warnings = 0;
		for (size_t k = 0; k < sizeof(deviations) / sizeof(deviations[0]); k++)
			if (strcmp(deviations[k].file, corpus[i].file) == 0) {
				msgs = deviations[k].msgs;
				sigs = deviations[k].sigs;
				dev_warnings = deviations[k].warnings;
				dev = 1;
			}
		struct cnp_dbc *db;
		struct cnp_dbc_error err;
		unsigned warnings;
		/* lenient: cantools non-strict (or the documented deviation) */
		int rc = load(path, 0, &warnings, &db, &err);
		snprintf(what, sizeof(what), "%s lenient: want %d messages %d signals", corpus[i].file,
		         msgs, sigs);
		if (msgs < 0) {
			check_report(rc == CNP_ERR_INVAL && names_file_and_line(&err, path), __FILE__,
			             __LINE__, what, err.text);
			refusals++;
		} else {
			char got[600];
			snprintf(got, sizeof(got), "rc %d, %u messages, %u signals; %s", rc,
			         db ? cnp_dbc_message_count(db) : 0, db ? cnp_dbc_signal_count(db) : 0,
			         err.text);
			check_report(rc == CNP_OK && (int)cnp_dbc_message_count(db) == msgs &&
			                     (int)cnp_dbc_signal_count(db) == sigs,
			             __FILE__, __LINE__, what, got);
			if (dev)
				check_report(warnings == dev_warnings, __FILE__, __LINE__, what,
				             "deviation warnings");
			loads++;
			cnp_dbc_free(db);
		}
		/* strict: cantools strict, refusals with file and line */
		rc = load(path, CNP_DBC_STRICT, &warnings, &db, &err);
		snprintf(what, sizeof(what), "%s strict: want %d messages", corpus[i].file,
		         corpus[i].strict_msgs);
		if (corpus[i].strict_msgs < 0) {
			check_report(rc == CNP_ERR_INVAL && !db && names_file_and_line(&err, path),
			             __FILE__, __LINE__, what, err.text);
			strict_refusals++;
		} else {
			check_report(rc == CNP_OK && (int)cnp_dbc_message_count(db) == corpus[i].strict_msgs &&
			                     (int)cnp_dbc_signal_count(db) == corpus[i].sigs,
			             __FILE__, __LINE__, what, err.text);
			strict_loads++;
			cnp_dbc_free(db);
		}
	}
	printf("cantools corpus: lenient %u load, %u refused; strict %u load, %u refused\n", loads,
	       refusals, strict_loads, strict_refusals);
}

/* Every file of the corpus folder is in the table (and nothing else). */
static void test_corpus_complete(const char *dir)
{
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	if (!d)
		return;
	unsigned files = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		files++;
		int known = 0;
		for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
			known |= strcmp(corpus[i].file, e->d_name) == 0;
		check_report(known, __FILE__, __LINE__, "corpus file in the table", e->d_name);
	}
	closedir(d);
	CHECK_EQ(files, sizeof(corpus) / sizeof(corpus[0]));
}

static void test_traces(const char *dir)
{
	for (size_t i = 0; i < sizeof(traces) / sizeof(traces[0]); i++) {
		char path[2048];
		snprintf(path, sizeof(path), "%s/%s", dir, traces[i].file);
		struct cnp_dbc *db;
		struct cnp_dbc_error err;
		unsigned warnings;
		int rc = load(path, 0, &warnings, &db, &err);
		check_report(rc == CNP_OK && (int)cnp_dbc_message_count(db) == traces[i].msgs &&
		                     (int)cnp_dbc_signal_count(db) == traces[i].sigs,
		             __FILE__, __LINE__, traces[i].file, err.text);
		cnp_dbc_free(db);
		rc = load(path, CNP_DBC_STRICT, &warnings, &db, &err);
		check_report((rc == CNP_OK) == traces[i].strict_ok &&
		                     (rc == CNP_OK || names_file_and_line(&err, path)),
		             __FILE__, __LINE__, traces[i].file, err.text);
		cnp_dbc_free(db);
	}
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Load time of vehicle.dbc (72 KB, 217 messages), printed for the record. */
static void time_vehicle(const char *dir)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/vehicle.dbc", dir);
	double t[21];
	for (int i = 0; i < 21; i++) {
		struct cnp_dbc *db;
		struct cnp_dbc_error err;
		double a = now_ms();
		int rc = cnp_dbc_load(path, NULL, &db, &err);
		t[i] = now_ms() - a;
		if (rc) {
			CHECK_EQ(rc, CNP_OK);
			return;
		}
		cnp_dbc_free(db);
	}
	qsort(t, 21, sizeof(t[0]), cmp_double);
	printf("vehicle.dbc (72 KB, 217 messages, 462 signals): load %.3f ms median, %.3f ms "
	       "fastest of 21\n", t[10], t[0]);
}

int main(void)
{
	const char *data = check_data_dir();
	char corpus_dir[1024], traces_dir[1024];
	if (!data) {
		printf("SKIP: no shared data (set CANOPY_DATA)\n");
		return 77;
	}
	snprintf(corpus_dir, sizeof(corpus_dir), "%s/dbc-corpus/cantools", data);
	snprintf(traces_dir, sizeof(traces_dir), "%s/traces", data);
	DIR *d = opendir(corpus_dir);
	if (!d) {
		printf("SKIP: no DBC corpus in %s\n", corpus_dir);
		return 77;
	}
	closedir(d);
	test_corpus_complete(corpus_dir);
	test_corpus(corpus_dir);
	if ((d = opendir(traces_dir))) {
		closedir(d);
		test_traces(traces_dir);
	}
	time_vehicle(corpus_dir);
	return check_finish();
}
