/* builtin-dump.c — `hvdump dump`: on-demand dump of a running, paused or
 * panicked VM, given its QMP socket (--qmp SOCKET FILE) or as a libvirt
 * domain (virsh dump's form: [-c URI] DOMAIN FILE, and its options --live,
 * --reset, --crash, --bypass-cache, --verbose); or asked of the running
 * hvdumpd (--daemon VM FILE, builtin-daemon.c).
 *
 * A running VM is paused for the capture and resumed afterwards, whether
 * the capture worked, failed or was interrupted (SIGINT, SIGTERM, SIGHUP:
 * exit 128 + signal, FILE.part removed); --reset and --crash replace the
 * resume once the dump is written. Guest RAM that is not shared is dumped
 * by QEMU's own dump-guest-memory instead, with one line saying so. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-libvirt.h"
#include "hvdump-cli.h"

/* QEMU's own dump is slow (about 5 s per GiB written here) and stops the
 * VM throughout; it gets this long before hvdump gives up waiting. */
#define FALLBACK_TIMEOUT_S (6 * 3600)

#define QMP_FIX                                                                          \
	"To fix, start QEMU with -object memory-backend-memfd,id=mem0,size=<RAM size>,"  \
	"share=on -machine memory-backend=mem0"
#define LIBVIRT_FIX                                                                      \
	"To fix, add <memoryBacking><source type='memfd'/><access mode='shared'/>"      \
	"</memoryBacking> to the domain XML"

typedef struct {
	char *qmp_path;
	char *uri;
	char *daemon_vm;
	char *control;
	char *domain;
	char *file;
	gboolean force, verbose, live, reset, crash, bypass_cache;
	int timeout_s;
	HvCliWriteOpts w;
} Opts;

/* A signal that interrupted the dump decides the exit code: 128 + signal. */
static int exit_code(int rc)
{
	int sig = hv_cli_signal_received();

	return sig != 0 ? 128 + sig : rc;
}

static HvVm *open_vm(const Opts *o, GCancellable *cancellable, GError **error)
{
	g_autoptr(HvLibvirt) lv = NULL;
	HvVm *vm;

	if (o->qmp_path != NULL)
		return hv_vm_connect(o->qmp_path, o->timeout_s * 1000, cancellable, error);
	lv = hv_libvirt_open(o->uri, error);
	if (lv == NULL)
		return NULL;
	vm = hv_libvirt_vm_new(lv, o->domain, o->timeout_s * 1000, error);
	if (vm == NULL)
		return NULL;
	hv_vm_set_cancellable(vm, cancellable);
	if (o->verbose)
		hv_cli_info("libvirt domain %s at %s: QEMU pid %d", o->domain, hv_libvirt_get_uri(lv),
			    (int)hv_vm_get_pid(vm));
	return vm; /* it keeps what it needs of the connection */
}

/* hv-vm's message without its QEMU command-line advice (ours follows). */
static char *reason_of(const char *message)
{
	const char *hint = strstr(message, ": start QEMU with");

	return hint != NULL ? g_strndup(message, (gsize)(hint - message)) : g_strdup(message);
}

/* RAM hvdump cannot read: QEMU writes its own ELF dump into FILE.part — or,
 * when another format or a dump level was asked for, into FILE.qemu-elf.part,
 * which is then converted into FILE.part (and removed). QEMU's dump runs to
 * its end even after a signal (until then QEMU refuses to resume the VM),
 * then the signal counts. */
static gboolean fallback(HvVm *vm, HvOutput *out, const Opts *o, const HvCaptureOptions *copt,
			 const char *why, GCancellable *cancellable, GError **error)
{
	gboolean convert = copt->format != &hv_dump_format_elf || copt->dump_level > 1;
	g_autofree char *reason = reason_of(why);
	g_autoptr(HvOutput) tmp = NULL;
	HvOutput *target = out;
	gint64 t0 = g_get_monotonic_time();
	struct stat st;
	gboolean ok;

	if (convert) {
		g_autofree char *tp = g_strconcat(o->file, ".qemu-elf", NULL);

		tmp = hv_output_open(tp, TRUE, error);
		if (tmp == NULL)
			return FALSE;
		target = tmp;
	}
	hv_cli_info("RAM not shared (%s); fell back to QEMU's dump-guest-memory (slower)%s. %s",
		    reason, convert ? ", converted afterwards" : "",
		    o->qmp_path != NULL ? QMP_FIX : LIBVIRT_FIX);
	hv_vm_set_cancellable(vm, NULL);
	ok = hv_vm_dump_guest_memory(vm, hv_output_get_fd(target), hv_output_get_part_path(target),
				     FALLBACK_TIMEOUT_S, error);
	hv_vm_set_cancellable(vm, cancellable);
	if (!ok) {
		g_prefix_error(error, "QEMU's dump-guest-memory: ");
		return FALSE;
	}
	if (g_cancellable_set_error_if_cancelled(cancellable, error))
		return FALSE;
	if (convert) {
		HvCaptureResult res = { 0 };

		ok = hv_capture_convert_file(hv_output_get_part_path(tmp), out, copt, &res, error);
		if (!ok)
			g_prefix_error(error, "converting QEMU's dump: ");
		if (ok)
			hv_cli_report(o->file, &res, o->verbose);
		hv_capture_result_clear(&res);
		return ok; /* tmp goes with its .part */
	}
	if (!hv_output_commit(out, error))
		return FALSE;
	if (stat(o->file, &st) != 0)
		memset(&st, 0, sizeof(st));
	hv_cli_info("wrote %s by QEMU's dump-guest-memory (ELF, every RAM page): %" G_GUINT64_FORMAT
		    " MiB, %.2f s", o->file,
		    (guint64)st.st_size >> 20, (double)(g_get_monotonic_time() - t0) / 1e6);
	return TRUE;
}

static gboolean after_action(HvVm *vm, const Opts *o, GError **error)
{
	g_autoptr(GError) local = NULL;

	hv_vm_set_cancellable(vm, NULL);
	if (o->reset) {
		if (!hv_vm_reset(vm, error)) {
			g_prefix_error(error, "resetting the VM (--reset): ");
			return FALSE;
		}
		hv_cli_info("VM reset (--reset): the guest boots again");
		return TRUE;
	}
	/* QEMU may close the socket before its answer to quit */
	if (!hv_vm_quit(vm, &local) && !g_error_matches(local, HV_QMP_ERROR, HV_QMP_ERROR_CLOSED)) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local),
					   "powering the VM off (--crash): ");
		return FALSE;
	}
	hv_cli_info("VM powered off (--crash)");
	return TRUE;
}

static int parse_options(int argc, char **argv, Opts *o)
{
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		{ "qmp", 'q', 0, G_OPTION_ARG_FILENAME, &o->qmp_path,
		  "QEMU's QMP unix socket (instead of a libvirt DOMAIN)", "SOCKET" },
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &o->uri,
		  "libvirt URI (default: libvirt's default URI)", "URI" },
		{ "daemon", 0, 0, G_OPTION_ARG_STRING, &o->daemon_vm,
		  "have the running hvdumpd dump VM (one it watches) to FILE", "VM" },
		{ "control", 0, 0, G_OPTION_ARG_FILENAME, &o->control,
		  "hvdumpd's control socket, with --daemon", "SOCKET" },
		{ "live", 0, 0, G_OPTION_ARG_NONE, &o->live,
		  "pause a running guest only while its registers and RAM map are read, not while "
		  "RAM is copied (the dump mixes instants)", NULL },
		{ "reset", 0, 0, G_OPTION_ARG_NONE, &o->reset, "reset the guest after the dump", NULL },
		{ "crash", 0, 0, G_OPTION_ARG_NONE, &o->crash,
		  "power the guest off (libvirt: destroy) after the dump", NULL },
		{ "bypass-cache", 0, 0, G_OPTION_ARG_NONE, &o->bypass_cache,
		  "drop the dump's pages from the host's page cache once written", NULL },
		{ "force", 'f', 0, G_OPTION_ARG_NONE, &o->force, "overwrite FILE if it exists", NULL },
		{ "timeout", 't', 0, G_OPTION_ARG_INT, &o->timeout_s,
		  "seconds to wait for each QEMU answer (default 30)", "SEC" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose, "say what was found where", NULL },
		HV_CLI_WRITE_ENTRIES(&o->w),
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("{--qmp SOCKET | DOMAIN | --daemon VM} FILE");
	g_autoptr(GError) error = NULL;
	guint n;

	g_option_context_set_summary(ctx,
		"Dump a guest to FILE (ELF vmcore): the one behind a QMP socket, or a libvirt\n"
		"domain given by name, id or UUID. A running guest is paused for the capture\n"
		"and resumed after.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		hv_cli_error("dump: %s", error->message);
		return HV_EXIT_USAGE;
	}
	n = rest != NULL ? g_strv_length(rest) : 0;
	if (o->daemon_vm != NULL) {
		if (n != 1 || o->qmp_path != NULL || o->uri != NULL || o->live || o->reset ||
		    o->crash || o->bypass_cache || o->force || o->w.format != NULL ||
		    o->w.dump_level != -1 || o->w.threads != 0) {
			hv_cli_error("dump: usage: hvdump dump --daemon VM [--control SOCKET] FILE "
				     "(hvdumpd decides the rest)");
			return HV_EXIT_USAGE;
		}
		o->file = g_strdup(rest[0]);
		return HV_EXIT_OK;
	}
	if (o->control != NULL) {
		hv_cli_error("dump: --control goes with --daemon");
		return HV_EXIT_USAGE;
	}
	if (n != (o->qmp_path != NULL ? 1u : 2u)) {
		hv_cli_error("dump: usage: hvdump dump [OPTIONS] --qmp SOCKET FILE, or "
			     "hvdump dump [OPTIONS] [-c URI] DOMAIN FILE");
		return HV_EXIT_USAGE;
	}
	if (o->qmp_path != NULL && o->uri != NULL) {
		hv_cli_error("dump: --connect names a libvirt URI; it does not go with --qmp");
		return HV_EXIT_USAGE;
	}
	if (o->crash && (o->reset || o->live)) {
		hv_cli_error("dump: --crash does not go with --%s", o->reset ? "reset" : "live");
		return HV_EXIT_USAGE;
	}
	if (o->timeout_s <= 0 || o->timeout_s > 3600) {
		hv_cli_error("dump: --timeout must be 1..3600 seconds");
		return HV_EXIT_USAGE;
	}
	{
		HvCaptureOptions check = { 0 };

		if (!hv_cli_write_opts_apply(&o->w, "dump", &check))
			return HV_EXIT_USAGE;
	}
	if (o->qmp_path == NULL)
		o->domain = g_strdup(rest[0]);
	o->file = g_strdup(rest[n - 1]);
	return HV_EXIT_OK;
}

int hv_cmd_dump(int argc, char **argv)
{
	Opts o = { .timeout_s = HV_QMP_TIMEOUT_MS / 1000, .w.dump_level = -1 };
	g_autoptr(GError) error = NULL;
	g_autoptr(HvVm) vm = NULL;
	g_autoptr(HvOutput) out = NULL;
	g_autofree char *status = NULL;
	HvCaptureOptions opt = { 0 };
	HvCaptureResult res = { 0 };
	HvCliProgress prog;
	int cache_fd = -1;
	gboolean was_running = FALSE, resume_failed = FALSE, fell_back = FALSE, ok;
	HvMachineState st = { 0 };
	GCancellable *cancellable;
	int rc;

	rc = parse_options(argc, argv, &o);
	if (rc != HV_EXIT_OK)
		goto free_opts;
	if (o.daemon_vm != NULL) {
		rc = hv_dump_via_daemon(o.control, o.daemon_vm, o.file);
		goto free_opts;
	}
	cancellable = hv_cli_watch_signals();
	/* refuse an existing FILE before touching the VM */
	out = hv_output_open(o.file, o.force, &error);
	if (out == NULL) {
		hv_cli_error("dump: %s", error->message);
		rc = HV_EXIT_FAILURE;
		goto free_opts;
	}
	if (o.bypass_cache)
		cache_fd = fcntl(hv_output_get_fd(out), F_DUPFD_CLOEXEC, 0);
	hv_cli_progress_init(&prog, "dumping", o.w.quiet, cache_fd);
	vm = open_vm(&o, cancellable, &error);
	if (vm == NULL) {
		if (hv_cli_signal_received() != 0)
			hv_cli_error("dump: interrupted by %s; %s not written",
				     g_strsignal(hv_cli_signal_received()), o.file);
		else
			hv_cli_error("dump: %s", error->message);
		rc = exit_code(HV_EXIT_FAILURE);
		goto out;
	}
	opt.cancellable = cancellable;
	hv_cli_write_opts_apply(&o.w, "dump", &opt); /* checked by parse_options */
	ok = hv_vm_pause(vm, &was_running, &status, &error);
	if (!ok)
		g_prefix_error(&error, "pausing the VM: ");
	if (ok && o.verbose)
		hv_cli_info("VM state: %s%s", status ? status : "?",
			    was_running ? (o.live ? " (paused while its registers are read)" :
					  " (paused for the dump)") : "");
	if (ok)
		ok = hv_vm_read_state(vm, &st, &error);
	if (!ok && g_error_matches(error, HV_ERROR, HV_ERROR_NOT_SHARED) &&
	    !g_cancellable_is_cancelled(cancellable)) {
		g_autofree char *why = g_strdup(error->message);

		g_clear_error(&error);
		ok = fallback(vm, out, &o, &opt, why, cancellable, &error);
		fell_back = TRUE;
	} else if (ok) {
		g_autoptr(HvCapture) c = NULL;

		/* --live: registers and RAM map are read, the guest runs on while its
		 * RAM is copied (if this resume fails, the one after the dump retries
		 * and reports) */
		if (o.live && was_running && hv_vm_resume(vm, NULL))
			was_running = FALSE;
		if (prog.draw || cache_fd >= 0) {
			opt.progress = hv_cli_progress;
			opt.progress_data = &prog;
		}
		c = hv_capture_new(st.cpus, g_steal_pointer(&st.ram), &opt, &error);
		ok = c != NULL && hv_capture_write(c, out, &res, &error);
	}
	hv_machine_state_clear(&st);
	hv_cli_progress_end(&prog);
	if (ok && (o.reset || o.crash)) {
		g_autoptr(GError) aerr = NULL;

		if (!fell_back)
			hv_cli_report(o.file, &res, o.verbose);
		if (after_action(vm, &o, &aerr)) {
			was_running = FALSE; /* replaced by the after-action */
		} else {
			hv_cli_error("dump: %s", aerr->message);
			rc = HV_EXIT_FAILURE;
		}
	}
	if (was_running) {
		/* resuming is never interrupted: a VM we paused must run again */
		g_autoptr(GError) rerr = NULL;

		hv_vm_set_cancellable(vm, NULL);
		if (!hv_vm_resume(vm, &rerr)) {
			hv_cli_error("dump: resuming the VM: %s", rerr->message);
			resume_failed = TRUE;
		}
	}
	if (!ok) {
		if (hv_cli_signal_received() != 0)
			hv_cli_error("dump: interrupted by %s; %s not written%s",
				     g_strsignal(hv_cli_signal_received()), o.file,
				     !was_running ? "" : resume_failed ? "; the VM is still paused" :
				     "; VM resumed");
		else if (res.stats.incomplete)
			hv_cli_error("dump: %s; %s kept as written so far, flagged incomplete in its "
				     "header", error->message, o.file);
		else if (error != NULL)
			hv_cli_error("dump: %s", error->message);
		rc = exit_code(HV_EXIT_FAILURE);
		goto out;
	}
	/* complete under its final name, even if a signal came late */
	if (!fell_back && !o.reset && !o.crash)
		hv_cli_report(o.file, &res, o.verbose);
	if (resume_failed)
		rc = HV_EXIT_FAILURE;
out:
	hv_capture_result_clear(&res);
	if (cache_fd >= 0) {
		/* synced by the commit: now every page of it can go */
		hv_cli_progress_end(&prog);
		close(cache_fd);
	}
free_opts:
	g_free(o.qmp_path);
	g_free(o.uri);
	g_free(o.daemon_vm);
	g_free(o.control);
	g_free(o.domain);
	g_free(o.file);
	hv_cli_write_opts_clear(&o.w);
	return rc;
}
