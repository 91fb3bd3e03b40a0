/* hv-upload.h — shipping a complete local dump to a remote target (an S3
 * store or an sftp server) without ever losing it (issue 12).
 *
 * A dump is shipped from a journal, one small JSON file per dump in the
 * daemon's state directory (written atomically after every step), so an
 * upload survives a network failure, a store that is down and a daemon
 * restart. The journal holds everything the upload needs (the dump's path,
 * size, mtime and SHA-256, the target and its settings — file names, never
 * secrets — the keys, the manifest), so it ships where it was meant to even
 * after the policy changed.
 *
 * S3:   queued → uploading (multipart: upload id, part size, each
 *       acknowledged part's MD5) → verifying (HEAD: size and the multipart
 *       ETag, MD5 of the parts' MD5s, computed here) → manifest (PUT, only
 *       after the dump object verified: a manifest always names a whole
 *       dump) → done
 * sftp: queued → uploading (KEY.part resumed from its length, synced, read
 *       back and its SHA-256 compared, renamed to KEY) → manifest → done
 *
 * A resumed S3 upload asks the store which parts it holds (parts whose MD5
 * and size match are not sent again); an upload id the store no longer
 * knows starts over under the same key; a completion whose answer was lost
 * is found by HEAD. Keys are fixed at enqueue time, so retries never create
 * a second object. The dump's SHA-256 goes into the manifest (fetch checks
 * it). Before the manifest is written, the dump is triaged here (title,
 * signature, kernel, build id go into the manifest).
 */
#pragma once

#include "hv-config.h"
#include "hv-s3.h"

#include <glib.h>
#include <json-c/json.h>

G_BEGIN_DECLS

#define HV_UPLOAD_PART_MIN (5 * 1024 * 1024)        /* S3's smallest part (but the last) */
#define HV_UPLOAD_PART_MAX (G_GUINT64_CONSTANT(5) << 30) /* S3's largest part */
#define HV_UPLOAD_PART_DEFAULT (8 * 1024 * 1024) /* as aws-cli: a resume loses at most 8 MiB */
#define HV_UPLOAD_MAX_PARTS 10000
#define HV_UPLOAD_MAX_RESTARTS 3 /* whole re-uploads after a failed verification */
#define HV_UPLOAD_MAX_JOURNAL (4 * 1024 * 1024)
#define HV_UPLOAD_JOURNAL_SUFFIX ".upload.json"
#define HV_UPLOAD_LOCK_SUFFIX ".lock" /* JOURNAL + this: the lock file beside a journal */

typedef enum {
	HV_UPLOAD_DONE,  /* dump and manifest are in the store, verified */
	HV_UPLOAD_RETRY, /* a transient failure (network, store down): try again later */
	HV_UPLOAD_FAILED /* cannot succeed (the local dump changed or is gone, the
			  * target refuses it for good): error says why */
} HvUploadResult;

/* Where dumps go: a policy's target= and the settings that come with it. */
typedef struct {
	char *url;          /* s3://bucket/prefix | sftp://[user@]host[:port]/path */
	char *credentials;  /* s3: keyfile [s3]; sftp: the private key */
	char *endpoint;     /* s3: https://host[:port]; NULL: the credentials file's */
	char *region;       /* s3; NULL: the credentials file's, else us-east-1 */
	char *ca_file;      /* s3: NULL: the system CA store */
	gboolean virtual_host; /* s3: bucket in the host name */
	char *known_hosts;  /* sftp; NULL: /root/.ssh/known_hosts */
	guint64 rate;       /* bytes per second, 0: no limit */
} HvUploadTarget;

void hv_upload_target_clear(HvUploadTarget *t);
/* The policy's target, when it is remote (s3:// or sftp://); FALSE when the
 * target is a local directory (t untouched). */
gboolean hv_upload_target_from_policy(const HvPolicy *p, HvUploadTarget *t);
/* Checks the URL and the credentials file (owner, mode, contents) without
 * connecting: what hvdumpd --check and a capture's first step need. */
gboolean hv_upload_target_check(const HvUploadTarget *t, GError **error);
/* An S3 client for the target (with its credentials). */
HvS3 *hv_upload_target_s3(const HvUploadTarget *t, GError **error);

/* "20261205T101112Z-HOST-VM-1a2b3c4d": unique without coordination; only
 * [A-Za-z0-9._-] (other bytes of host and VM names become '_'). */
char *hv_upload_new_id(gint64 when, const char *host, const char *vm);
/* An id as hv_upload_new_id makes them (and fetch accepts): 1..200 bytes of
 * [A-Za-z0-9._-], not starting with '.'. */
gboolean hv_upload_id_valid(const char *id);

/* Writes the journal DIR/ID.upload.json for the complete dump at dump_path
 * (its size, mtime and ctime now; its SHA-256 is computed by the first
 * step, off the caller's thread) with the manifest to ship beside it (the
 * manifest gains "id", "dump_key", "dump_size", and "dump_sha256"). Keys: prefix + "dumps/YYYY/MM/DD/ID" + suffix and
 * "manifests/YYYY/MM/DD/ID.json" (the date of `when`, UTC). report_path
 * (may be NULL): the dump's report, updated when the upload is done.
 * Returns the journal's path. */
char *hv_upload_enqueue(const char *journal_dir, const char *id, const char *dump_path,
			const char *report_path, const char *suffix, gint64 when,
			const HvUploadTarget *target, HvKeepLocal keep_local, json_object *manifest,
			GError **error);

/* Carries one journal as far as it goes. When done, applies keep_local
 * (removes the dump and its report unless "yes"; else marks the report
 * uploaded). part_size 0: the default. cancel (may be NULL): set non-zero
 * (g_atomic_int_set, from any thread) to end the step within about a
 * second, RETRY, the journal resumable. */
HvUploadResult hv_upload_step(const char *journal_path, guint64 part_size, const gint *cancel,
			      GError **error);

/* A journal that failed for good (a credentials file fixed since, a host
 * key now known) back to "queued", its restarts forgotten: TRUE when it
 * was failed and is queued now. Under the journal's lock. */
gboolean hv_upload_rearm(const char *journal_path, GError **error);

/* The journal (validated: a bounded regular file, our magic, the fields a
 * step needs); NULL when unreadable. */
json_object *hv_upload_read_journal(const char *journal_path, GError **error);
/* The same checks on a journal's text (the fuzz target's entry). */
json_object *hv_upload_parse_journal(const char *text, gsize len, GError **error);

G_END_DECLS
