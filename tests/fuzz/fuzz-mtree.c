/* fuzz-mtree.c — libFuzzer target: `info mtree -f` parser. */
#include "hv-machine.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	GArray *r = hv_parse_mtree((const char *)data, size, NULL);

	if (r != NULL)
		g_array_unref(r);
	return 0;
}
