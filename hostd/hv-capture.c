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
	return hv_guestmem_next_chunk(it->mem, r, &it->cursor, offset_ret, len_ret, data_ret,
				      error);
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

struct HvCapture {
	gint64 t0;
	GCancellable *cancellable;
	GArray *cpus;
	HvGuestMem *mem;
	HvDescriptor desc;
	gboolean has_desc;
	HvKernelInfo ki;
	GPtrArray *warnings;
};

void hv_capture_free(HvCapture *c)
{
	if (c == NULL)
		return;
	if (c->cpus != NULL)
		g_array_unref(c->cpus);
	hv_guestmem_free(c->mem);
	hv_kernel_info_clear(&c->ki);
	g_ptr_array_unref(c->warnings);
	g_clear_object(&c->cancellable);
	g_free(c);
}

/* Descriptors found by scan are untrusted: prefer one that points at the
 * VMCOREINFO the page tables verified (the module's does); else the
 * first, said to be unchecked. */
static void pick_scanned_descriptor(HvCapture *c, GArray *descs)
{
	guint i;

	for (i = 0; c->ki.verified && i < descs->len; i++) {
		HvDescriptor *d = &g_array_index(descs, HvDescriptor, i);

		if (d->has_vmcoreinfo && d->vmcoreinfo_paddr == c->ki.note_paddr) {
			c->desc = *d;
			c->desc.cross_checked = TRUE;
			return;
		}
	}
	g_ptr_array_add(c->warnings, g_strdup_printf(
		"descriptor at 0x%" PRIx64 " was found by scan and does not point at verified "
		"VMCOREINFO: its event details are unchecked", c->desc.paddr));
}

HvCapture *hv_capture_new(HvQmp *qmp, const HvCaptureOptions *opt, GError **error)
{
	g_autoptr(HvCapture) c = g_new0(HvCapture, 1);
	g_autofree char *regs_text = NULL, *mtree_text = NULL;
	g_autoptr(GArray) ram_map = NULL;
	g_autoptr(GArray) descs = NULL;
	guint i;

	c->t0 = g_get_monotonic_time();
	if (opt->cancellable != NULL)
		c->cancellable = g_object_ref(opt->cancellable);
	c->warnings = g_ptr_array_new_with_free_func(g_free);
	/* RAM first: an unreadable backend is the error users must fix first */
	mtree_text = hmp_text(qmp, "info mtree -f", opt->qmp_timeout_ms, error);
	if (mtree_text == NULL)
		return NULL;
	ram_map = hv_parse_mtree(mtree_text, strlen(mtree_text), error);
	if (ram_map == NULL)
		return NULL;
	c->mem = hv_guestmem_open(qmp, ram_map, error);
	if (c->mem == NULL)
		return NULL;
	hv_guestmem_set_cancellable(c->mem, c->cancellable);
	regs_text = hmp_text(qmp, "info registers -a", opt->qmp_timeout_ms, error);
	if (regs_text == NULL)
		return NULL;
	c->cpus = hv_parse_registers(regs_text, strlen(regs_text), error);
	if (c->cpus == NULL)
		return NULL;
	descs = g_array_new(FALSE, TRUE, sizeof(HvDescriptor));
	hv_descriptor_find_all(c->mem, c->cpus, descs, c->warnings);
	if (descs->len > 0) {
		c->desc = g_array_index(descs, HvDescriptor, 0);
		c->has_desc = TRUE;
	}
	/* only an announced descriptor may point discovery at a note: a scan hit
	 * is checked against what the scan finds on its own */
	if (!hv_kernel_discover(c->mem, c->cpus,
				c->has_desc && c->desc.source == HV_DESC_FROM_REGISTERS &&
				c->desc.has_vmcoreinfo ? c->desc.vmcoreinfo_paddr : 0,
				&c->ki, error))
		return NULL;
	if (c->has_desc && c->desc.source == HV_DESC_FROM_SCAN)
		pick_scanned_descriptor(c, descs);
	for (i = 0; i < c->ki.warnings->len; i++)
		g_ptr_array_add(c->warnings, g_strdup(g_ptr_array_index(c->ki.warnings, i)));
	return g_steal_pointer(&c);
}

guint64 hv_capture_estimate_bytes(HvCapture *c)
{
	guint64 total = 0;
	guint i;

	for (i = 0; i < hv_guestmem_n_ranges(c->mem); i++) {
		guint64 cursor = 0, off, len;

		while (hv_guestmem_next_data(c->mem, i, &cursor, &off, &len, NULL))
			total += len;
	}
	return total + 1024 * 1024; /* headers and notes */
}

const HvDescriptor *hv_capture_get_descriptor(HvCapture *c)
{
	return c->has_desc ? &c->desc : NULL;
}

static char *vmcoreinfo_text(HvCapture *c)
{
	g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func(g_free);

	if (c->has_desc && c->desc.event != 0) {
		/* crash's `sys` DATE comes from CRASHTIME */
		g_ptr_array_add(extra, g_strdup_printf("CRASHTIME=%" G_GUINT64_FORMAT,
						       c->desc.event_time));
		g_ptr_array_add(extra, g_strdup_printf("HVDUMP_EVENT=%s",
						       hv_descriptor_event_name(c->desc.event)));
		if (c->desc.message[0] != '\0')
			g_ptr_array_add(extra, g_strdup_printf("HVDUMP_MESSAGE=%s", c->desc.message));
	}
	g_ptr_array_add(extra, NULL);
	return hv_vmcoreinfo_text_with(&c->ki.vi, (const char *const *)extra->pdata);
}

gboolean hv_capture_write(HvCapture *c, HvOutput *out, HvCaptureResult *res, GError **error)
{
	g_autoptr(GByteArray) notes = g_byte_array_new();
	g_autoptr(GArray) loads = g_array_new(FALSE, TRUE, sizeof(HvElfLoad));
	g_autofree guint *range_of_load = NULL;
	const HvKernelInfo *ki = &c->ki;
	ExtentIter it;
	guint i, nranges;

	memset(res, 0, sizeof(*res));
	res->warnings = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; i < c->warnings->len; i++)
		g_ptr_array_add(res->warnings, g_strdup(g_ptr_array_index(c->warnings, i)));

	/* notes: all PRSTATUS, then all QEMU CPU states (QEMU's order), then VMCOREINFO */
	for (i = 0; i < c->cpus->len; i++) {
		const HvVcpuRegs *r = &g_array_index(c->cpus, HvVcpuRegs, i);

		/* the event CPU's registers as the module saved them (the faulting
		 * context of an oops, or panic()'s), as kdump records them */
		if (c->has_desc && c->desc.has_prstatus && c->desc.event_cpu == r->index)
			hv_note_append(notes, "CORE", 1 /* NT_PRSTATUS */, c->desc.prstatus,
				       sizeof(c->desc.prstatus));
		else
			hv_note_append_prstatus(notes, r, i + 1);
	}
	for (i = 0; i < c->cpus->len; i++)
		hv_note_append_qemu_cpustate(notes, &g_array_index(c->cpus, HvVcpuRegs, i));
	if (ki->found) {
		g_autofree char *vmci = vmcoreinfo_text(c);

		hv_note_append(notes, "VMCOREINFO", 0, vmci, strlen(vmci));
	}

	/* segments: the kernel image by virtual address first (as kexec lays out
	 * /proc/vmcore), then every RAM range, by GPA and direct-map address */
	nranges = hv_guestmem_n_ranges(c->mem);
	range_of_load = g_new0(guint, nranges + 1);
	if (ki->found && ki->has_kimage) {
		HvElfLoad k = { .paddr = ki->kimage_paddr, .vaddr = ki->kimage_vaddr,
				.size = ki->kimage_size, .alias = -1 };

		for (i = 0; i < nranges; i++) {
			const HvGuestRange *r = hv_guestmem_range(c->mem, i);

			if (k.paddr >= r->gpa && k.paddr - r->gpa < r->size) {
				k.alias = (int)(i + 1);
				k.alias_delta = k.paddr - r->gpa;
			}
		}
		if (k.alias >= 0)
			g_array_append_val(loads, k);
	}
	for (i = 0; i < nranges; i++) {
		const HvGuestRange *r = hv_guestmem_range(c->mem, i);
		HvElfLoad l = { .paddr = r->gpa, .size = r->size, .alias = -1 };

		if (ki->found && ki->has_direct_map)
			l.vaddr = ki->page_offset_base + r->gpa;
		range_of_load[loads->len] = i;
		g_array_append_val(loads, l);
	}
	if (c->cancellable != NULL)
		hv_output_set_cancellable(out, c->cancellable);
	it.mem = c->mem;
	it.range_of_load = range_of_load;
	it.cursor = 0;
	it.current = G_MAXUINT;
	if (!hv_elfcore_write(out, notes, (HvElfLoad *)loads->data, loads->len, next_extent, &it,
			      &res->stats, error))
		return FALSE;
	if (!hv_output_commit(out, error))
		return FALSE;

	res->ncpus = c->cpus->len;
	res->ram_bytes = hv_guestmem_total(c->mem);
	res->vmcoreinfo = ki->found;
	res->vmcoreinfo_verified = ki->verified;
	res->vmcoreinfo_paddr = ki->note_paddr;
	res->kimage_segment = ki->has_kimage;
	res->direct_map = ki->has_direct_map;
	res->has_desc = c->has_desc;
	res->desc = c->desc;
	if (ki->found)
		g_strlcpy(res->osrelease, ki->vi.osrelease, sizeof(res->osrelease));
	res->seconds = (double)(g_get_monotonic_time() - c->t0) / 1e6;
	return TRUE;
}

gboolean hv_capture(HvQmp *qmp, HvOutput *out, const HvCaptureOptions *opt,
		    HvCaptureResult *res, GError **error)
{
	g_autoptr(HvCapture) c = hv_capture_new(qmp, opt, error);

	memset(res, 0, sizeof(*res));
	if (c == NULL)
		return FALSE;
	return hv_capture_write(c, out, res, error);
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
