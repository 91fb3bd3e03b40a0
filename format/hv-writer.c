/* hv-writer.c — the driver from guest RAM extents to a format, and the
 * formats' names; see hv-writer.h. */
#include "hv-writer.h"

#include <string.h>

#include "hv-pagesel.h"

static const HvDumpFormat *const formats[] = {
	&hv_dump_format_elf,
	&hv_dump_format_kdump_zlib,
	&hv_dump_format_kdump_zstd,
	&hv_dump_format_kdump_lzo,
	&hv_dump_format_kdump_snappy,
};

const HvDumpFormat *hv_dump_format_lookup(const char *name)
{
	guint i;

	for (i = 0; name != NULL && i < G_N_ELEMENTS(formats); i++)
		if (strcmp(formats[i]->name, name) == 0)
			return formats[i];
	return NULL;
}

const char *hv_dump_format_names(void)
{
	return "elf|kdump-zlib|kdump-zstd|kdump-lzo|kdump-snappy";
}

/* The second pass: pages the map keeps with bytes, to the format, in order.
 * A page the map expects that the extents no longer show (a live guest
 * changed) goes as zeros, so a format always gets exactly its pages. */
typedef struct {
	const HvDumpFormat *fmt;
	HvDumpWriter *w;
	HvOutput *out;
	const HvPageMap *map;
	const HvDumpOptions *opt;
	HvDumpStats *stats;
	guint region;
	guint64 region_size;
	guint64 next;          /* first page not yet handed over */
	guint64 scanned, total;
} Pass2;

static const guint8 zeros[HV_PAGE_SIZE];

static gboolean wants(const Pass2 *p, guint64 page)
{
	return hv_page_map_is_dumped(p->map, p->region, page) &&
	       !hv_page_map_is_zero(p->map, p->region, page);
}

static gboolean hand_over(Pass2 *p, guint64 page, const guint8 *data, gsize len, GError **error)
{
	if (!p->fmt->write(p->w, p->region, page * HV_PAGE_SIZE, data, len, error))
		return FALSE;
	p->stats->bytes_written += len;
	return TRUE;
}

/* Pages [p->next, upto) that the map wants but no extent showed. */
static gboolean fill_missing(Pass2 *p, guint64 upto, GError **error)
{
	for (; p->next < upto; p->next++) {
		if (!wants(p, p->next))
			continue;
		if (!hand_over(p, p->next, zeros,
			       (gsize)MIN((guint64)HV_PAGE_SIZE, p->region_size - p->next * HV_PAGE_SIZE),
			       error))
			return FALSE;
	}
	return TRUE;
}

static gboolean pass2_run(gpointer ctx, guint64 page, const guint8 *data, gsize len,
			  GError **error)
{
	Pass2 *p = ctx;
	guint64 end = page + (len + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE, k = page, start;

	if (!fill_missing(p, page, error))
		return FALSE;
	while (k < end) {
		/* the longest run of wanted pages from k */
		while (k < end && !wants(p, k))
			k++;
		start = k;
		while (k < end && wants(p, k))
			k++;
		if (k > start) {
			guint64 from = (start - page) * HV_PAGE_SIZE;
			gsize n = (gsize)MIN((k - start) * HV_PAGE_SIZE, len - from);

			if (!hand_over(p, start, data + from, n, error))
				return FALSE;
		}
	}
	p->next = end;
	p->scanned += len;
	if (p->opt->progress != NULL)
		p->opt->progress(p->scanned, MAX(p->scanned, p->total), hv_output_get_written(p->out),
				 p->opt->progress_data);
	return TRUE;
}

gboolean hv_dump_write(const HvDumpFormat *fmt, HvOutput *out, const HvDumpLayout *layout,
		       const HvDumpOptions *opt_in, HvExtentFunc extents, gpointer user_data,
		       guint64 total_bytes, HvDumpStats *stats_ret, GError **error)
{
	HvDumpStats stats = { 0 };
	HvDumpOptions opt = *opt_in;
	g_autoptr(HvPageMap) map = NULL;
	HvDumpWriter *w = NULL;
	Pass2 p = { 0 };
	GError *local = NULL;   /* own, so a caller passing NULL still gets the incomplete flag */
	gboolean ok;
	guint i;

	map = hv_page_map_build(layout, &opt, extents, user_data, &stats, error);
	if (map == NULL)
		return FALSE;
	/* the format writes the level that was applied */
	opt.dump_level = stats.dump_level;
	opt.compression = fmt->compression;
	w = fmt->begin(out, layout, map, &opt, error);
	if (w == NULL)
		return FALSE;
	p = (Pass2){ .fmt = fmt, .w = w, .out = out, .map = map, .opt = &opt, .stats = &stats,
		     .total = total_bytes };
	ok = TRUE;
	for (i = 0; ok && i < layout->nregions; i++) {
		p.region = i;
		p.region_size = layout->regions[i].size;
		p.next = 0;
		ok = hv_pagesel_walk_region(i, layout->regions[i].size, extents, user_data, pass2_run,
					    &p, &stats.bytes_read, &local) &&
		     fill_missing(&p, hv_page_map_n_pages(map, i), &local);
	}
	if (ok)
		ok = fmt->finish(w, &stats, &local);
	if (!ok && g_error_matches(local, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_NOSPACE) &&
	    fmt->finish_incomplete != NULL) {
		g_autoptr(GError) ignored = NULL;

		/* the file stays readable and says it is incomplete, as
		 * makedumpfile leaves it; the caller still sees the error */
		if (!fmt->finish_incomplete(w, &stats, &ignored))
			stats.incomplete = FALSE;
	}
	if (local != NULL)
		g_propagate_error(error, local);
	fmt->free(w);
	if (stats_ret != NULL && (ok || stats.incomplete))
		*stats_ret = stats;
	return ok;
}
