/* hv-hook.c — the notification hook; see hv-hook.h. */
#include "hv-hook.h"

#include <string.h>
#include <unistd.h>

#include "hv-qmp.h"

typedef struct {
	GSubprocess *proc;
	GSource *timeout;
	gboolean timed_out;
	guint timeout_s;
	char *name;
	HvHookDone done;
	gpointer data;
} Hook;

static gboolean on_timeout(gpointer data)
{
	Hook *h = data;

	h->timed_out = TRUE;
	g_subprocess_force_exit(h->proc);
	return G_SOURCE_REMOVE;
}

static void finish(Hook *h, gboolean ok, const char *text)
{
	h->done(ok, text, h->data);
	if (h->timeout != NULL) {
		g_source_destroy(h->timeout);
		g_source_unref(h->timeout);
	}
	g_clear_object(&h->proc);
	g_free(h->name);
	g_free(h);
}

static void on_done(GObject *obj, GAsyncResult *ar, gpointer data)
{
	Hook *h = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) out = NULL, errb = NULL;
	g_autofree char *err = NULL, *line = NULL, *text = NULL;
	gboolean ok = FALSE;

	if (g_subprocess_communicate_finish(G_SUBPROCESS(obj), ar, &out, &errb, &error)) {
		gsize n = 0;
		const char *p = g_bytes_get_data(errb, &n);

		err = g_strndup(p != NULL ? p : "", MIN(n, (gsize)4096));
	} else {
		/* the pipes broke (killed at the time limit, or the hook closed
		 * stdin early); the exit status still says how it ended */
		g_subprocess_wait(h->proc, NULL, NULL);
	}
	if (err != NULL) {
		char *nl = strchr(err, '\n');

		if (nl != NULL)
			*nl = '\0';
		line = hv_printable_dup(err);
	}
	if (h->timed_out)
		text = g_strdup_printf("hook %s killed after %u s", h->name, h->timeout_s);
	else if (g_subprocess_get_if_exited(h->proc) && g_subprocess_get_exit_status(h->proc) == 0)
		ok = TRUE, text = g_strdup_printf("hook %s done", h->name);
	else if (g_subprocess_get_if_exited(h->proc))
		text = g_strdup_printf("hook %s exited %d%s%s", h->name,
				       g_subprocess_get_exit_status(h->proc),
				       line && *line ? ": " : "", line ? line : "");
	else
		text = g_strdup_printf("hook %s ended by signal %d", h->name,
				       g_subprocess_get_term_sig(h->proc));
	finish(h, ok, text);
}

static void child_setup(gpointer data)
{
	(void)data;
	if (chdir("/") < 0)
		_exit(127);
}

void hv_hook_run(char **argv, guint timeout_s, const char *json, HvHookDone done, gpointer data)
{
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
		G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
		G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GError) error = NULL;
	Hook *h = g_new0(Hook, 1);

	h->done = done;
	h->data = data;
	h->timeout_s = timeout_s;
	h->name = hv_printable_dup(argv[0]);
	g_subprocess_launcher_set_child_setup(l, child_setup, NULL, NULL);
	h->proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv, &error);
	if (h->proc == NULL) {
		g_autofree char *text = g_strdup_printf("hook %s did not start: %s", h->name,
							error->message);

		finish(h, FALSE, text);
		return;
	}
	h->timeout = g_timeout_source_new_seconds(timeout_s);
	g_source_set_callback(h->timeout, on_timeout, h, NULL);
	g_source_attach(h->timeout, g_main_context_get_thread_default());
	{
		g_autoptr(GBytes) in = g_bytes_new(json, strlen(json));

		g_subprocess_communicate_async(h->proc, in, NULL, on_done, h);
	}
}
