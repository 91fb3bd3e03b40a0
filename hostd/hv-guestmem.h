/* hv-guestmem.h — guest RAM as the host sees it: QEMU's RAM backend files
 * mapped read-only, addressed by guest-physical address.
 *
 * Owns: finding QEMU's RAM backends (query-memdev, /proc/PID/fd), checking
 * they are shared and really are this guest's RAM (compared against QEMU's
 * own view through `xp`), mapping them, bounded reads by GPA, and iterating
 * only the allocated parts (SEEK_DATA/SEEK_HOLE) so untouched guest RAM is
 * never read nor faulted in on the host.
 */
#pragma once

#include <gio/gio.h>

#include "hv-machine.h"
#include "hv-qmp.h"

G_BEGIN_DECLS

typedef struct {
	guint64 gpa;
	guint64 size;
	int fd;               /* backend fd (owned by HvGuestMem) */
	guint64 fd_offset;    /* where gpa lives in the backend */
	const guint8 *host;   /* mapping of gpa (read-only), never touch holes;
			       * NULL when the backend is read with pread only
			       * (hugetlbfs) */
	gboolean seekable;    /* SEEK_DATA works on fd */
	char region[64];
} HvGuestRange;

typedef struct HvGuestMem HvGuestMem;

/* Attaches to the RAM of the QEMU behind qmp, given its RAM map. */
HvGuestMem *hv_guestmem_open(HvQmp *qmp, GArray *ram_map, GError **error);
/* An in-process guest memory over caller-provided buffers (tests, fuzzers):
 * each range's host pointer is used as is; fd = -1. */
HvGuestMem *hv_guestmem_new_static(const HvGuestRange *ranges, guint n);
void hv_guestmem_free(HvGuestMem *mem);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvGuestMem, hv_guestmem_free)

/* Page scans end with G_IO_ERROR_CANCELLED once cancellable is cancelled. */
void hv_guestmem_set_cancellable(HvGuestMem *mem, GCancellable *cancellable);

guint hv_guestmem_n_ranges(HvGuestMem *mem);
const HvGuestRange *hv_guestmem_range(HvGuestMem *mem, guint i);
guint64 hv_guestmem_total(HvGuestMem *mem);

/* Copies len bytes at gpa (must lie inside one range); holes read as zero
 * without being allocated. FALSE if outside guest RAM. */
gboolean hv_guestmem_read(HvGuestMem *mem, guint64 gpa, void *buf, gsize len);

/* Data extents of range i, in order: call with *cursor = 0 first. Returns
 * FALSE when done. Offsets are relative to the range start. */
gboolean hv_guestmem_next_data(HvGuestMem *mem, guint i, guint64 *cursor, guint64 *off_ret,
			       guint64 *len_ret, GError **error);

/* Like hv_guestmem_next_data, with the bytes: *data_ret points at len_ret
 * readable bytes (into the mapping, or for unmapped ranges into a buffer
 * of at most HV_GUESTMEM_CHUNK bytes that the next call reuses). */
#define HV_GUESTMEM_CHUNK (4u << 20)
gboolean hv_guestmem_next_chunk(HvGuestMem *mem, guint i, guint64 *cursor, guint64 *off_ret,
				guint64 *len_ret, const guint8 **data_ret, GError **error);

/* Calls fn for the start of every allocated, page-aligned guest page
 * (head = its first bytes, 4096 readable) until fn returns FALSE. Never
 * touches holes. FALSE with *error only when the backend cannot be read. */
typedef gboolean (*HvPageFunc)(gpointer user_data, guint64 gpa, const guint8 *head);
gboolean hv_guestmem_scan_pages(HvGuestMem *mem, HvPageFunc fn, gpointer user_data,
				GError **error);

G_END_DECLS
