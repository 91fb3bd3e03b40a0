/* fuzz-pgtable.c — libFuzzer target: the page-table walker on hostile
 * tables. Byte 0: 5-level paging if bit 0; then five 4 KiB table pages
 * placed where the synthetic guest keeps its own (0x1000..0x6000, the root
 * first); then addresses to translate, 8 bytes each (at most 64). The
 * direct-map search runs on the same tables. */
#include "hv-pgtable.h"
#include "synth-guest.h"

#define TABLES 0x5000u

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static guint8 *ram, *pristine;
	HvRamSource *mem;
	HvPgtable pt;
	gboolean la57 = FALSE;
	guint64 base, pa, span;
	gsize n, k;

	if (ram == NULL) {
		ram = g_malloc0(SG_RAM);
		sg_build(ram);
		pristine = g_memdup2(ram, SG_RAM);
	} else {
		memcpy(ram + SG_PML4, pristine + SG_PML4, TABLES); /* what an input can change */
	}
	if (size >= 1) {
		la57 = data[0] & 1;
		data++;
		size--;
	}
	n = MIN(size, (gsize)TABLES);
	memcpy(ram + SG_PML4, data, n);
	data += n;
	size -= n;
	mem = sg_source(ram);
	hv_pgtable_init(&pt, hv_ram_source_phys_read, mem, SG_PML4, la57);
	for (k = 0; k + 8 <= size && k < 64 * 8; k += 8) {
		guint64 va;

		memcpy(&va, data + k, 8);
		(void)hv_pgtable_translate(&pt, va, &pa, &span);
	}
	(void)hv_pgtable_translate(&pt, SG_STEXT, &pa, &span);
	(void)hv_pgtable_find_direct_map(&pt, SG_RAM, &base);
	hv_ram_source_free(mem);
	return 0;
}
