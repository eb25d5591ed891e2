/*
 * Trigger conditions: a small, safe expression language over signal values
 * (docs/SCHEMES.md). Parsing is bounded (CNP_EXPR_MAX_LEN characters,
 * CNP_EXPR_MAX_NODES nodes, CNP_EXPR_MAX_DEPTH nesting) and evaluation
 * visits each node once, allocates nothing and cannot fail: an unknown
 * value is NaN, NaN makes comparisons false, and division by zero gives an
 * IEEE infinity or NaN.
 */
#ifndef CNP_EXPR_H
#define CNP_EXPR_H

#include <stddef.h>
#include <stdint.h>

#define CNP_EXPR_MAX_LEN 1024
#define CNP_EXPR_MAX_NODES 256
#define CNP_EXPR_MAX_DEPTH 32
/* Samples a window function (min, max, avg) remembers. */
#define CNP_EXPR_WINDOW_MAX 1024
/* Longest window of a window function. */
#define CNP_EXPR_WINDOW_MAX_MS 3600000u

/*
 * Resolves a signal name to a slot number. Returns 0 and sets *slot, or
 * nonzero with a reason in why (the parser names the column).
 */
typedef int (*cnp_expr_resolve_fn)(void *arg, const char *name, unsigned *slot, char *why,
                                   size_t why_len);

struct cnp_expr;

/*
 * Compiles `text`. On failure returns CNP_ERR_INVAL with *col the 1-based
 * column of the problem and `why` the reason, or CNP_ERR_NOMEM.
 */
int cnp_expr_parse(const char *text, cnp_expr_resolve_fn resolve, void *arg,
                   struct cnp_expr **out, unsigned *col, char *why, size_t why_len);
void cnp_expr_free(struct cnp_expr *e);

/*
 * Evaluates at capture time `now_us`. values[slot] is each signal's latest
 * value (NaN when none yet), stamps[slot] the capture time it came with
 * (window functions record a value once per new stamp).
 */
double cnp_expr_eval(struct cnp_expr *e, const double *values, const uint64_t *stamps,
                     uint64_t now_us);

/* The distinct slots the expression reads, up to max; returns how many. */
unsigned cnp_expr_slots(const struct cnp_expr *e, unsigned *out, unsigned max);

/* Nonzero when a value counts as true (not zero and not NaN). */
static inline int cnp_expr_true(double v)
{
	return v == v && v != 0.0;
}

#endif
