/* builtin-daemon.c — the hvdump commands that talk to a running hvdumpd
 * through its control socket: `hvdump status` and `hvdump dump --daemon`. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hv-config.h"
#include "hv-control.h"
#include "hvdump-cli.h"

static const char *str(json_object *o, const char *key)
{
	const char *s = hv_json_get_string(o, key);

	return s != NULL ? s : "-";
}

/* Epoch seconds t as local time in buf (left as it is when t is out of range). */
static void local_time(gint64 t, const char *fmt, char *buf, gsize len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) != NULL)
		strftime(buf, len, fmt, &tm);
}

static void print_vm(json_object *vm)
{
	g_autofree char *name = hv_printable_dup(str(vm, "name"));
	g_autofree char *last = hv_printable_dup(str(vm, "last_dump"));
	g_autofree char *result = hv_printable_dup(str(vm, "last_result"));
	g_autofree char *policy = hv_printable_dup(str(vm, "policy"));
	gint64 dumps = 0, t = 0;
	char when[32] = "-";

	hv_json_get_int64(vm, "dumps", &dumps);
	if (hv_json_get_int64(vm, "last_time", &t) && t > 0)
		local_time(t, "%Y-%m-%d %H:%M:%S", when, sizeof(when));
	printf("%-24s %-12s %-16s %5" G_GINT64_FORMAT "  %-19s %s%s%s\n", name, str(vm, "state"),
	       policy, dumps, when, result, strcmp(last, "-") ? "  " : "",
	       strcmp(last, "-") ? last : "");
}

/* What waits for its upload and what failed (the daemon lists at most 100). */
static void print_uploads(json_object *a)
{
	json_object *u, *list;
	gint64 pending = 0, failed = 0, done = 0, bytes = 0;
	gsize i, n;

	if (!json_object_object_get_ex(a, "uploads", &u) || !json_object_is_type(u, json_type_object))
		return;
	hv_json_get_int64(u, "pending", &pending);
	hv_json_get_int64(u, "failed", &failed);
	hv_json_get_int64(u, "done", &done);
	hv_json_get_int64(u, "bytes_pending", &bytes);
	printf("\nuploads: %" G_GINT64_FORMAT " pending (%" G_GINT64_FORMAT " MiB in the spool), %"
	       G_GINT64_FORMAT " failed, %" G_GINT64_FORMAT " done\n", pending, bytes >> 20, failed, done);
	if (!json_object_object_get_ex(u, "uploads", &list) || !json_object_is_type(list, json_type_array))
		return;
	n = json_object_array_length(list);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(list, i);
		g_autofree char *id = hv_printable_dup(str(e, "id"));
		g_autofree char *target = hv_printable_dup(str(e, "target"));
		g_autofree char *err = hv_printable_dup(str(e, "last_error"));
		gint64 attempts = 0, next = 0;
		char when[32] = "";

		hv_json_get_int64(e, "attempts", &attempts);
		if (hv_json_get_int64(e, "next_try", &next) && next > 0)
			local_time(next, " next try %H:%M:%S", when, sizeof(when));
		printf("  %s %-9s -> %s (%" G_GINT64_FORMAT " attempts%s)%s%s\n", id, str(e, "state"), target,
		       attempts, when, strcmp(err, "-") ? ": " : "", strcmp(err, "-") ? err : "");
	}
}

static json_object *call(const char *control, json_object *req, int timeout_ms)
{
	g_autoptr(GError) error = NULL;
	json_object *a = hv_control_call(control, req, timeout_ms, &error);
	gboolean ok = FALSE;

	if (a == NULL) {
		hv_cli_error("%s", error->message);
		return NULL;
	}
	if (!hv_json_get_bool(a, "ok", &ok) || !ok) {
		hv_cli_error("hvdumpd: %s", str(a, "error"));
		json_object_put(a);
		return NULL;
	}
	return a;
}

int hv_cmd_status(int argc, char **argv)
{
	g_autofree char *control = NULL;
	gboolean as_json = FALSE;
	const GOptionEntry entries[] = {
		{ "control", 0, 0, G_OPTION_ARG_FILENAME, &control,
		  "hvdumpd's control socket (default " HV_CONFIG_DEFAULT_CONTROL ")", "SOCKET" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "print hvdumpd's answer as JSON", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	json_object *req = json_object_new_object(), *a, *vms;
	gsize i, n;

	g_option_context_set_summary(ctx, "Show the VMs hvdumpd watches, their states and last dumps.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc > 1) {
		hv_cli_error("status: %s", error ? error->message : "unexpected arguments");
		json_object_put(req);
		return HV_EXIT_USAGE;
	}
	json_object_object_add(req, "command", json_object_new_string("status"));
	a = call(control ? control : HV_CONFIG_DEFAULT_CONTROL, req, 10000);
	if (a == NULL)
		return HV_EXIT_FAILURE;
	if (as_json) {
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY));
		json_object_put(a);
		return HV_EXIT_OK;
	}
	printf("%-24s %-12s %-16s %5s  %-19s %s\n", "VM", "STATE", "POLICY", "DUMPS", "LAST",
	       "LAST RESULT, DUMP");
	if (json_object_object_get_ex(a, "vms", &vms) && json_object_is_type(vms, json_type_array)) {
		n = json_object_array_length(vms);
		for (i = 0; i < n; i++)
			print_vm(json_object_array_get_idx(vms, i));
	}
	print_uploads(a);
	json_object_put(a);
	return HV_EXIT_OK;
}

int hv_dump_via_daemon(const char *control, const char *vm, const char *file)
{
	g_autofree char *abs = g_canonicalize_filename(file, NULL);
	json_object *req = json_object_new_object(), *a;
	gint64 bytes = 0;

	json_object_object_add(req, "command", json_object_new_string("dump"));
	json_object_object_add(req, "vm", json_object_new_string(vm));
	json_object_object_add(req, "file", json_object_new_string(abs));
	a = call(control ? control : HV_CONFIG_DEFAULT_CONTROL, req, -1);
	if (a == NULL)
		return HV_EXIT_FAILURE;
	hv_json_get_int64(a, "bytes", &bytes);
	{
		g_autofree char *path = hv_printable_dup(str(a, "path"));

		hv_cli_info("hvdumpd wrote %s (%" G_GINT64_FORMAT " MiB)", path, bytes >> 20);
	}
	json_object_put(a);
	return HV_EXIT_OK;
}
