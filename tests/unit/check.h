/*
 * A minimal test harness: CHECK macros that count and report failures with
 * file and line, and a closing line "N passed, N failed" that ctest's log
 * and CI both read. A test program returns check_finish().
 */
#ifndef CNP_TEST_CHECK_H
#define CNP_TEST_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern unsigned check_passed, check_failed;

void check_report(int ok, const char *file, int line, const char *expr,
                  const char *detail);
int check_finish(void);

/* Creates a fresh temporary directory for this test; returns its path
 * (static storage). Removed by check_finish() when every check passed. */
const char *check_tmpdir(void);

/* Writes a file with the given bytes; returns 0 on success. */
int check_write_file(const char *path, const void *data, size_t len);

/* $CANOPY_DATA, or ../shared/data beside the source tree; NULL if absent. */
const char *check_data_dir(void);

/* Prints p[0..n) as hex, 16 bytes a line, `label` after the first line
 * (the layout of the worked examples in docs/FORMAT.md). */
void check_hex_lines(const uint8_t *p, size_t n, const char *label);

#define CHECK(expr) check_report(!!(expr), __FILE__, __LINE__, #expr, NULL)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long va_ = (long long)(a), vb_ = (long long)(b);          \
		char d_[96];                                                   \
		snprintf(d_, sizeof(d_), "%lld != %lld", va_, vb_);            \
		check_report(va_ == vb_, __FILE__, __LINE__, #a " == " #b, d_); \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *sa_ = (a), *sb_ = (b);                             \
		int ok_ = sa_ && sb_ && strcmp(sa_, sb_) == 0;                 \
		char d_[600];                                                  \
		snprintf(d_, sizeof(d_), "\"%.280s\" != \"%.280s\"",          \
		         sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");          \
		check_report(ok_, __FILE__, __LINE__, #a " == " #b, d_);      \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                            \
	do {                                                                   \
		const char *h_ = (hay), *n_ = (needle);                        \
		char d_[600];                                                  \
		snprintf(d_, sizeof(d_), "\"%.280s\" lacks \"%.280s\"",       \
		         h_ ? h_ : "(null)", n_);                              \
		check_report(h_ && strstr(h_, n_) != NULL, __FILE__, __LINE__, \
		             #hay " contains " #needle, d_);                   \
	} while (0)

#include <stdio.h>

#endif
