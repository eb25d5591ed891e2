/* canopy: the agent's command line. */
#include "drivers/isotp.h"
#include "drivers/source.h"
#include "firmware/agent.h"
#include "firmware/alloc.h"
#include "firmware/cli.h"
#include "firmware/config.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/poll.h"
#include "platform/http.h"
#include "platform/log.h"
#include "platform/signals.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fputs("usage: canopy --config FILE [--exit-when-drained] [--log-level LEVEL]\n"
	      "       canopy --config FILE --check-config\n"
	      "       canopy status [--status-file FILE | --config FILE] [--json]\n"
	      "       canopy --help | --version\n"
	      "\n"
	      "Reads CAN frames from the configured sources, packs them into compressed\n"
	      "batches, keeps them in a crash-safe spool and uploads them to the\n"
	      "configured endpoints.\n"
	      "\n"
	      "  --config FILE        the JSON configuration (see docs/CONFIG.md)\n"
	      "  --check-config       validate the configuration and exit (0: valid)\n"
	      "  --exit-when-drained  exit 0 once every source is exhausted and the\n"
	      "                       spool is empty (replays, tests)\n"
	      "  --log-level LEVEL    error, warning, info (default) or debug\n"
	      "  --help, --version\n"
	      "\n"
	      "SIGTERM/SIGINT seal the open batch into the spool and exit; SIGHUP\n"
	      "reloads the configuration (docs/OPERATIONS.md).\n"
	      "Exit status: 0 done, 1 runtime or configuration error, 2 usage error.\n",
	      out);
}

static void print_summary(const struct cnp_agent_summary *s)
{
	double ratio = s->stored_bytes ? (double)s->text_bytes / (double)s->stored_bytes : 0;
	cnp_info("summary: frames=%" PRIu64 " malformed=%" PRIu64 " kernel_dropped=%" PRIu64
	         " batches=%" PRIu64
	         " text_bytes=%" PRIu64 " stored_bytes=%" PRIu64 " uploaded_batches=%" PRIu64
	         " uploaded_bytes=%" PRIu64 " upload_failures=%" PRIu64
	         " spool_batches=%u ratio=%.2f",
	         s->frames, s->malformed, s->kernel_dropped, s->batches, s->text_bytes, s->stored_bytes,
	         s->uploaded_batches, s->uploaded_bytes, s->upload_failures, s->spool_batches,
	         ratio);
}

/* capture.polling: the poller on the kernel's ISO-TP sockets. */
static int start_polling(const struct cnp_config *cfg, struct cnp_agent *agent,
                         struct cnp_poll_link **link)
{
	const struct cnp_capture_config *cc = &cfg->capture;
	struct cnp_poll_options po = {cc->polling_json, strlen(cc->polling_json),
	                              cc->polling_origin, "$.capture.polling", cc->polling_dbc};
	struct cnp_poller *p = NULL;
	char why[512] = "";
	int rc = cnp_poller_create(&po, &p, why, sizeof(why));
	if (rc != CNP_OK) {
		cnp_error("%s", rc == CNP_ERR_NOMEM ? cnp_strerror(rc) : why);
		return rc;
	}
	const char *name = cnp_poller_iface(p);
	uint8_t idx = 0;
	rc = cnp_ifaces_intern(cnp_agent_ifaces(agent), name, (unsigned)strlen(name), &idx);
	if (rc == CNP_OK)
		rc = cnp_isotp_link_create(name, NULL, link);
	if (rc != CNP_OK) {
		cnp_error("polling on %s: %s", name, cnp_strerror(rc));
		cnp_poller_destroy(p);
		return rc;
	}
	cnp_poller_attach(p, *link, idx);
	cnp_agent_set_poller(agent, p);
	return CNP_OK;
}

int main(int argc, char **argv)
{
	const char *config_path = NULL, *level = NULL;
	int drain = 0, check = 0;
	cnp_alloc_init_from_env();
	cnp_log_detect_journal();
	if (argc > 1 && strcmp(argv[1], "status") == 0) {
		cnp_json_init();
		return cnp_cli_status(argc, argv);
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("canopy %s\n", CANOPY_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
			level = argv[++i];
		} else if (strcmp(argv[i], "--exit-when-drained") == 0) {
			drain = 1;
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check = 1;
		} else {
			fprintf(stderr, "canopy: unknown or incomplete option \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!config_path) {
		fprintf(stderr, "canopy: --config FILE is required\n");
		usage(stderr);
		return 2;
	}
	enum cnp_log_level lvl;
	if (level && cnp_log_parse_level(level, &lvl) != CNP_OK) {
		fprintf(stderr, "canopy: unknown log level \"%s\"\n", level);
		return 2;
	}
	cnp_json_init();

	static struct cnp_config cfg; /* large: keep it off the stack */
	int lrc = cnp_config_load(config_path, &cfg);
	if (lrc != CNP_OK) {
		/* Configuration errors are logged where they are found. */
		if (lrc == CNP_ERR_NOMEM)
			cnp_error("%s: out of memory loading the configuration", config_path);
		return 1;
	}
	if (level)
		cnp_log_set_level(lvl);
	else if (cfg.log_level[0] && cnp_log_parse_level(cfg.log_level, &lvl) == CNP_OK)
		cnp_log_set_level(lvl);
	if (check) {
		printf("%s: configuration is valid\n", config_path);
		return 0;
	}

	if (cnp_signals_install() != CNP_OK || cnp_http_global_init() != CNP_OK) {
		cnp_error("cannot initialise signals or the HTTP library");
		return 1;
	}
	int status = 1;
	struct cnp_agent *agent = NULL;
	struct cnp_poll_link *link = NULL;
	int rc = cnp_agent_create(&cfg, &agent);
	if (rc != CNP_OK)
		goto out;
	for (unsigned i = 0; i < cfg.n_sources; i++) {
		struct cnp_source *src = NULL;
		rc = cnp_source_create(&cfg.sources[i], cnp_agent_ifaces(agent), &src);
		if (rc != CNP_OK)
			goto out;
		cnp_agent_add_source(agent, src);
	}
	if (cfg.capture.polling_json[0] && (rc = start_polling(&cfg, agent, &link)) != CNP_OK)
		goto out;
	cnp_agent_set_reload(agent, config_path, level != NULL);
	cnp_info("canopy %s started: vehicle %s, %u sources, %u endpoints", CANOPY_VERSION,
	         cfg.vehicle_id, cfg.n_sources, cfg.n_endpoints);
	rc = cnp_agent_run(agent, drain);
	struct cnp_agent_summary sum;
	cnp_agent_get_summary(agent, &sum);
	print_summary(&sum);
	status = rc == CNP_OK ? 0 : 1;
out:
	/* Other failures are logged where they happen; running out of memory
	 * is not, at most of the places it can. */
	if (rc == CNP_ERR_NOMEM)
		cnp_error("out of memory: stopping");
	cnp_agent_destroy(agent);
	cnp_isotp_link_destroy(link);
	cnp_http_global_cleanup();
	return status;
}
