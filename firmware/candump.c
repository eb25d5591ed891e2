#include "firmware/candump.h"

#include "firmware/error.h"

#include <string.h>

/* Hex digit value, 16 for "not a hex digit"; bit 5 marks lower case. */
static const uint8_t hexval[256] = {
	['0'] = 0 + 1, ['1'] = 1 + 1, ['2'] = 2 + 1, ['3'] = 3 + 1, ['4'] = 4 + 1,
	['5'] = 5 + 1, ['6'] = 6 + 1, ['7'] = 7 + 1, ['8'] = 8 + 1, ['9'] = 9 + 1,
	['A'] = 10 + 1, ['B'] = 11 + 1, ['C'] = 12 + 1, ['D'] = 13 + 1,
	['E'] = 14 + 1, ['F'] = 15 + 1,
	['a'] = (10 + 1) | 0x20, ['b'] = (11 + 1) | 0x20, ['c'] = (12 + 1) | 0x20,
	['d'] = (13 + 1) | 0x20, ['e'] = (14 + 1) | 0x20, ['f'] = (15 + 1) | 0x20,
};
/* The table stores value+1 so that 0 means "not hex". */
#define HEX_VALUE(e) ((unsigned)((e) & 0x1F) - 1u)
#define HEX_UPPER 0x100u
#define HEX_LOWER 0x200u

struct cursor {
	const char *p;
	const char *start;
	const char *end;
	unsigned cases; /* HEX_UPPER | HEX_LOWER seen */
};

static int bad(struct cnp_candump_line *out, const struct cursor *c,
               const char *why)
{
	out->why = why;
	out->column = (unsigned)(c->p - c->start) + 1;
	return CNP_ERR_INVAL;
}

/* Reads one hex digit; returns 16 if the next byte is not one. */
static unsigned hex_digit(struct cursor *c)
{
	if (c->p >= c->end)
		return 16;
	uint8_t e = hexval[(unsigned char)*c->p];
	if (!e)
		return 16;
	unsigned v = HEX_VALUE(e);
	if (v >= 10)
		c->cases |= (e & 0x20) ? HEX_LOWER : HEX_UPPER;
	c->p++;
	return v;
}

int cnp_candump_parse(const char *line, size_t len, struct cnp_frame *f,
                      struct cnp_candump_line *out)
{
	struct cursor c = {.p = line, .start = line, .end = line + len, .cases = 0};
	memset(f, 0, offsetof(struct cnp_frame, data));

	if (c.p >= c.end || *c.p != '(')
		return bad(out, &c, "expected '(' before the timestamp");
	c.p++;
	const char *digits = c.p;
	uint64_t sec = 0;
	while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
		if (c.p - digits >= 19)
			return bad(out, &c, "timestamp seconds too large");
		sec = sec * 10 + (uint64_t)(*c.p - '0');
		c.p++;
	}
	unsigned ndigits = (unsigned)(c.p - digits);
	if (ndigits == 0)
		return bad(out, &c, "expected timestamp seconds");
	if (ndigits > 1 && digits[0] == '0') {
		if (ndigits > CNP_STYLE_SEC_WIDTH_MASK)
			return bad(out, &c, "timestamp padded too wide");
		f->style |= (uint8_t)ndigits;
	}
	if (c.p >= c.end || *c.p != '.')
		return bad(out, &c, "expected '.' in the timestamp");
	c.p++;
	uint64_t usec = 0;
	for (int i = 0; i < 6; i++) {
		if (c.p >= c.end || *c.p < '0' || *c.p > '9')
			return bad(out, &c, "expected 6 fractional digits in the timestamp");
		usec = usec * 10 + (uint64_t)(*c.p - '0');
		c.p++;
	}
	if (c.p >= c.end || *c.p != ')')
		return bad(out, &c, "expected ')' after 6 fractional digits");
	c.p++;
	if (sec > (UINT64_MAX - usec) / 1000000u)
		return bad(out, &c, "timestamp too large");
	f->ts_us = sec * 1000000u + usec;
	if (c.p >= c.end || *c.p != ' ')
		return bad(out, &c, "expected one space after the timestamp");
	c.p++;

	const char *ifname = c.p;
	while (c.p < c.end && *c.p != ' ') {
		if ((unsigned char)*c.p <= ' ' || *c.p == 0x7F)
			return bad(out, &c, "control character in the interface name");
		c.p++;
	}
	unsigned iflen = (unsigned)(c.p - ifname);
	if (iflen == 0)
		return bad(out, &c, "expected an interface name");
	if (iflen > 15)
		return bad(out, &c, "interface name longer than 15 characters");
	out->ifname = ifname;
	out->ifname_len = iflen;
	if (c.p >= c.end)
		return bad(out, &c, "expected a frame after the interface name");
	c.p++;

	const char *idstart = c.p;
	uint32_t id = 0;
	unsigned v;
	while ((v = hex_digit(&c)) < 16) {
		if (c.p - idstart > 8)
			return bad(out, &c, "identifier longer than 8 hex digits");
		id = (id << 4) | v;
	}
	unsigned idlen = (unsigned)(c.p - idstart);
	if (idlen == 0)
		return bad(out, &c, "expected a hex identifier");
	if (c.p >= c.end || *c.p != '#')
		return bad(out, &c, "expected '#' after the identifier");
	if (idlen == 3) {
		if (id > 0x7FF)
			return bad(out, &c, "11-bit identifier above 7FF");
	} else if (idlen == 8) {
		if (id & 0xC0000000u)
			return bad(out, &c, "29-bit identifier with bits 30/31 set");
		if (id & 0x20000000u) {
			f->flags |= CNP_FRAME_ERR;
			id &= 0x1FFFFFFFu;
		} else {
			f->flags |= CNP_FRAME_EXT;
		}
	} else {
		return bad(out, &c, "identifier must have 3 or 8 hex digits");
	}
	f->id = id;
	c.p++;

	unsigned max = 8;
	if (c.p < c.end && *c.p == '#') {
		if (f->flags & CNP_FRAME_ERR)
			return bad(out, &c, "an error frame cannot be CAN FD");
		c.p++;
		f->flags |= CNP_FRAME_FD;
		v = hex_digit(&c);
		if (v >= 16)
			return bad(out, &c, "expected the CAN FD flags digit after '##'");
		f->fd_flags = (uint8_t)v;
		max = CNP_FRAME_MAX_DATA;
	} else if (c.p < c.end && *c.p == 'R') {
		if (f->flags & CNP_FRAME_ERR)
			return bad(out, &c, "an error frame cannot be a remote frame");
		c.p++;
		f->flags |= CNP_FRAME_RTR;
		if (c.p < c.end) {
			v = hex_digit(&c);
			if (v < 1 || v > 8) {
				if (v < 16)
					c.p--;
				return bad(out, &c, "remote frame DLC must be 1 to 8");
			}
			f->dlc = (uint8_t)v;
		}
		goto tail;
	}

	unsigned n = 0;
	while (c.p < c.end && *c.p != '_') {
		unsigned hi = hex_digit(&c);
		if (hi >= 16)
			return bad(out, &c, "expected hex data");
		unsigned lo = hex_digit(&c);
		if (lo >= 16)
			return bad(out, &c, "odd number of hex data digits");
		if (n >= max)
			return bad(out, &c, max == 8 ? "more than 8 data bytes in a classic frame"
			                             : "more than 64 data bytes");
		f->data[n++] = (uint8_t)(hi << 4 | lo);
	}
	f->len = (uint8_t)n;
	if ((f->flags & CNP_FRAME_FD) && !cnp_frame_fd_len_valid(n))
		return bad(out, &c, "not a valid CAN FD data length");
	if (c.p < c.end) { /* '_' raw DLC */
		if ((f->flags & CNP_FRAME_FD) || n != 8)
			return bad(out, &c, "a raw DLC ('_') needs a classic frame of 8 bytes");
		c.p++;
		v = hex_digit(&c);
		if (v < 9 || v >= 16) {
			if (v < 16)
				c.p--;
			return bad(out, &c, "raw DLC must be 9 to F");
		}
		f->dlc = (uint8_t)v;
	}
	if ((f->flags & CNP_FRAME_ERR) && n != 8)
		return bad(out, &c, "an error frame carries 8 data bytes");
tail:
	if (c.p != c.end)
		return bad(out, &c, "unexpected text after the frame");
	if (c.cases == (HEX_UPPER | HEX_LOWER))
		return bad(out, &c, "hex digits in both upper and lower case");
	if (c.cases == HEX_LOWER)
		f->style |= CNP_STYLE_LOWER_HEX;
	return CNP_OK;
}

static unsigned dec_digits(uint64_t v)
{
	unsigned n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t cnp_candump_text_len(const struct cnp_frame *f, size_t ifname_len)
{
	unsigned sec_digits = dec_digits(f->ts_us / 1000000u);
	unsigned width = f->style & CNP_STYLE_SEC_WIDTH_MASK;
	if (width > sec_digits)
		sec_digits = width;
	size_t n = 1 + sec_digits + 1 + 6 + 2 + ifname_len + 1;
	n += (f->flags & (CNP_FRAME_EXT | CNP_FRAME_ERR)) ? 8 : 3;
	n += 1;
	if (f->flags & CNP_FRAME_RTR)
		n += 1 + (f->dlc ? 1 : 0);
	else
		n += (f->flags & CNP_FRAME_FD ? 2 : 0) + 2u * f->len + (f->dlc ? 2 : 0);
	if (!(f->style & CNP_STYLE_NO_EOL))
		n += (f->style & CNP_STYLE_CRLF) ? 2 : 1;
	return n;
}

int cnp_candump_format(const struct cnp_frame *f, const char *ifname,
                       char *out, size_t cap, size_t *len)
{
	size_t iflen = strlen(ifname);
	if (f->len > CNP_FRAME_MAX_DATA || iflen == 0 || iflen > 15)
		return CNP_ERR_INVAL;
	size_t need = cnp_candump_text_len(f, iflen);
	if (need > cap)
		return CNP_ERR_FULL;
	const char *hex = (f->style & CNP_STYLE_LOWER_HEX) ? "0123456789abcdef"
	                                                   : "0123456789ABCDEF";
	char *p = out;
	*p++ = '(';
	uint64_t sec = f->ts_us / 1000000u;
	uint64_t usec = f->ts_us % 1000000u;
	unsigned nd = dec_digits(sec);
	unsigned width = f->style & CNP_STYLE_SEC_WIDTH_MASK;
	for (unsigned i = nd; i < width; i++)
		*p++ = '0';
	for (unsigned i = nd; i > 0; i--) {
		p[i - 1] = (char)('0' + sec % 10);
		sec /= 10;
	}
	p += nd;
	*p++ = '.';
	for (int i = 5; i >= 0; i--) {
		p[i] = (char)('0' + usec % 10);
		usec /= 10;
	}
	p += 6;
	*p++ = ')';
	*p++ = ' ';
	memcpy(p, ifname, iflen);
	p += iflen;
	*p++ = ' ';
	uint32_t id = f->id;
	if (f->flags & CNP_FRAME_ERR)
		id |= 0x20000000u;
	int idlen = (f->flags & (CNP_FRAME_EXT | CNP_FRAME_ERR)) ? 8 : 3;
	for (int i = idlen - 1; i >= 0; i--) {
		p[i] = hex[id & 15];
		id >>= 4;
	}
	p += idlen;
	*p++ = '#';
	if (f->flags & CNP_FRAME_RTR) {
		*p++ = 'R';
		if (f->dlc)
			*p++ = hex[f->dlc & 15];
	} else {
		if (f->flags & CNP_FRAME_FD) {
			*p++ = '#';
			*p++ = hex[f->fd_flags & 15];
		}
		for (unsigned i = 0; i < f->len; i++) {
			*p++ = hex[f->data[i] >> 4];
			*p++ = hex[f->data[i] & 15];
		}
		if (f->dlc) {
			*p++ = '_';
			*p++ = hex[f->dlc & 15];
		}
	}
	if (!(f->style & CNP_STYLE_NO_EOL)) {
		if (f->style & CNP_STYLE_CRLF)
			*p++ = '\r';
		*p++ = '\n';
	}
	*len = (size_t)(p - out);
	return CNP_OK;
}
