/* hv-kernel.c — VMCOREINFO discovery and kernel layout; see hv-kernel.h. */
#include "hv-kernel.h"

#include <inttypes.h>
#include <string.h>

#define PG 4096ull
#define TWO_MIB (2ull << 20)
#define KIMAGE_END 0xffffffffc0000000ull   /* __START_KERNEL_map + 1 GiB */
#define MAX_KIMAGE_STEPS 300000u
#define CR0_PG (1ull << 31)
#define EFER_LMA (1ull << 10)
#define CR4_LA57 (1ull << 12)

typedef struct {
	guint64 paddr;
	HvVmcoreinfo vi;
	HvPgtable pt;           /* the page tables that vouched for it */
} Candidate;

static void warn(HvKernelInfo *ki, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void warn(HvKernelInfo *ki, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(ki->warnings, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

void hv_kernel_info_clear(HvKernelInfo *ki)
{
	hv_vmcoreinfo_clear(&ki->vi);
	if (ki->warnings != NULL)
		g_ptr_array_unref(ki->warnings);
	memset(ki, 0, sizeof(*ki));
}

/* Reads and parses a note at paddr. */
static gboolean try_note_at(HvRamSource *mem, guint64 paddr, Candidate *c)
{
	guint8 hdr[HV_VMCOREINFO_DESC_OFFSET];
	g_autofree guint8 *desc = NULL;
	guint32 descsz;

	if (!hv_ram_source_read(mem, paddr, hdr, sizeof(hdr)))
		return FALSE;
	if (!hv_vmcoreinfo_note_header(hdr, HV_VMCOREINFO_DESC_OFFSET + HV_VMCOREINFO_MAX_DESC,
				       &descsz))
		return FALSE;
	desc = g_malloc(descsz);
	if (!hv_ram_source_read(mem, paddr + HV_VMCOREINFO_DESC_OFFSET, desc, descsz))
		return FALSE;
	c->paddr = paddr;
	return hv_vmcoreinfo_parse(desc, descsz, &c->vi, NULL);
}

/* A kernel page-table root from a vCPU in long mode. With PTI the user
 * copy sits 4 KiB above the kernel one, so both are tried. */
static guint collect_roots(GArray *cpus, guint64 roots[], gboolean la57[], guint max)
{
	guint n = 0, i;

	for (i = 0; i < cpus->len && n + 2 <= max; i++) {
		const HvVcpuRegs *r = &g_array_index(cpus, HvVcpuRegs, i);
		guint64 cr3 = r->cr[3] & HV_PTE_ADDR_MASK;

		if (!(r->cr[0] & CR0_PG) || !(r->efer & EFER_LMA) || cr3 == 0)
			continue;
		roots[n] = cr3;
		la57[n++] = (r->cr[4] & CR4_LA57) != 0;
		if (cr3 & 0x1000) {
			roots[n] = cr3 & ~0x1000ull;
			la57[n++] = (r->cr[4] & CR4_LA57) != 0;
		}
	}
	return n;
}

/* Does the candidate agree with the hardware's page tables? */
static gboolean verify(HvRamSource *mem, const HvVmcoreinfo *vi, const HvPgtable *pt)
{
	guint64 pa;
	guint8 uts[512];
	gsize rl = strlen(vi->osrelease);

	if (!hv_pgtable_translate(pt, vi->stext, &pa, NULL) ||
	    pa != hv_vmcoreinfo_kimage_pa(vi, vi->stext))
		return FALSE;
	if (vi->init_uts_ns != 0) {
		if (!hv_pgtable_translate(pt, vi->init_uts_ns, &pa, NULL) ||
		    pa != hv_vmcoreinfo_kimage_pa(vi, vi->init_uts_ns) ||
		    !hv_ram_source_read(mem, pa, uts, sizeof(uts)) ||
		    memmem(uts, sizeof(uts), vi->osrelease, rl + 1) == NULL)
			return FALSE;
	}
	return TRUE;
}

/* Is the direct-map address of the note stored in the kernel image (the
 * kernel's vmcoreinfo_note pointer)? Only kernel memory can hold it. */
static gboolean referenced_by_kernel(HvRamSource *mem, const HvKernelInfo *ki, guint64 paddr)
{
	guint64 want = GUINT64_TO_LE(ki->page_offset_base + paddr);
	guint8 buf[64 * 1024];
	guint64 off;

	for (off = 0; off < ki->kimage_size; off += sizeof(buf)) {
		gsize n = (gsize)MIN((guint64)sizeof(buf), ki->kimage_size - off);
		gsize j;

		if (!hv_ram_source_read(mem, ki->kimage_paddr + off, buf, n))
			return FALSE;
		for (j = 0; j + 8 <= n; j += 8) {
			if (memcmp(buf + j, &want, 8) == 0)
				return TRUE;
		}
	}
	return FALSE;
}

/* init_uts_ns.name as the kernel has it, when it reads as one: each field
 * NUL-terminated and printable, release as VMCOREINFO says. */
static void read_utsname(HvRamSource *mem, HvKernelInfo *ki)
{
	const char *key = "OFFSET(uts_namespace.name)=";
	const char *p = ki->vi.text != NULL ? strstr(ki->vi.text, key) : NULL;
	guint64 off = 0, pa;
	char uts[6][65];
	guint i, k;

	if (ki->vi.init_uts_ns == 0)
		return;
	if (p != NULL) {
		off = g_ascii_strtoull(p + strlen(key), NULL, 10);
		if (off > 4096)
			return;
	}
	pa = hv_vmcoreinfo_kimage_pa(&ki->vi, ki->vi.init_uts_ns + off);
	if (!hv_ram_source_read(mem, pa, uts, sizeof(uts)))
		return;
	for (i = 0; i < 6; i++) {
		if (memchr(uts[i], '\0', sizeof(uts[i])) == NULL)
			return;
		for (k = 0; uts[i][k] != '\0'; k++)
			if (!g_ascii_isprint(uts[i][k]))
				return;
	}
	if (strcmp(uts[2], ki->vi.osrelease) != 0)
		return;
	memcpy(ki->utsname, uts, sizeof(uts));
	ki->has_utsname = TRUE;
}

static void derive_layout(HvRamSource *mem, HvKernelInfo *ki)
{
	const HvVmcoreinfo *vi = &ki->vi;
	guint64 start = vi->stext & ~(TWO_MIB - 1);
	guint64 va = start, last_end = start, ram_end = 0;
	guint steps = 0, i;

	for (va = start; va < KIMAGE_END && steps < MAX_KIMAGE_STEPS; steps++) {
		guint64 pa, span;
		gboolean ok = hv_pgtable_translate(&ki->pgtable, va, &pa, &span);
		guint64 next = (va & ~(span - 1)) + span;

		if (ok && pa == hv_vmcoreinfo_kimage_pa(vi, va))
			last_end = MIN(next, KIMAGE_END);
		if (next <= va)
			break;
		va = next;
	}
	if (last_end > start) {
		guint64 pa = hv_vmcoreinfo_kimage_pa(vi, start);

		/* the segment must lie inside one RAM range, as it shares its bytes */
		for (i = 0; i < hv_ram_source_n_regions(mem); i++) {
			const HvRamRegion *r = hv_ram_source_region(mem, i);

			if (pa >= r->gpa && pa - r->gpa < r->size) {
				ki->has_kimage = TRUE;
				ki->kimage_vaddr = start;
				ki->kimage_paddr = pa;
				ki->kimage_size = MIN(last_end - start, r->size - (pa - r->gpa));
			}
		}
	}
	if (!ki->has_kimage)
		warn(ki, "kernel image mapping not found in the page tables; drgn may not open the dump");
	for (i = 0; i < hv_ram_source_n_regions(mem); i++) {
		const HvRamRegion *r = hv_ram_source_region(mem, i);

		ram_end = MAX(ram_end, r->gpa + r->size);
	}
	ki->has_direct_map = hv_pgtable_find_direct_map(&ki->pgtable, ram_end, &ki->page_offset_base);
	if (!ki->has_direct_map)
		warn(ki, "direct map not found in the page tables; RAM segments carry no virtual address");
}

typedef struct {
	guint64 roots[16];
	gboolean la57[16];
	guint n;
} Roots;

/* Verifies a candidate against every vCPU's page tables; the tables that
 * vouched for it go to *pt_ret. With no vCPU in long mode nothing can be
 * checked: FALSE. */
static gboolean verify_any(HvRamSource *mem, const HvVmcoreinfo *vi, const Roots *roots,
			   HvPgtable *pt_ret)
{
	guint j;

	for (j = 0; j < roots->n; j++) {
		HvPgtable pt;

		hv_pgtable_init(&pt, hv_ram_source_phys_read, mem, roots->roots[j], roots->la57[j]);
		if (verify(mem, vi, &pt)) {
			*pt_ret = pt;
			return TRUE;
		}
	}
	return FALSE;
}

typedef struct {
	HvRamSource *mem;
	const Roots *roots;
	HvKernelInfo *ki;
	GArray *cands;      /* Candidate: verified ones (all parsed ones without roots) */
	guint rejected;
} ScanCtx;

static void reject(HvKernelInfo *ki, guint *rejected, guint64 paddr)
{
	if (++*rejected <= HV_MAX_VMCOREINFO_WARNINGS)
		warn(ki, "VMCOREINFO candidate at 0x%" PRIx64
		     " disagrees with the guest page tables; ignored", paddr);
}

/* Only the 24 header bytes of an allocated page are looked at first; a
 * note's body is then read bounded, by GPA, and verified at once: forged
 * notes never use up the candidate slots the genuine one needs. */
static gboolean note_page(gpointer user_data, guint64 gpa, const guint8 *head)
{
	ScanCtx *s = user_data;
	Candidate c = { 0 };
	guint32 descsz;

	if (!hv_vmcoreinfo_note_header(head, HV_VMCOREINFO_DESC_OFFSET + HV_VMCOREINFO_MAX_DESC,
				       &descsz) ||
	    !try_note_at(s->mem, gpa, &c)) {
		hv_vmcoreinfo_clear(&c.vi);
		return TRUE;
	}
	if (s->roots->n > 0 && !verify_any(s->mem, &c.vi, s->roots, &c.pt)) {
		hv_vmcoreinfo_clear(&c.vi);
		reject(s->ki, &s->rejected, gpa);
		return s->rejected < HV_MAX_VMCOREINFO_REJECTED;
	}
	g_array_append_val(s->cands, c);
	return s->cands->len < HV_MAX_VMCOREINFO_CANDIDATES;
}

static void clear_candidates(GArray *cands)
{
	guint i;

	for (i = 0; i < cands->len; i++)
		hv_vmcoreinfo_clear(&g_array_index(cands, Candidate, i).vi);
}

gboolean hv_kernel_discover(HvRamSource *mem, GArray *cpus, guint64 known_paddr,
			    HvKernelInfo *ki, GError **error)
{
	g_autoptr(GArray) cands = g_array_new(FALSE, TRUE, sizeof(Candidate));
	Roots roots = { 0 };
	ScanCtx s = { mem, &roots, ki, cands, 0 };
	Candidate *c;
	guint i;

	memset(ki, 0, sizeof(*ki));
	ki->warnings = g_ptr_array_new_with_free_func(g_free);
	roots.n = collect_roots(cpus, roots.roots, roots.la57, G_N_ELEMENTS(roots.roots));
	if (known_paddr != 0) {
		Candidate k = { 0 };

		if (try_note_at(mem, known_paddr, &k) &&
		    (roots.n == 0 || verify_any(mem, &k.vi, &roots, &k.pt))) {
			g_array_append_val(cands, k);
		} else {
			hv_vmcoreinfo_clear(&k.vi);
			warn(ki, "no VMCOREINFO note the page tables agree with at the announced "
			     "address 0x%" PRIx64 "; scanning", known_paddr);
		}
	}
	if (cands->len == 0 && !hv_ram_source_scan_pages(mem, note_page, &s, error)) {
		clear_candidates(cands);
		return FALSE;
	}
	if (s.rejected > HV_MAX_VMCOREINFO_WARNINGS)
		warn(ki, "%u more VMCOREINFO candidates disagreed with the guest page tables",
		     s.rejected - HV_MAX_VMCOREINFO_WARNINGS);
	if (s.rejected >= HV_MAX_VMCOREINFO_REJECTED)
		warn(ki, "VMCOREINFO scan stopped after %u forged candidates", s.rejected);
	ki->candidates = cands->len;
	if (cands->len == 0) {
		warn(ki, s.rejected > 0 ?
		     "no VMCOREINFO candidate passed verification; the dump carries none" :
		     "no VMCOREINFO note found in guest RAM; the dump carries none");
		return TRUE;
	}

	c = &g_array_index(cands, Candidate, 0);
	if (roots.n == 0) {
		/* no vCPU runs a 64-bit kernel: nothing to check against */
		warn(ki, "no vCPU in long mode: VMCOREINFO at 0x%" PRIx64 " used unverified",
		     c->paddr);
		ki->found = TRUE;
		ki->note_paddr = c->paddr;
		ki->vi = c->vi;
		memset(&c->vi, 0, sizeof(c->vi));
		clear_candidates(cands);
		return TRUE;
	}
	/* every candidate here was verified; the first one's tables are kept */
	ki->pgtable = c->pt;
	ki->has_pgtable = TRUE;
	ki->found = TRUE;
	ki->verified = TRUE;
	ki->note_paddr = c->paddr;
	ki->vi = c->vi;
	memset(&c->vi, 0, sizeof(c->vi));
	derive_layout(mem, ki);
	read_utsname(mem, ki);

	if (cands->len > 1 && ki->has_kimage && ki->has_direct_map &&
	    !referenced_by_kernel(mem, ki, ki->note_paddr)) {
		/* several genuine-looking notes: prefer the one the kernel points at */
		for (i = 1; i < cands->len; i++) {
			Candidate *o = &g_array_index(cands, Candidate, i);

			if (!referenced_by_kernel(mem, ki, o->paddr))
				continue;
			warn(ki, "VMCOREINFO at 0x%" PRIx64 " preferred over 0x%" PRIx64
			     " (referenced by the kernel)", o->paddr, ki->note_paddr);
			hv_vmcoreinfo_clear(&ki->vi);
			ki->vi = o->vi;
			memset(&o->vi, 0, sizeof(o->vi));
			ki->note_paddr = o->paddr;
			break;
		}
	}
	clear_candidates(cands);
	return TRUE;
}

gboolean hv_kernel_from_vmcoreinfo(HvRamSource *mem, const char *text, gsize len,
				   HvKernelInfo *ki, GError **error)
{
	HvPgtable pt;

	memset(ki, 0, sizeof(*ki));
	ki->warnings = g_ptr_array_new_with_free_func(g_free);
	if (!hv_vmcoreinfo_parse((const guint8 *)text, len, &ki->vi, error)) {
		g_prefix_error(error, "VMCOREINFO: ");
		return FALSE;
	}
	ki->found = TRUE;
	/* swapper_pg_dir is init_top_pgt on x86_64: the kernel's own tables */
	hv_pgtable_init(&pt, hv_ram_source_phys_read, mem,
			hv_vmcoreinfo_kimage_pa(&ki->vi, ki->vi.swapper_pg_dir) & HV_PTE_ADDR_MASK,
			ki->vi.pgtable_l5);
	if (!verify(mem, &ki->vi, &pt)) {
		warn(ki, "the dump's page tables do not map the kernel where its VMCOREINFO says "
		     "(or those pages are not in the dump)");
		return TRUE;
	}
	ki->verified = TRUE;
	ki->pgtable = pt;
	ki->has_pgtable = TRUE;
	derive_layout(mem, ki);
	read_utsname(mem, ki);
	return TRUE;
}
