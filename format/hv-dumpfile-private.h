/* hv-dumpfile-private.h — between hv-dumpfile.c and the readers
 * (hv-reader-elf.c, hv-reader-kdump.c); nothing else includes it.
 *
 * Owns: the layout of HvDumpFile, the byte layer every reader goes through
 * (pread and "next data" at a logical offset: over a plain file, bytes in
 * memory, or the index of a flattened stream — a reader never knows which),
 * the ELF-note parsing both formats share, and the ops table a format's
 * reader implements (one per format, as libkdumpfile has).
 */
#pragma once

#include <string.h>

#include "hv-dumpfile.h"
#include "hv-error.h"

G_BEGIN_DECLS

/* Caps on what a file may make us hold, whatever it claims. */
#define HV_DUMP_MAX_NOTES (64u << 20)       /* all notes together */
#define HV_DUMP_MAX_VMCOREINFO (1u << 20)   /* QEMU reads at most 1 MiB too */
#define HV_DUMP_MAX_REGIONS 65536u          /* RAM ranges (e820 has a few dozen) */
#define HV_DUMP_MAX_FLAT_RECORDS (1u << 24) /* records of a flattened stream */
#define HV_DUMP_MAX_SIZE (1ull << 62)       /* logical offsets, kept far from overflow */

/* One piece of a flattened stream's index: logical bytes [loff, loff + len)
 * are the physical bytes at poff. Sorted by loff, not overlapping. */
typedef struct {
	guint64 loff;
	guint64 len;
	guint64 poff;
} HvFlatSeg;

typedef struct HvDumpReaderOps HvDumpReaderOps;

struct HvDumpFile {
	/* the byte layer */
	int fd;                  /* plain or flattened file; -1 for memory */
	const guint8 *data;      /* memory (not owned) */
	guint64 phys_size;       /* bytes of the file or buffer */
	gboolean seek_data;      /* fd supports SEEK_DATA/SEEK_HOLE */
	HvFlatSeg *segs;         /* flattened: the index; NULL otherwise */
	gsize nsegs;
	guint64 size;            /* logical size: what the readers see */

	/* the reader */
	const HvDumpReaderOps *ops;
	gpointer priv;

	/* what the reader found (hv-dumpfile.c hands it out) */
	HvDumpFileInfo info;
	GByteArray *notes;       /* valid notes only, ELF-framed */
	guint nr_prstatus;       /* NT_PRSTATUS notes among them */
	char *vmcoreinfo;        /* NUL-terminated text, or NULL */
	gsize vmcoreinfo_len;
	GArray *regions;         /* HvDumpRegion, sorted, not overlapping */
	gboolean has_kimage;
	guint64 kimage_vaddr, kimage_paddr, kimage_size;
};

struct HvDumpReaderOps {
	const char *name;        /* "ELF", "kdump": the first word of its errors */
	/* Whether head (len bytes at logical offset 0) starts this format. */
	gboolean (*probe)(const guint8 *head, gsize len);
	/* Reads headers, notes, regions; fills f->info (kind, counts), notes,
	 * regions, kimage. Errors say what is wrong in one line. */
	gboolean (*open)(HvDumpFile *f, GError **error);
	gboolean (*page_present)(HvDumpFile *f, guint64 pfn);
	/* As hv_dump_file_next_present, i valid and *cursor < the region's size. */
	gboolean (*next_present)(HvDumpFile *f, guint i, guint64 *cursor, guint64 *off_ret,
				 guint64 *len_ret, GError **error);
	/* len bytes at rel of region i, checked to lie inside it. */
	gboolean (*read)(HvDumpFile *f, guint i, guint64 rel, guint8 *buf, gsize len,
			 GError **error);
	/* NULL when the format has no page descriptors. */
	gboolean (*count_codecs)(HvDumpFile *f, HvDumpFileCodecCounts *counts_ret,
				 GError **error);
	void (*cleanup)(HvDumpFile *f);
};

extern const HvDumpReaderOps hv_dump_reader_elf;
extern const HvDumpReaderOps hv_dump_reader_kdump;

/* len bytes at logical offset off; an error when they are not all inside
 * the (logical) file. Gaps of a flattened stream read as zero, as they
 * would in the file `makedumpfile -R` writes. */
gboolean hv_dump_file_pread(HvDumpFile *f, guint64 off, void *buf, gsize len, GError **error);
/* The first run [*start_ret, *end_ret) of logical bytes in [off, limit)
 * the file has data for (holes of a sparse file and gaps of a flattened
 * stream are skipped; they read as zero); FALSE when there is none. */
gboolean hv_dump_file_next_data(HvDumpFile *f, guint64 off, guint64 limit, guint64 *start_ret,
				guint64 *end_ret);

/* Parses len bytes of ELF notes (a PT_NOTE, or the kdump sub-header's)
 * and appends the valid ones to f->notes; counts NT_PRSTATUS and takes the
 * first VMCOREINFO note. An all-zero note header ends the notes (padding).
 * what names the notes in errors ("PT_NOTE 0"). */
gboolean hv_dump_file_add_notes(HvDumpFile *f, const guint8 *p, gsize len, const char *what,
				GError **error);
/* Sets the VMCOREINFO text (cut at the first NUL and at the cap). */
void hv_dump_file_set_vmcoreinfo(HvDumpFile *f, const guint8 *text, gsize len);

/* Little-endian fields of on-disk structures. */
static inline guint32 hv_le32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_LE(v);
}

static inline guint64 hv_le64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, sizeof(v));
	return GUINT64_FROM_LE(v);
}

G_END_DECLS
