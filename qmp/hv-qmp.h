/* hv-qmp.h — a small synchronous QMP client (json-c).
 *
 * Owns: the QMP wire protocol — greeting and capability negotiation,
 * commands with ids, events queued while a command is pending, HMP
 * passthrough, per-call timeouts, and the limits that keep a hostile or
 * broken peer from hanging or exhausting us (message size, nesting).
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <json-c/json.h>
#include <sys/types.h>

G_BEGIN_DECLS

#define HV_QMP_ERROR (hv_qmp_error_quark())
GQuark hv_qmp_error_quark(void);

typedef enum {
	HV_QMP_ERROR_CONNECT,   /* socket missing / refused */
	HV_QMP_ERROR_CLOSED,    /* peer closed the connection */
	HV_QMP_ERROR_TIMEOUT,   /* no answer in time */
	HV_QMP_ERROR_PROTOCOL,  /* not QMP: bad greeting, malformed or oversized JSON */
	HV_QMP_ERROR_COMMAND,   /* QEMU answered with an error object */
	HV_QMP_ERROR_IO,        /* read/write failure */
} HvQmpError;

/* Largest single message accepted from the peer. `info mtree -f` of a big
 * machine is well below this; anything larger is treated as hostile. */
#define HV_QMP_MAX_MESSAGE (16u * 1024 * 1024)
/* Events kept while nobody reads them; older ones are dropped beyond this. */
#define HV_QMP_MAX_QUEUED_EVENTS 1024

typedef struct HvQmp HvQmp;

/* Connects to a QMP unix socket, reads the greeting and negotiates
 * capabilities. */
HvQmp *hv_qmp_connect(const char *path, int timeout_ms, GError **error);
/* The same, and the session keeps cancellable (hv_qmp_set_cancellable)
 * from the greeting on. */
HvQmp *hv_qmp_connect_cancellable(const char *path, int timeout_ms, GCancellable *cancellable,
				  GError **error);
/* Wraps an already connected stream socket (takes ownership of fd). */
HvQmp *hv_qmp_new_from_fd(int fd, int timeout_ms, GError **error);
void hv_qmp_free(HvQmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvQmp, hv_qmp_free)

/* Runs a command; args may be NULL and is consumed. Returns the "return"
 * member (a new reference, possibly an empty object). Events that arrive
 * meanwhile are queued. */
json_object *hv_qmp_execute(HvQmp *qmp, const char *command, json_object *args,
			    int timeout_ms, GError **error);
/* The same, passing fd along (SCM_RIGHTS), as `getfd` and `add-fd` want. */
json_object *hv_qmp_execute_with_fd(HvQmp *qmp, const char *command, json_object *args,
				    int fd, int timeout_ms, GError **error);
/* One command's answer (consumed): its "return" member (a new reference),
 * or the error QEMU answered (HV_QMP_ERROR_COMMAND, printable), or
 * HV_QMP_ERROR_PROTOCOL for an answer that has neither. For monitors that
 * carry QMP answers some other way (libvirt's passthrough). */
json_object *hv_qmp_answer_return(json_object *msg, const char *command, GError **error);
/* human-monitor-command passthrough; returns HMP's text output. */
char *hv_qmp_hmp(HvQmp *qmp, const char *command_line, int timeout_ms, GError **error);

/* Returns the next event (queued first, else waits up to timeout_ms; -1 waits
 * forever). On timeout returns NULL with HV_QMP_ERROR_TIMEOUT. */
json_object *hv_qmp_next_event(HvQmp *qmp, int timeout_ms, GError **error);
/* Waits for an event named `name`, discarding others; *event_ret (optional)
 * gets a reference to it. */
gboolean hv_qmp_wait_event(HvQmp *qmp, const char *name, int timeout_ms,
			   json_object **event_ret, GError **error);
/* Number of events ready without waiting: queued ones and complete ones
 * already read from the socket (check this before poll() on the fd). */
guint hv_qmp_pending_events(HvQmp *qmp);

/* Every later wait for QEMU ends at once with G_IO_ERROR_CANCELLED when
 * cancellable is cancelled (NULL: never). Commands already sent may still
 * be answered; the answer is discarded. */
void hv_qmp_set_cancellable(HvQmp *qmp, GCancellable *cancellable);

/* The socket, for poll(); readable means hv_qmp_next_event(.., 0, ..) may
 * have something. */
int hv_qmp_get_fd(HvQmp *qmp);
/* The peer process (SO_PEERCRED), or -1 when unknown. */
pid_t hv_qmp_get_peer_pid(HvQmp *qmp);
/* QEMU version from the greeting, e.g. 7 2 0 (0 when absent). */
void hv_qmp_get_version(HvQmp *qmp, int *major_ret, int *minor_ret, int *micro_ret);

/* json-c helpers for the callers: typed member lookups that never crash on
 * unexpected types. */
const char *hv_json_get_string(json_object *obj, const char *key);
gboolean hv_json_get_int64(json_object *obj, const char *key, gint64 *value_ret);
gboolean hv_json_get_bool(json_object *obj, const char *key, gboolean *value_ret);

/* A copy of s that is safe to print on a terminal or in a log line: valid
 * UTF-8 printable characters are kept, control characters (C0, DEL, C1:
 * escape sequences, newlines, U+2028/U+2029) and invalid bytes become '?'; cut after
 * HV_PRINTABLE_MAX bytes. For every text a peer or guest controls. */
#define HV_PRINTABLE_MAX 1024
char *hv_printable_dup(const char *s);

G_END_DECLS
