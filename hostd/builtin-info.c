/* builtin-info.c — `hvdump info FILE [--json]`: what a vmcore holds. Any
 * dump hvdump reads: format, compression, dump level, whether it is
 * complete, CPUs, kernel release, VMCOREINFO keys, and its pages by class:
 * every frame's class is read from the dump's own struct pages (as
 * makedumpfile would decide it), next to whether the dump holds it, and
 * the pages it holds are read to count the all-zero ones. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "hv-dumpfile.h"
#include "hv-kernel.h"
#include "hv-pageclass.h"
#include "hv-pagesel.h"
#include "hvdump-cli.h"

typedef struct {
	guint64 frames[HV_PAGE_NCLASS];   /* by struct page ([ZERO]: unused) */
	guint64 present[HV_PAGE_NCLASS];
	guint64 zero_present;             /* pages in the dump that are all zero */
	guint64 ram, present_all;
	gboolean classified;
	char *class_error;
} Counts;

static char **vmcoreinfo_keys(const char *text, gsize len)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	g_auto(GStrv) lines = g_strsplit(text != NULL ? text : "", "\n", 4096);
	guint i;

	(void)len;
	for (i = 0; lines[i] != NULL; i++) {
		char *eq = strchr(lines[i], '=');

		if (eq != NULL && eq > lines[i]) {
			/* the file's text, not validated: never a control character
			 * to the terminal */
			g_autofree char *key = g_strndup(lines[i], (gsize)(eq - lines[i]));

			g_ptr_array_add(keys, g_strescape(key, NULL));
		}
	}
	g_ptr_array_add(keys, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&keys), FALSE);
}

static gboolean count_pages(HvRamSource *mem, HvDumpFile *f, const char *vmci, gsize vlen,
			    Counts *n, GError **error)
{
	HvKernelInfo ki = { 0 };
	g_autofree guint8 *classes = NULL;
	g_autoptr(GError) local = NULL;
	guint64 max_pfn = 0, pfn;
	guint i;

	for (i = 0; i < hv_ram_source_n_regions(mem); i++) {
		const HvRamRegion *r = hv_ram_source_region(mem, i);

		max_pfn = MAX(max_pfn, (r->gpa + r->size + HV_PAGE_SIZE - 1) / HV_PAGE_SIZE);
	}
	classes = g_try_malloc0(MAX(max_pfn, 1));
	if (classes == NULL) {
		g_set_error(error, HV_ERROR, HV_ERROR_IO, "no memory for %" G_GUINT64_FORMAT
			    " frames' classes", max_pfn);
		return FALSE;
	}
	if (vmci == NULL) {
		n->class_error = g_strdup("no VMCOREINFO");
	} else if (!hv_kernel_from_vmcoreinfo(mem, vmci, vlen, &ki, &local)) {
		n->class_error = g_strdup(local->message);
	} else if (!ki.has_pgtable) {
		n->class_error = g_strdup(ki.warnings->len ? (char *)g_ptr_array_index(ki.warnings, 0)
							   : "no page tables");
	} else {
		HvPageClassInput in = { .read = hv_ram_source_phys_read, .ctx = mem, .pt = &ki.pgtable,
					.vi = &ki.vi, .max_pfn = max_pfn };
		HvPageClassStats st;

		if (hv_page_classify(&in, classes, &st, &local))
			n->classified = TRUE;
		else
			n->class_error = g_strdup(local->message);
	}
	hv_kernel_info_clear(&ki);
	for (i = 0; i < hv_ram_source_n_regions(mem); i++) {
		const HvRamRegion *r = hv_ram_source_region(mem, i);
		guint64 cursor = 0, off, len;
		const guint8 *data;
		GError *err = NULL;

		for (pfn = r->gpa / HV_PAGE_SIZE; pfn * HV_PAGE_SIZE < r->gpa + r->size; pfn++) {
			guint c = classes[pfn] < HV_PAGE_NCLASS ? classes[pfn] : HV_PAGE_RAM;
			gboolean present = hv_dump_file_page_present(f, pfn);

			n->ram++;
			n->frames[c]++;
			if (present) {
				n->present[c]++;
				n->present_all++;
			}
		}
		while (hv_ram_source_next_chunk(mem, i, &cursor, &off, &len, &data, &err)) {
			guint64 k;

			for (k = off % HV_PAGE_SIZE ? HV_PAGE_SIZE - off % HV_PAGE_SIZE : 0;
			     k + HV_PAGE_SIZE <= len; k += HV_PAGE_SIZE)
				if (hv_page_is_zero(data + k))
					n->zero_present++;
		}
		if (err != NULL) {
			g_propagate_error(error, err);
			return FALSE;
		}
	}
	return TRUE;
}

static const char *level_names(int level, char *buf, gsize size)
{
	guint c;

	buf[0] = '\0';
	if (level < 0)
		return "unknown (the format does not record it)";
	for (c = HV_PAGE_ZERO; c < HV_PAGE_NCLASS; c++) {
		if (level & hv_page_class_level_bit(c)) {
			if (buf[0] != '\0')
				g_strlcat(buf, ", ", size);
			g_strlcat(buf, hv_page_class_name(c), size);
		}
	}
	return buf[0] ? buf : "nothing";
}

static const char *format_name(const HvDumpFileInfo *info)
{
	if (info->kind == HV_DUMP_FILE_ELF)
		return info->flattened ? "elf-flattened" : "elf";
	return info->flattened ? "kdump-flattened" : "kdump";
}

int hv_cmd_info(int argc, char **argv)
{
	gboolean as_json = FALSE;
	g_auto(GStrv) rest = NULL;
	const GOptionEntry entries[] = {
		{ "json", 0, 0, G_OPTION_ARG_NONE, &as_json, "one JSON object on stdout", NULL },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("FILE");
	g_autoptr(GError) error = NULL;
	g_autoptr(HvRamSource) mem = NULL;
	g_auto(GStrv) keys = NULL;
	g_autofree char *vmci = NULL;
	HvDumpFileCodecCounts codecs = { 0 };
	gboolean has_codecs;
	HvDumpFileInfo info;
	HvDumpFile *f;
	Counts n = { 0 };
	gsize vlen = 0;
	char lv[128];
	guint c;

	g_option_context_set_summary(ctx, "Describe a vmcore: format, compression, dump level, whether it\n"
				     "is complete, CPUs, kernel, VMCOREINFO keys, pages by class.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		hv_cli_error("info: %s", error->message);
		return HV_EXIT_USAGE;
	}
	if (rest == NULL || g_strv_length(rest) != 1) {
		hv_cli_error("info: usage: hvdump info [--json] FILE");
		return HV_EXIT_USAGE;
	}
	f = hv_dump_file_open(rest[0], &error);
	if (f == NULL) {
		hv_cli_error("info: %s: %s", rest[0], error->message);
		return HV_EXIT_FAILURE;
	}
	info = *hv_dump_file_get_info(f);
	if (hv_dump_file_get_vmcoreinfo(f, &vlen) != NULL)
		vmci = g_strndup(hv_dump_file_get_vmcoreinfo(f, NULL), vlen);
	keys = vmcoreinfo_keys(vmci, vlen);
	has_codecs = hv_dump_file_count_codecs(f, &codecs, NULL);
	mem = hv_ram_source_new_dump(f); /* owns f; f stays valid while mem lives */
	if (!count_pages(mem, f, vmci, vlen, &n, &error)) {
		hv_cli_error("info: %s: %s", rest[0], error->message);
		g_free(n.class_error);
		return HV_EXIT_FAILURE;
	}

	if (as_json) {
		json_object *o = json_object_new_object(), *pages = json_object_new_object();
		json_object *jk = json_object_new_array();
		guint i;

		json_object_object_add(o, "file", json_object_new_string(rest[0]));
		json_object_object_add(o, "format", json_object_new_string(format_name(&info)));
		json_object_object_add(o, "flattened", json_object_new_boolean(info.flattened));
		json_object_object_add(o, "compression",
				       json_object_new_string(info.kind == HV_DUMP_FILE_ELF ? "none" :
							      hv_compression_name(info.compression)));
		json_object_object_add(o, "dump_level", json_object_new_int(info.dump_level));
		json_object_object_add(o, "complete", json_object_new_boolean(!info.incomplete));
		json_object_object_add(o, "cpus", json_object_new_int((int)info.nr_cpus));
		json_object_object_add(o, "kernel_release", json_object_new_string(info.release));
		json_object_object_add(o, "file_size", json_object_new_int64((gint64)info.file_size));
		json_object_object_add(o, "ram_pages", json_object_new_int64((gint64)n.ram));
		json_object_object_add(o, "pages_in_dump", json_object_new_int64((gint64)n.present_all));
		json_object_object_add(o, "zero_pages_in_dump", json_object_new_int64((gint64)n.zero_present));
		json_object_object_add(o, "classified", json_object_new_boolean(n.classified));
		if (n.class_error != NULL)
			json_object_object_add(o, "classify_error", json_object_new_string(n.class_error));
		for (c = HV_PAGE_RAM; c < HV_PAGE_NCLASS; c++) {
			json_object *pc;

			if (c == HV_PAGE_ZERO)
				continue;
			pc = json_object_new_object();
			json_object_object_add(pc, "frames", json_object_new_int64((gint64)n.frames[c]));
			json_object_object_add(pc, "in_dump", json_object_new_int64((gint64)n.present[c]));
			json_object_object_add(pages, hv_page_class_name(c), pc);
		}
		json_object_object_add(o, "pages", pages);
		if (has_codecs) {
			json_object *jc = json_object_new_object();

			json_object_object_add(jc, "raw", json_object_new_int64((gint64)codecs.raw));
			json_object_object_add(jc, "zlib", json_object_new_int64((gint64)codecs.zlib));
			json_object_object_add(jc, "zstd", json_object_new_int64((gint64)codecs.zstd));
			json_object_object_add(jc, "lzo", json_object_new_int64((gint64)codecs.lzo));
			json_object_object_add(jc, "snappy", json_object_new_int64((gint64)codecs.snappy));
			json_object_object_add(jc, "shared_zero", json_object_new_int64((gint64)codecs.zero_shared));
			json_object_object_add(o, "page_codecs", jc);
		}
		for (i = 0; keys[i] != NULL; i++)
			json_object_array_add(jk, json_object_new_string(keys[i]));
		json_object_object_add(o, "vmcoreinfo_keys", jk);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		g_autofree char *klist = g_strjoinv(" ", keys);

		printf("file:        %s (%" G_GUINT64_FORMAT " MiB)\n", rest[0], info.file_size >> 20);
		printf("format:      %s\n", format_name(&info));
		if (info.kind == HV_DUMP_FILE_KDUMP)
			printf("compression: %s%s\n", hv_compression_name(info.compression),
			       has_codecs ? "" : "");
		if (has_codecs)
			printf("pages by codec: %" G_GUINT64_FORMAT " zlib, %" G_GUINT64_FORMAT " zstd, %"
			       G_GUINT64_FORMAT " lzo, %" G_GUINT64_FORMAT " snappy, %" G_GUINT64_FORMAT
			       " raw; %" G_GUINT64_FORMAT " of them share one stored zero page\n", codecs.zlib,
			       codecs.zstd, codecs.lzo, codecs.snappy, codecs.raw, codecs.zero_shared);
		printf("dump level:  %d (left out: %s)\n", info.dump_level,
		       level_names(info.dump_level, lv, sizeof(lv)));
		printf("complete:    %s\n", info.incomplete ? "NO: flagged incomplete (cut short)" : "yes");
		printf("kernel:      %s\n", info.release[0] ? info.release : "unknown");
		printf("CPUs:        %u\n", info.nr_cpus);
		printf("RAM:         %" G_GUINT64_FORMAT " pages (%" G_GUINT64_FORMAT " MiB), %"
		       G_GUINT64_FORMAT " in the dump, %" G_GUINT64_FORMAT " of those all zero\n",
		       n.ram, n.ram >> 8, n.present_all, n.zero_present);
		if (n.classified) {
			printf("pages by class (struct page):  frames    in dump\n");
			for (c = HV_PAGE_RAM; c < HV_PAGE_NCLASS; c++)
				if (c != HV_PAGE_ZERO)
					printf("  %-28s %10" G_GUINT64_FORMAT " %10" G_GUINT64_FORMAT "\n",
					       c == HV_PAGE_RAM ? "other (kernel, ...)" : hv_page_class_name(c),
					       n.frames[c], n.present[c]);
		} else {
			printf("pages by class: not known (%s)\n", n.class_error);
		}
		printf("VMCOREINFO:  %u keys: %s\n", g_strv_length(keys), klist);
	}
	g_free(n.class_error);
	return HV_EXIT_OK;
}
