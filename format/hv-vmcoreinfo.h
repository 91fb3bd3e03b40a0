/* hv-vmcoreinfo.h — VMCOREINFO: the kernel's self-description, parsed as
 * hostile input.
 *
 * Owns: the ELF note framing ("VMCOREINFO" note at a page start), the
 * KEY=VALUE text (printable ASCII only, capped line count and lengths,
 * strictly parsed numbers), and the fields hvdump needs from it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HV_VMCOREINFO_MAX_DESC (64u * 1024)
#define HV_VMCOREINFO_MAX_LINES 4096
#define HV_START_KERNEL_MAP 0xffffffff80000000ull

typedef struct {
	char *text;            /* the validated text, NUL-terminated, as found */
	gsize text_len;
	char osrelease[65];
	guint64 pagesize;
	guint64 stext;         /* SYMBOL(_stext) */
	guint64 swapper_pg_dir;
	guint64 init_uts_ns;   /* 0 when absent */
	gboolean has_kerneloffset;
	guint64 kerneloffset;
	gboolean has_phys_base;
	gint64 phys_base;      /* NUMBER(phys_base), signed decimal */
	gboolean pgtable_l5;   /* NUMBER(pgtable_l5_enabled)=1 */
	char build_id[129];
} HvVmcoreinfo;

void hv_vmcoreinfo_clear(HvVmcoreinfo *vi);

/* Parses the note's text (desc of the note). Fails when required keys are
 * missing or anything is malformed. */
gboolean hv_vmcoreinfo_parse(const guint8 *desc, gsize len, HvVmcoreinfo *vi, GError **error);

/* Checks for a VMCOREINFO ELF note header at p (avail bytes readable);
 * returns its descsz via *descsz_ret and the desc offset (24). */
gboolean hv_vmcoreinfo_note_header(const guint8 *p, gsize avail, guint32 *descsz_ret);
#define HV_VMCOREINFO_DESC_OFFSET 24u

/* Physical address of a kernel-image virtual address. */
guint64 hv_vmcoreinfo_kimage_pa(const HvVmcoreinfo *vi, guint64 vaddr);

/* Returns a newly allocated string: the text with extra lines appended
 * (each "KEY=VALUE"), for the dump's note. */
char *hv_vmcoreinfo_text_with(const HvVmcoreinfo *vi, const char *const *extra_lines);

/* The value of KEY=VALUE in the validated text (hex for addresses, else
 * signed decimal); FALSE when absent or not a number. */
gboolean hv_vmcoreinfo_lookup(const HvVmcoreinfo *vi, const char *key, gboolean hex, gint64 *ret);

G_END_DECLS
