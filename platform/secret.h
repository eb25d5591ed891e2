/*
 * Secret-file seam: reads a file that holds credentials (an AWS-style
 * credentials file) and refuses one that other users may read, as OpenSSH
 * refuses a private key with such a mode (cnp_signer_load does the same
 * for the batch-signing key).
 */
#ifndef CNP_PLATFORM_SECRET_H
#define CNP_PLATFORM_SECRET_H

#include <stddef.h>

/*
 * Reads the whole regular file `path` (at most `max` bytes) into a new
 * buffer from cnp_malloc, NUL-terminated (the NUL not counted in *len).
 * Free it with cnp_secret_free, which wipes it first. Blocks on the file
 * system only. On failure `why` holds a sentence that does not repeat the
 * path (the caller names the file), e.g. "mode 0644 lets group or others
 * read it; run chmod 600 on it".
 * @retval CNP_ERR_NOTFOUND no such file
 * @retval CNP_ERR_KEY      group or others have any access (mode & 077),
 *                          or it is not a regular file
 * @retval CNP_ERR_TOOBIG   larger than `max`
 * @retval CNP_ERR_IO       cannot be opened or read (permission, I/O)
 * @retval CNP_ERR_NOMEM
 */
int cnp_secret_read(const char *path, size_t max, char **text, size_t *len, char *why,
                    size_t why_len);

/*
 * Checks, without reading it, that `path` is a regular file that group and
 * others cannot access (for key files that another library reads, like
 * the TLS client key). `why` as for cnp_secret_read.
 * @retval CNP_ERR_NOTFOUND no such file
 * @retval CNP_ERR_KEY      mode & 077, or not a regular file
 * @retval CNP_ERR_IO       cannot stat it
 */
int cnp_secret_check(const char *path, char *why, size_t why_len);

/* Wipes text[0..len] and frees it; NULL is allowed. */
void cnp_secret_free(char *text, size_t len);

#endif
