/* test-capture.c — the capture engine on a synthetic guest (buffer RAM
 * source + one vCPU; no QEMU): the dump it writes through the ELF format
 * carries the verified VMCOREINFO (with the descriptor's event appended),
 * the kernel image and direct-map addresses, and is sparse; progress is
 * reported; a cancelled capture leaves no file. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hv-capture.h"
#include "hvdump_desc.h"
#include "synth-guest.h"

#define DESC_PA 0x30000u

typedef struct {
	guint8 *ram;
	HvRamSource *src;
	GArray *cpus;
	char *dir;
	char *path;
} Fixture;

static void put_descriptor(guint8 *ram)
{
	struct hvdump_desc *d = (struct hvdump_desc *)(ram + DESC_PA);

	memset(d, 0, sizeof(*d));
	d->magic = HVDUMP_DESC_MAGIC;
	d->version = HVDUMP_DESC_VERSION;
	d->size = sizeof(*d);
	d->flags = HVDUMP_F_VMCOREINFO;
	d->self_paddr = DESC_PA;
	d->vmcoreinfo_paddr = SG_NOTE;
	d->vmcoreinfo_size = 4096;
	d->nr_cpus = 1;
	d->event = HVDUMP_EVENT_PANIC;
	d->event_time = 1795326121;
	strcpy(d->message, "synthetic panic");
	d->message_len = (guint32)strlen(d->message);
	d->checksum = (guint32)crc32(0L, (const Bytef *)d, sizeof(*d));
}

static void fx_setup(Fixture *f, gconstpointer data)
{
	HvVcpuRegs *c;

	(void)data;
	f->ram = g_malloc0(SG_RAM);
	sg_build(f->ram);
	put_descriptor(f->ram);
	memset(f->ram + (20u << 20), 0x5a, 3 * 4096); /* some data, the rest zero */
	f->src = sg_source(f->ram);
	f->cpus = sg_cpus();
	/* the vCPU that signalled holds the descriptor's address */
	c = &g_array_index(f->cpus, HvVcpuRegs, 0);
	c->gpr[HV_RDI] = HVDUMP_REG_MAGIC;
	c->gpr[HV_RSI] = DESC_PA;
	f->dir = g_dir_make_tmp("hvdump-capture-XXXXXX", NULL);
	f->path = g_build_filename(f->dir, "synthetic.vmcore", NULL);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	hv_ram_source_free(f->src);
	g_array_unref(f->cpus);
	unlink(f->path);
	rmdir(f->dir);
	g_free(f->path);
	g_free(f->dir);
	g_free(f->ram);
}

typedef struct {
	guint calls;
	guint64 last_done, last_total;
	gboolean monotonic;
} Progress;

static void on_progress(guint64 done, guint64 total, guint64 written, gpointer user_data)
{
	Progress *p = user_data;

	(void)written;
	p->monotonic &= done >= p->last_done && done <= total;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

static char *vmcoreinfo_of(const char *path, GElf_Phdr *kimage, GElf_Phdr *ram)
{
	int fd = open(path, O_RDONLY);
	Elf *e;
	GElf_Phdr ph;
	size_t phnum, i;
	char *text = NULL;

	elf_version(EV_CURRENT);
	e = elf_begin(fd, ELF_C_READ, NULL);
	g_assert_nonnull(e);
	g_assert_cmpint(elf_getphdrnum(e, &phnum), ==, 0);
	g_assert_cmpuint(phnum, ==, 3);
	for (i = 0; i < phnum; i++) {
		g_assert_nonnull(gelf_getphdr(e, (int)i, &ph));
		if (ph.p_type == PT_NOTE) {
			Elf_Data *d = elf_getdata_rawchunk(e, (off_t)ph.p_offset, ph.p_filesz,
							   ELF_T_NHDR);
			size_t off = 0, name_off, desc_off;
			GElf_Nhdr nh;

			while ((off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
				if (strcmp((const char *)d->d_buf + name_off, "VMCOREINFO") == 0)
					text = g_strndup((const char *)d->d_buf + desc_off, nh.n_descsz);
			}
		} else if (ph.p_vaddr >= 0xffffffff80000000ull) {
			*kimage = ph;
		} else {
			*ram = ph;
		}
	}
	elf_end(e);
	close(fd);
	return text;
}

static void test_capture_writes_the_synthetic_guest(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	Progress prog = { .monotonic = TRUE };
	HvCaptureOptions opt = { .progress = on_progress, .progress_data = &prog, .dump_level = 1 };
	g_autoptr(HvCapture) c = hv_capture_new(f->cpus, g_steal_pointer(&f->src), &opt, &error);
	g_autoptr(HvOutput) out = NULL;
	g_autofree char *vmci = NULL;
	HvCaptureResult res = { 0 };
	GElf_Phdr kimage = { 0 }, ram = { 0 };
	const HvDescriptor *d;
	struct stat st;

	(void)data;
	g_assert_no_error(error);
	d = hv_capture_get_descriptor(c);
	g_assert_nonnull(d);
	g_assert_cmpint(d->source, ==, HV_DESC_FROM_REGISTERS);
	g_assert_cmpuint(hv_capture_estimate_bytes(c), >=, SG_RAM);
	out = hv_output_open(f->path, FALSE, &error);
	g_assert_true(hv_capture_write(c, out, &res, &error));
	g_assert_no_error(error);
	g_assert_true(res.vmcoreinfo);
	g_assert_true(res.vmcoreinfo_verified);
	g_assert_cmphex(res.vmcoreinfo_paddr, ==, SG_NOTE);
	g_assert_cmpstr(res.osrelease, ==, SG_RELEASE);
	g_assert_true(res.kimage_segment);
	g_assert_true(res.direct_map);
	g_assert_cmpuint(res.ncpus, ==, 1);
	g_assert_cmpuint(res.ram_bytes, ==, SG_RAM);
	/* zero pages are left out: a few pages of data, 8000-odd holes */
	g_assert_cmpuint(res.stats.pages_zero, >, 8000);
	g_assert_cmpuint(res.stats.bytes_written, <, 64 * 4096);
	g_assert_true(prog.calls > 0 && prog.monotonic);
	g_assert_cmpuint(prog.last_done, ==, prog.last_total);
	hv_capture_result_clear(&res);

	g_assert_cmpint(stat(f->path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpuint((guint64)st.st_blocks * 512, <, 1024 * 1024);
	vmci = vmcoreinfo_of(f->path, &kimage, &ram);
	g_assert_nonnull(vmci);
	g_assert_nonnull(strstr(vmci, "OSRELEASE=" SG_RELEASE "\n"));
	g_assert_nonnull(strstr(vmci, "CRASHTIME=1795326121\n"));
	g_assert_nonnull(strstr(vmci, "HVDUMP_EVENT=panic\n"));
	g_assert_nonnull(strstr(vmci, "HVDUMP_MESSAGE=synthetic panic\n"));
	g_assert_cmphex(kimage.p_vaddr, ==, SG_STEXT);
	g_assert_cmphex(kimage.p_paddr, ==, 0x1000000);
	g_assert_cmphex(ram.p_paddr, ==, 0);
	g_assert_cmphex(ram.p_vaddr, ==, SG_DIRECT);
	/* the kernel image shares the RAM segment's file bytes */
	g_assert_cmpuint(kimage.p_offset, ==, ram.p_offset + 0x1000000);
}

static void test_capture_cancelled_leaves_no_file(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	HvCaptureOptions opt = { .cancellable = cancel };
	g_autoptr(HvCapture) c = hv_capture_new(f->cpus, g_steal_pointer(&f->src), &opt, &error);
	g_autofree char *part = g_strconcat(f->path, ".part", NULL);
	HvOutput *out;
	HvCaptureResult res = { 0 };

	(void)data;
	g_assert_no_error(error);
	out = hv_output_open(f->path, FALSE, &error);
	g_cancellable_cancel(cancel);
	g_assert_false(hv_capture_write(c, out, &res, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	hv_output_free(out);
	hv_capture_result_clear(&res);
	g_assert_false(g_file_test(f->path, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
}

static void test_capture_without_vmcoreinfo_still_dumps(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	HvCaptureOptions opt = { 0 };
	g_autoptr(HvCapture) c = NULL;
	g_autoptr(HvOutput) out = NULL;
	HvCaptureResult res = { 0 };
	guint i;
	gboolean warned = FALSE;

	(void)data;
	memset(f->ram + SG_NOTE, 0, 4096);
	memset(f->ram + DESC_PA, 0, 4096);
	c = hv_capture_new(f->cpus, g_steal_pointer(&f->src), &opt, &error);
	g_assert_no_error(error);
	g_assert_null(hv_capture_get_descriptor(c));
	out = hv_output_open(f->path, FALSE, &error);
	g_assert_true(hv_capture_write(c, out, &res, &error));
	g_assert_false(res.vmcoreinfo);
	for (i = 0; i < res.warnings->len; i++)
		warned |= strstr(g_ptr_array_index(res.warnings, i), "no VMCOREINFO") != NULL;
	g_assert_true(warned);
	hv_capture_result_clear(&res);
	g_assert_true(g_file_test(f->path, G_FILE_TEST_EXISTS));
}

#define FX(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	FX("/capture/writes-the-synthetic-guest", test_capture_writes_the_synthetic_guest);
	FX("/capture/cancelled-leaves-no-file", test_capture_cancelled_leaves_no_file);
	FX("/capture/without-vmcoreinfo-still-dumps", test_capture_without_vmcoreinfo_still_dumps);
	return g_test_run();
}
