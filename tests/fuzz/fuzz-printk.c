/* fuzz-printk.c — libFuzzer target: the printk ring reader over hostile
 * memory. The input is kernel memory at FUZZ_BASE: a pointer to the ring
 * (SYMBOL(prb)), the ring, its descriptors, infos and text, laid out as
 * mkseeds_triage.py writes them (6.1's offsets). */
#include <stdlib.h>
#include "fuzz-kmem.h"
#include "hv-printk.h"

#define L(o) "ffffffff81" o

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	static HvVmcoreinfo vi;
	static gboolean init;
	FuzzMem fm = { data, size };
	HvKmem km = { fuzz_read, &fm };
	HvPrintkLayout l;
	HvPrintkLog log;

	if (!init) {
		fuzz_vmcoreinfo(&vi, "SYMBOL(prb)=ffffffff81000000\n"
			"OFFSET(printk_ringbuffer.desc_ring)=0\n"
			"OFFSET(printk_ringbuffer.text_data_ring)=48\n"
			"OFFSET(prb_desc_ring.count_bits)=0\nOFFSET(prb_desc_ring.descs)=8\n"
			"OFFSET(prb_desc_ring.infos)=16\nSIZE(prb_desc)=24\n"
			"OFFSET(prb_desc.state_var)=0\nOFFSET(prb_desc.text_blk_lpos)=8\n"
			"OFFSET(prb_data_blk_lpos.begin)=0\nOFFSET(prb_data_blk_lpos.next)=8\n"
			"SIZE(printk_info)=88\nOFFSET(printk_info.seq)=0\n"
			"OFFSET(printk_info.ts_nsec)=8\nOFFSET(printk_info.text_len)=16\n"
			"OFFSET(printk_info.caller_id)=20\nOFFSET(prb_data_ring.size_bits)=0\n"
			"OFFSET(prb_data_ring.data)=8\n");
		init = TRUE;
	}
	if (!hv_printk_layout_from_vmcoreinfo(&vi, &l, NULL))
		abort();
	hv_printk_log_init(&log);
	if (hv_printk_read(&km, &l, &log, NULL)) {
		g_free(hv_printk_format(&log, 0));

		/* records come out sorted and unique */
		for (guint i = 1; i < log.records->len; i++)
			if (g_array_index(log.records, HvPrintkRecord, i - 1).seq >=
			    g_array_index(log.records, HvPrintkRecord, i).seq)
				abort();
	}
	hv_printk_log_clear(&log);
	return 0;
}
