/* hv-pageclass.c — dump-level classes from the guest's struct pages; see
 * hv-pageclass.h.
 *
 * makedumpfile's rules (makedumpfile.c, __exclude_unnecessary_pages), in its
 * order, for each frame's struct page:
 *   - a compound tail page (compound_head bit 0) is decided by its head;
 *   - free: a buddy block head (_mapcount == PAGE_BUDDY_MAPCOUNT_VALUE, not
 *     slab), 2^private frames; an unaccepted block (6.5+), 2^(MAX_ORDER)
 *     frames;
 *   - cache: PG_lru, or PG_swapcache with PG_swapbacked, and not anonymous
 *     — split by PG_private into cache and cache-private;
 *   - user: anonymous (mapping bit 0, not slab), or hugetlb (6.1: the first
 *     tail page's compound_dtor == HUGETLB_PAGE_DTOR; 6.9+: the head's
 *     page_type == PAGE_HUGETLB_MAPCOUNT_VALUE, order in the first tail's
 *     flags' low byte);
 *   - a compound head decides 2^order frames.
 * Everything here is read from guest memory the guest controls: orders are
 * capped (a buddy order at LENGTH(zone.free_area), a compound order below
 * 64 and aligned, both clipped at max_pfn), loops are bounded by the frame
 * count, and a struct page that cannot be read keeps its frame.
 *
 * The memory map: SPARSEMEM with VMEMMAP (x86_64). SYMBOL(mem_section) is
 * the section-root array itself or, with SPARSEMEM_EXTREME as VMCOREINFO
 * prints it, the pointer to it: like makedumpfile, the first reading that
 * validates wins. A section's section_mem_map, its flag bits masked, is the
 * struct page address of frame 0 (the vmemmap base); every present section
 * must agree on it.
 */
#include <string.h>

#include "hv-pageclass.h"

#define PAGE_SHIFT 12
#define KERNEL_HALF 0xffff800000000000ull
#define SECTION_PRESENT 0x1ull
#define SECTION_HAS_MEM_MAP 0x2ull
/* low flag bits of section_mem_map (SECTION_MAP_LAST_BIT is 5 or 6 by
 * configuration); the encoded vmemmap base is far more aligned */
#define SECTION_FLAG_MASK 0x3full
#define MAX_STRUCT_PAGE 256u
#define MAX_SECTIONS (1u << 22)
#define DEFAULT_FREE_ORDERS 11u

typedef struct {
	guint64 size_page, off_flags, off_mapping, off_mapcount, off_private, off_head;
	gboolean has_private, has_head, has_dtor, has_order;
	guint64 off_dtor, off_order;
	gint64 buddy, hugetlb_dtor, hugetlb_mapcount, slab_mapcount, unaccepted;
	gboolean has_buddy, has_hugetlb_dtor, has_hugetlb_mapcount, has_slab_mapcount,
		has_unaccepted, has_pg_hugetlb;
	guint64 pg_lru, pg_private, pg_swapcache, pg_swapbacked, pg_slab, pg_hugetlb, head_mask;
	gboolean has_swapbacked;
	guint64 free_orders;
	guint64 section_bits, physmem_bits, size_section, off_section_map, mem_section;
} Layout;

/* VMCOREINFO's value for key (a "KEY=" line), parsed in its base. */
static gboolean need(const HvVmcoreinfo *vi, const char *key, gboolean hex, guint64 max,
		     guint64 *ret, GError **error)
{
	gint64 v;

	/* hex values (addresses) are unsigned: the kernel half reads negative */
	if (!hv_vmcoreinfo_lookup(vi, key, hex, &v) || (!hex && v < 0) || (guint64)v > max) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "VMCOREINFO: %s missing or out of range",
			    key);
		return FALSE;
	}
	*ret = (guint64)v;
	return TRUE;
}

static gboolean want(const HvVmcoreinfo *vi, const char *key, guint64 max, guint64 *ret)
{
	gint64 v;

	if (!hv_vmcoreinfo_lookup(vi, key, FALSE, &v) || v < 0 || (guint64)v > max)
		return FALSE;
	*ret = (guint64)v;
	return TRUE;
}

static gboolean want_signed(const HvVmcoreinfo *vi, const char *key, gint64 *ret)
{
	return hv_vmcoreinfo_lookup(vi, key, FALSE, ret) && *ret >= G_MININT32 && *ret <= G_MAXUINT32;
}

static gboolean get_layout(const HvVmcoreinfo *vi, Layout *l, GError **error)
{
	guint64 bit;

	memset(l, 0, sizeof(*l));
	if (!need(vi, "SYMBOL(mem_section)", TRUE, G_MAXUINT64, &l->mem_section, error) ||
	    !need(vi, "SIZE(mem_section)", FALSE, 4096, &l->size_section, error) ||
	    !need(vi, "OFFSET(mem_section.section_mem_map)", FALSE, 4088, &l->off_section_map, error) ||
	    !need(vi, "NUMBER(SECTION_SIZE_BITS)", FALSE, 30, &l->section_bits, error) ||
	    !need(vi, "NUMBER(MAX_PHYSMEM_BITS)", FALSE, 56, &l->physmem_bits, error) ||
	    !need(vi, "SIZE(page)", FALSE, MAX_STRUCT_PAGE, &l->size_page, error) ||
	    !need(vi, "OFFSET(page.flags)", FALSE, MAX_STRUCT_PAGE - 8, &l->off_flags, error) ||
	    !need(vi, "OFFSET(page.mapping)", FALSE, MAX_STRUCT_PAGE - 8, &l->off_mapping, error) ||
	    !need(vi, "OFFSET(page._mapcount)", FALSE, MAX_STRUCT_PAGE - 4, &l->off_mapcount, error) ||
	    !need(vi, "NUMBER(PG_lru)", FALSE, 63, &l->pg_lru, error) ||
	    !need(vi, "NUMBER(PG_private)", FALSE, 63, &l->pg_private, error) ||
	    !need(vi, "NUMBER(PG_swapcache)", FALSE, 63, &l->pg_swapcache, error) ||
	    !need(vi, "NUMBER(PG_head_mask)", FALSE, G_MAXUINT64, &l->head_mask, error))
		return FALSE;
	if (l->size_section < 8 || l->off_section_map + 8 > l->size_section ||
	    l->section_bits <= PAGE_SHIFT || l->physmem_bits <= l->section_bits ||
	    l->off_flags + 8 > l->size_page || l->off_mapping + 8 > l->size_page ||
	    l->off_mapcount + 4 > l->size_page) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "VMCOREINFO: struct page or mem_section layout does not fit");
		return FALSE;
	}
	l->has_private = want(vi, "OFFSET(page.private)", l->size_page - 8, &l->off_private);
	l->has_head = want(vi, "OFFSET(page.compound_head)", l->size_page - 8, &l->off_head);
	l->has_dtor = want(vi, "OFFSET(page.compound_dtor)", l->size_page - 1, &l->off_dtor);
	l->has_order = want(vi, "OFFSET(page.compound_order)", l->size_page - 1, &l->off_order);
	l->has_swapbacked = want(vi, "NUMBER(PG_swapbacked)", 63, &l->pg_swapbacked);
	if (!want(vi, "NUMBER(PG_slab)", 63, &l->pg_slab))
		l->pg_slab = 64; /* none */
	l->has_pg_hugetlb = want(vi, "NUMBER(PG_hugetlb)", 63, &l->pg_hugetlb);
	l->has_buddy = want_signed(vi, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", &l->buddy);
	l->has_hugetlb_dtor = want_signed(vi, "NUMBER(HUGETLB_PAGE_DTOR)", &l->hugetlb_dtor);
	l->has_hugetlb_mapcount = want_signed(vi, "NUMBER(PAGE_HUGETLB_MAPCOUNT_VALUE)",
					      &l->hugetlb_mapcount);
	l->has_slab_mapcount = want_signed(vi, "NUMBER(PAGE_SLAB_MAPCOUNT_VALUE)", &l->slab_mapcount);
	l->has_unaccepted = want_signed(vi, "NUMBER(PAGE_UNACCEPTED_MAPCOUNT_VALUE)", &l->unaccepted);
	if (!want(vi, "LENGTH(zone.free_area)", 16, &l->free_orders) || l->free_orders == 0)
		l->free_orders = DEFAULT_FREE_ORDERS;
	bit = l->head_mask;
	if (bit == 0 || (bit & (bit - 1)) != 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "VMCOREINFO: PG_head_mask is not one bit");
		return FALSE;
	}
	return TRUE;
}

/* ---- reading kernel virtual memory ---------------------------------------- */

static gboolean read_virt(const HvPageClassInput *in, guint64 va, void *buf, gsize len)
{
	guint8 *p = buf;

	while (len > 0) {
		guint64 pa, span;
		gsize n;

		if (!hv_pgtable_translate(in->pt, va, &pa, &span) || span == 0)
			return FALSE;
		n = (gsize)MIN((guint64)len, span - (va & (span - 1)));
		if (!in->read(in->ctx, pa, p, n))
			return FALSE;
		p += n;
		va += n;
		len -= n;
	}
	return TRUE;
}

static gboolean read_u64(const HvPageClassInput *in, guint64 va, guint64 *ret)
{
	guint64 v;

	if (!read_virt(in, va, &v, sizeof(v)))
		return FALSE;
	*ret = GUINT64_FROM_LE(v);
	return TRUE;
}

/* The vmemmap base the sections under the root array at roots encode, and
 * which sections are present (bitmap); FALSE when this reading does not
 * validate. */
static gboolean walk_sections(const HvPageClassInput *in, const Layout *l, guint64 roots,
			      guint64 nsec, guint8 *present, guint64 *base_ret, guint *count_ret)
{
	guint64 per_root = HV_PAGE_SIZE / l->size_section, nr, root_ptr = 0, last_root = G_MAXUINT64;
	guint64 base = 0;
	guint count = 0;

	memset(present, 0, (gsize)((nsec + 7) / 8));
	for (nr = 0; nr < nsec; nr++) {
		guint64 root = nr / per_root, smm, decoded;

		if (root != last_root) {
			last_root = root;
			if (!read_u64(in, roots + root * 8, &root_ptr))
				return FALSE;
			if (root_ptr != 0 && root_ptr < KERNEL_HALF)
				return FALSE;
		}
		if (root_ptr == 0)
			continue;
		if (!read_u64(in, root_ptr + (nr % per_root) * l->size_section + l->off_section_map, &smm))
			return FALSE;
		if ((smm & (SECTION_PRESENT | SECTION_HAS_MEM_MAP)) !=
		    (SECTION_PRESENT | SECTION_HAS_MEM_MAP))
			continue;
		decoded = smm & ~SECTION_FLAG_MASK;
		if (decoded < KERNEL_HALF || (count > 0 && decoded != base))
			return FALSE;
		base = decoded;
		present[nr / 8] |= (guint8)(1u << (nr % 8));
		count++;
	}
	*base_ret = base;
	*count_ret = count;
	return count > 0;
}

/* ---- one frame ------------------------------------------------------------ */

static inline guint64 u64_at(const guint8 *p, guint64 off)
{
	guint64 v;

	memcpy(&v, p + off, 8);
	return GUINT64_FROM_LE(v);
}

static inline gint32 i32_at(const guint8 *p, guint64 off)
{
	guint32 v;

	memcpy(&v, p + off, 4);
	return (gint32)GUINT32_FROM_LE(v);
}

static gboolean is_slab(const Layout *l, guint64 flags, gint32 mapcount)
{
	if (l->has_slab_mapcount && mapcount == (gint32)l->slab_mapcount)
		return TRUE;
	return l->pg_slab < 64 && (flags >> l->pg_slab) & 1;
}

/* The class of the frame whose struct page is sp (next: the following
 * struct page, or NULL), and how many frames it decides (*nr_ret). */
static HvPageClass classify_one(const Layout *l, guint64 pfn, const guint8 *sp, const guint8 *next,
				guint64 *nr_ret, gboolean *bad_ret)
{
	guint64 flags = u64_at(sp, l->off_flags), mapping = u64_at(sp, l->off_mapping);
	gint32 mapcount = i32_at(sp, l->off_mapcount);
	guint64 priv = l->has_private ? u64_at(sp, l->off_private) : 0;
	guint64 head = l->has_head ? u64_at(sp, l->off_head) : 0;
	guint order = 0;
	gboolean hugetlb = FALSE, anon, cache;

	*nr_ret = 1;
	*bad_ret = FALSE;
	if ((flags & l->head_mask) && next != NULL) {
		if (l->has_hugetlb_mapcount) {
			/* 6.9+: page_type of the head; order in folio._flags_1 */
			order = (guint)(u64_at(next, l->off_flags) & 0xff);
			hugetlb = mapcount == (gint32)l->hugetlb_mapcount;
		} else if (l->has_pg_hugetlb) {
			guint64 f1 = u64_at(next, l->off_flags);

			order = (guint)(f1 & 0xff);
			hugetlb = (f1 >> l->pg_hugetlb) & 1;
		} else {
			if (l->has_order)
				order = next[l->off_order];
			if (l->has_dtor && l->has_hugetlb_dtor)
				hugetlb = next[l->off_dtor] == (guint8)l->hugetlb_dtor;
		}
		if (order >= 64 || (pfn & ((1ull << order) - 1)) != 0) {
			order = 0;
			*bad_ret = TRUE;
		}
	}
	if (head & 1)
		return HV_PAGE_RAM; /* a tail its head did not cover: kept */
	if (l->has_buddy && !is_slab(l, flags, mapcount) && mapcount == (gint32)l->buddy) {
		if (priv >= l->free_orders) {
			*bad_ret = TRUE;
			return HV_PAGE_RAM;
		}
		*nr_ret = 1ull << priv;
		return HV_PAGE_FREE;
	}
	if (l->has_unaccepted && mapcount == (gint32)l->unaccepted) {
		*nr_ret = 1ull << (l->free_orders - 1);
		return HV_PAGE_FREE;
	}
	*nr_ret = 1ull << order;
	anon = (mapping & 1) && !is_slab(l, flags, mapcount);
	cache = ((flags >> l->pg_lru) & 1) ||
		((!l->has_swapbacked || ((flags >> l->pg_swapbacked) & 1)) &&
		 ((flags >> l->pg_swapcache) & 1));
	if (cache && !anon)
		return (flags >> l->pg_private) & 1 ? HV_PAGE_CACHE_PRIVATE : HV_PAGE_CACHE;
	if (anon || hugetlb)
		return HV_PAGE_USER;
	*nr_ret = 1;
	return HV_PAGE_RAM;
}

gboolean hv_page_classify(const HvPageClassInput *in, guint8 *classes,
			  HvPageClassStats *stats_ret, GError **error)
{
	HvPageClassStats st = { 0 };
	g_autofree guint8 *present = NULL, *buf = NULL;
	guint64 per_section, nsec, base = 0, nr, covered = 0, pfn;
	guint count = 0;
	Layout l;

	memset(classes, HV_PAGE_RAM, (gsize)in->max_pfn);
	if (stats_ret != NULL)
		memset(stats_ret, 0, sizeof(*stats_ret));
	if (!get_layout(in->vi, &l, error))
		return FALSE;
	per_section = 1ull << (l.section_bits - PAGE_SHIFT);
	nsec = (in->max_pfn + per_section - 1) / per_section;
	if (nsec > MAX_SECTIONS || nsec > (1ull << (l.physmem_bits - l.section_bits))) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "%" G_GUINT64_FORMAT " memory sections: more than the kernel can have", nsec);
		return FALSE;
	}
	present = g_malloc0((gsize)((nsec + 7) / 8) + 1);
	/* SYMBOL(mem_section): the root array, or (SPARSEMEM_EXTREME as
	 * VMCOREINFO_SYMBOL_ARRAY prints a pointer) where it is stored */
	if (!walk_sections(in, &l, l.mem_section, nsec, present, &base, &count)) {
		guint64 roots;

		if (!read_u64(in, l.mem_section, &roots) || roots < KERNEL_HALF ||
		    !walk_sections(in, &l, roots, nsec, present, &base, &count)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "mem_section at 0x%" G_GINT64_MODIFIER "x does not lead to a "
				    "consistent memory map", l.mem_section);
			return FALSE;
		}
	}
	st.sections = count;
	buf = g_malloc(per_section * l.size_page + l.size_page);
	for (nr = 0; nr < nsec; nr++) {
		guint64 first = nr * per_section, n = MIN(per_section, in->max_pfn - first), k;
		gboolean readable;

		if (!(present[nr / 8] >> (nr % 8) & 1)) {
			st.unreadable += n;
			continue;
		}
		/* this section's struct pages, and one more (a head's first tail) */
		readable = read_virt(in, base + first * l.size_page, buf, (gsize)(n * l.size_page));
		if (!readable) {
			st.unreadable += n;
			continue;
		}
		for (k = MAX(covered, first) - first; k < n; k++) {
			const guint8 *sp = buf + k * l.size_page;
			guint64 count_nr, end, j;
			gboolean bad;
			HvPageClass c;

			pfn = first + k;
			c = classify_one(&l, pfn, sp, k + 1 < n ? sp + l.size_page : NULL, &count_nr, &bad);
			if (bad)
				st.inconsistent++;
			if (c == HV_PAGE_RAM) {
				st.pages[HV_PAGE_RAM]++;
				continue;
			}
			end = MIN(pfn + count_nr, in->max_pfn);
			for (j = pfn; j < end; j++)
				classes[j] = (guint8)c;
			st.pages[c] += end - pfn;
			covered = end;
			k = end - first - 1; /* may move past this section: the next starts at covered */
		}
	}
	if (stats_ret != NULL)
		*stats_ret = st;
	return TRUE;
}
