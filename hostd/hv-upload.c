/* hv-upload.c — see hv-upload.h. */
#include "hv-upload.h"

#include "hv-dumpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "hvdump-upload"
#define MAX_JOURNAL (4 * 1024 * 1024)

static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

static gint64 jint(json_object *o, const char *k, gint64 dflt)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int) ? json_object_get_int64(v)
											   : dflt;
}

static gboolean sha256_file(int fd, guint64 size, char **hex, GError **error)
{
	GChecksum *s = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 *buf = g_malloc(1 << 20);
	guint64 done = 0;
	gboolean ok = TRUE;

	while (done < size) {
		ssize_t n = pread(fd, buf, MIN((guint64)(1 << 20), size - done), done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "reading the dump: %s",
				    n < 0 ? g_strerror(errno) : "shorter than its size");
			ok = FALSE;
			break;
		}
		g_checksum_update(s, buf, n);
		done += n;
	}
	if (ok)
		*hex = g_strdup(g_checksum_get_string(s));
	g_free(buf);
	g_checksum_free(s);
	return ok;
}

char *hv_upload_enqueue(const char *journal_dir, const char *id, const char *dump_path, const char *suffix,
			gint64 when, json_object *manifest, GError **error)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(when);
	g_autofree char *day = t ? g_date_time_format(t, "%Y/%m/%d") : NULL;
	g_autofree char *sha = NULL, *dkey = NULL, *mkey = NULL;
	char *path;
	struct stat st;
	json_object *j;
	int fd;

	if (!day || !id[0] || strchr(id, '/') || strlen(id) > 200) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "upload: bad id or time for %s", dump_path);
		return NULL;
	}
	fd = open(dump_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "upload: %s: %s", dump_path,
			    fd < 0 ? g_strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!sha256_file(fd, st.st_size, &sha, error)) {
		close(fd);
		g_prefix_error(error, "upload: %s: ", dump_path);
		return NULL;
	}
	close(fd);
	dkey = g_strdup_printf("dumps/%s/%s%s", day, id, suffix ? suffix : "");
	mkey = g_strdup_printf("manifests/%s/%s.json", day, id);
	json_object_object_add(manifest, "id", json_object_new_string(id));
	json_object_object_add(manifest, "dump_key", json_object_new_string(dkey));
	json_object_object_add(manifest, "dump_size", json_object_new_int64(st.st_size));
	json_object_object_add(manifest, "dump_sha256", json_object_new_string(sha));
	j = json_object_new_object();
	json_object_object_add(j, "magic", json_object_new_string(MAGIC));
	json_object_object_add(j, "version", json_object_new_int(1));
	json_object_object_add(j, "id", json_object_new_string(id));
	json_object_object_add(j, "dump", json_object_new_string(dump_path));
	json_object_object_add(j, "size", json_object_new_int64(st.st_size));
	json_object_object_add(j, "mtime_ns", json_object_new_int64((gint64)st.st_mtim.tv_sec * 1000000000 +
								     st.st_mtim.tv_nsec));
	json_object_object_add(j, "dump_key", json_object_new_string(dkey));
	json_object_object_add(j, "manifest_key", json_object_new_string(mkey));
	json_object_object_add(j, "manifest", json_object_get(manifest));
	json_object_object_add(j, "state", json_object_new_string("queued"));
	json_object_object_add(j, "attempts", json_object_new_int(0));
	path = g_strdup_printf("%s/%s.upload.json", journal_dir, id);
	if (!hv_dumpdir_write_json(path, j, error)) {
		g_clear_pointer(&path, g_free);
	}
	json_object_put(j);
	return path;
}

json_object *hv_upload_read_journal(const char *journal_path, GError **error)
{
	g_autofree char *text = NULL;
	gsize len;
	json_object *j;

	if (!g_file_get_contents(journal_path, &text, &len, error))
		return NULL;
	if (len > MAX_JOURNAL || !(j = json_tokener_parse(text)) || !json_object_is_type(j, json_type_object) ||
	    g_strcmp0(jstr(j, "magic"), MAGIC)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not an upload journal", journal_path);
		return NULL;
	}
	if (!jstr(j, "dump") || !jstr(j, "dump_key") || !jstr(j, "manifest_key") || !jstr(j, "state") ||
	    jint(j, "size", -1) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: upload journal lacks a field", journal_path);
		json_object_put(j);
		return NULL;
	}
	return j;
}

static void set_state(json_object *j, const char *state)
{
	json_object_object_add(j, "state", json_object_new_string(state));
}

/* The parts as the journal knows them (index i = part i+1; "" not sent). */
static GPtrArray *journal_parts(json_object *j, guint n)
{
	GPtrArray *md5 = g_ptr_array_new_with_free_func(g_free);
	json_object *a;

	for (guint i = 0; i < n; i++)
		g_ptr_array_add(md5, g_strdup(""));
	if (json_object_object_get_ex(j, "parts", &a) && json_object_is_type(a, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(a) && i < n; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(a, i));
			if (s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32) {
				g_free(md5->pdata[i]);
				md5->pdata[i] = g_strdup(s);
			}
		}
	}
	return md5;
}

static void save_parts(json_object *j, GPtrArray *md5)
{
	json_object *a = json_object_new_array();
	for (guint i = 0; i < md5->len; i++)
		json_object_array_add(a, json_object_new_string(md5->pdata[i]));
	json_object_object_add(j, "parts", a);
}

static char *expected_etag(GPtrArray *md5, guint64 size, guint64 part_size)
{
	g_autofree HvS3Part *p = g_new0(HvS3Part, md5->len);
	for (guint i = 0; i < md5->len; i++) {
		if (strlen(md5->pdata[i]) != 32)
			return NULL;
		p[i].part = i + 1;
		p[i].size = MIN(part_size, size - (guint64)i * part_size);
		g_strlcpy(p[i].etag, md5->pdata[i], sizeof(p[i].etag));
	}
	return hv_s3_mpu_etag(p, md5->len);
}

/* The dump object is in the store, whole: size and multipart ETag match. */
static int object_matches(HvS3 *s3, const char *key, guint64 size, const char *want, GError **error)
{
	guint64 got = 0;
	g_autofree char *etag = NULL;
	int r = hv_s3_head(s3, key, &got, &etag, error);

	if (r <= 0)
		return r;
	return got == size && want && !g_ascii_strcasecmp(etag, want) ? 1 : 2;
}

HvUploadResult hv_upload_step(HvS3 *s3, const char *journal_path, guint64 part_size, GError **error)
{
	json_object *j = hv_upload_read_journal(journal_path, error);
	HvUploadResult res = HV_UPLOAD_RETRY;
	g_autoptr(GPtrArray) md5 = NULL;
	g_autofree char *dkey = NULL, *mkey = NULL, *want = NULL;
	const char *state;
	guint64 size, nparts;
	struct stat st;
	int fd = -1;

	if (!j)
		return HV_UPLOAD_FAILED;
	state = jstr(j, "state");
	if (!strcmp(state, "done")) {
		json_object_put(j);
		return HV_UPLOAD_DONE;
	}
	json_object_object_add(j, "attempts", json_object_new_int64(jint(j, "attempts", 0) + 1));
	size = jint(j, "size", 0);
	dkey = hv_s3_key(s3, jstr(j, "dump_key"));
	mkey = hv_s3_key(s3, jstr(j, "manifest_key"));
	part_size = jint(j, "part_size", 0) > 0 ? (guint64)jint(j, "part_size", 0) : MAX(part_size, HV_UPLOAD_PART_MIN);
	while ((size + part_size - 1) / part_size > HV_UPLOAD_MAX_PARTS)
		part_size *= 2;
	json_object_object_add(j, "part_size", json_object_new_int64(part_size));
	nparts = size ? (size + part_size - 1) / part_size : 1;
	md5 = journal_parts(j, nparts);

	if (!strcmp(state, "queued") || !strcmp(state, "uploading")) {
		const char *uid = jstr(j, "upload_id");
		g_autofree char *upload_id = uid ? g_strdup(uid) : NULL;
		GError *e = NULL;

		fd = open(jstr(j, "dump"), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &st) != 0 || (guint64)st.st_size != size ||
		    (gint64)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != jint(j, "mtime_ns", -1)) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: %s before its upload finished",
				    jstr(j, "dump"), fd < 0 ? "removed" : "changed");
			res = HV_UPLOAD_FAILED;
			goto out;
		}
		if (upload_id) {
			GArray *have = hv_s3_mpu_list_parts(s3, dkey, upload_id, &e);
			if (!have && (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NO_UPLOAD) ||
				      g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND))) {
				/* gone: completed while the answer was lost, or forgotten */
				g_clear_error(&e);
				want = expected_etag(md5, size, part_size);
				int m = object_matches(s3, dkey, size, want, error);
				if (m < 0)
					goto out;
				if (m == 1)
					goto verified;
				g_clear_pointer(&upload_id, g_free);
				for (guint i = 0; i < md5->len; i++) {
					g_free(md5->pdata[i]);
					md5->pdata[i] = g_strdup("");
				}
			} else if (!have) {
				g_propagate_error(error, e);
				goto out;
			} else {
				/* what the store holds decides; the journal may lag behind it or be ahead */
				g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_free);
				for (guint i = 0; i < md5->len; i++)
					g_ptr_array_add(held, g_strdup(""));
				for (guint k = 0; k < have->len; k++) {
					HvS3Part *p = &g_array_index(have, HvS3Part, k);
					guint i = p->part - 1;
					if (p->part >= 1 && i < md5->len && p->size == MIN(part_size, size - (guint64)i * part_size) &&
					    !g_ascii_strcasecmp(p->etag, md5->pdata[i])) {
						g_free(held->pdata[i]);
						held->pdata[i] = g_strdup(md5->pdata[i]);
					}
				}
				g_array_free(have, TRUE);
				for (guint i = 0; i < md5->len; i++) {
					g_free(md5->pdata[i]);
					md5->pdata[i] = g_strdup(held->pdata[i]);
				}
			}
		}
		if (!upload_id) {
			if (!(upload_id = hv_s3_mpu_create(s3, dkey, error)))
				goto out;
			json_object_object_add(j, "upload_id", json_object_new_string(upload_id));
		}
		set_state(j, "uploading");
		save_parts(j, md5);
		if (!hv_dumpdir_write_json(journal_path, j, error))
			goto out;
		for (guint i = 0; i < md5->len; i++) {
			char hex[33];
			guint64 off = (guint64)i * part_size;
			if (((char *)md5->pdata[i])[0])
				continue;
			if (!hv_s3_mpu_put_part(s3, dkey, upload_id, i + 1, fd, off, MIN(part_size, size - off), hex,
						error))
				goto out;
			g_free(md5->pdata[i]);
			md5->pdata[i] = g_strdup(hex);
			save_parts(j, md5);
			if (!hv_dumpdir_write_json(journal_path, j, error))
				goto out;
		}
		{
			g_autofree HvS3Part *p = g_new0(HvS3Part, md5->len);
			for (guint i = 0; i < md5->len; i++) {
				p[i].part = i + 1;
				g_strlcpy(p[i].etag, md5->pdata[i], sizeof(p[i].etag));
			}
			if (!hv_s3_mpu_complete(s3, dkey, upload_id, p, md5->len, &e)) {
				if (!g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NO_UPLOAD)) {
					g_propagate_error(error, e);
					goto out;
				}
				g_clear_error(&e); /* completed before; verified below */
			}
		}
		set_state(j, "verifying");
		if (!hv_dumpdir_write_json(journal_path, j, error))
			goto out;
		state = "verifying";
	}
	if (!strcmp(state, "verifying")) {
		int m;
		g_free(want);
		want = expected_etag(md5, size, part_size);
		m = object_matches(s3, dkey, size, want, error);
		if (m < 0)
			goto out;
		if (m != 1) {
			/* not what we sent: send it again (same key, a new upload) */
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s: %s in the store after the upload",
				    dkey, m == 0 ? "missing" : "size or checksum differs");
			json_object_object_del(j, "upload_id");
			json_object_object_del(j, "parts");
			set_state(j, "queued");
			hv_dumpdir_write_json(journal_path, j, NULL);
			goto out;
		}
verified:
		set_state(j, "manifest");
		json_object_object_add(j, "dump_etag", json_object_new_string(want ? want : ""));
		if (!hv_dumpdir_write_json(journal_path, j, error))
			goto out;
		state = "manifest";
	}
	if (!strcmp(state, "manifest")) {
		json_object *man;
		const char *text;
		if (!json_object_object_get_ex(j, "manifest", &man)) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: no manifest", journal_path);
			res = HV_UPLOAD_FAILED;
			goto out;
		}
		text = json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!hv_s3_put(s3, mkey, text, strlen(text), error))
			goto out;
		set_state(j, "done");
		json_object_object_del(j, "last_error");
		if (!hv_dumpdir_write_json(journal_path, j, error))
			goto out;
		res = HV_UPLOAD_DONE;
	}
out:
	if (res != HV_UPLOAD_DONE && error && *error) {
		json_object_object_add(j, "last_error", json_object_new_string((*error)->message));
		hv_dumpdir_write_json(journal_path, j, NULL);
	}
	if (fd >= 0)
		close(fd);
	json_object_put(j);
	return res;
}
