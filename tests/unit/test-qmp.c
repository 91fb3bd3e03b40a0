/* test-qmp.c — the QMP client against a scripted fake peer (socketpair +
 * thread): framing, ids, events while a command is pending, HMP, timeouts,
 * closed sockets, non-QMP peers, malformed and oversized JSON. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv-qmp.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n"

typedef struct {
	int fd;
	const char *const *script; /* lines to send; "<" = read one request line first; "CLOSE" */
	GThread *thread;
	GString *received;
} Peer;

static gboolean read_line(int fd, GString *into)
{
	char c;

	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n <= 0)
			return FALSE;
		g_string_append_c(into, c);
		if (c == '\n')
			return TRUE;
	}
}

static gpointer peer_main(gpointer data)
{
	Peer *p = data;
	guint i;

	for (i = 0; p->script[i] != NULL; i++) {
		const char *s = p->script[i];

		if (strcmp(s, "<") == 0) {
			if (!read_line(p->fd, p->received))
				break;
		} else if (strcmp(s, "CLOSE") == 0) {
			break;
		} else if (g_str_has_prefix(s, "SLEEP")) {
			g_usleep(1000 * (gulong)atoi(s + 5));
		} else if (write(p->fd, s, strlen(s)) < 0) {
			break;
		}
	}
	shutdown(p->fd, SHUT_RDWR);
	close(p->fd);
	return NULL;
}

static Peer *peer_start(const char *const *script, int *client_fd)
{
	Peer *p = g_new0(Peer, 1);
	int sv[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	p->fd = sv[1];
	p->script = script;
	p->received = g_string_new(NULL);
	p->thread = g_thread_new("peer", peer_main, p);
	*client_fd = sv[0];
	return p;
}

static void peer_finish(Peer *p)
{
	g_thread_join(p->thread);
	g_string_free(p->received, TRUE);
	g_free(p);
}

#define CAPS_OK "{\"return\": {}, \"id\": \"hvdump-1\"}\r\n"

/* Negotiates with a scripted peer, runs one command, tears both down. */
static json_object *exec_against(const char *const *script, const char *command, int timeout_ms,
				 GError **error)
{
	int fd;
	Peer *p = peer_start(script, &fd);
	HvQmp *q = hv_qmp_new_from_fd(fd, 2000, NULL);
	json_object *ret;

	g_assert_nonnull(q);
	ret = hv_qmp_execute(q, command, NULL, timeout_ms, error);
	hv_qmp_free(q);
	peer_finish(p);
	return ret;
}

static void test_qmp_negotiates_and_runs_command(void)
{
	const char *script[] = { GREETING, "<", "{\"return\": {}, \"id\": \"hvdump-1\"}\r\n", "<",
				 "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": \"hvdump-2\"}\r\n",
				 NULL };
	g_autoptr(GError) error = NULL;
	int fd, maj, min, mic;
	Peer *p = peer_start(script, &fd);
	HvQmp *q = hv_qmp_new_from_fd(fd, 2000, &error);
	json_object *ret;
	gboolean running = FALSE;

	g_assert_no_error(error);
	g_assert_nonnull(q);
	hv_qmp_get_version(q, &maj, &min, &mic);
	g_assert_cmpint(maj, ==, 7);
	g_assert_cmpint(min, ==, 2);
	ret = hv_qmp_execute(q, "query-status", NULL, 2000, &error);
	g_assert_no_error(error);
	g_assert_true(hv_json_get_bool(ret, "running", &running));
	g_assert_true(running);
	g_assert_cmpstr(hv_json_get_string(ret, "status"), ==, "running");
	json_object_put(ret);
	hv_qmp_free(q);
	g_assert_nonnull(strstr(p->received->str, "\"execute\":\"qmp_capabilities\""));
	g_assert_nonnull(strstr(p->received->str, "\"id\":\"hvdump-2\""));
	peer_finish(p);
}

static void test_qmp_queues_events_during_command(void)
{
	const char *script[] = { GREETING, "<", "{\"return\": {}, \"id\": \"hvdump-1\"}\r\n", "<",
				 "{\"event\": \"STOP\", \"timestamp\": {}}\r\n{\"event\": \"GUEST_PANICKED\", \"data\": {\"action\": \"pause\"}}\r\n",
				 "{\"return\": \"out\\r\\n\", \"id\": \"hvdump-2\"}\r\n", NULL };
	g_autoptr(GError) error = NULL;
	int fd;
	Peer *p = peer_start(script, &fd);
	HvQmp *q = hv_qmp_new_from_fd(fd, 2000, &error);
	g_autofree char *out = NULL;
	json_object *ev = NULL;

	g_assert_no_error(error);
	out = hv_qmp_hmp(q, "info status", 2000, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(out, ==, "out\r\n");
	g_assert_cmpuint(hv_qmp_pending_events(q), ==, 2);
	g_assert_true(hv_qmp_wait_event(q, "GUEST_PANICKED", 100, &ev, &error));
	g_assert_cmpstr(hv_json_get_string(ev, "event"), ==, "GUEST_PANICKED");
	json_object_put(ev);
	g_assert_nonnull(strstr(p->received->str, "\"command-line\":\"info status\""));
	hv_qmp_free(q);
	peer_finish(p);
}

static void test_qmp_counts_events_read_in_one_chunk(void)
{
	const char *script[] = { GREETING, "<", CAPS_OK,
				 "{\"event\": \"STOP\"}\r\n{\"event\": \"GUEST_PANICKED\"}\r\n",
				 "SLEEP300", NULL };
	g_autoptr(GError) error = NULL;
	int fd;
	Peer *p = peer_start(script, &fd);
	HvQmp *q = hv_qmp_new_from_fd(fd, 2000, &error);
	json_object *ev;

	g_assert_no_error(error);
	ev = hv_qmp_next_event(q, 2000, &error);
	g_assert_cmpstr(hv_json_get_string(ev, "event"), ==, "STOP");
	json_object_put(ev);
	/* the second event came in the same read: it is pending, not on the socket */
	g_assert_cmpuint(hv_qmp_pending_events(q), ==, 1);
	ev = hv_qmp_next_event(q, 0, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(hv_json_get_string(ev, "event"), ==, "GUEST_PANICKED");
	json_object_put(ev);
	hv_qmp_free(q);
	peer_finish(p);
}

static void test_qmp_reports_command_error(void)
{
	const char *script[] = { GREETING, "<", CAPS_OK, "<",
				 "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no such thing\"}, \"id\": \"hvdump-2\"}\r\n",
				 NULL };
	g_autoptr(GError) error = NULL;

	g_assert_null(exec_against(script, "bogus", 2000, &error));
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_COMMAND);
	g_assert_nonnull(strstr(error->message, "no such thing"));
}

static void test_printable_strips_terminal_controls(void)
{
	g_autofree char *a = hv_printable_dup("bad\x1b]0;owned\x07\x1b[2J\r\nnext \xc2\x9b" "1m caf\xc3\xa9 \xff!");
	g_autofree char *big = g_strnfill(5000, 'x');
	g_autofree char *b = hv_printable_dup(big);
	g_autofree char *c = hv_printable_dup(NULL);
	g_autofree char *d = hv_printable_dup("one\xe2\x80\xa8two\xe2\x80\xa9three");

	g_assert_cmpstr(a, ==, "bad?]0;owned??[2J??next ?1m caf\xc3\xa9 ?!");
	g_assert_cmpuint(strlen(b), ==, HV_PRINTABLE_MAX + 3);
	g_assert_cmpstr(c, ==, "");
	g_assert_cmpstr(d, ==, "one?two?three");
}

static void test_qmp_ignores_stale_answer_ids(void)
{
	const char *script[] = { GREETING, "<", CAPS_OK, "<",
				 "{\"return\": 1, \"id\": \"old\"}\r\n{\"return\": 2, \"id\": \"hvdump-2\"}\r\n",
				 NULL };
	g_autoptr(GError) error = NULL;
	json_object *r = exec_against(script, "x", 2000, &error);

	g_assert_no_error(error);
	g_assert_cmpint(json_object_get_int(r), ==, 2);
	json_object_put(r);
}

static void test_qmp_times_out(void)
{
	const char *script[] = { GREETING, "<", CAPS_OK, "<", "SLEEP500", NULL };
	g_autoptr(GError) error = NULL;

	/* the peer closes after 500 ms: TIMEOUT (not CLOSED) proves we gave up first */
	g_assert_null(exec_against(script, "slow", 100, &error));
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_TIMEOUT);
}

static void test_qmp_closed_mid_command(void)
{
	const char *script[] = { GREETING, "<", "{\"return\": {}, \"id\": \"hvdump-1\"}\r\n", "<",
				 "{\"return\": {}, \"i", "CLOSE", NULL };
	g_autoptr(GError) error = NULL;
	int fd;
	Peer *p = peer_start(script, &fd);
	HvQmp *q = hv_qmp_new_from_fd(fd, 2000, &error);

	g_assert_null(hv_qmp_execute(q, "x", NULL, 2000, &error));
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CLOSED);
	g_clear_error(&error);
	/* the session stays dead */
	g_assert_null(hv_qmp_execute(q, "y", NULL, 100, &error));
	g_assert_nonnull(error);
	hv_qmp_free(q);
	peer_finish(p);
}

static void expect_connect_failure(const char *const *script, const char *needle)
{
	g_autoptr(GError) error = NULL;
	int fd;
	Peer *p = peer_start(script, &fd);
	HvQmp *q = hv_qmp_new_from_fd(fd, 300, &error);

	g_assert_null(q);
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL);
	if (strstr(error->message, needle) == NULL)
		g_error("'%s' does not mention '%s'", error->message, needle);
	peer_finish(p);
}

static void test_qmp_rejects_non_qmp_peers(void)
{
	const char *banner[] = { "SSH-2.0-OpenSSH_9.2\r\n", "SLEEP400", NULL };
	const char *silent[] = { "SLEEP400", NULL };
	const char *closes[] = { "CLOSE", NULL };
	const char *json[] = { "{\"hello\": 1}\r\n", NULL };
	const char *array[] = { "[1, 2]\r\n", NULL };

	expect_connect_failure(banner, "not a QMP socket");
	expect_connect_failure(silent, "no greeting");
	expect_connect_failure(closes, "closed");
	expect_connect_failure(json, "no \"QMP\" object");
	expect_connect_failure(array, "not an object");
}

static void test_qmp_rejects_malformed_json(void)
{
	const char *script[] = { GREETING, "<", CAPS_OK, "<", "{\"return\": {]}\r\n", NULL };
	g_autoptr(GError) error = NULL;

	g_assert_null(exec_against(script, "x", 2000, &error));
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL);
	g_assert_nonnull(strstr(error->message, "malformed JSON"));
}

static void test_qmp_rejects_deep_nesting(void)
{
	g_autofree char *deep = g_strnfill(200, '[');
	const char *script[] = { GREETING, "<", CAPS_OK, "<", "{\"return\": ", deep, "\r\n", NULL };
	g_autoptr(GError) error = NULL;

	g_assert_null(exec_against(script, "x", 2000, &error));
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_PROTOCOL);
}

static gpointer flood_main(gpointer data)
{
	int fd = GPOINTER_TO_INT(data);
	g_autofree char *chunk = g_strnfill(1 << 20, 'a');
	guint i;
	ssize_t w;

	w = write(fd, GREETING, strlen(GREETING));
	w = write(fd, "{\"return\": \"", 12);
	for (i = 0; i < 20 && w >= 0; i++)
		w = write(fd, chunk, 1 << 20);
	close(fd);
	return NULL;
}

static void test_qmp_rejects_oversized_message(void)
{
	g_autoptr(GError) error = NULL;
	int sv[2];
	GThread *t;
	HvQmp *q;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
	t = g_thread_new("flood", flood_main, GINT_TO_POINTER(sv[1]));
	q = hv_qmp_new_from_fd(sv[0], 5000, &error);
	g_assert_null(q);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "larger than"));
	g_thread_join(t);
}

static void test_qmp_connect_missing_socket(void)
{
	g_autoptr(GError) error = NULL;

	g_assert_null(hv_qmp_connect("/nonexistent/hvdump-test.sock", 100, &error));
	g_assert_error(error, HV_QMP_ERROR, HV_QMP_ERROR_CONNECT);
	g_assert_nonnull(strstr(error->message, "/nonexistent/hvdump-test.sock"));
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qmp/negotiates-and-runs-command", test_qmp_negotiates_and_runs_command);
	g_test_add_func("/qmp/queues-events-during-command", test_qmp_queues_events_during_command);
	g_test_add_func("/qmp/counts-events-read-in-one-chunk", test_qmp_counts_events_read_in_one_chunk);
	g_test_add_func("/qmp/reports-command-error", test_qmp_reports_command_error);
	g_test_add_func("/qmp/printable-strips-terminal-controls", test_printable_strips_terminal_controls);
	g_test_add_func("/qmp/ignores-stale-answer-ids", test_qmp_ignores_stale_answer_ids);
	g_test_add_func("/qmp/times-out", test_qmp_times_out);
	g_test_add_func("/qmp/closed-mid-command", test_qmp_closed_mid_command);
	g_test_add_func("/qmp/rejects-non-qmp-peers", test_qmp_rejects_non_qmp_peers);
	g_test_add_func("/qmp/rejects-malformed-json", test_qmp_rejects_malformed_json);
	g_test_add_func("/qmp/rejects-deep-nesting", test_qmp_rejects_deep_nesting);
	g_test_add_func("/qmp/rejects-oversized-message", test_qmp_rejects_oversized_message);
	g_test_add_func("/qmp/connect-missing-socket", test_qmp_connect_missing_socket);
	return g_test_run();
}
