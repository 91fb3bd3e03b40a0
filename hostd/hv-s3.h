/* hv-s3.h — a small S3 client for shipping dumps (issue 12): libcurl does
 * the HTTP, TLS and AWS SigV4 signing (CURLOPT_AWS_SIGV4); this file builds
 * canonical requests libcurl 7.88 signs correctly and reads the store's
 * XML answers with bounds.
 *
 * What libcurl 7.88 leaves to the caller (measured against radosgw 16.2):
 * it never sends x-amz-content-sha256 (it signs the hash of an empty body,
 * the store assumes UNSIGNED-PAYLOAD without the header: 403), it does not
 * sort query parameters nor percent-encode their values, and a bare
 * "?uploads" must be written "?uploads=". Every request here sends the
 * body's real SHA-256 (the store checks it) and, for uploads, Content-MD5
 * (radosgw answers BadDigest on a mismatch; it ignores x-amz-checksum-*).
 *
 * Answers from the store are input from the network: bodies are capped
 * (HV_S3_MAX_REPLY; an object fetched into a file at its expected size),
 * XML is parsed by hv-s3-xml.c into bounded fields (a bound crossed fails
 * the request, nothing is cut silently), listings stop after
 * HV_S3_MAX_PAGES pages, and what the store says (codes, messages, ETags)
 * reaches messages only in printable form.
 *
 * Keys go on the wire as given (CURLOPT_PATH_AS_IS: libcurl would squash
 * "/./" and "/../" after the path was signed), so every key is checked
 * first: no empty, "." or ".." segment, printable (hv_s3_key_valid).
 *
 * Plain http:// is for loopback endpoints (127.0.0.0/8, ::1, localhost)
 * unless allow_http is set: the signature protects the request, not the
 * dump and manifests on the wire.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

#define HV_S3_MAX_REPLY (8 * 1024 * 1024) /* an XML answer or a manifest */
#define HV_S3_MAX_PAGES 2000              /* ListObjectsV2 pages of 1000 keys: 2 million keys */
#define HV_S3_MAX_KEY 1024                /* S3's own limit on key length */

typedef struct {
	char *endpoint;   /* https://host[:port]; http:// for loopback or with allow_http */
	char *bucket;
	char *prefix;     /* "" or ending in '/' */
	char *region;     /* signing region [a-z0-9-]{1,64} ("default" for radosgw, us-east-1, ...) */
	gboolean path_style; /* endpoint/bucket/key, else bucket.host/key (hv_s3_parse_url: TRUE) */
	char *ca_file;    /* absolute path; NULL: the system CA store */
	char *access_key; /* printable ASCII, no space, at most 256 bytes (so is the secret) */
	char *secret_key;
	guint64 max_send_bytes_per_s; /* 0: unlimited (policy upload_rate=) */
	guint connect_timeout_s;      /* default 10 */
	guint low_speed_timeout_s;    /* abort when slower than min(1 KiB/s, half the send limit)
				       * for this long (longer under a send limit below 1 KiB/s);
				       * default 60 */
	gboolean allow_http;          /* http:// to a non-loopback endpoint */
	guint request_timeout_s;      /* whole request, except those moving a dump or a part
				       * (the low-speed limit bounds those); default 300 */
	const gint *cancel;           /* non-zero (g_atomic_int_set) aborts the request under
				       * way within about a second: HV_S3_ERROR_FAILED */
} HvS3Config;

typedef struct HvS3 HvS3;

/* Parses s3://bucket/prefix into cfg->bucket and cfg->prefix (a DNS-style
 * bucket name; prefix segments neither empty, "." nor ".."), and sets
 * cfg->path_style (the default addressing). */
gboolean hv_s3_parse_url(const char *url, HvS3Config *cfg, GError **error);
/* Reads group [s3] of a key file: access_key= and secret_key= (required),
 * region=, endpoint=, ca_file= (absolute path) and addressing=path or
 * virtual-host (optional; override what cfg has). Refuses a file that is
 * not a regular file owned by root with mode 0600, larger than 64 KiB,
 * unknown or repeated keys in [s3], and values out of their syntax; cfg is
 * changed only on success. The secret never appears in a message, and
 * the file's text is wiped from memory once read. */
gboolean hv_s3_load_credentials(const char *path, HvS3Config *cfg, GError **error);
void hv_s3_config_clear(HvS3Config *cfg);

/* Checks the whole configuration (endpoint syntax and scheme, region,
 * keys, ca_file) whatever it came from. */
HvS3 *hv_s3_new(const HvS3Config *cfg, GError **error);
void hv_s3_free(HvS3 *s3);

/* Full key: the configured prefix + name. */
char *hv_s3_key(HvS3 *s3, const char *name);

gboolean hv_s3_create_bucket(HvS3 *s3, GError **error); /* exists already: ok */
gboolean hv_s3_put(HvS3 *s3, const char *key, const void *data, gsize len, GError **error);
/* Whole object into memory, at most max bytes (more: HV_S3_ERROR_TOO_LARGE). */
GBytes *hv_s3_get(HvS3 *s3, const char *key, gsize max, GError **error);
/* Object into fd from its current offset, which must be exactly size
 * bytes: a Content-Length that differs, or more bytes, stop the transfer
 * (HV_S3_ERROR_TOO_LARGE); fewer fail too. Returns size, or -1. */
gint64 hv_s3_get_to_fd(HvS3 *s3, const char *key, int fd, guint64 size, GError **error);
/* 1 found (size, etag filled; etag without quotes, printable), 0 not found,
 * -1 error (also an answer without Content-Length). */
int hv_s3_head(HvS3 *s3, const char *key, guint64 *size, char **etag, GError **error);
gboolean hv_s3_delete(HvS3 *s3, const char *key, GError **error);

typedef gboolean (*HvS3ListFn)(const char *key, guint64 size, const char *etag, void *user);
/* Every key under prefix (full key), in increasing order (checked: a key
 * outside prefix, out of order, longer than HV_S3_MAX_KEY or a page of more
 * than 1000 fails the walk, after the keys of the pages before it reached
 * fn); fn returning FALSE stops the walk (not an error). fn may make
 * requests on s3 itself: it is called between pages. Keys are as the store
 * has them (any UTF-8): check them before use, print them through
 * hv_s3_printable (hv-s3-xml.h). */
gboolean hv_s3_list(HvS3 *s3, const char *prefix, HvS3ListFn fn, void *user, GError **error);

/* Multipart upload. Parts are numbered from 1; each is sent with its MD5
 * (md5_hex out: 32 hex digits, the part's ETag as the store must answer).
 * Upload ids: 1..1024 bytes of printable ASCII without space (checked
 * both ways: what the store answers, what a caller passes). */
char *hv_s3_mpu_create(HvS3 *s3, const char *key, GError **error);
gboolean hv_s3_mpu_put_part(HvS3 *s3, const char *key, const char *upload_id, guint part, int fd,
			    guint64 offset, gsize len, char md5_hex[33], GError **error);
typedef struct {
	guint part;
	guint64 size;
	char etag[33];
} HvS3Part;
/* Parts the store holds for an upload (to resume), part numbers increasing,
 * ETags 32 lower-case hex digits (another ETag fails: SSE-KMS/SSE-C parts
 * cannot be checked against their MD5); NULL and
 * HV_S3_ERROR_NO_UPLOAD when the store does not know the upload (radosgw
 * 16.2 answers an unknown upload id with 404 NoSuchKey: HV_S3_ERROR_NOT_FOUND,
 * which a resume must treat the same way). */
GArray *hv_s3_mpu_list_parts(HvS3 *s3, const char *key, const char *upload_id, GError **error);
/* parts: numbers strictly increasing in 1..10000, ETags 32 hex digits. A
 * 200 answer carrying an <Error> fails (HV_S3_ERROR_NO_UPLOAD for
 * NoSuchUpload). */
gboolean hv_s3_mpu_complete(HvS3 *s3, const char *key, const char *upload_id, const HvS3Part *parts,
			    guint n, GError **error);
gboolean hv_s3_mpu_abort(HvS3 *s3, const char *key, const char *upload_id, GError **error);
/* The ETag S3 gives a multipart object: MD5 of the parts' binary MD5s, "-N". */
char *hv_s3_mpu_etag(const HvS3Part *parts, guint n);

#define HV_S3_ERROR hv_s3_error_quark()
GQuark hv_s3_error_quark(void);
typedef enum {
	HV_S3_ERROR_FAILED,     /* network, TLS, a bad answer */
	HV_S3_ERROR_HTTP,       /* the store refused: message names its code */
	HV_S3_ERROR_NOT_FOUND,  /* 404 NoSuchKey / NoSuchBucket */
	HV_S3_ERROR_NO_UPLOAD,  /* NoSuchUpload */
	HV_S3_ERROR_BAD_PARTS,  /* InvalidPart, InvalidPartOrder, EntityTooSmall: start over */
	HV_S3_ERROR_CONFIG,     /* bad URL, credentials file, key */
	HV_S3_ERROR_TOO_LARGE,  /* an answer or object larger than allowed */
} HvS3Error;

G_END_DECLS
