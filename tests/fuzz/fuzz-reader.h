/* fuzz-reader.h — what the three dump-reader fuzz targets (fuzz-reader-elf,
 * -kdump, -flat) do with an input: open the bytes as a vmcore and use every
 * call of hv-dumpfile.h on it — info, notes, VMCOREINFO, the kernel image,
 * every region's present runs, page_present, reads of a bounded number of
 * pages (present and not), a read that crosses a region's end, and the
 * codec count — checking the invariants the interface promises (regions
 * sorted and disjoint, runs inside their region and increasing, pages left
 * out read as zero). The targets differ only by their seed corpus. */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "hv-dumpfile.h"

#define FUZZ_MAX_PAGES 256u   /* page reads per input */
#define FUZZ_MAX_RUNS 4096u   /* present runs walked per input */
#define FUZZ_MAX_REGIONS 64u  /* regions whose runs and pages are used (all are checked) */

#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

static guint8 fuzz_page[2 * 4096];

static void fuzz_read(HvDumpFile *f, guint64 paddr, gsize len, guint *budget)
{
	GError *error = NULL;

	if (*budget == 0)
		return;
	(*budget)--;
	if (!hv_dump_file_read(f, paddr, fuzz_page, len, &error)) {
		FUZZ_CHECK(error != NULL && strchr(error->message, '\n') == NULL);
		g_error_free(error);
	}
}

/* A page after a present run: if it is not present either, it reads as
 * zero (or, in an incomplete kdump, fails). */
static void fuzz_check_absent(HvDumpFile *f, guint64 paddr, guint *budget)
{
	GError *error = NULL;

	(*budget)--;
	if (!hv_dump_file_read(f, paddr, fuzz_page, 4096, &error)) {
		g_clear_error(&error);
		return;
	}
	if (!hv_dump_file_page_present(f, paddr / 4096))
		FUZZ_CHECK(fuzz_page[0] == 0 && memcmp(fuzz_page, fuzz_page + 1, 4095) == 0);
}

static void fuzz_reader_input(const guint8 *data, size_t size)
{
	GError *error = NULL;
	HvDumpFile *f = hv_dump_file_new_from_data(data, size, &error);
	const HvDumpFileInfo *info;
	const GByteArray *notes;
	HvDumpFileCodecCounts cc;
	guint64 kv, kp, ks, prev_end = 0, sum = 0, half;
	guint budget = FUZZ_MAX_PAGES, runs = 0, i;
	const char *vi;
	gsize vlen = 0;

	if (f == NULL) {
		FUZZ_CHECK(error != NULL && strchr(error->message, '\n') == NULL);
		g_error_free(error);
		return;
	}
	info = hv_dump_file_get_info(f);
	FUZZ_CHECK(info->file_size == size);
	FUZZ_CHECK(memchr(info->release, 0, sizeof(info->release)) != NULL);
	notes = hv_dump_file_get_notes(f);
	for (i = 0; i < notes->len; i++)
		sum += notes->data[i];
	vi = hv_dump_file_get_vmcoreinfo(f, &vlen);
	FUZZ_CHECK(vi == NULL || strlen(vi) == vlen);
	if (hv_dump_file_get_kimage(f, &kv, &kp, &ks))
		sum += kv + kp + ks;
	for (i = 0; i < hv_dump_file_n_regions(f); i++) {
		const HvDumpRegion *r = hv_dump_file_region(f, i);
		guint64 cursor = 0, off, len, last = 0;

		FUZZ_CHECK(r != NULL && r->size > 0);
		FUZZ_CHECK(i == 0 || r->paddr >= prev_end);
		FUZZ_CHECK(r->size - 1 <= G_MAXUINT64 - r->paddr);
		prev_end = r->paddr + r->size;
		if (i >= FUZZ_MAX_REGIONS && i + 1 != hv_dump_file_n_regions(f))
			continue;
		sum += hv_dump_file_page_present(f, r->paddr / 4096);
		while (runs < FUZZ_MAX_RUNS &&
		       hv_dump_file_next_present(f, i, &cursor, &off, &len, &error)) {
			runs++;
			FUZZ_CHECK(len > 0 && off >= last && off < r->size && len <= r->size - off);
			FUZZ_CHECK(cursor >= off + len);
			last = off + len;
			fuzz_read(f, r->paddr + off, (gsize)MIN(len, 4096), &budget);
			/* the page after a run is not present: it reads as zero,
			 * or (an incomplete kdump) fails */
			if (last < r->size && last % 4096 == 0 && budget > 0)
				fuzz_check_absent(f, r->paddr + last, &budget);
		}
		if (error != NULL)
			g_clear_error(&error);
		/* across the region's end: always refused */
		if (r->size >= 16) {
			guint64 end = r->paddr + r->size;

			FUZZ_CHECK(!hv_dump_file_read(f, end - 8, fuzz_page, 16, &error));
			g_clear_error(&error);
		}
		half = r->size / 2;
		fuzz_read(f, r->paddr + half, (gsize)MIN(r->size - half, 4096), &budget);
	}
	FUZZ_CHECK(hv_dump_file_region(f, hv_dump_file_n_regions(f)) == NULL);
	sum += hv_dump_file_page_present(f, G_MAXUINT64);
	sum += hv_dump_file_page_present(f, info->max_pfn);
	if (hv_dump_file_count_codecs(f, &cc, &error))
		FUZZ_CHECK(info->kind == HV_DUMP_FILE_KDUMP);
	else
		g_clear_error(&error);
	(void)sum;
	hv_dump_file_free(f);
}
