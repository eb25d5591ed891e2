/*
 * ECDSA P-256 signing and verification of SHA-256 digests (mbedTLS 2.28).
 * Part of the only family of files that includes mbedTLS headers.
 */
#include "platform/crypto.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/mbedtls/keys.h"
#include "platform/random.h"

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(MBEDTLS_ECDSA_DETERMINISTIC) || !defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED) || \
	!defined(MBEDTLS_PK_PARSE_C) || !defined(MBEDTLS_PEM_PARSE_C)
#error "canopy needs mbedTLS with deterministic ECDSA, secp256r1 and PEM key parsing"
#endif

/* Larger than any PEM EC key; bounds what a wrong path makes us read. */
#define KEY_FILE_MAX (64u * 1024u)

void cnp_mbedtls_whyf(char *why, size_t why_len, const char *fmt, ...)
{
	if (!why || why_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* The one place where MBEDTLS_ERR_* become canopy codes. */
static int from_mbedtls(int rc, int otherwise)
{
	switch (rc) {
	case 0:
		return CNP_OK;
	case MBEDTLS_ERR_MPI_ALLOC_FAILED:
	case MBEDTLS_ERR_ECP_ALLOC_FAILED:
	case MBEDTLS_ERR_PK_ALLOC_FAILED:
	case MBEDTLS_ERR_ASN1_ALLOC_FAILED:
	case MBEDTLS_ERR_PEM_ALLOC_FAILED:
		return CNP_ERR_NOMEM;
	default:
		return otherwise;
	}
}

/* "mbedTLS -0x3D00: PK - Invalid key tag or value", for messages. */
static void detail(int rc, char *out, size_t cap)
{
	char text[120];
	mbedtls_strerror(rc, text, sizeof(text));
	snprintf(out, cap, "mbedTLS -0x%04X: %s", (unsigned)-rc, text);
}

/*
 * Reads a key file into a NUL-terminated cnp_malloc buffer (*len counts the
 * NUL, as mbedTLS's PEM parser wants). With `private_key`, refuses a file
 * that group or others may access; the mode is taken from the open file, so
 * it is the mode of what is read.
 */
static int read_key_file(const char *path, int private_key, uint8_t **data, size_t *len,
                         char *why, size_t why_len)
{
	int rc = CNP_ERR_KEY;
	uint8_t *buf = NULL;
	size_t size = 0, got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		cnp_mbedtls_whyf(why, why_len, "cannot open: %s", strerror(e));
		return e == ENOENT ? CNP_ERR_NOTFOUND : CNP_ERR_KEY;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		cnp_mbedtls_whyf(why, why_len, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cnp_mbedtls_whyf(why, why_len, "not a regular file");
		goto out;
	}
	if (private_key && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		cnp_mbedtls_whyf(why, why_len,
		     "mode %04o is too open: group or others may access this private key; "
		     "run chmod 600 on it",
		     (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > KEY_FILE_MAX) {
		cnp_mbedtls_whyf(why, why_len, "%s (a PEM key is at most %u bytes)",
		     st.st_size <= 0 ? "empty file" : "too large for a key file", KEY_FILE_MAX);
		goto out;
	}
	size = (size_t)st.st_size;
	buf = cnp_malloc(size + 1);
	if (!buf) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			cnp_mbedtls_whyf(why, why_len, "cannot read: %s", n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	buf[size] = 0;
	*data = buf;
	*len = size + 1;
	buf = NULL;
	rc = CNP_OK;
out:
	if (buf) {
		mbedtls_platform_zeroize(buf, size);
		cnp_free(buf);
	}
	close(fd);
	return rc;
}

/* Checks that a parsed key is an EC key on P-256. */
static int check_p256(const mbedtls_pk_context *pk, char *why, size_t why_len)
{
	mbedtls_pk_type_t t = mbedtls_pk_get_type(pk);
	if (t != MBEDTLS_PK_ECKEY && t != MBEDTLS_PK_ECDSA) {
		cnp_mbedtls_whyf(why, why_len, "an %s key, not an EC key on P-256 (prime256v1)",
		     mbedtls_pk_get_name(pk));
		return CNP_ERR_KEY;
	}
	const mbedtls_ecp_keypair *kp = mbedtls_pk_ec(*pk);
	if (kp->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
		const mbedtls_ecp_curve_info *ci = mbedtls_ecp_curve_info_from_grp_id(kp->grp.id);
		cnp_mbedtls_whyf(why, why_len,
		     "an EC key on curve %s; canopy signs with P-256 only "
		     "(openssl ecparam -name prime256v1 -genkey)",
		     ci ? ci->name : "(unknown)");
		return CNP_ERR_KEY;
	}
	return CNP_OK;
}

static int blind_rng(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	cnp_random_bytes(out, len);
	return 0;
}

int cnp_signer_load(const char *path, struct cnp_signer **out, char *why, size_t why_len)
{
	uint8_t *text = NULL;
	size_t len = 0;
	struct cnp_signer *s = NULL;
	int rc = read_key_file(path, 1, &text, &len, why, why_len);
	if (rc != CNP_OK)
		return rc;
	s = cnp_calloc(1, sizeof(*s));
	if (!s) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	mbedtls_pk_init(&s->pk);
	int mrc = mbedtls_pk_parse_key(&s->pk, text, len, NULL, 0);
	if (mrc != 0) {
		rc = from_mbedtls(mrc, CNP_ERR_KEY);
		char d[160];
		detail(mrc, d, sizeof(d));
		if (mrc == MBEDTLS_ERR_PK_PASSWORD_REQUIRED)
			cnp_mbedtls_whyf(why, why_len, "the key is encrypted; canopy needs an unencrypted key "
			     "protected by its file mode (%s)", d);
		else if (strstr((const char *)text, "PUBLIC KEY"))
			cnp_mbedtls_whyf(why, why_len, "this is a public key; give the private key (%s)", d);
		else
			cnp_mbedtls_whyf(why, why_len, "not a PEM EC private key (%s)", d);
		goto out;
	}
	rc = check_p256(&s->pk, why, why_len);
	if (rc != CNP_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	mbedtls_platform_zeroize(text, len);
	cnp_free(text);
	cnp_signer_destroy(s);
	return rc;
}

void cnp_signer_destroy(struct cnp_signer *s)
{
	if (!s)
		return;
	mbedtls_pk_free(&s->pk); /* zeroizes the private key */
	cnp_free(s);
}

/* DER SEQUENCE { r INTEGER, s INTEGER }, as mbedTLS and OpenSSL write it. */
static int write_der(const mbedtls_mpi *r, const mbedtls_mpi *s, uint8_t *sig, size_t *sig_len)
{
	unsigned char buf[MBEDTLS_ECDSA_MAX_SIG_LEN(256)];
	unsigned char *p = buf + sizeof(buf);
	size_t len = 0;
	int n;
	if ((n = mbedtls_asn1_write_mpi(&p, buf, s)) < 0)
		return n;
	len += (size_t)n;
	if ((n = mbedtls_asn1_write_mpi(&p, buf, r)) < 0)
		return n;
	len += (size_t)n;
	if ((n = mbedtls_asn1_write_len(&p, buf, len)) < 0)
		return n;
	len += (size_t)n;
	if ((n = mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
		return n;
	len += (size_t)n;
	if (len > CNP_ECDSA_P256_SIG_MAX)
		return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
	memcpy(sig, p, len);
	*sig_len = len;
	return 0;
}

int cnp_signer_sign(const struct cnp_signer *signer, const uint8_t hash[CNP_SHA256_LEN],
                    uint8_t sig[CNP_ECDSA_P256_SIG_MAX], size_t *sig_len)
{
	/* The key's own group: mbedTLS keeps the precomputed multiples of the
	 * generator there after the first call, which halves the cost of the
	 * next ones (about 4 million instructions instead of 9 on x86-64). */
	mbedtls_ecp_keypair *kp = mbedtls_pk_ec(signer->pk);
	mbedtls_mpi r, s;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	int mrc = mbedtls_ecdsa_sign_det_ext(&kp->grp, &r, &s, &kp->d, hash, CNP_SHA256_LEN,
	                                     MBEDTLS_MD_SHA256, blind_rng, NULL);
	if (mrc == 0)
		mrc = write_der(&r, &s, sig, sig_len);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return from_mbedtls(mrc, CNP_ERR_SIGNATURE);
}

int cnp_verifier_load(const char *path, struct cnp_verifier **out, char *why, size_t why_len)
{
	uint8_t *text = NULL;
	size_t len = 0;
	struct cnp_verifier *v = NULL;
	int rc = read_key_file(path, 0, &text, &len, why, why_len);
	if (rc != CNP_OK)
		return rc;
	v = cnp_calloc(1, sizeof(*v));
	if (!v) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	mbedtls_pk_init(&v->pk);
	int mrc = mbedtls_pk_parse_public_key(&v->pk, text, len);
	if (mrc != 0) {
		rc = from_mbedtls(mrc, CNP_ERR_KEY);
		char d[160];
		detail(mrc, d, sizeof(d));
		if (strstr((const char *)text, "PRIVATE KEY"))
			cnp_mbedtls_whyf(why, why_len, "this is a private key; give the public key "
			     "(openssl ec -in KEY -pubout) (%s)", d);
		else
			cnp_mbedtls_whyf(why, why_len, "not a PEM public key (%s)", d);
		goto out;
	}
	rc = check_p256(&v->pk, why, why_len);
	if (rc != CNP_OK)
		goto out;
	*out = v;
	v = NULL;
out:
	cnp_free(text);
	cnp_verifier_destroy(v);
	return rc;
}

void cnp_verifier_destroy(struct cnp_verifier *v)
{
	if (!v)
		return;
	mbedtls_pk_free(&v->pk);
	cnp_free(v);
}

/* Strict DER: one SEQUENCE of two INTEGERs that fills the buffer exactly. */
static int read_der(const uint8_t *sig, size_t sig_len, mbedtls_mpi *r, mbedtls_mpi *s)
{
	unsigned char buf[CNP_ECDSA_P256_SIG_MAX];
	if (sig_len > sizeof(buf))
		return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
	memcpy(buf, sig, sig_len); /* mbedTLS's parser wants a non-const cursor */
	unsigned char *p = buf;
	const unsigned char *end = buf + sig_len;
	size_t len;
	int mrc = mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
	if (mrc != 0)
		return mrc;
	if (p + len != end)
		return MBEDTLS_ERR_ASN1_LENGTH_MISMATCH;
	if ((mrc = mbedtls_asn1_get_mpi(&p, end, r)) != 0 ||
	    (mrc = mbedtls_asn1_get_mpi(&p, end, s)) != 0)
		return mrc;
	return p == end ? 0 : MBEDTLS_ERR_ASN1_LENGTH_MISMATCH;
}

int cnp_verifier_verify(const struct cnp_verifier *v, const uint8_t hash[CNP_SHA256_LEN],
                        const uint8_t *sig, size_t sig_len)
{
	mbedtls_ecp_keypair *kp = mbedtls_pk_ec(v->pk); /* its group caches tables */
	mbedtls_mpi r, s;
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	int mrc = read_der(sig, sig_len, &r, &s);
	if (mrc == 0)
		mrc = mbedtls_ecdsa_verify(&kp->grp, hash, CNP_SHA256_LEN, &kp->Q, &r, &s);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	return from_mbedtls(mrc, CNP_ERR_SIGNATURE);
}
