/* hv-writer.c — the driver from guest RAM extents to a format; see
 * hv-writer.h. */
#include "hv-writer.h"

#include "hv-pagesel.h"

gboolean hv_dump_write(const HvDumpFormat *fmt, HvOutput *out, const HvDumpLayout *layout,
		       HvExtentFunc extents, gpointer user_data, HvDumpStats *stats_ret,
		       GError **error)
{
	HvDumpStats stats = { 0 };
	HvDumpWriter *w = fmt->begin(out, layout, error);
	gboolean ok = w != NULL;
	guint i;

	for (i = 0; ok && i < layout->nregions; i++) {
		const HvDumpRegion *r = &layout->regions[i];
		guint64 off, len;
		const guint8 *data;
		GError *local = NULL;

		while (ok && extents(user_data, i, &off, &len, &data, &local)) {
			if (off > r->size || len > r->size - off) {
				g_set_error(error, HV_ERROR, HV_ERROR_IO,
					    "region %u: extent outside the region", i);
				ok = FALSE;
				break;
			}
			ok = hv_pagesel_feed(fmt, w, i, off, data, len, &stats, error);
		}
		if (local != NULL) {
			g_propagate_error(error, local);
			ok = FALSE;
		}
	}
	if (ok)
		ok = fmt->finish(w, &stats, error);
	if (w != NULL)
		fmt->free(w);
	if (ok && stats_ret != NULL)
		*stats_ret = stats;
	return ok;
}
