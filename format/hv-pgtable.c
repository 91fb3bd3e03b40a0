/* hv-pgtable.c — x86_64 page-table walker; see hv-pgtable.h. */
#include "hv-pgtable.h"

#define PTE_PRESENT 0x1ull
#define PTE_PS 0x80ull
#define GiB (1ull << 30)
#define MiB (1ull << 20)
/* entries looked at by hv_pgtable_find_direct_map, at most */
#define MAX_SCAN_ENTRIES (1u << 18)

void hv_pgtable_init(HvPgtable *pt, HvPhysReadFunc read, gpointer ctx, guint64 cr3,
		     gboolean la57)
{
	pt->read = read;
	pt->ctx = ctx;
	pt->cr3 = cr3 & HV_PTE_ADDR_MASK;
	pt->la57 = la57;
}

static gboolean read_entry(const HvPgtable *pt, guint64 table, guint idx, guint64 *e)
{
	guint64 v;

	if (!pt->read(pt->ctx, (table & HV_PTE_ADDR_MASK) + 8ull * (idx & 511), &v, 8))
		return FALSE;
	*e = GUINT64_FROM_LE(v);
	return TRUE;
}

static gboolean canonical(const HvPgtable *pt, guint64 va)
{
	int bits = pt->la57 ? 57 : 48;
	guint64 top = va >> (bits - 1);

	return top == 0 || top == (G_MAXUINT64 >> (bits - 1));
}

gboolean hv_pgtable_translate(const HvPgtable *pt, guint64 vaddr, guint64 *paddr_ret,
			      guint64 *span_ret)
{
	int level = pt->la57 ? 5 : 4;
	guint64 table = pt->cr3;

	if (!canonical(pt, vaddr)) {
		if (span_ret != NULL)
			*span_ret = 4096;
		return FALSE;
	}
	/* exactly `level` iterations: hostile tables cannot make this loop */
	for (; level >= 1; level--) {
		int shift = 12 + 9 * (level - 1);
		guint64 span = 1ull << shift;
		guint64 e;

		if (span_ret != NULL)
			*span_ret = span;
		if (!read_entry(pt, table, (guint)(vaddr >> shift), &e) || !(e & PTE_PRESENT))
			return FALSE;
		if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
			guint64 base = e & HV_PTE_ADDR_MASK & ~(span - 1);

			*paddr_ret = base | (vaddr & (span - 1));
			return TRUE;
		}
		if (level > 3 && (e & PTE_PS))
			return FALSE; /* reserved at PML4/PML5 */
		table = e & HV_PTE_ADDR_MASK;
	}
	return FALSE;
}

static gboolean maps_linear(const HvPgtable *pt, guint64 va, guint64 pa)
{
	guint64 got;

	return hv_pgtable_translate(pt, va, &got, NULL) && got == pa;
}

gboolean hv_pgtable_find_direct_map(const HvPgtable *pt, guint64 ram_end, guint64 *base_ret)
{
	/* the upper half starts at top-level index 256 */
	guint64 top_span = pt->la57 ? (1ull << 48) : (1ull << 39);
	guint scanned = 0;
	guint t;

	for (t = 256; t < 511; t++) {
		guint64 e;
		guint64 base_va = (pt->la57 ? 0xfe00000000000000ull : 0xffff000000000000ull) |
				  ((guint64)t * top_span);
		guint64 step;

		if (!read_entry(pt, pt->cr3, t, &e) || !(e & PTE_PRESENT))
			continue;
		/* every 1 GiB slot under this entry */
		for (step = 0; step < top_span; step += GiB) {
			guint64 va = base_va + step;
			guint64 pa, span;

			if (++scanned > MAX_SCAN_ENTRIES)
				return FALSE;
			if (!hv_pgtable_translate(pt, va, &pa, &span)) {
				/* skip whole unmapped entries */
				if (span > GiB)
					step += span - GiB;
				continue;
			}
			if (pa != 0)
				continue;
			if (ram_end > 2 * MiB && !maps_linear(pt, va + 2 * MiB, 2 * MiB))
				continue;
			if (ram_end > 16 * MiB && !maps_linear(pt, va + 16 * MiB, 16 * MiB))
				continue;
			*base_ret = va;
			return TRUE;
		}
	}
	return FALSE;
}
