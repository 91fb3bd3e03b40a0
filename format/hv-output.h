/* hv-output.h — a dump file that appears under its final name only when
 * complete.
 *
 * Owns: NAME.part creation (mode 0600), positional writes with full error
 * reporting (ENOSPC, EFBIG), fsync, the final rename (no-replace unless
 * forced) and removal of the partial file on any failure.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct HvOutput HvOutput;

/* Would hv_output_open succeed as far as names go? Checks, without
 * creating anything: path (unless force) and path.part (absent, or a stale
 * dump of ours that no live hvdump holds). For commands that must refuse a
 * name before they start a VM. */
gboolean hv_output_check(const char *path, gboolean force, GError **error);

/* Removes part (a NAME.part path) when it is a stale dump of ours that no
 * live hvdump holds (a writer killed on the way); TRUE when it is gone.
 * Anything else there is left alone (HV_OUTPUT_ERROR_EXISTS). */
gboolean hv_output_remove_stale(const char *part, GError **error);

/* Fails with HV_OUTPUT_ERROR_EXISTS if path exists and !force. NAME.part is
 * created exclusively and held under flock while written; a leftover
 * NAME.part replaces only when it is our own unlocked regular file. */
HvOutput *hv_output_open(const char *path, gboolean force, GError **error);
gboolean hv_output_pwrite(HvOutput *out, const void *buf, gsize len, guint64 offset,
			  GError **error);
/* Writes that would make the file larger than max_size fail as if the disk
 * were full (HV_OUTPUT_ERROR_NOSPACE): a budget; 0 lifts it. */
void hv_output_set_limit(HvOutput *out, guint64 max_size);
/* Bytes written so far (progress displays). */
guint64 hv_output_get_written(HvOutput *out);
/* Sets the apparent size (trailing holes). */
gboolean hv_output_set_size(HvOutput *out, guint64 size, GError **error);
/* fsync + rename to the final name + fsync of the directory. */
gboolean hv_output_commit(HvOutput *out, GError **error);
/* Removes the partial file (if not committed) and frees. */
void hv_output_free(HvOutput *out);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvOutput, hv_output_free)
const char *hv_output_get_path(HvOutput *out);
/* For a writer that is not ours (QEMU's dump-guest-memory through a passed
 * fd, libvirt's core dump): the NAME.part file and its descriptor. */
const char *hv_output_get_part_path(HvOutput *out);
int hv_output_get_fd(HvOutput *out);
/* Writes and the commit fail with G_IO_ERROR_CANCELLED once cancellable is
 * cancelled (checked before each write of at most 16 MiB). */
void hv_output_set_cancellable(HvOutput *out, GCancellable *cancellable);

#define HV_OUTPUT_ERROR (hv_output_error_quark())
GQuark hv_output_error_quark(void);
typedef enum {
	HV_OUTPUT_ERROR_EXISTS,
	HV_OUTPUT_ERROR_IO,
	HV_OUTPUT_ERROR_NOSPACE,
} HvOutputError;

G_END_DECLS
