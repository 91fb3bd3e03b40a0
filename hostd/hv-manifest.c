/* hv-manifest.c — see hv-manifest.h. No network, no libcurl: the fuzz
 * build compiles this file (with hv-s3-xml.c for hv_s3_printable). */
#include "hv-manifest.h"

#include <string.h>

#include "hv-s3-xml.h"

#define ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

G_DEFINE_QUARK(hv-manifest-error-quark, hv_manifest_error)

const char *const hv_manifest_text_names[HV_MF_N_TEXT] = {
	[HV_MF_HOST] = "host",
	[HV_MF_VM_NAME] = "vm_name",
	[HV_MF_VM_UUID] = "vm_uuid",
	[HV_MF_EVENT] = "event",
	[HV_MF_POLICY] = "policy",
	[HV_MF_RESULT] = "result",
	[HV_MF_KERNEL] = "kernel",
	[HV_MF_FORMAT] = "format",
	[HV_MF_TITLE] = "title",
	[HV_MF_SIGNATURE] = "signature",
	[HV_MF_BUILD_ID] = "build_id",
	[HV_MF_DEGRADED] = "degraded",
	[HV_MF_TRIAGE_ERROR] = "triage_error",
};

gboolean hv_manifest_id_valid(const char *id)
{
	gsize n = id ? strlen(id) : 0;

	return n >= 1 && n <= HV_MANIFEST_ID_MAX && id[0] != '.' && strspn(id, ID_CHARS) == n;
}

static gboolean digits(const char *s, gsize n)
{
	for (gsize i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return FALSE;
	return TRUE;
}

static int num(const char *s, gsize n)
{
	int v = 0;

	for (gsize i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static gboolean real_date(int y, int m, int d)
{
	return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && g_date_valid_dmy(d, m, y);
}

/* "YYYY/MM/DD/" at s */
static gboolean day_path(const char *s)
{
	return strlen(s) >= 11 && digits(s, 4) && s[4] == '/' && digits(s + 5, 2) && s[7] == '/' &&
	       digits(s + 8, 2) && s[10] == '/' && real_date(num(s, 4), num(s + 5, 2), num(s + 8, 2));
}

/* The id's own date as "YYYY/MM/DD" when it starts with YYYYMMDDTHHMMSSZ
 * followed by '-' or its end. */
static gboolean id_day(const char *id, char day[11])
{
	if (strlen(id) < 16 || !digits(id, 8) || id[8] != 'T' || !digits(id + 9, 6) || id[15] != 'Z' ||
	    (id[16] && id[16] != '-'))
		return FALSE;
	if (!real_date(num(id, 4), num(id + 4, 2), num(id + 6, 2)))
		return FALSE;
	g_snprintf(day, 11, "%.4s/%.2s/%.2s", id, id + 4, id + 6);
	return TRUE;
}

gboolean hv_manifest_key_parse(const char *key, char day[11], char **id)
{
	const char *rest, *name;
	gsize n;
	g_autofree char *i = NULL;
	char own[11];

	if (key == NULL || !g_str_has_prefix(key, "manifests/"))
		return FALSE;
	rest = key + strlen("manifests/");
	if (!day_path(rest))
		return FALSE;
	name = rest + 11;
	n = strlen(name);
	if (n <= 5 || !g_str_has_suffix(name, ".json"))
		return FALSE;
	i = g_strndup(name, n - 5);
	if (!hv_manifest_id_valid(i))
		return FALSE;
	if (id_day(i, own) && strncmp(own, rest, 10))
		return FALSE;
	if (day)
		g_strlcpy(day, rest, 11);
	if (id)
		*id = g_steal_pointer(&i);
	return TRUE;
}

char *hv_manifest_key_for_id(const char *id)
{
	char day[11];

	if (!hv_manifest_id_valid(id) || !id_day(id, day))
		return NULL;
	return g_strdup_printf("manifests/%s/%s.json", day, id);
}

/* ------------------------------------------------------------ parse */

/* sets the error, evaluates to FALSE */
#define FAIL(...) (g_set_error(error, HV_MANIFEST_ERROR, 0, __VA_ARGS__), FALSE)

/* A string member without NUL bytes, else NULL. */
static const char *jstr(json_object *o, const char *k)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (gsize)json_object_get_string_len(v) ? s : NULL;
}

static gboolean jint(json_object *o, const char *k, gint64 *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return FALSE;
	*out = json_object_get_int64(v);
	return TRUE;
}

static gboolean check(json_object *o, const char *key, HvManifest *m, GError **error)
{
	char day[11];
	g_autofree char *kid = NULL;
	const char *s, *suffix;
	gint64 v;
	json_object *jv;

	if (!hv_manifest_key_parse(key, day, &kid))
		return FAIL("the key is not manifests/YYYY/MM/DD/ID.json with a valid id and date");
	if (json_object_object_get_ex(o, "schema", &jv) &&
	    (!(s = jstr(o, "schema")) || strcmp(s, "hvdump-manifest")))
		return FAIL("\"schema\" is not \"hvdump-manifest\"");
	if (!(s = jstr(o, "id")) || strcmp(s, kid))
		return FAIL("\"id\" is not the id in its key");
	m->key = g_strdup(key);
	m->id = g_steal_pointer(&kid);
	if (!jint(o, "time", &m->time) || m->time < 0 || m->time > HV_MANIFEST_MAX_TIME)
		return FAIL("\"time\" is not an integer time");
	if (!jint(o, "dump_size", &v) || v < 0)
		return FAIL("\"dump_size\" is not an integer >= 0");
	m->dump_size = (guint64)v;
	s = jstr(o, "dump_sha256");
	if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdefABCDEF") != 64)
		return FAIL("\"dump_sha256\" is not 64 hex digits");
	for (int i = 0; i < 64; i++)
		m->dump_sha256[i] = g_ascii_tolower(s[i]);
	s = jstr(o, "dump_key");
	if (!s || !g_str_has_prefix(s, "dumps/") || strncmp(s + 6, day, 10) || s[16] != '/' ||
	    strncmp(s + 17, m->id, strlen(m->id)))
		return FAIL("\"dump_key\" is not dumps/YYYY/MM/DD/ID... with its manifest's date and id");
	suffix = s + 17 + strlen(m->id);
	if (strlen(suffix) > HV_MANIFEST_SUFFIX_MAX || strspn(suffix, ID_CHARS) != strlen(suffix))
		return FAIL("\"dump_key\" has more than %d bytes, or others than [A-Za-z0-9._-], after the id",
			    HV_MANIFEST_SUFFIX_MAX);
	m->dump_key = g_strdup(s);
	m->file_name = g_strdup(s + 17);
	if (!jint(o, "crash_time", &m->crash_time) || m->crash_time < 0 || m->crash_time > HV_MANIFEST_MAX_TIME)
		m->crash_time = -1;
	for (int i = 0; i < HV_MF_N_TEXT; i++) {
		json_object *t;

		if (json_object_object_get_ex(o, hv_manifest_text_names[i], &t) &&
		    json_object_is_type(t, json_type_string) && json_object_get_string_len(t) > 0)
			m->text[i] = hv_s3_printable(json_object_get_string(t), json_object_get_string_len(t),
						     HV_MANIFEST_FIELD_MAX);
	}
	return TRUE;
}

gboolean hv_manifest_parse(const char *key, const char *data, gsize len, HvManifest *m, GError **error)
{
	json_tokener *tok;
	json_object *o;
	enum json_tokener_error je;
	gsize end;
	gboolean ok;

	memset(m, 0, sizeof(*m));
	m->crash_time = -1;
	if (len > HV_MANIFEST_MAX)
		return FAIL("larger than %d bytes", HV_MANIFEST_MAX);
	if (len == 0)
		return FAIL("empty");
	tok = json_tokener_new_ex(8);
	o = json_tokener_parse_ex(tok, data, (int)len);
	je = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (o == NULL || je != json_tokener_success) {
		if (o)
			json_object_put(o);
		return FAIL("not JSON (%s)", je == json_tokener_continue ? "cut short"
						     : json_tokener_error_desc(je));
	}
	for (; end < len; end++) {
		if (!g_ascii_isspace(data[end])) {
			json_object_put(o);
			return FAIL("more than one JSON value");
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return FAIL("not a JSON object");
	}
	ok = check(o, key, m, error);
	json_object_put(o);
	if (!ok)
		hv_manifest_clear(m);
	return ok;
}

const char *hv_manifest_text(const HvManifest *m, HvManifestText t)
{
	return (guint)t < HV_MF_N_TEXT && m->text[t] ? m->text[t] : "";
}

json_object *hv_manifest_to_json(const HvManifest *m)
{
	json_object *o = json_object_new_object();
	g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(m->time);
	g_autofree char *iso = d ? g_date_time_format_iso8601(d) : NULL;

	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "time", json_object_new_int64(m->time));
	if (iso)
		json_object_object_add(o, "time_iso", json_object_new_string(iso));
	for (int i = 0; i < HV_MF_N_TEXT; i++)
		if (m->text[i])
			json_object_object_add(o, hv_manifest_text_names[i], json_object_new_string(m->text[i]));
	if (m->crash_time >= 0)
		json_object_object_add(o, "crash_time", json_object_new_int64(m->crash_time));
	json_object_object_add(o, "dump_key", json_object_new_string(m->dump_key));
	json_object_object_add(o, "dump_size", json_object_new_int64((gint64)m->dump_size));
	json_object_object_add(o, "dump_sha256", json_object_new_string(m->dump_sha256));
	json_object_object_add(o, "manifest_key", json_object_new_string(m->key));
	return o;
}

gsize hv_manifest_bytes(const HvManifest *m)
{
	gsize n = sizeof(*m);

	n += m->key ? strlen(m->key) + 1 : 0;
	n += m->id ? strlen(m->id) + 1 : 0;
	n += m->dump_key ? strlen(m->dump_key) + 1 : 0;
	n += m->file_name ? strlen(m->file_name) + 1 : 0;
	for (int i = 0; i < HV_MF_N_TEXT; i++)
		n += m->text[i] ? strlen(m->text[i]) + 1 : 0;
	return n;
}

void hv_manifest_clear(HvManifest *m)
{
	g_free(m->key);
	g_free(m->id);
	g_free(m->dump_key);
	g_free(m->file_name);
	for (int i = 0; i < HV_MF_N_TEXT; i++)
		g_free(m->text[i]);
	memset(m, 0, sizeof(*m));
	m->crash_time = -1;
}
