/* fuzz-pageclass.c — libFuzzer target: the struct-page classifier over a
 * hostile memory map. The synthetic guest's memory map (synth-mm.h) is
 * overwritten by the input: byte 0 picks the 6.1 or 6.12 VMCOREINFO, the
 * next three words are the mem_section pointer, root 0 and section 0's
 * section_mem_map, the rest struct pages from frame 4000 on. */
#include "hv-pageclass.h"
#include "synth-mm.h"

#define FIRST_PFN 4000u

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static guint8 *ram, *pristine;
	static HvVmcoreinfo vi[2];
	static guint8 classes[SM_PFNS];
	HvPageClassStats st;
	HvPageClassInput in = { 0 };
	HvRamSource *mem;
	HvPgtable pt;
	gboolean v612 = FALSE;
	gsize n;

	if (ram == NULL) {
		guint i;

		ram = g_malloc0(SG_RAM);
		sg_build(ram);
		sm_build(ram);
		pristine = g_memdup2(ram, SG_RAM);
		for (i = 0; i < 2; i++) {
			g_autofree char *text = sm_vmcoreinfo_text(i == 1);

			if (!hv_vmcoreinfo_parse((const guint8 *)text, strlen(text), &vi[i], NULL))
				abort();
		}
	} else {
		/* only what an input can change goes back */
		memcpy(ram + SM_ROOTPTR_PA, pristine + SM_ROOTPTR_PA, 8);
		memcpy(ram + SM_ROOTS_PA, pristine + SM_ROOTS_PA, 8);
		memcpy(ram + SM_SECTIONS_PA, pristine + SM_SECTIONS_PA, 8);
		memcpy(sm_page(ram, FIRST_PFN), sm_page(pristine, FIRST_PFN),
		       (gsize)(SM_PFNS - FIRST_PFN) * SM_PAGE_SIZE);
	}
	if (size >= 1) {
		v612 = data[0] & 1;
		data++;
		size--;
	}
	if (size >= 24) {
		memcpy(ram + SM_ROOTPTR_PA, data, 8);
		memcpy(ram + SM_ROOTS_PA, data + 8, 8);
		memcpy(ram + SM_SECTIONS_PA, data + 16, 8);
		data += 24;
		size -= 24;
	}
	n = MIN(size, (gsize)(SM_PFNS - FIRST_PFN) * SM_PAGE_SIZE);
	memcpy(sm_page(ram, FIRST_PFN), data, n);

	mem = sg_source(ram);
	hv_pgtable_init(&pt, hv_ram_source_phys_read, mem, SG_PML4, FALSE);
	in.read = hv_ram_source_phys_read;
	in.ctx = mem;
	in.pt = &pt;
	in.vi = &vi[v612];
	in.max_pfn = SM_PFNS;
	(void)hv_page_classify(&in, classes, &st, NULL);
	hv_ram_source_free(mem);
	return 0;
}
