/*
 * Expression parser (recursive descent with an explicit depth bound) and
 * evaluator over a flat node array.
 */
#include "firmware/expr.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op {
	OP_NUM, OP_SIG, OP_NEG, OP_NOT, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD,
	OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_AND, OP_OR, OP_ABS,
	OP_WMIN, OP_WMAX, OP_WAVG,
};

struct window {
	uint64_t ms;
	uint64_t last_stamp;
	int seen;
	unsigned head, n; /* ring of CNP_EXPR_WINDOW_MAX entries */
	uint64_t *ts;
	double *v;
};

struct node {
	uint8_t op;
	uint16_t a, b; /* operand nodes */
	unsigned slot;
	double num;
	struct window *win;
};

struct cnp_expr {
	struct node nodes[CNP_EXPR_MAX_NODES];
	unsigned n, root;
};

struct parser {
	const char *s, *p;
	struct cnp_expr *e;
	cnp_expr_resolve_fn resolve;
	void *arg;
	unsigned depth;
	int rc;
	unsigned col;
	char *why;
	size_t why_len;
};

static int fail(struct parser *ps, const char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, const char *at, const char *fmt, ...)
{
	if (ps->rc)
		return ps->rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->why, ps->why_len, fmt, ap);
	va_end(ap);
	ps->col = (unsigned)(at - ps->s) + 1;
	ps->rc = CNP_ERR_INVAL;
	return ps->rc;
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static int new_node(struct parser *ps, enum op op, unsigned a, unsigned b, unsigned *out)
{
	if (ps->e->n >= CNP_EXPR_MAX_NODES)
		return fail(ps, ps->p, "expression too long (more than %d terms)",
		            CNP_EXPR_MAX_NODES);
	struct node *n = &ps->e->nodes[ps->e->n];
	memset(n, 0, sizeof(*n));
	n->op = (uint8_t)op;
	n->a = (uint16_t)a;
	n->b = (uint16_t)b;
	*out = ps->e->n++;
	return CNP_OK;
}

static int is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9') || c == '.';
}

/* Reads a name (bare or in backticks) into buf. */
static int read_name(struct parser *ps, char *buf, size_t cap)
{
	const char *start = ps->p;
	size_t n = 0;
	if (*ps->p == '`') {
		ps->p++;
		while (*ps->p && *ps->p != '`') {
			if (n + 1 >= cap)
				return fail(ps, start, "name too long");
			buf[n++] = *ps->p++;
		}
		if (*ps->p != '`')
			return fail(ps, start, "unterminated `name`");
		ps->p++;
	} else {
		while (is_name_char(*ps->p)) {
			if (n + 1 >= cap)
				return fail(ps, start, "name too long");
			buf[n++] = *ps->p++;
		}
	}
	if (n == 0)
		return fail(ps, start, "empty name");
	buf[n] = 0;
	return CNP_OK;
}

static int parse_or(struct parser *ps, unsigned *out);

static int resolve_signal(struct parser *ps, const char *at, const char *name, unsigned *slot)
{
	char why[200] = "unknown signal";
	if (ps->resolve(ps->arg, name, slot, why, sizeof(why)) != 0)
		return fail(ps, at, "%s", why);
	return CNP_OK;
}

static int parse_call(struct parser *ps, const char *at, const char *name, unsigned *out)
{
	enum op op;
	if (strcmp(name, "abs") == 0)
		op = OP_ABS;
	else if (strcmp(name, "min") == 0)
		op = OP_WMIN;
	else if (strcmp(name, "max") == 0)
		op = OP_WMAX;
	else if (strcmp(name, "avg") == 0)
		op = OP_WAVG;
	else
		return fail(ps, at, "unknown function \"%s\" (known: abs, min, max, avg)", name);
	ps->p++; /* ( */
	skip_ws(ps);
	if (op == OP_ABS) {
		unsigned a;
		if (parse_or(ps, &a) || new_node(ps, OP_ABS, a, 0, out))
			return ps->rc;
	} else {
		const char *sat = ps->p;
		char sig[256];
		unsigned slot;
		if (!is_name_start(*ps->p) && *ps->p != '`')
			return fail(ps, sat, "%s() takes a signal name first", name);
		if (read_name(ps, sig, sizeof(sig)) || resolve_signal(ps, sat, sig, &slot))
			return ps->rc;
		skip_ws(ps);
		if (*ps->p != ',')
			return fail(ps, ps->p, "expected \",\" and a window in ms: %s(SIGNAL, MS)", name);
		ps->p++;
		skip_ws(ps);
		const char *nat = ps->p;
		char *end;
		double ms = strtod(ps->p, &end);
		if (end == ps->p || !(ms >= 1 && ms <= CNP_EXPR_WINDOW_MAX_MS) || ms != floor(ms))
			return fail(ps, nat, "the window of %s() must be a whole number of ms from 1 "
			            "to %u", name, CNP_EXPR_WINDOW_MAX_MS);
		ps->p = end;
		if (new_node(ps, op, 0, 0, out))
			return ps->rc;
		struct node *n = &ps->e->nodes[*out];
		n->slot = slot;
		n->win = cnp_calloc(1, sizeof(*n->win));
		if (!n->win || !(n->win->ts = cnp_malloc(CNP_EXPR_WINDOW_MAX * sizeof(uint64_t))) ||
		    !(n->win->v = cnp_malloc(CNP_EXPR_WINDOW_MAX * sizeof(double))))
			return ps->rc = CNP_ERR_NOMEM;
		n->win->ms = (uint64_t)ms;
	}
	skip_ws(ps);
	if (*ps->p != ')')
		return fail(ps, ps->p, "expected \")\" to close %s(", name);
	ps->p++;
	return CNP_OK;
}

static int parse_primary(struct parser *ps, unsigned *out)
{
	skip_ws(ps);
	const char *at = ps->p;
	char c = *ps->p;
	if (c == '(') {
		ps->p++;
		if (parse_or(ps, out))
			return ps->rc;
		skip_ws(ps);
		if (*ps->p != ')')
			return fail(ps, ps->p, "expected \")\"");
		ps->p++;
		return CNP_OK;
	}
	if ((c >= '0' && c <= '9') || c == '.') {
		char *end;
		double v = strtod(ps->p, &end);
		if (end == ps->p || is_name_start(*end) || !isfinite(v))
			return fail(ps, at, "bad number (a name that starts with a digit goes in "
			            "backticks: `1stGear`)");
		ps->p = end;
		if (new_node(ps, OP_NUM, 0, 0, out))
			return ps->rc;
		ps->e->nodes[*out].num = v;
		return CNP_OK;
	}
	if (is_name_start(c) || c == '`') {
		char name[256];
		if (read_name(ps, name, sizeof(name)))
			return ps->rc;
		skip_ws(ps);
		if (*ps->p == '(' && c != '`')
			return parse_call(ps, at, name, out);
		unsigned slot;
		if (resolve_signal(ps, at, name, &slot) || new_node(ps, OP_SIG, 0, 0, out))
			return ps->rc;
		ps->e->nodes[*out].slot = slot;
		return CNP_OK;
	}
	if (c == 0)
		return fail(ps, at, "unexpected end of the expression");
	return fail(ps, at, "unexpected \"%c\"", c);
}

static int parse_unary(struct parser *ps, unsigned *out)
{
	skip_ws(ps);
	if (++ps->depth > CNP_EXPR_MAX_DEPTH)
		return fail(ps, ps->p, "nested too deeply (more than %d levels)", CNP_EXPR_MAX_DEPTH);
	int rc;
	char c = *ps->p;
	if (c == '!' && ps->p[1] != '=') {
		unsigned a;
		ps->p++;
		rc = parse_unary(ps, &a) || new_node(ps, OP_NOT, a, 0, out);
	} else if (c == '-') {
		unsigned a;
		ps->p++;
		rc = parse_unary(ps, &a) || new_node(ps, OP_NEG, a, 0, out);
	} else {
		rc = parse_primary(ps, out);
	}
	ps->depth--;
	return rc ? ps->rc : CNP_OK;
}

/* Binary levels, lowest precedence first. */
struct binop {
	const char *tok;
	enum op op;
};
static const struct binop level_or[] = {{"||", OP_OR}, {NULL, 0}};
static const struct binop level_and[] = {{"&&", OP_AND}, {NULL, 0}};
static const struct binop level_cmp[] = {{"<=", OP_LE}, {">=", OP_GE}, {"==", OP_EQ},
                                         {"!=", OP_NE}, {"<", OP_LT},  {">", OP_GT},
                                         {NULL, 0}};
static const struct binop level_add[] = {{"+", OP_ADD}, {"-", OP_SUB}, {NULL, 0}};
static const struct binop level_mul[] = {{"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD},
                                         {NULL, 0}};
static const struct binop *const levels[] = {level_or, level_and, level_cmp, level_add,
                                             level_mul};
#define NLEVELS 5

static int parse_level(struct parser *ps, unsigned lvl, unsigned *out)
{
	if (lvl == NLEVELS)
		return parse_unary(ps, out);
	if (parse_level(ps, lvl + 1, out))
		return ps->rc;
	for (;;) {
		skip_ws(ps);
		const struct binop *b = levels[lvl];
		while (b->tok && strncmp(ps->p, b->tok, strlen(b->tok)) != 0)
			b++;
		/* "a & b", "a | b", "a = b": say what was probably meant. */
		if (!b->tok) {
			if ((ps->p[0] == '&' && ps->p[1] != '&') || (ps->p[0] == '|' && ps->p[1] != '|'))
				return fail(ps, ps->p, "use && and || for logic");
			if (ps->p[0] == '=' && ps->p[1] != '=')
				return fail(ps, ps->p, "use == to compare");
			return CNP_OK;
		}
		ps->p += strlen(b->tok);
		unsigned rhs, lhs = *out;
		if (++ps->depth > CNP_EXPR_MAX_DEPTH)
			return fail(ps, ps->p, "nested too deeply (more than %d levels)",
			            CNP_EXPR_MAX_DEPTH);
		int rc = parse_level(ps, lvl + 1, &rhs);
		ps->depth--;
		if (rc || new_node(ps, b->op, lhs, rhs, out))
			return ps->rc;
		/* Comparisons do not chain: a < b < c is an error. */
		if (levels[lvl] == level_cmp) {
			skip_ws(ps);
			const struct binop *c2 = level_cmp;
			while (c2->tok && strncmp(ps->p, c2->tok, strlen(c2->tok)) != 0)
				c2++;
			if (c2->tok)
				return fail(ps, ps->p, "comparisons do not chain; join them with &&");
			return CNP_OK;
		}
	}
}

static int parse_or(struct parser *ps, unsigned *out)
{
	return parse_level(ps, 0, out);
}

void cnp_expr_free(struct cnp_expr *e)
{
	if (!e)
		return;
	for (unsigned i = 0; i < e->n; i++) {
		if (e->nodes[i].win) {
			cnp_free(e->nodes[i].win->ts);
			cnp_free(e->nodes[i].win->v);
			cnp_free(e->nodes[i].win);
		}
	}
	cnp_free(e);
}

int cnp_expr_parse(const char *text, cnp_expr_resolve_fn resolve, void *arg,
                   struct cnp_expr **out, unsigned *col, char *why, size_t why_len)
{
	*out = NULL;
	*col = 0;
	size_t len = strnlen(text, CNP_EXPR_MAX_LEN + 1);
	if (len > CNP_EXPR_MAX_LEN) {
		snprintf(why, why_len, "longer than %d characters", CNP_EXPR_MAX_LEN);
		*col = CNP_EXPR_MAX_LEN + 1;
		return CNP_ERR_INVAL;
	}
	struct cnp_expr *e = cnp_calloc(1, sizeof(*e));
	if (!e)
		return CNP_ERR_NOMEM;
	struct parser ps = {.s = text, .p = text, .e = e, .resolve = resolve, .arg = arg,
	                    .why = why, .why_len = why_len};
	if (parse_or(&ps, &e->root) == CNP_OK) {
		skip_ws(&ps);
		if (*ps.p)
			fail(&ps, ps.p, "unexpected \"%c\" after a complete expression", *ps.p);
	}
	if (ps.rc) {
		cnp_expr_free(e);
		*col = ps.col;
		return ps.rc;
	}
	*out = e;
	return CNP_OK;
}

static double window_eval(const struct node *n, struct window *w, const double *values,
                          const uint64_t *stamps, uint64_t now)
{
	if (values[n->slot] == values[n->slot] && (!w->seen || stamps[n->slot] != w->last_stamp)) {
		unsigned at = (w->head + w->n) % CNP_EXPR_WINDOW_MAX;
		if (w->n == CNP_EXPR_WINDOW_MAX)
			w->head = (w->head + 1) % CNP_EXPR_WINDOW_MAX;
		else
			w->n++;
		w->ts[at] = stamps[n->slot];
		w->v[at] = values[n->slot];
		w->last_stamp = stamps[n->slot];
		w->seen = 1;
	}
	/* Forget what fell out of the window. */
	uint64_t span = w->ms * 1000u;
	while (w->n && now >= span && w->ts[w->head] < now - span) {
		w->head = (w->head + 1) % CNP_EXPR_WINDOW_MAX;
		w->n--;
	}
	if (w->n == 0)
		return NAN;
	double acc = n->op == OP_WAVG ? 0.0 : w->v[w->head];
	for (unsigned i = 0; i < w->n; i++) {
		double v = w->v[(w->head + i) % CNP_EXPR_WINDOW_MAX];
		if (n->op == OP_WAVG)
			acc += v;
		else if (n->op == OP_WMIN ? v < acc : v > acc)
			acc = v;
	}
	return n->op == OP_WAVG ? acc / w->n : acc;
}

static double eval(struct cnp_expr *e, unsigned i, const double *values, const uint64_t *stamps,
                   uint64_t now)
{
	struct node *n = &e->nodes[i];
	double a, b;
	switch ((enum op)n->op) {
	case OP_NUM:
		return n->num;
	case OP_SIG:
		return values[n->slot];
	case OP_NEG:
		return -eval(e, n->a, values, stamps, now);
	case OP_NOT:
		return cnp_expr_true(eval(e, n->a, values, stamps, now)) ? 0.0 : 1.0;
	case OP_ABS:
		return fabs(eval(e, n->a, values, stamps, now));
	case OP_WMIN:
	case OP_WMAX:
	case OP_WAVG:
		return window_eval(n, n->win, values, stamps, now);
	case OP_AND:
		/* Both sides are evaluated, so that window functions on the
		 * right still see every sample. */
		a = eval(e, n->a, values, stamps, now);
		b = eval(e, n->b, values, stamps, now);
		return cnp_expr_true(a) && cnp_expr_true(b) ? 1.0 : 0.0;
	case OP_OR:
		a = eval(e, n->a, values, stamps, now);
		b = eval(e, n->b, values, stamps, now);
		return cnp_expr_true(a) || cnp_expr_true(b) ? 1.0 : 0.0;
	default:
		break;
	}
	a = eval(e, n->a, values, stamps, now);
	b = eval(e, n->b, values, stamps, now);
	switch ((enum op)n->op) {
	case OP_ADD: return a + b;
	case OP_SUB: return a - b;
	case OP_MUL: return a * b;
	case OP_DIV: return a / b;
	case OP_MOD: return fmod(a, b);
	case OP_LT: return a < b;
	case OP_LE: return a <= b;
	case OP_GT: return a > b;
	case OP_GE: return a >= b;
	case OP_EQ: return a == b;
	case OP_NE: return a == a && b == b && a != b;
	default: return NAN;
	}
}

double cnp_expr_eval(struct cnp_expr *e, const double *values, const uint64_t *stamps,
                     uint64_t now_us)
{
	return eval(e, e->root, values, stamps, now_us);
}

unsigned cnp_expr_slots(const struct cnp_expr *e, unsigned *out, unsigned max)
{
	unsigned k = 0;
	for (unsigned i = 0; i < e->n; i++) {
		const struct node *n = &e->nodes[i];
		if (n->op != OP_SIG && !n->win)
			continue;
		int dup = 0;
		for (unsigned j = 0; j < k; j++)
			dup |= out[j] == n->slot;
		if (!dup && k < max)
			out[k++] = n->slot;
	}
	return k;
}
