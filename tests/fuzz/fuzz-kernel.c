/* fuzz-kernel.c — libFuzzer target: kernel discovery over hostile guest
 * memory. The input overwrites the synthetic guest's page tables, its
 * VMCOREINFO page and the vCPU's CR3/CR4, then the VMCOREINFO scan, its
 * verification against the page tables, the kernel-image walk and the
 * direct-map search run on it. */
#include <string.h>

#include "hv-kernel.h"
#include "synth-guest.h"

#define WIN_PT_OFF 0x1000u
#define WIN_PT_LEN 0x5000u
#define WIN_NOTE_LEN 0x2000u

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static guint8 *ram, *pristine;
	HvRamBuffer r = { .gpa = 0, .size = SG_RAM };
	HvRamSource *mem;
	GArray *cpus;
	HvVcpuRegs c;
	HvKernelInfo ki;
	gsize n;

	if (ram == NULL) {
		ram = g_malloc0(SG_RAM);
		sg_build(ram);
		pristine = g_memdup2(ram, SG_RAM);
	}
	sg_cpu(&c);
	if (size >= 16) {
		memcpy(&c.cr[3], data, 8);
		memcpy(&c.cr[4], data + 8, 8);
		data += 16;
		size -= 16;
	}
	n = MIN(size, (gsize)WIN_PT_LEN);
	memcpy(ram + WIN_PT_OFF, data, n);
	data += n;
	size -= n;
	memcpy(ram + SG_NOTE, data, MIN(size, (gsize)WIN_NOTE_LEN));

	r.host = ram;
	mem = hv_ram_source_new_buffers(&r, 1);
	cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	g_array_append_val(cpus, c);
	if (hv_kernel_discover(mem, cpus, 0, &ki, NULL))
		hv_kernel_info_clear(&ki);
	if (hv_kernel_discover(mem, cpus, SG_NOTE, &ki, NULL))
		hv_kernel_info_clear(&ki);
	g_array_unref(cpus);
	hv_ram_source_free(mem);
	memcpy(ram + WIN_PT_OFF, pristine + WIN_PT_OFF, WIN_PT_LEN);
	memcpy(ram + SG_NOTE, pristine + SG_NOTE, WIN_NOTE_LEN);
	return 0;
}
