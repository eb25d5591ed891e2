#include "firmware/transport.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/json.h"

#include <string.h>

enum { P_ISOTP = 0, P_J1939 = 1 };
enum { J_BAM = 1, J_RTS = 2 };

/* J1939 TP.CM control bytes. */
#define CM_RTS 16u
#define CM_CTS 17u
#define CM_EOMA 19u
#define CM_BAM 32u
#define CM_ABORT 255u
#define PF_CM 0xECu
#define PF_DT 0xEBu

struct session {
	int used;
	int proto;
	uint8_t iface;
	uint32_t key;      /* ISO-TP: the id (bit 31: 29-bit); J1939: sa << 8 | da */
	uint64_t deadline; /* ts_us after which the session has timed out */
	uint8_t *buf;
	size_t len, got;   /* announced length, bytes stored */
	uint8_t flags;     /* of the message: CNP_FRAME_EXT, CNP_FRAME_FD */
	/* ISO-TP */
	uint8_t next_sn;
	/* J1939 */
	int kind;
	uint32_t pgn;
	uint8_t prio;
	unsigned packets;          /* announced */
	unsigned expect;           /* next packet number wanted */
	unsigned window_end;       /* last packet number the CTS allows */
	unsigned n_have;           /* distinct packets stored */
	uint8_t have[32];          /* which (bit sn - 1) */
};

struct tp_iface {
	char name[CNP_IFNAMSIZ];
	struct cnp_tp_config cfg;
};

struct cnp_tp {
	struct tp_iface ifs[CNP_TP_MAX_IFACES];
	unsigned n_ifs;
	int16_t by_index[CNP_IFACE_MAX]; /* -1 none, -2 not looked up */
	struct session s[CNP_TP_MAX_SESSIONS];
	unsigned n_open;
	uint64_t next_deadline;          /* earliest deadline of an open session */
	struct cnp_tp_stats st[2];
};

static const char *const reason_names[CNP_TP_REASONS] = {
	"missing_frame", "wrong_sequence", "timeout", "abort", "replaced",
	"malformed", "too_long", "stray", "no_slot",
};

const char *cnp_tp_reason_name(int reason)
{
	return reason >= 0 && reason < CNP_TP_REASONS ? reason_names[reason] : "?";
}

int cnp_tp_create(const struct cnp_tp_iface *ifs, unsigned n, struct cnp_tp **out)
{
	*out = NULL;
	if (n > CNP_TP_MAX_IFACES)
		return CNP_ERR_INVAL;
	struct cnp_tp *t = cnp_calloc(1, sizeof(*t));
	if (!t)
		return CNP_ERR_NOMEM;
	for (unsigned i = 0; i < n; i++) {
		size_t l = strlen(ifs[i].iface);
		if (l >= CNP_IFNAMSIZ) {
			cnp_free(t);
			return CNP_ERR_INVAL;
		}
		memcpy(t->ifs[i].name, ifs[i].iface, l + 1);
		t->ifs[i].cfg = *ifs[i].cfg;
	}
	t->n_ifs = n;
	for (unsigned i = 0; i < CNP_IFACE_MAX; i++)
		t->by_index[i] = -2;
	t->next_deadline = UINT64_MAX;
	*out = t;
	return CNP_OK;
}

static void close_session(struct cnp_tp *t, struct session *s)
{
	cnp_free(s->buf);
	memset(s, 0, sizeof(*s));
	t->n_open--;
}

static void drop(struct cnp_tp *t, struct session *s, int reason)
{
	t->st[s->proto].broken[reason]++;
	close_session(t, s);
}

void cnp_tp_destroy(struct cnp_tp *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < CNP_TP_MAX_SESSIONS; i++)
		cnp_free(t->s[i].buf);
	cnp_free(t);
}

void cnp_tp_stats(const struct cnp_tp *t, struct cnp_tp_stats *isotp, struct cnp_tp_stats *j1939)
{
	*isotp = t->st[P_ISOTP];
	*j1939 = t->st[P_J1939];
}

unsigned cnp_tp_open(const struct cnp_tp *t)
{
	return t->n_open;
}

static const struct cnp_tp_config *config_of(struct cnp_tp *t, uint8_t index,
                                             const struct cnp_ifaces *ifaces)
{
	unsigned i = index % CNP_IFACE_MAX;
	if (t->by_index[i] == -2) {
		t->by_index[i] = -1;
		for (unsigned k = 0; k < t->n_ifs && i < ifaces->count; k++)
			if (strcmp(t->ifs[k].name, ifaces->names[i]) == 0) {
				t->by_index[i] = (int16_t)k;
				break;
			}
	}
	return t->by_index[i] < 0 ? NULL : &t->ifs[t->by_index[i]].cfg;
}

/* Drops every session whose deadline is before `now`. */
static void expire(struct cnp_tp *t, uint64_t now)
{
	if (now <= t->next_deadline)
		return;
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < CNP_TP_MAX_SESSIONS; i++) {
		struct session *s = &t->s[i];
		if (!s->used)
			continue;
		if (s->deadline < now)
			drop(t, s, CNP_TP_TIMEOUT);
		else if (s->deadline < next)
			next = s->deadline;
	}
	t->next_deadline = next;
}

static void set_deadline(struct cnp_tp *t, struct session *s, uint64_t at)
{
	s->deadline = at;
	if (at < t->next_deadline)
		t->next_deadline = at;
}

static struct session *find(struct cnp_tp *t, int proto, uint8_t iface, uint32_t key)
{
	for (unsigned i = 0; i < CNP_TP_MAX_SESSIONS; i++) {
		struct session *s = &t->s[i];
		if (s->used && s->proto == proto && s->iface == iface && s->key == key)
			return s;
	}
	return NULL;
}

/* A new session of `len` bytes, or NULL (counted). */
static struct session *open_session(struct cnp_tp *t, int proto, uint8_t iface, uint32_t key,
                                    size_t len)
{
	struct session *s = NULL;
	for (unsigned i = 0; i < CNP_TP_MAX_SESSIONS && !s; i++)
		if (!t->s[i].used)
			s = &t->s[i];
	uint8_t *buf = s ? cnp_malloc(len) : NULL;
	if (!buf) {
		t->st[proto].broken[CNP_TP_NO_SLOT]++;
		return NULL;
	}
	s->used = 1;
	s->proto = proto;
	s->iface = iface;
	s->key = key;
	s->buf = buf;
	s->len = len;
	t->n_open++;
	return s;
}

/* Sequence number trouble: one ahead is a missing frame. */
static int sn_reason(unsigned got, unsigned want, unsigned modulo)
{
	return got == (want + 1) % modulo ? CNP_TP_MISSING : CNP_TP_WRONG_SN;
}

/* ---- ISO-TP -------------------------------------------------------------------- */

static int isotp_id(const struct cnp_tp_config *cfg, const struct cnp_frame *f)
{
	int ext = (f->flags & CNP_FRAME_EXT) != 0;
	for (unsigned i = 0; i < cfg->n_isotp; i++) {
		const struct cnp_tp_range *r = &cfg->isotp[i];
		if (!r->extended == !ext && f->id >= r->first && f->id <= r->last)
			return 1;
	}
	return 0;
}

/* Passes on a message, with the length byte first if configured. */
static int isotp_emit(struct cnp_tp *t, const struct cnp_tp_config *cfg, const struct cnp_frame *f,
                      uint8_t flags, uint8_t *pre, const uint8_t *payload, size_t len,
                      cnp_tp_message_cb cb, void *arg)
{
	t->st[P_ISOTP].messages++;
	struct cnp_tp_message m = {.ts_us = f->ts_us, .id = f->id, .flags = flags,
	                           .iface = f->iface, .data = payload, .len = len};
	if (cfg->isotp_length_prefix) {
		/* `pre` is the byte just before the payload, ours to overwrite. */
		*pre = (uint8_t)(len & 0xFFu);
		m.data = pre;
		m.len = len + 1;
	}
	return cb(arg, &m);
}

static int isotp_frame(struct cnp_tp *t, const struct cnp_tp_config *cfg,
                       const struct cnp_frame *f, cnp_tp_message_cb cb, void *arg)
{
	struct cnp_tp_stats *st = &t->st[P_ISOTP];
	uint32_t key = f->id | ((f->flags & CNP_FRAME_EXT) ? 0x80000000u : 0);
	struct session *s = find(t, P_ISOTP, f->iface, key);
	uint8_t flags = (uint8_t)(f->flags & (CNP_FRAME_EXT | CNP_FRAME_FD));
	int fd = (f->flags & CNP_FRAME_FD) != 0;
	if (f->len == 0) {
		st->broken[CNP_TP_MALFORMED]++;
		return CNP_OK;
	}
	unsigned type = f->data[0] >> 4;
	if (type == 3) { /* flow control: the other direction's, not a session's */
		st->flow_control++;
		if (f->len < 3 || (f->data[0] & 0x0F) > 2)
			st->broken[CNP_TP_MALFORMED]++;
		return CNP_OK;
	}
	if (type == 0 || type == 1) {
		if (s) /* the sender started again: the open one is lost */
			drop(t, s, CNP_TP_REPLACED);
		s = NULL;
	}
	if (type == 0) { /* single frame */
		unsigned dl = f->data[0] & 0x0Fu, off = 1;
		if (dl == 0 && f->len > 8) { /* CAN FD escape: the length in byte 1 */
			dl = f->len >= 2 ? f->data[1] : 0;
			off = 2;
		}
		if (dl == 0 || dl + off > f->len || (f->len > 8 && off == 1)) {
			st->broken[CNP_TP_MALFORMED]++;
			return CNP_OK;
		}
		uint8_t buf[CNP_FRAME_MAX_DATA + 1];
		memcpy(buf + 1, f->data + off, dl);
		return isotp_emit(t, cfg, f, flags, buf, buf + 1, dl, cb, arg);
	}
	if (type == 1) { /* first frame */
		size_t dl = ((size_t)(f->data[0] & 0x0Fu) << 8) | (f->len >= 2 ? f->data[1] : 0);
		unsigned off = 2;
		if (dl == 0 && f->len >= 6) { /* escape: 32-bit length */
			dl = (size_t)f->data[2] << 24 | (size_t)f->data[3] << 16 |
			     (size_t)f->data[4] << 8 | f->data[5];
			off = 6;
			if (dl <= 4095)
				dl = 0;
		}
		/* A first frame is full-size and announces more than it holds. */
		if (f->len < 8 || (fd && !cnp_frame_fd_len_valid(f->len)) || dl <= f->len - off) {
			st->broken[CNP_TP_MALFORMED]++;
			return CNP_OK;
		}
		if (dl > CNP_ISOTP_MAX_LEN) {
			st->broken[CNP_TP_TOO_LONG]++;
			return CNP_OK;
		}
		/* One byte more in front for the length prefix. */
		s = open_session(t, P_ISOTP, f->iface, key, dl + 1);
		if (!s)
			return CNP_OK;
		s->len = dl;
		s->flags = flags;
		s->got = f->len - off;
		memcpy(s->buf + 1, f->data + off, s->got);
		s->next_sn = 1;
		s->packets = f->len; /* ISO-TP: every CF but the last is as long as the FF */
		set_deadline(t, s, f->ts_us + CNP_ISOTP_N_CR_US);
		return CNP_OK;
	}
	if (type == 2) { /* consecutive frame */
		if (!s) {
			st->broken[CNP_TP_STRAY]++;
			return CNP_OK;
		}
		unsigned sn = f->data[0] & 0x0Fu;
		if (sn != s->next_sn) {
			drop(t, s, sn_reason(sn, s->next_sn, 16));
			return CNP_OK;
		}
		size_t want = s->len - s->got;
		size_t have = (size_t)f->len - 1;
		if (have >= want)
			have = want;
		else if (f->len != s->packets) { /* a short CF before the last */
			drop(t, s, CNP_TP_MALFORMED);
			return CNP_OK;
		}
		memcpy(s->buf + 1 + s->got, f->data + 1, have);
		s->got += have;
		s->next_sn = (uint8_t)((sn + 1) & 0x0Fu);
		if (s->got < s->len) {
			set_deadline(t, s, f->ts_us + CNP_ISOTP_N_CR_US);
			return CNP_OK;
		}
		int rc = isotp_emit(t, cfg, f, s->flags, s->buf, s->buf + 1, s->len, cb, arg);
		close_session(t, s);
		return rc;
	}
	st->broken[CNP_TP_MALFORMED]++; /* reserved PCI types 4..15 */
	return CNP_OK;
}

/* ---- J1939 --------------------------------------------------------------------- */

static uint32_t le24(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static int j1939_emit(struct cnp_tp *t, struct session *s, uint64_t ts, cnp_tp_message_cb cb,
                      void *arg)
{
	uint8_t sa = (uint8_t)(s->key >> 8), da = (uint8_t)s->key;
	uint32_t pgn = s->pgn & 0x3FFFFu;
	if (((pgn >> 8) & 0xFFu) < 240u) /* PDU1: the destination goes in PS */
		pgn = (pgn & 0x3FF00u) | da;
	uint32_t id = (uint32_t)(s->prio & 7u) << 26 | pgn << 8 | sa;
	t->st[P_J1939].messages++;
	struct cnp_tp_message m = {.ts_us = ts, .id = id, .flags = CNP_FRAME_EXT,
	                           .iface = s->iface, .j1939 = 1, .data = s->buf, .len = s->len};
	int rc = cb(arg, &m);
	close_session(t, s);
	return rc;
}

static int j1939_cm(struct cnp_tp *t, const struct cnp_frame *f, uint8_t sa, uint8_t da)
{
	struct cnp_tp_stats *st = &t->st[P_J1939];
	const uint8_t *d = f->data;
	uint32_t pgn = le24(d + 5);
	unsigned ctrl = d[0];
	if (ctrl == CM_RTS || ctrl == CM_BAM) {
		if (ctrl == CM_BAM && da != 0xFF) {
			st->broken[CNP_TP_MALFORMED]++;
			return CNP_OK;
		}
		struct session *s = find(t, P_J1939, f->iface, (uint32_t)sa << 8 | da);
		if (s)
			drop(t, s, CNP_TP_REPLACED);
		unsigned size = (unsigned)d[1] | (unsigned)d[2] << 8, packets = d[3];
		if (size > CNP_J1939_MAX_LEN) {
			st->broken[CNP_TP_TOO_LONG]++;
			return CNP_OK;
		}
		if (size < 9 || packets != (size + 6) / 7 || pgn > 0x3FFFFu) {
			st->broken[CNP_TP_MALFORMED]++;
			return CNP_OK;
		}
		s = open_session(t, P_J1939, f->iface, (uint32_t)sa << 8 | da, (size_t)packets * 7);
		if (!s)
			return CNP_OK;
		s->len = size;
		s->kind = ctrl == CM_BAM ? J_BAM : J_RTS;
		s->pgn = pgn;
		s->prio = (uint8_t)((f->id >> 26) & 7u);
		s->packets = packets;
		s->expect = 1;
		/* BAM: every packet, T1 apart; RTS: nothing until a CTS. */
		s->window_end = s->kind == J_BAM ? packets : 0;
		set_deadline(t, s, f->ts_us + (s->kind == J_BAM ? CNP_J1939_T1_US : CNP_J1939_T3_US));
		return CNP_OK;
	}
	if (ctrl == CM_CTS || ctrl == CM_EOMA) {
		/* From the receiver: the session is the other way round. */
		struct session *s = find(t, P_J1939, f->iface, (uint32_t)da << 8 | sa);
		if (!s || s->kind != J_RTS || s->pgn != pgn) {
			st->broken[CNP_TP_STRAY]++;
			return CNP_OK;
		}
		if (ctrl == CM_EOMA) {
			unsigned size = (unsigned)d[1] | (unsigned)d[2] << 8;
			if (s->n_have != s->packets || size != s->len) {
				drop(t, s, CNP_TP_MALFORMED);
				return CNP_OK;
			}
			return 1; /* complete: the caller passes it on */
		}
		unsigned n = d[1], next = d[2];
		if (n == 0) { /* hold the connection */
			s->window_end = 0;
			set_deadline(t, s, f->ts_us + CNP_J1939_T4_US);
			return CNP_OK;
		}
		if (next == 0 || next > s->packets || next + n - 1 > s->packets) {
			drop(t, s, CNP_TP_MALFORMED);
			return CNP_OK;
		}
		s->expect = next; /* earlier than before: a retransmission */
		s->window_end = next + n - 1;
		set_deadline(t, s, f->ts_us + CNP_J1939_T2_US);
		return CNP_OK;
	}
	if (ctrl == CM_ABORT) {
		/* Either side may abort. */
		struct session *s = find(t, P_J1939, f->iface, (uint32_t)sa << 8 | da);
		if (!s || s->pgn != pgn)
			s = find(t, P_J1939, f->iface, (uint32_t)da << 8 | sa);
		if (s && s->kind == J_RTS && s->pgn == pgn)
			drop(t, s, CNP_TP_ABORT);
		else
			st->broken[CNP_TP_STRAY]++;
		return CNP_OK;
	}
	st->broken[CNP_TP_MALFORMED]++;
	return CNP_OK;
}

/* A TP.CM or TP.DT frame (data page 0). */
static int j1939_tp_id(const struct cnp_frame *f)
{
	unsigned pf = (f->id >> 16) & 0xFFu;
	return (f->flags & CNP_FRAME_EXT) && !((f->id >> 24) & 3u) && (pf == PF_CM || pf == PF_DT);
}

static int j1939_frame(struct cnp_tp *t, const struct cnp_frame *f, cnp_tp_message_cb cb,
                       void *arg)
{
	unsigned pf = (f->id >> 16) & 0xFFu;
	struct cnp_tp_stats *st = &t->st[P_J1939];
	uint8_t sa = (uint8_t)f->id, da = (uint8_t)(f->id >> 8);
	if (f->len != 8) {
		st->broken[CNP_TP_MALFORMED]++;
		return CNP_OK;
	}
	if (pf == PF_CM) {
		int rc = j1939_cm(t, f, sa, da);
		if (rc == 1)
			return j1939_emit(t, find(t, P_J1939, f->iface, (uint32_t)da << 8 | sa),
			                  f->ts_us, cb, arg);
		return rc;
	}
	struct session *s = find(t, P_J1939, f->iface, (uint32_t)sa << 8 | da);
	if (!s) {
		st->broken[CNP_TP_STRAY]++;
		return CNP_OK;
	}
	unsigned sn = f->data[0];
	if (s->expect > s->window_end || sn != s->expect) {
		drop(t, s, s->expect > s->window_end ? CNP_TP_WRONG_SN
		                                     : sn_reason(sn, s->expect, 256));
		return CNP_OK;
	}
	memcpy(s->buf + (size_t)(sn - 1) * 7, f->data + 1, 7);
	s->expect++;
	if (!((s->have[(sn - 1) / 8] >> ((sn - 1) % 8)) & 1u)) {
		s->have[(sn - 1) / 8] |= (uint8_t)(1u << ((sn - 1) % 8));
		s->n_have++;
	}
	/* RTS/CTS: complete once the receiver acknowledges (EoMA). */
	if (s->n_have == s->packets && s->kind == J_BAM)
		return j1939_emit(t, s, f->ts_us, cb, arg);
	set_deadline(t, s, f->ts_us + (s->expect <= s->window_end ? CNP_J1939_T1_US
	                                                          : CNP_J1939_T3_US));
	return CNP_OK;
}

/* ---- frames -------------------------------------------------------------------- */

void cnp_tp_tick(struct cnp_tp *t, uint64_t ts_us)
{
	if (t->n_open)
		expire(t, ts_us);
}

int cnp_tp_claims(struct cnp_tp *t, const struct cnp_frame *f, const struct cnp_ifaces *ifaces)
{
	if (f->flags & (CNP_FRAME_ERR | CNP_FRAME_RTR))
		return 0;
	const struct cnp_tp_config *cfg = config_of(t, f->iface, ifaces);
	return cfg && ((cfg->n_isotp && isotp_id(cfg, f)) || (cfg->j1939 && j1939_tp_id(f)));
}

int cnp_tp_frame(struct cnp_tp *t, const struct cnp_frame *f, const struct cnp_ifaces *ifaces,
                 cnp_tp_message_cb cb, void *arg)
{
	if (t->n_open)
		expire(t, f->ts_us);
	if (f->flags & (CNP_FRAME_ERR | CNP_FRAME_RTR))
		return CNP_OK;
	const struct cnp_tp_config *cfg = config_of(t, f->iface, ifaces);
	if (!cfg)
		return CNP_OK;
	if (cfg->n_isotp && isotp_id(cfg, f))
		return isotp_frame(t, cfg, f, cb, arg);
	if (cfg->j1939 && j1939_tp_id(f))
		return j1939_frame(t, f, cb, arg);
	return CNP_OK;
}

void cnp_tp_stats_since(const struct cnp_tp_stats *now, const struct cnp_tp_stats *then,
                        struct cnp_tp_stats *out)
{
	out->messages = now->messages - then->messages;
	out->flow_control = now->flow_control - then->flow_control;
	for (int r = 0; r < CNP_TP_REASONS; r++)
		out->broken[r] = now->broken[r] - then->broken[r];
}

int cnp_tp_stats_json(void *obj, const struct cnp_tp_stats *isotp,
                      const struct cnp_tp_stats *j1939, int full)
{
	for (int k = 0; k < 2; k++) {
		const struct cnp_tp_stats *ts = k ? j1939 : isotp;
		cJSON *o = cJSON_AddObjectToObject(obj, k ? "j1939" : "isotp");
		if (!o || cnp_json_add_uint(o, "messages", ts->messages) != CNP_OK ||
		    (full && !k && cnp_json_add_uint(o, "flow_control", ts->flow_control) != CNP_OK))
			return CNP_ERR_NOMEM;
		cJSON *br = cJSON_AddObjectToObject(o, "broken");
		if (!br)
			return CNP_ERR_NOMEM;
		for (int r = 0; r < CNP_TP_REASONS; r++)
			if ((full || ts->broken[r]) &&
			    cnp_json_add_uint(br, reason_names[r], ts->broken[r]) != CNP_OK)
				return CNP_ERR_NOMEM;
	}
	return CNP_OK;
}
