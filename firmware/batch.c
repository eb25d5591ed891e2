#include "firmware/batch.h"

#include "firmware/alloc.h"
#include "firmware/error.h"
#include "firmware/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const drop_names[CNP_DROP_REASONS] = {
	"malformed_input", "spool_full", "corrupt_batch", "kernel",
};

const char *cnp_drop_reason_name(enum cnp_drop_reason r)
{
	return (unsigned)r < CNP_DROP_REASONS ? drop_names[r] : "unknown";
}

struct cnp_batch_writer {
	const struct cnp_frame_codec *codec;
	struct cnp_frame_encoder *enc;
	struct cnp_sig_encoder *sig;    /* signal samples */
	struct cnp_event_encoder *ev;   /* trigger events */
	uint64_t first_us, last_us;
	int has_items;
	uint32_t per_iface[CNP_IFACE_MAX];
};

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int cnp_batch_writer_create(struct cnp_batch_writer **out,
                            const struct cnp_frame_codec *codec,
                            size_t max_bytes, int zlib_level)
{
	struct cnp_batch_writer *w = cnp_calloc(1, sizeof(*w));
	if (!w)
		return CNP_ERR_NOMEM;
	w->codec = codec;
	w->enc = codec->create(max_bytes, zlib_level);
	w->sig = cnp_sig_encoder_create(max_bytes, zlib_level);
	w->ev = cnp_event_encoder_create(zlib_level);
	if (!w->enc || !w->sig || !w->ev) {
		cnp_batch_writer_destroy(w);
		return CNP_ERR_NOMEM;
	}
	*out = w;
	return CNP_OK;
}

void cnp_batch_writer_destroy(struct cnp_batch_writer *w)
{
	if (!w)
		return;
	if (w->enc)
		w->codec->destroy(w->enc);
	cnp_sig_encoder_destroy(w->sig);
	cnp_event_encoder_destroy(w->ev);
	cnp_free(w);
}

int cnp_batch_writer_add(struct cnp_batch_writer *w, const struct cnp_frame *f)
{
	int rc = w->codec->add(w->enc, f);
	if (rc != CNP_OK)
		return rc;
	if (!w->has_items)
		w->first_us = f->ts_us;
	w->has_items = 1;
	w->last_us = f->ts_us;
	w->per_iface[f->iface % CNP_IFACE_MAX]++;
	return CNP_OK;
}

uint32_t cnp_batch_writer_count(const struct cnp_batch_writer *w)
{
	return w->codec->count(w->enc);
}

int cnp_batch_writer_add_sample(struct cnp_batch_writer *w, const struct cnp_sig_desc *d,
                                uint64_t ts_us, uint64_t raw)
{
	int rc = cnp_sig_encoder_add(w->sig, d, ts_us, raw);
	if (rc != CNP_OK)
		return rc;
	if (!w->has_items)
		w->first_us = ts_us;
	w->has_items = 1;
	w->last_us = ts_us;
	return CNP_OK;
}

int cnp_batch_writer_add_event(struct cnp_batch_writer *w, const char *json)
{
	return cnp_event_encoder_add(w->ev, json);
}

void cnp_batch_writer_overfill(struct cnp_batch_writer *w, int on)
{
	cnp_sig_encoder_overfill(w->sig, on);
}

int cnp_batch_writer_full(const struct cnp_batch_writer *w)
{
	return cnp_sig_encoder_full(w->sig);
}

uint32_t cnp_batch_writer_items(const struct cnp_batch_writer *w)
{
	return w->codec->count(w->enc) + cnp_sig_encoder_count(w->sig) +
	       cnp_event_encoder_count(w->ev);
}

static cJSON *build_manifest(const struct cnp_batch_writer *w,
                             const struct cnp_batch_info *info, uint32_t frames)
{
	cJSON *m = cJSON_CreateObject();
	cJSON *ifs = NULL, *t = NULL, *d = NULL;
	if (!m || !cJSON_AddStringToObject(m, "format", "canopy-batch") ||
	    cnp_json_add_uint(m, "version", CNP_BATCH_MAJOR) ||
	    !cJSON_AddStringToObject(m, "vehicle", info->vehicle) ||
	    !cJSON_AddStringToObject(m, "spool", info->spool_id) ||
	    cnp_json_add_uint(m, "boot", info->boot) ||
	    cnp_json_add_uint(m, "seq", info->seq) ||
	    cnp_json_add_uint(m, "frames", frames) ||
	    !(ifs = cJSON_AddArrayToObject(m, "interfaces")))
		goto fail;
	for (unsigned i = 0; i < info->ifaces->count; i++) {
		cJSON *e = cJSON_CreateObject();
		if (!e)
			goto fail;
		cJSON_AddItemToArray(ifs, e);
		if (!cJSON_AddStringToObject(e, "name", info->ifaces->names[i]) ||
		    cnp_json_add_uint(e, "frames", w->per_iface[i]))
			goto fail;
	}
	if (!(t = cJSON_AddObjectToObject(m, "time")) ||
	    cnp_json_add_uint(t, "first_us", w->first_us) ||
	    cnp_json_add_uint(t, "last_us", w->last_us) ||
	    cnp_json_add_uint(t, "sealed_wall_us", info->sealed_wall_us) ||
	    cnp_json_add_uint(t, "sealed_mono_us", info->sealed_mono_us) ||
	    !(d = cJSON_AddObjectToObject(m, "dropped")))
		goto fail;
	/* Only the reasons that lost frames: a reader takes a missing one as 0,
	 * and four zeros cost 64 bytes in every batch. */
	for (int r = 0; r < CNP_DROP_REASONS; r++)
		if (info->dropped[r] && cnp_json_add_uint(d, drop_names[r], info->dropped[r]))
			goto fail;
	if (info->has_prev) {
		char hex[2 * CNP_SHA256_LEN + 1];
		cnp_hex(info->prev_sha256, CNP_SHA256_LEN, hex);
		if (!cJSON_AddStringToObject(m, "prev_sha256", hex))
			goto fail;
	} else if (!cJSON_AddNullToObject(m, "prev_sha256")) {
		goto fail;
	}
	uint32_t samples = cnp_sig_encoder_count(w->sig), events = cnp_event_encoder_count(w->ev);
	/* Only batches of 1.2 carry these keys: a raw batch stays 1.1. */
	if ((samples && cnp_json_add_uint(m, "samples", samples)) ||
	    (events && cnp_json_add_uint(m, "events", events)) ||
	    (info->schemes_version &&
	     !cJSON_AddStringToObject(m, "schemes", info->schemes_version)) ||
	    (info->priority && !cJSON_AddNumberToObject(m, "priority", (double)info->priority)))
		goto fail;
	cJSON *po = NULL;
	if (info->has_polling &&
	    (!(po = cJSON_AddObjectToObject(m, "polling")) ||
	     cnp_json_add_uint(po, "requests", info->poll_requests) ||
	     cnp_json_add_uint(po, "responses", info->poll_responses) ||
	     cnp_json_add_uint(po, "timeouts", info->poll_timeouts) ||
	     cnp_json_add_uint(po, "negative", info->poll_negative)))
		goto fail;
	cJSON *tp = NULL;
	if (info->has_transport &&
	    (!(tp = cJSON_AddObjectToObject(m, "transport")) ||
	     cnp_tp_stats_json(tp, &info->tp_isotp, &info->tp_j1939, 0) != CNP_OK))
		goto fail;
	if (!cJSON_AddStringToObject(m, "codec", w->codec->name) ||
	    !cJSON_AddStringToObject(m, "agent", "canopy " CANOPY_VERSION))
		goto fail;
	return m;
fail:
	cJSON_Delete(m);
	return NULL;
}

struct out_section {
	uint8_t kind, codec;
	uint16_t flags;
	uint32_t count;
	uint8_t *body;
	size_t stored_len, raw_len;
};

int cnp_batch_writer_finish(struct cnp_batch_writer *w,
                            const struct cnp_batch_info *info, uint8_t **out,
                            size_t *out_len, uint8_t digest[CNP_SHA256_LEN])
{
	/* An empty batch is allowed: it reports drops when no frame came. */
	uint32_t frames = w->codec->count(w->enc);
	uint32_t samples = cnp_sig_encoder_count(w->sig), events = cnp_event_encoder_count(w->ev);
	if (!w->has_items)
		w->first_us = w->last_us = 0;
	int rc = CNP_ERR_NOMEM;
	uint8_t *buf = NULL;
	char *json = NULL;
	struct out_section sec[3];
	unsigned nsec = 0;
	memset(sec, 0, sizeof(sec));
	cJSON *m = build_manifest(w, info, frames);
	if (!m || !(json = cJSON_PrintUnformatted(m)))
		goto out;
	/* A raw-frame section unless the batch holds only samples or events:
	 * a batch of nothing still has its (empty) raw section, as in 1.1. */
	if (frames || (!samples && !events)) {
		sec[nsec] = (struct out_section){CNP_SECTION_RAW_FRAMES, w->codec->id,
		                                 CNP_SECTION_CRITICAL, frames, NULL, 0, 0};
		rc = w->codec->finish(w->enc, &sec[nsec].body, &sec[nsec].stored_len,
		                      &sec[nsec].raw_len);
		if (rc != CNP_OK)
			goto out;
		nsec++;
	}
	/* Not critical: a 1.1 reader skips them and still reads the frames. */
	if (samples) {
		sec[nsec] = (struct out_section){CNP_SECTION_SIGNALS, CNP_CODEC_SIGNALS_ZLIB, 0,
		                                 samples, NULL, 0, 0};
		rc = cnp_sig_encoder_finish(w->sig, &sec[nsec].body, &sec[nsec].stored_len,
		                            &sec[nsec].raw_len);
		if (rc != CNP_OK)
			goto out;
		nsec++;
	}
	if (events) {
		sec[nsec] = (struct out_section){CNP_SECTION_EVENTS, CNP_CODEC_EVENTS_JSONL_ZLIB, 0,
		                                 events, NULL, 0, 0};
		rc = cnp_event_encoder_finish(w->ev, &sec[nsec].body, &sec[nsec].stored_len,
		                              &sec[nsec].raw_len);
		if (rc != CNP_OK)
			goto out;
		nsec++;
	}
	size_t mlen = strlen(json);
	/* An encrypted batch wraps each section in an encrypted one. */
	size_t sealed = info->encrypt_to ? CNP_BATCH_SECTION_HEADER_LEN + CNP_SEAL_OVERHEAD : 0;
	/* Room for the longest signature; the batch ends where it ends. */
	size_t total = CNP_BATCH_HEADER_LEN + mlen +
	               (info->signer ? CNP_BATCH_SIG_HEADER_LEN + CNP_ECDSA_P256_SIG_MAX : 0) +
	               CNP_SHA256_LEN;
	rc = CNP_ERR_TOOBIG;
	if (mlen > UINT32_MAX)
		goto out;
	for (unsigned i = 0; i < nsec; i++) {
		if (sec[i].stored_len > UINT32_MAX - CNP_BATCH_SECTION_HEADER_LEN - sealed ||
		    sec[i].raw_len > UINT32_MAX)
			goto out;
		total += CNP_BATCH_SECTION_HEADER_LEN + sec[i].stored_len + sealed;
	}
	buf = cnp_malloc(total);
	if (!buf) {
		rc = CNP_ERR_NOMEM;
		goto out;
	}
	uint8_t *p = buf;
	memcpy(p, CNP_BATCH_MAGIC, 4);
	p[4] = CNP_BATCH_MAJOR;
	/* The lowest minor version whose readers know every section. */
	p[5] = w->codec->id >= CNP_CODEC_COLS_CK_ZLIB ? CNP_BATCH_MINOR
	       : samples || events                   ? CNP_BATCH_MINOR_SIGNALS
	                                             : CNP_BATCH_MINOR_RAW;
	put_u16(p + 6, info->signer ? CNP_BATCH_FLAG_SIGNED : 0);
	put_u32(p + 8, (uint32_t)mlen);
	put_u32(p + 12, nsec);
	p += CNP_BATCH_HEADER_LEN;
	memcpy(p, json, mlen);
	p += mlen;
	for (unsigned i = 0; i < nsec; i++) {
		uint8_t *envelope = NULL;
		if (info->encrypt_to) {
			/* Its body seals the section written below, in place. */
			size_t inner = CNP_BATCH_SECTION_HEADER_LEN + sec[i].stored_len;
			p[0] = CNP_SECTION_ENCRYPTED;
			p[1] = CNP_SEAL_P256_HKDF_AES256GCM;
			put_u16(p + 2, CNP_SECTION_CRITICAL);
			put_u32(p + 4, sec[i].count);
			put_u32(p + 8, (uint32_t)inner);
			put_u32(p + 12, (uint32_t)(inner + CNP_SEAL_OVERHEAD));
			p += CNP_BATCH_SECTION_HEADER_LEN;
			envelope = p;
			p += CNP_SEAL_HEAD_LEN;
		}
		p[0] = sec[i].kind;
		p[1] = sec[i].codec;
		put_u16(p + 2, sec[i].flags);
		put_u32(p + 4, sec[i].count);
		put_u32(p + 8, (uint32_t)sec[i].raw_len);
		put_u32(p + 12, (uint32_t)sec[i].stored_len);
		p += CNP_BATCH_SECTION_HEADER_LEN;
		memcpy(p, sec[i].body, sec[i].stored_len);
		p += sec[i].stored_len;
		if (envelope) {
			/* Bound to every byte before the envelope: header,
			 * manifest, earlier sections, this section's header. A
			 * fixed test key serves one section only (a key and
			 * nonce must never be used twice). */
			uint8_t *inner = envelope + CNP_SEAL_HEAD_LEN;
			rc = cnp_seal(info->encrypt_to, i == 0 ? info->test_ephemeral : NULL, buf,
			              (size_t)(envelope - buf), inner, (size_t)(p - inner), envelope);
			if (rc != CNP_OK) {
				memset(inner, 0, (size_t)(p - inner));
				goto out;
			}
			p += CNP_SEAL_TAG_LEN;
		}
	}
	if (info->signer) {
		/* The signature covers every byte before its block, the header
		 * with its signed flag included. */
		uint8_t hash[CNP_SHA256_LEN];
		size_t sig_len = 0;
		cnp_sha256(buf, (size_t)(p - buf), hash);
		rc = cnp_signer_sign(info->signer, hash, p + CNP_BATCH_SIG_HEADER_LEN, &sig_len);
		if (rc != CNP_OK)
			goto out;
		p[0] = CNP_SIG_ECDSA_P256_SHA256;
		p[1] = 0;
		put_u16(p + 2, (uint16_t)sig_len);
		p += CNP_BATCH_SIG_HEADER_LEN + sig_len;
	}
	cnp_sha256(buf, (size_t)(p - buf), p);
	memcpy(digest, p, CNP_SHA256_LEN);
	*out = buf;
	*out_len = (size_t)(p - buf) + CNP_SHA256_LEN;
	buf = NULL;
	memset(w->per_iface, 0, sizeof(w->per_iface));
	w->first_us = w->last_us = 0;
	w->has_items = 0;
	rc = CNP_OK;
out:
	cnp_free(buf);
	for (unsigned i = 0; i < nsec; i++)
		cnp_free(sec[i].body);
	cJSON_free(json);
	cJSON_Delete(m);
	return rc;
}

static int failf(char *why, size_t why_len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int failf(char *why, size_t why_len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return rc;
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return CNP_ERR_INVAL;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = hex[i];
		unsigned v = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		                                    : 16;
		if (v > 15)
			return CNP_ERR_INVAL;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return CNP_OK;
}

static int parse_manifest(struct cnp_batch *b, const char *text, size_t len,
                          char *why, size_t why_len)
{
	int rc = CNP_ERR_CORRUPT;
	cnp_json_clear_alloc_failure();
	cJSON *m = cJSON_ParseWithLength(text, len);
	if (!m) {
		/* A batch must never be quarantined as corrupt because memory
		 * ran short: tell a failed allocation from bad syntax. */
		if (cnp_json_alloc_failed()) {
			rc = CNP_ERR_NOMEM;
			failf(why, why_len, rc, "out of memory reading the manifest");
		} else {
			failf(why, why_len, rc, "manifest is not valid JSON");
		}
		goto out;
	}
	uint64_t v;
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(m, "vehicle");
	if (!cJSON_IsString(it) || strlen(it->valuestring) >= sizeof(b->vehicle)) {
		failf(why, why_len, rc, "manifest: \"vehicle\" missing or too long");
		goto out;
	}
	strcpy(b->vehicle, it->valuestring);
	it = cJSON_GetObjectItemCaseSensitive(m, "spool");
	if (!cJSON_IsString(it) || strlen(it->valuestring) != CNP_SPOOL_ID_LEN ||
	    strspn(it->valuestring, "0123456789abcdef") != CNP_SPOOL_ID_LEN) {
		failf(why, why_len, rc, "manifest: \"spool\" missing or not %d hex digits",
		      CNP_SPOOL_ID_LEN);
		goto out;
	}
	strcpy(b->spool_id, it->valuestring);
	if (cnp_json_uint(cJSON_GetObjectItemCaseSensitive(m, "boot"), UINT32_MAX, &v)) {
		failf(why, why_len, rc, "manifest: \"boot\" missing or not a whole number");
		goto out;
	}
	b->boot = (uint32_t)v;
	if (cnp_json_uint(cJSON_GetObjectItemCaseSensitive(m, "seq"), UINT64_MAX, &b->seq)) {
		failf(why, why_len, rc, "manifest: \"seq\" missing or not a whole number");
		goto out;
	}
	if (cnp_json_uint(cJSON_GetObjectItemCaseSensitive(m, "frames"), UINT32_MAX, &v)) {
		failf(why, why_len, rc, "manifest: \"frames\" missing or not a whole number");
		goto out;
	}
	b->frames = (uint32_t)v;
	const char *const counted[2] = {"samples", "events"};
	uint32_t *const cdst[2] = {&b->samples, &b->events};
	for (int k = 0; k < 2; k++) {
		it = cJSON_GetObjectItemCaseSensitive(m, counted[k]);
		if (it && cnp_json_uint(it, UINT32_MAX, &v)) {
			failf(why, why_len, rc, "manifest: \"%s\" is not a whole number", counted[k]);
			goto out;
		}
		*cdst[k] = it ? (uint32_t)v : 0;
	}
	it = cJSON_GetObjectItemCaseSensitive(m, "schemes");
	if (cJSON_IsString(it))
		snprintf(b->schemes, sizeof(b->schemes), "%s", it->valuestring);
	it = cJSON_GetObjectItemCaseSensitive(m, "interfaces");
	if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > CNP_IFACE_MAX) {
		failf(why, why_len, rc, "manifest: \"interfaces\" missing or too long");
		goto out;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, it)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
		uint8_t idx;
		if (!cJSON_IsString(name) ||
		    cnp_ifaces_intern(&b->ifaces, name->valuestring,
		                      (unsigned)strlen(name->valuestring), &idx) != CNP_OK ||
		    idx + 1u != b->ifaces.count) {
			failf(why, why_len, rc, "manifest: bad or repeated interface name");
			goto out;
		}
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "time");
	if (cnp_json_uint(cJSON_GetObjectItemCaseSensitive(t, "first_us"), UINT64_MAX, &b->first_us) ||
	    cnp_json_uint(cJSON_GetObjectItemCaseSensitive(t, "last_us"), UINT64_MAX, &b->last_us)) {
		failf(why, why_len, rc, "manifest: \"time\" missing first_us/last_us");
		goto out;
	}
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "dropped");
	for (int r = 0; r < CNP_DROP_REASONS; r++) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, drop_names[r]);
		if (n && cnp_json_uint(n, UINT64_MAX, &b->dropped[r])) {
			failf(why, why_len, rc, "manifest: dropped.%s is not a whole number",
			      drop_names[r]);
			goto out;
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(m, "priority");
	if (it) {
		double p = cJSON_IsNumber(it) ? it->valuedouble : 0.5;
		if (!(p >= -1e15 && p <= 1e15) || (double)(int64_t)p < p || (double)(int64_t)p > p) {
			failf(why, why_len, rc, "manifest: priority is not a whole number");
			goto out;
		}
		b->priority = (int64_t)p;
	}
	it = cJSON_GetObjectItemCaseSensitive(m, "prev_sha256");
	if (cJSON_IsString(it)) {
		if (hex_to_bytes(it->valuestring, b->prev_sha256, CNP_SHA256_LEN)) {
			failf(why, why_len, rc, "manifest: prev_sha256 is not 64 hex digits");
			goto out;
		}
		b->has_prev = 1;
	} else if (it && !cJSON_IsNull(it)) {
		failf(why, why_len, rc, "manifest: prev_sha256 must be a string or null");
		goto out;
	}
	rc = CNP_OK;
out:
	cJSON_Delete(m);
	return rc;
}

/* The sections this reader decodes. */
static int section_known(uint8_t kind, uint8_t codec)
{
	return (kind == CNP_SECTION_RAW_FRAMES && cnp_codec_by_id(codec)) ||
	       (kind == CNP_SECTION_SIGNALS && codec == CNP_CODEC_SIGNALS_ZLIB) ||
	       (kind == CNP_SECTION_EVENTS && codec == CNP_CODEC_EVENTS_JSONL_ZLIB);
}

/* Each kind's items add up to the manifest's count of that kind; while
 * some sections are encrypted (their kind unknown), all items add up to
 * the manifest's total. */
static int check_counts(const struct cnp_batch *b, char *why, size_t why_len)
{
	static const char *const what[3] = {"frames", "samples", "events"};
	const uint32_t want[3] = {b->frames, b->samples, b->events};
	uint64_t counted[3] = {0, 0, 0}, sealed = 0;
	for (unsigned i = 0; i < b->nsections; i++) {
		if (b->sections[i].kind == CNP_SECTION_ENCRYPTED)
			sealed += b->sections[i].count;
		else
			counted[b->sections[i].kind - 1] += b->sections[i].count;
	}
	if (sealed) {
		uint64_t all = (uint64_t)want[0] + want[1] + want[2];
		if (counted[0] + counted[1] + counted[2] + sealed != all)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "manifest says %llu items, sections hold %llu",
			             (unsigned long long)all,
			             (unsigned long long)(counted[0] + counted[1] + counted[2] + sealed));
		return CNP_OK;
	}
	for (int k = 0; k < 3; k++)
		if (counted[k] != want[k])
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "manifest says %u %s, sections hold %llu", want[k], what[k],
			             (unsigned long long)counted[k]);
	return CNP_OK;
}

int cnp_batch_open(const uint8_t *buf, size_t len, struct cnp_batch *b,
                   char *why, size_t why_len)
{
	return cnp_batch_open_known(buf, len, NULL, b, why, why_len);
}

int cnp_batch_open_known(const uint8_t *buf, size_t len, const uint8_t *known_digest,
                         struct cnp_batch *b, char *why, size_t why_len)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->len = len;
	if (len < CNP_BATCH_HEADER_LEN + CNP_SHA256_LEN || memcmp(buf, CNP_BATCH_MAGIC, 4) != 0)
		return failf(why, why_len, CNP_ERR_CORRUPT,
		             len < 4 || memcmp(buf, CNP_BATCH_MAGIC, 4) != 0
		                 ? "not a canopy batch (bad magic)"
		                 : "truncated: shorter than a header and digest");
	b->major = buf[4];
	b->minor = buf[5];
	b->flags = get_u16(buf + 6);
	if (b->major != CNP_BATCH_MAJOR)
		return failf(why, why_len, CNP_ERR_UNSUPPORTED,
		             "format version %u.%u is not supported (this reader knows %u.x)",
		             b->major, b->minor, CNP_BATCH_MAJOR);
	size_t body = len - CNP_SHA256_LEN;
	uint8_t digest[CNP_SHA256_LEN];
	if (known_digest && memcmp(known_digest, buf + body, CNP_SHA256_LEN) == 0)
		memcpy(digest, known_digest, CNP_SHA256_LEN);
	else
		cnp_sha256(buf, body, digest);
	if (memcmp(digest, buf + body, CNP_SHA256_LEN) != 0)
		return failf(why, why_len, CNP_ERR_CORRUPT,
		             "SHA-256 digest mismatch: the batch is truncated or altered");
	memcpy(b->sha256, digest, CNP_SHA256_LEN);
	uint32_t mlen = get_u32(buf + 8);
	uint32_t nsec = get_u32(buf + 12);
	if (mlen > body - CNP_BATCH_HEADER_LEN)
		return failf(why, why_len, CNP_ERR_CORRUPT, "manifest length beyond the end");
	if (nsec > CNP_BATCH_MAX_SECTIONS)
		return failf(why, why_len, CNP_ERR_CORRUPT, "too many sections (%u)", nsec);
	int rc = parse_manifest(b, (const char *)buf + CNP_BATCH_HEADER_LEN, mlen, why, why_len);
	if (rc != CNP_OK)
		return rc;
	size_t off = CNP_BATCH_HEADER_LEN + mlen;
	for (uint32_t i = 0; i < nsec; i++) {
		if (body - off < CNP_BATCH_SECTION_HEADER_LEN)
			return failf(why, why_len, CNP_ERR_CORRUPT, "section %u header truncated", i);
		const uint8_t *h = buf + off;
		uint32_t stored = get_u32(h + 12);
		off += CNP_BATCH_SECTION_HEADER_LEN;
		if (stored > body - off)
			return failf(why, why_len, CNP_ERR_CORRUPT, "section %u runs past the end", i);
		uint16_t flags = get_u16(h + 2);
		int known = section_known(h[0], h[1]) ||
		            (h[0] == CNP_SECTION_ENCRYPTED && h[1] == CNP_SEAL_P256_HKDF_AES256GCM);
		if (!known && (flags & CNP_SECTION_CRITICAL))
			return failf(why, why_len, CNP_ERR_UNSUPPORTED,
			             "section %u has kind %u / codec %u, which this reader does not know",
			             i, h[0], h[1]);
		if (known) {
			unsigned k = b->nsections++;
			b->sections[k].kind = h[0];
			b->sections[k].codec = h[1];
			b->sections[k].flags = flags;
			b->sections[k].count = get_u32(h + 4);
			b->sections[k].raw_len = get_u32(h + 8);
			b->sections[k].stored_len = stored;
			b->sections[k].offset = off;
			b->sections[k].body = buf + off;
			if (h[0] == CNP_SECTION_ENCRYPTED)
				b->encrypted = 1;
		}
		off += stored;
	}
	if (b->flags & CNP_BATCH_FLAG_SIGNED) {
		/* The signature block follows the last section and ends exactly
		 * where the digest begins. */
		if (body - off < CNP_BATCH_SIG_HEADER_LEN)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "flagged as signed, but no signature block follows the sections");
		const uint8_t *h = buf + off;
		uint16_t slen = get_u16(h + 2);
		if (h[1] != 0)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "signature block: reserved byte is %u, not 0", h[1]);
		if (slen != body - off - CNP_BATCH_SIG_HEADER_LEN)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "signature block: length %u, but %zu bytes lie before the digest",
			             slen, body - off - CNP_BATCH_SIG_HEADER_LEN);
		b->is_signed = 1;
		b->sig_type = h[0];
		b->signed_len = off;
		b->sig_offset = off + CNP_BATCH_SIG_HEADER_LEN;
		b->sig_len = slen;
		off = body;
	}
	if (off != body)
		return failf(why, why_len, CNP_ERR_CORRUPT, "%zu unexpected bytes before the digest",
		             body - off);
	return check_counts(b, why, why_len);
}

int cnp_batch_verify(const struct cnp_batch *b, const struct cnp_verifier *v,
                     char *why, size_t why_len)
{
	if (!b->is_signed)
		return failf(why, why_len, CNP_ERR_SIGNATURE,
		             "unsigned: the batch carries no signature");
	if (b->sig_type != CNP_SIG_ECDSA_P256_SHA256)
		return failf(why, why_len, CNP_ERR_SIGNATURE,
		             "signature type %u is unknown to this reader", b->sig_type);
	uint8_t hash[CNP_SHA256_LEN];
	cnp_sha256(b->buf, b->signed_len, hash);
	int rc = cnp_verifier_verify(v, hash, b->buf + b->sig_offset, b->sig_len);
	if (rc == CNP_ERR_NOMEM)
		return failf(why, why_len, rc, "out of memory checking the signature");
	if (rc != CNP_OK)
		return failf(why, why_len, CNP_ERR_SIGNATURE,
		             "signature does not match this key (tampered with after "
		             "signing, or signed by another key)");
	return CNP_OK;
}

int cnp_batch_peek_frames(const uint8_t *buf, size_t len, uint32_t *frames)
{
	if (len < CNP_BATCH_HEADER_LEN || memcmp(buf, CNP_BATCH_MAGIC, 4) != 0 ||
	    buf[4] != CNP_BATCH_MAJOR)
		return CNP_ERR_CORRUPT;
	uint32_t mlen = get_u32(buf + 8);
	if (mlen > len - CNP_BATCH_HEADER_LEN)
		return CNP_ERR_CORRUPT;
	cnp_json_clear_alloc_failure();
	cJSON *m = cJSON_ParseWithLength((const char *)buf + CNP_BATCH_HEADER_LEN, mlen);
	if (!m)
		return cnp_json_alloc_failed() ? CNP_ERR_NOMEM : CNP_ERR_CORRUPT;
	uint64_t v;
	int rc = cnp_json_uint(cJSON_GetObjectItemCaseSensitive(m, "frames"), UINT32_MAX, &v);
	cJSON_Delete(m);
	if (rc != CNP_OK)
		return CNP_ERR_CORRUPT;
	*frames = (uint32_t)v;
	return CNP_OK;
}

/* Nonzero, with `why` set, while a section is still encrypted. */
static int still_encrypted(const struct cnp_batch *b, char *why, size_t why_len)
{
	for (unsigned i = 0; i < b->nsections; i++)
		if (b->sections[i].kind == CNP_SECTION_ENCRYPTED) {
			failf(why, why_len, CNP_ERR_KEY,
			      "section %u is encrypted: it needs the receiver's private key "
			      "(canopy-decode --decrypt-key)", i);
			return 1;
		}
	return 0;
}

int cnp_batch_decrypt(struct cnp_batch *batch, const struct cnp_signer *key, uint8_t **plain,
                      char *why, size_t why_len)
{
	*plain = NULL;
	/* Work on a copy: on failure the caller's batch stays as it was. */
	struct cnp_batch copy = *batch, *b = &copy;
	size_t total = 0;
	for (unsigned i = 0; i < b->nsections; i++) {
		if (b->sections[i].kind != CNP_SECTION_ENCRYPTED)
			continue;
		if ((uint64_t)b->sections[i].raw_len + CNP_SEAL_OVERHEAD != b->sections[i].stored_len ||
		    b->sections[i].raw_len < CNP_BATCH_SECTION_HEADER_LEN)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "section %u: encrypted length %u does not fit plaintext length %u",
			             i, b->sections[i].stored_len, b->sections[i].raw_len);
		total += b->sections[i].raw_len;
	}
	if (total == 0)
		return CNP_OK;
	uint8_t *out = cnp_malloc(total);
	if (!out)
		return failf(why, why_len, CNP_ERR_NOMEM, "out of memory decrypting the batch");
	size_t at = 0;
	int rc = CNP_OK;
	for (unsigned i = 0; i < b->nsections && rc == CNP_OK; i++) {
		if (b->sections[i].kind != CNP_SECTION_ENCRYPTED)
			continue;
		char w[200] = "";
		uint8_t *h = out + at;
		rc = cnp_unseal(key, b->buf, b->sections[i].offset, b->sections[i].body,
		                b->sections[i].stored_len, h, w, sizeof(w));
		if (rc != CNP_OK) {
			failf(why, why_len, rc, "section %u: %s", i, w);
			break;
		}
		uint32_t stored = get_u32(h + 12);
		if (!section_known(h[0], h[1]) || get_u32(h + 4) != b->sections[i].count ||
		    (uint64_t)stored + CNP_BATCH_SECTION_HEADER_LEN != b->sections[i].raw_len) {
			rc = failf(why, why_len, CNP_ERR_CORRUPT,
			           "section %u: the decrypted section (kind %u, codec %u, %u items, "
			           "%u bytes) does not fit its envelope", i, h[0], h[1],
			           get_u32(h + 4), stored);
			break;
		}
		b->sections[i].kind = h[0];
		b->sections[i].codec = h[1];
		b->sections[i].flags = get_u16(h + 2);
		b->sections[i].raw_len = get_u32(h + 8);
		b->sections[i].stored_len = stored;
		b->sections[i].body = h + CNP_BATCH_SECTION_HEADER_LEN;
		at += CNP_BATCH_SECTION_HEADER_LEN + stored;
	}
	if (rc == CNP_OK)
		rc = check_counts(b, why, why_len);
	if (rc != CNP_OK) {
		cnp_free(out);
		return rc;
	}
	b->encrypted = 0;
	*batch = copy;
	*plain = out;
	return CNP_OK;
}

struct frames_ctx {
	const struct cnp_batch *b;
	int (*cb)(const struct cnp_frame *f, const char *ifname, void *arg);
	void *arg;
	int bad_iface;
};

static int frame_cb(const struct cnp_frame *f, void *arg)
{
	struct frames_ctx *c = arg;
	if (f->iface >= c->b->ifaces.count) {
		c->bad_iface = 1;
		return CNP_ERR_CORRUPT;
	}
	return c->cb(f, c->b->ifaces.names[f->iface], c->arg);
}

int cnp_batch_frames(const struct cnp_batch *b,
                     int (*cb)(const struct cnp_frame *f, const char *ifname, void *arg),
                     void *arg, char *why, size_t why_len)
{
	struct frames_ctx c = {.b = b, .cb = cb, .arg = arg, .bad_iface = 0};
	if (still_encrypted(b, why, why_len))
		return CNP_ERR_KEY;
	for (unsigned i = 0; i < b->nsections; i++) {
		if (b->sections[i].kind != CNP_SECTION_RAW_FRAMES)
			continue;
		const struct cnp_frame_codec *codec = cnp_codec_by_id(b->sections[i].codec);
		const char *reason = NULL;
		int rc = codec->decode(b->sections[i].body, b->sections[i].stored_len,
		                       b->sections[i].raw_len, b->sections[i].count, frame_cb,
		                       &c, &reason);
		if (c.bad_iface)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "a frame names an interface the manifest does not list");
		if (rc == CNP_ERR_CORRUPT && reason)
			return failf(why, why_len, rc, "section %u: %s", i, reason);
		if (rc != CNP_OK)
			return rc;
	}
	return CNP_OK;
}

struct samples_ctx {
	const struct cnp_batch *b;
	int (*cb)(const struct cnp_sig_sample *s, const char *ifname, void *arg);
	void *arg;
	int bad_iface;
};

static int sample_cb(const struct cnp_sig_sample *s, void *arg)
{
	struct samples_ctx *c = arg;
	if (s->desc->iface >= c->b->ifaces.count) {
		c->bad_iface = 1;
		return CNP_ERR_CORRUPT;
	}
	return c->cb(s, c->b->ifaces.names[s->desc->iface], c->arg);
}

int cnp_batch_samples(const struct cnp_batch *b,
                      int (*cb)(const struct cnp_sig_sample *s, const char *ifname,
                                void *arg),
                      void *arg, char *why, size_t why_len)
{
	if (still_encrypted(b, why, why_len))
		return CNP_ERR_KEY;
	for (unsigned i = 0; i < b->nsections; i++) {
		if (b->sections[i].kind != CNP_SECTION_SIGNALS)
			continue;
		struct samples_ctx c = {b, cb, arg, 0};
		const char *reason = NULL;
		int rc = cnp_sig_decode(b->sections[i].body, b->sections[i].stored_len,
		                        b->sections[i].raw_len, b->sections[i].count,
		                        sample_cb, &c, &reason);
		if (c.bad_iface)
			return failf(why, why_len, CNP_ERR_CORRUPT,
			             "a sample names an interface the manifest does not list");
		if (rc == CNP_ERR_CORRUPT && reason)
			return failf(why, why_len, rc, "section %u: %s", i, reason);
		if (rc != CNP_OK)
			return rc;
	}
	return CNP_OK;
}

int cnp_batch_events(const struct cnp_batch *b, int (*cb)(const char *json, void *arg),
                     void *arg, char *why, size_t why_len)
{
	if (still_encrypted(b, why, why_len))
		return CNP_ERR_KEY;
	for (unsigned i = 0; i < b->nsections; i++) {
		if (b->sections[i].kind != CNP_SECTION_EVENTS)
			continue;
		const char *reason = NULL;
		int rc = cnp_event_decode(b->sections[i].body, b->sections[i].stored_len,
		                          b->sections[i].raw_len, b->sections[i].count, cb, arg,
		                          &reason);
		if (rc == CNP_ERR_CORRUPT && reason)
			return failf(why, why_len, rc, "section %u: %s", i, reason);
		if (rc != CNP_OK)
			return rc;
	}
	return CNP_OK;
}
