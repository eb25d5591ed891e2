#include "platform/fs.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static _Thread_local int last_errno;

const char *cnp_fs_last_error(void)
{
	return strerror(last_errno);
}

static int fail(int err)
{
	last_errno = errno;
	return err;
}

static int map_errno(void)
{
	last_errno = errno;
	return errno == ENOENT ? CNP_ERR_NOTFOUND : CNP_ERR_IO;
}

int cnp_fs_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
	int rc = CNP_OK;
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return map_errno();
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = fail(CNP_ERR_IO);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EISDIR;
		rc = fail(CNP_ERR_IO);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		errno = EFBIG;
		rc = fail(CNP_ERR_TOOBIG);
		goto out;
	}
	size_t size = (size_t)st.st_size;
	buf = cnp_malloc(size + 1);
	if (!buf) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(CNP_ERR_IO);
			goto out;
		}
		if (n == 0)
			break; /* shrank while reading: take what is there */
		got += (size_t)n;
	}
	buf[got] = 0;
	*data = buf;
	*len = got;
	buf = NULL;
out:
	cnp_free(buf);
	close(fd);
	return rc;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(CNP_ERR_IO);
	int rc = fsync(fd) == 0 ? CNP_OK : fail(CNP_ERR_IO);
	close(fd);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(CNP_ERR_IO);
		p += n;
		len -= (size_t)n;
	}
	return CNP_OK;
}

int cnp_fs_write_atomic(const char *dir, const char *name, const void *data,
                        size_t len)
{
	char tmp[PATH_MAX], final[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(final, sizeof(final), "%s/%s", dir, name) >= (int)sizeof(final)) {
		errno = ENAMETOOLONG;
		return fail(CNP_ERR_INVAL);
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(CNP_ERR_IO);
	int rc = write_all(fd, data, len);
	if (rc == CNP_OK && fsync(fd) != 0)
		rc = fail(CNP_ERR_IO);
	if (close(fd) != 0 && rc == CNP_OK)
		rc = fail(CNP_ERR_IO);
	if (rc == CNP_OK && rename(tmp, final) != 0)
		rc = fail(CNP_ERR_IO);
	if (rc != CNP_OK) {
		int saved = last_errno;
		unlink(tmp);
		last_errno = saved;
		return rc;
	}
	return fsync_dir(dir);
}

int cnp_fs_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return fail(CNP_ERR_INVAL);
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		char saved = buf[i];
		buf[i] = 0;
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return fail(CNP_ERR_IO);
		buf[i] = saved;
	}
	if (!cnp_fs_is_dir(path)) {
		errno = ENOTDIR;
		return fail(CNP_ERR_IO);
	}
	return CNP_OK;
}

int cnp_fs_remove(const char *path)
{
	return unlink(path) == 0 ? CNP_OK : map_errno();
}

int cnp_fs_rename(const char *from, const char *to)
{
	if (rename(from, to) != 0)
		return map_errno();
	char dir[PATH_MAX];
	const char *slash = strrchr(to, '/');
	if (!slash)
		return fsync_dir(".");
	size_t n = (size_t)(slash - to);
	if (n == 0 || n >= sizeof(dir))
		return fsync_dir("/");
	memcpy(dir, to, n);
	dir[n] = 0;
	return fsync_dir(dir);
}

int cnp_fs_list(const char *dir, int (*cb)(const char *name, void *arg),
                void *arg)
{
	DIR *d = opendir(dir);
	if (!d)
		return map_errno();
	int rc = CNP_OK;
	struct dirent *e;
	char path[PATH_MAX];
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			/* A failed listing must not look like an empty folder. */
			if (errno != 0)
				rc = fail(CNP_ERR_IO);
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int is_reg = e->d_type == DT_REG;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			is_reg = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		}
		if (!is_reg)
			continue;
		rc = cb(e->d_name, arg);
		if (rc != 0)
			break;
	}
	closedir(d);
	return rc;
}

int cnp_fs_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cnp_fs_file_size(const char *path, uint64_t *size)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return map_errno();
	*size = (uint64_t)st.st_size;
	return CNP_OK;
}

int cnp_fs_mtime_us(const char *path, uint64_t *us)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return map_errno();
	*us = (uint64_t)st.st_mtim.tv_sec * 1000000u + (uint64_t)st.st_mtim.tv_nsec / 1000u;
	return CNP_OK;
}

int cnp_fs_free_bytes(const char *path, uint64_t *free_bytes)
{
	struct statvfs sv;
	if (statvfs(path, &sv) != 0)
		return map_errno();
	*free_bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return CNP_OK;
}

struct cnp_fs_appender {
	int fd;
};

int cnp_fs_append_open(const char *path, struct cnp_fs_appender **out)
{
	struct cnp_fs_appender *f = cnp_calloc(1, sizeof(*f));
	if (!f)
		return CNP_ERR_NOMEM;
	f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		int rc = map_errno();
		cnp_free(f);
		return rc;
	}
	*out = f;
	return CNP_OK;
}

int cnp_fs_append(struct cnp_fs_appender *f, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(f->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(CNP_ERR_IO);
		p += n;
		len -= (size_t)n;
	}
	return CNP_OK;
}

int cnp_fs_append_sync(struct cnp_fs_appender *f)
{
	return fdatasync(f->fd) == 0 ? CNP_OK : fail(CNP_ERR_IO);
}

void cnp_fs_append_close(struct cnp_fs_appender *f)
{
	if (!f)
		return;
	close(f->fd);
	cnp_free(f);
}
