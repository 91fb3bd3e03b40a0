/* hv-control.h — hvdumpd's control socket: root-only, one JSON request per
 * connection, one JSON answer.
 *
 * Owns: the unix socket (created 0600 under a 0700 directory it makes if
 * missing, a stale socket file replaced, removed on free), the peer check
 * (SO_PEERCRED: uid 0 only; others get an error answer and are logged by
 * the caller's handler never being called), the framing (a line of at
 * most HV_CONTROL_MAX_LINE bytes each way) and the client side that
 * `hvdump status` and `hvdump dump --daemon` use. What requests mean is
 * the daemon's business.
 */
#pragma once

#include <gio/gio.h>
#include <json-c/json.h>

G_BEGIN_DECLS

#define HV_CONTROL_MAX_LINE (1024 * 1024)

typedef struct HvControl HvControl;
typedef struct HvControlRequest HvControlRequest;

/* msg is the parsed request (borrowed for the call); answer, now or
 * later, with hv_control_reply(req, ...). */
typedef void (*HvControlHandler)(HvControlRequest *req, json_object *msg, gpointer data);
/* refused: a peer that is not root (uid given) */
typedef void (*HvControlRefused)(uid_t uid, pid_t pid, gpointer data);

HvControl *hv_control_new(const char *path, HvControlHandler handler, HvControlRefused refused,
			  gpointer data, GError **error);
void hv_control_free(HvControl *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvControl, hv_control_free)

/* Sends the answer (consumed) and ends the request. */
void hv_control_reply(HvControlRequest *req, json_object *answer);

/* Client: sends msg (consumed) to the daemon at path and waits up to
 * timeout_ms (-1: forever) for the answer. */
json_object *hv_control_call(const char *path, json_object *msg, int timeout_ms, GError **error);

G_END_DECLS
