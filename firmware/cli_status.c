/* `canopy status`: prints the status file the running agent refreshes. */
#include "firmware/cli.h"

#include "firmware/alloc.h"
#include "firmware/config.h"
#include "firmware/error.h"
#include "firmware/status.h"
#include "platform/clock.h"
#include "platform/fs.h"
#include "platform/log.h"
#include "platform/service.h"

#include <stdio.h>
#include <string.h>

#define STATUS_FILE_MAX (256u * 1024u)

static void usage(FILE *out)
{
	fputs("usage: canopy status [--status-file FILE | --config FILE] [--json]\n"
	      "\n"
	      "Shows what the running agent is doing: frames in, drops, batches, spool,\n"
	      "uploads, endpoint health and a verdict (is data flowing, and if not, why).\n"
	      "\n"
	      "  --status-file FILE  the agent's status file (default: the one named by\n"
	      "                      --config, else RUNTIME_DIR/status.json)\n"
	      "  --config FILE       take $.operations.status_file from this configuration\n"
	      "  --json              print the status file itself\n"
	      "\n"
	      "Exit status: 0 data flowing, 1 not flowing (or the agent is not running),\n"
	      "2 usage error, 3 no readable status file.\n",
	      out);
}

int cnp_cli_status(int argc, char **argv)
{
	const char *file = NULL, *config = NULL;
	int json = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--status-file") == 0 && i + 1 < argc) {
			file = argv[++i];
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "canopy status: unknown or incomplete option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	static struct cnp_config cfg;
	char path[CNP_PATH_MAX];
	if (file) {
		snprintf(path, sizeof(path), "%s", file);
	} else if (config) {
		if (cnp_config_load(config, &cfg) != CNP_OK)
			return 3;
		file = cfg.status_file;
	}
	if (!file || !file[0]) {
		if (cnp_service_runtime_dir(path, sizeof(path) - 12) != CNP_OK)
			return 3;
		strcat(path, "/status.json");
	} else {
		snprintf(path, sizeof(path), "%s", file);
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = cnp_fs_read_file(path, STATUS_FILE_MAX, &data, &len);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy status: cannot read %s: %s (is the agent running? it "
		        "writes this file every $.operations.status_interval_ms)\n",
		        path, rc == CNP_ERR_NOTFOUND ? "no such file" : cnp_fs_last_error());
		return 3;
	}
	static char text[8192];
	int flowing = 0;
	rc = cnp_status_format((const char *)data, len, cnp_clock_wall_us(), text, sizeof(text),
	                       &flowing);
	if (rc != CNP_OK) {
		fprintf(stderr, "canopy status: %s: %s\n", path,
		        rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : text);
		cnp_free(data);
		return 3;
	}
	if (json)
		fwrite(data, 1, len, stdout);
	else
		fputs(text, stdout);
	cnp_free(data);
	return flowing ? 0 : 1;
}
