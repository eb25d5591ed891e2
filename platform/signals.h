/*
 * Signals seam. After cnp_signals_install(), SIGTERM and SIGINT request a
 * stop (flush and exit), SIGHUP requests a configuration reload, and SIGPIPE
 * is ignored. Requests are read and cleared with cnp_signals_take().
 */
#ifndef CNP_PLATFORM_SIGNALS_H
#define CNP_PLATFORM_SIGNALS_H

#define CNP_SIG_STOP 1u
#define CNP_SIG_RELOAD 2u

int cnp_signals_install(void);
/* Returns the pending requests (CNP_SIG_* bits) and clears them. */
unsigned cnp_signals_take(void);
/* Returns the pending requests without clearing them. */
unsigned cnp_signals_peek(void);

#endif
