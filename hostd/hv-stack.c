/* hv-stack.c — ORC unwinding and call-checked stack scans; see hv-stack.h. */
#include "hv-stack.h"

#include <stdlib.h>
#include <string.h>

#include "hv-error.h"

#define THREAD_SIZE 16384
#define SCAN_WORDS 2048
#define MAX_STACK_SWITCHES 4
/* pt_regs / NT_PRSTATUS register slots */
#define R_BP 4
#define R_R10_ 7
#define R_R13_ 2
#define R_DX 12
#define R_DI 14
#define R_IP 16
#define R_CS 17
#define R_SP 19
#define PT_REGS_WORDS 21
#define IRET_OFF (R_IP * 8)

enum { ORC_REG_UNDEFINED, ORC_REG_PREV_SP, ORC_REG_DX, ORC_REG_DI, ORC_REG_BP, ORC_REG_SP, ORC_REG_R10, ORC_REG_R13,
       ORC_REG_BP_INDIRECT, ORC_REG_SP_INDIRECT };
typedef enum { T_CALL, T_REGS, T_REGS_PARTIAL, T_END, T_UNDEFINED } OrcType;

void hv_orc_clear(HvOrc *o)
{
	g_free(o->ip);
	g_free(o->entries);
	memset(o, 0, sizeof(*o));
}

static gboolean release_at_least(const char *release, guint major, guint minor)
{
	guint64 M = 0, m = 0;
	char *end = NULL;

	M = g_ascii_strtoull(release, &end, 10);
	if (end != NULL && *end == '.')
		m = g_ascii_strtoull(end + 1, NULL, 10);
	return M > major || (M == major && m >= minor);
}

gboolean hv_orc_load(HvOrc *o, const HvKmem *m, const HvKsyms *ks, const char *release,
		     GError **error)
{
	guint64 start = hv_ksyms_lookup_name(ks, "__start_orc_unwind_ip");
	guint64 stop = hv_ksyms_lookup_name(ks, "__stop_orc_unwind_ip");
	guint64 tab = hv_ksyms_lookup_name(ks, "__start_orc_unwind");
	gint32 *rel;
	guint64 n;

	memset(o, 0, sizeof(*o));
	if (start == 0 || tab == 0 || stop <= start) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "ORC: no unwind tables in kallsyms");
		return FALSE;
	}
	n = (stop - start) / 4;
	if (n == 0 || n > HV_ORC_MAX_ENTRIES) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "ORC: %" G_GUINT64_FORMAT " entries is not plausible", n);
		return FALSE;
	}
	rel = g_try_new(gint32, n);
	o->entries = g_try_malloc(n * 6);
	o->ip = g_try_new(guint64, n);
	if (rel == NULL || o->entries == NULL || o->ip == NULL ||
	    !hv_kmem_read(m, start, rel, n * 4) || !hv_kmem_read(m, tab, o->entries, n * 6)) {
		g_free(rel);
		hv_orc_clear(o);
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "ORC: unwind tables not readable");
		return FALSE;
	}
	for (guint64 i = 0; i < n; i++)
		o->ip[i] = start + i * 4 + (guint64)(gint64)rel[i];
	g_free(rel);
	o->n = (guint32)n;
	o->layout_64 = release != NULL && release_at_least(release, 6, 4);
	return TRUE;
}

gboolean hv_stack_call_before(const HvKmem *m, const HvKsyms *ks, guint64 ret)
{
	guint8 b[8];

	if (!hv_kmem_read(m, ret - 8, b, sizeof(b)))
		return FALSE;
	if (b[3] == 0xe8) {
		gint32 rel;

		memcpy(&rel, b + 4, 4);
		if (hv_ksyms_is_text(ks, ret + (guint64)(gint64)rel))
			return TRUE;
	}
	for (int l = 2; l <= 7; l++) {
		int op = 8 - l;
		guint8 modrm, mod, rm;
		int len = 2;

		if (b[op] != 0xff)
			continue;
		modrm = b[op + 1];
		mod = modrm >> 6;
		rm = modrm & 7;
		if (((modrm >> 3) & 7) != 2)
			continue;
		if (mod != 3) {
			if (rm == 4) {
				len++;
				if (mod == 0 && op + 2 < 8 && (b[op + 2] & 7) == 5)
					len += 4;
			}
			if (mod == 1)
				len += 1;
			else if (mod == 2 || (mod == 0 && rm == 5))
				len += 4;
		}
		if (len == l)
			return TRUE;
	}
	return FALSE;
}

typedef struct {
	guint64 ip, sp, bp;
	guint64 r[PT_REGS_WORDS];
	gboolean full_regs;    /* r[] all known (registers or a pt_regs frame) */
	gboolean iret_regs;    /* r[R_IP..] known (an iret frame) */
	gboolean signal;       /* ip is exact, not a return address */
	guint scanned;         /* stack words scanned so far (capped per unwind) */
} State;

static gboolean get_reg(const State *s, guint idx, guint64 *v)
{
	if (s->full_regs || (s->iret_regs && idx >= R_IP)) {
		*v = s->r[idx];
		return TRUE;
	}
	return FALSE;
}

static const guint8 *orc_find(const HvOrc *o, guint64 ip)
{
	gint64 lo = 0, hi = (gint64)o->n - 1, best = -1;

	while (lo <= hi) {
		gint64 mid = lo + (hi - lo) / 2;

		if (o->ip[mid] <= ip) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return best < 0 ? NULL : o->entries + best * 6;
}

/* One step with the ORC entry for s->ip; FALSE when no entry applies. */
static gboolean orc_step(const HvKmem *m, const HvOrc *o, State *s, OrcType *type_ret,
			 guint64 *slot_ret)
{
	const guint8 *e = orc_find(o, s->signal ? s->ip : s->ip - 1);
	gint16 sp_off, bp_off;
	guint sp_reg, bp_reg;
	OrcType type;
	guint64 cfa, v;
	gboolean indirect = FALSE;

	if (e == NULL)
		return FALSE;
	memcpy(&sp_off, e, 2);
	memcpy(&bp_off, e + 2, 2);
	sp_reg = e[4] & 0xf;
	bp_reg = e[4] >> 4;
	if (o->layout_64) {
		static const OrcType t64[8] = { T_UNDEFINED, T_END, T_CALL, T_REGS, T_REGS_PARTIAL,
						 T_UNDEFINED, T_UNDEFINED, T_UNDEFINED };
		type = t64[e[5] & 7];
	} else {
		static const OrcType t61[4] = { T_CALL, T_REGS, T_REGS_PARTIAL, T_UNDEFINED };
		type = (e[5] >> 2) & 1 ? T_END : t61[e[5] & 3];
	}
	*type_ret = type;
	if (type == T_END || type == T_UNDEFINED || sp_reg == ORC_REG_UNDEFINED)
		return FALSE;
	switch (sp_reg) {
	case ORC_REG_SP:
		cfa = s->sp + (guint64)(gint64)sp_off;
		break;
	case ORC_REG_BP:
		cfa = s->bp + (guint64)(gint64)sp_off;
		break;
	case ORC_REG_SP_INDIRECT:
		cfa = s->sp;
		indirect = TRUE;
		break;
	case ORC_REG_BP_INDIRECT:
		cfa = s->bp + (guint64)(gint64)sp_off;
		indirect = TRUE;
		break;
	case ORC_REG_R10:
	case ORC_REG_R13:
	case ORC_REG_DI:
	case ORC_REG_DX:
		if (!get_reg(s, sp_reg == ORC_REG_R10 ? R_R10_ : sp_reg == ORC_REG_R13 ? R_R13_ :
				sp_reg == ORC_REG_DI ? R_DI : R_DX, &cfa))
			return FALSE;
		break;
	default:
		return FALSE;
	}
	if (indirect) {
		if (!hv_kmem_u64(m, cfa, &cfa))
			return FALSE;
		if (sp_reg == ORC_REG_SP_INDIRECT)
			cfa += (guint64)(gint64)sp_off;
	}
	switch (type) {
	case T_CALL:
		if (!hv_kmem_u64(m, cfa - 8, &v))
			return FALSE;
		*slot_ret = cfa - 8;
		s->ip = v;
		s->sp = cfa;
		s->full_regs = s->iret_regs = FALSE;
		s->signal = FALSE;
		break;
	case T_REGS:
		if (!hv_kmem_read(m, cfa, s->r, sizeof(s->r)))
			return FALSE;
		*slot_ret = cfa + IRET_OFF;
		s->ip = s->r[R_IP];
		s->sp = s->r[R_SP];
		s->full_regs = TRUE;
		s->signal = TRUE;
		break;
	default: /* T_REGS_PARTIAL: an iret frame at the CFA */
		if (!hv_kmem_read(m, cfa, s->r + R_IP, 5 * 8))
			return FALSE;
		*slot_ret = cfa;
		s->ip = s->r[R_IP];
		s->sp = s->r[R_SP];
		s->full_regs = FALSE;
		s->iret_regs = TRUE;
		s->signal = TRUE;
		break;
	}
	switch (bp_reg) {
	case ORC_REG_UNDEFINED:
		if (get_reg(s, R_BP, &v))
			s->bp = v;
		break;
	case ORC_REG_PREV_SP:
		if (!hv_kmem_u64(m, cfa + (guint64)(gint64)bp_off, &s->bp))
			return FALSE;
		break;
	case ORC_REG_BP:
		if (!hv_kmem_u64(m, s->bp + (guint64)(gint64)bp_off, &s->bp))
			return FALSE;
		break;
	default:
		break;
	}
	return TRUE;
}

/* The next call-preceded text address at or above sp, within this stack. */
static gboolean scan_next(const HvKmem *m, const HvKsyms *ks, State *s, guint64 *slot_ret)
{
	guint64 sp = s->sp & ~7ull;
	guint64 top = (sp | (THREAD_SIZE - 1)) + 1;

	for (guint i = 0; i < SCAN_WORDS && sp + i * 8ull < top && sp + i * 8ull >= sp; i++) {
		guint64 slot = sp + i * 8ull, v;

		if (++s->scanned > 2 * SCAN_WORDS)
			return FALSE; /* one stack's worth twice over: enough */
		if (!hv_kmem_u64(m, slot, &v))
			return FALSE; /* a guard page: the end of this stack */
		if (hv_ksyms_is_text(ks, v) && hv_stack_call_before(m, ks, v)) {
			guint64 fp;

			*slot_ret = slot;
			s->ip = v;
			s->sp = slot + 8;
			/* a frame-pointer caller pushed rbp right below the return
			 * address: the best guess of bp for a BP-based ORC entry */
			if (i > 0 && hv_kmem_u64(m, slot - 8, &fp) && fp > slot && fp < top)
				s->bp = fp;
			s->full_regs = s->iret_regs = FALSE;
			s->signal = FALSE;
			return TRUE;
		}
	}
	return FALSE;
}

guint hv_stack_unwind(const HvKmem *m, const HvKsyms *ks, const HvOrc *orc,
		      const guint64 regs[27], HvStackFrame *out, guint max)
{
	State s = { 0 };
	guint n = 0, switches = 0;

	if (max == 0)
		return 0;
	memcpy(s.r, regs, sizeof(s.r));
	s.ip = regs[R_IP];
	s.sp = regs[R_SP];
	s.bp = regs[R_BP];
	s.full_regs = TRUE;
	s.signal = TRUE;
	out[n++] = (HvStackFrame){ .addr = s.ip, .sp = 0, .reliable = TRUE };
	if ((regs[R_CS] & 3) == 3)
		return n; /* user mode: no kernel stack to walk */
	while (n < max && n < HV_STACK_MAX_FRAMES) {
		guint64 old_sp = s.sp, slot = 0;
		OrcType type = T_UNDEFINED;
		gboolean reliable = FALSE;
		gboolean in_vmlinux = ks->have_kernel && s.ip >= ks->stext && s.ip < ks->etext;

		if (orc != NULL && orc->n > 0 && in_vmlinux) {
			State saved = s;

			if (orc_step(m, orc, &s, &type, &slot)) {
				/* a CALL step must move up to a text address; else the
				 * table's inputs (bp after a scanned frame) were wrong */
				if (type != T_CALL || (s.sp > old_sp && hv_ksyms_is_text(ks, s.ip)))
					reliable = TRUE;
				else
					s = saved;
			} else {
				if (type == T_END)
					break;
				s = saved;
			}
		}
		if (!reliable) {
			/* no table for this code (a module) or the table gave up */
			if (!scan_next(m, ks, &s, &slot))
				break;
		}
		if ((s.r[R_CS] & 3) == 3 && (s.full_regs || s.iret_regs))
			break; /* an exception frame from user mode: the stack's bottom */
		if (s.sp <= old_sp && !(s.full_regs || s.iret_regs))
			break; /* a call frame must move up the stack */
		if ((s.full_regs || s.iret_regs) && (s.sp <= old_sp || s.sp - old_sp > THREAD_SIZE) &&
		    ++switches > MAX_STACK_SWITCHES)
			break;
		if (!hv_ksyms_is_text(ks, s.ip))
			break;
		/* a scanned return address whose own frame the table then unwinds
		 * was a real frame */
		if (reliable && n > 1 && !out[n - 1].reliable)
			out[n - 1].reliable = TRUE;
		out[n++] = (HvStackFrame){ .addr = s.ip, .sp = slot, .reliable = reliable };
	}
	return n;
}
