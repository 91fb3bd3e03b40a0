/* hv-ramsrc-dump.c — guest RAM as a vmcore file holds it (info, convert,
 * triage of a dump); see hv-ramsrc.h.
 *
 * The file's regions (hv-dumpfile.h) are the source's regions, its present
 * runs the data extents, and every read goes through hv_dump_file_read:
 * pages the file left out read as zero, a page that cannot be read is an
 * error naming it. Nothing can be mapped (pages may be compressed). The
 * source owns the file.
 */
#include "hv-ramsrc.h"

#include "hv-dumpfile.h"

typedef struct {
	HvRamSource base;
	HvDumpFile *file;
} DumpSource;

static gboolean dump_read(HvRamSource *src, guint i, guint64 rel, void *buf, gsize len,
			  GError **error)
{
	DumpSource *s = (DumpSource *)src;

	return hv_dump_file_read(s->file, hv_ram_source_region(src, i)->gpa + rel, buf, len, error);
}

static gboolean dump_next_data(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
			       guint64 *len_ret, GError **error)
{
	DumpSource *s = (DumpSource *)src;

	return hv_dump_file_next_present(s->file, i, cursor, off_ret, len_ret, error);
}

static void dump_free(HvRamSource *src)
{
	DumpSource *s = (DumpSource *)src;

	hv_dump_file_free(s->file);
	g_free(s);
}

static const HvRamSourceOps dump_ops = {
	.kind = "vmcore file",
	.read = dump_read,
	.next_data = dump_next_data,
	.map = NULL,
	.free = dump_free,
};

HvRamSource *hv_ram_source_new_dump(HvDumpFile *f)
{
	DumpSource *s = g_new0(DumpSource, 1);
	g_autoptr(GArray) regions = g_array_new(FALSE, TRUE, sizeof(HvRamRegion));
	guint i;

	s->file = f;
	for (i = 0; i < hv_dump_file_n_regions(f); i++) {
		const HvDumpRegion *d = hv_dump_file_region(f, i);
		HvRamRegion r = { .gpa = d->paddr, .size = d->size };

		g_snprintf(r.name, sizeof(r.name), "dump region %u", i);
		g_array_append_val(regions, r);
	}
	hv_ram_source_init(&s->base, &dump_ops, (const HvRamRegion *)regions->data, regions->len);
	return &s->base;
}
