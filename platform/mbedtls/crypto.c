/* The only family of files that includes mbedTLS headers. */
#include "platform/crypto.h"

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

void cnp_hex(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = 0;
}
