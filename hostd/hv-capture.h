/* hv-capture.h — the capture engine: a stopped guest's machine state → a
 * vmcore in some format.
 *
 * Owns: the pipeline order (guest RAM source and vCPU registers → the
 * module's descriptor and kernel metadata → notes and the dump layout →
 * page selection and the format's writer → NAME.part → NAME), progress,
 * cancellation, and the summary of what was done. It knows neither QEMU nor
 * any file format: the VM (hv-vm.h) hands it a HvMachineState, a format
 * (hv-writer.h) takes the layout and pages. It never changes the VM's run
 * state: callers pause and resume.
 */
#pragma once

#include <gio/gio.h>

#include "hv-descriptor.h"
#include "hv-output.h"
#include "hv-ramsrc.h"
#include "hv-writer.h"

G_BEGIN_DECLS

/* Called as data is written: bytes done of at most total (an upper bound:
 * zero pages are left out on the way). */
typedef void (*HvProgressFunc)(guint64 done, guint64 total, gpointer user_data);

typedef struct {
	GCancellable *cancellable;    /* optional: stops scans and writes */
	const HvDumpFormat *format;   /* NULL: ELF */
	HvProgressFunc progress;      /* optional */
	gpointer progress_data;
} HvCaptureOptions;

typedef struct {
	guint ncpus;
	guint64 ram_bytes;
	HvDumpStats stats;
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

/* A capture in two steps: look at the guest (descriptor, kernel metadata);
 * then write. Callers that name the dump after what happened (hvdump run)
 * look at the descriptor in between. */
typedef struct HvCapture HvCapture;
/* Takes cpus (a reference) and ram (ownership, also on failure). */
HvCapture *hv_capture_new(GArray *cpus, HvRamSource *ram, const HvCaptureOptions *opt,
			  GError **error);
const HvDescriptor *hv_capture_get_descriptor(HvCapture *c);
/* Upper bound of the dump's data bytes (allocated guest RAM and headers),
 * for a free space check before writing. */
guint64 hv_capture_estimate_bytes(HvCapture *c);
/* Writes the dump into out (opened by the caller) and commits it. */
gboolean hv_capture_write(HvCapture *c, HvOutput *out, HvCaptureResult *res, GError **error);
void hv_capture_free(HvCapture *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvCapture, hv_capture_free)

G_END_DECLS
