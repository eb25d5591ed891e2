#include "firmware/capture.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "firmware/remote.h"
#include "firmware/transport.h"
#include "platform/fs.h"
#include "platform/log.h"

#include <stdio.h>
#include <string.h>

struct cnp_capture {
	struct cnp_dbc *dbs[CNP_CAPTURE_MAX_DBC];
	struct cnp_collect_dbc dbcs[CNP_CAPTURE_MAX_DBC];
	unsigned n_dbs;
	int raw_all;
	char *vss; /* the mapping file's text, for remote documents */
	size_t vss_len;
	char vss_origin[CNP_PATH_MAX];
	struct cnp_collector *col;
	struct cnp_tp *tp; /* NULL: no interface has transport configured */
	struct cnp_remote *remote;
	char url[CNP_URL_MAX];
	uint64_t last_ts;
	/* While a frame's messages are passed on. */
	const struct cnp_ifaces *msg_ifaces;
	const struct cnp_collect_sink *msg_sink;
};

/* Compiles a remote (or kept) document the way a local one is. */
static int compile_doc(void *arg, const char *text, size_t len, const char *origin,
                       struct cnp_collector **out, char *why, size_t why_len)
{
	const struct cnp_capture *c = arg;
	struct cnp_collect_options o = {.dbcs = c->dbcs, .n_dbcs = c->n_dbs,
	                                .raw_all = c->raw_all, .doc = text, .doc_len = len,
	                                .origin = origin, .path = "$", .vss = c->vss,
	                                .vss_len = c->vss_len, .vss_origin = c->vss_origin};
	return cnp_collector_create(&o, out, why, why_len);
}

static int read_text(const char *what, const char *path, uint8_t **text, size_t *len)
{
	int rc = cnp_fs_read_file(path, CNP_COLLECT_MAX_DOC_BYTES, text, len);
	if (rc == CNP_ERR_NOMEM)
		return rc;
	if (rc != CNP_OK) {
		cnp_error("%s %s: cannot read it: %s", what, path,
		          rc == CNP_ERR_TOOBIG ? "larger than 1 MiB" : cnp_fs_last_error());
		return CNP_ERR_CONFIG;
	}
	return CNP_OK;
}

int cnp_capture_create(const struct cnp_config *cfg, struct cnp_capture **out)
{
	*out = NULL;
	if (strcmp(cfg->capture_mode, "raw") == 0)
		return CNP_OK;
	const struct cnp_capture_config *cc = &cfg->capture;
	struct cnp_capture *c = cnp_calloc(1, sizeof(*c));
	if (!c)
		return CNP_ERR_NOMEM;
	struct cnp_collect_dbc *dbcs = c->dbcs;
	uint8_t *doc = NULL, *vss = NULL;
	size_t doc_len = 0, vss_len = 0;
	int rc = CNP_OK;
	for (unsigned i = 0; i < cc->n_dbc; i++) {
		struct cnp_dbc_options opts = {.flags = cc->dbc[i].strict ? CNP_DBC_STRICT : 0};
		struct cnp_dbc_error err;
		rc = cnp_dbc_load(cc->dbc[i].path, &opts, &c->dbs[i], &err);
		if (rc != CNP_OK) {
			if (rc == CNP_ERR_NOMEM)
				goto fail;
			cnp_error("capture.dbc[%u]: %s", i, err.text);
			rc = CNP_ERR_CONFIG;
			goto fail;
		}
		c->n_dbs++;
		dbcs[i].iface = cc->dbc[i].iface;
		dbcs[i].db = c->dbs[i];
		cnp_info("decoding %s with %s: %u messages, %u signals", cc->dbc[i].iface,
		         cc->dbc[i].path, cnp_dbc_message_count(c->dbs[i]),
		         cnp_dbc_signal_count(c->dbs[i]));
	}
	struct cnp_tp_iface tifs[CNP_CAPTURE_MAX_DBC];
	unsigned n_tifs = 0;
	for (unsigned i = 0; i < cc->n_dbc; i++)
		if (cc->dbc[i].transport.n_isotp || cc->dbc[i].transport.j1939) {
			tifs[n_tifs].iface = cc->dbc[i].iface;
			tifs[n_tifs++].cfg = &cc->dbc[i].transport;
			cnp_info("reassembling on %s:%s%s", cc->dbc[i].iface,
			         cc->dbc[i].transport.n_isotp ? " ISO-TP" : "",
			         cc->dbc[i].transport.j1939 ? " J1939 transport" : "");
		}
	if (n_tifs && (rc = cnp_tp_create(tifs, n_tifs, &c->tp)) != CNP_OK)
		goto fail;
	struct cnp_collect_options o = {.dbcs = dbcs, .n_dbcs = c->n_dbs,
	                                .raw_all = strcmp(cfg->capture_mode, "raw+signals") == 0};
	if (cc->vss_file[0]) {
		if ((rc = read_text("VSS mapping", cc->vss_file, &vss, &vss_len)) != CNP_OK)
			goto fail;
		o.vss = (const char *)vss;
		o.vss_len = vss_len;
		o.vss_origin = cc->vss_file;
	}
	if (cc->schemes_file[0]) {
		if ((rc = read_text("scheme document", cc->schemes_file, &doc, &doc_len)) != CNP_OK)
			goto fail;
		o.doc = (const char *)doc;
		o.doc_len = doc_len;
		o.origin = cc->schemes_file;
		o.path = "$";
	} else if (cc->schemes_json[0]) {
		o.doc = cc->schemes_json;
		o.doc_len = strlen(cc->schemes_json);
		o.doc_is_array = 1;
		o.origin = cc->schemes_origin;
		o.path = "$.capture.schemes";
	}
	char why[512];
	rc = cnp_collector_create(&o, &c->col, why, sizeof(why));
	if (rc != CNP_OK) {
		cnp_error("%s", why);
		if (rc != CNP_ERR_NOMEM)
			rc = CNP_ERR_CONFIG;
		goto fail;
	}
	unsigned nsig;
	size_t bytes;
	cnp_collector_footprint(c->col, &nsig, &bytes);
	cnp_info("collecting signals%s%s: state for %u signals in %zu bytes",
	         o.doc ? " by the schemes of " : " (every signal, no schemes)",
	         o.doc ? o.origin : "", nsig, bytes);
	c->raw_all = o.raw_all;
	if (cc->schemes_url[0]) {
		/* The mapping stays for the documents to come. */
		c->vss = (char *)vss;
		c->vss_len = vss_len;
		vss = NULL;
		snprintf(c->vss_origin, sizeof(c->vss_origin), "%s", cc->vss_file);
		snprintf(c->url, sizeof(c->url), "%s", cc->schemes_url);
		struct cnp_remote_config rc_cfg = {
			.url = cc->schemes_url, .key_path = cc->schemes_key,
			.ca_file = cc->schemes_ca_file, .allow_insecure = cc->schemes_allow_insecure,
			.pinned_pubkey = cc->schemes_pinned_pubkey,
			.client_cert = cc->schemes_client_cert, .client_key = cc->schemes_client_key,
			.poll_ms = cc->schemes_poll_ms, .cache_dir = cfg->spool_dir,
			.compile = compile_doc, .compile_arg = c};
		struct cnp_collector *cached = NULL;
		rc = cnp_remote_start(&rc_cfg, &c->remote, &cached);
		if (rc != CNP_OK)
			goto fail;
		if (cached) {
			cnp_collector_destroy(c->col);
			c->col = cached;
		}
	}
	cnp_free(doc);
	cnp_free(vss);
	*out = c;
	return CNP_OK;
fail:
	cnp_free(doc);
	cnp_free(vss);
	cnp_capture_destroy(c);
	return rc;
}

/* One line per protocol: messages and broken sessions by reason. */
static void log_transport(const struct cnp_tp *tp)
{
	struct cnp_tp_stats st[2];
	cnp_tp_stats(tp, &st[0], &st[1]);
	for (int k = 0; k < 2; k++) {
		char line[512];
		int n = snprintf(line, sizeof(line), "transport %s: %llu messages, broken:",
		                 k ? "j1939" : "isotp", (unsigned long long)st[k].messages);
		for (int r = 0; r < CNP_TP_REASONS && n > 0 && (size_t)n < sizeof(line); r++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu",
			              cnp_tp_reason_name(r), (unsigned long long)st[k].broken[r]);
		cnp_info("%s", line);
	}
}

void cnp_capture_destroy(struct cnp_capture *c)
{
	if (!c)
		return;
	/* The poller first: it compiles against the databases. */
	cnp_remote_stop(c->remote);
	cnp_collector_destroy(c->col);
	if (c->tp)
		log_transport(c->tp);
	cnp_tp_destroy(c->tp);
	cnp_free(c->vss);
	for (unsigned i = 0; i < c->n_dbs; i++)
		cnp_dbc_free(c->dbs[i]);
	cnp_free(c);
}

/* A reassembled message: decoded as a frame of its own. */
static int on_message(void *arg, const struct cnp_tp_message *m)
{
	struct cnp_capture *c = arg;
	struct cnp_collect_message cm = {.ts_us = m->ts_us, .id = m->id, .flags = m->flags,
	                                 .iface = m->iface, .data = m->data,
	                                 .len = (unsigned)m->len};
	return cnp_collector_message(c->col, &cm, c->msg_ifaces, c->msg_sink);
}

int cnp_capture_frame(struct cnp_capture *c, const struct cnp_frame *f,
                      const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink)
{
	c->last_ts = f->ts_us;
	if (!c->tp)
		return cnp_collector_frame(c->col, f, ifaces, sink);
	if (!cnp_tp_claims(c->tp, f, ifaces)) {
		/* Every frame advances the clock that times sessions out. */
		cnp_tp_tick(c->tp, f->ts_us);
		return cnp_collector_frame(c->col, f, ifaces, sink);
	}
	int rc = cnp_collector_transport_frame(c->col, f, ifaces, sink);
	if (rc != CNP_OK)
		return rc;
	c->msg_ifaces = ifaces;
	c->msg_sink = sink;
	return cnp_tp_frame(c->tp, f, ifaces, on_message, c);
}

int cnp_capture_transport(const struct cnp_capture *c, struct cnp_tp_stats *isotp,
                          struct cnp_tp_stats *j1939)
{
	if (!c || !c->tp)
		return 0;
	cnp_tp_stats(c->tp, isotp, j1939);
	return 1;
}

int cnp_capture_update(struct cnp_capture *c, int (*seal)(void *arg),
                       const struct cnp_collect_sink *sink)
{
	if (!c || !c->remote)
		return CNP_OK;
	struct cnp_collector *col = NULL;
	char refused[512];
	cnp_remote_take(c->remote, &col, refused, sizeof(refused));
	int rc = CNP_OK;
	if (refused[0]) {
		/* Reported to the cloud as an event of the open batch. */
		cJSON *o = cJSON_CreateObject();
		char *text = NULL;
		const char *v = cnp_collector_version(c->col);
		if (o && cJSON_AddStringToObject(o, "type", "schemes_refused") &&
		    !cnp_json_add_uint(o, "ts_us", c->last_ts) &&
		    cJSON_AddStringToObject(o, "url", c->url) &&
		    cJSON_AddStringToObject(o, "reason", refused) &&
		    (!v || cJSON_AddStringToObject(o, "running", v)) &&
		    (text = cJSON_PrintUnformatted(o)))
			rc = sink->event(sink->arg, text);
		cJSON_free(text);
		cJSON_Delete(o);
	}
	if (col) {
		/* Each batch is the work of one scheme version: seal before. */
		int src = seal(sink->arg);
		if (rc == CNP_OK)
			rc = src;
		cnp_collector_destroy(c->col);
		c->col = col;
	}
	return rc;
}

const char *cnp_capture_version(const struct cnp_capture *c)
{
	return c ? cnp_collector_version(c->col) : NULL;
}
