/* hv-s3-xml.c — see hv-s3-xml.h. No libcurl here: the fuzz build compiles
 * this file alone. */
#include "hv-s3-xml.h"

#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(hv-s3-error-quark, hv_s3_error)

#define MAX_PART_SIZE G_GUINT64_CONSTANT(5368709120) /* S3: 5 GiB a part */

/* ------------------------------------------------------------ text */

static gboolean char_printable(gunichar c)
{
	if (c < 0x20 || c == 0x7f)
		return FALSE;
	if (c < 0x7f)
		return TRUE;
	switch (g_unichar_type(c)) {
	case G_UNICODE_CONTROL:
	case G_UNICODE_FORMAT: /* bidi overrides and isolates, ZWJ, ... */
	case G_UNICODE_UNASSIGNED:
	case G_UNICODE_SURROGATE:
	case G_UNICODE_LINE_SEPARATOR:
	case G_UNICODE_PARAGRAPH_SEPARATOR:
		return FALSE;
	default:
		break;
	}
	/* the bidi controls, whatever glib's tables say of them */
	return c != 0x061c && c != 0x200e && c != 0x200f && !(c >= 0x202a && c <= 0x202e) &&
	       !(c >= 0x2066 && c <= 0x2069);
}

char *hv_s3_printable(const char *s, gssize len, gsize max)
{
	const char *p, *end;
	GString *o;
	gsize safe = 0;

	if (s == NULL)
		return g_strdup("");
	if (len < 0)
		len = strlen(s);
	if (max < 8)
		max = 8;
	end = s + len;
	o = g_string_sized_new(MIN((gsize)len, max) + 8);
	for (p = s; p < end;) {
		gunichar c = g_utf8_get_char_validated(p, end - p);
		char esc[16];

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)*p);
			g_string_append(o, esc);
			p++;
		} else {
			const char *next = g_utf8_next_char(p);

			if (char_printable(c)) {
				g_string_append_len(o, p, next - p);
			} else {
				if (c < 0x100)
					snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)c);
				else
					snprintf(esc, sizeof(esc), "\\u{%04X}", (unsigned)c);
				g_string_append(o, esc);
			}
			p = next;
		}
		if (o->len <= max - 3)
			safe = o->len;
		if (o->len > max)
			break;
	}
	if (o->len > max) {
		g_string_truncate(o, safe);
		g_string_append(o, "...");
	}
	return g_string_free(o, FALSE);
}

gboolean hv_s3_is_printable(const char *s, gsize max)
{
	g_autofree char *p = NULL;
	gsize n = s ? strlen(s) : 0;

	if (s == NULL || n > max)
		return FALSE;
	p = hv_s3_printable(s, n, MAX(max, 8));
	return !strcmp(p, s);
}

gboolean hv_s3_key_valid(const char *key)
{
	const char *seg;

	if (key == NULL || !*key || strlen(key) > HV_S3_MAX_KEY || strchr(key, '\\') ||
	    !hv_s3_is_printable(key, HV_S3_MAX_KEY))
		return FALSE;
	for (seg = key;;) {
		const char *slash = strchr(seg, '/');
		gsize n = slash ? (gsize)(slash - seg) : strlen(seg);

		if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return FALSE;
		if (!slash)
			return TRUE;
		seg = slash + 1;
	}
}

gboolean hv_s3_upload_id_valid(const char *id)
{
	gsize n = id ? strlen(id) : 0;

	if (n < 1 || n > HV_S3_MAX_UPLOAD_ID)
		return FALSE;
	for (gsize i = 0; i < n; i++)
		if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
			return FALSE;
	return TRUE;
}

gboolean hv_s3_parse_u64(const char *s, guint64 max, guint64 *out)
{
	guint64 v = 0;

	if (s == NULL || !*s)
		return FALSE;
	for (; *s; s++) {
		guint d;

		if (*s < '0' || *s > '9')
			return FALSE;
		d = *s - '0';
		if (v > (max - d) / 10)
			return FALSE;
		v = v * 10 + d;
	}
	*out = v;
	return TRUE;
}

/* ------------------------------------------------------------ XML */

typedef struct Xml Xml;
/* name ends at depth (the root is 1) with its text; FALSE + error stops */
typedef gboolean (*XmlEndFn)(Xml *x, guint depth, const char *name, const char *text, GError **error);

struct Xml {
	const char *root;
	char *stack[HV_S3_XML_MAX_DEPTH];
	guint depth;
	guint elements;
	gboolean root_seen;
	gboolean failed;  /* an error was set: GMarkup may still call back (an
			   * empty element's end after its start failed) */
	GString *text;
	XmlEndFn on_end;
	void *user;
};

static const char *x_parent(const Xml *x)
{
	return x->depth >= 2 ? x->stack[x->depth - 2] : "";
}

static void x_start(GMarkupParseContext *c, const char *name, const char **an, const char **av, void *user,
		    GError **e)
{
	Xml *x = user;

	(void)c, (void)an, (void)av;
	if (x->failed || (e && *e))
		return;
	x->failed = TRUE;
	if (x->depth == 0) {
		if (x->root_seen) {
			g_set_error(e, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "a second root element");
			return;
		}
		x->root_seen = TRUE;
		if (strcmp(name, x->root)) {
			g_autofree char *n = hv_s3_printable(name, -1, 64);

			g_set_error(e, HV_S3_ERROR, HV_S3_ERROR_FAILED, "the answer is <%s>, not <%s>", n, x->root);
			return;
		}
	}
	if (x->depth >= HV_S3_XML_MAX_DEPTH) {
		g_set_error(e, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "XML nested deeper than %d",
			    HV_S3_XML_MAX_DEPTH);
		return;
	}
	if (++x->elements > HV_S3_XML_MAX_ELEMENTS) {
		g_set_error(e, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "more than %d XML elements",
			    HV_S3_XML_MAX_ELEMENTS);
		return;
	}
	x->failed = FALSE;
	x->stack[x->depth++] = g_strdup(name);
	g_string_truncate(x->text, 0);
}

static void x_end(GMarkupParseContext *c, const char *name, void *user, GError **e)
{
	Xml *x = user;

	(void)c;
	if (x->failed || (e && *e) || x->depth == 0)
		return;
	if (!x->on_end(x, x->depth, name, x->text->str, e))
		x->failed = TRUE;
	g_free(x->stack[--x->depth]);
	x->stack[x->depth] = NULL;
	g_string_truncate(x->text, 0);
}

static void x_text(GMarkupParseContext *c, const char *text, gsize len, void *user, GError **e)
{
	Xml *x = user;

	(void)c;
	if (x->failed || (e && *e))
		return;
	if (x->text->len + len > HV_S3_XML_MAX_TEXT) {
		x->failed = TRUE;
		g_set_error(e, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
			    "an element's text is longer than %d bytes", HV_S3_XML_MAX_TEXT);
		return;
	}
	g_string_append_len(x->text, text, len);
}

static gboolean parse_xml(const char *data, gsize len, const char *root, XmlEndFn on_end, void *user,
			  GError **error)
{
	static const GMarkupParser p = { x_start, x_end, x_text, NULL, NULL };
	Xml x = { .root = root, .text = g_string_new(NULL), .on_end = on_end, .user = user };
	/* no G_MARKUP_TREAT_CDATA_AS_TEXT: GMarkup 2.74 goes on parsing after
	 * invalid UTF-8 in a CDATA section (S3 sends none: it is ignored) */
	GMarkupParseContext *c = g_markup_parse_context_new(&p, 0, &x, NULL);
	GError *e = NULL;
	gboolean ok;

	if (len > G_MAXSSIZE)
		len = 0;
	ok = g_markup_parse_context_parse(c, data ? data : "", len, &e) && !e &&
	     g_markup_parse_context_end_parse(c, &e);
	g_markup_parse_context_free(c);
	for (guint i = 0; i < x.depth; i++)
		g_free(x.stack[i]);
	g_string_free(x.text, TRUE);
	/* a body without any element (CDATA or text only) is no answer */
	if (ok && !e && !x.failed && !x.root_seen)
		g_set_error(&e, HV_S3_ERROR, HV_S3_ERROR_FAILED, "the answer has no <%s>", root);
	/* an error set wins over what GMarkup returned */
	if (e || x.failed || !ok) {
		if (!e) {
			g_set_error(&e, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "not well-formed XML");
		} else {
			/* GMarkup quotes the input it stumbled on */
			char *m = hv_s3_printable(e->message, -1, 300);

			g_free(e->message);
			e->message = m;
		}
		g_propagate_error(error, e);
		return FALSE;
	}
	return TRUE;
}

static char *unquote(const char *s)
{
	gsize n = strlen(s);

	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
		return g_strndup(s + 1, n - 2);
	return g_strdup(s);
}

static gboolean once(guint *seen, guint bit, const char *name, GError **error)
{
	if (*seen & bit) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<%s> twice", name);
		return FALSE;
	}
	*seen |= bit;
	return TRUE;
}

static gboolean parse_bool(const char *text, const char *name, gboolean *out, GError **error)
{
	if (!strcmp(text, "true") || !strcmp(text, "false")) {
		*out = text[0] == 't';
		return TRUE;
	}
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<%s> is neither true nor false", name);
	return FALSE;
}

/* ------------------------------------------------------------ ListObjectsV2 */

enum { L_KEY = 1, L_SIZE = 2, L_ETAG = 4, L_TRUNC = 8, L_TOKEN = 16, L_COUNT = 32, L_PREFIX = 64 };

typedef struct {
	const char *prefix, *after;
	HvS3ListPage *page;
	HvS3Object cur;
	guint have, seen;
	guint64 key_count;
} ListP;

static void object_clear(void *p)
{
	HvS3Object *o = p;

	g_free(o->key);
	g_free(o->etag);
	memset(o, 0, sizeof(*o));
}

static gboolean list_end(Xml *x, guint depth, const char *name, const char *text, GError **error)
{
	ListP *l = x->user;
	HvS3ListPage *pg = l->page;

	if (depth == 3 && !strcmp(x_parent(x), "Contents")) {
		if (!strcmp(name, "Key")) {
			if (!once(&l->have, L_KEY, name, error))
				return FALSE;
			if (!*text || strlen(text) > HV_S3_MAX_KEY) {
				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "a key of %zu bytes (1..%d)",
					    strlen(text), HV_S3_MAX_KEY);
				return FALSE;
			}
			l->cur.key = g_strdup(text);
		} else if (!strcmp(name, "Size")) {
			if (!once(&l->have, L_SIZE, name, error))
				return FALSE;
			if (!hv_s3_parse_u64(text, G_MAXINT64, &l->cur.size)) {
				g_autofree char *t = hv_s3_printable(text, -1, 40);

				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<Size> %s is not a size", t);
				return FALSE;
			}
		} else if (!strcmp(name, "ETag")) {
			g_autofree char *u = NULL;

			if (!once(&l->have, L_ETAG, name, error))
				return FALSE;
			u = unquote(text);
			l->cur.etag = hv_s3_printable(u, -1, HV_S3_MAX_ETAG);
		}
		return TRUE;
	}
	if (depth != 2)
		return TRUE;
	if (!strcmp(name, "Contents")) {
		const char *last = pg->objects->len ? g_array_index(pg->objects, HvS3Object, pg->objects->len - 1).key
						    : l->after;
		gboolean ok = FALSE;

		if (!(l->have & L_KEY) || !(l->have & L_SIZE)) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<Contents> without <Key> or <Size>");
		} else if (pg->objects->len >= HV_S3_LIST_MAX_KEYS) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "more than %d keys in a page",
				    HV_S3_LIST_MAX_KEYS);
		} else if (!g_str_has_prefix(l->cur.key, l->prefix)) {
			g_autofree char *k = hv_s3_printable(l->cur.key, -1, 200);

			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "key %s is not under the prefix asked for",
				    k);
		} else if (last && strcmp(l->cur.key, last) <= 0) {
			g_autofree char *k = hv_s3_printable(l->cur.key, -1, 200);

			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "key %s out of order (keys must increase)",
				    k);
		} else {
			if (!l->cur.etag)
				l->cur.etag = g_strdup("");
			g_array_append_val(pg->objects, l->cur);
			memset(&l->cur, 0, sizeof(l->cur));
			ok = TRUE;
		}
		object_clear(&l->cur);
		l->have = 0;
		return ok;
	}
	if (!strcmp(name, "IsTruncated"))
		return once(&l->seen, L_TRUNC, name, error) && parse_bool(text, name, &pg->truncated, error);
	if (!strcmp(name, "NextContinuationToken")) {
		gsize n = strlen(text);

		if (!once(&l->seen, L_TOKEN, name, error))
			return FALSE;
		for (gsize i = 0; i < n; i++) {
			if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
				n = 0;
				break;
			}
		}
		if (n < 1 || n > HV_S3_MAX_TOKEN) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
				    "<NextContinuationToken> empty, longer than %d bytes or with control characters",
				    HV_S3_MAX_TOKEN);
			return FALSE;
		}
		pg->next_token = g_strdup(text);
		return TRUE;
	}
	if (!strcmp(name, "KeyCount")) {
		if (!once(&l->seen, L_COUNT, name, error))
			return FALSE;
		if (!hv_s3_parse_u64(text, G_MAXUINT32, &l->key_count)) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<KeyCount> is not a number");
			return FALSE;
		}
		return TRUE;
	}
	if (!strcmp(name, "Prefix")) {
		if (!once(&l->seen, L_PREFIX, name, error))
			return FALSE;
		if (strcmp(text, l->prefix)) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "the answer is for another prefix");
			return FALSE;
		}
	}
	return TRUE;
}

gboolean hv_s3_xml_list_page(const char *data, gsize len, const char *prefix, const char *after,
			     HvS3ListPage *page, GError **error)
{
	ListP l = { .prefix = prefix ? prefix : "", .after = after, .page = page };
	gboolean ok;

	memset(page, 0, sizeof(*page));
	page->objects = g_array_new(FALSE, TRUE, sizeof(HvS3Object));
	g_array_set_clear_func(page->objects, object_clear);
	ok = parse_xml(data, len, "ListBucketResult", list_end, &l, error);
	object_clear(&l.cur);
	if (ok && (l.seen & L_COUNT) && l.key_count != page->objects->len) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<KeyCount> %" G_GUINT64_FORMAT " for %u keys",
			    l.key_count, page->objects->len);
		ok = FALSE;
	}
	if (ok && page->truncated && (!page->next_token || !page->objects->len)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
			    "a truncated page without keys or without <NextContinuationToken>");
		ok = FALSE;
	}
	if (ok && !page->truncated)
		g_clear_pointer(&page->next_token, g_free);
	if (!ok)
		hv_s3_list_page_clear(page);
	return ok;
}

void hv_s3_list_page_clear(HvS3ListPage *page)
{
	if (page->objects)
		g_array_free(page->objects, TRUE);
	g_free(page->next_token);
	memset(page, 0, sizeof(*page));
}

/* ------------------------------------------------------------ ListParts */

enum { P_NUM = 1, P_SIZE = 2, P_ETAG = 4, P_TRUNC = 8, P_MARKER = 16 };

typedef struct {
	guint after;
	HvS3PartsPage *page;
	HvS3Part cur;
	guint have, seen;
} PartsP;

static gboolean parts_end(Xml *x, guint depth, const char *name, const char *text, GError **error)
{
	PartsP *m = x->user;
	HvS3PartsPage *pg = m->page;
	guint64 v;

	if (depth == 3 && !strcmp(x_parent(x), "Part")) {
		if (!strcmp(name, "PartNumber")) {
			if (!once(&m->have, P_NUM, name, error))
				return FALSE;
			if (!hv_s3_parse_u64(text, HV_S3_MAX_PARTS, &v) || v < 1) {
				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<PartNumber> not in 1..%d",
					    HV_S3_MAX_PARTS);
				return FALSE;
			}
			m->cur.part = (guint)v;
		} else if (!strcmp(name, "Size")) {
			if (!once(&m->have, P_SIZE, name, error))
				return FALSE;
			if (!hv_s3_parse_u64(text, MAX_PART_SIZE, &m->cur.size)) {
				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "a part's <Size> not in 0..5 GiB");
				return FALSE;
			}
		} else if (!strcmp(name, "ETag")) {
			g_autofree char *u = NULL;

			if (!once(&m->have, P_ETAG, name, error))
				return FALSE;
			u = unquote(text);
			if (strlen(u) != 32 || strspn(u, "0123456789abcdefABCDEF") != 32) {
				g_autofree char *t = hv_s3_printable(u, -1, HV_S3_MAX_ETAG);

				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
					    "a part's ETag %s is not an MD5 (SSE-KMS or SSE-C?)", t);
				return FALSE;
			}
			for (int i = 0; i < 32; i++)
				m->cur.etag[i] = g_ascii_tolower(u[i]);
			m->cur.etag[32] = 0;
		}
		return TRUE;
	}
	if (depth != 2)
		return TRUE;
	if (!strcmp(name, "Part")) {
		guint last = pg->parts->len ? g_array_index(pg->parts, HvS3Part, pg->parts->len - 1).part : m->after;

		if (m->have != (P_NUM | P_SIZE | P_ETAG)) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
				    "<Part> without <PartNumber>, <Size> or <ETag>");
			return FALSE;
		}
		if (pg->parts->len >= HV_S3_PARTS_MAX_PAGE) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "more than %d parts in a page",
				    HV_S3_PARTS_MAX_PAGE);
			return FALSE;
		}
		if (m->cur.part <= last) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "part %u out of order (after %u)",
				    m->cur.part, last);
			return FALSE;
		}
		g_array_append_val(pg->parts, m->cur);
		memset(&m->cur, 0, sizeof(m->cur));
		m->have = 0;
		return TRUE;
	}
	if (!strcmp(name, "IsTruncated"))
		return once(&m->seen, P_TRUNC, name, error) && parse_bool(text, name, &pg->truncated, error);
	if (!strcmp(name, "NextPartNumberMarker")) {
		if (!once(&m->seen, P_MARKER, name, error))
			return FALSE;
		if (!hv_s3_parse_u64(text, HV_S3_MAX_PARTS, &v)) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "<NextPartNumberMarker> not in 0..%d",
				    HV_S3_MAX_PARTS);
			return FALSE;
		}
		pg->next_marker = (guint)v;
	}
	return TRUE;
}

gboolean hv_s3_xml_parts_page(const char *data, gsize len, guint after, HvS3PartsPage *page, GError **error)
{
	PartsP m = { .after = after, .page = page };
	gboolean ok;

	memset(page, 0, sizeof(*page));
	page->parts = g_array_new(FALSE, TRUE, sizeof(HvS3Part));
	ok = parse_xml(data, len, "ListPartsResult", parts_end, &m, error);
	if (ok && page->truncated) {
		guint last = page->parts->len ? g_array_index(page->parts, HvS3Part, page->parts->len - 1).part : 0;

		/* S3: when truncated, NextPartNumberMarker is the page's last part */
		if (!(m.seen & P_MARKER) || !page->parts->len || page->next_marker != last) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
				    "a truncated part list whose <NextPartNumberMarker> is not its last part");
			ok = FALSE;
		}
	}
	if (ok && !page->truncated)
		page->next_marker = 0;
	if (!ok)
		hv_s3_parts_page_clear(page);
	return ok;
}

void hv_s3_parts_page_clear(HvS3PartsPage *page)
{
	if (page->parts)
		g_array_free(page->parts, TRUE);
	memset(page, 0, sizeof(*page));
}

/* ------------------------------------------------------------ Error */

static gboolean err_end(Xml *x, guint depth, const char *name, const char *text, GError **error)
{
	HvS3XmlError *e = x->user;

	(void)error;
	if (depth != 2)
		return TRUE;
	if (!strcmp(name, "Code") && !e->code[0]) {
		g_autofree char *t = hv_s3_printable(text, -1, sizeof(e->code) - 1);

		g_strlcpy(e->code, t, sizeof(e->code));
	} else if (!strcmp(name, "Message") && !e->message[0]) {
		g_autofree char *t = hv_s3_printable(text, -1, sizeof(e->message) - 1);

		g_strlcpy(e->message, t, sizeof(e->message));
	}
	return TRUE;
}

gboolean hv_s3_xml_error(const char *data, gsize len, HvS3XmlError *e)
{
	memset(e, 0, sizeof(*e));
	if (!parse_xml(data, len, "Error", err_end, e, NULL)) {
		/* not an <Error>, or a broken one: what was read is still printable */
		return e->code[0] != 0;
	}
	return TRUE;
}

/* ------------------------------------------------------------ InitiateMultipartUpload */

typedef struct {
	char *id;
	guint seen;
} InitP;

static gboolean init_end(Xml *x, guint depth, const char *name, const char *text, GError **error)
{
	InitP *ip = x->user;

	if (depth != 2 || strcmp(name, "UploadId"))
		return TRUE;
	if (!once(&ip->seen, 1, name, error))
		return FALSE;
	if (!hv_s3_upload_id_valid(text)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
			    "<UploadId> empty, longer than %d bytes or not printable ASCII", HV_S3_MAX_UPLOAD_ID);
		return FALSE;
	}
	ip->id = g_strdup(text);
	return TRUE;
}

char *hv_s3_xml_upload_id(const char *data, gsize len, GError **error)
{
	InitP ip = { NULL, 0 };

	if (!parse_xml(data, len, "InitiateMultipartUploadResult", init_end, &ip, error)) {
		g_free(ip.id);
		return NULL;
	}
	if (!ip.id)
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "no <UploadId> in the answer");
	return ip.id;
}
