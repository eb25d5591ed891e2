/*
 * The simulator's DBC file, written from the same tables the model sends
 * by (tools/sim/ev.dbc and ice.dbc are this output, checked by a test).
 * Plain Vector DBC: nodes, messages (29-bit ids with bit 31 set), signals
 * with multiplexing, comments, value tables and the attributes
 * GenMsgCycleTime, VFrameFormat (CAN FD messages) and SimBus (the
 * interface the message is sent on).
 */
#include "drivers/sim_internal.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void add(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct buf *b, const char *fmt, ...)
{
	if (b->oom)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *q = cnp_realloc(b->p, cap);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

/* A number as plain decimal text, no exponent, no trailing zeros: 0.001,
 * -40, 0.00000001. The values are short decimals in the tables; printf's
 * correctly rounded conversion gives the same text everywhere. */
static const char *num(char *out, size_t cap, double v)
{
	snprintf(out, cap, "%.10f", v);
	char *dot = strchr(out, '.');
	if (dot) {
		char *end = out + strlen(out);
		while (end > dot + 1 && end[-1] == '0')
			*--end = 0;
		if (end == dot + 1)
			*dot = 0;
	}
	if (strcmp(out, "-0") == 0)
		memmove(out, out + 1, 2);
	return out;
}

/* A comment's text with any double quote made single. */
static void add_quoted(struct buf *b, const char *s)
{
	add(b, "\"");
	for (; *s; s++)
		add(b, "%c", *s == '"' ? '\'' : *s);
	add(b, "\"");
}

static uint32_t dbc_id(const struct cnp_sim_message *m)
{
	return m->ext ? m->id | 0x80000000u : m->id;
}

int cnp_sim_dbc_write(const struct cnp_sim_profile *p, char **text, size_t *len)
{
	struct buf b = {0};
	char n1[64], n2[64], n3[64], n4[64];
	int fd_any = 0;
	add(&b, "VERSION \"canopy-sim %s 1\"\n\n\n", p->name);
	add(&b, "NS_ :\n\tNS_DESC_\n\tCM_\n\tBA_DEF_\n\tBA_\n\tVAL_\n\tCAT_DEF_\n\tCAT_\n\tFILTER\n"
	        "\tBA_DEF_DEF_\n\tEV_DATA_\n\tENVVAR_DATA_\n\tSGTYPE_\n\tSGTYPE_VAL_\n"
	        "\tBA_DEF_SGTYPE_\n\tBA_SGTYPE_\n\tSIG_TYPE_REF_\n\tVAL_TABLE_\n\tSIG_GROUP_\n"
	        "\tSIG_VALTYPE_\n\tSIGTYPE_VALTYPE_\n\tBO_TX_BU_\n\tBA_DEF_REL_\n\tBA_REL_\n"
	        "\tBA_DEF_DEF_REL_\n\tBU_SG_REL_\n\tBU_EV_REL_\n\tBU_BO_REL_\n\tSG_MUL_VAL_\n\n");
	add(&b, "BS_:\n\nBU_:");
	for (unsigned i = 0; i < p->n_nodes; i++)
		add(&b, " %s", p->nodes[i]);
	add(&b, "\n\n");

	for (unsigned i = 0; i < p->n_messages; i++) {
		const struct cnp_sim_message *m = &p->messages[i];
		fd_any |= m->fd;
		add(&b, "\nBO_ %u %s: %u %s\n", dbc_id(m), m->name, m->len, m->sender);
		for (unsigned k = 0; k < m->n_signals; k++) {
			const struct cnp_sim_signal *s = &m->signals[k];
			char mux[16] = "";
			if (s->flags & CNP_SIM_SIG_MUX)
				snprintf(mux, sizeof(mux), " M");
			else if (s->mux >= 0)
				snprintf(mux, sizeof(mux), " m%d", s->mux);
			add(&b, " SG_ %s%s : %u|%u@%c%c (%s,%s) [%s|%s] \"%s\" Vector__XXX\n", s->name, mux,
			    s->start, s->size, (s->flags & CNP_SIM_SIG_MOTOROLA) ? '0' : '1',
			    (s->flags & CNP_SIM_SIG_SIGNED) ? '-' : '+', num(n1, sizeof(n1), s->factor),
			    num(n2, sizeof(n2), s->offset), num(n3, sizeof(n3), s->min),
			    num(n4, sizeof(n4), s->max), s->unit);
		}
	}
	add(&b, "\n\n");

	add(&b, "CM_ ");
	add_quoted(&b, p->title);
	add(&b, ";\n");
	for (unsigned i = 0; i < p->n_messages; i++) {
		const struct cnp_sim_message *m = &p->messages[i];
		if (m->comment) {
			add(&b, "CM_ BO_ %u ", dbc_id(m));
			add_quoted(&b, m->comment);
			add(&b, ";\n");
		}
		for (unsigned k = 0; k < m->n_signals; k++) {
			const struct cnp_sim_signal *s = &m->signals[k];
			if (!s->comment)
				continue;
			add(&b, "CM_ SG_ %u %s ", dbc_id(m), s->name);
			add_quoted(&b, s->comment);
			add(&b, ";\n");
		}
	}

	add(&b, "BA_DEF_ BO_  \"GenMsgCycleTime\" INT 0 65535;\n");
	add(&b, "BA_DEF_ BO_  \"VFrameFormat\" ENUM  \"StandardCAN\",\"ExtendedCAN\",\"reserved\","
	        "\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\","
	        "\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"reserved\",\"StandardCAN_FD\","
	        "\"ExtendedCAN_FD\";\n");
	add(&b, "BA_DEF_ BO_  \"SimBus\" STRING ;\n");
	add(&b, "BA_DEF_  \"BusType\" STRING ;\n");
	add(&b, "BA_DEF_  \"DBName\" STRING ;\n");
	add(&b, "BA_DEF_DEF_  \"GenMsgCycleTime\" 0;\n");
	add(&b, "BA_DEF_DEF_  \"VFrameFormat\" \"StandardCAN\";\n");
	add(&b, "BA_DEF_DEF_  \"SimBus\" \"\";\n");
	add(&b, "BA_DEF_DEF_  \"BusType\" \"CAN\";\n");
	add(&b, "BA_DEF_DEF_  \"DBName\" \"\";\n");
	add(&b, "BA_ \"BusType\" \"%s\";\n", fd_any ? "CAN FD" : "CAN");
	add(&b, "BA_ \"DBName\" \"canopy_sim_%s\";\n", p->name);
	for (unsigned i = 0; i < p->n_messages; i++) {
		const struct cnp_sim_message *m = &p->messages[i];
		/* A multiplexed id repeats n_mux times per period. */
		uint32_t cycle_ms = (m->period_us / m->n_mux + 500u) / 1000u;
		add(&b, "BA_ \"GenMsgCycleTime\" BO_ %u %u;\n", dbc_id(m), cycle_ms);
		if (m->fd || m->ext)
			add(&b, "BA_ \"VFrameFormat\" BO_ %u %u;\n", dbc_id(m),
			    m->fd ? (m->ext ? 15u : 14u) : 1u);
		add(&b, "BA_ \"SimBus\" BO_ %u \"%s\";\n", dbc_id(m), p->buses[m->bus].name);
	}
	for (unsigned i = 0; i < p->n_messages; i++) {
		const struct cnp_sim_message *m = &p->messages[i];
		for (unsigned k = 0; k < m->n_signals; k++)
			if (m->signals[k].values)
				add(&b, "VAL_ %u %s %s ;\n", dbc_id(m), m->signals[k].name, m->signals[k].values);
	}
	add(&b, "\n");
	if (b.oom) {
		cnp_free(b.p);
		return CNP_ERR_NOMEM;
	}
	*text = b.p;
	*len = b.len;
	return CNP_OK;
}
