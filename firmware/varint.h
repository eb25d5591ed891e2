/*
 * LEB128-style varints and zigzag, as docs/FORMAT.md defines them, and a
 * growable byte buffer for encoders that do not know their size up front.
 */
#ifndef CNP_VARINT_H
#define CNP_VARINT_H

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CNP_VARINT_MAX 10 /* bytes of the longest 64-bit varint */

static inline uint64_t cnp_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v < 0 ? -1 : 0);
}

static inline int64_t cnp_unzigzag(uint64_t z)
{
	return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* Reads a varint of at most 10 bytes; CNP_ERR_CORRUPT if it runs past end. */
static inline int cnp_varint_get(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return CNP_ERR_CORRUPT;
		uint8_t b = *p++;
		x |= (uint64_t)(b & 0x7F) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*v = x;
			return CNP_OK;
		}
	}
	return CNP_ERR_CORRUPT;
}

/* A byte buffer that grows by doubling. */
struct cnp_buf {
	uint8_t *p;
	size_t len, cap;
};

static inline int cnp_buf_reserve(struct cnp_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return CNP_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			return CNP_ERR_NOMEM;
		cap *= 2;
	}
	uint8_t *n = cnp_realloc(b->p, cap);
	if (!n)
		return CNP_ERR_NOMEM;
	b->p = n;
	b->cap = cap;
	return CNP_OK;
}

static inline int cnp_buf_put(struct cnp_buf *b, const void *data, size_t n)
{
	if (cnp_buf_reserve(b, n) != CNP_OK)
		return CNP_ERR_NOMEM;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return CNP_OK;
}

static inline int cnp_buf_varint(struct cnp_buf *b, uint64_t v)
{
	if (cnp_buf_reserve(b, CNP_VARINT_MAX) != CNP_OK)
		return CNP_ERR_NOMEM;
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
	return CNP_OK;
}

static inline void cnp_buf_free(struct cnp_buf *b)
{
	cnp_free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

#endif
