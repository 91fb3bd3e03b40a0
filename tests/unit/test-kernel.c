/* test-kernel.c — VMCOREINFO parsing, the page-table walker and kernel
 * discovery on a synthetic guest, including forged and damaged notes. */
#include <string.h>

#include "hv-kernel.h"
#include "hv-machine.h"
#include "synth-guest.h"

typedef struct {
	guint8 *ram;
	HvRamSource *mem;
	GArray *cpus;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
	(void)data;
	f->ram = g_malloc0(SG_RAM);
	sg_build(f->ram);
	f->mem = sg_source(f->ram);
	f->cpus = sg_cpus();
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	hv_ram_source_free(f->mem);
	g_array_unref(f->cpus);
	g_free(f->ram);
}

static gboolean has_warning(HvKernelInfo *ki, const char *needle)
{
	guint i;

	for (i = 0; i < ki->warnings->len; i++) {
		if (strstr(g_ptr_array_index(ki->warnings, i), needle) != NULL)
			return TRUE;
	}
	return FALSE;
}

static void test_vmcoreinfo_parses_kernel_text(void)
{
	const char *t = sg_vmcoreinfo_text();
	g_autoptr(GError) error = NULL;
	HvVmcoreinfo vi;

	g_assert_true(hv_vmcoreinfo_parse((const guint8 *)t, strlen(t), &vi, &error));
	g_assert_cmpstr(vi.osrelease, ==, SG_RELEASE);
	g_assert_cmphex(vi.stext, ==, SG_STEXT);
	g_assert_cmphex(vi.init_uts_ns, ==, SG_UTS);
	g_assert_cmpint(vi.phys_base, ==, 0);
	g_assert_true(vi.has_kerneloffset);
	g_assert_cmpstr(vi.build_id, ==, "0123456789abcdef");
	hv_vmcoreinfo_clear(&vi);
}

static void test_vmcoreinfo_reads_negative_phys_base(void)
{
	const char *t = "OSRELEASE=x\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81000000\n"
			"SYMBOL(swapper_pg_dir)=ffffffff82000000\nNUMBER(phys_base)=-79691776\n";
	HvVmcoreinfo vi;

	g_assert_true(hv_vmcoreinfo_parse((const guint8 *)t, strlen(t), &vi, NULL));
	g_assert_cmpint(vi.phys_base, ==, -79691776);
	hv_vmcoreinfo_clear(&vi);
}

static void expect_parse_error(const char *t, gsize len, const char *needle)
{
	g_autoptr(GError) error = NULL;
	HvVmcoreinfo vi;

	g_assert_false(hv_vmcoreinfo_parse((const guint8 *)t, len, &vi, &error));
	g_assert_nonnull(error);
	if (strstr(error->message, needle) == NULL)
		g_error("'%s' lacks '%s'", error->message, needle);
}

static void test_vmcoreinfo_rejects_hostile_text(void)
{
	g_autofree char *longline = g_strdup_printf("OSRELEASE=%0600d\n", 1);
	GString *many = g_string_new(NULL);
	guint i;

	expect_parse_error("PAGESIZE=4096\n", 14, "missing OSRELEASE");
	expect_parse_error("OSRELEASE=a\x01\n", 13, "non-printable");
	expect_parse_error("OSRELEASE=a\nnoequals\n", 21, "not KEY=VALUE");
	expect_parse_error(longline, strlen(longline), "too long");
	expect_parse_error("OSRELEASE=a\nPAGESIZE=65536\n", 27, "PAGESIZE");
	expect_parse_error("OSRELEASE=a\nPAGESIZE=4096\nSYMBOL(_stext)=1234\n", 46, "_stext");
	expect_parse_error("OSRELEASE=a\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81000000xyz\n", 61,
			   "_stext");
	expect_parse_error("OSRELEASE=a\nKERNELOFFSET=ffffffffffff\n", 38, "KERNELOFFSET");
	for (i = 0; i < HV_VMCOREINFO_MAX_LINES + 1; i++)
		g_string_append(many, "A=1\n");
	expect_parse_error(many->str, many->len, "lines");
	g_string_free(many, TRUE);
}

static void test_note_header_checks_bounds(void)
{
	guint8 page[4096] = { 0 };
	guint32 descsz;

	sg_write_note(page, 0, "OSRELEASE=x\n");
	g_assert_true(hv_vmcoreinfo_note_header(page, sizeof(page), &descsz));
	g_assert_cmpuint(descsz, ==, 12);
	g_assert_false(hv_vmcoreinfo_note_header(page, 30, &descsz));   /* desc past end */
	g_assert_false(hv_vmcoreinfo_note_header(page, 10, &descsz));   /* header past end */
	page[4] = 0xff; page[5] = 0xff; page[6] = 0xff; page[7] = 0x7f;  /* huge descsz */
	g_assert_false(hv_vmcoreinfo_note_header(page, sizeof(page), &descsz));
	page[4] = 12; page[5] = page[6] = page[7] = 0;
	page[12] = 'X';
	g_assert_false(hv_vmcoreinfo_note_header(page, sizeof(page), &descsz));
}

static void test_pgtable_translates_2m_4k_and_misses(Fixture *f, gconstpointer data)
{
	HvPgtable pt;
	guint64 pa, span;

	(void)data;
	hv_pgtable_init(&pt, hv_ram_source_phys_read, f->mem, SG_PML4, FALSE);
	g_assert_true(hv_pgtable_translate(&pt, SG_STEXT + 0x1234, &pa, &span));
	g_assert_cmphex(pa, ==, 0x1001234);
	g_assert_cmphex(span, ==, 2u << 20);
	/* a 4K page under a page table */
	sg_put64(f->ram, SG_PD_D + 8 * 20, 0x6000 | 0x63);
	sg_put64(f->ram, 0x6000 + 8 * 3, 0x7000 | 0x63);
	g_assert_true(hv_pgtable_translate(&pt, SG_DIRECT + (20ull << 21) + 3 * 4096 + 5, &pa, &span));
	g_assert_cmphex(pa, ==, 0x7005);
	g_assert_cmphex(span, ==, 4096);
	/* not present, non-canonical */
	g_assert_false(hv_pgtable_translate(&pt, 0xffffc90000000000ull, &pa, &span));
	g_assert_cmphex(span, ==, 1ull << 39);
	g_assert_false(hv_pgtable_translate(&pt, 0x0000900000000000ull, &pa, NULL));
	/* a table pointing outside RAM */
	sg_put64(f->ram, SG_PML4 + 8 * 300, 0x7ffffffff000ull | 0x63);
	g_assert_false(hv_pgtable_translate(&pt, 0xffff960000000000ull, &pa, NULL));
	/* a self-referencing table cannot loop: still exactly 4 levels */
	sg_put64(f->ram, SG_PML4 + 8 * 301, SG_PML4 | 0x63);
	g_assert_false(hv_pgtable_translate(&pt, 0xffff968000000000ull, &pa, NULL));
}

static void test_pgtable_finds_direct_map(Fixture *f, gconstpointer data)
{
	HvPgtable pt;
	guint64 base = 0;

	(void)data;
	hv_pgtable_init(&pt, hv_ram_source_phys_read, f->mem, SG_PML4, FALSE);
	g_assert_true(hv_pgtable_find_direct_map(&pt, SG_RAM, &base));
	g_assert_cmphex(base, ==, SG_DIRECT);
}

static void test_kernel_discovers_verified_note(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	HvKernelInfo ki;

	(void)data;
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, &error));
	g_assert_true(ki.found);
	g_assert_true(ki.verified);
	g_assert_cmphex(ki.note_paddr, ==, SG_NOTE);
	g_assert_cmpstr(ki.vi.osrelease, ==, SG_RELEASE);
	g_assert_true(ki.has_kimage);
	g_assert_cmphex(ki.kimage_vaddr, ==, SG_STEXT);
	g_assert_cmphex(ki.kimage_paddr, ==, 0x1000000);
	g_assert_cmphex(ki.kimage_size, ==, 16u << 20);
	g_assert_true(ki.has_direct_map);
	g_assert_cmphex(ki.page_offset_base, ==, SG_DIRECT);
	hv_kernel_info_clear(&ki);
}

static void test_kernel_ignores_forged_note(Fixture *f, gconstpointer data)
{
	HvKernelInfo ki;

	(void)data;
	/* a "user process" note claiming another kernel location, placed first */
	memset(f->ram + SG_NOTE, 0, 4096);
	sg_write_note(f->ram, 0x8000,
		      "OSRELEASE=evil\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81200000\n"
		      "SYMBOL(swapper_pg_dir)=ffffffff81a00000\nNUMBER(phys_base)=4096\n");
	sg_write_note(f->ram, SG_NOTE2, sg_vmcoreinfo_text());
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_cmphex(ki.note_paddr, ==, SG_NOTE2);
	g_assert_cmpstr(ki.vi.osrelease, ==, SG_RELEASE);
	g_assert_true(has_warning(&ki, "disagrees"));
	hv_kernel_info_clear(&ki);
}

/* An unprivileged process sprays page-aligned notes that parse but lie;
 * the genuine note lies beyond them in scan order. */
static void test_kernel_sees_past_sprayed_notes(Fixture *f, gconstpointer data)
{
	HvKernelInfo ki;
	guint i;

	(void)data;
	memset(f->ram + SG_NOTE, 0, 4096);
	for (i = 0; i < 3 * HV_MAX_VMCOREINFO_CANDIDATES; i++)
		sg_write_note(f->ram, 0x100000 + i * 4096,
			      "OSRELEASE=6.1.0-synthetic\nPAGESIZE=4096\n"
			      "SYMBOL(_stext)=ffffffff82000000\n"
			      "SYMBOL(swapper_pg_dir)=ffffffff81a00000\nNUMBER(phys_base)=0\n");
	sg_write_note(f->ram, 0x400000, sg_vmcoreinfo_text());
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_true(ki.verified);
	g_assert_cmphex(ki.note_paddr, ==, 0x400000);
	g_assert_cmpuint(ki.candidates, ==, 1);
	/* a few named, the rest counted: the log stays short */
	g_assert_cmpuint(ki.warnings->len, <=, HV_MAX_VMCOREINFO_WARNINGS + 1);
	g_assert_true(has_warning(&ki, "45 more VMCOREINFO candidates"));
	hv_kernel_info_clear(&ki);

	/* announced by a (forged) descriptor: a note that parses but fails
	 * verification must not stop the scan */
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0x100000, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_cmphex(ki.note_paddr, ==, 0x400000);
	g_assert_true(has_warning(&ki, "announced"));
	hv_kernel_info_clear(&ki);
}

static void test_kernel_rejects_release_mismatch(Fixture *f, gconstpointer data)
{
	HvKernelInfo ki;

	(void)data;
	memset(f->ram + SG_NOTE, 0, 4096);
	sg_write_note(f->ram, SG_NOTE,
		      "OSRELEASE=6.1.0-other\nPAGESIZE=4096\nSYMBOL(_stext)=ffffffff81000000\n"
		      "SYMBOL(init_uts_ns)=ffffffff81800000\n"
		      "SYMBOL(swapper_pg_dir)=ffffffff81a00000\nNUMBER(phys_base)=0\n");
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, NULL));
	g_assert_false(ki.found);
	g_assert_true(has_warning(&ki, "no VMCOREINFO candidate passed"));
	hv_kernel_info_clear(&ki);
}

static void test_kernel_prefers_note_the_kernel_points_at(Fixture *f, gconstpointer data)
{
	HvKernelInfo ki;

	(void)data;
	/* two identical, verifiable notes; kernel data points at the second */
	sg_write_note(f->ram, SG_NOTE2, sg_vmcoreinfo_text());
	sg_put64(f->ram, 0x1000000 + 0x400000, SG_DIRECT + SG_NOTE2);
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_cmphex(ki.note_paddr, ==, SG_NOTE2);
	hv_kernel_info_clear(&ki);
}

static void test_kernel_uses_announced_address(Fixture *f, gconstpointer data)
{
	HvKernelInfo ki;

	(void)data;
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, SG_NOTE, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_cmpuint(ki.candidates, ==, 1);
	hv_kernel_info_clear(&ki);
	/* a wrong announcement falls back to the scan */
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0x300000, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_true(has_warning(&ki, "announced"));
	hv_kernel_info_clear(&ki);
}

static void test_kernel_without_note_or_long_mode(Fixture *f, gconstpointer data)
{
	HvKernelInfo ki;

	(void)data;
	g_array_index(f->cpus, HvVcpuRegs, 0).efer = 0; /* real mode */
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, NULL));
	g_assert_true(ki.found);
	g_assert_false(ki.verified);
	g_assert_true(has_warning(&ki, "unverified"));
	hv_kernel_info_clear(&ki);
	memset(f->ram + SG_NOTE, 0, 4096);
	g_assert_true(hv_kernel_discover(f->mem, f->cpus, 0, &ki, NULL));
	g_assert_false(ki.found);
	g_assert_true(has_warning(&ki, "no VMCOREINFO note found"));
	hv_kernel_info_clear(&ki);
}

#define FX(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/vmcoreinfo/parses-kernel-text", test_vmcoreinfo_parses_kernel_text);
	g_test_add_func("/vmcoreinfo/reads-negative-phys-base", test_vmcoreinfo_reads_negative_phys_base);
	g_test_add_func("/vmcoreinfo/rejects-hostile-text", test_vmcoreinfo_rejects_hostile_text);
	g_test_add_func("/vmcoreinfo/note-header-checks-bounds", test_note_header_checks_bounds);
	FX("/pgtable/translates-2m-4k-and-misses", test_pgtable_translates_2m_4k_and_misses);
	FX("/pgtable/finds-direct-map", test_pgtable_finds_direct_map);
	FX("/kernel/sees-past-sprayed-notes", test_kernel_sees_past_sprayed_notes);
	FX("/kernel/discovers-verified-note", test_kernel_discovers_verified_note);
	FX("/kernel/ignores-forged-note", test_kernel_ignores_forged_note);
	FX("/kernel/rejects-release-mismatch", test_kernel_rejects_release_mismatch);
	FX("/kernel/prefers-note-the-kernel-points-at", test_kernel_prefers_note_the_kernel_points_at);
	FX("/kernel/uses-announced-address", test_kernel_uses_announced_address);
	FX("/kernel/without-note-or-long-mode", test_kernel_without_note_or_long_mode);
	return g_test_run();
}
