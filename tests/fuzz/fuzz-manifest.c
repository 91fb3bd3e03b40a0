/* fuzz-manifest.c — libFuzzer target: a dump manifest read back from the
 * store (issue 12) through hv_manifest_parse (hostd/hv-manifest.c). Input:
 * the manifest's key, '\n', its bytes; without a '\n' all of it is the
 * manifest, under a fixed valid key. An accepted manifest must keep every
 * promise of hv-manifest.h (an id valid and equal to the key's, a dump key
 * under dumps/ with the key's date, a local file name that is neither a
 * path nor a dot file, 64 hex digits, printable bounded text), and what
 * fleet list --json prints of it must parse back to the same manifest. */
#include <stdlib.h>
#include <string.h>

#include "hv-manifest.h"
#include "hv-s3-xml.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

#define DEFAULT_KEY "manifests/2026/12/05/20261205T101112Z-host-vm-1a2b3c4d.json"

static void check(const HvManifest *m, const char *key)
{
	char day[11];
	g_autofree char *kid = NULL;

	if (!hv_manifest_key_parse(key, day, &kid) || strcmp(m->key, key) || strcmp(m->id, kid) ||
	    !hv_manifest_id_valid(m->id))
		abort();
	if (!g_str_has_prefix(m->dump_key, "dumps/") || strncmp(m->dump_key + 6, day, 10) ||
	    !hv_s3_key_valid(m->dump_key) || strcmp(m->file_name, m->dump_key + 17) || strchr(m->file_name, '/') ||
	    m->file_name[0] == '.' || !g_str_has_prefix(m->file_name, m->id) ||
	    strlen(m->file_name) > strlen(m->id) + HV_MANIFEST_SUFFIX_MAX)
		abort();
	if (strlen(m->dump_sha256) != 64 || strspn(m->dump_sha256, "0123456789abcdef") != 64)
		abort();
	if (m->time < 0 || m->time > HV_MANIFEST_MAX_TIME || m->dump_size > G_MAXINT64 ||
	    m->crash_time < -1 || m->crash_time > HV_MANIFEST_MAX_TIME)
		abort();
	for (int i = 0; i < HV_MF_N_TEXT; i++)
		if (m->text[i] && (!*m->text[i] || !hv_s3_is_printable(m->text[i], HV_MANIFEST_FIELD_MAX)))
			abort();
}

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	const char *d = (const char *)data, *nl = memchr(d, '\n', size);
	g_autofree char *key = nl ? g_strndup(d, nl - d) : g_strdup(DEFAULT_KEY);
	const char *json = nl ? nl + 1 : d;
	gsize len = nl ? size - (nl + 1 - d) : size;
	g_autofree char *id = NULL;
	HvManifest m, again;
	GError *e = NULL;

	if (hv_manifest_key_parse(key, NULL, &id)) {
		g_autofree char *k = hv_manifest_key_for_id(id);

		/* the key fetch derives from an id is one the parser accepts */
		if (k && (strcmp(k, key) || !hv_manifest_key_parse(k, NULL, NULL)))
			abort();
	}
	if (!hv_manifest_parse(key, json, len, &m, &e)) {
		if (e == NULL || m.id != NULL)
			abort();
		g_error_free(e);
		return 0;
	}
	check(&m, key);
	{
		json_object *o = hv_manifest_to_json(&m);
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE);

		if (!hv_manifest_parse(key, s, strlen(s), &again, &e))
			abort();
		if (strcmp(again.dump_key, m.dump_key) || strcmp(again.dump_sha256, m.dump_sha256) ||
		    again.dump_size != m.dump_size || again.time != m.time || again.crash_time != m.crash_time)
			abort();
		for (int i = 0; i < HV_MF_N_TEXT; i++)
			if (g_strcmp0(again.text[i], m.text[i]))
				abort();
		json_object_put(o);
		hv_manifest_clear(&again);
	}
	hv_manifest_clear(&m);
	return 0;
}
