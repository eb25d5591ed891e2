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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * Eight characters as one little-endian word: the first character is the
 * lowest byte. The masks have 0x80 in each byte that passes a test.
 */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* The scan is one straight run: its helpers must not become calls. */
#define WORD_FN static inline __attribute__((always_inline))

WORD_FN uint64_t load8(const char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}

/* Bytes >= x (0x21 <= x <= 0x7F) among bytes below 0x80 (w7 = w & 0x7F..). */
WORD_FN uint64_t ge(uint64_t w7, unsigned x)
{
	return (w7 + ONES * (0x80u - x)) & HIGHS;
}

WORD_FN uint64_t digit_mask(uint64_t w)
{
	uint64_t w7 = w & ~HIGHS;
	return ~w & ge(w7, '0') & ~ge(w7, '9' + 1);
}

/* Characters of an interface name: above ' ', not DEL. */
WORD_FN uint64_t name_mask(uint64_t w)
{
	uint64_t w7 = w & ~HIGHS;
	return (w & HIGHS) | (ge(w7, '!') & ~ge(w7, 0x7F));
}

/* Hex digits; *letters: those that are letters, *lower: lower-case ones.
 * Letters are compared folded to lower case (| 0x20: only A-F and a-f
 * fold into a-f); digits unfolded (0x10-0x19 would fold into them). */
WORD_FN uint64_t hex_mask(uint64_t w, uint64_t *letters, uint64_t *lower)
{
	uint64_t w7 = w & ~HIGHS, f7 = w7 | 0x2020202020202020ull, ascii = ~w & HIGHS;
	uint64_t dig = ge(w7, '0') & ~ge(w7, '9' + 1);
	*letters = ge(f7, 'a') & ~ge(f7, 'f' + 1) & ascii;
	*lower = *letters & (w << 2); /* bit 5 of each letter */
	return (dig & ascii) | *letters;
}

/* Characters before the first that fails a mask (8 if none does). */
WORD_FN unsigned run_len(uint64_t mask)
{
	uint64_t fail = ~mask & HIGHS;
	return fail ? (unsigned)__builtin_ctzll(fail) >> 3 : 8;
}

/* The low n bytes of a word (n <= 8). */
WORD_FN uint64_t low_bytes(unsigned n)
{
	return n >= 8 ? ~0ull : (1ull << (8 * n)) - 1;
}

/* Eight hex digits -> four bytes, the first two digits in the lowest byte. */
WORD_FN uint64_t hex_bytes(uint64_t w)
{
	uint64_t v = (w & 0x0F0F0F0F0F0F0F0Full) + ((w >> 6) & ONES) * 9; /* nibbles */
	v = ((v & 0x00FF00FF00FF00FFull) << 4) | ((v >> 8) & 0x00FF00FF00FF00FFull);
	v = (v | (v >> 8)) & 0x0000FFFF0000FFFFull;
	return (v | (v >> 16)) & 0xFFFFFFFFull;
}

/* Eight decimal digits -> their value (the first digit most significant). */
WORD_FN uint64_t dec8(uint64_t w)
{
	w -= 0x3030303030303030ull;
	w = w * 10 + (w >> 8);
	return ((w & 0x000000FF000000FFull) * (100 + (1000000ull << 32)) +
	        ((w >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32))) >> 32;
}

size_t cnp_candump_scan(const char *line, const char *end, struct cnp_frame *f,
                        struct cnp_candump_line *out, struct cnp_candump_scan_cache *c)
{
	const char *p = line;
	if (*p++ != '(')
		return 0;
	/* Seconds: 1 to 12 digits (no padding, no overflow), then
	 * ".DDDDDD)" as one word. The line before's seconds, if the same. */
	uint64_t w = load8(p), w2 = load8(p + 8), sec = 0;
	unsigned nd;
	if (c && c->digits && (w & c->mask[0]) == c->text[0] && (w2 & c->mask[1]) == c->text[1]) {
		sec = c->sec;
		nd = c->digits;
	} else {
		unsigned i = 0;
		nd = run_len(digit_mask(w));
		if (nd == 8) {
			nd += run_len(digit_mask(w2));
			if (nd > 12)
				return 0;
			sec = dec8(w);
			i = 8;
		}
		if (nd == 0 || (nd > 1 && *p == '0') || p[nd] != '.')
			return 0;
		for (; i < nd; i++)
			sec = sec * 10 + (uint64_t)(p[i] - '0');
		if (c) { /* the digits and the '.' */
			c->mask[0] = low_bytes(nd + 1);
			c->mask[1] = nd + 1 > 8 ? low_bytes(nd + 1 - 8) : 0;
			c->text[0] = w & c->mask[0];
			c->text[1] = w2 & c->mask[1];
			c->sec = sec;
			c->digits = nd;
		}
	}
	p += nd;
	w = load8(p);
	if ((w & 0xFF) != '.' || (w >> 56) != ')' || (~digit_mask(w) & 0x0080808080808000ull))
		return 0;
	uint64_t usec = dec8(((w << 8) & ~0xFFFFull) | 0x3030u);
	p += 8;
	if (*p++ != ' ')
		return 0;

	const char *ifname = p;
	unsigned iflen = run_len(name_mask(load8(p)));
	if (iflen == 8)
		iflen += run_len(name_mask(load8(p + 8)));
	p += iflen;
	if (*p++ != ' ' || iflen == 0 || iflen > 15)
		return 0;

	/* Identifier: 3 or 8 hex digits and '#'. */
	uint64_t let, lo, let2 = 0, lo2 = 0;
	w = load8(p);
	unsigned idlen = run_len(hex_mask(w, &let, &lo));
	uint32_t id;
	uint8_t flags = 0;
	if (idlen == 3) {
		uint64_t b = hex_bytes(w); /* digits 1-2 in byte 0, digit 3 high in byte 1 */
		id = (uint32_t)((b & 0xFF) << 4 | (b >> 12 & 0x0F));
		if (id > 0x7FF)
			return 0;
	} else if (idlen == 8) {
		id = __builtin_bswap32((uint32_t)hex_bytes(w));
		if (id & 0xE0000000u) /* error frames and bad ids: the full parser */
			return 0;
		flags = CNP_FRAME_EXT;
	} else {
		return 0;
	}
	if (p[idlen] != '#')
		return 0;
	uint64_t keep = low_bytes(idlen);
	uint64_t upper = let & ~lo & keep, lower = lo & keep; /* any in the line */
	p += idlen + 1;

	/* Data: 0 to 16 hex digits, two words. */
	w = load8(p);
	w2 = load8(p + 8);
	unsigned nhex = run_len(hex_mask(w, &let, &lo));
	if (nhex == 8) {
		nhex += run_len(hex_mask(w2, &let2, &lo2)); /* a 17th: no line end */
		keep = low_bytes(nhex - 8);
		upper |= let2 & ~lo2 & keep;
		lower |= lo2 & keep;
	}
	if (nhex & 1)
		return 0;
	keep = low_bytes(nhex);
	upper |= let & ~lo & keep;
	lower |= lo & keep;
	if (upper && lower)
		return 0; /* both cases */
	uint64_t data = hex_bytes(w);
	if (nhex > 8)
		data |= hex_bytes(w2) << 32;
	data &= low_bytes(nhex / 2);
	p += nhex;

	uint8_t style = lower ? CNP_STYLE_LOWER_HEX : 0;
	if (*p == '\n') {
		p++;
	} else if (p[0] == '\r' && p[1] == '\n') {
		style |= CNP_STYLE_CRLF;
		p += 2;
	} else {
		return 0;
	}
	if (p > end)
		return 0;
	memset(f, 0, offsetof(struct cnp_frame, data));
	f->ts_us = sec * 1000000u + usec;
	f->id = id;
	f->flags = flags;
	f->len = (uint8_t)(nhex / 2);
	f->style = style;
	memcpy(f->data, &data, 8);
	out->ifname = ifname;
	out->ifname_len = iflen;
	return (size_t)(p - line);
}
#else
size_t cnp_candump_scan(const char *line, const char *end, struct cnp_frame *f,
                        struct cnp_candump_line *out, struct cnp_candump_scan_cache *c)
{
	(void)line, (void)end, (void)f, (void)out, (void)c;
	return 0;
}
#endif

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
