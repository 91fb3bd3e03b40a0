/* hv-pagesel.c — page selection; see hv-pagesel.h. */
#include "hv-pagesel.h"

#include <string.h>

#define RUN_MAX (8u << 20)  /* largest run handed to a format at once */

static const guint8 zero_page[HV_PAGE_SIZE];

gboolean hv_page_is_zero(const guint8 *p)
{
	const guint64 *w = (const guint64 *)p;

	/* most pages are decided by their first words */
	if (w[0] | w[1] | w[511])
		return FALSE;
	return memcmp(p, zero_page, HV_PAGE_SIZE) == 0;
}

gboolean hv_pagesel_feed(const HvDumpFormat *fmt, HvDumpWriter *w, guint i, guint64 off,
			 const guint8 *data, guint64 len, HvDumpStats *stats, GError **error)
{
	const guint8 *run = NULL;
	guint64 run_off = 0;
	gsize run_len = 0;

	while (len > 0) {
		/* head/tail fragments that are not whole pages are kept as they are */
		guint64 in_page = off % HV_PAGE_SIZE;
		gsize n = (gsize)MIN(len, (guint64)HV_PAGE_SIZE - in_page);
		gboolean keep = !(n == HV_PAGE_SIZE && hv_page_is_zero(data));

		if (!keep)
			stats->pages_zero++;
		if (run_len > 0 && (!keep || run_len + n > RUN_MAX)) {
			if (!fmt->write(w, i, run_off, run, run_len, error))
				return FALSE;
			stats->bytes_written += run_len;
			run_len = 0;
		}
		if (keep) {
			if (run_len == 0) {
				run = data;
				run_off = off;
			}
			run_len += n;
		}
		data += n;
		off += n;
		len -= n;
	}
	if (run_len > 0) {
		if (!fmt->write(w, i, run_off, run, run_len, error))
			return FALSE;
		stats->bytes_written += run_len;
	}
	return TRUE;
}
