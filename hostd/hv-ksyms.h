/* hv-ksyms.h — guest kernel symbols without a vmlinux.
 *
 * Owns: decoding the kernel's own kallsyms tables (kallsyms_names,
 * kallsyms_token_table/_index, kallsyms_offsets + kallsyms_relative_base or
 * kallsyms_addresses, kallsyms_num_syms; VMCOREINFO says where, 6.0+),
 * proving the decoding right (the decoded _stext must be VMCOREINFO's),
 * loaded modules' symbols (the `modules` list; each module's core
 * mod_kallsyms, found inside struct module by its shape — no debug info
 * gives its offset), and address → func+off/size lookups. All of it is
 * hostile input: counts, lengths and indices are capped, lists are walked a
 * bounded number of steps, names are printable or dropped.
 */
#pragma once

#include <glib.h>
#include "hv-pgtable.h"
#include "hv-vmcoreinfo.h"

G_BEGIN_DECLS

#define HV_KSYMS_MAX_SYMS (1u << 21)
#define HV_KSYMS_MAX_NAME 256
#define HV_KSYMS_MAX_MODULES 1024
#define HV_KSYMS_MAX_MODULE_SYMS 65536

typedef struct {
	guint64 addr;
	guint32 name;    /* offset into names */
	guint16 module;  /* 0: vmlinux, else index + 1 into modules */
	char type;       /* kallsyms type letter */
} HvKsym;

typedef struct {
	GArray *syms;            /* HvKsym sorted by address */
	GString *names;          /* NUL-separated names */
	GPtrArray *modules;      /* char*: module names */
	GHashTable *by_name;     /* vmlinux name → index in syms (first seen) */
	guint64 stext, etext, kernel_end;
	gboolean have_kernel;    /* kallsyms decoded and checked */
	GPtrArray *warnings;     /* char*, one line each */
} HvKsyms;

void hv_ksyms_init(HvKsyms *ks);
void hv_ksyms_clear(HvKsyms *ks);

/* The kernel's own table. FALSE (error says why) when VMCOREINFO lacks the
 * keys or what they point at is unreadable or contradicts VMCOREINFO. */
gboolean hv_ksyms_read_kernel(HvKsyms *ks, const HvKmem *m, const HvVmcoreinfo *vi,
			      GError **error);

/* Loaded modules' symbols (needs the kernel's table for `modules`); what
 * cannot be read becomes a warning. Returns the number of modules read. */
guint hv_ksyms_read_modules(HvKsyms *ks, const HvKmem *m);

/* Address of a vmlinux symbol by name; 0 when absent. */
guint64 hv_ksyms_lookup_name(const HvKsyms *ks, const char *name);

/* The symbol holding addr: its name, *off_ret from its start, *size_ret up
 * to the next symbol, *module_ret NULL for vmlinux. NULL when none does. */
const char *hv_ksyms_lookup(const HvKsyms *ks, guint64 addr, guint64 *off_ret, guint64 *size_ret,
			    const char **module_ret);

/* Whether addr is inside kernel or module text. */
gboolean hv_ksyms_is_text(const HvKsyms *ks, guint64 addr);

/* "func+0x1c/0x80 [module]" or "0xffffffff81000000" — newly allocated. */
char *hv_ksyms_format(const HvKsyms *ks, guint64 addr);

G_END_DECLS
