/* hvdump-cli.h — what the hvdump subcommands share: exit codes, messages. */
#pragma once

#include <glib.h>

#include "hv-capture.h"
#include "hv-vm.h"

/* exit codes (a contract: scripts and CI drive them) */
enum {
	HV_EXIT_OK = 0,
	HV_EXIT_FAILURE = 1,      /* dump failed / QEMU failed or exited non-zero */
	HV_EXIT_USAGE = 2,
	HV_EXIT_PANIC = 3,        /* run: guest panicked, vmcore written */
	HV_EXIT_CAPTURE_FAILED = 4, /* run: guest panicked, capture failed */
	HV_EXIT_TIMEOUT = 5,      /* run: --timeout expired */
	HV_EXIT_OOPS = 6,         /* run: guest ended normally after oops dumps */
};

#define HV_QMP_TIMEOUT_MS 30000

int hv_cmd_dump(int argc, char **argv);
int hv_cmd_run(int argc, char **argv);
int hv_cmd_list(int argc, char **argv);
int hv_cmd_status(int argc, char **argv);
/* `hvdump dump --daemon VM FILE`: the running hvdumpd dumps VM to FILE. */
int hv_dump_via_daemon(const char *control, const char *vm, const char *file);

/* "hvdump: <message>" on stderr, one line. */
void hv_cli_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
void hv_cli_info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Takes SIGINT/SIGTERM/SIGHUP from now on (call before starting threads or
 * children): the first one cancels the returned cancellable. */
GCancellable *hv_cli_watch_signals(void);
/* The signal that cancelled it, or 0. */
int hv_cli_signal_received(void);
/* GSpawnChildSetupFunc: default signal mask and dispositions for QEMU. */
void hv_cli_child_setup(gpointer data);

/* Prints the warnings and a one-line summary of a capture. */
void hv_cli_report(const char *path, const HvCaptureResult *res, gboolean verbose);
