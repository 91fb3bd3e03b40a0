/* hv-notes.c — vmcore notes; see hv-notes.h. */
#include "hv-notes.h"

#include <elf.h>
#include <string.h>

static void put32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

static void put64(guint8 *p, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(p, &v, 8);
}

void hv_note_append(GByteArray *notes, const char *name, guint32 type, const void *desc,
		    gsize descsz)
{
	guint32 namesz = (guint32)strlen(name) + 1;
	gsize start = notes->len;
	gsize total = 12 + ((namesz + 3u) & ~3u) + ((descsz + 3u) & ~(gsize)3u);
	guint8 *p;

	g_byte_array_set_size(notes, (guint)(start + total));
	p = notes->data + start;
	memset(p, 0, total);
	put32(p, namesz);
	put32(p + 4, (guint32)descsz);
	put32(p + 8, type);
	memcpy(p + 12, name, namesz);
	if (descsz > 0)
		memcpy(p + 12 + ((namesz + 3u) & ~3u), desc, descsz);
}

void hv_note_append_prstatus(GByteArray *notes, const HvVcpuRegs *r, guint32 pid)
{
	guint8 d[HV_PRSTATUS_SIZE];
	/* user_regs_struct order */
	const guint64 regs[27] = {
		r->gpr[HV_R15], r->gpr[HV_R14], r->gpr[HV_R13], r->gpr[HV_R12],
		r->gpr[HV_RBP], r->gpr[HV_RBX], r->gpr[HV_R11], r->gpr[HV_R10],
		r->gpr[HV_R9],  r->gpr[HV_R8],  r->gpr[HV_RAX], r->gpr[HV_RCX],
		r->gpr[HV_RDX], r->gpr[HV_RSI], r->gpr[HV_RDI], G_MAXUINT64 /* orig_rax */,
		r->rip, r->cs.selector, r->rflags, r->gpr[HV_RSP], r->ss.selector,
		r->fs.base, r->gs.base, r->ds.selector, r->es.selector,
		r->fs.selector, r->gs.selector,
	};
	guint i;

	memset(d, 0, sizeof(d));
	put32(d + 32, pid);      /* pr_pid */
	for (i = 0; i < G_N_ELEMENTS(regs); i++)
		put64(d + 112 + 8 * i, regs[i]);
	hv_note_append(notes, "CORE", NT_PRSTATUS, d, sizeof(d));
}

static guint8 *put_seg(guint8 *p, const HvSegment *s)
{
	put32(p, s->selector);
	put32(p + 4, s->limit);
	put32(p + 8, s->flags);
	put32(p + 12, 0);
	put64(p + 16, s->base);
	return p + 24;
}

void hv_note_append_qemu_cpustate(GByteArray *notes, const HvVcpuRegs *r)
{
	guint8 d[HV_QEMU_CPUSTATE_SIZE];
	guint8 *p = d;
	static const int order[HV_NGPR] = {
		HV_RAX, HV_RBX, HV_RCX, HV_RDX, HV_RSI, HV_RDI, HV_RSP, HV_RBP,
		HV_R8, HV_R9, HV_R10, HV_R11, HV_R12, HV_R13, HV_R14, HV_R15,
	};
	guint i;

	memset(d, 0, sizeof(d));
	put32(p, 1);                      /* version */
	put32(p + 4, HV_QEMU_CPUSTATE_SIZE);
	p += 8;
	for (i = 0; i < HV_NGPR; i++, p += 8)
		put64(p, r->gpr[order[i]]);
	put64(p, r->rip);
	put64(p + 8, r->rflags);
	p += 16;
	p = put_seg(p, &r->cs);
	p = put_seg(p, &r->ds);
	p = put_seg(p, &r->es);
	p = put_seg(p, &r->fs);
	p = put_seg(p, &r->gs);
	p = put_seg(p, &r->ss);
	p = put_seg(p, &r->ldt);
	p = put_seg(p, &r->tr);
	p = put_seg(p, &r->gdt);
	p = put_seg(p, &r->idt);
	for (i = 0; i < 5; i++, p += 8)
		put64(p, r->cr[i]);
	g_assert((gsize)(p - d) == sizeof(d));
	hv_note_append(notes, "QEMU", 0, d, sizeof(d));
}

