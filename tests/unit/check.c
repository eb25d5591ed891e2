#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

unsigned check_passed, check_failed;
static char tmpdir[256];

void check_report(int ok, const char *file, int line, const char *expr, const char *detail)
{
	if (ok) {
		check_passed++;
		return;
	}
	check_failed++;
	fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, detail ? ": " : "",
	        detail ? detail : "");
}

const char *check_tmpdir(void)
{
	if (!tmpdir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tmpdir, sizeof(tmpdir), "%s/canopy-test-XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tmpdir;
}

int check_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	return (fclose(f) == 0 && n == len) ? 0 : -1;
}

const char *check_data_dir(void)
{
	static char path[1024];
	const char *env = getenv("CANOPY_DATA");
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/../shared/data", CANOPY_SOURCE_DIR);
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

int check_finish(void)
{
	if (tmpdir[0] && check_failed == 0) {
		char cmd[320];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "note: could not remove %s\n", tmpdir);
	}
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

void check_hex_lines(const uint8_t *p, size_t n, const char *label)
{
	for (size_t i = 0; i < n; i += 16) {
		size_t k;
		for (k = 0; k < 16 && i + k < n; k++)
			printf("%02X%s", p[i + k], k == 7 ? "  " : " ");
		if (i == 0 && label) {
			for (; k < 16; k++)
				printf("   %s", k == 7 ? " " : "");
			printf("  %s", label);
		}
		printf("\n");
	}
}
