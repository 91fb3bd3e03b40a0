/* builtin-convert.c — `hvdump convert IN OUT`: a vmcore in another format
 * or dump level. IN is any dump hvdump reads (ELF — ours, QEMU's,
 * /proc/vmcore-style —, kdump-compressed, or makedumpfile's or QEMU's
 * flattened stream); OUT is written like a capture (OUT.part, fsync,
 * rename, 0600). Pages IN left out stay out; --dump-level can only leave
 * out more. */
#include <stdio.h>
#include <unistd.h>

#include "hvdump-cli.h"

int hv_cmd_convert(int argc, char **argv)
{
	HvCliWriteOpts wo = { .dump_level = -1 };
	gboolean force = FALSE, verbose = FALSE;
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		HV_CLI_WRITE_ENTRIES(&wo),
		{ "force", 'f', 0, G_OPTION_ARG_NONE, &force, "overwrite OUT if it exists", NULL },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "say what was found and left out", NULL },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("IN OUT");
	g_autoptr(GError) error = NULL;
	g_autoptr(HvOutput) out = NULL;
	HvCaptureOptions opt = { 0 };
	HvCaptureResult res = { 0 };
	HvCliProgress prog;
	gboolean ok;
	int rc = HV_EXIT_FAILURE;

	g_option_context_set_summary(ctx,
		"Write the vmcore IN again as OUT in another format or dump level. IN may be\n"
		"an ELF vmcore (hvdump's, QEMU's, /proc/vmcore's), a kdump-compressed file, or\n"
		"makedumpfile's or QEMU's flattened stream. Pages IN left out stay out.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		hv_cli_error("convert: %s", error->message);
		hv_cli_write_opts_clear(&wo);
		return HV_EXIT_USAGE;
	}
	if (rest == NULL || g_strv_length(rest) != 2) {
		hv_cli_error("convert: usage: hvdump convert [--format F] [--dump-level N] IN OUT");
		hv_cli_write_opts_clear(&wo);
		return HV_EXIT_USAGE;
	}
	if (!hv_cli_write_opts_apply(&wo, "convert", &opt)) {
		hv_cli_write_opts_clear(&wo);
		return HV_EXIT_USAGE;
	}
	opt.cancellable = hv_cli_watch_signals();
	out = hv_output_open(rest[1], force, &error);
	if (out == NULL) {
		hv_cli_error("convert: %s", error->message);
		goto done;
	}
	hv_cli_progress_init(&prog, "converting", wo.quiet, -1);
	if (prog.draw) {
		opt.progress = hv_cli_progress;
		opt.progress_data = &prog;
	}
	ok = hv_capture_convert_file(rest[0], out, &opt, &res, &error);
	hv_cli_progress_end(&prog);
	if (!ok) {
		if (hv_cli_signal_received() != 0)
			hv_cli_error("convert: interrupted by %s; %s not written",
				     g_strsignal(hv_cli_signal_received()), rest[1]);
		else if (res.stats.incomplete)
			hv_cli_error("convert: %s; %s kept as written so far, flagged incomplete",
				     error->message, rest[1]);
		else
			hv_cli_error("convert: %s: %s", rest[0], error->message);
		rc = hv_cli_signal_received() != 0 ? 128 + hv_cli_signal_received() : HV_EXIT_FAILURE;
		goto done;
	}
	hv_cli_report(rest[1], &res, verbose);
	rc = HV_EXIT_OK;
done:
	hv_capture_result_clear(&res);
	hv_cli_write_opts_clear(&wo);
	return rc;
}
