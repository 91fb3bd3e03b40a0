/* hv-printk.c — the printk ring reader; see hv-printk.h. */
#include "hv-printk.h"

#include <string.h>

#include "hv-error.h"

#define STATE_SHIFT 62
#define ID_MASK (~(3ull << STATE_SHIFT))
#define STATE_COMMITTED 1
#define STATE_FINALIZED 2
#define MAX_STRUCT 4096

void hv_printk_log_init(HvPrintkLog *log)
{
	memset(log, 0, sizeof(*log));
	log->records = g_array_new(FALSE, TRUE, sizeof(HvPrintkRecord));
}

void hv_printk_log_clear(HvPrintkLog *log)
{
	if (log->records != NULL) {
		for (guint i = 0; i < log->records->len; i++)
			g_free(g_array_index(log->records, HvPrintkRecord, i).text);
		g_array_unref(log->records);
	}
	memset(log, 0, sizeof(*log));
}

static gboolean need(const HvVmcoreinfo *vi, const char *key, gboolean hex, guint64 max,
		     guint64 *ret, GError **error)
{
	gint64 v;

	if (!hv_vmcoreinfo_lookup(vi, key, hex, &v) || (!hex && v < 0) || (guint64)v > max) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "VMCOREINFO: %s missing or out of range (printk ring)", key);
		return FALSE;
	}
	*ret = (guint64)v;
	return TRUE;
}

gboolean hv_printk_layout_from_vmcoreinfo(const HvVmcoreinfo *vi, HvPrintkLayout *l,
					  GError **error)
{
	const guint64 M = MAX_STRUCT;

	memset(l, 0, sizeof(*l));
	if (!need(vi, "SYMBOL(prb)", TRUE, G_MAXUINT64, &l->prb_ptr, error) ||
	    !need(vi, "OFFSET(printk_ringbuffer.desc_ring)", FALSE, M, &l->off_desc_ring, error) ||
	    !need(vi, "OFFSET(printk_ringbuffer.text_data_ring)", FALSE, M, &l->off_text_ring,
		  error) ||
	    !need(vi, "OFFSET(prb_desc_ring.count_bits)", FALSE, M, &l->off_count_bits, error) ||
	    !need(vi, "OFFSET(prb_desc_ring.descs)", FALSE, M, &l->off_descs, error) ||
	    !need(vi, "OFFSET(prb_desc_ring.infos)", FALSE, M, &l->off_infos, error) ||
	    !need(vi, "SIZE(prb_desc)", FALSE, M, &l->size_desc, error) ||
	    !need(vi, "OFFSET(prb_desc.state_var)", FALSE, M, &l->off_state_var, error) ||
	    !need(vi, "OFFSET(prb_desc.text_blk_lpos)", FALSE, M, &l->off_text_lpos, error) ||
	    !need(vi, "OFFSET(prb_data_blk_lpos.begin)", FALSE, M, &l->off_lpos_begin, error) ||
	    !need(vi, "OFFSET(prb_data_blk_lpos.next)", FALSE, M, &l->off_lpos_next, error) ||
	    !need(vi, "SIZE(printk_info)", FALSE, M, &l->size_info, error) ||
	    !need(vi, "OFFSET(printk_info.seq)", FALSE, M, &l->off_seq, error) ||
	    !need(vi, "OFFSET(printk_info.ts_nsec)", FALSE, M, &l->off_ts, error) ||
	    !need(vi, "OFFSET(printk_info.text_len)", FALSE, M, &l->off_text_len, error) ||
	    !need(vi, "OFFSET(printk_info.caller_id)", FALSE, M, &l->off_caller, error) ||
	    !need(vi, "OFFSET(prb_data_ring.size_bits)", FALSE, M, &l->off_size_bits, error) ||
	    !need(vi, "OFFSET(prb_data_ring.data)", FALSE, M, &l->off_data, error))
		return FALSE;
	if (l->off_state_var + 8 > l->size_desc ||
	    l->off_text_lpos + MAX(l->off_lpos_begin, l->off_lpos_next) + 8 > l->size_desc ||
	    l->off_seq + 8 > l->size_info || l->off_ts + 8 > l->size_info ||
	    l->off_text_len + 4 > l->size_info || l->off_caller + 4 > l->size_info) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "VMCOREINFO: printk ring structure offsets do not fit their sizes");
		return FALSE;
	}
	return TRUE;
}

/* The kernel's /dev/kmsg escaping: control bytes (but newline and tab) and
 * invalid UTF-8 become \xNN, so nothing the guest wrote reaches a terminal raw. */
static char *escape_text(const guint8 *p, gsize len)
{
	GString *s = g_string_sized_new(len + 1);
	gboolean utf8 = g_utf8_validate((const char *)p, (gssize)len, NULL);

	for (gsize i = 0; i < len; i++) {
		guint8 c = p[i];

		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || (c >= 0x80 && !utf8))
			g_string_append_printf(s, "\\x%02x", c);
		else
			g_string_append_c(s, (char)c);
	}
	return g_string_free(s, FALSE);
}

static int cmp_seq(gconstpointer a, gconstpointer b)
{
	const HvPrintkRecord *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct {
	guint64 count, size, descs, infos, data;
	guint size_bits;
	guint8 *text;   /* one record's text, up to 64 KiB */
} Ring;

/* One descriptor slot: TRUE and *rec filled when it holds a readable record. */
static gboolean read_slot(const HvKmem *m, const HvPrintkLayout *l, const Ring *r, guint64 idx,
			  HvPrintkRecord *rec, HvPrintkLog *log)
{
	guint64 desc = r->descs + idx * l->size_desc;
	guint64 info = r->infos + idx * l->size_info;
	guint64 sv, begin, next, bid, block, dsize;
	guint32 text_len, caller;
	guint8 lvl;
	guint state;

	if (!hv_kmem_u64(m, desc + l->off_state_var, &sv)) {
		log->unreadable++;
		return FALSE;
	}
	state = (guint)(sv >> STATE_SHIFT);
	if (state != STATE_COMMITTED && state != STATE_FINALIZED)
		return FALSE; /* free, being written, or reusable: not a record */
	if ((sv & ID_MASK) % r->count != idx) {
		log->invalid++;
		return FALSE;
	}
	if (!hv_kmem_u64(m, desc + l->off_text_lpos + l->off_lpos_begin, &begin) ||
	    !hv_kmem_u64(m, desc + l->off_text_lpos + l->off_lpos_next, &next) ||
	    !hv_kmem_u64(m, info + l->off_seq, &rec->seq) ||
	    !hv_kmem_u64(m, info + l->off_ts, &rec->ts_nsec) ||
	    !hv_kmem_read(m, info + l->off_text_len, &text_len, 2) ||
	    !hv_kmem_read(m, info + l->off_text_len + 3, &lvl, 1) ||
	    !hv_kmem_u32(m, info + l->off_caller, &caller)) {
		log->unreadable++;
		return FALSE;
	}
	text_len &= 0xffff;
	rec->caller_id = caller;
	rec->level = lvl >> 5;
	if ((begin & 1) && (next & 1)) {
		/* data-less: an empty line when both say "no data", else lost */
		if (begin != 3 || next != 3) {
			log->invalid++;
			return FALSE;
		}
		rec->text = g_strdup("");
		return TRUE;
	}
	if ((begin & 7) || (next & 7)) {
		log->invalid++;
		return FALSE;
	}
	if ((begin >> r->size_bits) == (next >> r->size_bits) && begin < next) {
		block = begin & (r->size - 1);
		dsize = next - begin;
	} else if (((begin + r->size) >> r->size_bits) == (next >> r->size_bits)) {
		block = 0; /* the block wrapped: the kernel wrote it at the ring's start */
		dsize = next & (r->size - 1);
	} else {
		log->invalid++;
		return FALSE;
	}
	if (dsize < 8 || block + dsize > r->size) {
		log->invalid++;
		return FALSE;
	}
	dsize -= 8;
	if (!hv_kmem_u64(m, r->data + block, &bid)) {
		log->unreadable++;
		return FALSE;
	}
	if (bid != (sv & ID_MASK)) {
		log->invalid++; /* the text was overwritten by a newer record */
		return FALSE;
	}
	if (text_len > dsize)
		text_len = (guint32)dsize;
	if (!hv_kmem_read(m, r->data + block + 8, r->text, text_len)) {
		log->unreadable++;
		return FALSE;
	}
	rec->text = escape_text(r->text, text_len);
	return TRUE;
}

gboolean hv_printk_read(const HvKmem *m, const HvPrintkLayout *l, HvPrintkLog *log,
			GError **error)
{
	guint64 prb, count_bits = 0, size_bits = 0, kept = 0;
	guint32 v;
	Ring r = { 0 };
	GArray *recs = log->records;

	if (!hv_kmem_u64(m, l->prb_ptr, &prb)) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "printk ring: prb at 0x%" G_GINT64_MODIFIER "x is not readable",
			    l->prb_ptr);
		return FALSE;
	}
	if (!hv_kmem_u32(m, prb + l->off_desc_ring + l->off_count_bits, &v) ||
	    !(count_bits = v, hv_kmem_u32(m, prb + l->off_text_ring + l->off_size_bits, &v)) ||
	    !(size_bits = v, hv_kmem_u64(m, prb + l->off_desc_ring + l->off_descs, &r.descs)) ||
	    !hv_kmem_u64(m, prb + l->off_desc_ring + l->off_infos, &r.infos) ||
	    !hv_kmem_u64(m, prb + l->off_text_ring + l->off_data, &r.data)) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "printk ring at 0x%" G_GINT64_MODIFIER "x is not readable", prb);
		return FALSE;
	}
	if (count_bits > HV_PRINTK_MAX_COUNT_BITS || size_bits < 4 ||
	    size_bits > HV_PRINTK_MAX_SIZE_BITS) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "printk ring: impossible geometry (%" G_GUINT64_FORMAT
			    " descriptor bits, %" G_GUINT64_FORMAT " text bits)",
			    count_bits, size_bits);
		return FALSE;
	}
	r.count = 1ull << count_bits;
	r.size_bits = (guint)size_bits;
	r.size = 1ull << size_bits;
	r.text = g_malloc(65536);
	log->slots = r.count;
	/* every slot once, in index order: bounded by the ring's size, never by
	 * ids or links the guest wrote */
	for (guint64 idx = 0; idx < r.count; idx++) {
		HvPrintkRecord rec = { 0 };

		if (!read_slot(m, l, &r, idx, &rec, log))
			continue;
		if (kept + strlen(rec.text) > HV_PRINTK_MAX_TEXT) {
			g_free(rec.text);
			log->truncated = TRUE;
			break;
		}
		kept += strlen(rec.text);
		g_array_append_val(recs, rec);
	}
	g_free(r.text);
	g_array_sort(recs, cmp_seq);
	/* a corrupt ring can repeat a sequence number: keep the first */
	for (guint i = 1; i < recs->len;) {
		HvPrintkRecord *a = &g_array_index(recs, HvPrintkRecord, i - 1);
		HvPrintkRecord *b = &g_array_index(recs, HvPrintkRecord, i);

		if (a->seq == b->seq) {
			g_free(b->text);
			g_array_remove_index(recs, i);
			log->invalid++;
			continue;
		}
		log->missing += b->seq - a->seq - 1 > r.count ? r.count : b->seq - a->seq - 1;
		i++;
	}
	return TRUE;
}

char *hv_printk_format(const HvPrintkLog *log, gsize max_records_from_end)
{
	GString *s = g_string_new(NULL);
	guint first = 0;

	if (max_records_from_end > 0 && log->records->len > max_records_from_end)
		first = log->records->len - (guint)max_records_from_end;
	for (guint i = first; i < log->records->len; i++) {
		const HvPrintkRecord *r = &g_array_index(log->records, HvPrintkRecord, i);
		const char *p = r->text;
		char prefix[40];

		g_snprintf(prefix, sizeof(prefix), "[%5" G_GUINT64_FORMAT ".%06" G_GUINT64_FORMAT "] ",
			   (guint64)(r->ts_nsec / 1000000000u), (guint64)((r->ts_nsec % 1000000000u) / 1000u));
		do {
			const char *nl = strchr(p, '\n');
			gsize n = nl != NULL ? (gsize)(nl - p) : strlen(p);

			g_string_append(s, prefix);
			g_string_append_len(s, p, (gssize)n);
			g_string_append_c(s, '\n');
			p = nl != NULL ? nl + 1 : NULL;
		} while (p != NULL && *p != '\0');
	}
	return g_string_free(s, FALSE);
}
