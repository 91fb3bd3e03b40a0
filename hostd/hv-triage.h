/* hv-triage.h — a crash report computed from a vmcore alone.
 *
 * Owns: putting together what a kernel developer reads first — kernel
 * release and build id, uptime at the crash, taint flags, the log rebuilt
 * from the printk ring, the panic message, the panicking CPU with its
 * registers, every CPU's call trace (return addresses found on its stack,
 * each proven by the call instruction before it, symbolised through
 * kallsyms and module symbols), the title and signature — and writing it as
 * text or as JSON (schema "hvdump-triage", version HV_TRIAGE_SCHEMA_VERSION,
 * documented in hvdump(1)). Works on any dump hv-dumpfile reads; parts that
 * cannot be read are named in `unreadable`, never guessed.
 */
#pragma once

#include <glib.h>
#include <stdio.h>
#include "hv-dumpfile.h"
#include "hv-ksyms.h"
#include "hv-printk.h"
#include "hv-stack.h"
#include "hv-title.h"

G_BEGIN_DECLS

#define HV_TRIAGE_SCHEMA_VERSION 1
#define HV_TRIAGE_MAX_FRAMES 48
#define HV_TRIAGE_MAX_CPUS 1024

typedef struct {
	guint index;
	gboolean have_regs;
	guint64 regs[27];          /* struct user_regs_struct order (NT_PRSTATUS pr_reg) */
	guint32 pid;               /* pr_pid */
	const char *state;         /* "kernel", "idle", "user", "unknown" */
	GArray *frames;            /* HvStackFrame: RIP, then the callers */
} HvTriageCpu;

typedef struct {
	const char *vmlinux;       /* optional: crash's `bt -a` with this vmlinux */
	gboolean hang;             /* the caller knows the guest hung (hvdump run --timeout) */
} HvTriageOptions;

typedef struct {
	char *path;
	HvDumpFileInfo file;
	char release[65];
	char build_id[129];
	char *event;               /* HVDUMP_EVENT: panic, oops, hang; NULL */
	guint64 crash_time;        /* CRASHTIME or kdump header time; 0 unknown */
	gboolean have_uptime;
	guint64 uptime_ns;
	gboolean have_taint;
	guint64 taint;
	gint panic_cpu;            /* -1 unknown */
	gboolean hang;
	GArray *cpus;              /* HvTriageCpu */
	gboolean have_log;
	HvPrintkLog log;
	HvKsyms ks;
	HvTitle title;
	char *signature;
	char *crash_bt;            /* crash's bt -a output (--vmlinux) */
	GPtrArray *unreadable;     /* char*: what could not be read, one line each */
	GPtrArray *warnings;
} HvTriage;

void hv_triage_clear(HvTriage *t);

/* Triage of the dump at path. FALSE only when it cannot be opened as a
 * dump at all (error says why); everything else ends in t->unreadable. */
gboolean hv_triage_file(const char *path, const HvTriageOptions *opt, HvTriage *t,
			GError **error);

/* Kernel-style taint letters ("G    B D  O") of a mask, into buf[32]. */
void hv_triage_taint_string(guint64 mask, char buf[32]);

char *hv_triage_to_json(const HvTriage *t);
/* The same as a json-c object (the caller adds to it and puts it). */
struct json_object;
struct json_object *hv_triage_to_json_object(const HvTriage *t);
void hv_triage_print(const HvTriage *t, FILE *out);
/* The last n lines of the rebuilt log (all when n = 0). */
char *hv_triage_dmesg(const HvTriage *t, guint n_lines);

G_END_DECLS
