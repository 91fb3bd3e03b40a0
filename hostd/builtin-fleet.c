/* builtin-fleet.c — `hvdump fleet list|stats|fetch`: the catalogue of dumps
 * many hosts shipped to one S3 store, read straight from the manifests
 * (docs/fleet.md). A manifest is input from the store (any host, or anyone
 * with write access, may have put it there): hv_manifest_parse checks it
 * (hv-manifest.h says what a manifest must be) and keeps only bounded,
 * printable fields; a listing keeps at most MAX_MANIFESTS of them. fetch
 * reads the one manifest an id can have, names the local file from the
 * checked id, and never replaces an existing file. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-manifest.h"
#include "hv-s3-xml.h"
#include "hv-s3.h"
#include "hvdump-cli.h"

#define MAX_MANIFESTS 200000                 /* kept by one list/stats */
#define MAX_KEPT_BYTES (256u * 1024 * 1024) /* their fields */
#define MAX_NAMED 10                         /* bad manifests named one by one */
#define MAX_SINCE_DAYS 36500
#define MAX_MATCHES 16                       /* manifests of one id found by listing */
#define CHUNK (1 << 20)

typedef struct {
	char *target, *endpoint, *credentials, *region, *ca_file;
	gboolean virtual_host, allow_http;
} FleetOpts;

#define FLEET_ENTRIES(o)                                                                                   \
	{ "target", 't', 0, G_OPTION_ARG_STRING, &(o)->target, "The store: s3://BUCKET/PREFIX", "URL" },   \
	{ "endpoint", 0, 0, G_OPTION_ARG_STRING, &(o)->endpoint,                                           \
	  "S3 endpoint, https://host[:port] (default: the credentials file's endpoint=)", "URL" },         \
	{ "credentials", 0, 0, G_OPTION_ARG_FILENAME, &(o)->credentials,                                   \
	  "Key file with [s3] access_key=, secret_key= (root-owned, 0600; default /etc/hvdump/s3.cred)",   \
	  "FILE" },                                                                                        \
	{ "region", 0, 0, G_OPTION_ARG_STRING, &(o)->region, "Signing region (default us-east-1)", "NAME" }, \
	{ "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &(o)->ca_file, "CA certificates for TLS (default: the " \
	  "credentials file's ca_file=, else the system's)", "FILE" },                                     \
	{ "virtual-host", 0, 0, G_OPTION_ARG_NONE, &(o)->virtual_host,                                      \
	  "Bucket in the host name (default: the credentials file's addressing=, else path style)", NULL }, \
	{ "allow-http", 0, 0, G_OPTION_ARG_NONE, &(o)->allow_http,                                          \
	  "Allow a plain http:// endpoint that is not on the loopback (unencrypted)", NULL }

static void fleet_opts_clear(FleetOpts *o)
{
	g_free(o->target);
	g_free(o->endpoint);
	g_free(o->credentials);
	g_free(o->region);
	g_free(o->ca_file);
	memset(o, 0, sizeof(*o));
}

static HvS3 *fleet_connect(FleetOpts *o, const char *cmd)
{
	HvS3Config c = { 0 };
	GError *e = NULL;
	HvS3 *s3 = NULL;

	if (!o->target) {
		hv_cli_error("%s: --target s3://BUCKET/PREFIX is required", cmd);
		return NULL;
	}
	if (!hv_s3_parse_url(o->target, &c, &e) ||
	    !hv_s3_load_credentials(o->credentials ? o->credentials : "/etc/hvdump/s3.cred", &c, &e)) {
		hv_cli_error("%s: %s", cmd, e->message);
		g_error_free(e);
		hv_s3_config_clear(&c);
		return NULL;
	}
	/* the command line over the credentials file */
	if (o->endpoint) {
		g_free(c.endpoint);
		c.endpoint = g_strdup(o->endpoint);
	}
	if (o->region) {
		g_free(c.region);
		c.region = g_strdup(o->region);
	}
	if (o->ca_file) {
		g_free(c.ca_file);
		c.ca_file = g_canonicalize_filename(o->ca_file, NULL);
	}
	if (o->virtual_host)
		c.path_style = FALSE;
	c.allow_http = o->allow_http;
	if (!c.endpoint) {
		hv_cli_error("%s: no endpoint (--endpoint, or endpoint= in the credentials file)", cmd);
	} else if (!(s3 = hv_s3_new(&c, &e))) {
		hv_cli_error("%s: %s", cmd, e->message);
		g_error_free(e);
	}
	hv_s3_config_clear(&c);
	return s3;
}

/* ------------------------------------------------------------ reading */

typedef struct {
	HvS3 *s3;
	gsize prefix_len;      /* the target's prefix, taken off listed keys */
	gint64 since;          /* 0: all */
	const char *vm, *sig;  /* filters, NULL: all */
	GArray *all;           /* HvManifest */
	gsize bytes;
	guint bad;
	GError *error;         /* what stopped the walk */
} Reader;

static void bad_manifest(Reader *r, const char *key, const char *why)
{
	if (++r->bad <= MAX_NAMED) {
		g_autofree char *k = hv_s3_printable(key, -1, 200);

		hv_cli_info("fleet: %s: %s; left out", k, why);
	}
}

static gboolean read_one(const char *key, guint64 size, const char *etag, void *user)
{
	Reader *r = user;
	const char *rel = key + r->prefix_len;
	g_autoptr(GBytes) b = NULL;
	GError *e = NULL;
	HvManifest m;
	gsize len;
	const char *data;

	(void)etag;
	if (!hv_manifest_key_parse(rel, NULL, NULL)) {
		bad_manifest(r, rel, "not manifests/YYYY/MM/DD/ID.json");
		return TRUE;
	}
	if (size > HV_MANIFEST_MAX) {
		bad_manifest(r, rel, "larger than 64 KiB");
		return TRUE;
	}
	if (!(b = hv_s3_get(r->s3, key, HV_MANIFEST_MAX, &e))) {
		if (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND)) { /* removed meanwhile */
			g_error_free(e);
			return TRUE;
		}
		if (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_TOO_LARGE)) {
			bad_manifest(r, rel, "larger than 64 KiB");
			g_error_free(e);
			return TRUE;
		}
		r->error = e;
		return FALSE;
	}
	data = g_bytes_get_data(b, &len);
	if (!hv_manifest_parse(rel, data, len, &m, &e)) {
		bad_manifest(r, rel, e->message);
		g_error_free(e);
		return TRUE;
	}
	if ((r->since && m.time < r->since) || (r->vm && fnmatch(r->vm, hv_manifest_text(&m, HV_MF_VM_NAME), 0)) ||
	    (r->sig && strcmp(r->sig, hv_manifest_text(&m, HV_MF_SIGNATURE)))) {
		hv_manifest_clear(&m);
		return TRUE;
	}
	if (r->all->len >= MAX_MANIFESTS || r->bytes + hv_manifest_bytes(&m) > MAX_KEPT_BYTES) {
		g_set_error(&r->error, HV_S3_ERROR, HV_S3_ERROR_TOO_LARGE,
			    "more than %d manifests (or %u MiB of them) to show; narrow it with --since, --vm or "
			    "--signature", MAX_MANIFESTS, MAX_KEPT_BYTES >> 20);
		hv_manifest_clear(&m);
		return FALSE;
	}
	r->bytes += hv_manifest_bytes(&m);
	g_array_append_val(r->all, m);
	return TRUE;
}

static void manifest_clear(void *p)
{
	hv_manifest_clear(p);
}

static gint cmp_time(gconstpointer a, gconstpointer b)
{
	const HvManifest *x = a, *y = b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* One id in two manifests (possible only for ids without their time, on
 * two days): neither is shown. */
static void drop_duplicates(Reader *r)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GHashTable) dup = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GArray *all = r->all;
	guint i;

	for (i = 0; i < all->len; i++) {
		const char *id = g_array_index(all, HvManifest, i).id;

		if (g_hash_table_contains(seen, id))
			g_hash_table_add(dup, g_strdup(id));
		else
			g_hash_table_add(seen, g_strdup(id));
	}
	if (!g_hash_table_size(dup))
		return;
	for (i = all->len; i-- > 0;) {
		HvManifest *m = &g_array_index(all, HvManifest, i);

		if (g_hash_table_contains(dup, m->id)) {
			bad_manifest(r, m->key, "its id is also in another manifest");
			g_array_remove_index(all, i);
		}
	}
}

/* The manifests under PREFIX/manifests/ that pass the filters, from
 * since's day on (day prefixes skip older days), oldest first. */
static GArray *read_manifests(HvS3 *s3, gint64 since, const char *vm, const char *sig, guint *bad, GError **error)
{
	g_autofree char *top = hv_s3_key(s3, "");
	Reader r = { .s3 = s3, .prefix_len = strlen(top), .since = since, .vm = vm, .sig = sig };
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gboolean ok = TRUE;

	r.all = g_array_new(FALSE, TRUE, sizeof(HvManifest));
	g_array_set_clear_func(r.all, manifest_clear);
	if (since > 0 && now - since < 400 * 86400) {
		for (gint64 t = since - since % 86400; ok && !r.error && t <= now + 86400; t += 86400) {
			g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);
			g_autofree char *day = g_date_time_format(d, "manifests/%Y/%m/%d/");
			g_autofree char *prefix = hv_s3_key(s3, day);

			ok = hv_s3_list(s3, prefix, read_one, &r, error);
		}
	} else {
		g_autofree char *prefix = hv_s3_key(s3, "manifests/");

		ok = hv_s3_list(s3, prefix, read_one, &r, error);
	}
	if (ok && r.error) {
		g_propagate_error(error, r.error);
		ok = FALSE;
	}
	if (!ok) {
		g_clear_error(&r.error);
		g_array_free(r.all, TRUE);
		return NULL;
	}
	g_array_sort(r.all, cmp_time);
	drop_duplicates(&r);
	if (r.bad > MAX_NAMED)
		hv_cli_info("fleet: %u more manifests left out", r.bad - MAX_NAMED);
	*bad = r.bad;
	return r.all;
}

/* NULL s: 0 (no filter). Nd/Nh/Nm ago, a date, or an ISO 8601 time; -1 on error. */
static gint64 parse_since(const char *s)
{
	g_autoptr(GDateTime) d = NULL;
	g_autoptr(GTimeZone) utc = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC, v;
	guint64 n;
	gsize digits;

	if (!s)
		return 0;
	if (strlen(s) > 64)
		return -1;
	digits = strspn(s, "0123456789");
	if (digits && (!strcmp(s + digits, "d") || !strcmp(s + digits, "h") || !strcmp(s + digits, "m"))) {
		char unit = s[digits];
		gint64 mul = unit == 'd' ? 86400 : unit == 'h' ? 3600 : 60;
		g_autofree char *num = g_strndup(s, digits);

		if (!hv_s3_parse_u64(num, (guint64)MAX_SINCE_DAYS * 86400 / mul, &n))
			return -1;
		return MAX(now - (gint64)n * mul, 1);
	}
	utc = g_time_zone_new_utc();
	d = g_date_time_new_from_iso8601(s, utc);
	if (!d) {
		g_autofree char *t = g_strconcat(s, "T00:00:00Z", NULL);

		d = g_date_time_new_from_iso8601(t, NULL);
	}
	if (!d)
		return -1;
	v = g_date_time_to_unix(d);
	return v < 1 ? 1 : v;
}

/* ------------------------------------------------------------ list, stats */

typedef struct {
	const char *name;
	guint n;
} Count;

static gint cmp_count(gconstpointer a, gconstpointer b)
{
	const Count *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void print_stats(GArray *all, guint bad, gboolean json)
{
	static const HvManifestText by[] = { HV_MF_SIGNATURE, HV_MF_KERNEL, HV_MF_HOST };
	json_object *st = json_object_new_object();

	if (!json)
		printf("%u dumps%s\n", all->len, bad ? " (some manifests left out)" : "");
	for (guint b = 0; b < G_N_ELEMENTS(by); b++) {
		g_autoptr(GHashTable) h = g_hash_table_new(g_str_hash, g_str_equal);
		g_autoptr(GArray) counts = g_array_new(FALSE, FALSE, sizeof(Count));
		json_object *jb = json_object_new_object();
		GHashTableIter it;
		gpointer k, v;

		for (guint i = 0; i < all->len; i++) {
			const char *s = hv_manifest_text(&g_array_index(all, HvManifest, i), by[b]);
			guint n;

			if (!*s)
				s = "(none)";
			n = GPOINTER_TO_UINT(g_hash_table_lookup(h, s));
			g_hash_table_insert(h, (gpointer)s, GUINT_TO_POINTER(n + 1));
		}
		g_hash_table_iter_init(&it, h);
		while (g_hash_table_iter_next(&it, &k, &v)) {
			Count c = { k, GPOINTER_TO_UINT(v) };

			g_array_append_val(counts, c);
		}
		g_array_sort(counts, cmp_count);
		if (!json)
			printf("\nby %s:\n", hv_manifest_text_names[by[b]]);
		for (guint i = 0; i < counts->len; i++) {
			Count *c = &g_array_index(counts, Count, i);

			if (json)
				json_object_object_add(jb, c->name, json_object_new_int((int)c->n));
			else
				printf("  %6u  %s\n", c->n, c->name);
		}
		json_object_object_add(st, hv_manifest_text_names[by[b]], jb);
	}
	json_object_object_add(st, "dumps", json_object_new_int((int)all->len));
	json_object_object_add(st, "unreadable_manifests", json_object_new_int((int)bad));
	if (json)
		puts(json_object_to_json_string_ext(st, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(st);
}

static void print_list(GArray *all, gboolean json)
{
	if (json) {
		json_object *out = json_object_new_array();

		for (guint i = 0; i < all->len; i++)
			json_object_array_add(out, hv_manifest_to_json(&g_array_index(all, HvManifest, i)));
		puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(out);
		return;
	}
	printf("%-44s %-20s %-16s %-16s %10s  %s\n", "ID", "TIME (UTC)", "HOST", "VM", "MIB", "TITLE");
	for (guint i = 0; i < all->len; i++) {
		const HvManifest *m = &g_array_index(all, HvManifest, i);
		g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(m->time);
		g_autofree char *when = d ? g_date_time_format(d, "%Y-%m-%d %H:%M:%S") : g_strdup("?");

		printf("%-44s %-20s %-16s %-16s %10.1f  %s\n", m->id, when, hv_manifest_text(m, HV_MF_HOST),
		       hv_manifest_text(m, HV_MF_VM_NAME), m->dump_size / 1048576.0, hv_manifest_text(m, HV_MF_TITLE));
	}
}

static int fleet_list(int argc, char **argv, gboolean stats)
{
	const char *cmd = stats ? "fleet stats" : "fleet list";
	FleetOpts o = { 0 };
	g_autofree char *vm = NULL, *since = NULL, *sig = NULL;
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
	g_autoptr(GError) e = NULL;
	HvS3 *s3;
	GArray *all;
	guint bad = 0;
	gint64 t0;
	int rc = HV_EXIT_USAGE;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e)) {
		hv_cli_error("%s: %s", cmd, e->message);
		goto out;
	}
	if (argc > 1) {
		g_autofree char *a = hv_s3_printable(argv[1], -1, 80);

		hv_cli_error("%s: unexpected argument '%s'", cmd, a);
		goto out;
	}
	if ((t0 = parse_since(since)) < 0) {
		g_autofree char *s = hv_s3_printable(since, -1, 80);

		hv_cli_error("%s: --since %s: not a date, an ISO 8601 time or N days/hours/minutes (Nd, Nh, Nm; "
			     "at most 100 years)", cmd, s);
		goto out;
	}
	rc = HV_EXIT_FAILURE;
	if (!(s3 = fleet_connect(&o, cmd)))
		goto out;
	all = read_manifests(s3, t0, vm, sig, &bad, &e);
	hv_s3_free(s3);
	if (!all) {
		hv_cli_error("%s: %s", cmd, e->message);
		goto out;
	}
	if (stats)
		print_stats(all, bad, json);
	else
		print_list(all, json);
	if (bad)
		hv_cli_info("%s: %u manifests left out (unreadable, not as hv-manifest.h says, or an id twice)", cmd,
			    bad);
	g_array_free(all, TRUE);
	rc = HV_EXIT_OK;
out:
	fleet_opts_clear(&o);
	return rc;
}

/* ------------------------------------------------------------ fetch */

typedef struct {
	gsize prefix_len;
	const char *id;
	GPtrArray *keys; /* relative manifest keys of id */
} Finder;

static gboolean find_one(const char *key, guint64 size, const char *etag, void *user)
{
	Finder *f = user;
	g_autofree char *id = NULL;

	(void)size, (void)etag;
	if (hv_manifest_key_parse(key + f->prefix_len, NULL, &id) && !strcmp(id, f->id))
		g_ptr_array_add(f->keys, g_strdup(key + f->prefix_len));
	return f->keys->len < MAX_MATCHES;
}

/* The key of id's manifest: from its time when it has one (no other key
 * can hold a manifest of that id: hv_manifest_parse refuses it), else by
 * listing every manifest key (not reading them), refusing an id found
 * twice. */
static char *manifest_key(HvS3 *s3, const char *id, GError **error)
{
	g_autofree char *top = NULL, *prefix = NULL;
	g_autoptr(GPtrArray) keys = NULL;
	char *key = hv_manifest_key_for_id(id);
	Finder f;

	if (key)
		return key;
	top = hv_s3_key(s3, "");
	prefix = hv_s3_key(s3, "manifests/");
	keys = g_ptr_array_new_with_free_func(g_free);
	f = (Finder){ strlen(top), id, keys };
	if (!hv_s3_list(s3, prefix, find_one, &f, error))
		return NULL;
	if (keys->len == 0) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND, "no manifest with id %s", id);
		return NULL;
	}
	if (keys->len > 1) {
		g_ptr_array_add(keys, NULL);
		g_autofree char *list = g_strjoinv(", ", (char **)keys->pdata);

		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "id %s is in several manifests (%s%s): refused", id,
			    list, keys->len > MAX_MATCHES ? ", ..." : "");
		return NULL;
	}
	return g_strdup(keys->pdata[0]);
}

static gboolean sha256_fd(int fd, guint64 size, char hex[65])
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 *buf = g_malloc(CHUNK);
	guint64 off = 0;

	while (off < size) {
		ssize_t n = pread(fd, buf, MIN((guint64)CHUNK, size - off), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_checksum_update(c, buf, n);
		off += n;
	}
	g_strlcpy(hex, g_checksum_get_string(c), 65);
	g_free(buf);
	g_checksum_free(c);
	return off == size;
}

/* name.part beside name, then name: never replacing a file */
static gboolean publish(int dfd, const char *part, const char *name)
{
	if (renameat2(dfd, part, dfd, name, RENAME_NOREPLACE) == 0)
		return TRUE;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return FALSE;
	/* a file system without RENAME_NOREPLACE: link fails on an existing name */
	if (linkat(dfd, part, dfd, name, 0) != 0)
		return FALSE;
	unlinkat(dfd, part, 0);
	return TRUE;
}

static int download(HvS3 *s3, const HvManifest *m, const char *dir)
{
	g_autofree char *key = hv_s3_key(s3, m->dump_key);
	g_autofree char *part = g_strconcat(m->file_name, ".part", NULL);
	g_autofree char *path = g_build_filename(dir, m->file_name, NULL);
	g_autoptr(GError) e = NULL;
	char hex[65];
	struct stat st;
	int dfd, fd, r, rc = HV_EXIT_FAILURE;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		hv_cli_error("fleet fetch: %s: %s", dir, g_strerror(errno));
		return HV_EXIT_FAILURE;
	}
	if ((r = fstatat(dfd, m->file_name, &st, AT_SYMLINK_NOFOLLOW)) == 0 || errno != ENOENT) {
		hv_cli_error("fleet fetch: %s: %s", path, r == 0 ? "exists; not replaced" : g_strerror(errno));
		close(dfd);
		return HV_EXIT_FAILURE;
	}
	fd = openat(dfd, part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		hv_cli_error("fleet fetch: %s/%s: %s%s", dir, part, g_strerror(errno),
			     errno == EEXIST ? " (another fetch, or one interrupted: remove it)" : "");
		close(dfd);
		return HV_EXIT_FAILURE;
	}
	if (hv_s3_get_to_fd(s3, key, fd, m->dump_size, &e) < 0) {
		hv_cli_error("fleet fetch: %s: truncated or replaced object, refused", e->message);
	} else if (!sha256_fd(fd, m->dump_size, hex)) {
		hv_cli_error("fleet fetch: %s/%s: cannot read back what was written", dir, part);
	} else if (strcmp(hex, m->dump_sha256)) {
		hv_cli_error("fleet fetch: %s: SHA-256 %s, its manifest says %s (corrupt or replaced object)", key, hex,
			     m->dump_sha256);
	} else if (fsync(fd) != 0) {
		hv_cli_error("fleet fetch: %s/%s: %s", dir, part, g_strerror(errno));
	} else if (!publish(dfd, part, m->file_name)) {
		hv_cli_error("fleet fetch: %s: %s%s", path, g_strerror(errno),
			     errno == EEXIST ? " (not replaced)" : "");
	} else {
		fsync(dfd);
		hv_cli_info("fetched %s (%" G_GUINT64_FORMAT " bytes, SHA-256 verified)", path, m->dump_size);
		rc = HV_EXIT_OK;
	}
	close(fd);
	if (rc != HV_EXIT_OK)
		unlinkat(dfd, part, 0);
	close(dfd);
	return rc;
}

/* fetch --format/--dump-level: the verified dump stays as fetched; the
 * conversion goes beside it as ID-FORMAT-dN.kdump|.vmcore (through hvdump
 * convert itself: same checks, .part, 0600, never replacing a file). */
static int convert_fetched(const char *dir, const HvManifest *m, const char *format, int level)
{
	g_autofree char *in = g_build_filename(dir, m->file_name, NULL);
	g_autofree char *lv = level >= 0 ? g_strdup_printf("%d", level) : NULL;
	const char *fmt = format ? format : "elf";
	g_autofree char *name = g_strdup_printf("%s-%s-d%d%s", m->id, fmt, level >= 0 ? level : 1,
						g_str_has_prefix(fmt, "kdump") ? ".kdump" : ".vmcore");
	g_autofree char *out = g_build_filename(dir, name, NULL);
	char *argv[9];
	int argc = 0;

	argv[argc++] = (char *)"convert";
	argv[argc++] = (char *)"--format";
	argv[argc++] = (char *)fmt;
	if (lv != NULL) {
		argv[argc++] = (char *)"--dump-level";
		argv[argc++] = lv;
	}
	argv[argc++] = in;
	argv[argc++] = out;
	argv[argc] = NULL;
	return hv_cmd_convert(argc, argv);
}

static int fleet_fetch(int argc, char **argv)
{
	FleetOpts o = { 0 };
	g_autofree char *format = NULL;
	gint level = -1;
	GOptionEntry entries[] = {
		FLEET_ENTRIES(&o),
		{ "format", 'F', 0, G_OPTION_ARG_STRING, &format,
		  "Also convert the verified dump to this format (elf, kdump-zlib, kdump-zstd, kdump-lzo, "
		  "kdump-snappy), as hvdump convert does", "FORMAT" },
		{ "dump-level", 'd', 0, G_OPTION_ARG_INT, &level,
		  "With the conversion, leave out these pages too (makedumpfile's -d)", "N" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("ID DIR - download a dump and verify it");
	g_autoptr(GError) e = NULL;
	g_autofree char *mkey = NULL, *full = NULL;
	g_autoptr(GBytes) b = NULL;
	HvS3 *s3 = NULL;
	HvManifest m = { 0 };
	const char *data;
	gsize len;
	int rc = HV_EXIT_USAGE;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &e) || argc != 3) {
		hv_cli_error("fleet fetch: %s", e ? e->message : "needs ID and DIR");
		goto out;
	}
	if (!hv_manifest_id_valid(argv[1])) {
		g_autofree char *id = hv_s3_printable(argv[1], -1, 80);

		hv_cli_error("fleet fetch: '%s' is not a dump id (1-200 of A-Z a-z 0-9 . _ -, not starting with '.')",
			     id);
		goto out;
	}
	rc = HV_EXIT_FAILURE;
	if (!(s3 = fleet_connect(&o, "fleet fetch")))
		goto out;
	if (!(mkey = manifest_key(s3, argv[1], &e))) {
		hv_cli_error("fleet fetch: %s", e->message);
		goto out;
	}
	full = hv_s3_key(s3, mkey);
	if (!(b = hv_s3_get(s3, full, HV_MANIFEST_MAX, &e))) {
		if (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND))
			hv_cli_error("fleet fetch: no manifest with id %s (%s)", argv[1], full);
		else
			hv_cli_error("fleet fetch: %s", e->message);
		goto out;
	}
	data = g_bytes_get_data(b, &len);
	if (!hv_manifest_parse(mkey, data, len, &m, &e)) {
		hv_cli_error("fleet fetch: manifest %s: %s; refused", full, e->message);
		goto out;
	}
	rc = download(s3, &m, argv[2]);
	if (rc == HV_EXIT_OK && (format != NULL || level >= 0))
		rc = convert_fetched(argv[2], &m, format, level);
out:
	hv_manifest_clear(&m);
	hv_s3_free(s3);
	fleet_opts_clear(&o);
	return rc;
}

int hv_cmd_fleet(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		puts("Usage: hvdump fleet list|stats|fetch|push [OPTIONS...] (see hvdump(1), FLEET)");
		return argc < 2 ? HV_EXIT_USAGE : HV_EXIT_OK;
	}
	if (!strcmp(argv[1], "push"))
		return hv_cmd_fleet_push(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list"))
		return fleet_list(argc - 1, argv + 1, FALSE);
	if (!strcmp(argv[1], "stats"))
		return fleet_list(argc - 1, argv + 1, TRUE);
	if (!strcmp(argv[1], "fetch"))
		return fleet_fetch(argc - 1, argv + 1);
	{
		g_autofree char *c = hv_s3_printable(argv[1], -1, 80);

		hv_cli_error("fleet: unknown command '%s' (list, stats, fetch, push)", c);
	}
	return HV_EXIT_USAGE;
}
