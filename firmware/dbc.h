/*
 * DBC databases: load a Vector DBC file and decode CAN and CAN FD frames
 * into signals.
 *
 * What is understood: VERSION, NS_, BS_, BU_, BO_ (bit 31 of the id marks a
 * 29-bit id), SG_ (Intel and Motorola byte order, signed, scale and offset,
 * minimum and maximum, unit, receivers), multiplexors (M), multiplexed
 * signals (mNN) and extended multiplexing (SG_MUL_VAL_ value ranges, mNNM
 * signals that are multiplexed and multiplex others, cascades),
 * SIG_VALTYPE_ (IEEE float and double), VAL_ and VAL_TABLE_, CM_ comments,
 * BA_DEF_ / BA_DEF_DEF_ / BA_ attributes (VFrameFormat for CAN FD and J1939,
 * ProtocolType, GenMsgCycleTime, SystemMessageLongSymbol and
 * SystemSignalLongSymbol), BO_TX_BU_. The other sections (EV_, SIG_GROUP_,
 * BA_REL_, SGTYPE_ ...) are recognised and skipped.
 *
 * Text is converted to UTF-8: a string that is not valid UTF-8 is read as
 * Windows-1252 (what CANdb++ writes). Names may start with a digit. Files
 * without BS_ or BU_ load.
 *
 * Two modes. Default (lenient): whatever is wrong is skipped or, where the
 * meaning is clear, read the way real tools read it, with one warning per
 * problem naming the file, the line and the reason; everything else loads.
 * Strict (CNP_DBC_STRICT): the first such problem refuses the whole file with
 * that same message. docs/DBC.md lists every check and how each mode treats
 * it.
 *
 * Loading is one pass over the text, linear in its size (hash tables for
 * every reference by id or name). A loaded database is immutable: every
 * function below that takes a const database may be called from several
 * threads at once. Decoding allocates nothing.
 */
#ifndef CNP_DBC_H
#define CNP_DBC_H

#include <stddef.h>
#include <stdint.h>

/* Largest DBC file cnp_dbc_load() reads. */
#define CNP_DBC_MAX_FILE_BYTES (64u * 1024u * 1024u)
/* Longest chain of multiplexors above a signal (cascaded multiplexing). */
#define CNP_DBC_MAX_MUX_DEPTH 16

/* cnp_dbc_options.flags */
#define CNP_DBC_STRICT 0x01u /* refuse the file on its first problem */
#define CNP_DBC_QUIET 0x02u  /* no warnings to the log (still counted and
                                passed to a warn callback) */

struct cnp_dbc_options {
	unsigned flags; /* CNP_DBC_* */
	/*
	 * Called once per warning in lenient mode with the complete text
	 * "FILE:LINE: reason", valid during the call only. NULL: warnings go
	 * to the log (cnp_warn), the first CNP_DBC_LOG_WARNINGS of them and
	 * then one line with the number left out.
	 */
	void (*warn)(void *arg, const char *text);
	void *warn_arg;
};
#define CNP_DBC_LOG_WARNINGS 50

/* Why a file was refused. */
struct cnp_dbc_error {
	char text[384]; /* "FILE:LINE: reason" (or "FILE: reason"), NUL-terminated */
	unsigned line;  /* 1-based line of the problem; 0 when not about a line */
};

/* Byte order of a signal (the digit after '@' in SG_). */
enum cnp_dbc_byte_order {
	CNP_DBC_BIG_ENDIAN = 0,    /* @0: Motorola; start bit is the MSB,
	                              numbered 7..0, 15..8, ... ("sawtooth") */
	CNP_DBC_LITTLE_ENDIAN = 1, /* @1: Intel; start bit is the LSB */
};

/* How the raw bits are read (SIG_VALTYPE_). */
enum cnp_dbc_value_type {
	CNP_DBC_INTEGER = 0, /* two's complement when signed */
	CNP_DBC_FLOAT32 = 1, /* IEEE 754 binary32; signal length 32 */
	CNP_DBC_FLOAT64 = 2, /* IEEE 754 binary64; signal length 64 */
};

/* cnp_dbc_signal.mux */
#define CNP_DBC_MUXOR 0x01u /* selects other signals ("M", "mNNM") */
#define CNP_DBC_MUXED 0x02u /* present only for some values of its
                               multiplexor ("mNN", "mNNM", SG_MUL_VAL_) */

/* cnp_dbc_message.flags */
#define CNP_DBC_MSG_EXT 0x01u   /* 29-bit identifier */
#define CNP_DBC_MSG_FD 0x02u    /* CAN FD (VFrameFormat *CAN_FD) */
#define CNP_DBC_MSG_J1939 0x04u /* J1939 parameter group: frames match on
                                   the PGN, not on the whole id */

/* One value description (VAL_, VAL_TABLE_): raw value -> text. */
struct cnp_dbc_choice {
	int64_t value; /* raw value; an unsigned value above INT64_MAX is
	                  kept as its two's complement bit pattern */
	const char *text; /* UTF-8 */
};

/* Multiplexor values that select a signal, lo..hi inclusive. */
struct cnp_dbc_mux_range {
	int64_t lo, hi;
};

struct cnp_dbc_message;

/*
 * A signal. Every pointer points into the database and lives as long as it;
 * strings are UTF-8 and never NULL unless said otherwise.
 */
struct cnp_dbc_signal {
	const char *name;     /* SystemSignalLongSymbol if given, else name */
	const char *dbc_name; /* the name as written in SG_ */
	const char *unit;     /* "" when none */
	const char *comment;  /* CM_ SG_; NULL when none */
	const struct cnp_dbc_message *message;
	double scale, offset;     /* physical = raw * scale + offset */
	double minimum, maximum;  /* as written; both 0 means "not given" */
	uint16_t start;           /* start bit as written */
	uint8_t length;           /* bits, 1..64 */
	uint8_t byte_order;       /* enum cnp_dbc_byte_order */
	uint8_t is_signed;        /* '-' in SG_ */
	uint8_t value_type;       /* enum cnp_dbc_value_type */
	uint8_t mux;              /* CNP_DBC_MUXOR | CNP_DBC_MUXED */
	uint8_t reserved_;
	/* CNP_DBC_MUXED: the signal whose raw value selects this one, and the
	 * values that do (sorted, not overlapping); else NULL and 0. */
	const struct cnp_dbc_signal *multiplexor;
	const struct cnp_dbc_mux_range *mux_ranges;
	unsigned n_mux_ranges;
	/* Value descriptions (VAL_), sorted by value; NULL and 0 when none. */
	const struct cnp_dbc_choice *choices;
	unsigned n_choices;
	unsigned line; /* line of the SG_ in the file */
	/* Private to dbc.c. */
	uint16_t need_;  /* frame bytes the signal needs */
	uint16_t first_; /* first bit: Intel start bit, or Motorola MSB in
	                    MSB-first linear numbering */
};

/* A message (BO_). Pointers as for signals. */
struct cnp_dbc_message {
	const char *name;     /* SystemMessageLongSymbol if given, else name */
	const char *dbc_name; /* the name as written in BO_ */
	const char *sender;   /* transmitter as written; "" when none */
	const char *comment;  /* CM_ BO_; NULL when none */
	uint32_t id;          /* identifier on the bus: 11 or 29 bits */
	uint32_t pgn;         /* CNP_DBC_MSG_J1939: its parameter group number */
	unsigned flags;       /* CNP_DBC_MSG_* */
	unsigned length;      /* bytes, as written (may exceed 64 for J1939
	                         transport messages; such signals never decode
	                         from a single frame) */
	uint32_t cycle_time_ms; /* GenMsgCycleTime; 0 when not given */
	const struct cnp_dbc_signal *signals; /* in file order */
	unsigned n_signals;
	unsigned line; /* line of the BO_ in the file */
};

struct cnp_dbc;

/*
 * Reads and parses the DBC file at `path` (cnp_fs_read_file, up to
 * CNP_DBC_MAX_FILE_BYTES). `opts` may be NULL (lenient, warnings logged).
 * On success *out is a new database the caller frees with cnp_dbc_free().
 * On failure *out is NULL and, when `err` is not NULL, err->text says what
 * and where. Blocks on file I/O only.
 * @retval CNP_OK
 * @retval CNP_ERR_NOTFOUND no such file
 * @retval CNP_ERR_TOOBIG   the file exceeds CNP_DBC_MAX_FILE_BYTES
 * @retval CNP_ERR_IO       the file could not be read
 * @retval CNP_ERR_INVAL    strict mode, and the file has a problem
 * @retval CNP_ERR_NOMEM
 */
int cnp_dbc_load(const char *path, const struct cnp_dbc_options *opts,
                 struct cnp_dbc **out, struct cnp_dbc_error *err);

/*
 * As cnp_dbc_load() for `len` bytes of DBC text already in memory (need not
 * be NUL-terminated; it is not modified or kept). `origin` names the text
 * in messages (a file name); NULL means "<dbc>".
 * @retval CNP_OK
 * @retval CNP_ERR_INVAL strict mode, and the text has a problem
 * @retval CNP_ERR_TOOBIG len exceeds CNP_DBC_MAX_FILE_BYTES
 * @retval CNP_ERR_NOMEM
 */
int cnp_dbc_parse(const char *text, size_t len, const char *origin,
                  const struct cnp_dbc_options *opts, struct cnp_dbc **out,
                  struct cnp_dbc_error *err);

/* Frees a database and everything it points to; NULL is fine. */
void cnp_dbc_free(struct cnp_dbc *db);

/* Number of messages and of signals (all messages together). */
unsigned cnp_dbc_message_count(const struct cnp_dbc *db);
unsigned cnp_dbc_signal_count(const struct cnp_dbc *db);
/* Number of warnings issued while loading (0 for a clean file). */
unsigned cnp_dbc_warning_count(const struct cnp_dbc *db);
/* The VERSION string; "" when none. */
const char *cnp_dbc_version(const struct cnp_dbc *db);

/* The message at `index` (< cnp_dbc_message_count(), file order), else NULL. */
const struct cnp_dbc_message *cnp_dbc_message_at(const struct cnp_dbc *db,
                                                 unsigned index);

/*
 * The message that describes a received frame, or NULL. `id` is the frame's
 * 11- or 29-bit identifier, `extended` nonzero for a 29-bit one. A message
 * with exactly that id wins; otherwise, for a 29-bit frame, the first J1939
 * message with the frame's PGN (priority, source address and, for PDU1,
 * destination address do not matter). Constant time.
 */
const struct cnp_dbc_message *cnp_dbc_find(const struct cnp_dbc *db, uint32_t id,
                                           int extended);

/* The first message with this name (long or as written), or NULL. Linear. */
const struct cnp_dbc_message *cnp_dbc_find_message(const struct cnp_dbc *db,
                                                   const char *name);

/* The first signal of `msg` with this name (long or as written), or NULL.
 * Linear in the message's signals. */
const struct cnp_dbc_signal *cnp_dbc_find_signal(const struct cnp_dbc_message *msg,
                                                 const char *name);

/*
 * The J1939 parameter group number of a 29-bit identifier: extended data
 * page, data page and PDU format, plus the PDU specific byte when the PDU
 * format is 240 or more (PDU2); for PDU1 that byte is a destination address
 * and not part of the PGN.
 */
uint32_t cnp_dbc_j1939_pgn(uint32_t id);

/*
 * Called by cnp_dbc_decode() for each signal present in the frame. `raw` is
 * the signal's bits: sign-extended to 64 bits for a signed integer signal
 * (so (int64_t)raw is its value), zero-extended for an unsigned one, the
 * IEEE bit pattern for a float (low 32 bits) or double. `phys` is the
 * physical value, raw * scale + offset, computed the same way (IEEE double,
 * no fused multiply-add) on every architecture. A nonzero return stops the
 * decoding and is returned by cnp_dbc_decode().
 */
typedef int (*cnp_dbc_signal_cb)(const struct cnp_dbc_signal *sig, uint64_t raw,
                                 double phys, void *arg);

/*
 * Decodes the `len` data bytes of a frame that `msg` describes, calling `cb`
 * for each signal in message order that is present: a multiplexed signal
 * only when each multiplexor above it is present and has a value that
 * selects it; a signal that needs more bytes than the frame has is skipped
 * (and so are the signals it multiplexes), never filled in. Allocates
 * nothing; never fails on any data.
 * @retval CNP_OK every present signal was passed to cb
 * @retval other  the nonzero value cb returned
 */
int cnp_dbc_decode(const struct cnp_dbc_message *msg, const uint8_t *data,
                   unsigned len, cnp_dbc_signal_cb cb, void *arg);

/*
 * Reads one signal from frame data regardless of multiplexing: its raw
 * bits (as passed to cnp_dbc_signal_cb) into *raw and, when `phys` is not
 * NULL, its physical value into *phys.
 * @retval CNP_OK
 * @retval CNP_ERR_NOTFOUND the signal needs more than `len` bytes
 */
int cnp_dbc_read_signal(const struct cnp_dbc_signal *sig, const uint8_t *data,
                        unsigned len, uint64_t *raw, double *phys);

/* The physical value of a raw value as passed to cnp_dbc_signal_cb. */
double cnp_dbc_physical(const struct cnp_dbc_signal *sig, uint64_t raw);
/* The same for a raw value described by its parts (enum
 * cnp_dbc_value_type, signedness, scale and offset): what readers of
 * decoded samples use to get the agent's values bit for bit. */
double cnp_dbc_scale_raw(unsigned value_type, int is_signed, uint64_t raw, double scale,
                         double offset);

/* The value description of a raw value (VAL_), or NULL. Binary search. */
const char *cnp_dbc_choice_text(const struct cnp_dbc_signal *sig, uint64_t raw);

/*
 * A named value table (VAL_TABLE_): *choices (sorted by value) and *n.
 * @retval CNP_OK
 * @retval CNP_ERR_NOTFOUND no table of that name
 */
int cnp_dbc_value_table(const struct cnp_dbc *db, const char *name,
                        const struct cnp_dbc_choice **choices, unsigned *n);

#endif
