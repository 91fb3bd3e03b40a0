/* hvdump.c — the hvdump command: subcommand dispatch. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hvdump-cli.h"

#ifndef HVDUMP_VERSION
#define HVDUMP_VERSION "0"
#endif

static const char usage[] =
	"Usage: hvdump COMMAND [OPTIONS...]\n"
	"\n"
	"Capture kernel memory of a QEMU/KVM guest from the host as a vmcore that\n"
	"crash, drgn and makedumpfile open.\n"
	"\n"
	"Commands:\n"
	"  dump --qmp SOCKET FILE      dump a running, paused or panicked VM to FILE\n"
	"  dump [-c URI] DOMAIN FILE   the same for a libvirt domain (name, id or UUID)\n"
	"  list [-c URI]               libvirt's domains and whether hvdump can dump them\n"
	"  run [--out DIR] -- QEMU...  run QEMU; on guest panic write DIR/NAME.vmcore\n"
	"  dump --daemon VM FILE       ask the running hvdumpd to dump VM to FILE\n"
	"  convert IN OUT              write a vmcore again in another format or dump level\n"
	"  info FILE                   format, compression, dump level, pages by class\n"
	"  triage VMCORE               crash report from the dump: title, signature, CPUs, dmesg\n"
	"  status                      the VMs hvdumpd watches, their states and last dumps\n"
	"  fleet list|stats|fetch      the dumps many hosts shipped to an S3 store\n"
	"\n"
	"Run 'hvdump COMMAND --help' for a command's options; see hvdump(1).\n";

int main(int argc, char **argv)
{
	/* a write past RLIMIT_FSIZE must be an error we report, not a kill */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		fputs(usage, stderr);
		return HV_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return HV_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("hvdump %s\n", HVDUMP_VERSION);
		return HV_EXIT_OK;
	}
	if (strcmp(argv[1], "dump") == 0)
		return hv_cmd_dump(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return hv_cmd_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return hv_cmd_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "convert") == 0)
		return hv_cmd_convert(argc - 1, argv + 1);
	if (strcmp(argv[1], "info") == 0)
		return hv_cmd_info(argc - 1, argv + 1);
	if (strcmp(argv[1], "triage") == 0)
		return hv_cmd_triage(argc - 1, argv + 1);
	if (strcmp(argv[1], "fleet") == 0)
		return hv_cmd_fleet(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return hv_cmd_run(argc - 1, argv + 1);
	hv_cli_error("unknown command '%s' (try --help)", argv[1]);
	return HV_EXIT_USAGE;
}
