/*
 * Encryption of batches to a receiver's P-256 key: ephemeral ECDH, HKDF-SHA256
 * and AES-256-GCM (mbedTLS 2.28). docs/FORMAT.md ("Encrypted section")
 * specifies the bytes. Part of the only family of files that includes
 * mbedTLS headers.
 */
#include "platform/crypto.h"

#include "firmware/error.h"
#include "platform/mbedtls/keys.h"

#include <mbedtls/ecdh.h>
#include <mbedtls/ecp.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#if !defined(MBEDTLS_HKDF_C) || !defined(MBEDTLS_GCM_C) || !defined(MBEDTLS_ECDH_C) || \
	!defined(MBEDTLS_AES_C)
#error "canopy needs mbedTLS with HKDF, GCM, ECDH and AES for encrypted batches"
#endif

/* HKDF info prefix; the ephemeral and the receiver's points follow it. */
static const char seal_label[] = "canopy batch seal v1";
#define POINT_LEN CNP_SEAL_EPK_LEN
#define KEY_LEN 32
#define NONCE_LEN 12

/* Key material comes from the kernel or not at all (unlike the jitter
 * generator of platform/random.h, which falls back to a weak one). */
static int kernel_rng(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	while (len > 0) {
		ssize_t n = getrandom(out, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MBEDTLS_ERR_ECP_RANDOM_FAILED;
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

static int nomem_or(int mrc, int otherwise)
{
	return mrc == MBEDTLS_ERR_MPI_ALLOC_FAILED || mrc == MBEDTLS_ERR_ECP_ALLOC_FAILED
	               ? CNP_ERR_NOMEM
	               : otherwise;
}

static int write_point(const mbedtls_ecp_group *grp, const mbedtls_ecp_point *q,
                       uint8_t out[POINT_LEN])
{
	size_t olen = 0;
	int mrc = mbedtls_ecp_point_write_binary(grp, q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, out,
	                                         POINT_LEN);
	return mrc == 0 && olen != POINT_LEN ? MBEDTLS_ERR_ECP_BAD_INPUT_DATA : mrc;
}

/* Key id: the first 8 bytes of SHA-256 of the receiver's uncompressed point. */
static void key_id(const uint8_t point[POINT_LEN], uint8_t id[CNP_SEAL_KEYID_LEN])
{
	uint8_t h[CNP_SHA256_LEN];
	cnp_sha256(point, POINT_LEN, h);
	memcpy(id, h, CNP_SEAL_KEYID_LEN);
}

/* AES key and nonce from the shared secret and both points. */
static int derive(const mbedtls_mpi *z, const uint8_t epk[POINT_LEN],
                  const uint8_t rpk[POINT_LEN], uint8_t okm[KEY_LEN + NONCE_LEN])
{
	uint8_t zb[32];
	uint8_t info[sizeof(seal_label) - 1 + 2 * POINT_LEN];
	int mrc = mbedtls_mpi_write_binary(z, zb, sizeof(zb));
	if (mrc == 0) {
		memcpy(info, seal_label, sizeof(seal_label) - 1);
		memcpy(info + sizeof(seal_label) - 1, epk, POINT_LEN);
		memcpy(info + sizeof(seal_label) - 1 + POINT_LEN, rpk, POINT_LEN);
		mrc = mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), NULL, 0, zb,
		                   sizeof(zb), info, sizeof(info), okm, KEY_LEN + NONCE_LEN);
	}
	mbedtls_platform_zeroize(zb, sizeof(zb));
	return mrc;
}

int cnp_seal(const struct cnp_verifier *to, const uint8_t *ephemeral, const uint8_t *aad,
             size_t aad_len, const uint8_t *plain, size_t len, uint8_t *out)
{
	const mbedtls_ecp_keypair *rk = mbedtls_pk_ec(to->pk);
	mbedtls_ecp_group grp;
	mbedtls_mpi d, z;
	mbedtls_ecp_point q;
	mbedtls_gcm_context gcm;
	uint8_t rpk[POINT_LEN], okm[KEY_LEN + NONCE_LEN];
	int rc = CNP_ERR_NOMEM;
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&d);
	mbedtls_mpi_init(&z);
	mbedtls_ecp_point_init(&q);
	mbedtls_gcm_init(&gcm);
	/* A group of our own: the receiver's key stays read-only, so seals
	 * on one key may run in parallel. */
	int mrc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
	if (mrc != 0)
		goto out;
	if (ephemeral) {
		if ((mrc = mbedtls_mpi_read_binary(&d, ephemeral, CNP_SEAL_EPHEMERAL_LEN)) != 0)
			goto out;
		if (mbedtls_ecp_check_privkey(&grp, &d) != 0) {
			rc = CNP_ERR_KEY;
			goto out;
		}
		mrc = mbedtls_ecp_mul(&grp, &q, &d, &grp.G, kernel_rng, NULL);
	} else {
		mrc = mbedtls_ecp_gen_keypair(&grp, &d, &q, kernel_rng, NULL);
	}
	if (mrc == 0)
		mrc = mbedtls_ecdh_compute_shared(&grp, &z, &rk->Q, &d, kernel_rng, NULL);
	if (mrc == 0)
		mrc = write_point(&grp, &rk->Q, rpk);
	if (mrc == 0)
		mrc = write_point(&grp, &q, out + CNP_SEAL_KEYID_LEN);
	if (mrc == 0)
		mrc = derive(&z, out + CNP_SEAL_KEYID_LEN, rpk, okm);
	if (mrc == 0)
		mrc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, okm, 8 * KEY_LEN);
	if (mrc == 0)
		mrc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, len, okm + KEY_LEN,
		                                NONCE_LEN, aad, aad_len, plain,
		                                out + CNP_SEAL_HEAD_LEN, CNP_SEAL_TAG_LEN,
		                                out + CNP_SEAL_HEAD_LEN + len);
	if (mrc != 0) {
		rc = mrc == MBEDTLS_ERR_ECP_RANDOM_FAILED ? CNP_ERR_IO : nomem_or(mrc, CNP_ERR_KEY);
		goto out;
	}
	key_id(rpk, out);
	rc = CNP_OK;
out:
	mbedtls_platform_zeroize(okm, sizeof(okm));
	mbedtls_gcm_free(&gcm);
	mbedtls_ecp_point_free(&q);
	mbedtls_mpi_free(&z); /* mbedtls_mpi_free zeroizes the limbs */
	mbedtls_mpi_free(&d);
	mbedtls_ecp_group_free(&grp);
	return rc;
}

int cnp_unseal(const struct cnp_signer *key, const uint8_t *aad, size_t aad_len,
               const uint8_t *in, size_t in_len, uint8_t *plain, char *why, size_t why_len)
{
	if (in_len < CNP_SEAL_OVERHEAD) {
		cnp_mbedtls_whyf(why, why_len, "encrypted body of %zu bytes is shorter than its %u-byte "
		     "key id, ephemeral key and tag", in_len, CNP_SEAL_OVERHEAD);
		return CNP_ERR_CORRUPT;
	}
	mbedtls_ecp_keypair *kp = mbedtls_pk_ec(key->pk); /* its group caches tables */
	mbedtls_mpi z;
	mbedtls_ecp_point e;
	mbedtls_gcm_context gcm;
	uint8_t rpk[POINT_LEN], id[CNP_SEAL_KEYID_LEN], okm[KEY_LEN + NONCE_LEN];
	size_t len = in_len - CNP_SEAL_OVERHEAD;
	int rc = CNP_ERR_CORRUPT;
	mbedtls_mpi_init(&z);
	mbedtls_ecp_point_init(&e);
	mbedtls_gcm_init(&gcm);
	int mrc = write_point(&kp->grp, &kp->Q, rpk);
	if (mrc != 0) {
		rc = nomem_or(mrc, CNP_ERR_KEY);
		cnp_mbedtls_whyf(why, why_len, "cannot encode the public half of the key");
		goto out;
	}
	key_id(rpk, id);
	if (memcmp(id, in, CNP_SEAL_KEYID_LEN) != 0) {
		char want[2 * CNP_SEAL_KEYID_LEN + 1], have[2 * CNP_SEAL_KEYID_LEN + 1];
		cnp_hex(in, CNP_SEAL_KEYID_LEN, want);
		cnp_hex(id, CNP_SEAL_KEYID_LEN, have);
		cnp_mbedtls_whyf(why, why_len, "encrypted to another key (key id %s; this key is %s)", want,
		     have);
		rc = CNP_ERR_KEY;
		goto out;
	}
	/* An ephemeral point off the curve would leak bits of the key
	 * (invalid-curve attack): check it before any multiplication. */
	if (mbedtls_ecp_point_read_binary(&kp->grp, &e, in + CNP_SEAL_KEYID_LEN, POINT_LEN) != 0 ||
	    mbedtls_ecp_check_pubkey(&kp->grp, &e) != 0) {
		cnp_mbedtls_whyf(why, why_len, "the ephemeral key is not a point on P-256");
		goto out;
	}
	mrc = mbedtls_ecdh_compute_shared(&kp->grp, &z, &e, &kp->d, kernel_rng, NULL);
	if (mrc == 0)
		mrc = derive(&z, in + CNP_SEAL_KEYID_LEN, rpk, okm);
	if (mrc == 0)
		mrc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, okm, 8 * KEY_LEN);
	if (mrc != 0) {
		rc = nomem_or(mrc, CNP_ERR_CORRUPT);
		cnp_mbedtls_whyf(why, why_len, "key agreement failed (mbedTLS -0x%04X)", (unsigned)-mrc);
		goto out;
	}
	mrc = mbedtls_gcm_auth_decrypt(&gcm, len, okm + KEY_LEN, NONCE_LEN, aad, aad_len,
	                               in + CNP_SEAL_HEAD_LEN + len, CNP_SEAL_TAG_LEN,
	                               in + CNP_SEAL_HEAD_LEN, plain);
	if (mrc != 0) {
		cnp_mbedtls_whyf(why, why_len, "authentication failed: the ciphertext, its tag or the "
		     "header and manifest it is bound to were altered");
		goto out;
	}
	rc = CNP_OK;
out:
	mbedtls_platform_zeroize(okm, sizeof(okm));
	mbedtls_gcm_free(&gcm);
	mbedtls_ecp_point_free(&e);
	mbedtls_mpi_free(&z);
	return rc;
}
