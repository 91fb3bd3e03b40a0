/* hv-elfcore.c — ELF64 core writer; see hv-elfcore.h.
 *
 * Written with <elf.h> structs rather than libelf: libelf keeps segment data
 * in memory and has no notion of holes, while a vmcore is gigabytes of
 * mostly-absent pages streamed straight from a mapping.
 */
#include "hv-elfcore.h"

#include <elf.h>
#include <string.h>

#define WRITE_CHUNK (8u << 20)  /* largest single pwrite */

static const guint8 zero_page[HV_PAGE_SIZE];

gboolean hv_page_is_zero(const guint8 *p)
{
	const guint64 *w = (const guint64 *)p;

	/* most pages are decided by their first words */
	if (w[0] | w[1] | w[511])
		return FALSE;
	return memcmp(p, zero_page, HV_PAGE_SIZE) == 0;
}

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

typedef struct {
	HvOutput *out;
	guint64 run_off;       /* file offset of the pending run */
	const guint8 *run_ptr;
	gsize run_len;
	HvElfStats *stats;
} Writer;

static gboolean flush_run(Writer *w, GError **error)
{
	if (w->run_len == 0)
		return TRUE;
	if (!hv_output_pwrite(w->out, w->run_ptr, w->run_len, w->run_off, error))
		return FALSE;
	w->stats->bytes_written += w->run_len;
	w->run_len = 0;
	return TRUE;
}

/* Adds bytes to the pending run, flushing when not contiguous or too big. */
static gboolean add_bytes(Writer *w, const guint8 *p, gsize len, guint64 file_off,
			  GError **error)
{
	if (w->run_len > 0 &&
	    (w->run_off + w->run_len != file_off || w->run_ptr + w->run_len != p ||
	     w->run_len + len > WRITE_CHUNK)) {
		if (!flush_run(w, error))
			return FALSE;
	}
	if (w->run_len == 0) {
		w->run_off = file_off;
		w->run_ptr = p;
	}
	w->run_len += len;
	return TRUE;
}

static gboolean write_extent(Writer *w, const guint8 *data, guint64 len, guint64 file_off,
			     GError **error)
{
	while (len > 0) {
		/* head/tail fragments that are not whole pages are written as is */
		guint64 in_page = file_off % HV_PAGE_SIZE;
		gsize n = (gsize)MIN(len, (guint64)HV_PAGE_SIZE - in_page);

		if (n == HV_PAGE_SIZE && hv_page_is_zero(data)) {
			w->stats->pages_zero++;
		} else if (!add_bytes(w, data, n, file_off, error)) {
			return FALSE;
		}
		data += n;
		file_off += n;
		len -= n;
	}
	return TRUE;
}

gboolean hv_elfcore_write(HvOutput *out, const GByteArray *notes, HvElfLoad *loads,
			  guint nloads, HvExtentFunc extents, gpointer user_data,
			  HvElfStats *stats_ret, GError **error)
{
	HvElfStats stats = { 0 };
	Writer w = { .out = out, .stats = &stats };
	guint64 hdr_len, notes_off, cursor, end = 0;
	g_autofree guint8 *hdr = NULL;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
	guint i;

	if (nloads + 1 >= PN_XNUM) {
		g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_IO,
			    "too many segments (%u)", nloads);
		return FALSE;
	}
	notes_off = sizeof(Elf64_Ehdr) + (guint64)(nloads + 1) * sizeof(Elf64_Phdr);
	hdr_len = notes_off + notes->len;
	cursor = (hdr_len + HV_PAGE_SIZE - 1) & ~(guint64)(HV_PAGE_SIZE - 1);

	/* place owning segments first, then aliases inside them */
	for (i = 0; i < nloads; i++) {
		HvElfLoad *l = &loads[i];

		if (l->alias >= 0)
			continue;
		l->file_offset = cursor;
		cursor += (l->size + HV_PAGE_SIZE - 1) & ~(guint64)(HV_PAGE_SIZE - 1);
		end = MAX(end, l->file_offset + l->size);
	}
	for (i = 0; i < nloads; i++) {
		HvElfLoad *l = &loads[i];
		const HvElfLoad *o;

		if (l->alias < 0)
			continue;
		if ((guint)l->alias >= nloads || loads[l->alias].alias >= 0) {
			g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_IO,
				    "segment %u aliases a segment that owns no data", i);
			return FALSE;
		}
		o = &loads[l->alias];
		if (l->alias_delta > o->size || l->size > o->size - l->alias_delta) {
			g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_IO,
				    "segment %u lies outside the segment it aliases", i);
			return FALSE;
		}
		l->file_offset = o->file_offset + l->alias_delta;
	}

	hdr = g_malloc0(hdr_len);
	eh = (Elf64_Ehdr *)hdr;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh->e_type = ET_CORE;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (Elf64_Half)(nloads + 1);
	ph = (Elf64_Phdr *)(hdr + sizeof(Elf64_Ehdr));
	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = notes_off;
	ph[0].p_filesz = notes->len;
	ph[0].p_memsz = notes->len;
	for (i = 0; i < nloads; i++) {
		Elf64_Phdr *p = &ph[i + 1];

		p->p_type = PT_LOAD;
		p->p_flags = PF_R | PF_W | PF_X;
		p->p_offset = loads[i].file_offset;
		p->p_vaddr = loads[i].vaddr;
		p->p_paddr = loads[i].paddr;
		p->p_filesz = loads[i].size;
		p->p_memsz = loads[i].size;
	}
	memcpy(hdr + notes_off, notes->data, notes->len);
	if (!hv_output_pwrite(out, hdr, hdr_len, 0, error))
		return FALSE;

	for (i = 0; i < nloads; i++) {
		guint64 off, len;
		const guint8 *data;
		GError *local = NULL;

		if (loads[i].alias >= 0)
			continue;
		while (extents(user_data, i, &off, &len, &data, &local)) {
			if (off > loads[i].size || len > loads[i].size - off) {
				g_set_error(error, HV_OUTPUT_ERROR, HV_OUTPUT_ERROR_IO,
					    "segment %u: extent outside the segment", i);
				return FALSE;
			}
			/* the extent's bytes are valid until the next call only */
			if (!write_extent(&w, data, len, loads[i].file_offset + off, error) ||
			    !flush_run(&w, error))
				return FALSE;
		}
		if (local != NULL) {
			g_propagate_error(error, local);
			return FALSE;
		}
	}
	if (!flush_run(&w, error))
		return FALSE;
	end = MAX(end, hdr_len);
	if (!hv_output_set_size(out, end, error))
		return FALSE;
	stats.file_size = end;
	if (stats_ret != NULL)
		*stats_ret = stats;
	return TRUE;
}
