/* Encryption at rest: the seal seam (ECDH P-256, HKDF-SHA256, AES-256-GCM)
 * and encrypted batches: round trip, wrong key, tampering, the chain and
 * signature checked without the key, and the worked example of
 * docs/FORMAT.md.
 *
 *   test_encrypt                   run the tests
 *   test_encrypt --print-example   print the encrypted example of FORMAT.md
 *
 * Keys: tests/data/keys/test-only-* (published, test-only); the receiver
 * is key pair B. */
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

/* The fixed ephemeral scalar of the worked example: bytes 1, 2, ..., 32. */
static uint8_t example_ephemeral[CNP_SEAL_EPHEMERAL_LEN];

/* memmem() is a GNU extension: the first place of needle in hay, or NULL. */
static uint8_t *find(const void *hay, size_t len, const void *needle, size_t n)
{
	const uint8_t *h = hay;
	for (size_t i = 0; n <= len && i <= len - n; i++)
		if (memcmp(h + i, needle, n) == 0)
			return (uint8_t *)(uintptr_t)(h + i);
	return NULL;
}

static struct cnp_signer *load_private(const char *name)
{
	char src[512], path[512];
	snprintf(src, sizeof(src), KEYS "%s", name);
	snprintf(path, sizeof(path), "%s/%s", check_tmpdir(), name);
	uint8_t *data = NULL;
	size_t len = 0;
	struct cnp_signer *s = NULL;
	char why[256] = "";
	if (cnp_fs_read_file(src, 65536, &data, &len) != CNP_OK ||
	    check_write_file(path, data, len) != 0 || chmod(path, 0600) != 0 ||
	    cnp_signer_load(path, &s, why, sizeof(why)) != CNP_OK) {
		fprintf(stderr, "cannot load %s: %s\n", name, why);
		exit(1);
	}
	cnp_free(data);
	return s;
}

static struct cnp_verifier *load_public(const char *name)
{
	struct cnp_verifier *v = NULL;
	char why[256] = "";
	if (cnp_verifier_load(name, &v, why, sizeof(why)) != CNP_OK) {
		fprintf(stderr, "cannot load %s: %s\n", name, why);
		exit(1);
	}
	return v;
}

static void test_seal_seam(void)
{
	struct cnp_verifier *to = load_public(KEYS "test-only-p256-b.pub.pem");
	struct cnp_signer *kb = load_private("test-only-p256-b.key.pem");
	struct cnp_signer *ka = load_private("test-only-p256-a.key.pem");
	const char *msg = "(1700000000.000000) can0 123#DEADBEEF";
	size_t n = strlen(msg);
	uint8_t sealed[256], sealed2[256], plain[256];
	char why[256];
	const uint8_t aad[] = "bound";

	CHECK_EQ(cnp_seal(to, NULL, aad, 5, (const uint8_t *)msg, n, sealed), CNP_OK);
	/* Fresh ephemeral keys: the same message never seals the same way. */
	CHECK_EQ(cnp_seal(to, NULL, aad, 5, (const uint8_t *)msg, n, sealed2), CNP_OK);
	CHECK(memcmp(sealed + CNP_SEAL_KEYID_LEN, sealed2 + CNP_SEAL_KEYID_LEN,
	             n + CNP_SEAL_OVERHEAD - CNP_SEAL_KEYID_LEN) != 0);
	CHECK(memcmp(sealed, sealed2, CNP_SEAL_KEYID_LEN) == 0); /* same receiver */
	CHECK_EQ(sealed[CNP_SEAL_KEYID_LEN], 0x04);             /* uncompressed point */
	CHECK(find(sealed, n + CNP_SEAL_OVERHEAD, "DEADBEEF", 8) == NULL);

	why[0] = 0;
	CHECK_EQ(cnp_unseal(kb, aad, 5, sealed, n + CNP_SEAL_OVERHEAD, plain, why, sizeof(why)),
	         CNP_OK);
	CHECK(memcmp(plain, msg, n) == 0);

	/* Another receiver's key: named as such, nothing decrypted. */
	memset(plain, 0, sizeof(plain));
	CHECK_EQ(cnp_unseal(ka, aad, 5, sealed, n + CNP_SEAL_OVERHEAD, plain, why, sizeof(why)),
	         CNP_ERR_KEY);
	CHECK_CONTAINS(why, "encrypted to another key");

	/* Each byte of ciphertext, tag or ephemeral point, and the aad. */
	size_t spots[] = {CNP_SEAL_KEYID_LEN + 5, CNP_SEAL_HEAD_LEN, CNP_SEAL_HEAD_LEN + n - 1,
	                  CNP_SEAL_HEAD_LEN + n, n + CNP_SEAL_OVERHEAD - 1};
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		sealed[spots[i]] ^= 0x40;
		memset(plain, 0xAA, sizeof(plain));
		why[0] = 0;
		CHECK_EQ(cnp_unseal(kb, aad, 5, sealed, n + CNP_SEAL_OVERHEAD, plain, why,
		                    sizeof(why)),
		         CNP_ERR_CORRUPT);
		CHECK(why[0] != 0);
		CHECK(find(plain, sizeof(plain), "DEADBEEF", 8) == NULL);
		sealed[spots[i]] ^= 0x40;
	}
	CHECK_EQ(cnp_unseal(kb, (const uint8_t *)"bounD", 5, sealed, n + CNP_SEAL_OVERHEAD, plain,
	                    why, sizeof(why)),
	         CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "authentication failed");
	sealed[CNP_SEAL_KEYID_LEN + 10] ^= 1;
	CHECK_EQ(cnp_unseal(kb, aad, 5, sealed, n + CNP_SEAL_OVERHEAD, plain, why, sizeof(why)),
	         CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "not a point on P-256");
	sealed[CNP_SEAL_KEYID_LEN + 10] ^= 1;
	CHECK_EQ(cnp_unseal(kb, aad, 5, sealed, CNP_SEAL_OVERHEAD - 1, plain, why, sizeof(why)),
	         CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "shorter");

	/* In place, as the batch writer does it; an empty message too. */
	memcpy(sealed + CNP_SEAL_HEAD_LEN, msg, n);
	CHECK_EQ(cnp_seal(to, NULL, NULL, 0, sealed + CNP_SEAL_HEAD_LEN, n, sealed), CNP_OK);
	CHECK_EQ(cnp_unseal(kb, NULL, 0, sealed, n + CNP_SEAL_OVERHEAD, sealed + CNP_SEAL_HEAD_LEN,
	                    why, sizeof(why)),
	         CNP_OK);
	CHECK(memcmp(sealed + CNP_SEAL_HEAD_LEN, msg, n) == 0);
	CHECK_EQ(cnp_seal(to, NULL, NULL, 0, NULL, 0, sealed), CNP_OK);
	CHECK_EQ(cnp_unseal(kb, NULL, 0, sealed, CNP_SEAL_OVERHEAD, plain, why, sizeof(why)),
	         CNP_OK);

	/* A fixed ephemeral key gives fixed bytes; zero is no scalar. */
	CHECK_EQ(cnp_seal(to, example_ephemeral, aad, 5, (const uint8_t *)msg, n, sealed), CNP_OK);
	CHECK_EQ(cnp_seal(to, example_ephemeral, aad, 5, (const uint8_t *)msg, n, sealed2), CNP_OK);
	CHECK(memcmp(sealed, sealed2, n + CNP_SEAL_OVERHEAD) == 0);
	uint8_t zero[CNP_SEAL_EPHEMERAL_LEN] = {0};
	CHECK_EQ(cnp_seal(to, zero, aad, 5, (const uint8_t *)msg, n, sealed), CNP_ERR_KEY);

	cnp_verifier_destroy(to);
	cnp_signer_destroy(ka);
	cnp_signer_destroy(kb);
}

static void make_frame(struct cnp_frame *f, unsigned i)
{
	memset(f, 0, sizeof(*f));
	f->ts_us = 1700000000000000u + i * 1000u;
	f->id = 0x100 + i % 7;
	f->len = 8;
	memcpy(f->data, "\xDE\xAD\xBE\xEF\xCA\xFE\xF0\x0D", 8);
	f->data[7] = (uint8_t)i;
}

static struct cnp_ifaces ifaces;

static uint8_t *build(unsigned n, const struct cnp_verifier *to, const struct cnp_signer *signer,
                      const uint8_t *ephemeral, int has_prev, const uint8_t *prev, size_t *len)
{
	struct cnp_batch_writer *w = NULL;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_cols_zlib, 1u << 16, 6), CNP_OK);
	for (unsigned i = 0; i < n; i++) {
		struct cnp_frame f;
		make_frame(&f, i);
		CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	}
	struct cnp_batch_info info = {
		.vehicle = "veh-1", .spool_id = "0123456789abcdef", .boot = 3, .seq = has_prev,
		.ifaces = &ifaces, .sealed_wall_us = 1700000000000000u, .sealed_mono_us = 9,
		.signer = signer, .encrypt_to = to, .test_ephemeral = ephemeral,
		.has_prev = has_prev,
	};
	if (has_prev)
		memcpy(info.prev_sha256, prev, 32);
	uint8_t *out = NULL, digest[32];
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, len, digest), CNP_OK);
	cnp_batch_writer_destroy(w);
	return out;
}

struct collect {
	unsigned n;
	int bad;
};

static int collect_cb(const struct cnp_frame *f, const char *ifname, void *arg)
{
	struct collect *c = arg;
	struct cnp_frame want;
	make_frame(&want, c->n);
	if (f->ts_us != want.ts_us || f->id != want.id || f->len != want.len ||
	    memcmp(f->data, want.data, 8) != 0 || strcmp(ifname, "can0") != 0)
		c->bad = 1;
	c->n++;
	return 0;
}

static void test_encrypted_batch(void)
{
	struct cnp_verifier *to = load_public(KEYS "test-only-p256-b.pub.pem");
	struct cnp_verifier *va = load_public(KEYS "test-only-p256-a.pub.pem");
	struct cnp_signer *kb = load_private("test-only-p256-b.key.pem");
	struct cnp_signer *ka = load_private("test-only-p256-a.key.pem");
	char why[256];
	size_t len = 0;
	uint8_t *buf = build(300, to, ka, NULL, 0, NULL, &len);
	if (!buf)
		return;
	/* No frame byte in clear (the payload pattern repeats 300 times). */
	CHECK(find(buf, len, "\xDE\xAD\xBE\xEF", 4) == NULL);
	CHECK(find(buf, len, "\xCA\xFE\xF0\x0D", 4) == NULL);

	/* Without the key: structure, digest, manifest and signature check;
	 * the frames do not. */
	struct cnp_batch b;
	struct collect c = {0, 0};
	why[0] = 0;
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK(b.encrypted);
	CHECK_EQ(b.frames, 300);
	CHECK_EQ(b.nsections, 1);
	CHECK_EQ(b.sections[0].kind, CNP_SECTION_ENCRYPTED);
	CHECK_EQ(cnp_batch_verify(&b, va, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_frames(&b, collect_cb, &c, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_CONTAINS(why, "--decrypt-key");
	CHECK_EQ(c.n, 0);

	/* The wrong key. */
	uint8_t *plain = NULL;
	CHECK_EQ(cnp_batch_decrypt(&b, ka, &plain, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_CONTAINS(why, "encrypted to another key");
	CHECK(plain == NULL);

	/* The right key: every frame back. */
	CHECK_EQ(cnp_batch_decrypt(&b, kb, &plain, why, sizeof(why)), CNP_OK);
	CHECK(plain != NULL);
	CHECK_EQ(b.sections[0].kind, CNP_SECTION_RAW_FRAMES);
	CHECK_EQ(b.sections[0].codec, cnp_codec_cols_zlib.id);
	CHECK_EQ(cnp_batch_frames(&b, collect_cb, &c, why, sizeof(why)), CNP_OK);
	CHECK_EQ(c.n, 300);
	CHECK(!c.bad);
	cnp_free(plain);

	/* Tampered ciphertext with the digest recomputed: the digest check
	 * cannot see it, decryption does (and names it). */
	size_t sec = CNP_BATCH_HEADER_LEN + (buf[8] | (size_t)buf[9] << 8);
	size_t ct = sec + CNP_BATCH_SECTION_HEADER_LEN + CNP_SEAL_HEAD_LEN + 20;
	buf[ct] ^= 1;
	cnp_sha256(buf, len - 32, buf + len - 32);
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_verify(&b, va, why, sizeof(why)), CNP_ERR_SIGNATURE);
	plain = NULL;
	CHECK_EQ(cnp_batch_decrypt(&b, kb, &plain, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "authentication failed");
	CHECK(plain == NULL);
	buf[ct] ^= 1;

	/* The manifest is bound to the ciphertext: an altered manifest
	 * (seq 3 -> 4? here vehicle) fails decryption even unsigned. */
	uint8_t *v = find(buf, len, "veh-1", 5);
	CHECK(v != NULL);
	if (v)
		v[4] = '2';
	cnp_sha256(buf, len - 32, buf + len - 32);
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_decrypt(&b, kb, &plain, why, sizeof(why)), CNP_ERR_CORRUPT);
	CHECK_CONTAINS(why, "authentication failed");
	cnp_free(buf);

	/* The chain: prev_sha256 is the digest of the previous encrypted
	 * batch, readable without the key. */
	size_t l1 = 0, l2 = 0;
	uint8_t *b1 = build(5, to, NULL, NULL, 0, NULL, &l1);
	uint8_t *b2 = b1 ? build(5, to, NULL, NULL, 1, b1 + l1 - 32, &l2) : NULL;
	if (b2) {
		CHECK_EQ(cnp_batch_open(b2, l2, &b, why, sizeof(why)), CNP_OK);
		CHECK(b.has_prev && memcmp(b.prev_sha256, b1 + l1 - 32, 32) == 0);
	}
	cnp_free(b1);
	cnp_free(b2);

	/* An empty batch (drop counts only) encrypts and decrypts too. */
	buf = build(0, to, NULL, NULL, 0, NULL, &len);
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_decrypt(&b, kb, &plain, why, sizeof(why)), CNP_OK);
	c.n = 0;
	CHECK_EQ(cnp_batch_frames(&b, collect_cb, &c, why, sizeof(why)), CNP_OK);
	CHECK_EQ(c.n, 0);
	cnp_free(plain);
	cnp_free(buf);

	cnp_verifier_destroy(to);
	cnp_verifier_destroy(va);
	cnp_signer_destroy(ka);
	cnp_signer_destroy(kb);
}

static int count_sample(const struct cnp_sig_sample *smp, const char *ifname, void *arg)
{
	(void)smp;
	(void)ifname;
	(*(unsigned *)arg)++;
	return 0;
}

static int count_event(const char *json, void *arg)
{
	if (strstr(json, "SecretTrigger"))
		(*(unsigned *)arg)++;
	return 0;
}

/* Signal samples and events are encrypted too, each section on its own. */
static void test_encrypted_samples_events(void)
{
	struct cnp_verifier *to = load_public(KEYS "test-only-p256-b.pub.pem");
	struct cnp_signer *kb = load_private("test-only-p256-b.key.pem");
	struct cnp_batch_writer *w = NULL;
	CHECK_EQ(cnp_batch_writer_create(&w, &cnp_codec_cols_zlib, 1u << 16, 6), CNP_OK);
	struct cnp_sig_desc d = {.iface = 0, .type = CNP_SIG_UINT, .message = "SecretMsg",
	                         .signal = "SecretSpeed", .name = "", .unit = "km/h",
	                         .scale = 1, .offset = 0};
	struct cnp_frame f;
	make_frame(&f, 1);
	CHECK_EQ(cnp_batch_writer_add(w, &f), CNP_OK);
	for (unsigned i = 0; i < 20; i++)
		CHECK_EQ(cnp_batch_writer_add_sample(w, &d, 1000 + i, 4242 + i), CNP_OK);
	CHECK_EQ(cnp_batch_writer_add_event(w, "{\"trigger\":\"SecretTrigger\"}"), CNP_OK);
	struct cnp_batch_info info = {
		.vehicle = "veh-1", .spool_id = "0123456789abcdef", .boot = 1, .seq = 0,
		.ifaces = &ifaces, .encrypt_to = to,
	};
	uint8_t *buf = NULL, digest[32];
	size_t len = 0;
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &buf, &len, digest), CNP_OK);
	cnp_batch_writer_destroy(w);
	if (!buf)
		goto out;
	CHECK(find(buf, len, "SecretSpeed", 11) == NULL);
	CHECK(find(buf, len, "SecretTrigger", 13) == NULL);
	struct cnp_batch b;
	char why[256] = "";
	unsigned n = 0;
	CHECK_EQ(cnp_batch_open(buf, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(b.nsections, 3);
	for (unsigned i = 0; i < b.nsections; i++)
		CHECK_EQ(b.sections[i].kind, CNP_SECTION_ENCRYPTED);
	CHECK_EQ(cnp_batch_samples(&b, count_sample, &n, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_EQ(cnp_batch_events(&b, count_event, &n, why, sizeof(why)), CNP_ERR_KEY);
	CHECK_EQ(n, 0);
	uint8_t *plain = NULL;
	CHECK_EQ(cnp_batch_decrypt(&b, kb, &plain, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_samples(&b, count_sample, &n, why, sizeof(why)), CNP_OK);
	CHECK_EQ(n, 20);
	n = 0;
	CHECK_EQ(cnp_batch_events(&b, count_event, &n, why, sizeof(why)), CNP_OK);
	CHECK_EQ(n, 1);
	struct collect c = {1, 0};
	CHECK_EQ(cnp_batch_frames(&b, collect_cb, &c, why, sizeof(why)), CNP_OK);
	CHECK_EQ(c.n, 2);
	CHECK(!c.bad);
	cnp_free(plain);
	cnp_free(buf);
out:
	cnp_verifier_destroy(to);
	cnp_signer_destroy(kb);
}

/* The worked example of docs/FORMAT.md: one frame, codec 1, unsigned,
 * encrypted to key B with the ephemeral scalar 01 02 ... 20. */
static uint8_t *example(size_t *len)
{
	struct cnp_verifier *to = load_public(KEYS "test-only-p256-b.pub.pem");
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
		.encrypt_to = to, .test_ephemeral = example_ephemeral,
	};
	uint8_t *out = NULL, digest[32];
	CHECK_EQ(cnp_batch_writer_finish(w, &info, &out, len, digest), CNP_OK);
	cnp_batch_writer_destroy(w);
	cnp_verifier_destroy(to);
	return out;
}

/* The encrypted section of the example as printed in docs/FORMAT.md
 * (section header and body): a change to the scheme shows here. */
static const char example_section_hex[] =
#include "encrypt_example.inc"
	;

static void test_example(void)
{
	size_t len = 0;
	uint8_t *e = example(&len);
	if (!e)
		return;
	size_t sec = CNP_BATCH_HEADER_LEN + (e[8] | (size_t)e[9] << 8);
	size_t n = len - 32 - sec;
	char *hex = cnp_malloc(2 * n + 1);
	cnp_hex(e + sec, n, hex);
	CHECK_STR(hex, example_section_hex);
	struct cnp_signer *kb = load_private("test-only-p256-b.key.pem");
	struct cnp_batch b;
	uint8_t *plain = NULL;
	char why[256] = "";
	CHECK_EQ(cnp_batch_open(e, len, &b, why, sizeof(why)), CNP_OK);
	CHECK_EQ(cnp_batch_decrypt(&b, kb, &plain, why, sizeof(why)), CNP_OK);
	cnp_free(plain);
	cnp_signer_destroy(kb);
	cnp_free(hex);
	cnp_free(e);
}

static int print_example(void)
{
	size_t len = 0;
	uint8_t *e = example(&len);
	if (!e)
		return 1;
	size_t mlen = e[8] | (size_t)e[9] << 8;
	size_t sec = CNP_BATCH_HEADER_LEN + mlen;
	size_t body = sec + CNP_BATCH_SECTION_HEADER_LEN;
	size_t ct_len = len - 32 - body - CNP_SEAL_OVERHEAD;
	printf("# %zu bytes; encrypted to tests/data/keys/test-only-p256-b.pub.pem\n", len);
	check_hex_lines(e, CNP_BATCH_HEADER_LEN, "header");
	printf("%.*s\n", (int)mlen, (const char *)e + CNP_BATCH_HEADER_LEN);
	check_hex_lines(e + sec, CNP_BATCH_SECTION_HEADER_LEN, "encrypted section header");
	check_hex_lines(e + body, CNP_SEAL_KEYID_LEN, "key id");
	check_hex_lines(e + body + CNP_SEAL_KEYID_LEN, CNP_SEAL_EPK_LEN, "ephemeral public key");
	check_hex_lines(e + body + CNP_SEAL_HEAD_LEN, ct_len, "ciphertext");
	check_hex_lines(e + body + CNP_SEAL_HEAD_LEN + ct_len, CNP_SEAL_TAG_LEN, "GCM tag");
	check_hex_lines(e + len - 32, 32, "SHA-256 of all bytes before");
	if (getenv("PRINT_INC")) {
		char *hex = cnp_malloc(2 * (len - 32 - sec) + 1);
		cnp_hex(e + sec, len - 32 - sec, hex);
		printf("INC \"%s\"\n", hex);
		cnp_free(hex);
	}
	cnp_free(e);
	return check_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	for (unsigned i = 0; i < sizeof(example_ephemeral); i++)
		example_ephemeral[i] = (uint8_t)(i + 1);
	cnp_json_init();
	cnp_ifaces_init(&ifaces);
	uint8_t idx;
	cnp_ifaces_intern(&ifaces, "can0", 4, &idx);
	if (argc > 1 && strcmp(argv[1], "--print-example") == 0)
		return print_example();
	test_seal_seam();
	test_encrypted_batch();
	test_encrypted_samples_events();
	test_example();
	return check_finish();
}
