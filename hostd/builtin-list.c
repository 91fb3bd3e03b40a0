/* builtin-list.c — `hvdump list [-c URI] [--json]`: libvirt's domains, their
 * states and whether hvdump can dump them (yes: RAM read directly;
 * fallback: QEMU's own dump-guest-memory; no: not running or not QEMU),
 * then, per domain, what its XML lacks and the XML to add. */
#include <stdio.h>
#include <string.h>

#include "hv-libvirt.h"
#include "hvdump-cli.h"

#define NAME_WIDTH_MAX 40

static void print_json(GPtrArray *doms)
{
	json_object *arr = json_object_new_array();
	guint i, j;

	for (i = 0; i < doms->len; i++) {
		const HvLibvirtDomainInfo *d = g_ptr_array_index(doms, i);
		json_object *o = json_object_new_object();
		json_object *reasons = json_object_new_array();

		json_object_object_add(o, "id", d->id >= 0 ? json_object_new_int(d->id) : NULL);
		json_object_object_add(o, "name", json_object_new_string(d->name));
		json_object_object_add(o, "uuid", json_object_new_string(d->uuid));
		json_object_object_add(o, "state", json_object_new_string(d->state_text));
		json_object_object_add(o, "dump", json_object_new_string(hv_libvirt_dump_name(d->dump)));
		for (j = 0; j < d->reasons->len; j++)
			json_object_array_add(reasons,
					      json_object_new_string(g_ptr_array_index(d->reasons, j)));
		json_object_object_add(o, "reasons", reasons);
		json_object_array_add(arr, o);
	}
	printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(arr);
}

static void print_table(GPtrArray *doms)
{
	int w = 4;
	gboolean notes = FALSE;
	guint i, j;

	for (i = 0; i < doms->len; i++) {
		const HvLibvirtDomainInfo *d = g_ptr_array_index(doms, i);

		w = MAX(w, (int)MIN(strlen(d->name), (gsize)NAME_WIDTH_MAX));
	}
	printf(" %-4s %-*s  %-22s %s\n", "Id", w, "Name", "State", "Dump");
	for (i = 0; i < (guint)w + 40; i++)
		putchar('-');
	putchar('\n');
	for (i = 0; i < doms->len; i++) {
		const HvLibvirtDomainInfo *d = g_ptr_array_index(doms, i);
		g_autofree char *id = d->id >= 0 ? g_strdup_printf("%d", d->id) : g_strdup("-");

		printf(" %-4s %-*s  %-22s %s\n", id, w, d->name, d->state_text,
		       hv_libvirt_dump_name(d->dump));
		notes |= d->reasons->len > 0;
	}
	if (!notes)
		return;
	for (i = 0; i < doms->len; i++) {
		const HvLibvirtDomainInfo *d = g_ptr_array_index(doms, i);

		if (d->reasons->len == 0)
			continue;
		printf("\n%s (dump: %s):\n", d->name, hv_libvirt_dump_name(d->dump));
		for (j = 0; j < d->reasons->len; j++)
			printf("  - %s\n", (const char *)g_ptr_array_index(d->reasons, j));
	}
}

int hv_cmd_list(int argc, char **argv)
{
	g_autofree char *uri = NULL;
	gboolean as_json = FALSE;
	const GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &uri,
		  "libvirt URI (default: libvirt's default URI)", "URI" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "print the list as JSON", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(HvLibvirt) lv = NULL;
	g_autoptr(GPtrArray) doms = NULL;

	g_option_context_set_summary(ctx, "List libvirt's domains and whether hvdump can dump them:\n"
				     "yes (guest RAM read directly), fallback (QEMU's own, slower "
				     "dump-guest-memory),\nno (not running or not QEMU); then what "
				     "each domain's XML lacks and the XML to add.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		hv_cli_error("list: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (argc > 1) {
		hv_cli_error("list: unexpected argument '%s' (usage: hvdump list [-c URI] [--json])",
			     argv[1]);
		return HV_EXIT_USAGE;
	}
	lv = hv_libvirt_open(uri, &error);
	if (lv != NULL)
		doms = hv_libvirt_list(lv, &error);
	if (doms == NULL) {
		hv_cli_error("list: %s", error->message);
		return HV_EXIT_FAILURE;
	}
	if (as_json)
		print_json(doms);
	else
		print_table(doms);
	return HV_EXIT_OK;
}
