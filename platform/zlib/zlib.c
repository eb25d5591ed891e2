#include "platform/zlib.h"

#include "firmware/error.h"

#include <limits.h>
#include <zlib.h>

size_t cnp_zlib_bound(size_t len)
{
	/* compressBound's formula, without its uLong limit. */
	return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 64;
}

int cnp_zlib_compress(const void *in, size_t in_len, int level, uint8_t *out,
                      size_t out_cap, size_t *out_len)
{
	if (in_len > UINT_MAX || out_cap > UINT_MAX)
		return CNP_ERR_TOOBIG;
	z_stream zs = {0};
	int zrc = deflateInit(&zs, level);
	if (zrc != Z_OK)
		return zrc == Z_MEM_ERROR ? CNP_ERR_NOMEM : CNP_ERR_INVAL;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = out;
	zs.avail_out = (uInt)out_cap;
	zrc = deflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return zrc == Z_STREAM_END ? CNP_OK : CNP_ERR_FULL;
}

int cnp_zlib_decompress(const void *in, size_t in_len, uint8_t *out,
                        size_t out_cap, size_t *out_len)
{
	if (in_len > UINT_MAX || out_cap > UINT_MAX)
		return CNP_ERR_TOOBIG;
	z_stream zs = {0};
	int zrc = inflateInit(&zs);
	if (zrc != Z_OK)
		return zrc == Z_MEM_ERROR ? CNP_ERR_NOMEM : CNP_ERR_CORRUPT;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = out;
	zs.avail_out = (uInt)out_cap;
	zrc = inflate(&zs, Z_FINISH);
	*out_len = zs.total_out;
	int rc = (zrc == Z_STREAM_END && zs.avail_in == 0) ? CNP_OK
	         : zrc == Z_MEM_ERROR                      ? CNP_ERR_NOMEM
	                                                   : CNP_ERR_CORRUPT;
	inflateEnd(&zs);
	return rc;
}

uint32_t cnp_crc32(const void *in, size_t len)
{
	uLong crc = crc32(0L, Z_NULL, 0);
	const Bytef *p = in;
	while (len > 0) { /* uInt may be narrower than size_t */
		uInt n = len > 0x40000000u ? 0x40000000u : (uInt)len;
		crc = crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)crc;
}
