/* synth-guest.h — a small synthetic x86_64 guest built in memory for tests
 * and fuzz seeds: 32 MiB of "RAM" with 4-level page tables that map the
 * kernel image (phys_base 0, no KASLR) and the direct map, a VMCOREINFO
 * note and init_uts_ns. Offsets are fixed so tests can damage them. */
#pragma once

#include <glib.h>
#include <string.h>

#include "hv-cpustate.h"
#include "hv-ramsrc.h"

#define SG_RAM (32u << 20)
#define SG_PML4 0x1000u
#define SG_PDPT_K 0x2000u
#define SG_PD_K 0x3000u
#define SG_PDPT_D 0x4000u
#define SG_PD_D 0x5000u
#define SG_NOTE 0x10000u
#define SG_NOTE2 0x20000u
#define SG_STEXT 0xffffffff81000000ull
#define SG_UTS 0xffffffff81800000ull
#define SG_DIRECT 0xffff888000000000ull
#define SG_RELEASE "6.1.0-synthetic"

static inline void sg_put64(guint8 *ram, guint64 pa, guint64 v)
{
	v = GUINT64_TO_LE(v);
	memcpy(ram + pa, &v, 8);
}

static inline void sg_write_note(guint8 *ram, guint32 pa, const char *text)
{
	guint32 namesz = GUINT32_TO_LE(11), descsz = GUINT32_TO_LE((guint32)strlen(text)), type = 0;

	memcpy(ram + pa, &namesz, 4);
	memcpy(ram + pa + 4, &descsz, 4);
	memcpy(ram + pa + 8, &type, 4);
	memcpy(ram + pa + 12, "VMCOREINFO\0\0", 12);
	memcpy(ram + pa + 24, text, strlen(text));
}

static inline const char *sg_vmcoreinfo_text(void)
{
	return "OSRELEASE=" SG_RELEASE "\n"
	       "BUILD-ID=0123456789abcdef\n"
	       "PAGESIZE=4096\n"
	       "SYMBOL(init_uts_ns)=ffffffff81800000\n"
	       "SYMBOL(_stext)=ffffffff81000000\n"
	       "SYMBOL(swapper_pg_dir)=ffffffff81a00000\n"
	       "NUMBER(phys_base)=0\n"
	       "NUMBER(pgtable_l5_enabled)=0\n"
	       "KERNELOFFSET=0\n";
}

/* Fills ram (SG_RAM bytes, zeroed by the caller) with the guest. */
static inline void sg_build(guint8 *ram)
{
	guint i;

	/* kernel image map: PML4[511] → PDPT[510] → PD with 2M pages 0..32M */
	sg_put64(ram, SG_PML4 + 8 * 511, SG_PDPT_K | 0x63);
	sg_put64(ram, SG_PDPT_K + 8 * 510, SG_PD_K | 0x63);
	/* direct map: PML4[273] → PDPT[0] → PD with 2M pages 0..32M */
	sg_put64(ram, SG_PML4 + 8 * 273, SG_PDPT_D | 0x63);
	sg_put64(ram, SG_PDPT_D, SG_PD_D | 0x63);
	for (i = 0; i < 16; i++) {
		sg_put64(ram, SG_PD_K + 8 * i, ((guint64)i << 21) | 0xe3);
		sg_put64(ram, SG_PD_D + 8 * i, ((guint64)i << 21) | 0xe3);
	}
	sg_write_note(ram, SG_NOTE, sg_vmcoreinfo_text());
	/* init_uts_ns.name.release at +130 */
	memcpy(ram + (SG_UTS - 0xffffffff80000000ull) + 130, SG_RELEASE, sizeof(SG_RELEASE));
}

static inline void sg_cpu(HvVcpuRegs *r)
{
	memset(r, 0, sizeof(*r));
	r->cr[0] = 0x80050033;
	r->cr[3] = SG_PML4;
	r->cr[4] = 0x6f0;
	r->efer = 0xd01;
	r->rip = SG_STEXT + 0x1000;
}

/* The guest's RAM (SG_RAM bytes at ram, used in place) as a RAM source. */
static inline HvRamSource *sg_source(const guint8 *ram)
{
	HvRamBuffer b = { .gpa = 0, .size = SG_RAM, .host = ram };

	return hv_ram_source_new_buffers(&b, 1);
}

/* One vCPU in the guest's kernel (sg_cpu), as the capture takes vCPUs. */
static inline GArray *sg_cpus(void)
{
	GArray *cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	HvVcpuRegs c;

	sg_cpu(&c);
	g_array_append_val(cpus, c);
	return cpus;
}
