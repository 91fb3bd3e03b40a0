/* hv-dumpdir.h — a directory of dumps that hvdumpd manages.
 *
 * Owns: the report that sits next to each dump (FILE.json, written
 * atomically, read back with bounds: the directory may be shared with
 * people and other tools), the list of the dumps the reports describe,
 * retention (the last N per VM, a byte budget for the directory), free
 * space, and stale NAME.part files a
 * killed writer left behind. Only files named in our reports are ever
 * removed, plus .part files no live writer holds.
 */
#pragma once

#include <glib.h>
#include <json-c/json.h>

G_BEGIN_DECLS

/* Largest report read back; anything larger is not ours. */
#define HV_DUMPDIR_MAX_REPORT (16 * 1024 * 1024) /* triage reports carry the whole log */
/* Reports looked at per directory (a bound, not a policy). */
#define HV_DUMPDIR_MAX_ENTRIES 100000

typedef struct {
	char *dump;        /* the dump's file name (no directory) */
	char *report;      /* the report's file name */
	char *vm;
	gint64 time;       /* seconds since the epoch, when the dump was written */
	guint64 bytes;     /* the dump's disk usage */
	gboolean upload_pending; /* its report's "upload" is not done yet
				  * (and keep_local is not "no"): never pruned */
} HvDumpEntry;

/* The dumps our reports in dir describe, oldest first (entries whose dump
 * file is gone are left out). */
GPtrArray *hv_dumpdir_list(const char *dir, GError **error);
/* Disk usage of the dumps our reports describe. */
guint64 hv_dumpdir_used_bytes(const char *dir);
/* Bytes available to an unprivileged writer in dir's filesystem;
 * G_MAXUINT64 when unknown. */
guint64 hv_dumpdir_free_bytes(const char *dir);

/* Removes dumps (and their reports), oldest first: vm's beyond the newest
 * keep (0: no limit; vm NULL: all dumps count as one VM's), then any VM's while the directory holds more than
 * max_bytes (0: no budget). Never removes protect (a dump's file name),
 * nor a dump that waits for its upload (HvDumpEntry.upload_pending).
 * Adds a line per removal to log. */
void hv_dumpdir_prune(const char *dir, const char *vm, guint keep, guint64 max_bytes,
		      const char *protect, GPtrArray *log);

/* Removes every NAME.part in dir that no live writer holds; adds a line per
 * removal (or refusal) to log. Returns how many were removed. */
guint hv_dumpdir_clean_parts(const char *dir, GPtrArray *log);

/* Writes report next to dump_path as DUMP.json (0600, via a temporary file
 * and rename). The report must carry "vm_name" (the VM's name) and
 * "written" (epoch seconds): retention goes by them. */
gboolean hv_dumpdir_write_report(const char *dump_path, json_object *report, GError **error);

/* One of our reports (FILE.json of a dump, bounded), or NULL. */
json_object *hv_dumpdir_read_report(const char *path);

/* Writes obj to path atomically (0600, a temporary file, fsync, rename). */
gboolean hv_dumpdir_write_json(const char *path, json_object *obj, GError **error);

G_END_DECLS
