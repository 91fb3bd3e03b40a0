/* builtin-fleet.c — `hvdump fleet list|stats|fetch`: the catalogue of dumps
 * many hosts shipped to one S3 store, read straight from the manifests
 * (docs/fleet.md). A manifest is input from the store (any host, or anyone
 * with write access, may have put it there): read with a size cap, fields
 * type-checked, strings bounded and escaped before they reach a terminal. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-s3.h"
#include "hvdump-cli.h"

#define MAX_MANIFEST (1024 * 1024)
#define MAX_FIELD 512

typedef struct {
	char *target, *endpoint, *credentials, *region, *ca_file;
	gboolean virtual_host;
} FleetOpts;

#define FLEET_ENTRIES(o)                                                                                   \
	{ "target", 't', 0, G_OPTION_ARG_STRING, &(o)->target, "The store: s3://BUCKET/PREFIX", "URL" },   \
	{ "endpoint", 0, 0, G_OPTION_ARG_STRING, &(o)->endpoint,                                           \
	  "S3 endpoint, https://host[:port] (default: the credentials file's endpoint=)", "URL" },         \
	{ "credentials", 0, 0, G_OPTION_ARG_FILENAME, &(o)->credentials,                                   \
	  "Key file with [s3] access_key=, secret_key= (root-owned, 0600; default /etc/hvdump/s3.cred)",   \
	  "FILE" },                                                                                        \
	{ "region", 0, 0, G_OPTION_ARG_STRING, &(o)->region, "Signing region (default us-east-1)", "NAME" }, \
	{ "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &(o)->ca_file, "CA certificates for TLS (default: the system's)", \
	  "FILE" },                                                                                        \
	{ "virtual-host", 0, 0, G_OPTION_ARG_NONE, &(o)->virtual_host,                                      \
	  "Bucket in the host name (default: path style)", NULL }

static HvS3 *fleet_connect(FleetOpts *o)
{
	HvS3Config c = { 0 };
	GError *e = NULL;
	HvS3 *s3 = NULL;

	if (!o->target) {
		hv_cli_error("fleet: --target s3://BUCKET/PREFIX is required");
		return NULL;
	}
	if (!hv_s3_parse_url(o->target, &c, &e) ||
	    !hv_s3_load_credentials(o->credentials ? o->credentials : "/etc/hvdump/s3.cred", &c, &e)) {
		hv_cli_error("fleet: %s", e->message);
		g_error_free(e);
		hv_s3_config_clear(&c);
		return NULL;
	}
	if (o->endpoint) {
		g_free(c.endpoint);
		c.endpoint = g_strdup(o->endpoint);
	}
	if (o->region) {
		g_free(c.region);
		c.region = g_strdup(o->region);
	}
	c.ca_file = g_strdup(o->ca_file);
	c.path_style = !o->virtual_host;
	if (!(s3 = hv_s3_new(&c, &e))) {
		hv_cli_error("fleet: %s", e->message);
		g_error_free(e);
	}
	hv_s3_config_clear(&c);
	return s3;
}

/* A manifest's string field, bounded and printable; "" when absent. */
static char *mstr(json_object *m, const char *k)
{
	json_object *v;
	const char *s;
	GString *o;

	if (!json_object_object_get_ex(m, k, &v) || !json_object_is_type(v, json_type_string))
		return g_strdup("");
	s = json_object_get_string(v);
	o = g_string_new(NULL);
	for (gsize i = 0; s[i] && i < MAX_FIELD; i++) {
		unsigned char ch = s[i];
		if (ch < 0x20 || ch == 0x7f)
			g_string_append_printf(o, "\\x%02x", ch);
		else
			g_string_append_c(o, ch);
	}
	return g_string_free(o, FALSE);
}

static gint64 mint(json_object *m, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(m, k, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
											   : -1;
}

typedef struct {
	HvS3 *s3;
	GPtrArray *keys;
} Keys;

static void put_json(gpointer p)
{
	json_object_put(p);
}

static gboolean add_key(const char *key, guint64 size, const char *etag, void *user)
{
	Keys *k = user;
	(void)etag;
	if (g_str_has_suffix(key, ".json") && size <= MAX_MANIFEST)
		g_ptr_array_add(k->keys, g_strdup(key));
	return TRUE;
}

/* Manifests under PREFIX/manifests/, from `since`'s day on (date prefixes
 * skip older days), parsed; bad ones are counted, not fatal. */
static GPtrArray *read_manifests(HvS3 *s3, gint64 since, guint *bad, GError **error)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *out = g_ptr_array_new_with_free_func(put_json);
	Keys k = { s3, keys };
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (since > 0 && now - since < 400 * 86400) {
		for (gint64 t = since - since % 86400; t <= now + 86400; t += 86400) {
			g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
			g_autofree char *day = g_date_time_format(d, "manifests/%Y/%m/%d/");
			g_autofree char *prefix = hv_s3_key(s3, day);
			if (!hv_s3_list(s3, prefix, add_key, &k, error))
				goto fail;
		}
	} else {
		g_autofree char *prefix = hv_s3_key(s3, "manifests/");
		if (!hv_s3_list(s3, prefix, add_key, &k, error))
			goto fail;
	}
	for (guint i = 0; i < keys->len; i++) {
		GError *e = NULL;
		g_autoptr(GBytes) b = hv_s3_get(s3, keys->pdata[i], MAX_MANIFEST, &e);
		json_object *m = NULL;
		gsize len;
		const char *data;

		if (!b) {
			if (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND)) { /* removed meanwhile */
				g_error_free(e);
				continue;
			}
			g_propagate_error(error, e);
			goto fail;
		}
		data = g_bytes_get_data(b, &len);
		{
			json_tokener *tok = json_tokener_new_ex(32);
			m = json_tokener_parse_ex(tok, data, (int)len);
			json_tokener_free(tok);
		}
		if (!m || !json_object_is_type(m, json_type_object) || mint(m, "time") < 0) {
			(*bad)++;
			if (m)
				json_object_put(m);
			continue;
		}
		json_object_object_add(m, "manifest_key", json_object_new_string(keys->pdata[i]));
		g_ptr_array_add(out, m);
	}
	return out;
fail:
	g_ptr_array_free(out, TRUE);
	return NULL;
}

static gint cmp_time(gconstpointer a, gconstpointer b)
{
	gint64 x = mint(*(json_object *const *)a, "time"), y = mint(*(json_object *const *)b, "time");
	return x < y ? -1 : x > y;
}

static gint64 parse_since(const char *s)
{
	g_autoptr(GDateTime) d = NULL;
	char *end;
	gint64 n;

	if (!s)
		return 0;
	n = g_ascii_strtoll(s, &end, 10);
	if (end != s && (!strcmp(end, "d") || !strcmp(end, "h") || !strcmp(end, "m")))
		return g_get_real_time() / G_USEC_PER_SEC - n * (*end == 'd' ? 86400 : *end == 'h' ? 3600 : 60);
	d = g_date_time_new_from_iso8601(s, g_time_zone_new_utc());
	if (!d) {
		g_autofree char *t = g_strconcat(s, "T00:00:00Z", NULL);
		d = g_date_time_new_from_iso8601(t, NULL);
	}
	return d ? g_date_time_to_unix(d) : -1;
}

static int fleet_list(int argc, char **argv, gboolean stats)
{
	FleetOpts o = { 0 };
	char *vm = NULL, *since = NULL, *sig = NULL;
	gboolean json = FALSE;
	GOptionEntry entries[] = {
		FLEET_ENTRIES(&o),
		{ "vm", 0, 0, G_OPTION_ARG_STRING, &vm, "Only VMs whose name matches GLOB", "GLOB" },
		{ "since", 0, 0, G_OPTION_ARG_STRING, &since, "Only dumps since T (2026-12-01, ISO 8601, or 7d/12h/30m ago)",
		  "T" },
		{ "signature", 0, 0, G_OPTION_ARG_STRING, &sig, "Only dumps with this triage signature", "S" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(stats ? "- counts by signature, kernel and host"
							     : "- the dumps in the store");
	GError *e = NULL;
	HvS3 *s3;
	GPtrArray *all;
	guint bad = 0;
	gint64 t0;
	json_object *out;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e)) {
		hv_cli_error("fleet: %s", e->message);
		return HV_EXIT_USAGE;
	}
	if ((t0 = parse_since(since)) < 0) {
		hv_cli_error("fleet: --since %s: not a date, ISO 8601 time or Nd/Nh/Nm", since);
		return HV_EXIT_USAGE;
	}
	if (!(s3 = fleet_connect(&o)))
		return HV_EXIT_FAILURE;
	all = read_manifests(s3, t0, &bad, &e);
	hv_s3_free(s3);
	if (!all) {
		hv_cli_error("fleet: %s", e->message);
		return HV_EXIT_FAILURE;
	}
	g_ptr_array_sort(all, cmp_time);
	out = json_object_new_array();
	for (guint i = 0; i < all->len; i++) {
		json_object *m = all->pdata[i];
		g_autofree char *name = mstr(m, "vm_name"), *s = mstr(m, "signature");
		if ((t0 && mint(m, "time") < t0) || (vm && fnmatch(vm, name, 0)) || (sig && strcmp(sig, s)))
			continue;
		json_object_array_add(out, json_object_get(m));
	}
	if (stats) {
		const char *by[] = { "signature", "kernel_release", "host" };
		json_object *st = json_object_new_object();
		for (int b = 0; b < 3; b++) {
			g_autoptr(GHashTable) h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
			json_object *jb = json_object_new_object();
			for (size_t i = 0; i < json_object_array_length(out); i++) {
				char *v = mstr(json_object_array_get_idx(out, i), by[b]);
				if (!*v) {
					g_free(v);
					v = g_strdup("(none)");
				}
				g_hash_table_insert(h, v, GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(h, v)) + 1));
			}
			GHashTableIter it;
			gpointer k, v;
			g_hash_table_iter_init(&it, h);
			while (g_hash_table_iter_next(&it, &k, &v))
				json_object_object_add(jb, k, json_object_new_int(GPOINTER_TO_UINT(v)));
			json_object_object_add(st, by[b], jb);
		}
		json_object_object_add(st, "dumps", json_object_new_int(json_object_array_length(out)));
		json_object_object_add(st, "unreadable_manifests", json_object_new_int(bad));
		if (json) {
			puts(json_object_to_json_string_ext(st, JSON_C_TO_STRING_PRETTY));
		} else {
			printf("%zu dumps%s\n", json_object_array_length(out), bad ? " (some manifests unreadable)" : "");
			for (int b = 0; b < 3; b++) {
				json_object *jb;
				json_object_object_get_ex(st, by[b], &jb);
				printf("\nby %s:\n", by[b]);
				json_object_object_foreach(jb, key, val)
					printf("  %6d  %s\n", json_object_get_int(val), key);
			}
		}
		json_object_put(st);
	} else if (json) {
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		printf("%-44s %-20s %-16s %-16s %10s  %s\n", "ID", "TIME (UTC)", "HOST", "VM", "MIB", "TITLE");
		for (size_t i = 0; i < json_object_array_length(out); i++) {
			json_object *m = json_object_array_get_idx(out, i);
			g_autofree char *id = mstr(m, "id"), *host = mstr(m, "host"), *name = mstr(m, "vm_name"),
					*title = mstr(m, "title");
			g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(mint(m, "time"));
			g_autofree char *when = d ? g_date_time_format(d, "%Y-%m-%d %H:%M:%S") : g_strdup("?");
			printf("%-44s %-20s %-16s %-16s %10.1f  %s\n", id, when, host, name,
			       mint(m, "dump_size") / 1048576.0, title);
		}
	}
	if (bad)
		hv_cli_info("fleet: %u manifests unreadable (not JSON objects with a time), left out", bad);
	json_object_put(out);
	g_ptr_array_free(all, TRUE);
	return HV_EXIT_OK;
}

static int fleet_fetch(int argc, char **argv)
{
	FleetOpts o = { 0 };
	GOptionEntry entries[] = { FLEET_ENTRIES(&o), { NULL, 0, 0, 0, NULL, NULL, NULL } };
	g_autoptr(GOptionContext) ctx = g_option_context_new("ID DIR - download a dump and verify it");
	GError *e = NULL;
	HvS3 *s3;
	GPtrArray *all;
	json_object *m = NULL;
	guint bad = 0;
	g_autofree char *key = NULL, *sha = NULL, *path = NULL, *part = NULL, *dkey = NULL, *base = NULL;
	gint64 size, got;
	int fd, rc = HV_EXIT_FAILURE;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e) || argc != 3) {
		hv_cli_error("fleet fetch: %s", e ? e->message : "needs ID and DIR");
		return HV_EXIT_USAGE;
	}
	if (!(s3 = fleet_connect(&o)))
		return HV_EXIT_FAILURE;
	all = read_manifests(s3, 0, &bad, &e);
	if (!all) {
		hv_cli_error("fleet fetch: %s", e->message);
		goto out;
	}
	for (guint i = 0; i < all->len && !m; i++) {
		g_autofree char *id = mstr(all->pdata[i], "id");
		if (!strcmp(id, argv[1]))
			m = all->pdata[i];
	}
	if (!m) {
		hv_cli_error("fleet fetch: no manifest with id %s", argv[1]);
		goto out;
	}
	dkey = mstr(m, "dump_key");
	sha = mstr(m, "dump_sha256");
	size = mint(m, "dump_size");
	base = g_path_get_basename(dkey);
	if (!*dkey || strlen(sha) != 64 || size < 0 || !strcmp(base, ".") || !strcmp(base, "..") ||
	    strchr(base, '\\')) {
		hv_cli_error("fleet fetch: manifest of %s lacks dump_key, dump_sha256 or dump_size", argv[1]);
		goto out;
	}
	key = hv_s3_key(s3, dkey);
	path = g_build_filename(argv[2], base, NULL);
	part = g_strconcat(path, ".part", NULL);
	fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		hv_cli_error("fleet fetch: %s: %s", part, g_strerror(errno));
		goto out;
	}
	got = hv_s3_get_to_fd(s3, key, fd, &e);
	if (got < 0) {
		hv_cli_error("fleet fetch: %s", e->message);
	} else if (got != size) {
		hv_cli_error("fleet fetch: %s is %" G_GINT64_FORMAT " bytes, its manifest says %" G_GINT64_FORMAT
			     " (truncated or replaced object)", key, got, size);
	} else {
		GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
		guint8 *buf = g_malloc(1 << 20);
		gint64 off = 0;
		ssize_t n = 0;
		while (off < size && (n = pread(fd, buf, 1 << 20, off)) > 0) {
			g_checksum_update(c, buf, n);
			off += n;
		}
		if (off != size || strcmp(g_checksum_get_string(c), sha)) {
			hv_cli_error("fleet fetch: %s: SHA-256 %s, its manifest says %s (corrupt object)", key,
				     off == size ? g_checksum_get_string(c) : "unreadable", sha);
		} else if (fsync(fd) != 0 || rename(part, path) != 0) {
			hv_cli_error("fleet fetch: %s: %s", path, g_strerror(errno));
		} else {
			hv_cli_info("fetched %s (%" G_GINT64_FORMAT " bytes, SHA-256 verified)", path, size);
			rc = HV_EXIT_OK;
		}
		g_free(buf);
		g_checksum_free(c);
	}
	close(fd);
	if (rc != HV_EXIT_OK)
		unlink(part);
out:
	if (all)
		g_ptr_array_free(all, TRUE);
	g_clear_error(&e);
	hv_s3_free(s3);
	return rc;
}

int hv_cmd_fleet(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		puts("Usage: hvdump fleet list|stats|fetch [OPTIONS...] (see hvdump(1), FLEET)");
		return argc < 2 ? HV_EXIT_USAGE : HV_EXIT_OK;
	}
	if (!strcmp(argv[1], "list"))
		return fleet_list(argc - 1, argv + 1, FALSE);
	if (!strcmp(argv[1], "stats"))
		return fleet_list(argc - 1, argv + 1, TRUE);
	if (!strcmp(argv[1], "fetch"))
		return fleet_fetch(argc - 1, argv + 1);
	hv_cli_error("fleet: unknown command '%s' (list, stats, fetch)", argv[1]);
	return HV_EXIT_USAGE;
}
