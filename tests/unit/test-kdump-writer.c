/* test-kdump-writer.c — the kdump-compressed format behind the writer
 * interface, read back by hvdump's kdump reader (crash, drgn and
 * makedumpfile read the same files in tests/e2e): every codec round-trips
 * every page; pages a dump level leaves out are absent and zero pages share
 * one stored page; the header carries version 6, the level, the notes and
 * VMCOREINFO; the file is byte-identical for 1, 2 and 3 threads; a dump
 * cut short by its space limit is kept flagged incomplete. */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-dumpfile.h"
#include "hv-notes.h"
#include "hv-pagesel.h"
#include "hv-writer.h"

#define R0_PAGES 64u
#define R1_PAGES 40u
#define R1_BASE (4ull << 30)

typedef struct {
	guint8 *ram[2];
	guint64 size[2];
} Src;

static gboolean extents(gpointer user_data, guint i, guint64 *cursor, guint64 *off_ret,
			guint64 *len_ret, const guint8 **data_ret, GError **error)
{
	Src *s = user_data;

	(void)error;
	/* two extents per region, the second starting mid-region */
	if (*cursor >= 2)
		return FALSE;
	*off_ret = *cursor == 0 ? 0 : 8 * HV_PAGE_SIZE;
	*len_ret = *cursor == 0 ? 8 * HV_PAGE_SIZE : s->size[i] - 8 * HV_PAGE_SIZE;
	*data_ret = s->ram[i] + *off_ret;
	(*cursor)++;
	return TRUE;
}

static void fill(Src *s)
{
	g_autoptr(GRand) r = g_rand_new_with_seed(42);
	guint i;
	guint64 k;

	s->size[0] = R0_PAGES * HV_PAGE_SIZE;
	s->size[1] = R1_PAGES * HV_PAGE_SIZE;
	for (i = 0; i < 2; i++) {
		s->ram[i] = g_malloc0(s->size[i]);
		for (k = 0; k < s->size[i] / HV_PAGE_SIZE; k++) {
			guint8 *p = s->ram[i] + k * HV_PAGE_SIZE;
			guint j;

			switch (k % 4) {
			case 0: /* incompressible */
				for (j = 0; j < HV_PAGE_SIZE; j += 4) {
					guint32 v = g_rand_int(r);

					memcpy(p + j, &v, 4);
				}
				break;
			case 1: /* text */
				for (j = 0; j + 32 <= HV_PAGE_SIZE; j += 32)
					g_snprintf((char *)p + j, 33, "page %04" G_GUINT64_FORMAT " line %04u ok....\n",
						   k, j);
				break;
			case 2: /* zero */
				break;
			default: /* one byte */
				p[k % HV_PAGE_SIZE] = (guint8)(k + 1);
				break;
			}
		}
	}
}

static char *write_dump(const char *dir, const char *name, const HvDumpFormat *fmt, guint level,
			guint threads, const guint8 *classes, guint64 nclasses, guint64 limit,
			gboolean *incomplete_ret, HvDumpStats *st_ret)
{
	Src *s = g_new0(Src, 1);
	g_autoptr(GByteArray) notes = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	HvDumpRegion regions[2] = {
		{ .paddr = 0, .size = R0_PAGES * HV_PAGE_SIZE },
		{ .paddr = R1_BASE, .size = R1_PAGES * HV_PAGE_SIZE },
	};
	HvDumpLayout l = { .notes = notes, .regions = regions, .nregions = 2, .osrelease = "6.1.0-test",
			   .ncpus = 2, .crash_time = 1700000000, .phys_base = -0x4c00000 };
	HvDumpOptions opt = { .dump_level = level, .threads = threads, .classes = classes,
			      .nclasses = nclasses, .struct_page = classes != NULL };
	HvDumpStats st = { 0 };
	char *path = g_build_filename(dir, name, NULL);
	HvOutput *out;
	gboolean ok;

	fill(s);
	hv_note_append(notes, "CORE", 1, "prstatus-bytes", 14);
	hv_note_append(notes, "VMCOREINFO", 0, "OSRELEASE=6.1.0-test\nPAGESIZE=4096\n", 34);
	out = hv_output_open(path, TRUE, &error);
	g_assert_no_error(error);
	if (limit != 0)
		hv_output_set_limit(out, limit);
	ok = hv_dump_write(fmt, out, &l, &opt, extents, s, 0, &st, &error);
	if (incomplete_ret != NULL)
		*incomplete_ret = !ok && st.incomplete;
	if (ok || st.incomplete) {
		if (!ok)
			g_assert_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_NOSPACE);
		g_clear_error(&error);
		g_assert_true(hv_output_commit(out, &error));
		g_assert_no_error(error);
	} else {
		g_assert_no_error(error);
	}
	hv_output_free(out);
	if (st_ret != NULL)
		*st_ret = st;
	g_free(s->ram[0]);
	g_free(s->ram[1]);
	g_free(s);
	return path;
}

static void check_pages(HvDumpFile *f, const guint8 *classes)
{
	Src s = { 0 };
	guint i;
	guint64 k;

	fill(&s);
	for (i = 0; i < 2; i++) {
		guint64 base = i == 0 ? 0 : R1_BASE;

		for (k = 0; k < s.size[i] / HV_PAGE_SIZE; k++) {
			guint8 page[HV_PAGE_SIZE];
			g_autoptr(GError) error = NULL;
			guint64 pfn = base / HV_PAGE_SIZE + k;
			gboolean excluded = classes != NULL && pfn < 64 && classes[pfn] != HV_PAGE_RAM;

			g_assert_cmpint(hv_dump_file_page_present(f, pfn), ==, !excluded);
			g_assert_true(hv_dump_file_read(f, base + k * HV_PAGE_SIZE, page, sizeof(page), &error));
			g_assert_no_error(error);
			if (!excluded)
				g_assert_cmpmem(page, HV_PAGE_SIZE, s.ram[i] + k * HV_PAGE_SIZE, HV_PAGE_SIZE);
		}
	}
	g_free(s.ram[0]);
	g_free(s.ram[1]);
}

static void test_every_codec_round_trips(void)
{
	g_autofree char *dir = g_dir_make_tmp("hvdump-kdump-XXXXXX", NULL);
	static const char *const names[] = { "kdump-zlib", "kdump-zstd", "kdump-lzo", "kdump-snappy" };
	guint i;

	for (i = 0; i < G_N_ELEMENTS(names); i++) {
		const HvDumpFormat *fmt = hv_dump_format_lookup(names[i]);
		g_autofree char *path = write_dump(dir, names[i], fmt, 1, 2, NULL, 0, 0, NULL, NULL);
		g_autoptr(GError) error = NULL;
		g_autoptr(HvDumpFile) f = hv_dump_file_open(path, &error);
		const HvDumpFileInfo *info;
		gsize vlen = 0;
		const char *vi;
		struct stat sb;

		g_test_message("%s", names[i]);
		g_assert_no_error(error);
		g_assert_nonnull(f);
		info = hv_dump_file_get_info(f);
		g_assert_cmpint(info->kind, ==, HV_DUMP_FILE_KDUMP);
		g_assert_false(info->flattened);
		g_assert_cmpint(info->compression, ==, fmt->compression);
		g_assert_cmpint(info->dump_level, ==, 1);
		g_assert_cmpuint(info->header_version, ==, 6);
		g_assert_false(info->incomplete);
		g_assert_cmpuint(info->nr_cpus, ==, 2);
		g_assert_cmpstr(info->release, ==, "6.1.0-test");
		g_assert_cmpuint(info->max_pfn, ==, R1_BASE / HV_PAGE_SIZE + R1_PAGES);
		g_assert_cmpuint(info->pages_ram, ==, R0_PAGES + R1_PAGES);
		/* zero pages stay in the dump (one shared stored page) */
		g_assert_cmpuint(info->pages_present, ==, R0_PAGES + R1_PAGES);
		vi = hv_dump_file_get_vmcoreinfo(f, &vlen);
		g_assert_nonnull(vi);
		g_assert_true(g_str_has_prefix(vi, "OSRELEASE=6.1.0-test\n"));
		g_assert_cmpuint(hv_dump_file_get_notes(f)->len, >, 0);
		g_assert_cmpuint(hv_dump_file_n_regions(f), ==, 2);
		check_pages(f, NULL);
		g_assert_cmpint(stat(path, &sb), ==, 0);
		g_assert_cmpint(sb.st_mode & 0777, ==, 0600);
		/* incompressible pages stored raw, the rest smaller than a page */
		g_assert_cmpuint((guint64)sb.st_size, <, (R0_PAGES + R1_PAGES) * HV_PAGE_SIZE);
		unlink(path);
	}
	rmdir(dir);
}

static void test_dump_level_leaves_pages_out(void)
{
	g_autofree char *dir = g_dir_make_tmp("hvdump-kdump-XXXXXX", NULL);
	guint8 classes[64] = { 0 };
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = NULL;
	HvDumpStats st;
	guint k;

	for (k = 10; k < 20; k++)
		classes[k] = HV_PAGE_FREE;
	classes[30] = HV_PAGE_CACHE;
	classes[31] = HV_PAGE_USER;
	path = write_dump(dir, "d31", &hv_dump_format_kdump_zstd, 31, 3, classes, sizeof(classes), 0,
			  NULL, &st);
	g_assert_cmpuint(st.pages_excluded[HV_PAGE_FREE], ==, 10);
	g_assert_cmpuint(st.pages_excluded[HV_PAGE_CACHE], ==, 1);
	g_assert_cmpuint(st.pages_excluded[HV_PAGE_USER], ==, 1);
	f = hv_dump_file_open(path, &error);
	g_assert_no_error(error);
	g_assert_cmpint(hv_dump_file_get_info(f)->dump_level, ==, 31);
	g_assert_cmpuint(hv_dump_file_get_info(f)->pages_present, ==, R0_PAGES + R1_PAGES - 12);
	check_pages(f, classes);
	unlink(path);
	rmdir(dir);
}

static void test_same_bytes_for_any_thread_count(void)
{
	g_autofree char *dir = g_dir_make_tmp("hvdump-kdump-XXXXXX", NULL);
	g_autofree char *a = write_dump(dir, "t1", &hv_dump_format_kdump_zlib, 1, 1, NULL, 0, 0, NULL, NULL);
	g_autofree char *b = write_dump(dir, "t2", &hv_dump_format_kdump_zlib, 1, 2, NULL, 0, 0, NULL, NULL);
	g_autofree char *c = write_dump(dir, "t3", &hv_dump_format_kdump_zlib, 1, 3, NULL, 0, 0, NULL, NULL);
	g_autofree char *da = NULL, *db = NULL, *dc = NULL;
	gsize la, lb, lc;

	g_assert_true(g_file_get_contents(a, &da, &la, NULL));
	g_assert_true(g_file_get_contents(b, &db, &lb, NULL));
	g_assert_true(g_file_get_contents(c, &dc, &lc, NULL));
	g_assert_cmpmem(da, la, db, lb);
	g_assert_cmpmem(da, la, dc, lc);
	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(dir);
}

static void test_cut_short_is_flagged_incomplete(void)
{
	g_autofree char *dir = g_dir_make_tmp("hvdump-kdump-XXXXXX", NULL);
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = NULL;
	gboolean incomplete = FALSE;
	guint8 page[HV_PAGE_SIZE];
	HvDumpStats st;

	/* room for the headers, both bitmaps (4 GiB + 40 pages: 33 blocks
	 * each), the descriptors and a few pages of data */
	path = write_dump(dir, "cut", &hv_dump_format_kdump_lzo, 1, 2, NULL, 0,
			  (2 + 2 * 33) * HV_PAGE_SIZE + 104 * 24 + 12000, &incomplete, &st);
	g_assert_true(incomplete);
	g_assert_true(st.incomplete);
	f = hv_dump_file_open(path, &error);
	g_assert_no_error(error);
	g_assert_true(hv_dump_file_get_info(f)->incomplete);
	/* pages whose data never made it (here all: one batch, lost whole) are
	 * not present, and reading one fails with a clean error */
	g_assert_false(hv_dump_file_page_present(f, R1_BASE / HV_PAGE_SIZE + R1_PAGES - 1));
	g_assert_false(hv_dump_file_read(f, 0, page, sizeof(page), &error));
	g_assert_error(error, HV_ERROR, HV_ERROR_PARSE);
	g_assert_nonnull(strstr(error->message, "incomplete"));
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/kdump-writer/every-codec-round-trips", test_every_codec_round_trips);
	g_test_add_func("/kdump-writer/dump-level-leaves-pages-out", test_dump_level_leaves_pages_out);
	g_test_add_func("/kdump-writer/same-bytes-for-any-thread-count", test_same_bytes_for_any_thread_count);
	g_test_add_func("/kdump-writer/cut-short-is-flagged-incomplete", test_cut_short_is_flagged_incomplete);
	return g_test_run();
}
