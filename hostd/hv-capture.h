/* hv-capture.h — the capture engine: a stopped QEMU guest → an ELF vmcore.
 *
 * Owns: the pipeline order (machine state → guest RAM → kernel metadata →
 * notes and segments → NAME.part → NAME) and the summary of what was done.
 * It never changes the VM's run state: callers pause and resume.
 */
#pragma once

#include <glib.h>

#include "hv-descriptor.h"
#include "hv-elfcore.h"
#include "hv-output.h"
#include "hv-qmp.h"

G_BEGIN_DECLS

typedef struct {
	int qmp_timeout_ms;
	GCancellable *cancellable; /* optional: stops the capture (QMP waits, writes) */
} HvCaptureOptions;

typedef struct {
	guint ncpus;
	guint64 ram_bytes;
	HvElfStats stats;
	double seconds;
	gboolean vmcoreinfo;        /* carried in the dump */
	gboolean vmcoreinfo_verified;
	guint64 vmcoreinfo_paddr;
	char osrelease[65];
	gboolean kimage_segment;
	gboolean direct_map;
	HvDescriptor desc;          /* the guest module's, when found */
	gboolean has_desc;
	GPtrArray *warnings;        /* char* */
} HvCaptureResult;

void hv_capture_result_clear(HvCaptureResult *res);

/* A capture in two steps: read machine state, guest RAM, the module's
 * descriptor and kernel metadata; then write. Callers that name the dump
 * after what happened (hvdump run) look at the descriptor in between. */
typedef struct HvCapture HvCapture;
HvCapture *hv_capture_new(HvQmp *qmp, const HvCaptureOptions *opt, GError **error);
const HvDescriptor *hv_capture_get_descriptor(HvCapture *c);
gboolean hv_capture_write(HvCapture *c, HvOutput *out, HvCaptureResult *res, GError **error);
void hv_capture_free(HvCapture *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvCapture, hv_capture_free)

/* Upper bound of the dump's data bytes (allocated guest RAM), for a free
 * space check before writing. */
guint64 hv_capture_estimate_bytes(HvCapture *c);

/* Both steps: writes the dump into out (opened by the caller), commits it. */
gboolean hv_capture(HvQmp *qmp, HvOutput *out, const HvCaptureOptions *opt,
		    HvCaptureResult *res, GError **error);

/* Pauses a running VM; *was_running_ret says whether it ran. */
gboolean hv_vm_pause(HvQmp *qmp, int timeout_ms, gboolean *was_running_ret,
		     char **status_ret, GError **error);
gboolean hv_vm_resume(HvQmp *qmp, int timeout_ms, GError **error);

G_END_DECLS
