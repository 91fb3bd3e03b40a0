/* hv-writer.h — the dump writer interface: what a vmcore format gets from
 * the capture, and the driver that feeds it.
 *
 * Owns: the format-neutral description of a dump (notes, guest RAM regions
 * with their direct-map addresses, the kernel image mapping), the options a
 * dump is written with (dump level, threads, progress), one ops table per
 * format (begin, write pages, finish — as libkdumpfile has one per format),
 * and hv_dump_write, which runs page selection (hv-pagesel.h) over every
 * region's extents first, so a format knows at begin which pages it will
 * get, then pulls the bytes again and hands the pages kept to the format.
 * Formats: hv-format-elf.c (ELF vmcore), hv-format-kdump.c (kdump-compressed,
 * zlib/zstd/lzo/snappy).
 */
#pragma once

#include <gio/gio.h>

#include "hv-compress.h"
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
	/* for kdump headers (0/"" when unknown) */
	gint64 phys_base;
	const char *osrelease;
	const char (*utsname)[65];    /* the kernel's new_utsname (6 fields), or NULL */
	guint ncpus;
	guint64 crash_time;           /* seconds since the epoch */
} HvDumpLayout;

/* What a page is, as makedumpfile's dump levels see it. A class other than
 * RAM is left out when its bit is in the dump level. */
typedef enum {
	HV_PAGE_RAM,            /* none of the below: always dumped */
	HV_PAGE_ZERO,           /* 1: all zero (decided from the bytes); stored
				 * without data whatever the level */
	HV_PAGE_CACHE,          /* 2: page cache, no private data */
	HV_PAGE_CACHE_PRIVATE,  /* 4: page cache with private data */
	HV_PAGE_USER,           /* 8: anonymous and hugetlb (user data) */
	HV_PAGE_FREE,           /* 16: free, in the buddy allocator */
	HV_PAGE_NCLASS
} HvPageClass;
#define HV_DUMP_LEVEL_MAX 31u
/* In HvDumpOptions.classes: a frame the source does not have at all (a page
 * the input dump left out, for convert): never in the output. */
#define HV_PAGE_ABSENT 0xffu
/* The dump-level bit of a class (0 for RAM). */
guint hv_page_class_level_bit(HvPageClass c);
/* "zero", "cache", "cache-private", "user", "free", "ram" */
const char *hv_page_class_name(HvPageClass c);

/* The outcome of page selection: per region, which pages are dumped and
 * which of those are all zero (a format writes no bytes for them: ELF
 * leaves a hole, kdump shares one zero page). Page k of region i is
 * [k * 4096, (k + 1) * 4096) of it; a region's unaligned tail is one page. */
typedef struct HvPageMap HvPageMap;
guint64 hv_page_map_n_pages(const HvPageMap *map, guint i);
gboolean hv_page_map_is_dumped(const HvPageMap *map, guint i, guint64 page);
gboolean hv_page_map_is_zero(const HvPageMap *map, guint i, guint64 page);
/* Pages dumped in all regions (zero ones included). */
guint64 hv_page_map_n_dumped(const HvPageMap *map);
/* The dumped-bit words of region i: bit (k % 64) of word k / 64 is page k. */
const guint64 *hv_page_map_dumped_bits(const HvPageMap *map, guint i);

typedef struct {
	guint64 bytes_read;     /* guest RAM bytes read (both passes) */
	guint64 bytes_written;  /* page bytes handed to the format */
	guint64 pages_total;    /* pages in the layout's regions */
	guint64 pages_dumped;   /* pages the dump holds (zero ones included, as
				 * makedumpfile keeps them: readable as zeros) */
	guint64 pages_excluded[HV_PAGE_NCLASS]; /* left out, by class ([RAM] is 0) */
	guint64 pages_zero;     /* = pages_excluded[HV_PAGE_ZERO] */
	guint64 pages_absent;   /* not in the source (HV_PAGE_ABSENT) */
	guint64 file_size;      /* apparent size of the output */
	guint dump_level;       /* the level written (bits the classes allowed) */
	gboolean incomplete;    /* cut short, flagged so in the file (kdump) */
} HvDumpStats;

/* Progress while pages are written: guest bytes scanned of total (an
 * upper bound: allocated RAM) and output bytes so far. */
typedef void (*HvDumpProgressFunc)(guint64 scanned, guint64 total, guint64 written,
				   gpointer user_data);

typedef struct {
	guint dump_level;        /* 0..31, makedumpfile's bits */
	/* Per guest page frame (gpa / 4096), its HvPageClass from struct page
	 * (hv-pageclass.h) when struct_page, and HV_PAGE_ABSENT marks; NULL
	 * when nothing is known. Without struct_page only zero pages can be
	 * left out and the level written says so. Frames ≥ nclasses are RAM. */
	const guint8 *classes;
	guint64 nclasses;
	gboolean struct_page;
	HvCompression compression;   /* kdump formats: their codec */
	guint threads;           /* compression threads; 0 = online CPUs */
	HvDumpProgressFunc progress;
	gpointer progress_data;
} HvDumpOptions;

typedef struct HvDumpWriter HvDumpWriter;

typedef struct {
	const char *name;          /* "elf", "kdump-zlib", ... */
	HvCompression compression; /* kdump: its codec; ELF: NONE */
	/* Lays the dump out in out (NAME.part). layout, map and opt stay valid
	 * until free. */
	HvDumpWriter *(*begin)(HvOutput *out, const HvDumpLayout *layout, const HvPageMap *map,
			       const HvDumpOptions *opt, GError **error);
	/* Pages of region i starting at offset off: only pages the map dumps and
	 * does not mark zero, whole pages but for a region's unaligned tail, in
	 * increasing (region, offset) order; the bytes are valid during the
	 * call only. */
	gboolean (*write)(HvDumpWriter *w, guint i, guint64 off, const guint8 *data, gsize len,
			  GError **error);
	/* Completes the file (sizes, trailing tables); fills file_size. */
	gboolean (*finish)(HvDumpWriter *w, HvDumpStats *stats, GError **error);
	/* After write or finish failed for lack of space (HV_OUTPUT_ERROR_NOSPACE):
	 * makes what is on disk a readable dump flagged incomplete and sets
	 * stats->incomplete. NULL, or FALSE, when the format cannot (ELF): the
	 * caller then removes the file. */
	gboolean (*finish_incomplete)(HvDumpWriter *w, HvDumpStats *stats, GError **error);
	void (*free)(HvDumpWriter *w);
} HvDumpFormat;

extern const HvDumpFormat hv_dump_format_elf;
extern const HvDumpFormat hv_dump_format_kdump_zlib;
extern const HvDumpFormat hv_dump_format_kdump_zstd;
extern const HvDumpFormat hv_dump_format_kdump_lzo;
extern const HvDumpFormat hv_dump_format_kdump_snappy;

/* The format called name ("elf", "kdump-zlib", "kdump-zstd", "kdump-lzo",
 * "kdump-snappy"), or NULL. */
const HvDumpFormat *hv_dump_format_lookup(const char *name);
/* "elf|kdump-zlib|..." for usage messages. */
const char *hv_dump_format_names(void);

/* The data of region i at or after *cursor (relative to the region; 0 to
 * start the region, again for a second pass): one extent per call, its
 * offset, length and bytes (valid until the next call). FALSE with *error
 * unset at the end, FALSE with *error on failure. Bytes outside extents
 * are zero. */
typedef gboolean (*HvExtentFunc)(gpointer user_data, guint i, guint64 *cursor,
				 guint64 *offset_ret, guint64 *len_ret, const guint8 **data_ret,
				 GError **error);

/* Writes the whole dump in fmt into out (not committed: the caller does).
 * total_bytes (upper bound of extent bytes, for progress) may be 0.
 * When the disk fills and the format can flag the file incomplete, it does:
 * FALSE with the error, stats_ret->incomplete set, and the file is whole
 * as far as it goes (the caller may commit it). */
gboolean hv_dump_write(const HvDumpFormat *fmt, HvOutput *out, const HvDumpLayout *layout,
		       const HvDumpOptions *opt, HvExtentFunc extents, gpointer user_data,
		       guint64 total_bytes, HvDumpStats *stats_ret, GError **error);

G_END_DECLS
