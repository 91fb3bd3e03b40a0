/* test-fleet.c — the fleet's parsers of hostile input (issue 12), by what
 * they must accept and refuse: the upload journal (hv-upload-journal.c),
 * what an S3 store answers (hv-s3-xml.c) and a manifest read back from the
 * bucket (hv-manifest.c). The inputs are the fuzz seed corpus
 * (tests/fuzz/seeds/{journal,s3xml,manifest}): real radosgw 16.2 and AWS
 * answers, journals and manifests as hvdumpd writes them, and each "bad-*"
 * seed one way to be wrong. The fuzz targets prove "no crash, bounded";
 * this proves "the right answer". */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "hv-manifest.h"
#include "hv-s3-xml.h"
#include "hv-upload.h"

static char *seed_dir(const char *kind)
{
	return g_build_filename(HV_TOP_SRCDIR, "tests", "fuzz", "seeds", kind, NULL);
}

static char *seed(const char *kind, const char *name, gsize *len)
{
	g_autofree char *dir = seed_dir(kind);
	g_autofree char *path = g_build_filename(dir, name, NULL);
	char *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, len, NULL));
	return text;
}

/* The seed names of a kind, sorted; at least min of them. */
static GPtrArray *seeds(const char *kind, guint min)
{
	g_autofree char *dir = seed_dir(kind);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	g_assert_nonnull(d);
	while ((n = g_dir_read_name(d)) != NULL)
		g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, (GCompareFunc)g_ascii_strcasecmp);
	g_assert_cmpuint(names->len, >=, min);
	return names;
}

/* ---- the upload journal */

static void test_journal_seeds(void)
{
	g_autoptr(GPtrArray) names = seeds("journal", 8);

	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		gsize len;
		g_autofree char *text = seed("journal", n, &len);
		g_autoptr(GError) e = NULL;
		json_object *j = hv_upload_parse_journal(text, len, &e);

		if (g_str_has_prefix(n, "bad-")) {
			if (j != NULL)
				g_error("journal seed %s was accepted", n);
			g_assert_nonnull(e);
			g_assert_nonnull(strstr(e->message, "journal"));
		} else {
			if (j == NULL)
				g_error("journal seed %s refused: %s", n, e ? e->message : "?");
			json_object_put(j);
		}
	}
}

/* uploading.json with one field's text replaced: must it still parse? */
static void journal_variant(const char *from, const char *to, gboolean ok)
{
	gsize len;
	g_autofree char *text = seed("journal", "uploading.json", &len);
	g_autoptr(GString) s = g_string_new(text);
	g_autoptr(GError) e = NULL;
	json_object *j;

	g_assert_nonnull(strstr(s->str, from));
	g_string_replace(s, from, to, 1);
	j = hv_upload_parse_journal(s->str, s->len, &e);
	if (ok != (j != NULL))
		g_error("journal with %s instead of %s: %s", to, from, j ? "accepted" : e->message);
	if (j != NULL)
		json_object_put(j);
}

static void test_journal_fields(void)
{
	const char *sha = "1c48ff6686b4f1c8f59cef6db1fac2532f298ce3aae5ef6e21ef1f568482c4fc";

	journal_variant(sha, sha, TRUE);
	/* a checksum is 64 lower-case hex digits: upper case, short, not hex */
	journal_variant(sha, "1C48FF6686B4F1C8F59CEF6DB1FAC2532F298CE3AAE5EF6E21EF1F568482C4FC", FALSE);
	journal_variant(sha, "1c48ff6686b4f1c8", FALSE);
	journal_variant(sha, "zz48ff6686b4f1c8f59cef6db1fac2532f298ce3aae5ef6e21ef1f568482c4fc", FALSE);
	/* parts are 5 MiB .. 5 GiB */
	journal_variant("\"part_size\": 8388608", "\"part_size\": 5242880", TRUE);
	journal_variant("\"part_size\": 8388608", "\"part_size\": 4096", FALSE);
	journal_variant("\"part_size\": 8388608", "\"part_size\": 5368709121", FALSE);
	/* an id is the file name part, never a path */
	journal_variant("\"id\": \"20261205T183731Z-host-a-fleet-a-4a7efdbc\"", "\"id\": \"../etc/passwd\"", FALSE);
	journal_variant("\"magic\": \"hvdump-upload\"", "\"magic\": \"other\"", FALSE);
	journal_variant("\"url\": \"s3://dumps/fleet\"", "\"url\": 7", FALSE);
	journal_variant("\"state\": \"uploading\"", "\"state\": \"rm -rf\"", FALSE);
}

/* A journal another process is stepping is left alone: RETRY, nothing
 * read or written (the store in the journal is never contacted). */
static void test_journal_lock(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-fleet-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "x" HV_UPLOAD_JOURNAL_SUFFIX, NULL);
	g_autofree char *lock_path = g_strconcat(path, HV_UPLOAD_LOCK_SUFFIX, NULL);
	g_autofree char *before = NULL, *after = NULL;
	g_autoptr(GError) e = NULL;
	gsize len;
	int lock;

	g_assert_nonnull(dir);
	before = seed("journal", "uploading.json", &len);
	g_assert_true(g_file_set_contents(path, before, (gssize)len, NULL));
	lock = open(lock_path, O_RDWR | O_CREAT, 0600);
	g_assert_cmpint(lock, >=, 0);
	g_assert_cmpint(flock(lock, LOCK_EX), ==, 0);
	g_assert_cmpint(hv_upload_step(path, 0, NULL, &e), ==, HV_UPLOAD_RETRY);
	g_assert_nonnull(e);
	g_assert_nonnull(strstr(e->message, "another process"));
	g_assert_true(g_file_get_contents(path, &after, NULL, NULL));
	g_assert_cmpstr(after, ==, before);
	close(lock);
	/* a broken journal is FAILED, never retried in a loop */
	g_clear_error(&e);
	g_assert_true(g_file_set_contents(path, "{\"magic\": \"hvdump-upload\"", -1, NULL));
	g_assert_cmpint(hv_upload_step(path, 0, NULL, &e), ==, HV_UPLOAD_FAILED);
	g_assert_nonnull(e);
	unlink(path);
	unlink(lock_path);
	g_assert_cmpint(rmdir(dir), ==, 0);
}

/* hvdumpd's reload queues again what failed for good, and nothing else. */
static void test_journal_rearm(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-fleet-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "x" HV_UPLOAD_JOURNAL_SUFFIX, NULL);
	g_autofree char *lock_path = g_strconcat(path, HV_UPLOAD_LOCK_SUFFIX, NULL);
	static const char *const names[] = { "sftp-failed.json", "done.json", "queued.json" };

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		gsize len;
		g_autofree char *text = seed("journal", names[i], &len);
		g_autoptr(GError) e = NULL;
		json_object *j;
		gboolean failed = g_str_has_suffix(names[i], "-failed.json");

		g_assert_true(g_file_set_contents(path, text, (gssize)len, NULL));
		g_assert_true(hv_upload_rearm(path, &e) == failed);
		j = hv_upload_read_journal(path, &e);
		g_assert_nonnull(j);
		if (failed) {
			json_object *v;

			g_assert_cmpstr(json_object_get_string(json_object_object_get(j, "state")), ==, "queued");
			g_assert_true(json_object_object_get_ex(j, "rearmed", &v));
		} else {
			g_assert_false(json_object_object_get_ex(j, "rearmed", NULL));
		}
		json_object_put(j);
	}
	unlink(path);
	unlink(lock_path);
	g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_ids(void)
{
	g_autofree char *id = hv_upload_new_id(1796495851, "host a/../b", "vm\n\x1b[31m");
	g_autofree char *key = NULL;
	char day[11];
	g_autofree char *kid = NULL;

	g_assert_true(hv_upload_id_valid(id));
	g_assert_true(hv_manifest_id_valid(id));
	g_assert_true(g_str_has_prefix(id, "20261205T"));
	g_assert_null(strchr(id, '/'));
	key = hv_manifest_key_for_id(id);
	g_assert_nonnull(key);
	g_assert_true(hv_manifest_key_parse(key, day, &kid));
	g_assert_cmpstr(day, ==, "2026/12/05");
	g_assert_cmpstr(kid, ==, id);
	g_assert_false(hv_upload_id_valid(""));
	g_assert_false(hv_upload_id_valid(".hidden"));
	g_assert_false(hv_upload_id_valid("a/b"));
	g_assert_false(hv_manifest_key_parse("manifests/2026/02/30/x.json", NULL, NULL));
	g_assert_false(hv_manifest_key_parse("manifests/2026/12/05/../x.json", NULL, NULL));
	g_assert_true(hv_manifest_key_parse("manifests/2026/12/05/x.json", NULL, NULL));
}

/* ---- what the store answers */

static void test_s3_errors(void)
{
	static const struct {
		const char *seed, *code;
	} cases[] = {
		{ "rgw-nosuchupload.xml", "NoSuchUpload" },
		{ "rgw-nosuchkey.xml", "NoSuchKey" },
		{ "rgw-nosuchbucket.xml", "NoSuchBucket" },
		{ "rgw-accessdenied.xml", "AccessDenied" },
		{ "rgw-baddigest.xml", "BadDigest" },
		{ "rgw-signature.xml", "SignatureDoesNotMatch" },
		{ "aws-error-200.xml", "InternalError" },
	};
	HvS3XmlError e;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		gsize len;
		g_autofree char *x = seed("s3xml", cases[i].seed, &len);

		if (!hv_s3_xml_error(x, len, &e))
			g_error("%s: not read as an <Error>", cases[i].seed);
		g_assert_cmpstr(e.code, ==, cases[i].code);
	}
	{
		gsize len;
		g_autofree char *x = seed("s3xml", "rgw-list.xml", &len);

		g_assert_false(hv_s3_xml_error(x, len, &e));
	}
	/* a hostile code comes back printable */
	{
		const char *x = "<Error><Code>A\x1b[2J</Code><Message>m\nn</Message></Error>";

		g_assert_true(hv_s3_xml_error(x, strlen(x), &e));
		g_assert_null(strchr(e.code, '\x1b'));
		g_assert_null(strchr(e.message, '\n'));
	}
}

static void test_s3_lists(void)
{
	g_autoptr(GPtrArray) names = seeds("s3xml", 20);
	guint accepted = 0;

	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		gsize len;
		g_autofree char *x = seed("s3xml", n, &len);
		g_autoptr(GError) e = NULL;
		HvS3ListPage pg;
		gboolean ok = hv_s3_xml_list_page(x, len, g_str_has_prefix(n, "rgw-list-empty") ? "nothing/"
							  : "pfx/manifests/", NULL, &pg, &e);
		gboolean want = strstr(n, "-list") != NULL && !g_str_has_prefix(n, "bad-");

		/* every bad-* seed of a listing is refused, each list answer read */
		if (ok != want)
			g_error("list page %s: %s", n, ok ? "accepted" : e->message);
		if (!ok)
			continue;
		accepted++;
		for (guint k = 0; k < pg.objects->len; k++)
			g_assert_true(g_str_has_prefix(g_array_index(pg.objects, HvS3Object, k).key, "pfx/manifests/"));
		g_assert_true(pg.truncated == (strstr(n, "truncated") != NULL));
		if (pg.truncated)
			g_assert_nonnull(pg.next_token);
		hv_s3_list_page_clear(&pg);
	}
	g_assert_cmpuint(accepted, ==, 6);
	/* keys must be after the page's start: a store that goes back is refused */
	{
		gsize len;
		g_autofree char *x = seed("s3xml", "rgw-list.xml", &len);
		g_autoptr(GError) e = NULL;
		HvS3ListPage pg;

		g_assert_false(hv_s3_xml_list_page(x, len, "pfx/manifests/", "pfx/manifests/~", &pg, &e));
		g_assert_nonnull(e);
		/* and another prefix than the one asked for */
		g_clear_error(&e);
		g_assert_false(hv_s3_xml_list_page(x, len, "other/", NULL, &pg, &e));
	}
}

static void test_s3_parts(void)
{
	static const char *const good[] = { "rgw-parts.xml", "rgw-parts-truncated.xml" };
	static const char *const bad[] = { "bad-parts-kms.xml", "bad-parts-marker.xml", "bad-parts-number.xml",
					   "bad-parts-order.xml", "rgw-list.xml" };
	HvS3PartsPage pg;

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		gsize len;
		g_autofree char *x = seed("s3xml", good[i], &len);
		g_autoptr(GError) e = NULL;

		if (!hv_s3_xml_parts_page(x, len, 0, &pg, &e))
			g_error("parts page %s: %s", good[i], e->message);
		g_assert_cmpuint(pg.parts->len, >=, 1);
		g_assert_true(pg.truncated == (strstr(good[i], "truncated") != NULL));
		if (pg.truncated)
			g_assert_cmpuint(pg.next_marker, ==, 1);
		hv_s3_parts_page_clear(&pg);
	}
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		gsize len;
		g_autofree char *x = seed("s3xml", bad[i], &len);
		g_autoptr(GError) e = NULL;

		if (hv_s3_xml_parts_page(x, len, 0, &pg, &e))
			g_error("parts page %s accepted", bad[i]);
	}
}

static void test_s3_upload_id(void)
{
	static const char *const good[] = { "rgw-initiate.xml", "aws-initiate.xml" };
	gsize len;

	for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
		g_autofree char *x = seed("s3xml", good[i], &len);
		g_autoptr(GError) e = NULL;
		g_autofree char *id = hv_s3_xml_upload_id(x, len, &e);

		if (id == NULL)
			g_error("%s: %s", good[i], e->message);
		g_assert_true(hv_s3_upload_id_valid(id));
	}
	{
		g_autofree char *x = seed("s3xml", "bad-uploadid.xml", &len);
		g_autoptr(GError) e = NULL;

		g_assert_null(hv_s3_xml_upload_id(x, len, &e));
	}
}

static void test_printable(void)
{
	g_autofree char *a = hv_s3_printable("ok \x1b[31m\xff\n", -1, 64);
	g_autofree char *b = hv_s3_printable(a, -1, 64);
	g_autofree char *c = hv_s3_printable("0123456789abcdef0123456789", -1, 16);

	g_assert_cmpstr(a, ==, b);
	g_assert_null(strchr(a, '\x1b'));
	g_assert_null(strchr(a, '\n'));
	g_assert_true(g_utf8_validate(a, -1, NULL));
	g_assert_cmpuint(strlen(c), <=, 16);
	g_assert_true(g_str_has_suffix(c, "..."));
	g_assert_false(hv_s3_key_valid("a//b"));
	g_assert_false(hv_s3_key_valid("a/../b"));
	g_assert_false(hv_s3_key_valid("a/b\\c"));
	g_assert_true(hv_s3_key_valid("dumps/2026/12/05/x.kdump"));
}

/* ---- manifests read back from the store */

static void test_manifest_seeds(void)
{
	g_autoptr(GPtrArray) names = seeds("manifest", 20);

	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		gsize len;
		g_autofree char *text = seed("manifest", n, &len);
		const char *nl = memchr(text, '\n', len);
		g_autofree char *key = NULL;
		g_autoptr(GError) e = NULL;
		HvManifest m;
		gboolean ok;

		const char *json = text;

		/* KEY\nJSON, or JSON alone under the fuzz target's default key */
		if (g_str_has_prefix(text, "manifests/") && nl != NULL) {
			key = g_strndup(text, nl - text);
			json = nl + 1;
		} else {
			key = g_strdup("manifests/2026/12/05/20261205T101112Z-host-vm-1a2b3c4d.json");
		}
		ok = hv_manifest_parse(key, json, len - (json - text), &m, &e);
		if (ok == g_str_has_prefix(n, "bad-"))
			g_error("manifest seed %s: %s", n, ok ? "accepted" : e->message);
		if (!ok) {
			g_assert_nonnull(e);
			continue;
		}
		g_assert_cmpstr(m.key, ==, key);
		g_assert_true(g_str_has_prefix(m.file_name, m.id));
		g_assert_null(strchr(m.file_name, '/'));
		g_assert_cmpuint(strlen(m.dump_sha256), ==, 64);
		for (int t = 0; t < HV_MF_N_TEXT; t++)
			g_assert_true(hv_s3_is_printable(hv_manifest_text(&m, t), HV_MANIFEST_FIELD_MAX));
		if (!strcmp(n, "daemon.txt")) {
			g_assert_cmpstr(hv_manifest_text(&m, HV_MF_HOST), ==, "hv01");
			g_assert_cmpstr(hv_manifest_text(&m, HV_MF_VM_NAME), ==, "web-1");
			g_assert_cmpstr(hv_manifest_text(&m, HV_MF_FORMAT), ==, "kdump-zstd");
			g_assert_cmpuint(m.dump_size, ==, 41943040);
			g_assert_cmpstr(m.file_name, ==, "20261204T040000Z-hv01-web-1-00000001.kdump");
		}
		hv_manifest_clear(&m);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fleet/journal-seeds", test_journal_seeds);
	g_test_add_func("/fleet/journal-fields", test_journal_fields);
	g_test_add_func("/fleet/journal-lock", test_journal_lock);
	g_test_add_func("/fleet/journal-rearm", test_journal_rearm);
	g_test_add_func("/fleet/ids", test_ids);
	g_test_add_func("/fleet/s3-errors", test_s3_errors);
	g_test_add_func("/fleet/s3-lists", test_s3_lists);
	g_test_add_func("/fleet/s3-parts", test_s3_parts);
	g_test_add_func("/fleet/s3-upload-id", test_s3_upload_id);
	g_test_add_func("/fleet/printable", test_printable);
	g_test_add_func("/fleet/manifest-seeds", test_manifest_seeds);
	return g_test_run();
}
