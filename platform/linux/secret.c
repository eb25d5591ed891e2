#include "platform/secret.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

/* The checks both calls make on the file's status. */
static int check_stat(const struct stat *st, char *why, size_t why_len)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, why_len, "not a regular file");
		return CNP_ERR_KEY;
	}
	if (st->st_mode & 077) {
		snprintf(why, why_len, "mode %04o lets group or others read it; run chmod 600 on it",
		         (unsigned)(st->st_mode & 07777));
		return CNP_ERR_KEY;
	}
	return CNP_OK;
}

int cnp_secret_check(const char *path, char *why, size_t why_len)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		int e = errno;
		snprintf(why, why_len, "%s", strerror(e));
		return e == ENOENT ? CNP_ERR_NOTFOUND : CNP_ERR_IO;
	}
	return check_stat(&st, why, why_len);
}

int cnp_secret_read(const char *path, size_t max, char **text, size_t *len, char *why,
                    size_t why_len)
{
	*text = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		snprintf(why, why_len, "%s", strerror(e));
		return e == ENOENT ? CNP_ERR_NOTFOUND : CNP_ERR_IO;
	}
	int rc = CNP_ERR_IO;
	char *buf = NULL;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(why, why_len, "%s", strerror(errno));
		goto out;
	}
	if ((rc = check_stat(&st, why, why_len)) != CNP_OK)
		goto out;
	rc = CNP_ERR_IO;
	if ((unsigned long long)st.st_size > (unsigned long long)max) {
		snprintf(why, why_len, "larger than %zu bytes", max);
		rc = CNP_ERR_TOOBIG;
		goto out;
	}
	size_t cap = (size_t)st.st_size + 1;
	buf = cnp_malloc(cap);
	if (!buf) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	size_t n = 0;
	while (n < cap - 1) {
		ssize_t got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(why, why_len, "%s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = 0;
	*text = buf;
	*len = n;
	buf = NULL;
	rc = CNP_OK;
out:
	if (buf) {
		wipe(buf, (size_t)st.st_size + 1);
		cnp_free(buf);
	}
	close(fd);
	return rc;
}

void cnp_secret_free(char *text, size_t len)
{
	if (!text)
		return;
	wipe(text, len + 1);
	cnp_free(text);
}
