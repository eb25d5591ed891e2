/*
 * File system seam. Paths are NUL-terminated. Every function returns CNP_OK
 * or a negative CNP_ERR_*; on failure, cnp_fs_last_error() describes the
 * system error of the calling thread for the log.
 */
#ifndef CNP_PLATFORM_FS_H
#define CNP_PLATFORM_FS_H

#include <stddef.h>
#include <stdint.h>

/* The strerror text of the calling thread's last failed fs call. */
const char *cnp_fs_last_error(void);

/*
 * Reads a whole file into a buffer from cnp_malloc (caller frees with
 * cnp_free). One extra NUL byte follows the data, not counted in *len.
 * @retval CNP_ERR_NOTFOUND no such file
 * @retval CNP_ERR_TOOBIG   the file is larger than `max` bytes
 * @retval CNP_ERR_IO       any other read failure
 * @retval CNP_ERR_NOMEM
 */
int cnp_fs_read_file(const char *path, size_t max, uint8_t **data, size_t *len);

/*
 * Writes `len` bytes as dir/name so that after a crash at any instant the
 * file is either absent or complete: a temporary file ".tmp-NAME" in the
 * same directory, fsync, rename, fsync of the directory. Replaces an
 * existing file of that name.
 * @retval CNP_ERR_IO (disk full included)
 */
int cnp_fs_write_atomic(const char *dir, const char *name, const void *data,
                        size_t len);

/* Creates a directory and its missing parents (mode 0700 for new ones). */
int cnp_fs_mkdirs(const char *path);

/* Removes a file; CNP_ERR_NOTFOUND if it does not exist. */
int cnp_fs_remove(const char *path);

/* Renames `from` to `to` atomically and fsyncs the target's directory. */
int cnp_fs_rename(const char *from, const char *to);

/*
 * Calls cb(name, arg) for each regular file in `dir` (no recursion, no "."
 * or ".."). A nonzero return from cb stops the listing and is returned.
 * @retval CNP_ERR_NOTFOUND the directory does not exist
 */
int cnp_fs_list(const char *dir, int (*cb)(const char *name, void *arg),
                void *arg);

/* Nonzero if `path` is a directory. */
int cnp_fs_is_dir(const char *path);

/* Size of a regular file in bytes. */
int cnp_fs_file_size(const char *path, uint64_t *size);

/* Last modification time of a file, microseconds since the Unix epoch. */
int cnp_fs_mtime_us(const char *path, uint64_t *us);
/* Bytes available to this process on the file system holding `path`. */
int cnp_fs_free_bytes(const char *path, uint64_t *free_bytes);

/*
 * An append-only file (the frame journal). Writes go straight to the
 * kernel (no user-space buffer), so a killed process loses nothing it
 * appended; cnp_fs_append_sync() makes them survive a power cut too.
 */
struct cnp_fs_appender;

/* Opens `path` for appending, creating it (mode 0600) if absent. */
int cnp_fs_append_open(const char *path, struct cnp_fs_appender **out);
/* Appends `len` bytes with one write call (retried on EINTR and short
 * writes). @retval CNP_ERR_IO (disk full included); the file may then end
 * in a partial record, which its reader must detect. */
int cnp_fs_append(struct cnp_fs_appender *f, const void *data, size_t len);
/* fdatasync: everything appended so far is on the medium. */
int cnp_fs_append_sync(struct cnp_fs_appender *f);
/* Closes the file (without a sync). Safe on NULL. */
void cnp_fs_append_close(struct cnp_fs_appender *f);

#endif
