/* fuzz-s3xml.c — libFuzzer target: what an S3 store answers (issue 12),
 * through the parsers of hostd/hv-s3-xml.c: a ListObjectsV2 page (for the
 * prefixes "" and "pfx/manifests/"), a ListParts page, an <Error> and an
 * InitiateMultipartUpload answer; then the text checks over the raw input.
 * Whatever the input, a parse ends in an error or in a result within its
 * bounds (keys under the prefix, increasing, at most 1000; parts 1..10000
 * increasing with MD5 ETags; printable codes and upload ids), and printable
 * text is bounded, valid UTF-8 and idempotent. */
#include <stdlib.h>
#include <string.h>

#include "hv-s3-xml.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

static void check_list(const char *d, size_t size, const char *prefix, const char *after)
{
	HvS3ListPage pg;
	GError *e = NULL;
	const char *last = after;

	if (!hv_s3_xml_list_page(d, size, prefix, after, &pg, &e)) {
		if (e == NULL || pg.objects != NULL)
			abort();
		g_error_free(e);
		return;
	}
	if (e != NULL || pg.objects->len > HV_S3_LIST_MAX_KEYS)
		abort();
	for (guint i = 0; i < pg.objects->len; i++) {
		HvS3Object *o = &g_array_index(pg.objects, HvS3Object, i);

		if (!o->key || !*o->key || strlen(o->key) > HV_S3_MAX_KEY || !g_str_has_prefix(o->key, prefix) ||
		    (last && strcmp(o->key, last) <= 0) || !o->etag || !hv_s3_is_printable(o->etag, HV_S3_MAX_ETAG) ||
		    o->size > G_MAXINT64)
			abort();
		last = o->key;
	}
	if (pg.truncated && (!pg.next_token || !pg.objects->len || strlen(pg.next_token) > HV_S3_MAX_TOKEN))
		abort();
	if (!pg.truncated && pg.next_token)
		abort();
	hv_s3_list_page_clear(&pg);
}

static void check_parts(const char *d, size_t size, guint after)
{
	HvS3PartsPage pg;
	GError *e = NULL;
	guint last = after;

	if (!hv_s3_xml_parts_page(d, size, after, &pg, &e)) {
		if (e == NULL || pg.parts != NULL)
			abort();
		g_error_free(e);
		return;
	}
	if (pg.parts->len > HV_S3_PARTS_MAX_PAGE)
		abort();
	for (guint i = 0; i < pg.parts->len; i++) {
		HvS3Part *p = &g_array_index(pg.parts, HvS3Part, i);

		if (p->part <= last || p->part > HV_S3_MAX_PARTS || strlen(p->etag) != 32 ||
		    strspn(p->etag, "0123456789abcdef") != 32 || p->size > G_GUINT64_CONSTANT(5368709120))
			abort();
		last = p->part;
	}
	if (pg.truncated && (!pg.parts->len || pg.next_marker != last))
		abort();
	hv_s3_parts_page_clear(&pg);
}

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	const char *d = (const char *)data;
	HvS3XmlError xe;
	GError *e = NULL;
	char *id, *p, *text;
	guint64 v;

	check_list(d, size, "", NULL);
	check_list(d, size, "pfx/manifests/", "pfx/manifests/2026/12/04/");
	check_parts(d, size, 0);
	check_parts(d, size, 1);

	if (hv_s3_xml_error(d, size, &xe) || xe.code[0]) {
		if (!hv_s3_is_printable(xe.code, sizeof(xe.code) - 1) ||
		    !hv_s3_is_printable(xe.message, sizeof(xe.message) - 1))
			abort();
	}
	id = hv_s3_xml_upload_id(d, size, &e);
	if ((id == NULL) == (e == NULL) || (id && !hv_s3_upload_id_valid(id)))
		abort();
	g_free(id);
	g_clear_error(&e);

	/* the text checks, on the input as one string */
	p = hv_s3_printable(d, size, 256);
	if (strlen(p) > 256 || !g_utf8_validate(p, -1, NULL) || !hv_s3_is_printable(p, 256))
		abort();
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			abort();
	g_free(p);
	text = g_strndup(d, MIN(size, 4096));
	if (hv_s3_key_valid(text)) {
		g_autofree char *slashed = g_strconcat("/", text, "/", NULL);

		if (strstr(slashed, "//") || strstr(slashed, "/./") || strstr(slashed, "/../") || strchr(text, '\\') ||
		    strlen(text) > HV_S3_MAX_KEY)
			abort();
	}
	if (hv_s3_parse_u64(text, 5368709120u, &v) && v > 5368709120u)
		abort();
	g_free(text);
	return 0;
}
