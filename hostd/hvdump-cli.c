/* hvdump-cli.c — what the hvdump subcommands share: one-line messages
 * (printable only), the capture summary, and signals as a GCancellable. */
#include "hvdump-cli.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
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
	hv_cli_info("wrote %s: %u vCPUs, %" G_GUINT64_FORMAT " MiB RAM, %" G_GUINT64_FORMAT
		    " MiB of data, kernel %s, %.2f s",
		    path, res->ncpus, res->ram_bytes >> 20, res->stats.bytes_written >> 20,
		    res->vmcoreinfo ? res->osrelease : "unknown (no VMCOREINFO)", res->seconds);
}

