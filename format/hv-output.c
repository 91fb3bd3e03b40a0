/* hv-output.c — NAME.part → NAME; see hv-output.h. */
#include "hv-output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK(hv-output-error-quark, hv_output_error)

/* largest single write: a cancellation is noticed between writes */
#define WRITE_MAX (16u << 20)

struct HvOutput {
	char *path;
	char *part;
	int fd;
	gboolean force;
	gboolean committed;
	dev_t dev;              /* the .part we created */
	ino_t ino;
	GCancellable *cancellable;
	guint64 written;        /* bytes pwritten (progress) */
	guint64 limit;          /* file size allowed; 0: none */
};

static void set_errno_error(GError **error, int e, const char *what, const char *path)
{
	int code = (e == ENOSPC || e == EFBIG || e == EDQUOT) ? HV_OUTPUT_ERROR_NOSPACE
								: HV_OUTPUT_ERROR_IO;

	g_set_error(error, HV_OUTPUT_ERROR, code, "%s %s: %s", what, path, g_strerror(e));
}

static const char *type_name(mode_t m)
{
	return S_ISREG(m) ? "regular file" : S_ISFIFO(m) ? "FIFO" : S_ISLNK(m) ? "symlink" :
	       S_ISDIR(m) ? "directory" : "special file";
}

/* Is NAME.part absent, or a stale dump of ours that may be replaced? That
 * is a regular file we own with no other link, which no live hvdump holds
 * locked; anything else was put there by someone else and is never opened
 * for writing, truncated or followed. With remove, a stale one is removed. */
static gboolean check_part(const char *part, gboolean remove, GError **error)
{
	struct stat st, fst;
	int fd;

	if (lstat(part, &st) < 0)
		return TRUE; /* absent: the exclusive create decides */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS,
			    "%s exists and is not a stale dump of ours (%s, owner uid %u, %u links); "
			    "remove it or choose another name", part, type_name(st.st_mode),
			    (unsigned)st.st_uid, (unsigned)st.st_nlink);
		return FALSE;
	}
	/* O_NONBLOCK: should it have become a FIFO meanwhile, never block */
	fd = open(part, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT; /* gone meanwhile */
	if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		close(fd);
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS,
			    "%s is being written by another hvdump; choose another name", part);
		return FALSE;
	}
	if (remove && fstat(fd, &fst) == 0 && fst.st_dev == st.st_dev && fst.st_ino == st.st_ino &&
	    unlink(part) < 0 && errno != ENOENT) {
		set_errno_error(error, errno, "cannot remove stale", part);
		close(fd);
		return FALSE;
	}
	close(fd);
	return TRUE;
}

/* The final name is refused when taken, unless forced. */
static gboolean check_final(const char *path, gboolean force, GError **error)
{
	struct stat st;

	if (!force && lstat(path, &st) == 0) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS,
			    "%s already exists (use --force to overwrite)", path);
		return FALSE;
	}
	return TRUE;
}

gboolean hv_output_remove_stale(const char *part, GError **error)
{
	return check_part(part, TRUE, error);
}

gboolean hv_output_check(const char *path, gboolean force, GError **error)
{
	g_autofree char *part = g_strconcat(path, ".part", NULL);

	return check_final(path, force, error) && check_part(part, FALSE, error);
}

/* Is NAME.part still the file we created (not removed or replaced)? */
static gboolean part_is_ours(HvOutput *out)
{
	struct stat st;

	return lstat(out->part, &st) == 0 && st.st_dev == out->dev && st.st_ino == out->ino;
}

HvOutput *hv_output_open(const char *path, gboolean force, GError **error)
{
	g_autoptr(HvOutput) out = g_new0(HvOutput, 1);
	struct stat st;

	out->fd = -1;
	out->path = g_strdup(path);
	out->part = g_strconcat(path, ".part", NULL);
	out->force = force;
	out->committed = TRUE; /* until the .part is ours, nothing to remove */
	if (!check_final(path, force, error))
		return NULL;
	/* created exclusively: never an existing file, FIFO, link or symlink */
	out->fd = open(out->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out->fd < 0 && errno == EEXIST) {
		if (!check_part(out->part, TRUE, error))
			return NULL;
		out->fd = open(out->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (out->fd < 0) {
		set_errno_error(error, errno, "cannot create", out->part);
		return NULL;
	}
	/* O_EXCL proved we created it (its owner may be mapped: NFS root_squash) */
	if (fstat(out->fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_IO,
			    "%s is not the private regular file just created", out->part);
		return NULL;
	}
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->committed = FALSE;
	/* held while writing: another hvdump never takes it for a stale one */
	if (flock(out->fd, LOCK_EX | LOCK_NB) < 0 || !part_is_ours(out)) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS,
			    "%s is being written by another hvdump; choose another name", out->part);
		out->committed = TRUE; /* not ours to remove */
		return NULL;
	}
	if (fchmod(out->fd, 0600) < 0) {
		set_errno_error(error, errno, "cannot chmod", out->part);
		return NULL;
	}
	return g_steal_pointer(&out);
}

gboolean hv_output_pwrite(HvOutput *out, const void *buf, gsize len, guint64 offset,
			  GError **error)
{
	const guint8 *p = buf;

	if (out->limit != 0 && (offset > out->limit || len > out->limit - offset)) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_NOSPACE,
			    "writing %s: past the %" G_GUINT64_FORMAT " MiB the space limits allow",
			    out->part, out->limit >> 20);
		return FALSE;
	}
	while (len > 0) {
		ssize_t n;

		if (g_cancellable_set_error_if_cancelled(out->cancellable, error))
			return FALSE;
		n = pwrite(out->fd, p, MIN(len, (gsize)WRITE_MAX), (off_t)offset);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			set_errno_error(error, errno, "writing", out->part);
			return FALSE;
		}
		if (n == 0) {
			set_errno_error(error, ENOSPC, "writing", out->part);
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
		offset += (guint64)n;
		out->written += (guint64)n;
	}
	return TRUE;
}

void hv_output_set_limit(HvOutput *out, guint64 max_size)
{
	out->limit = max_size;
}

guint64 hv_output_get_written(HvOutput *out)
{
	return out->written;
}

gboolean hv_output_set_size(HvOutput *out, guint64 size, GError **error)
{
	if (ftruncate(out->fd, (off_t)size) < 0) {
		set_errno_error(error, errno, "sizing", out->part);
		return FALSE;
	}
	return TRUE;
}

gboolean hv_output_commit(HvOutput *out, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(out->path);
	int dfd;

	if (g_cancellable_set_error_if_cancelled(out->cancellable, error))
		return FALSE;
	if (fsync(out->fd) < 0) {
		set_errno_error(error, errno, "syncing", out->part);
		return FALSE;
	}
	if (!part_is_ours(out)) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_IO,
			    "%s was removed or replaced while dumping", out->part);
		out->committed = TRUE; /* whatever is there now is not ours */
		return FALSE;
	}
	if (out->force) {
		if (rename(out->part, out->path) < 0) {
			set_errno_error(error, errno, "renaming to", out->path);
			return FALSE;
		}
	} else if (renameat2(AT_FDCWD, out->part, AT_FDCWD, out->path, RENAME_NOREPLACE) < 0) {
		int e = errno;

		if (e == EEXIST)
			g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS,
				    "%s appeared while dumping (use --force to overwrite)",
				    out->path);
		else
			set_errno_error(error, e, "renaming to", out->path);
		return FALSE;
	}
	out->committed = TRUE;
	/* closed (and unlocked) only after the rename */
	if (close(out->fd) < 0) {
		out->fd = -1;
		set_errno_error(error, errno, "closing", out->path);
		return FALSE;
	}
	out->fd = -1;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return TRUE;
}

void hv_output_set_cancellable(HvOutput *out, GCancellable *cancellable)
{
	g_clear_object(&out->cancellable);
	out->cancellable = cancellable != NULL ? g_object_ref(cancellable) : NULL;
}

const char *hv_output_get_path(HvOutput *out)
{
	return out->path;
}

const char *hv_output_get_part_path(HvOutput *out)
{
	return out->part;
}

int hv_output_get_fd(HvOutput *out)
{
	return out->fd;
}

void hv_output_free(HvOutput *out)
{
	if (out == NULL)
		return;
	if (!out->committed && out->fd >= 0 && part_is_ours(out))
		unlink(out->part); /* before close: while we still hold the lock */
	if (out->fd >= 0)
		close(out->fd);
	g_clear_object(&out->cancellable);
	g_free(out->path);
	g_free(out->part);
	g_free(out);
}
