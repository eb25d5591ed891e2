/*
 * Logging seam. Messages go to stderr, one line each, prefixed with the
 * level ("error: ", "warning: ", "info: ", "debug: ") so that journald and a
 * person reading a terminal both see what matters. Thread-safe; never blocks
 * for long (a line is written with one write call).
 */
#ifndef CNP_PLATFORM_LOG_H
#define CNP_PLATFORM_LOG_H

enum cnp_log_level {
	CNP_LOG_ERROR = 0,
	CNP_LOG_WARN = 1,
	CNP_LOG_INFO = 2,
	CNP_LOG_DEBUG = 3,
};

/*
 * Looks at $JOURNAL_STREAM: when stderr is the stream systemd's journal
 * gave this process (same device and inode), lines start with the syslog
 * priority ("<3>" error, "<4>" warning, "<6>" info, "<7>" debug) so that
 * journald files each at its level, and drop the "canopy: " tag (journald
 * adds its own). Call once at start, before other threads log.
 */
void cnp_log_detect_journal(void);

/* Messages above `level` are discarded. The default is CNP_LOG_INFO. */
void cnp_log_set_level(enum cnp_log_level level);
enum cnp_log_level cnp_log_get_level(void);

/* Parses "error", "warning", "info" or "debug"; CNP_ERR_INVAL otherwise. */
int cnp_log_parse_level(const char *name, enum cnp_log_level *level);

void cnp_log(enum cnp_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cnp_error(...) cnp_log(CNP_LOG_ERROR, __VA_ARGS__)
#define cnp_warn(...) cnp_log(CNP_LOG_WARN, __VA_ARGS__)
#define cnp_info(...) cnp_log(CNP_LOG_INFO, __VA_ARGS__)
#define cnp_debug(...) cnp_log(CNP_LOG_DEBUG, __VA_ARGS__)

#endif
