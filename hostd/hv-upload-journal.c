/* hv-upload-journal.c — reading an upload journal back (see hv-upload.h):
 * the one parser of hv-upload that sees bytes from disk, kept apart so the
 * fuzz target builds it without libcurl and libssh. */
#include "hv-upload.h"
#include "hv-qmp.h"

#include <string.h>

#define MAGIC "hvdump-upload"
#define ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

#define jstr hv_json_get_string

static gint64 jint(json_object *o, const char *k, gint64 dflt)
{
	gint64 v;

	return hv_json_get_int64(o, k, &v) ? v : dflt;
}

gboolean hv_upload_id_valid(const char *id)
{
	gsize n = id ? strlen(id) : 0;

	return n >= 1 && n <= 200 && id[0] != '.' && strspn(id, ID_CHARS) == n;
}

static const char *const states[] = { "queued", "uploading", "verifying", "manifest", "done", "failed", NULL };

json_object *hv_upload_parse_journal(const char *text, gsize len, GError **error)
{
	json_object *j, *m;
	const char *st;
	gint64 part_size;

	if (len > HV_UPLOAD_MAX_JOURNAL || memchr(text, '\0', len) != NULL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not an upload journal (size or NUL)");
		return NULL;
	}
	j = json_tokener_parse(text);
	if (j == NULL)
		goto bad;
	if (!json_object_is_type(j, json_type_object) || g_strcmp0(jstr(j, "magic"), MAGIC) != 0) {
		json_object_put(j);
		goto bad;
	}
	st = jstr(j, "state");
	part_size = jint(j, "part_size", 0);
	if (!jstr(j, "dump") || !g_path_is_absolute(jstr(j, "dump")) || !jstr(j, "dump_key") ||
	    !jstr(j, "manifest_key") || !st || !g_strv_contains(states, st) || jint(j, "size", -1) < 0 ||
	    !hv_upload_id_valid(jstr(j, "id")) || !json_object_object_get_ex(j, "manifest", &m) ||
	    !json_object_is_type(m, json_type_object) ||
	    !json_object_object_get_ex(j, "target", &m) || !json_object_is_type(m, json_type_object) ||
	    !jstr(m, "url") || (jstr(j, "sha256") && (strlen(jstr(j, "sha256")) != 64 ||
				  strspn(jstr(j, "sha256"), "0123456789abcdef") != 64)) ||
	    (part_size != 0 && (part_size < HV_UPLOAD_PART_MIN || (guint64)part_size > HV_UPLOAD_PART_MAX))) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "upload journal lacks a field or has a bad one");
		json_object_put(j);
		return NULL;
	}
	return j;
bad:
	g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "not an upload journal");
	return NULL;
}

