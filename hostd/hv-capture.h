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

typedef struct {
	GCancellable *cancellable;    /* optional: stops scans and writes */
	const HvDumpFormat *format;   /* NULL: ELF */
	guint dump_level;             /* makedumpfile's 0..31 */
	guint threads;                /* compression threads; 0: online CPUs */
	HvDumpProgressFunc progress;  /* optional: guest bytes scanned, output written */
	gpointer progress_data;
	const char *event;            /* optional: what the host saw when the guest did not
				       * say (hvdump run's "hang"): HVDUMP_EVENT + CRASHTIME */
} HvCaptureOptions;

typedef struct {
	guint ncpus;
	guint64 ram_bytes;
	HvDumpStats stats;            /* also filled when the dump was cut short and
				       * kept flagged incomplete (stats.incomplete) */
	const char *format;           /* the format's name */
	gboolean classified;          /* struct pages were read for the dump level */
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
/* A capture of a dump file's guest RAM (hvdump convert): its notes are
 * kept as they are, the kernel layout comes from its VMCOREINFO. Takes
 * ownership of f. */
typedef struct HvDumpFile HvDumpFile;
HvCapture *hv_capture_new_from_dump(HvDumpFile *f, const HvCaptureOptions *opt, GError **error);
/* The vmcore at path written again into out (committed), as opt says:
 * hv_capture_new_from_dump + hv_capture_write. */
gboolean hv_capture_convert_file(const char *path, HvOutput *out, const HvCaptureOptions *opt,
				 HvCaptureResult *res, GError **error);
const HvDescriptor *hv_capture_get_descriptor(HvCapture *c);
/* Changes the format and dump level before hv_capture_write (hvdumpd's
 * low-space ladder). */
void hv_capture_set_output(HvCapture *c, const HvDumpFormat *format, guint dump_level);
/* Upper bound of the dump's data bytes (allocated guest RAM and headers),
 * for a free space check before writing. */
guint64 hv_capture_estimate_bytes(HvCapture *c);
/* Writes the dump into out (opened by the caller) and commits it. When the
 * disk fills and the format can say so in the file (kdump), the file is
 * committed flagged incomplete, res->stats.incomplete is set, and FALSE is
 * still returned with the error. */
gboolean hv_capture_write(HvCapture *c, HvOutput *out, HvCaptureResult *res, GError **error);
void hv_capture_free(HvCapture *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvCapture, hv_capture_free)

G_END_DECLS
