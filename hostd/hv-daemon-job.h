/* hv-daemon-job.h — one capture as hvdumpd's workers run it (private to
 * the daemon).
 *
 * Owns: what a worker does with a VM's borrowed monitor: pause (on demand)
 * or check the panic is still there, read the machine state, look at the
 * guest, apply the checks that come before writing (crash-loop limit, free
 * space, budget), pick a free file name, write the dump (or have QEMU write
 * it when the RAM is not shared), resume what it paused, and hand the job
 * back to the main context. It never touches the daemon's VM table.
 */
#pragma once

#include <gio/gio.h>

#include "hv-capture.h"
#include "hv-config.h"
#include "hv-control.h"
#include "hv-vm.h"

G_BEGIN_DECLS

#define HV_JOB_OOPS_MIN_INTERVAL_S 10

typedef struct HvJob HvJob;

typedef enum {
	HV_JOB_PANIC,
	HV_JOB_ON_DEMAND,
} HvJobKind;

typedef enum {
	HV_JOB_DUMPED,
	HV_JOB_FALLBACK,     /* dumped by QEMU's dump-guest-memory */
	HV_JOB_SKIPPED_RATE,
	HV_JOB_SKIPPED_SPACE,
	HV_JOB_FAILED,
	HV_JOB_CANCELLED,
	HV_JOB_STALE,        /* the panic event of a VM already running again */
} HvJobResult;

extern const char *const hv_job_result_names[];

struct HvJob {
	gpointer owner;           /* the daemon's VM: never touched by the worker */
	GMainContext *ctx;        /* where done runs */
	GSourceFunc done;         /* called in ctx with the job when the worker is through */
	HvVm *vm;                 /* lent by the VM */
	char *uuid;
	HvJobKind kind;
	const HvPolicy *policy;   /* its config outlives the job */
	guint progress_interval_s;
	guint recent_dumps;       /* the VM's dumps in the last hour */
	gint64 last_dump_time;    /* epoch seconds of its last, 0: none */
	char *requested_path;     /* on-demand: the client's file */
	HvControlRequest *req;
	GCancellable *cancel;
	/* results, filled by the worker */
	HvJobResult result;
	gboolean oops;            /* the guest asked for this dump and goes on */
	gboolean was_running;     /* on-demand: paused by us */
	gboolean resume_failed;
	char *path;
	char *error;
	char *fallback_reason;
	char *degraded;           /* why a smaller dump than the policy's was written */
	guint64 space_limit;      /* bytes the degraded dump may take; 0: none */
	HvCaptureResult res;
	guint64 bytes;
	double seconds;
	gint64 progress_last, progress_start;
	char *vm_name;            /* for the worker's log lines */
};


const char *hv_job_event(const HvJob *j);
void hv_job_free(HvJob *j);
/* GThreadPool's function: runs the job, then j->done in j->ctx. */
void hv_job_run(gpointer job, gpointer pool_data);

G_END_DECLS
