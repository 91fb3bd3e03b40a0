/* fuzz-kallsyms.c — libFuzzer target: the kallsyms decoder, the module
 * list walk, symbol lookups and the unwinder over hostile memory. The
 * input is kernel memory at FUZZ_BASE holding the tables at the addresses
 * below (as mkseeds_triage.py lays them out); _stext is FUZZ_BASE. The
 * input's last 6 KiB also serve as ORC entries (one per 16 bytes of text,
 * both entry layouts), so hostile unwind entries meet hostile stacks. */
#include <stdlib.h>
#include "fuzz-kmem.h"
#include "hv-ksyms.h"
#include "hv-stack.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static HvVmcoreinfo vi;
	static gboolean init;
	FuzzMem fm = { data, size };
	HvKmem km = { fuzz_read, &fm };
	HvKsyms ks;

	if (!init) {
		fuzz_vmcoreinfo(&vi, "SYMBOL(kallsyms_num_syms)=ffffffff81000000\n"
			"SYMBOL(kallsyms_relative_base)=ffffffff81000008\n"
			"SYMBOL(kallsyms_token_index)=ffffffff81000010\n"
			"SYMBOL(kallsyms_token_table)=ffffffff81000210\n"
			"SYMBOL(kallsyms_offsets)=ffffffff81000610\n"
			"SYMBOL(kallsyms_names)=ffffffff81000810\n");
		init = TRUE;
	}
	hv_ksyms_init(&ks);
	if (hv_ksyms_read_kernel(&ks, &km, &vi, NULL)) {
		guint64 regs[27] = { 0 };
		HvStackFrame fr[HV_STACK_MAX_FRAMES];

		hv_ksyms_read_modules(&ks, &km);
		for (guint64 a = FUZZ_BASE; a < FUZZ_BASE + MIN(size, 4096u); a += 61) {
			g_free(hv_ksyms_format(&ks, a));
			(void)hv_ksyms_is_text(&ks, a);
		}
		/* a stack scan through the same memory, then ORC steps */
		regs[16] = FUZZ_BASE + 16;
		regs[19] = FUZZ_BASE + (size / 2 & ~7ul);
		regs[4] = FUZZ_BASE + (size / 4 & ~7ul);
		(void)hv_stack_unwind(&km, &ks, NULL, regs, fr, G_N_ELEMENTS(fr));
		if (size >= 6 * 1024) {
			HvOrc orc = { .n = 1024 };

			orc.ip = g_new(guint64, orc.n);
			orc.entries = g_memdup2(data + size - 6 * 1024, 6 * 1024);
			for (guint i = 0; i < orc.n; i++)
				orc.ip[i] = FUZZ_BASE + i * 16ull;
			for (int l = 0; l < 2; l++) {
				orc.layout_64 = l;
				(void)hv_stack_unwind(&km, &ks, &orc, regs, fr, G_N_ELEMENTS(fr));
			}
			hv_orc_clear(&orc);
		}
	}
	hv_ksyms_clear(&ks);
	return 0;
}
