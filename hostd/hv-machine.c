/* hv-machine.c — parsers for QEMU's `info registers -a` and `info mtree -f`.
 *
 * Both inputs are bounded by the QMP message cap; here every line is also
 * capped, every count is capped, numbers are parsed strictly, and nothing
 * recurses.
 */
#include "hv-machine.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_LINE 4096

/* Iterates lines of a bounded buffer without modifying it. */
typedef struct {
	const char *p;
	const char *end;
} LineIter;

static gboolean next_line(LineIter *it, char *buf, gsize bufsz)
{
	const char *nl;
	gsize n;

	if (it->p >= it->end)
		return FALSE;
	nl = memchr(it->p, '\n', (gsize)(it->end - it->p));
	if (nl == NULL)
		nl = it->end;
	n = (gsize)(nl - it->p);
	if (n >= bufsz)
		n = bufsz - 1;
	memcpy(buf, it->p, n);
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
	it->p = nl < it->end ? nl + 1 : it->end;
	return TRUE;
}

static gboolean parse_hex(const char *s, guint64 *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 16)
		return FALSE;
	return g_ascii_string_to_unsigned(s, 16, 0, G_MAXUINT64, out, NULL);
}

/* ---- info registers -a ------------------------------------------------ */

typedef struct {
	const char *name;
	gsize off;
} SegName;

static const SegName seg_names[] = {
	{ "ES", G_STRUCT_OFFSET(HvVcpuRegs, es) },   { "CS", G_STRUCT_OFFSET(HvVcpuRegs, cs) },
	{ "SS", G_STRUCT_OFFSET(HvVcpuRegs, ss) },   { "DS", G_STRUCT_OFFSET(HvVcpuRegs, ds) },
	{ "FS", G_STRUCT_OFFSET(HvVcpuRegs, fs) },   { "GS", G_STRUCT_OFFSET(HvVcpuRegs, gs) },
	{ "LDT", G_STRUCT_OFFSET(HvVcpuRegs, ldt) }, { "TR", G_STRUCT_OFFSET(HvVcpuRegs, tr) },
	{ "GDT", G_STRUCT_OFFSET(HvVcpuRegs, gdt) }, { "IDT", G_STRUCT_OFFSET(HvVcpuRegs, idt) },
};

static const char *const gpr_names[HV_NGPR] = {
	"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP",
	"R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15",
};
/* QEMU prints the 32-bit layout while the CPU is not in long mode */
static const char *const gpr32_names[8] = {
	"EAX", "EBX", "ECX", "EDX", "ESI", "EDI", "EBP", "ESP",
};

enum { SEEN_RIP = 1, SEEN_CS = 2, SEEN_CR3 = 4, SEEN_RSP = 8 };

/* "CS =0010 0000000000000000 ffffffff 00af9b00 ..." or "GDT=     base limit" */
static gboolean parse_segment_line(const char *line, HvVcpuRegs *r, guint *seen)
{
	char key[8];
	const char *eq = strchr(line, '=');
	gsize klen;
	g_auto(GStrv) tok = NULL;
	guint i;

	if (eq == NULL || eq == line)
		return FALSE;
	klen = (gsize)(eq - line);
	while (klen > 0 && line[klen - 1] == ' ')
		klen--;
	if (klen == 0 || klen >= sizeof(key))
		return FALSE;
	memcpy(key, line, klen);
	key[klen] = '\0';
	for (i = 0; i < G_N_ELEMENTS(seg_names); i++) {
		HvSegment *s;
		guint64 v[4];
		guint n = 0, j;
		gboolean table = strcmp(key, "GDT") == 0 || strcmp(key, "IDT") == 0;

		if (strcmp(key, seg_names[i].name) != 0)
			continue;
		tok = g_strsplit_set(eq + 1, " ", 16);
		for (j = 0; tok[j] != NULL && n < (table ? 2u : 4u); j++) {
			if (tok[j][0] == '\0')
				continue;
			if (!parse_hex(tok[j], &v[n]))
				return FALSE;
			n++;
		}
		s = (HvSegment *)((guint8 *)r + seg_names[i].off);
		if (table) {
			if (n != 2)
				return FALSE;
			s->base = v[0];
			s->limit = (guint32)v[1];
		} else {
			if (n != 4)
				return FALSE;
			s->selector = (guint32)v[0];
			s->base = v[1];
			s->limit = (guint32)v[2];
			s->flags = (guint32)v[3];
			if (strcmp(key, "CS") == 0)
				*seen |= SEEN_CS;
		}
		return TRUE;
	}
	return FALSE;
}

/* Generic "K=V K=V" lines; QEMU pads short names as "R8 =". */
static gboolean parse_kv_line(const char *line, HvVcpuRegs *r, guint *seen, GError **error)
{
	char norm[MAX_LINE];
	gsize o = 0;
	g_auto(GStrv) tok = NULL;
	guint i, j;

	for (i = 0; line[i] != '\0' && o + 1 < sizeof(norm); i++) {
		if (line[i] == ' ') {
			gsize k = i;

			while (line[k] == ' ')
				k++;
			if (line[k] == '=') {
				i = (guint)k - 1;
				continue;
			}
		}
		norm[o++] = line[i];
	}
	norm[o] = '\0';
	tok = g_strsplit(norm, " ", 64);
	for (j = 0; tok[j] != NULL; j++) {
		char *eq = strchr(tok[j], '=');
		const char *k = tok[j], *v;
		guint64 val;

		if (eq == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		for (i = 0; i < HV_NGPR; i++) {
			if (strcmp(k, gpr_names[i]) == 0 || (i < 8 && strcmp(k, gpr32_names[i]) == 0))
				break;
		}
		if (i < HV_NGPR) {
			if (!parse_hex(v, &val))
				goto bad;
			r->gpr[i] = val;
			if (i == HV_RSP)
				*seen |= SEEN_RSP;
		} else if (strcmp(k, "RIP") == 0 || strcmp(k, "EIP") == 0) {
			if (!parse_hex(v, &r->rip))
				goto bad;
			*seen |= SEEN_RIP;
		} else if (strcmp(k, "RFL") == 0 || strcmp(k, "EFL") == 0) {
			if (!parse_hex(v, &r->rflags))
				goto bad;
		} else if (strcmp(k, "CPL") == 0) {
			if (!parse_hex(v, &val) || val > 3)
				goto bad;
			r->cpl = (int)val;
		} else if (strcmp(k, "HLT") == 0) {
			r->halted = strcmp(v, "1") == 0;
		} else if (strcmp(k, "CR0") == 0 || strcmp(k, "CR2") == 0 ||
			   strcmp(k, "CR3") == 0 || strcmp(k, "CR4") == 0) {
			int n = k[2] - '0';

			if (!parse_hex(v, &r->cr[n]))
				goto bad;
			if (n == 3)
				*seen |= SEEN_CR3;
		} else if (strcmp(k, "EFER") == 0) {
			if (!parse_hex(v, &r->efer))
				goto bad;
		}
		continue;
bad:
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "info registers: CPU#%u: bad value for %s", r->index, k);
		return FALSE;
	}
	return TRUE;
}

static gboolean finish_cpu(HvVcpuRegs *r, guint seen, GError **error)
{
	const guint need = SEEN_RIP | SEEN_CS | SEEN_CR3 | SEEN_RSP;

	if ((seen & need) != need) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "info registers: CPU#%u: missing %s", r->index,
			    !(seen & SEEN_RIP) ? "RIP" : !(seen & SEEN_RSP) ? "RSP" :
			    !(seen & SEEN_CS) ? "CS" : "CR3");
		return FALSE;
	}
	return TRUE;
}

GArray *hv_parse_registers(const char *text, gsize len, GError **error)
{
	g_autoptr(GArray) cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	LineIter it = { text, text + len };
	char line[MAX_LINE];
	HvVcpuRegs cur;
	gboolean in_cpu = FALSE;
	guint seen = 0;

	memset(&cur, 0, sizeof(cur));
	while (next_line(&it, line, sizeof(line))) {
		if (g_str_has_prefix(line, "CPU#")) {
			guint64 idx;

			if (in_cpu) {
				if (!finish_cpu(&cur, seen, error))
					return NULL;
				g_array_append_val(cpus, cur);
			}
			if (!g_ascii_string_to_unsigned(line + 4, 10, 0, HV_MAX_VCPUS - 1, &idx, NULL) ||
			    cpus->len >= HV_MAX_VCPUS) {
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
					    "info registers: bad CPU header '%.32s'", line);
				return NULL;
			}
			memset(&cur, 0, sizeof(cur));
			cur.index = (guint)idx;
			in_cpu = TRUE;
			seen = 0;
			continue;
		}
		if (!in_cpu || line[0] == '\0')
			continue;
		if (parse_segment_line(line, &cur, &seen))
			continue;
		if (!parse_kv_line(line, &cur, &seen, error))
			return NULL;
	}
	if (in_cpu) {
		if (!finish_cpu(&cur, seen, error))
			return NULL;
		g_array_append_val(cpus, cur);
	}
	if (cpus->len == 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "info registers: no CPU found");
		return NULL;
	}
	return g_steal_pointer(&cpus);
}

/* ---- info mtree -f ---------------------------------------------------- */

static gint cmp_range(gconstpointer a, gconstpointer b)
{
	const HvRamRange *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

GArray *hv_parse_mtree(const char *text, gsize len, GError **error)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(HvRamRange));
	LineIter it = { text, text + len };
	char line[MAX_LINE];
	gboolean in_view = FALSE, view_is_memory = FALSE, found_view = FALSE;
	guint i;

	while (next_line(&it, line, sizeof(line))) {
		const char *p = line;
		guint64 start, last, off = 0;
		unsigned prio;
		char type[16], name[256];
		int n = 0;
		char *at;
		HvRamRange r;

		if (g_str_has_prefix(line, "FlatView #")) {
			if (found_view)
				break; /* the memory view is complete */
			in_view = TRUE;
			view_is_memory = FALSE;
			continue;
		}
		if (!in_view)
			continue;
		if (g_str_has_prefix(line, " AS \"memory\",")) {
			view_is_memory = found_view = TRUE;
			continue;
		}
		if (!view_is_memory)
			continue;
		while (*p == ' ')
			p++;
		if (sscanf(p, "%16" SCNx64 "-%16" SCNx64 " (prio %u, %15[^)]): %n", &start, &last,
			   &prio, type, &n) != 4 || n == 0)
			continue;
		if (strcmp(type, "ram") != 0)
			continue;
		if (last < start) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "info mtree: range ends before it starts: %.64s", p);
			return NULL;
		}
		if (last > HV_MAX_GPA) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "info mtree: RAM beyond the 52-bit guest-physical address space: %.64s", p);
			return NULL;
		}
		g_strlcpy(name, p + n, sizeof(name));
		at = strstr(name, " @");
		if (at != NULL) {
			char *e = at + 2;
			gsize hl = strspn(e, "0123456789abcdef");
			char hex[17];

			if (hl > 16)
				hl = 0;
			memcpy(hex, e, hl);
			hex[hl] = '\0';
			if (hl == 0 || (e[hl] != '\0' && e[hl] != ' ') || !parse_hex(hex, &off)) {
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
					    "info mtree: bad offset in '%.64s'", p);
				return NULL;
			}
			*at = '\0';
		}
		g_strchomp(name);
		if (strlen(name) >= sizeof(r.region) || name[0] == '\0') {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "info mtree: region name too long or empty: '%.64s'", p);
			return NULL;
		}
		if (out->len >= HV_MAX_RAM_RANGES) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "info mtree: more than %d RAM ranges", HV_MAX_RAM_RANGES);
			return NULL;
		}
		memset(&r, 0, sizeof(r));
		r.gpa = start;
		r.size = last - start + 1;
		r.offset = off;
		if (r.size == 0 || r.offset > G_MAXUINT64 - r.size) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "info mtree: range size overflows: '%.64s'", p);
			return NULL;
		}
		g_strlcpy(r.region, name, sizeof(r.region));
		g_array_append_val(out, r);
	}
	if (!found_view) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "info mtree: no FlatView for address space \"memory\"");
		return NULL;
	}
	g_array_sort(out, cmp_range);
	/* merge contiguous pieces of the same region */
	for (i = 1; i < out->len;) {
		HvRamRange *a = &g_array_index(out, HvRamRange, i - 1);
		HvRamRange *b = &g_array_index(out, HvRamRange, i);
		guint64 a_end;

		/* checked: a range may end at the top of the address space */
		if (!g_uint64_checked_add(&a_end, a->gpa, a->size) || a_end > b->gpa) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "info mtree: overlapping RAM ranges at 0x%" G_GINT64_MODIFIER "x",
				    b->gpa);
			return NULL;
		}
		if (strcmp(a->region, b->region) == 0 && a_end == b->gpa &&
		    a->offset + a->size == b->offset) {
			a->size += b->size;
			g_array_remove_index(out, i);
			continue;
		}
		i++;
	}
	return g_steal_pointer(&out);
}
