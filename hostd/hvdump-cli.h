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
	HV_EXIT_HANG = 7,         /* run: --timeout: the guest hung; NMI sent, hung guest dumped */
};

#define HV_QMP_TIMEOUT_MS 30000

int hv_cmd_dump(int argc, char **argv);
int hv_cmd_run(int argc, char **argv);
int hv_cmd_list(int argc, char **argv);
int hv_cmd_status(int argc, char **argv);
int hv_cmd_convert(int argc, char **argv);
int hv_cmd_info(int argc, char **argv);
int hv_cmd_triage(int argc, char **argv);
int hv_cmd_fleet(int argc, char **argv);
int hv_cmd_fleet_push(int argc, char **argv);
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

/* The options of every command that writes a dump (dump, run, convert). */
typedef struct {
	char *format;            /* --format, NULL: elf */
	int dump_level;          /* --dump-level, -1: not given */
	int threads;             /* --threads, 0: online CPUs */
	gboolean quiet;          /* --quiet: no progress bar */
} HvCliWriteOpts;
#define HV_CLI_DUMP_LEVEL_DEFAULT 1
#define HV_CLI_WRITE_ENTRIES(w)                                                                   \
	{ "format", 'F', 0, G_OPTION_ARG_STRING, &(w)->format,                                    \
	  "Dump format: elf (default), kdump-zlib, kdump-zstd, kdump-lzo or kdump-snappy", "FORMAT" }, \
	{ "dump-level", 'd', 0, G_OPTION_ARG_INT, &(w)->dump_level,                               \
	  "Pages to leave out, makedumpfile's bits: 1 zero, 2 cache, 4 private cache, 8 user, "   \
	  "16 free (31: all; default 1)", "N" },                                                  \
	{ "threads", 'j', 0, G_OPTION_ARG_INT, &(w)->threads,                                     \
	  "Compression threads (default: online CPUs); the output is the same for any number",   \
	  "N" },                                                                                  \
	{ "quiet", 0, 0, G_OPTION_ARG_NONE, &(w)->quiet, "No progress bar on a terminal", NULL }
/* Checks the values and sets format, dump_level and threads of opt; a
 * usage error (one line, prefixed with cmd) otherwise. */
gboolean hv_cli_write_opts_apply(const HvCliWriteOpts *w, const char *cmd, HvCaptureOptions *opt);
void hv_cli_write_opts_clear(HvCliWriteOpts *w);

/* A progress bar on stderr when it is a terminal (and not --quiet): guest
 * bytes scanned of total, output written, rate and ETA, redrawn at most
 * five times a second. With cache_fd >= 0 written pages are dropped from
 * the page cache as they go (--bypass-cache). */
typedef struct {
	gboolean draw;
	gboolean drawn;
	gint64 t0, last;
	int cache_fd;
	guint64 dropped_at;
	const char *what;        /* "dumping", "converting" */
} HvCliProgress;
void hv_cli_progress_init(HvCliProgress *p, const char *what, gboolean quiet, int cache_fd);
/* HvDumpProgressFunc */
void hv_cli_progress(guint64 scanned, guint64 total, guint64 written, gpointer data);
/* Erases the bar (the summary line takes its place). */
void hv_cli_progress_end(HvCliProgress *p);

/* Prints the warnings and a one-line summary of a capture. */
void hv_cli_report(const char *path, const HvCaptureResult *res, gboolean verbose);
