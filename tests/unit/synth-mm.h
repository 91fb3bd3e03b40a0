/* synth-mm.h — a memory map for the synthetic guest (synth-guest.h): one
 * SPARSEMEM_EXTREME section, its struct pages in a vmemmap reached through
 * the direct map, and VMCOREINFO naming them the way Linux 6.1 (mapcount
 * buddy, compound_dtor hugetlb) or 6.12 (page types, order in the first
 * tail's flags) does. For test-pageclass and fuzz-pageclass; offsets fixed
 * so tests can damage them. */
#pragma once

#include "synth-guest.h"

#define SM_PFNS (SG_RAM / 4096u)            /* 8192 frames */
#define SM_ROOTPTR_PA 0x100000u             /* the mem_section pointer (kernel data) */
#define SM_ROOTS_PA 0x700000u               /* the root array */
#define SM_SECTIONS_PA 0x701000u            /* the section array of root 0 */
#define SM_MEMMAP_PA 0x800000u              /* struct page of frame 0 */
#define SM_PAGE_SIZE 64u
#define SM_VMEMMAP (SG_DIRECT + SM_MEMMAP_PA)

/* struct page fields (6.1 layout) */
#define SM_FLAGS 0u
#define SM_HEAD 8u
#define SM_DTOR 16u
#define SM_ORDER 17u
#define SM_MAPPING 24u
#define SM_PRIVATE 40u
#define SM_MAPCOUNT 48u

#define SM_PG_LRU 4
#define SM_PG_SLAB 9
#define SM_PG_SWAPCACHE 10
#define SM_PG_PRIVATE 13
#define SM_PG_HEAD 16
#define SM_PG_SWAPBACKED 19

#define SM_BUDDY_61 (-129)
#define SM_BUDDY_612 (-268435456)
#define SM_HUGETLB_612 (-201326592)
#define SM_SLAB_612 (-184549376)

static inline char *sm_vmcoreinfo_text(gboolean v612)
{
	return g_strdup_printf(
		"%s"
		"SYMBOL(mem_section)=%" G_GINT64_MODIFIER "x\n"
		"LENGTH(mem_section)=2048\n"
		"SIZE(mem_section)=16\n"
		"OFFSET(mem_section.section_mem_map)=0\n"
		"NUMBER(SECTION_SIZE_BITS)=27\n"
		"NUMBER(MAX_PHYSMEM_BITS)=46\n"
		"SIZE(page)=64\n"
		"OFFSET(page.flags)=0\n"
		"OFFSET(page._refcount)=52\n"
		"OFFSET(page.mapping)=24\n"
		"OFFSET(page.lru)=8\n"
		"OFFSET(page._mapcount)=48\n"
		"OFFSET(page.private)=40\n"
		"OFFSET(page.compound_head)=8\n"
		"%s"
		"LENGTH(zone.free_area)=11\n"
		"NUMBER(PG_lru)=4\n"
		"NUMBER(PG_private)=13\n"
		"NUMBER(PG_swapcache)=10\n"
		"NUMBER(PG_swapbacked)=19\n"
		"%s"
		"NUMBER(PG_head_mask)=65536\n"
		"%s",
		sg_vmcoreinfo_text(), (guint64)(0xffffffff80000000ull + SM_ROOTPTR_PA),
		v612 ? "" : "OFFSET(page.compound_dtor)=16\nOFFSET(page.compound_order)=17\n",
		v612 ? "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)=-184549376\n" : "NUMBER(PG_slab)=9\n",
		v612 ? "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-268435456\n"
		       "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)=-201326592\n"
		     : "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\nNUMBER(HUGETLB_PAGE_DTOR)=2\n");
}

static inline guint8 *sm_page(guint8 *ram, guint64 pfn)
{
	return ram + SM_MEMMAP_PA + pfn * SM_PAGE_SIZE;
}

static inline void sm_put32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

/* The memory map on top of sg_build(ram): every struct page "in use"
 * (_mapcount -1), nothing classified yet. */
static inline void sm_build(guint8 *ram)
{
	guint64 pfn;

	sg_put64(ram, SM_ROOTPTR_PA, SG_DIRECT + SM_ROOTS_PA);
	sg_put64(ram, SM_ROOTS_PA, SG_DIRECT + SM_SECTIONS_PA);
	sg_put64(ram, SM_SECTIONS_PA, SM_VMEMMAP | 0x3); /* present, has a mem_map */
	for (pfn = 0; pfn < SM_PFNS; pfn++)
		sm_put32(sm_page(ram, pfn) + SM_MAPCOUNT, 0xffffffffu);
}

static inline void sm_buddy(guint8 *ram, guint64 pfn, guint64 order, gboolean v612)
{
	sm_put32(sm_page(ram, pfn) + SM_MAPCOUNT, (guint32)(v612 ? SM_BUDDY_612 : SM_BUDDY_61));
	sg_put64(sm_page(ram, pfn), SM_PRIVATE, order);
}

/* A compound page: head flags PG_head, tails point at it; hugetlb by the
 * 6.1 or 6.12 encoding. */
static inline void sm_compound(guint8 *ram, guint64 pfn, guint order, gboolean hugetlb,
			       gboolean v612)
{
	guint64 k;

	sg_put64(sm_page(ram, pfn), SM_FLAGS, 1ull << SM_PG_HEAD);
	for (k = 1; k < (1ull << order); k++)
		sg_put64(sm_page(ram, pfn + k), SM_HEAD, (SM_VMEMMAP + pfn * SM_PAGE_SIZE) | 1);
	if (v612) {
		sg_put64(sm_page(ram, pfn + 1), SM_FLAGS, order);
		if (hugetlb)
			sm_put32(sm_page(ram, pfn) + SM_MAPCOUNT, (guint32)SM_HUGETLB_612);
	} else {
		sm_page(ram, pfn + 1)[SM_ORDER] = (guint8)order;
		sm_page(ram, pfn + 1)[SM_DTOR] = hugetlb ? 2 : 1;
	}
}
