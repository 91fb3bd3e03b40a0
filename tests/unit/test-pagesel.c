/* test-pagesel.c — page selection: the extent walker (whole-page runs,
 * pieces of a page assembled, holes never visited, bad extents refused)
 * and the page map of the first pass (struct-page classes decide first,
 * then the zero test; absent frames; levels without classes). */
#include <string.h>

#include "hv-pagesel.h"

#define NPAGES 40u

typedef struct {
	const guint8 *ram;
	guint64 size;
	/* extents as (offset, length) pairs, in order */
	const guint64 (*ext)[2];
	guint n;
} Src;

static gboolean extents(gpointer user_data, guint i, guint64 *cursor, guint64 *off_ret,
			guint64 *len_ret, const guint8 **data_ret, GError **error)
{
	Src *s = user_data;

	(void)i;
	(void)error;
	if (*cursor >= s->n)
		return FALSE;
	*off_ret = s->ext[*cursor][0];
	*len_ret = s->ext[*cursor][1];
	*data_ret = s->ram + *off_ret;
	(*cursor)++;
	return TRUE;
}

typedef struct {
	guint64 pages[64];
	gsize lens[64];
	guint8 first[64];
	guint n;
} Seen;

static gboolean record(gpointer ctx, guint64 page, const guint8 *data, gsize len, GError **error)
{
	Seen *s = ctx;

	(void)error;
	g_assert_cmpuint(s->n, <, 64);
	s->pages[s->n] = page;
	s->lens[s->n] = len;
	s->first[s->n] = data[0];
	s->n++;
	return TRUE;
}

static void test_walker_assembles_pieces_and_skips_holes(void)
{
	static const guint64 ext[][2] = {
		{ 0, 2 * HV_PAGE_SIZE },                /* pages 0-1 whole */
		{ 3 * HV_PAGE_SIZE + 100, 200 },        /* a piece of page 3 */
		{ 3 * HV_PAGE_SIZE + 1000, 3096 + HV_PAGE_SIZE }, /* rest of 3, all of 4 */
		{ 10 * HV_PAGE_SIZE, HV_PAGE_SIZE + 10 }, /* page 10 and a piece of 11 (the tail) */
	};
	g_autofree guint8 *ram = g_malloc0(12 * HV_PAGE_SIZE);
	Src src = { ram, 11 * HV_PAGE_SIZE + 10, ext, G_N_ELEMENTS(ext) };
	Seen seen = { 0 };
	g_autoptr(GError) error = NULL;
	guint64 read = 0;

	memset(ram, 0xaa, 12 * HV_PAGE_SIZE);
	g_assert_true(hv_pagesel_walk_region(0, src.size, extents, &src, record, &seen, &read, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(read, ==, 2 * HV_PAGE_SIZE + 200 + 3096 + HV_PAGE_SIZE + HV_PAGE_SIZE + 10);
	/* runs: [0,1] whole; 3 assembled; 4 whole; 10 and the region's 10-byte tail */
	g_assert_cmpuint(seen.n, ==, 4);
	g_assert_cmpuint(seen.pages[0], ==, 0);
	g_assert_cmpuint(seen.lens[0], ==, 2 * HV_PAGE_SIZE);
	g_assert_cmpuint(seen.pages[1], ==, 3);
	g_assert_cmpuint(seen.lens[1], ==, HV_PAGE_SIZE);
	g_assert_cmpuint(seen.first[1], ==, 0); /* the hole at the page's start reads zero */
	g_assert_cmpuint(seen.pages[2], ==, 4);
	g_assert_cmpuint(seen.pages[3], ==, 10);
	g_assert_cmpuint(seen.lens[3], ==, HV_PAGE_SIZE + 10);
}

static void test_walker_refuses_bad_extents(void)
{
	static const guint64 outside[][2] = { { 0, 5 * HV_PAGE_SIZE } };
	static const guint64 backwards[][2] = { { HV_PAGE_SIZE, 10 }, { 0, 10 } };
	g_autofree guint8 *ram = g_malloc0(8 * HV_PAGE_SIZE);
	Src a = { ram, 4 * HV_PAGE_SIZE, outside, 1 }, b = { ram, 4 * HV_PAGE_SIZE, backwards, 2 };
	Seen seen = { 0 };
	g_autoptr(GError) e1 = NULL, e2 = NULL;

	g_assert_false(hv_pagesel_walk_region(0, a.size, extents, &a, record, &seen, NULL, &e1));
	g_assert_error(e1, HV_ERROR, HV_ERROR_IO);
	g_assert_false(hv_pagesel_walk_region(0, b.size, extents, &b, record, &seen, NULL, &e2));
	g_assert_error(e2, HV_ERROR, HV_ERROR_IO);
}

static void test_page_map_levels(void)
{
	static const guint64 ext[][2] = { { 0, NPAGES * HV_PAGE_SIZE } };
	g_autofree guint8 *ram = g_malloc0(NPAGES * HV_PAGE_SIZE);
	guint8 classes[NPAGES + 0x100] = { 0 };
	HvDumpRegion r = { .paddr = 0x100 * HV_PAGE_SIZE, .size = NPAGES * HV_PAGE_SIZE };
	HvDumpLayout l = { .regions = &r, .nregions = 1 };
	Src src = { ram, r.size, ext, 1 };
	guint k;
	struct {
		guint level;
		gboolean struct_page;
		guint64 dumped, zero, cache, user, free, absent;
		guint applied;
	} cases[] = {
		/* zero pages stay in the map (readable as zeros); bit 1 counts them */
		{ 0, TRUE, NPAGES - 1, 0, 0, 0, 0, 1, 0 },
		{ 1, TRUE, NPAGES - 1, 20, 0, 0, 0, 1, 1 },
		/* free pages that are also zero count as free: the class decides first */
		{ 17, TRUE, NPAGES - 1 - 10, 10, 0, 0, 10, 1, 17 },
		{ 31, TRUE, NPAGES - 1 - 10 - 3, 10, 2, 1, 10, 1, 31 },
		/* without struct-page classes only the zero bit applies */
		{ 31, FALSE, NPAGES - 1, 20, 0, 0, 0, 1, 1 },
	};

	/* pages 0-9: data; 10-19: free and zero; 20-29: zero; 30-31 cache with
	 * data; 32: user with data; 33: absent; 34-39: data */
	for (k = 0; k < NPAGES; k++)
		if (k < 10 || (k >= 30 && k <= 32) || k >= 34)
			memset(ram + k * HV_PAGE_SIZE + 17, 1, 1);
	for (k = 10; k < 20; k++)
		classes[0x100 + k] = HV_PAGE_FREE;
	classes[0x100 + 30] = classes[0x100 + 31] = HV_PAGE_CACHE;
	classes[0x100 + 32] = HV_PAGE_USER;
	classes[0x100 + 33] = HV_PAGE_ABSENT;

	for (k = 0; k < G_N_ELEMENTS(cases); k++) {
		HvDumpOptions opt = { .dump_level = cases[k].level, .classes = classes,
				      .nclasses = sizeof(classes), .struct_page = cases[k].struct_page };
		HvDumpStats st = { 0 };
		g_autoptr(GError) error = NULL;
		g_autoptr(HvPageMap) map = hv_page_map_build(&l, &opt, extents, &src, &st, &error);

		g_test_message("case %u: level %u", k, cases[k].level);
		g_assert_no_error(error);
		g_assert_nonnull(map);
		g_assert_cmpuint(st.pages_total, ==, NPAGES);
		g_assert_cmpuint(st.pages_dumped, ==, cases[k].dumped);
		g_assert_cmpuint(hv_page_map_n_dumped(map), ==, cases[k].dumped);
		g_assert_cmpuint(st.pages_excluded[HV_PAGE_ZERO], ==, cases[k].zero);
		g_assert_cmpuint(st.pages_excluded[HV_PAGE_CACHE], ==, cases[k].cache);
		g_assert_cmpuint(st.pages_excluded[HV_PAGE_USER], ==, cases[k].user);
		g_assert_cmpuint(st.pages_excluded[HV_PAGE_FREE], ==, cases[k].free);
		g_assert_cmpuint(st.pages_absent, ==, cases[k].absent);
		g_assert_cmpuint(st.dump_level, ==, cases[k].applied);
		g_assert_false(hv_page_map_is_dumped(map, 0, 33));
		g_assert_true(hv_page_map_is_dumped(map, 0, 0));
		g_assert_false(hv_page_map_is_zero(map, 0, 0));
		/* zero pages are marked so (formats write no bytes for them) */
		g_assert_true(hv_page_map_is_dumped(map, 0, 25));
		g_assert_true(hv_page_map_is_zero(map, 0, 25));
		g_assert_false(hv_page_map_is_dumped(map, 1, 0));
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pagesel/walker-assembles-pieces-and-skips-holes",
			test_walker_assembles_pieces_and_skips_holes);
	g_test_add_func("/pagesel/walker-refuses-bad-extents", test_walker_refuses_bad_extents);
	g_test_add_func("/pagesel/page-map-levels", test_page_map_levels);
	return g_test_run();
}
