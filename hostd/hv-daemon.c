/* hv-daemon.c — hvdumpd's engine; see hv-daemon.h.
 *
 * Threads: the main context owns the VM table, every monitor that is not
 * lent out, the sources, the control socket and the hooks. A capture job
 * borrows its VM's monitor: while it runs on a worker nobody else talks to
 * that monitor (its fd source is detached); the job's result comes back to
 * the main context, which applies the policy and takes the monitor back.
 */
#define G_LOG_DOMAIN "hvdumpd"

#include "hv-daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hv-capture.h"
#include "hv-control.h"
#include "hv-daemon-job.h"
#include "hv-dumpdir.h"
#include "hv-error.h"
#include "hv-hook.h"
#include "hv-libvirt.h"
#include <libvirt/libvirt.h>
#include "hv-output.h"
#include "hv-shipper.h"
#include "hv-upload.h"
#include "hv-vm.h"

#define CONNECT_TIMEOUT_MS 5000
#define CONNECT_RETRY_S 2
#define MAX_VMS 4096

typedef enum {
	VM_CONNECTING,
	VM_RUNNING,
	VM_PAUSED,        /* paused by someone else, not panicked */
	VM_QUEUED,        /* panicked, waiting for a worker */
	VM_CAPTURING,
	VM_POST_ACTION,
	VM_KEPT_PAUSED,   /* policy keep-paused, or a capture that failed */
	VM_GONE,
} VmState;

static const char *const state_names[] = {
	"connecting", "running", "paused", "queued", "capturing", "post-action", "kept-paused", "gone",
};

typedef enum {
	SRC_DIR,
	SRC_LIST,
	SRC_LIBVIRT,
} VmSource;

static const char *const source_names[] = { "socket-dir", "socket", "libvirt" };

typedef struct {
	HvDaemon *d;
	char *key;            /* the socket path, or "libvirt:UUID": unique */
	char *name;           /* printable, from QEMU's -name or the socket's name */
	char *uuid;
	VmSource source;
	HvVm *vm;             /* NULL while not connected or lent to a job */
	GSource *monitor_src, *retry_src, *pid_src;
	int pidfd;
	pid_t pid;
	guint64 starttime;    /* /proc/PID/stat: tells a restarted QEMU from the old one */
	VmState state;
	HvJob *job;
	gboolean removed;     /* its source went away: freed once the job is back */
	gboolean failed_keep; /* kept paused because its capture failed */
	guint dumps, failures, skipped_rate, skipped_space, oops;
	GArray *dump_times;   /* gint64 epoch seconds of dumps in the last hour (rate limit) */
	char *last_dump, *last_result;
	gint64 last_time;
} Vm;

/* the VM a job belongs to */
#define J_VM(j) ((Vm *)(j)->owner)

struct HvDaemon {
	HvConfig *cfg;
	GPtrArray *old_cfgs;      /* alive while jobs may point into them */
	GMainContext *ctx;
	GHashTable *vms;          /* key → Vm* */
	GThreadPool *pool;
	HvControl *control;
	GFileMonitor *dir_monitor;
	char *watched_dir;
	GCancellable *shutdown;
	guint jobs_running;
	HvLibvirt *lv;            /* libvirt-uri=, while connected */
	char *lv_uri;
	GSource *lv_retry;
	HvShipper *shipper;       /* uploads to remote targets (state-dir/uploads) */
	char *upload_dir;         /* the shipper's journals: state-dir at start (a reload keeps it) */
	/* metrics since start (metrics-file=) */
	guint64 m_results[HV_JOB_STALE + 1];
	guint64 m_bytes;
	double m_capture_seconds;
	guint64 m_uploads_done, m_uploads_failed, m_upload_retries, m_upload_bytes;
	double m_upload_seconds;
};

static void write_metrics(HvDaemon *d);

/* ---- logging ------------------------------------------------------------ */

static void vm_log(Vm *v, GLogLevelFlags level, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void vm_log(Vm *v, GLogLevelFlags level, const char *fmt, ...)
{
	g_autofree char *text = NULL, *safe = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	safe = hv_printable_dup(text);
	g_log_structured(G_LOG_DOMAIN, level, "HVDUMP_VM", v->name, "MESSAGE", "%s: %s", v->name,
			 safe);
}

static void log_lines(Vm *v, GPtrArray *lines)
{
	guint i;

	for (i = 0; lines != NULL && i < lines->len; i++)
		vm_log(v, G_LOG_LEVEL_MESSAGE, "%s", (const char *)lines->pdata[i]);
}

/* ---- state kept across restarts -----------------------------------------
 * state-dir/vms/<hash of key>.json: which QEMU process (pid + start time)
 * had its panic dumped, and whether its post-action was applied. */

static guint64 proc_starttime(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) f = NULL;
	const char *p;
	guint64 v = 0;

	if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
		return 0;
	p = strrchr(text, ')'); /* comm may hold spaces and parentheses */
	if (p == NULL)
		return 0;
	f = g_strsplit(p + 1, " ", 24);
	/* after ")": state is field 3; starttime field 22 → index 20 */
	if (g_strv_length(f) > 20)
		g_ascii_string_to_unsigned(f[20], 10, 0, G_MAXUINT64, &v, NULL);
	return v;
}

static char *state_path(HvDaemon *d, Vm *v)
{
	g_autofree char *h = g_compute_checksum_for_string(G_CHECKSUM_SHA256, v->key, -1);
	g_autofree char *f = g_strdup_printf("%.32s.json", h);

	return g_build_filename(d->cfg->state_dir, "vms", f, NULL);
}

/* what: "capturing", "done" (dumped or skipped by policy), "failed" */
static void state_save(Vm *v, const char *what, const char *dump, gboolean post_done)
{
	g_autofree char *path = state_path(v->d, v);
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
	json_object *o = json_object_new_object();
	g_autoptr(GError) error = NULL;
	const char *text;

	json_object_object_add(o, "key", json_object_new_string(v->key));
	json_object_object_add(o, "pid", json_object_new_int64(v->pid));
	json_object_object_add(o, "starttime", json_object_new_uint64(v->starttime));
	json_object_object_add(o, "state", json_object_new_string(what));
	if (dump != NULL)
		json_object_object_add(o, "dump", json_object_new_string(dump));
	json_object_object_add(o, "post_action_done", json_object_new_boolean(post_done));
	{
		json_object *times = json_object_new_array();
		guint i;

		for (i = 0; i < v->dump_times->len; i++)
			json_object_array_add(times, json_object_new_int64(g_array_index(v->dump_times,
											gint64, i)));
		json_object_object_add(o, "dump_times", times);
	}
	text = json_object_to_json_string(o);
	if (g_mkdir_with_parents(dir, 0700) < 0 ||
	    !g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
		vm_log(v, G_LOG_LEVEL_WARNING, "cannot save state to %s: %s", path,
		       error ? error->message : g_strerror(errno));
	json_object_put(o);
}

#define MAX_DUMP_TIMES 1000

static json_object *state_read(Vm *v)
{
	g_autofree char *path = state_path(v->d, v);
	g_autofree char *text = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &text, &len, NULL) || len > 65536)
		return NULL;
	return json_tokener_parse(text);
}

/* The times of the VM's recent dumps, whichever QEMU process made them: a
 * crash loop goes on across QEMU restarts and daemon restarts. */
static void state_load_dump_times(Vm *v)
{
	json_object *o = state_read(v), *arr;
	gsize i, n;

	g_array_set_size(v->dump_times, 0);
	if (o != NULL && json_object_object_get_ex(o, "dump_times", &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		n = MIN(json_object_array_length(arr), (gsize)MAX_DUMP_TIMES);
		for (i = 0; i < n; i++) {
			gint64 t = json_object_get_int64(json_object_array_get_idx(arr, i));

			g_array_append_val(v->dump_times, t);
		}
	}
	json_object_put(o);
}

/* Dumps in the last hour; older times are forgotten. */
static guint recent_dumps(Vm *v, gint64 now)
{
	guint i = 0;

	while (i < v->dump_times->len) {
		if (g_array_index(v->dump_times, gint64, i) < now - 3600)
			g_array_remove_index(v->dump_times, i);
		else
			i++;
	}
	return v->dump_times->len;
}

/* The saved state of this very QEMU process, or NULL. */
static json_object *state_load(Vm *v)
{
	json_object *o = state_read(v);
	gint64 pid = 0;
	guint64 st = 0;
	json_object *m;

	if (o == NULL)
		return NULL;
	hv_json_get_int64(o, "pid", &pid);
	if (json_object_object_get_ex(o, "starttime", &m))
		st = json_object_get_uint64(m);
	if (g_strcmp0(hv_json_get_string(o, "key"), v->key) != 0 || pid != v->pid ||
	    st != v->starttime) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- VMs ---------------------------------------------------------------- */

static void drop_source(GSource **src)
{
	if (*src != NULL) {
		g_source_destroy(*src);
		g_source_unref(*src);
		*src = NULL;
	}
}

static void vm_disconnect(Vm *v)
{
	drop_source(&v->monitor_src);
	drop_source(&v->pid_src);
	if (v->pidfd >= 0)
		close(v->pidfd);
	v->pidfd = -1;
	g_clear_pointer(&v->vm, hv_vm_free);
}

static void vm_free(gpointer p)
{
	Vm *v = p;

	vm_disconnect(v);
	drop_source(&v->retry_src);
	g_free(v->key);
	g_free(v->name);
	g_free(v->uuid);
	g_free(v->last_dump);
	g_free(v->last_result);
	g_array_unref(v->dump_times);
	g_free(v);
}

static void vm_set_state(Vm *v, VmState s)
{
	v->state = s;
}

static void vm_schedule_connect(Vm *v);
static void vm_start_job(Vm *v, HvJobKind kind, const char *path, HvControlRequest *req);

/* The VM's source is gone (socket removed, QEMU exited): a job in flight
 * is cancelled and the VM freed when it comes back. */
static void vm_remove(HvDaemon *d, Vm *v, const char *why)
{
	if (v->job != NULL) {
		if (!v->removed)
			vm_log(v, G_LOG_LEVEL_WARNING, "%s during its capture; capture abandoned", why);
		v->removed = TRUE;
		g_cancellable_cancel(v->job->cancel);
		return;
	}
	vm_log(v, G_LOG_LEVEL_MESSAGE, "%s; no longer watched", why);
	g_hash_table_remove(d->vms, v->key);
}

static void vm_lost(Vm *v, const char *why)
{
	HvDaemon *d = v->d;

	vm_disconnect(v);
	if (v->source == SRC_DIR || g_cancellable_is_cancelled(d->shutdown)) {
		vm_remove(d, v, why);
		return;
	}
	/* a listed socket: QEMU may come back under the same path */
	vm_log(v, G_LOG_LEVEL_MESSAGE, "%s; reconnecting every %d s", why, CONNECT_RETRY_S);
	vm_set_state(v, VM_CONNECTING);
	vm_schedule_connect(v);
}

static void handle_event(Vm *v, json_object *ev)
{
	const char *name = hv_json_get_string(ev, "event");

	if (g_strcmp0(name, "GUEST_PANICKED") == 0) {
		vm_start_job(v, HV_JOB_PANIC, NULL, NULL);
	} else if (g_strcmp0(name, "STOP") == 0 && v->state == VM_RUNNING) {
		vm_set_state(v, VM_PAUSED);
	} else if (g_strcmp0(name, "RESUME") == 0 &&
		   (v->state == VM_PAUSED || v->state == VM_KEPT_PAUSED)) {
		if (v->state == VM_KEPT_PAUSED)
			vm_log(v, G_LOG_LEVEL_MESSAGE, "resumed by someone else");
		v->failed_keep = FALSE;
		vm_set_state(v, VM_RUNNING);
	}
}

/* Every event already read or readable now (commands leave events in the
 * client's buffer, where the fd's readiness never shows them). */
static void drain_events(Vm *v)
{
	while (v->vm != NULL && v->job == NULL) {
		g_autoptr(GError) error = NULL;
		json_object *ev = hv_qmp_next_event(hv_vm_get_qmp(v->vm), 0, &error);

		if (ev == NULL) {
			if (!g_error_matches(error, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT))
				vm_lost(v, "its monitor closed");
			return;
		}
		handle_event(v, ev);
		json_object_put(ev);
	}
}

static gboolean on_monitor(gint fd, GIOCondition cond, gpointer data)
{
	Vm *v = data;

	(void)fd;
	(void)cond;
	drain_events(v);
	return G_SOURCE_CONTINUE;
}

static void attach_monitor(Vm *v)
{
	HvQmp *qmp = hv_vm_get_qmp(v->vm);

	drop_source(&v->monitor_src);
	v->monitor_src = g_unix_fd_source_new(hv_qmp_get_fd(qmp), G_IO_IN | G_IO_HUP | G_IO_ERR);
	g_source_set_callback(v->monitor_src, (GSourceFunc)(void (*)(void))on_monitor, v, NULL);
	g_source_attach(v->monitor_src, v->d->ctx);
}

static gboolean on_pid_exit(gint fd, GIOCondition cond, gpointer data)
{
	Vm *v = data;

	(void)fd;
	(void)cond;
	g_clear_pointer(&v->pid_src, g_source_unref);
	if (v->job != NULL)
		vm_remove(v->d, v, "QEMU exited");
	/* not capturing: the monitor's end says it */
	return G_SOURCE_REMOVE;
}

/* QEMU's exit, seen even while the monitor is lent to a job. */
static void watch_pid(Vm *v)
{
	v->pidfd = (int)syscall(SYS_pidfd_open, v->pid, 0);
	if (v->pidfd < 0)
		return;
	v->pid_src = g_unix_fd_source_new(v->pidfd, G_IO_IN);
	g_source_set_callback(v->pid_src, (GSourceFunc)(void (*)(void))on_pid_exit, v, NULL);
	g_source_attach(v->pid_src, v->d->ctx);
}

/* A printable string member of a command's answer, or NULL. */
static char *query_member(HvVm *vm, const char *cmd, const char *member)
{
	json_object *r = hv_vm_execute(vm, cmd, NULL, NULL);
	char *out = NULL;

	if (r != NULL && hv_json_get_string(r, member) != NULL)
		out = hv_printable_dup(hv_json_get_string(r, member));
	json_object_put(r);
	return out;
}

/* A panic that came while nobody watched: captured now, unless this very
 * QEMU process's panic was dumped before a restart. */
static void catch_up(Vm *v, const char *status)
{
	json_object *st;

	if (g_strcmp0(status, "guest-panicked") != 0) {
		vm_set_state(v, g_strcmp0(status, "running") == 0 ? VM_RUNNING : VM_PAUSED);
		return;
	}
	st = state_load(v);
	if (st != NULL && g_strcmp0(hv_json_get_string(st, "state"), "done") == 0) {
		const char *dump = hv_json_get_string(st, "dump");
		gboolean post = FALSE;

		hv_json_get_bool(st, "post_action_done", &post);
		vm_log(v, G_LOG_LEVEL_MESSAGE, "panicked; already handled before a restart%s%s",
		       dump ? ", dump " : "", dump ? dump : "");
		g_free(v->last_dump);
		v->last_dump = g_strdup(dump);
		vm_set_state(v, VM_KEPT_PAUSED);
		json_object_put(st);
		return;
	}
	if (st != NULL)
		vm_log(v, G_LOG_LEVEL_MESSAGE, "panicked, and its last capture (%s) did not finish: "
		       "capturing again", hv_json_get_string(st, "state"));
	else
		vm_log(v, G_LOG_LEVEL_MESSAGE, "found panicked: capturing");
	json_object_put(st);
	vm_start_job(v, HV_JOB_PANIC, NULL, NULL);
}

static gboolean vm_connect(Vm *v, GError **error)
{
	HvDaemon *d = v->d;
	g_autofree char *status = NULL, *name = NULL;
	int timeout_ms = (int)d->cfg->monitor_timeout_s * 1000;

	v->vm = hv_vm_connect(v->key, MIN(timeout_ms, CONNECT_TIMEOUT_MS), d->shutdown, error);
	if (v->vm == NULL)
		return FALSE;
	hv_vm_set_cancellable(v->vm, NULL);
	v->pid = hv_vm_get_pid(v->vm);
	v->starttime = proc_starttime(v->pid);
	name = query_member(v->vm, "query-name", "name");
	if (name != NULL && name[0] != '\0') {
		g_free(v->name);
		v->name = g_steal_pointer(&name);
	}
	g_free(v->uuid);
	v->uuid = query_member(v->vm, "query-uuid", "UUID");
	if (!hv_vm_query_status(v->vm, &status, NULL, error)) {
		g_clear_pointer(&v->vm, hv_vm_free);
		return FALSE;
	}
	/* every later command waits this long at most */
	hv_vm_set_timeout(v->vm, timeout_ms);
	watch_pid(v);
	state_load_dump_times(v);
	vm_log(v, G_LOG_LEVEL_MESSAGE, "watching (QEMU pid %d, %s, policy %s)", (int)v->pid,
	       status ? status : "?", hv_config_policy_for(d->cfg, v->name)->name);
	attach_monitor(v);
	catch_up(v, status);
	if (v->job == NULL && v->vm != NULL)
		drain_events(v);
	return TRUE;
}

static gboolean on_connect_retry(gpointer data)
{
	Vm *v = data;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&v->retry_src, g_source_unref);
	if (!g_file_test(v->key, G_FILE_TEST_EXISTS) || !vm_connect(v, &error)) {
		if (v->source == SRC_DIR && !g_file_test(v->key, G_FILE_TEST_EXISTS)) {
			vm_remove(v->d, v, "its socket is gone");
			return G_SOURCE_REMOVE;
		}
		vm_schedule_connect(v);
	}
	return G_SOURCE_REMOVE;
}

static void vm_schedule_connect(Vm *v)
{
	drop_source(&v->retry_src);
	v->retry_src = g_timeout_source_new_seconds(CONNECT_RETRY_S);
	g_source_set_callback(v->retry_src, on_connect_retry, v, NULL);
	g_source_attach(v->retry_src, v->d->ctx);
}

static Vm *vm_new(HvDaemon *d, const char *key, const char *name, VmSource source)
{
	Vm *v = g_new0(Vm, 1);

	v->d = d;
	v->key = g_strdup(key);
	v->source = source;
	v->pidfd = -1;
	v->dump_times = g_array_new(FALSE, FALSE, sizeof(gint64));
	v->name = hv_printable_dup(name);
	v->state = VM_CONNECTING;
	g_hash_table_insert(d->vms, v->key, v);
	return v;
}

static Vm *vm_add(HvDaemon *d, const char *sock, VmSource source)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *base = g_path_get_basename(sock);
	char *dot;
	Vm *v;

	if (g_hash_table_contains(d->vms, sock))
		return g_hash_table_lookup(d->vms, sock);
	if (g_hash_table_size(d->vms) >= MAX_VMS) {
		g_warning("%s: not watched: already %d VMs", sock, MAX_VMS);
		return NULL;
	}
	dot = strrchr(base, '.');
	if (dot != NULL && dot != base)
		*dot = '\0';
	v = vm_new(d, sock, base, source);
	if (!vm_connect(v, &error)) {
		/* QEMU creates the socket file a moment before it listens */
		vm_log(v, G_LOG_LEVEL_MESSAGE, "not reachable yet (%s); retrying", error->message);
		vm_schedule_connect(v);
	}
	return v;
}

/* ---- after the capture (main thread) ------------------------------------ */

static json_object *job_json(HvJob *j, const char *post, const char *post_result)
{
	json_object *o = json_object_new_object();
	json_object *vm = json_object_new_object();
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *ts = g_date_time_format_iso8601(now);

	json_object_object_add(vm, "name", json_object_new_string(J_VM(j)->name));
	json_object_object_add(vm, "uuid", json_object_new_string(J_VM(j)->uuid ? J_VM(j)->uuid : ""));
	json_object_object_add(vm, "source", json_object_new_string(source_names[J_VM(j)->source]));
	json_object_object_add(vm, "key", json_object_new_string(J_VM(j)->key));
	json_object_object_add(vm, "qemu_pid", json_object_new_int64(J_VM(j)->pid));
	json_object_object_add(o, "event", json_object_new_string(hv_job_event(j)));
	json_object_object_add(o, "vm", vm);
	json_object_object_add(o, "time", json_object_new_string(ts));
	json_object_object_add(o, "policy", json_object_new_string(j->policy->name));
	json_object_object_add(o, "result", json_object_new_string(hv_job_result_names[j->result]));
	if (j->result == HV_JOB_DUMPED || j->result == HV_JOB_FALLBACK) {
		json_object_object_add(o, "path", json_object_new_string(j->path));
		json_object_object_add(o, "bytes", json_object_new_uint64(j->bytes));
		if (j->result == HV_JOB_DUMPED) {
			json_object_object_add(o, "dump_format",
					       json_object_new_string(j->res.format ? j->res.format : "elf"));
			json_object_object_add(o, "dump_level",
					       json_object_new_int((int)j->res.stats.dump_level));
			json_object_object_add(o, "file_size", json_object_new_uint64(j->res.stats.file_size));
			json_object_object_add(o, "complete", json_object_new_boolean(!j->res.stats.incomplete));
		}
		if (j->degraded != NULL)
			json_object_object_add(o, "degraded", json_object_new_string(j->degraded));
		json_object_object_add(o, "seconds", json_object_new_double(j->seconds));
	}
	if (j->error != NULL)
		json_object_object_add(o, "reason", json_object_new_string(j->error));
	if (j->fallback_reason != NULL)
		json_object_object_add(o, "fallback_reason", json_object_new_string(j->fallback_reason));
	if (j->res.vmcoreinfo)
		json_object_object_add(o, "kernel", json_object_new_string(j->res.osrelease));
	if (j->res.has_desc && j->res.desc.event != 0) {
		g_autofree char *msg = hv_printable_dup(j->res.desc.message);

		json_object_object_add(o, "guest_message", json_object_new_string(msg));
	}
	if (post != NULL) {
		json_object_object_add(o, "post_action", json_object_new_string(post));
		json_object_object_add(o, "post_action_result", json_object_new_string(post_result));
	}
	return o;
}

/* upload (may be NULL): where the dump is to be shipped; taken */
static void write_report(HvJob *j, json_object *upload)
{
	json_object *r = job_json(j, NULL, NULL);
	g_autoptr(GError) error = NULL;

	/* the retention keys */
	json_object_object_add(r, "vm_name", json_object_new_string(j->vm_name));
	json_object_object_add(r, "written", json_object_new_int64(g_get_real_time() / G_USEC_PER_SEC));
	if (upload != NULL)
		json_object_object_add(r, "upload", upload);
	if (!hv_dumpdir_write_report(j->path, r, &error))
		vm_log(J_VM(j), G_LOG_LEVEL_WARNING, "report: %s", error->message);
	json_object_put(r);
}

static void on_hook_done(gboolean ok, const char *text, gpointer data)
{
	char *name = data;

	g_log_structured(G_LOG_DOMAIN, ok ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_WARNING, "HVDUMP_VM",
			 name, "MESSAGE", "%s: %s", name, text);
	g_free(name);
}

/* The policy's post-action; returns what happened, one word or a reason. */
static char *post_action(Vm *v, HvPostAction a)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = TRUE;

	switch (a) {
	case HV_POST_RESUME:
		ok = hv_vm_resume(v->vm, &error);
		break;
	case HV_POST_RESET:
		ok = hv_vm_reset(v->vm, &error);
		break;
	case HV_POST_POWEROFF:
		ok = hv_vm_quit(v->vm, &error);
		break;
	case HV_POST_KEEP_PAUSED:
		break;
	}
	return ok ? g_strdup("ok") : g_strdup(error->message);
}

static void job_log(HvJob *j)
{
	Vm *v = J_VM(j);

	switch (j->result) {
	case HV_JOB_DUMPED:
		vm_log(v, j->res.stats.incomplete || j->degraded ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE,
		       "%s dump written%s: %s (%s -d %u, %" G_GUINT64_FORMAT " MiB, %.1f s, kernel %s)%s%s",
		       hv_job_event(j), j->res.stats.incomplete ? " INCOMPLETE (out of space)" : "",
		       j->path, j->res.format ? j->res.format : "elf", j->res.stats.dump_level,
		       j->res.stats.file_size >> 20, j->seconds,
		       j->res.vmcoreinfo ? j->res.osrelease : "unknown",
		       j->degraded ? "; degraded: " : "", j->degraded ? j->degraded : "");
		break;
	case HV_JOB_FALLBACK:
		vm_log(v, G_LOG_LEVEL_MESSAGE, "%s dump written by QEMU's dump-guest-memory: %s "
		       "(%" G_GUINT64_FORMAT " MiB, %.1f s); to make it fast give the VM shared RAM "
		       "(-object memory-backend-memfd,share=on, or libvirt <memoryBacking><source "
		       "type='memfd'/><access mode='shared'/></memoryBacking>)", hv_job_event(j), j->path,
		       j->bytes >> 20, j->seconds);
		break;
	case HV_JOB_SKIPPED_RATE:
		vm_log(v, G_LOG_LEVEL_WARNING, "%s dump skipped: %s", hv_job_event(j), j->error);
		break;
	case HV_JOB_SKIPPED_SPACE:
		vm_log(v, G_LOG_LEVEL_WARNING, "%s dump skipped: %s", hv_job_event(j), j->error);
		break;
	case HV_JOB_FAILED:
		vm_log(v, G_LOG_LEVEL_WARNING, "%s capture failed: %s", hv_job_event(j), j->error);
		break;
	case HV_JOB_CANCELLED:
		vm_log(v, G_LOG_LEVEL_WARNING, "%s capture cancelled; the partial file was removed",
		       hv_job_event(j));
		break;
	case HV_JOB_STALE:
		break;
	}
}

static void job_reply(HvJob *j)
{
	json_object *a;

	if (j->req == NULL)
		return;
	a = job_json(j, NULL, NULL);
	json_object_object_add(a, "ok", json_object_new_boolean(j->result == HV_JOB_DUMPED ||
								 j->result == HV_JOB_FALLBACK));
	if (j->error != NULL)
		json_object_object_add(a, "error", json_object_new_string(j->error));
	hv_control_reply(j->req, a);
	j->req = NULL;
}

static void job_account(HvJob *j)
{
	Vm *v = J_VM(j);

	switch (j->result) {
	case HV_JOB_DUMPED:
	case HV_JOB_FALLBACK:
		v->dumps++;
		g_free(v->last_dump);
		v->last_dump = g_strdup(j->path);
		if (j->kind == HV_JOB_PANIC) { /* on-demand dumps are no crash loop */
			gint64 now = g_get_real_time() / G_USEC_PER_SEC;

			g_array_append_val(v->dump_times, now);
			if (v->dump_times->len > MAX_DUMP_TIMES)
				g_array_remove_index(v->dump_times, 0);
		}
		break;
	case HV_JOB_SKIPPED_RATE:
		v->skipped_rate++;
		break;
	case HV_JOB_SKIPPED_SPACE:
		v->skipped_space++;
		break;
	default:
		v->failures++;
		break;
	}
	v->oops += j->oops;
	g_free(v->last_result);
	v->last_result = g_strdup_printf("%s %s", hv_job_event(j), hv_job_result_names[j->result]);
	v->last_time = g_get_real_time() / G_USEC_PER_SEC;
}

/* What a panic's policy says now: post-action, unless the capture failed
 * (then the crash is kept paused for a person or a retry). */
static void job_after_panic(HvJob *j, char **post, char **post_result)
{
	Vm *v = J_VM(j);
	HvPostAction a = j->oops ? HV_POST_RESUME : j->policy->post_action;
	/* an oops guest goes on whatever became of its dump */
	gboolean handled = j->oops || (j->result != HV_JOB_FAILED && j->result != HV_JOB_CANCELLED);

	if (!handled) {
		state_save(v, "failed", NULL, FALSE);
		v->failed_keep = TRUE;
		vm_set_state(v, VM_KEPT_PAUSED);
		vm_log(v, G_LOG_LEVEL_WARNING, "kept paused so the crash is not lost; dump it with "
		       "'hvdump dump --daemon %s FILE' or restart hvdumpd to retry", v->name);
		*post = g_strdup("keep-paused");
		*post_result = g_strdup("capture failed");
		return;
	}
	if (!j->oops)
		state_save(v, "done", j->path, FALSE);
	vm_set_state(v, VM_POST_ACTION);
	*post = g_strdup(hv_post_action_name(a));
	*post_result = post_action(v, a);
	if (strcmp(*post_result, "ok") != 0)
		vm_log(v, G_LOG_LEVEL_WARNING, "post-action %s failed: %s", *post, *post_result);
	else if (!j->oops)
		vm_log(v, G_LOG_LEVEL_MESSAGE, "post-action %s done", *post);
	if (!j->oops)
		state_save(v, "done", j->path, TRUE);
	vm_set_state(v, a == HV_POST_KEEP_PAUSED ? VM_KEPT_PAUSED : VM_RUNNING);
}

/* What the catalogue says of a dump (the upload adds id, keys, size,
 * checksum, and triage's title, signature and build id). */
static json_object *manifest_json(HvJob *j, const char *host, gint64 when)
{
	json_object *m = json_object_new_object();
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(when);
	g_autofree char *iso = g_date_time_format_iso8601(t);

	json_object_object_add(m, "schema", json_object_new_string("hvdump-manifest"));
	json_object_object_add(m, "version", json_object_new_int(1));
	json_object_object_add(m, "host", json_object_new_string(host));
	json_object_object_add(m, "vm_name", json_object_new_string(j->vm_name));
	json_object_object_add(m, "vm_uuid", json_object_new_string(j->uuid ? j->uuid : ""));
	json_object_object_add(m, "time", json_object_new_int64(when));
	json_object_object_add(m, "time_iso", json_object_new_string(iso));
	json_object_object_add(m, "event", json_object_new_string(hv_job_event(j)));
	json_object_object_add(m, "policy", json_object_new_string(j->policy->name));
	json_object_object_add(m, "result", json_object_new_string(hv_job_result_names[j->result]));
	if (j->res.vmcoreinfo)
		json_object_object_add(m, "kernel", json_object_new_string(j->res.osrelease));
	json_object_object_add(m, "format", json_object_new_string(j->result == HV_JOB_DUMPED && j->res.format ?
								  j->res.format : "elf"));
	if (j->result == HV_JOB_DUMPED) {
		json_object_object_add(m, "dump_level", json_object_new_int((int)j->res.stats.dump_level));
		json_object_object_add(m, "complete", json_object_new_boolean(!j->res.stats.incomplete));
	}
	json_object_object_add(m, "capture_seconds", json_object_new_double(j->seconds));
	if (j->degraded != NULL)
		json_object_object_add(m, "degraded", json_object_new_string(j->degraded));
	if (j->res.has_desc && j->res.desc.event != 0) {
		g_autofree char *msg = hv_printable_dup(j->res.desc.message);

		json_object_object_add(m, "guest_message", json_object_new_string(msg));
	}
	return m;
}

/* kdump files go as ID.kdump, ELF as ID.vmcore */
static const char *dump_suffix(HvJob *j)
{
	return j->result == HV_JOB_DUMPED && j->res.format && g_str_has_prefix(j->res.format, "kdump")
		       ? ".kdump" : ".vmcore";
}

/* The report, and when the policy ships dumps, the upload journal (the
 * shipper computes the checksum and triages off this thread). */
static void job_keep(HvJob *j)
{
	HvDaemon *d = J_VM(j)->d;
	HvUploadTarget t;
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL, *journal = NULL, *report = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	json_object *up, *m;

	if (d->shipper == NULL || !hv_upload_target_from_policy(j->policy, &t)) {
		write_report(j, NULL);
		return;
	}
	id = hv_upload_new_id(now, d->cfg->host_name, j->vm_name);
	up = json_object_new_object();
	json_object_object_add(up, "state", json_object_new_string("pending"));
	json_object_object_add(up, "id", json_object_new_string(id));
	json_object_object_add(up, "target", json_object_new_string(t.url));
	json_object_object_add(up, "keep_local",
			       json_object_new_string(hv_keep_local_name(j->policy->keep_local)));
	write_report(j, up);
	report = g_strconcat(j->path, ".json", NULL);
	m = manifest_json(j, d->cfg->host_name, now);
	journal = hv_upload_enqueue(d->upload_dir, id, j->path, report, dump_suffix(j), now, &t, j->policy->keep_local, m,
				    &error);
	json_object_put(m);
	if (journal == NULL) {
		/* nothing will ship it: the report must not say "pending", or
		 * retention would keep the dump forever */
		write_report(j, NULL);
		vm_log(J_VM(j), G_LOG_LEVEL_WARNING, "upload of %s to %s not queued: %s; the dump stays here",
		       j->path, t.url, error->message);
	} else {
		vm_log(J_VM(j), G_LOG_LEVEL_MESSAGE, "upload %s to %s queued", id, t.url);
		hv_shipper_kick(d->shipper);
	}
	hv_upload_target_clear(&t);
}

static void on_shipped(const HvShipperEvent *ev, gpointer data)
{
	HvDaemon *d = data;
	const char *vm = ev->vm ? ev->vm : "?";

	switch (ev->result) {
	case HV_UPLOAD_DONE:
		d->m_uploads_done++;
		d->m_upload_bytes += ev->bytes;
		d->m_upload_seconds += ev->seconds;
		g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "HVDUMP_VM", vm, "MESSAGE",
				 "%s: uploaded %s to %s (%" G_GUINT64_FORMAT " MiB, %.1f s), verified",
				 vm, ev->id, ev->target, ev->bytes >> 20, ev->seconds);
		break;
	case HV_UPLOAD_RETRY:
		d->m_upload_retries++;
		g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "HVDUMP_VM", vm, "MESSAGE",
				 "%s: upload %s to %s: %s; next try in %" G_GINT64_FORMAT " s (the dump waits "
				 "in the spool)", vm, ev->id, ev->target, ev->error ? ev->error : "?",
				 ev->next_try - g_get_real_time() / G_USEC_PER_SEC);
		break;
	case HV_UPLOAD_FAILED:
		d->m_uploads_failed++;
		g_log_structured(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "HVDUMP_VM", vm, "MESSAGE",
				 "%s: upload %s to %s failed for good: %s; the local dump is not removed by it", vm, ev->id,
				 ev->target, ev->error ? ev->error : "?");
		break;
	}
	write_metrics(d);
}

static gboolean job_done(gpointer data)
{
	HvJob *j = data;
	Vm *v = J_VM(j);
	HvDaemon *d = v->d;
	g_autofree char *post = NULL, *post_result = NULL;
	g_autoptr(GPtrArray) pruned = g_ptr_array_new_with_free_func(g_free);

	d->jobs_running--;
	v->vm = j->vm; /* the monitor comes back */
	v->job = NULL;
	if (j->result == HV_JOB_STALE && !v->removed) {
		vm_set_state(v, VM_RUNNING);
		hv_job_free(j);
		if (v->vm != NULL && hv_vm_get_qmp(v->vm) != NULL) {
			attach_monitor(v);
			drain_events(v);
		}
		return G_SOURCE_REMOVE;
	}
	job_log(j);
	job_account(j);
	d->m_results[j->result]++;
	if (j->result == HV_JOB_DUMPED || j->result == HV_JOB_FALLBACK) {
		d->m_bytes += j->bytes;
		d->m_capture_seconds += j->seconds;
	}
	if (j->result == HV_JOB_DUMPED || j->result == HV_JOB_FALLBACK) {
		if (j->requested_path == NULL) {
			job_keep(j);
			hv_dumpdir_prune(j->policy->output_dir, j->vm_name, j->policy->keep,
					 j->policy->max_bytes, strrchr(j->path, '/') + 1, pruned);
			log_lines(v, pruned);
		}
	}
	if (v->removed) {
		job_reply(j);
		vm_remove(d, v, "gone");
		hv_job_free(j);
		return G_SOURCE_REMOVE;
	}
	if (j->kind == HV_JOB_PANIC)
		job_after_panic(j, &post, &post_result);
	else
		vm_set_state(v, j->was_running && !j->resume_failed ? VM_RUNNING :
				 v->failed_keep ? VM_KEPT_PAUSED : VM_PAUSED);
	job_reply(j);
	if (j->policy->hook != NULL && j->kind == HV_JOB_PANIC) {
		json_object *ev = job_json(j, post, post_result);

		hv_hook_run(j->policy->hook, j->policy->hook_timeout_s, json_object_to_json_string(ev),
			    on_hook_done, g_strdup(v->name));
		json_object_put(ev);
	}
	hv_job_free(j);
	write_metrics(d);
	if (v->vm != NULL && hv_vm_get_qmp(v->vm) != NULL) {
		attach_monitor(v);
		drain_events(v);
	}
	return G_SOURCE_REMOVE;
}

static void vm_start_job(Vm *v, HvJobKind kind, const char *path, HvControlRequest *req)
{
	HvDaemon *d = v->d;
	HvJob *j;

	if (v->job != NULL || v->vm == NULL)
		return;
	j = g_new0(HvJob, 1);
	j->owner = v;
	j->ctx = d->ctx;
	j->done = job_done;
	j->uuid = g_strdup(v->uuid);
	j->kind = kind;
	j->policy = hv_config_policy_for(d->cfg, v->name);
	j->progress_interval_s = d->cfg->progress_interval_s;
	j->recent_dumps = recent_dumps(v, g_get_real_time() / G_USEC_PER_SEC);
	if (v->dump_times->len > 0)
		j->last_dump_time = g_array_index(v->dump_times, gint64, v->dump_times->len - 1);
	j->requested_path = g_strdup(path);
	j->req = req;
	j->cancel = g_cancellable_new();
	j->vm_name = g_strdup(v->name);
	/* the monitor is the job's until it comes back */
	drop_source(&v->monitor_src);
	j->vm = g_steal_pointer(&v->vm);
	hv_vm_set_cancellable(j->vm, j->cancel);
	v->job = j;
	if (kind == HV_JOB_PANIC) {
		vm_log(v, G_LOG_LEVEL_MESSAGE, "guest panicked; capture queued (policy %s)",
		       j->policy->name);
		state_save(v, "capturing", NULL, FALSE);
	}
	vm_set_state(v, VM_CAPTURING);
	d->jobs_running++;
	g_thread_pool_push(d->pool, j, NULL);
}

/* ---- the control socket ------------------------------------------------- */

static json_object *vm_status(Vm *v)
{
	json_object *o = json_object_new_object();
	HvDaemon *d = v->d;

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "uuid", json_object_new_string(v->uuid ? v->uuid : ""));
	json_object_object_add(o, "source", json_object_new_string(source_names[v->source]));
	json_object_object_add(o, "key", json_object_new_string(v->key));
	json_object_object_add(o, "pid", json_object_new_int64(v->pid));
	json_object_object_add(o, "state", json_object_new_string(state_names[v->state]));
	json_object_object_add(o, "policy",
			       json_object_new_string(hv_config_policy_for(d->cfg, v->name)->name));
	json_object_object_add(o, "dumps", json_object_new_int64(v->dumps));
	json_object_object_add(o, "failures", json_object_new_int64(v->failures));
	json_object_object_add(o, "skipped_rate_limit", json_object_new_int64(v->skipped_rate));
	json_object_object_add(o, "skipped_low_space", json_object_new_int64(v->skipped_space));
	if (v->last_dump != NULL)
		json_object_object_add(o, "last_dump", json_object_new_string(v->last_dump));
	if (v->last_result != NULL) {
		json_object_object_add(o, "last_result", json_object_new_string(v->last_result));
		json_object_object_add(o, "last_time", json_object_new_int64(v->last_time));
	}
	return o;
}

static gint cmp_vm_name(gconstpointer a, gconstpointer b)
{
	const Vm *x = *(Vm *const *)a, *y = *(Vm *const *)b;

	return strcmp(x->name, y->name);
}

static Vm *find_vm(HvDaemon *d, const char *id)
{
	GHashTableIter it;
	gpointer k, val;

	g_hash_table_iter_init(&it, d->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		Vm *v = val;

		if (strcmp(v->name, id) == 0 || g_strcmp0(v->uuid, id) == 0 || strcmp(v->key, id) == 0)
			return v;
	}
	return NULL;
}

static json_object *answer_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static json_object *answer_error(const char *fmt, ...)
{
	json_object *a = json_object_new_object();
	g_autofree char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	json_object_object_add(a, "ok", json_object_new_boolean(FALSE));
	json_object_object_add(a, "error", json_object_new_string(text));
	return a;
}

static void on_control(HvControlRequest *req, json_object *msg, gpointer data)
{
	HvDaemon *d = data;
	const char *cmd = hv_json_get_string(msg, "command");

	if (g_strcmp0(cmd, "status") == 0) {
		g_autoptr(GPtrArray) list = g_ptr_array_new();
		json_object *a = json_object_new_object(), *arr = json_object_new_array();
		GHashTableIter it;
		gpointer k, val;
		guint i;

		g_hash_table_iter_init(&it, d->vms);
		while (g_hash_table_iter_next(&it, &k, &val))
			g_ptr_array_add(list, val);

		g_ptr_array_sort(list, cmp_vm_name);
		for (i = 0; i < list->len; i++)
			json_object_array_add(arr, vm_status(list->pdata[i]));
		json_object_object_add(a, "ok", json_object_new_boolean(TRUE));
		json_object_object_add(a, "vms", arr);
		json_object_object_add(a, "config", json_object_new_string(d->cfg->path));
		json_object_object_add(a, "workers", json_object_new_int64(d->cfg->workers));
		json_object_object_add(a, "host", json_object_new_string(d->cfg->host_name));
		if (d->shipper != NULL)
			json_object_object_add(a, "uploads", hv_shipper_status(d->shipper));
		hv_control_reply(req, a);
	} else if (g_strcmp0(cmd, "dump") == 0) {
		const char *id = hv_json_get_string(msg, "vm");
		const char *file = hv_json_get_string(msg, "file");
		Vm *v = id != NULL ? find_vm(d, id) : NULL;
		g_autoptr(GError) error = NULL;

		if (id == NULL || file == NULL || !g_path_is_absolute(file))
			hv_control_reply(req, answer_error("dump needs \"vm\" and an absolute \"file\""));
		else if (v == NULL)
			hv_control_reply(req, answer_error("no VM '%s' is watched", id));
		else if (v->job != NULL || v->vm == NULL)
			hv_control_reply(req, answer_error("VM '%s' is %s; try again later", v->name,
							   state_names[v->state]));
		else if (!hv_output_check(file, FALSE, &error))
			/* refused before the VM is paused */
			hv_control_reply(req, answer_error("%s", error->message));
		else
			vm_start_job(v, HV_JOB_ON_DEMAND, file, req);
	} else {
		hv_control_reply(req, answer_error("unknown command '%s' (status, dump)",
						   cmd ? cmd : "(none)"));
	}
}

static void on_refused(uid_t uid, pid_t pid, gpointer data)
{
	(void)data;
	g_warning("control socket: refused a client with uid %u (pid %d): root only",
		  (unsigned)uid, (int)pid);
}

/* ---- libvirt ------------------------------------------------------------
 * Domains come and go with libvirt's lifecycle events; the monitor is
 * libvirt's QMP passthrough (libvirt owns the socket), post-actions go
 * through libvirt's API (hv-libvirt.c maps them). */

#define LIBVIRT_RETRY_S 5

static void libvirt_connect(HvDaemon *d);

static char *libvirt_key(const char *uuid)
{
	return g_strconcat("libvirt:", uuid, NULL);
}

static void vm_add_libvirt(HvDaemon *d, const char *name, const char *uuid)
{
	g_autofree char *key = libvirt_key(uuid);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvLibvirtDomainInfo) info = g_new0(HvLibvirtDomainInfo, 1);
	Vm *v;
	guint i;

	if (g_hash_table_contains(d->vms, key) || d->lv == NULL)
		return;
	if (g_hash_table_size(d->vms) >= MAX_VMS) {
		g_warning("libvirt domain %s: not watched: already %d VMs", name, MAX_VMS);
		return;
	}
	v = vm_new(d, key, name, SRC_LIBVIRT);
	v->uuid = g_strdup(uuid);
	if (!hv_libvirt_domain_info(d->lv, uuid, info, &error)) {
		vm_log(v, G_LOG_LEVEL_WARNING, "libvirt domain not watched: %s", error->message);
		g_hash_table_remove(d->vms, key);
		return;
	}
	if (!info->active) {
		g_hash_table_remove(d->vms, key);
		return;
	}
	v->vm = hv_libvirt_vm_new(d->lv, uuid, (int)d->cfg->monitor_timeout_s * 1000, &error);
	if (v->vm == NULL) {
		vm_log(v, G_LOG_LEVEL_WARNING, "libvirt domain not watched: %s", error->message);
		g_hash_table_remove(d->vms, key);
		return;
	}
	v->pid = hv_vm_get_pid(v->vm);
	v->starttime = proc_starttime(v->pid);
	watch_pid(v);
	state_load_dump_times(v);
	vm_log(v, G_LOG_LEVEL_MESSAGE, "watching libvirt domain (QEMU pid %d, %s, dump: %s, policy %s)",
	       (int)v->pid, info->state_text, hv_libvirt_dump_name(info->dump),
	       hv_config_policy_for(d->cfg, v->name)->name);
	/* what the domain XML lacks, once: what it costs and what to add */
	for (i = 0; info->reasons != NULL && i < info->reasons->len; i++)
		vm_log(v, G_LOG_LEVEL_WARNING, "%s", (const char *)info->reasons->pdata[i]);
	catch_up(v, info->state == VIR_DOMAIN_CRASHED ? "guest-panicked" :
		 info->state == VIR_DOMAIN_RUNNING ? "running" : "paused");
}

static Vm *libvirt_vm(HvDaemon *d, const char *uuid)
{
	g_autofree char *key = libvirt_key(uuid);

	return g_hash_table_lookup(d->vms, key);
}

static gboolean on_libvirt_retry(gpointer data)
{
	HvDaemon *d = data;

	g_clear_pointer(&d->lv_retry, g_source_unref);
	libvirt_connect(d);
	return G_SOURCE_REMOVE;
}

static void libvirt_schedule_retry(HvDaemon *d)
{
	drop_source(&d->lv_retry);
	d->lv_retry = g_timeout_source_new_seconds(LIBVIRT_RETRY_S);
	g_source_set_callback(d->lv_retry, on_libvirt_retry, d, NULL);
	g_source_attach(d->lv_retry, d->ctx);
}

static void on_libvirt_event(const char *name, const char *uuid, HvLibvirtEvent ev, gpointer data)
{
	HvDaemon *d = data;
	Vm *v;

	if (ev == HV_LIBVIRT_EVENT_CLOSED) {
		g_warning("libvirt connection %s closed; reconnecting every %d s", d->lv_uri,
			  LIBVIRT_RETRY_S);
		hv_libvirt_unwatch(d->lv);
		/* the domains' VMs keep their own references; the next
		 * connection finds them again */
		g_clear_pointer(&d->lv, hv_libvirt_free);
		libvirt_schedule_retry(d);
		return;
	}
	if (name == NULL || uuid == NULL)
		return;
	v = libvirt_vm(d, uuid);
	switch (ev) {
	case HV_LIBVIRT_EVENT_STARTED:
		vm_add_libvirt(d, name, uuid);
		break;
	case HV_LIBVIRT_EVENT_STOPPED:
		if (v != NULL)
			vm_remove(d, v, "the domain stopped");
		break;
	case HV_LIBVIRT_EVENT_CRASHED_PANICKED:
		if (v == NULL)
			vm_add_libvirt(d, name, uuid); /* catches the panic up */
		else
			vm_start_job(v, HV_JOB_PANIC, NULL, NULL);
		break;
	case HV_LIBVIRT_EVENT_SUSPENDED:
		if (v != NULL && v->state == VM_RUNNING)
			vm_set_state(v, VM_PAUSED);
		break;
	case HV_LIBVIRT_EVENT_RESUMED:
		if (v != NULL && (v->state == VM_PAUSED || v->state == VM_KEPT_PAUSED))
			vm_set_state(v, VM_RUNNING);
		break;
	default:
		break;
	}
}

static void libvirt_connect(HvDaemon *d)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) doms = NULL;
	guint i;

	if (d->lv_uri == NULL || d->lv != NULL)
		return;
	d->lv = hv_libvirt_open(d->lv_uri, &error);
	if (d->lv != NULL && !hv_libvirt_watch(d->lv, d->ctx, on_libvirt_event, d, &error))
		g_clear_pointer(&d->lv, hv_libvirt_free);
	if (d->lv != NULL)
		doms = hv_libvirt_list(d->lv, &error);
	if (doms == NULL) {
		g_warning("libvirt %s: %s; retrying every %d s", d->lv_uri, error->message,
			  LIBVIRT_RETRY_S);
		if (d->lv != NULL)
			hv_libvirt_unwatch(d->lv);
		g_clear_pointer(&d->lv, hv_libvirt_free);
		libvirt_schedule_retry(d);
		return;
	}
	g_message("libvirt %s: connected, %u domains", hv_libvirt_get_uri(d->lv), doms->len);
	for (i = 0; i < doms->len; i++) {
		const HvLibvirtDomainInfo *di = doms->pdata[i];

		if (di->active)
			vm_add_libvirt(d, di->name, di->uuid);
	}
}

static void libvirt_disconnect(HvDaemon *d)
{
	drop_source(&d->lv_retry);
	if (d->lv != NULL)
		hv_libvirt_unwatch(d->lv);
	g_clear_pointer(&d->lv, hv_libvirt_free);
}

/* ---- sources ------------------------------------------------------------ */

static gboolean is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void on_dir_changed(GFileMonitor *mon, GFile *file, GFile *other, GFileMonitorEvent ev,
			   gpointer data)
{
	HvDaemon *d = data;
	g_autofree char *path = g_file_get_path(file);
	Vm *v;

	(void)mon;
	(void)other;
	if (path == NULL)
		return;
	if (ev == G_FILE_MONITOR_EVENT_CREATED && is_socket(path)) {
		vm_add(d, path, SRC_DIR);
	} else if (ev == G_FILE_MONITOR_EVENT_DELETED || ev == G_FILE_MONITOR_EVENT_MOVED_OUT) {
		v = g_hash_table_lookup(d->vms, path);
		if (v != NULL && v->source == SRC_DIR)
			vm_remove(d, v, "its socket was removed");
	}
}

static gboolean watch_dir(HvDaemon *d, const char *dir, GError **error)
{
	g_autoptr(GFile) f = g_file_new_for_path(dir);
	g_autoptr(GDir) gd = NULL;
	const char *name;
	guint n = 0;

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "socket-dir %s: %s", dir, g_strerror(errno));
		return FALSE;
	}
	d->dir_monitor = g_file_monitor_directory(f, G_FILE_MONITOR_WATCH_MOVES, NULL, error);
	if (d->dir_monitor == NULL)
		return FALSE;
	g_signal_connect(d->dir_monitor, "changed", G_CALLBACK(on_dir_changed), d);
	d->watched_dir = g_strdup(dir);
	gd = g_dir_open(dir, 0, error);
	if (gd == NULL)
		return FALSE;
	while ((name = g_dir_read_name(gd)) != NULL && n < MAX_VMS) {
		g_autofree char *p = g_build_filename(dir, name, NULL);

		if (is_socket(p)) {
			vm_add(d, p, SRC_DIR);
			n++;
		}
	}
	return TRUE;
}

static void unwatch_dir(HvDaemon *d)
{
	if (d->dir_monitor != NULL) {
		g_signal_handlers_disconnect_by_data(d->dir_monitor, d);
		g_file_monitor_cancel(d->dir_monitor);
		g_clear_object(&d->dir_monitor);
	}
	g_clear_pointer(&d->watched_dir, g_free);
}

/* Stale NAME.part files in every policy's directory: a capture that a
 * daemon crash cut short. Its VM is still panicked: it is captured again. */
static void clean_parts(HvDaemon *d)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	guint i, j;

	for (i = 0; i < d->cfg->policies->len; i++) {
		const HvPolicy *p = d->cfg->policies->pdata[i];
		g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);

		if (!g_hash_table_add(seen, p->output_dir))
			continue;
		hv_dumpdir_clean_parts(p->output_dir, log);
		for (j = 0; j < log->len; j++)
			g_message("%s", (const char *)log->pdata[j]);
	}
}

static void add_sources(HvDaemon *d)
{
	g_autoptr(GError) error = NULL;
	guint i;

	if (d->cfg->socket_dir != NULL && g_strcmp0(d->watched_dir, d->cfg->socket_dir) != 0) {
		unwatch_dir(d);
		if (!watch_dir(d, d->cfg->socket_dir, &error))
			g_warning("%s", error->message);
	} else if (d->cfg->socket_dir == NULL) {
		unwatch_dir(d);
	}
	for (i = 0; d->cfg->sockets != NULL && d->cfg->sockets[i] != NULL; i++)
		vm_add(d, d->cfg->sockets[i], SRC_LIST);
	if (g_strcmp0(d->lv_uri, d->cfg->libvirt_uri) != 0) {
		libvirt_disconnect(d);
		g_free(d->lv_uri);
		d->lv_uri = g_strdup(d->cfg->libvirt_uri);
	}
	libvirt_connect(d);
}


/* ---- the daemon --------------------------------------------------------- */

HvDaemon *hv_daemon_new(HvConfig *cfg)
{
	HvDaemon *d = g_new0(HvDaemon, 1);

	d->cfg = cfg;
	d->old_cfgs = g_ptr_array_new_with_free_func((GDestroyNotify)hv_config_free);
	d->ctx = g_main_context_ref_thread_default();
	d->vms = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, vm_free);
	d->shutdown = g_cancellable_new();
	return d;
}

/* ---- metrics: a Prometheus textfile (node_exporter's textfile collector
 * reads it), rewritten atomically after each capture and upload ---------- */

/* Counters survive a restart (state-dir/metrics.json): a dump taken just
 * before hvdumpd was restarted still counts. */
static char *counters_path(HvDaemon *d)
{
	return g_build_filename(d->cfg->state_dir, "metrics.json", NULL);
}

static void counters_load(HvDaemon *d)
{
	g_autofree char *path = counters_path(d);
	json_object *o = hv_dumpdir_read_report(path), *a;
	gint64 v;
	guint i;

	if (o == NULL)
		return;
	if (json_object_object_get_ex(o, "captures", &a) && json_object_is_type(a, json_type_array))
		for (i = 0; i <= HV_JOB_STALE && i < json_object_array_length(a); i++)
			d->m_results[i] = (guint64)MAX(json_object_get_int64(json_object_array_get_idx(a, i)), 0);
#define LOAD(k, f) do { if (hv_json_get_int64(o, k, &v) && v >= 0) d->f = (guint64)v; } while (0)
	LOAD("bytes", m_bytes);
	LOAD("uploads", m_uploads_done);
	LOAD("upload_failures", m_uploads_failed);
	LOAD("upload_retries", m_upload_retries);
	LOAD("upload_bytes", m_upload_bytes);
#undef LOAD
	if (json_object_object_get_ex(o, "capture_seconds", &a))
		d->m_capture_seconds = MAX(json_object_get_double(a), 0);
	if (json_object_object_get_ex(o, "upload_seconds", &a))
		d->m_upload_seconds = MAX(json_object_get_double(a), 0);
	json_object_put(o);
}

static void counters_save(HvDaemon *d)
{
	g_autofree char *path = counters_path(d);
	json_object *o = json_object_new_object(), *a = json_object_new_array();
	guint i;

	for (i = 0; i <= HV_JOB_STALE; i++)
		json_object_array_add(a, json_object_new_int64((gint64)d->m_results[i]));
	/* read back with hv_dumpdir_read_report: the same bounds and magic */
	json_object_object_add(o, "format", json_object_new_string("hvdump-report"));
	json_object_object_add(o, "captures", a);
	json_object_object_add(o, "bytes", json_object_new_int64((gint64)d->m_bytes));
	json_object_object_add(o, "capture_seconds", json_object_new_double(d->m_capture_seconds));
	json_object_object_add(o, "uploads", json_object_new_int64((gint64)d->m_uploads_done));
	json_object_object_add(o, "upload_failures", json_object_new_int64((gint64)d->m_uploads_failed));
	json_object_object_add(o, "upload_retries", json_object_new_int64((gint64)d->m_upload_retries));
	json_object_object_add(o, "upload_bytes", json_object_new_int64((gint64)d->m_upload_bytes));
	json_object_object_add(o, "upload_seconds", json_object_new_double(d->m_upload_seconds));
	hv_dumpdir_write_json(path, o, NULL);
	json_object_put(o);
}

static void write_metrics(HvDaemon *d)
{
	g_autoptr(GString) t = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = NULL;
	guint pending = 0, failed = 0, i;
	int fd;

	counters_save(d);
	if (d->cfg->metrics_file == NULL)
		return;
	if (d->shipper != NULL)
		hv_shipper_counts(d->shipper, &pending, &failed);
	g_string_append(t, "# HELP hvdump_captures_total Captures by result (kept across restarts).\n"
			   "# TYPE hvdump_captures_total counter\n");
	for (i = 0; i <= HV_JOB_STALE; i++) {
		if (i == HV_JOB_STALE)
			continue;
		g_string_append_printf(t, "hvdump_captures_total{result=\"%s\"} %" G_GUINT64_FORMAT "\n",
				       hv_job_result_names[i], d->m_results[i]);
	}
	g_string_append_printf(t, "# HELP hvdump_dumps_total Dumps written.\n# TYPE hvdump_dumps_total counter\n"
			       "hvdump_dumps_total %" G_GUINT64_FORMAT "\n",
			       d->m_results[HV_JOB_DUMPED] + d->m_results[HV_JOB_FALLBACK]);
	g_string_append_printf(t, "# HELP hvdump_dumps_failed_total Captures that failed or were cancelled.\n"
			       "# TYPE hvdump_dumps_failed_total counter\nhvdump_dumps_failed_total %"
			       G_GUINT64_FORMAT "\n", d->m_results[HV_JOB_FAILED] + d->m_results[HV_JOB_CANCELLED]);
	g_string_append_printf(t, "# HELP hvdump_dump_bytes_total Bytes of dumps written.\n"
			       "# TYPE hvdump_dump_bytes_total counter\nhvdump_dump_bytes_total %"
			       G_GUINT64_FORMAT "\n", d->m_bytes);
	g_string_append_printf(t, "# HELP hvdump_capture_seconds_total Seconds spent writing dumps.\n"
			       "# TYPE hvdump_capture_seconds_total counter\nhvdump_capture_seconds_total %.3f\n",
			       d->m_capture_seconds);
	g_string_append_printf(t, "# HELP hvdump_uploads_pending Dumps waiting for their upload.\n"
			       "# TYPE hvdump_uploads_pending gauge\nhvdump_uploads_pending %u\n", pending);
	g_string_append_printf(t, "# HELP hvdump_uploads_failed Uploads that failed for good (see hvdump "
			       "status).\n# TYPE hvdump_uploads_failed gauge\nhvdump_uploads_failed %u\n", failed);
	g_string_append_printf(t, "# HELP hvdump_uploads_total Uploads done and verified.\n"
			       "# TYPE hvdump_uploads_total counter\nhvdump_uploads_total %" G_GUINT64_FORMAT "\n",
			       d->m_uploads_done);
	g_string_append_printf(t, "# HELP hvdump_upload_failures_total Upload attempts that failed.\n"
			       "# TYPE hvdump_upload_failures_total counter\n"
			       "hvdump_upload_failures_total{kind=\"retry\"} %" G_GUINT64_FORMAT "\n"
			       "hvdump_upload_failures_total{kind=\"final\"} %" G_GUINT64_FORMAT "\n",
			       d->m_upload_retries, d->m_uploads_failed);
	g_string_append_printf(t, "# HELP hvdump_upload_bytes_total Bytes uploaded.\n"
			       "# TYPE hvdump_upload_bytes_total counter\nhvdump_upload_bytes_total %"
			       G_GUINT64_FORMAT "\n", d->m_upload_bytes);
	g_string_append_printf(t, "# HELP hvdump_upload_seconds_total Seconds spent uploading.\n"
			       "# TYPE hvdump_upload_seconds_total counter\nhvdump_upload_seconds_total %.3f\n",
			       d->m_upload_seconds);
	/* node_exporter reads *.prom: write beside it, rename over it */
	tmp = g_strconcat(d->cfg->metrics_file, ".tmp", NULL);
	/* whatever is there (a stale file, a fifo, a link) goes; ours is new */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 || write(fd, t->str, t->len) != (ssize_t)t->len || fsync(fd) != 0) {
		g_warning("metrics: %s: %s", tmp, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, d->cfg->metrics_file) != 0) {
		g_warning("metrics: %s: %s", d->cfg->metrics_file, g_strerror(errno));
		unlink(tmp);
	}
}

gboolean hv_daemon_start(HvDaemon *d, GError **error)
{
	d->pool = g_thread_pool_new(hv_job_run, d, (gint)d->cfg->workers, FALSE, error);
	if (d->pool == NULL)
		return FALSE;
	d->control = hv_control_new(d->cfg->control_socket, on_control, on_refused, d, error);
	if (d->control == NULL)
		return FALSE;
	{
		d->upload_dir = g_build_filename(d->cfg->state_dir, "uploads", NULL);
		d->shipper = hv_shipper_new(d->upload_dir, d->ctx, on_shipped, d, error);
		if (d->shipper == NULL)
			return FALSE;
	}
	counters_load(d);
	clean_parts(d);
	add_sources(d);
	write_metrics(d);
	return TRUE;
}

void hv_daemon_reload(HvDaemon *d, HvConfig *cfg)
{
	GHashTableIter it;
	gpointer k, val;
	g_autoptr(GPtrArray) gone = g_ptr_array_new();
	guint i;

	g_ptr_array_add(d->old_cfgs, d->cfg);
	d->cfg = cfg;
	g_thread_pool_set_max_threads(d->pool, (gint)cfg->workers, NULL);
	add_sources(d);
	/* listed sockets no longer listed */
	g_hash_table_iter_init(&it, d->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		Vm *v = val;

		if (v->source == SRC_LIST &&
		    (cfg->sockets == NULL || !g_strv_contains((const char *const *)cfg->sockets, v->key)))
			g_ptr_array_add(gone, v);
		else if (v->source == SRC_DIR && g_strcmp0(d->watched_dir, cfg->socket_dir) != 0)
			g_ptr_array_add(gone, v);
		else if (v->source == SRC_LIBVIRT && d->lv == NULL)
			g_ptr_array_add(gone, v);
	}
	for (i = 0; i < gone->len; i++)
		vm_remove(d, gone->pdata[i], "no longer in the configuration");
	clean_parts(d);
	/* what made uploads fail for good (a credentials file, a host key)
	 * may be fixed now: they are tried again, backoffs start over */
	if (d->shipper != NULL) {
		guint pending = 0, failed = 0;

		hv_shipper_counts(d->shipper, &pending, &failed);
		if (failed > 0)
			g_message("reload: %u failed upload%s queued again", failed, failed == 1 ? "" : "s");
		hv_shipper_rearm(d->shipper);
	}
}

char *hv_daemon_describe(HvDaemon *d)
{
	return g_strdup_printf("%u VMs watched, %u capturing", g_hash_table_size(d->vms),
			       d->jobs_running);
}

void hv_daemon_free(HvDaemon *d)
{
	GHashTableIter it;
	gpointer k, val;

	if (d == NULL)
		return;
	g_cancellable_cancel(d->shutdown);
	hv_control_free(d->control);
	unwatch_dir(d);
	libvirt_disconnect(d);
	g_hash_table_iter_init(&it, d->vms);
	while (g_hash_table_iter_next(&it, &k, &val)) {
		Vm *v = val;

		if (v->job != NULL)
			g_cancellable_cancel(v->job->cancel);
	}
	/* the workers end their jobs; their results come back here */
	while (d->jobs_running > 0)
		g_main_context_iteration(d->ctx, TRUE);
	if (d->pool != NULL)
		g_thread_pool_free(d->pool, FALSE, TRUE);
	hv_shipper_free(d->shipper);
	g_free(d->upload_dir);
	g_hash_table_destroy(d->vms);
	g_object_unref(d->shutdown);
	hv_config_free(d->cfg);
	g_ptr_array_free(d->old_cfgs, TRUE);
	g_free(d->lv_uri);
	g_main_context_unref(d->ctx);
	g_free(d);
}
