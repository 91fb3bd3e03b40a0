/* hv-upload.h — shipping a complete local dump to an S3 store without ever
 * losing it (issue 12).
 *
 * A dump is shipped from a journal, one small JSON file per dump in the
 * daemon's state directory (written atomically after every step), so an
 * upload survives a network failure, a store that is down and a daemon
 * restart:
 *
 *   queued → uploading (multipart: upload id, part size, each acknowledged
 *   part's MD5) → verifying (HEAD: size and the multipart ETag, MD5 of the
 *   parts' MD5s, computed here) → manifest (PUT, only after the dump object
 *   verified: a manifest always names a whole dump) → done
 *
 * A resumed upload asks the store which parts it holds (parts whose MD5 and
 * size match are not sent again); an upload id the store no longer knows
 * starts over under the same key; a completion whose answer was lost is
 * found by HEAD. Keys are fixed at enqueue time, so retries never create a
 * second object. The dump's SHA-256 goes into the manifest (fetch checks it).
 */
#pragma once

#include "hv-s3.h"

#include <glib.h>
#include <json-c/json.h>

G_BEGIN_DECLS

#define HV_UPLOAD_PART_MIN (5 * 1024 * 1024)        /* S3's smallest part (but the last) */
#define HV_UPLOAD_PART_DEFAULT (64 * 1024 * 1024)
#define HV_UPLOAD_MAX_PARTS 10000

typedef enum {
	HV_UPLOAD_DONE,  /* dump and manifest are in the store, verified */
	HV_UPLOAD_RETRY, /* a transient failure (network, store down): try again later */
	HV_UPLOAD_FAILED /* cannot succeed (the local dump changed or is gone): error says why */
} HvUploadResult;

/* Writes the journal DIR/ID.upload.json for the complete dump at dump_path
 * (its size, mtime, SHA-256 computed now) with the manifest to ship beside
 * it (the manifest gains "dump_key", "dump_size", "dump_sha256"). Keys:
 * prefix + "dumps/YYYY/MM/DD/ID" + suffix and "manifests/YYYY/MM/DD/ID.json"
 * (the date of `when`, UTC). Returns the journal's path. */
char *hv_upload_enqueue(const char *journal_dir, const char *id, const char *dump_path, const char *suffix,
			gint64 when, json_object *manifest, GError **error);

/* Carries one journal as far as it goes. */
HvUploadResult hv_upload_step(HvS3 *s3, const char *journal_path, guint64 part_size, GError **error);

/* The journal's state ("queued", "uploading", "verifying", "manifest",
 * "done"), attempts, last error; NULL when unreadable. */
json_object *hv_upload_read_journal(const char *journal_path, GError **error);

G_END_DECLS
