/*
 * Crypto seam: SHA-256 (mbedTLS). Later: ECDSA, HMAC, AES-GCM.
 */
#ifndef CNP_PLATFORM_CRYPTO_H
#define CNP_PLATFORM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CNP_SHA256_LEN 32

/* Caller-allocated incremental SHA-256 context; its contents are private.
 * The size is checked against mbedTLS's context at compile time. */
struct cnp_sha256 {
	uint64_t opaque[32];
};

/* init cannot fail; update may be called any number of times; final writes
 * the digest and leaves the context to be re-initialised. */
void cnp_sha256_init(struct cnp_sha256 *ctx);
void cnp_sha256_update(struct cnp_sha256 *ctx, const void *data, size_t len);
void cnp_sha256_final(struct cnp_sha256 *ctx, uint8_t out[CNP_SHA256_LEN]);

/* One-shot SHA-256 of a buffer. */
void cnp_sha256(const void *data, size_t len, uint8_t out[CNP_SHA256_LEN]);

/* Lower-case hex of `len` bytes into `out` (2*len+1 bytes, NUL-terminated). */
void cnp_hex(const uint8_t *bytes, size_t len, char *out);

#endif
