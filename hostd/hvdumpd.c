/* hvdumpd.c — the hvdumpd service: configuration, logging, signals and
 * systemd around the daemon engine (hv-daemon.c).
 *
 * Exit codes: 0 stopped by SIGTERM/SIGINT, 1 could not start (control
 * socket, sources), 2 bad usage or configuration (FILE:LINE: reason).
 */
#define G_LOG_DOMAIN "hvdumpd"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "hv-daemon.h"
#include "hv-upload.h"
#include "hv-qmp.h"

#ifndef HVDUMP_VERSION
#define HVDUMP_VERSION "0"
#endif

static gboolean verbose;

static void notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

/* ---- logging: the journal when stderr is the journal's, else one line per
 * message on stderr ---------------------------------------------------- */

static const char *field(const GLogField *fields, gsize n, const char *key)
{
	gsize i;

	for (i = 0; i < n; i++)
		if (strcmp(fields[i].key, key) == 0 && fields[i].length < 0)
			return fields[i].value;
	return NULL;
}

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
				   gpointer data)
{
	const char *msg;
	g_autofree char *safe = NULL;

	(void)data;
	if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !verbose)
		return G_LOG_WRITER_HANDLED;
	if (g_log_writer_is_journald(STDERR_FILENO) &&
	    g_log_writer_journald(level, fields, n, NULL) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	msg = field(fields, n, "MESSAGE");
	safe = hv_printable_dup(msg != NULL ? msg : "");
	fprintf(stderr, "hvdumpd: %s%s\n",
		(level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR)) ?
		"warning: " : "", safe);
	fflush(stderr);
	return G_LOG_WRITER_HANDLED;
}

/* ---- signals and the watchdog ------------------------------------------- */

typedef struct {
	GMainLoop *loop;
	HvDaemon *daemon;
	const char *config_path;
	int signal;
} Service;

static HvConfig *load_config(const char *path, GError **error)
{
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	HvConfig *cfg = hv_config_load(path, warnings, error);
	guint i;

	for (i = 0; i < warnings->len; i++)
		g_warning("%s", (const char *)warnings->pdata[i]);
	return cfg;
}

static void update_status(Service *s)
{
	g_autofree char *desc = hv_daemon_describe(s->daemon);
	g_autofree char *st = g_strdup_printf("STATUS=%s", desc);

	notify(st);
}

static gboolean on_term(gpointer data)
{
	Service *s = data;

	s->signal = SIGTERM;
	g_main_loop_quit(s->loop);
	return G_SOURCE_CONTINUE;
}

static gboolean on_int(gpointer data)
{
	Service *s = data;

	s->signal = SIGINT;
	g_main_loop_quit(s->loop);
	return G_SOURCE_CONTINUE;
}

/* A remote target's URL and credentials file, checked without connecting:
 * --check fails on a bad one; the daemon warns (dumps stay local, the
 * upload is marked failed; a reload after the fix queues it again). */
static gboolean check_target(const HvPolicy *p, gboolean print)
{
	g_autoptr(GError) error = NULL;
	HvUploadTarget t;
	gboolean ok;

	if (!hv_upload_target_from_policy(p, &t))
		return TRUE;
	ok = hv_upload_target_check(&t, &error);
	if (!ok && print)
		fprintf(stderr, "hvdumpd: %s:%d: policy %s: target: %s\n", p->file ? p->file : "?", p->line,
			p->name, error->message);
	else if (!ok)
		g_warning("policy %s: target %s: %s", p->name, t.url, error->message);
	else if (print)
		printf("  ships to %s (keep_local=%s, upload_rate=%" G_GUINT64_FORMAT "%s)\n", t.url,
		       hv_keep_local_name(p->keep_local), p->upload_rate, p->upload_rate ? " B/s" : ": none");
	hv_upload_target_clear(&t);
	return ok;
}

static gboolean on_hup(gpointer data)
{
	Service *s = data;
	g_autoptr(GError) error = NULL;
	HvConfig *cfg;

	notify("RELOADING=1");
	cfg = load_config(s->config_path, &error);
	if (cfg == NULL) {
		g_warning("reload refused, the running configuration stays: %s", error->message);
	} else {
		hv_daemon_reload(s->daemon, cfg);
		g_message("configuration reloaded from %s", s->config_path);
	}
	notify("READY=1");
	update_status(s);
	return G_SOURCE_CONTINUE;
}

static gboolean on_watchdog(gpointer data)
{
	update_status(data);
	notify("WATCHDOG=1");
	return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
	g_autofree char *config_path = NULL;
	gboolean check = FALSE, version = FALSE;
	int rc = 0;
	const GOptionEntry entries[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
		  "configuration file (default " HV_CONFIG_DEFAULT_PATH ")", "FILE" },
		{ "check", 0, 0, G_OPTION_ARG_NONE, &check,
		  "check the configuration, print its policies and exit", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "log debugging detail", NULL },
		{ "version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) octx = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	Service s = { 0 };
	HvConfig *cfg;
	guint64 wd_usec = 0;
	guint i;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	g_log_set_writer_func(log_writer, NULL, NULL);
	g_option_context_set_summary(octx, "Turn every guest panic on this host into a vmcore, "
				     "as the policies of hvdumpd.conf(5) say.");
	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &error) || argc > 1) {
		fprintf(stderr, "hvdumpd: %s\n", error ? error->message : "unexpected arguments");
		return 2;
	}
	if (version) {
		printf("hvdumpd %s\n", HVDUMP_VERSION);
		return 0;
	}
	s.config_path = config_path ? config_path : HV_CONFIG_DEFAULT_PATH;
	cfg = load_config(s.config_path, &error);
	if (cfg == NULL) {
		fprintf(stderr, "hvdumpd: %s\n", error->message);
		return 2;
	}
	if (check) {
		for (i = 0; i < cfg->policies->len; i++) {
			const HvPolicy *p = cfg->policies->pdata[i];
			g_autofree char *globs = g_strjoinv(";", p->match);

			printf("policy %s (%s:%d): match %s, %s to %s, post-action %s\n", p->name,
			       p->file ? p->file : "built in", p->line, globs, p->format, p->output_dir,
			       hv_post_action_name(p->post_action));
			if (!check_target(p, TRUE))
				rc = 2;
		}
		hv_config_free(cfg);
		return rc;
	}
	for (i = 0; i < cfg->policies->len; i++)
		check_target(cfg->policies->pdata[i], FALSE);
	loop = g_main_loop_new(NULL, FALSE);
	s.loop = loop;
	s.daemon = hv_daemon_new(cfg);
	g_unix_signal_add(SIGTERM, on_term, &s);
	g_unix_signal_add(SIGINT, on_int, &s);
	g_unix_signal_add(SIGHUP, on_hup, &s);
	if (!hv_daemon_start(s.daemon, &error)) {
		fprintf(stderr, "hvdumpd: %s\n", error->message);
		hv_daemon_free(s.daemon);
		return 1;
	}
	g_message("hvdumpd %s started (config %s)", HVDUMP_VERSION, s.config_path);
	notify("READY=1");
	update_status(&s);
#ifdef HAVE_LIBSYSTEMD
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0)
		g_timeout_add((guint)MAX(wd_usec / 2000, 100), on_watchdog, &s);
#endif
	(void)wd_usec;
	(void)on_watchdog;
	g_main_loop_run(loop);
	notify("STOPPING=1");
	g_message("stopping (%s); captures in flight are cancelled and retried at the next start",
		  g_strsignal(s.signal));
	hv_daemon_free(s.daemon);
	return 0;
}
