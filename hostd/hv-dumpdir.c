/* hv-dumpdir.c — a directory of dumps that hvdumpd manages; see hv-dumpdir.h. */
#include "hv-dumpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hv-error.h"
#include "hv-output.h"
#include "hv-qmp.h"

#define REPORT_SUFFIX ".json"
#define REPORT_MAGIC "hvdump-report"
#define TRIAGE_MAGIC "hvdump-triage"

static void entry_free(gpointer p)
{
	HvDumpEntry *e = p;

	g_free(e->dump);
	g_free(e->report);
	g_free(e->vm);
	g_free(e);
}

/* A small regular JSON object file at name in dfd, or NULL. */
static json_object *read_json_at(int dfd, const char *name)
{
	g_autofree char *text = NULL;
	json_object *obj;
	struct stat st;
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > HV_DUMPDIR_MAX_REPORT) {
		close(fd);
		return NULL;
	}
	text = g_malloc((gsize)st.st_size + 1);
	n = pread(fd, text, (size_t)st.st_size, 0);
	close(fd);
	if (n != (ssize_t)st.st_size)
		return NULL;
	text[n] = '\0';
	obj = json_tokener_parse(text);
	if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

json_object *hv_dumpdir_read_report(const char *path)
{
	json_object *obj = read_json_at(AT_FDCWD, path);

	if (obj != NULL && g_strcmp0(hv_json_get_string(obj, "format"), REPORT_MAGIC) != 0) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* A report we wrote: a small regular file, JSON with our magic, a dump name
 * that is a plain file name in the same directory. */
static HvDumpEntry *read_entry(int dfd, const char *name)
{
	json_object *obj, *up;
	HvDumpEntry *e = NULL;
	const char *vm, *dump;
	gint64 t = 0;
	struct stat st;

	obj = read_json_at(dfd, name);
	if (obj == NULL)
		return NULL;
	vm = hv_json_get_string(obj, "vm_name");
	/* hvdumpd's reports name the dump in "dump"; hvdump run's triage
	 * reports (NAME.report.json) in "dump_file" */
	dump = hv_json_get_string(obj, "dump");
	if (g_strcmp0(hv_json_get_string(obj, "schema"), TRIAGE_MAGIC) == 0)
		dump = hv_json_get_string(obj, "dump_file");
	if ((g_strcmp0(hv_json_get_string(obj, "format"), REPORT_MAGIC) == 0 ||
	     g_strcmp0(hv_json_get_string(obj, "schema"), TRIAGE_MAGIC) == 0) && vm != NULL &&
	    dump != NULL && hv_json_get_int64(obj, "written", &t) && dump[0] != '\0' &&
	    strchr(dump, '/') == NULL && strcmp(dump, ".") != 0 && strcmp(dump, "..") != 0 &&
	    fstatat(dfd, dump, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		e = g_new0(HvDumpEntry, 1);
		e->dump = g_strdup(dump);
		e->report = g_strdup(name);
		e->vm = g_strdup(vm);
		e->time = t;
		e->bytes = (guint64)st.st_blocks * 512;
		/* waiting for its upload (keep_local=no excepted): not retention's */
		e->upload_pending = json_object_object_get_ex(obj, "upload", &up) &&
				    json_object_is_type(up, json_type_object) &&
				    g_strcmp0(hv_json_get_string(up, "state"), "done") != 0 &&
				    g_strcmp0(hv_json_get_string(up, "keep_local"), "no") != 0;
	}
	json_object_put(obj);
	return e;
}

static gint cmp_time(gconstpointer a, gconstpointer b)
{
	const HvDumpEntry *x = *(HvDumpEntry *const *)a, *y = *(HvDumpEntry *const *)b;

	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	return strcmp(x->dump, y->dump);
}

GPtrArray *hv_dumpdir_list(const char *dir, GError **error)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, error);
	GPtrArray *out;
	const char *name;
	guint seen = 0;
	int dfd;

	if (d == NULL)
		return NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot open %s: %s", dir, g_strerror(errno));
		return NULL;
	}
	out = g_ptr_array_new_with_free_func(entry_free);
	while ((name = g_dir_read_name(d)) != NULL && seen < HV_DUMPDIR_MAX_ENTRIES) {
		HvDumpEntry *e;

		if (!g_str_has_suffix(name, REPORT_SUFFIX))
			continue;
		seen++;
		e = read_entry(dfd, name);
		if (e != NULL)
			g_ptr_array_add(out, e);
	}
	close(dfd);
	g_ptr_array_sort(out, cmp_time);
	return out;
}

guint64 hv_dumpdir_used_bytes(const char *dir)
{
	g_autoptr(GPtrArray) all = hv_dumpdir_list(dir, NULL);
	guint64 sum = 0;
	guint i;

	for (i = 0; all != NULL && i < all->len; i++)
		sum += ((HvDumpEntry *)all->pdata[i])->bytes;
	return sum;
}

guint64 hv_dumpdir_free_bytes(const char *dir)
{
	struct statvfs sv;

	if (statvfs(dir, &sv) < 0)
		return G_MAXUINT64;
	return (guint64)sv.f_bavail * sv.f_frsize;
}

static void add_log(GPtrArray *log, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void add_log(GPtrArray *log, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (log != NULL)
		g_ptr_array_add(log, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

static void remove_entry(const char *dir, const HvDumpEntry *e, const char *why, GPtrArray *log)
{
	g_autofree char *dump = g_build_filename(dir, e->dump, NULL);
	g_autofree char *report = g_build_filename(dir, e->report, NULL);

	if (unlink(dump) < 0 && errno != ENOENT) {
		add_log(log, "cannot remove %s (%s): %s", dump, why, g_strerror(errno));
		return;
	}
	unlink(report);
	add_log(log, "removed %s (%s)", dump, why);
}

void hv_dumpdir_prune(const char *dir, const char *vm, guint keep, guint64 max_bytes,
		      const char *protect, GPtrArray *log)
{
	g_autoptr(GPtrArray) all = hv_dumpdir_list(dir, NULL);
	g_autofree gboolean *gone = NULL;
	guint64 used = 0;
	guint i, mine = 0;

	if (all == NULL)
		return;
	gone = g_new0(gboolean, all->len + 1);
	for (i = 0; i < all->len; i++) {
		const HvDumpEntry *e = all->pdata[i];

		used += e->bytes;
		mine += vm == NULL || strcmp(e->vm, vm) == 0;
	}
	/* the VM's oldest first, down to keep */
	for (i = 0; keep > 0 && i < all->len && mine > keep; i++) {
		const HvDumpEntry *e = all->pdata[i];
		g_autofree char *why = NULL;

		if ((vm != NULL && strcmp(e->vm, vm) != 0) || g_strcmp0(e->dump, protect) == 0 ||
		    e->upload_pending)
			continue;
		why = vm != NULL ? g_strdup_printf("keep %u per VM", keep) :
				   g_strdup_printf("keep %u", keep);
		remove_entry(dir, e, why, log);
		gone[i] = TRUE;
		mine--;
		used -= e->bytes;
	}
	/* then anyone's oldest, down to the budget */
	for (i = 0; max_bytes > 0 && i < all->len && used > max_bytes; i++) {
		const HvDumpEntry *e = all->pdata[i];
		g_autofree char *why = NULL;

		if (gone[i] || g_strcmp0(e->dump, protect) == 0 || e->upload_pending)
			continue;
		why = g_strdup_printf("directory budget %" G_GUINT64_FORMAT " MiB", max_bytes >> 20);
		remove_entry(dir, e, why, log);
		used -= e->bytes;
	}
}

guint hv_dumpdir_clean_parts(const char *dir, GPtrArray *log)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;
	guint seen = 0, removed = 0;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL && seen < HV_DUMPDIR_MAX_ENTRIES) {
		g_autofree char *path = NULL;
		g_autoptr(GError) error = NULL;

		seen++;
		if (!g_str_has_suffix(name, ".part"))
			continue;
		path = g_build_filename(dir, name, NULL);
		if (hv_output_remove_stale(path, &error)) {
			removed++;
			add_log(log, "removed %s, left by a capture that did not finish", path);
		} else if (!g_error_matches(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS) ||
			   strstr(error->message, "another hvdump") == NULL) {
			add_log(log, "left %s alone: %s", path, error->message);
		}
	}
	return removed;
}

gboolean hv_dumpdir_write_json(const char *path, json_object *obj, GError **error)
{
	g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
	const char *text;
	gsize len;
	int fd;

	text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	len = strlen(text);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot create %s: %s", tmp, g_strerror(errno));
		return FALSE;
	}
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot write %s: %s", tmp, g_strerror(e));
		return FALSE;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		int e = errno;

		unlink(tmp);
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot rename %s: %s", tmp, g_strerror(e));
		return FALSE;
	}
	/* the rename itself survives a power cut only once its directory is synced */
	{
		g_autofree char *dir = g_path_get_dirname(path);

		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			int rc = fsync(fd), e = errno;

			close(fd);
			if (rc < 0 && e == EIO) {
				g_set_error(error, HV_ERROR, HV_ERROR_IO, "cannot sync %s: %s", dir, g_strerror(e));
				return FALSE;
			}
		}
	}
	return TRUE;
}

gboolean hv_dumpdir_write_report(const char *dump_path, json_object *report, GError **error)
{
	g_autofree char *path = g_strconcat(dump_path, REPORT_SUFFIX, NULL);
	g_autofree char *base = g_path_get_basename(dump_path);

	json_object_object_add(report, "format", json_object_new_string(REPORT_MAGIC));
	json_object_object_add(report, "dump", json_object_new_string(base));
	return hv_dumpdir_write_json(path, report, error);
}
