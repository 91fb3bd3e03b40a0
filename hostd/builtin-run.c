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
 *
 * For CI: a guest that neither panics nor exits within --timeout is hung:
 * an NMI is sent, then the hung guest is paused and dumped (exit 7). Every
 * dump gets NAME.report.json beside it (hvdump triage's JSON) and a short
 * summary on stderr; --junit writes the run as a JUnit test case; --keep
 * and --max-bytes keep the output directory within a budget.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "hv-config.h"
#include "hv-dumpdir.h"
#include "hv-qemu-args.h"
#include "hv-triage.h"
#include "hv-watch.h"
#include "hvdump-cli.h"

#define JUNIT_DMESG_LINES 60

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
	const char *out_dir;
	const char *name;
	const char *panic_path;
	guint keep;
	guint64 max_bytes;
	/* the first crash reported (for --junit): title, kind, dmesg tail */
	char *title, *kind, *signature, *dmesg_tail, *report_path;
} RunCtx;

static void run_ctx_clear(RunCtx *r)
{
	g_free(r->title);
	g_free(r->kind);
	g_free(r->signature);
	g_free(r->dmesg_tail);
	g_free(r->report_path);
}

/* DIR/NAME.vmcore → DIR/NAME.report.json */
static char *report_path_for(const char *dump)
{
	g_autofree char *stem = g_str_has_suffix(dump, ".vmcore") ?
				g_strndup(dump, strlen(dump) - strlen(".vmcore")) : g_strdup(dump);

	return g_strconcat(stem, ".report.json", NULL);
}

/* Triage of a dump just written: NAME.report.json beside it, a summary
 * on stderr, the directory pruned to --keep / --max-bytes. */
static void report_dump(RunCtx *r, const char *path, gboolean hang)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *rpath = report_path_for(path);
	g_autofree char *base = g_path_get_basename(path);
	HvTriageOptions topt = { .hang = hang };
	HvTriage t;
	json_object *o;

	if (!hv_triage_file(path, &topt, &t, &error)) {
		hv_cli_error("run: triage of %s: %s", path, error->message);
		hv_triage_clear(&t);
		return;
	}
	o = hv_triage_to_json_object(&t);
	json_object_object_add(o, "vm_name", json_object_new_string(r->name));
	json_object_object_add(o, "dump_file", json_object_new_string(base));
	json_object_object_add(o, "written", json_object_new_int64(g_get_real_time() / G_USEC_PER_SEC));
	if (!hv_dumpdir_write_json(rpath, o, &error))
		hv_cli_error("run: %s", error->message);
	json_object_put(o);
	hv_cli_info("title: %s", t.title.title);
	hv_cli_info("signature: %s", t.signature);
	hv_cli_info("dump: %s (report: %s)", path, rpath);
	if (r->title == NULL) {
		r->title = g_strdup(t.title.title);
		r->kind = g_strdup(t.title.kind);
		r->signature = g_strdup(t.signature);
		r->dmesg_tail = hv_triage_dmesg(&t, JUNIT_DMESG_LINES);
		r->report_path = g_strdup(rpath);
	}
	hv_triage_clear(&t);
	if (r->keep > 0 || r->max_bytes > 0) {
		g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);

		hv_dumpdir_prune(r->out_dir, NULL, r->keep, r->max_bytes, base, log);
		for (guint i = 0; i < log->len; i++)
			hv_cli_info("%s", (const char *)g_ptr_array_index(log, i));
	}
}

static void on_dump_written(const char *path, const HvCaptureResult *res, gpointer data)
{
	RunCtx *r = data;

	hv_cli_report(path, res, r->verbose);
	printf("vmcore: %s\n", path);
	fflush(stdout);
	/* oops dumps now (the guest goes on); the final dump once the run has
	 * ended, when it is known whether it is a hang */
	if (strcmp(path, r->panic_path) != 0)
		report_dump(r, path, FALSE);
}

/* The run as one JUnit test case (the schema Jenkins, GitLab and
 * junitparser read): a failure for a crash, a hang or a timeout, an error
 * when hvdump or QEMU failed. */
static gboolean write_junit(const char *file, const RunCtx *r, int rc, double seconds,
			    GError **error)
{
	g_autoptr(GString) x = g_string_new("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
	g_autofree char *name = g_markup_escape_text(r->name, -1);
	const char *elem = NULL, *type = NULL;
	g_autofree char *msg = NULL;
	gboolean failure;

	switch (rc) {
	case HV_EXIT_OK:
		break;
	case HV_EXIT_PANIC:
	case HV_EXIT_HANG:
	case HV_EXIT_OOPS:
		elem = "failure";
		type = r->kind != NULL ? r->kind : rc == HV_EXIT_HANG ? "hang" : "panic";
		msg = g_strdup(r->title != NULL ? r->title : "guest crashed; no report");
		break;
	case HV_EXIT_TIMEOUT:
		elem = "failure";
		type = "timeout";
		msg = g_strdup("guest neither exited nor panicked before --timeout");
		break;
	default:
		elem = "error";
		type = rc == HV_EXIT_CAPTURE_FAILED ? "capture-failed" : "run-failed";
		msg = g_strdup_printf("hvdump run exited %d", rc);
		break;
	}
	failure = elem != NULL && strcmp(elem, "failure") == 0;
	g_string_append_printf(x, "<testsuites tests=\"1\" failures=\"%d\" errors=\"%d\" time=\"%.3f\">\n",
			       failure, elem != NULL && !failure, seconds);
	g_string_append_printf(x, "  <testsuite name=\"hvdump\" tests=\"1\" failures=\"%d\" "
			       "errors=\"%d\" skipped=\"0\" time=\"%.3f\" timestamp=\"%s\">\n",
			       failure, elem != NULL && !failure, seconds, ts);
	g_string_append_printf(x, "    <testcase classname=\"hvdump.run\" name=\"%s\" time=\"%.3f\">\n",
			       name, seconds);
	if (elem != NULL) {
		g_autofree char *m = g_markup_escape_text(msg, -1);
		g_autofree char *body = g_markup_escape_text(r->dmesg_tail ? r->dmesg_tail : "", -1);

		g_string_append_printf(x, "      <%s type=\"%s\" message=\"%s\">%s</%s>\n", elem, type, m,
				       body, elem);
	}
	if (r->signature != NULL) {
		g_autofree char *out = g_strdup_printf("signature: %s\nreport: %s\ndump: %s\n",
						       r->signature, r->report_path, r->panic_path);
		g_autofree char *e = g_markup_escape_text(out, -1);

		g_string_append_printf(x, "      <system-out>%s</system-out>\n", e);
	}
	g_string_append(x, "    </testcase>\n  </testsuite>\n</testsuites>\n");
	return g_file_set_contents(file, x->str, (gssize)x->len, error);
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
		return r->hang ? HV_EXIT_HANG : HV_EXIT_PANIC; /* the NMI made it panic */
	case HV_WATCH_CAPTURE_FAILED:
		return HV_EXIT_CAPTURE_FAILED;
	case HV_WATCH_TIMED_OUT:
		return HV_EXIT_TIMEOUT;
	case HV_WATCH_HANG_CAPTURED:
		return HV_EXIT_HANG;
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
	RunCtx print = { 0 };
	gboolean no_hang_dump = FALSE;
	int keep = 0;
	g_autofree char *max_bytes_s = NULL, *junit = NULL;
	gint64 t_start = g_get_monotonic_time();
	g_autoptr(GError) jerror = NULL;
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
		  "a guest that neither panics nor exits within SEC seconds is hung: send it an "
		  "NMI, dump it, exit 7 (default: no limit)", "SEC" },
		{ "no-hang-dump", 0, 0, G_OPTION_ARG_NONE, &no_hang_dump,
		  "at --timeout only stop QEMU and exit 5", NULL },
		{ "junit", 0, 0, G_OPTION_ARG_FILENAME, &junit,
		  "write the run as a JUnit XML test case to FILE", "FILE" },
		{ "keep", 0, 0, G_OPTION_ARG_INT, &keep,
		  "keep only the newest N dumps (with reports) in DIR", "N" },
		{ "max-bytes", 0, 0, G_OPTION_ARG_STRING, &max_bytes_s,
		  "remove the oldest dumps while DIR's dumps take more than SIZE (K/M/G/T)", "SIZE" },
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
				     "stopped), 5 --timeout expired (no hang dump: --no-hang-dump, or it failed),\n"
				     "6 guest ended normally after oops dumps (hvdump_guest dump_on_oops=1),\n"
				     "7 --timeout expired: the guest hung, an NMI was sent, the hung guest dumped,\n"
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
	if (timeout_s < 0 || wopt.max_oops < 0 || wopt.oops_interval_s < 0 || keep < 0) {
		hv_cli_error("run: --timeout, --max-oops-dumps, --oops-interval and --keep must not be negative");
		return HV_EXIT_USAGE;
	}
	if (max_bytes_s != NULL && !hv_config_parse_size(max_bytes_s, &print.max_bytes)) {
		hv_cli_error("run: --max-bytes: '%s' is not a size (like 512M or 20G)", max_bytes_s);
		return HV_EXIT_USAGE;
	}
	print.keep = (guint)keep;
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
	wopt.hang_dump = !no_hang_dump;
	print.out_dir = out_dir;
	print.name = safe;
	print.panic_path = panic_path;
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
		if (res.outcome == HV_WATCH_PANIC_CAPTURED || res.outcome == HV_WATCH_HANG_CAPTURED)
			report_dump(&print, panic_path, res.outcome == HV_WATCH_HANG_CAPTURED);
		rc = exit_code(&res);
	}
	unlink(sock);
	rmdir(rundir);
	if (junit != NULL &&
	    !write_junit(junit, &print, rc, (double)(g_get_monotonic_time() - t_start) / G_USEC_PER_SEC,
			 &jerror)) {
		hv_cli_error("run: --junit: %s", jerror->message);
		if (rc == HV_EXIT_OK)
			rc = HV_EXIT_FAILURE;
	}
	run_ctx_clear(&print);
	return rc;
}
