/* hv-cpustate.h — one x86_64 vCPU's architectural state, as a dump records it.
 *
 * Owns: the in-memory register set that the note writers (NT_PRSTATUS, QEMU
 * CPU state) turn into bytes; filled by hostd from QEMU's monitor.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	guint32 selector;
	guint32 limit;
	guint32 flags;
	guint64 base;
} HvSegment;

enum { HV_RAX, HV_RBX, HV_RCX, HV_RDX, HV_RSI, HV_RDI, HV_RBP, HV_RSP,
       HV_R8, HV_R9, HV_R10, HV_R11, HV_R12, HV_R13, HV_R14, HV_R15, HV_NGPR };

typedef struct {
	guint index;
	guint64 gpr[HV_NGPR];
	guint64 rip;
	guint64 rflags;
	HvSegment es, cs, ss, ds, fs, gs, ldt, tr, gdt, idt;
	guint64 cr[5];  /* cr0, (cr1 = 0), cr2, cr3, cr4 */
	guint64 efer;
	gboolean halted;
	int cpl;
} HvVcpuRegs;

G_END_DECLS
