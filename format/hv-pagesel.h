/* hv-pagesel.h — page selection: which pages of guest RAM go into a dump.
 *
 * Owns: walking a region's data extents page by page (pages an extent
 * covers only in part are assembled, holes are zero and never visited),
 * and the first pass of every dump: each page's class (from struct page,
 * hv-pageclass.h, or "zero" from its bytes) against the dump level, giving
 * the HvPageMap a format lays its file out from (hv-writer.h), with counts
 * per class. makedumpfile's order: a page's struct-page class decides
 * first, the zero test only sees pages that class kept. As makedumpfile
 * does, all-zero pages are never left out of the page map: they are stored
 * as no data (kdump's shared zero page, an ELF hole) and read as zeros —
 * crash refuses a page a kdump file leaves out, and kernel data has zero
 * pages it reads. Level bit 1 only counts them as left out.
 */
#pragma once

#include <glib.h>

#include "hv-writer.h"

G_BEGIN_DECLS

/* TRUE when the 4 KiB page at p is all zero. */
gboolean hv_page_is_zero(const guint8 *p);

/* Called with runs of whole pages of one region, page index first, len
 * bytes (a multiple of 4096 but for the region's unaligned tail page). */
typedef gboolean (*HvPageRunFunc)(gpointer ctx, guint64 page, const guint8 *data, gsize len,
				  GError **error);
/* Visits every page of region i (size bytes) that some extent touches, in
 * increasing order; *bytes_read counts extent bytes. */
gboolean hv_pagesel_walk_region(guint i, guint64 size, HvExtentFunc extents, gpointer user_data,
				HvPageRunFunc fn, gpointer ctx, guint64 *bytes_read, GError **error);

/* The first pass: builds the page map of the layout's regions for
 * opt->dump_level and fills the page counts and dump_level of stats. */
HvPageMap *hv_page_map_build(const HvDumpLayout *layout, const HvDumpOptions *opt,
			     HvExtentFunc extents, gpointer user_data, HvDumpStats *stats,
			     GError **error);
void hv_page_map_free(HvPageMap *map);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvPageMap, hv_page_map_free)

G_END_DECLS
