#include "platform/signals.h"

#include "firmware/error.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static atomic_uint pending;

static void on_signal(int sig)
{
	atomic_fetch_or(&pending, sig == SIGHUP ? CNP_SIG_RELOAD : CNP_SIG_STOP);
}

int cnp_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking sleep returns early so the loop sees it. */
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0)
		return CNP_ERR_IO;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return CNP_ERR_IO;
	return CNP_OK;
}

unsigned cnp_signals_take(void)
{
	return atomic_exchange(&pending, 0u);
}

unsigned cnp_signals_peek(void)
{
	return atomic_load(&pending);
}
