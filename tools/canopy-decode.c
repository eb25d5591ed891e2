/*
 * canopy-decode: verifies canopy batches and prints their frames.
 *
 *   canopy-decode [--format candump] [--check] PATH...
 *
 * PATH is a batch file or a directory, read recursively (files ending in
 * .cnp). Batches are verified (structure, SHA-256) and printed in order of
 * vehicle, boot and sequence number. A corrupt batch is reported with its
 * path and the reason; the others are still printed, and the exit status is
 * 1. Identical copies of a batch are printed once.
 */
#include "firmware/alloc.h"
#include "firmware/batch.h"
#include "firmware/candump.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/fs.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_MAX (256u * 1024u * 1024u)

struct item {
	char *path;
	char vehicle[CNP_BATCH_VEHICLE_MAX];
	char spool_id[CNP_SPOOL_ID_LEN + 1];
	uint32_t boot;
	uint64_t seq;
	uint8_t sha256[CNP_SHA256_LEN];
};

struct list {
	struct item *items;
	size_t n, cap;
	int errors;
};

static int add_file(struct list *l, const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = cnp_fs_read_file(path, FILE_MAX, &data, &len);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-decode: %s: cannot read: %s\n", path,
		        rc == CNP_ERR_TOOBIG ? "larger than 256 MiB" : cnp_fs_last_error());
		l->errors++;
		return 0;
	}
	struct cnp_batch b;
	char why[200];
	rc = cnp_batch_open(data, len, &b, why, sizeof(why));
	cnp_free(data);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy-decode: %s: %s\n", path, why);
		l->errors++;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct item *it = cnp_realloc(l->items, cap * sizeof(*it));
		if (!it)
			return CNP_ERR_NOMEM;
		l->items = it;
		l->cap = cap;
	}
	struct item *it = &l->items[l->n];
	it->path = cnp_strdup(path);
	if (!it->path)
		return CNP_ERR_NOMEM;
	memcpy(it->vehicle, b.vehicle, sizeof(it->vehicle));
	memcpy(it->spool_id, b.spool_id, sizeof(it->spool_id));
	it->boot = b.boot;
	it->seq = b.seq;
	memcpy(it->sha256, b.sha256, CNP_SHA256_LEN);
	l->n++;
	return 0;
}

static int walk(struct list *l, const char *path, int explicit)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "canopy-decode: %s: %s\n", path, strerror(errno));
		l->errors++;
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		size_t n = strlen(path);
		if (explicit || (n > 4 && strcmp(path + n - 4, ".cnp") == 0))
			return add_file(l, path);
		return 0;
	}
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "canopy-decode: %s: %s\n", path, strerror(errno));
		l->errors++;
		return 0;
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno != 0) {
				fprintf(stderr, "canopy-decode: %s: cannot list: %s\n", path,
				        strerror(errno));
				l->errors++;
			}
			break;
		}
		if (e->d_name[0] == '.')
			continue; /* ".", "..", and temporary files */
		char sub[PATH_MAX];
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= (int)sizeof(sub))
			continue;
		rc = walk(l, sub, 0);
	}
	closedir(d);
	return rc;
}

static int cmp_item(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c = strcmp(a->vehicle, b->vehicle);
	if (c)
		return c;
	c = strcmp(a->spool_id, b->spool_id);
	if (c)
		return c;
	if (a->boot != b->boot)
		return a->boot < b->boot ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return strcmp(a->path, b->path);
}

static int print_candump(const struct cnp_frame *f, const char *ifname, void *arg)
{
	(void)arg;
	char line[CNP_CANDUMP_LINE_MAX];
	size_t len;
	int rc = cnp_candump_format(f, ifname, line, sizeof(line), &len);
	if (rc != CNP_OK)
		return CNP_ERR_CORRUPT;
	return fwrite(line, 1, len, stdout) == len ? 0 : CNP_ERR_IO;
}

static void usage(FILE *out)
{
	fputs("usage: canopy-decode [--format candump] [--check] PATH...\n"
	      "\n"
	      "Verifies canopy batch files (or directories of them, read recursively)\n"
	      "and prints their frames in sequence order.\n"
	      "\n"
	      "  --format candump  candump -l text, byte for byte what was captured\n"
	      "  --check           verify only, print nothing but errors\n"
	      "\n"
	      "Exit status: 0 all batches valid, 1 some batch corrupt or unreadable,\n"
	      "2 usage error.\n",
	      out);
}

int main(int argc, char **argv)
{
	int check = 0, npaths = 0;
	const char *format = "candump";
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("canopy-decode %s\n", CANOPY_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
			format = argv[++i];
		} else if (strcmp(argv[i], "--check") == 0) {
			check = 1;
		} else if (argv[i][0] == '-' && argv[i][1] != 0) {
			fprintf(stderr, "canopy-decode: unknown or incomplete option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		} else {
			npaths++;
		}
	}
	if (strcmp(format, "candump") != 0) {
		fprintf(stderr, "canopy-decode: unknown format \"%s\" (known: candump)\n", format);
		return 2;
	}
	if (npaths == 0) {
		usage(stderr);
		return 2;
	}
	cnp_json_init();
	struct list l = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--format") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] == '-' && argv[i][1] != 0)
			continue;
		if (walk(&l, argv[i], 1) != 0) {
			fprintf(stderr, "canopy-decode: out of memory\n");
			return 1;
		}
	}
	qsort(l.items, l.n, sizeof(*l.items), cmp_item);
	for (size_t i = 0; i < l.n; i++) {
		struct item *it = &l.items[i];
		if (i > 0 && strcmp(it->vehicle, l.items[i - 1].vehicle) == 0 &&
		    strcmp(it->spool_id, l.items[i - 1].spool_id) == 0 &&
		    it->boot == l.items[i - 1].boot && it->seq == l.items[i - 1].seq) {
			if (memcmp(it->sha256, l.items[i - 1].sha256, CNP_SHA256_LEN) == 0)
				continue; /* an identical copy */
			fprintf(stderr,
			        "canopy-decode: %s: vehicle %s boot %" PRIu32 " seq %" PRIu64
			        " differs from %s with the same numbers; skipped\n",
			        it->path, it->vehicle, it->boot, it->seq, l.items[i - 1].path);
			l.errors++;
			continue;
		}
		if (check)
			continue;
		uint8_t *data = NULL;
		size_t len = 0;
		struct cnp_batch b;
		char why[200] = "";
		int rc = cnp_fs_read_file(it->path, FILE_MAX, &data, &len);
		if (rc == CNP_OK)
			rc = cnp_batch_open(data, len, &b, why, sizeof(why));
		if (rc == CNP_OK)
			rc = cnp_batch_frames(&b, print_candump, NULL, why, sizeof(why));
		if (rc != CNP_OK) {
			fprintf(stderr, "canopy-decode: %s: %s\n", it->path,
			        why[0] ? why : cnp_strerror(rc));
			l.errors++;
		}
		cnp_free(data);
	}
	for (size_t i = 0; i < l.n; i++)
		cnp_free(l.items[i].path);
	cnp_free(l.items);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "canopy-decode: cannot write the output: %s\n", strerror(errno));
		return 1;
	}
	return l.errors ? 1 : 0;
}
