/* hv-upload.c — see hv-upload.h. */
#include "hv-upload.h"

#include <gio/gio.h>

#include "hv-dumpdir.h"
#include "hv-sftp.h"
#include "hv-triage.h"
#include "hv-qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "hvdump-upload"
#define DEFAULT_S3_CREDENTIALS "/etc/hvdump/s3.cred"
#define DEFAULT_SFTP_IDENTITY "/etc/hvdump/sftp.key"
#define ID_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

#define jstr hv_json_get_string

static gint64 jint(json_object *o, const char *k, gint64 dflt)
{
	gint64 v;

	return hv_json_get_int64(o, k, &v) ? v : dflt;
}

static void jset_str(json_object *o, const char *k, const char *v)
{
	if (v != NULL)
		json_object_object_add(o, k, json_object_new_string(v));
}

/* ---- targets ------------------------------------------------------------ */

void hv_upload_target_clear(HvUploadTarget *t)
{
	g_free(t->url);
	g_free(t->credentials);
	g_free(t->endpoint);
	g_free(t->region);
	g_free(t->ca_file);
	g_free(t->known_hosts);
	memset(t, 0, sizeof(*t));
}

static gboolean is_sftp(const HvUploadTarget *t)
{
	return g_str_has_prefix(t->url, "sftp://");
}

gboolean hv_upload_target_from_policy(const HvPolicy *p, HvUploadTarget *t)
{
	if (p->target == NULL)
		return FALSE;
	memset(t, 0, sizeof(*t));
	t->url = g_strdup(p->target);
	t->credentials = g_strdup(p->credentials);
	t->endpoint = g_strdup(p->endpoint);
	t->region = g_strdup(p->region);
	t->ca_file = g_strdup(p->ca_file);
	t->virtual_host = p->virtual_host;
	t->known_hosts = g_strdup(p->known_hosts);
	t->rate = p->upload_rate;
	return TRUE;
}

static json_object *target_to_json(const HvUploadTarget *t)
{
	json_object *o = json_object_new_object();

	jset_str(o, "url", t->url);
	jset_str(o, "credentials", t->credentials);
	jset_str(o, "endpoint", t->endpoint);
	jset_str(o, "region", t->region);
	jset_str(o, "ca_file", t->ca_file);
	json_object_object_add(o, "virtual_host", json_object_new_boolean(t->virtual_host));
	jset_str(o, "known_hosts", t->known_hosts);
	json_object_object_add(o, "rate", json_object_new_int64((gint64)MIN(t->rate, (guint64)G_MAXINT64)));
	return o;
}

static gboolean target_from_json(json_object *j, HvUploadTarget *t)
{
	json_object *o, *vh;

	memset(t, 0, sizeof(*t));
	if (!json_object_object_get_ex(j, "target", &o) || !json_object_is_type(o, json_type_object) ||
	    jstr(o, "url") == NULL)
		return FALSE;
	t->url = g_strdup(jstr(o, "url"));
	t->credentials = g_strdup(jstr(o, "credentials"));
	t->endpoint = g_strdup(jstr(o, "endpoint"));
	t->region = g_strdup(jstr(o, "region"));
	t->ca_file = g_strdup(jstr(o, "ca_file"));
	t->virtual_host = json_object_object_get_ex(o, "virtual_host", &vh) && json_object_get_boolean(vh);
	t->known_hosts = g_strdup(jstr(o, "known_hosts"));
	t->rate = (guint64)MAX(jint(o, "rate", 0), 0);
	return TRUE;
}

/* The S3 settings: URL, then the credentials file, then the policy's
 * endpoint=/region=/ca-file= over the file's. */
static gboolean s3_config(const HvUploadTarget *t, HvS3Config *c, GError **error)
{
	memset(c, 0, sizeof(*c));
	if (!hv_s3_parse_url(t->url, c, error) ||
	    !hv_s3_load_credentials(t->credentials ? t->credentials : DEFAULT_S3_CREDENTIALS, c, error)) {
		hv_s3_config_clear(c);
		return FALSE;
	}
	if (t->endpoint != NULL) {
		g_free(c->endpoint);
		c->endpoint = g_strdup(t->endpoint);
	}
	if (t->region != NULL) {
		g_free(c->region);
		c->region = g_strdup(t->region);
	}
	if (t->ca_file != NULL) {
		g_free(c->ca_file);
		c->ca_file = g_strdup(t->ca_file);
	}
	if (t->virtual_host)
		c->path_style = FALSE;
	c->max_send_bytes_per_s = t->rate;
	if (c->endpoint == NULL) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "%s: no endpoint (endpoint= in the "
			    "policy or in the credentials file)", t->url);
		hv_s3_config_clear(c);
		return FALSE;
	}
	return TRUE;
}

static gboolean sftp_config(const HvUploadTarget *t, HvSftpConfig *c, GError **error)
{
	memset(c, 0, sizeof(*c));
	if (!hv_sftp_parse_url(t->url, c, error))
		return FALSE;
	c->identity = g_strdup(t->credentials ? t->credentials : DEFAULT_SFTP_IDENTITY);
	c->known_hosts = g_strdup(t->known_hosts);
	c->max_send_bytes_per_s = t->rate;
	return TRUE;
}

static HvS3 *open_s3(const HvUploadTarget *t, const gint *cancel, GError **error)
{
	HvS3Config c;
	HvS3 *s3;

	if (!s3_config(t, &c, error))
		return NULL;
	c.cancel = cancel;
	s3 = hv_s3_new(&c, error);
	hv_s3_config_clear(&c);
	return s3;
}

HvS3 *hv_upload_target_s3(const HvUploadTarget *t, GError **error)
{
	return open_s3(t, NULL, error);
}

gboolean hv_upload_target_check(const HvUploadTarget *t, GError **error)
{
	if (is_sftp(t)) {
		HvSftpConfig c;
		gboolean ok = sftp_config(t, &c, error);
		int fd;

		if (ok) {
			/* the identity: root's, 0600 (hv_sftp_connect checks again) */
			struct stat st;

			fd = open(c.identity, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 ||
			    (st.st_mode & 077)) {
				g_set_error(error, HV_SFTP_ERROR, HV_SFTP_ERROR_CONFIG,
					    "%s: %s", c.identity, fd < 0 ? g_strerror(errno) :
					    "the sftp identity must be a regular file owned by root, mode 0600");
				ok = FALSE;
			}
			if (fd >= 0)
				close(fd);
		}
		hv_sftp_config_clear(&c);
		return ok;
	}
	if (g_str_has_prefix(t->url, "s3://")) {
		HvS3Config c;

		if (!s3_config(t, &c, error))
			return FALSE;
		hv_s3_config_clear(&c);
		return TRUE;
	}
	g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_CONFIG, "'%s' is not an s3:// or sftp:// target", t->url);
	return FALSE;
}

/* ---- ids and journals --------------------------------------------------- */

char *hv_upload_new_id(gint64 when, const char *host, const char *vm)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(when);
	g_autofree char *ts = t ? g_date_time_format(t, "%Y%m%dT%H%M%SZ") : g_strdup("00000000T000000Z");
	g_autofree char *h = g_strndup(host && *host ? host : "host", 64);
	g_autofree char *v = g_strndup(vm && *vm ? vm : "vm", 64);

	g_strcanon(h, ID_CHARS, '_');
	g_strcanon(v, ID_CHARS, '_');
	return g_strdup_printf("%s-%s-%s-%08x", ts, h, v, g_random_int());
}

static gboolean sha256_file(int fd, guint64 size, const gint *cancel, char **hex, GError **error)
{
	GChecksum *s = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 *buf = g_malloc(1 << 20);
	guint64 done = 0;
	gboolean ok = TRUE;

	while (done < size) {
		ssize_t n;

		if (cancel != NULL && g_atomic_int_get(cancel)) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "checksum cancelled (hvdumpd stops)");
			ok = FALSE;
			break;
		}
		n = pread(fd, buf, MIN((guint64)(1 << 20), size - done), done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "reading the dump: %s",
				    n < 0 ? g_strerror(errno) : "shorter than its size");
			ok = FALSE;
			break;
		}
		g_checksum_update(s, buf, n);
		done += n;
	}
	if (ok)
		*hex = g_strdup(g_checksum_get_string(s));
	g_free(buf);
	g_checksum_free(s);
	return ok;
}

static gint64 ns(const struct timespec *t)
{
	return (gint64)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The dump, opened for reading: a regular file (never a FIFO to block on). */
static int open_dump(const char *path, struct stat *st, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

	if (fd < 0 || fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: %s", path,
			    fd < 0 ? g_strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

char *hv_upload_enqueue(const char *journal_dir, const char *id, const char *dump_path,
			const char *report_path, const char *suffix, gint64 when,
			const HvUploadTarget *target, HvKeepLocal keep_local, json_object *manifest,
			GError **error)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(when);
	g_autofree char *day = t ? g_date_time_format(t, "%Y/%m/%d") : NULL;
	g_autofree char *dkey = NULL, *mkey = NULL;
	char *path;
	struct stat st;
	json_object *j;
	int fd;

	if (!day || !hv_upload_id_valid(id) || (suffix && strspn(suffix, ID_CHARS) != strlen(suffix)) ||
	    (suffix && strlen(suffix) > 16)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "upload: bad id, suffix or time for %s",
			    dump_path);
		return NULL;
	}
	if ((fd = open_dump(dump_path, &st, error)) < 0) {
		g_prefix_error(error, "upload: ");
		return NULL;
	}
	close(fd);
	dkey = g_strdup_printf("dumps/%s/%s%s", day, id, suffix ? suffix : "");
	mkey = g_strdup_printf("manifests/%s/%s.json", day, id);
	json_object_object_add(manifest, "id", json_object_new_string(id));
	json_object_object_add(manifest, "dump_key", json_object_new_string(dkey));
	json_object_object_add(manifest, "dump_size", json_object_new_int64(st.st_size));
	j = json_object_new_object();
	json_object_object_add(j, "magic", json_object_new_string(MAGIC));
	json_object_object_add(j, "version", json_object_new_int(1));
	json_object_object_add(j, "id", json_object_new_string(id));
	json_object_object_add(j, "dump", json_object_new_string(dump_path));
	jset_str(j, "report", report_path);
	json_object_object_add(j, "size", json_object_new_int64(st.st_size));
	json_object_object_add(j, "mtime_ns", json_object_new_int64(ns(&st.st_mtim)));
	json_object_object_add(j, "ctime_ns", json_object_new_int64(ns(&st.st_ctim)));
	json_object_object_add(j, "dump_key", json_object_new_string(dkey));
	json_object_object_add(j, "manifest_key", json_object_new_string(mkey));
	json_object_object_add(j, "target", target_to_json(target));
	json_object_object_add(j, "keep_local", json_object_new_string(hv_keep_local_name(keep_local)));
	json_object_object_add(j, "manifest", json_object_get(manifest));
	json_object_object_add(j, "state", json_object_new_string("queued"));
	json_object_object_add(j, "attempts", json_object_new_int(0));
	json_object_object_add(j, "enqueued", json_object_new_int64(g_get_real_time() / G_USEC_PER_SEC));
	path = g_strdup_printf("%s/%s" HV_UPLOAD_JOURNAL_SUFFIX, journal_dir, id);
	if (!hv_dumpdir_write_json(path, j, error))
		g_clear_pointer(&path, g_free);
	json_object_put(j);
	return path;
}

json_object *hv_upload_read_journal(const char *journal_path, GError **error)
{
	g_autofree char *text = NULL;
	struct stat st;
	json_object *j;
	ssize_t n;
	int fd;

	fd = open(journal_path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > HV_UPLOAD_MAX_JOURNAL) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", journal_path,
			    fd < 0 ? g_strerror(errno) : "not a regular file of at most 4 MiB");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	text = g_malloc((gsize)st.st_size + 1);
	n = pread(fd, text, (size_t)st.st_size, 0);
	close(fd);
	if (n != (ssize_t)st.st_size) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: short read", journal_path);
		return NULL;
	}
	text[n] = '\0';
	j = hv_upload_parse_journal(text, (gsize)n, error);
	if (j == NULL)
		g_prefix_error(error, "%s: ", journal_path);
	return j;
}

/* ---- one step ----------------------------------------------------------- */

typedef struct {
	const char *path;   /* the journal */
	json_object *j;
	char *state;
	HvUploadTarget target;
	guint64 size;
	int fd;
	const gint *cancel;
} Step;

static gboolean save(Step *s, const char *state, GError **error)
{
	if (state != NULL && state != s->state) {
		g_free(s->state);
		s->state = g_strdup(state);
	}
	json_object_object_add(s->j, "state", json_object_new_string(s->state));
	return hv_dumpdir_write_json(s->path, s->j, error);
}

/* The dump is still the one the journal describes (size, mtime, ctime):
 * a dump that changed must not be shipped under the checksum of another. */
static gboolean dump_unchanged(Step *s, GError **error)
{
	struct stat st;

	if (s->fd < 0) {
		s->fd = open_dump(jstr(s->j, "dump"), &st, NULL);
		if (s->fd < 0) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s: removed before its upload "
				    "finished", jstr(s->j, "dump"));
			return FALSE;
		}
	} else if (fstat(s->fd, &st) != 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: %s", jstr(s->j, "dump"), g_strerror(errno));
		return FALSE;
	}
	if ((guint64)st.st_size != s->size || ns(&st.st_mtim) != jint(s->j, "mtime_ns", -1) ||
	    (jint(s->j, "ctime_ns", -1) >= 0 && ns(&st.st_ctim) != jint(s->j, "ctime_ns", -1))) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: changed before its upload finished",
			    jstr(s->j, "dump"));
		return FALSE;
	}
	return TRUE;
}

/* What the dump is, from the dump itself: title, signature, kernel, build
 * id (what fleet list and stats group by). Once per journal. */
static void triage_into_manifest(Step *s)
{
	json_object *m;
	HvTriage t;
	g_autoptr(GError) e = NULL;
	HvTriageOptions opt = { 0 };

	json_object_object_get_ex(s->j, "manifest", &m);
	if (jint(s->j, "triaged", 0))
		return;
	memset(&t, 0, sizeof(t));
	if (hv_triage_file(jstr(s->j, "dump"), &opt, &t, &e)) {
		if (t.title.title != NULL)
			jset_str(m, "title", t.title.title);
		if (t.signature != NULL)
			jset_str(m, "signature", t.signature);
		if (t.release[0] != '\0' && jstr(m, "kernel") == NULL)
			jset_str(m, "kernel", t.release);
		if (t.build_id[0] != '\0')
			jset_str(m, "build_id", t.build_id);
		if (t.crash_time != 0 && jstr(m, "crash_time") == NULL)
			json_object_object_add(m, "crash_time", json_object_new_int64((gint64)t.crash_time));
	} else {
		jset_str(m, "triage_error", e->message);
	}
	hv_triage_clear(&t);
	json_object_object_add(s->j, "triaged", json_object_new_int(1));
}

/* The manifest as it goes to the store, triaged (owned by the journal). */
static const char *manifest_text(Step *s)
{
	json_object *man;

	triage_into_manifest(s);
	json_object_object_get_ex(s->j, "manifest", &man);
	return json_object_to_json_string_ext(man, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* The parts as the journal knows them (index i = part i+1; "" not sent). */
static GPtrArray *journal_parts(json_object *j, guint n)
{
	GPtrArray *md5 = g_ptr_array_new_with_free_func(g_free);
	json_object *a;

	for (guint i = 0; i < n; i++)
		g_ptr_array_add(md5, g_strdup(""));
	if (json_object_object_get_ex(j, "parts", &a) && json_object_is_type(a, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(a) && i < n; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(a, i));
			if (s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32) {
				g_free(md5->pdata[i]);
				md5->pdata[i] = g_strdup(s);
			}
		}
	}
	return md5;
}

static void save_parts(json_object *j, GPtrArray *md5)
{
	json_object *a = json_object_new_array();
	for (guint i = 0; i < md5->len; i++)
		json_object_array_add(a, json_object_new_string(md5->pdata[i]));
	json_object_object_add(j, "parts", a);
}

static void clear_parts(GPtrArray *md5)
{
	for (guint i = 0; i < md5->len; i++) {
		g_free(md5->pdata[i]);
		md5->pdata[i] = g_strdup("");
	}
}

static char *expected_etag(GPtrArray *md5, guint64 size, guint64 part_size)
{
	g_autofree HvS3Part *p = g_new0(HvS3Part, md5->len);
	for (guint i = 0; i < md5->len; i++) {
		if (strlen(md5->pdata[i]) != 32)
			return NULL;
		p[i].part = i + 1;
		p[i].size = MIN(part_size, size - (guint64)i * part_size);
		g_strlcpy(p[i].etag, md5->pdata[i], sizeof(p[i].etag));
	}
	return hv_s3_mpu_etag(p, md5->len);
}

/* The dump object is in the store, whole: size and multipart ETag match.
 * 1 yes, 0 missing, 2 something else is there, -1 error. */
static int object_matches(HvS3 *s3, const char *key, guint64 size, const char *want, GError **error)
{
	guint64 got = 0;
	g_autofree char *etag = NULL;
	int r = hv_s3_head(s3, key, &got, &etag, error);

	if (r <= 0)
		return r;
	return got == size && want && etag && !g_ascii_strcasecmp(etag, want) ? 1 : 2;
}

/* A verification failed or the store refused the completion for good:
 * abandon the upload (best effort: its parts would linger) and start over
 * under the same key, at most HV_UPLOAD_MAX_RESTARTS times. */
static HvUploadResult restart_upload(Step *s, HvS3 *s3, const char *dkey, GPtrArray *md5, GError **error)
{
	const char *uid = jstr(s->j, "upload_id");
	gint64 restarts = jint(s->j, "restarts", 0) + 1;

	if (uid != NULL)
		hv_s3_mpu_abort(s3, dkey, uid, NULL);
	json_object_object_del(s->j, "upload_id");
	clear_parts(md5);
	save_parts(s->j, md5);
	json_object_object_add(s->j, "restarts", json_object_new_int64(restarts));
	if (restarts > HV_UPLOAD_MAX_RESTARTS) {
		g_prefix_error(error, "gave up after %d uploads: ", HV_UPLOAD_MAX_RESTARTS);
		return HV_UPLOAD_FAILED;
	}
	save(s, "queued", NULL);
	return HV_UPLOAD_RETRY;
}

static HvUploadResult step_s3(Step *s, guint64 part_size, GError **error)
{
	g_autoptr(GPtrArray) md5 = NULL;
	g_autofree char *dkey = NULL, *mkey = NULL, *want = NULL, *upload_id = NULL;
	HvS3 *s3 = open_s3(&s->target, s->cancel, error);
	HvUploadResult res = HV_UPLOAD_RETRY;
	guint64 nparts;
	GError *e = NULL;

	if (s3 == NULL)
		return HV_UPLOAD_FAILED; /* the URL or credentials: a person must fix them */
	dkey = hv_s3_key(s3, jstr(s->j, "dump_key"));
	mkey = hv_s3_key(s3, jstr(s->j, "manifest_key"));
	if (jint(s->j, "part_size", 0) != 0) {
		part_size = (guint64)jint(s->j, "part_size", 0); /* checked by the parser */
	} else {
		part_size = CLAMP(part_size ? part_size : HV_UPLOAD_PART_DEFAULT, HV_UPLOAD_PART_MIN,
				  HV_UPLOAD_PART_MAX);
		while ((s->size + part_size - 1) / part_size > HV_UPLOAD_MAX_PARTS && part_size < HV_UPLOAD_PART_MAX)
			part_size = MIN(part_size * 2, HV_UPLOAD_PART_MAX);
		json_object_object_add(s->j, "part_size", json_object_new_int64(part_size));
	}
	nparts = s->size ? (s->size + part_size - 1) / part_size : 1;
	if (nparts > HV_UPLOAD_MAX_PARTS) {
		g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%" G_GUINT64_FORMAT " parts of %"
			    G_GUINT64_FORMAT " bytes: more than S3 takes", nparts, part_size);
		res = HV_UPLOAD_FAILED;
		goto out;
	}
	md5 = journal_parts(s->j, nparts);
	upload_id = g_strdup(jstr(s->j, "upload_id"));

	if (!strcmp(s->state, "queued") || !strcmp(s->state, "uploading")) {
		if (!dump_unchanged(s, error)) {
			res = HV_UPLOAD_FAILED;
			goto out;
		}
		if (upload_id) {
			GArray *have = hv_s3_mpu_list_parts(s3, dkey, upload_id, &e);
			if (!have && (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NO_UPLOAD) ||
				      g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NOT_FOUND))) {
				/* gone: completed while the answer was lost, or forgotten */
				int m;

				g_clear_error(&e);
				want = expected_etag(md5, s->size, part_size);
				m = object_matches(s3, dkey, s->size, want, error);
				if (m < 0)
					goto out;
				if (m == 1)
					goto verified;
				g_clear_pointer(&upload_id, g_free);
				json_object_object_del(s->j, "upload_id");
				clear_parts(md5);
			} else if (!have) {
				g_propagate_error(error, e);
				goto out;
			} else {
				/* what the store holds decides; the journal may lag behind it or be ahead */
				g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func(g_free);
				for (guint i = 0; i < md5->len; i++)
					g_ptr_array_add(held, g_strdup(""));
				for (guint k = 0; k < have->len; k++) {
					HvS3Part *p = &g_array_index(have, HvS3Part, k);
					guint i = p->part - 1;
					if (p->part >= 1 && i < md5->len &&
					    p->size == MIN(part_size, s->size - (guint64)i * part_size) &&
					    !g_ascii_strcasecmp(p->etag, md5->pdata[i])) {
						g_free(held->pdata[i]);
						held->pdata[i] = g_strdup(md5->pdata[i]);
					}
				}
				g_array_free(have, TRUE);
				for (guint i = 0; i < md5->len; i++) {
					g_free(md5->pdata[i]);
					md5->pdata[i] = g_strdup(held->pdata[i]);
				}
			}
		}
		if (!upload_id) {
			if (!(upload_id = hv_s3_mpu_create(s3, dkey, error)))
				goto out;
			json_object_object_add(s->j, "upload_id", json_object_new_string(upload_id));
		}
		save_parts(s->j, md5);
		if (!save(s, "uploading", error))
			goto out;
		for (guint i = 0; i < md5->len; i++) {
			char hex[33];
			guint64 off = (guint64)i * part_size;
			if (((char *)md5->pdata[i])[0])
				continue;
			if (!hv_s3_mpu_put_part(s3, dkey, upload_id, i + 1, s->fd, off, MIN(part_size, s->size - off),
						hex, error))
				goto out;
			g_free(md5->pdata[i]);
			md5->pdata[i] = g_strdup(hex);
			save_parts(s->j, md5);
			if (!save(s, NULL, error))
				goto out;
		}
		/* the parts were read over minutes: still the dump whose SHA-256 the manifest gives? */
		if (!dump_unchanged(s, error)) {
			hv_s3_mpu_abort(s3, dkey, upload_id, NULL);
			res = HV_UPLOAD_FAILED;
			goto out;
		}
		{
			g_autofree HvS3Part *p = g_new0(HvS3Part, md5->len);
			for (guint i = 0; i < md5->len; i++) {
				p[i].part = i + 1;
				g_strlcpy(p[i].etag, md5->pdata[i], sizeof(p[i].etag));
			}
			if (!hv_s3_mpu_complete(s3, dkey, upload_id, p, md5->len, &e)) {
				if (g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_BAD_PARTS)) {
					/* these parts will never do (a 5xx or SlowDown is retried as it is) */
					g_propagate_error(error, e);
					res = restart_upload(s, s3, dkey, md5, error);
					goto out;
				}
				if (!g_error_matches(e, HV_S3_ERROR, HV_S3_ERROR_NO_UPLOAD)) {
					g_propagate_error(error, e);
					goto out;
				}
				g_clear_error(&e); /* completed before; verified below */
			}
		}
		if (!save(s, "verifying", error))
			goto out;
	}
	if (!strcmp(s->state, "verifying")) {
		int m;
		g_free(want);
		want = expected_etag(md5, s->size, part_size);
		m = object_matches(s3, dkey, s->size, want, error);
		if (m < 0)
			goto out;
		if (m != 1) {
			/* not what we sent: send it again (same key, a new upload) */
			g_set_error(error, HV_S3_ERROR, HV_S3_ERROR_FAILED, "%s: %s in the store after the upload",
				    dkey, m == 0 ? "missing" : "size or checksum differs");
			res = restart_upload(s, s3, dkey, md5, error);
			goto out;
		}
verified:
		json_object_object_add(s->j, "dump_etag", json_object_new_string(want ? want : ""));
		if (!save(s, "manifest", error))
			goto out;
	}
	if (!strcmp(s->state, "manifest")) {
		const char *text = manifest_text(s);

		if (!hv_s3_put(s3, mkey, text, strlen(text), error))
			goto out;
		res = HV_UPLOAD_DONE;
	}
out:
	hv_s3_free(s3);
	return res;
}

static HvUploadResult step_sftp(Step *s, GError **error)
{
	HvSftpConfig c;
	HvSftp *sf;
	HvUploadResult res = HV_UPLOAD_RETRY;
	GError *e = NULL;

	if (!sftp_config(&s->target, &c, error))
		return HV_UPLOAD_FAILED;
	c.cancel = s->cancel;
	sf = hv_sftp_connect(&c, &e);
	hv_sftp_config_clear(&c);
	if (sf == NULL) {
		/* a refused host key or identity waits for a person; a network error for a retry */
		res = g_error_matches(e, HV_SFTP_ERROR, HV_SFTP_ERROR_FAILED) ? HV_UPLOAD_RETRY : HV_UPLOAD_FAILED;
		g_propagate_error(error, e);
		return res;
	}
	if (!strcmp(s->state, "queued") || !strcmp(s->state, "uploading")) {
		if (!dump_unchanged(s, error)) {
			res = HV_UPLOAD_FAILED;
			goto out;
		}
		if (!save(s, "uploading", error))
			goto out;
		if (!hv_sftp_ship(sf, jstr(s->j, "dump_key"), s->fd, s->size, jstr(s->j, "sha256"), &e)) {
			/* a mismatch is sent again next time; another object under our key never goes away */
			res = g_error_matches(e, HV_SFTP_ERROR, HV_SFTP_ERROR_EXISTS) ? HV_UPLOAD_FAILED
										      : HV_UPLOAD_RETRY;
			g_propagate_error(error, e);
			goto out;
		}
		if (!dump_unchanged(s, error)) {
			res = HV_UPLOAD_FAILED;
			goto out;
		}
		if (!save(s, "manifest", error))
			goto out;
	}
	if (!strcmp(s->state, "verifying") && !save(s, "manifest", error))
		goto out;
	if (!strcmp(s->state, "manifest")) {
		const char *text = manifest_text(s);

		if (!hv_sftp_put(sf, jstr(s->j, "manifest_key"), text, strlen(text), error))
			goto out;
		res = HV_UPLOAD_DONE;
	}
out:
	hv_sftp_free(sf);
	return res;
}

/* Done: keep_local says what becomes of the local copy. Removes only the
 * dump the journal describes (still unchanged) and its report. */
/* The journal's report, when it is the dump's own (DUMP.json), else NULL:
 * nothing else is touched, whatever the journal says. */
static const char *own_report(Step *s)
{
	const char *report = jstr(s->j, "report"), *dump = jstr(s->j, "dump");

	if (report == NULL || dump == NULL || !g_str_has_prefix(report, dump) ||
	    strcmp(report + strlen(dump), ".json") != 0)
		return NULL;
	return report;
}

static void apply_keep_local(Step *s)
{
	const char *keep = jstr(s->j, "keep_local"), *report = own_report(s);

	if (g_strcmp0(keep, "until-uploaded") == 0 || g_strcmp0(keep, "no") == 0) {
		gboolean removed = dump_unchanged(s, NULL) && unlink(jstr(s->j, "dump")) == 0;

		if (removed && report != NULL)
			unlink(report);
		json_object_object_add(s->j, "local_removed", json_object_new_boolean(removed));
		return;
	}
	if (report != NULL) {
		/* the report says where the dump went (hvdump list shows it) */
		g_autoptr(GError) e = NULL;
		json_object *r = hv_dumpdir_read_report(report), *u;

		if (r == NULL)
			return;
		u = json_object_new_object();
		json_object_object_add(u, "state", json_object_new_string("done"));
		json_object_object_add(u, "id", json_object_new_string(jstr(s->j, "id")));
		jset_str(u, "target", s->target.url);
		jset_str(u, "dump_key", jstr(s->j, "dump_key"));
		jset_str(u, "manifest_key", jstr(s->j, "manifest_key"));
		json_object_object_add(r, "upload", u);
		hv_dumpdir_write_json(report, r, &e);
		json_object_put(r);
	}
}

/* One process at a time on a journal (two `hvdump fleet push` of one
 * dump): the journal itself is replaced by rename, so a lock file beside
 * it. The lock's fd, or -1 with an error. */
static int lock_journal(const char *journal_path, GError **error)
{
	g_autofree char *lock_path = g_strconcat(journal_path, HV_UPLOAD_LOCK_SUFFIX, NULL);
	int lock = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0600);

	if (lock < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", lock_path,
			    g_strerror(errno));
		return -1;
	}
	if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_AGAIN, "another process is uploading %s",
			    journal_path);
		close(lock);
		return -1;
	}
	return lock;
}

gboolean hv_upload_rearm(const char *journal_path, GError **error)
{
	int lock = lock_journal(journal_path, error);
	json_object *j;
	gboolean ok = FALSE;

	if (lock < 0)
		return FALSE;
	j = hv_upload_read_journal(journal_path, error);
	if (j != NULL && g_strcmp0(jstr(j, "state"), "failed") == 0) {
		json_object_object_add(j, "state", json_object_new_string("queued"));
		json_object_object_add(j, "restarts", json_object_new_int64(0));
		json_object_object_add(j, "rearmed", json_object_new_int64(g_get_real_time() / G_USEC_PER_SEC));
		ok = hv_dumpdir_write_json(journal_path, j, error);
	}
	if (j != NULL)
		json_object_put(j);
	close(lock);
	return ok;
}

HvUploadResult hv_upload_step(const char *journal_path, guint64 part_size, const gint *cancel, GError **error)
{
	Step s = { .path = journal_path, .fd = -1, .cancel = cancel };
	HvUploadResult res;
	GError *e = NULL;
	int lock = lock_journal(journal_path, error);

	if (lock < 0)
		return HV_UPLOAD_RETRY;
	s.j = hv_upload_read_journal(journal_path, error);
	if (s.j == NULL) {
		close(lock);
		return HV_UPLOAD_FAILED;
	}
	s.state = g_strdup(jstr(s.j, "state"));
	if (!strcmp(s.state, "done") || !strcmp(s.state, "failed")) {
		res = !strcmp(s.state, "done") ? HV_UPLOAD_DONE : HV_UPLOAD_FAILED;
		if (res == HV_UPLOAD_FAILED) {
			const char *last = jstr(s.j, "last_error");
			g_autofree char *why = hv_printable_dup(last ? last : "failed before");

			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s", why);
		}
		goto out;
	}
	if (!target_from_json(s.j, &s.target)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: no target", journal_path);
		res = HV_UPLOAD_FAILED;
		goto out;
	}
	s.size = (guint64)jint(s.j, "size", 0);
	json_object_object_add(s.j, "attempts", json_object_new_int64(jint(s.j, "attempts", 0) + 1));
	json_object_object_add(s.j, "last_attempt", json_object_new_int64(g_get_real_time() / G_USEC_PER_SEC));
	if (jstr(s.j, "sha256") == NULL) {
		/* once, off the daemon's main loop: the manifest's checksum */
		g_autofree char *sha = NULL;
		json_object *m;

		if (!dump_unchanged(&s, &e) || !sha256_file(s.fd, s.size, cancel, &sha, &e)) {
			res = g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? HV_UPLOAD_RETRY : HV_UPLOAD_FAILED;
			goto ran;
		}
		json_object_object_add(s.j, "sha256", json_object_new_string(sha));
		json_object_object_get_ex(s.j, "manifest", &m);
		json_object_object_add(m, "dump_sha256", json_object_new_string(sha));
		if (!save(&s, NULL, &e)) {
			res = HV_UPLOAD_RETRY;
			goto ran;
		}
	}
	if (is_sftp(&s.target))
		res = step_sftp(&s, &e);
	else if (g_str_has_prefix(s.target.url, "s3://"))
		res = step_s3(&s, part_size, &e);
	else {
		g_set_error(&e, G_FILE_ERROR, G_FILE_ERROR_INVAL, "unknown target '%s'", s.target.url);
		res = HV_UPLOAD_FAILED;
	}
ran:
	if (res == HV_UPLOAD_DONE) {
		json_object_object_del(s.j, "last_error");
		apply_keep_local(&s);
		json_object_object_add(s.j, "finished", json_object_new_int64(g_get_real_time() / G_USEC_PER_SEC));
		save(&s, "done", &e);
		if (e != NULL) /* shipped; the journal will say so again next time */
			g_clear_error(&e);
	} else {
		g_autofree char *msg = hv_printable_dup(e ? e->message : "unknown failure");

		json_object_object_add(s.j, "last_error", json_object_new_string(msg));
		if (res == HV_UPLOAD_FAILED) {
			save(&s, "failed", NULL);
		} else {
			save(&s, NULL, NULL);
		}
	}
	if (e != NULL)
		g_propagate_error(error, e);
out:
	if (s.fd >= 0)
		close(s.fd);
	hv_upload_target_clear(&s.target);
	g_free(s.state);
	json_object_put(s.j);
	close(lock);
	return res;
}
