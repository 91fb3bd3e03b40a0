/* hv-machine.h — the machine state a capture needs, and the parsers that
 * build it from QEMU's monitor text.
 *
 * Owns: vCPU register sets (from `info registers -a`) and the guest-physical
 * RAM map (from `info mtree -f`). Both texts carry guest-influenced values and
 * are parsed with hard caps on counts and lengths.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "hv-cpustate.h"
#include "hv-error.h"

G_BEGIN_DECLS

#define HV_MAX_VCPUS 1024
#define HV_MAX_RAM_RANGES 256
/* x86-64 guest-physical addresses have at most 52 bits */
#define HV_MAX_GPA ((1ull << 52) - 1)

/* Parses `info registers -a` (QEMU x86_64 format). Returns an array of
 * HvVcpuRegs ordered by CPU index. */
GArray *hv_parse_registers(const char *text, gsize len, GError **error);

typedef struct {
	guint64 gpa;      /* guest-physical start */
	guint64 size;
	guint64 offset;   /* offset into the backend region */
	char region[64];  /* QEMU memory region name (the backend id) */
} HvRamRange;

/* Parses `info mtree -f`: the RAM ranges ("ram" type, not "rom") of the
 * FlatView that serves the "memory" address space. Adjacent ranges of one
 * region with contiguous offsets are merged. Sorted by gpa. */
GArray *hv_parse_mtree(const char *text, gsize len, GError **error);

G_END_DECLS
