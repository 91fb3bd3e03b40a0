/* hv-s3.c — see hv-s3.h. The store's XML answers are parsed in hv-s3-xml.c
 * (no network there, fuzzed). */
#include "hv-s3.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-s3-xml.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HASH_CHUNK (1 << 20)
#define MAX_CREDENTIALS 65536
#define MAX_SECRET 256
#define MAX_PREFIX 256
#define MAX_HOSTPORT 255
#define MAX_ERROR_BODY (64 * 1024) /* an error answer while fetching into a file */
#define UPLOAD_BUFFER 16384        /* libcurl's smallest upload buffer, for rate limits */

struct HvS3 {
	HvS3Config cfg;
	CURL *curl;
	char *scheme;   /* "https" or "http" */
	char *hostport; /* host[:port] */
	char *sigv4;    /* aws:amz:REGION:s3 */
};

/* ------------------------------------------------------------ config */

static gboolean bucket_valid(const char *b)
{
	gsize n = strlen(b);
	struct in_addr a;

	/* S3's rules for names that also work as a host name label */
	return n >= 3 && n <= 63 && strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n &&
	       g_ascii_isalnum(b[0]) && g_ascii_isalnum(b[n - 1]) && !strstr(b, "..") && !strstr(b, ".-") &&
	       !strstr(b, "-.") && inet_pton(AF_INET, b, &a) != 1;
}

gboolean hv_s3_parse_url(const char *url, HvS3Config *cfg, GError **error)
{
	const char *p, *slash;
	g_autofree char *bucket = NULL, *prefix = NULL;

	if (!g_str_has_prefix(url, "s3://") || !url[5]) {
		g_autofree char *u = hv_s3_printable(url, -1, 200);

		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "%s: not an s3://bucket/prefix URL", u);
		return FALSE;
	}
	p = url + 5;
	slash = strchr(p, '/');
	bucket = slash ? g_strndup(p, slash - p) : g_strdup(p);
	prefix = g_strdup(slash ? slash + 1 : "");
	if (!bucket_valid(bucket)) {
		g_autofree char *u = hv_s3_printable(url, -1, 200);

		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "%s: bucket name must be 3-63 of a-z 0-9 . -, start and end with a letter or digit, "
			    "no \"..\" and not an IP address", u);
		return FALSE;
	}
	if (prefix[0] && !g_str_has_suffix(prefix, "/")) {
		char *t = g_strconcat(prefix, "/", NULL);

		g_free(prefix);
		prefix = t;
	}
	if (strlen(prefix) > MAX_PREFIX) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3://%s/: prefix longer than %d bytes", bucket,
			    MAX_PREFIX);
		return FALSE;
	}
	if (prefix[0]) {
		/* the prefix as a key of its own (without the last '/') */
		g_autofree char *k = g_strndup(prefix, strlen(prefix) - 1);

		if (!hv_s3_key_valid(k)) {
			g_autofree char *u = hv_s3_printable(url, -1, 200);

			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
				    "%s: prefix with an empty, \".\" or \"..\" segment, a backslash or unprintable "
				    "characters", u);
			return FALSE;
		}
	}
	g_free(cfg->bucket);
	g_free(cfg->prefix);
	cfg->bucket = g_steal_pointer(&bucket);
	cfg->prefix = g_steal_pointer(&prefix);
	cfg->path_style = TRUE;
	return TRUE;
}

static gboolean region_valid(const char *r)
{
	gsize n = r ? strlen(r) : 0;

	return n >= 1 && n <= 64 && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* printable ASCII without space, 1..MAX_SECRET bytes */
static gboolean access_valid(const char *k)
{
	gsize n = k ? strlen(k) : 0;

	if (n < 1 || n > MAX_SECRET)
		return FALSE;
	for (gsize i = 0; i < n; i++)
		if ((unsigned char)k[i] <= 0x20 || (unsigned char)k[i] >= 0x7f)
			return FALSE;
	return TRUE;
}

static gboolean ca_file_valid(const char *f)
{
	return f && f[0] == '/' && strlen(f) <= 4096 && hv_s3_is_printable(f, 4096);
}

static gboolean is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (!g_ascii_strcasecmp(host, "localhost"))
		return TRUE;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* http(s)://host[:port][/]: host a DNS name or an IP literal ([v6]), no
 * user info, path, query or fragment. */
static gboolean parse_endpoint(const char *ep, gboolean allow_http, gboolean path_style, char **scheme,
			       char **hostport, GError **error)
{
	g_autofree char *hp = NULL, *host = NULL, *shown = hv_s3_printable(ep, -1, 200);
	const char *rest, *port = NULL;
	gboolean https = g_str_has_prefix(ep, "https://"), literal = FALSE;
	struct in_addr a4;
	struct in6_addr a6;
	gsize n;

	if (!https && !g_str_has_prefix(ep, "http://")) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint %s is not https://host[:port]", shown);
		return FALSE;
	}
	rest = ep + (https ? 8 : 7);
	n = strlen(rest);
	if (n && rest[n - 1] == '/')
		n--;
	hp = g_strndup(rest, n);
	if (!n || n > MAX_HOSTPORT) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint %s: no host, or longer than %d bytes",
			    shown, MAX_HOSTPORT);
		return FALSE;
	}
	if (hp[0] == '[') {
		char *close = strchr(hp, ']');

		if (!close || (close[1] && close[1] != ':')) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint %s: bad [IPv6] host", shown);
			return FALSE;
		}
		host = g_strndup(hp + 1, close - hp - 1);
		port = close[1] ? close + 2 : NULL;
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint %s: bad [IPv6] host", shown);
			return FALSE;
		}
		literal = TRUE;
	} else {
		char *colon = strchr(hp, ':');

		host = colon ? g_strndup(hp, colon - hp) : g_strdup(hp);
		port = colon ? colon + 1 : NULL;
		/* letters, digits, '-', '_' and '.': no '@', '#', '%', space, ... */
		if (!*host || strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") !=
				      strlen(host) || host[0] == '.' || host[0] == '-' || strstr(host, "..")) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
				    "s3: endpoint %s: the host must be a DNS name or an IP address (no user, path, "
				    "query or fragment)", shown);
			return FALSE;
		}
		literal = inet_pton(AF_INET, host, &a4) == 1;
	}
	if (port) {
		guint64 p;

		if (!hv_s3_parse_u64(port, 65535, &p) || p == 0) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint %s: port not in 1..65535",
				    shown);
			return FALSE;
		}
	}
	if (!https && !allow_http && !is_loopback(host)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "s3: endpoint %s: plain http:// only to a loopback host unless allowed explicitly "
			    "(dumps and manifests would cross the network unencrypted)", shown);
		return FALSE;
	}
	if (!path_style && literal) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "s3: endpoint %s: virtual-host addressing needs a host name, not an IP address", shown);
		return FALSE;
	}
	*scheme = g_strdup(https ? "https" : "http");
	*hostport = g_steal_pointer(&hp);
	return TRUE;
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		g_free(s);
	}
}

enum { C_ACCESS, C_SECRET, C_REGION, C_ENDPOINT, C_CA_FILE, C_ADDRESSING, C_N };
static const char *const cred_keys[C_N] = { "access_key", "secret_key", "region", "endpoint", "ca_file",
					    "addressing" };

/* The [s3] group of text: key = value lines; '#' and ';' start comments;
 * other groups are skipped. v[] gets copies of the values. */
static gboolean parse_credentials(const char *path, char *text, char *v[C_N], GError **error)
{
	gboolean in_s3 = FALSE, seen_s3 = FALSE;
	guint line = 0;

	for (char *p = text, *nl; p && *p; p = nl) {
		char *eq, *k, *val;
		int i;

		nl = strchr(p, '\n');
		if (nl)
			*nl++ = 0;
		line++;
		g_strstrip(p);
		if (!*p || *p == '#' || *p == ';')
			continue;
		if (*p == '[') {
			gsize n = strlen(p);

			if (n < 2 || p[n - 1] != ']') {
				g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: line %u: bad group",
					    path, line);
				return FALSE;
			}
			in_s3 = n == 4 && !strncmp(p, "[s3]", 4);
			seen_s3 |= in_s3;
			continue;
		}
		if (!in_s3)
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: line %u is not key=value",
				    path, line);
			return FALSE;
		}
		*eq = 0;
		k = g_strstrip(p);
		val = g_strstrip(eq + 1);
		for (i = 0; i < C_N && strcmp(k, cred_keys[i]); i++)
			;
		if (i == C_N) {
			g_autofree char *kk = hv_s3_printable(k, -1, 64);

			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
				    "credentials %s: line %u: unknown key '%s' in [s3] (access_key, secret_key, "
				    "region, endpoint, ca_file, addressing)", path, line, kk);
			return FALSE;
		}
		if (v[i]) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: line %u: %s given twice",
				    path, line, k);
			return FALSE;
		}
		v[i] = g_strdup(val);
	}
	if (!seen_s3) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: no [s3] group", path);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_credentials(const char *path, char *v[C_N], GError **error)
{
	const char *bad = NULL;

	if (!access_valid(v[C_ACCESS]))
		bad = "access_key missing, longer than 256 bytes or not printable ASCII without spaces";
	else if (!access_valid(v[C_SECRET]))
		bad = "secret_key missing, longer than 256 bytes or not printable ASCII without spaces";
	else if (v[C_REGION] && !region_valid(v[C_REGION]))
		bad = "region is not 1-64 of a-z 0-9 -";
	else if (v[C_CA_FILE] && !ca_file_valid(v[C_CA_FILE]))
		bad = "ca_file is not an absolute path";
	else if (v[C_ADDRESSING] && strcmp(v[C_ADDRESSING], "path") && strcmp(v[C_ADDRESSING], "virtual-host"))
		bad = "addressing is neither path nor virtual-host";
	if (bad) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: [s3] %s", path, bad);
		return FALSE;
	}
	if (v[C_ENDPOINT]) {
		g_autofree char *s = NULL, *h = NULL;

		/* syntax only here: the scheme is checked by hv_s3_new */
		if (!parse_endpoint(v[C_ENDPOINT], TRUE, TRUE, &s, &h, error)) {
			g_prefix_error(error, "credentials %s: ", path);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean hv_s3_load_credentials(const char *path, HvS3Config *cfg, GError **error)
{
	struct stat st;
	int fd;
	char *text;
	gsize len = 0;
	char *v[C_N] = { NULL };
	gboolean ok = FALSE;

	/* opened once, checked on the descriptor (no race with a swap); never
	 * blocks on a FIFO */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "credentials %s: must be a regular file owned by root with mode 0600 (is %s%04o, uid %u)",
			    path, S_ISREG(st.st_mode) ? "" : "not a regular file, ", (unsigned)(st.st_mode & 07777),
			    (unsigned)st.st_uid);
		close(fd);
		return FALSE;
	}
	if (st.st_size > MAX_CREDENTIALS) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: larger than 64 KiB", path);
		close(fd);
		return FALSE;
	}
	/* one byte more than its size: a file that grows meanwhile is noticed */
	text = g_malloc0(st.st_size + 2);
	while (len < (gsize)st.st_size + 1) {
		ssize_t n = read(fd, text + len, st.st_size + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: %s", path,
				    g_strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len != (gsize)st.st_size) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: changed size while read", path);
		goto out;
	}
	if (memchr(text, 0, len)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "credentials %s: a NUL byte in the file", path);
		goto out;
	}
	if (!parse_credentials(path, text, v, error) || !check_credentials(path, v, error))
		goto out;
	g_free(cfg->access_key);
	cfg->access_key = g_steal_pointer(&v[C_ACCESS]);
	wipe_free(cfg->secret_key);
	cfg->secret_key = g_steal_pointer(&v[C_SECRET]);
	if (v[C_REGION]) {
		g_free(cfg->region);
		cfg->region = g_steal_pointer(&v[C_REGION]);
	}
	if (v[C_ENDPOINT]) {
		g_free(cfg->endpoint);
		cfg->endpoint = g_steal_pointer(&v[C_ENDPOINT]);
	}
	if (v[C_CA_FILE]) {
		g_free(cfg->ca_file);
		cfg->ca_file = g_steal_pointer(&v[C_CA_FILE]);
	}
	if (v[C_ADDRESSING])
		cfg->path_style = !strcmp(v[C_ADDRESSING], "path");
	ok = TRUE;
out:
	close(fd);
	explicit_bzero(text, st.st_size + 2);
	g_free(text);
	for (int i = 0; i < C_N; i++)
		wipe_free(v[i]);
	return ok;
}

void hv_s3_config_clear(HvS3Config *cfg)
{
	g_free(cfg->endpoint);
	g_free(cfg->bucket);
	g_free(cfg->prefix);
	g_free(cfg->region);
	g_free(cfg->ca_file);
	g_free(cfg->access_key);
	wipe_free(cfg->secret_key);
	memset(cfg, 0, sizeof(*cfg));
}

HvS3 *hv_s3_new(const HvS3Config *cfg, GError **error)
{
	HvS3 *s3;
	g_autofree char *scheme = NULL, *hostport = NULL;
	const char *region = cfg->region && *cfg->region ? cfg->region : "us-east-1";

	if (!cfg->endpoint || !cfg->bucket || !cfg->access_key || !cfg->secret_key) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: endpoint, bucket and credentials are required");
		return NULL;
	}
	if (!parse_endpoint(cfg->endpoint, cfg->allow_http, cfg->path_style, &scheme, &hostport, error))
		return NULL;
	if (!bucket_valid(cfg->bucket) || (cfg->prefix && cfg->prefix[0] && !g_str_has_suffix(cfg->prefix, "/"))) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: bad bucket name or prefix");
		return NULL;
	}
	if (!region_valid(region)) {
		g_autofree char *r = hv_s3_printable(region, -1, 80);

		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: region %s is not 1-64 of a-z 0-9 -", r);
		return NULL;
	}
	if (!access_valid(cfg->access_key) || !access_valid(cfg->secret_key)) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "s3: access or secret key longer than 256 bytes or not printable ASCII without spaces");
		return NULL;
	}
	if (cfg->ca_file && !ca_file_valid(cfg->ca_file)) {
		g_autofree char *f = hv_s3_printable(cfg->ca_file, -1, 200);

		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "s3: CA file %s is not an absolute path", f);
		return NULL;
	}
	s3 = g_new0(HvS3, 1);
	s3->cfg.endpoint = g_strdup(cfg->endpoint);
	s3->cfg.bucket = g_strdup(cfg->bucket);
	s3->cfg.prefix = g_strdup(cfg->prefix ? cfg->prefix : "");
	s3->cfg.region = g_strdup(region);
	s3->cfg.path_style = cfg->path_style;
	s3->cfg.ca_file = g_strdup(cfg->ca_file);
	s3->cfg.access_key = g_strdup(cfg->access_key);
	s3->cfg.secret_key = g_strdup(cfg->secret_key);
	s3->cfg.max_send_bytes_per_s = cfg->max_send_bytes_per_s;
	s3->cfg.connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s : 10;
	s3->cfg.low_speed_timeout_s = cfg->low_speed_timeout_s ? cfg->low_speed_timeout_s : 60;
	s3->cfg.request_timeout_s = cfg->request_timeout_s ? cfg->request_timeout_s : 300;
	s3->cfg.allow_http = cfg->allow_http;
	s3->cfg.cancel = cfg->cancel;
	s3->scheme = g_steal_pointer(&scheme);
	s3->hostport = g_steal_pointer(&hostport);
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
 * encoded, "name=" for an empty value: the form SigV4 signs. The key was
 * checked (hv_s3_key_valid): with CURLOPT_PATH_AS_IS the path goes out as
 * signed, and no segment of it can be a dot segment. */
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
	int out_fd;       /* >= 0: a 2xx body goes there, exactly out_size bytes */
	guint64 out_size;
	gsize max_reply;  /* a body in memory */
} Req;

typedef struct {
	long status;
	GByteArray *body;
	gboolean overflow;
	char *etag;       /* printable */
	guint64 length;
	gboolean have_length;
	gboolean length_differs; /* out_fd: Content-Length is not out_size */
	gint64 written;
	int write_errno;
	char code[72];    /* the store's error code, printable */
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
		ssize_t n;

		do
			n = pread(q->fd, buf, want, q->off + r->sent);
		while (n < 0 && errno == EINTR);
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

/* libcurl rewinds the body to send it again (a reused connection found
 * dead, 417, an auth round) */
static int on_seek(void *user, curl_off_t offset, int origin)
{
	Resp *r = user;

	if (origin != SEEK_SET || offset < 0 || (guint64)offset > r->req->body_len)
		return CURL_SEEKFUNC_FAIL;
	r->sent = (gsize)offset;
	return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *user)
{
	Resp *r = user;
	size_t n = size * nmemb;

	if (r->req->out_fd >= 0 && r->status >= 200 && r->status < 300) {
		size_t done = 0;

		if ((guint64)r->written + n > r->req->out_size) {
			r->overflow = TRUE;
			return 0;
		}
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
	if (g_str_has_prefix(line, "HTTP/")) { /* a new response (100-continue, a resend): start over */
		const char *sp = strchr(line, ' ');
		guint64 st = 0;
		g_autofree char *code = sp ? g_strndup(sp + 1, strspn(sp + 1, "0123456789")) : NULL;

		r->status = code && hv_s3_parse_u64(code, 999, &st) ? (long)st : 0;
		g_clear_pointer(&r->etag, g_free);
		r->have_length = FALSE;
		g_byte_array_set_size(r->body, 0);
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
		r->etag = hv_s3_printable(v, -1, HV_S3_MAX_ETAG);
	} else if (!g_ascii_strcasecmp(line, "Content-Length")) {
		r->have_length = hv_s3_parse_u64(colon + 1, G_MAXINT64, &r->length);
		if (r->req->out_fd >= 0 && r->status >= 200 && r->status < 300 &&
		    (!r->have_length || r->length != r->req->out_size)) {
			r->length_differs = TRUE;
			return 0; /* stops the transfer before a byte is written */
		}
	}
	return n;
}

static const char *req_what(HvS3 *s3, const Req *q)
{
	return q->key ? q->key : s3->cfg.bucket;
}

/* libcurl calls it at least once a second: a non-zero return aborts */
static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	HvS3 *s3 = p;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return g_atomic_int_get(s3->cfg.cancel) != 0;
}

/* The store will never take these parts: the upload must start over. */
static gboolean parts_refused(const char *code)
{
	return !strcmp(code, "InvalidPart") || !strcmp(code, "InvalidPartOrder") || !strcmp(code, "EntityTooSmall");
}

/* One request; on a non-2xx answer an error naming the store's code. */

static gboolean request(HvS3 *s3, const Req *q, Resp *r, GError **error)
{
	CURL *c = s3->curl;
	struct curl_slist *h = NULL;
	g_autofree char *url = NULL;
	g_autofree char *hsha = g_strdup_printf("x-amz-content-sha256: %s", q->sha256_hex ? q->sha256_hex
											: EMPTY_SHA256);
	char errbuf[CURL_ERROR_SIZE] = "";
	gboolean has_body = q->body_len > 0 || !strcmp(q->method, "PUT");
	gboolean moves_data = q->fd >= 0 || q->out_fd >= 0;
	guint64 rate = s3->cfg.max_send_bytes_per_s;
	long low_speed = 1024, low_speed_time = (long)s3->cfg.low_speed_timeout_s;
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	r->body = g_byte_array_new();
	r->req = q;
	if (q->key && !hv_s3_key_valid(q->key)) {
		g_autofree char *k = hv_s3_printable(q->key, -1, 200);

		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
			    "%s %s: refused key (empty, \".\" or \"..\" segment, backslash, unprintable or longer "
			    "than %d bytes)", q->method, k, HV_S3_MAX_KEY);
		return FALSE;
	}
	url = build_url(s3, q->key, q->query);
	/* A send limit must not read as a stalled transfer: libcurl sends a
	 * buffer at a time, then waits until the average is back under the
	 * limit. Small buffers (16 KiB, libcurl's least) under a low limit,
	 * a low-speed floor of half the limit, and time for two buffers. */
	if (rate) {
		low_speed = (long)CLAMP(rate / 2, 1, 1024);
		low_speed_time = (long)MAX((guint64)low_speed_time, 2 * UPLOAD_BUFFER / rate + 10);
	}
	curl_easy_reset(c);
	h = curl_slist_append(h, hsha);
	if (q->md5_b64) {
		g_autofree char *m = g_strdup_printf("Content-MD5: %s", q->md5_b64);
		h = curl_slist_append(h, m);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, s3->scheme);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s3->cfg.access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s3->cfg.secret_key);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)s3->cfg.connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, low_speed);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, low_speed_time);
	if (!moves_data)
		curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)s3->cfg.request_timeout_s);
	if (s3->cfg.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s3->cfg.ca_file);
	if (rate) {
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)rate);
		if (rate < 1024 * 1024)
			curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
	}
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
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
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
	if (s3->cfg.cancel != NULL) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, s3);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK) {
		if (r->length_differs)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_TOO_LARGE,
				    "%s %s: the object is not the %" G_GUINT64_FORMAT
				    " bytes expected (Content-Length %s)",
				    q->method, req_what(s3, q), q->out_size, r->have_length ? "differs" : "missing");
		else if (r->overflow)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_TOO_LARGE,
				    "%s %s: answer larger than %" G_GUINT64_FORMAT " bytes", q->method, req_what(s3, q),
				    q->out_fd >= 0 && r->status >= 200 && r->status < 300 ? q->out_size
											   : (guint64)q->max_reply);
		else if (r->write_errno)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: writing the object: %s", q->method,
				    req_what(s3, q), g_strerror(r->write_errno));
		else if (r->read_errno)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: reading the upload: %s", q->method,
				    req_what(s3, q), g_strerror(r->read_errno));
		else if (rc == CURLE_ABORTED_BY_CALLBACK)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: cancelled (hvdumpd stops)",
				    q->method, req_what(s3, q));
		else
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s %s: %s", q->method, req_what(s3, q),
				    errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return FALSE;
	}
	if (r->status < 200 || r->status >= 300) {
		HvS3XmlError e;
		int code = HV_S3_ERROR_HTTP;

		if (!hv_s3_xml_error((const char *)r->body->data, r->body->len, &e))
			memset(&e, 0, sizeof(e));
		g_strlcpy(r->code, e.code, sizeof(r->code));
		if (r->status == 404 || !strcmp(e.code, "NoSuchKey") || !strcmp(e.code, "NoSuchBucket"))
			code = HV_S3_ERROR_NOT_FOUND;
		if (!strcmp(e.code, "NoSuchUpload"))
			code = HV_S3_ERROR_NO_UPLOAD;
		if (parts_refused(e.code))
			code = HV_S3_ERROR_BAD_PARTS;
		g_set_error(error, HV_S3_ERROR, code, "%s %s: HTTP %ld%s%s%s%s", q->method, req_what(s3, q), r->status,
			    e.code[0] ? " " : "", e.code, e.message[0] ? ": " : "", e.message);
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

	if (!ok && !strcmp(r.code, "BucketAlreadyOwnedByYou")) {
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
		if (r.have_length && r.length != r.body->len)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "GET %s: %u of %" G_GUINT64_FORMAT " bytes",
				    key, r.body->len, r.length);
		else
			b = g_bytes_new(r.body->data, r.body->len);
	}
	resp_clear(&r);
	return b;
}

gint64 hv_s3_get_to_fd(HvS3 *s3, const char *key, int fd, guint64 size, GError **error)
{
	Req q = req_init("GET", key);
	Resp r;
	gint64 n = -1;

	if (size > G_MAXINT64) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_TOO_LARGE, "GET %s: %" G_GUINT64_FORMAT " bytes", key,
			    size);
		return -1;
	}
	q.out_fd = fd;
	q.out_size = size;
	q.max_reply = MAX_ERROR_BODY;
	if (request(s3, &q, &r, error)) {
		if ((guint64)r.written != size)
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "GET %s: %" G_GINT64_FORMAT " of %"
				    G_GUINT64_FORMAT " bytes (truncated object or transfer)", key, r.written, size);
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
		if (!r.have_length) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "HEAD %s: no Content-Length in the answer",
				    key);
			ret = -1;
		} else {
			if (size)
				*size = r.length;
			if (etag)
				*etag = g_strdup(r.etag ? r.etag : "");
			ret = 1;
		}
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

gboolean hv_s3_list(HvS3 *s3, const char *prefix, HvS3ListFn fn, void *user, GError **error)
{
	g_autofree char *token = NULL, *last = NULL;
	g_autofree char *shown = hv_s3_printable(prefix, -1, 200);

	for (guint page = 0; page < HV_S3_MAX_PAGES; page++) {
		const char *query[] = { "list-type", "2", "prefix", prefix, "max-keys", "1000",
					token ? "continuation-token" : NULL, token, NULL };
		Req q = req_init("GET", NULL);
		Resp r;
		HvS3ListPage pg;
		gboolean ok;

		q.query = query;
		if (!request(s3, &q, &r, error)) {
			resp_clear(&r);
			return FALSE;
		}
		ok = hv_s3_xml_list_page((const char *)r.body->data, r.body->len, prefix, last, &pg, error);
		resp_clear(&r);
		if (!ok) {
			g_prefix_error(error, "listing %s: ", shown);
			return FALSE;
		}
		/* the curl handle is idle: fn may make requests of its own */
		for (guint i = 0; i < pg.objects->len; i++) {
			HvS3Object *o = &g_array_index(pg.objects, HvS3Object, i);

			if (!fn(o->key, o->size, o->etag, user)) {
				hv_s3_list_page_clear(&pg);
				return TRUE;
			}
		}
		if (!pg.truncated) {
			hv_s3_list_page_clear(&pg);
			return TRUE;
		}
		/* truncated pages have keys (checked), all beyond the last page's */
		g_free(last);
		last = g_strdup(g_array_index(pg.objects, HvS3Object, pg.objects->len - 1).key);
		g_free(token);
		token = g_steal_pointer(&pg.next_token);
		hv_s3_list_page_clear(&pg);
	}
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "listing %s: more than %d pages of 1000 keys", shown,
		    HV_S3_MAX_PAGES);
	return FALSE;
}

/* ------------------------------------------------------------ multipart */

static gboolean check_upload_id(const char *key, const char *upload_id, GError **error)
{
	if (hv_s3_upload_id_valid(upload_id))
		return TRUE;
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG,
		    "%s: upload id empty, longer than %d bytes or not printable ASCII", key, HV_S3_MAX_UPLOAD_ID);
	return FALSE;
}

char *hv_s3_mpu_create(HvS3 *s3, const char *key, GError **error)
{
	const char *query[] = { "uploads", "", NULL };
	Req q = req_init("POST", key);
	Resp r;
	char *id = NULL;

	q.query = query;
	if (request(s3, &q, &r, error) &&
	    !(id = hv_s3_xml_upload_id((const char *)r.body->data, r.body->len, error)))
		g_prefix_error(error, "POST %s?uploads: ", key);
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

	if (part < 1 || part > HV_S3_MAX_PARTS) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "part number %u out of 1..%d", part,
			    HV_S3_MAX_PARTS);
		return FALSE;
	}
	if (!check_upload_id(key, upload_id, error) || !hash_body(NULL, fd, offset, len, &md5, md5_hex, &sha, error))
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
	GArray *parts;
	guint marker = 0;

	if (!check_upload_id(key, upload_id, error))
		return NULL;
	parts = g_array_new(FALSE, TRUE, sizeof(HvS3Part));
	/* 1000 parts a page, 10000 at most, each page beyond the last */
	for (int page = 0; page <= HV_S3_MAX_PARTS / HV_S3_PARTS_MAX_PAGE; page++) {
		g_autofree char *mk = g_strdup_printf("%u", marker);
		const char *query[] = { "uploadId", upload_id, "max-parts", "1000",
					marker ? "part-number-marker" : NULL, mk, NULL };
		Req q = req_init("GET", key);
		Resp r;
		HvS3PartsPage pg;
		gboolean ok;

		q.query = query;
		ok = request(s3, &q, &r, error);
		if (ok && !(ok = hv_s3_xml_parts_page((const char *)r.body->data, r.body->len, marker, &pg, error)))
			g_prefix_error(error, "parts of %s: ", key);
		resp_clear(&r);
		if (!ok) {
			g_array_free(parts, TRUE);
			return NULL;
		}
		g_array_append_vals(parts, pg.parts->data, pg.parts->len);
		if (!pg.truncated) {
			hv_s3_parts_page_clear(&pg);
			return parts;
		}
		marker = pg.next_marker;
		hv_s3_parts_page_clear(&pg);
		if (marker >= HV_S3_MAX_PARTS)
			break;
	}
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "parts of %s: a truncated list beyond part %d", key,
		    HV_S3_MAX_PARTS);
	g_array_free(parts, TRUE);
	return NULL;
}

gboolean hv_s3_mpu_complete(HvS3 *s3, const char *key, const char *upload_id, const HvS3Part *parts, guint n,
			    GError **error)
{
	const char *query[] = { "uploadId", upload_id, NULL };
	GString *x;
	Req q = req_init("POST", key);
	Resp r;
	g_autofree char *md5 = NULL, *sha = NULL;
	gboolean ok;

	if (!check_upload_id(key, upload_id, error))
		return FALSE;
	if (n < 1 || n > HV_S3_MAX_PARTS) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "completing %s: %u parts (1..%d)", key, n,
			    HV_S3_MAX_PARTS);
		return FALSE;
	}
	for (guint i = 0; i < n; i++) {
		if (parts[i].part < 1 || parts[i].part > HV_S3_MAX_PARTS || (i && parts[i].part <= parts[i - 1].part) ||
		    strlen(parts[i].etag) != 32 || strspn(parts[i].etag, "0123456789abcdefABCDEF") != 32) {
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED,
				    "completing %s: part %u: number out of order or ETag not 32 hex digits", key, i + 1);
			return FALSE;
		}
	}
	x = g_string_new("<CompleteMultipartUpload>");
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
		HvS3XmlError e;

		if (hv_s3_xml_error((const char *)r.body->data, r.body->len, &e)) {
			int code = !strcmp(e.code, "NoSuchUpload") ? HV_S3_ERROR_NO_UPLOAD
				   : parts_refused(e.code)         ? HV_S3_ERROR_BAD_PARTS
								   : HV_S3_ERROR_HTTP;

			g_set_error(error, HV_S3_ERROR, code, "completing %s: %s%s%s", key,
				    e.code[0] ? e.code : "an error", e.message[0] ? ": " : "", e.message);
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

	if (!check_upload_id(key, upload_id, error))
		return FALSE;
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
