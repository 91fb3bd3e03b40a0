/* hv-title.h — crash titles and signatures, as kernel developers and
 * syzkaller know them.
 *
 * Owns: recognising the first crash report in a kernel log (oops headers:
 * NULL dereference, paging request, kernel BUG, general protection fault,
 * WARNING, soft lockup, hung task, KASAN, …; then the panic line), the
 * function it happened in (the RIP line, else the first call-trace frame
 * that is not crash machinery), the title ("BUG: kernel NULL pointer
 * dereference in foo", "panic: <message>", …) normalised so that addresses,
 * offsets, line numbers, pids and CPU numbers never make two reports of one
 * bug differ, and the signature: a hash of the title and the top frames
 * below the crash machinery (function names only, compiler suffixes like
 * .cold/.isra.0 dropped), stable across runs and kernel builds. The log is
 * guest-written: lines and names are bounded, nothing is trusted to end.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define HV_TITLE_MAX 200
#define HV_TITLE_FRAMES 3           /* frames in the signature */
#define HV_TITLE_SIGNATURE_VERSION 1

typedef struct {
	char *title;          /* normalised, at most HV_TITLE_MAX bytes */
	char *kind;           /* "null-deref", "paging", "bug", "gpf", "warning", "soft-lockup",
			       * "hung-task", "kasan", "sysrq", "panic", "oops", "hang", "unknown" */
	char *function;       /* where (a function name), or NULL */
	char *panic_message;  /* text after "Kernel panic - not syncing: ", or NULL */
	GPtrArray *frames;    /* char*: call trace below the crash machinery, top first */
	gint report_line;     /* index of the report's first line, -1 none */
} HvTitle;

void hv_title_init(HvTitle *t);
void hv_title_clear(HvTitle *t);

/* Finds the crash report in the log's lines (no timestamps). fallback_frames
 * (function names of the panicking CPU's stack, top first, may be NULL)
 * serve when the log has no usable call trace. */
void hv_title_from_log(const char *const *lines, guint n, const char *const *fallback_frames,
		       guint n_fallback, HvTitle *t);

/* For a guest that stopped making progress: which CPU-state class and where. */
void hv_title_for_hang(gboolean all_idle, const char *function, const char *const *frames,
		       guint n_frames, HvTitle *t);

/* Addresses, +off/size, file:line, pids, CPU numbers, [#N] out; spaces
 * collapsed; at most HV_TITLE_MAX bytes; idempotent. */
char *hv_title_normalise(const char *s);

/* A function name as it goes into titles: "foo.cold" / "foo.isra.0" → "foo". */
char *hv_title_function_name(const char *sym);

/* Whether a function is crash machinery (panic, oops, exception entry,
 * printk, the hvdump guest module) that a title and signature look past. */
gboolean hv_title_is_machinery(const char *func);

/* 16 hex digits: SHA-256 over the version, title and top frames. */
char *hv_title_signature(const HvTitle *t);

G_END_DECLS
