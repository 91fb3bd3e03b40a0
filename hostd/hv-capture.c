/* hv-capture.c — the capture engine; see hv-capture.h. */
#include "hv-capture.h"

#include <inttypes.h>
#include <string.h>

#include "hv-guestmem.h"
#include "hv-kernel.h"
#include "hv-machine.h"

typedef struct {
	HvGuestMem *mem;
	guint *range_of_load;   /* owning load index → guest range index */
	guint64 cursor;
	guint current;
} ExtentIter;

static gboolean next_extent(gpointer user_data, guint index, guint64 *offset_ret,
			    guint64 *len_ret, const guint8 **data_ret, GError **error)
{
	ExtentIter *it = user_data;
	guint r = it->range_of_load[index];

	if (it->current != index) {
		it->current = index;
		it->cursor = 0;
	}
	if (!hv_guestmem_next_data(it->mem, r, &it->cursor, offset_ret, len_ret, error))
		return FALSE;
	*data_ret = hv_guestmem_range(it->mem, r)->host + *offset_ret;
	return TRUE;
}

void hv_capture_result_clear(HvCaptureResult *res)
{
	if (res->warnings != NULL)
		g_ptr_array_unref(res->warnings);
	memset(res, 0, sizeof(*res));
}

static char *hmp_text(HvQmp *qmp, const char *cmd, int timeout_ms, GError **error)
{
	char *t = hv_qmp_hmp(qmp, cmd, timeout_ms, error);

	if (t == NULL)
		g_prefix_error(error, "reading machine state (%s): ", cmd);
	return t;
}

gboolean hv_capture(HvQmp *qmp, HvOutput *out, const HvCaptureOptions *opt,
		    HvCaptureResult *res, GError **error)
{
	gint64 t0 = g_get_monotonic_time();
	g_autofree char *regs_text = NULL, *mtree_text = NULL, *vmci = NULL;
	g_autoptr(GArray) cpus = NULL, ram_map = NULL;
	g_autoptr(HvGuestMem) mem = NULL;
	g_autoptr(GByteArray) notes = g_byte_array_new();
	g_autoptr(GArray) loads = g_array_new(FALSE, TRUE, sizeof(HvElfLoad));
	g_autofree guint *range_of_load = NULL;
	HvKernelInfo ki;
	ExtentIter it;
	guint i, nranges;
	gboolean ok = FALSE;

	memset(res, 0, sizeof(*res));
	res->warnings = g_ptr_array_new_with_free_func(g_free);
	/* RAM first: an unreadable backend is the error users must fix first */
	mtree_text = hmp_text(qmp, "info mtree -f", opt->qmp_timeout_ms, error);
	if (mtree_text == NULL)
		return FALSE;
	ram_map = hv_parse_mtree(mtree_text, strlen(mtree_text), error);
	if (ram_map == NULL)
		return FALSE;
	mem = hv_guestmem_open(qmp, ram_map, error);
	if (mem == NULL)
		return FALSE;
	regs_text = hmp_text(qmp, "info registers -a", opt->qmp_timeout_ms, error);
	if (regs_text == NULL)
		return FALSE;
	cpus = hv_parse_registers(regs_text, strlen(regs_text), error);
	if (cpus == NULL)
		return FALSE;
	if (!hv_kernel_discover(mem, cpus, opt->vmcoreinfo_paddr, &ki, error))
		return FALSE;
	for (i = 0; i < ki.warnings->len; i++)
		g_ptr_array_add(res->warnings, g_strdup(g_ptr_array_index(ki.warnings, i)));

	/* notes: all PRSTATUS, then all QEMU CPU states (QEMU's order), then VMCOREINFO */
	for (i = 0; i < cpus->len; i++)
		hv_note_append_prstatus(notes, &g_array_index(cpus, HvVcpuRegs, i), i + 1);
	for (i = 0; i < cpus->len; i++)
		hv_note_append_qemu_cpustate(notes, &g_array_index(cpus, HvVcpuRegs, i));
	if (ki.found) {
		vmci = hv_vmcoreinfo_text_with(&ki.vi, opt->vmcoreinfo_extra);
		hv_note_append(notes, "VMCOREINFO", 0, vmci, strlen(vmci));
	}

	/* segments: the kernel image by virtual address first (as kexec lays out
	 * /proc/vmcore), then every RAM range, by GPA and direct-map address */
	nranges = hv_guestmem_n_ranges(mem);
	range_of_load = g_new0(guint, nranges + 1);
	if (ki.found && ki.has_kimage) {
		HvElfLoad k = { .paddr = ki.kimage_paddr, .vaddr = ki.kimage_vaddr,
				.size = ki.kimage_size, .alias = -1 };

		for (i = 0; i < nranges; i++) {
			const HvGuestRange *r = hv_guestmem_range(mem, i);

			if (k.paddr >= r->gpa && k.paddr - r->gpa < r->size) {
				k.alias = (int)(i + 1);
				k.alias_delta = k.paddr - r->gpa;
			}
		}
		if (k.alias >= 0)
			g_array_append_val(loads, k);
	}
	for (i = 0; i < nranges; i++) {
		const HvGuestRange *r = hv_guestmem_range(mem, i);
		HvElfLoad l = { .paddr = r->gpa, .size = r->size, .alias = -1 };

		if (ki.found && ki.has_direct_map)
			l.vaddr = ki.page_offset_base + r->gpa;
		range_of_load[loads->len] = i;
		g_array_append_val(loads, l);
	}
	it.mem = mem;
	it.range_of_load = range_of_load;
	it.cursor = 0;
	it.current = G_MAXUINT;
	if (!hv_elfcore_write(out, notes, (HvElfLoad *)loads->data, loads->len, next_extent, &it,
			      &res->stats, error))
		goto done;
	if (!hv_output_commit(out, error))
		goto done;

	res->ncpus = cpus->len;
	res->ram_bytes = hv_guestmem_total(mem);
	res->vmcoreinfo = ki.found;
	res->vmcoreinfo_verified = ki.verified;
	res->vmcoreinfo_paddr = ki.note_paddr;
	res->kimage_segment = ki.has_kimage;
	res->direct_map = ki.has_direct_map;
	if (ki.found)
		g_strlcpy(res->osrelease, ki.vi.osrelease, sizeof(res->osrelease));
	res->seconds = (double)(g_get_monotonic_time() - t0) / 1e6;
	ok = TRUE;
done:
	hv_kernel_info_clear(&ki);
	return ok;
}

gboolean hv_vm_pause(HvQmp *qmp, int timeout_ms, gboolean *was_running_ret,
		     char **status_ret, GError **error)
{
	json_object *st = hv_qmp_execute(qmp, "query-status", NULL, timeout_ms, error);
	gboolean running = FALSE;
	json_object *r;

	if (st == NULL)
		return FALSE;
	hv_json_get_bool(st, "running", &running);
	if (status_ret != NULL)
		*status_ret = g_strdup(hv_json_get_string(st, "status"));
	json_object_put(st);
	*was_running_ret = running;
	if (!running)
		return TRUE;
	r = hv_qmp_execute(qmp, "stop", NULL, timeout_ms, error);
	if (r == NULL)
		return FALSE;
	json_object_put(r);
	return TRUE;
}

gboolean hv_vm_resume(HvQmp *qmp, int timeout_ms, GError **error)
{
	json_object *r = hv_qmp_execute(qmp, "cont", NULL, timeout_ms, error);

	if (r == NULL)
		return FALSE;
	json_object_put(r);
	return TRUE;
}
