/* The frame journal: appends read back after a "crash" (closing without
 * any shutdown), positions kept across restarts, a torn or garbled tail
 * cut and counted, and a restart replacing the old batch's frames. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/journal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct cnp_ifaces ifaces;

static void make_frames(struct cnp_frame *f, size_t n, uint32_t base)
{
	for (size_t i = 0; i < n; i++) {
		memset(&f[i], 0, sizeof(f[i]));
		f[i].ts_us = 1000000u + 1000u * (base + i);
		f[i].id = 0x100 + base + (uint32_t)i;
		f[i].len = (uint8_t)((base + i) % 9);
		f[i].iface = (uint8_t)((base + i) % ifaces.count);
		for (unsigned k = 0; k < f[i].len; k++)
			f[i].data[k] = (uint8_t)(base + i + k);
	}
}

static int same(const struct cnp_frame *a, const struct cnp_frame *b)
{
	return a->ts_us == b->ts_us && a->id == b->id && a->len == b->len &&
	       a->iface == b->iface && memcmp(a->data, b->data, a->len) == 0;
}

static const char *jdir(const char *name)
{
	static char dir[512];
	snprintf(dir, sizeof(dir), "%s/%s", check_tmpdir(), name);
	mkdir(dir, 0700);
	return dir;
}

static void test_roundtrip(void)
{
	const char *dir = jdir("roundtrip");
	struct cnp_journal *j = NULL;
	struct cnp_journal_recovered rec;
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.found, 0);
	struct cnp_frame f[40];
	make_frames(f, 40, 0);
	/* Before the first restart nothing is appended. */
	CHECK_EQ(cnp_journal_append(j, 0, f, 1, NULL, &ifaces, 0), CNP_ERR_INVAL);
	CHECK_EQ(cnp_journal_restart(j, 7, 3, 5, &ifaces, NULL, 0, NULL, 0), CNP_OK);
	struct cnp_source_pos p1 = {.ident = 42, .offset = 1000, .line = 25, .malformed = 2};
	struct cnp_source_pos p2 = {.ident = 42, .offset = 1600, .line = 40, .malformed = 3};
	CHECK_EQ(cnp_journal_append(j, 0, f, 25, &p1, &ifaces, 1), CNP_OK);
	CHECK_EQ(cnp_journal_append(j, 1, f + 25, 15, NULL, &ifaces, 2), CNP_OK);
	CHECK_EQ(cnp_journal_append(j, 0, f, 0, &p2, &ifaces, 3), CNP_OK);
	cnp_journal_close(j); /* as a kill leaves it: no shutdown step */

	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.found, 1);
	CHECK_EQ(rec.boot, 7);
	CHECK_EQ(rec.seq, 3);
	CHECK_EQ(rec.malformed_reported, 5);
	CHECK_EQ(rec.torn_bytes, 0);
	CHECK_EQ(rec.n_frames, 40);
	CHECK_EQ(rec.ifaces.count, ifaces.count);
	CHECK_STR(rec.ifaces.names[1], "can1");
	int all = rec.n_frames == 40;
	for (size_t i = 0; all && i < 40; i++)
		all = same(&rec.frames[i], &f[i]);
	CHECK(all);
	CHECK_EQ(rec.has_pos[0], 1);
	CHECK_EQ(rec.pos[0].offset, 1600);
	CHECK_EQ(rec.pos[0].line, 40);
	CHECK_EQ(rec.has_pos[1], 0);
	cnp_free(rec.frames);

	/* A restart for the next batch keeps the positions, not the frames;
	 * the frames it is given belong to the new batch. */
	CHECK_EQ(cnp_journal_restart(j, 8, 0, 9, &ifaces, f, 2, NULL, 0), CNP_OK);
	cnp_journal_close(j);
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.boot, 8);
	CHECK_EQ(rec.seq, 0);
	CHECK_EQ(rec.n_frames, 2);
	CHECK_EQ(rec.has_pos[0], 1);
	CHECK_EQ(rec.pos[0].offset, 1600);
	cnp_free(rec.frames);
	cnp_journal_close(j);
}

static void test_torn_tail(void)
{
	const char *dir = jdir("torn");
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, CNP_JOURNAL_FILE);
	struct cnp_journal *j = NULL;
	struct cnp_journal_recovered rec;
	CHECK_EQ(cnp_journal_open(dir, 1000000, &j, &rec), CNP_OK);
	CHECK_EQ(cnp_journal_restart(j, 1, 0, 0, &ifaces, NULL, 0, NULL, 0), CNP_OK);
	struct cnp_frame f[20];
	make_frames(f, 20, 100);
	struct cnp_source_pos p1 = {.ident = 1, .offset = 10, .line = 10};
	struct cnp_source_pos p2 = {.ident = 1, .offset = 20, .line = 20};
	CHECK_EQ(cnp_journal_append(j, 0, f, 10, &p1, &ifaces, 0), CNP_OK);
	CHECK_EQ(cnp_journal_append(j, 0, f + 10, 10, &p2, &ifaces, 0), CNP_OK);
	cnp_journal_close(j);
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);

	/* Cut the last record short, as a power cut mid-write would. */
	CHECK_EQ(truncate(path, st.st_size - 7), 0);
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.n_frames, 10);
	CHECK(rec.torn_bytes > 0);
	CHECK_EQ(rec.pos[0].line, 10); /* the cut frames are read again */
	cnp_free(rec.frames);
	cnp_journal_close(j);

	/* A flipped byte inside the first frames record: cut from there. */
	FILE *fp = fopen(path, "r+b");
	CHECK(fp != NULL);
	if (fp) {
		/* header record 48 bytes, table 60: the frames record's payload */
		fseek(fp, 140, SEEK_SET);
		int c = fgetc(fp);
		fseek(fp, 140, SEEK_SET);
		fputc(0x5a ^ c, fp);
		fclose(fp);
	}
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.found, 1);
	CHECK_EQ(rec.n_frames, 0);
	CHECK(rec.torn_bytes > 0);
	CHECK_EQ(rec.pos[0].line, 0);
	cnp_free(rec.frames);
	cnp_journal_close(j);

	/* Garbage from the first byte: no journal to speak of. */
	CHECK_EQ(check_write_file(path, "not a journal at all, no", 24), 0);
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.found, 0);
	CHECK_EQ(rec.torn_bytes, 24);
	cnp_journal_close(j);
}

/* Samples a source measured itself (GNSS) beside frames: read back in
 * order, carried by a restart, and a torn sample record cut. */
static void test_samples(void)
{
	const char *dir = jdir("samples");
	struct cnp_journal *j = NULL;
	struct cnp_journal_recovered rec;
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	struct cnp_journal_sample s[5];
	for (uint32_t i = 0; i < 5; i++)
		s[i] = (struct cnp_journal_sample){.src = i % 2, .k = i + 3,
		                                   .ts_us = 1700000000000000u + i,
		                                   .raw = 0x4048000000000000u + i};
	CHECK_EQ(cnp_journal_append_samples(j, s, 1, 0), CNP_ERR_INVAL); /* not started */
	struct cnp_frame f[3];
	make_frames(f, 3, 0);
	CHECK_EQ(cnp_journal_restart(j, 2, 5, 0, &ifaces, NULL, 0, NULL, 0), CNP_OK);
	CHECK_EQ(cnp_journal_append_samples(j, s, 2, 0), CNP_OK);
	CHECK_EQ(cnp_journal_append(j, 0, f, 3, NULL, &ifaces, 0), CNP_OK);
	CHECK_EQ(cnp_journal_append_samples(j, s + 2, 3, 0), CNP_OK);
	cnp_journal_close(j);
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.n_frames, 3);
	CHECK_EQ(rec.n_samples, 5);
	CHECK(rec.n_samples == 5 && memcmp(rec.samples, s, sizeof(s)) == 0);
	cnp_free(rec.frames);
	cnp_free(rec.samples);
	/* A restart carries the samples it is given, and only those. */
	CHECK_EQ(cnp_journal_restart(j, 2, 6, 0, &ifaces, f, 1, s + 1, 2), CNP_OK);
	cnp_journal_close(j);
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.seq, 6);
	CHECK_EQ(rec.n_frames, 1);
	CHECK_EQ(rec.n_samples, 2);
	CHECK(rec.n_samples == 2 && memcmp(rec.samples, s + 1, 2 * sizeof(*s)) == 0);
	cnp_free(rec.frames);
	cnp_free(rec.samples);
	CHECK_EQ(cnp_journal_append_samples(j, s + 3, 2, 0), CNP_ERR_INVAL); /* open: no restart yet */
	CHECK_EQ(cnp_journal_restart(j, 2, 7, 0, &ifaces, NULL, 0, NULL, 0), CNP_OK);
	CHECK_EQ(cnp_journal_append_samples(j, s, 1, 0), CNP_OK);
	CHECK_EQ(cnp_journal_append_samples(j, s + 1, 1, 0), CNP_OK);
	cnp_journal_close(j);
	/* The last record torn by a power cut: the first sample stays. */
	char path[600];
	snprintf(path, sizeof(path), "%s/%s", dir, CNP_JOURNAL_FILE);
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(truncate(path, st.st_size - 5), 0);
	CHECK_EQ(cnp_journal_open(dir, 0, &j, &rec), CNP_OK);
	CHECK_EQ(rec.n_samples, 1);
	CHECK(rec.torn_bytes > 0);
	CHECK(rec.n_samples == 1 && rec.samples[0].raw == s[0].raw && rec.samples[0].k == 3);
	cnp_free(rec.frames);
	cnp_free(rec.samples);
	cnp_journal_close(j);
}

int main(void)
{
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	CHECK_EQ(cnp_ifaces_intern(&ifaces, "can0", 4, &idx), CNP_OK);
	CHECK_EQ(cnp_ifaces_intern(&ifaces, "can1", 4, &idx), CNP_OK);
	test_roundtrip();
	test_torn_tail();
	test_samples();
	return check_finish();
}
