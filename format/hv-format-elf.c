/* hv-format-elf.c — the ELF64 (ET_CORE) vmcore format; see hv-writer.h.
 *
 * The layout crash, drgn and makedumpfile read as they read /proc/vmcore:
 * ELF header and program headers at the start of the file, one PT_NOTE
 * first, then the kernel image PT_LOAD (by its KASLR virtual address) which
 * shares the file bytes of the RAM region holding it, then one PT_LOAD per
 * RAM region (p_paddr = guest-physical, p_vaddr = direct map). Pages are
 * written where they belong; what is never written — zero pages, and the
 * pages a dump level leaves out, as makedumpfile does for ELF — stays a
 * hole, so the file is sparse.
 *
 * Written with <elf.h> structs rather than libelf: libelf keeps segment
 * data in memory and has no notion of holes, while a vmcore is gigabytes of
 * mostly-absent pages streamed from guest RAM.
 */
#include <elf.h>
#include <string.h>

#include "hv-writer.h"

struct HvDumpWriter {
	HvOutput *out;
	const HvDumpLayout *layout;
	guint64 *region_off;     /* file offset of each region's first byte */
	guint64 end;             /* apparent file size */
};

static void free_writer(HvDumpWriter *w)
{
	g_free(w->region_off);
	g_free(w);
}

static HvDumpWriter *begin(HvOutput *out, const HvDumpLayout *l, const HvPageMap *map,
			   const HvDumpOptions *opt, GError **error)
{
	HvDumpWriter *w = g_new0(HvDumpWriter, 1);
	g_autofree guint8 *hdr = NULL;
	guint64 notes_off, hdr_len, cursor;
	guint nphdr, kimage_region = G_MAXUINT, i, p;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;

	/* pages left out are holes: the layout does not depend on them */
	(void)map;
	(void)opt;
	w->out = out;
	w->layout = l;
	w->region_off = g_new0(guint64, l->nregions + 1);
	/* the kernel image is an alias of the region that holds it */
	for (i = 0; l->has_kimage && i < l->nregions; i++) {
		const HvDumpRegion *r = &l->regions[i];

		if (l->kimage_paddr >= r->paddr && l->kimage_paddr - r->paddr < r->size &&
		    l->kimage_size <= r->size - (l->kimage_paddr - r->paddr))
			kimage_region = i;
	}
	nphdr = 1 + (kimage_region != G_MAXUINT) + l->nregions;
	if (nphdr >= PN_XNUM) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "too many segments (%u)", nphdr);
		free_writer(w);
		return NULL;
	}
	notes_off = sizeof(Elf64_Ehdr) + (guint64)nphdr * sizeof(Elf64_Phdr);
	hdr_len = notes_off + l->notes->len;
	cursor = (hdr_len + HV_PAGE_SIZE - 1) & ~(guint64)(HV_PAGE_SIZE - 1);
	for (i = 0; i < l->nregions; i++) {
		w->region_off[i] = cursor;
		w->end = MAX(w->end, cursor + l->regions[i].size);
		cursor += (l->regions[i].size + HV_PAGE_SIZE - 1) & ~(guint64)(HV_PAGE_SIZE - 1);
	}
	w->end = MAX(w->end, hdr_len);

	hdr = g_malloc0(hdr_len);
	eh = (Elf64_Ehdr *)hdr;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (Elf64_Half)nphdr;
	ph = (Elf64_Phdr *)(hdr + sizeof(Elf64_Ehdr));
	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = notes_off;
	ph[0].p_filesz = l->notes->len;
	ph[0].p_memsz = l->notes->len;
	p = 1;
	if (kimage_region != G_MAXUINT) {
		const HvDumpRegion *r = &l->regions[kimage_region];

		ph[p].p_type = PT_LOAD;
		ph[p].p_flags = PF_R | PF_W | PF_X;
		ph[p].p_offset = w->region_off[kimage_region] + (l->kimage_paddr - r->paddr);
		ph[p].p_vaddr = l->kimage_vaddr;
		ph[p].p_paddr = l->kimage_paddr;
		ph[p].p_filesz = l->kimage_size;
		ph[p].p_memsz = l->kimage_size;
		p++;
	}
	for (i = 0; i < l->nregions; i++, p++) {
		ph[p].p_type = PT_LOAD;
		ph[p].p_flags = PF_R | PF_W | PF_X;
		ph[p].p_offset = w->region_off[i];
		ph[p].p_vaddr = l->regions[i].vaddr;
		ph[p].p_paddr = l->regions[i].paddr;
		ph[p].p_filesz = l->regions[i].size;
		ph[p].p_memsz = l->regions[i].size;
	}
	memcpy(hdr + notes_off, l->notes->data, l->notes->len);
	if (!hv_output_pwrite(out, hdr, hdr_len, 0, error)) {
		free_writer(w);
		return NULL;
	}
	return w;
}

static gboolean write_pages(HvDumpWriter *w, guint i, guint64 off, const guint8 *data, gsize len,
			    GError **error)
{
	if (i >= w->layout->nregions || off > w->layout->regions[i].size ||
	    len > w->layout->regions[i].size - off) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "ELF: write outside region %u", i);
		return FALSE;
	}
	return hv_output_pwrite(w->out, data, len, w->region_off[i] + off, error);
}

static gboolean finish(HvDumpWriter *w, HvDumpStats *stats, GError **error)
{
	if (!hv_output_set_size(w->out, w->end, error))
		return FALSE;
	stats->file_size = w->end;
	return TRUE;
}

const HvDumpFormat hv_dump_format_elf = {
	.name = "elf",
	.compression = HV_COMPRESS_NONE,
	.begin = begin,
	.write = write_pages,
	.finish = finish,
	.free = free_writer,
};
