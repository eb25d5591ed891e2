/*
 * DBC parser and signal decoder.
 *
 * The parser reads characters, not tokens: what a word is depends on where
 * it stands (names may start with digits, "1-3" in SG_MUL_VAL_ is a range),
 * so each statement parser asks for the next name, number or string itself.
 * Statements are dispatched on their leading keyword. In lenient mode a
 * statement that does not parse is reported and skipped: parsing resumes at
 * the next line that starts with a keyword, so one bad line (an unbalanced
 * quote included) costs that statement only.
 *
 * Everything the file refers to by id or name (CM_, BA_, VAL_, SIG_VALTYPE_,
 * SG_MUL_VAL_) is found through hash tables, so loading stays linear in the
 * file size. Messages and signals live in two arrays that grow while
 * parsing; the pointers between them are set once at the end, when the
 * arrays no longer move.
 */
#include "firmware/dbc.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/fs.h"
#include "platform/log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small containers ----------------------------------------------------- */

/* Strings live in chunks that never move. */
struct chunk {
	struct chunk *next;
	size_t used, cap;
	char data[];
};
#define CHUNK_MIN 16384u

/*
 * Open addressing, linear probing. A slot holds value+1 (0: empty) and the
 * full hash, so that growing needs no callback. Equality is checked by the
 * caller while probing.
 */
struct htab {
	uint32_t *hash;
	uint32_t *val;
	uint32_t mask; /* capacity - 1; capacity 0 when mask == 0 and !val */
	uint32_t n;
};

struct vtab {
	const char *name;
	uint32_t first, n; /* into db->choices */
};

struct cnp_dbc {
	struct cnp_dbc_message *msgs;
	unsigned n_msgs, cap_msgs;
	struct cnp_dbc_signal *sigs;
	unsigned n_sigs, cap_sigs;
	struct cnp_dbc_choice *choices;
	unsigned n_choices, cap_choices;
	struct cnp_dbc_mux_range *ranges;
	unsigned n_ranges, cap_ranges;
	struct vtab *vtabs;
	unsigned n_vtabs, cap_vtabs;
	struct htab by_id;  /* id | 0x80000000 for extended -> message */
	struct htab by_pgn; /* PGN of a J1939 message -> message */
	unsigned n_j1939;
	struct chunk *arena;
	const char *version;
	const char *comment;
	unsigned n_warnings;
};

/* ---- parse-time state ----------------------------------------------------- */

/* What the parser knows about a message beyond the public struct. */
struct msg_x {
	uint32_t key;   /* id | 0x80000000 when extended (after normalising) */
	uint32_t first; /* index of its first signal */
	const char *vff_str;  /* BA_ "VFrameFormat" as a string */
	double vff_num;       /* ... as a number */
	double cycle;         /* BA_ "GenMsgCycleTime" */
	uint8_t has_vff_num, has_cycle;
};

#define NONE UINT32_MAX

struct sig_x {
	uint32_t msg;       /* message index */
	int64_t mux_nn;     /* value of "mNN"; < 0: none */
	uint32_t mul_muxor; /* SG_MUL_VAL_ multiplexor (signal index) or NONE */
	uint32_t mul_first, mul_n; /* its ranges in db->ranges */
	uint32_t choice_first, choice_n;
	uint32_t muxor;     /* resolved multiplexor or NONE */
	uint8_t plain_m;    /* written "M" */
	uint8_t drop;
};

enum attr_type { AT_INT, AT_HEX, AT_FLOAT, AT_STRING, AT_ENUM };

struct attr_def {
	const char *name;
	uint32_t enum_first, enum_n; /* into ps->enums */
	uint8_t type;
	uint8_t has_def, def_is_str;
	double def_num;
	const char *def_str;
};

struct parser {
	const char *text, *p, *end;
	const char *origin;
	unsigned line;
	int strict;
	const struct cnp_dbc_options *opts;
	struct cnp_dbc *db;

	struct msg_x *mx;
	unsigned cap_mx;
	struct sig_x *sx;
	unsigned cap_sx;
	struct htab msg_by_key; /* message key -> index */
	struct htab sig_by_name; /* (message, dbc name) -> signal index */
	struct attr_def *defs;
	unsigned n_defs, cap_defs;
	struct htab def_by_name;
	uint32_t *skipped; /* keys of skipped messages */
	unsigned n_skipped, cap_skipped;
	struct htab skipped_by_key;
	const char **enums;
	unsigned n_enums, cap_enums;
	const char *protocol_type; /* BA_ "ProtocolType" */

	uint32_t cur_msg;  /* message the next SG_ belongs to, or NONE */
	int skip_sigs;     /* the SG_ that follow belong to a skipped message */

	char why[320];     /* the current problem */
	unsigned why_line;
	unsigned logged;   /* warnings written to the log */
	char found[48];
	/* scratch for strings while they are converted */
	char *buf;
	size_t buf_cap;
};

/* ---- arena ------------------------------------------------------------------ */

static char *arena_alloc(struct cnp_dbc *db, size_t n)
{
	struct chunk *c = db->arena;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
		c = cnp_malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->next = db->arena;
		c->used = 0;
		c->cap = cap;
		db->arena = c;
	}
	char *out = c->data + c->used;
	c->used += n;
	return out;
}

static const char *arena_strndup(struct cnp_dbc *db, const char *s, size_t n)
{
	char *out = arena_alloc(db, n + 1);
	if (!out)
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

/* Grows *arr (element size `size`) so that it holds at least `want`. */
static int grow(void *arrp, unsigned *cap, unsigned want, size_t size)
{
	void **arr = arrp;
	if (want <= *cap)
		return CNP_OK;
	if (want > UINT_MAX / 2)
		return CNP_ERR_NOMEM;
	unsigned ncap = *cap ? *cap : 16;
	while (ncap < want)
		ncap *= 2;
	if ((size_t)ncap > SIZE_MAX / size)
		return CNP_ERR_NOMEM;
	void *n = cnp_realloc(*arr, (size_t)ncap * size);
	if (!n)
		return CNP_ERR_NOMEM;
	*arr = n;
	*cap = ncap;
	return CNP_OK;
}

/* ---- hash table ------------------------------------------------------------- */

static uint32_t hash_u32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static uint32_t hash_str(const char *s, size_t n, uint32_t seed)
{
	uint32_t h = 2166136261u ^ hash_u32(seed);
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return hash_u32(h);
}

static void htab_free(struct htab *t)
{
	cnp_free(t->hash);
	cnp_free(t->val);
	memset(t, 0, sizeof(*t));
}

static void htab_put_raw(uint32_t *hash, uint32_t *val, uint32_t mask, uint32_t h,
                         uint32_t v)
{
	uint32_t i = h & mask;
	while (val[i])
		i = (i + 1) & mask;
	hash[i] = h;
	val[i] = v + 1;
}

/* Adds (h -> v); duplicates are the caller's business. */
static int htab_add(struct htab *t, uint32_t h, uint32_t v)
{
	uint32_t cap = t->val ? t->mask + 1 : 0;
	if ((t->n + 1) * 2 > cap) {
		uint32_t ncap = cap ? cap * 2 : 64;
		if (ncap < cap)
			return CNP_ERR_NOMEM;
		uint32_t *nh = cnp_calloc(ncap, sizeof(uint32_t));
		uint32_t *nv = cnp_calloc(ncap, sizeof(uint32_t));
		if (!nh || !nv) {
			cnp_free(nh);
			cnp_free(nv);
			return CNP_ERR_NOMEM;
		}
		for (uint32_t i = 0; i < cap; i++)
			if (t->val[i])
				htab_put_raw(nh, nv, ncap - 1, t->hash[i], t->val[i] - 1);
		cnp_free(t->hash);
		cnp_free(t->val);
		t->hash = nh;
		t->val = nv;
		t->mask = ncap - 1;
	}
	htab_put_raw(t->hash, t->val, t->mask, h, v);
	t->n++;
	return CNP_OK;
}

/* Iteration over the values stored under hash h: *i starts at 0. */
static int htab_next(const struct htab *t, uint32_t h, uint32_t *i, uint32_t *v)
{
	if (!t->val)
		return 0;
	uint32_t pos = *i ? *i : ((h & t->mask) + 1);
	for (pos--; t->val[pos]; pos = (pos + 1) & t->mask) {
		if (t->hash[pos] == h) {
			*v = t->val[pos] - 1;
			*i = ((pos + 1) & t->mask) + 1;
			return 1;
		}
	}
	return 0;
}

/* ---- text conversion -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3Fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/* Windows-1252 0x80..0x9F; 0 marks the five undefined bytes. */
static const uint16_t cp1252_hi[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	out[0] = (char)(0xE0 | (cp >> 12));
	out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[2] = (char)(0x80 | (cp & 0x3F));
	return 3;
}

/*
 * Copies s[0..n) into the arena as UTF-8: unchanged when it already is
 * valid UTF-8, else read as Windows-1252 (undefined bytes become U+FFFD).
 */
static const char *arena_text(struct cnp_dbc *db, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_seq(u + i, n - i);
		if (!l)
			break;
		i += l;
	}
	if (i == n)
		return arena_strndup(db, s, n);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = arena_alloc(db, n * 3 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (i = 0; i < n; i++) {
		unsigned c = u[i];
		uint32_t cp = c;
		if (c >= 0x80 && c < 0xA0)
			cp = cp1252_hi[c - 0x80] ? cp1252_hi[c - 0x80] : 0xFFFD;
		o += put_utf8(out + o, cp);
	}
	out[o] = '\0';
	return out;
}

/* ---- diagnostics ------------------------------------------------------------ */

static void emit_warning(struct parser *ps)
{
	char text[sizeof(ps->why) + 64];
	snprintf(text, sizeof(text), "%s:%u: %s", ps->origin, ps->why_line, ps->why);
	ps->db->n_warnings++;
	if (ps->opts && ps->opts->warn) {
		ps->opts->warn(ps->opts->warn_arg, text);
		return;
	}
	if (ps->opts && (ps->opts->flags & CNP_DBC_QUIET))
		return;
	if (ps->logged < CNP_DBC_LOG_WARNINGS)
		cnp_warn("%s", text);
	ps->logged++;
}

static void set_why(struct parser *ps, unsigned line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void set_why(struct parser *ps, unsigned line, const char *fmt, va_list ap)
{
	vsnprintf(ps->why, sizeof(ps->why), fmt, ap);
	ps->why_line = line;
}

/* A statement that cannot be read: skipped in lenient mode. */
static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *ps, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_why(ps, ps->line, fmt, ap);
	va_end(ap);
	return CNP_ERR_INVAL;
}

/*
 * A problem that lenient mode reports and gets past (the caller decides
 * how). Returns CNP_ERR_INVAL in strict mode, which refuses the file. By
 * convention the text ends in "; what lenient mode does about it", which a
 * strict refusal leaves out.
 */
static int issue(struct parser *ps, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int issue(struct parser *ps, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_why(ps, line, fmt, ap);
	va_end(ap);
	if (ps->strict) {
		char *action = NULL;
		for (char *q = strstr(ps->why, "; "); q; q = strstr(q + 1, "; "))
			action = q;
		if (action)
			*action = '\0';
		return CNP_ERR_INVAL;
	}
	emit_warning(ps);
	return CNP_OK;
}

/*
 * A problem that changes nothing that is decoded (a comment or a value
 * description for a signal that does not exist): a warning in both modes.
 */
static int note(struct parser *ps, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int note(struct parser *ps, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_why(ps, line, fmt, ap);
	va_end(ap);
	emit_warning(ps);
	return CNP_OK;
}

/* Describes what stands at the cursor, for "found ..." in messages: a
 * word or number, or one other character. */
static const char *found(struct parser *ps)
{
	const char *p = ps->p;
	if (p >= ps->end)
		return "the end of the file";
	if (*p == '\n' || *p == '\r')
		return "the end of the line";
	size_t n = 0, max = sizeof(ps->found) - 6;
	ps->found[n++] = '\'';
	while (p < ps->end && n < max) {
		unsigned char c = (unsigned char)*p;
		int wordish = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		              (c >= 'a' && c <= 'z') || c == '_' || c == '.';
		if (n > 1 && !wordish)
			break;
		ps->found[n++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
		p++;
		if (!wordish)
			break;
	}
	if (n >= max) {
		memcpy(ps->found + n, "...", 3);
		n += 3;
	}
	ps->found[n++] = '\'';
	ps->found[n] = '\0';
	return ps->found;
}

/* ---- scanning --------------------------------------------------------------- */

static int is_word_char(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c == '_';
}

/* Skips spaces, tabs, line ends and // comments. */
static void skip_ws(struct parser *ps)
{
	const char *p = ps->p, *end = ps->end;
	while (p < end) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			p++;
		} else if (c == '\n') {
			ps->line++;
			p++;
		} else if (c == '/' && p + 1 < end && p[1] == '/') {
			while (p < end && *p != '\n')
				p++;
		} else {
			break;
		}
	}
	ps->p = p;
}

/* Skips spaces and tabs (and a // comment) on the current line only. */
static void skip_blank(struct parser *ps)
{
	const char *p = ps->p, *end = ps->end;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\f' || *p == '\v'))
		p++;
	if (p + 1 < end && p[0] == '/' && p[1] == '/')
		while (p < end && *p != '\n')
			p++;
	ps->p = p;
}

/* After skip_blank: nonzero at a line end or the end of the text. */
static int at_eol(struct parser *ps)
{
	skip_blank(ps);
	return ps->p >= ps->end || *ps->p == '\n' || *ps->p == '\r';
}

/* Moves to the start of the next line. */
static void skip_line(struct parser *ps)
{
	const char *q = memchr(ps->p, '\n', (size_t)(ps->end - ps->p));
	if (!q) {
		ps->p = ps->end;
		return;
	}
	ps->p = q + 1;
	ps->line++;
}

/* Reads a word ([A-Za-z0-9_]+) after whitespace; 0 if there is none. */
static int word(struct parser *ps, const char **w, size_t *n)
{
	skip_ws(ps);
	const char *s = ps->p;
	while (ps->p < ps->end && is_word_char((unsigned char)*ps->p))
		ps->p++;
	*w = s;
	*n = (size_t)(ps->p - s);
	return *n > 0;
}

/* The same on the current line only. */
static int word_on_line(struct parser *ps, const char **w, size_t *n)
{
	skip_blank(ps);
	const char *s = ps->p;
	while (ps->p < ps->end && is_word_char((unsigned char)*ps->p))
		ps->p++;
	*w = s;
	*n = (size_t)(ps->p - s);
	return *n > 0;
}

static int accept(struct parser *ps, char c)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return 1;
	}
	return 0;
}

/*
 * Something expected is missing. When whitespace after `before` (on line
 * `line`) ran into the next line, go back: the problem is reported at the
 * end of the line where the item was due, not on the next statement.
 */
static void missing_at(struct parser *ps, const char *before, unsigned line)
{
	if (ps->line != line) {
		ps->p = before;
		ps->line = line;
		skip_blank(ps);
	}
}

static int expect(struct parser *ps, char c, const char *ctx)
{
	const char *before = ps->p;
	unsigned line = ps->line;
	if (accept(ps, c))
		return CNP_OK;
	missing_at(ps, before, line);
	return fail(ps, "%s: expected '%c', found %s", ctx, c, found(ps));
}

static int word_eq(const char *w, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!s[i] || s[i] != w[i])
			return 0;
	return s[n] == '\0';
}

enum kw {
	KW_NONE,
	KW_VERSION, KW_NS, KW_BS, KW_BU, KW_BO, KW_SG, KW_CM, KW_BA_DEF, KW_BA_DEF_DEF,
	KW_BA, KW_VAL, KW_VAL_TABLE, KW_SIG_VALTYPE, KW_SG_MUL_VAL, KW_BO_TX_BU,
	KW_SKIP, /* recognised, skipped up to its ';' */
	KW_NS_ENTRY, /* only in NS_ lists */
};

static const struct {
	const char *name;
	enum kw kw;
} keywords[] = {
	{"VERSION", KW_VERSION}, {"NS_", KW_NS}, {"BS_", KW_BS}, {"BU_", KW_BU},
	{"BO_", KW_BO}, {"SG_", KW_SG}, {"CM_", KW_CM}, {"BA_DEF_", KW_BA_DEF},
	{"BA_DEF_DEF_", KW_BA_DEF_DEF}, {"BA_", KW_BA}, {"VAL_", KW_VAL},
	{"VAL_TABLE_", KW_VAL_TABLE}, {"SIG_VALTYPE_", KW_SIG_VALTYPE},
	{"SG_MUL_VAL_", KW_SG_MUL_VAL}, {"BO_TX_BU_", KW_BO_TX_BU},
	{"EV_", KW_SKIP}, {"ENVVAR_DATA_", KW_SKIP}, {"SGTYPE_", KW_SKIP},
	{"SGTYPE_VAL_", KW_SKIP}, {"BA_DEF_SGTYPE_", KW_SKIP}, {"BA_SGTYPE_", KW_SKIP},
	{"SIG_TYPE_REF_", KW_SKIP}, {"SIGTYPE_VALTYPE_", KW_SKIP}, {"SIG_GROUP_", KW_SKIP},
	{"CAT_DEF_", KW_SKIP}, {"CAT_", KW_SKIP}, {"FILTER", KW_SKIP},
	{"BA_DEF_REL_", KW_SKIP}, {"BA_REL_", KW_SKIP}, {"BA_DEF_DEF_REL_", KW_SKIP},
	{"BU_SG_REL_", KW_SKIP}, {"BU_EV_REL_", KW_SKIP}, {"BU_BO_REL_", KW_SKIP},
	{"EV_DATA_", KW_SKIP}, {"NS_DESC_", KW_NS_ENTRY},
};

static enum kw keyword(const char *w, size_t n)
{
	if (n < 3 || n > 16 || (w[n - 1] != '_' && !word_eq(w, n, "VERSION") &&
	                        !word_eq(w, n, "FILTER")))
		return KW_NONE;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (word_eq(w, n, keywords[i].name))
			return keywords[i].kw;
	return KW_NONE;
}

/* The keyword that starts the line at p (p at a line start), or KW_NONE. */
static enum kw line_keyword(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	const char *s = p;
	while (p < end && is_word_char((unsigned char)*p))
		p++;
	return keyword(s, (size_t)(p - s));
}

/*
 * Lenient mode, after a statement that does not parse: continue at the
 * first line after the statement's first line that starts with a keyword.
 */
static void recover(struct parser *ps, const char *start, unsigned line)
{
	ps->p = start;
	ps->line = line;
	skip_line(ps);
	while (ps->p < ps->end) {
		enum kw k = line_keyword(ps->p, ps->end);
		if (k != KW_NONE && k != KW_NS_ENTRY)
			return;
		skip_line(ps);
	}
}

/* ---- numbers and strings ---------------------------------------------------- */

/* Copies the characters of a number ([+-]digits[.digits][e[+-]digits]). */
static int number_text(struct parser *ps, char *buf, size_t cap)
{
	skip_ws(ps);
	const char *p = ps->p, *end = ps->end;
	size_t n = 0;
	int digits = 0;
#define TAKE()                                                                 \
	do {                                                                   \
		if (n + 1 >= cap)                                              \
			return 0;                                              \
		buf[n++] = *p++;                                               \
	} while (0)
	if (p < end && (*p == '+' || *p == '-'))
		TAKE();
	while (p < end && *p >= '0' && *p <= '9') {
		TAKE();
		digits++;
	}
	if (p < end && *p == '.') {
		TAKE();
		while (p < end && *p >= '0' && *p <= '9') {
			TAKE();
			digits++;
		}
	}
	if (!digits)
		return 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		const char *q = p + 1;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q < end && *q >= '0' && *q <= '9') {
			TAKE(); /* e */
			if (*p == '+' || *p == '-')
				TAKE();
			while (p < end && *p >= '0' && *p <= '9')
				TAKE();
		}
	}
#undef TAKE
	buf[n] = '\0';
	ps->p = p;
	return 1;
}

/*
 * The exact value of a short decimal without strtod: up to 15 significant
 * digits make an integer M below 2^53 and 10^k for k <= 22 is a double, so
 * M * 10^e or M / 10^-e is one correctly rounded IEEE operation -- the
 * double nearest to the decimal, as strtod gives (Clinger's fast path).
 * 0 when the number is not that simple.
 */
static int fast_decimal(const char *s, double *v)
{
	static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
	                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	int neg = 0, digits = 0, exp = 0;
	uint64_t m = 0;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	for (; *s >= '0' && *s <= '9'; s++) {
		if (m || *s != '0')
			digits++;
		m = m * 10 + (uint64_t)(*s - '0');
		if (digits > 15)
			return 0;
	}
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (m || *s != '0')
				digits++;
			m = m * 10 + (uint64_t)(*s - '0');
			exp--;
			if (digits > 15)
				return 0;
		}
	if (*s == 'e' || *s == 'E') {
		int eneg = 0, e = 0;
		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		for (; *s >= '0' && *s <= '9'; s++) {
			e = e * 10 + (*s - '0');
			if (e > 1000)
				return 0;
		}
		exp += eneg ? -e : e;
	}
	if (*s || exp > 22 || exp < -22)
		return 0;
	double x = (double)m;
	x = exp >= 0 ? x * pow10[exp] : x / pow10[-exp];
	*v = neg ? -x : x;
	return 1;
}

static int parse_double(struct parser *ps, double *v, const char *ctx, const char *what)
{
	char buf[80];
	const char *before = ps->p;
	unsigned line = ps->line;
	skip_ws(ps);
	const char *save = ps->p;
	if (!number_text(ps, buf, sizeof(buf)) ||
	    (ps->p < ps->end && is_word_char((unsigned char)*ps->p))) {
		ps->p = save;
		missing_at(ps, before, line);
		return fail(ps, "%s: expected a number for %s, found %s", ctx, what, found(ps));
	}
	if (!fast_decimal(buf, v))
		*v = strtod(buf, NULL); /* the C locale: canopy never calls setlocale */
	return CNP_OK;
}

/*
 * An integer: decimal with an optional sign, up to UINT64_MAX (kept as its
 * bit pattern) or down to INT64_MIN; `hex` also allows 0x digits.
 */
static int parse_int(struct parser *ps, int64_t *v, int *neg_out, int hex, const char *ctx,
                     const char *what)
{
	const char *before = ps->p;
	unsigned line = ps->line;
	skip_ws(ps);
	const char *p = ps->p, *end = ps->end;
	int neg = 0;
	if (p < end && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	uint64_t acc = 0;
	int digits = 0, overflow = 0;
	if (hex && p + 1 < end && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		for (; p < end; p++, digits++) {
			int d;
			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (*p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (*p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				break;
			if (acc >> 60)
				overflow = 1;
			acc = (acc << 4) | (uint64_t)d;
		}
	} else {
		for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
			uint64_t d = (uint64_t)(*p - '0');
			if (acc > (UINT64_MAX - d) / 10)
				overflow = 1;
			acc = acc * 10 + d;
		}
	}
	if (!digits || (p < end && (is_word_char((unsigned char)*p) || *p == '.'))) {
		missing_at(ps, before, line);
		return fail(ps, "%s: expected an integer for %s, found %s", ctx, what, found(ps));
	}
	if (overflow || (neg && acc > (uint64_t)INT64_MAX + 1))
		return fail(ps, "%s: %s %s is out of range", ctx, what, found(ps));
	ps->p = p;
	*v = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	if (neg_out)
		*neg_out = neg;
	return CNP_OK;
}

static int parse_u32(struct parser *ps, uint32_t *v, const char *ctx, const char *what)
{
	int64_t x;
	int neg;
	const char *before = ps->p;
	unsigned line = ps->line;
	int rc = parse_int(ps, &x, &neg, 0, ctx, what);
	if (rc)
		return rc;
	if (neg || (uint64_t)x > UINT32_MAX) {
		ps->p = before; /* back to the number, to show it */
		ps->line = line;
		skip_ws(ps);
		return fail(ps, "%s: %s %s is out of range (0 to 4294967295)", ctx, what,
		            found(ps));
	}
	*v = (uint32_t)x;
	return CNP_OK;
}

/*
 * A quoted string; \" stands for a quote (nothing else is an escape, as in
 * CANdb++ and cantools). Only comments may span lines (CR LF becomes LF):
 * any other string must close on its line, so that a missing quote costs
 * one statement, not the lines up to the next quote. The result is UTF-8
 * in the arena.
 */
static int parse_string_ml(struct parser *ps, const char **out, const char *ctx,
                           const char *what, int multiline)
{
	const char *before = ps->p;
	unsigned before_line = ps->line;
	skip_ws(ps);
	if (ps->p >= ps->end || *ps->p != '"') {
		missing_at(ps, before, before_line);
		return fail(ps, "%s: expected a quoted string for %s, found %s", ctx, what,
		            found(ps));
	}
	unsigned open_line = ps->line;
	const char *p = ps->p + 1, *end = ps->end;
	/* most strings hold no escape and no line end: take them as they are */
	const char *q = p;
	while (q < end && *q != '"' && *q != '\\' && *q != '\n' && *q != '\r')
		q++;
	if (q < end && *q == '"') {
		ps->p = q + 1;
		*out = arena_text(ps->db, p, (size_t)(q - p));
		return *out ? CNP_OK : CNP_ERR_NOMEM;
	}
	size_t n = 0;
	for (;;) {
		if (p >= end) {
			ps->line = open_line;
			return fail(ps, "%s: the string for %s is not closed (no '\"' before the "
			                "end of the file)", ctx, what);
		}
		char c = *p;
		if (c == '"')
			break;
		if (c == '\\' && p + 1 < end && p[1] == '"') {
			c = '"';
			p++;
		} else if (c == '\r' && p + 1 < end && p[1] == '\n') {
			p++;
			continue;
		}
		if (c == '\n') {
			if (!multiline) {
				ps->line = open_line;
				return fail(ps, "%s: the string for %s is not closed on its line", ctx,
				            what);
			}
			ps->line++;
		}
		if (n == ps->buf_cap) {
			size_t ncap = ps->buf_cap ? ps->buf_cap * 2 : 256;
			char *nb = cnp_realloc(ps->buf, ncap);
			if (!nb)
				return CNP_ERR_NOMEM;
			ps->buf = nb;
			ps->buf_cap = ncap;
		}
		ps->buf[n++] = c;
		p++;
	}
	ps->p = p + 1;
	*out = arena_text(ps->db, ps->buf ? ps->buf : "", n);
	return *out ? CNP_OK : CNP_ERR_NOMEM;
}

static int parse_string(struct parser *ps, const char **out, const char *ctx,
                        const char *what)
{
	return parse_string_ml(ps, out, ctx, what, 0);
}

/* ---- lookups while parsing -------------------------------------------------- */

/*
 * The key of a DBC id: the bus id with bit 31 for 29-bit ids. A "standard"
 * id above 0x7FF is read as the 29-bit id it must be (see st_message).
 */
static uint32_t msg_key(uint32_t dbc_id)
{
	uint32_t id = dbc_id & 0x7FFFFFFFu;
	if (!(dbc_id & 0x80000000u) && id > 0x7FFu && id <= 0x1FFFFFFFu)
		return id | 0x80000000u;
	return dbc_id;
}

/* Message index for a DBC id: NONE if unknown, SKIPPED if skipped. */
static uint32_t find_msg(struct parser *ps, uint32_t dbc_id)
{
	uint32_t key = msg_key(dbc_id), h = hash_u32(key), it = 0, v;
	while (htab_next(&ps->msg_by_key, h, &it, &v))
		if (ps->mx[v].key == key)
			return v;
	return NONE;
}

/*
 * Messages that were skipped (reported once, or CANdb++'s pseudo message)
 * are remembered, so that references to them are not reported again.
 */
static int skipped_msg(struct parser *ps, uint32_t dbc_id)
{
	uint32_t key = msg_key(dbc_id), it = 0, v;
	while (htab_next(&ps->skipped_by_key, hash_u32(key), &it, &v))
		if (ps->skipped[v] == key)
			return 1;
	return 0;
}

static int mark_skipped_msg(struct parser *ps, uint32_t dbc_id)
{
	if (skipped_msg(ps, dbc_id))
		return CNP_OK;
	int rc = grow(&ps->skipped, &ps->cap_skipped, ps->n_skipped + 1, sizeof(*ps->skipped));
	if (rc)
		return rc;
	ps->skipped[ps->n_skipped] = msg_key(dbc_id);
	rc = htab_add(&ps->skipped_by_key, hash_u32(msg_key(dbc_id)), ps->n_skipped);
	if (!rc)
		ps->n_skipped++;
	return rc;
}

static uint32_t find_sig(struct parser *ps, uint32_t msg, const char *name, size_t n)
{
	uint32_t h = hash_str(name, n, msg), it = 0, v;
	while (htab_next(&ps->sig_by_name, h, &it, &v)) {
		const struct cnp_dbc_signal *s = &ps->db->sigs[v];
		if (ps->sx[v].msg == msg && word_eq(name, n, s->dbc_name))
			return v;
	}
	return NONE;
}

static uint32_t find_def(struct parser *ps, const char *name)
{
	size_t n = strlen(name);
	uint32_t h = hash_str(name, n, 0), it = 0, v;
	while (htab_next(&ps->def_by_name, h, &it, &v))
		if (strcmp(ps->defs[v].name, name) == 0)
			return v;
	return NONE;
}

/*
 * Resolves "BO_ id" / "SG_ id name" references of CM_, BA_, VAL_ ...: the
 * message (and signal) index, or NONE after reporting the problem (nothing
 * is reported for references to messages that were skipped). `minor`: the
 * reference changes nothing that is decoded (CM_, VAL_, most BA_), so a
 * dangling one is a note, not an error, even in strict mode -- as cantools
 * sees it too.
 */
static int ref_message(struct parser *ps, const char *ctx, uint32_t dbc_id, int minor,
                       uint32_t *mi)
{
	*mi = find_msg(ps, dbc_id);
	if (*mi != NONE || skipped_msg(ps, dbc_id))
		return CNP_OK;
	return (minor ? note : issue)(ps, ps->line, "%s: no message with id %u; ignored", ctx,
	                              dbc_id);
}

static int ref_signal(struct parser *ps, const char *ctx, uint32_t dbc_id, const char *name,
                      size_t n, int minor, uint32_t *si)
{
	uint32_t mi;
	*si = NONE;
	int rc = ref_message(ps, ctx, dbc_id, minor, &mi);
	if (rc || mi == NONE)
		return rc;
	*si = find_sig(ps, mi, name, n);
	if (*si != NONE)
		return CNP_OK;
	return (minor ? note : issue)(ps, ps->line, "%s: message %s (id %u) has no signal %.*s; "
	                              "ignored", ctx, ps->db->msgs[mi].dbc_name, dbc_id,
	                              (int)(n > 64 ? 64 : n), name);
}

/* ---- statements ------------------------------------------------------------- */

/* Skips a statement up to and including its ';' (strings respected). */
static int skip_statement(struct parser *ps, const char *kwname)
{
	const char *p = ps->p, *end = ps->end;
	int in_str = 0;
	while (p < end) {
		char c = *p;
		if (in_str) {
			if (c == '\\' && p + 1 < end && p[1] == '"')
				p++;
			else if (c == '"')
				in_str = 0;
			else if (c == '\n')
				ps->line++;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == ';') {
			ps->p = p + 1;
			return CNP_OK;
		} else if (c == '\n') {
			enum kw k = line_keyword(p + 1, end);
			if (k != KW_NONE && k != KW_NS_ENTRY) {
				ps->p = p;
				return fail(ps, "%s: no ';' before the next statement", kwname);
			}
			ps->line++;
		}
		p++;
	}
	ps->p = p;
	return fail(ps, "%s: no ';' before the end of the file", kwname);
}

static int st_version(struct parser *ps)
{
	const char *v;
	int rc = parse_string(ps, &v, "VERSION", "the version");
	if (!rc)
		ps->db->version = v;
	return rc;
}

/* NS_ : then new-symbol names, one or more a line, up to the first line
 * that holds anything but names. */
static int st_ns(struct parser *ps)
{
	skip_blank(ps);
	if (ps->p < ps->end && *ps->p == ':')
		ps->p++;
	for (;;) {
		const char *w;
		size_t n;
		while (word_on_line(ps, &w, &n))
			;
		if (!at_eol(ps))
			return fail(ps, "NS_: unexpected %s in the list of new symbols", found(ps));
		skip_line(ps);
		/* does the next non-empty line hold names only? */
		const char *p = ps->p;
		unsigned blank = 0;
		for (;;) {
			const char *q = p;
			while (q < ps->end && (*q == ' ' || *q == '\t' || *q == '\r'))
				q++;
			if (q < ps->end && *q == '\n') {
				p = q + 1;
				blank++;
				continue;
			}
			int names = 0;
			while (q < ps->end && *q != '\n') {
				if (is_word_char((unsigned char)*q))
					names = 1;
				else if (*q != ' ' && *q != '\t' && *q != '\r')
					return CNP_OK;
				q++;
			}
			if (!names || line_keyword(p, ps->end) == KW_BO)
				return CNP_OK;
			break;
		}
		ps->p = p;
		ps->line += blank;
	}
}

static int st_bs(struct parser *ps)
{
	/* BS_: [baudrate : BTR1 , BTR2] -- obsolete; the rest of the line */
	if (!accept(ps, ':'))
		return fail(ps, "BS_: expected ':', found %s", found(ps));
	while (!at_eol(ps))
		ps->p++;
	return CNP_OK;
}

static int st_bu(struct parser *ps)
{
	if (!accept(ps, ':'))
		return fail(ps, "BU_: expected ':', found %s", found(ps));
	for (;;) {
		skip_ws(ps);
		const char *save = ps->p;
		unsigned line = ps->line;
		const char *w;
		size_t n;
		if (accept(ps, ','))
			continue;
		if (!word(ps, &w, &n))
			return CNP_OK;
		if (keyword(w, n) != KW_NONE) {
			ps->p = save;
			ps->line = line;
			return CNP_OK;
		}
	}
}

static int add_value_pairs(struct parser *ps, const char *ctx, uint32_t *first, uint32_t *count)
{
	struct cnp_dbc *db = ps->db;
	*first = db->n_choices;
	*count = 0;
	for (;;) {
		if (accept(ps, ';'))
			return CNP_OK;
		int64_t v;
		const char *text;
		int rc = parse_int(ps, &v, NULL, 0, ctx, "a value (or ';')");
		if (rc)
			return rc;
		rc = parse_string(ps, &text, ctx, "the value's description");
		if (rc)
			return rc;
		rc = grow(&db->choices, &db->cap_choices, db->n_choices + 1, sizeof(*db->choices));
		if (rc)
			return rc;
		db->choices[db->n_choices].value = v;
		db->choices[db->n_choices].text = text;
		db->n_choices++;
		(*count)++;
	}
}

static int st_val_table(struct parser *ps)
{
	const char *w;
	size_t n;
	struct cnp_dbc *db = ps->db;
	if (!word(ps, &w, &n))
		return fail(ps, "VAL_TABLE_: expected a table name, found %s", found(ps));
	const char *name = arena_strndup(db, w, n);
	if (!name)
		return CNP_ERR_NOMEM;
	uint32_t first, count;
	int rc = add_value_pairs(ps, "VAL_TABLE_", &first, &count);
	if (rc)
		return rc;
	rc = grow(&db->vtabs, &db->cap_vtabs, db->n_vtabs + 1, sizeof(*db->vtabs));
	if (rc)
		return rc;
	db->vtabs[db->n_vtabs].name = name;
	db->vtabs[db->n_vtabs].first = first;
	db->vtabs[db->n_vtabs].n = count;
	db->n_vtabs++;
	return CNP_OK;
}

static int st_val(struct parser *ps)
{
	const char *w, *sn;
	size_t n, snl;
	unsigned line = ps->line;
	if (!word(ps, &w, &n))
		return fail(ps, "VAL_: expected a message id or an environment variable, found %s",
		            found(ps));
	size_t digits = 0;
	while (digits < n && w[digits] >= '0' && w[digits] <= '9')
		digits++;
	uint32_t first, count;
	if (digits != n) { /* VAL_ ENVVAR ...: environment variables are not kept */
		first = ps->db->n_choices;
		int rc = add_value_pairs(ps, "VAL_", &first, &count);
		ps->db->n_choices = first;
		return rc;
	}
	ps->p = w;
	uint32_t id = 0;
	int rc = parse_u32(ps, &id, "VAL_", "the message id");
	if (rc)
		return rc;
	if (!word(ps, &sn, &snl))
		return fail(ps, "VAL_: expected a signal name after the message id, found %s",
		            found(ps));
	rc = add_value_pairs(ps, "VAL_", &first, &count);
	if (rc)
		return rc;
	uint32_t si;
	unsigned save = ps->line;
	ps->line = line;
	rc = ref_signal(ps, "VAL_", id, sn, snl, 1, &si);
	ps->line = save;
	if (rc || si == NONE) {
		ps->db->n_choices = first; /* drop them */
		return rc;
	}
	ps->sx[si].choice_first = first;
	ps->sx[si].choice_n = count;
	return CNP_OK;
}

static int st_message(struct parser *ps, unsigned line)
{
	struct cnp_dbc *db = ps->db;
	uint32_t dbc_id = 0, length = 0;
	int64_t len64;
	const char *w, *sender = "";
	size_t n, sn;
	ps->skip_sigs = 1; /* until the message is accepted */
	int rc = parse_u32(ps, &dbc_id, "BO_", "the message id");
	if (rc)
		return rc;
	if (!word(ps, &w, &n))
		return fail(ps, "BO_: expected a message name after the id, found %s", found(ps));
	if ((rc = expect(ps, ':', "BO_ (after the message name)")))
		return rc;
	if ((rc = parse_int(ps, &len64, NULL, 1, "BO_", "the message length")))
		return rc;
	if (len64 < 0 || len64 > 65535)
		return fail(ps, "BO_: message length %lld is out of range (0 to 65535)",
		            (long long)len64);
	length = (uint32_t)len64;
	const char *sw;
	if (word_on_line(ps, &sw, &sn)) {
		sender = arena_strndup(db, sw, sn);
		if (!sender)
			return CNP_ERR_NOMEM;
	}
	if (!at_eol(ps)) {
		if ((rc = issue(ps, ps->line, "BO_: unexpected %s after the transmitter; ignored",
		                found(ps))))
			return rc;
		while (!at_eol(ps))
			ps->p++;
	}
	if (word_eq(w, n, "VECTOR__INDEPENDENT_SIG_MSG"))
		/* CANdb++'s pseudo message for signals not in any message */
		return mark_skipped_msg(ps, dbc_id);

	uint32_t id = dbc_id & 0x7FFFFFFFu;
	int ext = (dbc_id & 0x80000000u) != 0;
	if (ext && id > 0x1FFFFFFFu) {
		if ((rc = issue(ps, line, "BO_ %.*s: extended id 0x%X does not fit 29 bits; "
		                "message skipped", (int)(n > 64 ? 64 : n), w, id)))
			return rc;
		return mark_skipped_msg(ps, dbc_id);
	}
	if (!ext && id > 0x7FFu) {
		if (id > 0x1FFFFFFFu) {
			if ((rc = issue(ps, line, "BO_ %.*s: id 0x%X does not fit 29 bits; message "
			                "skipped", (int)(n > 64 ? 64 : n), w, id)))
				return rc;
			return mark_skipped_msg(ps, dbc_id);
		}
		if ((rc = issue(ps, line, "BO_ %.*s: standard id 0x%X (DBC id %u, bit 31 clear) "
		                "does not fit 11 bits; read as a 29-bit id",
		                (int)(n > 64 ? 64 : n), w, id, dbc_id)))
			return rc;
		ext = 1;
	}
	uint32_t key = id | (ext ? 0x80000000u : 0);
	uint32_t dup = find_msg(ps, dbc_id);
	if (dup != NONE) {
		if ((rc = issue(ps, line, "BO_ %.*s: id %u is already message %s (line %u); "
		                "message skipped", (int)(n > 64 ? 64 : n), w, dbc_id,
		                db->msgs[dup].dbc_name, db->msgs[dup].line)))
			return rc;
		return CNP_OK; /* references keep going to the first one */
	}

	if ((rc = grow(&db->msgs, &db->cap_msgs, db->n_msgs + 1, sizeof(*db->msgs))) ||
	    (rc = grow(&ps->mx, &ps->cap_mx, db->n_msgs + 1, sizeof(*ps->mx))))
		return rc;
	const char *name = arena_strndup(db, w, n);
	if (!name)
		return CNP_ERR_NOMEM;
	uint32_t mi = db->n_msgs;
	struct cnp_dbc_message *m = &db->msgs[mi];
	memset(m, 0, sizeof(*m));
	m->name = m->dbc_name = name;
	m->sender = sender;
	m->id = id;
	m->flags = ext ? CNP_DBC_MSG_EXT : 0;
	m->length = length;
	m->line = line;
	struct msg_x *x = &ps->mx[mi];
	memset(x, 0, sizeof(*x));
	x->key = key;
	x->first = db->n_sigs;
	if ((rc = htab_add(&ps->msg_by_key, hash_u32(key), mi)))
		return rc;
	db->n_msgs++;
	ps->cur_msg = mi;
	ps->skip_sigs = 0;
	return CNP_OK;
}

/* Bits of a signal in "byte * 8 + bit" numbering, for overlap checks. */
static unsigned sig_bit(const struct cnp_dbc_signal *s, unsigned k)
{
	if (s->byte_order == CNP_DBC_LITTLE_ENDIAN)
		return s->first_ + k;
	unsigned p = s->first_ + k; /* MSB-first linear */
	return (p / 8) * 8 + 7 - p % 8;
}

static int st_signal(struct parser *ps, unsigned line)
{
	struct cnp_dbc *db = ps->db;
	const char *w, *mw;
	size_t n, mn;
	int rc;
	if (ps->cur_msg == NONE) {
		if (ps->skip_sigs) { /* its message was skipped and reported */
			skip_line(ps);
			return CNP_OK;
		}
		return fail(ps, "SG_ outside a message (no BO_ line before it)");
	}
	uint32_t mi = ps->cur_msg;
	if (!word(ps, &w, &n))
		return fail(ps, "SG_: expected a signal name, found %s", found(ps));
	int plain_m = 0, muxor = 0;
	int64_t nn = -1;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p != ':') {
		if (!word(ps, &mw, &mn))
			return fail(ps, "SG_ %.*s: expected ':' or a multiplexer indicator, found %s",
			            (int)(n > 64 ? 64 : n), w, found(ps));
		if (mn == 1 && mw[0] == 'M') {
			plain_m = muxor = 1;
		} else {
			/* m<digits> or m<digits>M, at most 10 digits */
			size_t i = 1;
			uint64_t v = 0;
			while (mw[0] == 'm' && i < mn && i <= 10 && mw[i] >= '0' && mw[i] <= '9')
				v = v * 10 + (uint64_t)(mw[i++] - '0');
			if (i > 1 && i == mn - 1 && mw[i] == 'M')
				muxor = 1;
			else if (i == 1 || i != mn)
				return fail(ps, "SG_ %.*s: '%.*s' is not a multiplexer indicator (M, "
				            "mNN or mNNM)", (int)(n > 64 ? 64 : n), w,
				            (int)(mn > 20 ? 20 : mn), mw);
			nn = (int64_t)v;
		}
	}
	const char *ctx = "SG_";
	uint32_t start = 0, length = 0;
	int64_t order;
	double scale, offset, mn_v, mx_v;
	const char *unit;
	if ((rc = expect(ps, ':', ctx)) || (rc = parse_u32(ps, &start, ctx, "the start bit")) ||
	    (rc = expect(ps, '|', ctx)) || (rc = parse_u32(ps, &length, ctx, "the length")) ||
	    (rc = expect(ps, '@', ctx)))
		return rc;
	skip_ws(ps);
	if (ps->p >= ps->end || (*ps->p != '0' && *ps->p != '1'))
		return fail(ps, "SG_: expected the byte order 0 or 1 after '@', found %s", found(ps));
	order = *ps->p++ - '0';
	skip_ws(ps);
	if (ps->p >= ps->end || (*ps->p != '+' && *ps->p != '-'))
		return fail(ps, "SG_: expected '+' or '-' after the byte order, found %s", found(ps));
	int is_signed = *ps->p++ == '-';
	if ((rc = expect(ps, '(', ctx)) || (rc = parse_double(ps, &scale, ctx, "the scale")) ||
	    (rc = expect(ps, ',', ctx)) || (rc = parse_double(ps, &offset, ctx, "the offset")) ||
	    (rc = expect(ps, ')', ctx)) || (rc = expect(ps, '[', ctx)) ||
	    (rc = parse_double(ps, &mn_v, ctx, "the minimum")) || (rc = expect(ps, '|', ctx)) ||
	    (rc = parse_double(ps, &mx_v, ctx, "the maximum")) || (rc = expect(ps, ']', ctx)) ||
	    (rc = parse_string(ps, &unit, ctx, "the unit")))
		return rc;
	/* receivers: names separated by ',' or blanks, to the end of the line */
	for (;;) {
		const char *rw;
		size_t rn;
		if (at_eol(ps))
			break;
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (!word_on_line(ps, &rw, &rn)) {
			if ((rc = issue(ps, ps->line, "SG_ %.*s: unexpected %s after the receivers; "
			                "ignored", (int)(n > 64 ? 64 : n), w, found(ps))))
				return rc;
			while (!at_eol(ps))
				ps->p++;
			break;
		}
	}
	if (length < 1 || length > 64)
		return fail(ps, "SG_ %.*s: length %u is out of range (1 to 64 bits)",
		            (int)(n > 64 ? 64 : n), w, length);
	if (start > 65535 - 64)
		return fail(ps, "SG_ %.*s: start bit %u is out of range", (int)(n > 64 ? 64 : n), w,
		            start);

	uint32_t dup = find_sig(ps, mi, w, n);
	if (dup != NONE &&
	    (rc = issue(ps, line, "SG_ %.*s: message %s already has a signal of that name "
	                "(line %u)", (int)(n > 64 ? 64 : n), w, db->msgs[mi].dbc_name,
	                db->sigs[dup].line)))
		return rc;

	if ((rc = grow(&db->sigs, &db->cap_sigs, db->n_sigs + 1, sizeof(*db->sigs))) ||
	    (rc = grow(&ps->sx, &ps->cap_sx, db->n_sigs + 1, sizeof(*ps->sx))))
		return rc;
	const char *name = arena_strndup(db, w, n);
	if (!name)
		return CNP_ERR_NOMEM;
	uint32_t si = db->n_sigs;
	struct cnp_dbc_signal *s = &db->sigs[si];
	memset(s, 0, sizeof(*s));
	s->name = s->dbc_name = name;
	s->unit = unit;
	s->scale = scale;
	s->offset = offset;
	s->minimum = mn_v;
	s->maximum = mx_v;
	s->start = (uint16_t)start;
	s->length = (uint8_t)length;
	s->byte_order = (uint8_t)order;
	s->is_signed = (uint8_t)is_signed;
	s->value_type = CNP_DBC_INTEGER;
	s->mux = (uint8_t)((muxor ? CNP_DBC_MUXOR : 0) | (nn >= 0 ? CNP_DBC_MUXED : 0));
	s->line = line;
	unsigned last; /* last bit, in the order's own linear numbering */
	if (order == CNP_DBC_LITTLE_ENDIAN) {
		s->first_ = (uint16_t)start;
		last = start + length - 1;
	} else {
		s->first_ = (uint16_t)((start / 8) * 8 + 7 - start % 8);
		last = s->first_ + length - 1u;
	}
	s->need_ = (uint16_t)(last / 8 + 1);
	struct sig_x *x = &ps->sx[si];
	memset(x, 0, sizeof(*x));
	x->msg = mi;
	x->mux_nn = nn;
	x->mul_muxor = NONE;
	x->muxor = NONE;
	x->plain_m = (uint8_t)plain_m;
	if ((rc = htab_add(&ps->sig_by_name, hash_str(w, n, mi), si)))
		return rc;
	db->n_sigs++;
	db->msgs[mi].n_signals++;

	if (s->need_ > db->msgs[mi].length &&
	    (rc = issue(ps, line, "SG_ %s: does not fit in message %s (needs %u bytes, the "
	                "message has %u); decoded only from frames long enough", name,
	                db->msgs[mi].dbc_name, s->need_, db->msgs[mi].length)))
		return rc;
	return CNP_OK;
}

/*
 * A comment string and its ';'. When the ';' is missing after a string
 * that ran over several lines, the likely cause is a quote missing (or not
 * escaped) where the comment began: say so there.
 */
static int comment_text(struct parser *ps, const char *ctx, const char **text)
{
	skip_ws(ps);
	unsigned open_line = ps->line;
	int rc = parse_string_ml(ps, text, ctx, "the comment", 1);
	if (rc)
		return rc;
	unsigned end_line = ps->line;
	rc = expect(ps, ';', ctx);
	if (rc && end_line != open_line) {
		ps->line = open_line;
		return fail(ps, "%s: the comment is not closed where it should be (a '\"' missing "
		            "or not escaped as \\\"): its string runs to line %u", ctx, end_line);
	}
	return rc;
}

static int st_comment(struct parser *ps)
{
	const char *w, *text;
	size_t n;
	int rc;
	unsigned line = ps->line;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '"') {
		if ((rc = comment_text(ps, "CM_", &text)))
			return rc;
		ps->db->comment = text;
		return CNP_OK;
	}
	if (!word(ps, &w, &n))
		return fail(ps, "CM_: expected BU_, BO_, SG_, EV_ or a quoted comment, found %s",
		            found(ps));
	if (word_eq(w, n, "BU_") || word_eq(w, n, "EV_")) {
		const char *what = w[0] == 'B' ? "CM_ BU_" : "CM_ EV_";
		if (!word(ps, &w, &n))
			return fail(ps, "%s: expected a name, found %s", what, found(ps));
		if ((rc = comment_text(ps, what, &text)))
			return rc;
		return CNP_OK; /* nodes and environment variables are not kept */
	}
	if (word_eq(w, n, "BO_")) {
		uint32_t id = 0, mi;
		if ((rc = parse_u32(ps, &id, "CM_ BO_", "the message id")) ||
		    (rc = comment_text(ps, "CM_ BO_", &text)))
			return rc;
		unsigned save = ps->line;
		ps->line = line;
		rc = ref_message(ps, "CM_ BO_", id, 1, &mi);
		ps->line = save;
		if (!rc && mi != NONE)
			ps->db->msgs[mi].comment = text;
		return rc;
	}
	if (word_eq(w, n, "SG_")) {
		uint32_t id = 0, si;
		const char *sn;
		size_t snl;
		if ((rc = parse_u32(ps, &id, "CM_ SG_", "the message id")))
			return rc;
		if (!word(ps, &sn, &snl))
			return fail(ps, "CM_ SG_: expected a signal name after the message id, found %s",
			            found(ps));
		if ((rc = comment_text(ps, "CM_ SG_", &text)))
			return rc;
		unsigned save = ps->line;
		ps->line = line;
		rc = ref_signal(ps, "CM_ SG_", id, sn, snl, 1, &si);
		ps->line = save;
		if (!rc && si != NONE)
			ps->db->sigs[si].comment = text;
		return rc;
	}
	ps->p = w;
	return fail(ps, "CM_: expected BU_, BO_, SG_, EV_ or a quoted comment, found %s",
	            found(ps));
}

static int st_attr_def(struct parser *ps)
{
	const char *w, *name;
	size_t n;
	int rc;
	skip_ws(ps);
	const char *save = ps->p;
	if (word(ps, &w, &n) && !(word_eq(w, n, "BU_") || word_eq(w, n, "BO_") ||
	                          word_eq(w, n, "SG_") || word_eq(w, n, "EV_")))
		return fail(ps, "BA_DEF_: expected BU_, BO_, SG_, EV_ or the attribute name, "
		            "found '%.*s'", (int)(n > 32 ? 32 : n), w);
	if (!n)
		ps->p = save;
	if ((rc = parse_string(ps, &name, "BA_DEF_", "the attribute name")))
		return rc;
	if (!word(ps, &w, &n))
		return fail(ps, "BA_DEF_ \"%s\": expected a type (INT, HEX, FLOAT, STRING or ENUM), "
		            "found %s", name, found(ps));
	struct attr_def d;
	memset(&d, 0, sizeof(d));
	d.name = name;
	if (word_eq(w, n, "INT") || word_eq(w, n, "HEX") || word_eq(w, n, "FLOAT")) {
		d.type = w[0] == 'I' ? AT_INT : w[0] == 'H' ? AT_HEX : AT_FLOAT;
		double lo, hi;
		if ((rc = parse_double(ps, &lo, "BA_DEF_", "the minimum")) ||
		    (rc = parse_double(ps, &hi, "BA_DEF_", "the maximum")))
			return rc;
	} else if (word_eq(w, n, "STRING")) {
		d.type = AT_STRING;
	} else if (word_eq(w, n, "ENUM")) {
		d.type = AT_ENUM;
		d.enum_first = ps->n_enums;
		skip_ws(ps);
		while (ps->p < ps->end && *ps->p == '"') {
			const char *v;
			if ((rc = parse_string(ps, &v, "BA_DEF_", "an ENUM value")) ||
			    (rc = grow(&ps->enums, &ps->cap_enums, ps->n_enums + 1,
			               sizeof(*ps->enums))))
				return rc;
			ps->enums[ps->n_enums++] = v;
			d.enum_n++;
			accept(ps, ',');
			skip_ws(ps);
		}
	} else {
		return fail(ps, "BA_DEF_ \"%s\": unknown type '%.*s' (INT, HEX, FLOAT, STRING or "
		            "ENUM)", name, (int)(n > 32 ? 32 : n), w);
	}
	if ((rc = expect(ps, ';', "BA_DEF_")))
		return rc;
	uint32_t have = find_def(ps, name);
	if (have != NONE) { /* a second definition replaces the first */
		ps->defs[have] = d;
		return CNP_OK;
	}
	if ((rc = grow(&ps->defs, &ps->cap_defs, ps->n_defs + 1, sizeof(*ps->defs))))
		return rc;
	ps->defs[ps->n_defs] = d;
	if ((rc = htab_add(&ps->def_by_name, hash_str(name, strlen(name), 0), ps->n_defs)))
		return rc;
	ps->n_defs++;
	return CNP_OK;
}

/* An attribute value: a number or a quoted string. */
static int attr_value(struct parser *ps, const char *ctx, double *num, const char **str)
{
	skip_ws(ps);
	*str = NULL;
	*num = 0;
	if (ps->p < ps->end && *ps->p == '"')
		return parse_string(ps, str, ctx, "the value");
	return parse_double(ps, num, ctx, "the value");
}

static int st_attr_default(struct parser *ps)
{
	const char *name, *str;
	double num;
	int rc;
	unsigned line = ps->line;
	if ((rc = parse_string(ps, &name, "BA_DEF_DEF_", "the attribute name")) ||
	    (rc = attr_value(ps, "BA_DEF_DEF_", &num, &str)) ||
	    (rc = expect(ps, ';', "BA_DEF_DEF_")))
		return rc;
	uint32_t d = find_def(ps, name);
	if (d == NONE)
		return note(ps, line, "BA_DEF_DEF_: attribute \"%s\" has no BA_DEF_; ignored", name);
	ps->defs[d].has_def = 1;
	ps->defs[d].def_is_str = str != NULL;
	ps->defs[d].def_str = str;
	ps->defs[d].def_num = num;
	return CNP_OK;
}

static int st_attr(struct parser *ps)
{
	const char *name, *str, *w;
	size_t n;
	double num;
	int rc;
	unsigned line = ps->line;
	if ((rc = parse_string(ps, &name, "BA_", "the attribute name")))
		return rc;
	skip_ws(ps);
	uint32_t mi = NONE, si = NONE, id = 0;
	int target = 0; /* 0 database, 1 message, 2 signal, 3 other */
	const char *sn = NULL;
	size_t snl = 0;
	const char *save = ps->p;
	/* a target keyword, or straight the value (a number or a string) */
	if (ps->p < ps->end && *ps->p != '"' && *ps->p != '+' && *ps->p != '-' &&
	    *ps->p != '.' && !(*ps->p >= '0' && *ps->p <= '9') && word(ps, &w, &n)) {
		if (word_eq(w, n, "BO_")) {
			target = 1;
			if ((rc = parse_u32(ps, &id, "BA_ BO_", "the message id")))
				return rc;
		} else if (word_eq(w, n, "SG_")) {
			target = 2;
			if ((rc = parse_u32(ps, &id, "BA_ SG_", "the message id")))
				return rc;
			if (!word(ps, &sn, &snl))
				return fail(ps, "BA_ SG_: expected a signal name, found %s", found(ps));
		} else if (word_eq(w, n, "BU_") || word_eq(w, n, "EV_")) {
			target = 3;
			if (!word(ps, &w, &n))
				return fail(ps, "BA_: expected a name after BU_/EV_, found %s", found(ps));
		} else {
			ps->p = save;
			return fail(ps, "BA_ \"%s\": expected BU_, BO_, SG_, EV_ or a value, found %s",
			            name, found(ps));
		}
	}
	if ((rc = attr_value(ps, "BA_", &num, &str)) || (rc = expect(ps, ';', "BA_")))
		return rc;
	uint32_t d = find_def(ps, name);
	if (d == NONE)
		return issue(ps, line, "BA_: attribute \"%s\" has no BA_DEF_; ignored", name);
	unsigned saved_line = ps->line;
	ps->line = line;
	/* of the attributes on messages, only VFrameFormat changes decoding */
	if (target == 1)
		rc = ref_message(ps, "BA_ BO_", id, strcmp(name, "VFrameFormat") != 0, &mi);
	else if (target == 2)
		rc = ref_signal(ps, "BA_ SG_", id, sn, snl, 1, &si);
	ps->line = saved_line;
	if (rc)
		return rc;
	if (target == 0 && strcmp(name, "ProtocolType") == 0 && str) {
		ps->protocol_type = str;
	} else if (target == 1 && mi != NONE) {
		struct msg_x *x = &ps->mx[mi];
		if (strcmp(name, "VFrameFormat") == 0) {
			x->vff_str = str;
			x->vff_num = num;
			x->has_vff_num = str == NULL;
		} else if (strcmp(name, "GenMsgCycleTime") == 0 && !str) {
			x->cycle = num;
			x->has_cycle = 1;
		} else if (strcmp(name, "SystemMessageLongSymbol") == 0 && str && *str) {
			ps->db->msgs[mi].name = str;
		}
	} else if (target == 2 && si != NONE) {
		if (strcmp(name, "SystemSignalLongSymbol") == 0 && str && *str)
			ps->db->sigs[si].name = str;
	}
	return CNP_OK;
}

static int st_sig_valtype(struct parser *ps)
{
	uint32_t id = 0, type = 0, si;
	const char *sn;
	size_t snl;
	int rc;
	unsigned line = ps->line;
	if ((rc = parse_u32(ps, &id, "SIG_VALTYPE_", "the message id")))
		return rc;
	if (!word(ps, &sn, &snl))
		return fail(ps, "SIG_VALTYPE_: expected a signal name, found %s", found(ps));
	accept(ps, ':');
	if ((rc = parse_u32(ps, &type, "SIG_VALTYPE_", "the type")) ||
	    (rc = expect(ps, ';', "SIG_VALTYPE_")))
		return rc;
	unsigned save = ps->line;
	ps->line = line;
	rc = ref_signal(ps, "SIG_VALTYPE_", id, sn, snl, 0, &si);
	ps->line = save;
	if (rc || si == NONE)
		return rc;
	struct cnp_dbc_signal *s = &ps->db->sigs[si];
	if (type > 2)
		return issue(ps, line, "SIG_VALTYPE_ %s: type %u is not 0 (integer), 1 (float) or "
		             "2 (double); ignored", s->dbc_name, type);
	if ((type == 1 && s->length != 32) || (type == 2 && s->length != 64))
		return issue(ps, line, "SIG_VALTYPE_ %s: a %s needs %u bits, the signal has %u; "
		             "read as an integer", s->dbc_name, type == 1 ? "float" : "double",
		             type == 1 ? 32u : 64u, (unsigned)s->length);
	s->value_type = (uint8_t)type;
	return CNP_OK;
}

static int st_sg_mul_val(struct parser *ps)
{
	struct cnp_dbc *db = ps->db;
	uint32_t id = 0, si, mi = NONE;
	const char *sn, *mn;
	size_t snl, mnl;
	int rc;
	unsigned line = ps->line;
	if ((rc = parse_u32(ps, &id, "SG_MUL_VAL_", "the message id")))
		return rc;
	if (!word(ps, &sn, &snl) || !word(ps, &mn, &mnl))
		return fail(ps, "SG_MUL_VAL_: expected a signal and its multiplexor, found %s",
		            found(ps));
	uint32_t first = db->n_ranges, count = 0;
	for (;;) {
		int64_t lo, hi;
		if ((rc = parse_int(ps, &lo, NULL, 0, "SG_MUL_VAL_", "a range start")))
			return rc;
		if ((rc = expect(ps, '-', "SG_MUL_VAL_ (in a range)")))
			return rc;
		if ((rc = parse_int(ps, &hi, NULL, 0, "SG_MUL_VAL_", "a range end")))
			return rc;
		if (lo < 0 || hi < lo)
			return fail(ps, "SG_MUL_VAL_: %lld-%lld is not a range of multiplexor values",
			            (long long)lo, (long long)hi);
		if ((rc = grow(&db->ranges, &db->cap_ranges, db->n_ranges + 1, sizeof(*db->ranges))))
			return rc;
		db->ranges[db->n_ranges].lo = lo;
		db->ranges[db->n_ranges].hi = hi;
		db->n_ranges++;
		count++;
		if (accept(ps, ';'))
			break;
		if ((rc = expect(ps, ',', "SG_MUL_VAL_ (between ranges)")))
			return rc;
	}
	unsigned save = ps->line;
	ps->line = line;
	rc = ref_signal(ps, "SG_MUL_VAL_", id, sn, snl, 0, &si);
	if (!rc && si != NONE) {
		mi = ps->sx[si].msg;
		uint32_t m = find_sig(ps, mi, mn, mnl);
		if (m == NONE)
			rc = issue(ps, line, "SG_MUL_VAL_ %s: message %s has no multiplexor %.*s; "
			           "ignored", db->sigs[si].dbc_name, db->msgs[mi].dbc_name,
			           (int)(mnl > 64 ? 64 : mnl), mn);
		else if (m == si)
			rc = issue(ps, line, "SG_MUL_VAL_ %s: a signal cannot multiplex itself; "
			           "ignored", db->sigs[si].dbc_name);
		else if (ps->sx[si].mul_muxor != NONE && ps->sx[si].mul_muxor != m)
			rc = issue(ps, line, "SG_MUL_VAL_ %s: already multiplexed by %s; ignored",
			           db->sigs[si].dbc_name, db->sigs[ps->sx[si].mul_muxor].dbc_name);
		else {
			struct sig_x *x = &ps->sx[si];
			if (x->mul_muxor == m && x->mul_n) {
				/* a second statement for the same pair adds ranges: keep
				 * them contiguous by moving the earlier ones up */
				uint32_t total = x->mul_n + count;
				if ((rc = grow(&db->ranges, &db->cap_ranges, db->n_ranges + x->mul_n,
				               sizeof(*db->ranges))))
					return rc;
				memmove(&db->ranges[first + x->mul_n], &db->ranges[first],
				        count * sizeof(*db->ranges));
				memcpy(&db->ranges[first], &db->ranges[x->mul_first],
				       x->mul_n * sizeof(*db->ranges));
				db->n_ranges += x->mul_n;
				count = total;
			}
			x->mul_muxor = m;
			x->mul_first = first;
			x->mul_n = count;
			ps->line = save;
			return CNP_OK;
		}
	}
	ps->line = save;
	db->n_ranges = first;
	return rc;
}

static int st_bo_tx_bu(struct parser *ps)
{
	uint32_t id;
	int rc = parse_u32(ps, &id, "BO_TX_BU_", "the message id");
	if (rc)
		return rc;
	return skip_statement(ps, "BO_TX_BU_");
}

/* ---- finishing -------------------------------------------------------------- */

/* A value description with its place in the file, for a stable sort. */
struct choice_pos {
	int64_t value;
	uint32_t pos;
	const char *text;
};

static int cmp_choice(const void *a, const void *b)
{
	const struct choice_pos *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int cmp_range(const void *a, const void *b)
{
	const struct cnp_dbc_mux_range *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi ? 1 : 0;
}

/* VFrameFormat values (CANdb++ numbering). */
enum { VFF_NONE = -1, VFF_STD = 0, VFF_EXT = 1, VFF_J1939 = 3, VFF_STD_FD = 14, VFF_EXT_FD = 15 };

static int vff_from_name(const char *s)
{
	static const struct {
		const char *name;
		int code;
	} names[] = {{"StandardCAN", VFF_STD},      {"ExtendedCAN", VFF_EXT},
	             {"J1939PG", VFF_J1939},        {"StandardCAN_FD", VFF_STD_FD},
	             {"ExtendedCAN_FD", VFF_EXT_FD}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].code;
	return VFF_NONE;
}

static int vff_resolve(struct parser *ps, const struct attr_def *d, int is_str, const char *str,
                       double num)
{
	if (is_str)
		return str ? vff_from_name(str) : VFF_NONE;
	if (num < 0 || num > 255)
		return VFF_NONE;
	unsigned i = (unsigned)num;
	if (d->type == AT_ENUM)
		return i < d->enum_n ? vff_from_name(ps->enums[d->enum_first + i]) : VFF_NONE;
	return (int)i;
}

static int str_ieq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a, y = *b;
		if (x >= 'a' && x <= 'z')
			x = (char)(x - 32);
		if (y >= 'a' && y <= 'z')
			y = (char)(y - 32);
		if (x != y)
			return 0;
	}
	return *a == *b;
}

/* Attributes: frame format (CAN FD, J1939), cycle time. */
static void apply_attributes(struct parser *ps)
{
	struct cnp_dbc *db = ps->db;
	uint32_t dv = find_def(ps, "VFrameFormat");
	uint32_t dc = find_def(ps, "GenMsgCycleTime");
	uint32_t dp = find_def(ps, "ProtocolType");
	const struct attr_def *vdef = dv != NONE ? &ps->defs[dv] : NULL;
	int def_vff = VFF_NONE;
	if (vdef && vdef->has_def)
		def_vff = vff_resolve(ps, vdef, vdef->def_is_str, vdef->def_str, vdef->def_num);
	const char *proto = ps->protocol_type;
	if (!proto && dp != NONE && ps->defs[dp].has_def && ps->defs[dp].def_is_str)
		proto = ps->defs[dp].def_str;
	int j1939_db = proto && str_ieq(proto, "J1939");
	double def_cycle = 0;
	if (dc != NONE && ps->defs[dc].has_def && !ps->defs[dc].def_is_str)
		def_cycle = ps->defs[dc].def_num;

	for (unsigned i = 0; i < db->n_msgs; i++) {
		struct cnp_dbc_message *m = &db->msgs[i];
		struct msg_x *x = &ps->mx[i];
		int vff = VFF_NONE, explicit_vff = 0;
		if (vdef && (x->vff_str || x->has_vff_num)) {
			vff = vff_resolve(ps, vdef, x->vff_str != NULL, x->vff_str, x->vff_num);
			explicit_vff = 1;
		} else {
			vff = def_vff;
		}
		if (vff == VFF_STD_FD || vff == VFF_EXT_FD)
			m->flags |= CNP_DBC_MSG_FD;
		int j1939 = vff == VFF_J1939 || (!explicit_vff && j1939_db);
		if (j1939 && (m->flags & CNP_DBC_MSG_EXT)) {
			m->flags |= CNP_DBC_MSG_J1939;
			m->pgn = cnp_dbc_j1939_pgn(m->id);
		}
		double c = x->has_cycle ? x->cycle : def_cycle;
		m->cycle_time_ms = c > 0 ? (c >= 4294967295.0 ? UINT32_MAX : (uint32_t)c) : 0;
	}
}

/* Works out which signal multiplexes which; marks what cannot be used. */
static int resolve_mux(struct parser *ps)
{
	struct cnp_dbc *db = ps->db;
	int rc;
	for (unsigned mi = 0; mi < db->n_msgs; mi++) {
		struct cnp_dbc_message *m = &db->msgs[mi];
		uint32_t first = ps->mx[mi].first, end = first + m->n_signals;
		uint32_t top = NONE;
		unsigned n_top = 0;
		for (uint32_t i = first; i < end; i++)
			if (ps->sx[i].plain_m) {
				n_top++;
				if (top == NONE)
					top = i;
			}
		for (uint32_t i = first; i < end; i++) {
			struct sig_x *x = &ps->sx[i];
			struct cnp_dbc_signal *s = &db->sigs[i];
			if (x->mul_muxor != NONE) {
				x->muxor = x->mul_muxor;
			} else if (x->mux_nn >= 0) {
				if (n_top != 1) {
					rc = issue(ps, s->line, "SG_ %s: multiplexed (m%lld) but message %s "
					           "has %s multiplexor (M) and no SG_MUL_VAL_ names one; "
					           "signal skipped", s->dbc_name, (long long)x->mux_nn,
					           m->dbc_name, n_top ? "more than one" : "no");
					if (rc)
						return rc;
					x->drop = 1;
					continue;
				}
				x->muxor = top;
				if ((rc = grow(&db->ranges, &db->cap_ranges, db->n_ranges + 1,
				               sizeof(*db->ranges))))
					return rc;
				db->ranges[db->n_ranges].lo = x->mux_nn;
				db->ranges[db->n_ranges].hi = x->mux_nn;
				x->mul_first = db->n_ranges++;
				x->mul_n = 1;
			}
			if (x->muxor != NONE) {
				s->mux |= CNP_DBC_MUXED;
				db->sigs[x->muxor].mux |= CNP_DBC_MUXOR;
			}
		}
		/* cycles and chains deeper than CNP_DBC_MAX_MUX_DEPTH */
		for (uint32_t i = first; i < end; i++) {
			uint32_t j = ps->sx[i].muxor;
			unsigned depth = 0;
			while (j != NONE && depth <= CNP_DBC_MAX_MUX_DEPTH && j != i) {
				j = ps->sx[j].muxor;
				depth++;
			}
			if (j == NONE)
				continue;
			rc = issue(ps, db->sigs[i].line, "SG_ %s: %s; signal skipped",
			           db->sigs[i].dbc_name,
			           j == i ? "its multiplexors form a cycle"
			                  : "more than 16 levels of multiplexors above it");
			if (rc)
				return rc;
			ps->sx[i].drop = 1;
		}
		/* a signal whose multiplexor is skipped goes too */
		for (int changed = 1; changed;) {
			changed = 0;
			for (uint32_t i = first; i < end; i++) {
				struct sig_x *x = &ps->sx[i];
				if (!x->drop && x->muxor != NONE && ps->sx[x->muxor].drop) {
					rc = issue(ps, db->sigs[i].line, "SG_ %s: its multiplexor %s is "
					           "skipped; signal skipped", db->sigs[i].dbc_name,
					           db->sigs[x->muxor].dbc_name);
					if (rc)
						return rc;
					x->drop = 1;
					changed = 1;
				}
			}
		}
	}
	return CNP_OK;
}

/*
 * Sorts value descriptions by value; of equal values the last one written
 * wins, as a later entry overrides an earlier one in CANdb++. Returns the
 * number left.
 */
static unsigned sort_choices(struct cnp_dbc_choice *c, unsigned n, struct choice_pos *scratch)
{
	unsigned w = 0;
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		scratch[i].value = c[i].value;
		scratch[i].pos = i;
		scratch[i].text = c[i].text;
	}
	qsort(scratch, n, sizeof(*scratch), cmp_choice);
	for (unsigned i = 1; i < n; i++) {
		if (scratch[i].value != scratch[w].value)
			w++;
		scratch[w] = scratch[i];
	}
	for (unsigned i = 0; i <= w; i++) {
		c[i].value = scratch[i].value;
		c[i].text = scratch[i].text;
	}
	return w + 1;
}

/* Removes dropped signals and sets every pointer. */
static int link_all(struct parser *ps)
{
	struct cnp_dbc *db = ps->db;
	uint32_t *map = NULL;
	if (db->n_sigs) {
		map = cnp_malloc(db->n_sigs * sizeof(*map));
		if (!map)
			return CNP_ERR_NOMEM;
	}
	uint32_t o = 0;
	for (unsigned mi = 0; mi < db->n_msgs; mi++) {
		struct cnp_dbc_message *m = &db->msgs[mi];
		uint32_t first = ps->mx[mi].first, end = first + m->n_signals, nfirst = o;
		for (uint32_t i = first; i < end; i++) {
			if (ps->sx[i].drop) {
				map[i] = NONE;
				continue;
			}
			map[i] = o;
			if (o != i) {
				db->sigs[o] = db->sigs[i];
				ps->sx[o] = ps->sx[i];
			}
			o++;
		}
		ps->mx[mi].first = nfirst;
		m->n_signals = o - nfirst;
	}
	db->n_sigs = o;
	unsigned max_choices = 0;
	for (uint32_t i = 0; i < db->n_sigs; i++) {
		if (ps->sx[i].muxor != NONE)
			ps->sx[i].muxor = map[ps->sx[i].muxor];
		if (ps->sx[i].choice_n > max_choices)
			max_choices = ps->sx[i].choice_n;
	}
	cnp_free(map);
	for (unsigned i = 0; i < db->n_vtabs; i++)
		if (db->vtabs[i].n > max_choices)
			max_choices = db->vtabs[i].n;
	struct choice_pos *scratch = NULL;
	if (max_choices && !(scratch = cnp_malloc(max_choices * sizeof(*scratch))))
		return CNP_ERR_NOMEM;

	for (unsigned mi = 0; mi < db->n_msgs; mi++) {
		struct cnp_dbc_message *m = &db->msgs[mi];
		m->signals = m->n_signals ? &db->sigs[ps->mx[mi].first] : NULL;
		for (unsigned k = 0; k < m->n_signals; k++) {
			struct cnp_dbc_signal *s = &db->sigs[ps->mx[mi].first + k];
			struct sig_x *x = &ps->sx[ps->mx[mi].first + k];
			s->message = m;
			if (x->muxor != NONE) {
				s->multiplexor = &db->sigs[x->muxor];
				struct cnp_dbc_mux_range *r = &db->ranges[x->mul_first];
				unsigned n = x->mul_n;
				qsort(r, n, sizeof(*r), cmp_range);
				unsigned w = 0;
				for (unsigned i = 1; i < n; i++) {
					if (r[i].lo <= r[w].hi || (r[w].hi < INT64_MAX && r[i].lo == r[w].hi + 1)) {
						if (r[i].hi > r[w].hi)
							r[w].hi = r[i].hi;
					} else {
						r[++w] = r[i];
					}
				}
				s->mux_ranges = r;
				s->n_mux_ranges = n ? w + 1 : 0;
			}
			if (x->choice_n) {
				s->choices = &db->choices[x->choice_first];
				s->n_choices = sort_choices(&db->choices[x->choice_first], x->choice_n,
				                            scratch);
			}
		}
	}
	for (unsigned i = 0; i < db->n_vtabs; i++)
		if (db->vtabs[i].n)
			db->vtabs[i].n = sort_choices(&db->choices[db->vtabs[i].first], db->vtabs[i].n,
			                              scratch);
	cnp_free(scratch);
	return CNP_OK;
}

/* Signals that share bits (cantools refuses these in strict mode). */
static int check_overlaps(struct parser *ps)
{
	struct cnp_dbc *db = ps->db;
	unsigned maxbits = 0;
	int rc = CNP_OK;
	for (unsigned i = 0; i < db->n_sigs; i++)
		if (db->sigs[i].need_ * 8u > maxbits)
			maxbits = db->sigs[i].need_ * 8u;
	if (!maxbits)
		return CNP_OK;
	/* two maps: unconditional signals, and a scratch one */
	uint32_t *owner = cnp_malloc(maxbits * sizeof(uint32_t));
	if (!owner)
		return CNP_ERR_NOMEM;
	for (unsigned mi = 0; mi < db->n_msgs && !rc; mi++) {
		const struct cnp_dbc_message *m = &db->msgs[mi];
		unsigned bits = 0;
		for (unsigned k = 0; k < m->n_signals; k++)
			if (m->signals[k].need_ * 8u > bits)
				bits = m->signals[k].need_ * 8u;
		for (unsigned b = 0; b < bits; b++)
			owner[b] = NONE;
		/* signals always present */
		for (unsigned k = 0; k < m->n_signals && !rc; k++) {
			const struct cnp_dbc_signal *s = &m->signals[k];
			if (s->multiplexor)
				continue;
			for (unsigned j = 0; j < s->length; j++) {
				unsigned b = sig_bit(s, j);
				if (owner[b] != NONE && owner[b] != k) {
					rc = issue(ps, s->line, "SG_ %s: overlaps signal %s in message %s",
					           s->dbc_name, m->signals[owner[b]].dbc_name, m->dbc_name);
					break;
				}
				owner[b] = k;
			}
		}
		/* a multiplexed signal against those, and against the signals of
		 * the same multiplexor that can be present with it */
		for (unsigned k = 0; k < m->n_signals && !rc; k++) {
			const struct cnp_dbc_signal *s = &m->signals[k];
			if (!s->multiplexor)
				continue;
			for (unsigned j = 0; j < s->length; j++) {
				unsigned b = sig_bit(s, j);
				if (owner[b] != NONE) {
					rc = issue(ps, s->line, "SG_ %s: overlaps signal %s in message %s",
					           s->dbc_name, m->signals[owner[b]].dbc_name, m->dbc_name);
					break;
				}
			}
			for (unsigned l = k + 1; l < m->n_signals && !rc; l++) {
				const struct cnp_dbc_signal *t = &m->signals[l];
				if (t->multiplexor != s->multiplexor)
					continue;
				int together = 0;
				for (unsigned a = 0; a < s->n_mux_ranges && !together; a++)
					for (unsigned c = 0; c < t->n_mux_ranges && !together; c++)
						together = s->mux_ranges[a].lo <= t->mux_ranges[c].hi &&
						           t->mux_ranges[c].lo <= s->mux_ranges[a].hi;
				if (!together)
					continue;
				int hit = 0;
				for (unsigned j = 0; j < s->length && !hit; j++) {
					unsigned b = sig_bit(s, j);
					for (unsigned i2 = 0; i2 < t->length && !hit; i2++)
						hit = sig_bit(t, i2) == b;
				}
				if (hit)
					rc = issue(ps, t->line, "SG_ %s: overlaps signal %s in message %s "
					           "for the same multiplexor value", t->dbc_name, s->dbc_name,
					           m->dbc_name);
			}
		}
	}
	cnp_free(owner);
	return rc;
}

static int build_lookup(struct parser *ps)
{
	struct cnp_dbc *db = ps->db;
	int rc;
	for (unsigned i = 0; i < db->n_msgs; i++) {
		const struct cnp_dbc_message *m = &db->msgs[i];
		if ((rc = htab_add(&db->by_id, hash_u32(ps->mx[i].key), i)))
			return rc;
		if (m->flags & CNP_DBC_MSG_J1939) {
			uint32_t it = 0, v, dup = 0;
			while (!dup && htab_next(&db->by_pgn, hash_u32(m->pgn), &it, &v))
				dup = db->msgs[v].pgn == m->pgn;
			if (!dup && (rc = htab_add(&db->by_pgn, hash_u32(m->pgn), i)))
				return rc;
			db->n_j1939++;
		}
	}
	return CNP_OK;
}

/* ---- driver ----------------------------------------------------------------- */

static int statement(struct parser *ps, enum kw kw, const char *w, size_t n, unsigned line)
{
	switch (kw) {
	case KW_VERSION:
		return st_version(ps);
	case KW_NS:
		return st_ns(ps);
	case KW_BS:
		return st_bs(ps);
	case KW_BU:
		return st_bu(ps);
	case KW_BO:
		return st_message(ps, line);
	case KW_SG:
		return st_signal(ps, line);
	case KW_CM:
		return st_comment(ps);
	case KW_BA_DEF:
		return st_attr_def(ps);
	case KW_BA_DEF_DEF:
		return st_attr_default(ps);
	case KW_BA:
		return st_attr(ps);
	case KW_VAL:
		return st_val(ps);
	case KW_VAL_TABLE:
		return st_val_table(ps);
	case KW_SIG_VALTYPE:
		return st_sig_valtype(ps);
	case KW_SG_MUL_VAL:
		return st_sg_mul_val(ps);
	case KW_BO_TX_BU:
		return st_bo_tx_bu(ps);
	case KW_SKIP: {
		char kwname[20];
		snprintf(kwname, sizeof(kwname), "%.*s", (int)n, w);
		return skip_statement(ps, kwname);
	}
	case KW_NS_ENTRY:
	case KW_NONE:
		break;
	}
	ps->p = w;
	return fail(ps, "unknown keyword %s", found(ps));
}

static int parse_text(struct parser *ps)
{
	if (ps->end - ps->p >= 3 && memcmp(ps->p, "\xEF\xBB\xBF", 3) == 0)
		ps->p += 3; /* UTF-8 byte order mark */
	for (;;) {
		skip_ws(ps);
		if (ps->p >= ps->end)
			return CNP_OK;
		const char *start = ps->p;
		unsigned line = ps->line;
		const char *w;
		size_t n;
		int rc;
		if (!word(ps, &w, &n)) {
			rc = fail(ps, "expected a keyword (BO_, SG_, CM_ ...), found %s", found(ps));
		} else {
			enum kw kw = keyword(w, n);
			if (kw != KW_SG) {
				ps->cur_msg = NONE;
				ps->skip_sigs = 0;
			}
			rc = statement(ps, kw, w, n, line);
		}
		if (rc == CNP_ERR_NOMEM)
			return rc;
		if (rc) {
			if (ps->strict)
				return rc;
			emit_warning(ps);
			recover(ps, start, line);
		}
	}
}

static void parser_free(struct parser *ps)
{
	cnp_free(ps->mx);
	cnp_free(ps->sx);
	cnp_free(ps->defs);
	cnp_free(ps->enums);
	cnp_free(ps->buf);
	htab_free(&ps->msg_by_key);
	htab_free(&ps->sig_by_name);
	htab_free(&ps->def_by_name);
	htab_free(&ps->skipped_by_key);
	cnp_free(ps->skipped);
}

void cnp_dbc_free(struct cnp_dbc *db)
{
	if (!db)
		return;
	cnp_free(db->msgs);
	cnp_free(db->sigs);
	cnp_free(db->choices);
	cnp_free(db->ranges);
	cnp_free(db->vtabs);
	htab_free(&db->by_id);
	htab_free(&db->by_pgn);
	while (db->arena) {
		struct chunk *c = db->arena;
		db->arena = c->next;
		cnp_free(c);
	}
	cnp_free(db);
}

static void set_error(struct cnp_dbc_error *err, const char *origin, unsigned line,
                      const char *why)
{
	if (!err)
		return;
	if (line)
		snprintf(err->text, sizeof(err->text), "%s:%u: %s", origin, line, why);
	else
		snprintf(err->text, sizeof(err->text), "%s: %s", origin, why);
	err->line = line;
}

int cnp_dbc_parse(const char *text, size_t len, const char *origin,
                  const struct cnp_dbc_options *opts, struct cnp_dbc **out,
                  struct cnp_dbc_error *err)
{
	*out = NULL;
	if (err) {
		err->text[0] = '\0';
		err->line = 0;
	}
	if (!origin)
		origin = "<dbc>";
	if (len > CNP_DBC_MAX_FILE_BYTES) {
		set_error(err, origin, 0, "larger than the DBC size limit");
		return CNP_ERR_TOOBIG;
	}
	struct parser ps;
	memset(&ps, 0, sizeof(ps));
	ps.text = ps.p = text ? text : "";
	ps.end = ps.p + (text ? len : 0);
	ps.origin = origin;
	ps.line = 1;
	ps.opts = opts;
	ps.strict = opts && (opts->flags & CNP_DBC_STRICT);
	ps.cur_msg = NONE;
	int rc;
	ps.db = cnp_calloc(1, sizeof(*ps.db));
	if (!ps.db) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	ps.db->version = "";
	if ((rc = parse_text(&ps)))
		goto out;
	if ((rc = resolve_mux(&ps)) || (rc = link_all(&ps)))
		goto out;
	apply_attributes(&ps);
	if ((rc = check_overlaps(&ps)) || (rc = build_lookup(&ps)))
		goto out;
	if (!ps.strict && ps.logged > CNP_DBC_LOG_WARNINGS)
		cnp_warn("%s: %u more warnings not shown", origin, ps.logged - CNP_DBC_LOG_WARNINGS);
out:
	if (rc == CNP_ERR_NOMEM)
		set_error(err, origin, 0, "out of memory");
	else if (rc)
		set_error(err, origin, ps.why_line, ps.why);
	parser_free(&ps);
	if (rc) {
		cnp_dbc_free(ps.db);
		return rc;
	}
	*out = ps.db;
	return CNP_OK;
}

int cnp_dbc_load(const char *path, const struct cnp_dbc_options *opts, struct cnp_dbc **out,
                 struct cnp_dbc_error *err)
{
	uint8_t *data = NULL;
	size_t len = 0;
	*out = NULL;
	int rc = cnp_fs_read_file(path, CNP_DBC_MAX_FILE_BYTES, &data, &len);
	if (rc) {
		const char *why = rc == CNP_ERR_NOTFOUND ? "no such file"
		                  : rc == CNP_ERR_TOOBIG ? "larger than the DBC size limit"
		                  : rc == CNP_ERR_NOMEM  ? "out of memory"
		                                         : cnp_fs_last_error();
		set_error(err, path, 0, why);
		return rc;
	}
	rc = cnp_dbc_parse((const char *)data, len, path, opts, out, err);
	cnp_free(data);
	return rc;
}

/* ---- queries ---------------------------------------------------------------- */

unsigned cnp_dbc_message_count(const struct cnp_dbc *db)
{
	return db->n_msgs;
}

unsigned cnp_dbc_signal_count(const struct cnp_dbc *db)
{
	return db->n_sigs;
}

unsigned cnp_dbc_warning_count(const struct cnp_dbc *db)
{
	return db->n_warnings;
}

const char *cnp_dbc_version(const struct cnp_dbc *db)
{
	return db->version;
}

const struct cnp_dbc_message *cnp_dbc_message_at(const struct cnp_dbc *db, unsigned index)
{
	return index < db->n_msgs ? &db->msgs[index] : NULL;
}

uint32_t cnp_dbc_j1939_pgn(uint32_t id)
{
	uint32_t pf = (id >> 16) & 0xFFu;
	uint32_t pgn = (id >> 8) & 0x3FF00u; /* EDP, DP, PF */
	if (pf >= 240)
		pgn |= (id >> 8) & 0xFFu; /* PDU2: group extension */
	return pgn;
}

const struct cnp_dbc_message *cnp_dbc_find(const struct cnp_dbc *db, uint32_t id, int extended)
{
	uint32_t key = extended ? ((id & 0x1FFFFFFFu) | 0x80000000u) : (id & 0x7FFu);
	if (!extended && id > 0x7FFu)
		return NULL;
	uint32_t it = 0, v;
	while (htab_next(&db->by_id, hash_u32(key), &it, &v)) {
		const struct cnp_dbc_message *m = &db->msgs[v];
		if (m->id == (key & 0x7FFFFFFFu) && !(m->flags & CNP_DBC_MSG_EXT) == !extended)
			return m;
	}
	if (!extended || !db->n_j1939)
		return NULL;
	uint32_t pgn = cnp_dbc_j1939_pgn(id);
	it = 0;
	while (htab_next(&db->by_pgn, hash_u32(pgn), &it, &v))
		if (db->msgs[v].pgn == pgn)
			return &db->msgs[v];
	return NULL;
}

const struct cnp_dbc_message *cnp_dbc_find_message(const struct cnp_dbc *db, const char *name)
{
	for (unsigned i = 0; i < db->n_msgs; i++)
		if (strcmp(db->msgs[i].name, name) == 0 || strcmp(db->msgs[i].dbc_name, name) == 0)
			return &db->msgs[i];
	return NULL;
}

const struct cnp_dbc_signal *cnp_dbc_find_signal(const struct cnp_dbc_message *msg,
                                                 const char *name)
{
	for (unsigned i = 0; i < msg->n_signals; i++)
		if (strcmp(msg->signals[i].name, name) == 0 ||
		    strcmp(msg->signals[i].dbc_name, name) == 0)
			return &msg->signals[i];
	return NULL;
}

int cnp_dbc_value_table(const struct cnp_dbc *db, const char *name,
                        const struct cnp_dbc_choice **choices, unsigned *n)
{
	for (unsigned i = 0; i < db->n_vtabs; i++)
		if (strcmp(db->vtabs[i].name, name) == 0) {
			*choices = db->vtabs[i].n ? &db->choices[db->vtabs[i].first] : NULL;
			*n = db->vtabs[i].n;
			return CNP_OK;
		}
	return CNP_ERR_NOTFOUND;
}

const char *cnp_dbc_choice_text(const struct cnp_dbc_signal *sig, uint64_t raw)
{
	int64_t v = (int64_t)raw;
	unsigned lo = 0, hi = sig->n_choices;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (sig->choices[mid].value == v)
			return sig->choices[mid].text;
		if (sig->choices[mid].value < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- decoding --------------------------------------------------------------- */

/* The raw bits of a signal; the caller has checked that it fits. */
static uint64_t extract(const struct cnp_dbc_signal *s, const uint8_t *data)
{
	unsigned n = s->length, got = 0, bit = s->first_;
	uint64_t v = 0;
	if (s->byte_order == CNP_DBC_LITTLE_ENDIAN) {
		while (got < n) {
			unsigned off = bit & 7, take = 8 - off;
			if (take > n - got)
				take = n - got;
			uint64_t chunk = ((unsigned)data[bit >> 3] >> off) & ((1u << take) - 1u);
			v |= chunk << got;
			got += take;
			bit += take;
		}
	} else {
		/* MSB-first linear numbering: bit p is byte p/8, bit 7 - p%8 */
		while (got < n) {
			unsigned off = bit & 7, take = 8 - off;
			if (take > n - got)
				take = n - got;
			uint64_t chunk = ((unsigned)data[bit >> 3] >> (8 - off - take)) &
			                 ((1u << take) - 1u);
			v = (v << take) | chunk;
			got += take;
			bit += take;
		}
	}
	if (s->is_signed && s->value_type == CNP_DBC_INTEGER && n < 64 &&
	    (v >> (n - 1)) & 1u)
		v |= ~(uint64_t)0 << n;
	return v;
}

double cnp_dbc_scale_raw(unsigned value_type, int is_signed, uint64_t raw, double scale,
                         double offset)
{
	double v;
	switch (value_type) {
	case CNP_DBC_FLOAT32: {
		uint32_t b = (uint32_t)raw;
		float f;
		memcpy(&f, &b, sizeof(f));
		v = (double)f;
		break;
	}
	case CNP_DBC_FLOAT64:
		memcpy(&v, &raw, sizeof(v));
		break;
	default:
		v = is_signed ? (double)(int64_t)raw : (double)raw;
		break;
	}
	/*
	 * Two roundings, in this order, on every architecture: canopy is built
	 * as ISO C (-std=c11), where GCC does not contract a * b + c into a
	 * fused multiply-add (aarch64 and armhf have one). The unit test holds
	 * a case whose result differs under fusion.
	 */
	double scaled = v * scale;
	return scaled + offset;
}

double cnp_dbc_physical(const struct cnp_dbc_signal *s, uint64_t raw)
{
	return cnp_dbc_scale_raw(s->value_type, s->is_signed, raw, s->scale, s->offset);
}

int cnp_dbc_read_signal(const struct cnp_dbc_signal *sig, const uint8_t *data, unsigned len,
                        uint64_t *raw, double *phys)
{
	if (sig->need_ > len)
		return CNP_ERR_NOTFOUND;
	*raw = extract(sig, data);
	if (phys)
		*phys = cnp_dbc_physical(sig, *raw);
	return CNP_OK;
}

/* Whether every multiplexor above `s` is present and selects it. */
static int selected(const struct cnp_dbc_signal *s, const uint8_t *data, unsigned len)
{
	while (s->multiplexor) {
		const struct cnp_dbc_signal *m = s->multiplexor;
		if (m->need_ > len)
			return 0;
		int64_t v = (int64_t)extract(m, data);
		unsigned i;
		for (i = 0; i < s->n_mux_ranges; i++)
			if (v >= s->mux_ranges[i].lo && v <= s->mux_ranges[i].hi)
				break;
		if (i == s->n_mux_ranges)
			return 0;
		s = m;
	}
	return 1;
}

int cnp_dbc_decode(const struct cnp_dbc_message *msg, const uint8_t *data, unsigned len,
                   cnp_dbc_signal_cb cb, void *arg)
{
	for (unsigned i = 0; i < msg->n_signals; i++) {
		const struct cnp_dbc_signal *s = &msg->signals[i];
		if (s->need_ > len || !selected(s, data, len))
			continue;
		uint64_t raw = extract(s, data);
		int rc = cb(s, raw, cnp_dbc_physical(s, raw), arg);
		if (rc)
			return rc;
	}
	return CNP_OK;
}
