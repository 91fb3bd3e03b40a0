/* hv-hook.h — the notification hook: a command that gets an event and its
 * result as JSON on stdin.
 *
 * Owns: running the command (no shell, stdin the JSON, stdout/stderr
 * drained and the first line of stderr kept for the log, cwd /), its time
 * limit (SIGKILL when over) and the one-line outcome. Runs on the caller's
 * thread-default GMainContext; never blocks it.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* ok: exited 0 in time; text: one line saying what happened. */
typedef void (*HvHookDone)(gboolean ok, const char *text, gpointer data);

/* Starts argv with json on stdin; done is called once, later, on the
 * current thread-default main context (also when the start fails). */
void hv_hook_run(char **argv, guint timeout_s, const char *json, HvHookDone done, gpointer data);

G_END_DECLS
