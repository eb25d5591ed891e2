/*
 * libFuzzer target: the batch reader, on any bytes.
 *
 * Each input is used three ways:
 * 1. read as a batch as it is (almost always stopped by the SHA-256 digest);
 * 2. read as a batch with its last 32 bytes replaced by the digest of the
 *    rest, so that mutations reach the header, manifest, section and
 *    signature parsers behind the digest. An opened batch is decoded, its
 *    frames printed as candump text, and its signature checked with the
 *    test-only key A (seeds signed with it verify);
 * 3. given to a payload codec as its decoded bytes: byte 0 mod 3 picks
 *    rows-zlib, cols-zlib or cols-ck-zlib, bytes 1-2 the frame count, and
 *    the rest is compressed here, so that the codec's parser sees exactly
 *    those bytes (mutations of a compressed body rarely get past zlib).
 *
 * Invariants beyond "no crash, no sanitizer report": decoding that succeeds
 * delivers exactly the frame count asked for (the manifest's, in a batch),
 * and never a frame of more than CNP_FRAME_MAX_DATA bytes.
 */
#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/crypto.h"
#include "platform/zlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cnp_verifier *key;

static void init_once(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	cnp_json_init();
	char why[256] = "";
	const char *path = CANOPY_SOURCE_DIR "/tests/data/keys/test-only-p256-a.pub.pem";
	if (cnp_verifier_load(path, &key, why, sizeof(why)) != CNP_OK) {
		fprintf(stderr, "fuzz_batch: %s: %s\n", path, why);
		abort();
	}
}

struct seen {
	uint64_t frames;
};

static int frame_cb(const struct cnp_frame *f, const char *ifname, void *arg)
{
	struct seen *s = arg;
	char line[CNP_CANDUMP_LINE_MAX];
	size_t len = 0;
	if (f->len > CNP_FRAME_MAX_DATA) {
		fprintf(stderr, "fuzz_batch: a decoded frame claims %u data bytes\n", f->len);
		abort();
	}
	(void)cnp_candump_format(f, ifname, line, sizeof(line), &len);
	s->frames++;
	return 0;
}

static int payload_cb(const struct cnp_frame *f, void *arg)
{
	return frame_cb(f, "can0", arg);
}

static void decode_payload(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	const struct cnp_frame_codec *codec =
		cnp_codec_by_id(data[0] % 3 == 2 ? CNP_CODEC_COLS_CK_ZLIB : (uint8_t)(1 + data[0] % 3));
	uint32_t count = (uint32_t)data[1] | (uint32_t)data[2] << 8;
	size_t raw_len = size - 3, cap = cnp_zlib_bound(size - 3), stored_len = 0;
	uint8_t *stored = malloc(cap);
	if (!codec || !stored ||
	    cnp_zlib_compress(data + 3, raw_len, 1, stored, cap, &stored_len) != CNP_OK) {
		free(stored);
		return;
	}
	/* The exact stored size, so the sanitizer sees any read past it. */
	uint8_t *exact = malloc(stored_len ? stored_len : 1);
	if (exact) {
		memcpy(exact, stored, stored_len);
		struct seen s = {0};
		const char *why = NULL;
		int rc = codec->decode(exact, stored_len, raw_len, count, payload_cb, &s, &why);
		if (rc == CNP_OK && s.frames != count) {
			fprintf(stderr, "fuzz_batch: %s asked for %u frames, gave %llu\n", codec->name,
			        count, (unsigned long long)s.frames);
			abort();
		}
	}
	free(exact);
	free(stored);
}

static void read_batch(const uint8_t *buf, size_t len)
{
	struct cnp_batch b;
	char why[256];
	uint32_t peeked;
	if (cnp_batch_open(buf, len, &b, why, sizeof(why)) != CNP_OK) {
		(void)cnp_batch_peek_frames(buf, len, &peeked);
		return;
	}
	struct seen s = {0};
	if (cnp_batch_frames(&b, frame_cb, &s, why, sizeof(why)) == CNP_OK && s.frames != b.frames) {
		fprintf(stderr, "fuzz_batch: manifest says %u frames, decoding gave %llu\n", b.frames,
		        (unsigned long long)s.frames);
		abort();
	}
	(void)cnp_batch_verify(&b, key, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	decode_payload(data, size);
	read_batch(data, size);
	if (size < CNP_BATCH_HEADER_LEN + CNP_SHA256_LEN)
		return 0;
	/* An exact-size copy, so that the sanitizer sees any read past it. */
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	cnp_sha256(copy, size - CNP_SHA256_LEN, copy + size - CNP_SHA256_LEN);
	read_batch(copy, size);
	free(copy);
	return 0;
}
