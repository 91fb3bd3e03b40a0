/* hv-pagesel.h — page selection: which pages of guest RAM go into a dump.
 *
 * Owns: the decision per page, between reading guest RAM and handing pages
 * to a format. Today: all-zero pages are left out (holes in an ELF dump).
 * Dump levels (makedumpfile's cache, user and free pages) plug in here.
 */
#pragma once

#include <glib.h>

#include "hv-writer.h"

G_BEGIN_DECLS

/* TRUE when the 4 KiB page at p is all zero. */
gboolean hv_page_is_zero(const guint8 *p);

/* Splits data (len bytes of region i at offset off) into runs of pages to
 * keep and writes each run with fmt; counts what was left out in stats. */
gboolean hv_pagesel_feed(const HvDumpFormat *fmt, HvDumpWriter *w, guint i, guint64 off,
			 const guint8 *data, guint64 len, HvDumpStats *stats, GError **error);

G_END_DECLS
