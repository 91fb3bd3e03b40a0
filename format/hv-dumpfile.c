/* hv-dumpfile.c — a vmcore opened for reading; see hv-dumpfile.h.
 *
 * Owns: opening (a path, or bytes in memory) and recognising the file, the
 * byte layer the readers go through (hv-dumpfile-private.h), the index of
 * a flattened stream, the notes and VMCOREINFO both formats share, and the
 * public calls, which check their arguments and hand over to the format's
 * reader (hv-reader-elf.c, hv-reader-kdump.c).
 *
 * Flattened stream (makedumpfile.h of makedumpfile 1.7, dump/dump.c of
 * QEMU 7.2): a 4096-byte header that starts with struct makedumpfile_header
 * — char signature[16] "makedumpfile" NUL-padded, be64 type (1), be64
 * version (1) — then records {be64 offset, be64 size, size bytes of data}
 * to be written at offset of the real file, ended by a record whose offset
 * and size are both -1. `makedumpfile -R` writes the records in order, so a
 * later record wins where two overlap; the index here does the same. It
 * stops at a record with size 0 or a negative field other than the end
 * record (an error unless it is the end); we skip size-0 records (QEMU's
 * write_buffer could write one) and reject the rest as it does. A stream
 * without its end record is truncated: rejected, as crash rejects it.
 */
#include "hv-dumpfile-private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- flattened stream: on-disk layout ----------------------------------- */

#define FLAT_HEADER_SIZE 4096u           /* MAX_SIZE_MDF_HEADER */
#define FLAT_SIGNATURE "makedumpfile"    /* MAKEDUMPFILE_SIGNATURE */
#define FLAT_TYPE 1                      /* TYPE_FLAT_HEADER */

typedef struct {
	char signature[16];   /* "makedumpfile", NUL-padded to 8-byte multiple */
	gint64 type;          /* big-endian; TYPE_FLAT_HEADER = 1 */
	gint64 version;       /* big-endian; VERSION_FLAT_HEADER = 1 (not checked,
			       * as makedumpfile -R and crash do not) */
} FlatHeader;
G_STATIC_ASSERT(sizeof(FlatHeader) == 32);

typedef struct {
	gint64 offset;        /* big-endian; where the data goes; -1 ends */
	gint64 buf_size;      /* big-endian; bytes that follow; -1 ends */
} FlatDataHeader;
G_STATIC_ASSERT(sizeof(FlatDataHeader) == 16);

/* ---- the byte layer ----------------------------------------------------- */

static gboolean raw_pread(HvDumpFile *f, guint64 poff, void *buf, gsize len, GError **error)
{
	guint8 *p = buf;

	if (len == 0)
		return TRUE;
	if (f->fd < 0) {
		if (poff > f->phys_size || len > f->phys_size - poff) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO,
				    "reading at 0x%" PRIx64 ": past the end of the data", poff);
			return FALSE;
		}
		memcpy(buf, f->data + poff, len);
		return TRUE;
	}
	while (len > 0) {
		ssize_t n = pread(f->fd, p, len, (off_t)poff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO, "reading at 0x%" PRIx64 ": %s",
				    poff,
				    n == 0 ? "the file is shorter than it was" : g_strerror(errno));
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
		poff += (guint64)n;
	}
	return TRUE;
}

/* The index of the last segment with loff <= off, or -1. */
static gssize flat_find(HvDumpFile *f, guint64 off)
{
	gsize lo = 0, hi = f->nsegs;

	while (lo < hi) {
		gsize mid = lo + (hi - lo) / 2;

		if (f->segs[mid].loff <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (gssize)lo - 1;
}

gboolean hv_dump_file_pread(HvDumpFile *f, guint64 off, void *buf, gsize len, GError **error)
{
	guint8 *p = buf;
	gssize k;

	if (off > f->size || len > f->size - off) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "0x%" PRIx64 "+0x%" G_GSIZE_MODIFIER "x lies past the end of the file "
			    "(0x%" PRIx64 ")", off, len, f->size);
		return FALSE;
	}
	if (f->segs == NULL)
		return raw_pread(f, off, buf, len, error);
	/* flattened: the segments in [off, off + len), zeros between them */
	k = flat_find(f, off);
	if (k < 0)
		k = 0;
	while (len > 0) {
		const HvFlatSeg *s = (gsize)k < f->nsegs ? &f->segs[k] : NULL;
		gsize n;

		if (s == NULL || off < s->loff) {
			n = s == NULL || s->loff - off > len ? len : (gsize)(s->loff - off);
			memset(p, 0, n);
		} else if (off - s->loff >= s->len) {
			k++;
			continue;
		} else {
			guint64 in = off - s->loff;

			n = s->len - in > len ? len : (gsize)(s->len - in);
			if (!raw_pread(f, s->poff + in, p, n, error))
				return FALSE;
			k++;
		}
		p += n;
		off += n;
		len -= n;
	}
	return TRUE;
}

gboolean hv_dump_file_next_data(HvDumpFile *f, guint64 off, guint64 limit, guint64 *start_ret,
				guint64 *end_ret)
{
	if (limit > f->size)
		limit = f->size;
	if (off >= limit)
		return FALSE;
	if (f->segs != NULL) {
		gssize k = flat_find(f, off);
		guint64 start, end;

		if (k < 0 || off - f->segs[k].loff >= f->segs[k].len)
			k++;
		if ((gsize)k >= f->nsegs || f->segs[k].loff >= limit)
			return FALSE;
		start = MAX(off, f->segs[k].loff);
		end = f->segs[k].loff + f->segs[k].len;
		/* logically adjacent segments make one run */
		while ((gsize)k + 1 < f->nsegs && f->segs[k + 1].loff == end && end < limit)
			end += f->segs[++k].len;
		*start_ret = start;
		*end_ret = MIN(end, limit);
		return TRUE;
	}
	if (f->fd >= 0 && f->seek_data) {
		off_t data = lseek(f->fd, (off_t)off, SEEK_DATA), hole;

		if (data < 0) {
			/* ENXIO: nothing but holes up to the end; anything else:
			 * call it all data and let pread find the trouble */
			if (errno == ENXIO)
				return FALSE;
			data = (off_t)off;
		}
		if ((guint64)data >= limit)
			return FALSE;
		hole = lseek(f->fd, data, SEEK_HOLE);
		if (hole < 0 || (guint64)hole > limit)
			hole = (off_t)limit;
		*start_ret = (guint64)data;
		*end_ret = (guint64)hole;
		return TRUE;
	}
	*start_ret = off;
	*end_ret = limit;
	return TRUE;
}

/* ---- the flattened index ------------------------------------------------ */

typedef struct {
	guint64 loff, len, poff;
} FlatRec;

static int cmp_u64(const void *a, const void *b)
{
	guint64 x = *(const guint64 *)a, y = *(const guint64 *)b;

	return x < y ? -1 : x > y;
}

typedef struct {
	guint64 loff;
	guint32 rec;
} RecKey;

static int cmp_key(const void *a, const void *b)
{
	const RecKey *x = a, *y = b;

	return x->loff < y->loff ? -1 : x->loff > y->loff;
}

/* A max-heap of record numbers: the latest record is on top. */
static void heap_push(guint32 *heap, gsize *n, guint32 v)
{
	gsize i = (*n)++;

	while (i > 0 && heap[(i - 1) / 2] < v) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = v;
}

static void heap_pop(guint32 *heap, gsize *n)
{
	guint32 v = heap[--(*n)];
	gsize i = 0;

	for (;;) {
		gsize c = 2 * i + 1;

		if (c >= *n)
			break;
		if (c + 1 < *n && heap[c + 1] > heap[c])
			c++;
		if (heap[c] <= v)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (*n > 0)
		heap[i] = v;
}

static void emit_seg(GArray *segs, guint64 loff, guint64 len, guint64 poff)
{
	HvFlatSeg s = { .loff = loff, .len = len, .poff = poff };

	if (segs->len > 0) {
		HvFlatSeg *last = &g_array_index(segs, HvFlatSeg, segs->len - 1);

		if (last->loff + last->len == loff && last->poff + last->len == poff) {
			last->len += len;
			return;
		}
	}
	g_array_append_val(segs, s);
}

/* Which record owns each logical byte: the latest one covering it (a sweep
 * over the records' boundaries with a heap of the records open there). */
static void flat_resolve(const FlatRec *recs, gsize n, GArray *segs)
{
	g_autofree RecKey *order = g_new(RecKey, n);
	g_autofree guint32 *heap = g_new(guint32, n);
	g_autofree guint64 *pts = g_new(guint64, 2 * n);
	gsize npts = 0, nheap = 0, j = 0, k, i;

	for (i = 0; i < n; i++) {
		order[i].loff = recs[i].loff;
		order[i].rec = (guint32)i;
		pts[npts++] = recs[i].loff;
		pts[npts++] = recs[i].loff + recs[i].len;
	}
	qsort(order, n, sizeof(*order), cmp_key);
	qsort(pts, npts, sizeof(*pts), cmp_u64);
	for (i = k = 0; i < npts; i++)
		if (k == 0 || pts[k - 1] != pts[i])
			pts[k++] = pts[i];
	npts = k;
	for (k = 0; k + 1 < npts; k++) {
		guint64 p = pts[k];

		while (j < n && order[j].loff <= p)
			heap_push(heap, &nheap, order[j++].rec);
		while (nheap > 0 && recs[heap[0]].loff + recs[heap[0]].len <= p)
			heap_pop(heap, &nheap);
		if (nheap > 0) {
			const FlatRec *r = &recs[heap[0]];

			emit_seg(segs, p, pts[k + 1] - p, r->poff + (p - r->loff));
		}
	}
}

static guint64 be64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, sizeof(v));
	return GUINT64_FROM_BE(v);
}

static gboolean is_flattened(const guint8 *head, gsize len)
{
	return len >= sizeof(FlatHeader) &&
	       memcmp(head, FLAT_SIGNATURE, sizeof(FLAT_SIGNATURE)) == 0 &&
	       be64(head + G_STRUCT_OFFSET(FlatHeader, type)) == FLAT_TYPE;
}

static gboolean flat_index(HvDumpFile *f, GError **error)
{
	g_autoptr(GArray) recs = g_array_new(FALSE, FALSE, sizeof(FlatRec));
	g_autoptr(GArray) segs = g_array_new(FALSE, FALSE, sizeof(HvFlatSeg));
	guint64 pos = FLAT_HEADER_SIZE, end = 0;
	gboolean sorted = TRUE;
	guint8 hdr[sizeof(FlatDataHeader)];

	if (f->phys_size < FLAT_HEADER_SIZE) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "flattened: the file (%" PRIu64 " bytes) is shorter than its header",
			    f->phys_size);
		return FALSE;
	}
	for (;;) {
		gint64 off, size;
		FlatRec r;

		if (f->phys_size - pos < sizeof(hdr)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "flattened: no end record (the stream is cut at 0x%" PRIx64 ")",
				    pos);
			return FALSE;
		}
		if (!raw_pread(f, pos, hdr, sizeof(hdr), error)) {
			g_prefix_error(error, "flattened: ");
			return FALSE;
		}
		off = (gint64)be64(hdr);
		size = (gint64)be64(hdr + 8);
		if (off == -1 && size == -1)
			break;
		if (off < 0 || size < 0 || (guint64)off > HV_DUMP_MAX_SIZE ||
		    (guint64)size > HV_DUMP_MAX_SIZE - (guint64)off) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "flattened: record %u at 0x%" PRIx64 ": bad offset 0x%" PRIx64
				    " or size 0x%" PRIx64,
				    recs->len, pos, (guint64)off, (guint64)size);
			return FALSE;
		}
		pos += sizeof(hdr);
		if ((guint64)size > f->phys_size - pos) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "flattened: record %u at 0x%" PRIx64 ": 0x%" PRIx64
				    " bytes of data past the end of the file", recs->len,
				    pos - sizeof(hdr), (guint64)size);
			return FALSE;
		}
		if (size == 0)
			continue;
		if (recs->len >= HV_DUMP_MAX_FLAT_RECORDS) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "flattened: more than %u records", HV_DUMP_MAX_FLAT_RECORDS);
			return FALSE;
		}
		r.loff = (guint64)off;
		r.len = (guint64)size;
		r.poff = pos;
		if (r.loff < end)
			sorted = FALSE;
		end = MAX(end, r.loff + r.len);
		g_array_append_val(recs, r);
		pos += (guint64)size;
	}
	if (sorted) {
		guint i;

		for (i = 0; i < recs->len; i++) {
			const FlatRec *r = &g_array_index(recs, FlatRec, i);

			emit_seg(segs, r->loff, r->len, r->poff);
		}
	} else {
		flat_resolve((const FlatRec *)recs->data, recs->len, segs);
	}
	f->size = end;
	f->nsegs = segs->len;
	f->segs = (HvFlatSeg *)(void *)g_array_free(g_steal_pointer(&segs), FALSE);
	f->info.flattened = TRUE;
	return TRUE;
}

/* ---- notes and VMCOREINFO ----------------------------------------------- */

#define NOTE_ALIGN(x) (((x) + 3) & ~(guint64)3)

gboolean hv_dump_file_add_notes(HvDumpFile *f, const guint8 *p, gsize len, const char *what,
				GError **error)
{
	gsize pos = 0;

	while (len - pos >= 12) {
		guint32 namesz = hv_le32(p + pos), descsz = hv_le32(p + pos + 4);
		guint32 type = hv_le32(p + pos + 8);
		guint64 name_end = 12 + NOTE_ALIGN((guint64)namesz);
		guint64 total = name_end + NOTE_ALIGN((guint64)descsz);
		const guint8 *name = p + pos + 12;

		if (namesz == 0 && descsz == 0 && type == 0)
			break; /* zero padding after the last note */
		if (total > len - pos) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "%s: note at 0x%" G_GSIZE_MODIFIER "x (name %u, desc %u bytes) "
				    "runs past the end of the notes (0x%" G_GSIZE_MODIFIER "x)",
				    what, pos, namesz, descsz, len);
			return FALSE;
		}
		if (f->notes->len + total > HV_DUMP_MAX_NOTES) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "%s: more than %u bytes of notes", what, HV_DUMP_MAX_NOTES);
			return FALSE;
		}
		if (namesz == 5 && memcmp(name, "CORE", 5) == 0 && type == 1 /* NT_PRSTATUS */)
			f->nr_prstatus++;
		if (namesz == 11 && memcmp(name, "VMCOREINFO", 11) == 0 && f->vmcoreinfo == NULL)
			hv_dump_file_set_vmcoreinfo(f, p + pos + name_end, descsz);
		g_byte_array_append(f->notes, p + pos, (guint)total);
		pos += (gsize)total;
	}
	return TRUE;
}

void hv_dump_file_set_vmcoreinfo(HvDumpFile *f, const guint8 *text, gsize len)
{
	const guint8 *nul = memchr(text, 0, len);

	if (nul != NULL)
		len = (gsize)(nul - text);
	if (len > HV_DUMP_MAX_VMCOREINFO)
		len = HV_DUMP_MAX_VMCOREINFO;
	g_free(f->vmcoreinfo);
	f->vmcoreinfo = g_strndup((const char *)text, len);
	f->vmcoreinfo_len = len;
}

/* The value of KEY= in the VMCOREINFO text, at most max - 1 printable
 * characters; FALSE when absent. */
static gboolean vmcoreinfo_value(HvDumpFile *f, const char *key, char *buf, gsize max)
{
	const char *p = f->vmcoreinfo, *end;
	gsize klen = strlen(key);

	if (p == NULL)
		return FALSE;
	end = p + f->vmcoreinfo_len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (gsize)(end - p));
		gsize n = 0;

		if (eol == NULL)
			eol = end;
		if ((gsize)(eol - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			for (p += klen + 1; p < eol && n + 1 < max && g_ascii_isprint(*p); p++)
				buf[n++] = *p;
			buf[n] = '\0';
			return TRUE;
		}
		if (eol == end)
			break;
		p = eol + 1;
	}
	return FALSE;
}

/* What both formats take from VMCOREINFO when their headers do not say. */
static void fill_from_vmcoreinfo(HvDumpFile *f)
{
	char buf[65];

	if (f->info.release[0] == '\0' && vmcoreinfo_value(f, "OSRELEASE", buf, sizeof(buf)))
		g_strlcpy(f->info.release, buf, sizeof(f->info.release));
	if (f->info.timestamp == 0 && vmcoreinfo_value(f, "CRASHTIME", buf, 21)) {
		guint64 t;

		if (g_ascii_string_to_unsigned(buf, 10, 0, G_MAXUINT64, &t, NULL))
			f->info.timestamp = t;
	}
	if (f->info.nr_cpus == 0)
		f->info.nr_cpus = f->nr_prstatus;
}

/* ---- open --------------------------------------------------------------- */

static const HvDumpReaderOps *const readers[] = { &hv_dump_reader_elf, &hv_dump_reader_kdump };

static HvDumpFile *file_new(void)
{
	HvDumpFile *f = g_new0(HvDumpFile, 1);

	f->fd = -1;
	f->notes = g_byte_array_new();
	f->regions = g_array_new(FALSE, FALSE, sizeof(HvDumpRegion));
	return f;
}

/* Work on a dump (page maps, class arrays, loops over frames) grows with
 * the highest guest frame it describes, which a header can claim freely (an
 * ELF PT_LOAD's p_memsz, a flattened stream's holes). A genuine dump is
 * never that much smaller than the RAM it spans: ELF files are as long as
 * their segments (sparse), kdump files hold two bitmaps of max_mapnr bits.
 * So the frames are bounded by the file's own bytes (8 frames a byte, and
 * at least 4 GiB of guest-physical space for small files). */
#define FRAMES_PER_FILE_BYTE 8u
#define FRAMES_FLOOR (1ull << 20)

static gboolean check_extent(HvDumpFile *f, GError **error)
{
	guint64 max_pfn = 0, allowed;
	guint i;

	for (i = 0; i < f->regions->len; i++) {
		const HvDumpRegion *r = &g_array_index(f->regions, HvDumpRegion, i);

		max_pfn = MAX(max_pfn, r->paddr / HV_PAGE_SIZE + (r->size + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
	}
	allowed = FRAMES_FLOOR + (f->phys_size > G_MAXUINT64 / FRAMES_PER_FILE_BYTE ? G_MAXUINT64 / 2 :
				  f->phys_size * FRAMES_PER_FILE_BYTE);
	if (max_pfn > allowed) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "guest RAM up to 0x%" G_GINT64_MODIFIER "x claimed by a file of %"
			    G_GUINT64_FORMAT " bytes: not a dump of that RAM", max_pfn * HV_PAGE_SIZE,
			    f->phys_size);
		return FALSE;
	}
	return TRUE;
}

static HvDumpFile *file_open(HvDumpFile *f, GError **error)
{
	g_autoptr(HvDumpFile) owned = f;
	guint8 head[sizeof(FlatHeader)] = { 0 };
	gsize n = (gsize)MIN(f->phys_size, sizeof(head)), i;

	f->size = f->phys_size;
	f->info.file_size = f->phys_size;
	if (n > 0 && !raw_pread(f, 0, head, n, error))
		return NULL;
	if (is_flattened(head, n)) {
		if (!flat_index(f, error))
			return NULL;
		memset(head, 0, sizeof(head));
		n = (gsize)MIN(f->size, sizeof(head));
		if (n > 0 && !hv_dump_file_pread(f, 0, head, n, error))
			return NULL;
	}
	for (i = 0; i < G_N_ELEMENTS(readers) && f->ops == NULL; i++)
		if (readers[i]->probe(head, n))
			f->ops = readers[i];
	if (f->ops == NULL) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "not a vmcore: no ELF, KDUMP or "
			    "makedumpfile signature%s", f->info.flattened ? " inside the flattened "
			    "stream" : "");
		return NULL;
	}
	if (!f->ops->open(f, error))
		return NULL;
	if (!check_extent(f, error))
		return NULL;
	fill_from_vmcoreinfo(f);
	return g_steal_pointer(&owned);
}

HvDumpFile *hv_dump_file_open(const char *path, GError **error)
{
	HvDumpFile *f = file_new();
	struct stat st;

	/* O_NONBLOCK: a FIFO is refused below instead of waiting for a writer */
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (f->fd < 0 || fstat(f->fd, &st) < 0) {
		int e = errno;

		g_set_error(error, HV_ERROR, HV_ERROR_IO, "%s", g_strerror(e));
		hv_dump_file_free(f);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "not a regular file");
		hv_dump_file_free(f);
		return NULL;
	}
	f->phys_size = (guint64)st.st_size;
	f->seek_data = lseek(f->fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
	return file_open(f, error);
}

HvDumpFile *hv_dump_file_new_from_data(const guint8 *data, gsize len, GError **error)
{
	HvDumpFile *f = file_new();

	f->data = data;
	f->phys_size = len;
	return file_open(f, error);
}

void hv_dump_file_free(HvDumpFile *f)
{
	if (f == NULL)
		return;
	if (f->ops != NULL && f->ops->cleanup != NULL)
		f->ops->cleanup(f);
	if (f->fd >= 0)
		close(f->fd);
	g_free(f->segs);
	g_byte_array_unref(f->notes);
	g_array_unref(f->regions);
	g_free(f->vmcoreinfo);
	g_free(f);
}

/* ---- the public calls --------------------------------------------------- */

const HvDumpFileInfo *hv_dump_file_get_info(HvDumpFile *f)
{
	return &f->info;
}

const GByteArray *hv_dump_file_get_notes(HvDumpFile *f)
{
	return f->notes;
}

const char *hv_dump_file_get_vmcoreinfo(HvDumpFile *f, gsize *len_ret)
{
	if (len_ret != NULL)
		*len_ret = f->vmcoreinfo != NULL ? f->vmcoreinfo_len : 0;
	return f->vmcoreinfo;
}

guint hv_dump_file_n_regions(HvDumpFile *f)
{
	return f->regions->len;
}

const HvDumpRegion *hv_dump_file_region(HvDumpFile *f, guint i)
{
	return i < f->regions->len ? &g_array_index(f->regions, HvDumpRegion, i) : NULL;
}

gboolean hv_dump_file_get_kimage(HvDumpFile *f, guint64 *vaddr_ret, guint64 *paddr_ret,
				 guint64 *size_ret)
{
	if (!f->has_kimage)
		return FALSE;
	*vaddr_ret = f->kimage_vaddr;
	*paddr_ret = f->kimage_paddr;
	*size_ret = f->kimage_size;
	return TRUE;
}

gboolean hv_dump_file_page_present(HvDumpFile *f, guint64 pfn)
{
	return f->ops->page_present(f, pfn);
}

gboolean hv_dump_file_next_present(HvDumpFile *f, guint i, guint64 *cursor, guint64 *off_ret,
				   guint64 *len_ret, GError **error)
{
	const HvDumpRegion *r = hv_dump_file_region(f, i);

	if (r == NULL || *cursor >= r->size)
		return FALSE;
	return f->ops->next_present(f, i, cursor, off_ret, len_ret, error);
}

/* The region holding paddr (binary search), or -1. */
static gssize region_at(HvDumpFile *f, guint64 paddr)
{
	guint lo = 0, hi = f->regions->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;

		if (g_array_index(f->regions, HvDumpRegion, mid).paddr <= paddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	lo--;
	if (paddr - g_array_index(f->regions, HvDumpRegion, lo).paddr >=
	    g_array_index(f->regions, HvDumpRegion, lo).size)
		return -1;
	return lo;
}

gboolean hv_dump_file_read(HvDumpFile *f, guint64 paddr, void *buf, gsize len, GError **error)
{
	gssize i = region_at(f, paddr);
	const HvDumpRegion *r;

	if (i < 0) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "0x%" PRIx64 ": not guest RAM the dump describes", paddr);
		return FALSE;
	}
	r = hv_dump_file_region(f, (guint)i);
	if (len > r->size - (paddr - r->paddr)) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "0x%" PRIx64 "+0x%" G_GSIZE_MODIFIER "x: runs past the end of its "
			    "region (0x%" PRIx64 "+0x%" PRIx64 ")", paddr, len, r->paddr, r->size);
		return FALSE;
	}
	if (len == 0)
		return TRUE;
	return f->ops->read(f, (guint)i, paddr - r->paddr, buf, len, error);
}

gboolean hv_dump_file_count_codecs(HvDumpFile *f, HvDumpFileCodecCounts *counts_ret,
				   GError **error)
{
	memset(counts_ret, 0, sizeof(*counts_ret));
	if (f->ops->count_codecs == NULL) {
		g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "%s files have no page descriptors",
			    f->ops->name);
		return FALSE;
	}
	return f->ops->count_codecs(f, counts_ret, error);
}
