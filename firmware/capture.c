#include "firmware/capture.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "platform/fs.h"
#include "platform/log.h"

#include <string.h>

struct cnp_capture {
	struct cnp_dbc *dbs[CNP_CAPTURE_MAX_DBC];
	unsigned n_dbs;
	struct cnp_collector *col;
};

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
	struct cnp_collect_dbc dbcs[CNP_CAPTURE_MAX_DBC];
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

void cnp_capture_destroy(struct cnp_capture *c)
{
	if (!c)
		return;
	cnp_collector_destroy(c->col);
	for (unsigned i = 0; i < c->n_dbs; i++)
		cnp_dbc_free(c->dbs[i]);
	cnp_free(c);
}

int cnp_capture_frame(struct cnp_capture *c, const struct cnp_frame *f,
                      const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink)
{
	return cnp_collector_frame(c->col, f, ifaces, sink);
}

const char *cnp_capture_version(const struct cnp_capture *c)
{
	return c ? cnp_collector_version(c->col) : NULL;
}
