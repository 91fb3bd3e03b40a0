/* hv-descriptor.c — hvdump_guest descriptor; see hv-descriptor.h. */
#include "hv-descriptor.h"

#include <inttypes.h>
#include <string.h>
#include <zlib.h>

#include "hvdump_desc.h"
#include "hv-machine.h"

#define PG 4096u
#define MAX_INVALID_WARNINGS 3u
#define MAX_INVALID 262144u

G_STATIC_ASSERT(sizeof(struct hvdump_desc) == HVDUMP_DESC_SIZE_V1);

static guint32 rd32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, 4);
	return GUINT32_FROM_LE(v);
}

static guint64 rd64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, 8);
	return GUINT64_FROM_LE(v);
}

#define OFF(f) G_STRUCT_OFFSET(struct hvdump_desc, f)

const char *hv_descriptor_event_name(guint32 event)
{
	switch (event) {
	case HVDUMP_EVENT_PANIC: return "panic";
	case HVDUMP_EVENT_OOPS: return "oops";
	default: return "none";
	}
}

gboolean hv_descriptor_parse(const guint8 *buf, gsize len, guint64 paddr, HvDescriptor *d,
			     GError **error)
{
	guint8 copy[PG];
	guint32 size, sum, mlen, ncpus;
	guint i;

	memset(d, 0, sizeof(*d));
#define BAD(...)                                                                   \
	do {                                                                       \
		g_set_error(error, HV_ERROR, HV_ERROR_PARSE, "descriptor at 0x%" PRIx64 ": " \
			    __VA_ARGS__);                                          \
		return FALSE;                                                      \
	} while (0)
	if (len < HVDUMP_DESC_SIZE_V1)
		BAD("%zu bytes, too short", paddr, len);
	if (rd64(buf + OFF(magic)) != HVDUMP_DESC_MAGIC)
		BAD("bad magic", paddr);
	if (rd32(buf + OFF(version)) < 1)
		BAD("bad version %u", paddr, rd32(buf + OFF(version)));
	size = rd32(buf + OFF(size));
	if (size < HVDUMP_DESC_SIZE_V1 || size > PG || size > len)
		BAD("bad size %u", paddr, size);
	memcpy(copy, buf, size);
	memset(copy + OFF(checksum), 0, 4);
	sum = (guint32)crc32(0L, copy, size);
	if (sum != rd32(buf + OFF(checksum)))
		BAD("checksum mismatch (0x%08x, computed 0x%08x)", paddr, rd32(buf + OFF(checksum)), sum);
	if (rd64(buf + OFF(self_paddr)) != paddr)
		BAD("claims to be at 0x%" PRIx64, paddr, rd64(buf + OFF(self_paddr)));
	d->paddr = paddr;
	d->flags = rd32(buf + OFF(flags));
	ncpus = rd32(buf + OFF(nr_cpus));
	if (ncpus > HVDUMP_MAX_CPUS)
		BAD("nr_cpus %u out of range", paddr, ncpus);
	if (d->flags & HVDUMP_F_VMCOREINFO) {
		d->vmcoreinfo_paddr = rd64(buf + OFF(vmcoreinfo_paddr));
		d->vmcoreinfo_size = rd32(buf + OFF(vmcoreinfo_size));
		if (d->vmcoreinfo_size < 24 || d->vmcoreinfo_size > 65536 || d->vmcoreinfo_paddr == 0 ||
		    d->vmcoreinfo_paddr > G_MAXUINT64 - d->vmcoreinfo_size)
			BAD("VMCOREINFO 0x%" PRIx64 "+%u out of range", paddr, d->vmcoreinfo_paddr,
			    d->vmcoreinfo_size);
		d->has_vmcoreinfo = TRUE;
	}
	d->event = rd32(buf + OFF(event));
	if (d->event > HVDUMP_EVENT_OOPS)
		BAD("unknown event %u", paddr, d->event);
	d->event_cpu = rd32(buf + OFF(event_cpu));
	if (d->event != HVDUMP_EVENT_NONE && d->event_cpu >= MAX(ncpus, 1u))
		BAD("event CPU %u out of range", paddr, d->event_cpu);
	d->event_time = rd64(buf + OFF(event_time));
	d->event_count = rd32(buf + OFF(event_count));
	mlen = rd32(buf + OFF(message_len));
	if (mlen > HVDUMP_MSG_LEN)
		BAD("message length %u out of range", paddr, mlen);
	for (i = 0; i < mlen; i++) {
		guint8 c = buf[OFF(message) + i];

		if (c == '\0')
			break;
		d->message[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	g_strchomp(d->message);
	if (d->event != HVDUMP_EVENT_NONE && (d->flags & HVDUMP_F_PRSTATUS)) {
		memcpy(d->prstatus, buf + OFF(prstatus), sizeof(d->prstatus));
		d->has_prstatus = TRUE;
	}
#undef BAD
	return TRUE;
}

static gboolean read_and_parse(HvRamSource *mem, guint64 paddr, HvDescriptor *d,
			       GPtrArray *warnings)
{
	guint8 page[PG];
	g_autoptr(GError) error = NULL;
	gsize n = PG - (gsize)(paddr % PG);

	if (!hv_ram_source_read(mem, paddr, page, n)) {
		g_ptr_array_add(warnings, g_strdup_printf(
			"descriptor address 0x%" PRIx64 " is outside guest RAM; ignored", paddr));
		return FALSE;
	}
	if (!hv_descriptor_parse(page, n, paddr, d, &error)) {
		g_ptr_array_add(warnings, g_strdup_printf("%s; ignored", error->message));
		return FALSE;
	}
	return TRUE;
}

typedef struct {
	HvRamSource *mem;
	GArray *out;            /* HvDescriptor: valid ones only */
	GPtrArray *warnings;
	guint invalid;
} ScanCtx;

/* Pages that carry the magic but no valid descriptor are passed over (a
 * guest process can write the magic anywhere): only valid ones count. */
static gboolean desc_page(gpointer user_data, guint64 gpa, const guint8 *head)
{
	ScanCtx *s = user_data;
	g_autoptr(GError) error = NULL;
	guint8 page[PG];
	HvDescriptor d;

	if (rd64(head) != HVDUMP_DESC_MAGIC)
		return TRUE;
	memcpy(page, head, PG);
	if (!hv_descriptor_parse(page, PG, gpa, &d, &error)) {
		if (++s->invalid <= MAX_INVALID_WARNINGS)
			g_ptr_array_add(s->warnings, g_strdup_printf("%s; ignored", error->message));
		return s->invalid < MAX_INVALID;
	}
	d.source = HV_DESC_FROM_SCAN;
	g_array_append_val(s->out, d);
	return s->out->len < HV_MAX_DESC_CANDIDATES;
}

guint hv_descriptor_find_all(HvRamSource *mem, GArray *cpus, GArray *out, GPtrArray *warnings)
{
	ScanCtx s = { mem, out, warnings, 0 };
	HvDescriptor d;
	guint i;

	/* O(1): the vCPU that wrote to pvpanic holds the magic and the address */
	for (i = 0; i < cpus->len; i++) {
		const HvVcpuRegs *r = &g_array_index(cpus, HvVcpuRegs, i);

		if (r->gpr[HV_RDI] != HVDUMP_REG_MAGIC)
			continue;
		if (read_and_parse(mem, r->gpr[HV_RSI], &d, warnings)) {
			d.source = HV_DESC_FROM_REGISTERS;
			d.source_cpu = r->index;
			g_array_append_val(out, d);
			return out->len;
		}
	}
	/* bounded scan of allocated page starts */
	hv_ram_source_scan_pages(mem, desc_page, &s, NULL);
	if (s.invalid > MAX_INVALID_WARNINGS)
		g_ptr_array_add(warnings, g_strdup_printf(
			"%u more pages carried the descriptor magic but no valid descriptor",
			s.invalid - MAX_INVALID_WARNINGS));
	return out->len;
}

gboolean hv_descriptor_find(HvRamSource *mem, GArray *cpus, HvDescriptor *d, GPtrArray *warnings)
{
	g_autoptr(GArray) all = g_array_new(FALSE, TRUE, sizeof(HvDescriptor));

	if (hv_descriptor_find_all(mem, cpus, all, warnings) == 0) {
		memset(d, 0, sizeof(*d));
		return FALSE;
	}
	*d = g_array_index(all, HvDescriptor, 0);
	return TRUE;
}

gboolean hv_descriptor_requests_resume(const HvDescriptor *d)
{
	/* only the vCPU that signalled can ask to go on: anything in guest RAM
	 * (a scan hit) could have been written by any guest process */
	return d != NULL && d->source == HV_DESC_FROM_REGISTERS && d->event == HVDUMP_EVENT_OOPS &&
	       (d->flags & HVDUMP_F_DUMP_REQUEST) != 0;
}
