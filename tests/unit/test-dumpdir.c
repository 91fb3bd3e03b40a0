/* test-dumpdir.c — hvdumpd's dump directory on real files: reports,
 * retention per VM, the byte budget, files that are not ours, stale .part
 * files. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-dumpdir.h"

typedef struct {
	char *dir;
} Fx;

static void fx_setup(Fx *f, gconstpointer data)
{
	(void)data;
	f->dir = g_dir_make_tmp("hvdump-dumpdir-XXXXXX", NULL);
}

static void fx_teardown(Fx *f, gconstpointer data)
{
	g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
	const char *n;

	(void)data;
	while (d != NULL && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(f->dir, n, NULL);

		unlink(p);
	}
	rmdir(f->dir);
	g_free(f->dir);
}

/* A dump of size KiB (real blocks) and its report. */
static void add_dump(Fx *f, const char *name, const char *vm, gint64 t, gsize kib)
{
	g_autofree char *path = g_build_filename(f->dir, name, NULL);
	g_autofree char *data = g_malloc(kib * 1024);
	json_object *r = json_object_new_object();
	g_autoptr(GError) error = NULL;

	memset(data, 0x5a, kib * 1024);
	g_assert_true(g_file_set_contents(path, data, (gssize)(kib * 1024), NULL));
	json_object_object_add(r, "vm_name", json_object_new_string(vm));
	json_object_object_add(r, "written", json_object_new_int64(t));
	g_assert_true(hv_dumpdir_write_report(path, r, &error));
	g_assert_no_error(error);
	json_object_put(r);
}

static gboolean exists(Fx *f, const char *name)
{
	g_autofree char *p = g_build_filename(f->dir, name, NULL);

	return g_file_test(p, G_FILE_TEST_EXISTS);
}

static void test_report_and_list(Fx *f, gconstpointer data)
{
	g_autoptr(GPtrArray) all = NULL;
	g_autofree char *rep = g_build_filename(f->dir, "a.vmcore.json", NULL);
	struct stat st;

	(void)data;
	add_dump(f, "b.vmcore", "vm1", 200, 8);
	add_dump(f, "a.vmcore", "vm1", 100, 4);
	all = hv_dumpdir_list(f->dir, NULL);
	g_assert_cmpuint(all->len, ==, 2);
	g_assert_cmpstr(((HvDumpEntry *)all->pdata[0])->dump, ==, "a.vmcore");
	g_assert_cmpuint(((HvDumpEntry *)all->pdata[0])->bytes, >=, 4096);
	g_assert_cmpint(stat(rep, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpuint(hv_dumpdir_used_bytes(f->dir), >=, 12 * 1024);
}

static void test_keep_per_vm(Fx *f, gconstpointer data)
{
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);

	(void)data;
	add_dump(f, "x1.vmcore", "x", 1, 4);
	add_dump(f, "y1.vmcore", "y", 2, 4);
	add_dump(f, "x2.vmcore", "x", 3, 4);
	add_dump(f, "x3.vmcore", "x", 4, 4);
	hv_dumpdir_prune(f->dir, "x", 2, 0, "x3.vmcore", log);
	g_assert_false(exists(f, "x1.vmcore"));
	g_assert_false(exists(f, "x1.vmcore.json"));
	g_assert_true(exists(f, "x2.vmcore"));
	g_assert_true(exists(f, "x3.vmcore"));
	g_assert_true(exists(f, "y1.vmcore")); /* another VM's are not counted */
	g_assert_cmpuint(log->len, ==, 1);
	g_assert_nonnull(strstr(log->pdata[0], "keep 2 per VM"));
}

static void test_budget_spares_the_new_one(Fx *f, gconstpointer data)
{
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);

	(void)data;
	add_dump(f, "old.vmcore", "a", 1, 64);
	add_dump(f, "mid.vmcore", "b", 2, 64);
	add_dump(f, "new.vmcore", "a", 3, 200);
	/* the newest alone is over budget: everything else goes, it stays */
	hv_dumpdir_prune(f->dir, "a", 0, 100 * 1024, "new.vmcore", log);
	g_assert_false(exists(f, "old.vmcore"));
	g_assert_false(exists(f, "mid.vmcore"));
	g_assert_true(exists(f, "new.vmcore"));
	g_assert_cmpuint(log->len, ==, 2);
}

static void test_only_our_files(Fx *f, gconstpointer data)
{
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *evil = g_build_filename(f->dir, "evil.json", NULL);
	g_autofree char *big = g_build_filename(f->dir, "big.json", NULL);
	g_autofree char *bigtext = g_strnfill(HV_DUMPDIR_MAX_REPORT + 10, ' ');
	g_autoptr(GPtrArray) all = NULL;

	(void)data;
	add_dump(f, "mine.vmcore", "a", 1, 4);
	add_dump(f, "keepme.txt", "a", 0, 4);
	/* a report naming a file outside the directory, and one not ours */
	g_assert_true(g_file_set_contents(evil, "{\"format\":\"hvdump-report\",\"vm_name\":\"a\","
					  "\"written\":0,\"dump\":\"../../etc/passwd\"}", -1, NULL));
	g_assert_true(g_file_set_contents(big, bigtext, -1, NULL));
	all = hv_dumpdir_list(f->dir, NULL);
	g_assert_cmpuint(all->len, ==, 2);
	hv_dumpdir_prune(f->dir, "a", 1, 0, "mine.vmcore", log);
	g_assert_true(exists(f, "mine.vmcore"));
	g_assert_false(exists(f, "keepme.txt")); /* ours, older: kept 1 */
	g_assert_true(exists(f, "evil.json"));
	g_assert_true(g_file_test("/etc/passwd", G_FILE_TEST_EXISTS));
}

static void test_stale_parts(Fx *f, gconstpointer data)
{
	g_autoptr(GPtrArray) log = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *stale = g_build_filename(f->dir, "s.vmcore.part", NULL);
	g_autofree char *live = g_build_filename(f->dir, "l.vmcore.part", NULL);
	g_autofree char *fifo = g_build_filename(f->dir, "f.vmcore.part", NULL);
	int fd;

	(void)data;
	g_assert_true(g_file_set_contents(stale, "x", 1, NULL));
	g_assert_true(g_file_set_contents(live, "x", 1, NULL));
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	fd = open(live, O_RDONLY);
	g_assert_cmpint(flock(fd, LOCK_EX), ==, 0); /* a live writer */
	g_assert_cmpuint(hv_dumpdir_clean_parts(f->dir, log), ==, 1);
	g_assert_false(exists(f, "s.vmcore.part"));
	g_assert_true(exists(f, "l.vmcore.part"));
	g_assert_true(exists(f, "f.vmcore.part"));
	close(fd);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/dumpdir/report-and-list", Fx, NULL, fx_setup, test_report_and_list, fx_teardown);
	g_test_add("/dumpdir/keep-per-vm", Fx, NULL, fx_setup, test_keep_per_vm, fx_teardown);
	g_test_add("/dumpdir/budget-spares-the-new-one", Fx, NULL, fx_setup,
		   test_budget_spares_the_new_one, fx_teardown);
	g_test_add("/dumpdir/only-our-files", Fx, NULL, fx_setup, test_only_our_files, fx_teardown);
	g_test_add("/dumpdir/stale-parts", Fx, NULL, fx_setup, test_stale_parts, fx_teardown);
	return g_test_run();
}
