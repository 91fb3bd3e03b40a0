/* fuzz-journal.c — libFuzzer target: an upload journal read back from the
 * state directory (issue 12) through hv_upload_parse_journal
 * (hostd/hv-upload-journal.c). hvdumpd resumes uploads from these files, so
 * an accepted journal must keep the promises hv_upload_step relies on: a
 * known state, a valid id, an absolute dump path, string keys, a target
 * URL, a part size S3 takes (or none yet), a 64-digit checksum when there
 * is one. */
#include <stdlib.h>
#include <string.h>

#include "hv-upload.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static const char *str(json_object *o, const char *k)
{
	json_object *v;

	return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v) : NULL;
}

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_autoptr(GError) e = NULL;
	json_object *j = hv_upload_parse_journal(text, size, &e), *t, *ps;
	static const char *const states[] = { "queued", "uploading", "verifying", "manifest", "done", "failed", NULL };
	gint64 part_size = 0;

	if (j == NULL) {
		if (e == NULL || strchr(e->message, '\n'))
			abort();
		return 0;
	}
	if (!g_strv_contains(states, str(j, "state") ? str(j, "state") : "") || !hv_upload_id_valid(str(j, "id")) ||
	    !str(j, "dump") || str(j, "dump")[0] != '/' || !str(j, "dump_key") || !str(j, "manifest_key"))
		abort();
	if (!json_object_object_get_ex(j, "target", &t) || !str(t, "url"))
		abort();
	if (json_object_object_get_ex(j, "part_size", &ps) && json_object_is_type(ps, json_type_int))
		part_size = json_object_get_int64(ps);
	if (part_size != 0 && (part_size < HV_UPLOAD_PART_MIN || (guint64)part_size > HV_UPLOAD_PART_MAX))
		abort();
	if (str(j, "sha256") && strlen(str(j, "sha256")) != 64)
		abort();
	json_object_put(j);
	return 0;
}
