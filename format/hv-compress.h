/* hv-compress.h — page compression for kdump-compressed dumps.
 *
 * Owns: the four page codecs makedumpfile and crash know (zlib, zstd, lzo,
 * snappy) behind one interface, through their libraries; the per-thread
 * state each needs (zstd context, lzo work memory); and decompression that
 * never writes past the caller's buffer (a page is at most one block, a
 * hostile file cannot make it bigger).
 */
#pragma once

#include <glib.h>

#include "hv-error.h"

G_BEGIN_DECLS

typedef enum {
	HV_COMPRESS_NONE,
	HV_COMPRESS_ZLIB,
	HV_COMPRESS_ZSTD,
	HV_COMPRESS_LZO,
	HV_COMPRESS_SNAPPY,
} HvCompression;

/* kdump page descriptor flags (makedumpfile's diskdump_mod.h) */
#define HV_KDUMP_ZLIB 0x01u
#define HV_KDUMP_LZO 0x02u
#define HV_KDUMP_SNAPPY 0x04u
#define HV_KDUMP_INCOMPLETE 0x08u
#define HV_KDUMP_EXCLUDE_XEN_DOM 0x10u
#define HV_KDUMP_ZSTD 0x20u

const char *hv_compression_name(HvCompression c);       /* "zlib", ... "none" */
guint32 hv_compression_kdump_flag(HvCompression c);     /* 0 for NONE */
/* The compression a descriptor's flags name; FALSE for several or unknown bits. */
gboolean hv_compression_from_kdump_flags(guint32 flags, HvCompression *c_ret);

/* Room the output of one compressed page of len bytes may need. */
gsize hv_compress_bound(HvCompression c, gsize len);

/* One thread's codec state; not shared between threads. */
typedef struct HvCompressor HvCompressor;
HvCompressor *hv_compressor_new(HvCompression c);
void hv_compressor_free(HvCompressor *z);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HvCompressor, hv_compressor_free)

/* Compresses len bytes into out (out_size ≥ hv_compress_bound). Returns the
 * compressed size, or 0 when it would not be smaller than len (then the
 * caller stores the bytes raw). Deterministic: the same input gives the same
 * bytes in every thread. */
gsize hv_compressor_compress(HvCompressor *z, const guint8 *in, gsize len, guint8 *out,
			     gsize out_size);

/* Decompresses exactly out_len bytes from in; FALSE with an error naming the
 * codec when the data is corrupt or does not decompress to out_len. */
gboolean hv_decompress(HvCompression c, const guint8 *in, gsize in_len, guint8 *out,
		       gsize out_len, GError **error);

G_END_DECLS
