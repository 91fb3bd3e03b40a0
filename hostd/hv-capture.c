/* hv-capture.c — the capture engine; see hv-capture.h. */
#include "hv-capture.h"

#include <inttypes.h>
#include <string.h>

#include "hv-dumpfile.h"
#include "hv-kernel.h"
#include "hv-notes.h"
#include "hv-pageclass.h"

/* Pulls region data from the RAM source for the writer. */
typedef struct {
	HvCapture *c;
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
	/* from a dump file: its notes are written again as they are */
	GByteArray *notes_in;
	HvDumpFile *file;        /* borrowed: mem owns it */
	guint ncpus_in;
	guint64 time_in;
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
	if (c->notes_in != NULL)
		g_byte_array_unref(c->notes_in);
	g_clear_object(&c->cancellable);
	g_free(c);
}

static gboolean next_extent(gpointer user_data, guint index, guint64 *cursor,
			    guint64 *offset_ret, guint64 *len_ret, const guint8 **data_ret,
			    GError **error)
{
	ExtentIter *it = user_data;

	return hv_ram_source_next_chunk(it->c->mem, index, cursor, offset_ret, len_ret, data_ret,
					error);
}

static void write_progress(guint64 scanned, guint64 total, guint64 written, gpointer user_data)
{
	HvCapture *c = user_data;

	c->opt.progress(scanned, total, written, c->opt.progress_data);
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

/* What every capture starts with: its options (ELF by default), its own
 * reference to the cancellable, the warnings list. */
static HvCapture *capture_alloc(const HvCaptureOptions *opt)
{
	HvCapture *c = g_new0(HvCapture, 1);

	c->t0 = g_get_monotonic_time();
	c->opt = *opt;
	if (opt->format == NULL)
		c->opt.format = &hv_dump_format_elf;
	if (opt->cancellable != NULL)
		c->cancellable = g_object_ref(opt->cancellable);
	c->opt.cancellable = c->cancellable;
	c->warnings = g_ptr_array_new_with_free_func(g_free);
	return c;
}

HvCapture *hv_capture_new(GArray *cpus, HvRamSource *ram, const HvCaptureOptions *opt,
			  GError **error)
{
	g_autoptr(HvCapture) c = capture_alloc(opt);
	g_autoptr(GArray) descs = NULL;
	guint i;

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

HvCapture *hv_capture_new_from_dump(HvDumpFile *f, const HvCaptureOptions *opt, GError **error)
{
	g_autoptr(HvCapture) c = capture_alloc(opt);
	const HvDumpFileInfo *info = hv_dump_file_get_info(f);
	const GByteArray *notes = hv_dump_file_get_notes(f);
	g_autoptr(GError) local = NULL;
	g_autofree char *vmci = NULL;
	guint64 kv, kp, ks;
	gboolean has_kimage;
	gsize len = 0;
	guint i;

	c->cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	c->notes_in = g_byte_array_new();
	if (notes != NULL)
		g_byte_array_append(c->notes_in, notes->data, notes->len);
	c->ncpus_in = info->nr_cpus;
	c->time_in = info->timestamp;
	if (hv_dump_file_get_vmcoreinfo(f, &len) != NULL)
		vmci = g_strndup(hv_dump_file_get_vmcoreinfo(f, NULL), len);
	has_kimage = hv_dump_file_get_kimage(f, &kv, &kp, &ks);
	c->file = f;
	c->mem = hv_ram_source_new_dump(f);
	hv_ram_source_set_cancellable(c->mem, c->cancellable);
	if (vmci == NULL) {
		memset(&c->ki, 0, sizeof(c->ki));
		c->ki.warnings = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(c->warnings, g_strdup("the input carries no VMCOREINFO: only zero "
						      "pages can be left out"));
	} else if (!hv_kernel_from_vmcoreinfo(c->mem, vmci, len, &c->ki, &local)) {
		g_ptr_array_add(c->warnings, g_strdup_printf("the input's %s; it is copied as it is",
							     local->message));
	}
	/* the kernel-image segment the input had is kept as it was */
	if (has_kimage && c->ki.found) {
		c->ki.has_kimage = TRUE;
		c->ki.kimage_vaddr = kv;
		c->ki.kimage_paddr = kp;
		c->ki.kimage_size = ks;
	}
	for (i = 0; i < c->ki.warnings->len; i++)
		g_ptr_array_add(c->warnings, g_strdup(g_ptr_array_index(c->ki.warnings, i)));
	(void)error;
	return g_steal_pointer(&c);
}

void hv_capture_set_output(HvCapture *c, const HvDumpFormat *format, guint dump_level)
{
	c->opt.format = format;
	c->opt.dump_level = dump_level;
}

gboolean hv_capture_convert_file(const char *path, HvOutput *out, const HvCaptureOptions *opt,
				 HvCaptureResult *res, GError **error)
{
	g_autoptr(HvCapture) c = NULL;
	HvDumpFile *f = hv_dump_file_open(path, error);

	memset(res, 0, sizeof(*res));
	if (f == NULL)
		return FALSE;
	c = hv_capture_new_from_dump(f, opt, error);
	return c != NULL && hv_capture_write(c, out, res, error);
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
		g_ptr_array_add(extra, g_strdup_printf("HVDUMP_CPU=%u", c->desc.event_cpu));
		if (c->desc.message[0] != '\0')
			g_ptr_array_add(extra, g_strdup_printf("HVDUMP_MESSAGE=%s", c->desc.message));
	} else if (c->opt.event != NULL) {
		g_ptr_array_add(extra, g_strdup_printf("CRASHTIME=%" G_GINT64_FORMAT,
						       g_get_real_time() / G_USEC_PER_SEC));
		g_ptr_array_add(extra, g_strdup_printf("HVDUMP_EVENT=%s", c->opt.event));
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

/* Classes of every guest frame from struct page, when the dump level asks
 * for more than zero pages and the kernel's page tables and VMCOREINFO are
 * known (else a warning). For a dump file as the source, the frames it
 * left out are marked absent whatever the level. NULL: nothing known. */
static guint8 *classify(HvCapture *c, guint64 max_pfn, HvCaptureResult *res)
{
	const HvKernelInfo *ki = &c->ki;
	g_autofree guint8 *classes = NULL;
	g_autoptr(GError) error = NULL;
	HvPageClassStats st;
	HvPageClassInput in = { 0 };
	guint i;

	if ((c->opt.dump_level & ~1u) != 0 && (!ki->found || !ki->has_pgtable)) {
		g_ptr_array_add(res->warnings, g_strdup_printf(
			"dump level %u: no kernel page tables or VMCOREINFO, only zero pages left out",
			c->opt.dump_level));
	} else if ((c->opt.dump_level & ~1u) != 0) {
		in.read = hv_ram_source_phys_read;
		in.ctx = c->mem;
		in.pt = &ki->pgtable;
		in.vi = &ki->vi;
		in.max_pfn = max_pfn;
		classes = g_try_malloc0(MAX(max_pfn, 1));
		if (classes == NULL) {
			g_ptr_array_add(res->warnings, g_strdup_printf(
				"dump level %u: no memory for %" G_GUINT64_FORMAT " frames' classes, only "
				"zero pages left out", c->opt.dump_level, max_pfn));
		} else if (!hv_page_classify(&in, classes, &st, &error)) {
			g_ptr_array_add(res->warnings, g_strdup_printf(
				"dump level %u: struct pages unusable (%s), only zero pages left out",
				c->opt.dump_level, error->message));
			g_clear_pointer(&classes, g_free);
		} else {
			if (st.unreadable + st.inconsistent > 0)
				g_ptr_array_add(res->warnings, g_strdup_printf(
					"dump level %u: %" G_GUINT64_FORMAT " frames with unreadable and %"
					G_GUINT64_FORMAT " with inconsistent struct pages kept",
					c->opt.dump_level, st.unreadable, st.inconsistent));
			res->classified = TRUE;
		}
	}
	if (c->file == NULL)
		return g_steal_pointer(&classes);
	if (classes == NULL)
		classes = g_try_malloc0(MAX(max_pfn, 1));
	if (classes == NULL) {
		g_ptr_array_add(res->warnings, g_strdup_printf(
			"no memory for %" G_GUINT64_FORMAT " frames: pages the input left out "
			"may be written as zeros", max_pfn));
		return NULL;
	}
	for (i = 0; i < hv_ram_source_n_regions(c->mem); i++) {
		const HvRamRegion *r = hv_ram_source_region(c->mem, i);
		guint64 pfn;

		for (pfn = r->gpa / HV_PAGE_SIZE; pfn < max_pfn && pfn * HV_PAGE_SIZE < r->gpa + r->size;
		     pfn++)
			if (!hv_dump_file_page_present(c->file, pfn))
				classes[pfn] = HV_PAGE_ABSENT;
	}
	return g_steal_pointer(&classes);
}

gboolean hv_capture_write(HvCapture *c, HvOutput *out, HvCaptureResult *res, GError **error)
{
	g_autoptr(GByteArray) notes = g_byte_array_new();
	g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(HvDumpRegion));
	g_autofree guint8 *classes = NULL;
	const HvKernelInfo *ki = &c->ki;
	HvDumpLayout layout = { 0 };
	HvDumpOptions dopt = { 0 };
	ExtentIter it = { .c = c };
	guint64 max_pfn = 0;
	gboolean ok;
	guint i;

	memset(res, 0, sizeof(*res));
	res->warnings = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; i < c->warnings->len; i++)
		g_ptr_array_add(res->warnings, g_strdup(g_ptr_array_index(c->warnings, i)));

	if (c->notes_in != NULL)
		g_byte_array_append(notes, c->notes_in->data, c->notes_in->len);
	else
		build_notes(c, notes);
	for (i = 0; i < hv_ram_source_n_regions(c->mem); i++) {
		const HvRamRegion *r = hv_ram_source_region(c->mem, i);
		HvDumpRegion d = { .paddr = r->gpa, .size = r->size };

		if (ki->found && ki->has_direct_map)
			d.vaddr = ki->page_offset_base + r->gpa;
		g_array_append_val(regions, d);
		max_pfn = MAX(max_pfn, (r->gpa + r->size + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
	}
	layout.notes = notes;
	layout.regions = (const HvDumpRegion *)regions->data;
	layout.nregions = regions->len;
	layout.ncpus = c->notes_in != NULL ? c->ncpus_in : c->cpus->len;
	layout.crash_time = c->time_in != 0 ? c->time_in :
			    c->has_desc && c->desc.event != 0 ? c->desc.event_time :
			    (guint64)(g_get_real_time() / G_USEC_PER_SEC);
	if (ki->found) {
		layout.osrelease = ki->vi.osrelease;
		if (ki->has_utsname)
			layout.utsname = (const char (*)[65])ki->utsname;
		layout.phys_base = ki->vi.has_phys_base ? ki->vi.phys_base : 0;
	}
	if (ki->found && ki->has_kimage) {
		layout.has_kimage = TRUE;
		layout.kimage_vaddr = ki->kimage_vaddr;
		layout.kimage_paddr = ki->kimage_paddr;
		layout.kimage_size = ki->kimage_size;
	}
	if (c->cancellable != NULL)
		hv_output_set_cancellable(out, c->cancellable);
	classes = classify(c, max_pfn, res);
	dopt.dump_level = c->opt.dump_level;
	dopt.classes = classes;
	dopt.nclasses = classes != NULL ? max_pfn : 0;
	dopt.struct_page = res->classified;
	dopt.threads = c->opt.threads;
	if (c->opt.progress != NULL) {
		dopt.progress = write_progress;
		dopt.progress_data = c;
	}
	ok = hv_dump_write(c->opt.format, out, &layout, &dopt, next_extent, &it,
			   hv_ram_source_data_bytes(c->mem), &res->stats, error);
	if (!ok && !res->stats.incomplete)
		return FALSE;
	/* a dump cut short but flagged so in the file is kept: it is what the
	 * disk could hold, and readers know it is incomplete */
	if (!hv_output_commit(out, ok ? error : NULL)) {
		res->stats.incomplete = FALSE; /* not even that could be kept */
		return FALSE;
	}

	res->format = c->opt.format->name;
	res->ncpus = layout.ncpus;
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
	return ok;
}
