/* test-elfcore.c — the ELF vmcore format behind the writer interface (with
 * page selection) and NAME.part handling, read back with libelf: header
 * layout, notes, segment placement and the kernel image alias, sparse
 * output (zero pages are holes), mode 0600, no file left on failure. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <signal.h>

#include "hv-notes.h"
#include "hv-pagesel.h"
#include "hv-writer.h"

typedef struct {
	const guint8 *seg[4];
	guint64 size[4];
} Src;

/* one extent per region: all of it */

static gboolean whole_extent(gpointer user_data, guint index, guint64 *cursor, guint64 *off,
			     guint64 *len, const guint8 **data, GError **error)
{
	Src *s = user_data;

	(void)error;
	if (*cursor != 0)
		return FALSE;
	*cursor = s->size[index];
	*off = 0;
	*len = s->size[index];
	*data = s->seg[index];
	return TRUE;
}

static char *tmpdir(void)
{
	return g_dir_make_tmp("hvdump-test-XXXXXX", NULL);
}

static void test_elfcore_layout_notes_and_sparseness(void)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "core", NULL);
	g_autofree char *part = g_strconcat(path, ".part", NULL);
	const gsize n = 256 * HV_PAGE_SIZE; /* 1 MiB, almost all zero */
	g_autofree guint8 *ram = g_malloc0(n);
	g_autoptr(GByteArray) notes = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	HvVcpuRegs regs = { 0 };
	HvDumpRegion region = { .paddr = 0x1000000, .vaddr = 0xffff888001000000ull, .size = n };
	HvDumpLayout layout = { .notes = notes, .regions = &region, .nregions = 1,
				.has_kimage = TRUE, .kimage_vaddr = 0xffffffff81000000ull,
				.kimage_paddr = 0x1000000 + 0x3000, .kimage_size = 0x2000 };
	Src src = { .seg = { ram }, .size = { n } };
	HvDumpOptions dopt = { .dump_level = 1 };
	HvDumpStats st;
	HvOutput *out;
	struct stat sb;
	Elf *e;
	GElf_Ehdr eh;
	GElf_Phdr ph;
	size_t phnum;
	int fd;
	guint8 buf[16];

	memcpy(ram + 0x3000, "KERNEL-TEXT", 11);
	memcpy(ram + 200 * HV_PAGE_SIZE + 7, "X", 1);
	regs.rip = 0xffffffff81000123ull;
	regs.gpr[HV_RSP] = 0xffffc90000001000ull;
	regs.cs.selector = 0x10;
	hv_note_append_prstatus(notes, &regs, 1);
	hv_note_append_qemu_cpustate(notes, &regs);
	hv_note_append(notes, "VMCOREINFO", 0, "OSRELEASE=x\n", 12);

	out = hv_output_open(path, FALSE, &error);
	g_assert_no_error(error);
	g_assert_true(g_file_test(part, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	g_assert_true(hv_dump_write(&hv_dump_format_elf, out, &layout, &dopt, whole_extent, &src, 0,
				    &st, &error));
	g_assert_no_error(error);
	g_assert_true(hv_output_commit(out, &error));
	hv_output_free(out);
	g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(st.pages_zero, ==, 254);
	g_assert_cmpuint(st.bytes_written, ==, 2 * HV_PAGE_SIZE);

	g_assert_cmpint(stat(path, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 0777, ==, 0600);
	g_assert_cmpuint((guint64)sb.st_size, ==, st.file_size);
	/* sparse: far less allocated than the apparent size */
	g_assert_cmpuint((guint64)sb.st_blocks * 512, <, 64 * 1024);

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	e = elf_begin(fd, ELF_C_READ, NULL);
	g_assert_nonnull(gelf_getehdr(e, &eh));
	g_assert_cmpint(eh.e_type, ==, ET_CORE);
	g_assert_cmpint(eh.e_machine, ==, EM_X86_64);
	g_assert_cmpint(eh.e_phoff, ==, 64);
	g_assert_cmpint(elf_getphdrnum(e, &phnum), ==, 0);
	g_assert_cmpuint(phnum, ==, 3);
	g_assert_nonnull(gelf_getphdr(e, 0, &ph));
	g_assert_cmpint(ph.p_type, ==, PT_NOTE);
	{
		Elf_Data *d = elf_getdata_rawchunk(e, (off_t)ph.p_offset, ph.p_filesz, ELF_T_NHDR);
		size_t off = 0, name_off, desc_off;
		GElf_Nhdr nh;
		int i = 0;
		const char *names[] = { "CORE", "QEMU", "VMCOREINFO" };
		const guint32 sizes[] = { HV_PRSTATUS_SIZE, HV_QEMU_CPUSTATE_SIZE, 12 };

		while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
			g_assert_cmpint(i, <, 3);
			g_assert_cmpstr((const char *)d->d_buf + name_off, ==, names[i]);
			g_assert_cmpuint(nh.n_descsz, ==, sizes[i]);
			if (i == 0) {
				guint64 rip;

				memcpy(&rip, (guint8 *)d->d_buf + desc_off + 112 + 16 * 8, 8);
				g_assert_cmphex(rip, ==, 0xffffffff81000123ull);
			}
			i++;
		}
		g_assert_cmpint(i, ==, 3);
	}
	g_assert_nonnull(gelf_getphdr(e, 1, &ph));
	g_assert_cmpint(ph.p_type, ==, PT_LOAD);
	g_assert_cmphex(ph.p_vaddr, ==, 0xffffffff81000000ull);
	g_assert_cmpint(pread(fd, buf, 11, (off_t)ph.p_offset), ==, 11);
	g_assert_cmpint(memcmp(buf, "KERNEL-TEXT", 11), ==, 0);
	g_assert_nonnull(gelf_getphdr(e, 2, &ph));
	g_assert_cmphex(ph.p_paddr, ==, 0x1000000);
	g_assert_cmpuint(ph.p_offset % HV_PAGE_SIZE, ==, 0);
	g_assert_cmpint(pread(fd, buf, 1, (off_t)(ph.p_offset + 200 * HV_PAGE_SIZE + 7)), ==, 1);
	g_assert_cmpint(buf[0], ==, 'X');
	elf_end(e);
	close(fd);
	unlink(path);
	rmdir(dir);
}

static void test_output_refuses_existing_file(void)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "core", NULL);
	g_autoptr(GError) error = NULL;
	HvOutput *out;

	g_assert_true(g_file_set_contents(path, "keep", 4, NULL));
	g_assert_null(hv_output_open(path, FALSE, &error));
	g_assert_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS);
	g_assert_nonnull(strstr(error->message, "--force"));
	g_clear_error(&error);
	out = hv_output_open(path, TRUE, &error);
	g_assert_no_error(error);
	g_assert_true(hv_output_pwrite(out, "new", 3, 0, &error));
	g_assert_true(hv_output_commit(out, &error));
	hv_output_free(out);
	{
		g_autofree char *c = NULL;

		g_assert_true(g_file_get_contents(path, &c, NULL, NULL));
		g_assert_cmpstr(c, ==, "new");
	}
	unlink(path);
	rmdir(dir);
}

static void test_output_failure_leaves_no_file(void)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "core", NULL);
	g_autofree char *part = g_strconcat(path, ".part", NULL);
	g_autoptr(GError) error = NULL;
	struct rlimit old, lim;
	guint8 page[HV_PAGE_SIZE];
	HvOutput *out;

	memset(page, 0xaa, sizeof(page));
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 8192;
	setrlimit(RLIMIT_FSIZE, &lim);
	out = hv_output_open(path, FALSE, &error);
	g_assert_true(hv_output_pwrite(out, page, sizeof(page), 0, &error));
	g_assert_false(hv_output_pwrite(out, page, sizeof(page), 65536, &error));
	setrlimit(RLIMIT_FSIZE, &old);
	g_assert_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_NOSPACE);
	hv_output_free(out);
	g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	rmdir(dir);
}

/* A shared dump directory: whatever another user put at NAME.part is never
 * opened, truncated or followed; only our own stale file is replaced. */
static void test_output_part_is_created_exclusively(void)
{
	g_autofree char *dir = tmpdir();
	g_autofree char *path = g_build_filename(dir, "core", NULL);
	g_autofree char *part = g_strconcat(path, ".part", NULL);
	g_autofree char *victim = g_build_filename(dir, "victim", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *c = NULL, *c2 = NULL;
	HvOutput *out;
	struct stat st;

	/* a FIFO: refused at once (opening it would block) */
	g_assert_cmpint(mkfifo(part, 0666), ==, 0);
	g_assert_null(hv_output_open(path, FALSE, &error));
	g_assert_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_EXISTS);
	g_assert_nonnull(strstr(error->message, "FIFO"));
	g_clear_error(&error);
	g_assert_cmpint(lstat(part, &st), ==, 0); /* not ours to remove */
	unlink(part);

	/* a hard link to someone's file: its target stays untouched */
	g_assert_true(g_file_set_contents(victim, "precious", -1, NULL));
	g_assert_cmpint(link(victim, part), ==, 0);
	g_assert_null(hv_output_open(path, TRUE, &error));
	g_assert_nonnull(strstr(error->message, "2 links"));
	g_clear_error(&error);
	g_assert_true(g_file_get_contents(victim, &c, NULL, NULL));
	g_assert_cmpstr(c, ==, "precious");
	unlink(part);

	/* a symlink: never followed */
	g_assert_cmpint(symlink(victim, part), ==, 0);
	g_assert_null(hv_output_open(path, TRUE, &error));
	g_assert_nonnull(strstr(error->message, "symlink"));
	g_clear_error(&error);
	unlink(part);

	/* another user's regular file (as root in CI: chown works) */
	if (geteuid() == 0) {
		g_assert_true(g_file_set_contents(part, "theirs", -1, NULL));
		g_assert_cmpint(chown(part, 65534, 65534), ==, 0);
		g_assert_null(hv_output_open(path, FALSE, &error));
		g_assert_nonnull(strstr(error->message, "uid 65534"));
		g_clear_error(&error);
		unlink(part);
	}

	/* a .part another live hvdump is writing is neither taken nor removed */
	out = hv_output_open(path, FALSE, &error);
	g_assert_no_error(error);
	g_assert_true(hv_output_pwrite(out, "AA", 2, 0, &error));
	g_assert_null(hv_output_open(path, FALSE, &error));
	g_assert_nonnull(strstr(error->message, "being written by another hvdump"));
	g_clear_error(&error);
	g_assert_false(hv_output_check(path, FALSE, &error));
	g_clear_error(&error);
	g_assert_true(hv_output_commit(out, &error));
	hv_output_free(out);
	g_assert_true(g_file_get_contents(path, &c2, NULL, NULL));
	g_assert_cmpstr(c2, ==, "AA");
	g_assert_true(hv_output_check(path, TRUE, &error));
	unlink(path);

	/* our own stale .part is replaced by a fresh private file */
	g_assert_true(g_file_set_contents(part, "stale", -1, NULL));
	chmod(part, 0644);
	out = hv_output_open(path, FALSE, &error);
	g_assert_no_error(error);
	g_assert_cmpint(lstat(part, &st), ==, 0);
	g_assert_cmpint(st.st_size, ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_true(hv_output_commit(out, &error));
	hv_output_free(out);
	unlink(path);
	unlink(victim);
	rmdir(dir);
}

static void test_zero_page_detection(void)
{
	guint8 p[HV_PAGE_SIZE] = { 0 };

	g_assert_true(hv_page_is_zero(p));
	p[4095] = 1;
	g_assert_false(hv_page_is_zero(p));
	p[4095] = 0;
	p[2048] = 1;
	g_assert_false(hv_page_is_zero(p));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/elfcore/layout-notes-and-sparseness", test_elfcore_layout_notes_and_sparseness);
	g_test_add_func("/output/refuses-existing-file", test_output_refuses_existing_file);
	g_test_add_func("/output/failure-leaves-no-file", test_output_failure_leaves_no_file);
	g_test_add_func("/output/part-is-created-exclusively", test_output_part_is_created_exclusively);
	g_test_add_func("/elfcore/zero-page-detection", test_zero_page_detection);
	return g_test_run();
}
