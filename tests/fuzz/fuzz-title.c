/* fuzz-title.c — libFuzzer target: the crash-report finder and the title
 * normaliser over a hostile kernel log (input lines split at '\n').
 * Titles must be bounded, normalising must be idempotent, signatures 16
 * hex digits. */
#include <stdlib.h>
#include <string.h>
#include "hv-title.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_auto(GStrv) lines = g_strsplit(text, "\n", 4096);
	HvTitle t;
	g_autofree char *again = NULL, *sig = NULL, *n1 = NULL, *n2 = NULL;

	hv_title_init(&t);
	hv_title_from_log((const char *const *)lines, g_strv_length(lines),
			  (const char *const *)lines, MIN(g_strv_length(lines), 8u), &t);
	if (t.title == NULL || strlen(t.title) > HV_TITLE_MAX)
		abort();
	again = hv_title_normalise(t.title);
	if (strcmp(again, t.title) != 0)
		abort();
	sig = hv_title_signature(&t);
	if (strlen(sig) != 16)
		abort();
	n1 = hv_title_normalise(text);
	n2 = hv_title_normalise(n1);
	if (strcmp(n1, n2) != 0)
		abort();
	hv_title_clear(&t);
	return 0;
}
