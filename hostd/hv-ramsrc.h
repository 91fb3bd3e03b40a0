/* hv-ramsrc.h — a guest-RAM source: guest-physical memory, wherever it lives.
 *
 * Owns: the interface every later stage reads guest RAM through (kernel and
 * VMCOREINFO discovery, the descriptor, page selection and the writers):
 * regions by guest-physical address, bounded reads, the data extents of a
 * region (so untouched RAM is never read), chunks of bytes, a page scan, and
 * cancellation. One ops table per kind of source:
 *   - hv-ramsrc-fd.c: QEMU's RAM backend files (memfd, file, hugetlbfs);
 *   - hv-ramsrc-mem.c: buffers in this process (tests, fuzzers);
 *   - hv-ramsrc-dump.c: a vmcore file (info, convert).
 * A source knows nothing of QEMU or QMP: hv-vm.c finds the files.
 */
#pragma once

#include <gio/gio.h>

#include "hv-error.h"

G_BEGIN_DECLS

typedef struct {
	guint64 gpa;          /* guest-physical start */
	guint64 size;
	char name[64];        /* where it comes from (QEMU's memory region) */
} HvRamRegion;

typedef struct HvRamSource HvRamSource;

typedef struct {
	const char *kind;
	/* len bytes at offset rel of region i (inside it: checked by the caller) */
	gboolean (*read)(HvRamSource *src, guint i, guint64 rel, void *buf, gsize len,
			 GError **error);
	/* the next data extent of region i at or after *cursor (offsets relative
	 * to the region); FALSE with *error unset when there is none */
	gboolean (*next_data)(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
			      guint64 *len_ret, GError **error);
	/* the bytes [off, off + len) of region i without copying, or NULL when
	 * this source cannot (then they are read) */
	const guint8 *(*map)(HvRamSource *src, guint i, guint64 off, guint64 len);
	void (*free)(HvRamSource *src);
} HvRamSourceOps;

/* The common part; implementations embed it first. */
struct HvRamSource {
	const HvRamSourceOps *ops;
	GArray *regions;            /* HvRamRegion, sorted by gpa, not overlapping */
	GCancellable *cancellable;
	guint8 *bounce;             /* HV_RAM_CHUNK bytes, for sources that cannot map */
};

/* For implementations: sets up the common part (regions copied). */
void hv_ram_source_init(HvRamSource *src, const HvRamSourceOps *ops, const HvRamRegion *regions,
			guint n);
void hv_ram_source_free(HvRamSource *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvRamSource, hv_ram_source_free)

guint hv_ram_source_n_regions(HvRamSource *src);
const HvRamRegion *hv_ram_source_region(HvRamSource *src, guint i);
guint64 hv_ram_source_total(HvRamSource *src);
const char *hv_ram_source_kind(HvRamSource *src);

/* Page scans and chunk reads end with G_IO_ERROR_CANCELLED once cancelled. */
void hv_ram_source_set_cancellable(HvRamSource *src, GCancellable *cancellable);

/* Copies len bytes at gpa (inside one region); holes read as zero without
 * being allocated. FALSE when outside guest RAM or unreadable. */
gboolean hv_ram_source_read(HvRamSource *src, guint64 gpa, void *buf, gsize len);

/* Data extents of region i, in order: *cursor = 0 first; FALSE at the end
 * (or with *error). */
gboolean hv_ram_source_next_data(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
				 guint64 *len_ret, GError **error);

/* Like next_data, with the bytes: *data_ret points at *len_ret bytes, valid
 * until the next call (a mapping, or a buffer of at most HV_RAM_CHUNK). */
#define HV_RAM_CHUNK (4u << 20)
gboolean hv_ram_source_next_chunk(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
				  guint64 *len_ret, const guint8 **data_ret, GError **error);

/* Bytes in data extents: an upper bound of what a dump writes. */
guint64 hv_ram_source_data_bytes(HvRamSource *src);

/* Calls fn for every allocated, page-aligned guest page (head: its 4096
 * bytes, valid during the call) until fn returns FALSE. FALSE with *error
 * only when the source cannot be read or the scan was cancelled. */
typedef gboolean (*HvPageFunc)(gpointer user_data, guint64 gpa, const guint8 *head);
gboolean hv_ram_source_scan_pages(HvRamSource *src, HvPageFunc fn, gpointer user_data,
				  GError **error);

/* HvPhysReadFunc (hv-pgtable.h) over a source. */
gboolean hv_ram_source_phys_read(gpointer src, guint64 paddr, void *buf, gsize len);

/* ---- implementations ---------------------------------------------------- */

/* Guest RAM in buffers of this process (tests, fuzzers); used in place. */
typedef struct {
	guint64 gpa;
	guint64 size;
	const guint8 *host;
} HvRamBuffer;
HvRamSource *hv_ram_source_new_buffers(const HvRamBuffer *bufs, guint n);

/* Guest RAM in files (QEMU's RAM backends): each region lives at fd_offset
 * of fd. The fds are duplicated. Regular files are mapped read-only and
 * read by SEEK_DATA/SEEK_HOLE extents; hugetlbfs files are never mapped
 * (touching an unallocated huge page allocates it or SIGBUSes) but read
 * with pread, which returns zeros for holes. */
typedef struct {
	HvRamRegion region;
	int fd;
	guint64 fd_offset;
} HvRamFile;
HvRamSource *hv_ram_source_new_files(const HvRamFile *files, guint n, GError **error);

/* Guest RAM as a vmcore file holds it (hv-ramsrc-dump.c): the file's regions,
 * its present pages as data extents, excluded pages reading as zero. Takes
 * ownership of f. */
typedef struct HvDumpFile HvDumpFile;
HvRamSource *hv_ram_source_new_dump(HvDumpFile *f);

G_END_DECLS
