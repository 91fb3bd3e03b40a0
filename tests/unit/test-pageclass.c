/* test-pageclass.c — dump-level classes from struct pages of the synthetic
 * guest's memory map, in Linux 6.1's and 6.12's encodings: buddy blocks,
 * page cache with and without private data, anonymous and slab pages,
 * hugetlb compound pages (whole), and hostile struct pages (orders out of
 * range, blocks past the end, a broken memory map) that keep their frames. */
#include "hv-pageclass.h"
#include "synth-mm.h"

typedef struct {
	guint8 *ram;
	HvRamSource *mem;
	HvPgtable pt;
	HvVmcoreinfo vi;
	guint8 classes[SM_PFNS];
	HvPageClassStats st;
} Fx;

static void fx_init(Fx *f, gboolean v612)
{
	g_autofree char *text = sm_vmcoreinfo_text(v612);
	g_autoptr(GError) error = NULL;

	f->ram = g_malloc0(SG_RAM);
	sg_build(f->ram);
	sm_build(f->ram);
	f->mem = sg_source(f->ram);
	hv_pgtable_init(&f->pt, hv_ram_source_phys_read, f->mem, SG_PML4, FALSE);
	g_assert_true(hv_vmcoreinfo_parse((const guint8 *)text, strlen(text), &f->vi, &error));
	g_assert_no_error(error);
}

static void fx_clear(Fx *f)
{
	hv_ram_source_free(f->mem);
	hv_vmcoreinfo_clear(&f->vi);
	g_free(f->ram);
}

static gboolean classify(Fx *f, GError **error)
{
	HvPageClassInput in = { .read = hv_ram_source_phys_read, .ctx = f->mem, .pt = &f->pt,
				.vi = &f->vi, .max_pfn = SM_PFNS };

	return hv_page_classify(&in, f->classes, &f->st, error);
}

static void test_classes(gconstpointer data)
{
	gboolean v612 = GPOINTER_TO_INT(data);
	g_autoptr(GError) error = NULL;
	Fx f;
	guint k;

	fx_init(&f, v612);
	sm_buddy(f.ram, 4096, 3, v612);                         /* 4096..4103 free */
	sg_put64(sm_page(f.ram, 5000), SM_FLAGS, 1ull << SM_PG_LRU);
	sg_put64(sm_page(f.ram, 5000), SM_MAPPING, SG_DIRECT + 0x123000);
	sg_put64(sm_page(f.ram, 5001), SM_FLAGS, (1ull << SM_PG_LRU) | (1ull << SM_PG_PRIVATE));
	sg_put64(sm_page(f.ram, 5002), SM_MAPPING, SG_DIRECT + 0x456001); /* anonymous */
	/* mapping bit 0 on a slab page is not anonymous */
	sg_put64(sm_page(f.ram, 5003), SM_MAPPING, SG_DIRECT + 0x789001);
	if (v612)
		sm_put32(sm_page(f.ram, 5003) + SM_MAPCOUNT, (guint32)SM_SLAB_612);
	else
		sg_put64(sm_page(f.ram, 5003), SM_FLAGS, 1ull << SM_PG_SLAB);
	/* swap cache counts as cache only with PG_swapbacked */
	sg_put64(sm_page(f.ram, 5004), SM_FLAGS, (1ull << SM_PG_SWAPCACHE) | (1ull << SM_PG_SWAPBACKED));
	sg_put64(sm_page(f.ram, 5005), SM_FLAGS, 1ull << SM_PG_SWAPCACHE);
	sm_compound(f.ram, 5120, 9, TRUE, v612);                /* hugetlb 5120..5631 */
	sm_compound(f.ram, 6144, 4, FALSE, v612);               /* kernel compound: kept */

	g_assert_true(classify(&f, &error));
	g_assert_no_error(error);
	for (k = 4096; k < 4104; k++)
		g_assert_cmpuint(f.classes[k], ==, HV_PAGE_FREE);
	g_assert_cmpuint(f.classes[4104], ==, HV_PAGE_RAM);
	g_assert_cmpuint(f.classes[5000], ==, HV_PAGE_CACHE);
	g_assert_cmpuint(f.classes[5001], ==, HV_PAGE_CACHE_PRIVATE);
	g_assert_cmpuint(f.classes[5002], ==, HV_PAGE_USER);
	g_assert_cmpuint(f.classes[5003], ==, HV_PAGE_RAM);
	g_assert_cmpuint(f.classes[5004], ==, HV_PAGE_CACHE);
	g_assert_cmpuint(f.classes[5005], ==, HV_PAGE_RAM);
	for (k = 5120; k < 5632; k++)
		g_assert_cmpuint(f.classes[k], ==, HV_PAGE_USER);
	for (k = 6144; k < 6160; k++)
		g_assert_cmpuint(f.classes[k], ==, HV_PAGE_RAM);
	g_assert_cmpuint(f.st.pages[HV_PAGE_FREE], ==, 8);
	g_assert_cmpuint(f.st.pages[HV_PAGE_USER], ==, 513);
	g_assert_cmpuint(f.st.pages[HV_PAGE_CACHE], ==, 2);
	g_assert_cmpuint(f.st.sections, ==, 1);
	g_assert_cmpuint(f.st.inconsistent, ==, 0);
	fx_clear(&f);
}

static void test_hostile_struct_pages_keep_frames(gconstpointer data)
{
	gboolean v612 = GPOINTER_TO_INT(data);
	g_autoptr(GError) error = NULL;
	Fx f;

	fx_init(&f, v612);
	sm_buddy(f.ram, 100, 40, v612);      /* order beyond the free areas */
	sm_buddy(f.ram, 200, 63, v612);
	sm_buddy(f.ram, 8184, 10, v612);     /* a block past the last frame: clipped */
	sm_compound(f.ram, 3004, 3, TRUE, v612); /* misaligned compound head */
	/* a compound order of 200 on an aligned head: refused */
	sg_put64(sm_page(f.ram, 4096), SM_FLAGS, 1ull << SM_PG_HEAD);
	if (v612)
		sg_put64(sm_page(f.ram, 4097), SM_FLAGS, 200);
	else
		sm_page(f.ram, 4097)[SM_ORDER] = 200;
	g_assert_true(classify(&f, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(f.classes[100], ==, HV_PAGE_RAM);
	g_assert_cmpuint(f.classes[200], ==, HV_PAGE_RAM);
	g_assert_cmpuint(f.classes[8184], ==, HV_PAGE_FREE);
	g_assert_cmpuint(f.classes[8191], ==, HV_PAGE_FREE);
	g_assert_cmpuint(f.classes[3004], ==, HV_PAGE_USER); /* order dropped: the head alone */
	g_assert_cmpuint(f.classes[3005], ==, HV_PAGE_RAM);
	g_assert_cmpuint(f.st.inconsistent, >=, 4);
	fx_clear(&f);
}

static void test_broken_memory_map_is_an_error(void)
{
	static const struct {
		guint64 pa, value;
		const char *what;
	} cases[] = {
		{ SM_ROOTPTR_PA, 0x1234, "user-space root array" },
		{ SM_ROOTS_PA, 0x4000, "user-space section array" },
		{ SM_SECTIONS_PA, 0x2, "no present section" },
		{ SM_SECTIONS_PA, 0x1234003, "vmemmap in user space" },
	};
	guint i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		Fx f;

		g_test_message("%s", cases[i].what);
		fx_init(&f, FALSE);
		sg_put64(f.ram, cases[i].pa, cases[i].value);
		g_assert_false(classify(&f, &error));
		g_assert_error(error, HV_ERROR, HV_ERROR_PARSE);
		/* and nothing was classed */
		g_assert_cmpuint(f.classes[4096], ==, HV_PAGE_RAM);
		fx_clear(&f);
	}
}

static void test_missing_vmcoreinfo_keys(void)
{
	static const char *const keys[] = {
		"SYMBOL(mem_section)", "SIZE(page)", "OFFSET(page.flags)", "NUMBER(PG_head_mask)",
		"NUMBER(SECTION_SIZE_BITS)",
	};
	guint i;

	for (i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autofree char *text = sm_vmcoreinfo_text(FALSE);
		g_autoptr(GError) error = NULL;
		char *p = strstr(text, keys[i]);
		Fx f;

		fx_init(&f, FALSE);
		g_assert_nonnull(p);
		p[0] = 'X'; /* the key is gone */
		hv_vmcoreinfo_clear(&f.vi);
		g_assert_true(hv_vmcoreinfo_parse((const guint8 *)text, strlen(text), &f.vi, NULL));
		g_assert_false(classify(&f, &error));
		g_assert_nonnull(strstr(error->message, keys[i] + 1));
		fx_clear(&f);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/pageclass/linux-6.1/classes", GINT_TO_POINTER(FALSE), test_classes);
	g_test_add_data_func("/pageclass/linux-6.12/classes", GINT_TO_POINTER(TRUE), test_classes);
	g_test_add_data_func("/pageclass/linux-6.1/hostile-struct-pages-keep-frames",
			     GINT_TO_POINTER(FALSE), test_hostile_struct_pages_keep_frames);
	g_test_add_data_func("/pageclass/linux-6.12/hostile-struct-pages-keep-frames",
			     GINT_TO_POINTER(TRUE), test_hostile_struct_pages_keep_frames);
	g_test_add_func("/pageclass/broken-memory-map-is-an-error", test_broken_memory_map_is_an_error);
	g_test_add_func("/pageclass/missing-vmcoreinfo-keys", test_missing_vmcoreinfo_keys);
	return g_test_run();
}
