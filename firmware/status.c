#include "firmware/status.h"

#include "firmware/error.h"
#include "firmware/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const drop_names[CNP_DROP_REASONS] = {
	[CNP_DROP_MALFORMED] = "malformed",
	[CNP_DROP_SPOOL_FULL] = "spool_full",
	[CNP_DROP_CORRUPT] = "corrupt",
	[CNP_DROP_KERNEL] = "kernel",
};

static uint64_t age_us(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* "12 ms", "3.4 s", "5 min", "2.1 h": an age for a person. */
static const char *human_ms(uint64_t ms, char *buf, size_t cap)
{
	if (ms < 1000)
		snprintf(buf, cap, "%" PRIu64 " ms", ms);
	else if (ms < 120000)
		snprintf(buf, cap, "%.1f s", (double)ms / 1000.0);
	else if (ms < 7200000)
		snprintf(buf, cap, "%.0f min", (double)ms / 60000.0);
	else
		snprintf(buf, cap, "%.1f h", (double)ms / 3600000.0);
	return buf;
}

static const char *human_bytes(uint64_t b, char *buf, size_t cap)
{
	if (b < 10240)
		snprintf(buf, cap, "%" PRIu64 " B", b);
	else if (b < 10485760)
		snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
	else
		snprintf(buf, cap, "%.1f MiB", (double)b / 1048576.0);
	return buf;
}

void cnp_status_judge(struct cnp_status *st)
{
	char a[32], b[32];
	size_t cap = sizeof(st->verdict);
	uint64_t oldest = st->spool_oldest_wall_us ? age_us(st->wall_us, st->spool_oldest_wall_us) : 0;
	unsigned failing = 0;
	const struct cnp_endpoint_health *bad = NULL, *last_ok = NULL;
	for (unsigned i = 0; i < st->n_eps; i++) {
		const struct cnp_endpoint_health *h = &st->eps[i];
		if (h->fails) {
			failing++;
			if (!bad)
				bad = h;
		}
		if (h->last_ok_us && (!last_ok || h->last_ok_us > last_ok->last_ok_us))
			last_ok = h;
	}
	st->flowing = 0;
	if (strcmp(st->state, "running") != 0) {
		snprintf(st->verdict, cap, "%s: %u batches (%s) in the spool",
		         strcmp(st->state, "stopping") == 0 ? "STOPPING: sealing the open batch"
		                                            : "STOPPED",
		         st->spool_batches, human_bytes(st->spool_bytes, a, sizeof(a)));
	} else if (st->input_paused) {
		snprintf(st->verdict, cap,
		         "NOT FLOWING: the spool refuses batches (disk full or I/O error, see the "
		         "log); reading is paused");
	} else if (st->n_eps && failing == st->n_eps) {
		char err[200];
		if (bad->last_status)
			snprintf(err, sizeof(err), "HTTP %ld: %s", bad->last_status, bad->last_error);
		else
			snprintf(err, sizeof(err), "%s", bad->last_error);
		snprintf(st->verdict, cap,
		         "NOT FLOWING: uploads failing (%.96s, %u in a row: %.96s); %u batches waiting, "
		         "oldest %s",
		         bad->url, bad->fails, err, st->spool_batches,
		         human_ms(oldest / 1000u, b, sizeof(b)));
	} else if (st->sources_active == 0) {
		snprintf(st->verdict, cap,
		         "NO INPUT: every source has finished or failed (see the log); %u batches "
		         "still to upload",
		         st->spool_batches);
	} else if (age_us(st->mono_us, st->last_frame_mono_us ? st->last_frame_mono_us
	                                                      : st->started_mono_us) >=
	           CNP_STATUS_QUIET_US) {
		uint64_t quiet = age_us(st->mono_us, st->last_frame_mono_us ? st->last_frame_mono_us
		                                                            : st->started_mono_us);
		snprintf(st->verdict, cap,
		         "NO INPUT: no frame for %s from %u active sources (bus quiet, interface "
		         "down, or filters too narrow?)",
		         human_ms(quiet / 1000u, a, sizeof(a)), st->sources_active);
	} else if (oldest >= CNP_STATUS_BEHIND_US && oldest >= 3000u * st->batch_max_age_ms) {
		st->flowing = 1;
		snprintf(st->verdict, cap,
		         "BEHIND: frames come in (%.0f/s) but the oldest of %u waiting batches is "
		         "%s old: uploads are slower than input",
		         st->frames_per_s, st->spool_batches, human_ms(oldest / 1000u, a, sizeof(a)));
	} else {
		st->flowing = 1;
		if (last_ok)
			snprintf(st->verdict, cap, "OK: data flowing: %.0f frames/s in, last upload %s "
			         "ago to %.200s",
			         st->frames_per_s,
			         human_ms(age_us(st->mono_us, last_ok->last_ok_us) / 1000u, a, sizeof(a)),
			         last_ok->url);
		else
			snprintf(st->verdict, cap,
			         "OK: data flowing: %.0f frames/s in, no upload yet (the first batch is "
			         "sealed after at most %s)",
			         st->frames_per_s, human_ms(st->batch_max_age_ms, a, sizeof(a)));
	}
}

/* Adds a count; the first failure is remembered in *ok. */
static void add_uint(cJSON *o, const char *name, uint64_t v, int *ok)
{
	if (cnp_json_add_uint(o, name, v) != CNP_OK)
		*ok = 0;
}

static void add_age_ms(cJSON *o, const char *name, uint64_t now, uint64_t then, int *ok)
{
	if (!then) {
		if (!cJSON_AddNullToObject(o, name))
			*ok = 0;
		return;
	}
	add_uint(o, name, age_us(now, then) / 1000u, ok);
}

static cJSON *add_obj(cJSON *parent, const char *name, int *ok)
{
	cJSON *o = cJSON_AddObjectToObject(parent, name);
	if (!o)
		*ok = 0;
	return o;
}

int cnp_status_to_json(const struct cnp_status *st, char **out)
{
	int ok = 1;
	*out = NULL;
	cJSON *root = cJSON_CreateObject();
	if (!root)
		return CNP_ERR_NOMEM;
	if (!cJSON_AddStringToObject(root, "canopy", CANOPY_VERSION) ||
	    !cJSON_AddStringToObject(root, "vehicle", st->vehicle) ||
	    !cJSON_AddStringToObject(root, "state", st->state))
		ok = 0;
	add_uint(root, "pid", st->pid, &ok);
	add_uint(root, "updated_unix_ms", st->wall_us / 1000u, &ok);
	add_uint(root, "interval_ms", st->interval_ms, &ok);
	add_uint(root, "uptime_ms", age_us(st->mono_us, st->started_mono_us) / 1000u, &ok);
	add_uint(root, "reloads", st->reloads, &ok);

	cJSON *v = add_obj(root, "verdict", &ok);
	if (v && (!cJSON_AddBoolToObject(v, "flowing", st->flowing) ||
	          !cJSON_AddStringToObject(v, "text", st->verdict)))
		ok = 0;

	cJSON *in = add_obj(root, "input", &ok);
	if (in) {
		add_uint(in, "sources", st->sources, &ok);
		add_uint(in, "sources_active", st->sources_active, &ok);
		add_uint(in, "frames", st->frames, &ok);
		if (!cJSON_AddNumberToObject(in, "frames_per_s", st->frames_per_s))
			ok = 0;
		add_age_ms(in, "last_frame_age_ms", st->mono_us, st->last_frame_mono_us, &ok);
		add_uint(in, "text_bytes", st->text_bytes, &ok);
	}
	cJSON *d = add_obj(root, "dropped", &ok);
	if (d) {
		for (int i = 0; i < CNP_DROP_REASONS; i++)
			add_uint(d, drop_names[i], st->dropped[i], &ok);
		add_uint(d, "quarantined_batches", st->up.quarantined, &ok);
	}
	cJSON *b = add_obj(root, "batches", &ok);
	if (b) {
		add_uint(b, "sealed", st->batches, &ok);
		add_uint(b, "stored_bytes", st->stored_bytes, &ok);
	}
	cJSON *sp = add_obj(root, "spool", &ok);
	if (sp) {
		add_uint(sp, "batches", st->spool_batches, &ok);
		add_uint(sp, "bytes", st->spool_bytes, &ok);
		add_age_ms(sp, "oldest_age_ms", st->wall_us, st->spool_oldest_wall_us, &ok);
		if (!cJSON_AddBoolToObject(sp, "input_paused", st->input_paused))
			ok = 0;
	}
	cJSON *u = add_obj(root, "upload", &ok);
	if (u) {
		add_uint(u, "attempts", st->up.attempts, &ok);
		add_uint(u, "batches", st->up.batches, &ok);
		add_uint(u, "bytes", st->up.bytes, &ok);
		cJSON *f = add_obj(u, "failures", &ok);
		if (f) {
			uint64_t other = st->up.auth_failures + st->up.rejected;
			add_uint(f, "total", st->up.failures, &ok);
			add_uint(f, "transient", st->up.failures > other ? st->up.failures - other : 0,
			         &ok);
			add_uint(f, "auth", st->up.auth_failures, &ok);
			add_uint(f, "rejected", st->up.rejected, &ok);
		}
		cJSON *l = add_obj(u, "latency_ms", &ok);
		if (l) {
			add_uint(l, "last", st->up.last_latency_us / 1000u, &ok);
			add_uint(l, "mean",
			         st->up.batches ? st->up.latency_total_us / st->up.batches / 1000u : 0,
			         &ok);
		}
	}
	cJSON *po = st->polling ? add_obj(root, "polling", &ok) : NULL;
	if (po) {
		add_uint(po, "requests", st->poll_requests, &ok);
		add_uint(po, "responses", st->poll_responses, &ok);
		add_uint(po, "timeouts", st->poll_timeouts, &ok);
		add_uint(po, "negative", st->poll_negative, &ok);
		add_uint(po, "pending", st->poll_pending, &ok);
		add_uint(po, "unexpected", st->poll_unexpected, &ok);
	}
	cJSON *tp = st->transport ? add_obj(root, "transport", &ok) : NULL;
	if (tp && cnp_tp_stats_json(tp, &st->isotp, &st->j1939, 1) != CNP_OK)
		ok = 0;
	cJSON *eps = cJSON_AddArrayToObject(root, "endpoints");
	if (!eps)
		ok = 0;
	for (unsigned i = 0; eps && i < st->n_eps; i++) {
		const struct cnp_endpoint_health *h = &st->eps[i];
		cJSON *e = cJSON_CreateObject();
		if (!e || !cJSON_AddItemToArray(eps, e)) {
			cJSON_Delete(e);
			ok = 0;
			break;
		}
		if (!cJSON_AddStringToObject(e, "url", h->url) ||
		    !cJSON_AddBoolToObject(e, "healthy", h->fails == 0) ||
		    !cJSON_AddStringToObject(e, "last_error", h->last_error))
			ok = 0;
		add_uint(e, "consecutive_failures", h->fails, &ok);
		add_uint(e, "retry_in_ms",
		         h->retry_at_us > st->mono_us ? (h->retry_at_us - st->mono_us) / 1000u : 0, &ok);
		add_age_ms(e, "last_ok_age_ms", st->mono_us, h->last_ok_us, &ok);
		add_age_ms(e, "last_failure_age_ms", st->mono_us, h->last_fail_us, &ok);
		add_uint(e, "last_status", h->last_status > 0 ? (uint64_t)h->last_status : 0, &ok);
	}
	if (ok) {
		cnp_json_clear_alloc_failure();
		*out = cJSON_Print(root);
	}
	cJSON_Delete(root);
	return *out ? CNP_OK : CNP_ERR_NOMEM;
}

void cnp_status_summary(const struct cnp_status *st, char *out, size_t cap)
{
	uint64_t oldest = st->spool_oldest_wall_us ? age_us(st->wall_us, st->spool_oldest_wall_us) : 0;
	snprintf(out, cap,
	         "summary: frames=%" PRIu64 " rate=%.0f/s malformed=%" PRIu64 " kernel_dropped=%" PRIu64
	         " spool_full=%" PRIu64 " batches=%" PRIu64 " text_bytes=%" PRIu64
	         " stored_bytes=%" PRIu64 " spool=%u/%" PRIu64 "B oldest=%" PRIu64
	         "s uploads=%" PRIu64 "/%" PRIu64 " failures=%" PRIu64 " -- %s",
	         st->frames, st->frames_per_s, st->dropped[CNP_DROP_MALFORMED],
	         st->dropped[CNP_DROP_KERNEL], st->dropped[CNP_DROP_SPOOL_FULL], st->batches,
	         st->text_bytes, st->stored_bytes, st->spool_batches, st->spool_bytes,
	         oldest / 1000000u, st->up.batches, st->up.attempts, st->up.failures, st->verdict);
}

/* --- the report for a person ------------------------------------------- */

struct text {
	char *p;
	size_t cap, len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	if (t->len + 1 >= t->cap)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n < t->cap - t->len ? (size_t)n : t->cap - t->len - 1;
}

static uint64_t num(const cJSON *obj, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
	uint64_t v = 0;
	if (cnp_json_uint(j, UINT64_MAX, &v) != CNP_OK)
		return 0;
	return v;
}

static const char *str(const cJSON *obj, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(j) ? j->valuestring : "";
}

/* An age field: "never" for null. */
static const char *age(const cJSON *obj, const char *name, const char *none, char *buf,
                       size_t cap)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!cJSON_IsNumber(j))
		return none;
	return human_ms(num(obj, name), buf, cap);
}

int cnp_status_format(const char *json, size_t len, uint64_t now_wall_us, char *out,
                      size_t cap, int *flowing)
{
	struct text t = {.p = out, .cap = cap, .len = 0};
	char a[32], b[32], c[32];
	*flowing = 0;
	if (cap)
		out[0] = 0;
	cnp_json_clear_alloc_failure();
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root) {
		if (cnp_json_alloc_failed())
			return CNP_ERR_NOMEM;
		put(&t, "not JSON");
		return CNP_ERR_INVAL;
	}
	const cJSON *verdict = cJSON_GetObjectItemCaseSensitive(root, "verdict");
	if (!cJSON_IsObject(root) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "canopy")) ||
	    !cJSON_IsObject(verdict)) {
		cJSON_Delete(root);
		put(&t, "not a canopy status file (no \"canopy\" and \"verdict\" keys)");
		return CNP_ERR_INVAL;
	}
	uint64_t updated_ms = num(root, "updated_unix_ms");
	uint64_t now_ms = now_wall_us / 1000u;
	uint64_t file_age = now_ms > updated_ms ? now_ms - updated_ms : 0;
	uint64_t stale_after = 3 * num(root, "interval_ms");
	if (stale_after < 10000)
		stale_after = 10000;
	const char *state = str(root, "state");
	int stale = strcmp(state, "stopped") != 0 && file_age > stale_after;

	put(&t, "canopy %s (pid %" PRIu64 "), vehicle %s, %s for %s; status written %s ago\n",
	    str(root, "canopy"), num(root, "pid"), str(root, "vehicle"), state,
	    human_ms(num(root, "uptime_ms"), a, sizeof(a)), human_ms(file_age, b, sizeof(b)));
	if (stale)
		put(&t, "verdict:  NOT RUNNING OR STUCK: the status file is %s old (written every "
		        "%s); last verdict was: %s\n",
		    human_ms(file_age, a, sizeof(a)), human_ms(num(root, "interval_ms"), b, sizeof(b)),
		    str(verdict, "text"));
	else
		put(&t, "verdict:  %s\n", str(verdict, "text"));
	*flowing = !stale && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(verdict, "flowing"));

	const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
	const cJSON *rate = cJSON_GetObjectItemCaseSensitive(in, "frames_per_s");
	put(&t, "input:    %" PRIu64 " sources (%" PRIu64 " active), %" PRIu64
	        " frames (%.0f/s), last frame %s ago\n",
	    num(in, "sources"), num(in, "sources_active"), num(in, "frames"),
	    cJSON_IsNumber(rate) ? rate->valuedouble : 0.0,
	    age(in, "last_frame_age_ms", "never", a, sizeof(a)));
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "dropped");
	put(&t, "dropped:  malformed %" PRIu64 ", kernel %" PRIu64 ", spool full %" PRIu64
	        ", corrupt %" PRIu64 " frames; quarantined %" PRIu64 " batches\n",
	    num(d, "malformed"), num(d, "kernel"), num(d, "spool_full"), num(d, "corrupt"),
	    num(d, "quarantined_batches"));
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(root, "transport");
	for (int k = 0; tp && k < 2; k++) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(tp, k ? "j1939" : "isotp");
		const cJSON *br = cJSON_GetObjectItemCaseSensitive(o, "broken"), *r;
		uint64_t total = 0;
		cJSON_ArrayForEach(r, br)
			total += num(br, r->string);
		put(&t, "%s   %" PRIu64 " messages reassembled, %" PRIu64 " broken sessions",
		    k ? "j1939:" : "isotp:", num(o, "messages"), total);
		cJSON_ArrayForEach(r, br)
			if (num(br, r->string))
				put(&t, "; %s %" PRIu64, r->string, num(br, r->string));
		put(&t, "\n");
	}
	const cJSON *bt = cJSON_GetObjectItemCaseSensitive(root, "batches");
	uint64_t raw = num(in, "text_bytes"), stored = num(bt, "stored_bytes");
	put(&t, "batches:  %" PRIu64 " sealed; %s as candump text -> %s stored (%.1fx)\n",
	    num(bt, "sealed"), human_bytes(raw, a, sizeof(a)), human_bytes(stored, b, sizeof(b)),
	    stored ? (double)raw / (double)stored : 0.0);
	const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "spool");
	put(&t, "spool:    %" PRIu64 " batches, %s, oldest %s%s\n", num(sp, "batches"),
	    human_bytes(num(sp, "bytes"), a, sizeof(a)), age(sp, "oldest_age_ms", "-", b, sizeof(b)),
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sp, "input_paused"))
	        ? "; INPUT PAUSED (the spool refuses writes)"
	        : "");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(root, "upload");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(u, "failures");
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(u, "latency_ms");
	put(&t, "uploads:  %" PRIu64 " batches (%s) acknowledged of %" PRIu64
	        " attempts; failures %" PRIu64 " (transient %" PRIu64 ", auth %" PRIu64
	        ", rejected %" PRIu64 "); latency last %s, mean %s\n",
	    num(u, "batches"), human_bytes(num(u, "bytes"), a, sizeof(a)), num(u, "attempts"),
	    num(f, "total"), num(f, "transient"), num(f, "auth"), num(f, "rejected"),
	    human_ms(num(l, "last"), b, sizeof(b)), human_ms(num(l, "mean"), c, sizeof(c)));
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "endpoints"))
	{
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "healthy")))
			put(&t, "endpoint: %s: healthy, last upload %s ago\n", str(e, "url"),
			    age(e, "last_ok_age_ms", "never (none yet)", a, sizeof(a)));
		else
			put(&t, "endpoint: %s: FAILING, %" PRIu64 " in a row, retry in %s; last: %s%s%s\n",
			    str(e, "url"), num(e, "consecutive_failures"),
			    human_ms(num(e, "retry_in_ms"), a, sizeof(a)),
			    num(e, "last_status") ? "HTTP " : "",
			    num(e, "last_status") ? (snprintf(b, sizeof(b), "%" PRIu64 " ",
			                                      num(e, "last_status")), b) : "",
			    str(e, "last_error"));
	}
	if (num(root, "reloads"))
		put(&t, "reloads:  %" PRIu64 " configuration reloads applied\n", num(root, "reloads"));
	cJSON_Delete(root);
	return CNP_OK;
}
