/* hv-manifest.h — a dump's manifest as `hvdump fleet` reads it back from the
 * store (docs/fleet.md). Hostile input: any host of the fleet, or anyone
 * with write access to the bucket, may have put it there. Parsed from a
 * buffer without the network (tests/fuzz/fuzz-manifest.c fuzzes it).
 *
 * What a manifest must be: at most HV_MANIFEST_MAX bytes of one JSON object
 * (nested at most 8 deep, nothing after it) stored under
 * manifests/YYYY/MM/DD/ID.json (relative to the target's prefix), with
 *   "id"          ID itself (1..200 of [A-Za-z0-9._-], not starting with
 *                 '.'); an id that starts with a YYYYMMDDTHHMMSSZ time, as
 *                 hv_upload_new_id makes them, must carry the key's date;
 *   "dump_key"    "dumps/YYYY/MM/DD/ID" + a suffix of at most 16 of
 *                 [A-Za-z0-9._-] (".kdump", ".vmcore"), the key's date;
 *   "dump_size"   an integer >= 0;
 *   "dump_sha256" 64 hex digits;
 *   "time"        an integer in [0, 9999-12-31];
 *   "schema"      when present, "hvdump-manifest".
 * So one id has at most one manifest key and one dump key, and the local
 * name fetch gives a dump (ID + suffix) can be no path and no dot file.
 * Other known string fields are kept for display only: printable (see
 * hv_s3_printable), at most HV_MANIFEST_FIELD_MAX bytes, absent when not a
 * string. Unknown fields are ignored. */
#pragma once

#include <glib.h>
#include <json-c/json.h>

G_BEGIN_DECLS

#define HV_MANIFEST_MAX (64 * 1024) /* a manifest is ~1-2 KiB */
#define HV_MANIFEST_FIELD_MAX 512
#define HV_MANIFEST_ID_MAX 200
#define HV_MANIFEST_SUFFIX_MAX 16
#define HV_MANIFEST_MAX_TIME G_GINT64_CONSTANT(253402300799) /* 9999-12-31T23:59:59Z */

typedef enum {
	HV_MF_HOST,
	HV_MF_VM_NAME,
	HV_MF_VM_UUID,
	HV_MF_EVENT,
	HV_MF_POLICY,
	HV_MF_RESULT,
	HV_MF_KERNEL,
	HV_MF_FORMAT,
	HV_MF_TITLE,
	HV_MF_SIGNATURE,
	HV_MF_BUILD_ID,
	HV_MF_DEGRADED,
	HV_MF_TRIAGE_ERROR,
	HV_MF_N_TEXT
} HvManifestText;

/* The JSON names of the display fields, in HvManifestText order. */
extern const char *const hv_manifest_text_names[HV_MF_N_TEXT];

typedef struct {
	char *key;        /* manifests/YYYY/MM/DD/ID.json */
	char *id;
	char *dump_key;   /* dumps/YYYY/MM/DD/ID[SUFFIX] */
	char *file_name;  /* ID[SUFFIX] */
	char dump_sha256[65]; /* lower case */
	guint64 dump_size;
	gint64 time;
	gint64 crash_time; /* -1: absent */
	char *text[HV_MF_N_TEXT]; /* NULL: absent or empty */
} HvManifest;

#define HV_MANIFEST_ERROR hv_manifest_error_quark()
GQuark hv_manifest_error_quark(void);

gboolean hv_manifest_id_valid(const char *id);
/* key is manifests/YYYY/MM/DD/ID.json with a real date and a valid id:
 * day (may be NULL) gets "YYYY/MM/DD", *id (may be NULL) the id. */
gboolean hv_manifest_key_parse(const char *key, char day[11], char **id);
/* The one key a manifest of id can have, when id starts with its time;
 * NULL otherwise (then only a listing finds it). */
char *hv_manifest_key_for_id(const char *id);

/* data (len bytes) read from key; m is cleared first, and again on
 * failure. The error names what is wrong, never echoes raw input. */
gboolean hv_manifest_parse(const char *key, const char *data, gsize len, HvManifest *m, GError **error);
/* A display field, "" when absent. */
const char *hv_manifest_text(const HvManifest *m, HvManifestText t);
/* What was kept, as JSON (for --json): the checked fields, the display
 * fields present, "manifest_key" and "time_iso". */
json_object *hv_manifest_to_json(const HvManifest *m);
/* Bytes of memory m holds (to cap a listing). */
gsize hv_manifest_bytes(const HvManifest *m);
void hv_manifest_clear(HvManifest *m);

G_END_DECLS
