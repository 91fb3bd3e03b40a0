/* hv-capture.c — the capture engine; see hv-capture.h. */
#include "hv-capture.h"

#include <inttypes.h>
#include <string.h>

#include "hv-kernel.h"
#include "hv-notes.h"

/* Pulls region data from the RAM source for the writer, reporting progress. */
typedef struct {
	HvCapture *c;
	guint64 cursor;
	guint current;
	guint64 done, total;
} ExtentIter;

void hv_capture_result_clear(HvCaptureResult *res)
{
	if (res->warnings != NULL)
		g_ptr_array_unref(res->warnings);
	memset(res, 0, sizeof(*res));
}

struct HvCapture {
	gint64 t0;
	HvCaptureOptions opt;
	GCancellable *cancellable;
	GArray *cpus;
	HvRamSource *mem;
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
	hv_ram_source_free(c->mem);
	hv_kernel_info_clear(&c->ki);
	g_ptr_array_unref(c->warnings);
	g_clear_object(&c->cancellable);
	g_free(c);
}

static gboolean next_extent(gpointer user_data, guint index, guint64 *offset_ret,
			    guint64 *len_ret, const guint8 **data_ret, GError **error)
{
	ExtentIter *it = user_data;

	if (it->current != index) {
		it->current = index;
		it->cursor = 0;
	}
	if (!hv_ram_source_next_chunk(it->c->mem, index, &it->cursor, offset_ret, len_ret,
				      data_ret, error))
		return FALSE;
	it->done += *len_ret;
	if (it->c->opt.progress != NULL)
		it->c->opt.progress(it->done, MAX(it->done, it->total), it->c->opt.progress_data);
	return TRUE;
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

HvCapture *hv_capture_new(GArray *cpus, HvRamSource *ram, const HvCaptureOptions *opt,
			  GError **error)
{
	g_autoptr(HvCapture) c = g_new0(HvCapture, 1);
	g_autoptr(GArray) descs = NULL;
	guint i;

	c->t0 = g_get_monotonic_time();
	c->opt = *opt;
	if (opt->format == NULL)
		c->opt.format = &hv_dump_format_elf;
	if (opt->cancellable != NULL)
		c->cancellable = g_object_ref(opt->cancellable);
	c->opt.cancellable = c->cancellable;
	c->warnings = g_ptr_array_new_with_free_func(g_free);
	c->mem = ram;
	c->cpus = g_array_ref(cpus);
	hv_ram_source_set_cancellable(c->mem, c->cancellable);
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
	return hv_ram_source_data_bytes(c->mem) + 1024 * 1024; /* headers and notes */
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

/* Notes: all PRSTATUS, then all QEMU CPU states (QEMU's order), then
 * VMCOREINFO. */
static void build_notes(HvCapture *c, GByteArray *notes)
{
	guint i;

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
	if (c->ki.found) {
		g_autofree char *vmci = vmcoreinfo_text(c);

		hv_note_append(notes, "VMCOREINFO", 0, vmci, strlen(vmci));
	}
}

gboolean hv_capture_write(HvCapture *c, HvOutput *out, HvCaptureResult *res, GError **error)
{
	g_autoptr(GByteArray) notes = g_byte_array_new();
	g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(HvDumpRegion));
	const HvKernelInfo *ki = &c->ki;
	HvDumpLayout layout = { 0 };
	ExtentIter it = { .c = c, .current = G_MAXUINT };
	guint i;

	memset(res, 0, sizeof(*res));
	res->warnings = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; i < c->warnings->len; i++)
		g_ptr_array_add(res->warnings, g_strdup(g_ptr_array_index(c->warnings, i)));

	build_notes(c, notes);
	for (i = 0; i < hv_ram_source_n_regions(c->mem); i++) {
		const HvRamRegion *r = hv_ram_source_region(c->mem, i);
		HvDumpRegion d = { .paddr = r->gpa, .size = r->size };

		if (ki->found && ki->has_direct_map)
			d.vaddr = ki->page_offset_base + r->gpa;
		g_array_append_val(regions, d);
	}
	layout.notes = notes;
	layout.regions = (const HvDumpRegion *)regions->data;
	layout.nregions = regions->len;
	if (ki->found && ki->has_kimage) {
		layout.has_kimage = TRUE;
		layout.kimage_vaddr = ki->kimage_vaddr;
		layout.kimage_paddr = ki->kimage_paddr;
		layout.kimage_size = ki->kimage_size;
	}
	if (c->cancellable != NULL)
		hv_output_set_cancellable(out, c->cancellable);
	if (c->opt.progress != NULL)
		it.total = hv_ram_source_data_bytes(c->mem);
	if (!hv_dump_write(c->opt.format, out, &layout, next_extent, &it, &res->stats, error))
		return FALSE;
	if (!hv_output_commit(out, error))
		return FALSE;

	res->ncpus = c->cpus->len;
	res->ram_bytes = hv_ram_source_total(c->mem);
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
