#include "platform/log.h"

#include "firmware/error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_int current_level = CNP_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
/* syslog priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const char *const journal_prefix[] = {"<3>", "<4>", "<6>", "<7>"};
static int to_journal;

void cnp_log_detect_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	to_journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	             fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	             (unsigned long long)st.st_ino == ino;
}

void cnp_log_set_level(enum cnp_log_level level)
{
	atomic_store(&current_level, (int)level);
}

enum cnp_log_level cnp_log_get_level(void)
{
	return (enum cnp_log_level)atomic_load(&current_level);
}

int cnp_log_parse_level(const char *name, enum cnp_log_level *level)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum cnp_log_level)i;
			return CNP_OK;
		}
	}
	return CNP_ERR_INVAL;
}

void cnp_log(enum cnp_log_level level, const char *fmt, ...)
{
	if ((int)level > atomic_load(&current_level))
		return;
	char line[1024];
	int n = to_journal ? snprintf(line, sizeof(line), "%s%s: ", journal_prefix[level],
	                              level_names[level])
	                   : snprintf(line, sizeof(line), "canopy: %s: ", level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line keeps lines whole when threads log at once. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
