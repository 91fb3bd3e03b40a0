/* hv-pagesel.c — page selection; see hv-pagesel.h. */
#include "hv-pagesel.h"

#include <string.h>

#define WORD_BITS 64u

struct HvPageMap {
	guint nregions;
	guint64 *npages;
	guint64 **dumped;   /* bit set: the page is in the dump */
	guint64 **zero;     /* bit set: dumped and all zero */
	guint64 ndumped;
};

static const guint8 zero_page[HV_PAGE_SIZE];

gboolean hv_page_is_zero(const guint8 *p)
{
	const guint64 *w = (const guint64 *)p;

	/* most pages are decided by their first words */
	if (w[0] | w[1] | w[511])
		return FALSE;
	return memcmp(p, zero_page, HV_PAGE_SIZE) == 0;
}

guint hv_page_class_level_bit(HvPageClass c)
{
	return c > HV_PAGE_RAM && c < HV_PAGE_NCLASS ? 1u << (c - 1) : 0;
}

const char *hv_page_class_name(HvPageClass c)
{
	static const char *const names[HV_PAGE_NCLASS] = {
		"ram", "zero", "cache", "cache-private", "user", "free",
	};

	return c < HV_PAGE_NCLASS ? names[c] : "ram";
}

static inline gboolean test_bit(const guint64 *bits, guint64 k)
{
	return (bits[k / WORD_BITS] >> (k % WORD_BITS)) & 1;
}

static inline void set_bit(guint64 *bits, guint64 k)
{
	bits[k / WORD_BITS] |= 1ull << (k % WORD_BITS);
}

static inline void clear_bit(guint64 *bits, guint64 k)
{
	bits[k / WORD_BITS] &= ~(1ull << (k % WORD_BITS));
}

guint64 hv_page_map_n_pages(const HvPageMap *map, guint i)
{
	return i < map->nregions ? map->npages[i] : 0;
}

gboolean hv_page_map_is_dumped(const HvPageMap *map, guint i, guint64 page)
{
	return i < map->nregions && page < map->npages[i] && test_bit(map->dumped[i], page);
}

gboolean hv_page_map_is_zero(const HvPageMap *map, guint i, guint64 page)
{
	return i < map->nregions && page < map->npages[i] && test_bit(map->zero[i], page);
}

guint64 hv_page_map_n_dumped(const HvPageMap *map)
{
	return map->ndumped;
}

const guint64 *hv_page_map_dumped_bits(const HvPageMap *map, guint i)
{
	return i < map->nregions ? map->dumped[i] : NULL;
}

void hv_page_map_free(HvPageMap *map)
{
	guint i;

	if (map == NULL)
		return;
	for (i = 0; i < map->nregions; i++) {
		g_free(map->dumped[i]);
		g_free(map->zero[i]);
	}
	g_free(map->dumped);
	g_free(map->zero);
	g_free(map->npages);
	g_free(map);
}

/* ---- the extent walker ---------------------------------------------------- */

typedef struct {
	HvPageRunFunc fn;
	gpointer ctx;
	guint64 size;           /* the region's */
	guint64 asm_page;       /* page being assembled, G_MAXUINT64: none */
	guint8 asm_buf[HV_PAGE_SIZE];
} Walk;

static gsize page_len(const Walk *w, guint64 page)
{
	guint64 start = page * HV_PAGE_SIZE;

	return (gsize)MIN((guint64)HV_PAGE_SIZE, w->size - start);
}

static gboolean flush_assembled(Walk *w, GError **error)
{
	guint64 page = w->asm_page;

	if (page == G_MAXUINT64)
		return TRUE;
	w->asm_page = G_MAXUINT64;
	return w->fn(w->ctx, page, w->asm_buf, page_len(w, page), error);
}

/* Bytes [off, off + len) of the region: whole pages go straight to fn,
 * pieces of a page are gathered into asm_buf first. */
static gboolean walk_extent(Walk *w, guint64 off, const guint8 *data, guint64 len, GError **error)
{
	while (len > 0) {
		guint64 page = off / HV_PAGE_SIZE;
		guint64 in_page = off % HV_PAGE_SIZE;
		gsize plen = page_len(w, page);

		if (in_page == 0 && len >= plen && w->asm_page != page) {
			/* the longest run of whole pages (the region's tail page is whole too) */
			guint64 n = len - len % HV_PAGE_SIZE;

			if (n == 0 || off + len == w->size)
				n = len;
			n = MIN(n, (guint64)(64u << 20));
			if (!flush_assembled(w, error) || !w->fn(w->ctx, page, data, (gsize)n, error))
				return FALSE;
			off += n;
			data += n;
			len -= n;
			continue;
		}
		if (w->asm_page != page) {
			if (!flush_assembled(w, error))
				return FALSE;
			memset(w->asm_buf, 0, sizeof(w->asm_buf));
			w->asm_page = page;
		}
		{
			gsize n = (gsize)MIN(len, (guint64)plen - in_page);

			memcpy(w->asm_buf + in_page, data, n);
			off += n;
			data += n;
			len -= n;
		}
	}
	return TRUE;
}

gboolean hv_pagesel_walk_region(guint i, guint64 size, HvExtentFunc extents, gpointer user_data,
				HvPageRunFunc fn, gpointer ctx, guint64 *bytes_read, GError **error)
{
	g_autofree Walk *w = g_new0(Walk, 1);
	guint64 cursor = 0, last_end = 0;
	guint64 off, len;
	const guint8 *data;
	GError *local = NULL;

	w->fn = fn;
	w->ctx = ctx;
	w->size = size;
	w->asm_page = G_MAXUINT64;
	while (extents(user_data, i, &cursor, &off, &len, &data, &local)) {
		if (off > size || len > size - off || off < last_end) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO,
				    "region %u: extent outside the region or out of order", i);
			return FALSE;
		}
		last_end = off + len;
		if (bytes_read != NULL)
			*bytes_read += len;
		if (!walk_extent(w, off, data, len, error))
			return FALSE;
	}
	if (local != NULL) {
		g_propagate_error(error, local);
		return FALSE;
	}
	return flush_assembled(w, error);
}

/* ---- the first pass --------------------------------------------------------- */

typedef struct {
	HvPageMap *map;
	guint region;
	guint level;
	HvDumpStats *stats;
} Pass1;

static gboolean pass1_run(gpointer ctx, guint64 page, const guint8 *data, gsize len,
			  GError **error)
{
	Pass1 *p = ctx;
	guint64 *dumped = p->map->dumped[p->region], *zero = p->map->zero[p->region];

	(void)error;
	while (len > 0) {
		gsize n = MIN(len, (gsize)HV_PAGE_SIZE);
		gboolean is_zero = n == HV_PAGE_SIZE ? hv_page_is_zero(data)
						     : memcmp(data, zero_page, n) == 0;

		/* pages the class excluded stay excluded; the rest were presumed zero */
		if (test_bit(dumped, page) && !is_zero)
			clear_bit(zero, page);
		page++;
		data += n;
		len -= n;
	}
	return TRUE;
}

HvPageMap *hv_page_map_build(const HvDumpLayout *layout, const HvDumpOptions *opt,
			     HvExtentFunc extents, gpointer user_data, HvDumpStats *stats,
			     GError **error)
{
	g_autoptr(HvPageMap) map = g_new0(HvPageMap, 1);
	guint level = opt->dump_level & HV_DUMP_LEVEL_MAX;
	guint i;

	/* without struct-page classes only the zero test can apply */
	if (opt->classes == NULL || !opt->struct_page)
		level &= hv_page_class_level_bit(HV_PAGE_ZERO);
	stats->dump_level = level;
	map->nregions = layout->nregions;
	map->npages = g_new0(guint64, layout->nregions + 1);
	map->dumped = g_new0(guint64 *, layout->nregions + 1);
	map->zero = g_new0(guint64 *, layout->nregions + 1);
	for (i = 0; i < layout->nregions; i++) {
		const HvDumpRegion *r = &layout->regions[i];
		guint64 n = (r->size + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE, k, words;
		Pass1 p = { .map = map, .region = i, .level = level, .stats = stats };

		words = (n + WORD_BITS - 1) / WORD_BITS;
		map->npages[i] = n;
		map->dumped[i] = g_new0(guint64, words + 1);
		map->zero[i] = g_new0(guint64, words + 1);
		stats->pages_total += n;
		/* struct page first (makedumpfile's order); every other page is
		 * presumed zero until an extent shows bytes */
		for (k = 0; k < n; k++) {
			guint64 pfn = r->paddr / HV_PAGE_SIZE + k;
			HvPageClass c = HV_PAGE_RAM;

			if (opt->classes != NULL && pfn < opt->nclasses) {
				if (opt->classes[pfn] == HV_PAGE_ABSENT) {
					stats->pages_absent++;
					continue;
				}
				c = opt->classes[pfn] < HV_PAGE_NCLASS ? opt->classes[pfn] : HV_PAGE_RAM;
			}
			if (c != HV_PAGE_ZERO && (level & hv_page_class_level_bit(c))) {
				stats->pages_excluded[c]++;
				continue;
			}
			set_bit(map->dumped[i], k);
			set_bit(map->zero[i], k);
		}
		if (!hv_pagesel_walk_region(i, r->size, extents, user_data, pass1_run, &p,
					    &stats->bytes_read, error))
			return NULL;
		/* zero pages stay in the dump as makedumpfile keeps them: no data of
		 * their own (an ELF hole, kdump's one shared zero page), readable
		 * as zeros; level bit 1 counts them as left out */
		for (k = 0; k < n; k++) {
			if (!test_bit(map->dumped[i], k))
				continue;
			if (test_bit(map->zero[i], k) && (level & hv_page_class_level_bit(HV_PAGE_ZERO)))
				stats->pages_excluded[HV_PAGE_ZERO]++;
			map->ndumped++;
		}
	}
	stats->pages_zero = stats->pages_excluded[HV_PAGE_ZERO];
	stats->pages_dumped = map->ndumped;
	return g_steal_pointer(&map);
}
