/* hv-libvirt.c — libvirt domains as hvdump VMs; see hv-libvirt.h. */
#include "hv-libvirt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "hv-error.h"

#define REPLY_MAX_DEPTH 64
#define PID_FILE_MAX 32
#define PID_MAX_LIMIT 4194304 /* the kernel's PID_MAX_LIMIT on 64-bit */
#define CMDLINE_MAX (1u << 20)
#define WAIT_SLICE_US (50 * 1000)

#define SHARE_XML "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"

struct HvLibvirt {
	virConnectPtr conn;
	char *uri;
	struct Watch *watch;
	int lifecycle_id;
};

/* ---- errors --------------------------------------------------------------
 * libvirt's default handler prints every error on stderr; ours prints
 * nothing, and each failing call's message (thread-local, so read in the
 * thread that made the call) becomes one printable line of a GError. */

static void quiet_errors(void *data, virErrorPtr err)
{
	(void)data;
	(void)err;
}

static char *last_error(void)
{
	const char *m = virGetLastErrorMessage();
	g_autofree char *one = g_strdup(m != NULL ? m : "unknown libvirt error");

	g_strdelimit(one, "\r\n\t", ' ');
	g_strstrip(one);
	virResetLastError();
	return hv_printable_dup(one);
}

static void set_lv_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void set_lv_error(GError **error, const char *fmt, ...)
{
	g_autofree char *what = NULL;
	g_autofree char *msg = last_error();
	va_list ap;

	va_start(ap, fmt);
	what = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(error, HV_ERROR, HV_ERROR_FAILED, "%s: %s", what, msg);
}

static gboolean event_impl_ok;

static gpointer init_once(gpointer data)
{
	(void)data;
	virInitialize();
	virSetErrorFunc(NULL, quiet_errors);
	/* must precede every virConnectOpen whose events we will want */
	event_impl_ok = virEventRegisterDefaultImpl() == 0;
	virResetLastError();
	return NULL;
}

/* ---- the connection ------------------------------------------------------- */

HvLibvirt *hv_libvirt_open(const char *uri, GError **error)
{
	static GOnce once = G_ONCE_INIT;
	HvLibvirt *lv;
	virConnectPtr conn;
	char *canon;

	g_once(&once, init_once, NULL);
	conn = virConnectOpen(uri);
	if (conn == NULL) {
		g_autofree char *u = hv_printable_dup(uri != NULL ? uri : "libvirt's default URI");

		set_lv_error(error, "cannot connect to libvirt (%s)", u);
		return NULL;
	}
	virConnSetErrorFunc(conn, NULL, quiet_errors);
	lv = g_new0(HvLibvirt, 1);
	lv->conn = conn;
	lv->lifecycle_id = -1;
	canon = virConnectGetURI(conn);
	lv->uri = g_strdup(canon != NULL ? canon : uri != NULL ? uri : "?");
	free(canon);
	virResetLastError();
	return lv;
}

void hv_libvirt_free(HvLibvirt *lv)
{
	if (lv == NULL)
		return;
	hv_libvirt_unwatch(lv);
	virConnectClose(lv->conn);
	g_free(lv->uri);
	g_free(lv);
}

const char *hv_libvirt_get_uri(HvLibvirt *lv)
{
	return lv->uri;
}

/* ---- finding a domain (as virsh does) ------------------------------------ */

static gboolean all_digits(const char *s)
{
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++)
		if (!g_ascii_isdigit(*s))
			return FALSE;
	return TRUE;
}

/* 32 hex digits, dashes and spaces between them allowed (virUUIDParse). */
static gboolean looks_like_uuid(const char *s)
{
	guint n = 0;

	for (; *s != '\0'; s++) {
		if (g_ascii_isxdigit(*s))
			n++;
		else if (*s != '-' && *s != ' ')
			return FALSE;
	}
	return n == 32;
}

static gboolean not_found(void)
{
	int code = virGetLastErrorCode();

	return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_INVALID_ARG;
}

static virDomainPtr lookup(HvLibvirt *lv, const char *domain, GError **error)
{
	virDomainPtr dom = NULL;
	guint64 id;

	if (all_digits(domain) && g_ascii_string_to_unsigned(domain, 10, 0, G_MAXINT, &id, NULL)) {
		dom = virDomainLookupByID(lv->conn, (int)id);
		if (dom != NULL || !not_found())
			goto out;
	}
	if (looks_like_uuid(domain)) {
		dom = virDomainLookupByUUIDString(lv->conn, domain);
		if (dom != NULL || !not_found())
			goto out;
	}
	dom = virDomainLookupByName(lv->conn, domain);
out:
	if (dom == NULL) {
		g_autofree char *d = hv_printable_dup(domain);

		if (not_found()) {
			virResetLastError();
			g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
				    "no libvirt domain with id, UUID or name '%s' at %s", d, lv->uri);
		} else {
			set_lv_error(error, "looking up libvirt domain '%s'", d);
		}
	}
	return dom;
}

/* ---- QEMU's pid ------------------------------------------------------------ */

/* Where libvirt's QEMU driver keeps NAME.pid for this connection, or NULL
 * (with the reason) when QEMU is not a process of this host we can find. */
static char *pid_dir(HvLibvirt *lv, GError **error)
{
	g_autoptr(GUri) u = g_uri_parse(lv->uri, G_URI_FLAGS_NONE, NULL);
	const char *scheme = u != NULL ? g_uri_get_scheme(u) : NULL;
	const char *host = u != NULL ? g_uri_get_host(u) : NULL;
	const char *path = u != NULL ? g_uri_get_path(u) : NULL;

	if (scheme == NULL || (g_ascii_strcasecmp(scheme, "qemu") != 0 &&
			       g_ascii_strcasecmp(scheme, "qemu+unix") != 0)) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "%s is not a local QEMU driver URI: hvdump reads guest RAM on this host "
			    "and finds QEMU through qemu:///system or qemu:///session", lv->uri);
		return NULL;
	}
	if (host != NULL && *host != '\0') {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "%s names another host: hvdump reads guest RAM on the host QEMU runs on",
			    lv->uri);
		return NULL;
	}
	/* the privileged daemon also serves root's qemu:///session */
	if (g_strcmp0(path, "/system") == 0 || (g_strcmp0(path, "/session") == 0 && geteuid() == 0))
		return g_strdup("/run/libvirt/qemu");
	if (g_strcmp0(path, "/session") == 0) {
		/* the session daemon's stateDir: $XDG_RUNTIME_DIR/libvirt/qemu/run,
		 * or ~/.cache/libvirt/qemu/run without XDG_RUNTIME_DIR */
		const char *rt = g_getenv("XDG_RUNTIME_DIR");

		if (rt != NULL && *rt != '\0')
			return g_build_filename(rt, "libvirt", "qemu", "run", NULL);
		return g_build_filename(g_get_home_dir(), ".cache", "libvirt", "qemu", "run", NULL);
	}
	g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
		    "%s: hvdump knows where qemu:///system and qemu:///session keep QEMU's pid, "
		    "not this driver instance", lv->uri);
	return NULL;
}

static pid_t read_pid_file(const char *path, GError **error)
{
	char buf[PID_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	guint64 v;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;

		g_set_error(error, HV_ERROR, HV_ERROR_FAILED, "reading QEMU's pid from %s: %s", path,
			    g_strerror(e));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > PID_FILE_MAX ||
	    (st.st_uid != 0 && st.st_uid != geteuid())) {
		close(fd);
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "%s is not libvirt's pid file (not a small regular file of root's or ours)",
			    path);
		return -1;
	}
	n = read(fd, buf, PID_FILE_MAX + 1);
	close(fd);
	if (n < 0 || n > PID_FILE_MAX)
		n = 0;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (!all_digits(buf) || !g_ascii_string_to_unsigned(buf, 10, 1, PID_MAX_LIMIT, &v, NULL)) {
		g_autofree char *p = hv_printable_dup(buf);

		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "%s does not hold a pid ('%s')", path, p);
		return -1;
	}
	return (pid_t)v;
}

static gboolean is_qemu_binary(const char *path)
{
	g_autofree char *base = NULL;
	const char *del = " (deleted)";
	g_autofree char *p = g_strdup(path);

	if (g_str_has_suffix(p, del))
		p[strlen(p) - strlen(del)] = '\0';
	base = g_path_get_basename(p);
	return g_str_has_prefix(base, "qemu-system-") || strcmp(base, "qemu-kvm") == 0 ||
	       strcmp(base, "kvm") == 0;
}

/* The guest name in a -name value: "guest=NAME,...", or "NAME,..." (the
 * implied key); ",," is an escaped comma. */
static char *guest_name_from_arg(const char *v)
{
	GString *tok = g_string_new(NULL);
	gboolean first = TRUE;
	const char *p = v;

	for (;;) {
		if (*p == ',' && p[1] == ',') {
			g_string_append_c(tok, ',');
			p += 2;
			continue;
		}
		if (*p == ',' || *p == '\0') {
			if (g_str_has_prefix(tok->str, "guest=")) {
				char *name = g_strdup(tok->str + 6);

				g_string_free(tok, TRUE);
				return name;
			}
			if (first && strchr(tok->str, '=') == NULL)
				return g_string_free(tok, FALSE);
			if (*p == '\0')
				break;
			g_string_truncate(tok, 0);
			first = FALSE;
			p++;
			continue;
		}
		g_string_append_c(tok, *p++);
	}
	g_string_free(tok, TRUE);
	return NULL;
}

/* Is pid the QEMU of this domain: a QEMU binary whose -name and -uuid are
 * the domain's? */
static gboolean check_qemu_process(pid_t pid, const char *name, const char *uuid, GError **error)
{
	g_autofree char *exe_path = g_strdup_printf("/proc/%d/exe", (int)pid);
	g_autofree char *cmd_path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
	g_autofree char *exe = g_file_read_link(exe_path, NULL);
	g_autofree char *cmd = NULL;
	g_autofree char *got_name = NULL;
	const char *got_uuid = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	gsize len = 0, i;

	if (!g_file_get_contents(cmd_path, &cmd, &len, NULL) || len == 0 || len > CMDLINE_MAX) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "QEMU's pid %d from libvirt's pid file is not a running process", (int)pid);
		return FALSE;
	}
	for (i = 0; i < len; i += strlen(cmd + i) + 1)
		g_ptr_array_add(argv, cmd + i);
	if (!is_qemu_binary(exe != NULL ? exe : (const char *)argv->pdata[0])) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "pid %d from libvirt's pid file is not QEMU", (int)pid);
		return FALSE;
	}
	for (i = 1; i + 1 < argv->len; i++) {
		const char *a = argv->pdata[i];

		if (strcmp(a, "-name") == 0 && got_name == NULL)
			got_name = guest_name_from_arg(argv->pdata[i + 1]);
		else if (strcmp(a, "-uuid") == 0 && got_uuid == NULL)
			got_uuid = argv->pdata[i + 1];
	}
	if (g_strcmp0(got_name, name) != 0 || got_uuid == NULL ||
	    g_ascii_strcasecmp(got_uuid, uuid) != 0) {
		g_autofree char *n = hv_printable_dup(name);

		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "QEMU pid %d is not domain '%s' (its -name or -uuid differ)", (int)pid, n);
		return FALSE;
	}
	return TRUE;
}

static pid_t qemu_pid(HvLibvirt *lv, virDomainPtr dom, GError **error)
{
	const char *name = virDomainGetName(dom);
	char uuid[VIR_UUID_STRING_BUFLEN];
	g_autofree char *dir = NULL;
	g_autofree char *file = NULL;
	g_autofree char *path = NULL;
	pid_t pid;

	if (name == NULL || virDomainGetUUIDString(dom, uuid) < 0) {
		set_lv_error(error, "reading the domain's name and UUID");
		return -1;
	}
	if (*name == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0) {
		g_autofree char *n = hv_printable_dup(name);

		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "domain name '%s' cannot name a pid file", n);
		return -1;
	}
	dir = pid_dir(lv, error);
	if (dir == NULL)
		return -1;
	file = g_strconcat(name, ".pid", NULL);
	path = g_build_filename(dir, file, NULL);
	pid = read_pid_file(path, error);
	if (pid > 0 && !check_qemu_process(pid, name, uuid, error))
		return -1;
	return pid;
}

/* ---- the monitor -----------------------------------------------------------
 * Every libvirt call runs in a thread of its own, so that the caller can
 * stop waiting (timeout, cancellable): libvirt's calls have no timeout and
 * cannot be interrupted. An abandoned call finishes on its own and frees
 * its state. (pthread's mutex and condition, not GLib's: GLib's are futexes
 * ThreadSanitizer cannot see.) */

typedef enum {
	OP_QMP,
	OP_SUSPEND,
	OP_RESUME,
	OP_RESET,
	OP_DESTROY,
} Op;

static const char *const op_api[] = {
	"virDomainQemuMonitorCommand", "virDomainSuspend", "virDomainResume", "virDomainReset",
	"virDomainDestroy",
};

typedef struct {
	gint ref;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	gboolean done;
	virDomainPtr dom;
	Op op;
	char *qmp;
	/* results */
	int rc;
	char *reply;
	char *errmsg;
	int errcode;
	gboolean gone; /* the domain is no longer running */
} Call;

static void call_unref(Call *c)
{
	if (!g_atomic_int_dec_and_test(&c->ref))
		return;
	virDomainFree(c->dom);
	g_free(c->qmp);
	free(c->reply);
	g_free(c->errmsg);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	g_free(c);
}

static gpointer call_run(gpointer data)
{
	Call *c = data;
	char *reply = NULL, *errmsg = NULL;
	int rc = -1, errcode = 0;
	gboolean gone = FALSE;

	switch (c->op) {
	case OP_QMP:
		rc = virDomainQemuMonitorCommand(c->dom, c->qmp, &reply,
						 VIR_DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT);
		break;
	case OP_SUSPEND:
		rc = virDomainSuspend(c->dom);
		break;
	case OP_RESUME:
		rc = virDomainResume(c->dom);
		break;
	case OP_RESET:
		rc = virDomainReset(c->dom, 0);
		break;
	case OP_DESTROY:
		rc = virDomainDestroy(c->dom);
		break;
	}
	if (rc < 0) {
		/* libvirt's last error is this thread's */
		errcode = virGetLastErrorCode();
		errmsg = last_error();
		gone = errcode == VIR_ERR_NO_DOMAIN ||
		       (errcode == VIR_ERR_OPERATION_INVALID && virDomainIsActive(c->dom) == 0);
		virResetLastError();
	}
	pthread_mutex_lock(&c->lock);
	c->rc = rc;
	c->reply = reply;
	c->errcode = errcode;
	c->errmsg = errmsg;
	c->gone = gone;
	c->done = TRUE;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	call_unref(c);
	return NULL;
}

typedef struct {
	virDomainPtr dom;
	GCancellable *cancellable;
} LvMon;

/* Runs op; FALSE with the error when it failed, timed out or was cancelled. */
static gboolean mon_call(LvMon *m, const char *command, Op op, char *qmp, int timeout_ms,
			 char **reply_ret, GError **error)
{
	Call *c = g_new0(Call, 1);
	gint64 deadline = timeout_ms >= 0 ? g_get_monotonic_time() + (gint64)timeout_ms * 1000 :
					    G_MAXINT64;
	g_autoptr(GThread) t = NULL;
	pthread_condattr_t attr;
	gboolean ok = FALSE;

	c->ref = 2; /* ours and the thread's */
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* g_get_monotonic_time's clock */
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);
	virDomainRef(m->dom);
	c->dom = m->dom;
	c->op = op;
	c->qmp = qmp;
	t = g_thread_try_new("hvdump-libvirt", call_run, c, NULL);
	if (t == NULL)
		call_run(c); /* no thread: wait for libvirt itself */
	pthread_mutex_lock(&c->lock);
	while (!c->done) {
		gint64 now = g_get_monotonic_time();
		gint64 until;
		struct timespec ts;

		if (g_cancellable_is_cancelled(m->cancellable)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s: cancelled", command);
			goto out;
		}
		if (now >= deadline) {
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT,
				    "%s: no answer from libvirt within %d ms (%s)", command, timeout_ms,
				    op_api[op]);
			goto out;
		}
		until = MIN(deadline, now + WAIT_SLICE_US);
		ts.tv_sec = (time_t)(until / G_USEC_PER_SEC);
		ts.tv_nsec = (long)(until % G_USEC_PER_SEC) * 1000;
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	if (c->rc < 0) {
		int code = c->gone ? HV_QMP_ERROR_CLOSED :
			   c->errcode == VIR_ERR_RPC || c->errcode == VIR_ERR_NO_CONNECT ||
			   c->errcode == VIR_ERR_SYSTEM_ERROR ? HV_QMP_ERROR_IO : HV_QMP_ERROR_COMMAND;

		g_set_error(error, HV_QMP_ERROR, code, "%s (%s): %s", command, op_api[op], c->errmsg);
		goto out;
	}
	if (reply_ret != NULL)
		*reply_ret = g_strdup(c->reply != NULL ? c->reply : "");
	ok = TRUE;
out:
	pthread_mutex_unlock(&c->lock);
	call_unref(c);
	return ok;
}

/* QEMU's answer as libvirt passes it on: one QMP message. */
static json_object *parse_reply(const char *command, const char *text, GError **error)
{
	gsize len = strlen(text), end;
	json_tokener *tok;
	json_object *msg;

	if (len > HV_QMP_MAX_MESSAGE) {
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
			    "%s: answer of %" G_GSIZE_FORMAT " bytes is over the %u-byte limit", command,
			    len, HV_QMP_MAX_MESSAGE);
		return NULL;
	}
	tok = json_tokener_new_ex(REPLY_MAX_DEPTH);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	msg = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_error(tok) == json_tokener_success ? json_tokener_get_parse_end(tok) : 0;
	if (msg == NULL || end == 0) {
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL, "%s: malformed answer (%s)",
			    command, json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		json_object_put(msg);
		return NULL;
	}
	json_tokener_free(tok);
	for (; end < len; end++)
		if (!g_ascii_isspace(text[end]))
			break;
	if (end != len || !json_object_is_type(msg, json_type_object)) {
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
			    "%s: malformed answer (not one JSON object)", command);
		json_object_put(msg);
		return NULL;
	}
	return hv_qmp_answer_return(msg, command, error);
}

static json_object *mon_execute(gpointer data, const char *command, json_object *args,
				int timeout_ms, GError **error)
{
	LvMon *m = data;
	static const struct {
		const char *command;
		Op op;
	} run_state[] = {
		{ "stop", OP_SUSPEND },
		{ "cont", OP_RESUME },
		{ "system_reset", OP_RESET },
		{ "quit", OP_DESTROY },
	};
	g_autofree char *reply = NULL;
	json_object *req;
	char *qmp;
	guint i;

	/* run state through libvirt's API: its view of the domain stays right */
	for (i = 0; i < G_N_ELEMENTS(run_state); i++) {
		if (strcmp(command, run_state[i].command) == 0) {
			json_object_put(args);
			if (!mon_call(m, command, run_state[i].op, NULL, timeout_ms, NULL, error))
				return NULL;
			return json_object_new_object();
		}
	}
	req = json_object_new_object();
	json_object_object_add(req, "execute", json_object_new_string(command));
	if (args != NULL)
		json_object_object_add(req, "arguments", args);
	qmp = g_strdup(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(req);
	if (!mon_call(m, command, OP_QMP, qmp, timeout_ms, &reply, error))
		return NULL;
	return parse_reply(command, reply, error);
}

static gboolean mon_dump(gpointer data, int fd, const char *path, GError **error)
{
	LvMon *m = data;
	/* libvirtd (root) opens, truncates and writes what it is given. Not
	 * path: whoever can write its directory could swap a symlink in after
	 * we created the file. Our descriptor's /proc link reopens exactly the
	 * file we hold, wherever it has been moved. */
	g_autofree char *target = fd >= 0 ? g_strdup_printf("/proc/%d/fd/%d", (int)getpid(), fd) :
				  g_canonicalize_filename(path, NULL);

	if (virDomainCoreDumpWithFormat(m->dom, target, VIR_DOMAIN_CORE_DUMP_FORMAT_RAW,
					VIR_DUMP_MEMORY_ONLY) < 0) {
		set_lv_error(error, "libvirt's memory-only core dump (virDomainCoreDumpWithFormat)");
		return FALSE;
	}
	return TRUE;
}

static void mon_set_cancellable(gpointer data, GCancellable *cancellable)
{
	LvMon *m = data;

	g_clear_object(&m->cancellable);
	m->cancellable = cancellable != NULL ? g_object_ref(cancellable) : NULL;
}

static void mon_free(gpointer data)
{
	LvMon *m = data;

	g_clear_object(&m->cancellable);
	virDomainFree(m->dom);
	g_free(m);
}

static const HvMonitorOps libvirt_monitor = {
	.execute = mon_execute,
	.dump_guest_memory = mon_dump,
	.set_cancellable = mon_set_cancellable,
	.free = mon_free,
};

HvVm *hv_libvirt_vm_new(HvLibvirt *lv, const char *domain, int timeout_ms, GError **error)
{
	virDomainPtr dom = lookup(lv, domain, error);
	LvMon *m;
	pid_t pid;
	int active;

	if (dom == NULL)
		return NULL;
	active = virDomainIsActive(dom);
	if (active != 1) {
		g_autofree char *d = hv_printable_dup(virDomainGetName(dom));

		if (active < 0)
			set_lv_error(error, "domain '%s'", d);
		else
			g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
				    "domain '%s' is not running: nothing to dump", d);
		virDomainFree(dom);
		return NULL;
	}
	pid = qemu_pid(lv, dom, error);
	if (pid <= 0) {
		virDomainFree(dom);
		return NULL;
	}
	m = g_new0(LvMon, 1);
	m->dom = dom;
	return hv_vm_new_monitor(&libvirt_monitor, m, pid, timeout_ms);
}

/* ---- the verdict from the domain XML ---------------------------------------- */

typedef struct {
	GString *path;
	GArray *lens;
	char *type;
	char *source_type;
	char *access_mode;
	gboolean hugepages;
	GPtrArray *cell_access; /* memAccess of each NUMA cell, "" when unset */
	gboolean panic;
	char *panic_model_other;
	gboolean vmcoreinfo;
	gboolean vmcoreinfo_off;
	gboolean has_on_crash;
	GString *on_crash;
} XmlScan;

static const char *attr(const char **names, const char **values, const char *name)
{
	guint i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}

static void scan_start(GMarkupParseContext *ctx, const char *element, const char **names,
		       const char **values, gpointer data, GError **error)
{
	XmlScan *s = data;
	const char *p;
	guint len = (guint)s->path->len;

	(void)ctx;
	g_array_append_val(s->lens, len);
	g_string_append_c(s->path, '/');
	g_string_append(s->path, element);
	p = s->path->str;
	if (s->lens->len == 1 && strcmp(p, "/domain") != 0) {
		g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "not a domain XML (root element <%.40s>)", element);
		return;
	}
	if (strcmp(p, "/domain") == 0) {
		g_free(s->type);
		s->type = g_strdup(attr(names, values, "type"));
	} else if (strcmp(p, "/domain/memoryBacking/source") == 0) {
		g_free(s->source_type);
		s->source_type = g_strdup(attr(names, values, "type"));
	} else if (strcmp(p, "/domain/memoryBacking/access") == 0) {
		g_free(s->access_mode);
		s->access_mode = g_strdup(attr(names, values, "mode"));
	} else if (strcmp(p, "/domain/memoryBacking/hugepages") == 0) {
		s->hugepages = TRUE;
	} else if (strcmp(p, "/domain/cpu/numa/cell") == 0) {
		const char *a = attr(names, values, "memAccess");

		g_ptr_array_add(s->cell_access, g_strdup(a != NULL ? a : ""));
	} else if (strcmp(p, "/domain/devices/panic") == 0) {
		const char *model = attr(names, values, "model");

		/* x86's default model is isa; pvpanic is the PCI one */
		if (model == NULL || strcmp(model, "isa") == 0 || strcmp(model, "pvpanic") == 0) {
			s->panic = TRUE;
		} else if (s->panic_model_other == NULL) {
			s->panic_model_other = g_strdup(model);
		}
	} else if (strcmp(p, "/domain/features/vmcoreinfo") == 0) {
		const char *state = attr(names, values, "state");

		s->vmcoreinfo = state == NULL || strcmp(state, "on") == 0;
		s->vmcoreinfo_off = !s->vmcoreinfo;
	} else if (strcmp(p, "/domain/on_crash") == 0) {
		s->has_on_crash = TRUE;
		g_string_truncate(s->on_crash, 0);
	}
}

static void scan_end(GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
	XmlScan *s = data;

	(void)ctx;
	(void)element;
	(void)error;
	if (s->lens->len == 0)
		return;
	g_string_truncate(s->path, g_array_index(s->lens, guint, s->lens->len - 1));
	g_array_set_size(s->lens, s->lens->len - 1);
}

static void scan_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
		      GError **error)
{
	XmlScan *s = data;

	(void)ctx;
	(void)error;
	if (strcmp(s->path->str, "/domain/on_crash") == 0 && s->on_crash->len < 64)
		g_string_append_len(s->on_crash, text, (gssize)MIN(len, (gsize)64));
}

static void scan_clear(XmlScan *s)
{
	g_string_free(s->path, TRUE);
	g_array_unref(s->lens);
	g_free(s->type);
	g_free(s->source_type);
	g_free(s->access_mode);
	g_ptr_array_unref(s->cell_access);
	g_free(s->panic_model_other);
	g_string_free(s->on_crash, TRUE);
}

static void add_reason(GPtrArray *reasons, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void add_reason(GPtrArray *reasons, const char *fmt, ...)
{
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	line = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(reasons, hv_printable_dup(line));
}

/* Is guest RAM in a shared file-backed (memfd, file, hugetlbfs) backend?
 * When not, *why_ret says what is in the way. */
static gboolean ram_shared(const XmlScan *s, char **why_ret)
{
	const char *global = s->access_mode != NULL ? s->access_mode : "private";
	guint i;

	if (g_strcmp0(s->source_type, "anonymous") == 0) {
		*why_ret = g_strdup("<source type='anonymous'/>: anonymous memory has no file hvdump "
				    "can open");
		return FALSE;
	}
	if (s->cell_access->len == 0) {
		if (strcmp(global, "shared") != 0) {
			*why_ret = g_strdup_printf("memory access mode '%s'", global);
			return FALSE;
		}
		return TRUE;
	}
	for (i = 0; i < s->cell_access->len; i++) {
		const char *a = g_ptr_array_index(s->cell_access, i);
		const char *eff = *a != '\0' ? a : global;

		if (strcmp(eff, "shared") != 0) {
			*why_ret = g_strdup_printf("NUMA cell %u memAccess '%s'", i, eff);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean hv_libvirt_check_xml(const char *xml, HvLibvirtDump *dump_ret, GPtrArray *reasons,
			      GError **error)
{
	static const GMarkupParser parser = {
		.start_element = scan_start,
		.end_element = scan_end,
		.text = scan_text,
	};
	XmlScan s = { 0 };
	GMarkupParseContext *ctx;
	g_autofree char *why = NULL;
	const char *on_crash;
	gboolean ok;

	s.path = g_string_new(NULL);
	s.lens = g_array_new(FALSE, FALSE, sizeof(guint));
	s.cell_access = g_ptr_array_new_with_free_func(g_free);
	s.on_crash = g_string_new(NULL);
	ctx = g_markup_parse_context_new(&parser, G_MARKUP_PREFIX_ERROR_POSITION, &s, NULL);
	ok = g_markup_parse_context_parse(ctx, xml, -1, error) &&
	     g_markup_parse_context_end_parse(ctx, error);
	g_markup_parse_context_free(ctx);
	if (!ok) {
		g_prefix_error(error, "reading the domain XML: ");
		scan_clear(&s);
		return FALSE;
	}
	*dump_ret = HV_LIBVIRT_DUMP_YES;
	if (g_strcmp0(s.type, "qemu") != 0 && g_strcmp0(s.type, "kvm") != 0) {
		*dump_ret = HV_LIBVIRT_DUMP_NO;
		add_reason(reasons, "not a QEMU domain (type '%s'): hvdump dumps QEMU/KVM guests only",
			   s.type != NULL ? s.type : "?");
		scan_clear(&s);
		return TRUE; /* nothing else applies */
	}
	if (!ram_shared(&s, &why)) {
		*dump_ret = HV_LIBVIRT_DUMP_FALLBACK;
		add_reason(reasons,
			   "RAM not shared (%s): hvdump falls back to QEMU's dump-guest-memory "
			   "(slower, VM paused throughout); add " SHARE_XML, why);
	}
	if (!s.panic)
		add_reason(reasons,
			   "no pvpanic device%s%s%s: a guest panic does not reach the host (hvdumpd "
			   "cannot capture it; on-demand dumps still work); add <panic model='isa'>"
			   "<address type='isa' iobase='0x505'/></panic> to <devices>",
			   s.panic_model_other != NULL ? " (<panic model='" : "",
			   s.panic_model_other != NULL ? s.panic_model_other : "",
			   s.panic_model_other != NULL ? "'> is not one)" : "");
	if (!s.vmcoreinfo)
		add_reason(reasons,
			   "no vmcoreinfo device%s: QEMU's own dumps (the fallback) carry no VMCOREINFO, "
			   "which drgn and makedumpfile need; add <vmcoreinfo state='on'/> to <features>",
			   s.vmcoreinfo_off ? " (state='off')" : "");
	on_crash = s.has_on_crash ? g_strstrip(s.on_crash->str) : "destroy";
	if (strcmp(on_crash, "preserve") != 0)
		add_reason(reasons,
			   "on_crash is '%s'%s: libvirt acts on a panic before hvdump can dump the "
			   "guest; add <on_crash>preserve</on_crash>",
			   on_crash, s.has_on_crash ? "" : " (libvirt's default)");
	scan_clear(&s);
	return TRUE;
}

const char *hv_libvirt_dump_name(HvLibvirtDump dump)
{
	switch (dump) {
	case HV_LIBVIRT_DUMP_YES:
		return "yes";
	case HV_LIBVIRT_DUMP_FALLBACK:
		return "fallback";
	case HV_LIBVIRT_DUMP_NO:
		break;
	}
	return "no";
}

/* ---- domain info ------------------------------------------------------------ */

static const char *const state_names[] = {
	[VIR_DOMAIN_NOSTATE] = "no state",     [VIR_DOMAIN_RUNNING] = "running",
	[VIR_DOMAIN_BLOCKED] = "idle",         [VIR_DOMAIN_PAUSED] = "paused",
	[VIR_DOMAIN_SHUTDOWN] = "in shutdown", [VIR_DOMAIN_SHUTOFF] = "shut off",
	[VIR_DOMAIN_CRASHED] = "crashed",      [VIR_DOMAIN_PMSUSPENDED] = "pmsuspended",
};

static const char *const running_reasons[] = {
	NULL, "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled",
	"save canceled", "event wakeup", "crashed", "post-copy", "post-copy failed",
};
static const char *const paused_reasons[] = {
	NULL, "user", "migrating", "saving", "dumping", "I/O error", "watchdog", "from snapshot",
	"shutting down", "creating snapshot", "crashed", "starting up", "post-copy",
	"post-copy failed",
};
static const char *const shutdown_reasons[] = { NULL, "user" };
static const char *const shutoff_reasons[] = {
	NULL, "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot",
	"daemon",
};
static const char *const crashed_reasons[] = { NULL, "panicked" };

static char *state_text(int state, int reason)
{
	const char *const *table = NULL;
	gsize n = 0;
	const char *s = state >= 0 && (gsize)state < G_N_ELEMENTS(state_names) ? state_names[state] :
											  "unknown state";
	const char *r = NULL;

	switch (state) {
	case VIR_DOMAIN_RUNNING:
		table = running_reasons, n = G_N_ELEMENTS(running_reasons);
		break;
	case VIR_DOMAIN_PAUSED:
		table = paused_reasons, n = G_N_ELEMENTS(paused_reasons);
		break;
	case VIR_DOMAIN_SHUTDOWN:
		table = shutdown_reasons, n = G_N_ELEMENTS(shutdown_reasons);
		break;
	case VIR_DOMAIN_SHUTOFF:
		table = shutoff_reasons, n = G_N_ELEMENTS(shutoff_reasons);
		break;
	case VIR_DOMAIN_CRASHED:
		table = crashed_reasons, n = G_N_ELEMENTS(crashed_reasons);
		break;
	default:
		break;
	}
	if (table != NULL && reason > 0 && (gsize)reason < n)
		r = table[reason];
	return r != NULL ? g_strdup_printf("%s (%s)", s, r) : g_strdup(s);
}

void hv_libvirt_domain_info_clear(HvLibvirtDomainInfo *info)
{
	g_free(info->name);
	g_free(info->uuid);
	g_free(info->state_text);
	if (info->reasons != NULL)
		g_ptr_array_unref(info->reasons);
	memset(info, 0, sizeof(*info));
}

void hv_libvirt_domain_info_free(HvLibvirtDomainInfo *info)
{
	if (info == NULL)
		return;
	hv_libvirt_domain_info_clear(info);
	g_free(info);
}

static gboolean info_from_domain(virDomainPtr dom, HvLibvirtDomainInfo *info, GError **error)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	g_autoptr(GError) xml_error = NULL;
	const char *name = virDomainGetName(dom);
	unsigned int id;
	char *xml;
	int active;

	memset(info, 0, sizeof(*info));
	info->reasons = g_ptr_array_new_with_free_func(g_free);
	if (name == NULL || virDomainGetUUIDString(dom, uuid) < 0 ||
	    virDomainGetState(dom, &info->state, &info->reason, 0) < 0 ||
	    (active = virDomainIsActive(dom)) < 0) {
		set_lv_error(error, "reading domain '%s'", name != NULL ? name : "?");
		hv_libvirt_domain_info_clear(info);
		return FALSE;
	}
	info->name = hv_printable_dup(name);
	info->uuid = g_strdup(uuid);
	info->active = active == 1;
	id = virDomainGetID(dom);
	info->id = info->active && id != (unsigned int)-1 && id <= G_MAXINT ? (int)id : -1;
	info->state_text = state_text(info->state, info->reason);
	if (!info->active)
		add_reason(info->reasons, "not running: nothing to dump (virsh start %s)", info->name);
	/* the live XML of a running domain says what QEMU really got */
	xml = virDomainGetXMLDesc(dom, 0);
	if (xml == NULL) {
		g_autofree char *msg = last_error();

		info->dump = HV_LIBVIRT_DUMP_NO;
		add_reason(info->reasons, "cannot read the domain XML: %s", msg);
		return TRUE;
	}
	if (!hv_libvirt_check_xml(xml, &info->dump, info->reasons, &xml_error)) {
		info->dump = HV_LIBVIRT_DUMP_NO;
		add_reason(info->reasons, "%s", xml_error->message);
	}
	free(xml);
	if (!info->active)
		info->dump = HV_LIBVIRT_DUMP_NO;
	return TRUE;
}

gboolean hv_libvirt_domain_info(HvLibvirt *lv, const char *domain, HvLibvirtDomainInfo *info_ret,
				GError **error)
{
	virDomainPtr dom = lookup(lv, domain, error);
	gboolean ok;

	memset(info_ret, 0, sizeof(*info_ret));
	if (dom == NULL)
		return FALSE;
	ok = info_from_domain(dom, info_ret, error);
	virDomainFree(dom);
	return ok;
}

static gint cmp_info(gconstpointer a, gconstpointer b)
{
	const HvLibvirtDomainInfo *x = *(HvLibvirtDomainInfo *const *)a;
	const HvLibvirtDomainInfo *y = *(HvLibvirtDomainInfo *const *)b;

	if (x->active != y->active)
		return x->active ? -1 : 1;
	if (x->active && x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return g_strcmp0(x->name, y->name);
}

GPtrArray *hv_libvirt_list(HvLibvirt *lv, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
		(GDestroyNotify)hv_libvirt_domain_info_free);
	virDomainPtr *doms = NULL;
	int n, i;

	n = virConnectListAllDomains(lv->conn, &doms, 0);
	if (n < 0) {
		set_lv_error(error, "listing libvirt domains at %s", lv->uri);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		HvLibvirtDomainInfo *info = g_new0(HvLibvirtDomainInfo, 1);

		/* a domain that vanished meanwhile is not listed */
		if (info_from_domain(doms[i], info, NULL))
			g_ptr_array_add(out, info);
		else
			g_free(info);
		virDomainFree(doms[i]);
	}
	free(doms);
	virResetLastError();
	g_ptr_array_sort(out, cmp_info);
	return g_steal_pointer(&out);
}

/* ---- events ------------------------------------------------------------------
 * One process-wide thread runs libvirt's default event loop while any watch
 * exists; libvirt calls our callbacks there, and they only queue an idle
 * source on the watch's GMainContext (what g_main_context_invoke_full does
 * for a context that thread does not own, but never calling in place). */

typedef struct Watch {
	gint ref;
	gint active;
	GMainContext *ctx;
	HvLibvirtEventFunc func;
	gpointer data;
} Watch;

static Watch *watch_ref(Watch *w)
{
	g_atomic_int_inc(&w->ref);
	return w;
}

static void watch_unref(gpointer p)
{
	Watch *w = p;

	if (!g_atomic_int_dec_and_test(&w->ref))
		return;
	g_main_context_unref(w->ctx);
	g_free(w);
}

static GMutex loop_lock;
static guint loop_users;
static GThread *loop_thread;
static gint loop_quit;

static gpointer loop_main(gpointer data)
{
	(void)data;
	while (!g_atomic_int_get(&loop_quit))
		if (virEventRunDefaultImpl() < 0)
			g_usleep(100 * 1000); /* never spin */
	return NULL;
}

static void loop_wake(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

static gboolean loop_start(GError **error)
{
	gboolean ok = TRUE;

	g_mutex_lock(&loop_lock);
	if (loop_users == 0) {
		g_atomic_int_set(&loop_quit, 0);
		loop_thread = g_thread_try_new("hvdump-libvirt-events", loop_main, NULL, error);
		ok = loop_thread != NULL;
	}
	if (ok)
		loop_users++;
	g_mutex_unlock(&loop_lock);
	return ok;
}

static void loop_stop(void)
{
	g_mutex_lock(&loop_lock);
	if (loop_users > 0 && --loop_users == 0) {
		int timer;

		g_atomic_int_set(&loop_quit, 1);
		/* a timer added from another thread interrupts the loop's poll */
		timer = virEventAddTimeout(0, loop_wake, NULL, NULL);
		g_thread_join(loop_thread);
		loop_thread = NULL;
		if (timer >= 0)
			virEventRemoveTimeout(timer);
	}
	g_mutex_unlock(&loop_lock);
}

typedef struct {
	Watch *w;
	char *name;
	char *uuid;
	HvLibvirtEvent ev;
} Delivery;

static gboolean deliver(gpointer data)
{
	Delivery *d = data;

	if (g_atomic_int_get(&d->w->active))
		d->w->func(d->name, d->uuid, d->ev, d->w->data);
	return G_SOURCE_REMOVE;
}

static void delivery_free(gpointer data)
{
	Delivery *d = data;

	watch_unref(d->w);
	g_free(d->name);
	g_free(d->uuid);
	g_free(d);
}

static void post(Watch *w, const char *name, const char *uuid, HvLibvirtEvent ev)
{
	Delivery *d = g_new0(Delivery, 1);
	GSource *src = g_idle_source_new();

	d->w = watch_ref(w);
	d->name = g_strdup(name);
	d->uuid = g_strdup(uuid);
	d->ev = ev;
	g_source_set_priority(src, G_PRIORITY_DEFAULT);
	g_source_set_callback(src, deliver, d, delivery_free);
	g_source_set_name(src, "hvdump libvirt event");
	g_source_attach(src, w->ctx);
	g_source_unref(src);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	Watch *w = opaque;
	char uuid[VIR_UUID_STRING_BUFLEN];
	HvLibvirtEvent ev;

	(void)conn;
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
		ev = HV_LIBVIRT_EVENT_STARTED;
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		ev = HV_LIBVIRT_EVENT_STOPPED;
		break;
	case VIR_DOMAIN_EVENT_CRASHED:
		ev = detail == VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED ? HV_LIBVIRT_EVENT_CRASHED_CRASHLOADED :
								      HV_LIBVIRT_EVENT_CRASHED_PANICKED;
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		ev = HV_LIBVIRT_EVENT_SUSPENDED;
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		ev = HV_LIBVIRT_EVENT_RESUMED;
		break;
	default:
		return 0; /* defined, undefined, shutdown (STOPPED follows), pmsuspended */
	}
	if (!g_atomic_int_get(&w->active) || virDomainGetUUIDString(dom, uuid) < 0)
		return 0;
	post(w, virDomainGetName(dom), uuid, ev);
	return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	Watch *w = opaque;

	(void)conn;
	(void)reason;
	if (g_atomic_int_get(&w->active))
		post(w, NULL, NULL, HV_LIBVIRT_EVENT_CLOSED);
}

gboolean hv_libvirt_watch(HvLibvirt *lv, GMainContext *ctx, HvLibvirtEventFunc func,
			  gpointer data, GError **error)
{
	Watch *w;

	if (lv->watch != NULL) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED, "already watching %s", lv->uri);
		return FALSE;
	}
	if (!event_impl_ok) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "libvirt's event loop could not be registered");
		return FALSE;
	}
	if (!loop_start(error)) {
		g_prefix_error(error, "starting libvirt's event thread: ");
		return FALSE;
	}
	w = g_new0(Watch, 1);
	w->ref = 1;
	w->active = 1;
	w->ctx = g_main_context_ref(ctx != NULL ? ctx : g_main_context_default());
	w->func = func;
	w->data = data;
	/* libvirt holds a reference per callback and drops it (freecb) once it
	 * is done with it; a failed registration does not call freecb */
	lv->lifecycle_id = virConnectDomainEventRegisterAny(
		lv->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
		watch_ref(w), watch_unref);
	if (lv->lifecycle_id < 0) {
		set_lv_error(error, "watching domain events at %s", lv->uri);
		watch_unref(w);
		goto fail;
	}
	if (virConnectRegisterCloseCallback(lv->conn, on_close, watch_ref(w), watch_unref) < 0) {
		set_lv_error(error, "watching the connection to %s", lv->uri);
		watch_unref(w);
		virConnectDomainEventDeregisterAny(lv->conn, lv->lifecycle_id);
		lv->lifecycle_id = -1;
		goto fail;
	}
	lv->watch = w;
	return TRUE;
fail:
	g_atomic_int_set(&w->active, 0);
	watch_unref(w);
	loop_stop();
	return FALSE;
}

void hv_libvirt_unwatch(HvLibvirt *lv)
{
	Watch *w = lv->watch;

	if (w == NULL)
		return;
	lv->watch = NULL;
	g_atomic_int_set(&w->active, 0);
	virConnectDomainEventDeregisterAny(lv->conn, lv->lifecycle_id);
	lv->lifecycle_id = -1;
	virConnectUnregisterCloseCallback(lv->conn, on_close);
	virResetLastError();
	loop_stop();
	watch_unref(w);
}

const char *hv_libvirt_event_name(HvLibvirtEvent ev)
{
	switch (ev) {
	case HV_LIBVIRT_EVENT_STARTED:
		return "started";
	case HV_LIBVIRT_EVENT_STOPPED:
		return "stopped";
	case HV_LIBVIRT_EVENT_CRASHED_PANICKED:
		return "crashed-panicked";
	case HV_LIBVIRT_EVENT_CRASHED_CRASHLOADED:
		return "crashed-crashloaded";
	case HV_LIBVIRT_EVENT_SUSPENDED:
		return "suspended";
	case HV_LIBVIRT_EVENT_RESUMED:
		return "resumed";
	case HV_LIBVIRT_EVENT_CLOSED:
		break;
	}
	return "closed";
}
