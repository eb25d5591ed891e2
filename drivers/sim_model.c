/*
 * The simulator's tables (built once per profile by sim_ev.c / sim_ice.c
 * through the builder below), its bus scheduler and its frame packer.
 *
 * Scheduling: every message (every multiplexed instance, every burst group)
 * is an entry with an ideal send time that advances by its period, stretched
 * by its ECU's clock drift; a transmission is queued at the ideal time plus
 * a random delay (jitter), so jitter never accumulates and the mean period
 * stays the nominal one. Each bus sends one frame at a time: when it falls
 * idle, the lowest identifier among the queued frames wins arbitration.
 * Frames leave the model in order of the end of their transmission, which
 * is their timestamp, over all buses.
 */
#include "drivers/sim_internal.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const cnp_sim_profile_names[] = {"ev", "ice", NULL};

/* ---- the builder -------------------------------------------------------------- */

#define POOL_CHUNK 16384

struct pool_chunk {
	struct pool_chunk *next;
	size_t used;
	char data[POOL_CHUNK];
};

struct profile_store {
	struct cnp_sim_profile pub; /* first: the public view */
	struct cnp_sim_message *msgs;
	struct cnp_sim_msg_impl *impls;
	struct cnp_sim_signal *sigs;
	const char **nodes;
	struct pool_chunk *pool;
};

struct sim_builder {
	struct profile_store *ps;
	unsigned n_msgs, cap_msgs;
	unsigned n_sigs, cap_sigs;
	unsigned *first_sig; /* per message, index into sigs */
	unsigned n_nodes, cap_nodes;
	int mux_of;
	int oom;
	const char *error; /* first table error */
};

static void b_error(struct sim_builder *b, const char *why)
{
	if (!b->error)
		b->error = why;
}

/* Room for `need` elements: the array, possibly moved, or NULL when the
 * allocation failed (the old array then stays valid). */
static void *grow(void *arr, unsigned *cap, unsigned need, size_t elem)
{
	if (need <= *cap)
		return arr;
	unsigned n = *cap ? *cap * 2 : 64;
	while (n < need)
		n *= 2;
	void *p = cnp_realloc(arr, (size_t)n * elem);
	if (p)
		*cap = n;
	return p;
}

const char *sim_b_name(struct sim_builder *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b_error(b, "name too long");
		return "";
	}
	struct pool_chunk *c = b->ps->pool;
	if (!c || c->used + (size_t)n + 1 > POOL_CHUNK) {
		c = cnp_malloc(sizeof(*c));
		if (!c) {
			b->oom = 1;
			return "";
		}
		c->next = b->ps->pool;
		c->used = 0;
		b->ps->pool = c;
	}
	char *s = c->data + c->used;
	memcpy(s, tmp, (size_t)n + 1);
	c->used += (size_t)n + 1;
	return s;
}

void sim_b_profile(struct sim_builder *b, const char *title)
{
	b->ps->pub.title = title;
}

void sim_b_bus(struct sim_builder *b, const char *name, const char *role, uint32_t bitrate,
               uint32_t data_bitrate)
{
	struct cnp_sim_profile *p = &b->ps->pub;
	if (p->n_buses >= CNP_SIM_MAX_BUSES) {
		b_error(b, "too many buses");
		return;
	}
	struct cnp_sim_bus *bus = &p->buses[p->n_buses++];
	bus->name = name;
	bus->role = role;
	bus->bitrate = bitrate;
	bus->data_bitrate = data_bitrate;
}

static struct cnp_sim_message *cur_msg(struct sim_builder *b)
{
	return b->n_msgs ? &b->ps->msgs[b->n_msgs - 1] : NULL;
}

static void add_node(struct sim_builder *b, const char *name)
{
	for (unsigned i = 0; i < b->n_nodes; i++)
		if (strcmp(b->ps->nodes[i], name) == 0)
			return;
	const char **nodes = grow(b->ps->nodes, &b->cap_nodes, b->n_nodes + 1, sizeof(*nodes));
	if (!nodes) {
		b->oom = 1;
		return;
	}
	b->ps->nodes = nodes;
	b->ps->nodes[b->n_nodes++] = name;
}

void sim_b_msg(struct sim_builder *b, uint32_t id, const char *name, unsigned bus,
               unsigned len, unsigned period_ms, const char *sender, sim_fill_fn fill,
               unsigned param)
{
	if (b->oom)
		return;
	/* The three arrays grow in step, from the same capacity. */
	unsigned cap_impls = b->cap_msgs, cap_first = b->cap_msgs;
	struct cnp_sim_msg_impl *impls =
		grow(b->ps->impls, &cap_impls, b->n_msgs + 1, sizeof(*impls));
	if (impls)
		b->ps->impls = impls;
	unsigned *first = impls ? grow(b->first_sig, &cap_first, b->n_msgs + 1, sizeof(*first)) : NULL;
	if (first)
		b->first_sig = first;
	struct cnp_sim_message *msgs =
		first ? grow(b->ps->msgs, &b->cap_msgs, b->n_msgs + 1, sizeof(*msgs)) : NULL;
	if (!msgs) {
		b->oom = 1;
		return;
	}
	b->ps->msgs = msgs;
	if (bus >= b->ps->pub.n_buses)
		b_error(b, "message on an unknown bus");
	struct cnp_sim_message *m = &b->ps->msgs[b->n_msgs];
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->name = name;
	m->sender = sender;
	m->bus = (uint8_t)bus;
	m->ext = id > 0x7FFu;
	m->fd = bus < b->ps->pub.n_buses && b->ps->pub.buses[bus].data_bitrate > 0;
	m->len = (uint8_t)len;
	m->period_us = period_ms * 1000u;
	m->n_mux = 1;
	m->burst = 1;
	b->ps->impls[b->n_msgs].fill = fill;
	b->ps->impls[b->n_msgs].param = param;
	b->first_sig[b->n_msgs] = b->n_sigs;
	b->n_msgs++;
	b->mux_of = -1;
	add_node(b, sender);
	if (len > CNP_FRAME_MAX_DATA || (!m->fd && len > 8) || !cnp_frame_fd_len_valid(len))
		b_error(b, "invalid message length");
}

void sim_b_msg_comment(struct sim_builder *b, const char *comment)
{
	struct cnp_sim_message *m = cur_msg(b);
	if (m)
		m->comment = comment;
}

void sim_b_burst(struct sim_builder *b, unsigned n)
{
	struct cnp_sim_message *m = cur_msg(b);
	if (m)
		m->burst = (uint16_t)n;
}

static struct cnp_sim_signal *add_sig(struct sim_builder *b, const char *name, unsigned start,
                                      unsigned size, unsigned flags)
{
	if (b->oom || !b->n_msgs)
		return NULL;
	struct cnp_sim_signal *sigs = grow(b->ps->sigs, &b->cap_sigs, b->n_sigs + 1, sizeof(*sigs));
	if (!sigs) {
		b->oom = 1;
		return NULL;
	}
	b->ps->sigs = sigs;
	if (b->n_sigs - b->first_sig[b->n_msgs - 1] >= SIM_MAX_SIGNALS)
		b_error(b, "too many signals in a message");
	struct cnp_sim_signal *s = &b->ps->sigs[b->n_sigs++];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->unit = "";
	s->start = (uint16_t)start;
	s->size = (uint8_t)size;
	s->flags = (uint8_t)flags;
	s->mux = -1;
	s->factor = 1;
	if (size < 1 || size > 32)
		b_error(b, "signal size out of 1..32");
	int64_t lo = (flags & CNP_SIM_SIG_SIGNED) ? -((int64_t)1 << (size - 1)) : 0;
	int64_t hi = (flags & CNP_SIM_SIG_SIGNED) ? ((int64_t)1 << (size - 1)) - 1
	                                          : ((int64_t)1 << size) - 1;
	s->raw_min = lo;
	s->raw_max = hi;
	s->min = (double)lo;
	s->max = (double)hi;
	return s;
}

void sim_b_checksum(struct sim_builder *b, unsigned start, unsigned flags,
                    enum cnp_sim_checksum kind)
{
	struct cnp_sim_message *m = cur_msg(b);
	if (!m)
		return;
	const char *name = sim_b_name(b, "%s_%s", m->name,
	                              kind == CNP_SIM_CK_CRC8_J1850 ? "CRC" : "Checksum");
	struct cnp_sim_signal *s = add_sig(b, name, start, 8, flags | CNP_SIM_SIG_CHECKSUM);
	if (!s)
		return;
	m->checksum = (uint8_t)kind;
	s->comment = kind == CNP_SIM_CK_CRC8_J1850
	                 ? "CRC-8/SAE-J1850 (poly 0x1D, init 0xFF, xor-out 0xFF) over the "
	                   "identifier's low byte, its second byte, then every other payload "
	                   "byte in order"
	                 : "8-bit sum of the payload length, the identifier's low byte, its "
	                   "second byte and every other payload byte";
	/* byte-aligned: Intel start on a byte, Motorola start at a byte's bit 7 */
	if ((flags & CNP_SIM_SIG_MOTOROLA) ? (start % 8) != 7 : (start % 8) != 0)
		b_error(b, "checksum not byte-aligned");
}

void sim_b_counter(struct sim_builder *b, unsigned start, unsigned size, unsigned flags)
{
	struct cnp_sim_message *m = cur_msg(b);
	if (!m)
		return;
	struct cnp_sim_signal *s =
		add_sig(b, sim_b_name(b, "%s_Counter", m->name), start, size, flags | CNP_SIM_SIG_COUNTER);
	if (s)
		s->comment = "rolling counter: +1 per frame of this identifier, wraps to 0";
}

void sim_b_mux(struct sim_builder *b, const char *name, unsigned start, unsigned size,
               unsigned n_mux)
{
	struct cnp_sim_message *m = cur_msg(b);
	if (!m)
		return;
	struct cnp_sim_signal *s = add_sig(b, name, start, size, CNP_SIM_SIG_MUX);
	if (!s)
		return;
	m->n_mux = (uint16_t)n_mux;
	s->raw_max = n_mux - 1;
	s->max = (double)(n_mux - 1);
	if (n_mux < 2 || (int64_t)n_mux - 1 > ((int64_t)1 << size) - 1)
		b_error(b, "multiplexor too small");
}

void sim_b_mux_of(struct sim_builder *b, int mux)
{
	b->mux_of = mux;
}

static int64_t ceil_i(double x)
{
	int64_t t = (int64_t)x; /* truncates toward zero */
	return (double)t < x ? t + 1 : t;
}

static int64_t floor_i(double x)
{
	int64_t t = (int64_t)x;
	return (double)t > x ? t - 1 : t;
}

void sim_b_sig(struct sim_builder *b, const char *name, unsigned start, unsigned size,
               unsigned flags, double factor, double offset, double min, double max,
               const char *unit)
{
	struct cnp_sim_signal *s = add_sig(b, name, start, size, flags);
	if (!s)
		return;
	s->factor = factor;
	s->offset = offset;
	s->unit = unit ? unit : "";
	s->mux = (int16_t)b->mux_of;
	int64_t lo = s->raw_min, hi = s->raw_max;
	if (min == 0 && max == 0) {
		s->min = (double)lo * factor + offset;
		s->max = (double)hi * factor + offset;
		return;
	}
	/* The model saturates to the raw values inside [min, max]. The small
	 * slack keeps a bound that is a multiple of the factor (2.5 / 0.001)
	 * from rounding away; the same IEEE operations give the same result on
	 * every target, and only the saturation bounds depend on them. */
	int64_t a = ceil_i((min - offset) / factor - 1e-6);
	int64_t z = floor_i((max - offset) / factor + 1e-6);
	s->raw_min = a > lo ? a : lo;
	s->raw_max = z < hi ? z : hi;
	s->min = min;
	s->max = max;
	if (s->raw_min > s->raw_max)
		b_error(b, "empty signal range");
}

void sim_b_vals(struct sim_builder *b, const char *values)
{
	if (b->n_sigs && !b->oom)
		b->ps->sigs[b->n_sigs - 1].values = values;
}

void sim_b_sig_comment(struct sim_builder *b, const char *comment)
{
	if (b->n_sigs && !b->oom)
		b->ps->sigs[b->n_sigs - 1].comment = comment;
}

/* ---- bit positions -------------------------------------------------------------- */

/* Byte-stream bit position (byte * 8 + bit, bit 0 = lsb) of bit `i` (0 = lsb)
 * of a signal. */
static unsigned bit_pos(const struct cnp_sim_signal *s, unsigned i)
{
	if (!(s->flags & CNP_SIM_SIG_MOTOROLA))
		return s->start + i;
	/* Motorola: from the msb at `start`, down each byte, then on to the next
	 * byte's bit 7. */
	unsigned pos = s->start;
	for (unsigned k = s->size - 1u - i; k > 0; k--)
		pos = (pos % 8 == 0) ? pos + 15 : pos - 1;
	return pos;
}

static int check_layout(const struct cnp_sim_message *m, const char **why)
{
	uint8_t always[64], mux[64];
	memset(always, 0, sizeof(always));
	for (unsigned i = 0; i < m->n_signals; i++) {
		const struct cnp_sim_signal *s = &m->signals[i];
		if (s->mux >= 0)
			continue;
		for (unsigned k = 0; k < s->size; k++) {
			unsigned p = bit_pos(s, k);
			if (p >= 8u * m->len) {
				*why = "signal outside its message";
				return -1;
			}
			if (always[p / 8] & (1u << (p % 8))) {
				*why = "overlapping signals";
				return -1;
			}
			always[p / 8] |= (uint8_t)(1u << (p % 8));
		}
	}
	for (unsigned v = 0; v < m->n_mux && m->n_mux > 1; v++) {
		memcpy(mux, always, sizeof(mux));
		for (unsigned i = 0; i < m->n_signals; i++) {
			const struct cnp_sim_signal *s = &m->signals[i];
			if (s->mux != (int)v)
				continue;
			for (unsigned k = 0; k < s->size; k++) {
				unsigned p = bit_pos(s, k);
				if (p >= 8u * m->len || (mux[p / 8] & (1u << (p % 8)))) {
					*why = "multiplexed signal overlaps or is outside its message";
					return -1;
				}
				mux[p / 8] |= (uint8_t)(1u << (p % 8));
			}
		}
	}
	return 0;
}

/* Time on the bus with worst-case bit stuffing (ISO 11898-1 frame layout). */
static uint32_t tx_time_ns(const struct cnp_sim_bus *bus, const struct cnp_sim_message *m)
{
	uint32_t nom_ns = 1000000000u / bus->bitrate;
	uint32_t n = m->len;
	if (!m->fd) {
		/* SOF, id, RTR/SRR+IDE(+ext), r, DLC, data, CRC-15: stuffed;
		 * then CRC delimiter, ACK, EOF, intermission. */
		uint32_t stuffed = (m->ext ? 54u : 34u) + 8u * n;
		uint32_t bits = stuffed + (stuffed - 1u) / 4u + 13u;
		return bits * nom_ns;
	}
	uint32_t data_ns = 1000000000u / bus->data_bitrate;
	uint32_t arb = m->ext ? 36u : 17u; /* up to and including BRS */
	uint32_t data = 5u + 8u * n;       /* ESI, DLC, data */
	uint32_t stuff = (arb + data - 1u) / 4u;
	uint32_t arb_stuff = (arb - 1u) / 4u;
	uint32_t crc = n > 16 ? 21u : 17u;
	uint32_t fixed = n > 16 ? 7u : 6u; /* fixed stuff bits of the CRC field */
	uint32_t data_bits = data + (stuff - arb_stuff) + 4u + crc + fixed + 1u;
	uint32_t nom_bits = arb + arb_stuff + 12u; /* + ACK, EOF, intermission */
	return nom_bits * nom_ns + data_bits * data_ns;
}

static void store_free(struct profile_store *ps)
{
	if (!ps)
		return;
	while (ps->pool) {
		struct pool_chunk *c = ps->pool;
		ps->pool = c->next;
		cnp_free(c);
	}
	cnp_free(ps->msgs);
	cnp_free(ps->impls);
	cnp_free(ps->sigs);
	cnp_free(ps->nodes);
	cnp_free(ps);
}

void cnp_sim_profile_destroy(struct cnp_sim_profile *p)
{
	store_free((struct profile_store *)p);
}

int cnp_sim_profile_create(const char *name, struct cnp_sim_profile **out)
{
	void (*build)(struct sim_builder *) = NULL;
	const char *pname = NULL;
	if (strcmp(name, "ev") == 0) {
		build = sim_ev_build;
		pname = cnp_sim_profile_names[0];
	} else if (strcmp(name, "ice") == 0) {
		build = sim_ice_build;
		pname = cnp_sim_profile_names[1];
	} else {
		return CNP_ERR_INVAL;
	}
	struct sim_builder b;
	memset(&b, 0, sizeof(b));
	b.mux_of = -1;
	b.ps = cnp_calloc(1, sizeof(*b.ps));
	if (!b.ps)
		return CNP_ERR_NOMEM;
	b.ps->pub.name = pname;
	build(&b);
	if (b.oom) {
		cnp_free(b.first_sig);
		store_free(b.ps);
		return CNP_ERR_NOMEM;
	}
	struct profile_store *ps = b.ps;
	for (unsigned i = 0; i < b.n_msgs; i++) {
		struct cnp_sim_message *m = &ps->msgs[i];
		unsigned end = i + 1 < b.n_msgs ? b.first_sig[i + 1] : b.n_sigs;
		m->signals = ps->sigs + b.first_sig[i];
		m->n_signals = end - b.first_sig[i];
		m->tx_ns = tx_time_ns(&ps->pub.buses[m->bus], m);
		const char *why = NULL;
		if (check_layout(m, &why) != 0)
			b_error(&b, why);
		for (unsigned j = 0; j < i; j++)
			if (ps->msgs[j].id == m->id || strcmp(ps->msgs[j].name, m->name) == 0)
				b_error(&b, "duplicate message id or name");
		if (m->burst > 1 && i + m->burst > b.n_msgs)
			b_error(&b, "burst group past the end of the table");
		for (unsigned k = 1; k < m->burst && i + k < b.n_msgs; k++) {
			if (ps->msgs[i + k].period_us != m->period_us || ps->msgs[i + k].bus != m->bus)
				b_error(&b, "burst members differ in period or bus");
			ps->msgs[i + k].burst = 0;
		}
	}
	cnp_free(b.first_sig);
	ps->pub.messages = ps->msgs;
	ps->pub.n_messages = b.n_msgs;
	ps->pub.nodes = ps->nodes;
	ps->pub.n_nodes = b.n_nodes;
	ps->pub.impl = ps->impls;
	if (b.error) {
		/* A table bug: the unit tests catch it before anyone else can. */
		store_free(ps);
		return CNP_ERR_CORRUPT;
	}
	*out = &ps->pub;
	return CNP_OK;
}

/* ---- filling --------------------------------------------------------------------- */

static int is_value(const struct cnp_sim_signal *s, int mux)
{
	if (s->flags & (CNP_SIM_SIG_COUNTER | CNP_SIM_SIG_CHECKSUM | CNP_SIM_SIG_MUX))
		return 0;
	return s->mux < 0 || s->mux == mux;
}

void sim_put(struct sim_out *o, int64_t raw)
{
	while (o->next < o->msg->n_signals && !is_value(&o->msg->signals[o->next], o->mux))
		o->next++;
	if (o->next >= o->msg->n_signals) {
		o->errors++;
		return;
	}
	o->raw[o->next++] = raw;
}

/* ---- checksums -------------------------------------------------------------------- */

static uint8_t crc8_j1850(uint8_t crc, uint8_t byte)
{
	crc ^= byte;
	for (int i = 0; i < 8; i++)
		crc = (uint8_t)((crc & 0x80u) ? ((unsigned)crc << 1) ^ 0x1Du : (unsigned)crc << 1);
	return crc;
}

static uint8_t checksum(enum cnp_sim_checksum kind, uint32_t id, const uint8_t *data,
                        unsigned len, unsigned skip)
{
	if (kind == CNP_SIM_CK_CRC8_J1850) {
		uint8_t c = 0xFF;
		c = crc8_j1850(c, (uint8_t)id);
		c = crc8_j1850(c, (uint8_t)(id >> 8));
		for (unsigned i = 0; i < len; i++)
			if (i != skip)
				c = crc8_j1850(c, data[i]);
		return (uint8_t)(c ^ 0xFFu);
	}
	unsigned sum = len + (id & 0xFFu) + ((id >> 8) & 0xFFu);
	for (unsigned i = 0; i < len; i++)
		if (i != skip)
			sum += data[i];
	return (uint8_t)sum;
}

/* ---- the model --------------------------------------------------------------------- */

struct entry {
	uint64_t ideal_ns;  /* nominal time of the next transmission */
	uint64_t due_ns;    /* queued for the bus: ideal plus jitter */
	uint64_t period_ns; /* with the sender's clock drift */
	uint32_t jitter_ns; /* largest queuing delay */
	uint16_t msg;       /* message (the first of a burst group) */
	uint16_t mux;       /* multiplexor value */
	uint16_t pos;       /* burst group: the member sent next */
};

struct bus_state {
	uint64_t free_ns;   /* the bus is idle from then */
	unsigned *entries;  /* the entries on this bus */
	unsigned n;
	int cand;           /* entry that sends next, -1: not chosen yet */
	uint64_t cand_end_ns;
};

struct cnp_sim_model {
	struct cnp_sim_profile *prof;
	struct sim sim;
	struct sim_rng sched_rng;
	struct entry *entries;
	unsigned n_entries;
	struct bus_state bus[CNP_SIM_MAX_BUSES];
	uint8_t *counter;   /* per message */
	uint64_t start_us, duration_us;
	int eof;
	struct cnp_sim_model_stats st;
	struct sim_out out;
};

static uint64_t arb_key(const struct cnp_sim_message *m)
{
	/* Arbitration compares the 11-bit base id, then a standard frame's
	 * dominant RTR against an extended frame's recessive SRR, then the
	 * extension. */
	if (!m->ext)
		return (uint64_t)m->id << 19;
	return ((uint64_t)(m->id >> 18) << 19) | (1u << 18) | (m->id & 0x3FFFFu);
}

static void pick(struct cnp_sim_model *m, unsigned b)
{
	struct bus_state *bs = &m->bus[b];
	uint64_t t = bs->free_ns, earliest = UINT64_MAX;
	for (unsigned i = 0; i < bs->n; i++) {
		const struct entry *e = &m->entries[bs->entries[i]];
		if (e->due_ns < earliest)
			earliest = e->due_ns;
	}
	if (earliest > t)
		t = earliest;
	int best = -1;
	uint64_t best_key = 0, best_due = 0;
	for (unsigned i = 0; i < bs->n; i++) {
		const struct entry *e = &m->entries[bs->entries[i]];
		if (e->due_ns > t)
			continue;
		uint64_t key = arb_key(&m->prof->messages[e->msg + e->pos]);
		if (best < 0 || key < best_key || (key == best_key && e->due_ns < best_due)) {
			best = (int)bs->entries[i];
			best_key = key;
			best_due = e->due_ns;
		}
	}
	const struct entry *e = &m->entries[best];
	bs->cand = best;
	bs->cand_end_ns = t + m->prof->messages[e->msg + e->pos].tx_ns;
}

static uint32_t jitter(struct cnp_sim_model *m, const struct entry *e)
{
	return (uint32_t)(sim_rng_next(&m->sched_rng) % (e->jitter_ns + 1u));
}

static int setup_schedule(struct cnp_sim_model *m)
{
	const struct cnp_sim_profile *p = m->prof;
	int32_t ppm[64];
	unsigned n_nodes = p->n_nodes < 64 ? p->n_nodes : 64;
	for (unsigned i = 0; i < n_nodes; i++)
		ppm[i] = sim_rng_range(&m->sched_rng, -100, 100); /* crystal tolerance */
	unsigned n = 0;
	for (unsigned i = 0; i < p->n_messages; i++)
		if (p->messages[i].burst)
			n += p->messages[i].n_mux;
	m->entries = cnp_calloc(n, sizeof(*m->entries));
	m->counter = cnp_calloc(p->n_messages, 1);
	if (!m->entries || !m->counter)
		return CNP_ERR_NOMEM;
	for (unsigned b = 0; b < p->n_buses; b++) {
		m->bus[b].entries = cnp_calloc(n, sizeof(unsigned));
		if (!m->bus[b].entries)
			return CNP_ERR_NOMEM;
		m->bus[b].cand = -1;
	}
	for (unsigned i = 0; i < p->n_messages; i++) {
		const struct cnp_sim_message *msg = &p->messages[i];
		if (!msg->burst)
			continue;
		int32_t drift = 0;
		for (unsigned k = 0; k < n_nodes; k++)
			if (strcmp(p->nodes[k], msg->sender) == 0)
				drift = ppm[k];
		uint64_t period_ns = (uint64_t)msg->period_us * (uint64_t)(1000000 + drift) / 1000u;
		uint64_t phase_ns =
			(uint64_t)sim_rng_range(&m->sched_rng, 0, (int32_t)msg->period_us - 1) * 1000u;
		uint32_t jit_us = msg->period_us / 20u < 500u ? msg->period_us / 20u : 500u;
		for (unsigned k = 0; k < msg->n_mux; k++) {
			struct entry *e = &m->entries[m->n_entries];
			e->msg = (uint16_t)i;
			e->mux = (uint16_t)k;
			e->period_ns = period_ns;
			e->jitter_ns = jit_us * 1000u;
			e->ideal_ns = phase_ns + period_ns * k / msg->n_mux;
			e->due_ns = e->ideal_ns + jitter(m, e);
			struct bus_state *bs = &m->bus[msg->bus];
			bs->entries[bs->n++] = m->n_entries++;
		}
	}
	return CNP_OK;
}

void cnp_sim_model_destroy(struct cnp_sim_model *m)
{
	if (!m)
		return;
	for (unsigned b = 0; b < CNP_SIM_MAX_BUSES; b++)
		cnp_free(m->bus[b].entries);
	cnp_free(m->entries);
	cnp_free(m->counter);
	cnp_sim_profile_destroy(m->prof);
	cnp_free(m);
}

int cnp_sim_model_create(const char *profile, uint64_t seed, uint64_t start_us,
                         uint64_t duration_us, struct cnp_sim_model **out)
{
	struct cnp_sim_profile *p = NULL;
	int rc = cnp_sim_profile_create(profile, &p);
	if (rc != CNP_OK)
		return rc;
	struct cnp_sim_model *m = cnp_calloc(1, sizeof(*m));
	if (!m) {
		cnp_sim_profile_destroy(p);
		return CNP_ERR_NOMEM;
	}
	m->prof = p;
	m->start_us = start_us;
	m->duration_us = duration_us;
	sim_rng_seed(&m->sched_rng, seed, 1);
	struct sim *s = &m->sim;
	s->prof = p;
	s->kind = strcmp(p->name, "ev") == 0 ? SIM_EV : SIM_ICE;
	sim_world_init(s, seed);
	if (s->kind == SIM_EV)
		sim_ev_init(s);
	else
		sim_ice_init(s);
	rc = setup_schedule(m);
	if (rc != CNP_OK) {
		cnp_sim_model_destroy(m);
		return rc;
	}
	*out = m;
	return CNP_OK;
}

const struct cnp_sim_profile *cnp_sim_model_profile(const struct cnp_sim_model *m)
{
	return m->prof;
}

static void put_bits(uint8_t *data, const struct cnp_sim_signal *s, uint64_t v)
{
	if (!(s->flags & CNP_SIM_SIG_MOTOROLA)) {
		for (unsigned i = 0; i < s->size; i++) {
			unsigned p = s->start + i;
			if ((v >> i) & 1u)
				data[p / 8] |= (uint8_t)(1u << (p % 8));
		}
		return;
	}
	unsigned p = s->start;
	for (unsigned i = s->size; i-- > 0;) {
		if ((v >> i) & 1u)
			data[p / 8] |= (uint8_t)(1u << (p % 8));
		p = (p % 8 == 0) ? p + 15 : p - 1;
	}
}

static void build_frame(struct cnp_sim_model *m, unsigned mi, unsigned mux, struct cnp_frame *f)
{
	const struct cnp_sim_message *msg = &m->prof->messages[mi];
	const struct cnp_sim_msg_impl *impl = &m->prof->impl[mi];
	struct sim_out *o = &m->out;
	o->msg = msg;
	o->next = 0;
	o->errors = 0;
	o->mux = msg->n_mux > 1 ? (int)mux : -1;
	memset(o->raw, 0, sizeof(int64_t) * msg->n_signals);
	impl->fill(&m->sim, o, impl->param, mux);
	while (o->next < msg->n_signals && !is_value(&msg->signals[o->next], o->mux))
		o->next++;
	if (o->errors || o->next != msg->n_signals)
		m->st.fill_errors++;

	memset(f, 0, sizeof(*f)); /* every byte defined, also past len */
	int ck = -1;
	for (unsigned i = 0; i < msg->n_signals; i++) {
		const struct cnp_sim_signal *s = &msg->signals[i];
		int64_t v = o->raw[i];
		if (s->flags & CNP_SIM_SIG_CHECKSUM) {
			ck = (int)i;
			continue;
		}
		if (s->flags & CNP_SIM_SIG_MUX)
			v = mux;
		else if (s->flags & CNP_SIM_SIG_COUNTER)
			v = m->counter[mi] & (((int64_t)1 << s->size) - 1);
		else if (!is_value(s, o->mux))
			continue;
		if (v < s->raw_min || v > s->raw_max) {
			m->st.saturated++;
			v = v < s->raw_min ? s->raw_min : s->raw_max;
		}
		uint64_t bits = (uint64_t)v & ((s->size >= 64 ? 0 : ((uint64_t)1 << s->size)) - 1u);
		put_bits(f->data, s, bits);
	}
	m->counter[mi]++;
	if (ck >= 0) {
		unsigned byte = bit_pos(&msg->signals[ck], 0) / 8;
		f->data[byte] = checksum((enum cnp_sim_checksum)msg->checksum, msg->id, f->data,
		                         msg->len, byte);
	}
	f->id = msg->id;
	f->flags = (uint8_t)((msg->ext ? CNP_FRAME_EXT : 0) | (msg->fd ? CNP_FRAME_FD : 0));
	f->fd_flags = msg->fd ? 1u : 0u; /* bit rate switch */
	f->len = msg->len;
	f->dlc = 0;
	f->iface = msg->bus;
	f->style = 0;
}

int cnp_sim_model_next(struct cnp_sim_model *m, struct cnp_frame *f)
{
	if (m->eof)
		return CNP_ERR_EOF;
	int best = -1;
	for (unsigned b = 0; b < m->prof->n_buses; b++) {
		struct bus_state *bs = &m->bus[b];
		if (!bs->n)
			continue;
		if (bs->cand < 0)
			pick(m, b);
		if (best < 0 || bs->cand_end_ns < m->bus[best].cand_end_ns)
			best = (int)b;
	}
	if (best < 0) {
		m->eof = 1;
		return CNP_ERR_EOF;
	}
	struct bus_state *bs = &m->bus[best];
	uint64_t end_ns = bs->cand_end_ns;
	uint64_t t_us = end_ns / 1000u;
	if (m->duration_us && t_us >= m->duration_us) {
		m->eof = 1;
		m->st.sim_us = m->duration_us;
		return CNP_ERR_EOF;
	}
	/* Physics up to this instant: the step at k * 10 ms gives the state
	 * that frames until the next step report. */
	while (m->sim.tick * SIM_TICK_US <= t_us) {
		m->sim.now_us = m->sim.tick * SIM_TICK_US;
		sim_world_step(&m->sim);
		if (m->sim.kind == SIM_EV)
			sim_ev_step(&m->sim);
		else
			sim_ice_step(&m->sim);
		m->sim.tick++;
	}
	struct entry *e = &m->entries[bs->cand];
	unsigned mi = e->msg + e->pos;
	build_frame(m, mi, e->mux, f);
	f->ts_us = m->start_us + t_us;
	const struct cnp_sim_message *msg = &m->prof->messages[mi];
	m->st.frames[best]++;
	m->st.payload_bytes[best] += msg->len;
	m->st.busy_ns[best] += msg->tx_ns;
	m->st.sim_us = t_us;
	/* Next: the group's next member at once, or the next period. */
	const struct cnp_sim_message *first = &m->prof->messages[e->msg];
	if (first->burst > 1 && e->pos + 1u < first->burst) {
		e->pos++;
	} else {
		e->pos = 0;
		e->ideal_ns += e->period_ns;
		e->due_ns = e->ideal_ns + jitter(m, e);
	}
	bs->free_ns = end_ns;
	bs->cand = -1;
	return CNP_OK;
}

void cnp_sim_model_get_stats(const struct cnp_sim_model *m, struct cnp_sim_model_stats *st)
{
	*st = m->st;
}
