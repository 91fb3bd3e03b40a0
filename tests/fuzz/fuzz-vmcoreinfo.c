/* fuzz-vmcoreinfo.c — libFuzzer target: VMCOREINFO note header and text. */
#include "hv-vmcoreinfo.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	HvVmcoreinfo vi;
	guint32 descsz;

	if (hv_vmcoreinfo_note_header(data, size, &descsz) &&
	    hv_vmcoreinfo_parse(data + HV_VMCOREINFO_DESC_OFFSET, descsz, &vi, NULL)) {
		const char *extra[] = { "CRASHTIME=1", NULL };

		g_free(hv_vmcoreinfo_text_with(&vi, extra));
		hv_vmcoreinfo_clear(&vi);
	}
	if (hv_vmcoreinfo_parse(data, size, &vi, NULL))
		hv_vmcoreinfo_clear(&vi);
	return 0;
}
