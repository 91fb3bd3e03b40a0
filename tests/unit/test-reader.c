/* test-reader.c — reading vmcores (hv-dumpfile.h): ELF with a kernel-image
 * alias, kdump-compressed with every codec, each again as a flattened
 * stream whose header record is rewritten, files cut short or damaged
 * (one-line errors naming what is wrong), incomplete dumps, the RAM source
 * over a dump, and — when makedumpfile is installed — `makedumpfile -R`
 * rebuilding our flattened streams byte for byte as we read them.
 *
 * The files are built here by small builders, not checked in. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv-dumpfile-private.h"
#include "hv-notes.h"
#include "hv-ramsrc.h"

#define PG 4096u
#define VMCI "OSRELEASE=6.1.0-test\nPAGESIZE=4096\nCRASHTIME=1700000000\n"

/* ---- page contents ------------------------------------------------------ */

/* pfn % 4: 0 text (compresses), 1 zero, 2 random (does not), 3 one byte */
static void page_of(guint64 pfn, guint8 *p)
{
	g_autoptr(GRand) r = NULL;
	gsize k = 0;

	switch (pfn % 4) {
	case 0:
		while (k < PG) {
			char line[64];
			int n = g_snprintf(line, sizeof(line),
					   "pfn %#" G_GINT64_MODIFIER "x line %zu\n", pfn, k);

			memcpy(p + k, line, MIN((gsize)n, PG - k));
			k += (gsize)n;
		}
		break;
	case 1:
		memset(p, 0, PG);
		break;
	case 2:
		r = g_rand_new_with_seed((guint32)pfn);
		for (k = 0; k < PG; k++)
			p[k] = (guint8)g_rand_int(r);
		break;
	default:
		memset(p, (int)(pfn & 0xff) | 1, PG);
		break;
	}
}

static void put32(GByteArray *b, gsize off, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(b->data + off, &v, 4);
}

static void put64(GByteArray *b, gsize off, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(b->data + off, &v, 8);
}

static void put16(GByteArray *b, gsize off, guint16 v)
{
	v = GUINT16_TO_LE(v);
	memcpy(b->data + off, &v, 2);
}

static void grow(GByteArray *b, gsize size)
{
	gsize old = b->len;

	if (size > old) {
		g_byte_array_set_size(b, (guint)size);
		memset(b->data + old, 0, size - old);
	}
}

static GByteArray *test_notes_with(gboolean vmcoreinfo)
{
	GByteArray *notes = g_byte_array_new();
	guint8 prs[HV_PRSTATUS_SIZE] = { 0 };

	hv_note_append(notes, "CORE", 1, prs, sizeof(prs));
	hv_note_append(notes, "CORE", 1, prs, sizeof(prs));
	if (vmcoreinfo)
		hv_note_append(notes, "VMCOREINFO", 0, VMCI, strlen(VMCI));
	return notes;
}

static GByteArray *test_notes(void)
{
	return test_notes_with(TRUE);
}

/* ---- ELF ------------------------------------------------------------------
 * RAM A: pfn 0..3 (file-backed); RAM B: pfn 0x100..0x107, the last two past
 * p_filesz; the kernel image: 2 pages at pfn 0x101, sharing B's bytes.
 * Program headers NOTE, kimage, B, A (A after B: sorting is tested). */

typedef struct {
	guint16 machine;
	guint32 e_flags;
	guint64 a_paddr;      /* moves A (overlap tests) */
	guint32 note_namesz;  /* 0: as built */
	gboolean split_b;     /* B as two PT_LOADs (as makedumpfile -E splits),
			       * the kernel image spanning both */
	gboolean no_vmcoreinfo; /* (makedumpfile -d 1 then needs no symbols) */
} ElfOpts;

#define ELF_A_PAGES 4u
#define ELF_B_PAGES 8u
#define ELF_B_FILE 6u
#define ELF_B_PADDR 0x100000ull
#define KIMAGE_VADDR 0xffffffff81000000ull

static GByteArray *build_elf(const ElfOpts *o, guint64 *b_off_ret)
{
	GByteArray *b = g_byte_array_new();
	g_autoptr(GByteArray) notes = test_notes_with(!o->no_vmcoreinfo);
	const guint nph = o->split_b ? 5 : 4;
	guint64 notes_off = 64 + nph * 56, a_off, b_off, k;
	guint8 page[PG];

	a_off = (notes_off + notes->len + PG - 1) / PG * PG;
	b_off = a_off + ELF_A_PAGES * PG;
	grow(b, b_off + ELF_B_FILE * PG);
	memcpy(b->data, "\x7f" "ELF", 4);
	b->data[4] = 2; /* ELFCLASS64 */
	b->data[5] = 1; /* ELFDATA2LSB */
	b->data[6] = 1; /* EV_CURRENT */
	put16(b, 16, 4 /* ET_CORE */);
	put16(b, 18, o->machine ? o->machine : 62 /* EM_X86_64 */);
	put32(b, 20, 1);
	put64(b, 32, 64);             /* e_phoff */
	put32(b, 48, o->e_flags);
	put16(b, 52, 64);             /* e_ehsize */
	put16(b, 54, 56);             /* e_phentsize */
	put16(b, 56, nph);
	/* PT_NOTE */
	put32(b, 64, 4);
	put64(b, 64 + 8, notes_off);
	put64(b, 64 + 32, notes->len);
	/* kernel image */
	put32(b, 120, 1);
	put64(b, 120 + 8, b_off + PG);
	put64(b, 120 + 16, KIMAGE_VADDR);
	put64(b, 120 + 24, ELF_B_PADDR + PG);
	put64(b, 120 + 32, 2 * PG);
	put64(b, 120 + 40, 2 * PG);
	/* B */
	put32(b, 176, 1);
	put64(b, 176 + 8, b_off);
	put64(b, 176 + 16, 0xffff888000000000ull + ELF_B_PADDR);
	put64(b, 176 + 24, ELF_B_PADDR);
	put64(b, 176 + 32, ELF_B_FILE * PG);
	put64(b, 176 + 40, ELF_B_PAGES * PG);
	/* A */
	put32(b, 232, 1);
	put64(b, 232 + 8, a_off);
	put64(b, 232 + 16, 0xffff888000000000ull + o->a_paddr);
	put64(b, 232 + 24, o->a_paddr);
	put64(b, 232 + 32, ELF_A_PAGES * PG);
	put64(b, 232 + 40, ELF_A_PAGES * PG);
	if (o->split_b) {
		put64(b, 176 + 32, 2 * PG);
		put64(b, 176 + 40, 2 * PG);
		put32(b, 288, 1);
		put64(b, 288 + 8, b_off + 2 * PG);
		put64(b, 288 + 16, 0xffff888000000000ull + ELF_B_PADDR + 2 * PG);
		put64(b, 288 + 24, ELF_B_PADDR + 2 * PG);
		put64(b, 288 + 32, (ELF_B_FILE - 2) * PG);
		put64(b, 288 + 40, (ELF_B_PAGES - 2) * PG);
	}
	memcpy(b->data + notes_off, notes->data, notes->len);
	if (o->note_namesz != 0)
		put32(b, notes_off, o->note_namesz);
	for (k = 0; k < ELF_A_PAGES; k++) {
		page_of(o->a_paddr / PG + k, page);
		memcpy(b->data + a_off + k * PG, page, PG);
	}
	for (k = 0; k < ELF_B_FILE; k++) {
		page_of(ELF_B_PADDR / PG + k, page);
		memcpy(b->data + b_off + k * PG, page, PG);
	}
	if (b_off_ret != NULL)
		*b_off_ret = b_off;
	return b;
}

/* The guest page at pfn as the test files hold it. */
static void expect_page(guint64 pfn, gboolean elf, guint8 *p)
{
	if (elf && pfn >= ELF_B_PADDR / PG + ELF_B_FILE)
		memset(p, 0, PG); /* past p_filesz */
	else
		page_of(pfn, p);
}

/* ---- kdump-compressed ------------------------------------------------------
 * RAM (bitmap 1): pfn 0..3 and 0x100..0x107; dumped (bitmap 2): all but
 * 0x105. One shared raw zero page first in the data, as QEMU and
 * makedumpfile write it. Sub-header: notes, then the VMCOREINFO text. */

#define KD_NPFN 12u
static const guint64 kd_pfns[KD_NPFN] = { 0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105,
					  0x106, 0x107 };
#define KD_EXCLUDED 0x105u
#define KD_MAX_MAPNR 0x108u

typedef struct {
	HvCompression codec;
	gint32 version;       /* 0: 6 */
	gboolean qemu_style;  /* no release in the header (QEMU fills only machine) */
	gboolean incomplete;  /* flag it, zero the last two descriptors, cut the file
			       * after the first 9 descriptors... see build */
	guint64 max_mapnr;    /* 0: KD_MAX_MAPNR */
} KdumpOpts;

typedef struct {
	GByteArray *b;
	guint64 desc_off;
	guint64 ndesc;
	guint64 data_off[KD_NPFN]; /* per descriptor */
} Kdump;

static void kdump_clear(Kdump *k)
{
	g_clear_pointer(&k->b, g_byte_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Kdump, kdump_clear)

static void set_bit(GByteArray *b, gsize off, guint64 pfn)
{
	b->data[off + pfn / 8] |= (guint8)(1u << (pfn % 8));
}

static void build_kdump(const KdumpOpts *o, Kdump *k)
{
	g_autoptr(GByteArray) notes = test_notes();
	g_autoptr(HvCompressor) z =
		o->codec != HV_COMPRESS_NONE ? hv_compressor_new(o->codec) : NULL;
	guint64 bm_off = 2 * PG, data, i;
	guint8 page[PG], out[2 * PG];
	GByteArray *b = g_byte_array_new();
	guint32 zero_flag = 0;

	k->b = b;
	grow(b, 4 * PG);
	memcpy(b->data, "KDUMP   ", 8);
	put32(b, 8, (guint32)(o->version ? o->version : 6));
	if (!o->qemu_style)
		memcpy(b->data + 12 + 2 * 65, "6.1.0-hdr", 9); /* utsname.release */
	memcpy(b->data + 12 + 4 * 65, "x86_64", 6);        /* utsname.machine */
	put64(b, 408, o->qemu_style ? 0 : 1600000000);      /* timestamp */
	put32(b, 424, hv_compression_kdump_flag(o->codec) | (o->incomplete ? 8 : 0));
	put32(b, 428, PG);     /* block_size */
	put32(b, 432, 1);      /* sub_hdr_size */
	put32(b, 436, 2);      /* bitmap_blocks */
	put32(b, 440, (guint32)(o->max_mapnr ? o->max_mapnr : KD_MAX_MAPNR));
	put32(b, 460, 4);      /* nr_cpus */
	/* sub-header: notes after it, the VMCOREINFO text after them */
	put64(b, PG + 0, 0x1000000);  /* phys_base */
	put32(b, PG + 8, 1);          /* dump_level */
	put64(b, PG + 32, PG + 104 + notes->len);
	put64(b, PG + 40, strlen(VMCI));
	put64(b, PG + 48, PG + 104);
	put64(b, PG + 56, notes->len);
	put64(b, PG + 96, o->max_mapnr ? o->max_mapnr : KD_MAX_MAPNR);
	memcpy(b->data + PG + 104, notes->data, notes->len);
	memcpy(b->data + PG + 104 + notes->len, VMCI, strlen(VMCI));
	for (i = 0; i < KD_NPFN; i++) {
		set_bit(b, bm_off, kd_pfns[i]);
		if (kd_pfns[i] != KD_EXCLUDED)
			set_bit(b, bm_off + PG, kd_pfns[i]);
	}
	k->desc_off = 4 * PG;
	k->ndesc = KD_NPFN - 1;
	data = k->desc_off + k->ndesc * 24;
	/* the shared zero page */
	grow(b, data + PG);
	{
		guint64 zero_off = data;

		data += PG;
		for (i = 0; i < KD_NPFN; i++) {
			guint64 pfn = kd_pfns[i], d = k->desc_off + (i - (pfn > KD_EXCLUDED)) * 24;
			gsize n = 0;
			guint32 flags = 0;

			if (pfn == KD_EXCLUDED)
				continue;
			page_of(pfn, page);
			if (pfn % 4 == 1) {
				put64(b, d, zero_off);
				put32(b, d + 8, PG);
				put32(b, d + 12, zero_flag);
				k->data_off[(d - k->desc_off) / 24] = zero_off;
				continue;
			}
			if (z != NULL)
				n = hv_compressor_compress(z, page, PG, out, sizeof(out));
			if (n == 0) {
				memcpy(out, page, PG);
				n = PG;
			} else {
				flags = hv_compression_kdump_flag(o->codec);
			}
			grow(b, data + n);
			memcpy(b->data + data, out, n);
			put64(b, d, data);
			put32(b, d + 8, (guint32)n);
			put32(b, d + 12, flags);
			k->data_off[(d - k->desc_off) / 24] = data;
			data += n;
		}
	}
}

/* The descriptor of the pfn (not KD_EXCLUDED). */
static gsize desc_of(const Kdump *k, guint64 pfn)
{
	guint i;

	for (i = 0; i < KD_NPFN; i++)
		if (kd_pfns[i] == pfn)
			return (gsize)(k->desc_off + (i - (pfn > KD_EXCLUDED)) * 24);
	g_assert_not_reached();
}

/* ---- flattened ------------------------------------------------------------
 * makedumpfile's stream: 4096-byte header, {be64 offset, be64 size, data}
 * records, {-1, -1}. All-zero chunks are left out (gaps read as zero). With
 * FLAT_REWRITE, the header block goes first as garbage, the chunks carrying
 * it are garbage too, a garbage piece lands in the middle of it, and a last
 * record rewrites [0, 4096) with the true bytes. */

static void be64_append(GByteArray *s, guint64 v)
{
	v = GUINT64_TO_BE(v);
	g_byte_array_append(s, (const guint8 *)&v, 8);
}

static void record(GByteArray *s, guint64 off, const guint8 *p, gsize n)
{
	be64_append(s, off);
	be64_append(s, n);
	g_byte_array_append(s, p, (guint)n);
}

static gboolean all_zero(const guint8 *p, gsize n)
{
	gsize i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return FALSE;
	return TRUE;
}

#define FLAT_REWRITE 1u      /* garbage header block, rewritten last */
#define FLAT_EMPTY_RECORD 2u  /* a size-0 record (makedumpfile -R stops there) */

static GByteArray *flatten(const GByteArray *plain, gsize chunk, guint how)
{
	gboolean rewrite = (how & FLAT_REWRITE) != 0;
	GByteArray *s = g_byte_array_new();
	guint8 garbage[PG];
	gsize off;

	memset(garbage, 0xa5, sizeof(garbage));
	grow(s, 4096);
	memcpy(s->data, "makedumpfile", 12);
	s->data[23] = 1; /* be64 type 1 */
	s->data[31] = 1; /* be64 version 1 */
	if (rewrite)
		record(s, 0, garbage, PG);
	for (off = 0; off < plain->len; off += chunk) {
		gsize n = MIN(chunk, plain->len - off);

		if (all_zero(plain->data + off, n) && off + n < plain->len)
			continue; /* a gap (but the file keeps its size) */
		if (rewrite && off < PG) {
			gsize g = MIN(n, PG - off);

			record(s, off, garbage, g);
			if (g < n)
				record(s, off + g, plain->data + off + g, n - g);
		} else {
			record(s, off, plain->data + off, n);
		}
		if (rewrite && off == 0)
			record(s, 100, garbage, 50);
	}
	if (how & FLAT_EMPTY_RECORD)
		record(s, 7, NULL, 0);
	if (rewrite) {
		record(s, 0, plain->data, PG);
	}
	be64_append(s, G_MAXUINT64);
	be64_append(s, G_MAXUINT64);
	return s;
}

/* ---- checks ---------------------------------------------------------------- */

static void check_pages(HvDumpFile *f, const guint64 *pfns, guint n, gboolean elf)
{
	guint i;

	for (i = 0; i < n; i++) {
		g_autoptr(GError) error = NULL;
		guint8 got[PG], want[PG];

		if (!elf && pfns[i] == KD_EXCLUDED)
			memset(want, 0, PG);
		else
			expect_page(pfns[i], elf, want);
		memset(got, 0x5a, PG);
		g_assert_true(hv_dump_file_read(f, pfns[i] * PG, got, PG, &error));
		g_assert_no_error(error);
		g_assert_cmpmem(got, PG, want, PG);
	}
}

static void check_common(HvDumpFile *f)
{
	const HvDumpFileInfo *info = hv_dump_file_get_info(f);
	const GByteArray *notes = hv_dump_file_get_notes(f);
	g_autoptr(GByteArray) want = test_notes();
	gsize len = 0;
	const char *vi = hv_dump_file_get_vmcoreinfo(f, &len);

	g_assert_cmpmem(notes->data, notes->len, want->data, want->len);
	g_assert_nonnull(vi);
	g_assert_cmpstr(vi, ==, VMCI);
	g_assert_cmpuint(len, ==, strlen(VMCI));
	g_assert_cmpuint(info->file_size, >, 0);
}

static void check_elf(HvDumpFile *f)
{
	const HvDumpFileInfo *info = hv_dump_file_get_info(f);
	static const guint64 pfns[] = { 0, 1, 2, 3, 0x100, 0x101, 0x102, 0x103, 0x104, 0x105,
					0x106, 0x107 };
	g_autoptr(GError) error = NULL;
	guint64 kv, kp, ks, cursor = 0, off, len;
	const HvDumpRegion *r;
	HvDumpFileCodecCounts cc;
	guint8 buf[3 * PG];

	check_common(f);
	g_assert_cmpint(info->kind, ==, HV_DUMP_FILE_ELF);
	g_assert_cmpint(info->dump_level, ==, -1);
	g_assert_cmpuint(info->nr_cpus, ==, 2);
	g_assert_cmpstr(info->release, ==, "6.1.0-test");
	g_assert_cmpuint(info->timestamp, ==, 1700000000);
	g_assert_cmpuint(info->max_pfn, ==, 0x108);
	g_assert_cmpuint(info->pages_ram, ==, ELF_A_PAGES + ELF_B_PAGES);
	g_assert_cmpuint(info->pages_present, ==, ELF_A_PAGES + ELF_B_FILE);
	/* the kernel image is an alias, not a region; regions sorted */
	g_assert_cmpuint(hv_dump_file_n_regions(f), ==, 2);
	r = hv_dump_file_region(f, 0);
	g_assert_cmpuint(r->paddr, ==, 0);
	g_assert_cmpuint(r->size, ==, ELF_A_PAGES * PG);
	r = hv_dump_file_region(f, 1);
	g_assert_cmpuint(r->paddr, ==, ELF_B_PADDR);
	g_assert_cmpuint(r->size, ==, ELF_B_PAGES * PG);
	g_assert_cmpuint(r->vaddr, ==, 0xffff888000000000ull + ELF_B_PADDR);
	g_assert_null(hv_dump_file_region(f, 2));
	g_assert_true(hv_dump_file_get_kimage(f, &kv, &kp, &ks));
	g_assert_cmpuint(kv, ==, KIMAGE_VADDR);
	g_assert_cmpuint(kp, ==, ELF_B_PADDR + PG);
	g_assert_cmpuint(ks, ==, 2 * PG);
	/* present: the file-backed part; the tail reads zero */
	g_assert_true(hv_dump_file_page_present(f, 0));
	g_assert_true(hv_dump_file_page_present(f, 0x105));
	g_assert_false(hv_dump_file_page_present(f, 0x106));
	g_assert_false(hv_dump_file_page_present(f, 0x4));
	g_assert_false(hv_dump_file_page_present(f, G_MAXUINT64));
	check_pages(f, pfns, G_N_ELEMENTS(pfns), TRUE);
	/* present runs cover the file-backed part, not the tail (a plain file
	 * may report its holes apart; the test file has none in B) */
	len = 0;
	while (hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error))
		g_assert_cmpuint(off + len, <=, ELF_B_FILE * PG);
	g_assert_no_error(error);
	g_assert_cmpuint(cursor, ==, ELF_B_PAGES * PG);
	/* reads spanning pages and the tail; not across regions */
	g_assert_true(hv_dump_file_read(f, ELF_B_PADDR + 5 * PG + 100, buf, 2 * PG, &error));
	g_assert_no_error(error);
	g_assert_true(all_zero(buf + PG - 100, PG));
	g_assert_false(hv_dump_file_read(f, 3 * PG, buf, 2 * PG, &error));
	g_assert_nonnull(strstr(error->message, "runs past the end of its region"));
	g_clear_error(&error);
	g_assert_false(hv_dump_file_read(f, 0x50000, buf, 16, &error));
	g_assert_nonnull(strstr(error->message, "not guest RAM"));
	g_clear_error(&error);
	g_assert_false(hv_dump_file_count_codecs(f, &cc, NULL));
}

static void test_elf_kimage_alias(void)
{
	ElfOpts o = { 0 };
	g_autoptr(GByteArray) b = build_elf(&o, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = hv_dump_file_new_from_data(b->data, b->len, &error);

	g_assert_no_error(error);
	check_elf(f);
	g_assert_false(hv_dump_file_get_info(f)->flattened);
	g_assert_false(hv_dump_file_get_info(f)->incomplete);
}

/* The kernel image over two pieces of a split RAM segment is still an alias. */
static void test_elf_kimage_over_split_segment(void)
{
	ElfOpts o = { .split_b = TRUE };
	g_autoptr(GByteArray) b = build_elf(&o, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = hv_dump_file_new_from_data(b->data, b->len, &error);
	static const guint64 pfns[] = { 0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107 };
	guint64 kv, kp, ks;

	g_assert_no_error(error);
	g_assert_cmpuint(hv_dump_file_n_regions(f), ==, 3);
	g_assert_cmpuint(hv_dump_file_region(f, 2)->paddr, ==, ELF_B_PADDR + 2 * PG);
	g_assert_true(hv_dump_file_get_kimage(f, &kv, &kp, &ks));
	g_assert_cmpuint(kp, ==, ELF_B_PADDR + PG);
	check_pages(f, pfns, G_N_ELEMENTS(pfns), TRUE);
}

static char *write_tmp(const GByteArray *b, const char *name)
{
	g_autofree char *dir = g_dir_make_tmp("hvdump-reader-XXXXXX", NULL);
	char *path = g_build_filename(dir, name, NULL);

	g_assert_true(g_file_set_contents(path, (const char *)b->data, b->len, NULL));
	return path;
}

static void remove_tmp(const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);

	unlink(path);
	rmdir(dir);
}

/* A sparse ELF on disk: a 1 MiB hole inside B's file part reads as zero
 * and next_present (SEEK_DATA) skips it where the file system can. */
static void test_elf_file_sparse(void)
{
	ElfOpts o = { 0 };
	guint64 b_off;
	g_autoptr(GByteArray) b = build_elf(&o, &b_off);
	g_autofree char *path = write_tmp(b, "core");
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = NULL;
	guint64 cursor = 0, off, len, seen = 0;
	guint8 page[PG];
	int fd;

	f = hv_dump_file_open(path, &error);
	g_assert_no_error(error);
	check_elf(f);
	g_clear_pointer(&f, hv_dump_file_free);
	/* a big region with a hole: rewrite B as 300 pages with data only in
	 * the first and last */
	fd = open(path, O_RDWR);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(ftruncate(fd, (off_t)b_off), ==, 0);
	page_of(0, page);
	g_assert_cmpint(pwrite(fd, page, PG, (off_t)b_off), ==, PG);
	g_assert_cmpint(pwrite(fd, page, PG, (off_t)(b_off + 299 * PG)), ==, PG);
	{
		guint64 v = GUINT64_TO_LE(300 * PG);

		g_assert_cmpint(pwrite(fd, &v, 8, 176 + 32), ==, 8);
		g_assert_cmpint(pwrite(fd, &v, 8, 176 + 40), ==, 8);
		/* the kernel image alias stays inside B */
	}
	close(fd);
	f = hv_dump_file_open(path, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(hv_dump_file_region(f, 1)->size, ==, 300 * PG);
	while (hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error)) {
		g_assert_cmpuint(off + len, <=, 300 * PG);
		seen += len;
	}
	g_assert_no_error(error);
	g_assert_cmpuint(seen, >=, 2 * PG);
	g_test_message("present bytes of B seen: %" G_GUINT64_FORMAT " of %u", seen, 300 * PG);
	g_assert_true(hv_dump_file_read(f, ELF_B_PADDR + 150 * PG, page, PG, &error));
	g_assert_true(all_zero(page, PG));
	g_assert_true(hv_dump_file_page_present(f, ELF_B_PADDR / PG + 150));
	remove_tmp(path);
}

static void check_kdump(HvDumpFile *f, const KdumpOpts *o)
{
	const HvDumpFileInfo *info = hv_dump_file_get_info(f);
	g_autoptr(GError) error = NULL;
	HvDumpFileCodecCounts cc;
	guint64 cursor = 0, off, len, kv, kp, ks;
	const HvDumpRegion *r;
	guint i;

	check_common(f);
	g_assert_cmpint(info->kind, ==, HV_DUMP_FILE_KDUMP);
	g_assert_cmpint(info->compression, ==, o->codec);
	g_assert_cmpint(info->dump_level, ==, 1);
	g_assert_cmpuint(info->header_version, ==, o->version ? (guint)o->version : 6);
	g_assert_cmpuint(info->nr_cpus, ==, 4);
	g_assert_cmpstr(info->release, ==, o->qemu_style ? "6.1.0-test" : "6.1.0-hdr");
	g_assert_cmpuint(info->timestamp, ==, o->qemu_style ? 1700000000 : 1600000000);
	g_assert_cmpuint(info->max_pfn, ==, KD_MAX_MAPNR);
	g_assert_cmpuint(info->pages_ram, ==, KD_NPFN);
	g_assert_cmpuint(info->pages_present, ==, KD_NPFN - 1);
	g_assert_false(info->incomplete);
	g_assert_false(hv_dump_file_get_kimage(f, &kv, &kp, &ks));
	/* regions: the runs of bitmap 1 */
	g_assert_cmpuint(hv_dump_file_n_regions(f), ==, 2);
	r = hv_dump_file_region(f, 0);
	g_assert_cmpuint(r->paddr, ==, 0);
	g_assert_cmpuint(r->size, ==, 4 * PG);
	g_assert_cmpuint(r->vaddr, ==, 0);
	r = hv_dump_file_region(f, 1);
	g_assert_cmpuint(r->paddr, ==, 0x100 * PG);
	g_assert_cmpuint(r->size, ==, 8 * PG);
	for (i = 0; i < KD_NPFN; i++)
		g_assert_cmpint(hv_dump_file_page_present(f, kd_pfns[i]), ==,
				kd_pfns[i] != KD_EXCLUDED);
	g_assert_false(hv_dump_file_page_present(f, 4));
	g_assert_false(hv_dump_file_page_present(f, KD_MAX_MAPNR));
	check_pages(f, kd_pfns, KD_NPFN, FALSE);
	/* present runs of region 1: 0x100..0x104, 0x106..0x107 */
	g_assert_true(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_cmpuint(off, ==, 0);
	g_assert_cmpuint(len, ==, 5 * PG);
	g_assert_true(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_cmpuint(off, ==, 6 * PG);
	g_assert_cmpuint(len, ==, 2 * PG);
	g_assert_false(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_no_error(error);
	/* a cursor inside a run continues from there */
	cursor = 2 * PG;
	g_assert_true(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_cmpuint(off, ==, 2 * PG);
	g_assert_cmpuint(len, ==, 3 * PG);
	/* codecs: 11 pages counted by how they are stored; two zero pages share
	 * one stored page (counted under its codec too); random ones stay raw */
	g_assert_true(hv_dump_file_count_codecs(f, &cc, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(cc.zero_shared, ==, 2);
	if (o->codec == HV_COMPRESS_NONE) {
		g_assert_cmpuint(cc.raw, ==, 11);
	} else {
		guint64 c = o->codec == HV_COMPRESS_ZLIB ? cc.zlib :
			    o->codec == HV_COMPRESS_ZSTD ? cc.zstd :
			    o->codec == HV_COMPRESS_LZO ? cc.lzo : cc.snappy;

		g_assert_cmpuint(cc.raw, >=, 3);
		g_assert_cmpuint(cc.raw + c, ==, 11);
	}
}

static const HvCompression all_codecs[] = {
	HV_COMPRESS_NONE, HV_COMPRESS_ZLIB, HV_COMPRESS_ZSTD, HV_COMPRESS_LZO, HV_COMPRESS_SNAPPY,
};

static void test_kdump_codecs(void)
{
	guint i;

	for (i = 0; i < G_N_ELEMENTS(all_codecs); i++) {
		KdumpOpts o = { .codec = all_codecs[i] };
		g_auto(Kdump) k = { 0 };
		g_autoptr(GError) error = NULL;
		g_autoptr(HvDumpFile) f = NULL;

		g_test_message("codec %s", hv_compression_name(o.codec));
		build_kdump(&o, &k);
		f = hv_dump_file_new_from_data(k.b->data, k.b->len, &error);
		g_assert_no_error(error);
		check_kdump(f, &o);
		g_assert_false(hv_dump_file_get_info(f)->flattened);
	}
}

/* Older header versions: the fields they lack are not read (version 2 has
 * no VMCOREINFO or notes offsets; the 32-bit max_mapnr counts). */
static void test_kdump_old_versions(void)
{
	gint32 v;

	for (v = 1; v <= 6; v++) {
		KdumpOpts o = { .codec = HV_COMPRESS_ZLIB, .version = v };
		g_auto(Kdump) k = { 0 };
		g_autoptr(GError) error = NULL;
		g_autoptr(HvDumpFile) f = NULL;
		gsize len;

		build_kdump(&o, &k);
		if (v < 6)
			put64(k.b, PG + 96, G_MAXUINT64); /* not read before version 6 */
		f = hv_dump_file_new_from_data(k.b->data, k.b->len, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(hv_dump_file_get_info(f)->header_version, ==, (guint)v);
		g_assert_cmpint(hv_dump_file_get_info(f)->dump_level, ==, 1);
		g_assert_cmpuint(hv_dump_file_get_info(f)->max_pfn, ==, KD_MAX_MAPNR);
		g_assert_cmpint(hv_dump_file_get_notes(f)->len == 0, ==, v < 4);
		g_assert_cmpint(hv_dump_file_get_vmcoreinfo(f, &len) == NULL, ==, v < 3);
		check_pages(f, kd_pfns, KD_NPFN, FALSE);
	}
}

static void test_kdump_qemu_style_header(void)
{
	KdumpOpts o = { .codec = HV_COMPRESS_ZLIB, .qemu_style = TRUE };
	g_auto(Kdump) k = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = NULL;

	build_kdump(&o, &k);
	/* QEMU leaves the status without the codec: the descriptors tell */
	put32(k.b, 424, 0);
	f = hv_dump_file_new_from_data(k.b->data, k.b->len, &error);
	g_assert_no_error(error);
	check_kdump(f, &o);
}

static void test_flattened(void)
{
	guint i, rw;

	for (rw = 0; rw < 2; rw++) {
		/* ELF */
		ElfOpts eo = { 0 };
		g_autoptr(GByteArray) e = build_elf(&eo, NULL);
		g_autoptr(GByteArray) fe =
			flatten(e, 1000, rw ? FLAT_REWRITE | FLAT_EMPTY_RECORD : 0);
		g_autoptr(GError) error = NULL;
		g_autoptr(HvDumpFile) f = hv_dump_file_new_from_data(fe->data, fe->len, &error);

		g_assert_no_error(error);
		check_elf(f);
		g_assert_true(hv_dump_file_get_info(f)->flattened);
		g_assert_cmpuint(hv_dump_file_get_info(f)->file_size, ==, fe->len);
		g_clear_pointer(&f, hv_dump_file_free);
		for (i = 0; i < G_N_ELEMENTS(all_codecs); i++) {
			KdumpOpts o = { .codec = all_codecs[i] };
			g_auto(Kdump) k = { 0 };
			g_autoptr(GByteArray) s = NULL;

			build_kdump(&o, &k);
			s = flatten(k.b, 512 + 7 * i, rw ? FLAT_REWRITE | FLAT_EMPTY_RECORD : 0);
			f = hv_dump_file_new_from_data(s->data, s->len, &error);
			g_assert_no_error(error);
			check_kdump(f, &o);
			g_assert_true(hv_dump_file_get_info(f)->flattened);
			g_clear_pointer(&f, hv_dump_file_free);
		}
	}
}

/* ---- damaged files: one line, naming what is wrong ----------------------- */

static void expect_error(const guint8 *data, gsize len, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = hv_dump_file_new_from_data(data, len, &error);

	g_assert_null(f);
	g_assert_nonnull(error);
	g_test_message("error: %s", error->message);
	g_assert_null(strchr(error->message, '\n'));
	if (strstr(error->message, want) == NULL)
		g_error("expected \"%s\" in \"%s\"", want, error->message);
}

/* Opens, then reading the page fails with want in the message. */
static void expect_page_error(const GByteArray *b, guint64 pfn, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = hv_dump_file_new_from_data(b->data, b->len, &error);
	guint8 page[PG];

	g_assert_no_error(error);
	g_assert_false(hv_dump_file_read(f, pfn * PG, page, PG, &error));
	g_assert_nonnull(error);
	g_test_message("error: %s", error->message);
	g_assert_null(strchr(error->message, '\n'));
	if (strstr(error->message, want) == NULL)
		g_error("expected \"%s\" in \"%s\"", want, error->message);
}

static void test_elf_damaged(void)
{
	ElfOpts o = { 0 };
	g_autoptr(GByteArray) b = build_elf(&o, NULL);
	g_autoptr(GByteArray) c = NULL;

	expect_error(b->data, 3, "not a vmcore");
	expect_error(b->data, 40, "ELF: header");
	expect_error(b->data, 200, "program headers");
	expect_error(b->data, b->len - 1, "ELF: PT_LOAD 2: file bytes");
	expect_error((const guint8 *)"hello, world, this is not a dump", 32, "not a vmcore");
	o.machine = 3; /* EM_386 */
	c = build_elf(&o, NULL);
	expect_error(c->data, c->len, "not x86_64");
	g_byte_array_unref(c);
	o.machine = 0;
	o.a_paddr = ELF_B_PADDR - PG; /* A's last 3 pages overlap B */
	c = build_elf(&o, NULL);
	expect_error(c->data, c->len, "overlaps");
	g_byte_array_unref(c);
	o.a_paddr = 0;
	o.note_namesz = 0x7fffffff;
	c = build_elf(&o, NULL);
	expect_error(c->data, c->len, "ELF: PT_NOTE 0: note at 0x0");
	g_byte_array_unref(c);
	o.note_namesz = 0;
	c = build_elf(&o, NULL);
	c->data[16] = 2; /* ET_EXEC */
	expect_error(c->data, c->len, "not a core file");
	c->data[16] = 4;
	put64(c, 176 + 32, ELF_B_PAGES * PG + 1); /* filesz > memsz */
	expect_error(c->data, c->len, "p_filesz");
	put64(c, 176 + 32, ELF_B_FILE * PG);
	put64(c, 176 + 24, G_MAXUINT64 - PG); /* wraps */
	expect_error(c->data, c->len, "wraps around");
}

static void test_elf_incomplete(void)
{
	ElfOpts o = { .e_flags = 1 };
	g_autoptr(GByteArray) b = build_elf(&o, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = NULL;
	guint8 page[PG];

	/* cut in the middle of B's fourth page: pages 0x103.. are missing */
	f = hv_dump_file_new_from_data(b->data, b->len - 2 * PG - 100, &error);
	g_assert_no_error(error);
	g_assert_true(hv_dump_file_get_info(f)->incomplete);
	g_assert_true(hv_dump_file_page_present(f, 0x103));
	g_assert_false(hv_dump_file_page_present(f, 0x104));
	g_assert_true(hv_dump_file_read(f, 0x104 * PG, page, PG, &error));
	g_assert_true(all_zero(page, PG));
}

/* *c = a fresh copy of b, to damage */
static void fresh(GByteArray **c, const GByteArray *b)
{
	g_clear_pointer(c, g_byte_array_unref);
	*c = g_byte_array_new();
	g_byte_array_append(*c, b->data, b->len);
}

static void test_kdump_damaged(void)
{
	KdumpOpts o = { .codec = HV_COMPRESS_ZLIB };
	g_auto(Kdump) k = { 0 };
	g_autoptr(GByteArray) c = NULL;
	gsize d;

	build_kdump(&o, &k);
	fresh(&c, k.b);
	expect_error(c->data, 300, "kdump: header");
	expect_error(c->data, PG + 50, "kdump: sub-header");
	expect_error(c->data, 3 * PG, "kdump: bitmaps at");
	expect_error(c->data, k.desc_off + 24 * 3, "page descriptors");
	put32(c, 8, 7);
	expect_error(c->data, c->len, "header version 7");
	fresh(&c, k.b);
	put32(c, 428, 8192);
	expect_error(c->data, c->len, "block size 8192");
	fresh(&c, k.b);
	memcpy(c->data + 12 + 4 * 65, "aarch64", 7);
	expect_error(c->data, c->len, "machine \"aarch64\"");
	fresh(&c, k.b);
	memcpy(c->data, "DISKDUMP", 8);
	expect_error(c->data, c->len, "DISKDUMP");
	fresh(&c, k.b);
	put32(c, PG + 12, 1); /* split */
	expect_error(c->data, c->len, "split");
	/* a huge max_mapnr with a tiny file: an error, no big allocation */
	fresh(&c, k.b);
	put64(c, PG + 96, 1ull << 40);
	expect_error(c->data, c->len, "too small for max_mapnr");
	put32(c, 436, G_MAXUINT32);
	expect_error(c->data, c->len, "kdump: bitmaps at");
	put64(c, PG + 96, G_MAXUINT64);
	expect_error(c->data, c->len, "max_mapnr");
	fresh(&c, k.b);
	put64(c, PG + 56, 1u << 30); /* notes size */
	expect_error(c->data, c->len, "kdump: notes of 0x40000000 bytes");
	fresh(&c, k.b);
	put64(c, PG + 48, c->len - 10); /* notes offset */
	expect_error(c->data, c->len, "kdump: notes at");
	fresh(&c, k.b);
	put64(c, PG + 40, c->len); /* VMCOREINFO size */
	expect_error(c->data, c->len, "kdump: VMCOREINFO at");
	/* page errors */
	d = desc_of(&k, 0);
	fresh(&c, k.b);
	put32(c, d + 8, PG + 1);
	expect_page_error(c, 0, "kdump: page 0x0: descriptor size 4097");
	fresh(&c, k.b);
	put64(c, d, c->len - 10);
	expect_page_error(c, 0, "kdump: page 0x0: data 0x");
	fresh(&c, k.b);
	put64(c, d, 0);
	expect_page_error(c, 0, "kdump: page 0x0: not in the file (descriptor offset 0");
	fresh(&c, k.b);
	put32(c, d + 12, HV_KDUMP_ZLIB | HV_KDUMP_LZO);
	expect_page_error(c, 0, "name more than one codec");
	fresh(&c, k.b);
	c->data[k.data_off[0] + 5] ^= 0xff;
	c->data[k.data_off[0] + 6] ^= 0xff;
	expect_page_error(c, 0, "kdump: page 0x0: zlib:");
	/* the flags name another codec than the bytes: bounded, an error */
	fresh(&c, k.b);
	put32(c, d + 12, HV_KDUMP_SNAPPY);
	expect_page_error(c, 0, "kdump: page 0x0: snappy:");
	fresh(&c, k.b);
	put32(c, d + 12, HV_KDUMP_ZSTD);
	expect_page_error(c, 0, "kdump: page 0x0: zstd:");
	fresh(&c, k.b);
	put32(c, d + 12, HV_KDUMP_LZO);
	expect_page_error(c, 0, "kdump: page 0x0: lzo:");
	fresh(&c, k.b);
	put32(c, d + 12, 0);
	expect_page_error(c, 0, "kdump: page 0x0: none: raw page of the wrong size");
	/* a page decompressing to more than a page */
	{
		g_autoptr(HvCompressor) z = hv_compressor_new(HV_COMPRESS_ZLIB);
		guint8 big[2 * PG] = { 0 }, out[2 * PG + 64];
		gsize n = hv_compressor_compress(z, big, sizeof(big), out, sizeof(out));

		g_assert_cmpuint(n, <, 200);
		fresh(&c, k.b);
		memcpy(c->data + k.data_off[0], out, n);
		put32(c, d + 8, (guint32)n);
		expect_page_error(c, 0, "kdump: page 0x0: zlib: output larger than a page");
	}
}

static void test_flat_damaged(void)
{
	KdumpOpts o = { .codec = HV_COMPRESS_ZLIB };
	g_auto(Kdump) k = { 0 };
	g_autoptr(GByteArray) s = NULL;
	guint64 v;

	build_kdump(&o, &k);
	s = flatten(k.b, 1000, 0);
	expect_error(s->data, 4000, "flattened: the file");
	expect_error(s->data, s->len - 16, "flattened: no end record");
	expect_error(s->data, s->len - 20, "bytes of data past the end of the file");
	expect_error(s->data, 4096, "flattened: no end record (the stream is cut at 0x1000)");
	/* negative offset */
	v = GUINT64_TO_BE((guint64)-2);
	memcpy(s->data + 4096, &v, 8);
	expect_error(s->data, s->len, "flattened: record 0 at 0x1000: bad offset");
	/* a stream holding neither format */
	g_byte_array_unref(s);
	s = flatten(k.b, 1000, 0);
	s->data[4096 + 16] = 'X';
	expect_error(s->data, s->len, "inside the flattened stream");
}

static void test_kdump_incomplete(void)
{
	KdumpOpts o = { .codec = HV_COMPRESS_ZSTD, .incomplete = TRUE };
	g_auto(Kdump) k = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(HvDumpFile) f = NULL;
	HvDumpFileCodecCounts cc;
	guint64 cursor = 0, off, len;
	guint8 page[PG];

	build_kdump(&o, &k);
	/* pfn 0x102 never written (offset 0), the last two descriptors (0x106,
	 * 0x107) past the end: the file ends inside the descriptor table */
	put64(k.b, desc_of(&k, 0x102), 0);
	g_byte_array_set_size(k.b, (guint)(k.desc_off + 9 * 24 + 10));
	f = hv_dump_file_new_from_data(k.b->data, k.b->len, &error);
	g_assert_no_error(error);
	g_assert_true(hv_dump_file_get_info(f)->incomplete);
	g_assert_cmpuint(hv_dump_file_get_info(f)->pages_present, ==, KD_NPFN - 1 - 3);
	g_assert_true(hv_dump_file_page_present(f, 0x101));
	g_assert_false(hv_dump_file_page_present(f, 0x102));
	g_assert_false(hv_dump_file_page_present(f, 0x106));
	g_assert_false(hv_dump_file_page_present(f, 0x107));
	/* present runs leave the unwritten pages out */
	g_assert_true(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_cmpuint(off, ==, 0);
	g_assert_cmpuint(len, ==, 2 * PG);
	g_assert_true(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_cmpuint(off, ==, 3 * PG);
	g_assert_cmpuint(len, ==, 2 * PG);
	g_assert_false(hv_dump_file_next_present(f, 1, &cursor, &off, &len, &error));
	g_assert_no_error(error);
	/* reading one is crash's PAGE_INCOMPLETE: an error */
	g_assert_false(hv_dump_file_read(f, 0x106 * PG, page, PG, &error));
	g_assert_nonnull(strstr(error->message, "kdump: page 0x106: not in the file (the dump is "
						"incomplete)"));
	g_clear_error(&error);
	/* the written pages read; data past the end is an error */
	g_assert_true(hv_dump_file_count_codecs(f, &cc, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(cc.raw + cc.zstd, ==, 8); /* zero_shared ones are among them */
	g_assert_false(hv_dump_file_read(f, 0x100 * PG, page, PG, &error));
	g_assert_nonnull(strstr(error->message, "kdump: page 0x100: data 0x"));
}

/* ---- the RAM source over a dump ------------------------------------------ */

static void test_ram_source(void)
{
	KdumpOpts o = { .codec = HV_COMPRESS_LZO };
	g_auto(Kdump) k = { 0 };
	g_autoptr(GError) error = NULL;
	g_autoptr(HvRamSource) src = NULL;
	HvDumpFile *f;
	guint i, chunks = 0;

	build_kdump(&o, &k);
	f = hv_dump_file_new_from_data(k.b->data, k.b->len, &error);
	g_assert_no_error(error);
	src = hv_ram_source_new_dump(f);
	g_assert_cmpuint(hv_ram_source_n_regions(src), ==, 2);
	g_assert_cmpuint(hv_ram_source_region(src, 1)->gpa, ==, 0x100 * PG);
	g_assert_cmpuint(hv_ram_source_total(src), ==, 12 * PG);
	g_assert_cmpuint(hv_ram_source_data_bytes(src), ==, 11 * PG);
	for (i = 0; i < hv_ram_source_n_regions(src); i++) {
		guint64 cursor = 0, off, len;
		const guint8 *data;

		while (hv_ram_source_next_chunk(src, i, &cursor, &off, &len, &data, &error)) {
			guint64 p;

			for (p = 0; p < len; p += PG) {
				guint8 want[PG];

				page_of((hv_ram_source_region(src, i)->gpa + off + p) / PG, want);
				g_assert_cmpmem(data + p, PG, want, PG);
			}
			chunks++;
		}
		g_assert_no_error(error);
	}
	g_assert_cmpuint(chunks, ==, 3);
	{
		guint8 page[PG], want[PG];

		g_assert_true(hv_ram_source_read(src, 0x103 * PG, page, PG));
		page_of(0x103, want);
		g_assert_cmpmem(page, PG, want, PG);
		g_assert_true(hv_ram_source_read(src, KD_EXCLUDED * PG, page, PG));
		g_assert_true(all_zero(page, PG));
	}
}

/* ---- real peer: makedumpfile -R rebuilds our flattened streams ----------- */

static void test_makedumpfile_rearrange(void)
{
	g_autofree char *mdf = g_find_program_in_path("makedumpfile");
	guint i;

	if (mdf == NULL) {
		g_test_skip("makedumpfile is not installed");
		return;
	}
	for (i = 0; i < 2; i++) {
		KdumpOpts o = { .codec = HV_COMPRESS_ZLIB };
		g_auto(Kdump) k = { 0 };
		g_autoptr(GByteArray) s = NULL;
		g_autofree char *in = NULL, *out = NULL, *cmd = NULL, *got = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(HvDumpFile) f = NULL;
		g_autoptr(HvDumpFile) g = NULL;
		g_autofree guint8 *mine = NULL;
		gsize got_len = 0;
		int status = -1;

		build_kdump(&o, &k);
		s = flatten(k.b, 700, i == 1 ? FLAT_REWRITE : 0);
		in = write_tmp(s, "flat");
		out = g_strconcat(in, ".rearranged", NULL);
		cmd = g_strdup_printf("%s -R %s < %s", mdf, out, in);
		{
			const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
			g_autofree char *out_text = NULL, *err_text = NULL;

			g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
						   NULL, &out_text, &err_text, &status, &error));
			g_assert_no_error(error);
			if (status != 0)
				g_error("makedumpfile -R failed: %s%s", out_text, err_text);
		}
		g_assert_true(g_file_get_contents(out, &got, &got_len, &error));
		f = hv_dump_file_new_from_data(s->data, s->len, &error);
		g_assert_no_error(error);
		/* our logical view of the stream, byte for byte, is its file */
		g_assert_cmpuint(f->size, ==, got_len);
		mine = g_malloc(got_len);
		g_assert_true(hv_dump_file_pread(f, 0, mine, got_len, &error));
		g_assert_cmpmem(mine, got_len, got, got_len);
		g_assert_cmpmem(mine, MIN(got_len, k.b->len), k.b->data, MIN(got_len, k.b->len));
		/* and the rebuilt file reads as the same dump */
		g = hv_dump_file_open(out, &error);
		g_assert_no_error(error);
		check_kdump(g, &o);
		unlink(out);
		remove_tmp(in);
	}
}

/* ---- real peer: makedumpfile writes, we read ----------------------------- */

typedef struct {
	const char *args;       /* makedumpfile's options */
	HvDumpFileKind kind;
	HvCompression codec;
	gboolean flattened;     /* written to stdout */
} MdfCase;

static void test_makedumpfile_writes(void)
{
	static const MdfCase cases[] = {
		{ "-c -d 1", HV_DUMP_FILE_KDUMP, HV_COMPRESS_ZLIB, FALSE },
		{ "-l -d 1", HV_DUMP_FILE_KDUMP, HV_COMPRESS_LZO, FALSE },
		{ "-d 0", HV_DUMP_FILE_KDUMP, HV_COMPRESS_NONE, FALSE },
		{ "-F -c -d 1", HV_DUMP_FILE_KDUMP, HV_COMPRESS_ZLIB, TRUE },
		{ "-E -d 1", HV_DUMP_FILE_ELF, HV_COMPRESS_NONE, FALSE },
		{ "-F -E -d 1", HV_DUMP_FILE_ELF, HV_COMPRESS_NONE, TRUE },
	};
	g_autofree char *mdf = g_find_program_in_path("makedumpfile");
	/* without VMCOREINFO makedumpfile needs no kernel symbols for -d 1 */
	ElfOpts o = { .no_vmcoreinfo = TRUE };
	g_autoptr(GByteArray) notes = test_notes_with(FALSE);
	g_autoptr(GByteArray) b = NULL;
	g_autofree char *in = NULL;
	guint i;

	if (mdf == NULL) {
		g_test_skip("makedumpfile is not installed");
		return;
	}
	b = build_elf(&o, NULL);
	in = write_tmp(b, "core.elf");
	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		const MdfCase *c = &cases[i];
		g_autofree char *out = g_strdup_printf("%s.%u", in, i);
		const char *fmt = c->flattened ? "%s %s %s > %s" : "%s %s %s %s";
		g_autofree char *cmd = g_strdup_printf(fmt, mdf, c->args, in, out);
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		g_autofree char *out_text = NULL, *err_text = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(HvDumpFile) f = NULL;
		const HvDumpFileInfo *info;
		guint r;
		int status = -1;

		g_test_message("makedumpfile %s", c->args);
		g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
					   &out_text, &err_text, &status, &error));
		g_assert_no_error(error);
		if (status != 0)
			g_error("makedumpfile %s failed: %s%s", c->args, out_text, err_text);
		f = hv_dump_file_open(out, &error);
		g_assert_no_error(error);
		info = hv_dump_file_get_info(f);
		g_assert_cmpint(info->kind, ==, c->kind);
		g_assert_cmpint(info->flattened, ==, c->flattened);
		g_assert_cmpint(info->compression, ==, c->codec);
		g_assert_cmpuint(info->nr_cpus, ==, 2);
		g_assert_cmpuint(hv_dump_file_get_notes(f)->len, ==, notes->len);
		/* every page of every region reads as the guest had it: the
		 * zero pages makedumpfile leaves out read as zero too */
		g_assert_cmpuint(hv_dump_file_n_regions(f), ==, 2);
		for (r = 0; r < 2; r++) {
			const HvDumpRegion *reg = hv_dump_file_region(f, r);
			guint64 p;

			g_assert_cmpuint(reg->paddr, ==, r == 0 ? 0 : ELF_B_PADDR);
			for (p = reg->paddr; p < reg->paddr + reg->size; p += PG) {
				guint8 got[PG], want[PG];

				expect_page(p / PG, TRUE, want);
				g_assert_true(hv_dump_file_read(f, p, got, PG, &error));
				g_assert_no_error(error);
				g_assert_cmpmem(got, PG, want, PG);
			}
		}
		if (c->kind == HV_DUMP_FILE_KDUMP) {
			HvDumpFileCodecCounts cc;

			g_assert_true(hv_dump_file_count_codecs(f, &cc, &error));
			/* the three zero pages share makedumpfile's zero page */
			g_assert_cmpuint(cc.zero_shared, ==, c->codec == HV_COMPRESS_NONE ? 0 : 3);
			g_assert_false(hv_dump_file_page_present(f, 0x106)); /* past p_filesz */
		}
		unlink(out);
	}
	remove_tmp(in);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/reader/elf/kimage-alias", test_elf_kimage_alias);
	g_test_add_func("/reader/elf/kimage-over-split-segment",
			test_elf_kimage_over_split_segment);
	g_test_add_func("/reader/elf/file-sparse", test_elf_file_sparse);
	g_test_add_func("/reader/elf/damaged", test_elf_damaged);
	g_test_add_func("/reader/elf/incomplete", test_elf_incomplete);
	g_test_add_func("/reader/kdump/codecs", test_kdump_codecs);
	g_test_add_func("/reader/kdump/old-versions", test_kdump_old_versions);
	g_test_add_func("/reader/kdump/qemu-style-header", test_kdump_qemu_style_header);
	g_test_add_func("/reader/kdump/damaged", test_kdump_damaged);
	g_test_add_func("/reader/kdump/incomplete", test_kdump_incomplete);
	g_test_add_func("/reader/flat/each-format-and-header-rewrite", test_flattened);
	g_test_add_func("/reader/flat/damaged", test_flat_damaged);
	g_test_add_func("/reader/ramsrc/dump", test_ram_source);
	g_test_add_func("/reader/peer/makedumpfile-rearrange", test_makedumpfile_rearrange);
	g_test_add_func("/reader/peer/makedumpfile-writes", test_makedumpfile_writes);
	return g_test_run();
}
