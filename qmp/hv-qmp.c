/* hv-qmp.c — synchronous QMP client; see hv-qmp.h. */
#include "hv-qmp.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

G_DEFINE_QUARK(hv-qmp-error-quark, hv_qmp_error)

#define HV_QMP_MAX_DEPTH 64

struct HvQmp {
	int fd;
	pid_t peer_pid;
	json_tokener *tok;
	GByteArray *inbuf;      /* bytes read but not yet parsed */
	gsize scanned;          /* inbuf bytes known to hold no newline */
	GQueue events;          /* json_object * */
	guint64 next_id;
	int version[3];
	gboolean broken;        /* a protocol error poisons the session */
	GCancellable *cancellable; /* interrupts every wait when cancelled */
	int cancel_fd;             /* its fd, or -1 */
};

const char *hv_json_get_string(json_object *obj, const char *key)
{
	json_object *v;

	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

gboolean hv_json_get_int64(json_object *obj, const char *key, gint64 *value_ret)
{
	json_object *v;

	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return FALSE;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_int))
		return FALSE;
	*value_ret = json_object_get_int64(v);
	return TRUE;
}

gboolean hv_json_get_bool(json_object *obj, const char *key, gboolean *value_ret)
{
	json_object *v;

	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return FALSE;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_boolean))
		return FALSE;
	*value_ret = json_object_get_boolean(v);
	return TRUE;
}

char *hv_printable_dup(const char *s)
{
	GString *out = g_string_sized_new(s != NULL ? strlen(s) : 0);
	const char *p = s, *end;

	if (s == NULL)
		return g_string_free(out, FALSE);
	end = s + strlen(s);
	while (p < end) {
		gunichar c = g_utf8_get_char_validated(p, end - p);

		if (out->len >= HV_PRINTABLE_MAX) {
			g_string_append(out, "...");
			break;
		}
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			g_string_append_c(out, '?');
			p++;
			continue;
		}
		if (g_unichar_iscntrl(c) || !g_unichar_isprint(c) ||
		    g_unichar_type(c) == G_UNICODE_LINE_SEPARATOR ||
		    g_unichar_type(c) == G_UNICODE_PARAGRAPH_SEPARATOR)
			g_string_append_c(out, '?');
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
		p = g_utf8_next_char(p);
	}
	return g_string_free(out, FALSE);
}

static gint64 deadline_from(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : g_get_monotonic_time() / 1000 + timeout_ms;
}

static int remaining_ms(gint64 deadline)
{
	gint64 now;

	if (deadline < 0)
		return -1;
	now = g_get_monotonic_time() / 1000;
	return now >= deadline ? 0 : (int)MIN(deadline - now, G_MAXINT);
}

/* QMP frames each message as one line (QEMU escapes newlines inside
 * strings). Returns the next complete message (new ref), NULL with *error
 * unset when more bytes are needed, or NULL with *error. */
static json_object *parse_buffered(HvQmp *qmp, GError **error)
{
	for (;;) {
		guint8 *nl;
		gsize len, used;
		json_object *obj;
		enum json_tokener_error jerr;

		if (qmp->inbuf->len == 0)
			return NULL;
		nl = memchr(qmp->inbuf->data + qmp->scanned, '\n',
			    qmp->inbuf->len - qmp->scanned);

		if (nl == NULL) {
			qmp->scanned = qmp->inbuf->len;
			if (qmp->inbuf->len > HV_QMP_MAX_MESSAGE) {
				qmp->broken = TRUE;
				g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
					    "QMP message larger than %u bytes", HV_QMP_MAX_MESSAGE);
			}
			return NULL;
		}
		qmp->scanned = 0;
		len = (gsize)(nl - qmp->inbuf->data);
		if (len > HV_QMP_MAX_MESSAGE) {
			qmp->broken = TRUE;
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
				    "QMP message larger than %u bytes", HV_QMP_MAX_MESSAGE);
			return NULL;
		}
		while (len > 0 && g_ascii_isspace(qmp->inbuf->data[len - 1]))
			len--;
		if (len == 0) {
			g_byte_array_remove_range(qmp->inbuf, 0, (guint)(nl - qmp->inbuf->data) + 1);
			continue;
		}
		json_tokener_reset(qmp->tok);
		obj = json_tokener_parse_ex(qmp->tok, (const char *)qmp->inbuf->data, (int)len);
		jerr = json_tokener_get_error(qmp->tok);
		used = json_tokener_get_parse_end(qmp->tok);
		g_byte_array_remove_range(qmp->inbuf, 0, (guint)(nl - qmp->inbuf->data) + 1);
		if (obj == NULL || jerr != json_tokener_success || used != len) {
			if (obj != NULL)
				json_object_put(obj);
			qmp->broken = TRUE;
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
				    "malformed JSON from QMP peer: %s",
				    obj == NULL && jerr == json_tokener_continue ? "incomplete message" :
				    obj != NULL ? "trailing bytes after the message" :
				    json_tokener_error_desc(jerr));
			return NULL;
		}
		if (!json_object_is_type(obj, json_type_object)) {
			json_object_put(obj);
			qmp->broken = TRUE;
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
				    "QMP peer sent a JSON value that is not an object");
			return NULL;
		}
		return obj;
	}
}

/* Reads one complete message, waiting until deadline. */
static json_object *read_message(HvQmp *qmp, gint64 deadline, GError **error)
{
	guint8 buf[65536];

	if (qmp->broken) {
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
			    "QMP session is unusable after an earlier protocol error");
		return NULL;
	}
	for (;;) {
		GError *perr = NULL;
		json_object *obj = parse_buffered(qmp, &perr);
		struct pollfd pfd[2] = { { .fd = qmp->fd, .events = POLLIN },
					 { .fd = -1, .events = POLLIN } };
		ssize_t n;
		int rc;

		if (obj != NULL)
			return obj;
		if (perr != NULL) {
			g_propagate_error(error, perr);
			return NULL;
		}
		if (g_cancellable_set_error_if_cancelled(qmp->cancellable, error))
			return NULL;
		pfd[1].fd = qmp->cancel_fd;
		rc = poll(pfd, 2, remaining_ms(deadline));
		if (g_cancellable_set_error_if_cancelled(qmp->cancellable, error))
			return NULL;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_IO, "poll on QMP socket: %s",
				    g_strerror(errno));
			return NULL;
		}
		if (rc == 0) {
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT,
				    "timed out waiting for QMP");
			return NULL;
		}
		n = read(qmp->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_IO, "reading QMP socket: %s",
				    g_strerror(errno));
			return NULL;
		}
		if (n == 0) {
			qmp->broken = TRUE;
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CLOSED,
				    "QMP connection closed by peer");
			return NULL;
		}
		g_byte_array_append(qmp->inbuf, buf, (guint)n);
	}
}

static void queue_event(HvQmp *qmp, json_object *obj)
{
	g_queue_push_tail(&qmp->events, obj);
	while (qmp->events.length > HV_QMP_MAX_QUEUED_EVENTS)
		json_object_put(g_queue_pop_head(&qmp->events));
}

/* Sends data; pass_fd >= 0 travels with the first bytes (SCM_RIGHTS). */
static gboolean send_all(HvQmp *qmp, const char *data, gsize len, int pass_fd, GError **error)
{
	while (len > 0) {
		ssize_t n;

		if (pass_fd >= 0) {
			union {
				char buf[CMSG_SPACE(sizeof(int))];
				struct cmsghdr align;
			} u;
			struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
					     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
			n = sendmsg(qmp->fd, &mh, MSG_NOSIGNAL);
			if (n > 0)
				pass_fd = -1;
		} else {
			n = send(qmp->fd, data, len, MSG_NOSIGNAL);
		}

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET) {
				qmp->broken = TRUE;
				g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CLOSED,
					    "QMP connection closed by peer");
			} else {
				g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_IO,
					    "writing QMP socket: %s", g_strerror(errno));
			}
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static json_object *execute_raw(HvQmp *qmp, const char *command, json_object *args,
				int pass_fd, int timeout_ms, GError **error)
{
	g_autofree char *id = g_strdup_printf("hvdump-%" G_GUINT64_FORMAT, qmp->next_id++);
	json_object *req = json_object_new_object();
	gint64 deadline = deadline_from(timeout_ms);
	const char *text;
	g_autofree char *line = NULL;

	json_object_object_add(req, "execute", json_object_new_string(command));
	if (args != NULL)
		json_object_object_add(req, "arguments", args);
	json_object_object_add(req, "id", json_object_new_string(id));
	if (g_cancellable_set_error_if_cancelled(qmp->cancellable, error)) {
		json_object_put(req);
		return NULL;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	line = g_strconcat(text, "\r\n", NULL);
	json_object_put(req);
	if (!send_all(qmp, line, strlen(line), pass_fd, error))
		return NULL;

	for (;;) {
		json_object *msg = read_message(qmp, deadline, error);
		GError *local = NULL;
		json_object *v;
		const char *rid;

		if (msg == NULL) {
			if (error != NULL && *error != NULL && (*error)->code == HV_QMP_ERROR_TIMEOUT)
				g_prefix_error(error, "%s: ", command);
			return NULL;
		}
		if (json_object_object_get_ex(msg, "event", NULL)) {
			queue_event(qmp, msg);
			continue;
		}
		rid = hv_json_get_string(msg, "id");
		if (rid == NULL || strcmp(rid, id) != 0) {
			/* an answer to an earlier, timed-out command */
			json_object_put(msg);
			continue;
		}
		v = hv_qmp_answer_return(msg, command, &local);
		/* an answer that is neither: the session can no longer be trusted */
		if (v == NULL && local->code == HV_QMP_ERROR_PROTOCOL)
			qmp->broken = TRUE;
		if (v == NULL)
			g_propagate_error(error, local);
		return v;
	}
}

json_object *hv_qmp_answer_return(json_object *msg, const char *command, GError **error)
{
	json_object *v;

	if (json_object_object_get_ex(msg, "return", &v)) {
		json_object_get(v);
		json_object_put(msg);
		return v;
	}
	if (json_object_object_get_ex(msg, "error", &v)) {
		g_autofree char *cls = hv_printable_dup(hv_json_get_string(v, "class"));
		g_autofree char *desc = hv_printable_dup(hv_json_get_string(v, "desc"));

		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_COMMAND, "%s: %s%s%s", command,
			    desc[0] ? desc : "error", cls[0] ? " " : "", cls);
		json_object_put(msg);
		return NULL;
	}
	json_object_put(msg);
	g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
		    "%s: QMP answer has neither return nor error", command);
	return NULL;
}

json_object *hv_qmp_execute(HvQmp *qmp, const char *command, json_object *args,
			    int timeout_ms, GError **error)
{
	return execute_raw(qmp, command, args, -1, timeout_ms, error);
}

json_object *hv_qmp_execute_with_fd(HvQmp *qmp, const char *command, json_object *args,
				    int fd, int timeout_ms, GError **error)
{
	return execute_raw(qmp, command, args, fd, timeout_ms, error);
}

char *hv_qmp_hmp(HvQmp *qmp, const char *command_line, int timeout_ms, GError **error)
{
	json_object *args = json_object_new_object();
	json_object *ret;
	char *out;

	json_object_object_add(args, "command-line", json_object_new_string(command_line));
	ret = hv_qmp_execute(qmp, "human-monitor-command", args, timeout_ms, error);
	if (ret == NULL)
		return NULL;
	if (!json_object_is_type(ret, json_type_string)) {
		json_object_put(ret);
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
			    "human-monitor-command '%s' returned no text", command_line);
		return NULL;
	}
	out = g_strdup(json_object_get_string(ret));
	json_object_put(ret);
	return out;
}

json_object *hv_qmp_next_event(HvQmp *qmp, int timeout_ms, GError **error)
{
	gint64 deadline = deadline_from(timeout_ms);

	for (;;) {
		json_object *msg;

		if (!g_queue_is_empty(&qmp->events))
			return g_queue_pop_head(&qmp->events);
		msg = read_message(qmp, deadline, error);
		if (msg == NULL)
			return NULL;
		if (json_object_object_get_ex(msg, "event", NULL))
			return msg;
		json_object_put(msg); /* stale command answer */
	}
}

gboolean hv_qmp_wait_event(HvQmp *qmp, const char *name, int timeout_ms,
			   json_object **event_ret, GError **error)
{
	gint64 deadline = deadline_from(timeout_ms);

	for (;;) {
		json_object *ev = hv_qmp_next_event(qmp, remaining_ms(deadline), error);
		const char *ename;

		if (ev == NULL) {
			if (error != NULL && *error != NULL && (*error)->code == HV_QMP_ERROR_TIMEOUT)
				g_prefix_error(error, "waiting for %s: ", name);
			return FALSE;
		}
		ename = hv_json_get_string(ev, "event");
		if (ename != NULL && strcmp(ename, name) == 0) {
			if (event_ret != NULL)
				*event_ret = ev;
			else
				json_object_put(ev);
			return TRUE;
		}
		json_object_put(ev);
	}
}

guint hv_qmp_pending_events(HvQmp *qmp)
{
	/* complete messages that arrived with an earlier read count too: a poll()
	 * on the socket will not report them */
	while (!qmp->broken) {
		GError *e = NULL;
		json_object *msg = parse_buffered(qmp, &e);

		if (msg == NULL) {
			g_clear_error(&e);
			break;
		}
		if (json_object_object_get_ex(msg, "event", NULL))
			queue_event(qmp, msg);
		else
			json_object_put(msg); /* stale command answer */
	}
	return qmp->events.length;
}

int hv_qmp_get_fd(HvQmp *qmp)
{
	return qmp->fd;
}

pid_t hv_qmp_get_peer_pid(HvQmp *qmp)
{
	return qmp->peer_pid;
}

void hv_qmp_get_version(HvQmp *qmp, int *major_ret, int *minor_ret, int *micro_ret)
{
	*major_ret = qmp->version[0];
	*minor_ret = qmp->version[1];
	*micro_ret = qmp->version[2];
}

void hv_qmp_set_cancellable(HvQmp *qmp, GCancellable *cancellable)
{
	if (qmp->cancellable != NULL) {
		if (qmp->cancel_fd >= 0)
			g_cancellable_release_fd(qmp->cancellable);
		g_object_unref(qmp->cancellable);
	}
	qmp->cancellable = cancellable != NULL ? g_object_ref(cancellable) : NULL;
	qmp->cancel_fd = cancellable != NULL ? g_cancellable_get_fd(cancellable) : -1;
}

void hv_qmp_free(HvQmp *qmp)
{
	if (qmp == NULL)
		return;
	hv_qmp_set_cancellable(qmp, NULL);
	if (qmp->fd >= 0)
		close(qmp->fd);
	if (qmp->tok != NULL)
		json_tokener_free(qmp->tok);
	if (qmp->inbuf != NULL)
		g_byte_array_unref(qmp->inbuf);
	while (!g_queue_is_empty(&qmp->events))
		json_object_put(g_queue_pop_head(&qmp->events));
	g_free(qmp);
}

static gboolean read_greeting(HvQmp *qmp, int timeout_ms, GError **error)
{
	g_autoptr(GError) local = NULL;
	json_object *msg = read_message(qmp, deadline_from(timeout_ms), &local);
	json_object *q, *ver, *qemu;
	gint64 v;

	if (msg == NULL) {
		if (local->code == HV_QMP_ERROR_TIMEOUT)
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
				    "not a QMP socket: no greeting within %d ms (QEMU serves one "
				    "client per QMP socket: is another one connected?)", timeout_ms);
		else if (local->code == HV_QMP_ERROR_CLOSED)
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
				    "not a QMP socket: peer closed the connection without a greeting");
		else
			g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
				    "not a QMP socket: %s", local->message);
		return FALSE;
	}
	if (!json_object_object_get_ex(msg, "QMP", &q) || !json_object_is_type(q, json_type_object)) {
		json_object_put(msg);
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL,
			    "not a QMP socket: greeting has no \"QMP\" object");
		return FALSE;
	}
	if (json_object_object_get_ex(q, "version", &ver) &&
	    json_object_object_get_ex(ver, "qemu", &qemu)) {
		if (hv_json_get_int64(qemu, "major", &v))
			qmp->version[0] = (int)CLAMP(v, 0, 1000);
		if (hv_json_get_int64(qemu, "minor", &v))
			qmp->version[1] = (int)CLAMP(v, 0, 1000);
		if (hv_json_get_int64(qemu, "micro", &v))
			qmp->version[2] = (int)CLAMP(v, 0, 1000);
	}
	json_object_put(msg);
	return TRUE;
}

static HvQmp *qmp_new(int fd, int timeout_ms, GCancellable *cancellable, GError **error)
{
	g_autoptr(HvQmp) qmp = g_new0(HvQmp, 1);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	json_object *ret;

	qmp->fd = fd;
	qmp->cancel_fd = -1;
	qmp->peer_pid = -1;
	qmp->inbuf = g_byte_array_new();
	qmp->tok = json_tokener_new_ex(HV_QMP_MAX_DEPTH);
	json_tokener_set_flags(qmp->tok, JSON_TOKENER_STRICT);
	g_queue_init(&qmp->events);
	qmp->next_id = 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0)
		qmp->peer_pid = cred.pid;
	hv_qmp_set_cancellable(qmp, cancellable);

	if (!read_greeting(qmp, timeout_ms, error))
		return NULL;
	ret = execute_raw(qmp, "qmp_capabilities", NULL, -1, timeout_ms, error);
	if (ret == NULL) {
		g_prefix_error(error, "QMP negotiation: ");
		return NULL;
	}
	json_object_put(ret);
	return g_steal_pointer(&qmp);
}

HvQmp *hv_qmp_new_from_fd(int fd, int timeout_ms, GError **error)
{
	return qmp_new(fd, timeout_ms, NULL, error);
}

HvQmp *hv_qmp_connect_cancellable(const char *path, int timeout_ms, GCancellable *cancellable,
				  GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CONNECT,
			    "QMP socket path too long: %s", path);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CONNECT, "socket: %s",
			    g_strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		g_set_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CONNECT,
			    "cannot connect to QMP socket %s: %s", path, g_strerror(e));
		return NULL;
	}
	return qmp_new(fd, timeout_ms, cancellable, error);
}

HvQmp *hv_qmp_connect(const char *path, int timeout_ms, GError **error)
{
	return hv_qmp_connect_cancellable(path, timeout_ms, NULL, error);
}
