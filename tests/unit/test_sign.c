/* Signed batches: the ECDSA P-256 seam, the signature block of the
 * container, and every way a signed batch can fail its checks.
 *
 *   test_sign                  run the checks
 *   test_sign --print-example  print the worked example of docs/FORMAT.md
 *
 * Keys: tests/data/keys/test-only-* (published, test-only). */
#include "check.h"

#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/crypto.h"
#include "platform/fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEYS CANOPY_SOURCE_DIR "/tests/data/keys/"

static struct cnp_ifaces ifaces;

/* A private key copied into the test's folder with mode `mode` (git checks
 * the originals out 0644, which the loader refuses). */
static const char *private_key(const char *name, unsigned mode)
{
	static char path[512];
	char src[512];
	snprintf(src, sizeof(src), KEYS "%s", name);
	snprintf(path, sizeof(path), "%s/%o-%s", check_tmpdir(), mode, name);
	uint8_t *data = NULL;
	size_t len = 0;
	if (cnp_fs_read_file(src, 65536, &data, &len) != CNP_OK ||
	    check_write_file(path, data, len) != 0 || chmod(path, mode) != 0) {
		fprintf(stderr, "cannot copy %s to %s\n", src, path);
		exit(1);
	}
	cnp_free(data);
	return path;
}

static struct cnp_signer *load_signer(const char *name)
{
	struct cnp_signer *s = NULL;
	char why[256] = "";
	int rc = cnp_signer_load(private_key(name, 0600), &s, why, sizeof(why));
	if (rc != CNP_OK) {
		fprintf(stderr, "cannot load %s: %s\n", name, why);
		exit(1);
	}
	return s;
}

static struct cnp_verifier *load_verifier(const char *name)
{
	struct cnp_verifier *v = NULL;
	char why[256] = "";
	if (cnp_verifier_load(name, &v, why, sizeof(why)) != CNP_OK) {
		fprintf(stderr, "cannot load %s: %s\n", name, why);
		exit(1);
	}
	return v;
}

static void make_frame(struct cnp_frame *f, unsigned i)
{
	memset(f, 0, sizeof(*f));
	f->ts_us = 1700000000000000u + i * 1000u;
	f->iface = (uint8_t)(i % 2);
	f->id = 0x100 + i % 7;
	f->len = (uint8_t)(i % 9);
	for (unsigned k = 0; k < f->len; k++)
		f->data[k] = (uint8_t)(i + k);
}

/* A batch of `n` frames, signed by `signer` when not NULL. */
static uint8_t *build(unsigned n, const struct cnp_signer *signer, size_t *len)
{
	struct cnp_batch_writer *w = NULL;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, 1u << 16, 6), CNP_OK);
	for (unsigned i = 0; i < n; i++) {
		struct cnp_frame f;
		make_frame(&f, i);
		CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	}
	struct cnp_batch_info info = {
		.vehicle = "veh-1", .spool_id = "0123456789abcdef", .boot = 3, .seq = 4,
		.ifaces = &ifaces, .sealed_wall_us = 1700000000000000u, .sealed_mono_us = 9,
		.signer = signer,
	};
	uint8_t *out = NULL, digest[32];
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, len, digest), CNP_OK);
	cnp_batch_writer_destroy(w);
	if (out)
		CHECK(memcmp(digest, out + *len - 32, 32) == 0);
	return out;
}

static void reseal(uint8_t *buf, size_t len)
{
	cnp_sha256(buf, len - 32, buf + len - 32);
}

static int count_cb(const struct cnp_frame *f, const char *ifname, void *arg)
{
	(void)f;
	(void)ifname;
	(*(unsigned *)arg)++;
	return 0;
}

/* Opens, decodes and verifies; the first failure's code, `why` set. */
static int check_batch(const uint8_t *buf, size_t len, const struct cnp_verifier *v,
                       char *why, size_t why_len)
{
	struct cnp_batch b;
	unsigned n = 0;
	int rc = cnp_batch_open(buf, len, &b, why, why_len);
	if (rc == CNP_OK)
		rc = cnp_batch_frames(&b, count_cb, &n, why, why_len);
	if (rc == CNP_OK && v)
		rc = cnp_batch_verify(&b, v, why, why_len);
	return rc;
}

static void test_key_loading(void)
{
	struct cnp_signer *s = NULL;
	struct cnp_verifier *v = NULL;
	char why[256];

	/* Too open: refused, with the mode. */
	why[0] = 0;
	CHECK_EQ(cnp_signer_load(private_key("test-only-p256-a.key.pem", 0644), &s, why,
	                         sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "mode 0644");
	CHECK_CONTAINS(why, "chmod 600");
	CHECK(s == NULL);
	CHECK_EQ(cnp_signer_load(private_key("test-only-p256-a.key.pem", 0604), &s, why,
	                         sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "mode 0604");
	CHECK_EQ(cnp_signer_load(private_key("test-only-p256-a.key.pem", 0400), &s, why,
	                         sizeof(why)),
	         CNP_OK);
	cnp_signer_destroy(s);
	s = NULL;

	/* Another curve: refused by name. */
	CHECK_EQ(cnp_signer_load(private_key("test-only-p384.key.pem", 0600), &s, why, sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "secp384r1");
	CHECK_CONTAINS(why, "P-256");
	CHECK_EQ(cnp_verifier_load(KEYS "test-only-p384.pub.pem", &v, why, sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "secp384r1");

	/* The wrong half of a pair, a missing file, a file that is no key. */
	CHECK_EQ(cnp_signer_load(private_key("test-only-p256-a.pub.pem", 0600), &s, why, sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "public key");
	CHECK_EQ(cnp_verifier_load(KEYS "test-only-p256-a.key.pem", &v, why, sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "private key");
	CHECK_EQ(cnp_signer_load(KEYS "no-such-key.pem", &s, why, sizeof(why)), CNP_ERR_NOTFOUND);
	CHECK_CONTAINS(why, "No such file");
	CHECK_EQ(cnp_verifier_load(KEYS "no-such-key.pem", &v, why, sizeof(why)), CNP_ERR_NOTFOUND);
	CHECK_EQ(cnp_verifier_load(KEYS "README.md", &v, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_CONTAINS(why, "not a PEM public key");
	CHECK_EQ(cnp_verifier_load(KEYS, &v, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_CONTAINS(why, "not a regular file");
	char empty[512];
	snprintf(empty, sizeof(empty), "%s/empty.pem", check_tmpdir());
	CHECK_EQ(check_write_file(empty, "", 0), 0);
	chmod(empty, 0600);
	CHECK_EQ(cnp_signer_load(empty, &s, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_CONTAINS(why, "empty");
	CHECK(s == NULL && v == NULL);
	cnp_signer_destroy(NULL);
	cnp_verifier_destroy(NULL);
}

static void test_sign_verify_seam(void)
{
	struct cnp_signer *a = load_signer("test-only-p256-a.key.pem");
	struct cnp_verifier *va = load_verifier(KEYS "test-only-p256-a.pub.pem");
	struct cnp_verifier *vb = load_verifier(KEYS "test-only-p256-b.pub.pem");
	uint8_t hash[32], sig[CNP_ECDSA_P256_SIG_MAX], sig2[CNP_ECDSA_P256_SIG_MAX];
	size_t len = 0, len2 = 0;
	cnp_sha256("canopy", 6, hash);
	CHECK_EQ(cnp_signer_sign(a, hash, sig, &len), CNP_OK);
	CHECK(len >= 8 && len <= CNP_ECDSA_P256_SIG_MAX);
	CHECK_EQ(sig[0], 0x30);
	/* RFC 6979: the same key and digest give the same signature. */
	CHECK_EQ(cnp_signer_sign(a, hash, sig2, &len2), CNP_OK);
	CHECK(len == len2 && memcmp(sig, sig2, len) == 0);

	CHECK_EQ(cnp_verifier_verify(va, hash, sig, len), CNP_OK);
	CHECK_EQ(cnp_verifier_verify(vb, hash, sig, len), CNP_ERR_SIGNATURE);
	uint8_t other[32];
	memcpy(other, hash, 32);
	other[31] ^= 1;
	CHECK_EQ(cnp_verifier_verify(va, other, sig, len), CNP_ERR_SIGNATURE);
	/* Strict DER: short, long, trailing byte, a flipped bit in every byte. */
	CHECK_EQ(cnp_verifier_verify(va, hash, sig, len - 1), CNP_ERR_SIGNATURE);
	CHECK_EQ(cnp_verifier_verify(va, hash, sig, 0), CNP_ERR_SIGNATURE);
	uint8_t longer[CNP_ECDSA_P256_SIG_MAX + 8] = {0};
	memcpy(longer, sig, len);
	CHECK_EQ(cnp_verifier_verify(va, hash, longer, len + 1), CNP_ERR_SIGNATURE);
	CHECK_EQ(cnp_verifier_verify(va, hash, longer, sizeof(longer)), CNP_ERR_SIGNATURE);
	unsigned accepted = 0;
	for (size_t i = 0; i < len; i++) {
		memcpy(sig2, sig, len);
		sig2[i] ^= (uint8_t)(1u << (i % 8));
		accepted += cnp_verifier_verify(va, hash, sig2, len) == CNP_OK;
	}
	CHECK_EQ(accepted, 0);
	cnp_signer_destroy(a);
	cnp_verifier_destroy(va);
	cnp_verifier_destroy(vb);
}

static void test_signed_batch(void)
{
	struct cnp_signer *a = load_signer("test-only-p256-a.key.pem");
	struct cnp_verifier *va = load_verifier(KEYS "test-only-p256-a.pub.pem");
	struct cnp_verifier *vb = load_verifier(KEYS "test-only-p256-b.pub.pem");
	char why[256] = "";
	size_t len = 0, ulen = 0;
	uint8_t *buf = build(200, a, &len);
	uint8_t *ubuf = build(200, NULL, &ulen);
	CHECK(buf && ubuf);
	if (!buf || !ubuf)
		return;
	/* Same content: the signed one is longer by the block alone. */
	CHECK(len > ulen + CNP_BATCH_SIG_HEADER_LEN + 60 &&
	      len <= ulen + CNP_BATCH_SIG_HEADER_LEN + CNP_ECDSA_P256_SIG_MAX);
	CHECK_EQ(buf[5], 1);   /* minor 1 */
	CHECK_EQ(buf[6], 1);   /* flag: signed */
	CHECK_EQ(ubuf[6], 0);

	/* Sign + verify OK, and the parsed fields. */
	struct cnp_batch b;
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK(b.is_signed);
	CHECK_EQ(b.minor, 1);
	CHECK_EQ(b.flags, CNP_BATCH_FLAG_SIGNED);
	CHECK_EQ(b.sig_type, CNP_SIG_ECDSA_P256_SHA256);
	CHECK_EQ(b.signed_len, ulen - 32);
	CHECK_EQ(b.sig_offset, ulen - 32 + CNP_BATCH_SIG_HEADER_LEN);
	CHECK_EQ(b.sig_offset + b.sig_len, len - 32);
	CHECK_EQ(b.frames, 200);
	CHECK_EQ(check_batch(buf, len, va, why, sizeof(why)), CNP_OK);
	/* A signed batch reads without a key too. */
	CHECK_EQ(check_batch(buf, len, NULL, why, sizeof(why)), CNP_OK);

	/* Wrong key. */
	CHECK_EQ(check_batch(buf, len, vb, why, sizeof(why)), CNP_ERR_SIGNATURE);
	CHECK_CONTAINS(why, "another key");

	/* Unsigned batch where a key is required. */
	CHECK_EQ(check_batch(ubuf, ulen, va, why, sizeof(why)), CNP_ERR_SIGNATURE);
	CHECK_CONTAINS(why, "unsigned");

	uint8_t *copy = malloc(len);
	/* Every flipped bit (sampled) is caught by the digest. */
	unsigned caught = 0, tried = 0;
	for (size_t pos = 0; pos < len; pos += 1 + len / 500) {
		memcpy(copy, buf, len);
		copy[pos] ^= 0x04;
		tried++;
		caught += check_batch(copy, len, va, why, sizeof(why)) != CNP_OK;
	}
	CHECK_EQ(caught, tried);
	memcpy(copy, buf, len);
	copy[len / 2] ^= 1;
	CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "digest");

	/* A tamperer who recomputes the digest is caught by the signature:
	 * in the manifest, in the payload, in the header, in the signature. */
	size_t veh = 0;
	while (veh + 5 <= len && memcmp(buf + veh, "veh-1", 5) != 0)
		veh++;
	CHECK(veh + 5 <= len);
	if (veh + 5 <= len) {
		memcpy(copy, buf, len);
		copy[veh + 4] = '2';
		reseal(copy, len);
		CHECK_EQ(check_batch(copy, len, NULL, why, sizeof(why)), CNP_OK);
		CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_SIGNATURE);
		CHECK_CONTAINS(why, "tampered");
	}
	size_t positions[] = {7, 12, b.sections[0].offset - 1, b.sig_offset - 5,
	                      b.sig_offset + 3, b.sig_offset + b.sig_len - 1};
	for (size_t i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		memcpy(copy, buf, len);
		copy[positions[i]] ^= 0x20;
		reseal(copy, len);
		int rc = check_batch(copy, len, va, why, sizeof(why));
		if (rc != CNP_ERR_SIGNATURE && rc != CNP_ERR_CORRUPT)
			fprintf(stderr, "position %zu: rc %d (%s)\n", positions[i], rc, why);
		CHECK(rc == CNP_ERR_SIGNATURE || rc == CNP_ERR_CORRUPT);
	}
	/* Every re-digested flip in the signed bytes that still opens fails
	 * the signature. */
	unsigned opened = 0, refused = 0;
	for (size_t pos = CNP_BATCH_HEADER_LEN; pos < b.signed_len; pos += 1 + b.signed_len / 60) {
		memcpy(copy, buf, len);
		copy[pos] ^= 0x01;
		reseal(copy, len);
		struct cnp_batch t;
		if (cnp_batch_open(copy, len, &t, why, sizeof(why)) != CNP_OK)
			continue;
		opened++;
		refused += cnp_batch_verify(&t, va, why, sizeof(why)) == CNP_ERR_SIGNATURE;
	}
	CHECK(opened > 10);
	CHECK_EQ(refused, opened);

	/* Stripping the signature (flag cleared, block cut, digest redone)
	 * gives a valid but unsigned batch: refused when a key is required. */
	memcpy(copy, buf, len);
	copy[6] = 0;
	memmove(copy + b.signed_len, copy + len - 32, 32);
	size_t stripped = b.signed_len + 32;
	reseal(copy, stripped);
	CHECK_EQ(check_batch(copy, stripped, NULL, why, sizeof(why)), CNP_OK);
	CHECK_EQ(check_batch(copy, stripped, va, why, sizeof(why)), CNP_ERR_SIGNATURE);
	CHECK_CONTAINS(why, "unsigned");

	/* Every truncation is caught. */
	caught = tried = 0;
	for (size_t cut = 0; cut < len; cut += 1 + len / 300) {
		tried++;
		caught += check_batch(buf, cut, va, why, sizeof(why)) != CNP_OK;
	}
	CHECK_EQ(caught, tried);
	CHECK_EQ(check_batch(buf, len - 1, va, why, sizeof(why)), CNP_ERR_CORRUPT);

	/* A malformed signature block, digest redone. */
	memcpy(copy, buf, len);
	copy[b.signed_len + 1] = 7; /* reserved */
	reseal(copy, len);
	CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "reserved");
	memcpy(copy, buf, len);
	copy[b.signed_len + 2]++; /* length */
	reseal(copy, len);
	CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "signature block");
	memcpy(copy, buf, len);
	copy[b.signed_len] = 9; /* type */
	reseal(copy, len);
	CHECK_EQ(check_batch(copy, len, NULL, why, sizeof(why)), CNP_OK);
	CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_SIGNATURE);
	CHECK_CONTAINS(why, "type 9");
	/* Flag set on a batch without a block. */
	memcpy(copy, ubuf, ulen);
	copy[6] = 1;
	reseal(copy, ulen);
	CHECK_EQ(check_batch(copy, ulen, va, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "signature block");

	/* Unknown major version: refused before anything else. */
	memcpy(copy, buf, len);
	copy[4] = 2;
	reseal(copy, len);
	CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_UNSUPPORTED);
	CHECK_CONTAINS(why, "version 2.1");
	/* A later minor of major 1 is read (and its signature then fails,
	 * since the header is signed). */
	memcpy(copy, buf, len);
	copy[5] = 9;
	reseal(copy, len);
	CHECK_EQ(check_batch(copy, len, NULL, why, sizeof(why)), CNP_OK);
	CHECK_EQ(check_batch(copy, len, va, why, sizeof(why)), CNP_ERR_SIGNATURE);

	free(copy);
	cnp_free(buf);
	cnp_free(ubuf);
	cnp_signer_destroy(a);
	cnp_verifier_destroy(va);
	cnp_verifier_destroy(vb);
}

struct text {
	char buf[4096];
	size_t len;
};

static int text_cb(const struct cnp_frame *f, const char *ifname, void *arg)
{
	struct text *t = arg;
	size_t n = 0;
	int rc = cnp_candump_format(f, ifname, t->buf + t->len, sizeof(t->buf) - t->len, &n);
	t->len += n;
	return rc;
}

static void test_minor0_batch_reads(void)
{
	/* A batch written by canopy before signatures existed (format 1.0,
	 * codec rows-zlib): it still opens, decodes to its log byte for byte,
	 * and is reported unsigned. */
	uint8_t *data = NULL, *log = NULL;
	size_t len = 0, log_len = 0;
	char why[256] = "";
	CHECK_EQ(cnp_fs_read_file(CANOPY_SOURCE_DIR "/tests/data/batches/v1.0-rows-zlib.cnp",
	                          65536, &data, &len),
	         CNP_OK);
	CHECK_EQ(cnp_fs_read_file(CANOPY_SOURCE_DIR "/tests/data/batches/v1.0-rows-zlib.log",
	                          65536, &log, &log_len),
	         CNP_OK);
	if (!data || !log)
		return;
	struct cnp_batch b;
	CHECK_EQ(cnp_batch_open(data, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(b.minor, 0);
	CHECK(!b.is_signed);
	static struct text t;
	t.len = 0;
	CHECK_EQ(cnp_batch_frames(&b, text_cb, &t, why, sizeof(why)), CNP_OK);
	CHECK(t.len == log_len && memcmp(t.buf, log, log_len) == 0);
	struct cnp_verifier *va = load_verifier(KEYS "test-only-p256-a.pub.pem");
	CHECK_EQ(cnp_batch_verify(&b, va, why, sizeof(why)), CNP_ERR_SIGNATURE);
	CHECK_CONTAINS(why, "unsigned");
	cnp_verifier_destroy(va);
	cnp_free(data);
	cnp_free(log);
}

static void test_alloc_failures(void)
{
	/* Fail each allocation of a signed build-and-verify in turn: a clean
	 * error, never a crash. mbedTLS allocates with libc, outside the hook. */
	struct cnp_signer *a = load_signer("test-only-p256-a.key.pem");
	struct cnp_verifier *va = load_verifier(KEYS "test-only-p256-a.pub.pem");
	unsigned failures_seen = 0;
	for (long n = 0; n < 200; n++) {
		cnp_alloc_fail_after(n);
		struct cnp_batch_writer *w = NULL;
		uint8_t *out = NULL, digest[32];
		size_t len = 0;
		char why[256];
		int rc = cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, 16384, 6);
		if (rc == CNP_OK) {
			for (unsigned i = 0; i < 20; i++) {
				struct cnp_frame f;
				make_frame(&f, i);
				cnp_batch_writer_add(w, &f);
			}
			struct cnp_batch_info info = {.vehicle = "v", .spool_id = "0000000000000000",
			                              .ifaces = &ifaces, .signer = a};
			rc = cnp_batch_writer_finish(w, &info, &out, &len, digest);
		}
		if (rc == CNP_OK)
			rc = check_batch(out, len, va, why, sizeof(why));
		cnp_alloc_fail_after(-1);
		cnp_free(out);
		cnp_batch_writer_destroy(w);
		if (rc == CNP_OK)
			break;
		CHECK(rc == CNP_ERR_NOMEM || rc == CNP_ERR_CORRUPT);
		failures_seen++;
	}
	CHECK(failures_seen > 3);
	/* Key loading under allocation failure. */
	const char *path = private_key("test-only-p256-a.key.pem", 0600);
	for (long n = 0; n < 4; n++) {
		struct cnp_signer *s = NULL;
		char why[256];
		cnp_alloc_fail_after(n);
		int rc = cnp_signer_load(path, &s, why, sizeof(why));
		cnp_alloc_fail_after(-1);
		CHECK(rc == CNP_OK || rc == CNP_ERR_NOMEM);
		CHECK((rc == CNP_OK) == (s != NULL));
		cnp_signer_destroy(s);
	}
	cnp_signer_destroy(a);
	cnp_verifier_destroy(va);
}

/* ---- the worked example of docs/FORMAT.md ------------------------------- */

static uint8_t *example(size_t *len)
{
	struct cnp_signer *a = load_signer("test-only-p256-a.key.pem");
	struct cnp_ifaces one;
	uint8_t idx;
	cnp_ifaces_init(&one);
	cnp_ifaces_intern(&one, "can0", 4, &idx);
	struct cnp_frame f;
	struct cnp_candump_line l;
	const char *line = "(1.000000) can0 123#11";
	CHECK_EQ(cnp_candump_parse(line, strlen(line), &f, &l), CNP_OK);
	f.iface = idx;
	struct cnp_batch_writer *w = NULL;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_rows_zlib, 4096, 6), CNP_OK);
	CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	struct cnp_batch_info info = {
		.vehicle = "demo", .spool_id = "0123456789abcdef", .boot = 1, .seq = 0,
		.ifaces = &one, .sealed_wall_us = 1700000000123456u, .sealed_mono_us = 2000000,
		.signer = a,
	};
	uint8_t *out = NULL, digest[32];
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, len, digest), CNP_OK);
	cnp_batch_writer_destroy(w);
	cnp_signer_destroy(a);
	return out;
}

static void test_example_reproducible(void)
{
	size_t l1 = 0, l2 = 0;
	uint8_t *e1 = example(&l1), *e2 = example(&l2);
	CHECK(e1 && e2 && l1 == l2 && memcmp(e1, e2, l1) == 0);
	struct cnp_verifier *va = load_verifier(KEYS "test-only-p256-a.pub.pem");
	char why[256] = "";
	if (e1)
		CHECK_EQ(check_batch(e1, l1, va, why, sizeof(why)), CNP_OK);
	cnp_verifier_destroy(va);
	cnp_free(e1);
	cnp_free(e2);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int print_example(void)
{
	size_t len = 0;
	uint8_t *e = example(&len);
	if (!e)
		return 1;
	size_t mlen = le32(e + 8);
	size_t sec = CNP_BATCH_HEADER_LEN + mlen;
	size_t body = le32(e + sec + 12);
	size_t sig = sec + CNP_BATCH_SECTION_HEADER_LEN + body;
	size_t slen = (size_t)e[sig + 2] | (size_t)e[sig + 3] << 8;
	uint8_t hash[32];
	char hex[65];
	printf("# %zu bytes; signed with tests/data/keys/test-only-p256-a.key.pem\n", len);
	check_hex_lines(e, CNP_BATCH_HEADER_LEN, "header");
	printf("%.*s\n", (int)mlen, (const char *)e + CNP_BATCH_HEADER_LEN);
	check_hex_lines(e + sec, CNP_BATCH_SECTION_HEADER_LEN, "section header");
	check_hex_lines(e + sec + CNP_BATCH_SECTION_HEADER_LEN, body, "section body (zlib)");
	cnp_sha256(e, sig, hash);
	cnp_hex(hash, 32, hex);
	printf("# SHA-256 of bytes 0..%zu (what is signed): %s\n", sig - 1, hex);
	check_hex_lines(e + sig, CNP_BATCH_SIG_HEADER_LEN, "signature block header");
	check_hex_lines(e + sig + CNP_BATCH_SIG_HEADER_LEN, slen, "DER signature");
	check_hex_lines(e + len - 32, 32, "SHA-256 of all bytes before");
	cnp_free(e);
	return check_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	cnp_json_init();
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	cnp_ifaces_intern(&ifaces, "can0", 4, &idx);
	cnp_ifaces_intern(&ifaces, "can1", 4, &idx);
	if (argc > 1 && strcmp(argv[1], "--print-example") == 0)
		return print_example();
	test_key_loading();
	test_sign_verify_seam();
	test_signed_batch();
	test_minor0_batch_reads();
	test_alloc_failures();
	test_example_reproducible();
	return check_finish();
}
