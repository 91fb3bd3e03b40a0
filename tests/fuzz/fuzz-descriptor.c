/* fuzz-descriptor.c — libFuzzer target: the hvdump_guest descriptor parser,
 * and the finder over guest memory holding the input at the address the
 * vCPU registers announce. */
#include <string.h>

#include "hv-descriptor.h"
#include "hv-machine.h"
#include "hvdump_desc.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static guint8 ram[3 * 4096];
	HvRamBuffer r = { .gpa = 0, .size = sizeof(ram), .host = ram };
	GArray *cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	GPtrArray *warnings = g_ptr_array_new_with_free_func(g_free);
	HvVcpuRegs c = { 0 };
	HvRamSource *mem;
	HvDescriptor d;

	hv_descriptor_parse(data, size, 4096, &d, NULL);
	memset(ram, 0, sizeof(ram));
	memcpy(ram + 4096, data, MIN(size, sizeof(ram) - 4096));
	c.gpr[HV_RDI] = HVDUMP_REG_MAGIC;
	c.gpr[HV_RSI] = size > 8 ? (data[0] | (guint64)data[1] << 8) : 4096;
	g_array_append_val(cpus, c);
	mem = hv_ram_source_new_buffers(&r, 1);
	hv_descriptor_find(mem, cpus, &d, warnings);
	hv_ram_source_free(mem);
	g_array_unref(cpus);
	g_ptr_array_unref(warnings);
	return 0;
}
