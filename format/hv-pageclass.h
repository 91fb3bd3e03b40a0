/* hv-pageclass.h — which guest pages are cache, user data or free: the
 * dump-level classes, read from the guest's own struct page array.
 *
 * Owns: reaching the memory map (SYMBOL(mem_section) → section roots →
 * section_mem_map, decoded to the vmemmap through the kernel page tables;
 * SPARSEMEM_EXTREME and not), reading every struct page in bounded batches,
 * and deciding its class with makedumpfile's rules and the offsets and flag
 * values VMCOREINFO names: free = a buddy block head (PG_buddy in _mapcount
 * before 6.9, page_type's encoding from 6.9 on) and the 2^order frames it
 * covers; cache = PG_lru or PG_swapcache, not anonymous, split by
 * PG_private; user = anonymous (mapping & 1) or hugetlb (compound head and
 * its tail pages). Everything read is hostile: a struct page that does not
 * make sense (order out of range, block past the section, unreadable) is
 * RAM — kept — never a crash or an unbounded loop.
 */
#pragma once

#include <glib.h>

#include "hv-pgtable.h"
#include "hv-vmcoreinfo.h"
#include "hv-writer.h"

G_BEGIN_DECLS

typedef struct {
	HvPhysReadFunc read;        /* guest-physical reads */
	gpointer ctx;
	const HvPgtable *pt;        /* the kernel's page tables (vmemmap, mem_section) */
	const HvVmcoreinfo *vi;     /* parsed VMCOREINFO (text holds every key) */
	guint64 max_pfn;            /* classify frames [0, max_pfn) */
} HvPageClassInput;

typedef struct {
	guint64 pages[HV_PAGE_NCLASS];   /* frames per class ([HV_PAGE_ZERO] stays 0) */
	guint64 unreadable;              /* frames whose struct page could not be read */
	guint64 inconsistent;            /* struct pages that made no sense (kept) */
	guint sections;                  /* present memory sections walked */
} HvPageClassStats;

/* Fills classes[0 .. in->max_pfn) with HvPageClass values (HV_PAGE_RAM when
 * nothing is known). FALSE with an error naming what is missing when
 * VMCOREINFO or the memory map cannot be used at all (then classes is all
 * RAM); a damaged part only keeps its pages. */
gboolean hv_page_classify(const HvPageClassInput *in, guint8 *classes,
			  HvPageClassStats *stats_ret, GError **error);

G_END_DECLS
