/* The traffic simulator: its tables, determinism (within a run, across
 * runs and, through a digest constant, across architectures), duration,
 * cycle times, counters, checksums, CAN FD lengths, the EV-versus-petrol
 * volume, pacing, the committed DBC files and allocation failures. The
 * bit extraction and checksums here are written independently of the
 * model's own. */
#include "check.h"

#include "drivers/sim_model.h"
#include "drivers/source.h"
#include "firmware/alloc.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "platform/clock.h"
#include "platform/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START CNP_DEFAULT_SIM_START_US

/* ---- helpers ------------------------------------------------------------------ */

static struct cnp_sim_model *model(const char *profile, uint64_t seed, double seconds)
{
	struct cnp_sim_model *m = NULL;
	int rc = cnp_sim_model_create(profile, seed, START, (uint64_t)(seconds * 1e6), &m);
	CHECK_EQ(rc, CNP_OK);
	if (rc != CNP_OK) {
		fprintf(stderr, "cannot create a %s model\n", profile);
		exit(1);
	}
	return m;
}

/* Raw value of a signal, read the way a DBC reader does: Intel from the
 * little-endian bit string, Motorola as a run of the big-endian bit string
 * that starts at the msb. */
static uint64_t get_raw(const uint8_t *d, unsigned len, const struct cnp_sim_signal *s)
{
	uint64_t v = 0;
	if (!(s->flags & CNP_SIM_SIG_MOTOROLA)) {
		for (unsigned i = 0; i < s->size; i++) {
			unsigned p = s->start + i;
			if (p / 8 < len && (d[p / 8] >> (p % 8)) & 1u)
				v |= (uint64_t)1 << i;
		}
		return v;
	}
	unsigned be = (s->start / 8) * 8 + (7 - s->start % 8); /* msb in big-endian order */
	for (unsigned i = 0; i < s->size; i++) {
		unsigned q = be + i, byte = q / 8, bit = 7 - q % 8;
		v = (v << 1) | (byte < len ? (uint64_t)((d[byte] >> bit) & 1u) : 0u);
	}
	return v;
}

static const struct cnp_sim_message *find_msg(const struct cnp_sim_profile *p,
                                              const struct cnp_frame *f)
{
	for (unsigned i = 0; i < p->n_messages; i++)
		if (p->messages[i].id == f->id &&
		    p->messages[i].ext == ((f->flags & CNP_FRAME_EXT) != 0))
			return &p->messages[i];
	return NULL;
}

static const struct cnp_sim_signal *find_sig(const struct cnp_sim_message *m, unsigned flag)
{
	for (unsigned i = 0; i < m->n_signals; i++)
		if (m->signals[i].flags & flag)
			return &m->signals[i];
	return NULL;
}

/* CRC-8/SAE-J1850, table-free; its check value is tested below. */
static uint8_t crc8(const uint8_t *d, size_t n, uint8_t crc)
{
	for (size_t i = 0; i < n; i++) {
		crc ^= d[i];
		for (int k = 0; k < 8; k++)
			crc = (uint8_t)(crc & 0x80 ? (unsigned)(crc << 1) ^ 0x1Du : (unsigned)(crc << 1));
	}
	return crc;
}

static void format(const struct cnp_sim_profile *p, const struct cnp_frame *f, char *line,
                   size_t *len)
{
	CHECK_EQ(cnp_candump_format(f, p->buses[f->iface].name, line, CNP_CANDUMP_LINE_MAX, len),
	         CNP_OK);
}

/* ---- the tables -------------------------------------------------------------------- */

static void test_tables(void)
{
	struct cnp_sim_profile *p = NULL;
	CHECK_EQ(cnp_sim_profile_create("diesel", &p), CNP_ERR_INVAL);
	CHECK(p == NULL);
	for (int k = 0; cnp_sim_profile_names[k]; k++) {
		const char *name = cnp_sim_profile_names[k];
		CHECK_EQ(cnp_sim_profile_create(name, &p), CNP_OK);
		if (!p)
			continue;
		CHECK_STR(p->name, name);
		unsigned cells = 0, temps = 0, fd64 = 0, nsig = 0;
		for (unsigned i = 0; i < p->n_messages; i++) {
			const struct cnp_sim_message *m = &p->messages[i];
			CHECK(m->bus < p->n_buses);
			CHECK(m->fd == (p->buses[m->bus].data_bitrate > 0));
			CHECK(m->fd ? cnp_frame_fd_len_valid(m->len) && m->len <= 64 : m->len <= 8);
			CHECK(m->ext ? m->id <= 0x1FFFFFFFu && m->id > 0x7FFu : m->id <= 0x7FFu);
			CHECK(m->period_us >= 10000 && m->period_us <= 1000000);
			CHECK(m->tx_ns > 0);
			fd64 += m->fd && m->len == 64;
			for (unsigned j = 0; j < m->n_signals; j++) {
				const struct cnp_sim_signal *s = &m->signals[j];
				nsig++;
				CHECK(s->raw_min <= s->raw_max);
				if (strncmp(s->name, "BMS_Cell", 8) == 0 && strstr(s->name, "_V"))
					cells++;
				if (strncmp(s->name, "BMS_Temp", 8) == 0 && s->mux >= 0)
					temps++;
				/* names are unique in the profile (checked pairwise within
				 * the message and against every later message) */
				for (unsigned i2 = i; i2 < p->n_messages; i2++)
					for (unsigned j2 = i2 == i ? j + 1 : 0; j2 < p->messages[i2].n_signals; j2++)
						if (strcmp(s->name, p->messages[i2].signals[j2].name) == 0)
							check_report(0, __FILE__, __LINE__, "unique signal name", s->name);
			}
		}
		printf("profile %s: %u messages, %u signals, %u nodes, %u 64-byte FD messages\n", name,
		       p->n_messages, nsig, p->n_nodes, fd64);
		if (strcmp(name, "ev") == 0) {
			CHECK_EQ(p->n_buses, 3);
			CHECK(cells >= 96 && cells <= 108);
			CHECK(temps >= 24);
			CHECK(fd64 >= 30);
		} else {
			CHECK_EQ(p->n_buses, 2);
			CHECK_EQ(fd64, 0);
			CHECK_EQ(cells, 0);
		}
		cnp_sim_profile_destroy(p);
		p = NULL;
	}
}

/* ---- determinism --------------------------------------------------------------------- */

static void test_determinism(void)
{
	for (int k = 0; cnp_sim_profile_names[k]; k++) {
		const char *name = cnp_sim_profile_names[k];
		struct cnp_sim_model *a = model(name, 42, 30), *b = model(name, 42, 30),
		                     *c = model(name, 43, 30);
		struct cnp_frame fa, fb, fc;
		uint64_t n = 0, same_c = 0;
		int ra, rb, rc, diff = 0;
		for (;;) {
			ra = cnp_sim_model_next(a, &fa);
			rb = cnp_sim_model_next(b, &fb);
			rc = cnp_sim_model_next(c, &fc);
			if (ra != rb) {
				diff = 1;
				break;
			}
			if (ra != CNP_OK)
				break;
			n++;
			if (memcmp(&fa, &fb, sizeof(fa)) != 0)
				diff = 1;
			if (rc == CNP_OK && fa.ts_us == fc.ts_us && fa.id == fc.id &&
			    memcmp(fa.data, fc.data, fa.len) == 0)
				same_c++;
		}
		CHECK_EQ(ra, CNP_ERR_EOF);
		CHECK(!diff);
		CHECK(n > 10000);
		/* another seed: other phases, jitter, drive and noise */
		CHECK(same_c < n / 10);
		printf("%s: %llu frames in 30 s identical for the same seed; %llu of them also "
		       "with another seed\n", name, (unsigned long long)n, (unsigned long long)same_c);
		cnp_sim_model_destroy(a);
		cnp_sim_model_destroy(b);
		cnp_sim_model_destroy(c);
	}
}

/* The same frames through the source, with the interface table mapping. */
static void test_source(void)
{
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	CHECK_EQ(cnp_ifaces_intern(&ifaces, "vcan9", 5, &idx), CNP_OK);
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "sim");
	snprintf(sc.profile, sizeof(sc.profile), "ev");
	sc.seed = 5;
	sc.duration_s = 10;
	sc.start_time_us = START;
	sc.pace = CNP_PACE_MAX;
	sc.speed = 1.0;
	struct cnp_source *src = NULL;
	CHECK_EQ(cnp_source_create(&sc, &ifaces, &src), CNP_OK);
	if (!src)
		return;
	CHECK_STR(src->ops->type, "sim");
	CHECK_EQ(ifaces.count, 4);
	CHECK_STR(ifaces.names[1], "can0");
	CHECK_STR(ifaces.names[3], "can2");
	struct cnp_sim_model *m = model("ev", 5, 10);
	struct cnp_frame buf[300], want;
	uint64_t total = 0;
	int rc, mismatch = 0;
	do {
		size_t n = 0;
		uint64_t wait = 0;
		rc = src->ops->read(src, buf, 300, &n, &wait);
		CHECK(rc == CNP_OK || rc == CNP_ERR_EOF);
		CHECK(n > 0 || rc == CNP_ERR_EOF);
		CHECK_EQ(wait, 0);
		for (size_t i = 0; i < n; i++) {
			if (cnp_sim_model_next(m, &want) != CNP_OK) {
				mismatch = 1;
				break;
			}
			want.iface = (uint8_t)(want.iface + 1);
			mismatch |= memcmp(&want, &buf[i], sizeof(want)) != 0;
		}
		total += n;
	} while (rc == CNP_OK && total < 10000000);
	CHECK_EQ(rc, CNP_ERR_EOF);
	CHECK(!mismatch);
	CHECK_EQ(cnp_sim_model_next(m, &want), CNP_ERR_EOF);
	CHECK_EQ(src->stats.frames, total);
	size_t n = 9;
	uint64_t wait = 9;
	CHECK_EQ(src->ops->read(src, buf, 4, &n, &wait), CNP_ERR_EOF);
	CHECK_EQ(n, 0);
	cnp_sim_model_destroy(m);
	cnp_source_destroy(src);

	/* Bad configurations. */
	snprintf(sc.profile, sizeof(sc.profile), "diesel");
	src = NULL;
	CHECK_EQ(cnp_source_create(&sc, &ifaces, &src), CNP_ERR_CONFIG);
	CHECK(src == NULL);
	snprintf(sc.profile, sizeof(sc.profile), "ice");
	sc.duration_s = -1;
	CHECK_EQ(cnp_sim_source_create(&sc, &ifaces, &src), CNP_ERR_CONFIG);
	CHECK(src == NULL);
}

/* ---- duration ------------------------------------------------------------------------- */

static void test_duration(void)
{
	struct cnp_sim_model *m = model("ice", 1, 5);
	struct cnp_frame f;
	uint64_t first = 0, last = 0, n = 0;
	while (cnp_sim_model_next(m, &f) == CNP_OK) {
		if (!n)
			first = f.ts_us;
		CHECK(f.ts_us >= last);
		last = f.ts_us;
		n++;
	}
	CHECK(first >= START && first < START + 20000);
	CHECK(last < START + 5000000);
	CHECK(last > START + 4900000);
	CHECK_EQ(cnp_sim_model_next(m, &f), CNP_ERR_EOF);
	struct cnp_sim_model_stats st;
	cnp_sim_model_get_stats(m, &st);
	CHECK_EQ(st.sim_us, 5000000);
	cnp_sim_model_destroy(m);

	/* 0: endless (here: well past an hour of simulated time would take too
	 * long; past the 5 s of above is enough to show it does not stop) */
	m = model("ice", 1, 0);
	for (n = 0; n < 20000; n++)
		if (cnp_sim_model_next(m, &f) != CNP_OK)
			break;
	CHECK_EQ(n, 20000);
	CHECK(f.ts_us > START + 30000000);
	cnp_sim_model_destroy(m);
}

/* ---- cycle times, counters, checksums, FD lengths -------------------------------------- */

#define MAX_KEYS 512

struct per_key {
	uint32_t id;
	int mux;
	uint64_t first, last, count;
	uint64_t min_gap, max_gap;
	const struct cnp_sim_message *msg;
};

static void check_traffic(const char *name, double seconds)
{
	struct cnp_sim_model *m = model(name, 9, seconds);
	const struct cnp_sim_profile *p = cnp_sim_model_profile(m);
	static struct per_key keys[MAX_KEYS];
	unsigned nk = 0;
	uint64_t frames = 0, bad_counter = 0, bad_ck = 0, checked_ck = 0, checked_ctr = 0;
	uint64_t bad_len = 0, bad_bus = 0, unknown = 0;
	int64_t last_ctr[MAX_KEYS];
	for (unsigned i = 0; i < MAX_KEYS; i++)
		last_ctr[i] = -1;
	struct cnp_frame f;
	while (cnp_sim_model_next(m, &f) == CNP_OK) {
		frames++;
		const struct cnp_sim_message *msg = find_msg(p, &f);
		if (!msg) {
			unknown++;
			continue;
		}
		if (f.iface != msg->bus)
			bad_bus++;
		if (f.len != msg->len || ((f.flags & CNP_FRAME_FD) != 0) != (msg->fd != 0) ||
		    ((f.flags & CNP_FRAME_FD) ? !cnp_frame_fd_len_valid(f.len) || f.fd_flags != 1
		                               : f.len > 8))
			bad_len++;
		const struct cnp_sim_signal *mx = find_sig(msg, CNP_SIM_SIG_MUX);
		int mux = mx ? (int)get_raw(f.data, f.len, mx) : -1;
		unsigned k = 0;
		while (k < nk && !(keys[k].msg == msg && keys[k].mux == mux))
			k++;
		if (k == nk && nk < MAX_KEYS) {
			memset(&keys[k], 0, sizeof(keys[k]));
			keys[k].msg = msg;
			keys[k].id = f.id;
			keys[k].mux = mux;
			keys[k].first = f.ts_us;
			keys[k].min_gap = UINT64_MAX;
			nk++;
		}
		if (k < nk) {
			struct per_key *pk = &keys[k];
			if (pk->count) {
				uint64_t gap = f.ts_us - pk->last;
				if (gap < pk->min_gap)
					pk->min_gap = gap;
				if (gap > pk->max_gap)
					pk->max_gap = gap;
			}
			pk->last = f.ts_us;
			pk->count++;
		}
		/* Counters run per identifier over all its multiplexed frames. */
		const struct cnp_sim_signal *cs = find_sig(msg, CNP_SIM_SIG_COUNTER);
		if (cs) {
			unsigned slot = (unsigned)(msg - p->messages);
			int64_t v = (int64_t)get_raw(f.data, f.len, cs);
			if (last_ctr[slot] >= 0 && v != (last_ctr[slot] + 1) % (1 << cs->size))
				bad_counter++;
			last_ctr[slot] = v;
			checked_ctr++;
		}
		const struct cnp_sim_signal *ck = find_sig(msg, CNP_SIM_SIG_CHECKSUM);
		if (ck) {
			unsigned byte = (ck->flags & CNP_SIM_SIG_MOTOROLA) ? ck->start / 8 : ck->start / 8;
			uint8_t tmp[CNP_FRAME_MAX_DATA + 2];
			size_t n = 0;
			tmp[n++] = (uint8_t)f.id;
			tmp[n++] = (uint8_t)(f.id >> 8);
			for (unsigned i = 0; i < f.len; i++)
				if (i != byte)
					tmp[n++] = f.data[i];
			uint8_t want;
			if (msg->checksum == CNP_SIM_CK_CRC8_J1850) {
				want = (uint8_t)(crc8(tmp, n, 0xFF) ^ 0xFF);
			} else {
				unsigned sum = f.len;
				for (size_t i = 0; i < n; i++)
					sum += tmp[i];
				want = (uint8_t)sum;
			}
			bad_ck += f.data[byte] != want;
			checked_ck++;
		}
	}
	CHECK_EQ(unknown, 0);
	CHECK_EQ(bad_bus, 0);
	CHECK_EQ(bad_len, 0);
	CHECK_EQ(bad_counter, 0);
	CHECK_EQ(bad_ck, 0);
	CHECK(checked_ck > frames / 2);
	CHECK(checked_ctr > frames / 2);

	/* Every message (and every multiplexed instance) was sent, at its
	 * cycle: the mean period within 2 % of nominal; jitter visible. */
	unsigned instances = 0, with_jitter = 0, worst_k = 0;
	double worst = 0;
	for (unsigned i = 0; i < p->n_messages; i++)
		instances += p->messages[i].n_mux;
	CHECK_EQ(nk, instances);
	for (unsigned k = 0; k < nk; k++) {
		const struct per_key *pk = &keys[k];
		double nominal = (double)pk->msg->period_us;
		CHECK(pk->count >= 10);
		if (pk->count < 2)
			continue;
		double mean = (double)(pk->last - pk->first) / (double)(pk->count - 1);
		double err = mean / nominal - 1;
		if (err < 0)
			err = -err;
		if (err > worst) {
			worst = err;
			worst_k = k;
		}
		if (err > 0.02)
			printf("  %s mux %d: mean period %.0f us, nominal %.0f\n", pk->msg->name, pk->mux,
			       mean, nominal);
		CHECK(err <= 0.02);
		with_jitter += pk->max_gap > pk->min_gap;
	}
	CHECK(with_jitter > nk * 9 / 10);
	printf("%s: %llu frames, %u ids/instances; worst mean-period error %.3f %% (%s); "
	       "%llu counters and %llu checksums verified\n",
	       name, (unsigned long long)frames, nk, worst * 100,
	       nk ? keys[worst_k].msg->name : "-", (unsigned long long)checked_ctr,
	       (unsigned long long)checked_ck);
	struct cnp_sim_model_stats st;
	cnp_sim_model_get_stats(m, &st);
	CHECK_EQ(st.saturated, 0);
	CHECK_EQ(st.fill_errors, 0);
	cnp_sim_model_destroy(m);
}

static void test_traffic(void)
{
	check_traffic("ev", 60);
	check_traffic("ice", 60);
}

static void test_crc_reference(void)
{
	/* CRC-8/SAE-J1850 check value (reveng catalogue). */
	CHECK_EQ(crc8((const uint8_t *)"123456789", 9, 0xFF) ^ 0xFF, 0x4B);
}

/* ---- values stay inside their DBC ranges over a long drive ------------------------------ */

static void test_ranges(void)
{
	static const struct {
		const char *profile;
		uint64_t seed;
		double seconds;
	} runs[] = {{"ev", 1, 600}, {"ev", 2, 120}, {"ice", 1, 900}, {"ice", 3, 300}};
	for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		struct cnp_sim_model *m = model(runs[r].profile, runs[r].seed, runs[r].seconds);
		struct cnp_frame f;
		while (cnp_sim_model_next(m, &f) == CNP_OK)
			;
		struct cnp_sim_model_stats st;
		cnp_sim_model_get_stats(m, &st);
		CHECK_EQ(st.saturated, 0);
		CHECK_EQ(st.fill_errors, 0);
		cnp_sim_model_destroy(m);
	}
}

/* ---- volume: EV against petrol --------------------------------------------------------- */

static void test_volume(void)
{
	uint64_t frames[2] = {0}, payload[2] = {0}, text[2] = {0};
	for (int k = 0; k < 2; k++) {
		struct cnp_sim_model *m = model(k == 0 ? "ev" : "ice", 3, 120);
		const struct cnp_sim_profile *p = cnp_sim_model_profile(m);
		struct cnp_frame f;
		while (cnp_sim_model_next(m, &f) == CNP_OK) {
			frames[k]++;
			payload[k] += f.len;
			text[k] += cnp_candump_text_len(&f, strlen(p->buses[f.iface].name));
		}
		cnp_sim_model_destroy(m);
	}
	double rf = (double)frames[0] / (double)frames[1];
	double rp = (double)payload[0] / (double)payload[1];
	double rt = (double)text[0] / (double)text[1];
	printf("EV/ICE over 120 s: frames %.1fx, payload bytes %.1fx, candump text %.1fx\n", rf, rp,
	       rt);
	/* The bounds: the EV's ADAS object lists alone (64-byte frames at 40 to
	 * 66 ms from seven sensors) carry more than ten times the petrol car's
	 * whole payload; its powertrain bus alone sends three times the frames. */
	CHECK(rf > 4);
	CHECK(rp > 10);
	CHECK(rt > 6);
}

/* ---- pacing --------------------------------------------------------------------------- */

static void test_pacing(void)
{
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "sim");
	snprintf(sc.profile, sizeof(sc.profile), "ice");
	sc.seed = 1;
	sc.duration_s = 0;
	sc.start_time_us = START;
	sc.pace = CNP_PACE_RECORDED;
	/* 1 ms of real time: 100 ms of simulated time, about 46 frames: slow
	 * enough for the model even under qemu, so the source runs ahead of
	 * the clock and must wait. */
	sc.speed = 100.0;
	struct cnp_source *src = NULL;
	CHECK_EQ(cnp_sim_source_create(&sc, &ifaces, &src), CNP_OK);
	if (!src)
		return;
	static struct cnp_frame buf[4096];
	uint64_t t0 = cnp_clock_mono_us(), first = 0, last = 0, frames = 0;
	unsigned hints = 0, bad_hint = 0;
	while (cnp_clock_mono_us() - t0 < 30000) {
		size_t n = 0;
		uint64_t wait = 0;
		CHECK_EQ(src->ops->read(src, buf, 4096, &n, &wait), CNP_OK);
		for (size_t i = 0; i < n; i++) {
			if (!frames)
				first = buf[i].ts_us;
			last = buf[i].ts_us;
			frames++;
		}
		if (n < 4096) {
			/* Stopped at a frame not yet due: a hint of at most the gap to
			 * it, scaled (frames are less than 100 ms apart here). */
			hints++;
			bad_hint += wait == 0 || wait > 1000;
			cnp_sleep_us(wait);
		}
	}
	uint64_t real = cnp_clock_mono_us() - t0;
	printf("pace 100x: %llu frames, %.1f s simulated in %.1f ms, %u wait hints\n",
	       (unsigned long long)frames, (double)(last - first) / 1e6, (double)real / 1e3, hints);
	CHECK(hints > 0);
	CHECK_EQ(bad_hint, 0);
	/* Never ahead of the clock; on a loaded machine it may lag. */
	CHECK(last - first <= real * 100 + 1000);
	CHECK(frames > 0);
	cnp_source_destroy(src);

	/* Real time: the first frame at once, then a wait of at most a cycle. */
	sc.speed = 1.0;
	CHECK_EQ(cnp_sim_source_create(&sc, &ifaces, &src), CNP_OK);
	if (!src)
		return;
	size_t n = 0;
	uint64_t wait = 0;
	CHECK_EQ(src->ops->read(src, buf, 4096, &n, &wait), CNP_OK);
	CHECK(n >= 1 && n < 100);
	CHECK(wait > 0 && wait <= 10000);
	cnp_source_destroy(src);
}

/* ---- the committed DBC files ------------------------------------------------------------ */

static void test_dbc_files(void)
{
	for (int k = 0; cnp_sim_profile_names[k]; k++) {
		const char *name = cnp_sim_profile_names[k];
		struct cnp_sim_profile *p = NULL;
		CHECK_EQ(cnp_sim_profile_create(name, &p), CNP_OK);
		if (!p)
			continue;
		char *text = NULL;
		size_t len = 0;
		CHECK_EQ(cnp_sim_dbc_write(p, &text, &len), CNP_OK);
		cnp_sim_profile_destroy(p);
		char path[1024];
		snprintf(path, sizeof(path), "%s/tools/sim/%s.dbc", CANOPY_SOURCE_DIR, name);
		FILE *fp = fopen(path, "rb");
		CHECK(fp != NULL);
		if (!fp) {
			fprintf(stderr, "%s missing: canopy-sim --profile %s --dbc --out %s\n", path, name,
			        path);
			cnp_free(text);
			continue;
		}
		char *file = malloc(len + 2);
		size_t got = file ? fread(file, 1, len + 1, fp) : 0;
		fclose(fp);
		int same = file && got == len && memcmp(file, text, len) == 0;
		CHECK(same);
		if (!same)
			fprintf(stderr, "%s differs from the model's tables; regenerate it with: "
			                "canopy-sim --profile %s --dbc --out %s\n", path, name, path);
		CHECK(strstr(text, "BA_ \"VFrameFormat\" BO_ 768 14;") || strcmp(name, "ev") != 0);
		free(file);
		cnp_free(text);
	}
}

/* ---- the same bytes on every architecture ------------------------------------------------ */

/* SHA-256 of the candump text of the first frames of each profile, seed
 * 2024, default start. The cross builds run this under qemu-aarch64 and
 * qemu-arm: a different digest there means the model is not portable. */
static const char *const digest_ev =
	"7e4db99b52487c059c4aeeed3c0ef5a283ef66aec180601e4ff2f6ea309a443f";
static const char *const digest_ice =
	"479e91da9d0949485a27c3933ee1ddee5e4c7972e2b11f9bb6edf52bf1e53218";

static void test_digest(void)
{
	static const struct {
		const char *profile;
		unsigned frames;
	} runs[] = {{"ev", 60000}, {"ice", 20000}};
	for (int r = 0; r < 2; r++) {
		struct cnp_sim_model *m = model(runs[r].profile, 2024, 0);
		const struct cnp_sim_profile *p = cnp_sim_model_profile(m);
		struct cnp_sha256 h;
		cnp_sha256_init(&h);
		struct cnp_frame f;
		char line[CNP_CANDUMP_LINE_MAX];
		for (unsigned i = 0; i < runs[r].frames; i++) {
			CHECK_EQ(cnp_sim_model_next(m, &f), CNP_OK);
			size_t len = 0;
			format(p, &f, line, &len);
			cnp_sha256_update(&h, line, len);
		}
		uint8_t d[CNP_SHA256_LEN];
		char hex[2 * CNP_SHA256_LEN + 1];
		cnp_sha256_final(&h, d);
		cnp_hex(d, sizeof(d), hex);
		printf("%s digest of %u frames: %s\n", runs[r].profile, runs[r].frames, hex);
		CHECK_STR(hex, r == 0 ? digest_ev : digest_ice);
		cnp_sim_model_destroy(m);
	}
}

/* ---- allocation failures ------------------------------------------------------------------ */

static void test_alloc_failures(void)
{
	for (int k = 0; cnp_sim_profile_names[k]; k++) {
		long n;
		for (n = 0; n < 100000; n++) {
			struct cnp_sim_model *m = NULL;
			cnp_alloc_fail_after(n);
			int rc = cnp_sim_model_create(cnp_sim_profile_names[k], 1, START, 1000000, &m);
			cnp_alloc_fail_after(-1);
			if (rc == CNP_OK) {
				struct cnp_frame f;
				CHECK_EQ(cnp_sim_model_next(m, &f), CNP_OK);
				cnp_sim_model_destroy(m);
				break;
			}
			CHECK_EQ(rc, CNP_ERR_NOMEM);
			CHECK(m == NULL);
		}
		CHECK(n > 3);
		printf("%s: creation survives failure of each of its first %ld allocations\n",
		       cnp_sim_profile_names[k], n);
	}
}

int main(void)
{
	test_crc_reference();
	test_tables();
	test_determinism();
	test_source();
	test_duration();
	test_traffic();
	test_ranges();
	test_volume();
	test_pacing();
	test_dbc_files();
	test_digest();
	test_alloc_failures();
	return check_finish();
}
