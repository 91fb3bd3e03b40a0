/* fuzz-qmp.c — libFuzzer target: the QMP client fed a hostile peer's bytes
 * (greeting, answers, events) over a socketpair. */
#include <sys/socket.h>
#include <unistd.h>

#include "hv-qmp.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	int sv[2], sndbuf = 1 << 20;
	HvQmp *q;
	guint i;

	if (size > 512 * 1024)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	q = hv_qmp_new_from_fd(sv[0], 0, NULL);
	if (q != NULL) {
		json_object *r = hv_qmp_execute(q, "query-status", NULL, 0, NULL);
		char *t;

		if (r != NULL)
			json_object_put(r);
		t = hv_qmp_hmp(q, "info registers", 0, NULL);
		g_free(t);
		for (i = 0; i < 64; i++) {
			json_object *ev = hv_qmp_next_event(q, 0, NULL);

			if (ev == NULL)
				break;
			hv_json_get_string(ev, "event");
			json_object_put(ev);
		}
		hv_qmp_free(q);
	} else {
		close(sv[0]);
	}
	close(sv[1]);
	return 0;
}
