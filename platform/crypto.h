/*
 * Crypto seam (mbedTLS): SHA-256, ECDSA P-256 signatures over a SHA-256
 * digest for signed batches, HMAC-SHA256 for AWS Signature Version 4, and
 * encryption to a receiver's P-256 key (ECDH, HKDF-SHA256, AES-256-GCM)
 * for batches at rest.
 *
 * MBEDTLS_ERR_* codes are translated here into CNP_ERR_*; the mbedTLS
 * detail goes into the `why` text of the call that failed.
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

/* HMAC-SHA256 (RFC 2104) of msg[0..msg_len) under key[0..key_len) (any
 * length; a key longer than the block is hashed first, as the RFC says).
 * Allocates nothing, cannot fail, does not block. The key is wiped from the
 * stack before return. Used by the AWS Signature Version 4 signer. */
void cnp_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                     uint8_t out[CNP_SHA256_LEN]);

/* ---- ECDSA P-256 (secp256r1, prime256v1) over SHA-256 ------------------ */

/* Longest DER-encoded ECDSA P-256 signature: SEQUENCE of two INTEGERs of at
 * most 33 bytes each. Signatures are usually 70 to 72 bytes. */
#define CNP_ECDSA_P256_SIG_MAX 72

/* A private key that signs. Opaque; one per device key. */
struct cnp_signer;
/* A public key that verifies. Opaque. */
struct cnp_verifier;

/*
 * Loads an unencrypted PEM EC private key on the P-256 curve ("EC PRIVATE
 * KEY" as written by `openssl ecparam -name prime256v1 -genkey`, or PKCS#8
 * "PRIVATE KEY") from `path`. Reads the file once (at most 64 KiB).
 *
 * Refuses a key file that group or others may access (any bit of mode
 * 077, as OpenSSH does for its keys): a device key readable by other users
 * is a leaked key. Refuses encrypted keys, non-EC keys and other curves.
 *
 * On success *out holds a new signer (free it with cnp_signer_destroy).
 * On failure `why` holds a sentence for the user that does not repeat the
 * path (the caller names the file), e.g. "mode 0644 is too open: group or
 * others may access this private key; run chmod 600 on it".
 * @retval CNP_ERR_NOTFOUND no such file
 * @retval CNP_ERR_KEY      unreadable, too open, not PEM, not an unencrypted
 *                          EC private key, or not on P-256
 * @retval CNP_ERR_NOMEM
 */
int cnp_signer_load(const char *path, struct cnp_signer **out, char *why,
                    size_t why_len);

/* Frees a signer and wipes its key from memory; NULL is allowed. */
void cnp_signer_destroy(struct cnp_signer *s);

/*
 * Signs a SHA-256 digest: writes the DER-encoded ECDSA signature (SEQUENCE
 * { r INTEGER, s INTEGER }) to sig[0..*sig_len), *sig_len at most
 * CNP_ECDSA_P256_SIG_MAX. Deterministic (RFC 6979): the same key and digest
 * always give the same bytes. Does not block. The key never changes, but
 * mbedTLS caches tables inside the signer on the first call: calls on one
 * signer must not overlap (one thread signs, or a lock). Costs about 4
 * million instructions on x86-64 (9 for the first call).
 * @retval CNP_ERR_NOMEM
 * @retval CNP_ERR_SIGNATURE mbedTLS failed otherwise (not expected with a
 *                           key that loaded)
 */
int cnp_signer_sign(const struct cnp_signer *s, const uint8_t hash[CNP_SHA256_LEN],
                    uint8_t sig[CNP_ECDSA_P256_SIG_MAX], size_t *sig_len);

/*
 * Loads a PEM public key on the P-256 curve ("PUBLIC KEY", as written by
 * `openssl ec -pubout`) from `path` (at most 64 KiB). No mode check: public
 * keys are public. `why` as for cnp_signer_load.
 * @retval CNP_ERR_NOTFOUND no such file
 * @retval CNP_ERR_KEY      unreadable, not PEM, not an EC public key, or
 *                          not on P-256
 * @retval CNP_ERR_NOMEM
 */
int cnp_verifier_load(const char *path, struct cnp_verifier **out, char *why,
                      size_t why_len);

/* Frees a verifier; NULL is allowed. */
void cnp_verifier_destroy(struct cnp_verifier *v);

/*
 * Checks a DER-encoded ECDSA signature of a SHA-256 digest. The DER must
 * be exactly `sig_len` bytes (nothing may follow it). As for signing,
 * calls on one verifier must not overlap (mbedTLS caches tables in it).
 * @retval CNP_OK            the key signed this digest
 * @retval CNP_ERR_SIGNATURE malformed signature, or made by another key or
 *                           over another digest
 * @retval CNP_ERR_NOMEM
 */
int cnp_verifier_verify(const struct cnp_verifier *v, const uint8_t hash[CNP_SHA256_LEN],
                        const uint8_t *sig, size_t sig_len);

/* ---- Encryption to a receiver's P-256 key (batches at rest) ----------- */

/*
 * One sealed message: key id (8) | ephemeral public key (65) | ciphertext
 * (as long as the plaintext) | GCM tag (16). docs/FORMAT.md ("Encrypted
 * section") specifies it: ECDH on P-256 between a fresh ephemeral key and
 * the receiver's key, HKDF-SHA256 of the shared x coordinate into an
 * AES-256 key and a 12-byte nonce, AES-256-GCM over the plaintext with the
 * caller's additional data. The receiver's public key is a struct
 * cnp_verifier (cnp_verifier_load), its private key a struct cnp_signer
 * (cnp_signer_load, with its file-mode check).
 */
#define CNP_SEAL_KEYID_LEN 8  /* first bytes of SHA-256 of the receiver's point */
#define CNP_SEAL_EPK_LEN 65   /* uncompressed SEC1 point 04 | X | Y */
#define CNP_SEAL_TAG_LEN 16
#define CNP_SEAL_HEAD_LEN (CNP_SEAL_KEYID_LEN + CNP_SEAL_EPK_LEN)
#define CNP_SEAL_OVERHEAD (CNP_SEAL_HEAD_LEN + CNP_SEAL_TAG_LEN)
#define CNP_SEAL_EPHEMERAL_LEN 32 /* a P-256 private scalar, big-endian */

/*
 * Encrypts plain[0..len) to the receiver `to`, authenticating aad[0..aad_len)
 * too, into out[0..len + CNP_SEAL_OVERHEAD). `plain` may be exactly
 * out + CNP_SEAL_HEAD_LEN (encryption in place); no other overlap. The
 * ephemeral key comes from the kernel's generator and is wiped before
 * return; `ephemeral` (a 32-byte scalar) replaces it for test vectors only:
 * pass NULL. Costs two P-256 multiplications (not measured yet) plus
 * AES-GCM over the bytes. Calls on one `to` may overlap (it is only read).
 * @retval CNP_ERR_NOMEM
 * @retval CNP_ERR_KEY  `ephemeral` is not a valid P-256 scalar
 * @retval CNP_ERR_IO   the kernel gave no random bytes
 */
int cnp_seal(const struct cnp_verifier *to, const uint8_t *ephemeral, const uint8_t *aad,
             size_t aad_len, const uint8_t *plain, size_t len, uint8_t *out);

/*
 * Decrypts a sealed message in[0..in_len) with the receiver's private key
 * into plain[0..in_len - CNP_SEAL_OVERHEAD), checking the tag over the
 * ciphertext and aad. `plain` may be exactly in + CNP_SEAL_HEAD_LEN. On
 * failure nothing of the plaintext is left in `plain` and `why` says which:
 * "encrypted to another key (key id ...)" or "authentication failed ...".
 * Calls with one key must not overlap (as for signing).
 * @retval CNP_ERR_KEY     sealed to another receiver key (its key id differs)
 * @retval CNP_ERR_CORRUPT too short, not a point on P-256, or the tag does
 *                         not match (ciphertext, tag or aad altered)
 * @retval CNP_ERR_NOMEM
 */
int cnp_unseal(const struct cnp_signer *key, const uint8_t *aad, size_t aad_len,
               const uint8_t *in, size_t in_len, uint8_t *plain, char *why, size_t why_len);

/* Lower-case hex of `len` bytes into `out` (2*len+1 bytes, NUL-terminated). */
void cnp_hex(const uint8_t *bytes, size_t len, char *out);

#endif
