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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv-qemu-args.h"
#include "hvdump_desc.h"
#include "hvdump-cli.h"

#define START_TIMEOUT_MS 60000
#define QUIT_TIMEOUT_MS 10000
#define MAX_OOPS_NUMBER 100000
#define SKIP_LOG_LINES 5

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

static void child_stop(Child *c, HvVm *vm)
{
	if (child_poll(c))
		return;
	if (vm != NULL) {
		hv_vm_set_cancellable(vm, NULL); /* quitting is never interrupted */
		hv_vm_quit(vm, NULL);
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

static HvVm *connect_when_up(const char *sock, Child *c, GCancellable *cancel, GError **error)
{
	gint64 end = g_get_monotonic_time() + (gint64)START_TIMEOUT_MS * 1000;

	for (;;) {
		g_autoptr(GError) local = NULL;
		HvVm *vm;

		if (hv_cli_signal_received() != 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
				    "interrupted by %s", g_strsignal(hv_cli_signal_received()));
			return NULL;
		}
		if (child_poll(c)) {
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CLOSED,
				    "QEMU exited (status %d) before its QMP socket came up",
				    WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128 + WTERMSIG(c->status));
			return NULL;
		}
		if (g_file_test(sock, G_FILE_TEST_EXISTS)) {
			vm = hv_vm_connect(sock, HV_QMP_TIMEOUT_MS, cancel, &local);
			if (vm != NULL)
				return vm;
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

typedef struct {
	/* options */
	char *out_dir;
	char *name;             /* file-name safe */
	char *panic_path;       /* DIR/NAME.vmcore */
	gboolean force, verbose;
	int max_oops;
	int oops_interval_s;
	/* state */
	Child child;
	HvVm *vm;
	char *sock;
	GCancellable *cancel;
	int cancel_fd;          /* readable once cancelled */
	gint64 deadline;        /* monotonic µs, -1: none */
	guint oops_next;        /* next oops number to try */
	guint oops_events, oops_attempts, oops_dumps, oops_failed, oops_logged;
	guint skipped_cap, skipped_rate, skipped_space;
	gint64 last_oops_dump;  /* monotonic µs, 0: none yet */
} Run;

typedef enum {
	EVENT_PANIC_CAPTURED,
	EVENT_RESUMED,          /* an oops: dumped or skipped, guest running again */
	EVENT_CAPTURE_FAILED,   /* a panic whose dump was not written */
	EVENT_INTERRUPTED,      /* a signal came while capturing */
	EVENT_RESUME_FAILED,    /* an oops, but QEMU would not resume the guest */
} EventOutcome;

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

/* DIR/NAME.oopsN.vmcore with the first N not taken (an earlier run's dumps
 * are kept, never overwritten). */
static char *next_oops_path(Run *r)
{
	for (; r->oops_next < MAX_OOPS_NUMBER; r->oops_next++) {
		g_autofree char *f = g_strdup_printf("%s.oops%u.vmcore", r->name, r->oops_next);
		g_autofree char *path = g_build_filename(r->out_dir, f, NULL);
		g_autofree char *part = g_strconcat(path, ".part", NULL);
		struct stat st;

		if (lstat(path, &st) == 0 || lstat(part, &st) == 0)
			continue;
		r->oops_next++;
		return g_steal_pointer(&path);
	}
	return NULL;
}

static guint64 free_bytes(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) < 0)
		return G_MAXUINT64; /* unknown: let the write decide */
	return (guint64)sv.f_bavail * sv.f_frsize;
}

/* Why an oops dump must not be written now, or NULL. */
static char *oops_skip_reason(Run *r, HvCapture *c)
{
	gint64 now = g_get_monotonic_time();
	guint64 need, avail;

	if (r->oops_attempts >= (guint)r->max_oops) {
		r->skipped_cap++;
		return g_strdup_printf("%u oops dumps already attempted (--max-oops-dumps %d)",
				       r->oops_attempts, r->max_oops);
	}
	if (r->last_oops_dump != 0 && now - r->last_oops_dump < (gint64)r->oops_interval_s * 1000000) {
		r->skipped_rate++;
		return g_strdup_printf("the last oops dump was %.1f s ago (--oops-interval %d)",
				       (double)(now - r->last_oops_dump) / 1e6, r->oops_interval_s);
	}
	need = hv_capture_estimate_bytes(c);
	avail = free_bytes(r->out_dir);
	if (avail < need) {
		r->skipped_space++;
		return g_strdup_printf("only %" G_GUINT64_FORMAT " MiB free in %s, the dump needs up to %"
				       G_GUINT64_FORMAT " MiB", avail >> 20, r->out_dir, (need + (1 << 20) - 1) >> 20);
	}
	return NULL;
}

static gboolean write_dump(Run *r, HvCapture *c, const char *path, GError **error)
{
	g_autoptr(HvOutput) out = hv_output_open(path, r->force, error);
	HvCaptureResult res = { 0 };

	if (out == NULL || !hv_capture_write(c, out, &res, error)) {
		hv_capture_result_clear(&res);
		return FALSE;
	}
	hv_cli_report(path, &res, r->verbose);
	printf("vmcore: %s\n", path);
	fflush(stdout);
	hv_capture_result_clear(&res);
	return TRUE;
}

/* An oops the guest asked to have dumped, then resumed: dumped unless a
 * limit says no; the guest goes on either way. */
static EventOutcome handle_oops(Run *r, HvCapture *c)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *why = oops_skip_reason(r, c);
	g_autofree char *path = NULL;

	r->oops_events++;
	if (why == NULL) {
		path = next_oops_path(r);
		if (path == NULL)
			why = g_strdup_printf("no free NAME.oopsN.vmcore name left in %s", r->out_dir);
	}
	if (why != NULL) {
		/* a flood must not flood the log: the summary at the end counts */
		if (++r->oops_logged <= SKIP_LOG_LINES)
			hv_cli_info("guest oops: dump skipped: %s; guest resumed", why);
		else if (r->oops_logged == SKIP_LOG_LINES + 1)
			hv_cli_info("guest oops: further skipped dumps are counted, not logged");
	} else {
		hv_cli_info("guest oops: the guest asks for a dump");
		/* every attempt counts toward the limits, failed ones too */
		r->oops_attempts++;
		r->last_oops_dump = g_get_monotonic_time();
		if (write_dump(r, c, path, &error)) {
			r->oops_dumps++;
		} else if (hv_cli_signal_received() != 0) {
			return EVENT_INTERRUPTED;
		} else {
			r->oops_failed++;
			hv_cli_error("run: oops dump failed: %s; guest resumed", error->message);
		}
	}
	if (!hv_vm_resume(r->vm, &error)) {
		if (hv_cli_signal_received() != 0)
			return EVENT_INTERRUPTED;
		hv_cli_error("run: resuming the guest after its oops: %s", error->message);
		return EVENT_RESUME_FAILED;
	}
	return EVENT_RESUMED;
}

/* The guest stopped on GUEST_PANICKED: a panic, or an oops announced by the
 * signalling vCPU (hvdump_guest dump_on_oops=1) that asks to go on. */
static EventOutcome handle_event(Run *r)
{
	g_autoptr(GError) error = NULL;
	HvCaptureOptions opt = { .cancellable = r->cancel };
	g_autoptr(HvCapture) c = NULL;
	HvMachineState st;

	if (hv_vm_read_state(r->vm, &st, &error)) {
		c = hv_capture_new(st.cpus, g_steal_pointer(&st.ram), &opt, &error);
		hv_machine_state_clear(&st);
	}

	if (c != NULL && hv_descriptor_requests_resume(hv_capture_get_descriptor(c)))
		return handle_oops(r, c);
	hv_cli_info("guest panicked");
	if (c != NULL && write_dump(r, c, r->panic_path, &error))
		return EVENT_PANIC_CAPTURED;
	if (hv_cli_signal_received() != 0)
		return EVENT_INTERRUPTED;
	hv_cli_error("run: capture failed: %s", error->message);
	return EVENT_CAPTURE_FAILED;
}

/* A panic we could not dump: keep the VM (and its crash) paused for the
 * user, out of the way of their `hvdump dump`, until they quit QEMU or stop
 * us (signal, --timeout); then quit QEMU. */
static void keep_paused_until_stopped(Run *r)
{
	hv_cli_error("run: the guest is kept paused so the crash is not lost; dump it with "
		     "'hvdump dump --qmp %s FILE', then stop this command (Ctrl-C) to quit QEMU "
		     "(pid %d)", r->sock, (int)r->child.pid);
	g_clear_pointer(&r->vm, hv_vm_free); /* QEMU serves one client per socket */
	while (!child_poll(&r->child) && hv_cli_signal_received() == 0 &&
	       (r->deadline < 0 || g_get_monotonic_time() < r->deadline)) {
		struct pollfd pfd = { .fd = r->cancel_fd, .events = POLLIN };

		poll(&pfd, 1, 200);
	}
	if (!child_poll(&r->child)) {
		g_autoptr(HvVm) q = hv_vm_connect(r->sock, 5000, NULL, NULL);

		hv_cli_info("run: stopping QEMU");
		child_stop(&r->child, q);
	}
}

static void report_oops_summary(Run *r)
{
	guint skipped = r->skipped_cap + r->skipped_rate + r->skipped_space;

	if (skipped == 0 && r->oops_failed == 0)
		return;
	hv_cli_info("oops events: %u; dumps written %u, failed %u, skipped %u (%u over "
		    "--max-oops-dumps, %u within --oops-interval, %u for lack of space)",
		    r->oops_events, r->oops_dumps, r->oops_failed, skipped, r->skipped_cap,
		    r->skipped_rate, r->skipped_space);
}

/* Drives one event to its end; returns the exit code, or -1 to go on. */
static int after_event(Run *r, EventOutcome o)
{
	switch (o) {
	case EVENT_RESUMED:
		return -1;
	case EVENT_PANIC_CAPTURED:
		child_stop(&r->child, r->vm);
		return HV_EXIT_PANIC;
	case EVENT_CAPTURE_FAILED:
		keep_paused_until_stopped(r);
		return HV_EXIT_CAPTURE_FAILED;
	case EVENT_RESUME_FAILED:
		hv_cli_error("run: stopping QEMU");
		child_stop(&r->child, r->vm);
		return HV_EXIT_FAILURE;
	case EVENT_INTERRUPTED:
	default:
		hv_cli_error("run: interrupted by %s; nothing written; stopping QEMU",
			     g_strsignal(hv_cli_signal_received()));
		child_stop(&r->child, r->vm);
		return 128 + hv_cli_signal_received();
	}
}

/* Waits for QEMU's events until one ends the run; returns the exit code. */
static int watch(Run *r)
{
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = hv_qmp_get_fd(hv_vm_get_qmp(r->vm)), .events = POLLIN },
			{ .fd = r->cancel_fd, .events = POLLIN },
		};
		g_autoptr(GError) eerr = NULL;
		json_object *ev = NULL;
		int wait_ms = 200, rc;

		if (hv_cli_signal_received() != 0) {
			hv_cli_error("run: interrupted by %s; stopping QEMU",
				     g_strsignal(hv_cli_signal_received()));
			child_stop(&r->child, r->vm);
			return 128 + hv_cli_signal_received();
		}
		if (r->deadline >= 0) {
			gint64 left = r->deadline - g_get_monotonic_time();

			if (left <= 0) {
				hv_cli_error("run: timed out; stopping QEMU");
				child_stop(&r->child, r->vm);
				return HV_EXIT_TIMEOUT;
			}
			wait_ms = (int)MIN((gint64)wait_ms, left / 1000 + 1);
		}
		if (child_poll(&r->child))
			return -1;
		if (hv_qmp_pending_events(hv_vm_get_qmp(r->vm)) == 0 && poll(pfd, 2, wait_ms) <= 0)
			continue;
		if (hv_cli_signal_received() != 0)
			continue;
		ev = hv_qmp_next_event(hv_vm_get_qmp(r->vm), 0, &eerr);
		if (ev == NULL) {
			if (g_error_matches(eerr, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT) ||
			    g_error_matches(eerr, G_IO_ERROR, G_IO_ERROR_CANCELLED))
				continue;
			/* QMP went away: QEMU is exiting */
			child_reap(&r->child, QUIT_TIMEOUT_MS);
			return -1;
		}
		if (g_strcmp0(hv_json_get_string(ev, "event"), "GUEST_PANICKED") != 0) {
			json_object_put(ev);
			continue;
		}
		json_object_put(ev);
		rc = after_event(r, handle_event(r));
		if (rc >= 0)
			return rc;
	}
}

static void run_clear(Run *r)
{
	g_clear_pointer(&r->vm, hv_vm_free);
	g_free(r->out_dir);
	g_free(r->name);
	g_free(r->panic_path);
	g_free(r->sock);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Run, run_clear)

int hv_cmd_run(int argc, char **argv)
{
	g_auto(Run) r = { .max_oops = 3, .oops_interval_s = 10, .deadline = -1, .oops_next = 1 };
	g_autofree char *name = NULL;
	int timeout_s = 0;
	const GOptionEntry entries[] = {
		{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &r.out_dir,
		  "directory for the vmcore (default: current)", "DIR" },
		{ "name", 'n', 0, G_OPTION_ARG_STRING, &name,
		  "dump name (default: QEMU -name, else guest-DATE-TIME)", "NAME" },
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
		  "stop QEMU and exit 5 after SEC seconds (default: no limit)", "SEC" },
		{ "force", 'f', 0, G_OPTION_ARG_NONE, &r.force, "overwrite an existing vmcore", NULL },
		{ "max-oops-dumps", 0, 0, G_OPTION_ARG_INT, &r.max_oops,
		  "write at most N oops dumps (default 3; 0: none)", "N" },
		{ "oops-interval", 0, 0, G_OPTION_ARG_INT, &r.oops_interval_s,
		  "skip an oops dump within SEC seconds of the last one (default 10)", "SEC" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &r.verbose, "say what was found where", NULL },
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
	if (timeout_s < 0 || r.max_oops < 0 || r.oops_interval_s < 0) {
		hv_cli_error("run: --timeout, --max-oops-dumps and --oops-interval must not be negative");
		return HV_EXIT_USAGE;
	}
	if (r.out_dir == NULL)
		r.out_dir = g_strdup(".");
	if (!g_file_test(r.out_dir, G_FILE_TEST_IS_DIR)) {
		hv_cli_error("run: output directory %s does not exist", r.out_dir);
		return HV_EXIT_USAGE;
	}
	if (!dir_writable(r.out_dir, &error)) {
		hv_cli_error("run: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (name == NULL)
		name = hv_qemu_guest_name(user_argv);
	if (name == NULL) {
		g_autoptr(GDateTime) now = g_date_time_new_now_local();

		name = g_date_time_format(now, "guest-%Y%m%d-%H%M%S");
	}
	r.name = sanitize(name);
	fname = g_strconcat(r.name, ".vmcore", NULL);
	r.panic_path = g_build_filename(r.out_dir, fname, NULL);
	if (!hv_output_check(r.panic_path, r.force, &error)) {
		hv_cli_error("run: %s (or use --name or --out)", error->message);
		return HV_EXIT_USAGE;
	}

	rundir = g_dir_make_tmp("hvdump-run.XXXXXX", &error);
	if (rundir == NULL) {
		hv_cli_error("run: %s", error->message);
		return HV_EXIT_FAILURE;
	}
	r.sock = g_build_filename(rundir, "qmp.sock", NULL);
	qemu_argv = hv_qemu_build_argv(user_argv, r.sock, &error);
	if (qemu_argv == NULL) {
		hv_cli_error("run: %s", error->message);
		rmdir(rundir);
		return HV_EXIT_USAGE;
	}
	if (r.verbose) {
		g_autofree char *cmd = g_strjoinv(" ", qemu_argv);

		hv_cli_info("starting: %s", cmd);
	}

	r.cancel = hv_cli_watch_signals();
	r.cancel_fd = g_cancellable_get_fd(r.cancel); /* held for the whole run */
	if (!g_spawn_async(NULL, qemu_argv, NULL,
			   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
			   G_SPAWN_CHILD_INHERITS_STDIN,
			   hv_cli_child_setup, NULL, &r.child.pid, &error)) {
		hv_cli_error("run: cannot start %s: %s", qemu_argv[0], error->message);
		rmdir(rundir);
		return HV_EXIT_FAILURE;
	}
	if (timeout_s > 0)
		r.deadline = g_get_monotonic_time() + (gint64)timeout_s * 1000000;

	r.vm = connect_when_up(r.sock, &r.child, r.cancel, &error);
	if (r.vm == NULL) {
		hv_cli_error("run: %s", error->message);
		child_stop(&r.child, NULL);
		rc = hv_cli_signal_received() != 0 ? 128 + hv_cli_signal_received() : HV_EXIT_FAILURE;
		goto out;
	}
	{
		/* a panic that came before we connected */
		g_autofree char *status = NULL;
		gboolean panicked = hv_vm_query_status(r.vm, &status, NULL, NULL) &&
				    g_strcmp0(status, "guest-panicked") == 0;

		rc = -1;
		if (panicked)
			rc = after_event(&r, handle_event(&r));
	}
	if (rc < 0)
		rc = watch(&r);
	if (rc < 0) {
		/* QEMU ended on its own */
		report_oops_summary(&r);
		if (WIFEXITED(r.child.status) && WEXITSTATUS(r.child.status) == 0) {
			rc = r.oops_dumps > 0 ? HV_EXIT_OOPS : HV_EXIT_OK;
		} else {
			hv_cli_error("run: QEMU exited with %s %d",
				     WIFEXITED(r.child.status) ? "status" : "signal",
				     WIFEXITED(r.child.status) ? WEXITSTATUS(r.child.status) :
				     WTERMSIG(r.child.status));
			rc = HV_EXIT_FAILURE;
		}
	} else {
		report_oops_summary(&r);
	}
out:
	unlink(r.sock);
	rmdir(rundir);
	return rc;
}
