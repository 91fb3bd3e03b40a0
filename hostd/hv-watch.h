/* hv-watch.h — the watch loop: one QEMU, its events, captures and what
 * comes after them, on a GMainContext.
 *
 * Owns: QEMU as a GSubprocess, waiting for its monitor, GUEST_PANICKED →
 * capture → after-capture action (a panic: write DIR/NAME.vmcore and quit
 * QEMU; an oops the guest asks to have dumped: DIR/NAME.oopsN.vmcore within
 * the oops limits, then resume; a capture that fails: keep the VM paused
 * and let go of its monitor until stopped), the deadline, and cancellation
 * (a signal, a daemon shutting down). It reports through callbacks and
 * prints nothing: `hvdump run` prints, hvdumpd will log.
 */
#pragma once

#include <gio/gio.h>

#include "hv-capture.h"

G_BEGIN_DECLS

typedef enum {
	HV_WATCH_ENDED,           /* QEMU ended on its own: see exit_status */
	HV_WATCH_PANIC_CAPTURED,
	HV_WATCH_CAPTURE_FAILED,  /* a panic not dumped; the VM was kept paused until stopped */
	HV_WATCH_TIMED_OUT,       /* the deadline, and no hang dump (not asked, or it failed) */
	HV_WATCH_INTERRUPTED,     /* the cancellable was cancelled */
	HV_WATCH_FAILED,          /* QEMU did not start, its monitor failed, or an oops
				   * could not be resumed */
	HV_WATCH_HANG_CAPTURED,   /* the deadline: NMI sent, the hung guest paused and dumped */
} HvWatchOutcome;

typedef struct {
	const char *out_dir;
	const char *name;           /* file-name safe */
	const char *panic_path;     /* out_dir/name.vmcore */
	const char *qmp_socket;     /* the monitor socket QEMU was told to serve */
	gboolean force;
	int max_oops;               /* oops dumps per run */
	int oops_interval_s;        /* none within this many seconds of the last */
	int timeout_s;              /* 0: no deadline */
	gboolean hang_dump;         /* at the deadline: the guest is hung — inject an NMI,
				     * wait HV_WATCH_NMI_GRACE_S for a panic, else pause it
				     * and dump it to panic_path */
	const HvDumpFormat *format; /* NULL: ELF */
	guint dump_level;
	guint threads;              /* compression threads; 0: online CPUs */
	GCancellable *cancellable;
	GSpawnChildSetupFunc child_setup; /* run in QEMU's process before exec */
	/* reporting: one line (is_error: a failure the user must know) */
	void (*message)(gboolean is_error, const char *text, gpointer data);
	/* a dump is complete under its final name */
	void (*dump_written)(const char *path, const HvCaptureResult *res, gpointer data);
	gpointer data;
} HvWatchOptions;

typedef struct {
	HvWatchOutcome outcome;
	gboolean qemu_exited;
	int qemu_exit_status;       /* when it exited normally */
	int qemu_term_signal;       /* when a signal ended it, else 0 */
	guint oops_events, oops_dumps, oops_failed;
	guint skipped_cap, skipped_rate, skipped_space;
	gboolean hang;              /* the deadline passed with the guest running */
} HvWatchResult;

#define HV_WATCH_NMI_GRACE_S 3

/* Runs QEMU (argv already carries -qmp for qmp_socket, pvpanic, shared
 * RAM, -action panic=pause) until an outcome; FALSE only when QEMU could
 * not be started at all. */
gboolean hv_watch_run(char **qemu_argv, const HvWatchOptions *opt, HvWatchResult *res,
		      GError **error);

G_END_DECLS
