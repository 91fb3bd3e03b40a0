/* hv-compress.c — page codecs; see hv-compress.h.
 *
 * Levels follow makedumpfile: zlib at Z_BEST_SPEED, zstd at level 1, LZO1X-1
 * — a dump is written while a guest waits, so speed wins over the last few
 * percent of size.
 */
#include "hv-compress.h"

#include <lzo/lzo1x.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <string.h>

struct HvCompressor {
	HvCompression c;
	ZSTD_CCtx *zctx;
	guint8 *lzo_wrk;
};

static gsize lzo_once;

const char *hv_compression_name(HvCompression c)
{
	switch (c) {
	case HV_COMPRESS_ZLIB:
		return "zlib";
	case HV_COMPRESS_ZSTD:
		return "zstd";
	case HV_COMPRESS_LZO:
		return "lzo";
	case HV_COMPRESS_SNAPPY:
		return "snappy";
	case HV_COMPRESS_NONE:
	default:
		return "none";
	}
}

guint32 hv_compression_kdump_flag(HvCompression c)
{
	switch (c) {
	case HV_COMPRESS_ZLIB:
		return HV_KDUMP_ZLIB;
	case HV_COMPRESS_ZSTD:
		return HV_KDUMP_ZSTD;
	case HV_COMPRESS_LZO:
		return HV_KDUMP_LZO;
	case HV_COMPRESS_SNAPPY:
		return HV_KDUMP_SNAPPY;
	case HV_COMPRESS_NONE:
	default:
		return 0;
	}
}

gboolean hv_compression_from_kdump_flags(guint32 flags, HvCompression *c_ret)
{
	switch (flags & (HV_KDUMP_ZLIB | HV_KDUMP_LZO | HV_KDUMP_SNAPPY | HV_KDUMP_ZSTD)) {
	case 0:
		*c_ret = HV_COMPRESS_NONE;
		return TRUE;
	case HV_KDUMP_ZLIB:
		*c_ret = HV_COMPRESS_ZLIB;
		return TRUE;
	case HV_KDUMP_ZSTD:
		*c_ret = HV_COMPRESS_ZSTD;
		return TRUE;
	case HV_KDUMP_LZO:
		*c_ret = HV_COMPRESS_LZO;
		return TRUE;
	case HV_KDUMP_SNAPPY:
		*c_ret = HV_COMPRESS_SNAPPY;
		return TRUE;
	default:
		return FALSE;
	}
}

gsize hv_compress_bound(HvCompression c, gsize len)
{
	switch (c) {
	case HV_COMPRESS_ZLIB:
		return compressBound(len);
	case HV_COMPRESS_ZSTD:
		return ZSTD_compressBound(len);
	case HV_COMPRESS_LZO:
		return len + len / 16 + 64 + 3;
	case HV_COMPRESS_SNAPPY:
		return snappy_max_compressed_length(len);
	case HV_COMPRESS_NONE:
	default:
		return len;
	}
}

HvCompressor *hv_compressor_new(HvCompression c)
{
	HvCompressor *z = g_new0(HvCompressor, 1);

	z->c = c;
	if (c == HV_COMPRESS_ZSTD) {
		z->zctx = ZSTD_createCCtx();
		if (z->zctx == NULL)
			g_error("zstd: cannot create a compression context");
	} else if (c == HV_COMPRESS_LZO) {
		if (g_once_init_enter(&lzo_once)) {
			if (lzo_init() != LZO_E_OK)
				g_error("lzo: lzo_init failed");
			g_once_init_leave(&lzo_once, 1);
		}
		z->lzo_wrk = g_malloc(LZO1X_1_MEM_COMPRESS);
	}
	return z;
}

void hv_compressor_free(HvCompressor *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->zctx);
	g_free(z->lzo_wrk);
	g_free(z);
}

gsize hv_compressor_compress(HvCompressor *z, const guint8 *in, gsize len, guint8 *out,
			     gsize out_size)
{
	gsize n = 0;

	switch (z->c) {
	case HV_COMPRESS_ZLIB: {
		uLongf dlen = out_size;

		if (compress2(out, &dlen, in, len, Z_BEST_SPEED) != Z_OK)
			return 0;
		n = dlen;
		break;
	}
	case HV_COMPRESS_ZSTD: {
		size_t r = ZSTD_compressCCtx(z->zctx, out, out_size, in, len, 1);

		if (ZSTD_isError(r))
			return 0;
		n = r;
		break;
	}
	case HV_COMPRESS_LZO: {
		lzo_uint dlen = out_size;

		if (lzo1x_1_compress(in, len, out, &dlen, z->lzo_wrk) != LZO_E_OK)
			return 0;
		n = dlen;
		break;
	}
	case HV_COMPRESS_SNAPPY: {
		size_t dlen = out_size;

		if (snappy_compress((const char *)in, len, (char *)out, &dlen) != SNAPPY_OK)
			return 0;
		n = dlen;
		break;
	}
	case HV_COMPRESS_NONE:
	default:
		return 0;
	}
	return n < len ? n : 0;
}

static void free_dctx(gpointer p)
{
	ZSTD_freeDCtx(p);
}

gboolean hv_decompress(HvCompression c, const guint8 *in, gsize in_len, guint8 *out,
		       gsize out_len, GError **error)
{
	const char *what = NULL;
	gsize got = 0;

	switch (c) {
	case HV_COMPRESS_ZLIB: {
		uLongf dlen = out_len;
		int r = uncompress(out, &dlen, in, in_len);

		if (r != Z_OK)
			what = r == Z_BUF_ERROR ? "output larger than a page" : "corrupt data";
		got = dlen;
		break;
	}
	case HV_COMPRESS_ZSTD: {
		/* a context per thread: creating one per page costs more than the page */
		static GPrivate dctx_key = G_PRIVATE_INIT(free_dctx);
		ZSTD_DCtx *dctx = g_private_get(&dctx_key);
		size_t r;

		if (dctx == NULL) {
			dctx = ZSTD_createDCtx();
			if (dctx == NULL)
				g_error("zstd: cannot create a decompression context");
			g_private_set(&dctx_key, dctx);
		}
		r = ZSTD_decompressDCtx(dctx, out, out_len, in, in_len);

		if (ZSTD_isError(r))
			what = ZSTD_getErrorName(r);
		else
			got = r;
		break;
	}
	case HV_COMPRESS_LZO: {
		lzo_uint dlen = out_len;

		if (g_once_init_enter(&lzo_once)) {
			if (lzo_init() != LZO_E_OK)
				g_error("lzo: lzo_init failed");
			g_once_init_leave(&lzo_once, 1);
		}
		/* the _safe variant checks both buffers' bounds */
		if (lzo1x_decompress_safe(in, in_len, out, &dlen, NULL) != LZO_E_OK)
			what = "corrupt data";
		got = dlen;
		break;
	}
	case HV_COMPRESS_SNAPPY: {
		size_t dlen = 0;

		if (snappy_uncompressed_length((const char *)in, in_len, &dlen) != SNAPPY_OK)
			what = "corrupt header";
		else if (dlen != out_len)
			what = "wrong decompressed size";
		else if (snappy_uncompress((const char *)in, in_len, (char *)out, &dlen) !=
			 SNAPPY_OK)
			what = "corrupt data";
		got = dlen;
		break;
	}
	case HV_COMPRESS_NONE:
	default:
		if (in_len != out_len) {
			what = "raw page of the wrong size";
		} else {
			memcpy(out, in, out_len);
			got = out_len;
		}
		break;
	}
	if (what == NULL && got != out_len)
		what = "decompressed to the wrong size";
	if (what != NULL) {
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "%s: %s", hv_compression_name(c), what);
		return FALSE;
	}
	return TRUE;
}
