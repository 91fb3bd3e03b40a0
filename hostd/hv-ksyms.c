/* hv-ksyms.c — kallsyms and module symbols; see hv-ksyms.h. */
#include "hv-ksyms.h"

#include <string.h>

#include "hv-error.h"

#define MODULES_START 0xffffffffa0000000ull
#define MODULES_END 0xffffffffff000000ull
#define STRUCT_MODULE_SCAN 4096
#define MOD_LIST_OFF 8     /* struct module: enum state; struct list_head list; */
#define MOD_NAME_OFF 24    /* ... char name[MODULE_NAME_LEN] (56) */
#define MOD_NAME_LEN 56
#define TOKEN_MAX 64
#define NAMES_MAX_BYTES (32u << 20)

void hv_ksyms_init(HvKsyms *ks)
{
	memset(ks, 0, sizeof(*ks));
	ks->syms = g_array_new(FALSE, FALSE, sizeof(HvKsym));
	ks->names = g_string_new(NULL);
	ks->modules = g_ptr_array_new_with_free_func(g_free);
	ks->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	ks->warnings = g_ptr_array_new_with_free_func(g_free);
}

void hv_ksyms_clear(HvKsyms *ks)
{
	if (ks->syms != NULL)
		g_array_unref(ks->syms);
	if (ks->names != NULL)
		g_string_free(ks->names, TRUE);
	if (ks->modules != NULL)
		g_ptr_array_unref(ks->modules);
	if (ks->by_name != NULL)
		g_hash_table_unref(ks->by_name);
	if (ks->warnings != NULL)
		g_ptr_array_unref(ks->warnings);
	memset(ks, 0, sizeof(*ks));
}

/* Sequential byte reads of guest memory through a one-page cache. */
typedef struct {
	const HvKmem *m;
	guint64 page;
	gboolean valid;
	guint8 buf[4096];
} Cursor;

static gboolean get_byte(Cursor *c, guint64 va, guint8 *ret)
{
	guint64 page = va & ~4095ull;

	if (!c->valid || c->page != page) {
		c->valid = hv_kmem_read(c->m, page, c->buf, sizeof(c->buf));
		c->page = page;
		if (!c->valid)
			return FALSE;
	}
	*ret = c->buf[va & 4095];
	return TRUE;
}

static gboolean printable_name(const char *s)
{
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++)
		if ((guchar)*s <= 0x20 || (guchar)*s >= 0x7f)
			return FALSE;
	return TRUE;
}

static void add_sym(HvKsyms *ks, guint64 addr, const char *name, char type, guint16 module)
{
	HvKsym s = { .addr = addr, .name = (guint32)ks->names->len, .module = module, .type = type };

	g_string_append_len(ks->names, name, (gssize)strlen(name) + 1);
	g_array_append_val(ks->syms, s);
}

static int cmp_addr(gconstpointer a, gconstpointer b)
{
	const HvKsym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* aliases: text symbols first, then vmlinux before modules */
	if ((x->type == 't' || x->type == 'T') != (y->type == 't' || y->type == 'T'))
		return (x->type == 't' || x->type == 'T') ? -1 : 1;
	return (int)x->module - (int)y->module;
}

static void finish(HvKsyms *ks)
{
	g_array_sort(ks->syms, cmp_addr);
	g_hash_table_remove_all(ks->by_name);
	for (guint i = 0; i < ks->syms->len; i++) {
		const HvKsym *s = &g_array_index(ks->syms, HvKsym, i);
		const char *n = ks->names->str + s->name;

		if (s->module == 0 && !g_hash_table_contains(ks->by_name, n))
			g_hash_table_insert(ks->by_name, g_strdup(n), GUINT_TO_POINTER(i));
	}
}

static gboolean key(const HvVmcoreinfo *vi, const char *k, guint64 *ret)
{
	gint64 v;

	if (!hv_vmcoreinfo_lookup(vi, k, TRUE, &v))
		return FALSE;
	*ret = (guint64)v;
	return TRUE;
}

typedef enum { ADDR_ABSOLUTE_PERCPU, ADDR_RELATIVE, ADDR_ABSOLUTE } AddrMode;

static guint64 sym_address(AddrMode mode, gint32 off, guint64 base, guint64 abs)
{
	switch (mode) {
	case ADDR_ABSOLUTE_PERCPU:
		return off >= 0 ? (guint64)off : base - 1 - (guint64)(gint64)off;
	case ADDR_RELATIVE:
		return base + (guint32)off;
	default:
		return abs;
	}
}

gboolean hv_ksyms_read_kernel(HvKsyms *ks, const HvKmem *m, const HvVmcoreinfo *vi,
			      GError **error)
{
	guint64 a_names, a_num, a_ttable, a_tindex, a_offsets = 0, a_base = 0, a_addrs = 0;
	guint64 base = 0, pos, stext_idx = G_MAXUINT64;
	guint32 num;
	guint16 tindex[256];
	char tokens[256][TOKEN_MAX + 1];
	gint32 *offs = NULL;
	guint64 *abs = NULL;
	char **names = NULL;
	char *types = NULL;
	Cursor *cur = NULL;
	AddrMode mode;
	gboolean ok = FALSE;

	if (!key(vi, "SYMBOL(kallsyms_names)", &a_names) ||
	    !key(vi, "SYMBOL(kallsyms_num_syms)", &a_num) ||
	    !key(vi, "SYMBOL(kallsyms_token_table)", &a_ttable) ||
	    !key(vi, "SYMBOL(kallsyms_token_index)", &a_tindex) ||
	    !((key(vi, "SYMBOL(kallsyms_offsets)", &a_offsets) &&
	       key(vi, "SYMBOL(kallsyms_relative_base)", &a_base)) ||
	      key(vi, "SYMBOL(kallsyms_addresses)", &a_addrs))) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kallsyms: VMCOREINFO does not say where the tables are (kernel before 6.0?)");
		return FALSE;
	}
	if (!hv_kmem_u32(m, a_num, &num) || !hv_kmem_read(m, a_tindex, tindex, sizeof(tindex)) ||
	    (a_offsets != 0 && !hv_kmem_u64(m, a_base, &base))) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kallsyms: tables not readable");
		return FALSE;
	}
	if (num == 0 || num > HV_KSYMS_MAX_SYMS) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kallsyms: %u symbols is not a plausible count", num);
		return FALSE;
	}
	cur = g_new0(Cursor, 1);
	cur->m = m;
	/* the 256 tokens, each NUL-terminated within TOKEN_MAX bytes */
	for (guint t = 0; t < 256; t++) {
		guint n = 0;
		guint8 c = 1;

		while (n < TOKEN_MAX && get_byte(cur, a_ttable + tindex[t] + n, &c) && c != 0)
			tokens[t][n++] = (char)c;
		tokens[t][n] = '\0';
		if (c != 0) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "kallsyms: token %u unreadable or unterminated", t);
			goto out;
		}
	}
	if (a_offsets != 0) {
		offs = g_try_new(gint32, num);
		if (offs == NULL || !hv_kmem_read(m, a_offsets, offs, (gsize)num * 4)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kallsyms: offsets not readable");
			goto out;
		}
	} else {
		abs = g_try_new(guint64, num);
		if (abs == NULL || !hv_kmem_read(m, a_addrs, abs, (gsize)num * 8)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "kallsyms: addresses not readable");
			goto out;
		}
	}
	/* names: <len>[<len hi>] then len token indices; type letter first */
	names = g_new0(char *, num);
	types = g_new0(char, num);
	pos = a_names;
	for (guint32 i = 0; i < num; i++) {
		char buf[HV_KSYMS_MAX_NAME + TOKEN_MAX + 1];
		guint n = 0;
		guint8 b, b2;
		guint len;

		if (pos - a_names > NAMES_MAX_BYTES) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "kallsyms: names longer than %u bytes", NAMES_MAX_BYTES);
			goto out;
		}
		if (!get_byte(cur, pos++, &b))
			goto unreadable;
		len = b;
		if (b & 0x80) {
			if (!get_byte(cur, pos++, &b2))
				goto unreadable;
			len = (b & 0x7f) | ((guint)b2 << 7);
		}
		for (guint j = 0; j < len; j++) {
			if (!get_byte(cur, pos++, &b))
				goto unreadable;
			if (n < HV_KSYMS_MAX_NAME) {
				gsize tl = strlen(tokens[b]);

				memcpy(buf + n, tokens[b], tl);
				n += (guint)tl;
			}
		}
		buf[MIN(n, (guint)HV_KSYMS_MAX_NAME)] = '\0';
		if (n < 2 || !printable_name(buf)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "kallsyms: symbol %u does not decode to a name", i);
			goto out;
		}
		types[i] = buf[0];
		names[i] = g_strdup(buf + 1);
		if (stext_idx == G_MAXUINT64 && strcmp(names[i], "_stext") == 0)
			stext_idx = i;
	}
	if (stext_idx == G_MAXUINT64) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kallsyms: no _stext among the symbols");
		goto out;
	}
	/* which encoding: the one that puts _stext where VMCOREINFO says */
	if (offs == NULL)
		mode = ADDR_ABSOLUTE;
	else if (sym_address(ADDR_ABSOLUTE_PERCPU, offs[stext_idx], base, 0) == vi->stext)
		mode = ADDR_ABSOLUTE_PERCPU;
	else
		mode = ADDR_RELATIVE;
	if (sym_address(mode, offs ? offs[stext_idx] : 0, base, abs ? abs[stext_idx] : 0) !=
	    vi->stext) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "kallsyms: the tables put _stext elsewhere than VMCOREINFO does");
		goto out;
	}
	for (guint32 i = 0; i < num; i++) {
		guint64 a = sym_address(mode, offs ? offs[i] : 0, base, abs ? abs[i] : 0);

		add_sym(ks, a, names[i], types[i], 0);
		if (strcmp(names[i], "_etext") == 0)
			ks->etext = a;
		else if (strcmp(names[i], "_end") == 0)
			ks->kernel_end = a;
	}
	ks->stext = vi->stext;
	if (ks->etext <= ks->stext)
		ks->etext = ks->stext + (64ull << 20);
	if (ks->kernel_end <= ks->etext)
		ks->kernel_end = ks->etext;
	ks->have_kernel = TRUE;
	finish(ks);
	ok = TRUE;
	goto out;
unreadable:
	g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "kallsyms: names unreadable");
out:
	if (names != NULL)
		for (guint32 i = 0; i < num; i++)
			g_free(names[i]);
	g_free(names);
	g_free(types);
	g_free(offs);
	g_free(abs);
	g_free(cur);
	return ok;
}

static gboolean in_modules(guint64 a)
{
	return a >= MODULES_START && a < MODULES_END;
}

/* struct mod_kallsyms { Elf64_Sym *symtab; unsigned num_symtab; char *strtab;
 * char *typetab; } — after init the module's kallsyms pointer points at
 * its core copy inside struct module itself: that self-reference, three
 * module-space pointers and a plausible count identify it. */
static gboolean find_mod_kallsyms(const guint8 *mod, gsize len, guint64 mod_va, guint64 *symtab,
				  guint32 *num, guint64 *strtab, guint64 *typetab)
{
	for (gsize o = MOD_NAME_OFF + MOD_NAME_LEN; o + 8 <= len; o += 8) {
		guint64 p, st, s, t;
		guint32 n;
		gsize k;

		memcpy(&p, mod + o, 8);
		if (p < mod_va || p - mod_va < MOD_NAME_OFF + MOD_NAME_LEN || p - mod_va + 32 > len ||
		    ((p - mod_va) & 7))
			continue;
		k = (gsize)(p - mod_va);
		memcpy(&st, mod + k, 8);
		memcpy(&n, mod + k + 8, 4);
		memcpy(&s, mod + k + 16, 8);
		memcpy(&t, mod + k + 24, 8);
		if (in_modules(st) && in_modules(s) && in_modules(t) && n > 0 &&
		    n <= HV_KSYMS_MAX_MODULE_SYMS) {
			*symtab = st;
			*num = n;
			*strtab = s;
			*typetab = t;
			return TRUE;
		}
	}
	return FALSE;
}

static guint read_module_syms(HvKsyms *ks, const HvKmem *m, guint16 module, guint64 symtab,
			      guint32 num, guint64 strtab, guint64 typetab)
{
	g_autofree guint8 *tab = g_try_malloc((gsize)num * 24);
	g_autofree char *types = g_try_malloc(num);
	Cursor *cur = g_new0(Cursor, 1);
	guint added = 0;

	cur->m = m;
	/* all modules together: no more symbols than the kernel may have */
	if (ks->syms->len > 2 * HV_KSYMS_MAX_SYMS) {
		g_free(cur);
		return 0;
	}
	if (tab == NULL || types == NULL || !hv_kmem_read(m, symtab, tab, (gsize)num * 24) ||
	    !hv_kmem_read(m, typetab, types, num)) {
		g_free(cur);
		return 0;
	}
	for (guint32 i = 0; i < num; i++) {
		guint32 st_name;
		guint64 value;
		char name[HV_KSYMS_MAX_NAME + 1];
		guint n = 0;
		guint8 c = 1;

		memcpy(&st_name, tab + (gsize)i * 24, 4);
		memcpy(&value, tab + (gsize)i * 24 + 8, 8);
		if (st_name == 0 || st_name > (16u << 20) || !in_modules(value))
			continue;
		while (n < HV_KSYMS_MAX_NAME && get_byte(cur, strtab + st_name + n, &c) && c != 0)
			name[n++] = (char)c;
		name[n] = '\0';
		if (c != 0 || !printable_name(name))
			continue;
		add_sym(ks, value, name, g_ascii_isalpha(types[i]) ? types[i] : '?', module);
		added++;
	}
	g_free(cur);
	return added;
}

guint hv_ksyms_read_modules(HvKsyms *ks, const HvKmem *m)
{
	guint64 head = hv_ksyms_lookup_name(ks, "modules");
	guint64 next;
	guint n = 0;

	if (head == 0 || !hv_kmem_u64(m, head, &next)) {
		g_ptr_array_add(ks->warnings, g_strdup("modules: the module list is not readable"));
		return 0;
	}
	/* bounded walk: a looping or forged list ends at the cap */
	while (next != head && n < HV_KSYMS_MAX_MODULES) {
		guint64 mod = next - MOD_LIST_OFF;
		guint8 buf[STRUCT_MODULE_SCAN];
		gsize len = 0;
		char name[MOD_NAME_LEN + 1];
		guint64 symtab, strtab, typetab;
		guint32 num;

		/* struct module may end before a page boundary: read what maps */
		while (len < sizeof(buf)) {
			gsize chunk = 4096 - ((mod + len) & 4095);

			chunk = MIN(chunk, sizeof(buf) - len);
			if (!hv_kmem_read(m, mod + len, buf + len, chunk))
				break;
			len += chunk;
		}
		if (len < MOD_NAME_OFF + MOD_NAME_LEN) {
			g_ptr_array_add(ks->warnings,
					g_strdup_printf("modules: list entry 0x%" G_GINT64_MODIFIER
							"x not readable; list walk stopped", next));
			break;
		}
		memcpy(name, buf + MOD_NAME_OFF, MOD_NAME_LEN);
		name[MOD_NAME_LEN] = '\0';
		if (!printable_name(name)) {
			g_ptr_array_add(ks->warnings,
					g_strdup("modules: a list entry has no printable name; list walk stopped"));
			break;
		}
		g_ptr_array_add(ks->modules, g_strdup(name));
		n++;
		if (!find_mod_kallsyms(buf, len, mod, &symtab, &num, &strtab, &typetab) ||
		    read_module_syms(ks, m, (guint16)ks->modules->len, symtab, num, strtab,
				     typetab) == 0)
			g_ptr_array_add(ks->warnings,
					g_strdup_printf("modules: %s: symbols not found", name));
		memcpy(&next, buf + MOD_LIST_OFF, 8);
	}
	if (n == HV_KSYMS_MAX_MODULES)
		g_ptr_array_add(ks->warnings,
				g_strdup_printf("modules: more than %u entries; the rest ignored",
						HV_KSYMS_MAX_MODULES));
	finish(ks);
	return n;
}

guint64 hv_ksyms_lookup_name(const HvKsyms *ks, const char *name)
{
	gpointer v;

	if (!g_hash_table_lookup_extended(ks->by_name, name, NULL, &v))
		return 0;
	return g_array_index(ks->syms, HvKsym, GPOINTER_TO_UINT(v)).addr;
}

/* Index of the first symbol above addr (syms->len when none): O(log n),
 * however many aliases a hostile table piles on one address. */
static guint upper_bound(const HvKsyms *ks, guint64 addr)
{
	guint lo = 0, hi = ks->syms->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;

		if (g_array_index(ks->syms, HvKsym, mid).addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first symbol at the highest address at or below addr, or -1
 * (among aliases the first sorted: text, vmlinux). */
static gint64 find(const HvKsyms *ks, guint64 addr)
{
	guint ub = upper_bound(ks, addr);
	guint64 at;

	if (ub == 0)
		return -1;
	at = g_array_index(ks->syms, HvKsym, ub - 1).addr;
	if (at == 0)
		return (gint64)0;
	return (gint64)upper_bound(ks, at - 1);
}

const char *hv_ksyms_lookup(const HvKsyms *ks, guint64 addr, guint64 *off_ret, guint64 *size_ret,
			    const char **module_ret)
{
	gint64 i = find(ks, addr);
	const HvKsym *s;
	guint64 end = 0;

	if (i < 0)
		return NULL;
	s = &g_array_index(ks->syms, HvKsym, i);
	{
		guint j = upper_bound(ks, s->addr);

		if (j < ks->syms->len)
			end = g_array_index(ks->syms, HvKsym, j).addr;
	}
	if (s->module == 0) {
		if (!ks->have_kernel || addr >= ks->kernel_end || addr < ks->stext - (16ull << 20))
			return NULL;
		if (end == 0 || end > ks->kernel_end)
			end = ks->kernel_end;
	} else if (end == 0 || end - s->addr > (1u << 20)) {
		end = s->addr + 4096; /* the module's last symbol: size unknown */
	}
	if (addr >= end)
		return NULL;
	if (off_ret != NULL)
		*off_ret = addr - s->addr;
	if (size_ret != NULL)
		*size_ret = end - s->addr;
	if (module_ret != NULL)
		*module_ret = s->module == 0 ? NULL :
			      (const char *)g_ptr_array_index(ks->modules, s->module - 1);
	return ks->names->str + s->name;
}

gboolean hv_ksyms_is_text(const HvKsyms *ks, guint64 addr)
{
	gint64 i;
	const HvKsym *s;

	if (ks->have_kernel && addr >= ks->stext && addr < ks->etext)
		return TRUE;
	if (!in_modules(addr))
		return FALSE;
	i = find(ks, addr);
	if (i < 0)
		return FALSE;
	s = &g_array_index(ks->syms, HvKsym, i);
	return s->module != 0 && (s->type == 't' || s->type == 'T') &&
	       hv_ksyms_lookup(ks, addr, NULL, NULL, NULL) != NULL;
}

char *hv_ksyms_format(const HvKsyms *ks, guint64 addr)
{
	guint64 off, size;
	const char *mod;
	const char *name = hv_ksyms_lookup(ks, addr, &off, &size, &mod);

	if (name == NULL)
		return g_strdup_printf("0x%016" G_GINT64_MODIFIER "x", addr);
	if (mod != NULL)
		return g_strdup_printf("%s+0x%" G_GINT64_MODIFIER "x/0x%" G_GINT64_MODIFIER "x [%s]",
				       name, off, size, mod);
	return g_strdup_printf("%s+0x%" G_GINT64_MODIFIER "x/0x%" G_GINT64_MODIFIER "x", name, off,
			       size);
}
