/* hv-stack.h — call traces of a guest CPU without debug info.
 *
 * Owns: the kernel's own ORC unwind tables (__start_orc_unwind_ip /
 * __start_orc_unwind from kallsyms; the 6.1 and the 6.4+ entry layouts),
 * unwinding with them from a CPU's registers across call frames and
 * exception frames (pt_regs) as the kernel's unwinder does, and — where no
 * table covers the code (modules) or a table entry gives up — the next
 * return address found on the stack, accepted only when the bytes before it
 * are a call instruction. Guest memory is hostile: frames are capped, the
 * stack pointer only moves up within a stack (it may change stacks at an
 * exception frame), and every read is checked.
 */
#pragma once

#include <glib.h>
#include "hv-ksyms.h"

G_BEGIN_DECLS

#define HV_ORC_MAX_ENTRIES (4u << 20)
#define HV_STACK_MAX_FRAMES 48

typedef struct {
	guint64 *ip;        /* absolute addresses, as the table has them */
	guint8 *entries;    /* 6 bytes each */
	guint32 n;
	gboolean layout_64; /* 6.4+: type:3 + signal:1; else type:2 + end:1 */
} HvOrc;

typedef struct {
	guint64 addr;       /* RIP (frame 0) or return address */
	guint64 sp;         /* stack slot the return address was read from; 0 for RIP */
	gboolean reliable;  /* from ORC (or the registers), or a scanned one whose own
			     * frame ORC then unwound; else a guess from a stack scan */
} HvStackFrame;

void hv_orc_clear(HvOrc *o);
/* Loads vmlinux's ORC tables; FALSE (error says why) when kallsyms lacks them
 * or they are unreadable. release picks the entry layout. */
gboolean hv_orc_load(HvOrc *o, const HvKmem *m, const HvKsyms *ks, const char *release,
		     GError **error);

/* Unwinds from regs (NT_PRSTATUS pr_reg order: rip at 16, cs 17, rsp 19,
 * rbp 4). orc may be NULL or empty: then only the stack scan is used.
 * Returns the number of frames written (at most max). */
guint hv_stack_unwind(const HvKmem *m, const HvKsyms *ks, const HvOrc *orc,
		      const guint64 regs[27], HvStackFrame *out, guint max);

/* Whether the bytes before ret are a call instruction (e8 rel32 into text,
 * or ff /2 of exactly the length that ends at ret). */
gboolean hv_stack_call_before(const HvKmem *m, const HvKsyms *ks, guint64 ret);

G_END_DECLS
