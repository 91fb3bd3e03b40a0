/* builtin-dump.c — `hvdump dump --qmp SOCKET FILE`: on-demand dump of a
 * running, paused or panicked VM. A running VM is paused for the capture and
 * resumed afterwards, whether the capture worked, failed or was interrupted
 * (SIGINT, SIGTERM, SIGHUP: exit 128 + signal, FILE.part removed). */
#include <stdio.h>
#include <unistd.h>

#include "hvdump-cli.h"

/* A signal that interrupted the dump decides the exit code: 128 + signal. */
static int exit_code(int rc)
{
	int sig = hv_cli_signal_received();

	return sig != 0 ? 128 + sig : rc;
}

/* A progress line on a terminal, redrawn at most five times a second. */
typedef struct {
	gint64 last;
	gboolean drawn;
} Bar;

static void draw_progress(guint64 done, guint64 total, gpointer data)
{
	Bar *b = data;
	gint64 now = g_get_monotonic_time();

	if (now - b->last < 200000 && done < total)
		return;
	b->last = now;
	b->drawn = TRUE;
	fprintf(stderr, "\rhvdump: dumping %3u%% (%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
		" MiB of guest data)\033[K", total ? (unsigned)(done * 100 / total) : 100u,
		done >> 20, total >> 20);
	fflush(stderr);
}

/* The stopped VM's state → FILE. */
static gboolean capture(HvVm *vm, HvOutput *out, const HvCaptureOptions *opt,
			HvCaptureResult *res, GError **error)
{
	g_autoptr(HvCapture) c = NULL;
	HvMachineState st;

	if (!hv_vm_read_state(vm, &st, error))
		return FALSE;
	c = hv_capture_new(st.cpus, g_steal_pointer(&st.ram), opt, error);
	hv_machine_state_clear(&st);
	return c != NULL && hv_capture_write(c, out, res, error);
}

int hv_cmd_dump(int argc, char **argv)
{
	g_autofree char *qmp_path = NULL;
	gboolean force = FALSE, verbose = FALSE;
	int timeout_s = HV_QMP_TIMEOUT_MS / 1000;
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		{ "qmp", 'q', 0, G_OPTION_ARG_FILENAME, &qmp_path, "QEMU's QMP unix socket", "SOCKET" },
		{ "force", 'f', 0, G_OPTION_ARG_NONE, &force, "overwrite FILE if it exists", NULL },
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
		  "seconds to wait for each QEMU answer (default 30)", "SEC" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "say what was found where", NULL },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, "FILE" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("--qmp SOCKET FILE");
	g_autoptr(GError) error = NULL;
	g_autoptr(HvVm) vm = NULL;
	g_autoptr(HvOutput) out = NULL;
	g_autofree char *status = NULL;
	HvCaptureOptions opt = { 0 };
	HvCaptureResult res = { 0 };
	gboolean was_running = FALSE, resume_failed = FALSE, ok;
	Bar bar = { 0 };
	GCancellable *cancellable;
	int timeout_ms;

	g_option_context_set_summary(ctx, "Dump the guest behind a QMP socket to FILE (ELF vmcore).\n"
				     "A running guest is paused for the capture and resumed after.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		hv_cli_error("dump: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (qmp_path == NULL || rest == NULL || rest[0] == NULL || rest[1] != NULL) {
		hv_cli_error("dump: usage: hvdump dump --qmp SOCKET FILE");
		return HV_EXIT_USAGE;
	}
	if (timeout_s <= 0 || timeout_s > 3600) {
		hv_cli_error("dump: --timeout must be 1..3600 seconds");
		return HV_EXIT_USAGE;
	}
	timeout_ms = timeout_s * 1000;
	cancellable = hv_cli_watch_signals();
	/* refuse an existing FILE before touching the VM */
	out = hv_output_open(rest[0], force, &error);
	if (out == NULL) {
		hv_cli_error("dump: %s", error->message);
		return HV_EXIT_FAILURE;
	}
	vm = hv_vm_connect(qmp_path, timeout_ms, cancellable, &error);
	if (vm == NULL) {
		if (hv_cli_signal_received() != 0)
			hv_cli_error("dump: interrupted by %s; %s not written",
				     g_strsignal(hv_cli_signal_received()), rest[0]);
		else
			hv_cli_error("dump: %s", error->message);
		return exit_code(HV_EXIT_FAILURE);
	}
	ok = hv_vm_pause(vm, &was_running, &status, &error);
	if (!ok)
		g_prefix_error(&error, "pausing the VM: ");
	if (ok && verbose)
		hv_cli_info("VM state: %s%s", status ? status : "?",
			    was_running ? " (paused for the dump)" : "");
	opt.cancellable = cancellable;
	if (isatty(STDERR_FILENO)) {
		opt.progress = draw_progress;
		opt.progress_data = &bar;
	}
	if (ok)
		ok = capture(vm, out, &opt, &res, &error);
	if (bar.drawn)
		fputs("\r\033[K", stderr); /* the summary line takes its place */
	if (was_running) {
		/* resuming is never interrupted: a VM we paused must run again */
		g_autoptr(GError) rerr = NULL;

		hv_vm_set_cancellable(vm, NULL);
		if (!hv_vm_resume(vm, &rerr)) {
			hv_cli_error("dump: resuming the VM: %s", rerr->message);
			resume_failed = TRUE;
		}
	}
	if (!ok) {
		if (hv_cli_signal_received() != 0)
			hv_cli_error("dump: interrupted by %s; %s not written%s",
				     g_strsignal(hv_cli_signal_received()), rest[0],
				     !was_running ? "" : resume_failed ? "; the VM is still paused" :
				     "; VM resumed");
		else if (error != NULL)
			hv_cli_error("dump: %s", error->message);
		hv_capture_result_clear(&res);
		return exit_code(HV_EXIT_FAILURE);
	}
	/* complete under its final name, even if a signal came late */
	hv_cli_report(rest[0], &res, verbose);
	hv_capture_result_clear(&res);
	return resume_failed ? HV_EXIT_FAILURE : HV_EXIT_OK;
}
