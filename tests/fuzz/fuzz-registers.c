/* fuzz-registers.c — libFuzzer target: `info registers -a` parser. */
#include "hv-machine.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	GArray *cpus = hv_parse_registers((const char *)data, size, NULL);

	if (cpus != NULL)
		g_array_unref(cpus);
	return 0;
}
