/* hv-vm.c — one QEMU VM as the host sees it; see hv-vm.h. */
#include "hv-vm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERIFY_MAX_PAGES 256
#define MAX_CANDIDATE_FDS 64

#define FIX_HINT                                                                          \
	"start QEMU with -object memory-backend-memfd,id=mem0,size=<RAM size>,share=on "  \
	"-machine memory-backend=mem0 (or memory-backend-file,...,share=on)"

struct HvVm {
	HvQmp *qmp;                /* a QMP socket of ours, or */
	const HvMonitorOps *ops;   /* another monitor */
	gpointer mon;
	int timeout_ms;
	pid_t pid;
};

HvVm *hv_vm_new(HvQmp *qmp, int timeout_ms)
{
	HvVm *vm = g_new0(HvVm, 1);

	vm->qmp = qmp;
	vm->timeout_ms = timeout_ms;
	vm->pid = hv_qmp_get_peer_pid(qmp);
	return vm;
}

HvVm *hv_vm_new_monitor(const HvMonitorOps *ops, gpointer mon, pid_t pid, int timeout_ms)
{
	HvVm *vm = g_new0(HvVm, 1);

	vm->ops = ops;
	vm->mon = mon;
	vm->pid = pid;
	vm->timeout_ms = timeout_ms;
	return vm;
}

static json_object *vm_execute(HvVm *vm, const char *command, json_object *args, GError **error)
{
	if (vm->qmp != NULL)
		return hv_qmp_execute(vm->qmp, command, args, vm->timeout_ms, error);
	return vm->ops->execute(vm->mon, command, args, vm->timeout_ms, error);
}

json_object *hv_vm_execute(HvVm *vm, const char *command, json_object *args, GError **error)
{
	return vm_execute(vm, command, args, error);
}

static char *vm_hmp(HvVm *vm, const char *command_line, GError **error)
{
	json_object *args, *ret;
	char *out;

	if (vm->qmp != NULL)
		return hv_qmp_hmp(vm->qmp, command_line, vm->timeout_ms, error);
	args = json_object_new_object();
	json_object_object_add(args, "command-line", json_object_new_string(command_line));
	ret = vm_execute(vm, "human-monitor-command", args, error);
	if (ret == NULL)
		return NULL;
	if (!json_object_is_type(ret, json_type_string)) {
		json_object_put(ret);
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "human-monitor-command '%s' returned no text", command_line);
		return NULL;
	}
	out = g_strdup(json_object_get_string(ret));
	json_object_put(ret);
	return out;
}

HvVm *hv_vm_connect(const char *qmp_path, int timeout_ms, GCancellable *cancellable,
		    GError **error)
{
	HvQmp *qmp = hv_qmp_connect_cancellable(qmp_path, timeout_ms, cancellable, error);

	return qmp != NULL ? hv_vm_new(qmp, timeout_ms) : NULL;
}

void hv_vm_free(HvVm *vm)
{
	if (vm == NULL)
		return;
	hv_qmp_free(vm->qmp);
	if (vm->ops != NULL)
		vm->ops->free(vm->mon);
	g_free(vm);
}

HvQmp *hv_vm_get_qmp(HvVm *vm)
{
	return vm->qmp;
}

pid_t hv_vm_get_pid(HvVm *vm)
{
	return vm->pid;
}

void hv_vm_set_timeout(HvVm *vm, int timeout_ms)
{
	vm->timeout_ms = timeout_ms;
}

void hv_vm_set_pid(HvVm *vm, pid_t pid)
{
	vm->pid = pid;
}

void hv_vm_set_cancellable(HvVm *vm, GCancellable *cancellable)
{
	if (vm->qmp != NULL)
		hv_qmp_set_cancellable(vm->qmp, cancellable);
	else if (vm->ops->set_cancellable != NULL)
		vm->ops->set_cancellable(vm->mon, cancellable);
}

/* ---- run state ---------------------------------------------------------- */

gboolean hv_vm_query_status(HvVm *vm, char **status_ret, gboolean *running_ret, GError **error)
{
	json_object *st = vm_execute(vm, "query-status", NULL, error);
	gboolean running = FALSE;

	if (st == NULL)
		return FALSE;
	hv_json_get_bool(st, "running", &running);
	if (status_ret != NULL)
		*status_ret = g_strdup(hv_json_get_string(st, "status"));
	if (running_ret != NULL)
		*running_ret = running;
	json_object_put(st);
	return TRUE;
}

static gboolean simple_command(HvVm *vm, const char *cmd, GError **error)
{
	json_object *r = vm_execute(vm, cmd, NULL, error);

	if (r == NULL)
		return FALSE;
	json_object_put(r);
	return TRUE;
}

gboolean hv_vm_pause(HvVm *vm, gboolean *was_running_ret, char **status_ret, GError **error)
{
	gboolean running = FALSE;

	*was_running_ret = FALSE;
	if (!hv_vm_query_status(vm, status_ret, &running, error))
		return FALSE;
	/* set before "stop" is sent: whoever pauses must resume, even when the
	 * answer never comes */
	*was_running_ret = running;
	return !running || simple_command(vm, "stop", error);
}

gboolean hv_vm_resume(HvVm *vm, GError **error)
{
	return simple_command(vm, "cont", error);
}

gboolean hv_vm_quit(HvVm *vm, GError **error)
{
	return simple_command(vm, "quit", error);
}

#define RESET_WAIT_MS 5000
#define RESET_POLL_MS 20

gboolean hv_vm_reset(HvVm *vm, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + RESET_WAIT_MS * 1000;
	gboolean running = FALSE;

	if (!simple_command(vm, "system_reset", error))
		return FALSE;
	/* QEMU resets in its main loop, after answering; until then a
	 * guest-panicked VM refuses "cont" */
	for (;;) {
		g_autofree char *status = NULL;

		if (!hv_vm_query_status(vm, &status, &running, error))
			return FALSE;
		if (running)
			return TRUE;
		if (g_strcmp0(status, "guest-panicked") != 0 && g_strcmp0(status, "internal-error") != 0)
			break;
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
				    "the VM is still %s %d s after system_reset", status,
				    RESET_WAIT_MS / 1000);
			return FALSE;
		}
		g_usleep(RESET_POLL_MS * 1000);
	}
	/* a reset VM that was paused (guest-panicked, our stop) stays paused */
	return simple_command(vm, "cont", error);
}

#define DUMP_POLL_MS 200

gboolean hv_vm_dump_guest_memory(HvVm *vm, int fd, const char *path, int timeout_s,
				 GError **error)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
	json_object *args, *r;

	if (vm->qmp == NULL) {
		if (vm->ops->dump_guest_memory == NULL) {
			g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
				    "this monitor cannot run QEMU's dump-guest-memory");
			return FALSE;
		}
		return vm->ops->dump_guest_memory(vm->mon, fd, path, error);
	}
	/* QEMU may run as another user: it gets our open NAME.part, not a path */
	args = json_object_new_object();
	json_object_object_add(args, "fdname", json_object_new_string("hvdump-dump"));
	r = hv_qmp_execute_with_fd(vm->qmp, "getfd", args, fd, vm->timeout_ms, error);
	if (r == NULL)
		return FALSE;
	json_object_put(r);
	args = json_object_new_object();
	json_object_object_add(args, "paging", json_object_new_boolean(FALSE));
	json_object_object_add(args, "protocol", json_object_new_string("fd:hvdump-dump"));
	json_object_object_add(args, "detach", json_object_new_boolean(TRUE));
	r = vm_execute(vm, "dump-guest-memory", args, error);
	if (r == NULL)
		return FALSE;
	json_object_put(r);
	for (;;) {
		const char *status;
		g_autofree char *st = NULL;

		r = vm_execute(vm, "query-dump", NULL, error);
		if (r == NULL)
			return FALSE;
		status = hv_json_get_string(r, "status");
		st = g_strdup(status != NULL ? status : "?");
		json_object_put(r);
		if (strcmp(st, "completed") == 0)
			return TRUE;
		if (strcmp(st, "active") != 0) {
			g_autofree char *p = hv_printable_dup(st);

			g_set_error(error, HV_ERROR, HV_ERROR_IO, "QEMU's dump-guest-memory ended '%s'", p);
			return FALSE;
		}
		if (g_get_monotonic_time() > deadline) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO,
				    "QEMU's dump-guest-memory did not finish within %d s", timeout_s);
			return FALSE;
		}
		g_usleep(DUMP_POLL_MS * 1000);
	}
}

/* ---- machine state ------------------------------------------------------ */

void hv_machine_state_clear(HvMachineState *st)
{
	if (st->cpus != NULL)
		g_array_unref(st->cpus);
	hv_ram_source_free(st->ram);
	memset(st, 0, sizeof(*st));
}

static char *hmp_text(HvVm *vm, const char *cmd, GError **error)
{
	char *t = vm_hmp(vm, cmd, error);

	if (t == NULL)
		g_prefix_error(error, "reading machine state (%s): ", cmd);
	return t;
}

/* ---- the RAM backend behind the guest's RAM ----------------------------- */

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

static GArray *query_memdevs(HvVm *vm, GError **error)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(Memdev));
	json_object *ret = vm_execute(vm, "query-memdev", NULL, error);
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
		pr = vm_execute(vm, "qom-get", args, NULL);
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
static gboolean qemu_xp(HvVm *vm, guint64 gpa, guint64 out[2], GError **error)
{
	g_autofree char *cmd = g_strdup_printf("xp /2gx 0x%" PRIx64, gpa);
	g_autofree char *text = vm_hmp(vm, cmd, error);
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

static int pick_backend_fd(HvVm *vm, pid_t pid, const Memdev *m, GArray *ram_map,
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
		if (!qemu_xp(vm, gpa, qemu, error))
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

static gint cmp_file(gconstpointer a, gconstpointer b)
{
	const HvRamFile *x = a, *y = b;

	return x->region.gpa < y->region.gpa ? -1 : x->region.gpa > y->region.gpa;
}

static HvRamSource *open_ram(HvVm *vm, GArray *ram_map, GError **error)
{
	g_autoptr(GArray) memdevs = NULL;
	g_autoptr(GArray) files = g_array_new(FALSE, TRUE, sizeof(HvRamFile));
	g_autoptr(GArray) fds = g_array_new(FALSE, FALSE, sizeof(int));
	HvRamSource *src = NULL;
	guint i, j;

	if (vm->pid <= 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
			    "cannot tell QEMU's pid (SO_PEERCRED on the QMP socket gave none)");
		return NULL;
	}
	memdevs = query_memdevs(vm, error);
	if (memdevs == NULL)
		return NULL;
	for (i = 0; i < memdevs->len; i++) {
		const Memdev *m = &g_array_index(memdevs, Memdev, i);
		gboolean used = FALSE;
		int fd;

		for (j = 0; j < ram_map->len; j++)
			used |= strcmp(g_array_index(ram_map, HvRamRange, j).region, m->id) == 0;
		if (!used)
			continue;
		if (!m->share) {
			g_set_error(error, HV_ERROR, HV_ERROR_NOT_SHARED,
				    "guest RAM backend '%s' is not shared (share=off): %s", m->id,
				    FIX_HINT);
			goto out;
		}
		fd = pick_backend_fd(vm, vm->pid, m, ram_map, error);
		if (fd < 0)
			goto out;
		g_array_append_val(fds, fd);
		for (j = 0; j < ram_map->len; j++) {
			const HvRamRange *x = &g_array_index(ram_map, HvRamRange, j);
			HvRamFile f = { .fd = fd, .fd_offset = x->offset };

			if (strcmp(x->region, m->id) != 0)
				continue;
			f.region.gpa = x->gpa;
			f.region.size = x->size;
			g_strlcpy(f.region.name, x->region, sizeof(f.region.name));
			g_array_append_val(files, f);
		}
	}
	/* device RAM (VGA, ...) has no memdev: it is not guest RAM */
	if (files->len == 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_NOT_SHARED,
			    "guest RAM is not in a memory backend hvdump can read: %s", FIX_HINT);
		goto out;
	}
	g_array_sort(files, cmp_file);
	src = hv_ram_source_new_files((HvRamFile *)files->data, files->len, error);
out:
	for (i = 0; i < fds->len; i++)
		close(g_array_index(fds, int, i));
	return src;
}

gboolean hv_vm_read_state(HvVm *vm, HvMachineState *st, GError **error)
{
	g_autofree char *regs_text = NULL, *mtree_text = NULL;
	g_autoptr(GArray) ram_map = NULL;

	memset(st, 0, sizeof(*st));
	/* RAM first: an unreadable backend is the error users must fix first */
	mtree_text = hmp_text(vm, "info mtree -f", error);
	if (mtree_text == NULL)
		return FALSE;
	ram_map = hv_parse_mtree(mtree_text, strlen(mtree_text), error);
	if (ram_map == NULL)
		return FALSE;
	st->ram = open_ram(vm, ram_map, error);
	if (st->ram == NULL)
		return FALSE;
	regs_text = hmp_text(vm, "info registers -a", error);
	if (regs_text == NULL)
		goto fail;
	st->cpus = hv_parse_registers(regs_text, strlen(regs_text), error);
	if (st->cpus == NULL)
		goto fail;
	return TRUE;
fail:
	hv_machine_state_clear(st);
	return FALSE;
}
