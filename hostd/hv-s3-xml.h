/* hv-s3-xml.h — what an S3 store answers, parsed from a buffer without the
 * network (hv-s3.c sends the requests; tests/fuzz/fuzz-s3xml.c fuzzes
 * these). Every answer is hostile input: GMarkup (no DTD, no external
 * entities) into bounded fields; nesting, element text, keys, entries per
 * page and numbers are bounded, and an answer outside those bounds fails
 * the parse with a one-line error instead of being cut silently. Strings
 * that reach a message (codes, ETags, keys) go through hv_s3_printable(). */
#pragma once

#include <glib.h>

#include "hv-s3.h"

G_BEGIN_DECLS

#define HV_S3_XML_MAX_DEPTH 16
#define HV_S3_XML_MAX_TEXT 4096       /* one element's text */
#define HV_S3_XML_MAX_ELEMENTS 100000 /* a 1000-key page has ~10000 */
#define HV_S3_LIST_MAX_KEYS 1000      /* we ask for max-keys=1000 */
#define HV_S3_PARTS_MAX_PAGE 1000     /* we ask for max-parts=1000 */
#define HV_S3_MAX_PARTS 10000         /* S3's limit */
#define HV_S3_MAX_TOKEN (HV_S3_MAX_KEY + 256)
#define HV_S3_MAX_UPLOAD_ID 1024
#define HV_S3_MAX_ETAG 80             /* printable form kept of an ETag */

/* One ListObjectsV2 page. */
typedef struct {
	char *key;        /* full key: starts with the prefix asked for */
	guint64 size;
	char *etag;       /* without quotes, printable; "" when absent */
} HvS3Object;

typedef struct {
	GArray *objects;  /* HvS3Object: keys strictly increasing, at most HV_S3_LIST_MAX_KEYS */
	gboolean truncated;
	char *next_token; /* set when truncated: 1..HV_S3_MAX_TOKEN bytes, no control characters */
} HvS3ListPage;

/* A <ListBucketResult> for a listing of `prefix`, every key > `after`
 * (NULL: the first page). A truncated page without keys or without a
 * continuation token, a key outside the prefix, out of order or longer
 * than HV_S3_MAX_KEY, more than HV_S3_LIST_MAX_KEYS keys, a KeyCount or
 * Prefix that disagrees: FALSE with an error. */
gboolean hv_s3_xml_list_page(const char *data, gsize len, const char *prefix, const char *after,
			     HvS3ListPage *page, GError **error);
void hv_s3_list_page_clear(HvS3ListPage *page);

typedef struct {
	GArray *parts;      /* HvS3Part: numbers strictly increasing in 1..10000, ETags 32 hex digits */
	gboolean truncated;
	guint next_marker;  /* set when truncated: > every part of this page */
} HvS3PartsPage;

/* A <ListPartsResult> page asked with part-number-marker=after. */
gboolean hv_s3_xml_parts_page(const char *data, gsize len, guint after, HvS3PartsPage *page, GError **error);
void hv_s3_parts_page_clear(HvS3PartsPage *page);

typedef struct {
	char code[72];      /* printable, "" when absent */
	char message[264];  /* printable, "" when absent */
} HvS3XmlError;

/* TRUE when the body is an <Error> document (e filled), else FALSE. */
gboolean hv_s3_xml_error(const char *data, gsize len, HvS3XmlError *e);

/* The UploadId of an <InitiateMultipartUploadResult>. */
char *hv_s3_xml_upload_id(const char *data, gsize len, GError **error);

/* s (len bytes, -1: NUL-terminated) for a terminal, a log or a message:
 * valid UTF-8 without control, format (bidi overrides), line or paragraph
 * separator characters: invalid bytes and C0/C1 controls become \xNN,
 * other unprintable characters \u{NNNN}. At most max bytes (>= 8), cut
 * between characters with "..." when longer; idempotent. NULL gives "". */
char *hv_s3_printable(const char *s, gssize len, gsize max);
/* Whether hv_s3_printable(s) would be s itself (and s is at most max bytes). */
gboolean hv_s3_is_printable(const char *s, gsize max);

/* A key this client sends: 1..HV_S3_MAX_KEY bytes, printable UTF-8, no
 * backslash, '/'-separated segments none of which is empty, "." or "..". */
gboolean hv_s3_key_valid(const char *key);
/* 1..HV_S3_MAX_UPLOAD_ID bytes of printable ASCII without space. */
gboolean hv_s3_upload_id_valid(const char *id);
/* Decimal digits only (no sign, space or empty string), at most max. */
gboolean hv_s3_parse_u64(const char *s, guint64 max, guint64 *out);

G_END_DECLS
