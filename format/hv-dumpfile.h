/* hv-dumpfile.h — a vmcore opened for reading: hvdump takes other tools'
 * dumps (and its own) as input for info, convert and triage.
 *
 * Owns: recognising the file (ELF64 ET_CORE vmcore — ours, QEMU's
 * dump-guest-memory, /proc/vmcore-style —, kdump-compressed `KDUMP   ` of
 * makedumpfile, QEMU or ours, and either of them inside makedumpfile's or
 * QEMU's flattened stream, indexed on open so it reads as if seekable), and
 * one reader per format behind one ops table (hv-reader-elf.c,
 * hv-reader-kdump.c): notes, guest RAM regions, which pages the file holds,
 * page bytes (decompressed, bounded to one page). Every byte of the file is
 * hostile: sizes, counts, offsets and descriptors are checked against the
 * file's size and fixed caps before they are used, memory is bounded by
 * the file's size, and a bad page is an error naming it, never a crash.
 * A file is used by one thread at a time (readers cache descriptors and
 * the last page decompressed).
 */
#pragma once

#include <glib.h>

#include "hv-compress.h"
#include "hv-writer.h"

G_BEGIN_DECLS

typedef enum {
	HV_DUMP_FILE_ELF,
	HV_DUMP_FILE_KDUMP,
} HvDumpFileKind;

typedef struct {
	HvDumpFileKind kind;
	gboolean flattened;          /* read through a flattened stream's index */
	HvCompression compression;   /* kdump: the codec the file's pages use (NONE if
				      * only raw pages were seen in the descriptors read) */
	int dump_level;              /* kdump header's; -1 when the file does not say (ELF) */
	gboolean incomplete;         /* kdump: status has the incomplete flag */
	guint header_version;        /* kdump disk_dump_header version; 0 for ELF */
	guint32 nr_cpus;             /* kdump header; ELF: NT_PRSTATUS notes */
	char release[65];            /* kdump: utsname.release; ELF: VMCOREINFO OSRELEASE */
	guint64 timestamp;           /* kdump header (seconds); 0 unknown */
	guint64 max_pfn;             /* one past the highest guest frame */
	guint64 pages_ram;           /* kdump: bitmap 1's bits; ELF: pages in PT_LOADs */
	guint64 pages_present;       /* kdump: bitmap 2's bits; ELF: pages with file data */
	guint64 file_size;
} HvDumpFileInfo;

typedef struct HvDumpFile HvDumpFile;

/* Opens and checks path; the error says what is wrong in one line. */
HvDumpFile *hv_dump_file_open(const char *path, GError **error);
/* The same over bytes in memory (fuzzers, tests); data must outlive the file. */
HvDumpFile *hv_dump_file_new_from_data(const guint8 *data, gsize len, GError **error);
void hv_dump_file_free(HvDumpFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvDumpFile, hv_dump_file_free)

const HvDumpFileInfo *hv_dump_file_get_info(HvDumpFile *f);
/* Every note the file carries, ELF-framed (PT_NOTE contents, or the kdump
 * sub-header's notes), as a format writes them again. */
const GByteArray *hv_dump_file_get_notes(HvDumpFile *f);
/* The VMCOREINFO note's text (NUL-terminated), or NULL. */
const char *hv_dump_file_get_vmcoreinfo(HvDumpFile *f, gsize *len_ret);

/* Guest RAM as the file describes it, sorted by paddr, not overlapping:
 * ELF: physical PT_LOADs (a kernel-image alias of another segment is not a
 * region); kdump: runs of bitmap 1. vaddr is the PT_LOAD's when it is a
 * kernel (direct-map) address, else 0 (QEMU's p_vaddr = p_paddr; kdump). */
guint hv_dump_file_n_regions(HvDumpFile *f);
const HvDumpRegion *hv_dump_file_region(HvDumpFile *f, guint i);
/* The kernel image mapping an ELF file carries (FALSE otherwise). */
gboolean hv_dump_file_get_kimage(HvDumpFile *f, guint64 *vaddr_ret, guint64 *paddr_ret,
				 guint64 *size_ret);

/* Whether the file holds the page at frame pfn (kdump: bitmap 2, less the
 * pages an incomplete dump never wrote; ELF: in a PT_LOAD's file part). */
gboolean hv_dump_file_page_present(HvDumpFile *f, guint64 pfn);
/* The next run of present bytes of region i at or after *cursor (relative
 * to the region): *off_ret, *len_ret. FALSE with *error unset at the end. */
gboolean hv_dump_file_next_present(HvDumpFile *f, guint i, guint64 *cursor, guint64 *off_ret,
				   guint64 *len_ret, GError **error);
/* len bytes of guest-physical memory at paddr, inside one region; pages the
 * file does not hold read as zero — but a kdump page whose data was never
 * written (descriptor offset 0, or past the end of an incomplete file) is an
 * error, as crash's PAGE_INCOMPLETE. FALSE with an error like
 * "kdump: page 0x1234: zstd: corrupt data" (0x1234: the frame number). */
gboolean hv_dump_file_read(HvDumpFile *f, guint64 paddr, void *buf, gsize len, GError **error);

/* kdump only: the codec flags seen per descriptor while reading; for info. */
typedef struct {
	guint64 raw, zlib, lzo, snappy, zstd; /* pages stored with each codec */
	guint64 zero_shared;                    /* of those, pages sharing one stored page */
} HvDumpFileCodecCounts;
/* Walks every page descriptor (kdump) and counts codecs; FALSE for ELF. */
gboolean hv_dump_file_count_codecs(HvDumpFile *f, HvDumpFileCodecCounts *counts_ret,
				   GError **error);

G_END_DECLS
