/* hv-kernel.h — what the host learns about the guest kernel without its help.
 *
 * Owns: finding the kernel's VMCOREINFO note in guest RAM (bounded scan of
 * allocated pages only), proving a candidate genuine against the vCPUs' own
 * page tables (a user process can forge a note, not the kernel's mappings),
 * and the kernel virtual layout a vmcore advertises (kernel image mapping,
 * direct-map base).
 */
#pragma once

#include <glib.h>

#include "hv-cpustate.h"
#include "hv-ramsrc.h"
#include "hv-pgtable.h"
#include "hv-vmcoreinfo.h"

G_BEGIN_DECLS

/* Verified candidates kept (only verified ones count). */
#define HV_MAX_VMCOREINFO_CANDIDATES 16
/* Forged candidates (notes that parse but the page tables contradict) the
 * scan looks past before it gives up: 1 GiB of sprayed pages. */
#define HV_MAX_VMCOREINFO_REJECTED 262144
/* Rejected candidates named one by one in the warnings. */
#define HV_MAX_VMCOREINFO_WARNINGS 3

typedef struct {
	gboolean found;          /* vi is valid and used */
	gboolean verified;       /* cross-checked against guest page tables */
	guint64 note_paddr;
	guint candidates;        /* notes that parsed and verified (or could not be checked) */
	HvVmcoreinfo vi;
	gboolean has_kimage;
	guint64 kimage_vaddr, kimage_paddr, kimage_size;
	gboolean has_direct_map;
	guint64 page_offset_base;
	/* the kernel's own struct new_utsname (init_uts_ns): sysname, nodename,
	 * release, version, machine, domainname, 65 bytes each, each
	 * NUL-terminated; for kdump headers */
	gboolean has_utsname;
	char utsname[6][65];
	gboolean has_pgtable;
	HvPgtable pgtable;       /* kernel page tables used (ctx = HvRamSource) */
	GPtrArray *warnings;     /* char*, one line each */
} HvKernelInfo;

void hv_kernel_info_clear(HvKernelInfo *ki);

/* Scans for and validates VMCOREINFO, then derives the kernel layout.
 * Missing or forged VMCOREINFO is a warning, not an error; FALSE only when
 * guest RAM cannot be read. If known_paddr != 0 that address is tried first
 * (O(1): the guest module's descriptor said where the note is). */
gboolean hv_kernel_discover(HvRamSource *mem, GArray *cpus, guint64 known_paddr,
			    HvKernelInfo *ki, GError **error);

/* The same layout for a dump file's RAM (convert, info): VMCOREINFO comes
 * with the file, the kernel's page tables are its swapper_pg_dir. FALSE
 * only when the text does not parse; tables that contradict it are a
 * warning (then has_pgtable stays FALSE). */
gboolean hv_kernel_from_vmcoreinfo(HvRamSource *mem, const char *text, gsize len,
				   HvKernelInfo *ki, GError **error);

G_END_DECLS
