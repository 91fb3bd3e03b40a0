/* builtin-run.c — `hvdump run [--out DIR] -- qemu-system-x86_64 ARGS...`.
 *
 * Runs QEMU with what capture needs added, forwards its console (QEMU keeps
 * our stdin/stdout/stderr), and on GUEST_PANICKED writes DIR/NAME.vmcore,
 * prints its path, stops QEMU and exits 3. When the guest module asks for a
 * dump of an oops (dump_on_oops=1), DIR/NAME.oopsN.vmcore is written and the
 * guest resumed. Exit codes: hvdump-cli.h.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv-qemu-args.h"
#include "hvdump_desc.h"
#include "hvdump-cli.h"

#define START_TIMEOUT_MS 60000
#define QUIT_TIMEOUT_MS 10000

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

typedef struct {
	GPid pid;
	gboolean exited;
	int status;
} Child;

static gboolean child_poll(Child *c)
{
	int st;

	if (c->exited)
		return TRUE;
	if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
		c->exited = TRUE;
		c->status = st;
	}
	return c->exited;
}

/* Waits for QEMU to exit; after timeout_ms, SIGKILL. */
static void child_reap(Child *c, int timeout_ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	while (!child_poll(c)) {
		if (g_get_monotonic_time() > end) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &c->status, 0);
			c->exited = TRUE;
			return;
		}
		g_usleep(20000);
	}
}

static void child_stop(Child *c, HvQmp *qmp)
{
	if (child_poll(c))
		return;
	if (qmp != NULL) {
		json_object *r = hv_qmp_execute(qmp, "quit", NULL, 5000, NULL);

		if (r != NULL)
			json_object_put(r);
	} else {
		kill(c->pid, SIGTERM);
	}
	child_reap(c, QUIT_TIMEOUT_MS);
}

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

static HvQmp *connect_when_up(const char *sock, Child *c, GError **error)
{
	gint64 end = g_get_monotonic_time() + (gint64)START_TIMEOUT_MS * 1000;

	for (;;) {
		g_autoptr(GError) local = NULL;
		HvQmp *qmp;

		if (child_poll(c)) {
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CLOSED,
				    "QEMU exited (status %d) before its QMP socket came up",
				    WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status));
			return NULL;
		}
		if (g_file_test(sock, G_FILE_TEST_EXISTS)) {
			qmp = hv_qmp_connect(sock, 10000, &local);
			if (qmp != NULL)
				return qmp;
		}
		if (g_get_monotonic_time() > end) {
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT,
				    "QEMU's QMP socket did not come up within %d s%s%s",
				    START_TIMEOUT_MS / 1000, local ? ": " : "",
				    local ? local->message : "");
			return NULL;
		}
		g_usleep(50000);
	}
}

/* Captures the stopped guest. A panic is written to panic_path
 * (DIR/NAME.vmcore); an oops whose guest asked for a dump (hvdump_guest
 * dump_on_oops=1) to DIR/NAME.oopsN.vmcore, after which the guest is
 * resumed (*resumed_ret). */
static int capture_event(HvQmp *qmp, const char *panic_path, const char *dir, const char *name,
			 gboolean force, gboolean verbose, guint *oops_dumps, gboolean *resumed_ret)
{
	g_autoptr(GError) error = NULL;
	HvCaptureOptions opt = { .qmp_timeout_ms = HV_QMP_TIMEOUT_MS };
	g_autoptr(HvCapture) c = hv_capture_new(qmp, &opt, &error);
	g_autoptr(HvOutput) out = NULL;
	g_autofree char *oops_path = NULL;
	const char *path = panic_path;
	const HvDescriptor *d;
	HvCaptureResult res = { 0 };
	gboolean oops;

	*resumed_ret = FALSE;
	if (c == NULL) {
		hv_cli_error("run: capture failed: %s", error->message);
		return HV_EXIT_CAPTURE_FAILED;
	}
	d = hv_capture_get_descriptor(c);
	oops = d != NULL && d->event == HVDUMP_EVENT_OOPS && (d->flags & HVDUMP_F_DUMP_REQUEST);
	if (oops) {
		g_autofree char *f = g_strdup_printf("%s.oops%u.vmcore", name, *oops_dumps + 1);

		path = oops_path = g_build_filename(dir, f, NULL);
	}
	out = hv_output_open(path, force, &error);
	if (out == NULL || !hv_capture_write(c, out, &res, &error)) {
		hv_cli_error("run: capture failed: %s", error->message);
		hv_capture_result_clear(&res);
		return HV_EXIT_CAPTURE_FAILED;
	}
	hv_cli_report(path, &res, verbose);
	printf("vmcore: %s\n", path);
	fflush(stdout);
	hv_capture_result_clear(&res);
	if (!oops)
		return HV_EXIT_PANIC;
	(*oops_dumps)++;
	if (!hv_vm_resume(qmp, HV_QMP_TIMEOUT_MS, &error)) {
		hv_cli_error("run: resuming the guest after its oops dump: %s", error->message);
		return HV_EXIT_CAPTURE_FAILED;
	}
	hv_cli_info("oops dump written; guest resumed");
	*resumed_ret = TRUE;
	return HV_EXIT_OK;
}

int hv_cmd_run(int argc, char **argv)
{
	g_autofree char *out_dir = NULL, *name = NULL;
	gboolean force = FALSE, verbose = FALSE;
	int timeout_s = 0;
	const GOptionEntry entries[] = {
		{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_dir,
		  "directory for the vmcore (default: current)", "DIR" },
		{ "name", 'n', 0, G_OPTION_ARG_STRING, &name,
		  "dump name (default: QEMU -name, else guest-DATE-TIME)", "NAME" },
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
		  "stop QEMU and exit 5 after SEC seconds (default: no limit)", "SEC" },
		{ "force", 'f', 0, G_OPTION_ARG_NONE, &force, "overwrite an existing vmcore", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "say what was found where", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("-- QEMU-BINARY [QEMU-ARGS...]");
	g_autoptr(GError) error = NULL;
	g_autoptr(HvQmp) qmp = NULL;
	g_auto(GStrv) qemu_argv = NULL;
	g_autofree char *rundir = NULL, *sock = NULL, *path = NULL, *fname = NULL, *safe = NULL;
	char **user_argv = NULL;
	int own_argc = argc, i, rc = HV_EXIT_FAILURE;
	guint oops_dumps = 0;
	gboolean resumed;
	gint64 deadline = -1;
	struct sigaction sa = { 0 };
	Child child = { 0 };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			own_argc = i;
			user_argv = argv + i + 1;
			break;
		}
	}
	g_option_context_set_summary(ctx, "Run QEMU; when the guest kernel panics, write DIR/NAME.vmcore.\n"
				     "Exit: 0 guest ended normally, 1 QEMU failed, 2 usage, 3 panic captured,\n"
				     "4 panic but capture failed, 5 --timeout expired,\n"
				     "6 guest ended normally after oops dumps (hvdump_guest dump_on_oops=1).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &own_argc, &argv, &error)) {
		hv_cli_error("run: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (own_argc > 1 || user_argv == NULL || user_argv[0] == NULL) {
		hv_cli_error("run: usage: hvdump run [--out DIR] -- qemu-system-x86_64 ARGS...");
		return HV_EXIT_USAGE;
	}
	if (timeout_s < 0) {
		hv_cli_error("run: --timeout must not be negative");
		return HV_EXIT_USAGE;
	}
	if (out_dir == NULL)
		out_dir = g_strdup(".");
	if (!g_file_test(out_dir, G_FILE_TEST_IS_DIR)) {
		hv_cli_error("run: output directory %s does not exist", out_dir);
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
	path = g_build_filename(out_dir, fname, NULL);
	if (!force && g_file_test(path, G_FILE_TEST_EXISTS)) {
		hv_cli_error("run: %s already exists (use --force, --name or --out)", path);
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
	if (verbose) {
		g_autofree char *cmd = g_strjoinv(" ", qemu_argv);

		hv_cli_info("starting: %s", cmd);
	}

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (!g_spawn_async(NULL, qemu_argv, NULL,
			   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
			   G_SPAWN_CHILD_INHERITS_STDIN,
			   NULL, NULL, &child.pid, &error)) {
		hv_cli_error("run: cannot start %s: %s", qemu_argv[0], error->message);
		rmdir(rundir);
		return HV_EXIT_FAILURE;
	}
	if (timeout_s > 0)
		deadline = g_get_monotonic_time() + (gint64)timeout_s * 1000000;

	qmp = connect_when_up(sock, &child, &error);
	if (qmp == NULL) {
		hv_cli_error("run: %s", error->message);
		child_stop(&child, NULL);
		goto out;
	}
	{
		/* a panic that came before we connected */
		g_autoptr(GError) serr = NULL;
		json_object *st = hv_qmp_execute(qmp, "query-status", NULL, 10000, &serr);
		const char *status = hv_json_get_string(st, "status");

		if (status != NULL && strcmp(status, "guest-panicked") == 0) {
			json_object_put(st);
			hv_cli_info("guest panicked");
			rc = capture_event(qmp, path, out_dir, safe, force, verbose, &oops_dumps, &resumed);
			if (!resumed) {
				child_stop(&child, qmp);
				goto out;
			}
			st = NULL;
		}
		if (st != NULL)
			json_object_put(st);
	}

	for (;;) {
		struct pollfd pfd = { .fd = hv_qmp_get_fd(qmp), .events = POLLIN };
		g_autoptr(GError) eerr = NULL;
		json_object *ev = NULL;

		if (got_signal) {
			hv_cli_error("run: interrupted by signal %d; stopping QEMU", (int)got_signal);
			child_stop(&child, qmp);
			rc = 128 + got_signal;
			goto out;
		}
		if (deadline >= 0 && g_get_monotonic_time() > deadline) {
			hv_cli_error("run: timed out after %d s; stopping QEMU", timeout_s);
			child_stop(&child, qmp);
			rc = HV_EXIT_TIMEOUT;
			goto out;
		}
		if (child_poll(&child))
			break;
		if (hv_qmp_pending_events(qmp) == 0 && poll(&pfd, 1, 200) <= 0)
			continue;
		ev = hv_qmp_next_event(qmp, 0, &eerr);
		if (ev == NULL) {
			if (eerr != NULL && eerr->code == HV_QMP_ERROR_TIMEOUT)
				continue;
			/* QMP went away: QEMU is exiting */
			child_reap(&child, QUIT_TIMEOUT_MS);
			break;
		}
		if (g_strcmp0(hv_json_get_string(ev, "event"), "GUEST_PANICKED") == 0) {
			json_object_put(ev);
			hv_cli_info("guest signalled a panic");
			rc = capture_event(qmp, path, out_dir, safe, force, verbose, &oops_dumps, &resumed);
			if (!resumed) {
				child_stop(&child, qmp);
				goto out;
			}
			continue;
		}
		json_object_put(ev);
	}
	/* QEMU ended on its own */
	if (WIFEXITED(child.status) && WEXITSTATUS(child.status) == 0) {
		rc = oops_dumps > 0 ? HV_EXIT_OOPS : HV_EXIT_OK;
	} else {
		hv_cli_error("run: QEMU exited with %s %d",
			     WIFEXITED(child.status) ? "status" : "signal",
			     WIFEXITED(child.status) ? WEXITSTATUS(child.status) : WTERMSIG(child.status));
		rc = HV_EXIT_FAILURE;
	}
out:
	unlink(sock);
	rmdir(rundir);
	return rc;
}
