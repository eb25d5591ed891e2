#include "platform/service.h"

#include "firmware/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int cnp_service_notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !path[0])
		return CNP_ERR_NOTFOUND;
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
		return CNP_ERR_INVAL;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = 0; /* abstract namespace: no trailing NUL counted */
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	                            (path[0] == '@' ? 0 : 1));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return CNP_ERR_IO;
	ssize_t w = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&sa, len);
	close(fd);
	return w < 0 ? CNP_ERR_IO : CNP_OK;
}

uint64_t cnp_service_watchdog_us(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	if (!usec || !usec[0])
		return 0;
	const char *pid = getenv("WATCHDOG_PID");
	if (pid && pid[0] && strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(usec, &end, 10);
	if (errno || !end || *end)
		return 0;
	return (uint64_t)v;
}

int cnp_service_runtime_dir(char *out, size_t cap)
{
	const char *rd = getenv("RUNTIME_DIRECTORY");
	int n;
	if (rd && rd[0] == '/') {
		size_t len = strcspn(rd, ":");
		n = snprintf(out, cap, "%.*s", (int)len, rd);
	} else if (geteuid() == 0) {
		n = snprintf(out, cap, "/run/canopy");
	} else if ((rd = getenv("XDG_RUNTIME_DIR")) && rd[0] == '/') {
		n = snprintf(out, cap, "%s/canopy", rd);
	} else {
		n = snprintf(out, cap, "/tmp/canopy-%lu", (unsigned long)geteuid());
	}
	return n >= 0 && (size_t)n < cap ? CNP_OK : CNP_ERR_TOOBIG;
}

uint64_t cnp_service_pid(void)
{
	return (uint64_t)getpid();
}
