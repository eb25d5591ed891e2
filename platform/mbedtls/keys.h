/*
 * Private to platform/mbedtls: the key objects behind struct cnp_signer and
 * struct cnp_verifier, shared by sign.c (signatures) and seal.c (batch
 * encryption, which loads the receiver's keys with the same checks).
 */
#ifndef CNP_PLATFORM_MBEDTLS_KEYS_H
#define CNP_PLATFORM_MBEDTLS_KEYS_H

#include <mbedtls/pk.h>
#include <stddef.h>

struct cnp_signer {
	mbedtls_pk_context pk; /* an EC key on P-256 with its private half */
};

struct cnp_verifier {
	mbedtls_pk_context pk; /* an EC public key on P-256 */
};

/* Writes a sentence for the user into why[0..why_len), if why is set. */
void cnp_mbedtls_whyf(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
