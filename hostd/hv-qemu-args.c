/* hv-qemu-args.c — QEMU command line augmentation; see hv-qemu-args.h. */
#include "hv-qemu-args.h"

#include <string.h>

#include "hv-machine.h"

#define DEFAULT_RAM (128ull << 20) /* QEMU's default -m */
#define BACKEND_ID "hvdump-ram"

/* "-opt" or "--opt" */
static gboolean is_opt(const char *arg, const char *name)
{
	if (arg[0] != '-')
		return FALSE;
	arg += arg[1] == '-' ? 2 : 1;
	return strcmp(arg, name) == 0;
}

gboolean hv_qemu_parse_mem_size(const char *value, guint64 *bytes_ret, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(value, ",", 16);
	const char *size = NULL;
	guint64 n, mult = 1ull << 20;
	char *end = NULL;
	guint i;

	for (i = 0; parts[i] != NULL; i++) {
		if (g_str_has_prefix(parts[i], "size="))
			size = parts[i] + 5;
		else if (i == 0 && strchr(parts[i], '=') == NULL)
			size = parts[i];
	}
	if (size == NULL || !g_ascii_isdigit(size[0]))
		goto bad;
	n = g_ascii_strtoull(size, &end, 10);
	switch (g_ascii_toupper(*end)) {
	case '\0': break;
	case 'B': mult = 1; break;
	case 'K': mult = 1ull << 10; break;
	case 'M': mult = 1ull << 20; break;
	case 'G': mult = 1ull << 30; break;
	case 'T': mult = 1ull << 40; break;
	default: goto bad;
	}
	if (*end != '\0' && end[1] != '\0' && !(end[1] == 'B' || end[1] == 'b'))
		goto bad;
	if (n == 0 || n > (G_MAXUINT64 / mult))
		goto bad;
	*bytes_ret = n * mult;
	return TRUE;
bad:
	g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "cannot understand -m %s", value);
	return FALSE;
}

char *hv_qemu_guest_name(char **argv)
{
	guint i;

	for (i = 0; argv[i] != NULL && argv[i + 1] != NULL; i++) {
		g_auto(GStrv) parts = NULL;
		guint j;

		if (!is_opt(argv[i], "name"))
			continue;
		parts = g_strsplit(argv[i + 1], ",", 16);
		for (j = 0; parts[j] != NULL; j++) {
			if (g_str_has_prefix(parts[j], "guest="))
				return g_strdup(parts[j] + 6);
			if (j == 0 && strchr(parts[j], '=') == NULL && parts[j][0] != '\0')
				return g_strdup(parts[j]);
		}
	}
	return NULL;
}

GStrv hv_qemu_build_argv(char **user_argv, const char *qmp_socket, GError **error)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	gboolean has_backend = FALSE, has_pvpanic = FALSE, has_vmcoreinfo = FALSE;
	const char *mem = NULL;
	g_autofree char *qmp = NULL;
	guint64 ram = DEFAULT_RAM;
	guint i;

	if (user_argv == NULL || user_argv[0] == NULL) {
		g_set_error(error, HV_ERROR, HV_ERROR_USAGE, "no QEMU command given after --");
		return NULL;
	}
	for (i = 0; user_argv[i] != NULL; i++) {
		const char *a = user_argv[i], *v = user_argv[i + 1];

		g_strv_builder_add(b, a);
		if (v == NULL)
			continue;
		if (is_opt(a, "m"))
			mem = v;
		else if ((is_opt(a, "machine") || is_opt(a, "M")) && strstr(v, "memory-backend=") != NULL)
			has_backend = TRUE;
		else if (is_opt(a, "numa") && strstr(v, "memdev=") != NULL)
			has_backend = TRUE;
		else if (is_opt(a, "device") && (g_str_has_prefix(v, "pvpanic") ||
						  strstr(v, "driver=pvpanic") != NULL))
			has_pvpanic = TRUE;
		else if (is_opt(a, "device") && (g_str_has_prefix(v, "vmcoreinfo") ||
						  strstr(v, "driver=vmcoreinfo") != NULL))
			has_vmcoreinfo = TRUE;
	}
	if (!has_backend) {
		if (mem != NULL && !hv_qemu_parse_mem_size(mem, &ram, error))
			return NULL;
		g_autofree char *obj = g_strdup_printf("memory-backend-memfd,id=" BACKEND_ID
						       ",size=%" G_GUINT64_FORMAT ",share=on", ram);

		g_strv_builder_add(b, "-object");
		g_strv_builder_add(b, obj);
		g_strv_builder_add(b, "-machine");
		g_strv_builder_add(b, "memory-backend=" BACKEND_ID);
	}
	if (!has_pvpanic) {
		g_strv_builder_add(b, "-device");
		g_strv_builder_add(b, "pvpanic");
	}
	if (!has_vmcoreinfo) {
		g_strv_builder_add(b, "-device");
		g_strv_builder_add(b, "vmcoreinfo");
	}
	qmp = g_strdup_printf("unix:%s,server=on,wait=off", qmp_socket);
	g_strv_builder_add(b, "-qmp");
	g_strv_builder_add(b, qmp);
	/* capture needs the guest held after a panic; this comes last to win */
	g_strv_builder_add(b, "-action");
	g_strv_builder_add(b, "panic=pause");
	return g_strv_builder_end(b);
}
