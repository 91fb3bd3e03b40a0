/* hv-shipper.h — hvdumpd's upload worker (issue 12): one thread that
 * carries the upload journals of a directory (hv-upload.h) to their
 * targets, one at a time (so a policy's upload_rate= is the host's rate),
 * oldest first, retrying what failed for a passing reason with a backoff
 * (HV_SHIPPER_BACKOFF_MIN doubling up to HV_SHIPPER_BACKOFF_MAX; the
 * journal survives a restart, the backoff starts over). Until shipped, a
 * dump waits in its policy's output directory: retention never removes it
 * (see hv_dumpdir_prune), so the spool is bounded by the policy's
 * max-bytes= and min-free= — a new dump that would not fit is skipped, with
 * the reason logged, instead of an older one lost.
 *
 * Owns: the thread, the retry times, what `hvdump status` shows about
 * uploads. Tells its owner about each finished step on the owner's main
 * context.
 */
#pragma once

#include <glib.h>
#include <json-c/json.h>

#include "hv-upload.h"

G_BEGIN_DECLS

#define HV_SHIPPER_BACKOFF_MIN 5
#define HV_SHIPPER_BACKOFF_MAX 600
#define HV_SHIPPER_MAX_JOURNALS 10000 /* journals looked at per scan */
#define HV_SHIPPER_KEEP_DONE_S (30 * 86400) /* journals of finished uploads, then removed */

typedef struct HvShipper HvShipper;

typedef struct {
	char *id;
	char *vm;
	char *target;
	char *state;      /* the journal's */
	HvUploadResult result;
	char *error;      /* NULL when done */
	guint64 bytes;
	double seconds;   /* the step's */
	gint64 next_try;  /* epoch seconds, retries only */
} HvShipperEvent;

typedef void (*HvShipperFn)(const HvShipperEvent *ev, gpointer user);

/* Starts the thread on dir (created 0700 when missing); fn runs in ctx. */
HvShipper *hv_shipper_new(const char *dir, GMainContext *ctx, HvShipperFn fn, gpointer user,
			  GError **error);
/* A new journal is there: look now. */
void hv_shipper_kick(HvShipper *sh);
/* {"dir", "pending", "failed", "done", "bytes_pending", "uploads": [ {id,
 * vm, target, state, attempts, last_error, next_try, size} ... ]} — what
 * waits and what failed, oldest first, at most 100 listed. */
json_object *hv_shipper_status(HvShipper *sh);
/* Uploads that failed for good are queued again (hvdumpd's reload: the
 * operator fixed what made them fail), and every backoff starts over. */
void hv_shipper_rearm(HvShipper *sh);
/* Counts for the metrics. */
void hv_shipper_counts(HvShipper *sh, guint *pending, guint *failed);
/* Ends the step in flight (cancelled within about a second, an sftp
 * connect within its timeout; the journal resumes it) and the thread. */
void hv_shipper_free(HvShipper *sh);

G_END_DECLS
