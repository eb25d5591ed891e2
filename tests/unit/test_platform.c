/* The platform seams that need no server: SHA-256, zlib, files, threads. */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/clock.h"
#include "platform/crypto.h"
#include "platform/fs.h"
#include "platform/random.h"
#include "platform/thread.h"
#include "platform/zlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void test_sha256(void)
{
	/* FIPS 180-2 examples. */
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
	};
	for (size_t i = 0; i < 3; i++) {
		uint8_t d[32];
		char hex[65];
		cnp_sha256(v[i].in, strlen(v[i].in), d);
		cnp_hex(d, 32, hex);
		CHECK_STR(hex, v[i].hex);
		/* Incremental in odd pieces gives the same. */
		struct cnp_sha256 c;
		cnp_sha256_init(&c);
		for (size_t k = 0; k < strlen(v[i].in); k += 3) {
			size_t n = strlen(v[i].in) - k < 3 ? strlen(v[i].in) - k : 3;
			cnp_sha256_update(&c, v[i].in + k, n);
		}
		cnp_sha256_final(&c, d);
		cnp_hex(d, 32, hex);
		CHECK_STR(hex, v[i].hex);
	}
}

static void test_zlib(void)
{
	size_t n = 100000;
	uint8_t *in = malloc(n), *z = malloc(cnp_zlib_bound(n)), *out = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)((i * 7) ^ (i >> 5));
	size_t zlen = 0, olen = 0;
	CHECK_EQ(cnp_zlib_compress(in, n, 6, z, cnp_zlib_bound(n), &zlen), CNP_OK);
	CHECK(zlen > 0 && zlen < n);
	CHECK_EQ(cnp_zlib_decompress(z, zlen, out, n, &olen), CNP_OK);
	CHECK_EQ(olen, n);
	CHECK(memcmp(in, out, n) == 0);
	/* Too small an output, truncated input, corrupted input, trailing junk. */
	CHECK_EQ(cnp_zlib_compress(in, n, 6, z, 10, &zlen), CNP_ERR_FULL);
	CHECK_EQ(cnp_zlib_compress(in, n, 6, z, cnp_zlib_bound(n), &zlen), CNP_OK);
	CHECK_EQ(cnp_zlib_decompress(z, zlen, out, n - 1, &olen), CNP_ERR_CORRUPT);
	CHECK_EQ(cnp_zlib_decompress(z, zlen / 2, out, n, &olen), CNP_ERR_CORRUPT);
	z[zlen / 2] ^= 0x55;
	CHECK_EQ(cnp_zlib_decompress(z, zlen, out, n, &olen), CNP_ERR_CORRUPT);
	z[zlen / 2] ^= 0x55;
	z[zlen] = 0;
	CHECK_EQ(cnp_zlib_decompress(z, zlen + 1, out, n, &olen), CNP_ERR_CORRUPT);
	/* Incompressible data stays within the bound. */
	cnp_random_bytes(in, n);
	CHECK_EQ(cnp_zlib_compress(in, n, 9, z, cnp_zlib_bound(n), &zlen), CNP_OK);
	free(in);
	free(z);
	free(out);
}

/* Deflate blocks cut where the statistics change: two halves drawn from
 * two disjoint 64-letter alphabets need 6 bits a letter with a Huffman code
 * each, 7 with one code for both (16,000 letters: zlib's own buffer would
 * end a block only after 16,384). Offsets out of range or repeated are
 * skipped; the result is an ordinary zlib stream. */
static void test_zlib_blocks(void)
{
	size_t n = 16000;
	uint8_t *in = malloc(n), *z = malloc(cnp_zlib_bound(n) + 64), *out = malloc(n);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		in[i] = (uint8_t)((i < n / 2 ? 0 : 128) + (x >> 24) % 64);
	}
	size_t one = 0, two = 0, olen = 0;
	size_t ends[] = {0, n / 2, n / 2, n, n + 5};
	CHECK_EQ(cnp_zlib_compress(in, n, 6, z, cnp_zlib_bound(n), &one), CNP_OK);
	CHECK_EQ(cnp_zlib_compress_blocks(in, n, ends, 5, 6, z, cnp_zlib_bound(n) + 40, &two),
	         CNP_OK);
	CHECK(two + n / 16 < one); /* about 1 bit a letter less */
	CHECK_EQ(cnp_zlib_decompress(z, two, out, n, &olen), CNP_OK);
	CHECK_EQ(olen, n);
	CHECK(memcmp(in, out, n) == 0);
	CHECK_EQ(cnp_zlib_compress_blocks(in, n, ends, 5, 6, z, 100, &two), CNP_ERR_FULL);
	free(in);
	free(z);
	free(out);
}

static int count_cb(const char *name, void *arg)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

static void test_fs(void)
{
	const char *dir = check_tmpdir();
	char sub[512], path[600];
	snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
	CHECK_EQ(cnp_fs_mkdirs(sub), CNP_OK);
	CHECK_EQ(cnp_fs_mkdirs(sub), CNP_OK); /* idempotent */
	CHECK(cnp_fs_is_dir(sub));
	CHECK_EQ(cnp_fs_write_atomic(sub, "x.bin", "hello", 5), CNP_OK);
	CHECK_EQ(cnp_fs_write_atomic(sub, "x.bin", "hello!", 6), CNP_OK); /* replaces */
	snprintf(path, sizeof(path), "%s/x.bin", sub);
	uint8_t *data = NULL;
	size_t len = 0;
	CHECK_EQ(cnp_fs_read_file(path, 100, &data, &len), CNP_OK);
	CHECK_EQ(len, 6);
	CHECK(data && memcmp(data, "hello!", 6) == 0 && data[6] == 0);
	cnp_free(data);
	CHECK_EQ(cnp_fs_read_file(path, 5, &data, &len), CNP_ERR_TOOBIG);
	uint64_t size = 0;
	CHECK_EQ(cnp_fs_file_size(path, &size), CNP_OK);
	CHECK_EQ(size, 6);
	int count = 0;
	CHECK_EQ(cnp_fs_list(sub, count_cb, &count), CNP_OK);
	CHECK_EQ(count, 1); /* no temporary file left behind */
	uint64_t free_bytes = 0;
	CHECK_EQ(cnp_fs_free_bytes(sub, &free_bytes), CNP_OK);
	CHECK(free_bytes > 0);
	char to[600];
	snprintf(to, sizeof(to), "%s/a/y.bin", dir);
	CHECK_EQ(cnp_fs_rename(path, to), CNP_OK);
	CHECK_EQ(cnp_fs_remove(path), CNP_ERR_NOTFOUND);
	CHECK_EQ(cnp_fs_remove(to), CNP_OK);
	CHECK_EQ(cnp_fs_read_file(to, 100, &data, &len), CNP_ERR_NOTFOUND);
	char nodir[600];
	snprintf(nodir, sizeof(nodir), "%s/missing", dir);
	CHECK_EQ(cnp_fs_list(nodir, count_cb, &count), CNP_ERR_NOTFOUND);
	CHECK_EQ(cnp_fs_write_atomic(nodir, "z", "1", 1), CNP_ERR_IO);
	CHECK(strlen(cnp_fs_last_error()) > 0);
	/* A directory is not a file to read. */
	CHECK(cnp_fs_read_file(sub, 100, &data, &len) != CNP_OK);
}

struct worker {
	struct cnp_event *ev;
	struct cnp_mutex *m;
	int counter;
};

static void worker_fn(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 1000; i++) {
		cnp_mutex_lock(w->m);
		w->counter++;
		cnp_mutex_unlock(w->m);
	}
	cnp_event_signal(w->ev);
}

static void test_threads(void)
{
	struct worker w = {.ev = cnp_event_create(), .m = cnp_mutex_create()};
	CHECK(w.ev && w.m);
	struct cnp_thread *t = NULL;
	CHECK_EQ(cnp_thread_start(&t, worker_fn, &w), CNP_OK);
	CHECK_EQ(cnp_event_wait(w.ev, 10000000u), 1);
	cnp_thread_join(t);
	CHECK_EQ(w.counter, 1000);
	uint64_t t0 = cnp_clock_mono_us();
	CHECK_EQ(cnp_event_wait(w.ev, 20000u), 0); /* times out, not signalled */
	CHECK(cnp_clock_mono_us() - t0 >= 19000u);
	cnp_event_destroy(w.ev);
	cnp_mutex_destroy(w.m);
	CHECK(cnp_clock_wall_us() > 1500000000000000u);
	uint64_t r = cnp_random_below(10);
	CHECK(r < 10);
	CHECK_EQ(cnp_random_below(0), 0);
}

int main(void)
{
	test_sha256();
	test_zlib();
	test_zlib_blocks();
	test_fs();
	test_threads();
	return check_finish();
}
