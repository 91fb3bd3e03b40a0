/* hv-watch.c — the watch loop; see hv-watch.h.
 *
 * Everything waits on one GMainContext: QEMU's exit (g_subprocess_wait_async),
 * its monitor becoming readable, the deadline, the cancellable. A capture
 * runs inside the monitor's callback (the loop waits meanwhile; the capture
 * itself is cancellable).
 */
#include "hv-watch.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "hv-vm.h"

#define START_TIMEOUT_S 60
#define CONNECT_POLL_MS 50
#define QUIT_TIMEOUT_S 10
#define MONITOR_TIMEOUT_MS 30000
#define MAX_OOPS_NUMBER 100000
#define SKIP_LOG_LINES 5

typedef enum {
	STATE_STARTING,   /* waiting for the monitor */
	STATE_WATCHING,   /* the guest runs; events are read */
	STATE_HANG_NMI,   /* deadline passed: NMI sent, a panic may still come */
	STATE_KEEPING,    /* a panic not dumped: VM paused, monitor released */
	STATE_STOPPING,   /* quit sent (or SIGTERM); waiting for QEMU to exit */
	STATE_DONE,
} State;

typedef struct {
	const HvWatchOptions *opt;
	HvWatchResult *res;
	GMainContext *ctx;
	GSubprocess *proc;
	HvVm *vm;
	State state;
	HvWatchOutcome outcome;    /* decided when stopping starts */
	GSource *connect_src, *monitor_src, *deadline_src, *cancel_src, *kill_src;
	gint64 start_deadline;
	guint oops_next, oops_attempts, oops_logged;
	gint64 last_oops_dump;
} Watch;

static void say(Watch *w, gboolean is_error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void say(Watch *w, gboolean is_error, const char *fmt, ...)
{
	g_autofree char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (w->opt->message != NULL)
		w->opt->message(is_error, text, w->opt->data);
}

static void drop_source(GSource **src)
{
	if (*src != NULL) {
		g_source_destroy(*src);
		g_source_unref(*src);
		*src = NULL;
	}
}

static GSource *attach(Watch *w, GSource *src, GSourceFunc fn)
{
	g_source_set_callback(src, fn, w, NULL);
	g_source_attach(src, w->ctx);
	return src;
}

static gboolean on_kill_timeout(gpointer data)
{
	Watch *w = data;

	say(w, TRUE, "QEMU did not exit within %d s; killing it", QUIT_TIMEOUT_S);
	g_subprocess_force_exit(w->proc);
	g_clear_pointer(&w->kill_src, g_source_unref);
	return G_SOURCE_REMOVE;
}

/* Ends the run with outcome: quit QEMU through its monitor (never
 * interrupted), else SIGTERM; SIGKILL after QUIT_TIMEOUT_S. */
static void stop_qemu(Watch *w, HvWatchOutcome outcome)
{
	w->outcome = outcome;
	drop_source(&w->connect_src);
	drop_source(&w->monitor_src);
	drop_source(&w->deadline_src);
	drop_source(&w->cancel_src);
	if (w->res->qemu_exited) {
		w->state = STATE_DONE;
		return;
	}
	w->state = STATE_STOPPING;
	if (w->vm == NULL)
		w->vm = hv_vm_connect(w->opt->qmp_socket, 5000, NULL, NULL);
	if (w->vm != NULL) {
		hv_vm_set_cancellable(w->vm, NULL);
		if (!hv_vm_quit(w->vm, NULL))
			g_subprocess_send_signal(w->proc, SIGTERM);
	} else {
		g_subprocess_send_signal(w->proc, SIGTERM);
	}
	w->kill_src = attach(w, g_timeout_source_new_seconds(QUIT_TIMEOUT_S), on_kill_timeout);
}

static void on_exited(GObject *obj, GAsyncResult *ar, gpointer data)
{
	Watch *w = data;

	g_subprocess_wait_finish(G_SUBPROCESS(obj), ar, NULL);
	w->res->qemu_exited = TRUE;
	if (g_subprocess_get_if_exited(w->proc))
		w->res->qemu_exit_status = g_subprocess_get_exit_status(w->proc);
	else if (g_subprocess_get_if_signaled(w->proc))
		w->res->qemu_term_signal = g_subprocess_get_term_sig(w->proc);
	drop_source(&w->kill_src);
	switch (w->state) {
	case STATE_STOPPING:
		break;
	case STATE_KEEPING:
		w->outcome = HV_WATCH_CAPTURE_FAILED;
		break;
	case STATE_STARTING:
		w->outcome = HV_WATCH_FAILED;
		say(w, TRUE, "QEMU exited (%s %d) before its QMP socket came up",
		    w->res->qemu_term_signal ? "signal" : "status",
		    w->res->qemu_term_signal ? w->res->qemu_term_signal : w->res->qemu_exit_status);
		break;
	default:
		w->outcome = HV_WATCH_ENDED;
		break;
	}
	drop_source(&w->connect_src);
	drop_source(&w->monitor_src);
	drop_source(&w->deadline_src);
	drop_source(&w->cancel_src);
	w->state = STATE_DONE;
}

static void capture_hang(Watch *w);
static void drain_events(Watch *w);

static gboolean on_deadline(gpointer data)
{
	Watch *w = data;
	g_autoptr(GError) error = NULL;
	json_object *r;

	g_clear_pointer(&w->deadline_src, g_source_unref);
	if (w->state == STATE_KEEPING) {
		stop_qemu(w, HV_WATCH_CAPTURE_FAILED);
		return G_SOURCE_REMOVE;
	}
	if (w->state == STATE_HANG_NMI) {
		capture_hang(w);
		return G_SOURCE_REMOVE;
	}
	if (w->state != STATE_WATCHING || !w->opt->hang_dump) {
		say(w, TRUE, "timed out after %d s; stopping QEMU", w->opt->timeout_s);
		stop_qemu(w, HV_WATCH_TIMED_OUT);
		return G_SOURCE_REMOVE;
	}
	/* a guest that neither exited nor panicked: hung. An NMI makes a guest
	 * set up for it (unknown_nmi_panic, a watchdog) panic with its own
	 * report, and leaves a trace in the log of any other. */
	w->res->hang = TRUE;
	say(w, FALSE, "no panic and no exit within %d s: the guest is hung; sending an NMI",
	    w->opt->timeout_s);
	r = hv_vm_execute(w->vm, "inject-nmi", NULL, &error);
	if (r == NULL)
		say(w, FALSE, "inject-nmi: %s", error->message);
	else
		json_object_put(r);
	w->state = STATE_HANG_NMI;
	w->deadline_src = attach(w, g_timeout_source_new_seconds(HV_WATCH_NMI_GRACE_S), on_deadline);
	drain_events(w);
	return G_SOURCE_REMOVE;
}

static gboolean on_cancelled(GCancellable *c, gpointer data)
{
	Watch *w = data;

	(void)c;
	g_clear_pointer(&w->cancel_src, g_source_unref);
	stop_qemu(w, w->state == STATE_KEEPING ? HV_WATCH_CAPTURE_FAILED : HV_WATCH_INTERRUPTED);
	return G_SOURCE_REMOVE;
}

/* ---- one event ---------------------------------------------------------- */

typedef enum {
	EVENT_PANIC_CAPTURED,
	EVENT_RESUMED,          /* an oops: dumped or skipped, guest running again */
	EVENT_CAPTURE_FAILED,   /* a panic whose dump was not written */
	EVENT_INTERRUPTED,      /* cancelled while capturing */
	EVENT_RESUME_FAILED,    /* an oops, but QEMU would not resume the guest */
} EventOutcome;

static gboolean cancelled(Watch *w)
{
	return g_cancellable_is_cancelled(w->opt->cancellable);
}

/* DIR/NAME.oopsN.vmcore with the first N not taken (an earlier run's dumps
 * are kept, never overwritten). */
static char *next_oops_path(Watch *w)
{
	for (; w->oops_next < MAX_OOPS_NUMBER; w->oops_next++) {
		g_autofree char *f = g_strdup_printf("%s.oops%u.vmcore", w->opt->name, w->oops_next);
		g_autofree char *path = g_build_filename(w->opt->out_dir, f, NULL);
		g_autofree char *part = g_strconcat(path, ".part", NULL);
		struct stat st;

		if (lstat(path, &st) == 0 || lstat(part, &st) == 0)
			continue;
		w->oops_next++;
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
static char *oops_skip_reason(Watch *w, HvCapture *c)
{
	gint64 now = g_get_monotonic_time();
	guint64 need, avail;

	if (w->oops_attempts >= (guint)w->opt->max_oops) {
		w->res->skipped_cap++;
		return g_strdup_printf("%u oops dumps already attempted (--max-oops-dumps %d)",
				       w->oops_attempts, w->opt->max_oops);
	}
	if (w->last_oops_dump != 0 && now - w->last_oops_dump < (gint64)w->opt->oops_interval_s * 1000000) {
		w->res->skipped_rate++;
		return g_strdup_printf("the last oops dump was %.1f s ago (--oops-interval %d)",
				       (double)(now - w->last_oops_dump) / 1e6, w->opt->oops_interval_s);
	}
	need = hv_capture_estimate_bytes(c);
	avail = free_bytes(w->opt->out_dir);
	if (avail < need) {
		w->res->skipped_space++;
		return g_strdup_printf("only %" G_GUINT64_FORMAT " MiB free in %s, the dump needs up to %"
				       G_GUINT64_FORMAT " MiB", avail >> 20, w->opt->out_dir, (need + (1 << 20) - 1) >> 20);
	}
	return NULL;
}

static gboolean write_dump(Watch *w, HvCapture *c, const char *path, GError **error)
{
	g_autoptr(HvOutput) out = hv_output_open(path, w->opt->force, error);
	HvCaptureResult res = { 0 };

	if (out == NULL || !hv_capture_write(c, out, &res, error)) {
		hv_capture_result_clear(&res);
		return FALSE;
	}
	if (w->opt->dump_written != NULL)
		w->opt->dump_written(path, &res, w->opt->data);
	hv_capture_result_clear(&res);
	return TRUE;
}

/* An oops the guest asked to have dumped, then resumed: dumped unless a
 * limit says no; the guest goes on either way. */
static EventOutcome handle_oops(Watch *w, HvCapture *c)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *why = oops_skip_reason(w, c);
	g_autofree char *path = NULL;

	w->res->oops_events++;
	if (why == NULL) {
		path = next_oops_path(w);
		if (path == NULL)
			why = g_strdup_printf("no free NAME.oopsN.vmcore name left in %s",
					      w->opt->out_dir);
	}
	if (why != NULL) {
		/* a flood must not flood the log: the summary at the end counts */
		if (++w->oops_logged <= SKIP_LOG_LINES)
			say(w, FALSE, "guest oops: dump skipped: %s; guest resumed", why);
		else if (w->oops_logged == SKIP_LOG_LINES + 1)
			say(w, FALSE, "guest oops: further skipped dumps are counted, not logged");
	} else {
		say(w, FALSE, "guest oops: the guest asks for a dump");
		/* every attempt counts toward the limits, failed ones too */
		w->oops_attempts++;
		w->last_oops_dump = g_get_monotonic_time();
		if (write_dump(w, c, path, &error)) {
			w->res->oops_dumps++;
		} else if (cancelled(w)) {
			return EVENT_INTERRUPTED;
		} else {
			w->res->oops_failed++;
			say(w, TRUE, "oops dump failed: %s; guest resumed", error->message);
		}
	}
	if (!hv_vm_resume(w->vm, &error)) {
		if (cancelled(w))
			return EVENT_INTERRUPTED;
		say(w, TRUE, "resuming the guest after its oops: %s", error->message);
		return EVENT_RESUME_FAILED;
	}
	return EVENT_RESUMED;
}

/* The guest stopped on GUEST_PANICKED: a panic, or an oops announced by the
 * signalling vCPU (hvdump_guest dump_on_oops=1) that asks to go on. */
static EventOutcome handle_event(Watch *w)
{
	g_autoptr(GError) error = NULL;
	HvCaptureOptions copt = { .cancellable = w->opt->cancellable, .format = w->opt->format,
				  .dump_level = w->opt->dump_level, .threads = w->opt->threads };
	g_autoptr(HvCapture) c = NULL;
	HvMachineState st;

	if (hv_vm_read_state(w->vm, &st, &error)) {
		c = hv_capture_new(st.cpus, g_steal_pointer(&st.ram), &copt, &error);
		hv_machine_state_clear(&st);
	}
	if (c != NULL && hv_descriptor_requests_resume(hv_capture_get_descriptor(c)))
		return handle_oops(w, c);
	say(w, FALSE, "guest panicked");
	if (c != NULL && write_dump(w, c, w->opt->panic_path, &error))
		return EVENT_PANIC_CAPTURED;
	if (cancelled(w))
		return EVENT_INTERRUPTED;
	say(w, TRUE, "capture failed: %s", error->message);
	return EVENT_CAPTURE_FAILED;
}

/* A panic we could not dump: keep the VM (and its crash) paused for the
 * user, out of the way of their `hvdump dump`, until they quit QEMU or stop
 * us (cancellable, deadline); then quit QEMU. */
static void keep_paused(Watch *w)
{
	say(w, TRUE, "the guest is kept paused so the crash is not lost; dump it with "
	    "'hvdump dump --qmp %s FILE', then stop this command (Ctrl-C) to quit QEMU "
	    "(pid %s)", w->opt->qmp_socket, g_subprocess_get_identifier(w->proc));
	drop_source(&w->monitor_src);
	g_clear_pointer(&w->vm, hv_vm_free); /* QEMU serves one client per socket */
	w->state = STATE_KEEPING;
}

static void after_event(Watch *w, EventOutcome o)
{
	switch (o) {
	case EVENT_RESUMED:
		return;
	case EVENT_PANIC_CAPTURED:
		stop_qemu(w, HV_WATCH_PANIC_CAPTURED);
		return;
	case EVENT_CAPTURE_FAILED:
		keep_paused(w);
		return;
	case EVENT_RESUME_FAILED:
		stop_qemu(w, HV_WATCH_FAILED);
		return;
	case EVENT_INTERRUPTED:
	default:
		stop_qemu(w, HV_WATCH_INTERRUPTED);
		return;
	}
}

/* The hung guest, paused and dumped to panic_path as it is (no panic:
 * HVDUMP_EVENT=hang tells triage); then QEMU is quit. */
static void capture_hang(Watch *w)
{
	g_autoptr(GError) error = NULL;
	HvCaptureOptions copt = { .cancellable = w->opt->cancellable, .format = w->opt->format,
				  .dump_level = w->opt->dump_level, .threads = w->opt->threads,
				  .event = "hang" };
	g_autoptr(HvCapture) c = NULL;
	HvMachineState st;
	gboolean was_running = FALSE;
	g_autofree char *status = NULL;

	w->state = STATE_WATCHING;
	if (!hv_vm_pause(w->vm, &was_running, &status, &error)) {
		say(w, TRUE, "hang: cannot pause the guest: %s; stopping QEMU", error->message);
		stop_qemu(w, HV_WATCH_TIMED_OUT);
		return;
	}
	say(w, FALSE, "guest paused after %d s of NMI grace; dumping the hung guest",
	    HV_WATCH_NMI_GRACE_S);
	if (hv_vm_read_state(w->vm, &st, &error)) {
		c = hv_capture_new(st.cpus, g_steal_pointer(&st.ram), &copt, &error);
		hv_machine_state_clear(&st);
	}
	if (c != NULL && write_dump(w, c, w->opt->panic_path, &error)) {
		stop_qemu(w, HV_WATCH_HANG_CAPTURED);
		return;
	}
	if (cancelled(w)) {
		stop_qemu(w, HV_WATCH_INTERRUPTED);
		return;
	}
	say(w, TRUE, "hang dump failed: %s; stopping QEMU", error->message);
	stop_qemu(w, HV_WATCH_TIMED_OUT);
}

/* ---- the monitor -------------------------------------------------------- */

/* Handles every event already read or readable now. Commands leave events
 * (and complete lines behind their answers) in the client's buffer, where
 * the socket's readiness never shows them: whoever talks to the monitor
 * drains afterwards. */
static void drain_events(Watch *w)
{
	/* a capture may end watching (and release the monitor) on the way */
	while (w->state == STATE_WATCHING || w->state == STATE_HANG_NMI) {
		g_autoptr(GError) error = NULL;
		json_object *ev = hv_qmp_next_event(hv_vm_get_qmp(w->vm), 0, &error);
		gboolean panicked;

		if (ev == NULL) {
			if (g_error_matches(error, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT) ||
			    g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
				return;
			/* the monitor went away: QEMU is exiting; its exit ends the run */
			drop_source(&w->monitor_src);
			return;
		}
		panicked = g_strcmp0(hv_json_get_string(ev, "event"), "GUEST_PANICKED") == 0;
		json_object_put(ev);
		if (panicked) {
			if (w->state == STATE_HANG_NMI) {
				drop_source(&w->deadline_src); /* the NMI made it panic */
				w->state = STATE_WATCHING;
			}
			after_event(w, handle_event(w));
		}
	}
}

static gboolean on_monitor(gint fd, GIOCondition cond, gpointer data)
{
	(void)fd;
	(void)cond;
	drain_events(data);
	/* a stop, a keep or a closed monitor dropped this source already */
	return G_SOURCE_CONTINUE;
}

static void start_watching(Watch *w)
{
	g_autofree char *status = NULL;

	w->state = STATE_WATCHING;
	w->monitor_src = g_unix_fd_source_new(hv_qmp_get_fd(hv_vm_get_qmp(w->vm)), G_IO_IN);
	g_source_set_callback(w->monitor_src, (GSourceFunc)(void (*)(void))on_monitor, w, NULL);
	g_source_attach(w->monitor_src, w->ctx);
	/* a panic that came before we connected */
	if (hv_vm_query_status(w->vm, &status, NULL, NULL) &&
	    g_strcmp0(status, "guest-panicked") == 0)
		after_event(w, handle_event(w));
	drain_events(w);
}

static gboolean on_connect_poll(gpointer data)
{
	Watch *w = data;
	g_autoptr(GError) error = NULL;

	if (g_file_test(w->opt->qmp_socket, G_FILE_TEST_EXISTS)) {
		w->vm = hv_vm_connect(w->opt->qmp_socket, MONITOR_TIMEOUT_MS, w->opt->cancellable,
				      &error);
		if (w->vm != NULL) {
			g_clear_pointer(&w->connect_src, g_source_unref);
			start_watching(w);
			return G_SOURCE_REMOVE;
		}
		if (cancelled(w))
			return G_SOURCE_CONTINUE; /* the cancel source ends the run */
	}
	if (g_get_monotonic_time() > w->start_deadline) {
		say(w, TRUE, "QEMU's QMP socket did not come up within %d s%s%s", START_TIMEOUT_S,
		    error ? ": " : "", error ? error->message : "");
		g_clear_pointer(&w->connect_src, g_source_unref);
		stop_qemu(w, HV_WATCH_FAILED);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

gboolean hv_watch_run(char **qemu_argv, const HvWatchOptions *opt, HvWatchResult *res,
		      GError **error)
{
	g_autoptr(GSubprocessLauncher) launcher =
		g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
	Watch w = { .opt = opt, .res = res, .oops_next = 1, .state = STATE_STARTING };

	memset(res, 0, sizeof(*res));
	w.ctx = g_main_context_new();
	g_main_context_push_thread_default(w.ctx);
	if (opt->child_setup != NULL)
		g_subprocess_launcher_set_child_setup(launcher, opt->child_setup, NULL, NULL);
	w.proc = g_subprocess_launcher_spawnv(launcher, (const char *const *)qemu_argv, error);
	if (w.proc == NULL) {
		g_main_context_pop_thread_default(w.ctx);
		g_main_context_unref(w.ctx);
		return FALSE;
	}
	g_subprocess_wait_async(w.proc, NULL, on_exited, &w);
	w.start_deadline = g_get_monotonic_time() + (gint64)START_TIMEOUT_S * G_USEC_PER_SEC;
	w.connect_src = attach(&w, g_timeout_source_new(CONNECT_POLL_MS), on_connect_poll);
	if (opt->timeout_s > 0)
		w.deadline_src = attach(&w, g_timeout_source_new_seconds((guint)opt->timeout_s),
					on_deadline);
	if (opt->cancellable != NULL) {
		w.cancel_src = g_cancellable_source_new(opt->cancellable);
		g_source_set_callback(w.cancel_src, (GSourceFunc)(void (*)(void))on_cancelled, &w, NULL);
		g_source_attach(w.cancel_src, w.ctx);
	}
	while (w.state != STATE_DONE)
		g_main_context_iteration(w.ctx, TRUE);

	res->outcome = w.outcome;
	drop_source(&w.kill_src);
	g_clear_pointer(&w.vm, hv_vm_free);
	g_object_unref(w.proc);
	/* let the finished wait_async drop its references */
	while (g_main_context_iteration(w.ctx, FALSE))
		;
	g_main_context_pop_thread_default(w.ctx);
	g_main_context_unref(w.ctx);
	return TRUE;
}
