#include "firmware/poll.h"

#include "firmware/alloc.h"
#include "firmware/dbc.h"
#include "firmware/error.h"
#include "firmware/json.h"
#include "platform/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 1000u
#define DEFAULT_PENDING_MS 5000u
#define DEFAULT_INTERVAL_MS 1000u
#define REOPEN_US 5000000u
/* How soon the poller wants to run again while a request is in flight. */
#define INFLIGHT_WAIT_US 2000u
/* Messages taken from a channel in one run, at most. */
#define RECV_BURST 16

/* Functional request ids of ISO 15765-4. */
#define FUNC_11 0x7DFu
#define FUNC_29 0x18DB33F1u

/* ---- SAE J1979 service 01 PIDs ------------------------------------------ */

static const struct cnp_obd_pid pids[] = {
	{0x00, 4, "PIDsSupported_01_20", "", 1, 0},
	{0x04, 1, "CalculatedEngineLoad", "%", 100.0 / 255.0, 0},
	{0x05, 1, "EngineCoolantTemperature", "degC", 1, -40},
	{0x0B, 1, "IntakeManifoldPressure", "kPa", 1, 0},
	{0x0C, 2, "EngineSpeed", "rpm", 0.25, 0},
	{0x0D, 1, "VehicleSpeed", "km/h", 1, 0},
	{0x0E, 1, "TimingAdvance", "deg", 0.5, -64},
	{0x0F, 1, "IntakeAirTemperature", "degC", 1, -40},
	{0x10, 2, "MAFAirFlowRate", "g/s", 0.01, 0},
	{0x11, 1, "ThrottlePosition", "%", 100.0 / 255.0, 0},
	{0x1F, 2, "RunTimeSinceEngineStart", "s", 1, 0},
	{0x20, 4, "PIDsSupported_21_40", "", 1, 0},
	{0x21, 2, "DistanceWithMILOn", "km", 1, 0},
	{0x2F, 1, "FuelTankLevel", "%", 100.0 / 255.0, 0},
	{0x31, 2, "DistanceSinceCodesCleared", "km", 1, 0},
	{0x33, 1, "BarometricPressure", "kPa", 1, 0},
	{0x40, 4, "PIDsSupported_41_60", "", 1, 0},
	{0x42, 2, "ControlModuleVoltage", "V", 0.001, 0},
	{0x46, 1, "AmbientAirTemperature", "degC", 1, -40},
	{0x5B, 1, "HybridBatteryRemainingLife", "%", 100.0 / 255.0, 0},
	{0x5C, 1, "EngineOilTemperature", "degC", 1, -40},
	{0x5E, 2, "EngineFuelRate", "L/h", 0.05, 0},
	{0x60, 4, "PIDsSupported_61_80", "", 1, 0},
	{0x80, 4, "PIDsSupported_81_A0", "", 1, 0},
	{0xA0, 4, "PIDsSupported_A1_C0", "", 1, 0},
	{0xA6, 4, "Odometer", "km", 0.1, 0},
	{0xC0, 4, "PIDsSupported_C1_E0", "", 1, 0},
	{0xE0, 4, "PIDsSupported_E1_FF", "", 1, 0},
};

const struct cnp_obd_pid *cnp_obd_pid(uint8_t pid)
{
	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
		if (pids[i].pid == pid)
			return &pids[i];
	return NULL;
}

void cnp_obd_dtc(uint8_t a, uint8_t b, char out[6])
{
	static const char sys[4] = {'P', 'C', 'B', 'U'};
	static const char hex[] = "0123456789ABCDEF";
	out[0] = sys[a >> 6];
	out[1] = hex[(a >> 4) & 3];
	out[2] = hex[a & 15];
	out[3] = hex[b >> 4];
	out[4] = hex[b & 15];
	out[5] = 0;
}

int cnp_obd_vin(const uint8_t *resp, size_t len, char out[18])
{
	/* 0x49 0x02, the number of data items (1), then 17 characters; some
	 * ECUs pad in front, so the last 17 bytes are the VIN. */
	if (len < 2 + 17 || resp[0] != 0x49 || resp[1] != 0x02)
		return CNP_ERR_INVAL;
	const uint8_t *v = resp + len - 17;
	for (int i = 0; i < 17; i++) {
		/* Printable, and nothing JSON would need escaped: the VIN goes
		 * into an event's JSON as it is (a VIN has only A-Z and 0-9). */
		if (v[i] < 0x21 || v[i] > 0x7E || v[i] == '"' || v[i] == '\\')
			return CNP_ERR_INVAL;
		out[i] = (char)v[i];
	}
	out[17] = 0;
	return CNP_OK;
}

/* ---- the poller ---------------------------------------------------------- */

enum outcome { OUT_OK = 0, OUT_TIMEOUT, OUT_NEGATIVE };

struct job {
	uint8_t service;
	uint16_t id;           /* PID or DID */
	uint32_t interval_us;
	unsigned tx_chan, rx_chan;
	uint64_t next_mono;
	enum outcome last;
	uint8_t last_nrc;
	uint64_t timeouts, negative;
	const struct cnp_obd_pid *pid;       /* service 01 */
	const struct cnp_dbc_message *msg;   /* service 22 */
	struct cnp_sig_desc desc;            /* service 01 value, 03/07 count */
	struct cnp_sig_desc *sig_descs;      /* service 22: one per DBC signal */
};

struct chan {
	struct cnp_poll_chan c;
	int h;              /* -1 while closed */
	uint64_t retry_mono;
	int reported;       /* the current failure was logged */
};

struct cnp_poller {
	char iface_name[16];
	uint8_t iface;
	const struct cnp_poll_link *link;
	uint64_t timeout_us, pending_us;
	struct cnp_dbc *db;
	struct job jobs[CNP_POLL_MAX_JOBS];
	unsigned n_jobs;
	struct chan chans[CNP_POLL_MAX_CHANS];
	unsigned n_chans;
	/* The request in flight: jobs[cur], answer due by `deadline`. */
	int cur;
	uint64_t deadline;
	struct cnp_poll_stats st;
	uint8_t buf[CNP_POLL_MAX_PDU + 1];
};

/* Parsing context. */
struct pctx {
	const struct cnp_poll_options *o;
	char *why;
	size_t why_len;
};

static int refuse(struct pctx *c, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct pctx *c, const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->why, c->why_len, "%s: %s: %s", c->o->origin, path, msg);
	return CNP_ERR_CONFIG;
}

/* A number, or a string of hex digits ("7E0", "0x7E0"), in [0, max]. */
static int get_num(struct pctx *c, const cJSON *j, const char *path, uint64_t max,
                   uint64_t *out)
{
	if (cJSON_IsString(j)) {
		const char *s = j->valuestring;
		if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
			s += 2;
		char *end = NULL;
		unsigned long long v = *s ? strtoull(s, &end, 16) : 0;
		if (!*s || *end || *s == '-' || *s == '+' || v > max)
			return refuse(c, path, "expected hex digits up to 0x%" PRIX64 ", got \"%s\"", max,
			              j->valuestring);
		*out = v;
		return CNP_OK;
	}
	if (cnp_json_uint(j, max, out) != CNP_OK)
		return refuse(c, path, "expected a whole number up to %" PRIu64
		                       " or a string of hex digits, got %s",
		              max, cnp_json_type_name(j));
	return CNP_OK;
}

static int check_keys(struct pctx *c, const cJSON *obj, const char *path,
                      const char *const *known)
{
	for (const cJSON *it = obj->child; it; it = it->next) {
		const char *const *k = known;
		while (*k && strcmp(*k, it->string))
			k++;
		if (!*k)
			return refuse(c, path, "unknown key \"%s\"", it->string);
	}
	return CNP_OK;
}

/* Addressing of the whole block or of one request (which inherits). */
struct addr {
	int ids29;
	int functional;
	uint64_t ecu;
	uint64_t tx_id, rx_id; /* 0: from ecu */
};

static int parse_addr(struct pctx *c, const cJSON *obj, const char *path, struct addr *a)
{
	char p[448];
	uint64_t v;
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, "ids");
	if (j) {
		snprintf(p, sizeof(p), "%s.ids", path);
		if (cnp_json_uint(j, 29, &v) != CNP_OK || (v != 11 && v != 29))
			return refuse(c, p, "expected 11 or 29");
		if ((v == 29) != a->ids29) {
			a->ids29 = v == 29;
			a->ecu = a->ids29 ? 0x10 : 0x7E0;
		}
	}
	j = cJSON_GetObjectItemCaseSensitive(obj, "addressing");
	if (j) {
		snprintf(p, sizeof(p), "%s.addressing", path);
		if (!cJSON_IsString(j) || (strcmp(j->valuestring, "functional") &&
		                           strcmp(j->valuestring, "physical")))
			return refuse(c, p, "expected \"functional\" or \"physical\"");
		a->functional = !strcmp(j->valuestring, "functional");
	}
	j = cJSON_GetObjectItemCaseSensitive(obj, "ecu");
	if (j) {
		snprintf(p, sizeof(p), "%s.ecu", path);
		int rc = get_num(c, j, p, a->ids29 ? 0xFF : 0x7F7, &a->ecu);
		if (rc != CNP_OK)
			return rc;
	}
	static const char *const idk[2] = {"tx_id", "rx_id"};
	for (int k = 0; k < 2; k++) {
		j = cJSON_GetObjectItemCaseSensitive(obj, idk[k]);
		if (!j)
			continue;
		snprintf(p, sizeof(p), "%s.%s", path, idk[k]);
		int rc = get_num(c, j, p, a->ids29 ? 0x1FFFFFFF : 0x7FF, k ? &a->rx_id : &a->tx_id);
		if (rc != CNP_OK)
			return rc;
	}
	if (!a->tx_id != !a->rx_id)
		return refuse(c, path, "give tx_id and rx_id together");
	return CNP_OK;
}

static int add_chan(struct cnp_poller *p, struct pctx *c, const char *path,
                    const struct cnp_poll_chan *ch, unsigned *out)
{
	for (unsigned i = 0; i < p->n_chans; i++) {
		const struct cnp_poll_chan *o = &p->chans[i].c;
		if (o->tx_id == ch->tx_id && o->rx_id == ch->rx_id && o->extended == ch->extended &&
		    o->functional == ch->functional) {
			*out = i;
			return CNP_OK;
		}
	}
	if (p->n_chans >= CNP_POLL_MAX_CHANS)
		return refuse(c, path, "more than %d distinct address pairs", CNP_POLL_MAX_CHANS);
	p->chans[p->n_chans].c = *ch;
	p->chans[p->n_chans].h = -1;
	*out = p->n_chans++;
	return CNP_OK;
}

static const char *svc_signal(uint8_t service)
{
	return service == 0x03 ? "StoredDTCCount" : "PendingDTCCount";
}

static int add_job(struct cnp_poller *p, struct pctx *c, const char *path, uint8_t service,
                   uint64_t id, uint32_t interval_ms, const struct addr *a)
{
	if (p->n_jobs >= CNP_POLL_MAX_JOBS)
		return refuse(c, path, "more than %d PIDs and DIDs in all", CNP_POLL_MAX_JOBS);
	struct job *j = &p->jobs[p->n_jobs];
	memset(j, 0, sizeof(*j));
	j->service = service;
	j->id = (uint16_t)id;
	j->interval_us = interval_ms * 1000u;
	if (service == 0x01) {
		j->pid = cnp_obd_pid((uint8_t)id);
		if (!j->pid)
			return refuse(c, path, "service 01 PID 0x%02X has no built-in formula "
			                       "(docs/POLLING.md lists them)", (unsigned)id);
		j->desc = (struct cnp_sig_desc){.type = CNP_SIG_UINT, .message = "OBD2",
		                                .signal = j->pid->name, .name = "",
		                                .unit = j->pid->unit, .scale = j->pid->scale,
		                                .offset = j->pid->offset};
	} else if (service == 0x09) {
		if (id != 0x02 && id != 0x00)
			return refuse(c, path, "service 09 supports PID 0x02 (VIN) and 0x00 here");
		j->desc = (struct cnp_sig_desc){.type = CNP_SIG_UINT, .message = "OBD2",
		                                .signal = "PIDsSupported_09_01_20", .name = "",
		                                .unit = "", .scale = 1, .offset = 0};
	} else if (service == 0x22) {
		if (!p->db)
			return refuse(c, path, "UDS identifiers need a DBC file ($.capture.polling.dbc)");
		j->msg = cnp_dbc_find(p->db, (uint32_t)id, id > 0x7FF);
		if (!j->msg)
			return refuse(c, path, "no message with id %" PRIu64 " (0x%" PRIX64
			                       ") in %s for this DID",
			              id, id, c->o->dbc_path);
		j->sig_descs = cnp_calloc(j->msg->n_signals ? j->msg->n_signals : 1,
		                          sizeof(*j->sig_descs));
		if (!j->sig_descs)
			return CNP_ERR_NOMEM;
		for (unsigned k = 0; k < j->msg->n_signals; k++)
			cnp_collect_desc_init(&j->sig_descs[k], &j->msg->signals[k], 0);
	} else {
		j->desc = (struct cnp_sig_desc){.type = CNP_SIG_UINT, .message = "OBD2",
		                                .signal = svc_signal(service), .name = "",
		                                .unit = "", .scale = 1, .offset = 0};
	}
	struct cnp_poll_chan rx = {.extended = a->ids29};
	if (a->tx_id) {
		rx.tx_id = (uint32_t)a->tx_id;
		rx.rx_id = (uint32_t)a->rx_id;
	} else if (a->ids29) {
		rx.tx_id = 0x18DA00F1u | (uint32_t)a->ecu << 8;
		rx.rx_id = 0x18DAF100u | (uint32_t)a->ecu;
	} else {
		rx.tx_id = (uint32_t)a->ecu;
		rx.rx_id = (uint32_t)a->ecu + 8;
	}
	int rc = add_chan(p, c, path, &rx, &j->rx_chan);
	if (rc != CNP_OK)
		return rc;
	j->tx_chan = j->rx_chan;
	if (a->functional) {
		struct cnp_poll_chan tx = rx;
		tx.functional = 1;
		tx.tx_id = a->ids29 ? FUNC_29 : FUNC_11;
		rc = add_chan(p, c, path, &tx, &j->tx_chan);
		if (rc != CNP_OK)
			return rc;
	}
	p->n_jobs++;
	return CNP_OK;
}

static int parse_request(struct cnp_poller *p, struct pctx *c, const cJSON *r,
                         const char *path, struct addr a)
{
	static const char *const keys[] = {"service", "pids", "pid", "dids", "did",
	                                   "interval_ms", "ids", "addressing", "ecu",
	                                   "tx_id", "rx_id", NULL};
	char q[384];
	if (!cJSON_IsObject(r))
		return refuse(c, path, "expected an object, got %s", cnp_json_type_name(r));
	int rc = check_keys(c, r, path, keys);
	if (rc == CNP_OK)
		rc = parse_addr(c, r, path, &a);
	if (rc != CNP_OK)
		return rc;
	uint64_t service, interval = DEFAULT_INTERVAL_MS;
	snprintf(q, sizeof(q), "%s.service", path);
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(r, "service");
	if (!j)
		return refuse(c, q, "missing: 01, 03, 07, 09 or 22 (hex strings or numbers)");
	if ((rc = get_num(c, j, q, 0xFF, &service)) != CNP_OK)
		return rc;
	if (service != 0x01 && service != 0x03 && service != 0x07 && service != 0x09 &&
	    service != 0x22)
		return refuse(c, q, "service 0x%02" PRIX64 " is not supported (01, 03, 07, 09, 22)",
		              service);
	snprintf(q, sizeof(q), "%s.interval_ms", path);
	j = cJSON_GetObjectItemCaseSensitive(r, "interval_ms");
	if (j && (cnp_json_uint(j, 86400000u, &interval) != CNP_OK || interval < 10))
		return refuse(c, q, "expected a whole number from 10 to 86400000");
	const char *many = service == 0x22 ? "dids" : "pids";
	const char *one = service == 0x22 ? "did" : "pid";
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(r, many);
	const cJSON *single = cJSON_GetObjectItemCaseSensitive(r, one);
	const char *other = service == 0x22 ? "pids" : "dids";
	if (cJSON_GetObjectItemCaseSensitive(r, other) ||
	    cJSON_GetObjectItemCaseSensitive(r, service == 0x22 ? "pid" : "did"))
		return refuse(c, path, "service %02" PRIX64 " takes \"%s\", not \"%s\"", service,
		              many, other);
	if (service == 0x03 || service == 0x07) {
		if (arr || single)
			return refuse(c, path, "service %02" PRIX64 " takes no PID", service);
		return add_job(p, c, path, (uint8_t)service, 0, (uint32_t)interval, &a);
	}
	if (arr && single)
		return refuse(c, path, "give \"%s\" or \"%s\", not both", many, one);
	if (single) {
		snprintf(q, sizeof(q), "%s.%s", path, one);
		uint64_t id;
		rc = get_num(c, single, q, service == 0x22 ? 0xFFFF : 0xFF, &id);
		return rc != CNP_OK ? rc : add_job(p, c, q, (uint8_t)service, id, (uint32_t)interval, &a);
	}
	snprintf(q, sizeof(q), "%s.%s", path, many);
	if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr))
		return refuse(c, arr ? q : path, "expected \"%s\": a non-empty array (or \"%s\")",
		              many, one);
	unsigned k = 0;
	for (const cJSON *it = arr->child; it; it = it->next, k++) {
		snprintf(q, sizeof(q), "%s.%s[%u]", path, many, k);
		uint64_t id;
		rc = get_num(c, it, q, service == 0x22 ? 0xFFFF : 0xFF, &id);
		if (rc == CNP_OK)
			rc = add_job(p, c, q, (uint8_t)service, id, (uint32_t)interval, &a);
		if (rc != CNP_OK)
			return rc;
	}
	return CNP_OK;
}

static int parse(struct cnp_poller *p, struct pctx *c, const cJSON *root)
{
	static const char *const keys[] = {"interface", "ids", "addressing", "ecu", "tx_id",
	                                   "rx_id", "timeout_ms", "pending_timeout_ms",
	                                   "dbc", "requests", NULL};
	const char *path = c->o->path;
	char q[256];
	if (!cJSON_IsObject(root))
		return refuse(c, path, "expected an object, got %s", cnp_json_type_name(root));
	int rc = check_keys(c, root, path, keys);
	if (rc != CNP_OK)
		return rc;
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "interface");
	snprintf(q, sizeof(q), "%s.interface", path);
	if (!cJSON_IsString(j) || !j->valuestring[0] ||
	    strlen(j->valuestring) >= sizeof(p->iface_name))
		return refuse(c, q, "expected the CAN interface's name (\"can0\")");
	strcpy(p->iface_name, j->valuestring);
	static const char *const tk[2] = {"timeout_ms", "pending_timeout_ms"};
	uint64_t t[2] = {DEFAULT_TIMEOUT_MS, DEFAULT_PENDING_MS};
	for (int k = 0; k < 2; k++) {
		j = cJSON_GetObjectItemCaseSensitive(root, tk[k]);
		snprintf(q, sizeof(q), "%s.%s", path, tk[k]);
		if (j && (cnp_json_uint(j, 600000u, &t[k]) != CNP_OK || t[k] < 10))
			return refuse(c, q, "expected a whole number from 10 to 600000");
	}
	p->timeout_us = t[0] * 1000u;
	p->pending_us = t[1] * 1000u;
	struct addr a = {.ids29 = 0, .functional = 1, .ecu = 0x7E0};
	if ((rc = parse_addr(c, root, path, &a)) != CNP_OK)
		return rc;
	if (c->o->dbc_path && c->o->dbc_path[0]) {
		struct cnp_dbc_error err;
		memset(&err, 0, sizeof(err));
		rc = cnp_dbc_load(c->o->dbc_path, NULL, &p->db, &err);
		snprintf(q, sizeof(q), "%s.dbc", path);
		if (rc == CNP_ERR_NOMEM)
			return rc;
		if (rc != CNP_OK)
			return refuse(c, q, "%s: %s", c->o->dbc_path, cnp_strerror(rc));
	}
	const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(root, "requests");
	snprintf(q, sizeof(q), "%s.requests", path);
	if (!cJSON_IsArray(reqs) || !cJSON_GetArraySize(reqs))
		return refuse(c, q, "expected a non-empty array of requests");
	unsigned k = 0;
	for (const cJSON *it = reqs->child; it; it = it->next, k++) {
		snprintf(q, sizeof(q), "%s.requests[%u]", path, k);
		if ((rc = parse_request(p, c, it, q, a)) != CNP_OK)
			return rc;
	}
	return CNP_OK;
}

int cnp_poller_create(const struct cnp_poll_options *o, struct cnp_poller **out, char *why,
                      size_t why_len)
{
	*out = NULL;
	struct cnp_poller *p = cnp_calloc(1, sizeof(*p));
	if (!p)
		return CNP_ERR_NOMEM;
	p->cur = -1;
	struct pctx c = {o, why, why_len};
	cnp_json_clear_alloc_failure();
	cJSON *root = cJSON_ParseWithLength(o->json, o->json_len);
	int rc;
	if (!root)
		rc = cnp_json_alloc_failed() ? CNP_ERR_NOMEM
		                             : refuse(&c, o->path, "not valid JSON");
	else
		rc = parse(p, &c, root);
	cJSON_Delete(root);
	if (rc != CNP_OK) {
		cnp_poller_destroy(p);
		return rc;
	}
	*out = p;
	return CNP_OK;
}

void cnp_poller_destroy(struct cnp_poller *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n_chans; i++)
		if (p->chans[i].h >= 0 && p->link)
			p->link->close(p->link->ctx, p->chans[i].h);
	for (unsigned i = 0; i < p->n_jobs; i++)
		cnp_free(p->jobs[i].sig_descs);
	cnp_dbc_free(p->db);
	cnp_free(p);
}

const char *cnp_poller_iface(const struct cnp_poller *p)
{
	return p->iface_name;
}

void cnp_poller_attach(struct cnp_poller *p, const struct cnp_poll_link *link, uint8_t iface)
{
	p->link = link;
	p->iface = iface;
	for (unsigned i = 0; i < p->n_jobs; i++) {
		struct job *j = &p->jobs[i];
		j->desc.iface = iface;
		if (j->msg)
			for (unsigned k = 0; k < j->msg->n_signals; k++)
				j->sig_descs[k].iface = iface;
	}
}

void cnp_poller_stats(const struct cnp_poller *p, struct cnp_poll_stats *s)
{
	*s = p->st;
}

static int chan_ready(struct cnp_poller *p, unsigned i, uint64_t now)
{
	struct chan *ch = &p->chans[i];
	if (ch->h >= 0)
		return 1;
	if (now < ch->retry_mono)
		return 0;
	char why[256] = "";
	int h = p->link->open(p->link->ctx, &ch->c, why, sizeof(why));
	if (h >= 0) {
		if (ch->reported)
			cnp_info("polling: %s: ISO-TP channel 0x%" PRIX32 " -> 0x%" PRIX32 " open",
			         p->iface_name, ch->c.tx_id, ch->c.rx_id);
		ch->h = h;
		ch->reported = 0;
		return 1;
	}
	if (!ch->reported)
		cnp_error("polling: %s: cannot open the ISO-TP channel 0x%" PRIX32 " -> 0x%" PRIX32
		          ": %s; retrying every %u s",
		          p->iface_name, ch->c.tx_id, ch->c.rx_id, why, REOPEN_US / 1000000u);
	ch->reported = 1;
	ch->retry_mono = now + REOPEN_US;
	return 0;
}

static void request_text(const struct job *j, char *out, size_t n)
{
	if (j->service == 0x03 || j->service == 0x07)
		snprintf(out, n, "%02X", j->service);
	else if (j->service == 0x22)
		snprintf(out, n, "22 %04X", j->id);
	else
		snprintf(out, n, "%02X %02X", j->service, j->id);
}

/* The name of a negative response code (ISO 14229-1). */
static const char *nrc_text(uint8_t nrc)
{
	switch (nrc) {
	case 0x10: return "(0x10 generalReject)";
	case 0x11: return "(0x11 serviceNotSupported)";
	case 0x12: return "(0x12 subFunctionNotSupported)";
	case 0x13: return "(0x13 incorrectMessageLengthOrInvalidFormat)";
	case 0x14: return "(0x14 responseTooLong)";
	case 0x21: return "(0x21 busyRepeatRequest)";
	case 0x22: return "(0x22 conditionsNotCorrect)";
	case 0x31: return "(0x31 requestOutOfRange)";
	case 0x33: return "(0x33 securityAccessDenied)";
	case 0x7F: return "(0x7F serviceNotSupportedInActiveSession)";
	default: return "(see the event's nrc)";
	}
}

/* An event when a request's outcome changes (first failure, recovery). */
static int outcome(struct cnp_poller *p, struct job *j, enum outcome o, uint8_t nrc,
                   uint64_t wall, const struct cnp_collect_sink *sink)
{
	if (o == OUT_TIMEOUT)
		j->timeouts++;
	if (o == OUT_NEGATIVE)
		j->negative++;
	if (o == j->last && (o != OUT_NEGATIVE || nrc == j->last_nrc))
		return CNP_OK;
	j->last = o;
	j->last_nrc = nrc;
	char req[16], nrcs[32] = "";
	request_text(j, req, sizeof(req));
	const struct cnp_poll_chan *tx = &p->chans[j->tx_chan].c, *rx = &p->chans[j->rx_chan].c;
	static const char *const names[] = {"ok", "timeout", "negative"};
	if (o == OUT_NEGATIVE)
		snprintf(nrcs, sizeof(nrcs), ",\"nrc\":\"0x%02X\"", nrc);
	if (o == OUT_OK)
		cnp_info("polling: %s: request %s answered again", p->iface_name, req);
	else
		cnp_warn("polling: %s: request %s to 0x%" PRIX32 ": %s %s (reported once until it "
		         "changes; counted in the status file)",
		         p->iface_name, req, tx->tx_id, names[o], o == OUT_NEGATIVE ? nrc_text(nrc) : "");
	char json[384];
	snprintf(json, sizeof(json),
	         "{\"type\":\"poll\",\"ts_us\":%" PRIu64 ",\"interface\":\"%s\",\"request\":\"%s\","
	         "\"tx_id\":\"0x%" PRIX32 "\",\"rx_id\":\"0x%" PRIX32 "\",\"outcome\":\"%s\"%s,"
	         "\"timeouts\":%" PRIu64 ",\"negative\":%" PRIu64 "}",
	         wall, p->iface_name, req, tx->tx_id, rx->rx_id, names[o], nrcs, j->timeouts,
	         j->negative);
	p->st.events++;
	return sink->event(sink->arg, json);
}

static int sample(struct cnp_poller *p, const struct cnp_sig_desc *d, uint64_t wall,
                  uint64_t raw, const struct cnp_collect_sink *sink)
{
	p->st.samples++;
	return sink->sample(sink->arg, d, wall, raw);
}

struct uds_ctx {
	struct cnp_poller *p;
	struct job *j;
	uint64_t wall;
	const struct cnp_collect_sink *sink;
};

static int uds_signal(const struct cnp_dbc_signal *sig, uint64_t raw, double phys, void *arg)
{
	(void)phys;
	struct uds_ctx *u = arg;
	unsigned k = (unsigned)(sig - u->j->msg->signals);
	return sample(u->p, &u->j->sig_descs[k], u->wall, raw, u->sink);
}

static uint64_t be(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

/* Decodes a positive response (already matched to j). */
static int decode(struct cnp_poller *p, struct job *j, const uint8_t *r, size_t n,
                  uint64_t wall, const struct cnp_collect_sink *sink)
{
	const struct cnp_poll_chan *rx = &p->chans[j->rx_chan].c;
	switch (j->service) {
	case 0x01:
		return sample(p, &j->desc, wall, be(r + 2, j->pid->bytes), sink);
	case 0x09: {
		if (j->id == 0x00)
			return sample(p, &j->desc, wall, be(r + 2, 4), sink);
		char vin[18], json[160];
		if (cnp_obd_vin(r, n, vin) != CNP_OK) {
			p->st.unexpected++;
			return CNP_OK;
		}
		snprintf(json, sizeof(json),
		         "{\"type\":\"vin\",\"ts_us\":%" PRIu64 ",\"interface\":\"%s\",\"rx_id\":\"0x%"
		         PRIX32 "\",\"vin\":\"%s\"}",
		         wall, p->iface_name, rx->rx_id, vin);
		p->st.events++;
		return sink->event(sink->arg, json);
	}
	case 0x03:
	case 0x07: {
		size_t count = r[1], max = (n - 2) / 2;
		if (count > max)
			count = max;
		char *json = cnp_malloc(160 + count * 8);
		if (!json)
			return CNP_ERR_NOMEM;
		int len = snprintf(json, 160,
		                   "{\"type\":\"dtc\",\"ts_us\":%" PRIu64 ",\"interface\":\"%s\","
		                   "\"service\":\"%02X\",\"rx_id\":\"0x%" PRIX32 "\",\"codes\":[",
		                   wall, p->iface_name, j->service, rx->rx_id);
		size_t at = (size_t)len;
		uint64_t real = 0;
		for (size_t k = 0; k < count; k++) {
			uint8_t a = r[2 + 2 * k], b = r[3 + 2 * k];
			if (!a && !b)
				continue; /* padding */
			char code[6];
			cnp_obd_dtc(a, b, code);
			at += (size_t)sprintf(json + at, "%s\"%s\"", real ? "," : "", code);
			real++;
		}
		strcpy(json + at, "]}");
		int rc = sample(p, &j->desc, wall, real, sink);
		if (rc == CNP_OK) {
			p->st.events++;
			rc = sink->event(sink->arg, json);
		}
		cnp_free(json);
		return rc;
	}
	default: {
		struct uds_ctx u = {p, j, wall, sink};
		return cnp_dbc_decode(j->msg, r + 3, (unsigned)(n - 3), uds_signal, &u);
	}
	}
}

/* Does message r (n bytes) answer j positively? */
static int matches(const struct job *j, const uint8_t *r, size_t n)
{
	if (n < 1 || r[0] != j->service + 0x40)
		return 0;
	switch (j->service) {
	case 0x01:
		return n >= 2u + j->pid->bytes && r[1] == j->id;
	case 0x09: {
		char vin[18];
		if (j->id == 0x02)
			return cnp_obd_vin(r, n, vin) == CNP_OK;
		return n >= 6u && r[1] == j->id;
	}
	case 0x22:
		return n >= 3 && be(r + 1, 2) == j->id;
	default:
		return n >= 2;
	}
}

/* Takes what the in-flight request's channel holds. 1: the request is done. */
static int take(struct cnp_poller *p, uint64_t mono, uint64_t wall,
                const struct cnp_collect_sink *sink, int *rc)
{
	struct job *j = &p->jobs[p->cur];
	struct chan *ch = &p->chans[j->rx_chan];
	for (int k = 0; k < RECV_BURST; k++) {
		size_t n = 0;
		int r = p->link->recv(p->link->ctx, ch->h, p->buf, sizeof(p->buf), &n);
		if (r == CNP_ERR_AGAIN)
			break;
		if (r != CNP_OK)
			break; /* counted as a timeout if nothing else comes */
		if (n >= 3 && p->buf[0] == 0x7F && p->buf[1] == j->service) {
			if (p->buf[2] == 0x78) {
				p->st.pending++;
				p->deadline = mono + p->pending_us;
				continue;
			}
			p->st.negative++;
			*rc = outcome(p, j, OUT_NEGATIVE, p->buf[2], wall, sink);
			return 1;
		}
		if (!matches(j, p->buf, n)) {
			p->st.unexpected++;
			continue;
		}
		p->st.responses++;
		*rc = decode(p, j, p->buf, n, wall, sink);
		if (*rc == CNP_OK)
			*rc = outcome(p, j, OUT_OK, 0, wall, sink);
		return 1;
	}
	if (mono >= p->deadline) {
		p->st.timeouts++;
		*rc = outcome(p, j, OUT_TIMEOUT, 0, wall, sink);
		return 1;
	}
	return 0;
}

/* Empties a channel of answers that came too late. */
static void drain(struct cnp_poller *p, struct chan *ch)
{
	for (int k = 0; k < RECV_BURST; k++) {
		size_t n = 0;
		if (p->link->recv(p->link->ctx, ch->h, p->buf, sizeof(p->buf), &n) != CNP_OK)
			return;
		p->st.unexpected++;
	}
}

/* Sends the most overdue request, if any is due. 1: one is in flight. */
static int send_next(struct cnp_poller *p, uint64_t mono)
{
	int best = -1;
	for (unsigned i = 0; i < p->n_jobs; i++) {
		const struct job *j = &p->jobs[i];
		if (j->next_mono <= mono && (best < 0 || j->next_mono < p->jobs[best].next_mono))
			best = (int)i;
	}
	if (best < 0)
		return 0;
	struct job *j = &p->jobs[best];
	j->next_mono = mono + j->interval_us;
	if (!chan_ready(p, j->tx_chan, mono) || !chan_ready(p, j->rx_chan, mono))
		return 0;
	drain(p, &p->chans[j->rx_chan]);
	uint8_t req[3] = {j->service, 0, 0};
	size_t n = 1;
	if (j->service == 0x01 || j->service == 0x09)
		req[n++] = (uint8_t)j->id;
	else if (j->service == 0x22) {
		req[n++] = (uint8_t)(j->id >> 8);
		req[n++] = (uint8_t)j->id;
	}
	int rc = p->link->send(p->link->ctx, p->chans[j->tx_chan].h, req, n);
	if (rc != CNP_OK) {
		p->st.send_errors++;
		return 0;
	}
	p->st.requests++;
	p->cur = best;
	p->deadline = mono + p->timeout_us;
	return 1;
}

int cnp_poller_run(struct cnp_poller *p, uint64_t mono_us, uint64_t wall_us,
                   const struct cnp_collect_sink *sink, uint64_t *wait_us)
{
	int rc = CNP_OK;
	/* Bounded: each turn sends one request or finishes one. */
	for (unsigned turn = 0; turn < 2 * CNP_POLL_MAX_JOBS && rc == CNP_OK; turn++) {
		if (p->cur >= 0) {
			if (!take(p, mono_us, wall_us, sink, &rc))
				break;
			p->cur = -1;
			continue;
		}
		if (!send_next(p, mono_us))
			break;
	}
	uint64_t wait = 1000000u;
	if (p->cur >= 0) {
		wait = INFLIGHT_WAIT_US;
	} else {
		for (unsigned i = 0; i < p->n_jobs; i++) {
			uint64_t t = p->jobs[i].next_mono;
			uint64_t w = t > mono_us ? t - mono_us : 0;
			if (w < wait)
				wait = w;
		}
	}
	*wait_us = wait;
	return rc;
}
