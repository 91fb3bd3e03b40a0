/* hv-title.c — crash titles and signatures; see hv-title.h. */
#include "hv-title.h"

#include <string.h>

#define MAX_LINE 1024         /* of a log line, looked at */
#define REPORT_WINDOW 200     /* lines after a header searched for RIP / Call Trace */
#define MAX_TRACE 64

void hv_title_init(HvTitle *t)
{
	memset(t, 0, sizeof(*t));
	t->frames = g_ptr_array_new_with_free_func(g_free);
	t->report_line = -1;
}

void hv_title_clear(HvTitle *t)
{
	g_free(t->title);
	g_free(t->kind);
	g_free(t->function);
	g_free(t->panic_message);
	if (t->frames != NULL)
		g_ptr_array_unref(t->frames);
	memset(t, 0, sizeof(*t));
}

static gboolean is_word(char c)
{
	return g_ascii_isalnum(c) || c == '_';
}

static gboolean starts_word_ci(const char *p, const char *w, gboolean at_boundary)
{
	gsize n = strlen(w);

	return at_boundary && g_ascii_strncasecmp(p, w, n) == 0 && !is_word(p[n]);
}

/* One pass of the rules over s (NUL-terminated, bounded by the caller). */
static char *normalise_pass(const char *s)
{
	GString *o = g_string_sized_new(strlen(s) + 1);
	gsize i = 0, n = strlen(s);

	while (i < n) {
		gboolean bound = i == 0 || !is_word(s[i - 1]);
		const char *p = s + i;
		gsize j;

		/* +0xOFF/0xSIZE */
		if (p[0] == '+' && p[1] == '0' && p[2] == 'x' && g_ascii_isxdigit(p[3])) {
			j = 3;
			while (g_ascii_isxdigit(p[j]))
				j++;
			if (p[j] == '/' && p[j + 1] == '0' && p[j + 2] == 'x') {
				j += 3;
				while (g_ascii_isxdigit(p[j]))
					j++;
			}
			i += j;
			continue;
		}
		/* 0xHEX → ADDR */
		if (bound && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && g_ascii_isxdigit(p[2])) {
			j = 2;
			while (g_ascii_isxdigit(p[j]))
				j++;
			if (!is_word(p[j])) {
				g_string_append(o, "ADDR");
				i += j;
				continue;
			}
		}
		/* 8+ hex digits with a digit among them, as a whole word → ADDR */
		if (bound && g_ascii_isxdigit(p[0])) {
			gboolean digit = FALSE;

			j = 0;
			while (g_ascii_isxdigit(p[j])) {
				digit |= g_ascii_isdigit(p[j]);
				j++;
			}
			if (j >= 8 && digit && !is_word(p[j])) {
				g_string_append(o, "ADDR");
				i += j;
				continue;
			}
		}
		/* [#N] */
		if (p[0] == '[' && p[1] == '#' && g_ascii_isdigit(p[2])) {
			j = 2;
			while (g_ascii_isdigit(p[j]))
				j++;
			if (p[j] == ']') {
				i += j + 1;
				continue;
			}
		}
		/* file.c:LINE, [comm:PID] → drop ":digits" */
		if (p[0] == ':' && g_ascii_isdigit(p[1]) && i > 0 && is_word(s[i - 1])) {
			j = 1;
			while (g_ascii_isdigit(p[j]))
				j++;
			if (!is_word(p[j])) {
				i += j;
				continue;
			}
		}
		/* CPU#3, CPU: 3, cpu 3, cpu=3; PID: 12, pid 12, pid=12 → keep the word */
		if (starts_word_ci(p, "cpu", bound) || starts_word_ci(p, "pid", bound)) {
			g_string_append_len(o, p, 3);
			j = 3;
			while (p[j] == '#' || p[j] == ':' || p[j] == '=' || p[j] == ' ')
				j++;
			if (g_ascii_isdigit(p[j])) {
				while (g_ascii_isdigit(p[j]))
					j++;
				if (!is_word(p[j])) {
					i += j;
					continue;
				}
			}
			i += 3;
			continue;
		}
		/* whitespace and control bytes collapse to one space */
		if ((guchar)p[0] <= 0x20 || p[0] == 0x7f) {
			if (o->len > 0 && o->str[o->len - 1] != ' ')
				g_string_append_c(o, ' ');
			i++;
			continue;
		}
		g_string_append_c(o, p[0]);
		i++;
	}
	if (o->len > HV_TITLE_MAX) {
		gsize cut = HV_TITLE_MAX;
		const char *sp;

		while (cut > 0 && ((guchar)o->str[cut] & 0xc0) == 0x80)
			cut--; /* not inside a UTF-8 sequence */
		g_string_truncate(o, cut);
		sp = strrchr(o->str, ' ');
		if (sp != NULL && sp - o->str > HV_TITLE_MAX / 2)
			g_string_truncate(o, (gsize)(sp - o->str)); /* at a word end */
	}
	/* no space before punctuation left by a removed number, none at the ends */
	while (o->len > 0 && (o->str[o->len - 1] == ' ' || o->str[o->len - 1] == ':' ||
			      o->str[o->len - 1] == ','))
		g_string_truncate(o, o->len - 1);
	{
		gsize k = 0;

		while (k < o->len && o->str[k] == ' ')
			k++;
		g_string_erase(o, 0, (gssize)k);
	}
	return g_string_free(o, FALSE);
}

char *hv_title_normalise(const char *s)
{
	char *cur = g_strndup(s, 4 * HV_TITLE_MAX);

	/* rules applied until nothing changes (a cut or a removed number can
	 * expose a new match); each changing pass removes at least a digit,
	 * so 4 * HV_TITLE_MAX passes always reach the fixed point */
	for (int k = 0; k < 4 * HV_TITLE_MAX + 1; k++) {
		char *next = normalise_pass(cur);

		if (strcmp(next, cur) == 0) {
			g_free(next);
			break;
		}
		g_free(cur);
		cur = next;
	}
	return cur;
}

char *hv_title_function_name(const char *sym)
{
	const char *dot = strchr(sym, '.');
	gsize n = dot != NULL ? (gsize)(dot - sym) : strlen(sym);

	return g_strndup(sym, MIN(n, (gsize)128));
}

static const char *const machinery[] = {
	"panic", "vpanic", "nmi_panic", "__crash_kexec", "crash_kexec", "notifier_call_chain",
	"atomic_notifier_call_chain", "raw_notifier_call_chain", "blocking_notifier_call_chain",
	"notify_die", "die", "__die", "__die_body", "die_addr", "oops_end", "oops_begin",
	"do_trap", "do_error_trap", "handle_invalid_op", "handle_bug", "report_bug", "__warn",
	"warn_slowpath_fmt", "__warn_printk", "exc_invalid_op", "asm_exc_invalid_op",
	"exc_page_fault", "asm_exc_page_fault", "page_fault_oops", "kernelmode_fixup_or_oops",
	"__bad_area_nosemaphore", "bad_area_nosemaphore", "do_user_addr_fault", "do_kern_addr_fault",
	"exc_general_protection", "asm_exc_general_protection", "exc_divide_error",
	"asm_exc_divide_error", "dump_stack", "dump_stack_lvl", "show_stack", "show_trace_log_lvl",
	"show_regs", "__show_regs", "show_regs_if_on_stack", "print_modules", "nmi_handle",
	"default_do_nmi", "exc_nmi", "asm_exc_nmi", "nmi", "end_repeat_nmi", "crash_nmi_callback",
	"smp_stop_nmi_callback", "fixup_exception", "watchdog_timer_fn", "__hrtimer_run_queues",
	"hrtimer_interrupt", "__sysvec_apic_timer_interrupt", "sysvec_apic_timer_interrupt",
	"asm_sysvec_apic_timer_interrupt", "watchdog", "check_hung_task",
	"check_hung_uninterruptible_tasks", "schedule", "__schedule", "schedule_timeout",
	"schedule_preempt_disabled", "io_schedule", "wait_for_completion", "memcpy", "memset",
	"memmove", "__memcpy", "__memset", "strlen", "strcpy", "strcmp", "strncmp",
};

static const char *const machinery_prefixes[] = {
	"printk", "_printk", "vprintk", "console_", "kasan_", "__kasan", "kmsan", "__asan",
	"__sanitizer", "print_report", "lockdep_", "hvdump_guest", "hvdump_panic", "__warn",
};

gboolean hv_title_is_machinery(const char *func)
{
	for (gsize i = 0; i < G_N_ELEMENTS(machinery); i++)
		if (strcmp(func, machinery[i]) == 0)
			return TRUE;
	for (gsize i = 0; i < G_N_ELEMENTS(machinery_prefixes); i++)
		if (g_str_has_prefix(func, machinery_prefixes[i]))
			return TRUE;
	return FALSE;
}

/* "  ? foo.cold+0x1c/0x80 [mod]" → TRUE, "foo", reliable = no "?" */
static gboolean parse_frame(const char *line, char **func_ret, gboolean *reliable_ret)
{
	const char *p = line;
	const char *start, *plus;

	while (*p == ' ' || *p == '\t')
		p++;
	*reliable_ret = TRUE;
	if (p[0] == '?' && p[1] == ' ') {
		*reliable_ret = FALSE;
		p += 2;
	}
	start = p;
	while (is_word(*p) || *p == '.' || *p == '$')
		p++;
	plus = p;
	if (plus == start || plus - start > 128 || plus[0] != '+' || plus[1] != '0' || plus[2] != 'x')
		return FALSE;
	p = plus + 3;
	while (g_ascii_isxdigit(*p))
		p++;
	if (p[0] != '/' || p[1] != '0' || p[2] != 'x')
		return FALSE;
	{
		char *raw = g_strndup(start, (gsize)(plus - start));

		*func_ret = hv_title_function_name(raw);
		g_free(raw);
	}
	return TRUE;
}

/* "RIP: 0010:foo+0x1/0x2 [mod]" — kernel-mode RIP lines only */
static char *rip_function(const char *line)
{
	const char *p = strstr(line, "RIP: 0010:");
	char *f = NULL;
	gboolean rel;

	if (p == NULL || !parse_frame(p + 10, &f, &rel))
		return NULL;
	return f;
}

typedef struct {
	const char *prefix;   /* found anywhere in the line (after "watchdog: " etc.) */
	const char *kind;
	const char *title;    /* "%s" is the function */
} Header;

static const Header headers[] = {
	{ "BUG: kernel NULL pointer dereference", "null-deref",
	  "BUG: kernel NULL pointer dereference in %s" },
	{ "BUG: unable to handle page fault", "paging",
	  "BUG: unable to handle kernel paging request in %s" },
	{ "BUG: unable to handle kernel paging request", "paging",
	  "BUG: unable to handle kernel paging request in %s" },
	{ "kernel BUG at ", "bug", "kernel BUG in %s" },
	{ "general protection fault", "gpf", "general protection fault in %s" },
	{ "WARNING: CPU: ", "warning", "WARNING in %s" },
	{ "BUG: soft lockup", "soft-lockup", "BUG: soft lockup in %s" },
	{ "INFO: task ", "hung-task", "INFO: task hung in %s" },
	{ "BUG: KASAN: ", "kasan", "KASAN: %s" },
	{ "BUG: scheduling while atomic", "bug", "BUG: scheduling while atomic in %s" },
	{ "divide error: ", "divide", "divide error in %s" },
	{ "invalid opcode: ", "invalid-op", "invalid opcode in %s" },
	{ "Oops: ", "oops", "Oops in %s" },
};

#define PANIC_PREFIX "Kernel panic - not syncing: "

static const char *line_at(const char *const *lines, guint i, char *buf)
{
	g_strlcpy(buf, lines[i], MAX_LINE);
	return buf;
}

/* The call trace of the report starting at line h: frames, top first. */
static void collect_trace(const char *const *lines, guint n, guint h, GPtrArray *out)
{
	char buf[MAX_LINE];
	guint end = MIN(n, h + REPORT_WINDOW);
	gboolean in_trace = FALSE;

	for (guint i = h + 1; i < end && out->len < MAX_TRACE; i++) {
		const char *l = line_at(lines, i, buf);
		char *f = NULL;
		gboolean rel;

		if (!in_trace) {
			if (strstr(l, "Call Trace:") != NULL)
				in_trace = TRUE;
			continue;
		}
		if (strstr(l, "</TASK>") != NULL || strstr(l, "Modules linked in") != NULL ||
		    strstr(l, "---[ end trace") != NULL)
			break;
		if (parse_frame(l, &f, &rel)) {
			if (rel)
				g_ptr_array_add(out, f);
			else
				g_free(f);
		}
	}
}

static void set_frames(HvTitle *t, GPtrArray *cands)
{
	for (guint i = 0; i < cands->len && t->frames->len < MAX_TRACE; i++) {
		const char *f = g_ptr_array_index(cands, i);

		if (!hv_title_is_machinery(f))
			g_ptr_array_add(t->frames, g_strdup(f));
	}
}

static void finish_title(HvTitle *t, const char *kind, const char *raw)
{
	t->kind = g_strdup(kind);
	t->title = hv_title_normalise(raw);
}

static char *kasan_what(const char *l)
{
	/* "BUG: KASAN: slab-use-after-free in foo+0x1/0x2" → "slab-use-after-free" */
	const char *p = strstr(l, "BUG: KASAN: ") + 12;
	const char *e = p;

	while (*e != '\0' && *e != ' ' && e - p < 64)
		e++;
	return g_strndup(p, (gsize)(e - p));
}

void hv_title_from_log(const char *const *lines, guint n, const char *const *fallback_frames,
		       guint n_fallback, HvTitle *t)
{
	char buf[MAX_LINE];
	const Header *hdr = NULL;
	gint panic_line = -1;
	guint h = 0;
	g_autoptr(GPtrArray) cands = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < n && hdr == NULL; i++) {
		const char *l = line_at(lines, i, buf);

		for (gsize k = 0; k < G_N_ELEMENTS(headers); k++) {
			const char *m = strstr(l, headers[k].prefix);

			/* INFO: task needs "blocked for more than" */
			if (m != NULL && (headers[k].title[0] != 'I' ||
					  strstr(l, "blocked for more than") != NULL)) {
				hdr = &headers[k];
				h = i;
				break;
			}
		}
		if (hdr == NULL && strstr(l, PANIC_PREFIX) != NULL) {
			panic_line = (gint)i;
			break;
		}
	}
	/* the panic message, wherever it is (after an oops: "Fatal exception") */
	for (guint i = hdr != NULL ? h : 0; i < n; i++) {
		const char *l = line_at(lines, i, buf);
		const char *m = strstr(l, PANIC_PREFIX);

		if (m != NULL) {
			t->panic_message = g_strstrip(g_strdup(m + strlen(PANIC_PREFIX)));
			if (panic_line < 0)
				panic_line = (gint)i;
			break;
		}
	}
	if (hdr != NULL) {
		char *rip = NULL;
		guint end = MIN(n, h + REPORT_WINDOW);
		const char *hl;

		t->report_line = (gint)h;
		/* WARN names the function in its header */
		hl = line_at(lines, h, buf);
		if (strcmp(hdr->kind, "warning") == 0) {
			const char *at = strstr(hl, " at ");
			const char *sp = at != NULL ? strchr(at + 4, ' ') : NULL;
			gboolean rel;

			if (sp != NULL)
				parse_frame(sp + 1, &rip, &rel);
		} else if (strcmp(hdr->kind, "kasan") == 0) {
			const char *in = strstr(hl, " in ");
			gboolean rel;

			if (in != NULL)
				parse_frame(in + 4, &rip, &rel);
		}
		for (guint i = h; i < end && rip == NULL; i++) {
			rip = rip_function(line_at(lines, i, buf));
			if (strstr(buf, "Call Trace:") != NULL)
				break;
		}
		if (rip != NULL)
			g_ptr_array_add(cands, rip);
		collect_trace(lines, n, h, cands);
	} else if (panic_line >= 0) {
		t->report_line = panic_line;
		collect_trace(lines, n, (guint)panic_line, cands);
	}
	if (cands->len == 0)
		for (guint i = 0; i < n_fallback && i < MAX_TRACE; i++)
			g_ptr_array_add(cands, hv_title_function_name(fallback_frames[i]));
	set_frames(t, cands);
	if (t->frames->len > 0)
		t->function = g_strdup(g_ptr_array_index(t->frames, 0));

	if (hdr != NULL) {
		const char *f = t->function != NULL ? t->function : "unknown function";
		g_autofree char *raw = NULL;

		if (strcmp(hdr->kind, "kasan") == 0) {
			g_autofree char *what = kasan_what(line_at(lines, h, buf));
			const char *rw = "";

			for (guint i = h + 1; i < MIN(n, h + 3); i++) {
				line_at(lines, i, buf);
				if (g_str_has_prefix(g_strchug(buf), "Read of size"))
					rw = " Read";
				else if (g_str_has_prefix(buf, "Write of size"))
					rw = " Write";
			}
			raw = g_strdup_printf("KASAN: %s%s in %s", what, rw, f);
		} else {
			raw = g_strdup_printf(hdr->title, f);
		}
		finish_title(t, hdr->kind, raw);
	} else if (t->panic_message != NULL) {
		if (strcmp(t->panic_message, "sysrq triggered crash") == 0) {
			finish_title(t, "sysrq", "sysrq triggered crash");
		} else {
			g_autofree char *raw = g_strdup_printf("panic: %s", t->panic_message);

			finish_title(t, "panic", raw);
		}
	} else if (t->function != NULL) {
		g_autofree char *raw = g_strdup_printf("crash in %s", t->function);

		finish_title(t, "unknown", raw);
	} else {
		finish_title(t, "unknown", "unknown crash");
	}
}

void hv_title_for_hang(gboolean all_idle, const char *function, const char *const *frames,
		       guint n_frames, HvTitle *t)
{
	g_autofree char *f = function != NULL ? hv_title_function_name(function) :
						 g_strdup("unknown function");
	g_autofree char *raw = all_idle ? g_strdup_printf("hung guest: all CPUs idle in %s", f) :
					  g_strdup_printf("hung guest: stuck in %s", f);

	for (guint i = 0; i < n_frames && t->frames->len < MAX_TRACE; i++) {
		char *name = hv_title_function_name(frames[i]);

		if (hv_title_is_machinery(name))
			g_free(name);
		else
			g_ptr_array_add(t->frames, name);
	}
	g_free(t->function);
	t->function = g_strdup(f);
	g_free(t->kind);
	g_free(t->title);
	finish_title(t, "hang", raw);
}

char *hv_title_signature(const HvTitle *t)
{
	g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
	char ver[16];

	g_snprintf(ver, sizeof(ver), "v%d\n", HV_TITLE_SIGNATURE_VERSION);
	g_checksum_update(ck, (const guchar *)ver, -1);
	g_checksum_update(ck, (const guchar *)(t->title != NULL ? t->title : ""), -1);
	for (guint i = 0; i < t->frames->len && i < HV_TITLE_FRAMES; i++) {
		g_checksum_update(ck, (const guchar *)"\n", 1);
		g_checksum_update(ck, g_ptr_array_index(t->frames, i), -1);
	}
	return g_strndup(g_checksum_get_string(ck), 16);
}
