/* hv-guestmem.c — QEMU RAM backends mapped read-only; see hv-guestmem.h. */
#include "hv-guestmem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define QMP_TIMEOUT_MS 10000
#define VERIFY_MAX_PAGES 256
#define MAX_CANDIDATE_FDS 64
#define HUGETLBFS_MAGIC 0x958458f6

#define FIX_HINT                                                                          \
	"start QEMU with -object memory-backend-memfd,id=mem0,size=<RAM size>,share=on "  \
	"-machine memory-backend=mem0 (or memory-backend-file,...,share=on)"

typedef struct {
	char *id;
	int fd;
	guint64 size;
	guint8 *map;
} Backend;

struct HvGuestMem {
	GArray *ranges;     /* HvGuestRange */
	GPtrArray *backends; /* Backend* */
	guint8 *bounce;     /* HV_GUESTMEM_CHUNK bytes for unmapped ranges */
	GCancellable *cancellable;
};

static void backend_free(gpointer p)
{
	Backend *b = p;

	if (b->map != NULL && b->map != MAP_FAILED)
		munmap(b->map, b->size);
	if (b->fd >= 0)
		close(b->fd);
	g_free(b->id);
	g_free(b);
}

void hv_guestmem_free(HvGuestMem *mem)
{
	if (mem == NULL)
		return;
	g_array_unref(mem->ranges);
	g_ptr_array_unref(mem->backends);
	g_free(mem->bounce);
	g_clear_object(&mem->cancellable);
	g_free(mem);
}

static HvGuestMem *guestmem_new(void)
{
	HvGuestMem *mem = g_new0(HvGuestMem, 1);

	mem->ranges = g_array_new(FALSE, TRUE, sizeof(HvGuestRange));
	mem->backends = g_ptr_array_new_with_free_func(backend_free);
	return mem;
}

HvGuestMem *hv_guestmem_new_static(const HvGuestRange *ranges, guint n)
{
	HvGuestMem *mem = guestmem_new();
	guint i;

	for (i = 0; i < n; i++) {
		HvGuestRange r = ranges[i];

		r.fd = -1;
		r.seekable = FALSE;
		g_array_append_val(mem->ranges, r);
	}
	return mem;
}

void hv_guestmem_set_cancellable(HvGuestMem *mem, GCancellable *cancellable)
{
	g_clear_object(&mem->cancellable);
	mem->cancellable = cancellable != NULL ? g_object_ref(cancellable) : NULL;
}

guint hv_guestmem_n_ranges(HvGuestMem *mem)
{
	return mem->ranges->len;
}

const HvGuestRange *hv_guestmem_range(HvGuestMem *mem, guint i)
{
	return &g_array_index(mem->ranges, HvGuestRange, i);
}

guint64 hv_guestmem_total(HvGuestMem *mem)
{
	guint64 t = 0;
	guint i;

	for (i = 0; i < mem->ranges->len; i++)
		t += g_array_index(mem->ranges, HvGuestRange, i).size;
	return t;
}

static gboolean pread_all(int fd, void *buf, gsize len, guint64 off)
{
	guint8 *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		p += n;
		len -= (gsize)n;
		off += (guint64)n;
	}
	return TRUE;
}

gboolean hv_guestmem_read(HvGuestMem *mem, guint64 gpa, void *buf, gsize len)
{
	guint i;

	for (i = 0; i < mem->ranges->len; i++) {
		const HvGuestRange *r = &g_array_index(mem->ranges, HvGuestRange, i);
		guint64 rel;

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		rel = gpa - r->gpa;
		if (len > r->size - rel)
			return FALSE;
		if (r->fd >= 0)
			return pread_all(r->fd, buf, len, r->fd_offset + rel);
		memcpy(buf, r->host + rel, len);
		return TRUE;
	}
	return FALSE;
}

gboolean hv_guestmem_next_data(HvGuestMem *mem, guint i, guint64 *cursor, guint64 *off_ret,
			       guint64 *len_ret, GError **error)
{
	const HvGuestRange *r = &g_array_index(mem->ranges, HvGuestRange, i);
	off_t data, hole, lim = (off_t)(r->fd_offset + r->size);

	if (*cursor >= r->size)
		return FALSE;
	if (r->fd < 0 || !r->seekable) {
		*off_ret = *cursor;
		*len_ret = r->size - *cursor;
		*cursor = r->size;
		return TRUE;
	}
	data = lseek(r->fd, (off_t)(r->fd_offset + *cursor), SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) {
			*cursor = r->size;
			return FALSE;
		}
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "SEEK_DATA in RAM backend %s: %s",
			    r->region, g_strerror(errno));
		return FALSE;
	}
	if (data >= lim) {
		*cursor = r->size;
		return FALSE;
	}
	hole = lseek(r->fd, data, SEEK_HOLE);
	if (hole < 0 || hole > lim)
		hole = lim;
	*off_ret = (guint64)data - r->fd_offset;
	*len_ret = (guint64)(hole - data);
	*cursor = (guint64)hole - r->fd_offset;
	return TRUE;
}

gboolean hv_guestmem_next_chunk(HvGuestMem *mem, guint i, guint64 *cursor, guint64 *off_ret,
				guint64 *len_ret, const guint8 **data_ret, GError **error)
{
	const HvGuestRange *r = &g_array_index(mem->ranges, HvGuestRange, i);

	if (!hv_guestmem_next_data(mem, i, cursor, off_ret, len_ret, error))
		return FALSE;
	if (r->host != NULL) {
		*data_ret = r->host + *off_ret;
		return TRUE;
	}
	/* not mapped (hugetlbfs): read a bounded chunk; holes read as zeros
	 * without allocating anything in the backend */
	if (*len_ret > HV_GUESTMEM_CHUNK) {
		*len_ret = HV_GUESTMEM_CHUNK;
		*cursor = *off_ret + HV_GUESTMEM_CHUNK;
	}
	if (mem->bounce == NULL)
		mem->bounce = g_malloc(HV_GUESTMEM_CHUNK);
	errno = 0;
	if (!pread_all(r->fd, mem->bounce, (gsize)*len_ret, r->fd_offset + *off_ret)) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO,
			    "reading RAM backend %s at 0x%" PRIx64 ": %s", r->region,
			    r->fd_offset + *off_ret, errno ? g_strerror(errno) : "short read");
		return FALSE;
	}
	*data_ret = mem->bounce;
	return TRUE;
}

gboolean hv_guestmem_scan_pages(HvGuestMem *mem, HvPageFunc fn, gpointer user_data,
				GError **error)
{
	guint64 pages = 0;
	guint i;

	for (i = 0; i < mem->ranges->len; i++) {
		const HvGuestRange *r = &g_array_index(mem->ranges, HvGuestRange, i);
		guint64 cursor = 0, off, len;
		const guint8 *data;
		GError *local = NULL;

		while (hv_guestmem_next_chunk(mem, i, &cursor, &off, &len, &data, &local)) {
			guint64 p = (off + 4095) & ~(guint64)4095;

			for (; p + 4096 <= off + len; p += 4096) {
				if ((++pages & 4095) == 0 &&
				    g_cancellable_set_error_if_cancelled(mem->cancellable, error))
					return FALSE;
				if (!fn(user_data, r->gpa + p, data + (p - off)))
					return TRUE;
			}
		}
		if (local != NULL) {
			g_propagate_error(error, local);
			return FALSE;
		}
	}
	return TRUE;
}

/* ---- attaching to QEMU ------------------------------------------------- */

typedef struct {
	char *id;
	guint64 size;
	gboolean share;
	char *mem_path; /* NULL for memfd/anonymous */
} Memdev;

static void memdev_clear(gpointer p)
{
	Memdev *m = p;

	g_free(m->id);
	g_free(m->mem_path);
}

static GArray *query_memdevs(HvQmp *qmp, GError **error)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(Memdev));
	json_object *ret = hv_qmp_execute(qmp, "query-memdev", NULL, QMP_TIMEOUT_MS, error);
	gsize i, n;

	g_array_set_clear_func(out, memdev_clear);
	if (ret == NULL)
		return NULL;
	if (!json_object_is_type(ret, json_type_array)) {
		json_object_put(ret);
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "query-memdev: not an array");
		return NULL;
	}
	n = MIN(json_object_array_length(ret), (gsize)HV_MAX_RAM_RANGES);
	for (i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(ret, i);
		const char *id = hv_json_get_string(o, "id");
		gint64 size = 0;
		Memdev m = { 0 };
		g_autofree char *path = NULL;
		json_object *args, *pr;

		if (id == NULL || !hv_json_get_int64(o, "size", &size) || size <= 0)
			continue;
		m.id = g_strdup(id);
		m.size = (guint64)size;
		hv_json_get_bool(o, "share", &m.share);
		path = g_strdup_printf("/objects/%s", id);
		args = json_object_new_object();
		json_object_object_add(args, "path", json_object_new_string(path));
		json_object_object_add(args, "property", json_object_new_string("mem-path"));
		pr = hv_qmp_execute(qmp, "qom-get", args, QMP_TIMEOUT_MS, NULL);
		if (pr != NULL) {
			if (json_object_is_type(pr, json_type_string))
				m.mem_path = g_strdup(json_object_get_string(pr));
			json_object_put(pr);
		}
		g_array_append_val(out, m);
	}
	json_object_put(ret);
	return g_steal_pointer(&out);
}

/* Candidate fds in /proc/PID/fd for a memdev, opened read-only. The link
 * target names the file; what is behind it is checked on an O_PATH handle
 * first (a FIFO or device there must never be opened: that can block or
 * have side effects), then the very same inode is reopened for reading. */
static GArray *candidate_fds(pid_t pid, const Memdev *m, GError **error)
{
	g_autofree char *dirpath = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autoptr(GDir) dir = g_dir_open(dirpath, 0, error);
	GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
	const char *name;
	guint seen = 0;

	if (dir == NULL) {
		g_array_unref(fds);
		g_prefix_error(error, "cannot list QEMU's files (pid %d): ", (int)pid);
		return NULL;
	}
	while ((name = g_dir_read_name(dir)) != NULL && fds->len < MAX_CANDIDATE_FDS &&
	       seen < 65536) {
		g_autofree char *p = g_build_filename(dirpath, name, NULL);
		g_autofree char *link = NULL;
		g_autofree char *self = NULL;
		gboolean match;
		struct stat st;
		int pfd, fd;

		seen++;
		link = g_file_read_link(p, NULL);
		if (link == NULL)
			continue;
		if (m->mem_path != NULL)
			match = g_str_has_prefix(link, m->mem_path);
		else
			match = g_str_has_prefix(link, "/memfd:");
		if (!match)
			continue;
		pfd = open(p, O_PATH | O_CLOEXEC);
		if (pfd < 0)
			continue;
		if (fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode) || (guint64)st.st_size != m->size) {
			close(pfd);
			continue;
		}
		self = g_strdup_printf("/proc/self/fd/%d", pfd);
		fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		close(pfd);
		if (fd < 0)
			continue;
		g_array_append_val(fds, fd);
	}
	return fds;
}

/* Reads QEMU's own view of two qwords at gpa through HMP `xp`. */
static gboolean qemu_xp(HvQmp *qmp, guint64 gpa, guint64 out[2], GError **error)
{
	g_autofree char *cmd = g_strdup_printf("xp /2gx 0x%" PRIx64, gpa);
	g_autofree char *text = hv_qmp_hmp(qmp, cmd, QMP_TIMEOUT_MS, error);
	const char *colon;
	guint n = 0;
	g_auto(GStrv) tok = NULL;
	guint i;

	if (text == NULL)
		return FALSE;
	colon = strchr(text, ':');
	if (colon == NULL)
		goto bad;
	tok = g_strsplit_set(colon + 1, " \r\n", 16);
	for (i = 0; tok[i] != NULL && n < 2; i++) {
		const char *t = tok[i];

		if (*t == '\0')
			continue;
		if (g_str_has_prefix(t, "0x"))
			t += 2;
		if (!g_ascii_string_to_unsigned(t, 16, 0, G_MAXUINT64, &out[n], NULL))
			goto bad;
		n++;
	}
	if (n == 2)
		return TRUE;
bad:
	g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "cannot parse HMP xp output: %.60s", text);
	return FALSE;
}

/* Finds some non-zero bytes of the candidate inside range r, returns its gpa
 * and the two qwords there. FALSE when nothing non-zero was found nearby. */
static gboolean sample_candidate(int fd, const HvRamRange *r, guint64 *gpa_ret, guint64 v[2])
{
	off_t pos = (off_t)r->offset, lim = (off_t)(r->offset + r->size);
	guint pages = 0;
	guint8 page[4096];

	while (pos < lim && pages < VERIFY_MAX_PAGES) {
		off_t d = lseek(fd, pos, SEEK_DATA);
		gsize j;

		if (d < 0) {
			if (errno != EINVAL)
				return FALSE;
			d = pos; /* no SEEK_DATA: read sequentially */
		}
		if (d >= lim)
			return FALSE;
		d &= ~(off_t)4095;
		if (d < (off_t)r->offset)
			d = (off_t)r->offset;
		if (pread(fd, page, sizeof(page), d) != (ssize_t)sizeof(page))
			return FALSE;
		for (j = 0; j + 16 <= sizeof(page) && (off_t)(d + (off_t)j + 16) <= lim; j += 16) {
			memcpy(v, page + j, 16);
			if (v[0] != 0 || v[1] != 0) {
				*gpa_ret = r->gpa + ((guint64)d + j - r->offset);
				return TRUE;
			}
		}
		pos = d + (off_t)sizeof(page);
		pages++;
	}
	return FALSE;
}

static gboolean is_hugetlbfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == HUGETLBFS_MAGIC;
}

static int pick_backend_fd(HvQmp *qmp, pid_t pid, const Memdev *m, GArray *ram_map,
			   GError **error)
{
	g_autoptr(GArray) fds = candidate_fds(pid, m, error);
	const HvRamRange *r = NULL;
	int chosen = -1;
	guint i, j;

	if (fds == NULL)
		return -1;
	for (i = 0; i < ram_map->len && r == NULL; i++) {
		const HvRamRange *x = &g_array_index(ram_map, HvRamRange, i);

		if (strcmp(x->region, m->id) == 0)
			r = x;
	}
	for (i = 0; i < fds->len && r != NULL; i++) {
		int fd = g_array_index(fds, int, i);
		guint64 gpa, mine[2], qemu[2];

		if (!sample_candidate(fd, r, &gpa, mine))
			continue;
		if (!qemu_xp(qmp, gpa, qemu, error))
			goto out;
		if (mine[0] == qemu[0] && mine[1] == qemu[1]) {
			chosen = fd;
			break;
		}
	}
	if (chosen < 0 && fds->len == 1 && r != NULL) {
		/* nothing non-zero to compare yet (fresh guest): size match only */
		guint64 gpa, v[2];

		if (!sample_candidate(g_array_index(fds, int, 0), r, &gpa, v))
			chosen = g_array_index(fds, int, 0);
	}
	if (chosen < 0)
		g_set_error(error, HV_ERROR, HV_ERROR_NOT_SHARED,
			    "cannot find the file behind RAM backend '%s' in QEMU pid %d "
			    "(%u candidates, none holds the guest's RAM): %s",
			    m->id, (int)pid, fds->len, FIX_HINT);
out:
	for (j = 0; j < fds->len; j++) {
		int fd = g_array_index(fds, int, j);

		if (fd != chosen)
			close(fd);
	}
	return chosen;
}

HvGuestMem *hv_guestmem_open(HvQmp *qmp, GArray *ram_map, GError **error)
{
	g_autoptr(HvGuestMem) mem = guestmem_new();
	g_autoptr(GArray) memdevs = NULL;
	pid_t pid = hv_qmp_get_peer_pid(qmp);
	guint i, j;

	if (pid <= 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "cannot tell QEMU's pid from the QMP socket (SO_PEERCRED)");
		return NULL;
	}
	memdevs = query_memdevs(qmp, error);
	if (memdevs == NULL)
		return NULL;

	for (i = 0; i < memdevs->len; i++) {
		const Memdev *m = &g_array_index(memdevs, Memdev, i);
		gboolean used = FALSE;
		Backend *b;
		int fd;

		for (j = 0; j < ram_map->len; j++)
			used |= strcmp(g_array_index(ram_map, HvRamRange, j).region, m->id) == 0;
		if (!used)
			continue;
		if (!m->share) {
			g_set_error(error, HV_ERROR, HV_ERROR_NOT_SHARED,
				    "guest RAM backend '%s' is not shared (share=off): %s", m->id,
				    FIX_HINT);
			return NULL;
		}
		fd = pick_backend_fd(qmp, pid, m, ram_map, error);
		if (fd < 0)
			return NULL;
		b = g_new0(Backend, 1);
		b->id = g_strdup(m->id);
		b->fd = fd;
		b->size = m->size;
		if (is_hugetlbfs(fd)) {
			/* every hugetlbfs offset is "data" to SEEK_DATA, and touching
			 * an unallocated huge page through a mapping allocates it
			 * (or SIGBUSes when the pool is empty): read it with pread,
			 * which returns zeros for holes and allocates nothing */
			b->map = NULL;
		} else {
			b->map = mmap(NULL, b->size, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
		}
		if (b->map == MAP_FAILED) {
			g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
				    "cannot map RAM backend '%s': %s", m->id, g_strerror(errno));
			backend_free(b);
			return NULL;
		}
		g_ptr_array_add(mem->backends, b);
	}

	for (i = 0; i < ram_map->len; i++) {
		const HvRamRange *x = &g_array_index(ram_map, HvRamRange, i);
		HvGuestRange r = { 0 };
		Backend *b = NULL;

		for (j = 0; j < mem->backends->len && b == NULL; j++) {
			Backend *c = g_ptr_array_index(mem->backends, j);

			if (strcmp(c->id, x->region) == 0)
				b = c;
		}
		if (b == NULL)
			continue; /* device RAM (VGA, ...) is not guest RAM */
		if (x->offset > b->size || x->size > b->size - x->offset) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "RAM range 0x%" PRIx64 "+0x%" PRIx64 " lies outside backend '%s'",
				    x->gpa, x->size, b->id);
			return NULL;
		}
		r.gpa = x->gpa;
		r.size = x->size;
		r.fd = b->fd;
		r.fd_offset = x->offset;
		r.host = b->map != NULL ? b->map + x->offset : NULL;
		r.seekable = lseek(b->fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
		g_strlcpy(r.region, x->region, sizeof(r.region));
		g_array_append_val(mem->ranges, r);
	}
	if (mem->ranges->len == 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_NOT_SHARED,
			    "guest RAM is not in a memory backend hvdump can read: %s", FIX_HINT);
		return NULL;
	}
	return g_steal_pointer(&mem);
}
