/* hv-reader-elf.c — reads ELF64 vmcores (x86_64 ET_CORE): ours, QEMU's
 * dump-guest-memory, /proc/vmcore and makedumpfile -E; the ELF entry of
 * the reader ops table (hv-dumpfile-private.h).
 *
 * Owns: the ELF header and program headers as hostile input, notes (every
 * PT_NOTE, in order), guest RAM regions (PT_LOADs by p_paddr), the kernel
 * image segment, and reading guest pages out of the segments.
 *
 * - A PT_LOAD whose p_vaddr is kernel text (>= __START_KERNEL_map) and
 *   whose physical range other PT_LOADs cover is the kernel image
 *   mapping (hv_dump_file_get_kimage), not a region: ours aliases the file
 *   bytes of the region holding it, /proc/vmcore and makedumpfile carry a
 *   copy of them. The first such segment is the kimage; any more are
 *   dropped. A kernel-text PT_LOAD that nothing else covers is a region.
 * - Regions are sorted by p_paddr; overlapping ones are rejected. A region's
 *   vaddr is its p_vaddr when that is a kernel (direct-map) address, else 0:
 *   QEMU without paging writes p_vaddr = p_paddr, which maps nothing.
 * - Bytes past p_filesz (up to p_memsz) read as zero and are not present.
 * - The present bytes of a region are its file-backed part; holes of a
 *   sparse file are in the file (they read as zero), but next_present
 *   skips them (SEEK_DATA), so untouched pages are never read.
 * - makedumpfile sets e_flags bit 0 (DUMP_ELF_INCOMPLETE) when it ran out
 *   of space: segments may then run past the end of the file, and what is
 *   missing counts as not present. Without that flag it is an error.
 */
#include "hv-dumpfile-private.h"
#include "hv-vmcoreinfo.h"

#include <elf.h>
#include <inttypes.h>
#include <stdlib.h>

G_STATIC_ASSERT(sizeof(Elf64_Ehdr) == 64);
G_STATIC_ASSERT(sizeof(Elf64_Phdr) == 56);
G_STATIC_ASSERT(sizeof(Elf64_Shdr) == 64);

#define DUMP_ELF_INCOMPLETE 0x1u   /* makedumpfile's e_flags bit */
#define MAX_PHNUM (1u << 20)
#define DIRECT_MAP_MIN 0xffff800000000000ull /* the kernel half (4- and 5-level) */

typedef struct {
	guint64 paddr, memsz, vaddr;
	guint64 offset, filesz;    /* filesz: what the file holds (clamped if incomplete) */
	guint index;               /* program header number, for errors */
	gboolean kernel_text;
} Load;

typedef struct {
	Load *segs;                /* one per region, in region order */
} ElfReader;

static gboolean elf_probe(const guint8 *head, gsize len)
{
	return len >= SELFMAG && memcmp(head, ELFMAG, SELFMAG) == 0;
}

static int cmp_load(const void *a, const void *b)
{
	const Load *x = a, *y = b;

	return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

/* The ELF header's fields we use, checked. */
static gboolean read_ehdr(HvDumpFile *f, Elf64_Ehdr *eh, guint64 *phnum_ret, GError **error)
{
	guint8 raw[sizeof(Elf64_Ehdr)];
	guint64 phnum;

	if (!hv_dump_file_pread(f, 0, raw, sizeof(raw), error)) {
		g_prefix_error(error, "ELF: header: ");
		return FALSE;
	}
	memcpy(eh, raw, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "ELF: not a 64-bit little-endian file (class %u, data %u)",
			    eh->e_ident[EI_CLASS], eh->e_ident[EI_DATA]);
		return FALSE;
	}
	eh->e_type = GUINT16_FROM_LE(eh->e_type);
	eh->e_machine = GUINT16_FROM_LE(eh->e_machine);
	eh->e_flags = GUINT32_FROM_LE(eh->e_flags);
	eh->e_phoff = GUINT64_FROM_LE(eh->e_phoff);
	eh->e_shoff = GUINT64_FROM_LE(eh->e_shoff);
	eh->e_phentsize = GUINT16_FROM_LE(eh->e_phentsize);
	eh->e_phnum = GUINT16_FROM_LE(eh->e_phnum);
	eh->e_shentsize = GUINT16_FROM_LE(eh->e_shentsize);
	if (eh->e_type != ET_CORE) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "ELF: type %u is not a core file (ET_CORE)", eh->e_type);
		return FALSE;
	}
	if (eh->e_machine != EM_X86_64) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "ELF: machine %u is not x86_64",
			    eh->e_machine);
		return FALSE;
	}
	if (eh->e_phentsize != sizeof(Elf64_Phdr)) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "ELF: program header size %u (expected %zu)", eh->e_phentsize,
			    sizeof(Elf64_Phdr));
		return FALSE;
	}
	phnum = eh->e_phnum;
	if (phnum == PN_XNUM) {
		/* more than 65534 segments: the count is section 0's sh_info */
		guint8 sh[sizeof(Elf64_Shdr)];

		if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
		    !hv_dump_file_pread(f, eh->e_shoff, sh, sizeof(sh), NULL)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "ELF: e_phnum is PN_XNUM but section header 0 is unreadable");
			return FALSE;
		}
		phnum = hv_le32(sh + G_STRUCT_OFFSET(Elf64_Shdr, sh_info));
	}
	if (phnum == 0 || phnum > MAX_PHNUM) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "ELF: %" PRIu64 " program headers",
			    phnum);
		return FALSE;
	}
	*phnum_ret = phnum;
	return TRUE;
}

/* Whether the sorted non-kernel-text loads v together cover [paddr,
 * paddr + size) (makedumpfile -E splits a RAM segment where it leaves
 * pages out: the kernel image may span several pieces). */
static gboolean covered(const Load *v, gsize n, guint64 paddr, guint64 size)
{
	guint64 end = paddr + size;
	gsize lo = 0, hi = n;

	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;

		if (v[mid].paddr <= paddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return FALSE;
	for (lo--; lo < n && v[lo].paddr <= paddr; lo++) {
		if (v[lo].paddr + v[lo].memsz > paddr)
			paddr = v[lo].paddr + v[lo].memsz;
		if (paddr >= end)
			return TRUE;
	}
	return FALSE;
}

static gboolean elf_open(HvDumpFile *f, GError **error)
{
	g_autofree guint8 *ph = NULL;
	g_autoptr(GArray) loads = g_array_new(FALSE, FALSE, sizeof(Load));
	g_autoptr(GArray) phys = g_array_new(FALSE, FALSE, sizeof(Load));
	g_autoptr(GArray) regions = g_array_new(FALSE, FALSE, sizeof(Load));
	ElfReader *er;
	Elf64_Ehdr eh;
	guint64 phnum, i, max_end = 0;
	gboolean incomplete;

	if (!read_ehdr(f, &eh, &phnum, error))
		return FALSE;
	incomplete = (eh.e_flags & DUMP_ELF_INCOMPLETE) != 0;
	if (eh.e_phoff > f->size || phnum * sizeof(Elf64_Phdr) > f->size - eh.e_phoff) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "ELF: %" PRIu64 " program headers at 0x%" PRIx64 " run past the end of "
			    "the file (0x%" PRIx64 ")", phnum, (guint64)eh.e_phoff, f->size);
		return FALSE;
	}
	ph = g_malloc(phnum * sizeof(Elf64_Phdr));
	if (!hv_dump_file_pread(f, eh.e_phoff, ph, phnum * sizeof(Elf64_Phdr), error)) {
		g_prefix_error(error, "ELF: program headers: ");
		return FALSE;
	}
	for (i = 0; i < phnum; i++) {
		const guint8 *p = ph + i * sizeof(Elf64_Phdr);
		guint32 type = hv_le32(p + G_STRUCT_OFFSET(Elf64_Phdr, p_type));
		guint64 off = hv_le64(p + G_STRUCT_OFFSET(Elf64_Phdr, p_offset));
		guint64 filesz = hv_le64(p + G_STRUCT_OFFSET(Elf64_Phdr, p_filesz));
		Load l = { 0 };

		if (type == PT_NOTE) {
			g_autofree guint8 *buf = NULL;
			g_autofree char *what = g_strdup_printf("ELF: PT_NOTE %" PRIu64, i);

			if (filesz > HV_DUMP_MAX_NOTES) {
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
					    "%s: 0x%" PRIx64 " bytes of notes (at most %u)", what,
					    filesz, HV_DUMP_MAX_NOTES);
				return FALSE;
			}
			if (off > f->size || filesz > f->size - off) {
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
					    "%s: 0x%" PRIx64 "+0x%" PRIx64 " runs past the end of "
					    "the file (0x%" PRIx64 ")", what, off, filesz, f->size);
				return FALSE;
			}
			buf = g_malloc(filesz + 1);
			if (!hv_dump_file_pread(f, off, buf, filesz, error)) {
				g_prefix_error(error, "%s: ", what);
				return FALSE;
			}
			if (!hv_dump_file_add_notes(f, buf, filesz, what, error))
				return FALSE;
			continue;
		}
		if (type != PT_LOAD)
			continue;
		l.index = (guint)i;
		l.offset = off;
		l.filesz = filesz;
		l.paddr = hv_le64(p + G_STRUCT_OFFSET(Elf64_Phdr, p_paddr));
		l.vaddr = hv_le64(p + G_STRUCT_OFFSET(Elf64_Phdr, p_vaddr));
		l.memsz = hv_le64(p + G_STRUCT_OFFSET(Elf64_Phdr, p_memsz));
		l.kernel_text = l.vaddr >= HV_START_KERNEL_MAP;
		if (l.memsz == 0)
			continue;
		if (l.filesz > l.memsz) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "ELF: PT_LOAD %u: p_filesz 0x%" PRIx64 " > p_memsz 0x%" PRIx64,
				    l.index, l.filesz, l.memsz);
			return FALSE;
		}
		if (l.memsz - 1 > G_MAXUINT64 - l.paddr ||
		    l.paddr + (l.memsz - 1) > G_MAXUINT64 - 4096) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "ELF: PT_LOAD %u: 0x%" PRIx64 "+0x%" PRIx64 " wraps around",
				    l.index, l.paddr, l.memsz);
			return FALSE;
		}
		if (l.offset > f->size || l.filesz > f->size - l.offset) {
			if (!incomplete) {
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
					    "ELF: PT_LOAD %u: file bytes 0x%" PRIx64 "+0x%" PRIx64
					    " run past the end of the file (0x%" PRIx64 ")",
					    l.index, l.offset, l.filesz, f->size);
				return FALSE;
			}
			/* cut short by makedumpfile: what is missing is absent */
			l.filesz = l.offset > f->size ? 0 : f->size - l.offset;
		}
		if (loads->len >= HV_DUMP_MAX_REGIONS) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "ELF: more than %u PT_LOADs",
				    HV_DUMP_MAX_REGIONS);
			return FALSE;
		}
		g_array_append_val(loads, l);
		if (!l.kernel_text)
			g_array_append_val(phys, l);
	}
	if (phys->len > 1)
		qsort(phys->data, phys->len, sizeof(Load), cmp_load);
	for (i = 0; i < loads->len; i++) {
		const Load *l = &g_array_index(loads, Load, i);

		if (l->kernel_text &&
		    covered((const Load *)phys->data, phys->len, l->paddr, l->memsz)) {
			if (!f->has_kimage) {
				f->has_kimage = TRUE;
				f->kimage_vaddr = l->vaddr;
				f->kimage_paddr = l->paddr;
				f->kimage_size = l->memsz;
			}
			continue;
		}
		g_array_append_val(regions, *l);
	}
	if (regions->len > 1)
		qsort(regions->data, regions->len, sizeof(Load), cmp_load);
	er = g_new0(ElfReader, 1);
	f->priv = er;
	er->segs = g_new(Load, regions->len + 1);
	for (i = 0; i < regions->len; i++) {
		const Load *l = &g_array_index(regions, Load, i);
		HvDumpRegion r = { .paddr = l->paddr, .size = l->memsz };

		if (i > 0 && l->paddr < max_end) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "ELF: PT_LOAD %u overlaps PT_LOAD %u at paddr 0x%" PRIx64,
				    l->index, g_array_index(regions, Load, i - 1).index, l->paddr);
			return FALSE;
		}
		/* a direct-map address, or nothing: QEMU (paging=false) and
		 * makedumpfile copying it put p_vaddr = p_paddr or 0 */
		if (l->vaddr >= DIRECT_MAP_MIN && !l->kernel_text)
			r.vaddr = l->vaddr;
		max_end = l->paddr + l->memsz;
		er->segs[i] = *l;
		g_array_append_val(f->regions, r);
		f->info.pages_ram += (l->memsz + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
		f->info.pages_present += (l->filesz + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE;
		f->info.max_pfn = MAX(f->info.max_pfn, (max_end + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
	}
	f->info.kind = HV_DUMP_FILE_ELF;
	f->info.compression = HV_COMPRESS_NONE;
	f->info.dump_level = -1;
	f->info.incomplete = incomplete;
	f->info.header_version = 0;
	return TRUE;
}

static gboolean elf_page_present(HvDumpFile *f, guint64 pfn)
{
	ElfReader *er = f->priv;
	guint64 start, end;
	guint lo = 0, hi = f->regions->len;

	if (pfn >= G_MAXUINT64 / HV_PAGE_SIZE)
		return FALSE;
	start = pfn * HV_PAGE_SIZE;
	end = start + HV_PAGE_SIZE;
	/* the regions starting before the page's end, latest first */
	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;

		if (er->segs[mid].paddr < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* regions do not overlap: only those ending inside the page come
	 * before the one that may reach past it, at most a page's worth */
	while (lo > 0) {
		const Load *l = &er->segs[--lo];

		if (l->paddr + l->memsz <= start)
			break;
		if (l->filesz > 0 && l->paddr + l->filesz > start)
			return TRUE;
	}
	return FALSE;
}

static gboolean elf_next_present(HvDumpFile *f, guint i, guint64 *cursor, guint64 *off_ret,
				 guint64 *len_ret, GError **error)
{
	ElfReader *er = f->priv;
	const Load *l = &er->segs[i];
	guint64 start, end;

	(void)error;
	if (*cursor >= l->filesz ||
	    !hv_dump_file_next_data(f, l->offset + *cursor, l->offset + l->filesz, &start, &end)) {
		*cursor = l->memsz;
		return FALSE;
	}
	*off_ret = start - l->offset;
	*len_ret = end - start;
	*cursor = end - l->offset;
	return TRUE;
}

static gboolean elf_read(HvDumpFile *f, guint i, guint64 rel, guint8 *buf, gsize len,
			 GError **error)
{
	ElfReader *er = f->priv;
	const Load *l = &er->segs[i];
	gsize n = rel >= l->filesz ? 0 : (gsize)MIN((guint64)len, l->filesz - rel);

	if (n > 0 && !hv_dump_file_pread(f, l->offset + rel, buf, n, error)) {
		g_prefix_error(error, "ELF: PT_LOAD %u: ", l->index);
		return FALSE;
	}
	memset(buf + n, 0, len - n);
	return TRUE;
}

static void elf_cleanup(HvDumpFile *f)
{
	ElfReader *er = f->priv;

	if (er == NULL)
		return;
	g_free(er->segs);
	g_free(er);
}

const HvDumpReaderOps hv_dump_reader_elf = {
	.name = "ELF",
	.probe = elf_probe,
	.open = elf_open,
	.page_present = elf_page_present,
	.next_present = elf_next_present,
	.read = elf_read,
	.count_codecs = NULL,
	.cleanup = elf_cleanup,
};
