/* hv-pgtable.h — x86_64 page-table walker over guest-physical memory.
 *
 * Owns: 4- and 5-level translation of a virtual address through guest page
 * tables (hostile data: fixed number of levels, masked addresses, every read
 * bounds-checked by the reader), and discovery of the kernel's direct map
 * base from those tables.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Reads len bytes of guest-physical memory; FALSE outside RAM. */
typedef gboolean (*HvPhysReadFunc)(gpointer ctx, guint64 paddr, void *buf, gsize len);

typedef struct {
	HvPhysReadFunc read;
	gpointer ctx;
	guint64 cr3;     /* page-table root (CR3 with flag bits masked) */
	gboolean la57;   /* 5-level paging */
} HvPgtable;

#define HV_PTE_ADDR_MASK 0x000ffffffffff000ull

void hv_pgtable_init(HvPgtable *pt, HvPhysReadFunc read, gpointer ctx, guint64 cr3,
		     gboolean la57);
/* Translates vaddr. On success *paddr_ret is the physical address and
 * *span_ret the size of the mapping that holds it (4K, 2M or 1G). On failure
 * *span_ret (if not NULL) is the size of the unmapped region's entry, so a
 * scan can step over it. */
gboolean hv_pgtable_translate(const HvPgtable *pt, guint64 vaddr, guint64 *paddr_ret,
			      guint64 *span_ret);
/* Finds the lowest kernel-half 1 GiB-aligned virtual address that maps
 * physical 0 linearly (the direct map, page_offset_base under KASLR). */
gboolean hv_pgtable_find_direct_map(const HvPgtable *pt, guint64 ram_end, guint64 *base_ret);

/* A reader of kernel-virtual memory: triage's parsers take one (over these
 * page tables, through a translation cache: hv-triage.c), so fuzzers give
 * them a buffer instead. */
typedef gboolean (*HvKmemReadFunc)(gpointer ctx, guint64 vaddr, void *buf, gsize len);
typedef struct {
	HvKmemReadFunc read;
	gpointer ctx;
} HvKmem;

static inline gboolean hv_kmem_read(const HvKmem *m, guint64 vaddr, void *buf, gsize len)
{
	return m->read(m->ctx, vaddr, buf, len);
}

static inline gboolean hv_kmem_u64(const HvKmem *m, guint64 vaddr, guint64 *ret)
{
	return m->read(m->ctx, vaddr, ret, sizeof(*ret));
}

static inline gboolean hv_kmem_u32(const HvKmem *m, guint64 vaddr, guint32 *ret)
{
	return m->read(m->ctx, vaddr, ret, sizeof(*ret));
}

G_END_DECLS
