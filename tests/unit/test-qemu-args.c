/* test-qemu-args.c — what `hvdump run` adds to a QEMU command line. */
#include <string.h>

#include "hv-qemu-args.h"

static gboolean has_pair(GStrv v, const char *opt, const char *val)
{
	guint i;

	for (i = 0; v[i] != NULL && v[i + 1] != NULL; i++) {
		if (strcmp(v[i], opt) == 0 && strcmp(v[i + 1], val) == 0)
			return TRUE;
	}
	return FALSE;
}

static guint count(GStrv v, const char *s)
{
	guint i, n = 0;

	for (i = 0; v[i] != NULL; i++)
		n += strstr(v[i], s) != NULL;
	return n;
}

static void test_mem_size_forms(void)
{
	guint64 b;

	g_assert_true(hv_qemu_parse_mem_size("512", &b, NULL));
	g_assert_cmpuint(b, ==, 512ull << 20);
	g_assert_true(hv_qemu_parse_mem_size("5G", &b, NULL));
	g_assert_cmpuint(b, ==, 5ull << 30);
	g_assert_true(hv_qemu_parse_mem_size("size=2g,slots=2,maxmem=8G", &b, NULL));
	g_assert_cmpuint(b, ==, 2ull << 30);
	g_assert_true(hv_qemu_parse_mem_size("1024k", &b, NULL));
	g_assert_cmpuint(b, ==, 1ull << 20);
	g_assert_false(hv_qemu_parse_mem_size("lots", &b, NULL));
	g_assert_false(hv_qemu_parse_mem_size("5Q", &b, NULL));
	g_assert_false(hv_qemu_parse_mem_size("0", &b, NULL));
	g_assert_false(hv_qemu_parse_mem_size("99999999999999999999G", &b, NULL));
}

static void test_adds_what_capture_needs(void)
{
	char *user[] = { "qemu-system-x86_64", "-m", "1G", "-M", "q35", "-nographic", NULL };
	g_auto(GStrv) v = hv_qemu_build_argv(user, "/run/x/qmp.sock", NULL);

	g_assert_cmpstr(v[0], ==, "qemu-system-x86_64");
	g_assert_true(has_pair(v, "-object",
			       "memory-backend-memfd,id=hvdump-ram,size=1073741824,share=on"));
	g_assert_true(has_pair(v, "-machine", "memory-backend=hvdump-ram"));
	g_assert_true(has_pair(v, "-device", "pvpanic"));
	g_assert_true(has_pair(v, "-device", "vmcoreinfo"));
	g_assert_true(has_pair(v, "-qmp", "unix:/run/x/qmp.sock,server=on,wait=off"));
	g_assert_true(has_pair(v, "-action", "panic=pause"));
	g_assert_cmpstr(v[g_strv_length(v) - 1], ==, "panic=pause");
}

static void test_keeps_what_user_gave(void)
{
	char *user[] = { "qemu-system-x86_64", "-object", "memory-backend-file,id=m,size=1G,mem-path=/dev/shm/x,share=on",
			 "-machine", "pc,memory-backend=m", "-device", "pvpanic-pci",
			 "-device", "vmcoreinfo", "-m", "1G", NULL };
	g_auto(GStrv) v = hv_qemu_build_argv(user, "/s", NULL);

	g_assert_cmpuint(count(v, "memory-backend-memfd"), ==, 0);
	g_assert_cmpuint(count(v, "pvpanic"), ==, 1);
	g_assert_cmpuint(count(v, "vmcoreinfo"), ==, 1);
}

static void test_default_ram_and_name(void)
{
	char *user[] = { "qemu", "-name", "guest=ci-42,debug-threads=on", NULL };
	char *plain[] = { "qemu", "-name", "box", NULL };
	char *none[] = { "qemu", NULL };
	g_auto(GStrv) v = hv_qemu_build_argv(user, "/s", NULL);
	g_autofree char *n1 = hv_qemu_guest_name(user);
	g_autofree char *n2 = hv_qemu_guest_name(plain);
	g_autofree char *n3 = hv_qemu_guest_name(none);

	g_assert_true(has_pair(v, "-object", "memory-backend-memfd,id=hvdump-ram,size=134217728,share=on"));
	g_assert_cmpstr(n1, ==, "ci-42");
	g_assert_cmpstr(n2, ==, "box");
	g_assert_null(n3);
}

static void test_rejects_bad_memory_and_empty_command(void)
{
	char *bad[] = { "qemu", "-m", "much", NULL };
	char *empty[] = { NULL };
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;

	g_assert_null(hv_qemu_build_argv(bad, "/s", &e1));
	g_assert_nonnull(strstr(e1->message, "-m much"));
	g_assert_null(hv_qemu_build_argv(empty, "/s", &e2));
	g_assert_nonnull(e2);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qemu-args/mem-size-forms", test_mem_size_forms);
	g_test_add_func("/qemu-args/adds-what-capture-needs", test_adds_what_capture_needs);
	g_test_add_func("/qemu-args/keeps-what-user-gave", test_keeps_what_user_gave);
	g_test_add_func("/qemu-args/default-ram-and-name", test_default_ram_and_name);
	g_test_add_func("/qemu-args/rejects-bad-memory-and-empty-command", test_rejects_bad_memory_and_empty_command);
	return g_test_run();
}
