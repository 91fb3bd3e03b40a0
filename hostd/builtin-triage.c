/* builtin-triage.c — `hvdump triage VMCORE [--json] [--vmlinux FILE]
 * [--dmesg]`: a crash report from the dump alone (hv-triage.c). */
#include <stdio.h>

#include "hvdump-cli.h"
#include "hv-triage.h"

int hv_cmd_triage(int argc, char **argv)
{
	gboolean as_json = FALSE, dmesg_only = FALSE;
	g_autofree char *vmlinux = NULL;
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &as_json,
		  "the report as one JSON object (schema hvdump-triage, see hvdump(1))", NULL },
		{ "dmesg", 0, 0, G_OPTION_ARG_NONE, &dmesg_only,
		  "print only the kernel log rebuilt from the printk ring", NULL },
		{ "vmlinux", 0, 0, G_OPTION_ARG_FILENAME, &vmlinux,
		  "also run crash's `bt -a` with this debug vmlinux", "FILE" },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("VMCORE");
	g_autoptr(GError) error = NULL;
	HvTriageOptions opt = { 0 };
	HvTriage t;

	g_option_context_set_summary(ctx,
		"Report a kernel crash from its vmcore alone (no vmlinux needed): title,\n"
		"signature, panic message, kernel release and build id, uptime, taint,\n"
		"every CPU's registers and call trace (kallsyms and module symbols from\n"
		"guest memory) and the full kernel log from the printk ring. Reads\n"
		"hvdump's, QEMU's and kdump's dumps (ELF, kdump-compressed, flattened).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		hv_cli_error("triage: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (rest == NULL || g_strv_length(rest) != 1) {
		hv_cli_error("triage: usage: hvdump triage [--json|--dmesg] [--vmlinux FILE] VMCORE");
		return HV_EXIT_USAGE;
	}
	opt.vmlinux = vmlinux;
	if (!hv_triage_file(rest[0], &opt, &t, &error)) {
		hv_cli_error("triage: %s: %s", rest[0], error->message);
		hv_triage_clear(&t);
		return HV_EXIT_FAILURE;
	}
	if (as_json) {
		g_autofree char *j = hv_triage_to_json(&t);

		printf("%s\n", j);
	} else if (dmesg_only) {
		g_autofree char *d = hv_triage_dmesg(&t, 0);

		fputs(d, stdout);
	} else {
		hv_triage_print(&t, stdout);
	}
	hv_triage_clear(&t);
	return fflush(stdout) == 0 ? HV_EXIT_OK : HV_EXIT_FAILURE;
}
