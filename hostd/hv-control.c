/* hv-control.c — hvdumpd's control socket; see hv-control.h. */
#include "hv-control.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv-error.h"

#define READ_CHUNK 4096
#define REQUEST_TIMEOUT_S 10

struct HvControl {
	GSocketService *service;
	char *path;
	HvControlHandler handler;
	HvControlRefused refused;
	gpointer data;
};

struct HvControlRequest {
	GSocketConnection *conn;
	GString *buf;
	char chunk[READ_CHUNK];
	HvControl *ctl;
	GSource *timeout;
	gboolean handled;
};

static void request_free(HvControlRequest *r)
{
	if (r->timeout != NULL) {
		g_source_destroy(r->timeout);
		g_source_unref(r->timeout);
	}
	g_io_stream_close(G_IO_STREAM(r->conn), NULL, NULL);
	g_object_unref(r->conn);
	g_string_free(r->buf, TRUE);
	g_free(r);
}

static void send_line(GSocketConnection *conn, json_object *answer)
{
	const char *text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE);
	GSocket *s = g_socket_connection_get_socket(conn);
	g_autofree char *line = g_strconcat(text, "\n", NULL);

	/* the answer is small; a peer that does not read loses it */
	g_socket_set_blocking(s, FALSE);
	g_socket_send(s, line, strlen(line), NULL, NULL);
}

void hv_control_reply(HvControlRequest *req, json_object *answer)
{
	send_line(req->conn, answer);
	json_object_put(answer);
	request_free(req);
}

static json_object *error_answer(const char *text)
{
	json_object *a = json_object_new_object();

	json_object_object_add(a, "ok", json_object_new_boolean(FALSE));
	json_object_object_add(a, "error", json_object_new_string(text));
	return a;
}

static void read_more(HvControlRequest *r);

static void on_read(GObject *obj, GAsyncResult *ar, gpointer data)
{
	HvControlRequest *r = data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(obj), ar, NULL);
	const char *nl;
	json_object *msg;

	if (n <= 0) {
		request_free(r);
		return;
	}
	g_string_append_len(r->buf, r->chunk, n);
	nl = memchr(r->buf->str, '\n', r->buf->len);
	if (nl == NULL) {
		if (r->buf->len > HV_CONTROL_MAX_LINE) {
			hv_control_reply(r, error_answer("request too long"));
			return;
		}
		read_more(r);
		return;
	}
	g_string_truncate(r->buf, (gsize)(nl - r->buf->str));
	msg = json_tokener_parse(r->buf->str);
	if (msg == NULL || !json_object_is_type(msg, json_type_object)) {
		json_object_put(msg);
		hv_control_reply(r, error_answer("request is not a JSON object"));
		return;
	}
	/* the handler answers now or later; the read timeout no longer applies */
	if (r->timeout != NULL) {
		g_source_destroy(r->timeout);
		g_clear_pointer(&r->timeout, g_source_unref);
	}
	r->handled = TRUE;
	r->ctl->handler(r, msg, r->ctl->data);
	json_object_put(msg);
}

static void read_more(HvControlRequest *r)
{
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(r->conn));

	g_input_stream_read_async(in, r->chunk, sizeof(r->chunk), G_PRIORITY_DEFAULT, NULL, on_read, r);
}

static gboolean on_request_timeout(gpointer data)
{
	HvControlRequest *r = data;

	/* closing makes the pending read finish, which frees the request */
	g_clear_pointer(&r->timeout, g_source_unref);
	g_io_stream_close(G_IO_STREAM(r->conn), NULL, NULL);
	return G_SOURCE_REMOVE;
}

static gboolean on_incoming(GSocketService *svc, GSocketConnection *conn, GObject *src,
			    gpointer data)
{
	HvControl *c = data;
	GSocket *s = g_socket_connection_get_socket(conn);
	g_autoptr(GCredentials) cred = g_socket_get_credentials(s, NULL);
	uid_t uid = cred ? g_credentials_get_unix_user(cred, NULL) : (uid_t)-1;
	HvControlRequest *r;

	(void)svc;
	(void)src;
	if (uid != 0) {
		json_object *a = error_answer("permission denied: hvdumpd answers root only");

		send_line(conn, a);
		json_object_put(a);
		if (c->refused != NULL)
			c->refused(uid, cred ? g_credentials_get_unix_pid(cred, NULL) : -1, c->data);
		g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
		return TRUE;
	}
	r = g_new0(HvControlRequest, 1);
	r->conn = g_object_ref(conn);
	r->buf = g_string_new(NULL);
	r->ctl = c;
	r->timeout = g_timeout_source_new_seconds(REQUEST_TIMEOUT_S);
	g_source_set_callback(r->timeout, on_request_timeout, r, NULL);
	g_source_attach(r->timeout, g_main_context_get_thread_default());
	read_more(r);
	return TRUE;
}

HvControl *hv_control_new(const char *path, HvControlHandler handler, HvControlRefused refused,
			  gpointer data, GError **error)
{
	g_autoptr(GSocketAddress) addr = NULL;
	g_autofree char *dir = g_path_get_dirname(path);
	HvControl *c;
	struct stat st;

	if (g_mkdir_with_parents(dir, 0700) < 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
		return NULL;
	}
	/* a socket left by a daemon that was killed; nothing else is removed */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			g_set_error(error, HV_ERROR, HV_ERROR_EXISTS,
				    "control socket %s exists and is not a socket", path);
			return NULL;
		}
		unlink(path);
	}
	c = g_new0(HvControl, 1);
	c->path = g_strdup(path);
	c->handler = handler;
	c->refused = refused;
	c->data = data;
	c->service = g_socket_service_new();
	addr = g_unix_socket_address_new(path);
	{
		mode_t old = umask(0177);
		gboolean ok = g_socket_listener_add_address(G_SOCKET_LISTENER(c->service), addr,
							    G_SOCKET_TYPE_STREAM,
							    G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error);

		umask(old);
		if (!ok) {
			g_prefix_error(error, "control socket %s: ", path);
			g_object_unref(c->service);
			g_free(c->path);
			g_free(c);
			return NULL;
		}
	}
	chmod(path, 0600);
	g_signal_connect(c->service, "incoming", G_CALLBACK(on_incoming), c);
	g_socket_service_start(c->service);
	return c;
}

void hv_control_free(HvControl *c)
{
	if (c == NULL)
		return;
	g_socket_service_stop(c->service);
	g_socket_listener_close(G_SOCKET_LISTENER(c->service));
	g_object_unref(c->service);
	unlink(c->path);
	g_free(c->path);
	g_free(c);
}

/* ---- client ------------------------------------------------------------- */

json_object *hv_control_call(const char *path, json_object *msg, int timeout_ms, GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_autofree char *line = NULL;
	GString *in = g_string_new(NULL);
	gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	json_object *answer = NULL;
	int fd;

	line = g_strconcat(json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN), "\n", NULL);
	json_object_put(msg);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "control socket path too long: %s", path);
		goto out;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot reach hvdumpd at %s: %s%s", path,
			    g_strerror(errno), errno == ENOENT || errno == ECONNREFUSED ?
			    " (is hvdumpd running?)" : "");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	/* a daemon that refuses us answers and closes before reading: its
	 * answer is still there to read when our write fails */
	(void)!send(fd, line, strlen(line), MSG_NOSIGNAL);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[READ_CHUNK];
		int wait = deadline < 0 ? -1 :
			   (int)MAX(0, (deadline - g_get_monotonic_time()) / 1000);
		ssize_t n;

		if (deadline >= 0 && wait == 0) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO, "hvdumpd did not answer in time");
			break;
		}
		if (poll(&p, 1, wait) < 0 && errno != EINTR) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO, "poll: %s", g_strerror(errno));
			break;
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO, "hvdumpd closed the connection");
			break;
		}
		g_string_append_len(in, buf, n);
		if (memchr(in->str, '\n', in->len) != NULL) {
			answer = json_tokener_parse(in->str);
			if (answer == NULL)
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "hvdumpd's answer is not JSON");
			break;
		}
		if (in->len > HV_CONTROL_MAX_LINE) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "hvdumpd's answer is too long");
			break;
		}
	}
	close(fd);
out:
	g_string_free(in, TRUE);
	return answer;
}
