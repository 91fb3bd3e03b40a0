/* hv-writer.h — the dump writer interface: what a vmcore format gets from
 * the capture, and the driver that feeds it.
 *
 * Owns: the format-neutral description of a dump (notes, guest RAM regions
 * with their direct-map addresses, the kernel image mapping), one ops table
 * per format (begin, write pages, finish — as libkdumpfile has one per
 * format), and hv_dump_write, which pulls the bytes of every region from an
 * extent source, runs them through page selection (hv-pagesel.h) and hands
 * the pages kept to the format. Formats: hv-format-elf.c (ELF vmcore);
 * kdump-compressed ones plug in beside it.
 */
#pragma once

#include <glib.h>

#include "hv-error.h"
#include "hv-output.h"

G_BEGIN_DECLS

#define HV_PAGE_SIZE 4096u

typedef struct {
	guint64 paddr;        /* guest-physical start */
	guint64 size;
	guint64 vaddr;        /* direct-map address of paddr; 0: unknown */
} HvDumpRegion;

typedef struct {
	const GByteArray *notes;      /* ELF-framed notes (hv-notes.h) */
	const HvDumpRegion *regions;  /* sorted by paddr, not overlapping */
	guint nregions;
	gboolean has_kimage;          /* the kernel image's virtual mapping */
	guint64 kimage_vaddr, kimage_paddr, kimage_size;
} HvDumpLayout;

typedef struct {
	guint64 bytes_written;  /* page bytes handed to the format */
	guint64 pages_zero;     /* pages left out by page selection: all zero */
	guint64 file_size;      /* apparent size of the output */
} HvDumpStats;

typedef struct HvDumpWriter HvDumpWriter;

typedef struct {
	const char *name;
	/* Lays the dump out in out (NAME.part); layout stays valid until free. */
	HvDumpWriter *(*begin)(HvOutput *out, const HvDumpLayout *layout, GError **error);
	/* Pages of region i starting at offset off (whole pages, but for a
	 * region's unaligned tail), in increasing order per region; the bytes
	 * are valid during the call only. What is never written reads as zero. */
	gboolean (*write)(HvDumpWriter *w, guint i, guint64 off, const guint8 *data, gsize len,
			  GError **error);
	/* Completes the file (sizes, trailing tables); fills file_size. */
	gboolean (*finish)(HvDumpWriter *w, HvDumpStats *stats, GError **error);
	void (*free)(HvDumpWriter *w);
} HvDumpFormat;

extern const HvDumpFormat hv_dump_format_elf;

/* The data of region i, one extent per call: offset within the region,
 * length, bytes (valid until the next call). FALSE with *error unset at
 * the end, FALSE with *error on failure. Bytes outside extents are zero. */
typedef gboolean (*HvExtentFunc)(gpointer user_data, guint i, guint64 *offset_ret,
				 guint64 *len_ret, const guint8 **data_ret, GError **error);

/* Writes the whole dump in fmt into out (not committed: the caller does). */
gboolean hv_dump_write(const HvDumpFormat *fmt, HvOutput *out, const HvDumpLayout *layout,
		       HvExtentFunc extents, gpointer user_data, HvDumpStats *stats_ret,
		       GError **error);

G_END_DECLS
