/* hv-ramsrc-fd.c — guest RAM in QEMU's RAM backend files (memfd, file,
 * hugetlbfs); see hv-ramsrc.h.
 *
 * Regular files and memfds are mapped read-only (MAP_NORESERVE) and read by
 * their SEEK_DATA/SEEK_HOLE extents, so untouched guest RAM is neither read
 * nor faulted in on the host. hugetlbfs files are never mapped: SEEK_DATA
 * calls every offset data there, and touching an unallocated huge page
 * through a mapping allocates it (or SIGBUSes when the pool is empty); pread
 * returns zeros for holes and allocates nothing.
 */
#include "hv-ramsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGETLBFS_MAGIC 0x958458f6

typedef struct {
	int fd;               /* owned (a dup of the caller's) */
	guint64 size;         /* file size */
	guint8 *map;          /* NULL: read with pread */
	gboolean seekable;    /* SEEK_DATA works */
	int caller_fd;        /* the fd it was duplicated from */
} File;

typedef struct {
	guint file;           /* index into files */
	guint64 fd_offset;
} Place;

typedef struct {
	HvRamSource base;
	GArray *files;        /* File */
	GArray *places;       /* Place, one per region */
} FdSource;

static gboolean pread_all(int fd, void *buf, gsize len, guint64 off)
{
	guint8 *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO; /* the file is shorter than it was */
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return TRUE;
}

static File *file_of(FdSource *s, guint i, guint64 *fd_offset_ret)
{
	const Place *pl = &g_array_index(s->places, Place, i);

	*fd_offset_ret = pl->fd_offset;
	return &g_array_index(s->files, File, pl->file);
}

static gboolean fd_read(HvRamSource *src, guint i, guint64 rel, void *buf, gsize len,
			GError **error)
{
	FdSource *s = (FdSource *)src;
	guint64 base;
	File *f = file_of(s, i, &base);

	if (!pread_all(f->fd, buf, len, base + rel)) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "reading RAM backend %s at 0x%" PRIx64 ": %s",
			    hv_ram_source_region(src, i)->name, base + rel, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean fd_next_data(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
			     guint64 *len_ret, GError **error)
{
	FdSource *s = (FdSource *)src;
	const HvRamRegion *r = hv_ram_source_region(src, i);
	guint64 base;
	File *f = file_of(s, i, &base);
	off_t data, hole, lim = (off_t)(base + r->size);

	if (!f->seekable) {
		*off_ret = *cursor;
		*len_ret = r->size - *cursor;
		*cursor = r->size;
		return TRUE;
	}
	data = lseek(f->fd, (off_t)(base + *cursor), SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) {
			*cursor = r->size;
			return FALSE;
		}
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "SEEK_DATA in RAM backend %s: %s", r->name,
			    g_strerror(errno));
		return FALSE;
	}
	if (data >= lim) {
		*cursor = r->size;
		return FALSE;
	}
	hole = lseek(f->fd, data, SEEK_HOLE);
	if (hole < 0 || hole > lim)
		hole = lim;
	*off_ret = (guint64)data - base;
	*len_ret = (guint64)(hole - data);
	*cursor = (guint64)hole - base;
	return TRUE;
}

static const guint8 *fd_map(HvRamSource *src, guint i, guint64 off, guint64 len)
{
	FdSource *s = (FdSource *)src;
	guint64 base;
	File *f = file_of(s, i, &base);

	(void)len;
	return f->map != NULL ? f->map + base + off : NULL;
}

static void fd_free(HvRamSource *src)
{
	FdSource *s = (FdSource *)src;
	guint i;

	for (i = 0; s->files != NULL && i < s->files->len; i++) {
		File *f = &g_array_index(s->files, File, i);

		if (f->map != NULL)
			munmap(f->map, f->size);
		if (f->fd >= 0)
			close(f->fd);
	}
	if (s->files != NULL)
		g_array_unref(s->files);
	if (s->places != NULL)
		g_array_unref(s->places);
	g_free(s);
}

static const HvRamSourceOps fd_ops = {
	.kind = "RAM backend file",
	.read = fd_read,
	.next_data = fd_next_data,
	.map = fd_map,
	.free = fd_free,
};

static gboolean is_hugetlbfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
}

static gboolean open_file(File *f, int caller_fd, const char *name, GError **error)
{
	struct stat st;

	f->caller_fd = caller_fd;
	f->fd = fcntl(caller_fd, F_DUPFD_CLOEXEC, 3);
	if (f->fd < 0 || fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, HV_ERROR, HV_ERROR_NOT_SHARED,
			    "RAM backend %s is not a regular file", name);
		return FALSE;
	}
	f->size = (guint64)st.st_size;
	f->seekable = lseek(f->fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
	if (is_hugetlbfs(f->fd) || f->size == 0)
		return TRUE;
	f->map = mmap(NULL, f->size, PROT_READ, MAP_SHARED | MAP_NORESERVE, f->fd, 0);
	if (f->map == MAP_FAILED) {
		f->map = NULL;
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED, "cannot map RAM backend %s: %s", name,
			    g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

HvRamSource *hv_ram_source_new_files(const HvRamFile *files, guint n, GError **error)
{
	FdSource *s = g_new0(FdSource, 1);
	g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(HvRamRegion));
	guint i, j;

	s->files = g_array_new(FALSE, TRUE, sizeof(File));
	s->places = g_array_new(FALSE, TRUE, sizeof(Place));
	hv_ram_source_init(&s->base, &fd_ops, NULL, 0);
	for (i = 0; i < n; i++) {
		const HvRamFile *x = &files[i];
		Place pl = { .fd_offset = x->fd_offset };
		File *f = NULL;

		for (j = 0; j < s->files->len && f == NULL; j++) {
			if (g_array_index(s->files, File, j).caller_fd == x->fd) {
				f = &g_array_index(s->files, File, j);
				pl.file = j;
			}
		}
		if (f == NULL) {
			File nf = { .fd = -1 };
			gboolean ok = open_file(&nf, x->fd, x->region.name, error);

			g_array_append_val(s->files, nf);
			if (!ok)
				goto fail;
			pl.file = s->files->len - 1;
			f = &g_array_index(s->files, File, pl.file);
		}
		if (x->fd_offset > f->size || x->region.size > f->size - x->fd_offset) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "RAM range 0x%" PRIx64 "+0x%" PRIx64 " lies outside backend %s",
				    x->region.gpa, x->region.size, x->region.name);
			goto fail;
		}
		g_array_append_val(s->places, pl);
		g_array_append_val(regions, x->region);
	}
	g_array_append_vals(s->base.regions, regions->data, regions->len);
	return &s->base;
fail:
	hv_ram_source_free(&s->base);
	return NULL;
}
