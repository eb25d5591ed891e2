/* The only family of files that includes mbedTLS headers. */
#include "platform/crypto.h"

#include <string.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(struct cnp_sha256),
               "struct cnp_sha256 too small for mbedtls_sha256_context");
_Static_assert(_Alignof(mbedtls_sha256_context) <= _Alignof(struct cnp_sha256),
               "struct cnp_sha256 alignment");

static mbedtls_sha256_context *ctx_of(struct cnp_sha256 *c)
{
	return (mbedtls_sha256_context *)(void *)c->opaque;
}

void cnp_sha256_init(struct cnp_sha256 *c)
{
	mbedtls_sha256_init(ctx_of(c));
	/* Cannot fail for SHA-256 (is224 = 0) in mbedTLS 2.28. */
	(void)mbedtls_sha256_starts_ret(ctx_of(c), 0);
}

void cnp_sha256_update(struct cnp_sha256 *c, const void *data, size_t len)
{
	(void)mbedtls_sha256_update_ret(ctx_of(c), data, len);
}

void cnp_sha256_final(struct cnp_sha256 *c, uint8_t out[CNP_SHA256_LEN])
{
	(void)mbedtls_sha256_finish_ret(ctx_of(c), out);
	mbedtls_sha256_free(ctx_of(c));
}

void cnp_sha256(const void *data, size_t len, uint8_t out[CNP_SHA256_LEN])
{
	struct cnp_sha256 c;
	cnp_sha256_init(&c);
	cnp_sha256_update(&c, data, len);
	cnp_sha256_final(&c, out);
}

/* RFC 2104 over mbedTLS's SHA-256 directly rather than mbedtls_md_hmac():
 * the md layer allocates its context, and a signer that cannot fail is
 * simpler to use correctly. */
#define HMAC_BLOCK 64

void cnp_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                     uint8_t out[CNP_SHA256_LEN])
{
	uint8_t k0[HMAC_BLOCK] = {0};
	uint8_t pad[HMAC_BLOCK];
	uint8_t inner[CNP_SHA256_LEN];
	if (key_len > HMAC_BLOCK)
		cnp_sha256(key, key_len, k0);
	else if (key_len > 0)
		memcpy(k0, key, key_len);

	struct cnp_sha256 c;
	for (size_t i = 0; i < HMAC_BLOCK; i++)
		pad[i] = (uint8_t)(k0[i] ^ 0x36);
	cnp_sha256_init(&c);
	cnp_sha256_update(&c, pad, sizeof(pad));
	cnp_sha256_update(&c, msg, msg_len);
	cnp_sha256_final(&c, inner);

	for (size_t i = 0; i < HMAC_BLOCK; i++)
		pad[i] = (uint8_t)(k0[i] ^ 0x5c);
	cnp_sha256_init(&c);
	cnp_sha256_update(&c, pad, sizeof(pad));
	cnp_sha256_update(&c, inner, sizeof(inner));
	cnp_sha256_final(&c, out);

	mbedtls_platform_zeroize(k0, sizeof(k0));
	mbedtls_platform_zeroize(pad, sizeof(pad));
	mbedtls_platform_zeroize(inner, sizeof(inner));
}

void cnp_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = 0;
}
