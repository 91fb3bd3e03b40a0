/* hv-elfcore.h — ELF64 (ET_CORE) vmcore writer and its notes.
 *
 * Owns: the on-disk layout of an ELF vmcore as crash, drgn and makedumpfile
 * read it — ELF header and program headers at the start of the file, one
 * PT_NOTE first (per-vCPU NT_PRSTATUS, per-vCPU QEMU CPU state, VMCOREINFO),
 * then PT_LOADs. Segment data is written sparsely: the caller hands extents
 * of data, all-zero pages inside them are skipped, and what is never
 * written stays a hole in the output file.
 */
#pragma once

#include <glib.h>

#include "hv-cpustate.h"
#include "hv-output.h"

G_BEGIN_DECLS

#define HV_PAGE_SIZE 4096u

/* Appends one ELF note (name padded, desc padded to 4 bytes). */
void hv_note_append(GByteArray *notes, const char *name, guint32 type, const void *desc,
		    gsize descsz);
/* NT_PRSTATUS ("CORE") for an x86_64 vCPU; pid is what crash shows. */
void hv_note_append_prstatus(GByteArray *notes, const HvVcpuRegs *regs, guint32 pid);
/* QEMU CPU-state note ("QEMU", type 0, QEMUCPUState v1, 432 bytes). */
void hv_note_append_qemu_cpustate(GByteArray *notes, const HvVcpuRegs *regs);
#define HV_PRSTATUS_SIZE 336u
#define HV_QEMU_CPUSTATE_SIZE 432u

/* Where one PT_LOAD's bytes come from. A segment either owns its bytes
 * (alias < 0: the writer places them and asks the source for data) or
 * shares the bytes of an owning segment (alias = its index;
 * alias_delta = offset of this segment's first byte inside it). */
typedef struct {
	guint64 paddr;
	guint64 vaddr;
	guint64 size;
	int alias;
	guint64 alias_delta;
	/* set by hv_elfcore_write */
	guint64 file_offset;
} HvElfLoad;

/* Iterates the data of owning segment `index`: returns TRUE and one extent
 * (offset within the segment, length, pointer to readable bytes) per call,
 * FALSE with *error unset at the end, FALSE with *error on failure.
 * Bytes outside returned extents read as zero. The bytes need only stay
 * valid until the next call (the source may reuse one buffer). */
typedef gboolean (*HvExtentFunc)(gpointer user_data, guint index, guint64 *offset_ret,
				 guint64 *len_ret, const guint8 **data_ret, GError **error);

typedef struct {
	guint64 bytes_written;   /* non-zero page bytes written */
	guint64 pages_zero;      /* pages inside data extents found all-zero */
	guint64 file_size;       /* apparent size of the output */
} HvElfStats;

/* Writes the whole core into out (an HvOutput opened on NAME.part). */
gboolean hv_elfcore_write(HvOutput *out, const GByteArray *notes, HvElfLoad *loads,
			  guint nloads, HvExtentFunc extents, gpointer user_data,
			  HvElfStats *stats_ret, GError **error);

/* TRUE when the 4 KiB page at p is all zero. */
gboolean hv_page_is_zero(const guint8 *p);

G_END_DECLS
