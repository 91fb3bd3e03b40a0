/* test-ramsrc.c — guest-RAM sources: buffers and backend files (a memfd
 * with holes, two regions sharing one file as QEMU's above-4G alias does),
 * bounded reads, data extents, chunks, page scans and cancellation. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-ramsrc.h"

#define MIB (1u << 20)

static gboolean count_page(gpointer user_data, guint64 gpa, const guint8 *head)
{
	GArray *seen = user_data;

	(void)head;
	g_array_append_val(seen, gpa);
	return TRUE;
}

static void test_buffers_read_and_scan(void)
{
	g_autofree guint8 *a = g_malloc0(64 * 1024);
	g_autofree guint8 *b = g_malloc0(16 * 1024);
	HvRamBuffer bufs[2] = { { 0, 64 * 1024, a }, { 0x100000, 16 * 1024, b } };
	g_autoptr(HvRamSource) src = hv_ram_source_new_buffers(bufs, 2);
	g_autoptr(GArray) seen = g_array_new(FALSE, FALSE, sizeof(guint64));
	guint64 cursor = 0, off, len;
	const guint8 *data;
	guint8 buf[8];

	memcpy(b + 4096, "second!", 8);
	g_assert_cmpuint(hv_ram_source_n_regions(src), ==, 2);
	g_assert_cmpuint(hv_ram_source_total(src), ==, 80 * 1024);
	g_assert_true(hv_ram_source_read(src, 0x101000, buf, 8));
	g_assert_cmpstr((char *)buf, ==, "second!");
	/* outside RAM, across a region's end, in the gap */
	g_assert_false(hv_ram_source_read(src, 0x104000, buf, 8));
	g_assert_false(hv_ram_source_read(src, 0x103ffc, buf, 8));
	g_assert_false(hv_ram_source_read(src, 0x20000, buf, 8));
	/* a buffer is one extent, mapped in place */
	g_assert_true(hv_ram_source_next_chunk(src, 1, &cursor, &off, &len, &data, NULL));
	g_assert_cmpuint(off, ==, 0);
	g_assert_cmpuint(len, ==, 16 * 1024);
	g_assert_true(data == b);
	g_assert_false(hv_ram_source_next_chunk(src, 1, &cursor, &off, &len, &data, NULL));
	g_assert_true(hv_ram_source_scan_pages(src, count_page, seen, NULL));
	g_assert_cmpuint(seen->len, ==, 16 + 4);
	g_assert_cmphex(g_array_index(seen, guint64, 16), ==, 0x100000);
}

static void test_scan_is_cancellable(void)
{
	g_autofree guint8 *a = g_malloc0(64 * MIB);
	HvRamBuffer buf = { 0, 64 * MIB, a };
	g_autoptr(HvRamSource) src = hv_ram_source_new_buffers(&buf, 1);
	g_autoptr(GCancellable) cancel = g_cancellable_new();
	g_autoptr(GArray) seen = g_array_new(FALSE, FALSE, sizeof(guint64));
	g_autoptr(GError) error = NULL;

	hv_ram_source_set_cancellable(src, cancel);
	g_cancellable_cancel(cancel);
	g_assert_false(hv_ram_source_scan_pages(src, count_page, seen, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
	g_assert_cmpuint(seen->len, <, 16384);
}

/* A memfd of 8 MiB with data only at 1 MiB and 5 MiB+4 KiB; regions as
 * QEMU lays them out: [0, 4M) at offset 0 and [4G, 4G+4M) at offset 4M. */
static int make_memfd(void)
{
	int fd = memfd_create("hvdump-test", MFD_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, 8 * MIB), ==, 0);
	g_assert_cmpint(pwrite(fd, "low data", 8, 1 * MIB), ==, 8);
	g_assert_cmpint(pwrite(fd, "high data", 9, 5 * MIB + 4096), ==, 9);
	return fd;
}

static void test_files_extents_follow_the_backend(void)
{
	int fd = make_memfd();
	HvRamFile files[2] = {
		{ { 0, 4 * MIB, "mem0" }, fd, 0 },
		{ { 4ull << 30, 4 * MIB, "mem0" }, fd, 4 * MIB },
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(HvRamSource) src = hv_ram_source_new_files(files, 2, &error);
	guint64 cursor = 0, off, len;
	const guint8 *data;
	struct stat before, after;
	guint8 buf[16];

	g_assert_no_error(error);
	close(fd); /* the source holds its own */
	g_assert_true(hv_ram_source_next_chunk(src, 0, &cursor, &off, &len, &data, &error));
	g_assert_cmpuint(off, ==, 1 * MIB);
	g_assert_cmpuint(len, ==, 4096);
	g_assert_cmpmem(data, 8, "low data", 8);
	g_assert_false(hv_ram_source_next_chunk(src, 0, &cursor, &off, &len, &data, &error));
	g_assert_no_error(error);
	cursor = 0;
	g_assert_true(hv_ram_source_next_chunk(src, 1, &cursor, &off, &len, &data, &error));
	g_assert_cmpuint(off, ==, 1 * MIB + 4096);
	g_assert_cmpmem(data, 9, "high data", 9);
	g_assert_cmpuint(hv_ram_source_data_bytes(src), ==, 2 * 4096);
	g_assert_true(hv_ram_source_read(src, (4ull << 30) + MIB + 4096, buf, 9));
	g_assert_cmpmem(buf, 9, "high data", 9);

	/* reading a hole gives zeros and allocates nothing in the backend */
	{
		int probe;

		/* the source's own fd is the only one left open on the memfd */
		for (probe = 3; probe < 64; probe++) {
			if (fstat(probe, &before) == 0 && S_ISREG(before.st_mode) &&
			    before.st_size == 8 * MIB)
				break;
		}
		g_assert_cmpint(probe, <, 64);
		g_assert_true(hv_ram_source_read(src, 2 * MIB, buf, 16));
		g_assert_cmpint(fstat(probe, &after), ==, 0);
		g_assert_cmpint(after.st_blocks, ==, before.st_blocks);
	}
	memset(buf, 0xff, sizeof(buf));
	g_assert_true(hv_ram_source_read(src, 3 * MIB, buf, 16));
	g_assert_cmpint(buf[0] | buf[15], ==, 0);
}

static void test_files_refuse_ranges_outside(void)
{
	int fd = make_memfd();
	HvRamFile f = { { 0, 8 * MIB, "mem0" }, fd, 4096 };
	g_autoptr(GError) error = NULL;
	HvRamSource *src = hv_ram_source_new_files(&f, 1, &error);
	int pipefd[2];

	g_assert_null(src);
	g_assert_error(error, HV_ERROR, HV_ERROR_PARSE);
	g_assert_nonnull(strstr(error->message, "outside backend mem0"));
	g_clear_error(&error);
	close(fd);
	/* not a regular file */
	g_assert_cmpint(pipe(pipefd), ==, 0);
	f.fd = pipefd[0];
	f.fd_offset = 0;
	g_assert_null(hv_ram_source_new_files(&f, 1, &error));
	g_assert_error(error, HV_ERROR, HV_ERROR_NOT_SHARED);
	close(pipefd[0]);
	close(pipefd[1]);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ramsrc/buffers-read-and-scan", test_buffers_read_and_scan);
	g_test_add_func("/ramsrc/scan-is-cancellable", test_scan_is_cancellable);
	g_test_add_func("/ramsrc/files-extents-follow-the-backend", test_files_extents_follow_the_backend);
	g_test_add_func("/ramsrc/files-refuse-ranges-outside", test_files_refuse_ranges_outside);
	return g_test_run();
}
