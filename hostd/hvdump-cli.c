/* hvdump-cli.c — what the hvdump subcommands share: one-line messages
 * (printable only), the capture summary, and signals as a GCancellable. */
#include "hvdump-cli.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void vprint(const char *fmt, va_list ap)
{
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	/* messages quote QEMU's and the guest's text: nothing raw reaches the terminal */
	g_autofree char *safe = hv_printable_dup(msg);

	fprintf(stderr, "hvdump: %s\n", safe);
}

void hv_cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

void hv_cli_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

/* ---- signals ------------------------------------------------------------
 * SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one
 * thread with sigwait(), which cancels a GCancellable: work in progress
 * (QMP waits, dump writes) ends with G_IO_ERROR_CANCELLED and the command
 * cleans up (resumes the VM it paused, removes FILE.part) before exiting
 * 128 + signal. Nothing runs in a signal handler. */
static gint signal_received;
static const char later_msg[] =
	"hvdump: still cleaning up (resuming the VM, removing the partial file); "
	"every step is bounded by --timeout\n";
static GCancellable *signal_cancellable;
static sigset_t signal_set;

static gpointer signal_thread(gpointer data)
{
	(void)data;
	for (;;) {
		int sig = 0;

		if (sigwait(&signal_set, &sig) != 0)
			continue;
		if (g_atomic_int_compare_and_exchange(&signal_received, 0, sig))
			g_cancellable_cancel(signal_cancellable);
		else
			/* write(2): no stdio lock taken from this thread */
			(void)!write(STDERR_FILENO, later_msg, sizeof(later_msg) - 1);
	}
	return NULL;
}

GCancellable *hv_cli_watch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	guint i;

	if (signal_cancellable != NULL)
		return signal_cancellable;
	signal_cancellable = g_cancellable_new();
	sigemptyset(&signal_set);
	for (i = 0; i < G_N_ELEMENTS(sigs); i++) {
		struct sigaction old;

		/* a signal the caller ignores (nohup, a script's background job)
		 * stays ignored: blocked signals are queued even when ignored */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaddset(&signal_set, sigs[i]);
	}
	pthread_sigmask(SIG_BLOCK, &signal_set, NULL);
	g_thread_unref(g_thread_new("hvdump-signals", signal_thread, NULL));
	return signal_cancellable;
}

int hv_cli_signal_received(void)
{
	return g_atomic_int_get(&signal_received);
}

void hv_cli_child_setup(gpointer data)
{
	sigset_t none;

	(void)data;
	/* after fork, before exec: the child (QEMU) gets default signals */
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
}

gboolean hv_cli_write_opts_apply(const HvCliWriteOpts *w, const char *cmd, HvCaptureOptions *opt)
{
	const HvDumpFormat *f = hv_dump_format_lookup(w->format != NULL ? w->format : "elf");

	if (f == NULL) {
		hv_cli_error("%s: unknown --format '%s' (one of %s)", cmd, w->format,
			     hv_dump_format_names());
		return FALSE;
	}
	if (w->dump_level != -1 && (w->dump_level < 0 || w->dump_level > (int)HV_DUMP_LEVEL_MAX)) {
		hv_cli_error("%s: --dump-level must be 0..31 (makedumpfile's bits)", cmd);
		return FALSE;
	}
	if (w->threads < 0 || w->threads > 256) {
		hv_cli_error("%s: --threads must be 1..256 (0: online CPUs)", cmd);
		return FALSE;
	}
	opt->format = f;
	opt->dump_level = w->dump_level == -1 ? HV_CLI_DUMP_LEVEL_DEFAULT : (guint)w->dump_level;
	opt->threads = (guint)w->threads;
	return TRUE;
}

void hv_cli_write_opts_clear(HvCliWriteOpts *w)
{
	g_clear_pointer(&w->format, g_free);
}

static void drop_cache(int fd)
{
	/* starts writeback of dirty pages and drops the clean ones */
	if (fd >= 0)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

#define CACHE_DROP_BYTES (64u << 20)

void hv_cli_progress_init(HvCliProgress *p, const char *what, gboolean quiet, int cache_fd)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->draw = !quiet && isatty(STDERR_FILENO);
	p->cache_fd = cache_fd;
	p->t0 = g_get_monotonic_time();
}

static char *human(guint64 b)
{
	return b >= (10ull << 30) ? g_strdup_printf("%.1f GiB", (double)b / (1 << 30))
				  : g_strdup_printf("%" G_GUINT64_FORMAT " MiB", b >> 20);
}

void hv_cli_progress(guint64 scanned, guint64 total, guint64 written, gpointer data)
{
	HvCliProgress *p = data;
	gint64 now = g_get_monotonic_time();
	double secs = (double)(now - p->t0) / 1e6, rate;
	unsigned pct, fill, k;
	char bar[21];
	g_autofree char *s = NULL, *t = NULL, *wr = NULL, *eta = NULL;

	if (p->cache_fd >= 0 && written - p->dropped_at >= CACHE_DROP_BYTES) {
		drop_cache(p->cache_fd);
		p->dropped_at = written;
	}
	if (!p->draw || (now - p->last < 200000 && scanned < total))
		return;
	p->last = now;
	p->drawn = TRUE;
	pct = total ? (unsigned)(scanned * 100 / total) : 100u;
	fill = pct / 5;
	for (k = 0; k < 20; k++)
		bar[k] = k < fill ? '#' : ' ';
	bar[20] = '\0';
	rate = secs > 0.2 ? (double)scanned / secs : 0;
	/* a time left is only said once a second of work has shown the rate */
	if (secs >= 1.0 && rate > 0 && total > scanned) {
		guint64 left = (guint64)((double)(total - scanned) / rate);

		eta = g_strdup_printf(", ETA %" G_GUINT64_FORMAT ":%02u", left / 60, (unsigned)(left % 60));
	}
	s = human(scanned);
	t = human(total);
	wr = human(written);
	fprintf(stderr, "\rhvdump: %s [%s] %3u%% %s of %s scanned, %s written, %.0f MiB/s%s\033[K",
		p->what, bar, pct, s, t, wr, rate / (1 << 20), eta ? eta : "");
	fflush(stderr);
}

void hv_cli_progress_end(HvCliProgress *p)
{
	if (p->drawn)
		fputs("\r\033[K", stderr);
	p->drawn = FALSE;
	drop_cache(p->cache_fd);
}

void hv_cli_report(const char *path, const HvCaptureResult *res, gboolean verbose)
{
	guint i;

	for (i = 0; res->warnings != NULL && i < res->warnings->len; i++)
		hv_cli_info("warning: %s", (const char *)g_ptr_array_index(res->warnings, i));
	if (res->has_desc)
		hv_cli_info("guest module descriptor at 0x%" G_GINT64_MODIFIER "x (%s)", res->desc.paddr,
			    res->desc.source == HV_DESC_FROM_REGISTERS ?
			    "from the signalling vCPU's registers, no scan" : "found by scan");
	if (verbose && res->vmcoreinfo)
		hv_cli_info("VMCOREINFO at guest-physical 0x%" G_GINT64_MODIFIER "x (%s, %s)",
			    res->vmcoreinfo_paddr,
			    res->vmcoreinfo_verified ? "verified against page tables" : "unverified",
			    res->has_desc && res->desc.has_vmcoreinfo &&
			    res->desc.vmcoreinfo_paddr == res->vmcoreinfo_paddr ?
			    "address from the descriptor" : "found by scan");
	if (res->has_desc && res->desc.event != 0) {
		g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc((gint64)MIN(res->desc.event_time,
									    (guint64)G_MAXINT32));
		g_autofree char *ts = t ? g_date_time_format_iso8601(t) : g_strdup("?");

		hv_cli_info("guest %s on CPU %u at %s: %s", hv_descriptor_event_name(res->desc.event),
			    res->desc.event_cpu, ts, res->desc.message);
	}
	if (verbose) {
		g_autoptr(GString) ex = g_string_new(NULL);
		guint c;

		for (c = HV_PAGE_ZERO; c < HV_PAGE_NCLASS; c++)
			g_string_append_printf(ex, "%s%" G_GUINT64_FORMAT " %s", ex->len ? ", " : "",
					       res->stats.pages_excluded[c], hv_page_class_name(c));
		hv_cli_info("pages: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " dumped; left out: %s",
			    res->stats.pages_dumped, res->stats.pages_total, ex->str);
	}
	hv_cli_info("%s %s: %s -d %u, %u vCPUs, %" G_GUINT64_FORMAT " MiB RAM, %" G_GUINT64_FORMAT
		    " MiB of data, %" G_GUINT64_FORMAT " MiB file, kernel %s, %.2f s",
		    res->stats.incomplete ? "INCOMPLETE (disk full):" : "wrote", path,
		    res->format ? res->format : "elf", res->stats.dump_level, res->ncpus,
		    res->ram_bytes >> 20, res->stats.bytes_written >> 20, res->stats.file_size >> 20,
		    res->vmcoreinfo ? res->osrelease : "unknown (no VMCOREINFO)", res->seconds);
}

