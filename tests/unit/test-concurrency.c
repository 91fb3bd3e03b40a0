/* test-concurrency.c — captures of different guests at the same time, on
 * plain POSIX threads, as hvdumpd's workers run them, in every format (the
 * kdump ones compress on threads of their own). The engine keeps no
 * global state; run under ThreadSanitizer (build-tsan, see tests/run.sh)
 * this proves it: any data race fails the test. */
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-capture.h"
#include "hv-error.h"
#include "hv-output.h"
#include "synth-guest.h"

#define THREADS 6
#define ROUNDS 3

typedef struct {
	guint8 *ram;          /* this thread's guest, or one shared by all */
	char *path;
	int index;
	gboolean ok;
	char *error;
	guint64 written;
	char release[65];
} Work;

static void *capture_thread(void *data)
{
	Work *w = data;
	int r;

	static const char *const formats[] = {
		"elf", "kdump-zlib", "kdump-zstd", "kdump-lzo", "kdump-snappy",
	};

	for (r = 0; r < ROUNDS; r++) {
		GError *error = NULL;
		/* every format, kdump ones with their own compression threads (the
		 * codecs' per-thread state is under test too) */
		HvCaptureOptions opt = {
			.format = hv_dump_format_lookup(formats[(w->index + r) % G_N_ELEMENTS(formats)]),
			.dump_level = 1, .threads = 2,
		};
		GArray *cpus = sg_cpus();
		HvCapture *c = hv_capture_new(cpus, sg_source(w->ram), &opt, &error);
		HvOutput *out = NULL;
		HvCaptureResult res = { 0 };

		/* the capture holds its own reference to the vCPUs */
		g_array_unref(cpus);
		if (c != NULL)
			out = hv_output_open(w->path, TRUE, &error);
		w->ok = c != NULL && out != NULL && hv_capture_write(c, out, &res, &error);
		if (!w->ok) {
			w->error = g_strdup(error ? error->message : "?");
			g_clear_error(&error);
		} else {
			w->written = res.stats.bytes_written;
			g_strlcpy(w->release, res.osrelease, sizeof(w->release));
		}
		hv_capture_result_clear(&res);
		hv_output_free(out);
		hv_capture_free(c);
		if (!w->ok)
			break;
	}
	return NULL;
}

static void run(gboolean shared)
{
	g_autofree char *dir = g_dir_make_tmp("hvdump-conc-XXXXXX", NULL);
	guint8 *common = NULL;
	pthread_t tid[THREADS];
	Work w[THREADS] = { 0 };
	int i;

	/* the error domains register their quarks once, before any thread */
	(void)hv_error_quark();
	(void)hv_output_error_quark();
	if (shared) {
		common = g_malloc0(SG_RAM);
		sg_build(common);
		memset(common + (8u << 20), 0x33, 64 * 4096);
	}
	for (i = 0; i < THREADS; i++) {
		w[i].index = i;
		w[i].path = g_strdup_printf("%s/guest%d.vmcore", dir, i);
		if (shared) {
			w[i].ram = common;
		} else {
			w[i].ram = g_malloc0(SG_RAM);
			sg_build(w[i].ram);
			/* each guest its own amount of data */
			memset(w[i].ram + (8u << 20), 0x40 + i, (gsize)(i + 1) * 16 * 4096);
		}
		g_assert_cmpint(pthread_create(&tid[i], NULL, capture_thread, &w[i]), ==, 0);
	}
	for (i = 0; i < THREADS; i++)
		g_assert_cmpint(pthread_join(tid[i], NULL), ==, 0);
	for (i = 0; i < THREADS; i++) {
		struct stat st;

		if (!w[i].ok)
			g_error("thread %d: %s", i, w[i].error);
		g_assert_cmpstr(w[i].release, ==, SG_RELEASE);
		if (!shared && i > 0)
			g_assert_cmpuint(w[i].written, >, w[i - 1].written);
		g_assert_cmpint(stat(w[i].path, &st), ==, 0);
		g_assert_cmpint(st.st_mode & 0777, ==, 0600);
		unlink(w[i].path);
		g_free(w[i].path);
		if (!shared)
			g_free(w[i].ram);
	}
	g_free(common);
	rmdir(dir);
}

static void test_different_guests(void)
{
	run(FALSE);
}

static void test_one_guest_many_captures(void)
{
	run(TRUE);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/concurrency/different-guests", test_different_guests);
	g_test_add_func("/concurrency/one-guest-many-captures", test_one_guest_many_captures);
	return g_test_run();
}
