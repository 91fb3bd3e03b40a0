/* builtin-push.c — `hvdump fleet push DUMP`: ship one local dump (an
 * on-demand one, one hvdump run wrote, one a daemon without a target kept)
 * to a target, as hvdumpd's shipper does: a journal, multipart with
 * checksums, verified, manifest last. Run it again after a failure and it
 * resumes the same upload (same id, same keys, parts already there not sent
 * again). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-config.h"
#include "hv-dumpdir.h"
#include "hv-upload.h"
#include "hvdump-cli.h"

#define DEFAULT_JOURNAL_DIR HV_CONFIG_DEFAULT_STATE_DIR "/push"
#define EXIT_TEMPFAIL 75 /* sysexits' EX_TEMPFAIL: the store was not reachable; run again */

static const char *jstr(json_object *o, const char *k)
{
	const char *s = hv_json_get_string(o, k);

	return s;
}

/* The journal of an earlier push of this dump to this target that is still
 * under way (not done, not failed for good), or NULL. */
static char *find_journal(const char *dir, const char *dump, const char *url)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;
	guint seen = 0;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL && seen++ < 100000) {
		g_autofree char *path = NULL;
		json_object *j, *o;
		gboolean mine;

		if (!g_str_has_suffix(name, HV_UPLOAD_JOURNAL_SUFFIX))
			continue;
		path = g_build_filename(dir, name, NULL);
		j = hv_upload_read_journal(path, NULL);
		if (j == NULL)
			continue;
		mine = g_strcmp0(jstr(j, "dump"), dump) == 0 && g_strcmp0(jstr(j, "state"), "done") != 0 &&
		       g_strcmp0(jstr(j, "state"), "failed") != 0 &&
		       json_object_object_get_ex(j, "target", &o) && g_strcmp0(jstr(o, "url"), url) == 0;
		json_object_put(j);
		if (mine)
			return g_steal_pointer(&path);
	}
	return NULL;
}

/* What the catalogue says: the dump's hvdumpd report when there is one. */
static json_object *manifest_for(const char *dump, const char *host, const char *vm, gint64 when,
				 char **vm_ret, const char **suffix_ret)
{
	g_autofree char *report_path = g_strconcat(dump, ".json", NULL);
	json_object *r = hv_dumpdir_read_report(report_path);
	json_object *m = json_object_new_object();
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(when);
	g_autofree char *iso = g_date_time_format_iso8601(t);
	const char *name = vm ? vm : r ? jstr(r, "vm_name") : NULL;
	static const char *const copy[] = { "event", "policy", "kernel", "dump_format", "dump_level",
					    "complete", "degraded", "guest_message", NULL };
	g_autofree char *base = g_path_get_basename(dump);

	if (name == NULL) {
		/* hvdumpd's and hvdump run's names start with the VM's: NAME-2026... */
		char *dash = strstr(base, "-20");

		name = base;
		if (dash != NULL)
			*dash = '\0';
	}
	*vm_ret = g_strdup(name); /* before r (which name may point into) is released */
	json_object_object_add(m, "schema", json_object_new_string("hvdump-manifest"));
	json_object_object_add(m, "version", json_object_new_int(1));
	json_object_object_add(m, "host", json_object_new_string(host));
	json_object_object_add(m, "vm_name", json_object_new_string(name));
	json_object_object_add(m, "time", json_object_new_int64(when));
	json_object_object_add(m, "time_iso", json_object_new_string(iso));
	json_object_object_add(m, "pushed_by", json_object_new_string("hvdump fleet push"));
	*suffix_ret = ".vmcore";
	if (r != NULL) {
		json_object *vmo, *v;

		for (guint i = 0; copy[i] != NULL; i++) {
			if (json_object_object_get_ex(r, copy[i], &v))
				json_object_object_add(m, !strcmp(copy[i], "dump_format") ? "format" : copy[i],
						       json_object_get(v));
		}
		if (json_object_object_get_ex(r, "vm", &vmo) && jstr(vmo, "uuid") != NULL)
			json_object_object_add(m, "vm_uuid", json_object_new_string(jstr(vmo, "uuid")));
		if (g_str_has_prefix(jstr(r, "dump_format") ? jstr(r, "dump_format") : "", "kdump"))
			*suffix_ret = ".kdump";
		json_object_put(r);
	} else {
		/* no report: the file says what it is (the first bytes of a kdump file) */
		FILE *f = fopen(dump, "rb");
		char sig[8] = "";

		if (f != NULL) {
			if (fread(sig, 1, sizeof(sig), f) == sizeof(sig) && !memcmp(sig, "KDUMP   ", 8))
				*suffix_ret = ".kdump";
			fclose(f);
		}
	}
	return m;
}

int hv_cmd_fleet_push(int argc, char **argv)
{
	g_autofree char *target = NULL, *credentials = NULL, *endpoint = NULL, *region = NULL, *ca_file = NULL,
			*known_hosts = NULL, *rate = NULL, *journal_dir = NULL, *host = NULL, *vm = NULL,
			*keep = NULL;
	gboolean virtual_host = FALSE;
	gint wait_s = 300;
	int dir_lock;
	const GOptionEntry entries[] = {
		{ "target", 0, 0, G_OPTION_ARG_STRING, &target,
		  "Where to: s3://BUCKET[/PREFIX] or sftp://[USER@]HOST[:PORT]/PATH", "URL" },
		{ "credentials", 0, 0, G_OPTION_ARG_FILENAME, &credentials,
		  "s3: key file [s3] access_key=, secret_key= (default /etc/hvdump/s3.cred); sftp: the private "
		  "key (default /etc/hvdump/sftp.key); root-owned, 0600", "FILE" },
		{ "endpoint", 0, 0, G_OPTION_ARG_STRING, &endpoint, "s3: https://host[:port]", "URL" },
		{ "region", 0, 0, G_OPTION_ARG_STRING, &region, "s3: signing region", "NAME" },
		{ "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "s3: CA certificates for TLS", "FILE" },
		{ "virtual-host", 0, 0, G_OPTION_ARG_NONE, &virtual_host, "s3: bucket in the host name", NULL },
		{ "known-hosts", 0, 0, G_OPTION_ARG_FILENAME, &known_hosts,
		  "sftp: known_hosts (default /root/.ssh/known_hosts); an unknown host key is refused", "FILE" },
		{ "upload-rate", 0, 0, G_OPTION_ARG_STRING, &rate, "Bytes per second (K, M, G), default no limit",
		  "RATE" },
		{ "keep-local", 0, 0, G_OPTION_ARG_STRING, &keep,
		  "yes (default), until-uploaded or no: remove DUMP (and DUMP.json) once uploaded", "WHAT" },
		{ "host", 0, 0, G_OPTION_ARG_STRING, &host, "Host name in the manifest (default this host's)", "NAME" },
		{ "vm", 0, 0, G_OPTION_ARG_STRING, &vm, "VM name in the manifest (default: the report's)", "NAME" },
		{ "journal-dir", 0, 0, G_OPTION_ARG_FILENAME, &journal_dir,
		  "Where the upload journal lives (default " DEFAULT_JOURNAL_DIR ")", "DIR" },
		{ "wait", 0, 0, G_OPTION_ARG_INT, &wait_s,
		  "Retry for up to this many seconds while the target is unreachable (default 300; 0: once)", "S" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("DUMP - ship a dump to a fleet target");
	g_autoptr(GError) e = NULL;
	g_autofree char *dump = NULL, *journal = NULL, *vm_name = NULL, *id = NULL;
	HvUploadTarget t = { 0 };
	HvKeepLocal keep_local = HV_KEEP_LOCAL_YES;
	gint64 deadline, backoff = 2;
	int rc = HV_EXIT_FAILURE;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Exit status: 0 uploaded and verified, 1 failed (the message says why), 2 usage,\n"
		"75 the target stayed unreachable for --wait seconds (run again: it resumes).\n");
	if (!g_option_context_parse(ctx, &argc, &argv, &e) || argc != 2) {
		hv_cli_error("fleet push: %s", e ? e->message : "needs one DUMP");
		return HV_EXIT_USAGE;
	}
	if (target == NULL || (!g_str_has_prefix(target, "s3://") && !g_str_has_prefix(target, "sftp://"))) {
		hv_cli_error("fleet push: --target s3://BUCKET[/PREFIX] or sftp://[USER@]HOST[:PORT]/PATH is required");
		return HV_EXIT_USAGE;
	}
	if (keep != NULL) {
		if (!strcmp(keep, "yes"))
			keep_local = HV_KEEP_LOCAL_YES;
		else if (!strcmp(keep, "until-uploaded"))
			keep_local = HV_KEEP_LOCAL_UNTIL_UPLOADED;
		else if (!strcmp(keep, "no"))
			keep_local = HV_KEEP_LOCAL_NO;
		else {
			hv_cli_error("fleet push: --keep-local must be yes, until-uploaded or no, not '%s'", keep);
			return HV_EXIT_USAGE;
		}
	}
	t.url = g_strdup(target);
	t.credentials = g_strdup(credentials);
	t.endpoint = g_strdup(endpoint);
	t.region = g_strdup(region);
	t.ca_file = g_strdup(ca_file);
	t.virtual_host = virtual_host;
	t.known_hosts = g_strdup(known_hosts);
	if (rate != NULL && !hv_config_parse_size(rate, &t.rate)) {
		hv_cli_error("fleet push: --upload-rate '%s' is not a size (512K, 10M)", rate);
		hv_upload_target_clear(&t);
		return HV_EXIT_USAGE;
	}
	if (!hv_upload_target_check(&t, &e)) {
		hv_cli_error("fleet push: %s", e->message);
		hv_upload_target_clear(&t);
		return HV_EXIT_FAILURE;
	}
	dump = g_canonicalize_filename(argv[1], NULL);
	if (journal_dir == NULL)
		journal_dir = g_strdup(DEFAULT_JOURNAL_DIR);
	if (g_mkdir_with_parents(journal_dir, 0700) != 0) {
		hv_cli_error("fleet push: %s: %s", journal_dir, g_strerror(errno));
		hv_upload_target_clear(&t);
		return HV_EXIT_FAILURE;
	}
	/* two pushes of one dump at once: the second finds the first's journal */
	dir_lock = open(journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_lock < 0 || flock(dir_lock, LOCK_EX) != 0) {
		hv_cli_error("fleet push: %s: %s", journal_dir, g_strerror(errno));
		if (dir_lock >= 0)
			close(dir_lock);
		hv_upload_target_clear(&t);
		return HV_EXIT_FAILURE;
	}
	journal = find_journal(journal_dir, dump, t.url);
	if (journal != NULL) {
		hv_cli_info("resuming %s", journal);
	} else {
		gint64 now = g_get_real_time() / G_USEC_PER_SEC;
		const char *suffix;
		g_autofree char *report = g_strconcat(dump, ".json", NULL);
		json_object *m = manifest_for(dump, host ? host : g_get_host_name(), vm, now, &vm_name, &suffix);
		json_object *r = hv_dumpdir_read_report(report);

		id = hv_upload_new_id(now, host ? host : g_get_host_name(), vm_name);
		journal = hv_upload_enqueue(journal_dir, id, dump, r ? report : NULL, suffix, now, &t, keep_local, m, &e);
		if (r != NULL)
			json_object_put(r);
		json_object_put(m);
		if (journal == NULL) {
			hv_cli_error("fleet push: %s", e->message);
			hv_upload_target_clear(&t);
			close(dir_lock);
			return HV_EXIT_FAILURE;
		}
	}
	close(dir_lock);
	hv_upload_target_clear(&t);
	deadline = g_get_monotonic_time() / G_USEC_PER_SEC + MAX(wait_s, 0);
	for (;;) {
		HvUploadResult res;

		g_clear_error(&e);
		res = hv_upload_step(journal, 0, NULL, &e);
		if (res == HV_UPLOAD_DONE) {
			json_object *j = hv_upload_read_journal(journal, NULL);

			hv_cli_info("uploaded %s as %s (manifest %s), verified", dump, j ? jstr(j, "dump_key") : "?",
				    j ? jstr(j, "manifest_key") : "?");
			if (j != NULL) {
				printf("%s\n", jstr(j, "id"));
				json_object_put(j);
			}
			rc = HV_EXIT_OK;
			break;
		}
		if (res == HV_UPLOAD_FAILED) {
			hv_cli_error("fleet push: %s", e ? e->message : "failed");
			rc = HV_EXIT_FAILURE;
			break;
		}
		if (g_get_monotonic_time() / G_USEC_PER_SEC + backoff > deadline) {
			hv_cli_error("fleet push: %s; gave up after --wait %d s; run again to resume (%s)",
				     e ? e->message : "target unreachable", wait_s, journal);
			rc = EXIT_TEMPFAIL;
			break;
		}
		hv_cli_info("%s; retrying in %" G_GINT64_FORMAT " s", e ? e->message : "?", backoff);
		g_usleep(backoff * G_USEC_PER_SEC);
		backoff = MIN(backoff * 2, 60);
	}
	return rc;
}
