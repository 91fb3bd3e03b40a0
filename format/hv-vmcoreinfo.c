/* hv-vmcoreinfo.c — VMCOREINFO note and text parser; see hv-vmcoreinfo.h. */
#include "hv-vmcoreinfo.h"

#include <string.h>

#include "hv-error.h"

#define MAX_KEY 128
#define MAX_VALUE 512

void hv_vmcoreinfo_clear(HvVmcoreinfo *vi)
{
	g_free(vi->text);
	memset(vi, 0, sizeof(*vi));
}

gboolean hv_vmcoreinfo_note_header(const guint8 *p, gsize avail, guint32 *descsz_ret)
{
	guint32 namesz, descsz, type;

	if (avail < HV_VMCOREINFO_DESC_OFFSET)
		return FALSE;
	memcpy(&namesz, p, 4);
	memcpy(&descsz, p + 4, 4);
	memcpy(&type, p + 8, 4);
	namesz = GUINT32_FROM_LE(namesz);
	descsz = GUINT32_FROM_LE(descsz);
	type = GUINT32_FROM_LE(type);
	if (namesz != 11 || type != 0 || memcmp(p + 12, "VMCOREINFO\0", 11) != 0)
		return FALSE;
	if (descsz == 0 || descsz > HV_VMCOREINFO_MAX_DESC ||
	    descsz > avail - HV_VMCOREINFO_DESC_OFFSET)
		return FALSE;
	*descsz_ret = descsz;
	return TRUE;
}

static gboolean parse_hex_value(const char *v, guint64 *out)
{
	gsize n = strlen(v);

	if (n == 0 || n > 16 || strspn(v, "0123456789abcdefABCDEF") != n)
		return FALSE;
	return g_ascii_string_to_unsigned(v, 16, 0, G_MAXUINT64, out, NULL);
}

static gboolean parse_dec_value(const char *v, gint64 *out)
{
	return g_ascii_string_to_signed(v, 10, G_MININT64, G_MAXINT64, out, NULL);
}

gboolean hv_vmcoreinfo_parse(const guint8 *desc, gsize len, HvVmcoreinfo *vi, GError **error)
{
	g_autofree char *text = NULL;
	const char *p, *end;
	guint lines = 0;
	gboolean have_pagesize = FALSE, have_stext = FALSE, have_swapper = FALSE;
	gsize i;

	memset(vi, 0, sizeof(*vi));
	if (len > HV_VMCOREINFO_MAX_DESC) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "VMCOREINFO: %zu bytes, too large", len);
		return FALSE;
	}
	/* the kernel pads with NULs; the text ends at the first one */
	for (i = 0; i < len && desc[i] != '\0'; i++) {
		guint8 c = desc[i];

		if (c != '\n' && (c < 0x20 || c > 0x7e)) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "VMCOREINFO: non-printable byte 0x%02x at offset %zu", c, i);
			return FALSE;
		}
	}
	len = i;
	text = g_strndup((const char *)desc, len);
	for (p = text, end = text + len; p < end; lines++) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		const char *eq;
		gsize klen, vlen;
		char key[MAX_KEY + 1], val[MAX_VALUE + 1];

		if (nl == NULL)
			nl = end;
		if (lines >= HV_VMCOREINFO_MAX_LINES) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "VMCOREINFO: more than %d lines",
				    HV_VMCOREINFO_MAX_LINES);
			return FALSE;
		}
		if (nl == p) {
			p = nl + 1;
			continue;
		}
		eq = memchr(p, '=', (gsize)(nl - p));
		if (eq == NULL || eq == p) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "VMCOREINFO: line %u is not KEY=VALUE", lines + 1);
			return FALSE;
		}
		klen = (gsize)(eq - p);
		vlen = (gsize)(nl - eq - 1);
		if (klen > MAX_KEY || vlen > MAX_VALUE) {
			g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
				    "VMCOREINFO: line %u too long", lines + 1);
			return FALSE;
		}
		memcpy(key, p, klen);
		key[klen] = '\0';
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		p = nl < end ? nl + 1 : end;

#define BAD(what)                                                                           \
	do {                                                                                \
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "VMCOREINFO: bad %s value '%.40s'", \
			    what, val);                                                     \
		return FALSE;                                                               \
	} while (0)
		if (strcmp(key, "OSRELEASE") == 0) {
			if (vlen == 0 || vlen >= sizeof(vi->osrelease))
				BAD("OSRELEASE");
			memcpy(vi->osrelease, val, vlen + 1);
		} else if (strcmp(key, "BUILD-ID") == 0) {
			if (vlen >= sizeof(vi->build_id) || strspn(val, "0123456789abcdef") != vlen)
				BAD("BUILD-ID");
			memcpy(vi->build_id, val, vlen + 1);
		} else if (strcmp(key, "PAGESIZE") == 0) {
			gint64 v;

			if (!parse_dec_value(val, &v) || v != 4096)
				BAD("PAGESIZE");
			vi->pagesize = (guint64)v;
			have_pagesize = TRUE;
		} else if (strcmp(key, "SYMBOL(_stext)") == 0) {
			if (!parse_hex_value(val, &vi->stext) || vi->stext < HV_START_KERNEL_MAP)
				BAD("SYMBOL(_stext)");
			have_stext = TRUE;
		} else if (strcmp(key, "SYMBOL(swapper_pg_dir)") == 0) {
			if (!parse_hex_value(val, &vi->swapper_pg_dir) ||
			    vi->swapper_pg_dir < HV_START_KERNEL_MAP)
				BAD("SYMBOL(swapper_pg_dir)");
			have_swapper = TRUE;
		} else if (strcmp(key, "SYMBOL(init_uts_ns)") == 0) {
			if (!parse_hex_value(val, &vi->init_uts_ns) ||
			    vi->init_uts_ns < HV_START_KERNEL_MAP)
				BAD("SYMBOL(init_uts_ns)");
		} else if (strcmp(key, "KERNELOFFSET") == 0) {
			if (!parse_hex_value(val, &vi->kerneloffset) || vi->kerneloffset >= (1ull << 30))
				BAD("KERNELOFFSET");
			vi->has_kerneloffset = TRUE;
		} else if (strcmp(key, "NUMBER(phys_base)") == 0) {
			if (!parse_dec_value(val, &vi->phys_base))
				BAD("NUMBER(phys_base)");
			vi->has_phys_base = TRUE;
		} else if (strcmp(key, "NUMBER(pgtable_l5_enabled)") == 0) {
			gint64 v;

			if (!parse_dec_value(val, &v) || (v != 0 && v != 1))
				BAD("NUMBER(pgtable_l5_enabled)");
			vi->pgtable_l5 = v == 1;
		}
#undef BAD
	}
	if (vi->osrelease[0] == '\0' || !have_pagesize || !have_stext || !have_swapper ||
	    !vi->has_phys_base) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE,
			    "VMCOREINFO: missing %s",
			    vi->osrelease[0] == '\0' ? "OSRELEASE" : !have_pagesize ? "PAGESIZE" :
			    !have_stext ? "SYMBOL(_stext)" : !have_swapper ? "SYMBOL(swapper_pg_dir)" :
			    "NUMBER(phys_base)");
		return FALSE;
	}
	vi->text = g_steal_pointer(&text);
	vi->text_len = len;
	return TRUE;
}

guint64 hv_vmcoreinfo_kimage_pa(const HvVmcoreinfo *vi, guint64 vaddr)
{
	return vaddr - HV_START_KERNEL_MAP + (guint64)vi->phys_base;
}

char *hv_vmcoreinfo_text_with(const HvVmcoreinfo *vi, const char *const *extra_lines)
{
	GString *s = g_string_new_len(vi->text, (gssize)vi->text_len);
	guint i;

	if (s->len > 0 && s->str[s->len - 1] != '\n')
		g_string_append_c(s, '\n');
	for (i = 0; extra_lines != NULL && extra_lines[i] != NULL; i++) {
		g_string_append(s, extra_lines[i]);
		g_string_append_c(s, '\n');
	}
	return g_string_free(s, FALSE);
}

gboolean hv_vmcoreinfo_lookup(const HvVmcoreinfo *vi, const char *key, gboolean hex, gint64 *ret)
{
	gsize kl = strlen(key);
	const char *p = vi->text;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1;
			char *end = NULL;
			gint64 n;

			if (hex) {
				n = (gint64)g_ascii_strtoull(v, &end, 16);
			} else {
				n = g_ascii_strtoll(v, &end, 10);
			}
			if (end == v || (end != NULL && *end != '\n' && *end != '\0'))
				return FALSE;
			*ret = n;
			return TRUE;
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
	return FALSE;
}
