/*
 * Compression seam: zlib's deflate format (RFC 1950) with its stream API.
 * Buffers are the caller's; nothing is allocated beyond zlib's own state,
 * which is freed before each call returns.
 */
#ifndef CNP_PLATFORM_ZLIB_H
#define CNP_PLATFORM_ZLIB_H

#include <stddef.h>
#include <stdint.h>

/* An upper bound of the compressed size of `len` input bytes. */
size_t cnp_zlib_bound(size_t len);

/*
 * Compresses in[0..in_len) at `level` (0-9) into out[0..out_cap).
 * @retval CNP_ERR_FULL  out_cap is too small (use cnp_zlib_bound)
 * @retval CNP_ERR_NOMEM
 */
int cnp_zlib_compress(const void *in, size_t in_len, int level, uint8_t *out,
                      size_t out_cap, size_t *out_len);

/*
 * As cnp_zlib_compress, but ends a deflate block at each offset of
 * ends[0..nends) (ascending; offsets outside (0, in_len) are skipped), so
 * that parts of different statistics get Huffman codes of their own. The
 * stream is an ordinary zlib stream. out_cap should allow
 * cnp_zlib_bound(in_len) + 8 per offset.
 */
int cnp_zlib_compress_blocks(const void *in, size_t in_len, const size_t *ends, unsigned nends,
                             int level, uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * Decompresses a complete zlib stream into out[0..out_cap). Succeeds only if
 * the stream ends exactly at in_len and fits in out_cap.
 * @retval CNP_ERR_CORRUPT  not a valid or complete zlib stream, trailing
 *                          bytes, or more output than out_cap
 * @retval CNP_ERR_NOMEM
 */
int cnp_zlib_decompress(const void *in, size_t in_len, uint8_t *out,
                        size_t out_cap, size_t *out_len);

/* CRC-32 (ISO-HDLC, zlib's crc32) of in[0..len): a cheap check that bytes
 * read back from flash are those written (not a defence against tampering). */
uint32_t cnp_crc32(const void *in, size_t len);

#endif
