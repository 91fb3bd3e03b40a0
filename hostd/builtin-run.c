/* builtin-run.c — `hvdump run [--out DIR] -- qemu-system-x86_64 ARGS...`.
 *
 * Runs QEMU with what capture needs added, forwards its console (QEMU keeps
 * our stdin/stdout/stderr), and on GUEST_PANICKED writes DIR/NAME.vmcore,
 * prints its path, stops QEMU and exits 3. When the guest module asks for a
 * dump of an oops (dump_on_oops=1, announced by the signalling vCPU),
 * DIR/NAME.oopsN.vmcore (the next free N) is written and the guest resumed;
 * oops dumps are capped, rate-limited and skipped when the directory lacks
 * the space, since any guest root can ask for them.
 *
 * A panic whose capture fails does not lose the crash: the VM is left
 * paused, the way to dump it with `hvdump dump` is printed, and QEMU is
 * quit only when hvdump run itself is stopped (signal, --timeout) or QEMU
 * is quit by the user. Exit codes: hvdump-cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hv-qemu-args.h"
#include "hv-watch.h"
#include "hvdump-cli.h"

static char *sanitize(const char *name)
{
	char *s = g_strdup(name);
	char *p;

	for (p = s; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
			*p = '_';
	}
	if (s[0] == '.' || s[0] == '\0') {
		char *t = g_strconcat("vm", s, NULL);

		g_free(s);
		s = t;
	}
	return s;
}

/* Is dir a directory we can create files in? Probed by creating one (root
 * passes access(2) checks on read-only mounts and foreign ownership). */
static gboolean dir_writable(const char *dir, GError **error)
{
	g_autofree char *probe = g_build_filename(dir, ".hvdump-probe-XXXXXX", NULL);
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
		return TRUE;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "output directory %s is not writable: %s", dir, g_strerror(errno));
		return FALSE;
	}
	fd = g_mkstemp_full(probe, O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "output directory %s is not writable: %s", dir, g_strerror(errno));
		return FALSE;
	}
	close(fd);
	unlink(probe);
	return TRUE;
}

static void on_message(gboolean is_error, const char *text, gpointer data)
{
	(void)data;
	if (is_error)
		hv_cli_error("run: %s", text);
	else
		hv_cli_info("%s", text);
}

typedef struct {
	gboolean verbose;
} RunPrint;

static void on_dump_written(const char *path, const HvCaptureResult *res, gpointer data)
{
	RunPrint *p = data;

	hv_cli_report(path, res, p->verbose);
	printf("vmcore: %s\n", path);
	fflush(stdout);
}

static void report_oops_summary(const HvWatchResult *r)
{
	guint skipped = r->skipped_cap + r->skipped_rate + r->skipped_space;

	if (skipped == 0 && r->oops_failed == 0)
		return;
	hv_cli_info("oops events: %u; dumps written %u, failed %u, skipped %u (%u over "
		    "--max-oops-dumps, %u within --oops-interval, %u for lack of space)",
		    r->oops_events, r->oops_dumps, r->oops_failed, skipped, r->skipped_cap,
		    r->skipped_rate, r->skipped_space);
}

/* The watch loop's outcome as hvdump run's exit code (hvdump-cli.h). */
static int exit_code(const HvWatchResult *r)
{
	switch (r->outcome) {
	case HV_WATCH_PANIC_CAPTURED:
		return HV_EXIT_PANIC;
	case HV_WATCH_CAPTURE_FAILED:
		return HV_EXIT_CAPTURE_FAILED;
	case HV_WATCH_TIMED_OUT:
		return HV_EXIT_TIMEOUT;
	case HV_WATCH_INTERRUPTED:
		hv_cli_error("run: interrupted by %s; QEMU stopped",
			     g_strsignal(hv_cli_signal_received()));
		return 128 + hv_cli_signal_received();
	case HV_WATCH_ENDED:
		if (r->qemu_term_signal == 0 && r->qemu_exit_status == 0)
			return r->oops_dumps > 0 ? HV_EXIT_OOPS : HV_EXIT_OK;
		hv_cli_error("run: QEMU exited with %s %d", r->qemu_term_signal ? "signal" : "status",
			     r->qemu_term_signal ? r->qemu_term_signal : r->qemu_exit_status);
		return HV_EXIT_FAILURE;
	case HV_WATCH_FAILED:
	default:
		return HV_EXIT_FAILURE;
	}
}

int hv_cmd_run(int argc, char **argv)
{
	HvWatchOptions wopt = { .max_oops = 3, .oops_interval_s = 10 };
	HvWatchResult res;
	RunPrint print = { 0 };
	g_autofree char *out_dir = NULL, *name = NULL, *safe = NULL, *panic_path = NULL;
	g_autofree char *sock = NULL;
	int timeout_s = 0;
	HvCliWriteOpts wo = { .dump_level = -1 };
	HvCaptureOptions copt = { 0 };
	const GOptionEntry entries[] = {
		{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir,
		  "directory for the vmcore (default: current)", "DIR" },
		{ "name", 'n', 0, G_OPTION_ARG_STRING, &name,
		  "dump name (default: QEMU -name, else guest-DATE-TIME)", "NAME" },
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
		  "stop QEMU and exit 5 after SEC seconds (default: no limit)", "SEC" },
		{ "force", 'f', 0, G_OPTION_ARG_NONE, &wopt.force, "overwrite an existing vmcore", NULL },
		{ "max-oops-dumps", 0, 0, G_OPTION_ARG_INT, &wopt.max_oops,
		  "write at most N oops dumps (default 3; 0: none)", "N" },
		{ "oops-interval", 0, 0, G_OPTION_ARG_INT, &wopt.oops_interval_s,
		  "skip an oops dump within SEC seconds of the last one (default 10)", "SEC" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &print.verbose, "say what was found where", NULL },
		HV_CLI_WRITE_ENTRIES(&wo),
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("-- QEMU-BINARY [QEMU-ARGS...]");
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) qemu_argv = NULL;
	g_autofree char *rundir = NULL, *fname = NULL;
	char **user_argv = NULL;
	int own_argc = argc, i, rc = HV_EXIT_FAILURE;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			own_argc = i;
			user_argv = argv + i + 1;
			break;
		}
	}
	g_option_context_set_summary(ctx, "Run QEMU; when the guest kernel panics, write DIR/NAME.vmcore.\n"
				     "Exit: 0 guest ended normally, 1 QEMU failed, 2 usage, 3 panic captured,\n"
				     "4 panic but capture failed (the guest is kept paused until hvdump run is\n"
				     "stopped), 5 --timeout expired,\n"
				     "6 guest ended normally after oops dumps (hvdump_guest dump_on_oops=1),\n"
				     "128+N stopped by signal N.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &own_argc, &argv, &error)) {
		hv_cli_error("run: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (own_argc > 1 || user_argv == NULL || user_argv[0] == NULL) {
		hv_cli_error("run: usage: hvdump run [--out DIR] -- qemu-system-x86_64 ARGS...");
		return HV_EXIT_USAGE;
	}
	if (!hv_cli_write_opts_apply(&wo, "run", &copt)) {
		hv_cli_write_opts_clear(&wo);
		return HV_EXIT_USAGE;
	}
	hv_cli_write_opts_clear(&wo);
	wopt.format = copt.format;
	wopt.dump_level = copt.dump_level;
	wopt.threads = copt.threads;
	if (timeout_s < 0 || wopt.max_oops < 0 || wopt.oops_interval_s < 0) {
		hv_cli_error("run: --timeout, --max-oops-dumps and --oops-interval must not be negative");
		return HV_EXIT_USAGE;
	}
	if (out_dir == NULL)
		out_dir = g_strdup(".");
	if (!g_file_test(out_dir, G_FILE_TEST_IS_DIR)) {
		hv_cli_error("run: output directory %s does not exist", out_dir);
		return HV_EXIT_USAGE;
	}
	if (!dir_writable(out_dir, &error)) {
		hv_cli_error("run: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (name == NULL)
		name = hv_qemu_guest_name(user_argv);
	if (name == NULL) {
		g_autoptr(GDateTime) now = g_date_time_new_now_local();

		name = g_date_time_format(now, "guest-%Y%m%d-%H%M%S");
	}
	safe = sanitize(name);
	fname = g_strconcat(safe, ".vmcore", NULL);
	panic_path = g_build_filename(out_dir, fname, NULL);
	if (!hv_output_check(panic_path, wopt.force, &error)) {
		hv_cli_error("run: %s (or use --name or --out)", error->message);
		return HV_EXIT_USAGE;
	}

	rundir = g_dir_make_tmp("hvdump-run.XXXXXX", &error);
	if (rundir == NULL) {
		hv_cli_error("run: %s", error->message);
		return HV_EXIT_FAILURE;
	}
	sock = g_build_filename(rundir, "qmp.sock", NULL);
	qemu_argv = hv_qemu_build_argv(user_argv, sock, &error);
	if (qemu_argv == NULL) {
		hv_cli_error("run: %s", error->message);
		rmdir(rundir);
		return HV_EXIT_USAGE;
	}
	if (print.verbose) {
		g_autofree char *cmd = g_strjoinv(" ", qemu_argv);

		hv_cli_info("starting: %s", cmd);
	}

	wopt.out_dir = out_dir;
	wopt.name = safe;
	wopt.panic_path = panic_path;
	wopt.qmp_socket = sock;
	wopt.timeout_s = timeout_s;
	wopt.cancellable = hv_cli_watch_signals();
	wopt.child_setup = hv_cli_child_setup;
	wopt.message = on_message;
	wopt.dump_written = on_dump_written;
	wopt.data = &print;
	if (!hv_watch_run(qemu_argv, &wopt, &res, &error)) {
		hv_cli_error("run: cannot start %s: %s", qemu_argv[0], error->message);
		rc = HV_EXIT_FAILURE;
	} else {
		report_oops_summary(&res);
		rc = exit_code(&res);
	}
	unlink(sock);
	rmdir(rundir);
	return rc;
}
