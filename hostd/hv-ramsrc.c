/* hv-ramsrc.c — what every guest-RAM source shares; see hv-ramsrc.h. */
#include "hv-ramsrc.h"

#include <string.h>

void hv_ram_source_init(HvRamSource *src, const HvRamSourceOps *ops, const HvRamRegion *regions,
			guint n)
{
	src->ops = ops;
	src->regions = g_array_new(FALSE, TRUE, sizeof(HvRamRegion));
	g_array_append_vals(src->regions, regions, n);
}

void hv_ram_source_free(HvRamSource *src)
{
	if (src == NULL)
		return;
	g_array_unref(src->regions);
	g_clear_object(&src->cancellable);
	g_free(src->bounce);
	src->ops->free(src);
}

guint hv_ram_source_n_regions(HvRamSource *src)
{
	return src->regions->len;
}

const HvRamRegion *hv_ram_source_region(HvRamSource *src, guint i)
{
	return &g_array_index(src->regions, HvRamRegion, i);
}

guint64 hv_ram_source_total(HvRamSource *src)
{
	guint64 t = 0;
	guint i;

	for (i = 0; i < src->regions->len; i++)
		t += g_array_index(src->regions, HvRamRegion, i).size;
	return t;
}

const char *hv_ram_source_kind(HvRamSource *src)
{
	return src->ops->kind;
}

void hv_ram_source_set_cancellable(HvRamSource *src, GCancellable *cancellable)
{
	g_clear_object(&src->cancellable);
	src->cancellable = cancellable != NULL ? g_object_ref(cancellable) : NULL;
}

gboolean hv_ram_source_read(HvRamSource *src, guint64 gpa, void *buf, gsize len)
{
	guint i;

	for (i = 0; i < src->regions->len; i++) {
		const HvRamRegion *r = &g_array_index(src->regions, HvRamRegion, i);
		guint64 rel;

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		rel = gpa - r->gpa;
		if (len > r->size - rel)
			return FALSE;
		return src->ops->read(src, i, rel, buf, len, NULL);
	}
	return FALSE;
}

gboolean hv_ram_source_phys_read(gpointer src, guint64 paddr, void *buf, gsize len)
{
	return hv_ram_source_read(src, paddr, buf, len);
}

gboolean hv_ram_source_next_data(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
				 guint64 *len_ret, GError **error)
{
	const HvRamRegion *r = hv_ram_source_region(src, i);

	if (*cursor >= r->size)
		return FALSE;
	if (!src->ops->next_data(src, i, cursor, off_ret, len_ret, error))
		return FALSE;
	/* an implementation's extent stays inside its region */
	if (*off_ret >= r->size || *len_ret == 0 || *len_ret > r->size - *off_ret) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "RAM source %s: extent 0x%" G_GINT64_MODIFIER
			    "x+0x%" G_GINT64_MODIFIER "x outside region %s", src->ops->kind,
			    *off_ret, *len_ret, r->name);
		return FALSE;
	}
	return TRUE;
}

gboolean hv_ram_source_next_chunk(HvRamSource *src, guint i, guint64 *cursor, guint64 *off_ret,
				  guint64 *len_ret, const guint8 **data_ret, GError **error)
{
	const guint8 *p;

	if (g_cancellable_set_error_if_cancelled(src->cancellable, error))
		return FALSE;
	if (!hv_ram_source_next_data(src, i, cursor, off_ret, len_ret, error))
		return FALSE;
	p = src->ops->map != NULL ? src->ops->map(src, i, *off_ret, *len_ret) : NULL;
	if (p != NULL) {
		*data_ret = p;
		return TRUE;
	}
	/* read a bounded chunk */
	if (*len_ret > HV_RAM_CHUNK) {
		*len_ret = HV_RAM_CHUNK;
		*cursor = *off_ret + HV_RAM_CHUNK;
	}
	if (src->bounce == NULL)
		src->bounce = g_malloc(HV_RAM_CHUNK);
	if (!src->ops->read(src, i, *off_ret, src->bounce, (gsize)*len_ret, error))
		return FALSE;
	*data_ret = src->bounce;
	return TRUE;
}

guint64 hv_ram_source_data_bytes(HvRamSource *src)
{
	guint64 total = 0;
	guint i;

	for (i = 0; i < src->regions->len; i++) {
		guint64 cursor = 0, off, len;

		while (hv_ram_source_next_data(src, i, &cursor, &off, &len, NULL))
			total += len;
	}
	return total;
}

gboolean hv_ram_source_scan_pages(HvRamSource *src, HvPageFunc fn, gpointer user_data,
				  GError **error)
{
	guint64 pages = 0;
	guint i;

	for (i = 0; i < src->regions->len; i++) {
		const HvRamRegion *r = hv_ram_source_region(src, i);
		guint64 cursor = 0, off, len;
		const guint8 *data;
		GError *local = NULL;

		while (hv_ram_source_next_chunk(src, i, &cursor, &off, &len, &data, &local)) {
			guint64 p = (off + 4095) & ~(guint64)4095;

			for (; p + 4096 <= off + len; p += 4096) {
				if ((++pages & 4095) == 0 &&
				    g_cancellable_set_error_if_cancelled(src->cancellable, error))
					return FALSE;
				if (!fn(user_data, r->gpa + p, data + (p - off)))
					return TRUE;
			}
		}
		if (local != NULL) {
			g_propagate_error(error, local);
			return FALSE;
		}
	}
	return TRUE;
}
