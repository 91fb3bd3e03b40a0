/* hv-daemon.h — hvdumpd's engine: many VMs, their panics, captures on a
 * bounded pool of workers, policies after each.
 *
 * Owns: the VM table and where VMs come from (a directory of QMP sockets
 * watched with inotify, sockets listed in the config, libvirt), each VM's
 * state machine (connecting → running → panicked → capturing →
 * post-action → running | kept-paused | gone), the capture jobs (run on
 * worker threads, each on its own VM; the engine keeps no global state),
 * what a policy says after a capture (retention, rate limit, free space,
 * post-action, hook), the state kept across restarts (a panic already
 * dumped is not dumped twice; one cut short is retried), and the control
 * requests (status, an on-demand dump). Logs through GLib; prints nothing.
 */
#pragma once

#include <gio/gio.h>

#include "hv-config.h"

G_BEGIN_DECLS

typedef struct HvDaemon HvDaemon;

/* Takes cfg. Runs on the thread-default main context of the caller. */
HvDaemon *hv_daemon_new(HvConfig *cfg);
/* Opens the control socket, cleans stale .part files, finds the VMs (and
 * captures those already panicked). FALSE when the control socket or a
 * source cannot be set up. */
gboolean hv_daemon_start(HvDaemon *d, GError **error);
/* A new configuration (taken): policies apply to the next capture, sources
 * are added and removed; captures in flight finish under the old one. */
void hv_daemon_reload(HvDaemon *d, HvConfig *cfg);
/* Cancels captures in flight (their VMs stay paused, their .part files are
 * removed: a restarted daemon captures them again), waits for the workers,
 * lets go of every monitor. */
void hv_daemon_free(HvDaemon *d);

/* For sd_notify STATUS=: "N VMs watched, M capturing". */
char *hv_daemon_describe(HvDaemon *d);

G_END_DECLS
