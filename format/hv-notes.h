/* hv-notes.h — the notes a vmcore carries, in ELF note framing.
 *
 * Owns: NT_PRSTATUS for an x86_64 vCPU (what crash's bt starts from), the
 * QEMU CPU-state note (QEMUCPUState v1: marks a QEMU dump and gives crash
 * every vCPU's registers), and generic notes (VMCOREINFO). ELF vmcores put
 * them in PT_NOTE, kdump-compressed files in their sub-header: the framing
 * is the same, so every writer takes the same note blob.
 */
#pragma once

#include <glib.h>

#include "hv-cpustate.h"

G_BEGIN_DECLS

/* Appends one ELF note (name padded, desc padded to 4 bytes). */
void hv_note_append(GByteArray *notes, const char *name, guint32 type, const void *desc,
		    gsize descsz);
/* NT_PRSTATUS ("CORE") for an x86_64 vCPU; pid is what crash shows. */
void hv_note_append_prstatus(GByteArray *notes, const HvVcpuRegs *regs, guint32 pid);
/* QEMU CPU-state note ("QEMU", type 0, QEMUCPUState v1, 432 bytes). */
void hv_note_append_qemu_cpustate(GByteArray *notes, const HvVcpuRegs *regs);
#define HV_PRSTATUS_SIZE 336u
#define HV_QEMU_CPUSTATE_SIZE 432u

G_END_DECLS
