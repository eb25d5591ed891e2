/*
 * candump log lines, as written by can-utils' `candump -l`:
 *
 *   (SECONDS.MICROS) IFNAME ID#DATA          classic CAN
 *   (SECONDS.MICROS) IFNAME ID#DATA_D        classic, 8 bytes, raw DLC D (9-F)
 *   (SECONDS.MICROS) IFNAME ID#R[D]          remote frame, optional DLC D (1-8)
 *   (SECONDS.MICROS) IFNAME ID##FDATA        CAN FD, F = flags nibble
 *
 * ID is 3 hex digits (11-bit) or 8 (29-bit; bit 29 set marks an error frame).
 * The timestamp has exactly 6 fractional digits. Hex is upper or lower case
 * (not both in one line); seconds may be zero-padded. Whatever of that
 * spelling varies is kept in the frame's style, so that formatting a parsed
 * frame gives back exactly the line that was parsed.
 */
#ifndef CNP_CANDUMP_H
#define CNP_CANDUMP_H

#include "firmware/frame.h"

#include <stddef.h>

/* Longest line canopy writes or accepts, line end included. */
#define CNP_CANDUMP_LINE_MAX 256

struct cnp_candump_line {
	const char *ifname;   /* points into the parsed line */
	unsigned ifname_len;
	const char *why;      /* on error: what was wrong, a static string */
	unsigned column;      /* on error: 1-based column of the problem */
};

/*
 * Parses one line of `len` bytes, without its line end (the caller sets the
 * CNP_STYLE_CRLF / CNP_STYLE_NO_EOL bits it saw). Fills everything in
 * `frame` but `iface`, which the caller sets from out->ifname.
 * @retval CNP_OK
 * @retval CNP_ERR_INVAL malformed; out->why and out->column say where
 */
int cnp_candump_parse(const char *line, size_t len, struct cnp_frame *frame,
                      struct cnp_candump_line *out);

/*
 * Bytes past the end of the text that cnp_candump_scan() may read (never
 * use): a buffer it scans has this many readable bytes after its end.
 */
#define CNP_CANDUMP_SCAN_SLACK 128

/*
 * What cnp_candump_scan() remembers from one line to the next of a log
 * (lines of the same second share their seconds' text). Zero it before the
 * first line.
 */
struct cnp_candump_scan_cache {
	uint64_t text[2], mask[2]; /* "(SECONDS." after the '(', masked */
	uint64_t sec;
	unsigned digits; /* 0: nothing remembered */
};

/*
 * The fast path for the common line: a classic data frame (11- or 29-bit,
 * 0 to 8 bytes) with unpadded seconds, ending in "\n" or "\r\n". Parses the
 * line at `line` (text up to `end`, which must be readable for
 * CNP_CANDUMP_SCAN_SLACK more bytes) in one pass, a word at a time where it
 * can. Returns the line's length with its line end and fills `frame` and
 * out->ifname / out->ifname_len exactly as cnp_candump_parse() would (the
 * CNP_STYLE_CRLF bit included); returns 0 for any other line, valid or
 * not, which the caller then gives to cnp_candump_parse(). The length
 * returned is also cnp_candump_text_len() of the frame. `cache` (or NULL)
 * carries the seconds from line to line. Little-endian
 * machines only: elsewhere it always returns 0.
 */
size_t cnp_candump_scan(const char *line, const char *end, struct cnp_frame *frame,
                        struct cnp_candump_line *out, struct cnp_candump_scan_cache *cache);

/*
 * Writes the line for `frame` (line end per its style) into out[0..cap) and
 * its length into *len; no NUL is added.
 * @retval CNP_ERR_FULL cap too small (CNP_CANDUMP_LINE_MAX always suffices)
 * @retval CNP_ERR_INVAL a field out of range (len > 64, invalid ifname)
 */
int cnp_candump_format(const struct cnp_frame *frame, const char *ifname,
                       char *out, size_t cap, size_t *len);

/* The length cnp_candump_format() would write, computed without writing. */
size_t cnp_candump_text_len(const struct cnp_frame *frame, size_t ifname_len);

#endif
