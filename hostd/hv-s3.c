/* hv-s3.c — see hv-s3.h. */
#include "hv-s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_TEXT 4096 /* one XML element's text */
#define HASH_CHUNK (1 << 20)

G_DEFINE_QUARK(hv-s3-error-quark, hv_s3_error)

struct HvS3 {
	HvS3Config cfg;
	CURL *curl;
	char *scheme;   /* "https" */
	char *hostport; /* host[:port] */
	char *sigv4;    /* aws:amz:REGION:s3 */
};

/* ------------------------------------------------------------ config */

gboolean hv_s3_parse_url(const char *url, HvS3Config *cfg, GError **error)
{
	const char *p, *slash;

	if (!g_str_has_prefix(url, "s3://") || !url[5]) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "%s: not an s3://bucket/prefix URL", url);
		return FALSE;
	}
	p = url + 5;
	slash = strchr(p, '/');
	g_free(cfg->bucket);
	g_free(cfg->prefix);
	cfg->bucket = slash ? g_strndup(p, slash - p) : g_strdup(p);
	cfg->prefix = g_strdup(slash ? slash + 1 : "");
	if (strlen(cfg->bucket) < 3 || strlen(cfg->bucket) > 63 ||
	    strspn(cfg->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(cfg->bucket)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "%s: bucket name must be 3-63 of a-z 0-9 . -", url);
		return FALSE;
	}
	if (cfg->prefix[0] && !g_str_has_suffix(cfg->prefix, "/")) {
		char *t = g_strconcat(cfg->prefix, "/", NULL);
		g_free(cfg->prefix);
		cfg->prefix = t;
	}
	if (strlen(cfg->prefix) > 256) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "%s: prefix longer than 256 bytes", url);
		return FALSE;
	}
	return TRUE;
}

gboolean hv_s3_load_credentials(const char *path, HvS3Config *cfg, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	struct stat st;
	int fd;
	g_autofree char *text = NULL;
	gsize len;
	char *v;

	/* opened once, checked on the descriptor (no race with a swap) */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "credentials %s: must be a regular file owned by root with mode 0600 (is %04o, uid %u)",
			    path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
		close(fd);
		return FALSE;
	}
	if (st.st_size > 65536) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: larger than 64 KiB", path);
		close(fd);
		return FALSE;
	}
	text = g_malloc(st.st_size + 1);
	len = 0;
	while (len < (gsize)st.st_size) {
		ssize_t n = read(fd, text + len, st.st_size - len);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	text[len] = 0;
	if (!g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, NULL)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: not a key file with an [s3] group",
			    path);
		return FALSE;
	}
	for (int i = 0; i < 2; i++) {
		const char *k = i ? "secret_key" : "access_key";
		v = g_key_file_get_string(kf, "s3", k, NULL);
		if (!v || !*v || strlen(v) > 256) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: [s3] %s missing or too long",
				    path, k);
			g_free(v);
			return FALSE;
		}
		if (i) {
			g_free(cfg->secret_key);
			cfg->secret_key = v;
		} else {
			g_free(cfg->access_key);
			cfg->access_key = v;
		}
	}
	if ((v = g_key_file_get_string(kf, "s3", "region", NULL))) {
		g_free(cfg->region);
		cfg->region = v;
	}
	if ((v = g_key_file_get_string(kf, "s3", "endpoint", NULL))) {
		g_free(cfg->endpoint);
		cfg->endpoint = v;
	}
	return TRUE;
}

void hv_s3_config_clear(HvS3Config *cfg)
{
	g_free(cfg->endpoint);
	g_free(cfg->bucket);
	g_free(cfg->prefix);
	g_free(cfg->region);
	g_free(cfg->ca_file);
	g_free(cfg->access_key);
	if (cfg->secret_key) {
		memset(cfg->secret_key, 0, strlen(cfg->secret_key));
		g_free(cfg->secret_key);
	}
	memset(cfg, 0, sizeof(*cfg));
}

HvS3 *hv_s3_new(const HvS3Config *cfg, GError **error)
{
	HvS3 *s3;
	const char *sep;

	if (!cfg->endpoint || !cfg->bucket || !cfg->access_key || !cfg->secret_key) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint, bucket and credentials are required");
		return NULL;
	}
	sep = strstr(cfg->endpoint, "://");
	if (!sep || !sep[3] || (strncmp(cfg->endpoint, "https", 5) && strncmp(cfg->endpoint, "http", 4)) ||
	    (size_t)(sep - cfg->endpoint) > 5 || strchr(sep + 3, '/') || strchr(sep + 3, '?')) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint %s is not http(s)://host[:port]",
			    cfg->endpoint);
		return NULL;
	}
	s3 = g_new0(HvS3, 1);
	s3->cfg.endpoint = g_strdup(cfg->endpoint);
	s3->cfg.bucket = g_strdup(cfg->bucket);
	s3->cfg.prefix = g_strdup(cfg->prefix ? cfg->prefix : "");
	s3->cfg.region = g_strdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
	s3->cfg.path_style = cfg->path_style;
	s3->cfg.ca_file = g_strdup(cfg->ca_file);
	s3->cfg.access_key = g_strdup(cfg->access_key);
	s3->cfg.secret_key = g_strdup(cfg->secret_key);
	s3->cfg.max_send_bytes_per_s = cfg->max_send_bytes_per_s;
	s3->cfg.connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s : 10;
	s3->cfg.low_speed_timeout_s = cfg->low_speed_timeout_s ? cfg->low_speed_timeout_s : 60;
	s3->scheme = g_strndup(cfg->endpoint, sep - cfg->endpoint);
	s3->hostport = g_strdup(sep + 3);
	s3->sigv4 = g_strdup_printf("aws:amz:%s:s3", s3->cfg.region);
	s3->curl = curl_easy_init();
	if (!s3->curl) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "s3: curl_easy_init failed");
		hv_s3_free(s3);
		return NULL;
	}
	return s3;
}

void hv_s3_free(HvS3 *s3)
{
	if (!s3)
		return;
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	hv_s3_config_clear(&s3->cfg);
	g_free(s3->scheme);
	g_free(s3->hostport);
	g_free(s3->sigv4);
	g_free(s3);
}

char *hv_s3_key(HvS3 *s3, const char *name)
{
	return g_strconcat(s3->cfg.prefix, name, NULL);
}

/* ------------------------------------------------------------ encoding */

static void append_encoded(GString *s, const char *v, gboolean keep_slash)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (g_ascii_isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (keep_slash && *p == '/'))
			g_string_append_c(s, *p);
		else
			g_string_append_printf(s, "%%%02X", *p);
	}
}

static int cmp_pair(const void *a, const void *b)
{
	char *const *x = a, *const *y = b;
	int c = strcmp(x[0], y[0]);
	return c ? c : strcmp(x[1], y[1]);
}

/* URL with the key encoded and the query sorted by encoded name, values
 * encoded, "name=" for an empty value: the form SigV4 signs. */
static char *build_url(HvS3 *s3, const char *key, const char *const *query)
{
	GString *u = g_string_new(NULL);
	guint n = 0;

	if (s3->cfg.path_style)
		g_string_append_printf(u, "%s://%s/%s", s3->scheme, s3->hostport, s3->cfg.bucket);
	else
		g_string_append_printf(u, "%s://%s.%s", s3->scheme, s3->cfg.bucket, s3->hostport);
	if (key) {
		g_string_append_c(u, '/');
		append_encoded(u, key, TRUE);
	} else if (!s3->cfg.path_style) {
		g_string_append_c(u, '/');
	}
	while (query && query[2 * n])
		n++;
	if (n) {
		char **pairs = g_new0(char *, 2 * n);
		for (guint i = 0; i < n; i++) {
			GString *e = g_string_new(NULL);
			append_encoded(e, query[2 * i], FALSE);
			pairs[2 * i] = g_string_free(e, FALSE);
			e = g_string_new(NULL);
			append_encoded(e, query[2 * i + 1] ? query[2 * i + 1] : "", FALSE);
			pairs[2 * i + 1] = g_string_free(e, FALSE);
		}
		qsort(pairs, n, 2 * sizeof(char *), cmp_pair);
		for (guint i = 0; i < n; i++)
			g_string_append_printf(u, "%c%s=%s", i ? '&' : '?', pairs[2 * i], pairs[2 * i + 1]);
		for (guint i = 0; i < 2 * n; i++)
			g_free(pairs[i]);
		g_free(pairs);
	}
	return g_string_free(u, FALSE);
}

/* ------------------------------------------------------------ requests */

typedef struct {
	const char *method;
	const char *key;
	const char *const *query;
	const void *body; /* buffer body, or */
	gsize body_len;
	int fd;           /* fd body when >= 0 */
	guint64 off;
	const char *sha256_hex; /* the body's; NULL: empty body */
	const char *md5_b64;
	int out_fd;       /* >= 0: a 2xx body goes there */
	gsize max_reply;
} Req;

typedef struct {
	long status;
	GByteArray *body;
	gboolean overflow;
	char *etag;
	guint64 length;
	gboolean have_length;
	gint64 written;
	int write_errno;
	/* request body state */
	const Req *req;
	gsize sent;
	int read_errno;
} Resp;

static size_t on_read(char *buf, size_t size, size_t nitems, void *user)
{
	Resp *r = user;
	const Req *q = r->req;
	size_t want = size * nitems, left = q->body_len - r->sent;

	if (want > left)
		want = left;
	if (!want)
		return 0;
	if (q->fd >= 0) {
		ssize_t n = pread(q->fd, buf, want, q->off + r->sent);
		if (n <= 0) {
			r->read_errno = n < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = n;
	} else {
		memcpy(buf, (const char *)q->body + r->sent, want);
	}
	r->sent += want;
	return want;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
	Resp *r = user;
	size_t n = size * nmemb;

	if (r->req->out_fd >= 0 && r->status >= 200 && r->status < 300) {
		size_t done = 0;
		while (done < n) {
			ssize_t w = write(r->req->out_fd, data + done, n - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r->write_errno = w < 0 ? errno : EIO;
				return 0;
			}
			done += w;
		}
		r->written += n;
		return n;
	}
	if (r->body->len + n > r->req->max_reply) {
		r->overflow = TRUE;
		return 0;
	}
	g_byte_array_append(r->body, (const guint8 *)data, n);
	return n;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *user)
{
	Resp *r = user;
	size_t n = size * nitems;
	g_autofree char *line = g_strndup(data, MIN(n, 1024));
	char *colon;

	g_strchomp(line);
	if (g_str_has_prefix(line, "HTTP/")) { /* a new response (100-continue, redirects): start over */
		const char *sp = strchr(line, ' ');
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		g_clear_pointer(&r->etag, g_free);
		r->have_length = FALSE;
		return n;
	}
	colon = strchr(line, ':');
	if (!colon)
		return n;
	*colon = 0;
	g_strstrip(colon + 1);
	if (!g_ascii_strcasecmp(line, "ETag")) {
		char *v = colon + 1;
		size_t l = strlen(v);
		if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
			v[l - 1] = 0;
			v++;
		}
		g_free(r->etag);
		r->etag = g_strndup(v, 64);
	} else if (!g_ascii_strcasecmp(line, "Content-Length")) {
		char *end;
		guint64 v = g_ascii_strtoull(colon + 1, &end, 10);
		if (end != colon + 1 && !*end) {
			r->length = v;
			r->have_length = TRUE;
		}
	}
	return n;
}

/* ------------------------------------------------------------ XML */

typedef struct {
	GPtrArray *stack;  /* element names */
	GString *text;
	gboolean too_long;
	void (*on_end)(void *user, const char *parent, const char *name, const char *text);
	void *user;
} Xml;

static void x_start(GMarkupParseContext *c, const char *name, const char **an, const char **av, void *user,
		    GError **e)
{
	Xml *x = user;
	(void)c, (void)an, (void)av;
	if (x->stack->len >= 16) {
		g_set_error(e, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "nested deeper than 16");
		return;
	}
	g_ptr_array_add(x->stack, g_strdup(name));
	g_string_truncate(x->text, 0);
}

static void x_end(GMarkupParseContext *c, const char *name, void *user, GError **e)
{
	Xml *x = user;
	const char *parent;
	(void)c, (void)e;
	parent = x->stack->len >= 2 ? g_ptr_array_index(x->stack, x->stack->len - 2) : "";
	if (x->on_end)
		x->on_end(x->user, parent, name, x->text->str);
	if (x->stack->len)
		g_ptr_array_remove_index(x->stack, x->stack->len - 1);
	g_string_truncate(x->text, 0);
}

static void x_text(GMarkupParseContext *c, const char *text, gsize len, void *user, GError **e)
{
	Xml *x = user;
	(void)c, (void)e;
	if (x->text->len + len > MAX_TEXT) {
		x->too_long = TRUE;
		return;
	}
	g_string_append_len(x->text, text, len);
}

static gboolean parse_xml(const GByteArray *body, void (*on_end)(void *, const char *, const char *, const char *),
			  void *user, GError **error)
{
	static const GMarkupParser p = { x_start, x_end, x_text, NULL, NULL };
	Xml x = { g_ptr_array_new_with_free_func(g_free), g_string_new(NULL), FALSE, on_end, user };
	GMarkupParseContext *c = g_markup_parse_context_new(&p, 0, &x, NULL);
	gboolean ok = g_markup_parse_context_parse(c, (const char *)body->data, body->len, error) &&
		      g_markup_parse_context_end_parse(c, error);

	g_markup_parse_context_free(c);
	g_ptr_array_free(x.stack, TRUE);
	g_string_free(x.text, TRUE);
	return ok;
}

typedef struct {
	char code[128];
	char message[256];
} S3Err;

static void err_end(void *user, const char *parent, const char *name, const char *text)
{
	S3Err *e = user;
	if (strcmp(parent, "Error"))
		return;
	if (!strcmp(name, "Code"))
		g_strlcpy(e->code, text, sizeof(e->code));
	else if (!strcmp(name, "Message"))
		g_strlcpy(e->message, text, sizeof(e->message));
}

/* One request; on a non-2xx answer an error naming the store's code. */
static gboolean request(HvS3 *s3, const Req *q, Resp *r, GError **error)
{
	CURL *c = s3->curl;
	struct curl_slist *h = NULL;
	g_autofree char *url = build_url(s3, q->key, q->query);
	g_autofree char *hsha = g_strdup_printf("x-amz-content-sha256: %s", q->sha256_hex ? q->sha256_hex
											: EMPTY_SHA256);
	char errbuf[CURL_ERROR_SIZE] = "";
	gboolean has_body = q->body_len > 0 || !strcmp(q->method, "PUT");
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	r->body = g_byte_array_new();
	r->req = q;
	curl_easy_reset(c);
	h = curl_slist_append(h, hsha);
	if (q->md5_b64) {
		g_autofree char *m = g_strdup_printf("Content-MD5: %s", q->md5_b64);
		h = curl_slist_append(h, m);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s3->cfg.access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s3->cfg.secret_key);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)s3->cfg.connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)s3->cfg.low_speed_timeout_s);
	if (s3->cfg.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s3->cfg.ca_file);
	if (s3->cfg.max_send_bytes_per_s)
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)s3->cfg.max_send_bytes_per_s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (!strcmp(q->method, "HEAD")) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
		if (strcmp(q->method, "PUT"))
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
		h = curl_slist_append(h, "Content-Type: application/octet-stream");
	} else if (!strcmp(q->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(q->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK) {
		if (r->overflow)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: answer larger than %zu bytes",
				    q->method, q->key ? q->key : s3->cfg.bucket, q->max_reply);
		else if (r->write_errno)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: writing the object: %s", q->method,
				    q->key, g_strerror(r->write_errno));
		else if (r->read_errno)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: reading the upload: %s", q->method,
				    q->key, g_strerror(r->read_errno));
		else
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: %s", q->method,
				    q->key ? q->key : s3->cfg.bucket, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return FALSE;
	}
	if (r->status < 200 || r->status >= 300) {
		S3Err e = { "", "" };
		int code = HV_S3_ERROR_HTTP;
		if (r->body->len)
			parse_xml(r->body, err_end, &e, NULL);
		if (r->status == 404 || !strcmp(e.code, "NoSuchKey") || !strcmp(e.code, "NoSuchBucket"))
			code = HV_S3_ERROR_NOT_FOUND;
		if (!strcmp(e.code, "NoSuchUpload"))
			code = HV_S3_ERROR_NO_UPLOAD;
		g_set_error(error, HV_S3_ERROR, code, "%s %s: HTTP %ld%s%s%s%s", q->method,
			    q->key ? q->key : s3->cfg.bucket, r->status, e.code[0] ? " " : "", e.code,
			    e.message[0] ? ": " : "", e.message);
		return FALSE;
	}
	return TRUE;
}

static void resp_clear(Resp *r)
{
	if (r->body)
		g_byte_array_free(r->body, TRUE);
	g_free(r->etag);
	memset(r, 0, sizeof(*r));
}

static Req req_init(const char *method, const char *key)
{
	Req q = { 0 };
	q.method = method;
	q.key = key;
	q.fd = -1;
	q.out_fd = -1;
	q.max_reply = HV_S3_MAX_REPLY;
	return q;
}

/* MD5 (base64 for Content-MD5, hex) and SHA-256 (hex) of a buffer or an
 * fd range. */
static gboolean hash_body(const void *buf, int fd, guint64 off, gsize len, char **md5_b64, char md5_hex[33],
			  char **sha_hex, GError **error)
{
	GChecksum *m = g_checksum_new(G_CHECKSUM_MD5), *s = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 dig[16];
	gsize dl = sizeof(dig);
	gboolean ok = TRUE;

	if (fd < 0) {
		g_checksum_update(m, buf, len);
		g_checksum_update(s, buf, len);
	} else {
		guint8 *chunk = g_malloc(HASH_CHUNK);
		gsize done = 0;
		while (done < len) {
			ssize_t n = pread(fd, chunk, MIN((gsize)HASH_CHUNK, len - done), off + done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "reading the dump at %" G_GUINT64_FORMAT
					    ": %s", off + done, n < 0 ? g_strerror(errno) : "unexpected end of file");
				ok = FALSE;
				break;
			}
			g_checksum_update(m, chunk, n);
			g_checksum_update(s, chunk, n);
			done += n;
		}
		g_free(chunk);
	}
	if (ok) {
		g_checksum_get_digest(m, dig, &dl);
		*md5_b64 = g_base64_encode(dig, dl);
		if (md5_hex)
			g_strlcpy(md5_hex, g_checksum_get_string(m), 33);
		*sha_hex = g_strdup(g_checksum_get_string(s));
	}
	g_checksum_free(m);
	g_checksum_free(s);
	return ok;
}

/* ------------------------------------------------------------ objects */

gboolean hv_s3_create_bucket(HvS3 *s3, GError **error)
{
	Req q = req_init("PUT", NULL);
	Resp r;
	GError *e = NULL;
	gboolean ok = request(s3, &q, &r, &e);

	if (!ok && e && strstr(e->message, "BucketAlreadyOwnedByYou")) {
		g_clear_error(&e);
		ok = TRUE;
	}
	if (e)
		g_propagate_error(error, e);
	resp_clear(&r);
	return ok;
}

gboolean hv_s3_put(HvS3 *s3, const char *key, const void *data, gsize len, GError **error)
{
	Req q = req_init("PUT", key);
	Resp r;
	g_autofree char *md5 = NULL, *sha = NULL;
	char hex[33];
	gboolean ok;

	if (!hash_body(data, -1, 0, len, &md5, hex, &sha, error))
		return FALSE;
	q.body = data;
	q.body_len = len;
	q.md5_b64 = md5;
	q.sha256_hex = sha;
	ok = request(s3, &q, &r, error);
	if (ok && (!r.etag || g_ascii_strcasecmp(r.etag, hex))) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "PUT %s: the store's ETag %s is not the MD5 %s sent",
			    key, r.etag ? r.etag : "(none)", hex);
		ok = FALSE;
	}
	resp_clear(&r);
	return ok;
}

GBytes *hv_s3_get(HvS3 *s3, const char *key, gsize max, GError **error)
{
	Req q = req_init("GET", key);
	Resp r;
	GBytes *b = NULL;

	q.max_reply = max;
	if (request(s3, &q, &r, error)) {
		b = g_bytes_new(r.body->data, r.body->len);
		if (r.have_length && r.length != r.body->len) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "GET %s: %u of %" G_GUINT64_FORMAT
				    " bytes", key, r.body->len, r.length);
			g_clear_pointer(&b, g_bytes_unref);
		}
	}
	resp_clear(&r);
	return b;
}

gint64 hv_s3_get_to_fd(HvS3 *s3, const char *key, int fd, GError **error)
{
	Req q = req_init("GET", key);
	Resp r;
	gint64 n = -1;

	q.out_fd = fd;
	if (request(s3, &q, &r, error)) {
		if (r.have_length && r.length != (guint64)r.written)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "GET %s: %" G_GINT64_FORMAT " of %"
				    G_GUINT64_FORMAT " bytes", key, r.written, r.length);
		else
			n = r.written;
	}
	resp_clear(&r);
	return n;
}

int hv_s3_head(HvS3 *s3, const char *key, guint64 *size, char **etag, GError **error)
{
	Req q = req_init("HEAD", key);
	Resp r;
	GError *e = NULL;
	int ret;

	if (request(s3, &q, &r, &e)) {
		if (size)
			*size = r.length;
		if (etag)
			*etag = g_strdup(r.etag ? r.etag : "");
		ret = 1;
	} else if (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND)) {
		g_clear_error(&e);
		ret = 0;
	} else {
		g_propagate_error(error, e);
		ret = -1;
	}
	resp_clear(&r);
	return ret;
}

gboolean hv_s3_delete(HvS3 *s3, const char *key, GError **error)
{
	Req q = req_init("DELETE", key);
	Resp r;
	gboolean ok = request(s3, &q, &r, error);
	resp_clear(&r);
	return ok;
}

/* ------------------------------------------------------------ listing */

typedef struct {
	char key[HV_S3_MAX_KEY + 1];
	guint64 size;
	char etag[72];
	gboolean truncated;
	char next[HV_S3_MAX_KEY + 256];
	HvS3ListFn fn;
	void *user;
	gboolean stop;
	guint count;
} ListState;

static void list_end(void *user, const char *parent, const char *name, const char *text)
{
	ListState *l = user;
	if (!strcmp(parent, "Contents")) {
		if (!strcmp(name, "Key"))
			g_strlcpy(l->key, text, sizeof(l->key));
		else if (!strcmp(name, "Size"))
			l->size = g_ascii_strtoull(text, NULL, 10);
		else if (!strcmp(name, "ETag"))
			g_strlcpy(l->etag, text[0] == '"' ? text + 1 : text, sizeof(l->etag));
	} else if (!strcmp(name, "Contents")) {
		char *q = strchr(l->etag, '"');
		if (q)
			*q = 0;
		if (l->key[0] && !l->stop && ++l->count <= 1000 && !l->fn(l->key, l->size, l->etag, l->user))
			l->stop = TRUE;
		l->key[0] = 0;
		l->etag[0] = 0;
		l->size = 0;
	} else if (!strcmp(parent, "ListBucketResult")) {
		if (!strcmp(name, "IsTruncated"))
			l->truncated = !strcmp(text, "true");
		else if (!strcmp(name, "NextContinuationToken"))
			g_strlcpy(l->next, text, sizeof(l->next));
	}
}

gboolean hv_s3_list(HvS3 *s3, const char *prefix, HvS3ListFn fn, void *user, GError **error)
{
	ListState l = { .fn = fn, .user = user };
	g_autofree char *token = NULL;

	for (guint page = 0; page < HV_S3_MAX_PAGES; page++) {
		const char *query[] = { "list-type", "2", "prefix", prefix, "max-keys", "1000",
					token ? "continuation-token" : NULL, token, NULL };
		Req q = req_init("GET", NULL);
		Resp r;
		gboolean ok;

		q.query = query;
		if (!request(s3, &q, &r, error)) {
			resp_clear(&r);
			return FALSE;
		}
		l.truncated = FALSE;
		l.next[0] = 0;
		l.count = 0;
		ok = parse_xml(r.body, list_end, &l, error);
		resp_clear(&r);
		if (!ok) {
			g_prefix_error(error, "listing %s: ", prefix);
			return FALSE;
		}
		if (l.stop || !l.truncated)
			return TRUE;
		if (!l.next[0] || (token && !strcmp(token, l.next))) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
				    "listing %s: truncated answer without a new continuation token", prefix);
			return FALSE;
		}
		g_free(token);
		token = g_strdup(l.next);
	}
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "listing %s: more than %d pages", prefix,
		    HV_S3_MAX_PAGES);
	return FALSE;
}

/* ------------------------------------------------------------ multipart */

typedef struct {
	char upload_id[512];
	GArray *parts;
	HvS3Part cur;
	gboolean truncated;
	guint next_marker;
} MpuState;

static void mpu_end(void *user, const char *parent, const char *name, const char *text)
{
	MpuState *m = user;
	if (!strcmp(name, "UploadId") && !strcmp(parent, "InitiateMultipartUploadResult")) {
		g_strlcpy(m->upload_id, text, sizeof(m->upload_id));
	} else if (!strcmp(parent, "Part")) {
		if (!strcmp(name, "PartNumber"))
			m->cur.part = (guint)MIN(g_ascii_strtoull(text, NULL, 10), 100000);
		else if (!strcmp(name, "Size"))
			m->cur.size = g_ascii_strtoull(text, NULL, 10);
		else if (!strcmp(name, "ETag"))
			g_strlcpy(m->cur.etag, text[0] == '"' ? text + 1 : text, sizeof(m->cur.etag));
	} else if (!strcmp(name, "Part") && m->parts) {
		char *q = strchr(m->cur.etag, '"');
		if (q)
			*q = 0;
		if (m->cur.part >= 1 && m->cur.part <= 10000 && m->parts->len < 10000)
			g_array_append_val(m->parts, m->cur);
		memset(&m->cur, 0, sizeof(m->cur));
	} else if (!strcmp(parent, "ListPartsResult")) {
		if (!strcmp(name, "IsTruncated"))
			m->truncated = !strcmp(text, "true");
		else if (!strcmp(name, "NextPartNumberMarker"))
			m->next_marker = (guint)MIN(g_ascii_strtoull(text, NULL, 10), 100000);
	}
}

char *hv_s3_mpu_create(HvS3 *s3, const char *key, GError **error)
{
	const char *query[] = { "uploads", "", NULL };
	Req q = req_init("POST", key);
	Resp r;
	MpuState m;
	memset(&m, 0, sizeof(m));
	char *id = NULL;

	q.query = query;
	if (request(s3, &q, &r, error) && parse_xml(r.body, mpu_end, &m, error)) {
		if (m.upload_id[0] && strlen(m.upload_id) < sizeof(m.upload_id) - 1)
			id = g_strdup(m.upload_id);
		else
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "POST %s?uploads: no UploadId in the answer",
				    key);
	}
	resp_clear(&r);
	return id;
}

gboolean hv_s3_mpu_put_part(HvS3 *s3, const char *key, const char *upload_id, guint part, int fd,
			    guint64 offset, gsize len, char md5_hex[33], GError **error)
{
	g_autofree char *pn = g_strdup_printf("%u", part);
	const char *query[] = { "partNumber", pn, "uploadId", upload_id, NULL };
	Req q = req_init("PUT", key);
	Resp r;
	g_autofree char *md5 = NULL, *sha = NULL;
	gboolean ok;

	if (part < 1 || part > 10000) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "part number %u out of 1..10000", part);
		return FALSE;
	}
	if (!hash_body(NULL, fd, offset, len, &md5, md5_hex, &sha, error))
		return FALSE;
	q.query = query;
	q.fd = fd;
	q.off = offset;
	q.body_len = len;
	q.md5_b64 = md5;
	q.sha256_hex = sha;
	ok = request(s3, &q, &r, error);
	if (ok && (!r.etag || g_ascii_strcasecmp(r.etag, md5_hex))) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "part %u of %s: the store's ETag %s is not the MD5 %s"
			    " sent", part, key, r.etag ? r.etag : "(none)", md5_hex);
		ok = FALSE;
	}
	resp_clear(&r);
	return ok;
}

GArray *hv_s3_mpu_list_parts(HvS3 *s3, const char *key, const char *upload_id, GError **error)
{
	MpuState m;
	memset(&m, 0, sizeof(m));
	guint marker = 0;

	m.parts = g_array_new(FALSE, TRUE, sizeof(HvS3Part));
	for (int page = 0; page < 20; page++) { /* 1000 parts a page, 10000 at most */
		g_autofree char *mk = g_strdup_printf("%u", marker);
		const char *query[] = { "uploadId", upload_id, "max-parts", "1000",
					marker ? "part-number-marker" : NULL, mk, NULL };
		Req q = req_init("GET", key);
		Resp r;
		gboolean ok;

		q.query = query;
		m.truncated = FALSE;
		m.next_marker = 0;
		ok = request(s3, &q, &r, error) && parse_xml(r.body, mpu_end, &m, error);
		resp_clear(&r);
		if (!ok) {
			g_array_free(m.parts, TRUE);
			return NULL;
		}
		if (!m.truncated)
			return m.parts;
		if (m.next_marker <= marker) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "parts of %s: truncated list without progress",
				    key);
			g_array_free(m.parts, TRUE);
			return NULL;
		}
		marker = m.next_marker;
	}
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "parts of %s: more than 20 pages", key);
	g_array_free(m.parts, TRUE);
	return NULL;
}

gboolean hv_s3_mpu_complete(HvS3 *s3, const char *key, const char *upload_id, const HvS3Part *parts, guint n,
			    GError **error)
{
	const char *query[] = { "uploadId", upload_id, NULL };
	GString *x = g_string_new("<CompleteMultipartUpload>");
	Req q = req_init("POST", key);
	Resp r;
	g_autofree char *md5 = NULL, *sha = NULL;
	gboolean ok;

	for (guint i = 0; i < n; i++)
		g_string_append_printf(x, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>", parts[i].part,
				       parts[i].etag);
	g_string_append(x, "</CompleteMultipartUpload>");
	if (!hash_body(x->str, -1, 0, x->len, &md5, NULL, &sha, error)) {
		g_string_free(x, TRUE);
		return FALSE;
	}
	q.query = query;
	q.body = x->str;
	q.body_len = x->len;
	q.md5_b64 = md5;
	q.sha256_hex = sha;
	ok = request(s3, &q, &r, error);
	/* a 200 may still carry an <Error> (S3 sends it after a long wait) */
	if (ok && r.body->len) {
		S3Err e = { "", "" };
		parse_xml(r.body, err_end, &e, NULL);
		if (e.code[0]) {
			g_set_error(error, HV_S3_ERROR, !strcmp(e.code, "NoSuchUpload") ? HV_S3_ERROR_NO_UPLOAD
				    : HV_S3_ERROR_HTTP, "completing %s: %s: %s", key, e.code, e.message);
			ok = FALSE;
		}
	}
	resp_clear(&r);
	g_string_free(x, TRUE);
	return ok;
}

gboolean hv_s3_mpu_abort(HvS3 *s3, const char *key, const char *upload_id, GError **error)
{
	const char *query[] = { "uploadId", upload_id, NULL };
	Req q = req_init("DELETE", key);
	Resp r;
	gboolean ok;

	q.query = query;
	ok = request(s3, &q, &r, error);
	resp_clear(&r);
	return ok;
}

char *hv_s3_mpu_etag(const HvS3Part *parts, guint n)
{
	GChecksum *m = g_checksum_new(G_CHECKSUM_MD5);
	char *out;

	for (guint i = 0; i < n; i++) {
		guint8 b[16];
		for (int k = 0; k < 16; k++) {
			int hi = g_ascii_xdigit_value(parts[i].etag[2 * k]);
			int lo = hi < 0 ? -1 : g_ascii_xdigit_value(parts[i].etag[2 * k + 1]);
			b[k] = (hi < 0 || lo < 0) ? 0 : (guint8)(hi << 4 | lo);
		}
		g_checksum_update(m, b, 16);
	}
	out = g_strdup_printf("%s-%u", g_checksum_get_string(m), n);
	g_checksum_free(m);
	return out;
}
