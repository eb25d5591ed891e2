/* The candump log source: every kind of line, byte-exact round trips,
 * malformed input skipped and counted, paced replay, and a real trace. */
#include "check.h"

#include "drivers/source.h"
#include "firmware/alloc.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "platform/clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

static const char *tmp_file(const char *name, const void *data, size_t len)
{
	static char paths[16][512];
	static unsigned next;
	char *p = paths[next++ % 16];
	snprintf(p, sizeof(paths[0]), "%s/%s", check_tmpdir(), name);
	if (check_write_file(p, data, len) != 0) {
		fprintf(stderr, "cannot write %s\n", p);
		exit(1);
	}
	return p;
}

static struct cnp_source *open_source(const char *path, enum cnp_pace pace, double speed,
                                      struct cnp_ifaces *ifaces)
{
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "candump");
	snprintf(sc.path, sizeof(sc.path), "%s", path);
	sc.pace = pace;
	sc.speed = speed;
	struct cnp_source *src = NULL;
	int rc = cnp_candump_source_create(&sc, ifaces, &src);
	CHECK_EQ(rc, CNP_OK);
	if (rc != CNP_OK || !src) {
		fprintf(stderr, "cannot open %s\n", path);
		exit(1);
	}
	CHECK_STR(src->ops->type, "candump");
	return src;
}

struct readall {
	struct cnp_frame *frames;
	size_t n, cap;
	int rc;         /* the last read's return */
	unsigned reads; /* read calls */
};

/* Reads (pace "max") until CNP_ERR_EOF, `chunk` frames at a time. */
static void read_all(struct cnp_source *src, size_t chunk, struct readall *r)
{
	struct cnp_frame *buf = malloc(chunk * sizeof(*buf));
	if (!buf)
		exit(1);
	memset(r, 0, sizeof(*r));
	for (;;) {
		size_t n = 0;
		uint64_t wait = 0;
		r->rc = src->ops->read(src, buf, chunk, &n, &wait);
		r->reads++;
		CHECK(n <= chunk);
		if (r->n + n > r->cap) {
			r->cap = (r->n + n) * 2 + 64;
			r->frames = realloc(r->frames, r->cap * sizeof(*r->frames));
			if (!r->frames)
				exit(1);
		}
		if (n)
			memcpy(r->frames + r->n, buf, n * sizeof(*buf));
		r->n += n;
		if (r->rc != CNP_OK)
			break;
		if (n == 0 && wait == 0 && r->reads > 10000000u) {
			CHECK(!"read made no progress");
			break;
		}
	}
	free(buf);
}

/* Formats frames back into candump text. */
static char *format_all(const struct readall *r, const struct cnp_ifaces *ifaces,
                        size_t *len)
{
	size_t cap = r->n * CNP_CANDUMP_LINE_MAX + 1, n = 0;
	char *out = malloc(cap);
	if (!out)
		exit(1);
	for (size_t i = 0; i < r->n; i++) {
		size_t l = 0;
		const struct cnp_frame *f = &r->frames[i];
		int rc = f->iface < ifaces->count
		             ? cnp_candump_format(f, ifaces->names[f->iface], out + n, cap - n, &l)
		             : CNP_ERR_INVAL;
		if (rc != CNP_OK) {
			CHECK_EQ(rc, CNP_OK);
			break;
		}
		n += l;
	}
	out[n] = 0;
	*len = n;
	return out;
}

/* ---- every kind of valid line, round trip --------------------------------- */

static const char valid_log[] =
	"(1700000000.000000) can0 123#DEADBEEF\n"                  /* 11-bit */
	"(1700000000.000100) can1 18FF00F9#0102030405060708\n"     /* 29-bit */
	"(1700000000.000200) can0 123##1AABB\n"                    /* FD, BRS */
	"(1700000000.000300) vcan2 123#R\n"                        /* remote */
	"(1700000000.000400) can0 20000080#0000000000000000\n"     /* error frame */
	"(1700000000.000500) can1 1ab#deadbeef\n"                  /* lower-case hex */
	"(0000000001.000000) can0 7FF#\n"                          /* padded seconds, 0 bytes */
	"(1700000000.000600) can0 123#1122334455667788_C\n"        /* raw DLC */
	"(1700000000.000700) can0 123#R4\r\n"                      /* CRLF, remote DLC 4 */
	"(1700000000.000800) can1 18ff00f9##3001122334455667788990011\n" /* FD 12 */
	"(1700000000.000900) can0 321#0011";                       /* no final newline */

static void test_valid(void)
{
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	const char *path = tmp_file("valid.log", valid_log, sizeof(valid_log) - 1);
	static const size_t chunks[] = {1, 3, 64};
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct cnp_source *src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
		CHECK(src->ifaces == &ifaces);
		struct readall r;
		read_all(src, chunks[c], &r);
		CHECK_EQ(r.rc, CNP_ERR_EOF);
		CHECK_EQ(r.n, 11);
		CHECK_EQ(src->stats.frames, 11);
		CHECK_EQ(src->stats.malformed, 0);
		/* Interfaces interned in order of first appearance, once each. */
		CHECK_EQ(ifaces.count, 3);
		CHECK_STR(ifaces.names[0], "can0");
		CHECK_STR(ifaces.names[1], "can1");
		CHECK_STR(ifaces.names[2], "vcan2");

		size_t len = 0;
		char *text = format_all(&r, &ifaces, &len);
		CHECK_EQ(len, sizeof(valid_log) - 1);
		CHECK(len == sizeof(valid_log) - 1 && memcmp(text, valid_log, len) == 0);
		if (c == 0 && (len != sizeof(valid_log) - 1 || memcmp(text, valid_log, len) != 0))
			fprintf(stderr, "formatted back:\n%s\n", text);
		free(text);

		if (r.n == 11) {
			const struct cnp_frame *f = r.frames;
			CHECK_EQ(f[0].ts_us, 1700000000000000ull);
			CHECK_EQ(f[0].id, 0x123);
			CHECK_EQ(f[0].len, 4);
			CHECK_EQ(f[0].flags, 0);
			CHECK_EQ(f[0].iface, 0);
			CHECK_EQ(f[0].data[0], 0xDE);
			CHECK_EQ(f[1].flags, CNP_FRAME_EXT);
			CHECK_EQ(f[1].id, 0x18FF00F9);
			CHECK_EQ(f[1].iface, 1);
			CHECK_EQ(f[2].flags, CNP_FRAME_FD);
			CHECK_EQ(f[2].fd_flags, 1);
			CHECK_EQ(f[2].len, 2);
			CHECK_EQ(f[3].flags, CNP_FRAME_RTR);
			CHECK_EQ(f[3].iface, 2);
			CHECK_EQ(f[4].flags, CNP_FRAME_ERR);
			CHECK_EQ(f[4].id, 0x80);
			CHECK_EQ(f[4].len, 8);
			CHECK(f[5].style & CNP_STYLE_LOWER_HEX);
			CHECK_EQ(f[5].id, 0x1AB);
			CHECK_EQ(f[6].ts_us, 1000000);
			CHECK_EQ(f[6].style & CNP_STYLE_SEC_WIDTH_MASK, 10);
			CHECK_EQ(f[6].len, 0);
			CHECK_EQ(f[7].dlc, 0xC);
			CHECK_EQ(f[8].style & (CNP_STYLE_CRLF | CNP_STYLE_NO_EOL), CNP_STYLE_CRLF);
			CHECK_EQ(f[8].dlc, 4);
			CHECK_EQ(f[9].len, 12);
			CHECK_EQ(f[9].fd_flags, 3);
			CHECK_EQ(f[10].style & (CNP_STYLE_CRLF | CNP_STYLE_NO_EOL), CNP_STYLE_NO_EOL);
			for (int i = 0; i < 10; i++)
				CHECK_EQ(f[i].style & CNP_STYLE_NO_EOL, 0);
		}

		/* Exhausted stays exhausted. */
		struct cnp_frame extra[4];
		size_t n = 99;
		uint64_t wait = 99;
		CHECK_EQ(src->ops->read(src, extra, 4, &n, &wait), CNP_ERR_EOF);
		CHECK_EQ(n, 0);
		free(r.frames);
		cnp_source_destroy(src);
	}
	/* The interface table is shared: a second source adds to it. */
	static const char other[] = "(1.000000) can9 001#01\n(1.000001) can1 002#02\n";
	const char *p2 = tmp_file("other.log", other, sizeof(other) - 1);
	struct cnp_source *src = open_source(p2, CNP_PACE_MAX, 1.0, &ifaces);
	struct readall r;
	read_all(src, 8, &r);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(ifaces.count, 4);
	CHECK_STR(ifaces.names[3], "can9");
	if (r.n == 2) {
		CHECK_EQ(r.frames[0].iface, 3);
		CHECK_EQ(r.frames[1].iface, 1);
	}
	free(r.frames);
	cnp_source_destroy(src);
}

/* ---- malformed lines ------------------------------------------------------ */

static void test_malformed(void)
{
	char long_line[301];
	memset(long_line, 'A', 300);
	memcpy(long_line, "(2.000000) can0 123#", 20);
	long_line[300] = 0;

	char text[4096];
	int n = snprintf(text, sizeof(text),
	                 "(1.000000) can0 123#11\n"          /* ok 1 */
	                 "garbage\n"                         /* bad 1 */
	                 "(1.5) can0 123#11\n"               /* bad 2: fraction */
	                 "(2.000000) can0 123#112233445566778899\n" /* bad 3: 9 bytes */
	                 "(2.000000) can0 123#112\n"         /* bad 4: odd digits */
	                 "(2.000000) can0 800#11\n"          /* bad 5: 11-bit id > 7FF */
	                 "%s\n"                              /* bad 6: 300 bytes */
	                 "\n"                                /* bad 7: empty */
	                 "(3.000000) can0 124#22\n"          /* ok 2 */
	                 "(3.000000) can0 124#2\n"           /* bad 8: one digit */
	                 "(3.000000)  can0 124#22\n"         /* bad 9: two spaces */
	                 "(3.000000) can0 12#22\n"           /* bad 10: 2-digit id */
	                 "(3.000000) can0 1aB#22\n"          /* bad 11: mixed case */
	                 "(3.000000) can0 124##122\n"        /* ok: FD, 1 byte */
	                 "(4.000000) can1 125#33\n",         /* ok 3 */
	                 long_line);
	CHECK(n > 0 && (size_t)n < sizeof(text));

	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	const char *path = tmp_file("malformed.log", text, (size_t)n);
	struct cnp_source *src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	struct readall r;
	read_all(src, 16, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	/* "124##122" is FD with flags 1 and one data byte 0x22: valid. */
	CHECK_EQ(r.n, 4);
	CHECK_EQ(src->stats.frames, 4);
	CHECK_EQ(src->stats.malformed, 11);
	if (r.n == 4) {
		CHECK_EQ(r.frames[0].id, 0x123);
		CHECK_EQ(r.frames[0].ts_us, 1000000);
		CHECK_EQ(r.frames[1].id, 0x124);
		CHECK_EQ(r.frames[1].data[0], 0x22);
		CHECK_EQ(r.frames[2].flags, CNP_FRAME_FD);
		CHECK_EQ(r.frames[3].id, 0x125);
		CHECK_EQ(r.frames[3].iface, 1);
	}
	CHECK_EQ(ifaces.count, 2);
	free(r.frames);
	cnp_source_destroy(src);
}

static void test_huge_line(void)
{
	/* A line far longer than the read block (64 KiB): skipped as one
	 * malformed line, and the next line still parses. */
	size_t big = 200000;
	const char head[] = "(1.000000) can0 100#01\n";
	const char tail[] = "\n(2.000000) can0 200#02\n(3.000000) can0 300#03";
	size_t total = sizeof(head) - 1 + big + sizeof(tail) - 1;
	char *text = malloc(total);
	if (!text)
		exit(1);
	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, 'x', big);
	memcpy(text + sizeof(head) - 1 + big, tail, sizeof(tail) - 1);
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	const char *path = tmp_file("huge.log", text, total);
	free(text);
	struct cnp_source *src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	struct readall r;
	read_all(src, 16, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	CHECK_EQ(r.n, 3);
	CHECK_EQ(src->stats.malformed, 1);
	if (r.n == 3) {
		CHECK_EQ(r.frames[0].id, 0x100);
		CHECK_EQ(r.frames[1].id, 0x200);
		CHECK_EQ(r.frames[2].id, 0x300);
		CHECK(r.frames[2].style & CNP_STYLE_NO_EOL);
	}
	free(r.frames);
	cnp_source_destroy(src);

	/* The same, as the last line of the file without a newline. */
	size_t total2 = sizeof(head) - 1 + big;
	text = malloc(total2);
	if (!text)
		exit(1);
	memcpy(text, head, sizeof(head) - 1);
	memset(text + sizeof(head) - 1, 'y', big);
	path = tmp_file("huge-end.log", text, total2);
	free(text);
	src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	read_all(src, 16, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	CHECK_EQ(r.n, 1);
	CHECK_EQ(src->stats.malformed, 1);
	free(r.frames);
	cnp_source_destroy(src);
}

static void test_edges(void)
{
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);

	/* A missing file: CNP_ERR_IO at creation, nothing returned. */
	char missing[512];
	snprintf(missing, sizeof(missing), "%s/no-such.log", check_tmpdir());
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "candump");
	snprintf(sc.path, sizeof(sc.path), "%s", missing);
	struct cnp_source *src = NULL;
	CHECK_EQ(cnp_candump_source_create(&sc, &ifaces, &src), CNP_ERR_IO);
	CHECK(src == NULL);
	CHECK_EQ(cnp_source_create(&sc, &ifaces, &src), CNP_ERR_IO);
	CHECK(src == NULL);
	/* The generic constructor: unknown types refused. */
	snprintf(sc.type, sizeof(sc.type), "socketcan");
	CHECK_EQ(cnp_source_create(&sc, &ifaces, &src), CNP_ERR_CONFIG);
	CHECK(src == NULL);
	cnp_source_destroy(NULL);

	/* The file ends in the middle of a line: that line is malformed. */
	static const char cut[] = "(1.000000) can0 123#11\n(1.000000) can0 12";
	const char *path = tmp_file("cut.log", cut, sizeof(cut) - 1);
	snprintf(sc.type, sizeof(sc.type), "candump");
	snprintf(sc.path, sizeof(sc.path), "%s", path);
	CHECK_EQ(cnp_source_create(&sc, &ifaces, &src), CNP_OK);
	if (src) {
		struct readall r;
		read_all(src, 16, &r);
		CHECK_EQ(r.rc, CNP_ERR_EOF);
		CHECK_EQ(r.n, 1);
		CHECK_EQ(src->stats.malformed, 1);
		CHECK_EQ(src->stats.frames, 1);
		free(r.frames);
		cnp_source_destroy(src);
	}

	/* An empty file: EOF at once. Only newlines: each one malformed. */
	path = tmp_file("empty.log", "", 0);
	src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	struct readall r;
	read_all(src, 16, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(src->stats.malformed, 0);
	free(r.frames);
	cnp_source_destroy(src);

	path = tmp_file("newlines.log", "\n\n\r\n", 4);
	src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	read_all(src, 16, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(src->stats.malformed, 3);
	free(r.frames);
	cnp_source_destroy(src);

	/* max 0: nothing read, nothing lost. */
	static const char one[] = "(1.000000) can0 123#11\n";
	path = tmp_file("one.log", one, sizeof(one) - 1);
	src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	struct cnp_frame f[2];
	size_t n = 99;
	uint64_t wait = 0;
	CHECK_EQ(src->ops->read(src, f, 0, &n, &wait), CNP_OK);
	CHECK_EQ(n, 0);
	CHECK_EQ(src->ops->read(src, f, 2, &n, &wait), CNP_ERR_EOF);
	CHECK_EQ(n, 1); /* EOF may come with the last frames */
	CHECK_EQ(f[0].id, 0x123);
	cnp_source_destroy(src);
}

static void test_iface_limit(void)
{
	/* 65 interfaces: the 65th does not fit the table; its line is counted
	 * as malformed, and a known interface after it still works. A 16
	 * character name is too long for Linux and for the table. */
	static char text[65 * 64 + 256];
	size_t n = 0;
	for (unsigned i = 0; i < 65; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "(1.%06u) c%u 123#%02X\n", i, i,
		                      i);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	                      "(2.000000) abcdefghijklmnop 123#00\n"
	                      "(2.000000) abcdefghijklmno 123#00\n"
	                      "(2.000001) c7 123#77\n");
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	const char *path = tmp_file("ifaces.log", text, n);
	struct cnp_source *src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	struct readall r;
	read_all(src, 32, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	CHECK_EQ(r.n, 65);
	CHECK_EQ(src->stats.malformed, 3);
	CHECK_EQ(ifaces.count, CNP_IFACE_MAX);
	if (r.n == 65) {
		CHECK_EQ(r.frames[63].iface, 63);
		CHECK_EQ(r.frames[64].iface, 7);
		CHECK_EQ(r.frames[64].data[0], 0x77);
	}
	free(r.frames);
	cnp_source_destroy(src);
}

/* ---- paced replay ---------------------------------------------------------- */

static void test_pace(void)
{
	static const char two[] = "(100.000000) can0 123#01\n(101.000000) can0 123#02\n";
	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	const char *path = tmp_file("paced.log", two, sizeof(two) - 1);

	/* 1 s apart at 1000x: 1 ms apart. */
	struct cnp_source *src = open_source(path, CNP_PACE_RECORDED, 1000.0, &ifaces);
	struct cnp_frame f[4];
	size_t n = 0;
	uint64_t wait = 0;
	uint64_t t0 = cnp_clock_mono_us();
	CHECK_EQ(src->ops->read(src, f, 1, &n, &wait), CNP_OK);
	CHECK_EQ(n, 1);
	CHECK_EQ(f[0].data[0], 0x01);
	int rc = src->ops->read(src, f, 4, &n, &wait);
	uint64_t elapsed = cnp_clock_mono_us() - t0;
	if (elapsed < 900) {
		/* Not yet due: nothing, and a wait of at most 1 ms. */
		CHECK_EQ(rc, CNP_OK);
		CHECK_EQ(n, 0);
		CHECK(wait > 0);
		CHECK(wait <= 1000);
		cnp_sleep_us(wait);
		rc = src->ops->read(src, f, 4, &n, &wait);
	} else {
		printf("note: machine too slow (%llu us) to see the 1 ms pacing gap\n",
		       (unsigned long long)elapsed);
	}
	/* Due now: the second frame (EOF may come with it or next). */
	CHECK(rc == CNP_OK || rc == CNP_ERR_EOF);
	CHECK_EQ(n, 1);
	CHECK_EQ(f[0].data[0], 0x02);
	CHECK(cnp_clock_mono_us() - t0 >= 1000);
	if (rc == CNP_OK) {
		rc = src->ops->read(src, f, 4, &n, &wait);
		CHECK_EQ(rc, CNP_ERR_EOF);
		CHECK_EQ(n, 0);
	}
	CHECK_EQ(src->stats.frames, 2);
	cnp_source_destroy(src);

	/* Real time: the second frame is due in about a second. */
	src = open_source(path, CNP_PACE_RECORDED, 1.0, &ifaces);
	CHECK_EQ(src->ops->read(src, f, 4, &n, &wait), CNP_OK);
	CHECK_EQ(n, 1); /* the first at once, then it stops at the second */
	CHECK(wait > 900000);
	CHECK(wait <= 1000000);
	CHECK_EQ(src->ops->read(src, f, 4, &n, &wait), CNP_OK);
	CHECK_EQ(n, 0);
	CHECK(wait > 800000 && wait <= 1000000);
	cnp_source_destroy(src);

	/* Half speed: two seconds. */
	src = open_source(path, CNP_PACE_RECORDED, 0.5, &ifaces);
	CHECK_EQ(src->ops->read(src, f, 4, &n, &wait), CNP_OK);
	CHECK_EQ(n, 1);
	CHECK(wait > 1900000 && wait <= 2000000);
	cnp_source_destroy(src);

	/* "max" pace: both at once. */
	src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	rc = src->ops->read(src, f, 4, &n, &wait);
	CHECK(rc == CNP_OK || rc == CNP_ERR_EOF);
	CHECK_EQ(n, 2);
	CHECK_EQ(wait, 0);
	cnp_source_destroy(src);
}

/* ---- a real trace ----------------------------------------------------------- */

static void test_trace(void)
{
	const char *data = check_data_dir();
	if (!data) {
		printf("note: shared data not found (set CANOPY_DATA); trace test skipped\n");
		return;
	}
	char path[1024];
	snprintf(path, sizeof(path), "%s/traces/hyundai_kona_ev_2019.log", data);
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		printf("note: %s missing; trace test skipped\n", path);
		return;
	}
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *orig = malloc((size_t)size + 1);
	if (!orig)
		exit(1);
	CHECK_EQ(fread(orig, 1, (size_t)size, fp), (size_t)size);
	fclose(fp);

	struct cnp_ifaces ifaces;
	cnp_ifaces_init(&ifaces);
	struct cnp_source *src = open_source(path, CNP_PACE_MAX, 1.0, &ifaces);
	struct readall r;
	read_all(src, 256, &r);
	CHECK_EQ(r.rc, CNP_ERR_EOF);
	CHECK_EQ(r.n, 39546);
	CHECK_EQ(src->stats.frames, 39546);
	CHECK_EQ(src->stats.malformed, 0);
	CHECK(ifaces.count >= 1);
	CHECK_STR(ifaces.names[0], "can0");
	size_t len = 0;
	char *text = format_all(&r, &ifaces, &len);
	CHECK_EQ(len, (size_t)size);
	CHECK(len == (size_t)size && memcmp(text, orig, len) == 0);
	free(text);
	free(orig);
	free(r.frames);
	cnp_source_destroy(src);
}

/* A looping candump source on `path`, ending after duration_s (0: never). */
static struct cnp_source *open_loop(const char *path, double duration_s,
                                    struct cnp_ifaces *ifaces)
{
	struct cnp_source_config sc;
	memset(&sc, 0, sizeof(sc));
	snprintf(sc.type, sizeof(sc.type), "candump");
	snprintf(sc.path, sizeof(sc.path), "%s", path);
	sc.loop = 1;
	sc.duration_s = duration_s;
	cnp_ifaces_init(ifaces);
	struct cnp_source *src = NULL;
	CHECK_EQ(cnp_candump_source_create(&sc, ifaces, &src), CNP_OK);
	return src;
}

/* "loop": the log starts again, time moving on, and never ends. */
static void test_loop(void)
{
	static const char text[] = "(1.000000) can0 123#11\n(1.500000) can0 456#22\nbad line\n";
	struct cnp_ifaces ifaces;
	struct cnp_source *src = open_loop(tmp_file("loop.log", text, sizeof(text) - 1), 0, &ifaces);
	if (!src)
		return;
	struct cnp_frame f[7];
	size_t n = 0;
	uint64_t wait = 0;
	CHECK_EQ(src->ops->read(src, f, 7, &n, &wait), CNP_OK);
	CHECK_EQ(n, 7);
	static const uint64_t want_ts[7] = {1000000, 1500000, 1501000, 2001000,
	                                    2002000, 2502000, 2503000};
	static const uint32_t want_id[7] = {0x123, 0x456, 0x123, 0x456, 0x123, 0x456, 0x123};
	for (size_t i = 0; i < n && i < 7; i++) {
		CHECK_EQ(f[i].ts_us, want_ts[i]);
		CHECK_EQ(f[i].id, want_id[i]);
	}
	CHECK_EQ(src->stats.malformed, 3); /* the bad line, once per pass */
	cnp_source_destroy(src);

	/* A log with no frame at all does not spin forever: EOF. */
	src = open_loop(tmp_file("loop-empty.log", "junk\n", 5), 0, &ifaces);
	if (src) {
		CHECK_EQ(src->ops->read(src, f, 7, &n, &wait), CNP_ERR_EOF);
		CHECK_EQ(n, 0);
		cnp_source_destroy(src);
	}
}

/* duration_s ends a replay after that much log time, even an endless
 * loop: frames stamped before first + duration_s, then EOF for good. */
static void test_duration(void)
{
	static const char text[] = "(1.000000) can0 123#11\n(1.500000) can0 456#22\n";
	struct cnp_ifaces ifaces;
	struct cnp_source *src =
		open_loop(tmp_file("duration.log", text, sizeof(text) - 1), 1.5, &ifaces);
	if (!src)
		return;
	struct cnp_frame f[16];
	size_t n = 0, total = 0;
	uint64_t wait = 0;
	int rc = CNP_OK;
	for (int i = 0; i < 10 && rc == CNP_OK; i++) {
		rc = src->ops->read(src, f, 2, &n, &wait);
		for (size_t k = 0; k < n; k++)
			CHECK(f[k].ts_us < 2500000u);
		total += n;
	}
	CHECK_EQ(rc, CNP_ERR_EOF);
	/* 1.0, 1.5, 1.501, 2.001; 2.002 and 2.502 ... : 2.502 >= 2.5 ends. */
	CHECK_EQ(total, 5);
	CHECK_EQ(src->stats.frames, 5);
	CHECK_EQ(src->ops->read(src, f, 2, &n, &wait), CNP_ERR_EOF);
	CHECK_EQ(n, 0);
	cnp_source_destroy(src);
}

int main(void)
{
	test_valid();
	test_malformed();
	test_huge_line();
	test_edges();
	test_iface_limit();
	test_pace();
	test_trace();
	test_loop();
	test_duration();
	return check_finish();
}
