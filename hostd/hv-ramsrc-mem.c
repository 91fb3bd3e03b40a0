/* hv-ramsrc-mem.c — guest RAM in buffers of this process (tests, fuzzers);
 * see hv-ramsrc.h. Every byte is data; nothing is copied but on read. */
#include "hv-ramsrc.h"

#include <string.h>

typedef struct {
	HvRamSource base;
	GArray *host;   /* const guint8 *, one per region */
} BufSource;

static gboolean buf_read(HvRamSource *src, guint i, guint64 rel, void *buf, gsize len,
			 GError **error)
{
	BufSource *b = (BufSource *)src;

	(void)error;
	memcpy(buf, g_array_index(b->host, const guint8 *, i) + rel, len);
	return TRUE;
}

static gboolean buf_next_data(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
			      guint64 *len_ret, GError **error)
{
	const HvRamRegion *r = hv_ram_source_region(src, i);

	(void)error;
	*off_ret = *cursor;
	*len_ret = r->size - *cursor;
	*cursor = r->size;
	return TRUE;
}

static const guint8 *buf_map(HvRamSource *src, guint i, guint64 off, guint64 len)
{
	BufSource *b = (BufSource *)src;

	(void)len;
	return g_array_index(b->host, const guint8 *, i) + off;
}

static void buf_free(HvRamSource *src)
{
	BufSource *b = (BufSource *)src;

	g_array_unref(b->host);
	g_free(b);
}

static const HvRamSourceOps buf_ops = {
	.kind = "buffer",
	.read = buf_read,
	.next_data = buf_next_data,
	.map = buf_map,
	.free = buf_free,
};

HvRamSource *hv_ram_source_new_buffers(const HvRamBuffer *bufs, guint n)
{
	BufSource *b = g_new0(BufSource, 1);
	g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(HvRamRegion));
	guint i;

	b->host = g_array_new(FALSE, FALSE, sizeof(const guint8 *));
	for (i = 0; i < n; i++) {
		HvRamRegion r = { .gpa = bufs[i].gpa, .size = bufs[i].size };

		g_snprintf(r.name, sizeof(r.name), "buffer%u", i);
		g_array_append_val(regions, r);
		g_array_append_val(b->host, bufs[i].host);
	}
	hv_ram_source_init(&b->base, &buf_ops, (HvRamRegion *)regions->data, regions->len);
	return &b->base;
}
