/* test-compress.c — the four page codecs: round trips, pages that do not
 * shrink stay raw, and decompression of damaged or oversized data fails
 * with the codec's name without writing past the page. */
#include <string.h>

#include "hv-compress.h"

static const HvCompression codecs[] = {
	HV_COMPRESS_ZLIB, HV_COMPRESS_ZSTD, HV_COMPRESS_LZO, HV_COMPRESS_SNAPPY,
};

static void fill_text(guint8 *p, gsize n)
{
	gsize k = 0;
	guint line = 0;

	while (k < n) {
		char buf[64];
		int l = g_snprintf(buf, sizeof(buf), "line %u: value=%u ok\n", line, line * 7919u);

		memcpy(p + k, buf, MIN((gsize)l, n - k));
		k += (gsize)l;
		line++;
	}
}

static void test_round_trip_and_raw(void)
{
	guint8 text[4096], rnd[4096], out[4096];
	g_autoptr(GRand) r = g_rand_new_with_seed(7);
	guint i, k;

	fill_text(text, sizeof(text));
	for (k = 0; k < sizeof(rnd); k++)
		rnd[k] = (guint8)g_rand_int(r);
	for (i = 0; i < G_N_ELEMENTS(codecs); i++) {
		g_autoptr(HvCompressor) z = hv_compressor_new(codecs[i]);
		gsize bound = hv_compress_bound(codecs[i], 4096);
		g_autofree guint8 *c = g_malloc(bound), *c2 = g_malloc(bound);
		g_autoptr(GError) error = NULL;
		gsize n = hv_compressor_compress(z, text, 4096, c, bound);
		guint32 flag = hv_compression_kdump_flag(codecs[i]);
		HvCompression back;

		g_test_message("%s", hv_compression_name(codecs[i]));
		g_assert_cmpuint(n, >, 0);
		g_assert_cmpuint(n, <, 4096);
		/* deterministic: the same bytes again */
		g_assert_cmpuint(hv_compressor_compress(z, text, 4096, c2, bound), ==, n);
		g_assert_cmpmem(c, n, c2, n);
		g_assert_true(hv_decompress(codecs[i], c, n, out, sizeof(out), &error));
		g_assert_no_error(error);
		g_assert_cmpmem(out, 4096, text, 4096);
		/* random data does not shrink: stored raw */
		g_assert_cmpuint(hv_compressor_compress(z, rnd, 4096, c, bound), ==, 0);
		g_assert_true(hv_compression_from_kdump_flags(flag, &back));
		g_assert_cmpint(back, ==, codecs[i]);
	}
}

static void test_damaged_data_fails_cleanly(void)
{
	guint8 text[4096], big[8192], out[4096 + 16];
	guint i;

	fill_text(text, sizeof(text));
	memset(big, 'a', sizeof(big));
	for (i = 0; i < G_N_ELEMENTS(codecs); i++) {
		g_autoptr(HvCompressor) z = hv_compressor_new(codecs[i]);
		gsize bound = hv_compress_bound(codecs[i], sizeof(big));
		g_autofree guint8 *c = g_malloc(bound);
		g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
		gsize n = hv_compressor_compress(z, text, 4096, c, bound), nb;

		/* truncated */
		g_assert_false(hv_decompress(codecs[i], c, n / 2, out, 4096, &e1));
		g_assert_error(e1, HV_ERROR, HV_ERROR_PARSE);
		g_assert_true(g_str_has_prefix(e1->message, hv_compression_name(codecs[i])));
		/* a "bomb": 8 KiB of data into one page: refused, nothing past the page */
		nb = hv_compressor_compress(z, big, sizeof(big), c, bound);
		g_assert_cmpuint(nb, >, 0);
		memset(out, 0x5a, sizeof(out));
		g_assert_false(hv_decompress(codecs[i], c, nb, out, 4096, &e2));
		for (gsize k = 4096; k < sizeof(out); k++)
			g_assert_cmpuint(out[k], ==, 0x5a);
		/* garbage */
		memset(c, 0xff, 64);
		g_assert_false(hv_decompress(codecs[i], c, 64, out, 4096, &e3));
	}
	{
		HvCompression c;

		g_assert_false(hv_compression_from_kdump_flags(0x21, &c));
		g_assert_true(hv_compression_from_kdump_flags(0, &c));
		g_assert_cmpint(c, ==, HV_COMPRESS_NONE);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/compress/round-trip-and-raw", test_round_trip_and_raw);
	g_test_add_func("/compress/damaged-data-fails-cleanly", test_damaged_data_fails_cleanly);
	return g_test_run();
}
