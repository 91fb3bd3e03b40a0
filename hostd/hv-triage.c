/* hv-triage.c — a crash report from a vmcore; see hv-triage.h. */
#include "hv-triage.h"

#include <json-c/json.h>
#include <string.h>

#include "hv-error.h"
#include "hv-kernel.h"
#include "hv-ramsrc.h"

#define PR_REG_OFF 112
#define PR_NREGS 27
#define R_RBP 4
#define R_RIP 16
#define R_CS 17
#define R_RSP 19
#define TLB_SLOTS 256

static const char *const reg_names[PR_NREGS] = {
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
	"rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs",
	"gs",
};

/* A small translation cache in front of the page tables: triage reads the
 * same kernel pages (ring, tables, stacks) over and over. */
typedef struct {
	const HvPgtable *pt;
	guint64 tag[TLB_SLOTS];
	guint64 pa[TLB_SLOTS];
	gboolean ok[TLB_SLOTS];
} Tlb;

static gboolean tlb_read(gpointer ctx, guint64 va, void *buf, gsize len)
{
	Tlb *t = ctx;
	guint8 *out = buf;

	while (len > 0) {
		guint64 page = va >> 12;
		guint slot = (guint)(page % TLB_SLOTS);
		gsize chunk = MIN(len, 4096 - (va & 4095));

		if (!t->ok[slot] || t->tag[slot] != page) {
			guint64 pa;

			if (!hv_pgtable_translate(t->pt, va & ~4095ull, &pa, NULL))
				return FALSE;
			t->tag[slot] = page;
			t->pa[slot] = pa;
			t->ok[slot] = TRUE;
		}
		if (!t->pt->read(t->pt->ctx, t->pa[slot] | (va & 4095), out, chunk))
			return FALSE;
		out += chunk;
		len -= chunk;
		va += chunk;
		if (va == 0 && len > 0)
			return FALSE;
	}
	return TRUE;
}

void hv_triage_clear(HvTriage *t)
{
	g_free(t->path);
	g_free(t->event);
	if (t->cpus != NULL) {
		for (guint i = 0; i < t->cpus->len; i++)
			g_array_unref(g_array_index(t->cpus, HvTriageCpu, i).frames);
		g_array_unref(t->cpus);
	}
	hv_printk_log_clear(&t->log);
	hv_ksyms_clear(&t->ks);
	hv_title_clear(&t->title);
	g_free(t->signature);
	g_free(t->crash_bt);
	if (t->unreadable != NULL)
		g_ptr_array_unref(t->unreadable);
	if (t->warnings != NULL)
		g_ptr_array_unref(t->warnings);
	memset(t, 0, sizeof(*t));
}

/* NT_PRSTATUS notes in file order: CPU 0, 1, … as QEMU, kdump and hvdump write them. */
static void read_cpus(const GByteArray *notes, HvTriage *t)
{
	gsize off = 0;

	while (notes != NULL && off + 12 <= notes->len && t->cpus->len < HV_TRIAGE_MAX_CPUS) {
		guint32 namesz, descsz, type;
		gsize name_off = off + 12, desc_off, next;

		memcpy(&namesz, notes->data + off, 4);
		memcpy(&descsz, notes->data + off + 4, 4);
		memcpy(&type, notes->data + off + 8, 4);
		desc_off = name_off + (((gsize)namesz + 3) & ~(gsize)3);
		next = desc_off + (((gsize)descsz + 3) & ~(gsize)3);
		if (namesz > notes->len || descsz > notes->len || next > notes->len)
			break;
		if (type == 1 && namesz == 5 && memcmp(notes->data + name_off, "CORE", 5) == 0 &&
		    descsz >= PR_REG_OFF + PR_NREGS * 8) {
			HvTriageCpu c = { .index = t->cpus->len, .have_regs = TRUE, .state = "unknown" };

			memcpy(&c.pid, notes->data + desc_off + 32, 4);
			memcpy(c.regs, notes->data + desc_off + PR_REG_OFF, sizeof(c.regs));
			c.frames = g_array_new(FALSE, FALSE, sizeof(HvStackFrame));
			g_array_append_val(t->cpus, c);
		}
		off = next;
	}
}

static void unwind_cpu(const HvKmem *m, const HvKsyms *ks, const HvOrc *orc, HvTriageCpu *c)
{
	HvStackFrame fr[HV_STACK_MAX_FRAMES];
	guint n = hv_stack_unwind(m, ks, orc, c->regs, fr, G_N_ELEMENTS(fr));

	g_array_append_vals(c->frames, fr, n);
}

static const char *const idle_funcs[] = {
	"default_idle", "native_safe_halt", "pv_native_safe_halt", "arch_cpu_idle",
	"default_idle_call", "do_idle", "cpu_idle_poll", "mwait_idle", "mwait_idle_with_hints",
	"acpi_safe_halt", "acpi_idle_do_entry", "acpi_idle_enter", "intel_idle", "poll_idle",
	"cpuidle_enter_state", "native_halt", "halt",
};

static const char *classify_cpu(const HvKsyms *ks, const HvTriageCpu *c)
{
	const char *name;

	if (!c->have_regs)
		return "unknown";
	if ((c->regs[R_CS] & 3) == 3 || c->regs[R_RIP] < 0xffff800000000000ull)
		return "user";
	name = hv_ksyms_lookup(ks, c->regs[R_RIP], NULL, NULL, NULL);
	if (name != NULL) {
		g_autofree char *fn = hv_title_function_name(name);

		for (gsize i = 0; i < G_N_ELEMENTS(idle_funcs); i++)
			if (strcmp(fn, idle_funcs[i]) == 0)
				return "idle";
	}
	return "kernel";
}

static char *vmcoreinfo_value(const char *text, const char *key)
{
	gsize kl = strlen(key);

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *nl = strchr(p, '\n');

		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return g_strndup(p + kl + 1, nl != NULL ? (gsize)(nl - p - (gssize)kl - 1) : strlen(p + kl + 1));
		p = nl != NULL ? nl + 1 : NULL;
	}
	return NULL;
}

/* Function names of a CPU's frames (symbolised ones only). */
static GPtrArray *frame_names(const HvTriage *t, const HvTriageCpu *c)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < c->frames->len; i++) {
		const char *n = hv_ksyms_lookup(&t->ks, g_array_index(c->frames, HvStackFrame, i).addr,
						NULL, NULL, NULL);

		if (n != NULL)
			g_ptr_array_add(a, g_strdup(n));
	}
	return a;
}

static void run_crash_bt(HvTriage *t, const char *vmlinux)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) p = NULL;
	g_autofree char *out = NULL;

	/* crash reads commands from stdin; timeout bounds a crash that hangs */
	p = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
			     G_SUBPROCESS_FLAGS_STDERR_MERGE, &error, "timeout", "300", "crash", "-s",
			     vmlinux, t->path, NULL);
	if (p == NULL || !g_subprocess_communicate_utf8(p, "bt -a\nquit\n", NULL, &out, NULL, &error)) {
		g_ptr_array_add(t->unreadable, g_strdup_printf("crash bt -a: %s", error->message));
		return;
	}
	if (!g_subprocess_get_successful(p))
		g_ptr_array_add(t->unreadable,
				g_strdup_printf("crash bt -a: crash exited with status %d",
						g_subprocess_get_exit_status(p)));
	t->crash_bt = g_steal_pointer(&out);
}

gboolean hv_triage_file(const char *path, const HvTriageOptions *opt, HvTriage *t,
			GError **error)
{
	g_autoptr(HvRamSource) mem = NULL;
	g_autoptr(GError) local = NULL;
	HvKernelInfo ki = { 0 };
	HvDumpFile *f;
	const char *vmci;
	gsize vlen = 0;
	Tlb *tlb = NULL;
	HvKmem km = { 0 };
	HvOrc orc = { 0 };
	gboolean have_kmem = FALSE;

	memset(t, 0, sizeof(*t));
	t->path = g_strdup(path);
	t->cpus = g_array_new(FALSE, TRUE, sizeof(HvTriageCpu));
	t->unreadable = g_ptr_array_new_with_free_func(g_free);
	t->warnings = g_ptr_array_new_with_free_func(g_free);
	t->panic_cpu = -1;
	hv_printk_log_init(&t->log);
	hv_ksyms_init(&t->ks);
	hv_title_init(&t->title);

	f = hv_dump_file_open(path, error);
	if (f == NULL)
		return FALSE;
	t->file = *hv_dump_file_get_info(f);
	g_strlcpy(t->release, t->file.release, sizeof(t->release));
	t->crash_time = t->file.timestamp;
	read_cpus(hv_dump_file_get_notes(f), t);
	vmci = hv_dump_file_get_vmcoreinfo(f, &vlen);
	mem = hv_ram_source_new_dump(f); /* owns f */

	if (vmci == NULL) {
		g_ptr_array_add(t->unreadable, g_strdup("VMCOREINFO: the dump has none"));
	} else if (!hv_kernel_from_vmcoreinfo(mem, vmci, vlen, &ki, &local)) {
		g_ptr_array_add(t->unreadable, g_strdup_printf("VMCOREINFO: %s", local->message));
		g_clear_error(&local);
	} else {
		g_autofree char *ct = vmcoreinfo_value(ki.vi.text, "CRASHTIME");

		g_strlcpy(t->release, ki.vi.osrelease, sizeof(t->release));
		g_strlcpy(t->build_id, ki.vi.build_id, sizeof(t->build_id));
		t->event = vmcoreinfo_value(ki.vi.text, "HVDUMP_EVENT");
		if (ct != NULL)
			t->crash_time = g_ascii_strtoull(ct, NULL, 10);
		for (guint i = 0; i < ki.warnings->len; i++)
			g_ptr_array_add(t->warnings, g_strdup(g_ptr_array_index(ki.warnings, i)));
		if (!ki.has_pgtable) {
			g_ptr_array_add(t->unreadable,
					g_strdup("kernel page tables: not readable; no virtual memory"));
		} else {
			tlb = g_new0(Tlb, 1);
			tlb->pt = &ki.pgtable;
			km.read = tlb_read;
			km.ctx = tlb;
			have_kmem = TRUE;
		}
	}

	if (have_kmem) {
		HvPrintkLayout pl;
		guint64 a;

		if (!hv_ksyms_read_kernel(&t->ks, &km, &ki.vi, &local)) {
			g_ptr_array_add(t->unreadable, g_strdup_printf("symbols: %s", local->message));
			g_clear_error(&local);
		} else {
			hv_ksyms_read_modules(&t->ks, &km);
			if (!hv_orc_load(&orc, &km, &t->ks, ki.vi.osrelease, &local)) {
				g_ptr_array_add(t->unreadable,
						g_strdup_printf("unwind tables: %s; call traces are stack scans",
								local->message));
				g_clear_error(&local);
			}
			for (guint i = 0; i < t->ks.warnings->len; i++)
				g_ptr_array_add(t->unreadable,
						g_strdup(g_ptr_array_index(t->ks.warnings, i)));
			a = hv_ksyms_lookup_name(&t->ks, "tainted_mask");
			t->have_taint = a != 0 && hv_kmem_u64(&km, a, &t->taint);
			a = hv_ksyms_lookup_name(&t->ks, "panic_cpu");
			if (a != 0) {
				gint32 pc;

				if (hv_kmem_read(&km, a, &pc, 4) && pc >= 0 && (guint)pc < t->cpus->len)
					t->panic_cpu = pc;
			}
		}
		if (!hv_printk_layout_from_vmcoreinfo(&ki.vi, &pl, &local) ||
		    !hv_printk_read(&km, &pl, &t->log, &local)) {
			g_ptr_array_add(t->unreadable, g_strdup_printf("log: %s", local->message));
			g_clear_error(&local);
		} else {
			t->have_log = TRUE;
			if (t->log.unreadable > 0 || t->log.invalid > 0)
				g_ptr_array_add(t->unreadable,
						g_strdup_printf("log: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
								" record slots unreadable, %" G_GUINT64_FORMAT
								" invalid",
								t->log.unreadable, t->log.slots,
								t->log.invalid));
			if (t->log.truncated)
				g_ptr_array_add(t->unreadable,
						g_strdup_printf("log: more than %u MiB of text; records "
								"past that not read",
								HV_PRINTK_MAX_TEXT >> 20));
			if (t->log.records->len > 0) {
				t->have_uptime = TRUE;
				t->uptime_ns = g_array_index(t->log.records, HvPrintkRecord,
							     t->log.records->len - 1).ts_nsec;
			}
		}
	}
	for (guint i = 0; i < t->cpus->len; i++) {
		HvTriageCpu *c = &g_array_index(t->cpus, HvTriageCpu, i);

		if (have_kmem && t->ks.have_kernel)
			unwind_cpu(&km, &t->ks, &orc, c);
		else
			g_array_append_val(c->frames, ((HvStackFrame){ .addr = c->regs[R_RIP] }));
		c->state = classify_cpu(&t->ks, c);
	}
	if (t->cpus->len == 0)
		g_ptr_array_add(t->unreadable, g_strdup("CPU registers: the dump has no NT_PRSTATUS notes"));

	/* the panicking CPU: panic_cpu, else hvdump's event CPU, else the first
	 * whose stack runs through panic */
	if (t->panic_cpu < 0) {
		g_autofree char *ec = ki.vi.text != NULL ? vmcoreinfo_value(ki.vi.text, "HVDUMP_CPU") : NULL;
		guint64 v;

		if (ec != NULL && t->cpus->len > 0 && g_ascii_string_to_unsigned(ec, 10, 0, t->cpus->len ? t->cpus->len - 1 : 0,
							      &v, NULL))
			t->panic_cpu = (gint)v;
	}
	for (guint i = 0; i < t->cpus->len && t->panic_cpu < 0; i++) {
		g_autoptr(GPtrArray) names = frame_names(t, &g_array_index(t->cpus, HvTriageCpu, i));

		for (guint k = 0; k < names->len; k++)
			if (strcmp(g_ptr_array_index(names, k), "panic") == 0)
				t->panic_cpu = (gint)i;
	}

	t->hang = opt->hang || g_strcmp0(t->event, "hang") == 0;
	if (t->hang) {
		/* where each CPU was: the first CPU not idle, else the first */
		const HvTriageCpu *busy = NULL;
		gboolean all_idle = t->cpus->len > 0;

		for (guint i = 0; i < t->cpus->len; i++) {
			const HvTriageCpu *c = &g_array_index(t->cpus, HvTriageCpu, i);

			if (strcmp(c->state, "idle") != 0) {
				all_idle = FALSE;
				if (busy == NULL)
					busy = c;
			}
		}
		if (busy == NULL && t->cpus->len > 0)
			busy = &g_array_index(t->cpus, HvTriageCpu, 0);
		if (busy != NULL) {
			g_autoptr(GPtrArray) names = frame_names(t, busy);
			const char *where = strcmp(busy->state, "user") == 0 ? "user space" :
					    names->len > 0 ? (const char *)g_ptr_array_index(names, 0) : NULL;

			/* the hung CPU is the one to look at */
			t->panic_cpu = (gint)busy->index;
			hv_title_for_hang(all_idle, where, (const char *const *)names->pdata, names->len,
					  &t->title);
		} else {
			hv_title_for_hang(FALSE, NULL, NULL, 0, &t->title);
		}
	} else {
		g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) names = NULL;

		for (guint i = 0; i < t->log.records->len; i++) {
			g_auto(GStrv) parts = g_strsplit(g_array_index(t->log.records, HvPrintkRecord,
								       i).text, "\n", 256);

			for (guint k = 0; parts[k] != NULL; k++)
				if (parts[k][0] != '\0' || parts[k + 1] != NULL)
					g_ptr_array_add(lines, g_strdup(parts[k]));
		}
		if (t->panic_cpu >= 0 && (guint)t->panic_cpu < t->cpus->len)
			names = frame_names(t, &g_array_index(t->cpus, HvTriageCpu, t->panic_cpu));
		else
			names = g_ptr_array_new_with_free_func(g_free);
		hv_title_from_log((const char *const *)lines->pdata, lines->len,
				  (const char *const *)names->pdata, names->len, &t->title);
	}
	t->signature = hv_title_signature(&t->title);
	if (opt->vmlinux != NULL)
		run_crash_bt(t, opt->vmlinux);
	hv_kernel_info_clear(&ki);
	hv_orc_clear(&orc);
	g_free(tlb);
	return TRUE;
}

void hv_triage_taint_string(guint64 mask, char buf[32])
{
	static const char letters[] = "PFSRMBUDAWCIOELKXTN";
	guint n = 0;

	for (guint i = 0; i < sizeof(letters) - 1; i++) {
		char c = (mask >> i) & 1 ? letters[i] : ' ';

		if (i == 0 && c == ' ')
			c = 'G';
		buf[n++] = c;
	}
	while (n > 1 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}

static char *hex(guint64 v)
{
	return g_strdup_printf("0x%016" G_GINT64_MODIFIER "x", v);
}

static json_object *jstr_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static json_object *strv_json(GPtrArray *a)
{
	json_object *o = json_object_new_array();

	for (guint i = 0; a != NULL && i < a->len; i++)
		json_object_array_add(o, json_object_new_string(g_ptr_array_index(a, i)));
	return o;
}

char *hv_triage_dmesg(const HvTriage *t, guint n_lines)
{
	g_autofree char *all = hv_printk_format(&t->log, 0);
	const char *p;
	guint seen = 0;

	if (n_lines == 0 || all[0] == '\0')
		return g_steal_pointer(&all);
	/* the last n_lines lines */
	p = all + strlen(all) - 1;
	while (p > all) {
		if (p[-1] == '\n' && ++seen == n_lines)
			break;
		p--;
	}
	return g_strdup(p);
}

json_object *hv_triage_to_json_object(const HvTriage *t)
{
	json_object *o = json_object_new_object();
	json_object *k = json_object_new_object(), *d = json_object_new_object();
	json_object *cpus = json_object_new_array(), *lines = json_object_new_array();
	json_object *syms = json_object_new_object(), *dump = json_object_new_object();

	json_object_object_add(o, "schema", json_object_new_string("hvdump-triage"));
	json_object_object_add(o, "schema_version", json_object_new_int(HV_TRIAGE_SCHEMA_VERSION));
	json_object_object_add(o, "title", json_object_new_string(t->title.title));
	json_object_object_add(o, "kind", json_object_new_string(t->title.kind));
	json_object_object_add(o, "signature", json_object_new_string(t->signature));
	json_object_object_add(o, "signature_version",
			       json_object_new_int(HV_TITLE_SIGNATURE_VERSION));
	json_object_object_add(o, "function", jstr_or_null(t->title.function));
	json_object_object_add(o, "frames", strv_json(t->title.frames));
	json_object_object_add(o, "panic_message", jstr_or_null(t->title.panic_message));
	json_object_object_add(o, "hang", json_object_new_boolean(t->hang));
	json_object_object_add(o, "event", jstr_or_null(t->event));
	json_object_object_add(o, "panic_cpu",
			       t->panic_cpu >= 0 ? json_object_new_int(t->panic_cpu) : NULL);

	json_object_object_add(dump, "path", json_object_new_string(t->path));
	json_object_object_add(dump, "format", json_object_new_string(
		t->file.kind == HV_DUMP_FILE_KDUMP ? "kdump" : "elf"));
	json_object_object_add(dump, "flattened", json_object_new_boolean(t->file.flattened));
	json_object_object_add(dump, "dump_level", t->file.dump_level >= 0 ?
				json_object_new_int(t->file.dump_level) : NULL);
	json_object_object_add(dump, "complete", json_object_new_boolean(!t->file.incomplete));
	json_object_object_add(dump, "size", json_object_new_int64((gint64)t->file.file_size));
	json_object_object_add(o, "dump", dump);

	json_object_object_add(k, "release", json_object_new_string(t->release));
	json_object_object_add(k, "build_id", t->build_id[0] ? json_object_new_string(t->build_id) : NULL);
	json_object_object_add(k, "uptime_s", t->have_uptime ?
			       json_object_new_double((double)t->uptime_ns / 1e9) : NULL);
	json_object_object_add(k, "crash_time", t->crash_time ?
			       json_object_new_int64((gint64)t->crash_time) : NULL);
	if (t->have_taint) {
		json_object *ta = json_object_new_object();
		char s[32];

		hv_triage_taint_string(t->taint, s);
		json_object_object_add(ta, "mask", json_object_new_int64((gint64)t->taint));
		json_object_object_add(ta, "flags", json_object_new_string(s));
		json_object_object_add(k, "taint", ta);
	} else {
		json_object_object_add(k, "taint", NULL);
	}
	json_object_object_add(o, "kernel", k);

	for (guint i = 0; i < t->cpus->len; i++) {
		const HvTriageCpu *c = &g_array_index(t->cpus, HvTriageCpu, i);
		json_object *jc = json_object_new_object(), *regs = json_object_new_object();
		json_object *bt = json_object_new_array();
		g_autofree char *where = hv_ksyms_format(&t->ks, c->regs[R_RIP]);

		json_object_object_add(jc, "cpu", json_object_new_int((int)c->index));
		json_object_object_add(jc, "state", json_object_new_string(c->state));
		json_object_object_add(jc, "where", json_object_new_string(where));
		for (guint r = 0; r < PR_NREGS; r++) {
			g_autofree char *h = hex(c->regs[r]);

			json_object_object_add(regs, reg_names[r], json_object_new_string(h));
		}
		json_object_object_add(jc, "registers", regs);
		for (guint f = 0; f < c->frames->len; f++) {
			const HvStackFrame *fr = &g_array_index(c->frames, HvStackFrame, f);
			json_object *jf = json_object_new_object();
			g_autofree char *a = hex(fr->addr);
			g_autofree char *sym = hv_ksyms_format(&t->ks, fr->addr);

			json_object_object_add(jf, "addr", json_object_new_string(a));
			json_object_object_add(jf, "symbol", json_object_new_string(sym));
			json_object_object_add(jf, "reliable", json_object_new_boolean(fr->reliable));
			if (fr->sp != 0) {
				g_autofree char *sp = hex(fr->sp);

				json_object_object_add(jf, "sp", json_object_new_string(sp));
			}
			json_object_array_add(bt, jf);
		}
		json_object_object_add(jc, "backtrace", bt);
		json_object_array_add(cpus, jc);
	}
	json_object_object_add(o, "cpus", cpus);

	json_object_object_add(d, "available", json_object_new_boolean(t->have_log));
	json_object_object_add(d, "records", json_object_new_int((int)t->log.records->len));
	json_object_object_add(d, "missing", json_object_new_int64((gint64)t->log.missing));
	json_object_object_add(d, "unreadable", json_object_new_int64((gint64)t->log.unreadable));
	json_object_object_add(d, "invalid", json_object_new_int64((gint64)t->log.invalid));
	{
		g_autofree char *text = hv_printk_format(&t->log, 0);
		g_auto(GStrv) ls = g_strsplit(text, "\n", -1);

		for (guint i = 0; ls[i] != NULL; i++)
			if (ls[i][0] != '\0')
				json_object_array_add(lines, json_object_new_string(ls[i]));
	}
	json_object_object_add(d, "lines", lines);
	json_object_object_add(o, "dmesg", d);

	json_object_object_add(syms, "kernel", json_object_new_boolean(t->ks.have_kernel));
	json_object_object_add(syms, "count", json_object_new_int((int)t->ks.syms->len));
	json_object_object_add(syms, "modules", strv_json(t->ks.modules));
	json_object_object_add(o, "symbols", syms);
	json_object_object_add(o, "crash_bt", jstr_or_null(t->crash_bt));
	json_object_object_add(o, "unreadable", strv_json(t->unreadable));
	json_object_object_add(o, "warnings", strv_json(t->warnings));

	return o;
}

char *hv_triage_to_json(const HvTriage *t)
{
	json_object *o = hv_triage_to_json_object(t);
	char *out = g_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return out;
}

void hv_triage_print(const HvTriage *t, FILE *out)
{
	g_autofree char *dmesg = hv_triage_dmesg(t, 0);

	fprintf(out, "title:      %s\n", t->title.title);
	fprintf(out, "signature:  %s\n", t->signature);
	if (t->title.panic_message != NULL)
		fprintf(out, "panic:      %s\n", t->title.panic_message);
	fprintf(out, "kernel:     %s%s%s\n", t->release[0] ? t->release : "(unknown)",
		t->build_id[0] ? "  build id " : "", t->build_id);
	if (t->have_uptime)
		fprintf(out, "uptime:     %.3f s\n", (double)t->uptime_ns / 1e9);
	if (t->have_taint) {
		char s[32];

		hv_triage_taint_string(t->taint, s);
		fprintf(out, "tainted:    %s\n", s);
	}
	fprintf(out, "dump:       %s\n", t->path);
	for (guint i = 0; i < t->cpus->len; i++) {
		const HvTriageCpu *c = &g_array_index(t->cpus, HvTriageCpu, i);
		g_autofree char *where = hv_ksyms_format(&t->ks, c->regs[R_RIP]);

		fprintf(out, "\nCPU %u%s (%s): %s\n", c->index,
			(gint)c->index == t->panic_cpu ? (t->hang ? ", hung" : ", panicking") : "",
			c->state, where);
		for (guint r = 0; (gint)c->index == t->panic_cpu && r < PR_NREGS; r++)
			fprintf(out, "  %8s: %016" G_GINT64_MODIFIER "x%s", reg_names[r], c->regs[r],
				r % 3 == 2 || r == PR_NREGS - 1 ? "\n" : "");
		for (guint f = 0; f < c->frames->len; f++) {
			const HvStackFrame *fr = &g_array_index(c->frames, HvStackFrame, f);
			g_autofree char *sym = hv_ksyms_format(&t->ks, fr->addr);

			fprintf(out, "  #%-2u %s%s\n", f, fr->reliable ? "" : "? ", sym);
		}
	}
	if (t->unreadable->len > 0) {
		fprintf(out, "\nunreadable:\n");
		for (guint i = 0; i < t->unreadable->len; i++)
			fprintf(out, "  %s\n", (const char *)g_ptr_array_index(t->unreadable, i));
	}
	if (t->crash_bt != NULL)
		fprintf(out, "\ncrash bt -a:\n%s", t->crash_bt);
	fprintf(out, "\ndmesg (%u records):\n%s", t->log.records->len, dmesg);
}
