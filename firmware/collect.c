/*
 * Collection schemes: document compilation and the per-frame runtime. See
 * collect.h and docs/SCHEMES.md.
 */
#include "firmware/collect.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/expr.h"
#include "firmware/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NONE UINT32_MAX
#define NAME_MAX_LEN 128
#define JP 192 /* bytes of a JSON path in messages */

/* A scheme's wish for one signal. Rules of one signal are chained. */
struct rule {
	uint32_t scheme;
	uint32_t next;
	uint64_t interval_us;
	int on_change;
	int emitted;
	uint64_t last_ts, last_raw;
};

struct trigger {
	uint32_t scheme;
	char name[NAME_MAX_LEN];
	char *condition;
	struct cnp_expr *expr;
	int rising;
	uint64_t min_interval_us, before_us, after_us;
	int raw;
	int sig_all;       /* every signal in the window */
	uint8_t *sig_bits; /* else these slots (bitmap), NULL for none */
	int prev, fired;
	uint64_t last_fire;
	int dirty;
};

struct scheme {
	char name[NAME_MAX_LEN];
	int64_t priority;
	uint64_t start_us, expiry_us; /* 0: none */
};

struct ring_entry {
	struct cnp_frame f;
	uint8_t raw_done;
	uint8_t no_decode; /* a transport frame: its message is decoded instead */
};

struct window {
	uint32_t trigger;
	uint64_t until;
};

struct vss_pair {
	char *vss, *dbc;
	uint32_t slot; /* the DBC signal it names */
};

struct cnp_collector {
	struct cnp_collect_dbc dbcs[CNP_COLLECT_MAX_DBC];
	unsigned n_dbcs;
	int raw_all;
	int collect_all; /* no document: every signal */
	uint32_t dbc_base[CNP_COLLECT_MAX_DBC + 1]; /* first slot of each DBC */
	uint32_t *msg_base[CNP_COLLECT_MAX_DBC];    /* first slot of each message */
	uint8_t *msg_interest[CNP_COLLECT_MAX_DBC]; /* nonzero: decode its frames */
	int16_t iface_dbc[CNP_IFACE_MAX];           /* -1 none, -2 not looked up */
	unsigned nslots;
	double *values;
	uint64_t *stamps, *raws;
	uint32_t *rule_head;
	struct cnp_sig_desc **descs;
	uint32_t *trig_off; /* slot -> triggers reading it: trig_list[off[s]..off[s+1]) */
	uint32_t *trig_list;
	struct rule *rules;
	unsigned n_rules;
	struct scheme schemes[CNP_COLLECT_MAX_SCHEMES];
	unsigned n_schemes;
	struct trigger *trigs;
	unsigned n_trigs;
	uint32_t *trig_order; /* by scheme priority, highest first */
	struct vss_pair *vss;
	unsigned n_vss;
	char *version;
	/* Pre-trigger ring. */
	struct ring_entry *ring;
	unsigned ring_cap, ring_head, ring_n;
	/* Per ring entry, mask_words words: the signals of its frame (by index
	 * in their message) already passed on, so a window never repeats one. */
	uint64_t *masks;
	unsigned mask_words;
	uint64_t ring_keep_us;
	int ring_evicted;
	uint64_t ring_evicted_ts;
	struct window windows[CNP_COLLECT_MAX_WINDOWS];
	unsigned n_windows;
	int any_sig_all_window;
	size_t bytes;
	struct cnp_collect_stats st;
	/* While decoding one frame. */
	const struct cnp_collect_sink *sink;
	const struct cnp_frame *cur;
	struct ring_entry *cur_entry;
	uint32_t cur_base;
	int cur_rc;
	/* While flushing a window. */
	const struct trigger *flush_trig;
	struct ring_entry *flush_entry;
};

/* ---- errors ------------------------------------------------------------------ */

struct cctx {
	struct cnp_collector *c;
	const char *origin;
	char *why;
	size_t why_len;
	int rc;
};

static int bad(struct cctx *x, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct cctx *x, const char *path, const char *fmt, ...)
{
	if (x->rc)
		return x->rc;
	int n = snprintf(x->why, x->why_len, "%s: %s: ", x->origin, path);
	if (n >= 0 && (size_t)n < x->why_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->why + n, x->why_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	x->rc = CNP_ERR_INVAL;
	return x->rc;
}

static void *track(struct cnp_collector *c, void *p, size_t n)
{
	if (p)
		c->bytes += n;
	return p;
}

static void *zalloc(struct cnp_collector *c, size_t count, size_t size)
{
	return track(c, cnp_calloc(count ? count : 1, size), count * size);
}

#define json_type cnp_json_type_name

static int check_keys(struct cctx *x, const cJSON *obj, const char *path,
                      const char *const *keys)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		int ok = 0;
		for (const char *const *k = keys; *k && !ok; k++)
			ok = strcmp(*k, it->string) == 0;
		if (!ok)
			return bad(x, path, "unknown key \"%s\" (known: see docs/SCHEMES.md)",
			           it->string);
	}
	return CNP_OK;
}

static int get_uint(struct cctx *x, const cJSON *obj, const char *key, const char *path,
                    uint64_t max, uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return CNP_OK;
	if (cnp_json_uint(it, max, out) != CNP_OK)
		return bad(x, path, "expected a whole number from 0 to %llu, got %s",
		           (unsigned long long)max, json_type(it));
	return CNP_OK;
}

static int get_bool(struct cctx *x, const cJSON *obj, const char *key, const char *path,
                    int *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return CNP_OK;
	if (!cJSON_IsBool(it))
		return bad(x, path, "expected true or false, got %s", json_type(it));
	*out = cJSON_IsTrue(it);
	return CNP_OK;
}

static int get_name(struct cctx *x, const cJSON *obj, const char *key, const char *path,
                    char *out, size_t cap)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsString(it) || !it->valuestring[0])
		return bad(x, path, "expected a non-empty string, got %s", json_type(it));
	if (strlen(it->valuestring) >= cap)
		return bad(x, path, "longer than %zu characters", cap - 1);
	strcpy(out, it->valuestring);
	return CNP_OK;
}

/* "YYYY-MM-DDTHH:MM:SSZ" to µs since 1970. */
static int parse_time(const char *s, uint64_t *us)
{
	unsigned Y, M, D, h, m, sec;
	char z;
	int n = 0;
	if (sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u%c%n", &Y, &M, &D, &h, &m, &sec, &z, &n) != 7 ||
	    z != 'Z' || s[n] || Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 ||
	    m > 59 || sec > 60)
		return CNP_ERR_INVAL;
	/* Days from civil (Howard Hinnant's algorithm). */
	int y = (int)Y - (M <= 2);
	int era = y / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (M + (M > 2 ? (unsigned)-3 : 9)) + 2) / 5 + D - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + (int64_t)doe - 719468;
	*us = ((uint64_t)days * 86400u + h * 3600u + m * 60u + sec) * 1000000u;
	return CNP_OK;
}

static int get_time(struct cctx *x, const cJSON *obj, const char *key, const char *path,
                    uint64_t *out)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!it)
		return CNP_OK;
	if (!cJSON_IsString(it) || parse_time(it->valuestring, out) != CNP_OK)
		return bad(x, path, "expected a UTC time \"YYYY-MM-DDTHH:MM:SSZ\", got %s",
		           cJSON_IsString(it) ? it->valuestring : json_type(it));
	return CNP_OK;
}

/* ---- names ---------------------------------------------------------------------- */

static uint32_t slot_of(const struct cnp_collector *c, unsigned d,
                        const struct cnp_dbc_signal *s)
{
	const struct cnp_dbc_message *m0 = cnp_dbc_message_at(c->dbcs[d].db, 0);
	unsigned mi = (unsigned)(s->message - m0);
	return c->msg_base[d][mi] + (uint32_t)(s - s->message->signals);
}

/* Finds a DBC signal by "MESSAGE.SIGNAL" or by a signal name unique in all
 * the DBC files; VSS names are looked up first. */
static int resolve(const struct cnp_collector *c, const char *name, uint32_t *slot, char *why,
                   size_t why_len)
{
	for (unsigned i = 0; i < c->n_vss; i++) {
		if (strcmp(c->vss[i].vss, name) == 0) {
			name = c->vss[i].dbc;
			break;
		}
	}
	const char *dot = strchr(name, '.');
	char msg[NAME_MAX_LEN * 2];
	const char *sig = name;
	if (dot) {
		size_t n = (size_t)(dot - name);
		if (n >= sizeof(msg)) {
			snprintf(why, why_len, "no signal \"%s\"", name);
			return CNP_ERR_NOTFOUND;
		}
		memcpy(msg, name, n);
		msg[n] = 0;
		sig = dot + 1;
	}
	unsigned found = 0;
	const char *first_msg = "";
	for (unsigned d = 0; d < c->n_dbcs; d++) {
		const struct cnp_dbc *db = c->dbcs[d].db;
		for (unsigned mi = 0; mi < cnp_dbc_message_count(db); mi++) {
			const struct cnp_dbc_message *m = cnp_dbc_message_at(db, mi);
			if (dot && strcmp(m->name, msg) != 0 && strcmp(m->dbc_name, msg) != 0)
				continue;
			const struct cnp_dbc_signal *s = cnp_dbc_find_signal(m, sig);
			if (!s)
				continue;
			uint32_t k = slot_of(c, d, s);
			if (found && k != *slot) {
				snprintf(why, why_len, "signal \"%s\" is ambiguous (in %s and %s); "
				         "write MESSAGE.SIGNAL", name, first_msg, m->name);
				return CNP_ERR_INVAL;
			}
			*slot = k;
			first_msg = m->name;
			found = 1;
		}
	}
	if (!found) {
		snprintf(why, why_len, "no signal \"%s\" in the DBC file%s", name,
		         c->n_dbcs == 1 ? "" : "s");
		return CNP_ERR_NOTFOUND;
	}
	return CNP_OK;
}

static int expr_resolve(void *arg, const char *name, unsigned *slot, char *why, size_t why_len)
{
	uint32_t s;
	int rc = resolve(arg, name, &s, why, why_len);
	*slot = s;
	return rc;
}

static int add_vss(struct cctx *x, const cJSON *obj, const char *origin, const char *path)
{
	struct cnp_collector *c = x->c;
	if (!cJSON_IsObject(obj)) {
		const char *o = x->origin;
		x->origin = origin;
		bad(x, path, "expected an object of \"VSS.Path\": \"MESSAGE.SIGNAL\", got %s",
		    json_type(obj));
		x->origin = o;
		return x->rc;
	}
	unsigned n = (unsigned)cJSON_GetArraySize(obj);
	struct vss_pair *v = cnp_realloc(c->vss, (c->n_vss + n + 1) * sizeof(*v));
	if (!v)
		return x->rc = CNP_ERR_NOMEM;
	c->vss = v;
	const cJSON *it;
	cJSON_ArrayForEach(it, obj)
	{
		char p[NAME_MAX_LEN * 2 + 16];
		snprintf(p, sizeof(p), "%s[\"%.*s\"]", path, NAME_MAX_LEN, it->string);
		uint32_t slot;
		char why[256];
		if (!cJSON_IsString(it)) {
			const char *o = x->origin;
			x->origin = origin;
			bad(x, p, "expected a string \"MESSAGE.SIGNAL\", got %s", json_type(it));
			x->origin = o;
			return x->rc;
		}
		if (resolve(c, it->valuestring, &slot, why, sizeof(why)) != CNP_OK) {
			const char *o = x->origin;
			x->origin = origin;
			bad(x, p, "%s", why);
			x->origin = o;
			return x->rc;
		}
		c->vss[c->n_vss].slot = slot;
		c->vss[c->n_vss].vss = cnp_strdup(it->string);
		c->vss[c->n_vss].dbc = cnp_strdup(it->valuestring);
		if (!c->vss[c->n_vss].vss || !c->vss[c->n_vss].dbc) {
			cnp_free(c->vss[c->n_vss].vss);
			cnp_free(c->vss[c->n_vss].dbc);
			return x->rc = CNP_ERR_NOMEM;
		}
		c->n_vss++;
	}
	return CNP_OK;
}

/* The name a slot is collected under: its first VSS name, else "". */
static const char *vss_name(const struct cnp_collector *c, uint32_t slot)
{
	for (unsigned i = 0; i < c->n_vss; i++)
		if (c->vss[i].slot == slot)
			return c->vss[i].vss;
	return "";
}

/* ---- compiling a document ------------------------------------------------------ */

static int parse_signals(struct cctx *x, const cJSON *arr, const char *path, uint32_t scheme)
{
	struct cnp_collector *c = x->c;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CNP_COLLECT_MAX_SIGNALS)
		return bad(x, path, "expected an array of at most %d signals, got %s",
		           CNP_COLLECT_MAX_SIGNALS, cJSON_IsArray(arr) ? "more" : json_type(arr));
	unsigned i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		char p[JP], kp[300];
		snprintf(p, sizeof(p), "%.120s[%u]", path, i++);
		static const char *const keys[] = {"name", "interval_ms", "on_change", NULL};
		if (!cJSON_IsObject(it))
			return bad(x, p, "expected an object {\"name\": ..., \"interval_ms\": ..., "
			           "\"on_change\": ...}, got %s", json_type(it));
		if (check_keys(x, it, p, keys))
			return x->rc;
		char name[NAME_MAX_LEN * 2];
		uint64_t interval = 0;
		int on_change = 0;
		snprintf(kp, sizeof(kp), "%.120s.name", p);
		if (get_name(x, it, "name", kp, name, sizeof(name)))
			return x->rc;
		uint32_t slot;
		char why[256];
		if (resolve(c, name, &slot, why, sizeof(why)) != CNP_OK)
			return bad(x, kp, "%s", why);
		snprintf(kp, sizeof(kp), "%.120s.interval_ms", p);
		if (get_uint(x, it, "interval_ms", kp, 86400000u, &interval))
			return x->rc;
		snprintf(kp, sizeof(kp), "%.120s.on_change", p);
		if (get_bool(x, it, "on_change", kp, &on_change))
			return x->rc;
		struct rule *r = cnp_realloc(c->rules, (c->n_rules + 1) * sizeof(*r));
		if (!r)
			return x->rc = CNP_ERR_NOMEM;
		c->rules = r;
		r = &c->rules[c->n_rules];
		memset(r, 0, sizeof(*r));
		r->scheme = scheme;
		r->interval_us = interval * 1000u;
		r->on_change = on_change;
		/* Keep the chain in document order. */
		r->next = NONE;
		uint32_t *link = &c->rule_head[slot];
		while (*link != NONE)
			link = &c->rules[*link].next;
		*link = c->n_rules++;
	}
	return CNP_OK;
}

static int parse_trigger(struct cctx *x, const cJSON *it, const char *p, uint32_t scheme)
{
	struct cnp_collector *c = x->c;
	static const char *const keys[] = {"name", "condition", "rising_edge", "min_interval_ms",
	                                   "before_ms", "after_ms", "raw", "signals", NULL};
	char kp[JP];
	if (!cJSON_IsObject(it))
		return bad(x, p, "expected an object, got %s", json_type(it));
	if (check_keys(x, it, p, keys))
		return x->rc;
	struct trigger *t = &c->trigs[c->n_trigs];
	memset(t, 0, sizeof(*t));
	t->scheme = scheme;
	t->rising = 1;
	snprintf(kp, sizeof(kp), "%.120s.name", p);
	if (get_name(x, it, "name", kp, t->name, sizeof(t->name)))
		return x->rc;
	snprintf(kp, sizeof(kp), "%.120s.condition", p);
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(it, "condition");
	if (!cJSON_IsString(cond))
		return bad(x, kp, "expected an expression string, got %s", json_type(cond));
	char why[256];
	unsigned col = 0;
	int rc = cnp_expr_parse(cond->valuestring, expr_resolve, c, &t->expr, &col, why,
	                        sizeof(why));
	if (rc == CNP_ERR_NOMEM)
		return x->rc = rc;
	if (rc != CNP_OK)
		return bad(x, kp, "column %u: %s", col, why);
	c->n_trigs++; /* owns the expression from here on */
	if (!(t->condition = track(c, cnp_strdup(cond->valuestring), strlen(cond->valuestring))))
		return x->rc = CNP_ERR_NOMEM;
	uint64_t v = 0;
	snprintf(kp, sizeof(kp), "%.120s.rising_edge", p);
	if (get_bool(x, it, "rising_edge", kp, &t->rising))
		return x->rc;
	snprintf(kp, sizeof(kp), "%.120s.min_interval_ms", p);
	if (get_uint(x, it, "min_interval_ms", kp, 86400000u, &v))
		return x->rc;
	t->min_interval_us = v * 1000u;
	v = 0;
	snprintf(kp, sizeof(kp), "%.120s.before_ms", p);
	if (get_uint(x, it, "before_ms", kp, 3600000u, &v))
		return x->rc;
	t->before_us = v * 1000u;
	v = 0;
	snprintf(kp, sizeof(kp), "%.120s.after_ms", p);
	if (get_uint(x, it, "after_ms", kp, 3600000u, &v))
		return x->rc;
	t->after_us = v * 1000u;
	snprintf(kp, sizeof(kp), "%.120s.raw", p);
	if (get_bool(x, it, "raw", kp, &t->raw))
		return x->rc;
	const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(it, "signals");
	snprintf(kp, sizeof(kp), "%.120s.signals", p);
	if (cJSON_IsString(sigs) && strcmp(sigs->valuestring, "*") == 0) {
		t->sig_all = 1;
	} else if (cJSON_IsArray(sigs)) {
		t->sig_bits = zalloc(c, (c->nslots + 7) / 8, 1);
		if (!t->sig_bits)
			return x->rc = CNP_ERR_NOMEM;
		unsigned i = 0;
		const cJSON *s;
		cJSON_ArrayForEach(s, sigs)
		{
			char sp[JP];
			snprintf(sp, sizeof(sp), "%.120s[%u]", kp, i++);
			uint32_t slot;
			if (!cJSON_IsString(s))
				return bad(x, sp, "expected a signal name, got %s", json_type(s));
			if (resolve(c, s->valuestring, &slot, why, sizeof(why)) != CNP_OK)
				return bad(x, sp, "%s", why);
			t->sig_bits[slot / 8] |= (uint8_t)(1u << (slot % 8));
		}
	} else if (sigs) {
		return bad(x, kp, "expected an array of signal names or \"*\", got %s",
		           json_type(sigs));
	}
	if (!t->raw && !t->sig_all && !t->sig_bits && (t->before_us || t->after_us))
		return bad(x, p, "a window (before_ms/after_ms) needs \"raw\": true or "
		           "\"signals\" to capture");
	return CNP_OK;
}

static int parse_scheme(struct cctx *x, const cJSON *it, const char *p)
{
	struct cnp_collector *c = x->c;
	static const char *const keys[] = {"name", "priority", "start", "expiry", "signals",
	                                   "triggers", NULL};
	char kp[JP];
	if (!cJSON_IsObject(it))
		return bad(x, p, "expected a scheme object, got %s", json_type(it));
	if (check_keys(x, it, p, keys))
		return x->rc;
	uint32_t k = c->n_schemes;
	struct scheme *s = &c->schemes[k];
	snprintf(kp, sizeof(kp), "%.120s.name", p);
	if (get_name(x, it, "name", kp, s->name, sizeof(s->name)))
		return x->rc;
	for (uint32_t i = 0; i < k; i++)
		if (strcmp(c->schemes[i].name, s->name) == 0)
			return bad(x, kp, "a second scheme named \"%s\"", s->name);
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "priority");
	snprintf(kp, sizeof(kp), "%.120s.priority", p);
	if (pr && (!cJSON_IsNumber(pr) || pr->valuedouble != floor(pr->valuedouble) ||
	           fabs(pr->valuedouble) > 1e6))
		return bad(x, kp, "expected a whole number from -1000000 to 1000000");
	s->priority = pr ? (int64_t)pr->valuedouble : 0;
	snprintf(kp, sizeof(kp), "%.120s.start", p);
	if (get_time(x, it, "start", kp, &s->start_us))
		return x->rc;
	snprintf(kp, sizeof(kp), "%.120s.expiry", p);
	if (get_time(x, it, "expiry", kp, &s->expiry_us))
		return x->rc;
	if (s->expiry_us && s->expiry_us <= s->start_us)
		return bad(x, kp, "expires before it starts");
	c->n_schemes++;
	const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(it, "signals");
	snprintf(kp, sizeof(kp), "%.120s.signals", p);
	if (sigs && parse_signals(x, sigs, kp, k))
		return x->rc;
	const cJSON *trigs = cJSON_GetObjectItemCaseSensitive(it, "triggers");
	snprintf(kp, sizeof(kp), "%.120s.triggers", p);
	if (trigs) {
		if (!cJSON_IsArray(trigs) || cJSON_GetArraySize(trigs) > CNP_COLLECT_MAX_TRIGGERS)
			return bad(x, kp, "expected an array of at most %d triggers",
			           CNP_COLLECT_MAX_TRIGGERS);
		struct trigger *t = cnp_realloc(c->trigs, (c->n_trigs + (unsigned)cJSON_GetArraySize(trigs) + 1) *
		                                              sizeof(*t));
		if (!t)
			return x->rc = CNP_ERR_NOMEM;
		c->trigs = t;
		unsigned i = 0;
		const cJSON *tr;
		cJSON_ArrayForEach(tr, trigs)
		{
			char tp[JP];
			snprintf(tp, sizeof(tp), "%.120s[%u]", kp, i++);
			if (parse_trigger(x, tr, tp, k))
				return x->rc;
		}
	}
	if (!sigs && !trigs)
		return bad(x, p, "a scheme needs \"signals\" or \"triggers\"");
	return CNP_OK;
}

static int parse_document(struct cctx *x, const struct cnp_collect_options *o)
{
	struct cnp_collector *c = x->c;
	cnp_json_clear_alloc_failure();
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(o->doc, o->doc_len, &end, 0);
	if (!root) {
		if (cnp_json_alloc_failed())
			return x->rc = CNP_ERR_NOMEM;
		unsigned line = 1, col = 1;
		if (!end || end < o->doc || end > o->doc + o->doc_len)
			end = o->doc + o->doc_len;
		for (const char *q = o->doc; q < end; q++, col++)
			if (*q == '\n') {
				line++;
				col = 0;
			}
		char where[64];
		snprintf(where, sizeof(where), "line %u, column %u", line, col);
		return bad(x, where, "invalid JSON");
	}
	char path[JP];
	const cJSON *schemes = root;
	snprintf(path, sizeof(path), "%s", o->path ? o->path : "$");
	if (!o->doc_is_array) {
		static const char *const keys[] = {"version", "vss", "ring_frames", "schemes", NULL};
		if (!cJSON_IsObject(root)) {
			bad(x, path, "expected a scheme document object, got %s", json_type(root));
			goto out;
		}
		if (check_keys(x, root, path, keys))
			goto out;
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
		char kp[JP];
		snprintf(kp, sizeof(kp), "%.120s.version", path);
		if (v && (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > 63)) {
			bad(x, kp, "expected a string of 1 to 63 characters");
			goto out;
		}
		if (v && !(c->version = track(c, cnp_strdup(v->valuestring), 64))) {
			x->rc = CNP_ERR_NOMEM;
			goto out;
		}
		uint64_t ring = CNP_COLLECT_DEFAULT_RING;
		snprintf(kp, sizeof(kp), "%.120s.ring_frames", path);
		if (get_uint(x, root, "ring_frames", kp, CNP_COLLECT_MAX_RING, &ring))
			goto out;
		c->ring_cap = ring ? (unsigned)ring : 1;
		const cJSON *vss = cJSON_GetObjectItemCaseSensitive(root, "vss");
		snprintf(kp, sizeof(kp), "%.120s.vss", path);
		if (vss && add_vss(x, vss, x->origin, kp))
			goto out;
		schemes = cJSON_GetObjectItemCaseSensitive(root, "schemes");
		snprintf(path, sizeof(path), "%.120s.schemes", o->path ? o->path : "$");
	}
	if (!cJSON_IsArray(schemes) || cJSON_GetArraySize(schemes) > CNP_COLLECT_MAX_SCHEMES) {
		bad(x, path, "expected an array of at most %d schemes, got %s",
		    CNP_COLLECT_MAX_SCHEMES, cJSON_IsArray(schemes) ? "more" : json_type(schemes));
		goto out;
	}
	unsigned i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, schemes)
	{
		char p[JP];
		snprintf(p, sizeof(p), "%.120s[%u]", path, i++);
		if (parse_scheme(x, it, p))
			goto out;
	}
out:
	cJSON_Delete(root);
	return x->rc;
}

/* ---- building ------------------------------------------------------------------ */

static int build_slots(struct cnp_collector *c)
{
	uint32_t n = 0;
	for (unsigned d = 0; d < c->n_dbcs; d++) {
		const struct cnp_dbc *db = c->dbcs[d].db;
		unsigned nm = cnp_dbc_message_count(db);
		c->dbc_base[d] = n;
		c->msg_base[d] = zalloc(c, nm, sizeof(uint32_t));
		c->msg_interest[d] = zalloc(c, nm, 1);
		if (!c->msg_base[d] || !c->msg_interest[d])
			return CNP_ERR_NOMEM;
		for (unsigned mi = 0; mi < nm; mi++) {
			unsigned ns = cnp_dbc_message_at(db, mi)->n_signals;
			c->msg_base[d][mi] = n;
			n += ns;
			if ((ns + 63) / 64 > c->mask_words)
				c->mask_words = (ns + 63) / 64;
		}
	}
	c->dbc_base[c->n_dbcs] = n;
	c->nslots = n;
	c->values = zalloc(c, n, sizeof(double));
	c->stamps = zalloc(c, n, sizeof(uint64_t));
	c->raws = zalloc(c, n, sizeof(uint64_t));
	c->rule_head = zalloc(c, n, sizeof(uint32_t));
	c->descs = zalloc(c, n, sizeof(*c->descs));
	if (!c->values || !c->stamps || !c->raws || !c->rule_head || !c->descs)
		return CNP_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		c->values[i] = NAN;
		c->rule_head[i] = NONE;
	}
	return CNP_OK;
}

/* Marks the messages whose frames must be decoded, and indexes which
 * triggers read which slot. */
static int build_index(struct cnp_collector *c)
{
	c->trig_off = zalloc(c, c->nslots + 1, sizeof(uint32_t));
	if (!c->trig_off)
		return CNP_ERR_NOMEM;
	unsigned refs[CNP_EXPR_MAX_NODES];
	uint32_t total = 0;
	for (unsigned t = 0; t < c->n_trigs; t++) {
		unsigned n = cnp_expr_slots(c->trigs[t].expr, refs, CNP_EXPR_MAX_NODES);
		for (unsigned k = 0; k < n; k++)
			c->trig_off[refs[k] + 1]++;
		total += n;
	}
	for (uint32_t s = 0; s < c->nslots; s++)
		c->trig_off[s + 1] += c->trig_off[s];
	c->trig_list = zalloc(c, total, sizeof(uint32_t));
	uint32_t *fill = cnp_calloc(c->nslots + 1, sizeof(uint32_t));
	if (!c->trig_list || !fill) {
		cnp_free(fill);
		return CNP_ERR_NOMEM;
	}
	for (unsigned t = 0; t < c->n_trigs; t++) {
		unsigned n = cnp_expr_slots(c->trigs[t].expr, refs, CNP_EXPR_MAX_NODES);
		for (unsigned k = 0; k < n; k++)
			c->trig_list[c->trig_off[refs[k]] + fill[refs[k]]++] = t;
		if (c->trigs[t].before_us > c->ring_keep_us)
			c->ring_keep_us = c->trigs[t].before_us;
	}
	cnp_free(fill);
	c->trig_order = zalloc(c, c->n_trigs, sizeof(uint32_t));
	if (!c->trig_order)
		return CNP_ERR_NOMEM;
	for (unsigned t = 0; t < c->n_trigs; t++) {
		unsigned k = t;
		int64_t pr = c->schemes[c->trigs[t].scheme].priority;
		while (k > 0 && c->schemes[c->trigs[c->trig_order[k - 1]].scheme].priority < pr) {
			c->trig_order[k] = c->trig_order[k - 1];
			k--;
		}
		c->trig_order[k] = t;
	}
	for (unsigned d = 0; d < c->n_dbcs; d++) {
		for (unsigned mi = 0; mi < cnp_dbc_message_count(c->dbcs[d].db); mi++) {
			const struct cnp_dbc_message *m = cnp_dbc_message_at(c->dbcs[d].db, mi);
			for (unsigned k = 0; k < m->n_signals; k++) {
				uint32_t s = c->msg_base[d][mi] + k;
				int wanted = c->collect_all || c->rule_head[s] != NONE ||
				             c->trig_off[s + 1] > c->trig_off[s];
				for (unsigned t = 0; t < c->n_trigs && !wanted; t++)
					wanted = c->trigs[t].sig_bits &&
					         (c->trigs[t].sig_bits[s / 8] >> (s % 8)) & 1;
				if (wanted)
					c->msg_interest[d][mi] = 1;
			}
		}
	}
	return CNP_OK;
}

int cnp_collector_create(const struct cnp_collect_options *o, struct cnp_collector **out,
                         char *why, size_t why_len)
{
	*out = NULL;
	if (why_len)
		why[0] = 0;
	struct cnp_collector *c = cnp_calloc(1, sizeof(*c));
	if (!c)
		return CNP_ERR_NOMEM;
	c->bytes = sizeof(*c);
	struct cctx x = {.c = c, .origin = o->origin ? o->origin : "<schemes>", .why = why,
	                 .why_len = why_len, .rc = 0};
	int rc = CNP_ERR_INVAL;
	if (o->n_dbcs > CNP_COLLECT_MAX_DBC) {
		snprintf(why, why_len, "more than %d DBC files", CNP_COLLECT_MAX_DBC);
		goto fail;
	}
	c->n_dbcs = o->n_dbcs;
	memcpy(c->dbcs, o->dbcs, o->n_dbcs * sizeof(*o->dbcs));
	c->raw_all = o->raw_all;
	c->collect_all = o->doc == NULL;
	c->ring_cap = CNP_COLLECT_DEFAULT_RING;
	for (unsigned i = 0; i < CNP_IFACE_MAX; i++)
		c->iface_dbc[i] = -2;
	rc = build_slots(c);
	if (rc != CNP_OK)
		goto fail;
	if (o->vss) {
		cnp_json_clear_alloc_failure();
		cJSON *v = cJSON_ParseWithLength(o->vss, o->vss_len);
		const char *org = x.origin;
		x.origin = o->vss_origin ? o->vss_origin : "<vss>";
		if (!v) {
			if (cnp_json_alloc_failed())
				x.rc = CNP_ERR_NOMEM;
			else
				bad(&x, "$", "invalid JSON");
		} else {
			add_vss(&x, v, x.origin, "$");
			cJSON_Delete(v);
		}
		x.origin = org;
		if (x.rc) {
			rc = x.rc;
			goto fail;
		}
	}
	if (o->doc && o->doc_len > CNP_COLLECT_MAX_DOC_BYTES) {
		bad(&x, o->path ? o->path : "$", "larger than %u bytes", CNP_COLLECT_MAX_DOC_BYTES);
		rc = x.rc;
		goto fail;
	}
	if (o->doc && parse_document(&x, o) != CNP_OK) {
		rc = x.rc;
		goto fail;
	}
	rc = build_index(c);
	if (rc != CNP_OK)
		goto fail;
	if (c->ring_keep_us == 0)
		c->ring_cap = 1; /* the current frame only */
	/* One entry more, past the ring: the reassembled message being decoded. */
	c->ring = zalloc(c, (size_t)c->ring_cap + 1, sizeof(*c->ring));
	if (c->mask_words == 0)
		c->mask_words = 1;
	c->masks = zalloc(c, ((size_t)c->ring_cap + 1) * c->mask_words, sizeof(uint64_t));
	if (!c->ring || !c->masks) {
		rc = CNP_ERR_NOMEM;
		goto fail;
	}
	*out = c;
	return CNP_OK;
fail:
	if (rc == CNP_ERR_NOMEM)
		snprintf(why, why_len, "out of memory");
	cnp_collector_destroy(c);
	return rc;
}

void cnp_collector_destroy(struct cnp_collector *c)
{
	if (!c)
		return;
	for (unsigned d = 0; d < CNP_COLLECT_MAX_DBC; d++) {
		cnp_free(c->msg_base[d]);
		cnp_free(c->msg_interest[d]);
	}
	for (uint32_t s = 0; s < c->nslots && c->descs; s++)
		cnp_free(c->descs[s]);
	for (unsigned t = 0; t < c->n_trigs; t++) {
		cnp_expr_free(c->trigs[t].expr);
		cnp_free(c->trigs[t].condition);
		cnp_free(c->trigs[t].sig_bits);
	}
	for (unsigned i = 0; i < c->n_vss; i++) {
		cnp_free(c->vss[i].vss);
		cnp_free(c->vss[i].dbc);
	}
	cnp_free(c->vss);
	cnp_free(c->trigs);
	cnp_free(c->rules);
	cnp_free(c->values);
	cnp_free(c->stamps);
	cnp_free(c->raws);
	cnp_free(c->rule_head);
	cnp_free(c->descs);
	cnp_free(c->trig_off);
	cnp_free(c->trig_list);
	cnp_free(c->trig_order);
	cnp_free(c->ring);
	cnp_free(c->masks);
	cnp_free(c->version);
	cnp_free(c);
}

const char *cnp_collector_version(const struct cnp_collector *c)
{
	return c->version;
}

void cnp_collector_footprint(const struct cnp_collector *c, unsigned *signals, size_t *bytes)
{
	*signals = c->nslots;
	*bytes = c->bytes;
}

void cnp_collector_stats(const struct cnp_collector *c, struct cnp_collect_stats *s)
{
	*s = c->st;
}

/* ---- per frame ----------------------------------------------------------------- */

static int dbc_for(struct cnp_collector *c, const struct cnp_frame *f,
                   const struct cnp_ifaces *ifaces)
{
	unsigned i = f->iface % CNP_IFACE_MAX;
	if (c->iface_dbc[i] == -2) {
		c->iface_dbc[i] = -1;
		for (unsigned d = 0; d < c->n_dbcs && i < ifaces->count; d++)
			if (strcmp(c->dbcs[d].iface, ifaces->names[i]) == 0) {
				c->iface_dbc[i] = (int16_t)d;
				break;
			}
	}
	return c->iface_dbc[i];
}

void cnp_collect_desc_init(struct cnp_sig_desc *d, const struct cnp_dbc_signal *sig,
                           uint8_t iface)
{
	d->iface = iface;
	d->type = sig->value_type == CNP_DBC_FLOAT32   ? CNP_SIG_FLOAT32
	          : sig->value_type == CNP_DBC_FLOAT64 ? CNP_SIG_FLOAT64
	          : sig->is_signed                     ? CNP_SIG_SINT
	                                               : CNP_SIG_UINT;
	d->message = sig->message->name;
	d->signal = sig->name;
	d->name = "";
	d->unit = sig->unit;
	d->scale = sig->scale;
	d->offset = sig->offset;
}

static const struct cnp_sig_desc *desc_for(struct cnp_collector *c, uint32_t slot,
                                           const struct cnp_dbc_signal *sig, uint8_t iface)
{
	if (c->descs[slot])
		return c->descs[slot];
	struct cnp_sig_desc *d = zalloc(c, 1, sizeof(*d));
	if (!d)
		return NULL;
	cnp_collect_desc_init(d, sig, iface);
	d->name = vss_name(c, slot);
	c->descs[slot] = d;
	return d;
}

static int scheme_active(const struct cnp_collector *c, uint32_t k, uint64_t ts)
{
	const struct scheme *s = &c->schemes[k];
	return ts >= s->start_us && (s->expiry_us == 0 || ts < s->expiry_us);
}

static int rules_want(struct cnp_collector *c, uint32_t slot, uint64_t ts, uint64_t raw)
{
	int any = 0;
	for (uint32_t i = c->rule_head[slot]; i != NONE; i = c->rules[i].next) {
		struct rule *r = &c->rules[i];
		if (!scheme_active(c, r->scheme, ts))
			continue;
		if (r->emitted && r->interval_us && ts < r->last_ts + r->interval_us)
			continue;
		if (r->emitted && r->on_change && raw == r->last_raw)
			continue;
		r->emitted = 1;
		r->last_ts = ts;
		r->last_raw = raw;
		any = 1;
	}
	return any;
}

static int trigger_wants(const struct trigger *t, uint32_t slot)
{
	return t->sig_all || (t->sig_bits && (t->sig_bits[slot / 8] >> (slot % 8)) & 1);
}

static int window_wants(const struct cnp_collector *c, uint32_t slot)
{
	for (unsigned w = 0; w < c->n_windows; w++)
		if (trigger_wants(&c->trigs[c->windows[w].trigger], slot))
			return 1;
	return 0;
}

static uint64_t *mask_of(const struct cnp_collector *c, const struct ring_entry *e)
{
	return c->masks + (size_t)(e - c->ring) * c->mask_words;
}

static int emit_sample(struct cnp_collector *c, struct ring_entry *e, uint32_t slot,
                       const struct cnp_dbc_signal *sig, uint64_t raw)
{
	const struct cnp_sig_desc *d = desc_for(c, slot, sig, e->f.iface);
	if (!d)
		return CNP_ERR_NOMEM;
	int rc = c->sink->sample(c->sink->arg, d, e->f.ts_us, raw);
	if (rc != CNP_OK)
		return rc;
	unsigned idx = (unsigned)(sig - sig->message->signals);
	mask_of(c, e)[idx / 64] |= 1ull << (idx % 64);
	c->st.samples++;
	return CNP_OK;
}

static int on_signal(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	struct cnp_collector *c = arg;
	uint32_t slot = c->cur_base + (uint32_t)(sig - sig->message->signals);
	uint64_t ts = c->cur->ts_us;
	c->values[slot] = phys;
	c->stamps[slot] = ts;
	c->raws[slot] = raw;
	for (uint32_t k = c->trig_off[slot]; k < c->trig_off[slot + 1]; k++)
		c->trigs[c->trig_list[k]].dirty = 1;
	int want = c->collect_all;
	if (c->rule_head[slot] != NONE && rules_want(c, slot, ts, raw))
		want = 1;
	if (!want && c->n_windows && window_wants(c, slot))
		want = 1;
	return want ? emit_sample(c, c->cur_entry, slot, sig, raw) : CNP_OK;
}

/* Decoding a ring entry for a window that just opened. */
static int on_flush_signal(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	struct cnp_collector *c = arg;
	(void)phys;
	uint32_t slot = c->cur_base + (uint32_t)(sig - sig->message->signals);
	unsigned idx = (unsigned)(sig - sig->message->signals);
	if ((mask_of(c, c->flush_entry)[idx / 64] >> (idx % 64)) & 1)
		return CNP_OK;
	if (!trigger_wants(c->flush_trig, slot))
		return CNP_OK;
	return emit_sample(c, c->flush_entry, slot, sig, raw);
}

static const struct cnp_dbc_message *message_of(struct cnp_collector *c, int d,
                                                const struct cnp_frame *f, uint32_t *base,
                                                int *interest)
{
	if (d < 0 || (f->flags & (CNP_FRAME_ERR | CNP_FRAME_RTR)))
		return NULL;
	const struct cnp_dbc *db = c->dbcs[d].db;
	const struct cnp_dbc_message *m = cnp_dbc_find(db, f->id, f->flags & CNP_FRAME_EXT);
	if (!m)
		return NULL;
	unsigned mi = (unsigned)(m - cnp_dbc_message_at(db, 0));
	*base = c->msg_base[d][mi];
	*interest = c->msg_interest[d][mi];
	return m;
}

static int emit_event(struct cnp_collector *c, const struct trigger *t, uint64_t ts,
                      uint64_t from, int truncated)
{
	const struct scheme *s = &c->schemes[t->scheme];
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	int rc = CNP_ERR_NOMEM;
	if (!o || !cJSON_AddStringToObject(o, "type", "trigger") ||
	    cnp_json_add_uint(o, "ts_us", ts) ||
	    !cJSON_AddStringToObject(o, "scheme", s->name) ||
	    !cJSON_AddNumberToObject(o, "priority", (double)s->priority) ||
	    !cJSON_AddStringToObject(o, "trigger", t->name) ||
	    !cJSON_AddStringToObject(o, "condition", t->condition) ||
	    (c->version && !cJSON_AddStringToObject(o, "version", c->version)) ||
	    cnp_json_add_uint(o, "from_us", from) ||
	    cnp_json_add_uint(o, "to_us", ts + t->after_us) ||
	    !cJSON_AddBoolToObject(o, "raw", t->raw) ||
	    !cJSON_AddBoolToObject(o, "signals", t->sig_all || t->sig_bits) ||
	    !cJSON_AddBoolToObject(o, "truncated", truncated) ||
	    !(text = cJSON_PrintUnformatted(o)))
		goto out;
	rc = c->sink->event(c->sink->arg, text);
out:
	cJSON_free(text);
	cJSON_Delete(o);
	return rc;
}

static int fire(struct cnp_collector *c, uint32_t ti, const struct cnp_ifaces *ifaces)
{
	struct trigger *t = &c->trigs[ti];
	uint64_t ts = c->cur->ts_us;
	t->fired = 1;
	t->last_fire = ts;
	c->st.events++;
	uint64_t from = ts >= t->before_us ? ts - t->before_us : 0;
	int truncated = t->before_us && c->ring_evicted && c->ring_evicted_ts >= from;
	c->st.truncated += (uint64_t)truncated;
	int rc = emit_event(c, t, ts, from, truncated);
	if (rc != CNP_OK)
		return rc;
	if (t->after_us && (t->raw || t->sig_all || t->sig_bits)) {
		unsigned w = 0;
		while (w < c->n_windows && c->windows[w].trigger != ti)
			w++;
		if (w == c->n_windows && c->n_windows < CNP_COLLECT_MAX_WINDOWS)
			c->windows[c->n_windows++].trigger = ti;
		if (w < c->n_windows)
			c->windows[w].until = ts + t->after_us;
	}
	/* What the window holds from before the trigger, and the frame that
	 * fired it, if not passed on already. */
	c->flush_trig = t;
	for (unsigned i = 0; i < c->ring_n; i++) {
		struct ring_entry *e = &c->ring[(c->ring_head + i) % c->ring_cap];
		if (e->f.ts_us < from || e->f.ts_us > ts)
			continue;
		if (t->raw && !e->raw_done) {
			rc = c->sink->frame(c->sink->arg, &e->f);
			if (rc != CNP_OK)
				return rc;
			e->raw_done = 1;
			c->st.raw++;
		}
		if ((t->sig_all || t->sig_bits) && !e->no_decode) {
			uint32_t base;
			int interest;
			const struct cnp_dbc_message *m =
				message_of(c, dbc_for(c, &e->f, ifaces), &e->f, &base, &interest);
			if (!m)
				continue;
			c->flush_entry = e;
			c->cur_base = base;
			rc = cnp_dbc_decode(m, e->f.data, e->f.len, on_flush_signal, c);
			if (rc != CNP_OK)
				return rc;
		}
	}
	return CNP_OK;
}

static struct ring_entry *ring_push(struct cnp_collector *c, const struct cnp_frame *f)
{
	/* Forget frames older than the longest pre-trigger window. */
	while (c->ring_n) {
		const struct ring_entry *old = &c->ring[c->ring_head];
		if (c->ring_n < c->ring_cap && old->f.ts_us + c->ring_keep_us >= f->ts_us)
			break;
		if (c->ring_n == c->ring_cap && c->ring_keep_us) {
			c->ring_evicted = 1;
			c->ring_evicted_ts = old->f.ts_us;
		}
		c->ring_head = (c->ring_head + 1) % c->ring_cap;
		c->ring_n--;
	}
	struct ring_entry *e = &c->ring[(c->ring_head + c->ring_n++) % c->ring_cap];
	e->f = *f;
	memset(mask_of(c, e), 0, c->mask_words * sizeof(uint64_t));
	e->raw_done = 0;
	e->no_decode = 0;
	return e;
}

/* Ends the post-trigger windows past `ts`; says whether those open want
 * raw frames and every signal. */
static void windows_at(struct cnp_collector *c, uint64_t ts, int *raw, int *sig_all)
{
	for (unsigned w = 0; w < c->n_windows;) {
		if (c->windows[w].until < ts) {
			c->windows[w] = c->windows[--c->n_windows];
			continue;
		}
		*raw |= c->trigs[c->windows[w].trigger].raw;
		*sig_all |= c->trigs[c->windows[w].trigger].sig_all;
		w++;
	}
}

/* Decodes `data` (of c->cur_entry) as `m` and fires the triggers it makes
 * true. */
static int decode_and_fire(struct cnp_collector *c, const struct cnp_dbc_message *m,
                           uint32_t base, const uint8_t *data, unsigned len,
                           const struct cnp_ifaces *ifaces)
{
	uint64_t ts = c->cur->ts_us;
	c->cur_base = base;
	int rc = cnp_dbc_decode(m, data, len, on_signal, c);
	if (rc != CNP_OK)
		return rc;
	for (unsigned k = 0; k < c->n_trigs; k++) {
		uint32_t ti = c->trig_order[k];
		struct trigger *t = &c->trigs[ti];
		if (!t->dirty)
			continue;
		t->dirty = 0;
		if (!scheme_active(c, t->scheme, ts)) {
			t->prev = 0;
			continue;
		}
		int cond = cnp_expr_true(cnp_expr_eval(t->expr, c->values, c->stamps, ts));
		int go = cond && (!t->rising || !t->prev) &&
		         (!t->fired || ts >= t->last_fire + t->min_interval_us);
		t->prev = cond;
		if (go) {
			rc = fire(c, ti, ifaces);
			if (rc != CNP_OK)
				return rc;
		}
	}
	return CNP_OK;
}

static int frame_in(struct cnp_collector *c, const struct cnp_frame *f,
                    const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink,
                    int decode)
{
	c->sink = sink;
	c->cur = f;
	c->st.frames++;
	struct ring_entry *e = ring_push(c, f);
	e->no_decode = (uint8_t)!decode;
	c->cur_entry = e;
	int raw = c->raw_all, sig_all_window = 0;
	windows_at(c, f->ts_us, &raw, &sig_all_window);
	int rc;
	if (raw) {
		rc = sink->frame(sink->arg, f);
		if (rc != CNP_OK)
			return rc;
		e->raw_done = 1;
		c->st.raw++;
	}
	if (!decode)
		return CNP_OK;
	uint32_t base;
	int interest = 0;
	const struct cnp_dbc_message *m = message_of(c, dbc_for(c, f, ifaces), f, &base, &interest);
	if (!m)
		return CNP_OK;
	c->st.decoded++;
	if (!interest && !sig_all_window)
		return CNP_OK;
	return decode_and_fire(c, m, base, f->data, f->len, ifaces);
}

int cnp_collector_frame(struct cnp_collector *c, const struct cnp_frame *f,
                        const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink)
{
	return frame_in(c, f, ifaces, sink, 1);
}

int cnp_collector_transport_frame(struct cnp_collector *c, const struct cnp_frame *f,
                                  const struct cnp_ifaces *ifaces,
                                  const struct cnp_collect_sink *sink)
{
	return frame_in(c, f, ifaces, sink, 0);
}

int cnp_collector_message(struct cnp_collector *c, const struct cnp_collect_message *msg,
                          const struct cnp_ifaces *ifaces, const struct cnp_collect_sink *sink)
{
	struct ring_entry *e = &c->ring[c->ring_cap];
	memset(e, 0, sizeof(*e));
	memset(mask_of(c, e), 0, c->mask_words * sizeof(uint64_t));
	e->f.ts_us = msg->ts_us;
	e->f.id = msg->id;
	e->f.flags = msg->flags;
	e->f.iface = msg->iface;
	e->raw_done = 1;
	e->no_decode = 1; /* never flushed as a frame */
	c->sink = sink;
	c->cur = &e->f;
	c->cur_entry = e;
	int raw = 0, sig_all_window = 0;
	windows_at(c, msg->ts_us, &raw, &sig_all_window);
	uint32_t base;
	int interest = 0;
	const struct cnp_dbc_message *m =
		message_of(c, dbc_for(c, &e->f, ifaces), &e->f, &base, &interest);
	if (!m)
		return CNP_OK;
	c->st.messages++;
	if (!interest && !sig_all_window)
		return CNP_OK;
	return decode_and_fire(c, m, base, msg->data, msg->len, ifaces);
}
