#include "firmware/candump.h"

#include "firmware/error.h"

#include <string.h>

/*
 * The parser copies the line into a buffer ending in a NUL, which no field
 * accepts: every loop then stops at the end without a bounds check. This is
 * the agent's hottest path on a replay (one call per frame).
 */

/* Hex digit value + 1 (0: not a hex digit). */
static const uint8_t hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7,
	['7'] = 8, ['8'] = 9, ['9'] = 10,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};
/* Letter case of a hex digit: 1 upper, 2 lower, 0 a decimal digit. */
static const uint8_t hexcase[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['a'] = 2, ['b'] = 2, ['c'] = 2, ['d'] = 2, ['e'] = 2, ['f'] = 2,
};

static int bad(struct cnp_candump_line *out, const char *buf, const char *p, const char *why)
{
	out->why = why;
	out->column = (unsigned)(p - buf) + 1;
	return CNP_ERR_INVAL;
}

int cnp_candump_parse(const char *line, size_t len, struct cnp_frame *f,
                      struct cnp_candump_line *out)
{
	char buf[CNP_CANDUMP_LINE_MAX + 1];
	if (len > CNP_CANDUMP_LINE_MAX) {
		out->why = "line longer than 256 bytes";
		out->column = CNP_CANDUMP_LINE_MAX + 1;
		return CNP_ERR_INVAL;
	}
	memcpy(buf, line, len);
	buf[len] = 0;
	const char *p = buf, *const end = buf + len;
	unsigned cases = 0, v;
	memset(f, 0, offsetof(struct cnp_frame, data));

	if (*p != '(')
		return bad(out, buf, p, "expected '(' before the timestamp");
	const char *digits = ++p;
	uint64_t sec = 0;
	while ((unsigned)(*p - '0') < 10) {
		if (p - digits >= 19)
			return bad(out, buf, p, "timestamp seconds too large");
		sec = sec * 10 + (uint64_t)(*p++ - '0');
	}
	unsigned ndigits = (unsigned)(p - digits);
	if (ndigits == 0)
		return bad(out, buf, p, "expected timestamp seconds");
	if (ndigits > 1 && digits[0] == '0') {
		if (ndigits > CNP_STYLE_SEC_WIDTH_MASK)
			return bad(out, buf, p, "timestamp padded too wide");
		f->style |= (uint8_t)ndigits;
	}
	if (*p != '.')
		return bad(out, buf, p, "expected '.' in the timestamp");
	p++;
	uint64_t usec = 0;
	for (int i = 0; i < 6; i++, p++) {
		if ((unsigned)(*p - '0') >= 10)
			return bad(out, buf, p, "expected 6 fractional digits in the timestamp");
		usec = usec * 10 + (uint64_t)(*p - '0');
	}
	if (*p != ')')
		return bad(out, buf, p, "expected ')' after 6 fractional digits");
	p++;
	if (sec > (UINT64_MAX - usec) / 1000000u)
		return bad(out, buf, p, "timestamp too large");
	f->ts_us = sec * 1000000u + usec;
	if (*p != ' ')
		return bad(out, buf, p, "expected one space after the timestamp");
	p++;

	const char *ifname = p;
	while ((unsigned char)*p > ' ' && *p != 0x7F)
		p++;
	unsigned iflen = (unsigned)(p - ifname);
	if (p < end && *p != ' ')
		return bad(out, buf, p, "control character in the interface name");
	if (iflen == 0)
		return bad(out, buf, p, "expected an interface name");
	if (iflen > 15)
		return bad(out, buf, p, "interface name longer than 15 characters");
	out->ifname = line + (ifname - buf);
	out->ifname_len = iflen;
	if (p >= end)
		return bad(out, buf, p, "expected a frame after the interface name");
	p++;

	const char *idstart = p;
	uint32_t id = 0;
	while ((v = hexval[(unsigned char)*p]) != 0) {
		if (p - idstart >= 8)
			return bad(out, buf, p + 1, "identifier longer than 8 hex digits");
		cases |= hexcase[(unsigned char)*p];
		id = (id << 4) | (v - 1);
		p++;
	}
	unsigned idlen = (unsigned)(p - idstart);
	if (idlen == 0)
		return bad(out, buf, p, "expected a hex identifier");
	if (*p != '#')
		return bad(out, buf, p, "expected '#' after the identifier");
	if (idlen == 3) {
		if (id > 0x7FF)
			return bad(out, buf, p, "11-bit identifier above 7FF");
	} else if (idlen == 8) {
		if (id & 0xC0000000u)
			return bad(out, buf, p, "29-bit identifier with bits 30/31 set");
		if (id & 0x20000000u) {
			f->flags |= CNP_FRAME_ERR;
			id &= 0x1FFFFFFFu;
		} else {
			f->flags |= CNP_FRAME_EXT;
		}
	} else {
		return bad(out, buf, p, "identifier must have 3 or 8 hex digits");
	}
	f->id = id;
	p++;

	unsigned max = 8;
	if (*p == '#') {
		if (f->flags & CNP_FRAME_ERR)
			return bad(out, buf, p, "an error frame cannot be CAN FD");
		p++;
		f->flags |= CNP_FRAME_FD;
		if (!(v = hexval[(unsigned char)*p]))
			return bad(out, buf, p, "expected the CAN FD flags digit after '##'");
		cases |= hexcase[(unsigned char)*p++];
		f->fd_flags = (uint8_t)(v - 1);
		max = CNP_FRAME_MAX_DATA;
	} else if (*p == 'R') {
		if (f->flags & CNP_FRAME_ERR)
			return bad(out, buf, p, "an error frame cannot be a remote frame");
		p++;
		f->flags |= CNP_FRAME_RTR;
		if (p < end) {
			v = hexval[(unsigned char)*p];
			if (v < 2 || v > 9)
				return bad(out, buf, p, "remote frame DLC must be 1 to 8");
			f->dlc = (uint8_t)(v - 1);
			p++;
		}
		goto tail;
	}

	unsigned n = 0;
	for (;;) {
		unsigned hi = hexval[(unsigned char)p[0]];
		if (!hi)
			break;
		unsigned lo = hexval[(unsigned char)p[1]];
		if (!lo)
			return bad(out, buf, p + 1, "odd number of hex data digits");
		if (n >= max)
			return bad(out, buf, p, max == 8 ? "more than 8 data bytes in a classic frame"
			                                 : "more than 64 data bytes");
		cases |= hexcase[(unsigned char)p[0]] | hexcase[(unsigned char)p[1]];
		f->data[n++] = (uint8_t)((hi - 1) << 4 | (lo - 1));
		p += 2;
	}
	f->len = (uint8_t)n;
	if (p < end && *p != '_')
		return bad(out, buf, p, "expected hex data");
	if ((f->flags & CNP_FRAME_FD) && !cnp_frame_fd_len_valid(n))
		return bad(out, buf, p, "not a valid CAN FD data length");
	if (*p == '_') {
		if ((f->flags & CNP_FRAME_FD) || n != 8)
			return bad(out, buf, p, "a raw DLC ('_') needs a classic frame of 8 bytes");
		p++;
		v = hexval[(unsigned char)*p];
		if (v < 10)
			return bad(out, buf, p, "raw DLC must be 9 to F");
		cases |= hexcase[(unsigned char)*p++];
		f->dlc = (uint8_t)(v - 1);
	}
	if ((f->flags & CNP_FRAME_ERR) && n != 8)
		return bad(out, buf, p, "an error frame carries 8 data bytes");
tail:
	if (p != end)
		return bad(out, buf, p, "unexpected text after the frame");
	if (cases == 3)
		return bad(out, buf, p, "hex digits in both upper and lower case");
	if (cases == 2)
		f->style |= CNP_STYLE_LOWER_HEX;
	return CNP_OK;
}

static unsigned dec_digits(uint64_t v)
{
	/* Comparisons, not divisions: this runs once per frame for stats. */
	static const uint64_t pow10[] = {
		10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
		1000000000u, 10000000000u, 100000000000u, 1000000000000u,
		10000000000000u, 100000000000000u, 1000000000000000u,
		10000000000000000u, 100000000000000000u, 1000000000000000000u,
		10000000000000000000u,
	};
	/* Seconds since 2001 to 2286 first: every live capture and most logs. */
	if (v >= 1000000000u && v < 10000000000u)
		return 10;
	unsigned n = 1;
	while (n < 20 && v >= pow10[n - 1])
		n++;
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
