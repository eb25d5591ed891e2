#include "platform/zlib.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <limits.h>
#include <stdint.h>
#include <zlib.h>

/* zlib's state and window come from canopy's allocator, so that the
 * allocation-failure pass (tests/integration/alloc_fail.sh) fails them too
 * and a test's cnp_alloc_fail_after() reaches them. */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	if (size && items > SIZE_MAX / size)
		return Z_NULL;
	return cnp_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	cnp_free(p);
}

size_t cnp_zlib_bound(size_t len)
{
	/* compressBound's formula, without its uLong limit. */
	return len + (len >> 12) + (len >> 14) + (len >> 25) + 13 + 64;
}

int cnp_zlib_compress(const void *in, size_t in_len, int level, uint8_t *out,
                      size_t out_cap, size_t *out_len)
{
	return cnp_zlib_compress_blocks(in, in_len, NULL, 0, level, out, out_cap, out_len);
}

int cnp_zlib_compress_blocks(const void *in, size_t in_len, const size_t *ends, unsigned nends,
                             int level, uint8_t *out, size_t out_cap, size_t *out_len)
{
	if (in_len > UINT_MAX || out_cap > UINT_MAX)
		return CNP_ERR_TOOBIG;
	z_stream zs = {.zalloc = z_alloc, .zfree = z_free};
	int zrc = deflateInit(&zs, level);
	if (zrc != Z_OK)
		return zrc == Z_MEM_ERROR ? CNP_ERR_NOMEM : CNP_ERR_INVAL;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.next_out = out;
	zs.avail_out = (uInt)out_cap;
	size_t done = 0;
	int rc = CNP_OK;
	for (unsigned i = 0; i < nends && rc == CNP_OK; i++) {
		if (ends[i] <= done || ends[i] >= in_len)
			continue; /* an empty part or the end: no block of its own */
		zs.avail_in = (uInt)(ends[i] - done);
		zrc = deflate(&zs, Z_BLOCK);
		if (zrc != Z_OK || zs.avail_in != 0 || zs.avail_out == 0)
			rc = CNP_ERR_FULL;
		done = ends[i];
	}
	if (rc == CNP_OK) {
		zs.avail_in = (uInt)(in_len - done);
		zrc = deflate(&zs, Z_FINISH);
		rc = zrc == Z_STREAM_END ? CNP_OK : CNP_ERR_FULL;
	}
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return rc;
}

int cnp_zlib_decompress(const void *in, size_t in_len, uint8_t *out,
                        size_t out_cap, size_t *out_len)
{
	if (in_len > UINT_MAX || out_cap > UINT_MAX)
		return CNP_ERR_TOOBIG;
	z_stream zs = {.zalloc = z_alloc, .zfree = z_free};
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
