/* hv-format-kdump.c — makedumpfile's kdump-compressed format, seekable (not
 * flattened), header version 6; see hv-writer.h.
 *
 * Layout (makedumpfile's IMPLEMENTATION, diskdump_mod.h), in blocks of one
 * page: block 0 the disk_dump_header; from block 1 the kdump_sub_header,
 * then every note (VMCOREINFO's desc is pointed at from the sub-header);
 * then bitmap 1 (frames that are RAM) and bitmap 2 (frames the dump holds),
 * then one page_desc_t per frame of bitmap 2 in frame order, then page data.
 * Everything but the data's size is known at begin (the page map says which
 * frames are dumped), so the file is written front to back once.
 *
 * Pages are compressed one by one (as readers expect) on threads of the
 * writer's own (POSIX threads and locks, which ThreadSanitizer sees), in
 * batches; batches are written strictly in order by the calling
 * thread, so the file is the same bytes for any thread count. A page that
 * does not shrink is stored raw; all-zero dumped pages share one stored
 * zero page (makedumpfile's pd_zero). A dump cut short by a full disk gets
 * the header's incomplete flag; descriptors of pages never written stay
 * zero, which readers take as missing pages.
 */
#include <pthread.h>
#include <string.h>

#include "hv-writer.h"

#define KDUMP_SIGNATURE "KDUMP   "
#define KDUMP_HEADER_VERSION 6
#define BATCH_PAGES 256u
#define BATCH_ENTRIES 8192u

/* disk_dump_header (diskdump_mod.h), x86_64 layout */
typedef struct {
	char signature[8];              /* "KDUMP   " */
	gint32 header_version;
	char utsname[6][65];            /* new_utsname: sysname, nodename, release,
					 * version, machine, domainname */
	guint8 pad0[6];
	gint64 tv_sec, tv_usec;         /* timestamp */
	guint32 status;                 /* DUMP_DH_COMPRESSED_* */
	gint32 block_size;
	gint32 sub_hdr_size;            /* blocks */
	guint32 bitmap_blocks;          /* both bitmaps, blocks */
	guint32 max_mapnr;              /* 32-bit, obsolete: max_mapnr_64 */
	guint32 total_ram_blocks;
	guint32 device_blocks;
	guint32 written_blocks;
	guint32 current_cpu;
	gint32 nr_cpus;
	/* tasks[nr_cpus] follow: left zero, as makedumpfile does */
} DiskDumpHeader;
G_STATIC_ASSERT(sizeof(DiskDumpHeader) == 464);
G_STATIC_ASSERT(G_STRUCT_OFFSET(DiskDumpHeader, tv_sec) == 408);
G_STATIC_ASSERT(G_STRUCT_OFFSET(DiskDumpHeader, status) == 424);

/* kdump_sub_header, x86_64 */
typedef struct {
	guint64 phys_base;
	gint32 dump_level;              /* version 1 */
	gint32 split;                   /* version 2 */
	guint64 start_pfn, end_pfn;     /* version 2, obsolete: the _64 ones */
	guint64 offset_vmcoreinfo;      /* version 3 */
	guint64 size_vmcoreinfo;
	guint64 offset_note;            /* version 4 */
	guint64 size_note;
	guint64 offset_eraseinfo;       /* version 5 */
	guint64 size_eraseinfo;
	guint64 start_pfn_64;           /* version 6 */
	guint64 end_pfn_64;
	guint64 max_mapnr_64;
} KdumpSubHeader;
G_STATIC_ASSERT(sizeof(KdumpSubHeader) == 104);

/* page_desc_t */
typedef struct {
	guint64 offset;                 /* of the page's data in the file */
	guint32 size;                   /* stored bytes */
	guint32 flags;                  /* its codec, 0: raw */
	guint64 page_flags;             /* unused (0) */
} PageDesc;
G_STATIC_ASSERT(sizeof(PageDesc) == 24);

typedef struct {
	gboolean zero;                  /* shares the zero page */
	guint32 size, flags;
	guint32 data_off;               /* within the batch's out */
} Entry;

typedef struct {
	guint8 *in;                     /* BATCH_PAGES pages */
	guint npages;
	Entry *entries;                 /* BATCH_ENTRIES */
	guint nentries;
	guint *page_entry;              /* entry of page k of in */
	guint8 *out;
	gsize out_len;
	HvCompression codec;
	gboolean done;                  /* under the writer's lock */
} Batch;

struct HvDumpWriter {
	HvOutput *out;
	const HvDumpLayout *layout;
	const HvPageMap *map;
	HvCompression codec;
	guint32 codec_flag;
	guint threads;
	/* compression threads (none: compress inline) */
	pthread_t *workers;
	guint nworkers;
	pthread_mutex_t lock;
	pthread_cond_t work_cond;       /* todo has a batch, or stopping */
	pthread_cond_t done_cond;       /* a batch is done */
	GQueue todo;                    /* Batch* for the workers (under lock) */
	gboolean stopping;
	GQueue inflight;                /* Batch*, oldest first (writer thread only) */
	Batch *cur;
	guint64 max_mapnr;
	guint64 desc_off;               /* file offset of descriptor 0 */
	guint64 ndesc;                  /* descriptors written */
	guint64 data_off;               /* next page data goes here */
	guint64 zero_off;               /* the shared zero page */
	guint32 zero_size, zero_flags;
	gboolean has_zero;
	guint region;                   /* the writer's position in the map */
	guint64 page;
	guint8 header[HV_PAGE_SIZE];
	gboolean failed;
};

/* Each thread keeps one compressor per codec (a daemon worker may write
 * kdump-zlib, then kdump-zstd). */
typedef struct {
	HvCompressor *z[HV_COMPRESS_SNAPPY + 1];
} ThreadCodecs;

static void thread_codecs_free(gpointer data)
{
	ThreadCodecs *t = data;
	guint i;

	for (i = 0; i < G_N_ELEMENTS(t->z); i++)
		hv_compressor_free(t->z[i]);
	g_free(t);
}

static GPrivate thread_codecs = G_PRIVATE_INIT(thread_codecs_free);

static HvCompressor *compressor_for(HvCompression c)
{
	ThreadCodecs *t = g_private_get(&thread_codecs);

	if (t == NULL) {
		t = g_new0(ThreadCodecs, 1);
		g_private_set(&thread_codecs, t);
	}
	if (t->z[c] == NULL)
		t->z[c] = hv_compressor_new(c);
	return t->z[c];
}

static Batch *batch_new(HvCompression codec)
{
	Batch *b = g_new0(Batch, 1);

	b->in = g_malloc(BATCH_PAGES * HV_PAGE_SIZE);
	b->entries = g_new(Entry, BATCH_ENTRIES);
	b->page_entry = g_new(guint, BATCH_PAGES);
	b->out = g_malloc(BATCH_PAGES * hv_compress_bound(codec, HV_PAGE_SIZE));
	b->codec = codec;
	return b;
}

static void batch_free(Batch *b)
{
	if (b == NULL)
		return;
	g_free(b->in);
	g_free(b->entries);
	g_free(b->page_entry);
	g_free(b->out);
	g_free(b);
}

/* Compresses every page of b into b->out, in page order. */
static void batch_compress(Batch *b)
{
	HvCompressor *z = compressor_for(b->codec);
	gsize bound = hv_compress_bound(b->codec, HV_PAGE_SIZE), pos = 0;
	guint k;

	for (k = 0; k < b->npages; k++) {
		Entry *e = &b->entries[b->page_entry[k]];
		const guint8 *page = b->in + (gsize)k * HV_PAGE_SIZE;
		gsize n = hv_compressor_compress(z, page, HV_PAGE_SIZE, b->out + pos, bound);

		e->data_off = (guint32)pos;
		if (n > 0) {
			e->size = (guint32)n;
			e->flags = hv_compression_kdump_flag(b->codec);
		} else {
			memcpy(b->out + pos, page, HV_PAGE_SIZE);
			e->size = HV_PAGE_SIZE;
			e->flags = 0;
		}
		pos += e->size;
	}
	b->out_len = pos;
}

static void *worker(void *data)
{
	HvDumpWriter *w = data;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		Batch *b;

		while (!w->stopping && g_queue_is_empty(&w->todo))
			pthread_cond_wait(&w->work_cond, &w->lock);
		b = g_queue_pop_head(&w->todo);
		if (b == NULL)
			break; /* stopping, nothing left */
		pthread_mutex_unlock(&w->lock);
		batch_compress(b);
		pthread_mutex_lock(&w->lock);
		b->done = TRUE;
		pthread_cond_broadcast(&w->done_cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void batch_wait(HvDumpWriter *w, Batch *b)
{
	if (w->nworkers == 0)
		return;
	pthread_mutex_lock(&w->lock);
	while (!b->done)
		pthread_cond_wait(&w->done_cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

/* Writes b's page data and descriptors (b is done). */
static gboolean batch_flush(HvDumpWriter *w, Batch *b, GError **error)
{
	g_autofree PageDesc *pd = g_new0(PageDesc, b->nentries + 1);
	guint k;

	for (k = 0; k < b->nentries; k++) {
		const Entry *e = &b->entries[k];

		if (e->zero) {
			pd[k].offset = w->zero_off;
			pd[k].size = w->zero_size;
			pd[k].flags = w->zero_flags;
		} else {
			pd[k].offset = w->data_off + e->data_off;
			pd[k].size = e->size;
			pd[k].flags = e->flags;
		}
		pd[k].offset = GUINT64_TO_LE(pd[k].offset);
		pd[k].size = GUINT32_TO_LE(pd[k].size);
		pd[k].flags = GUINT32_TO_LE(pd[k].flags);
	}
	if (b->out_len > 0 && !hv_output_pwrite(w->out, b->out, b->out_len, w->data_off, error))
		return FALSE;
	/* descriptors after their data: a descriptor on disk always points at data */
	if (b->nentries > 0 &&
	    !hv_output_pwrite(w->out, pd, (gsize)b->nentries * sizeof(PageDesc),
			      w->desc_off + w->ndesc * sizeof(PageDesc), error))
		return FALSE;
	w->data_off += b->out_len;
	w->ndesc += b->nentries;
	return TRUE;
}

/* Waits for and writes the oldest batch in flight. */
static gboolean flush_oldest(HvDumpWriter *w, GError **error)
{
	Batch *b = g_queue_pop_head(&w->inflight);
	gboolean ok;

	batch_wait(w, b);
	ok = batch_flush(w, b, error);
	batch_free(b);
	if (!ok)
		w->failed = TRUE;
	return ok;
}

static void drain_discard(HvDumpWriter *w)
{
	Batch *b;

	while ((b = g_queue_pop_head(&w->inflight)) != NULL) {
		batch_wait(w, b);
		batch_free(b);
	}
	batch_free(w->cur);
	w->cur = NULL;
}

static gboolean submit(HvDumpWriter *w, GError **error)
{
	Batch *b = w->cur;

	w->cur = NULL;
	if (b == NULL)
		return TRUE;
	g_queue_push_tail(&w->inflight, b);
	if (w->nworkers == 0) {
		batch_compress(b);
	} else {
		pthread_mutex_lock(&w->lock);
		g_queue_push_tail(&w->todo, b);
		pthread_cond_signal(&w->work_cond);
		pthread_mutex_unlock(&w->lock);
	}
	/* a bounded number in flight: memory stays ~ 2 MiB per batch */
	while (w->inflight.length > 2 * w->nworkers)
		if (!flush_oldest(w, error))
			return FALSE;
	return TRUE;
}

static Batch *current(HvDumpWriter *w, GError **error)
{
	if (w->cur != NULL && (w->cur->npages == BATCH_PAGES || w->cur->nentries == BATCH_ENTRIES) &&
	    !submit(w, error))
		return NULL;
	if (w->cur == NULL)
		w->cur = batch_new(w->codec);
	return w->cur;
}

/* Descriptors of the dumped zero pages before (region, page). */
static gboolean zeros_until(HvDumpWriter *w, guint region, guint64 page, GError **error)
{
	while (w->region < region || (w->region == region && w->page < page)) {
		if (w->region < w->layout->nregions && w->page >= hv_page_map_n_pages(w->map, w->region)) {
			w->region++;
			w->page = 0;
			continue;
		}
		if (w->region >= w->layout->nregions)
			break;
		if (hv_page_map_is_dumped(w->map, w->region, w->page) &&
		    hv_page_map_is_zero(w->map, w->region, w->page)) {
			Batch *b = current(w, error);

			if (b == NULL)
				return FALSE;
			b->entries[b->nentries++] = (Entry){ .zero = TRUE };
		}
		w->page++;
	}
	return TRUE;
}

static void set_bits(guint8 *bitmap, guint64 pfn)
{
	bitmap[pfn / 8] |= (guint8)(1u << (pfn % 8));
}

static gsize vmcoreinfo_desc(const GByteArray *notes, gsize *len_ret)
{
	gsize off = 0;

	/* ELF notes: namesz, descsz, type, name (padded to 4), desc (padded) */
	while (notes != NULL && off + 12 <= notes->len) {
		guint32 namesz, descsz;
		guint64 name_off = off + 12, desc_off, next;

		memcpy(&namesz, notes->data + off, 4);
		memcpy(&descsz, notes->data + off + 4, 4);
		/* 64-bit: sizes near 4 GiB must not wrap */
		desc_off = name_off + (((guint64)namesz + 3) & ~3ull);
		next = desc_off + (((guint64)descsz + 3) & ~3ull);
		if (desc_off > notes->len || next > notes->len || next <= off)
			break;
		if (namesz == 11 && desc_off + descsz <= notes->len &&
		    memcmp(notes->data + name_off, "VMCOREINFO", 11) == 0) {
			*len_ret = descsz;
			return (gsize)desc_off;
		}
		off = (gsize)next;
	}
	*len_ret = 0;
	return 0;
}

static gboolean write_header(HvDumpWriter *w, gboolean incomplete, GError **error)
{
	DiskDumpHeader *dh = (DiskDumpHeader *)w->header;

	if (incomplete)
		dh->status |= GUINT32_TO_LE(HV_KDUMP_INCOMPLETE);
	return hv_output_pwrite(w->out, w->header, sizeof(w->header), 0, error);
}

static void free_writer(HvDumpWriter *w)
{
	if (w == NULL)
		return;
	drain_discard(w);
	if (w->nworkers > 0) {
		guint i;

		pthread_mutex_lock(&w->lock);
		w->stopping = TRUE;
		pthread_cond_broadcast(&w->work_cond);
		pthread_mutex_unlock(&w->lock);
		for (i = 0; i < w->nworkers; i++)
			pthread_join(w->workers[i], NULL);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->work_cond);
	pthread_cond_destroy(&w->done_cond);
	g_free(w->workers);
	g_free(w);
}

static HvDumpWriter *begin(HvOutput *out, const HvDumpLayout *l, const HvPageMap *map,
			   const HvDumpOptions *opt, GError **error, HvCompression codec)
{
	HvDumpWriter *w = g_new0(HvDumpWriter, 1);
	DiskDumpHeader *dh = (DiskDumpHeader *)w->header;
	KdumpSubHeader sh = { 0 };
	g_autofree guint8 *sub = NULL, *bitmaps = NULL;
	guint64 notes_len = l->notes != NULL ? l->notes->len : 0, bitmap_len, nzero = 0;
	gsize vi_len, vi_off;
	guint sub_blocks, i;

	w->out = out;
	w->layout = l;
	w->map = map;
	w->codec = codec;
	w->codec_flag = hv_compression_kdump_flag(codec);
	w->threads = opt->threads ? opt->threads : MAX(1u, (guint)g_get_num_processors());
	w->threads = MIN(w->threads, 256u);
	g_queue_init(&w->inflight);
	g_queue_init(&w->todo);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work_cond, NULL);
	pthread_cond_init(&w->done_cond, NULL);
	for (i = 0; i < l->nregions; i++) {
		const HvDumpRegion *r = &l->regions[i];

		if (r->paddr % HV_PAGE_SIZE != 0) {
			g_set_error(error, HV_ERROR, HV_ERROR_IO,
				    "kdump: region %u at 0x%" G_GINT64_MODIFIER "x is not page aligned",
				    i, r->paddr);
			free_writer(w);
			return NULL;
		}
		w->max_mapnr = MAX(w->max_mapnr, (r->paddr + r->size + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
	}

	/* block 1 on: sub-header and notes */
	sub_blocks = (guint)((sizeof(sh) + notes_len + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
	sub = g_malloc0((gsize)sub_blocks * HV_PAGE_SIZE);
	vi_off = vmcoreinfo_desc(l->notes, &vi_len);
	sh.phys_base = GUINT64_TO_LE((guint64)l->phys_base);
	sh.dump_level = GINT32_TO_LE((gint32)opt->dump_level);
	sh.offset_note = GUINT64_TO_LE(HV_PAGE_SIZE + sizeof(sh));
	sh.size_note = GUINT64_TO_LE(notes_len);
	if (vi_len > 0) {
		sh.offset_vmcoreinfo = GUINT64_TO_LE(HV_PAGE_SIZE + sizeof(sh) + vi_off);
		sh.size_vmcoreinfo = GUINT64_TO_LE(vi_len);
	}
	sh.start_pfn = sh.start_pfn_64 = 0;
	sh.end_pfn = GUINT64_TO_LE(MIN(w->max_mapnr, (guint64)G_MAXUINT32));
	sh.end_pfn_64 = GUINT64_TO_LE(w->max_mapnr);
	sh.max_mapnr_64 = GUINT64_TO_LE(w->max_mapnr);
	memcpy(sub, &sh, sizeof(sh));
	if (notes_len > 0)
		memcpy(sub + sizeof(sh), l->notes->data, notes_len);

	/* bitmaps: 1 = RAM, 2 = dumped */
	bitmap_len = ((w->max_mapnr + 7) / 8 + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE * HV_PAGE_SIZE;
	if (bitmap_len == 0)
		bitmap_len = HV_PAGE_SIZE;
	bitmaps = g_malloc0(2 * bitmap_len);
	for (i = 0; i < l->nregions; i++) {
		guint64 base = l->regions[i].paddr / HV_PAGE_SIZE, n = hv_page_map_n_pages(map, i), k;

		for (k = 0; k < n; k++) {
			set_bits(bitmaps, base + k);
			if (hv_page_map_is_dumped(map, i, k)) {
				set_bits(bitmaps + bitmap_len, base + k);
				if (hv_page_map_is_zero(map, i, k))
					nzero++;
			}
		}
	}

	memcpy(dh->signature, KDUMP_SIGNATURE, 8);
	dh->header_version = GINT32_TO_LE(KDUMP_HEADER_VERSION);
	/* readers (libkdumpfile) want sysname, release, version and machine */
	if (l->utsname != NULL) {
		for (i = 0; i < 6; i++)
			g_strlcpy(dh->utsname[i], l->utsname[i], 65);
	} else {
		g_strlcpy(dh->utsname[0], "Linux", 65);
		g_strlcpy(dh->utsname[1], "unknown", 65);
		g_strlcpy(dh->utsname[2], l->osrelease != NULL ? l->osrelease : "unknown", 65);
		g_strlcpy(dh->utsname[3], "unknown", 65);
		g_strlcpy(dh->utsname[4], "x86_64", 65);
	}
	dh->tv_sec = GINT64_TO_LE((gint64)l->crash_time);
	dh->status = GUINT32_TO_LE(w->codec_flag);
	dh->block_size = GINT32_TO_LE((gint32)HV_PAGE_SIZE);
	dh->sub_hdr_size = GINT32_TO_LE((gint32)sub_blocks);
	dh->bitmap_blocks = GUINT32_TO_LE((guint32)(2 * bitmap_len / HV_PAGE_SIZE));
	dh->max_mapnr = GUINT32_TO_LE((guint32)MIN(w->max_mapnr, (guint64)G_MAXUINT32));
	dh->total_ram_blocks = GUINT32_TO_LE((guint32)MIN(hv_page_map_n_dumped(map), (guint64)G_MAXUINT32));
	dh->nr_cpus = GINT32_TO_LE((gint32)l->ncpus);

	w->desc_off = (1 + (guint64)sub_blocks) * HV_PAGE_SIZE + 2 * bitmap_len;
	w->data_off = w->desc_off + hv_page_map_n_dumped(map) * sizeof(PageDesc);
	if (!write_header(w, FALSE, error) ||
	    !hv_output_pwrite(out, sub, (gsize)sub_blocks * HV_PAGE_SIZE, HV_PAGE_SIZE, error) ||
	    !hv_output_pwrite(out, bitmaps, 2 * bitmap_len, (1 + (guint64)sub_blocks) * HV_PAGE_SIZE,
			      error)) {
		free_writer(w);
		return NULL;
	}
	if (nzero > 0) {
		/* the one zero page every all-zero dumped page points at */
		static const guint8 zero_page[HV_PAGE_SIZE];
		g_autoptr(HvCompressor) z = hv_compressor_new(codec);
		gsize bound = hv_compress_bound(codec, HV_PAGE_SIZE);
		g_autofree guint8 *buf = g_malloc(bound);
		gsize n = hv_compressor_compress(z, zero_page, HV_PAGE_SIZE, buf, bound);

		w->has_zero = TRUE;
		w->zero_off = w->data_off;
		w->zero_size = n > 0 ? (guint32)n : HV_PAGE_SIZE;
		w->zero_flags = n > 0 ? w->codec_flag : 0;
		if (!hv_output_pwrite(out, n > 0 ? buf : zero_page, w->zero_size, w->data_off, error)) {
			free_writer(w);
			return NULL;
		}
		w->data_off += w->zero_size;
	}
	if (w->threads > 1) {
		w->workers = g_new0(pthread_t, w->threads);
		for (i = 0; i < w->threads; i++) {
			int e = pthread_create(&w->workers[i], NULL, worker, w);

			if (e != 0) {
				g_set_error(error, HV_ERROR, HV_ERROR_FAILED,
					    "kdump: cannot start a compression thread: %s", g_strerror(e));
				free_writer(w);
				return NULL;
			}
			w->nworkers++;
		}
	}
	return w;
}

#define DEFINE_BEGIN(codec_name, codec)                                                         \
	static HvDumpWriter *begin_##codec_name(HvOutput *out, const HvDumpLayout *l,           \
						const HvPageMap *map, const HvDumpOptions *opt, \
						GError **error)                                 \
	{                                                                                       \
		return begin(out, l, map, opt, error, codec);                                   \
	}
DEFINE_BEGIN(zlib, HV_COMPRESS_ZLIB)
DEFINE_BEGIN(zstd, HV_COMPRESS_ZSTD)
DEFINE_BEGIN(lzo, HV_COMPRESS_LZO)
DEFINE_BEGIN(snappy, HV_COMPRESS_SNAPPY)

static gboolean write_pages(HvDumpWriter *w, guint i, guint64 off, const guint8 *data, gsize len,
			    GError **error)
{
	if (w->failed) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "kdump: write after a failure");
		return FALSE;
	}
	if (i >= w->layout->nregions || off % HV_PAGE_SIZE != 0 || off > w->layout->regions[i].size ||
	    len > w->layout->regions[i].size - off || (i < w->region) ||
	    (i == w->region && off / HV_PAGE_SIZE < w->page)) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "kdump: write outside region %u or out of order",
			    i);
		return FALSE;
	}
	while (len > 0) {
		guint64 page = off / HV_PAGE_SIZE;
		gsize n = MIN(len, (gsize)HV_PAGE_SIZE);
		Batch *b;

		if (!zeros_until(w, i, page, error))
			return FALSE;
		b = current(w, error);
		if (b == NULL)
			return FALSE;
		/* a region's unaligned tail is padded with zeros to a page */
		memcpy(b->in + (gsize)b->npages * HV_PAGE_SIZE, data, n);
		if (n < HV_PAGE_SIZE)
			memset(b->in + (gsize)b->npages * HV_PAGE_SIZE + n, 0, HV_PAGE_SIZE - n);
		b->page_entry[b->npages++] = b->nentries;
		b->entries[b->nentries++] = (Entry){ .zero = FALSE };
		w->page = page + 1;
		off += n;
		data += n;
		len -= n;
	}
	return TRUE;
}

static gboolean finish(HvDumpWriter *w, HvDumpStats *stats, GError **error)
{
	if (!zeros_until(w, w->layout->nregions, 0, error) || !submit(w, error))
		return FALSE;
	while (w->inflight.length > 0)
		if (!flush_oldest(w, error))
			return FALSE;
	if (w->ndesc != hv_page_map_n_dumped(w->map)) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO,
			    "kdump: %" G_GUINT64_FORMAT " pages written of %" G_GUINT64_FORMAT " dumped",
			    w->ndesc, hv_page_map_n_dumped(w->map));
		return FALSE;
	}
	if (!hv_output_set_size(w->out, w->data_off, error))
		return FALSE;
	stats->file_size = w->data_off;
	return TRUE;
}

static gboolean finish_incomplete(HvDumpWriter *w, HvDumpStats *stats, GError **error)
{
	/* what is in flight is dropped; the header (in an allocated block) says
	 * the rest is missing */
	drain_discard(w);
	if (!write_header(w, TRUE, error))
		return FALSE;
	stats->file_size = w->data_off;
	stats->incomplete = TRUE;
	return TRUE;
}

#define DEFINE_FORMAT(codec_name, codec)                                                        \
	const HvDumpFormat hv_dump_format_kdump_##codec_name = {                                \
		.name = "kdump-" #codec_name,                                                   \
		.compression = codec,                                                           \
		.begin = begin_##codec_name,                                                    \
		.write = write_pages,                                                           \
		.finish = finish,                                                               \
		.finish_incomplete = finish_incomplete,                                         \
		.free = free_writer,                                                            \
	};
DEFINE_FORMAT(zlib, HV_COMPRESS_ZLIB)
DEFINE_FORMAT(zstd, HV_COMPRESS_ZSTD)
DEFINE_FORMAT(lzo, HV_COMPRESS_LZO)
DEFINE_FORMAT(snappy, HV_COMPRESS_SNAPPY)
