/* hv-reader-kdump.c — reads kdump-compressed vmcores ("KDUMP   ": written
 * by makedumpfile, QEMU's dump-guest-memory and hvdump); the kdump entry of
 * the reader ops table (hv-dumpfile-private.h).
 *
 * Owns: the disk_dump_header and kdump_sub_header (header_version 1..6,
 * each field used only from the version that added it), the two bitmaps
 * (1: which frames are RAM → the regions, as runs; 2: which frames the file
 * holds → present), the page descriptors — the k-th set bit of bitmap 2 has
 * descriptor k, found in O(1) through a table of bit counts — and page
 * bytes, decompressed into exactly one page (hv_decompress). Errors about a
 * page name its frame number: "kdump: page 0x1234: zstd: corrupt data".
 *
 * Pages of bitmap 2 with no data. crash 8 (diskdump.c, cache_page) returns
 * PAGE_INCOMPLETE for a descriptor whose offset is 0 — an error, not zeros
 * (zeros only with its --zero_excluded option) — whether or not the header
 * says incomplete; we do the same. When the header does carry the
 * INCOMPLETE status (makedumpfile or hvdump ran out of space), the pages
 * whose descriptor has offset 0 or lies past the end of the file are, in
 * addition, not present: hv_dump_file_page_present and next_present leave
 * them out (so convert keeps them out), while reading one is still crash's
 * error. Pages bitmap 2 leaves out read as zero, as crash reads them.
 */
#include "hv-dumpfile-private.h"

#include <inttypes.h>

/* ---- on-disk layout (makedumpfile's diskdump_mod.h, x86_64) ----------- */

#define KDUMP_SIGNATURE "KDUMP   "
#define DISKDUMP_SIGNATURE "DISKDUMP"
#define BLOCK_SIZE 4096u       /* x86_64 page size: the only one we read */
#define MAX_HEADER_VERSION 6
#define MAX_MAPNR (1ull << 52) /* frames of a 64-bit physical address space */

typedef struct {
	char signature[8];        /* "KDUMP   " */
	gint32 header_version;    /* 1..6; QEMU 7.2 and makedumpfile 1.7 write 6 */
	char utsname[6][65];      /* sysname, nodename, release, version, machine,
				   * domainname; QEMU fills only machine */
	guint8 pad[6];            /* struct timeval is 8-byte aligned */
	gint64 tv_sec;            /* timestamp; 0 from QEMU */
	gint64 tv_usec;
	guint32 status;           /* DUMP_DH_COMPRESSED_*: codec used, INCOMPLETE 0x8,
				   * EXCLUDED_VMEMMAP 0x10 */
	gint32 block_size;        /* page size */
	gint32 sub_hdr_size;      /* blocks of the sub-header (with notes, VMCOREINFO) */
	guint32 bitmap_blocks;    /* blocks of both bitmaps together */
	guint32 max_mapnr;        /* frames; 32-bit, obsolete from version 6 */
	guint32 total_ram_blocks; /* unused (diskdump) */
	guint32 device_blocks;    /* unused (diskdump) */
	guint32 written_blocks;   /* unused (diskdump) */
	guint32 current_cpu;      /* unused */
	gint32 nr_cpus;           /* CPUs of the guest */
} DiskDumpHeader;
G_STATIC_ASSERT(sizeof(DiskDumpHeader) == 464);
G_STATIC_ASSERT(G_STRUCT_OFFSET(DiskDumpHeader, tv_sec) == 408);
G_STATIC_ASSERT(G_STRUCT_OFFSET(DiskDumpHeader, nr_cpus) == 460);

typedef struct {
	guint64 phys_base;         /* version 0: x86_64 relocation */
	gint32 dump_level;         /* version 1: makedumpfile's -d */
	gint32 split;              /* version 2: one file of a --split dump */
	guint64 start_pfn;         /* version 2: split range, 32-bit, obsolete */
	guint64 end_pfn;           /* version 2 */
	guint64 offset_vmcoreinfo; /* version 3: VMCOREINFO text (not a note) */
	guint64 size_vmcoreinfo;   /* version 3 */
	guint64 offset_note;       /* version 4: ELF notes */
	guint64 size_note;         /* version 4 */
	guint64 offset_eraseinfo;  /* version 5: makedumpfile --config erase log */
	guint64 size_eraseinfo;    /* version 5 */
	guint64 start_pfn_64;      /* version 6: split range */
	guint64 end_pfn_64;        /* version 6 */
	guint64 max_mapnr_64;      /* version 6: frames, replaces max_mapnr */
} KdumpSubHeader;
G_STATIC_ASSERT(sizeof(KdumpSubHeader) == 104);

typedef struct {
	gint64 offset;             /* file offset of the page data; 0: not written */
	guint32 size;              /* bytes of page data, ≤ block size */
	guint32 flags;             /* DUMP_DH_COMPRESSED_*: the codec; none: raw */
	guint64 page_flags;        /* struct page flags; unused (0 from every writer) */
} PageDesc;
G_STATIC_ASSERT(sizeof(PageDesc) == 24);

#define DESC_CACHE 256u        /* descriptors read at once for sequential reads */
#define RANK_WORDS 8u          /* bitmap words per entry of the rank table */
#define ZERO_PROBES 64u        /* raw pages count_codecs reads to find the zero page */

typedef struct {
	guint64 max_mapnr;
	guint64 nwords;            /* 64-bit words per bitmap */
	guint64 *bm1;              /* RAM frames */
	guint64 *bm2;              /* frames with a descriptor */
	guint64 *written;          /* INCOMPLETE only: bm2 less frames without data */
	guint64 *rank;             /* rank[k]: bits of bm2 before word k * RANK_WORDS */
	guint64 ndesc;             /* bits of bm2 */
	guint64 desc_off;          /* file offset of descriptor 0 */
	/* descriptors [dc_base, dc_base + dc_n) */
	guint64 dc_base;
	guint dc_n;
	PageDesc dc[DESC_CACHE];
	/* the last page decompressed */
	guint64 page_pfn;          /* G_MAXUINT64: none */
	guint64 page_off;          /* its data: descriptors sharing it (the zero */
	guint32 page_size, page_flags; /* page) are not decompressed again */
	guint8 page[BLOCK_SIZE];
	guint8 cbuf[BLOCK_SIZE];
} KdumpReader;

static gboolean kdump_probe(const guint8 *head, gsize len)
{
	return len >= 8 && (memcmp(head, KDUMP_SIGNATURE, 8) == 0 ||
			    memcmp(head, DISKDUMP_SIGNATURE, 8) == 0);
}

static inline gboolean bit(const guint64 *bits, guint64 i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

/* The first frame in [from, to) whose bit is set (or clear), else to. */
static guint64 next_bit(const guint64 *bits, guint64 from, guint64 to, gboolean set)
{
	while (from < to) {
		guint64 w = set ? bits[from / 64] : ~bits[from / 64];

		w &= ~0ull << (from % 64);
		if (w != 0)
			return MIN((from & ~63ull) + (guint64)__builtin_ctzll(w), to);
		from = (from & ~63ull) + 64;
	}
	return to;
}

/* Descriptor number of frame pfn (its bit set in bm2). */
static guint64 rank_of(const KdumpReader *kr, guint64 pfn)
{
	guint64 w = pfn / 64, k, r = kr->rank[w / RANK_WORDS];

	for (k = w / RANK_WORDS * RANK_WORDS; k < w; k++)
		r += (guint64)__builtin_popcountll(kr->bm2[k]);
	return r + (guint64)__builtin_popcountll(kr->bm2[w] & ((1ull << (pfn % 64)) - 1));
}

static void desc_from_le(PageDesc *d)
{
	d->offset = GINT64_FROM_LE(d->offset);
	d->size = GUINT32_FROM_LE(d->size);
	d->flags = GUINT32_FROM_LE(d->flags);
	d->page_flags = GUINT64_FROM_LE(d->page_flags);
}

/* How many of n descriptors from first lie inside the file. */
static guint64 descs_in_file(HvDumpFile *f, const KdumpReader *kr, guint64 first, guint64 n)
{
	guint64 off = kr->desc_off + first * sizeof(PageDesc);

	if (off >= f->size)
		return 0;
	return MIN(n, (f->size - off) / sizeof(PageDesc));
}

static gboolean read_descs(HvDumpFile *f, const KdumpReader *kr, guint64 first, guint64 n,
			   PageDesc *out, GError **error)
{
	guint64 i;

	if (!hv_dump_file_pread(f, kr->desc_off + first * sizeof(PageDesc), out,
				n * sizeof(PageDesc), error))
		return FALSE;
	for (i = 0; i < n; i++)
		desc_from_le(&out[i]);
	return TRUE;
}

/* Descriptor number k (< ndesc), through the cache. */
static const PageDesc *get_desc(HvDumpFile *f, KdumpReader *kr, guint64 k, GError **error)
{
	guint64 n;

	if (k >= kr->dc_base && k - kr->dc_base < kr->dc_n)
		return &kr->dc[k - kr->dc_base];
	n = descs_in_file(f, kr, k, MIN((guint64)DESC_CACHE, kr->ndesc - k));
	if (n == 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "descriptor %" PRIu64 " lies past the end of the file", k);
		return NULL;
	}
	kr->dc_n = 0;
	if (!read_descs(f, kr, k, n, kr->dc, error))
		return NULL;
	kr->dc_base = k;
	kr->dc_n = (guint)n;
	return &kr->dc[0];
}

/* The descriptor's codec, its data checked to lie in the file. */
static gboolean check_desc(HvDumpFile *f, const PageDesc *d, HvCompression *c_ret,
			   GError **error)
{
	if (d->offset == 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "not in the file (descriptor offset 0: the dump is incomplete)");
		return FALSE;
	}
	if (d->size == 0 || d->size > BLOCK_SIZE) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "descriptor size %u (block size %u)", d->size, BLOCK_SIZE);
		return FALSE;
	}
	if (d->offset < 0 || (guint64)d->offset > f->size ||
	    d->size > f->size - (guint64)d->offset) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "data 0x%" PRIx64 "+0x%x lies past the end of the file (0x%" PRIx64 ")",
			    (guint64)d->offset, d->size, f->size);
		return FALSE;
	}
	if (!hv_compression_from_kdump_flags(d->flags, c_ret)) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "descriptor flags 0x%x name more than one codec", d->flags);
		return FALSE;
	}
	return TRUE;
}

/* Frame pfn (set in bm2) decompressed into kr->page. */
static gboolean load_page(HvDumpFile *f, KdumpReader *kr, guint64 pfn, GError **error)
{
	const PageDesc *d;
	HvCompression c;

	if (kr->page_pfn == pfn)
		return TRUE;
	kr->page_pfn = G_MAXUINT64;
	if (kr->written != NULL && !bit(kr->written, pfn)) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: page 0x%" PRIx64 ": not in the file (the dump is incomplete)",
			    pfn);
		return FALSE;
	}
	d = get_desc(f, kr, rank_of(kr, pfn), error);
	if (d != NULL && kr->page_size != 0 && (guint64)d->offset == kr->page_off &&
	    d->size == kr->page_size && d->flags == kr->page_flags) {
		kr->page_pfn = pfn;
		return TRUE;
	}
	kr->page_size = 0;
	if (d == NULL || !check_desc(f, d, &c, error) ||
	    !hv_dump_file_pread(f, (guint64)d->offset, kr->cbuf, d->size, error) ||
	    !hv_decompress(c, kr->cbuf, d->size, kr->page, BLOCK_SIZE, error)) {
		g_prefix_error(error, "kdump: page 0x%" PRIx64 ": ", pfn);
		return FALSE;
	}
	kr->page_pfn = pfn;
	kr->page_off = (guint64)d->offset;
	kr->page_size = d->size;
	kr->page_flags = d->flags;
	return TRUE;
}

/* ---- open ---------------------------------------------------------------- */

static gboolean read_header(HvDumpFile *f, DiskDumpHeader *h, GError **error)
{
	if (!hv_dump_file_pread(f, 0, h, sizeof(*h), error)) {
		g_prefix_error(error, "kdump: header: ");
		return FALSE;
	}
	if (memcmp(h->signature, KDUMP_SIGNATURE, 8) != 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: a DISKDUMP file, not kdump-compressed: not supported");
		return FALSE;
	}
	h->header_version = GINT32_FROM_LE(h->header_version);
	h->tv_sec = GINT64_FROM_LE(h->tv_sec);
	h->status = GUINT32_FROM_LE(h->status);
	h->block_size = GINT32_FROM_LE(h->block_size);
	h->sub_hdr_size = GINT32_FROM_LE(h->sub_hdr_size);
	h->bitmap_blocks = GUINT32_FROM_LE(h->bitmap_blocks);
	h->max_mapnr = GUINT32_FROM_LE(h->max_mapnr);
	h->nr_cpus = GINT32_FROM_LE(h->nr_cpus);
	if (h->header_version < 1 || h->header_version > MAX_HEADER_VERSION) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: header version %d not supported (1..%d)", h->header_version,
			    MAX_HEADER_VERSION);
		return FALSE;
	}
	if (h->block_size != (gint32)BLOCK_SIZE) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: block size %d (only x86_64's %u is read)", h->block_size,
			    BLOCK_SIZE);
		return FALSE;
	}
	if (h->utsname[4][0] != '\0' && strncmp(h->utsname[4], "x86_64", 65) != 0) {
		g_autofree char *m = g_strndup(h->utsname[4], 64);

		g_strcanon(m, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
			   '?');
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kdump: machine \"%s\" is not x86_64",
			    m);
		return FALSE;
	}
	if (h->sub_hdr_size < 1) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kdump: sub-header of %d blocks",
			    h->sub_hdr_size);
		return FALSE;
	}
	return TRUE;
}

static gboolean read_sub_header(HvDumpFile *f, const DiskDumpHeader *h, KdumpSubHeader *s,
				GError **error)
{
	/* only the fields of the header's version: the rest may be notes */
	static const gsize size_of_version[MAX_HEADER_VERSION + 1] = {
		8,
		G_STRUCT_OFFSET(KdumpSubHeader, split),
		G_STRUCT_OFFSET(KdumpSubHeader, offset_vmcoreinfo),
		G_STRUCT_OFFSET(KdumpSubHeader, offset_note),
		G_STRUCT_OFFSET(KdumpSubHeader, offset_eraseinfo),
		G_STRUCT_OFFSET(KdumpSubHeader, start_pfn_64),
		sizeof(KdumpSubHeader),
	};

	memset(s, 0, sizeof(*s));
	if (!hv_dump_file_pread(f, BLOCK_SIZE, s, size_of_version[h->header_version], error)) {
		g_prefix_error(error, "kdump: sub-header: ");
		return FALSE;
	}
	s->phys_base = GUINT64_FROM_LE(s->phys_base);
	s->dump_level = GINT32_FROM_LE(s->dump_level);
	s->split = GINT32_FROM_LE(s->split);
	s->offset_vmcoreinfo = GUINT64_FROM_LE(s->offset_vmcoreinfo);
	s->size_vmcoreinfo = GUINT64_FROM_LE(s->size_vmcoreinfo);
	s->offset_note = GUINT64_FROM_LE(s->offset_note);
	s->size_note = GUINT64_FROM_LE(s->size_note);
	s->max_mapnr_64 = GUINT64_FROM_LE(s->max_mapnr_64);
	if (s->split != 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: one file of a --split dump: not supported");
		return FALSE;
	}
	return TRUE;
}

/* size bytes at off (a sub-header field), checked and capped, into a new
 * buffer (NUL-terminated). */
static guint8 *read_blob(HvDumpFile *f, guint64 off, guint64 size, guint64 cap, const char *what,
			 GError **error)
{
	g_autofree guint8 *buf = NULL;

	if (size > cap) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: %s of 0x%" PRIx64 " bytes (at most 0x%" PRIx64 ")", what, size,
			    cap);
		return NULL;
	}
	if (off > f->size || size > f->size - off) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: %s at 0x%" PRIx64 "+0x%" PRIx64 " lies past the end of "
			    "the file (0x%" PRIx64 ")", what, off, size, f->size);
		return NULL;
	}
	buf = g_malloc(size + 1);
	buf[size] = 0;
	if (!hv_dump_file_pread(f, off, buf, size, error)) {
		g_prefix_error(error, "kdump: %s: ", what);
		return NULL;
	}
	return g_steal_pointer(&buf);
}

static gboolean read_bitmaps(HvDumpFile *f, KdumpReader *kr, const DiskDumpHeader *h,
			     GError **error)
{
	guint64 off = (1 + (guint64)h->sub_hdr_size) * BLOCK_SIZE;
	guint64 len = (guint64)h->bitmap_blocks * BLOCK_SIZE, half = len / 2;
	guint64 need = (kr->max_mapnr + 7) / 8, i;
	guint64 nrank;

	if (half < need) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: bitmaps of %u blocks are too small for max_mapnr 0x%" PRIx64,
			    h->bitmap_blocks, kr->max_mapnr);
		return FALSE;
	}
	/* as crash: both bitmaps must be in the file (this also bounds what
	 * max_mapnr makes us allocate by the file's size) */
	if (off > f->size || len > f->size - off) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: bitmaps at 0x%" PRIx64 "+0x%" PRIx64 " run past the end of "
			    "the file (0x%" PRIx64 ")", off, len, f->size);
		return FALSE;
	}
	kr->nwords = (kr->max_mapnr + 63) / 64;
	kr->bm1 = g_malloc0(kr->nwords * 8 + 8);
	kr->bm2 = g_malloc0(kr->nwords * 8 + 8);
	if (!hv_dump_file_pread(f, off, kr->bm1, need, error) ||
	    !hv_dump_file_pread(f, off + half, kr->bm2, need, error)) {
		g_prefix_error(error, "kdump: bitmaps: ");
		return FALSE;
	}
	for (i = 0; i < kr->nwords; i++) {
		kr->bm1[i] = GUINT64_FROM_LE(kr->bm1[i]);
		kr->bm2[i] = GUINT64_FROM_LE(kr->bm2[i]);
	}
	if (kr->max_mapnr % 64 != 0) {
		guint64 mask = (1ull << (kr->max_mapnr % 64)) - 1;

		kr->bm1[kr->nwords - 1] &= mask;
		kr->bm2[kr->nwords - 1] &= mask;
	}
	nrank = kr->nwords / RANK_WORDS + 1;
	kr->rank = g_new(guint64, nrank);
	kr->ndesc = 0;
	for (i = 0; i < kr->nwords; i++) {
		if (i % RANK_WORDS == 0)
			kr->rank[i / RANK_WORDS] = kr->ndesc;
		kr->ndesc += (guint64)__builtin_popcountll(kr->bm2[i]);
		f->info.pages_ram += (guint64)__builtin_popcountll(kr->bm1[i]);
	}
	if (kr->nwords % RANK_WORDS == 0)
		kr->rank[kr->nwords / RANK_WORDS] = kr->ndesc;
	return TRUE;
}

/* INCOMPLETE dumps: which frames of bm2 have data (a descriptor in the
 * file with a non-zero offset). */
static gboolean find_written(HvDumpFile *f, KdumpReader *kr, GError **error)
{
	g_autofree PageDesc *buf = g_new(PageDesc, DESC_CACHE);
	guint64 pfn = 0, k = 0;

	kr->written = g_memdup2(kr->bm2, kr->nwords * 8 + 8);
	while (k < kr->ndesc) {
		guint64 n = descs_in_file(f, kr, k, MIN((guint64)DESC_CACHE, kr->ndesc - k)), j;

		if (n > 0 && !read_descs(f, kr, k, n, buf, error)) {
			g_prefix_error(error, "kdump: descriptors: ");
			return FALSE;
		}
		for (j = 0; j < (n > 0 ? n : kr->ndesc - k); j++) {
			pfn = next_bit(kr->bm2, pfn, kr->max_mapnr, TRUE);
			if (n == 0 || buf[j].offset == 0)
				kr->written[pfn / 64] &= ~(1ull << (pfn % 64));
			pfn++;
		}
		k += j;
	}
	return TRUE;
}

/* Regions: the runs of bitmap 1. */
static gboolean find_regions(HvDumpFile *f, KdumpReader *kr, GError **error)
{
	guint64 pfn = 0;

	for (;;) {
		guint64 start = next_bit(kr->bm1, pfn, kr->max_mapnr, TRUE), end;
		HvDumpRegion r = { 0 };

		if (start >= kr->max_mapnr)
			return TRUE;
		end = next_bit(kr->bm1, start, kr->max_mapnr, FALSE);
		if (f->regions->len >= HV_DUMP_MAX_REGIONS) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "kdump: bitmap 1 has more than %u runs of RAM",
				    HV_DUMP_MAX_REGIONS);
			return FALSE;
		}
		r.paddr = start * BLOCK_SIZE;
		r.size = (end - start) * BLOCK_SIZE;
		g_array_append_val(f->regions, r);
		pfn = end;
	}
}

/* The codec the pages use: the header's status names it (makedumpfile,
 * QEMU and hvdump set it); else the first descriptors tell. */
static HvCompression guess_codec(HvDumpFile *f, KdumpReader *kr, guint32 status)
{
	HvCompression c = HV_COMPRESS_NONE;
	guint64 k, n;

	if (hv_compression_from_kdump_flags(status, &c) && c != HV_COMPRESS_NONE)
		return c;
	n = descs_in_file(f, kr, 0, MIN((guint64)DESC_CACHE, kr->ndesc));
	if (n == 0 || !read_descs(f, kr, 0, n, kr->dc, NULL))
		return HV_COMPRESS_NONE;
	kr->dc_base = 0;
	kr->dc_n = (guint)n;
	for (k = 0; k < n; k++)
		if (hv_compression_from_kdump_flags(kr->dc[k].flags, &c) && c != HV_COMPRESS_NONE)
			return c;
	return HV_COMPRESS_NONE;
}

static gboolean kdump_open(HvDumpFile *f, GError **error)
{
	KdumpReader *kr = g_new0(KdumpReader, 1);
	DiskDumpHeader h;
	KdumpSubHeader s;
	guint64 i;

	kr->page_pfn = G_MAXUINT64;
	f->priv = kr;
	if (!read_header(f, &h, error) || !read_sub_header(f, &h, &s, error))
		return FALSE;
	kr->max_mapnr = h.header_version >= 6 ? s.max_mapnr_64 : h.max_mapnr;
	if (kr->max_mapnr > MAX_MAPNR) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kdump: max_mapnr 0x%" PRIx64
			    " is beyond 64-bit physical addresses", kr->max_mapnr);
		return FALSE;
	}
	if (!read_bitmaps(f, kr, &h, error))
		return FALSE;
	kr->desc_off = (1 + (guint64)h.sub_hdr_size + h.bitmap_blocks) * BLOCK_SIZE;
	f->info.incomplete = (h.status & HV_KDUMP_INCOMPLETE) != 0;
	if (f->info.incomplete) {
		if (!find_written(f, kr, error))
			return FALSE;
	} else if (descs_in_file(f, kr, 0, kr->ndesc) < kr->ndesc) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kdump: %" PRIu64 " page descriptors at 0x%" PRIx64 " run past the "
			    "end of the file (0x%" PRIx64 ")", kr->ndesc, kr->desc_off, f->size);
		return FALSE;
	}
	if (h.header_version >= 4 && s.offset_note != 0 && s.size_note != 0) {
		g_autofree guint8 *notes = read_blob(f, s.offset_note, s.size_note,
						     HV_DUMP_MAX_NOTES, "notes", error);

		if (notes == NULL ||
		    !hv_dump_file_add_notes(f, notes, s.size_note, "kdump: notes", error))
			return FALSE;
	}
	if (h.header_version >= 3 && s.offset_vmcoreinfo != 0 && s.size_vmcoreinfo != 0) {
		g_autofree guint8 *text = read_blob(f, s.offset_vmcoreinfo, s.size_vmcoreinfo,
						    HV_DUMP_MAX_VMCOREINFO, "VMCOREINFO", error);

		if (text == NULL)
			return FALSE;
		/* crash reads this one; it wins over the note's */
		hv_dump_file_set_vmcoreinfo(f, text, s.size_vmcoreinfo);
	}
	if (!find_regions(f, kr, error))
		return FALSE;
	for (i = 0; i < kr->nwords; i++)
		f->info.pages_present += (guint64)__builtin_popcountll(
			kr->written != NULL ? kr->written[i] : kr->bm2[i]);
	f->info.kind = HV_DUMP_FILE_KDUMP;
	f->info.compression = guess_codec(f, kr, h.status);
	f->info.dump_level = s.dump_level;
	f->info.header_version = (guint)h.header_version;
	f->info.nr_cpus = h.nr_cpus > 0 ? (guint32)h.nr_cpus : 0;
	f->info.timestamp = h.tv_sec > 0 ? (guint64)h.tv_sec : 0;
	f->info.max_pfn = kr->max_mapnr;
	for (i = 0; i < 64 && g_ascii_isprint(h.utsname[2][i]); i++)
		f->info.release[i] = h.utsname[2][i];
	f->info.release[i] = '\0';
	return TRUE;
}

/* ---- pages --------------------------------------------------------------- */

static const guint64 *present_bits(const KdumpReader *kr)
{
	return kr->written != NULL ? kr->written : kr->bm2;
}

static gboolean kdump_page_present(HvDumpFile *f, guint64 pfn)
{
	const KdumpReader *kr = f->priv;

	return pfn < kr->max_mapnr && bit(present_bits(kr), pfn);
}

static gboolean kdump_next_present(HvDumpFile *f, guint i, guint64 *cursor, guint64 *off_ret,
				   guint64 *len_ret, GError **error)
{
	const KdumpReader *kr = f->priv;
	const HvDumpRegion *r = hv_dump_file_region(f, i);
	guint64 first = r->paddr / BLOCK_SIZE, last = first + r->size / BLOCK_SIZE;
	guint64 s, e;

	(void)error;
	s = next_bit(present_bits(kr), first + *cursor / BLOCK_SIZE, last, TRUE);
	if (s >= last) {
		*cursor = r->size;
		return FALSE;
	}
	e = next_bit(present_bits(kr), s, last, FALSE);
	*off_ret = MAX((s - first) * BLOCK_SIZE, *cursor);
	*len_ret = (e - first) * BLOCK_SIZE - *off_ret;
	*cursor = (e - first) * BLOCK_SIZE;
	return TRUE;
}

static gboolean kdump_read(HvDumpFile *f, guint i, guint64 rel, guint8 *buf, gsize len,
			   GError **error)
{
	KdumpReader *kr = f->priv;
	guint64 paddr = hv_dump_file_region(f, i)->paddr + rel;

	while (len > 0) {
		guint64 pfn = paddr / BLOCK_SIZE, in = paddr % BLOCK_SIZE;
		gsize n = (gsize)MIN((guint64)len, BLOCK_SIZE - in);

		if (!bit(kr->bm2, pfn)) {
			memset(buf, 0, n);
		} else {
			if (!load_page(f, kr, pfn, error))
				return FALSE;
			memcpy(buf, kr->page + in, n);
		}
		buf += n;
		paddr += n;
		len -= n;
	}
	return TRUE;
}

static gboolean kdump_count_codecs(HvDumpFile *f, HvDumpFileCodecCounts *n_ret, GError **error)
{
	KdumpReader *kr = f->priv;
	g_autofree PageDesc *buf = g_new(PageDesc, 4 * DESC_CACHE);
	guint64 k = 0, most = 0, data_start = kr->desc_off + kr->ndesc * sizeof(PageDesc);

	while (k < kr->ndesc) {
		guint64 n = descs_in_file(f, kr, k, MIN(4ull * DESC_CACHE, kr->ndesc - k)), j;

		if (n == 0) {
			if (kr->written != NULL)
				break; /* the rest was never written */
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "kdump: descriptor %" PRIu64 " lies past the end of the file",
				    k);
			return FALSE;
		}
		if (!read_descs(f, kr, k, n, buf, error)) {
			g_prefix_error(error, "kdump: descriptors: ");
			return FALSE;
		}
		for (j = 0; j < n; j++) {
			const PageDesc *d = &buf[j];
			HvCompression c;

			if (d->offset == 0 && kr->written != NULL)
				continue;
			if (!hv_compression_from_kdump_flags(d->flags, &c)) {
				g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
					    "kdump: descriptor %" PRIu64 ": flags 0x%x name "
					    "more than one codec", k + j, d->flags);
				return FALSE;
			}
			switch (c) {
			case HV_COMPRESS_ZLIB:
				n_ret->zlib++;
				break;
			case HV_COMPRESS_LZO:
				n_ret->lzo++;
				break;
			case HV_COMPRESS_SNAPPY:
				n_ret->snappy++;
				break;
			case HV_COMPRESS_ZSTD:
				n_ret->zstd++;
				break;
			case HV_COMPRESS_NONE:
			default:
				n_ret->raw++;
				break;
			}
			/* every writer (makedumpfile's pd_zero, QEMU's, ours) stores
			 * the page its zero pages share first in the data area */
			if ((guint64)d->offset == data_start)
				n_ret->zero_shared++;
		}
		k += n;
	}
	/* one reference is no sharing: an ordinary first page */
	if (n_ret->zero_shared == 1)
		n_ret->zero_shared = 0;
	/* the codec the file uses, when neither header nor first pages said */
	if (f->info.compression == HV_COMPRESS_NONE) {
		const struct {
			guint64 n;
			HvCompression c;
		} v[] = { { n_ret->zlib, HV_COMPRESS_ZLIB }, { n_ret->zstd, HV_COMPRESS_ZSTD },
			  { n_ret->lzo, HV_COMPRESS_LZO }, { n_ret->snappy, HV_COMPRESS_SNAPPY } };
		guint i;

		for (i = 0; i < G_N_ELEMENTS(v); i++) {
			if (v[i].n > most) {
				most = v[i].n;
				f->info.compression = v[i].c;
			}
		}
	}
	return TRUE;
}

static void kdump_cleanup(HvDumpFile *f)
{
	KdumpReader *kr = f->priv;

	if (kr == NULL)
		return;
	g_free(kr->bm1);
	g_free(kr->bm2);
	g_free(kr->written);
	g_free(kr->rank);
	g_free(kr);
}

const HvDumpReaderOps hv_dump_reader_kdump = {
	.name = "kdump",
	.probe = kdump_probe,
	.open = kdump_open,
	.page_present = kdump_page_present,
	.next_present = kdump_next_present,
	.read = kdump_read,
	.count_codecs = kdump_count_codecs,
	.cleanup = kdump_cleanup,
};
