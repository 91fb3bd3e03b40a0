/* fuzz-kmem.h — the fuzz input as kernel-virtual memory at FUZZ_BASE, and
 * a VMCOREINFO text built from KEY=VALUE lines (triage's fuzz targets). */
#pragma once
#include <string.h>
#include "hv-pgtable.h"
#include "hv-vmcoreinfo.h"

#define FUZZ_BASE 0xffffffff81000000ull

typedef struct {
	const guint8 *data;
	gsize size;
} FuzzMem;

static gboolean fuzz_read(gpointer ctx, guint64 va, void *buf, gsize len)
{
	const FuzzMem *m = ctx;

	if (va < FUZZ_BASE || va - FUZZ_BASE > m->size || len > m->size - (va - FUZZ_BASE))
		return FALSE;
	memcpy(buf, m->data + (va - FUZZ_BASE), len);
	return TRUE;
}

static void fuzz_vmcoreinfo(HvVmcoreinfo *vi, const char *extra)
{
	g_autofree char *text = g_strdup_printf("OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\n"
						"SYMBOL(swapper_pg_dir)=ffffffff82000000\n"
						"SYMBOL(_stext)=ffffffff81000000\nNUMBER(phys_base)=0\n%s", extra);

	if (!hv_vmcoreinfo_parse((const guint8 *)text, strlen(text), vi, NULL))
		abort();
}
