/* hv-descriptor.h — the hvdump_guest module's descriptor, read from guest RAM.
 *
 * Owns: finding it (from the registers of the vCPU that signalled the panic
 * — O(1) — else a bounded page scan) and validating it as hostile input:
 * magic, version, size, zlib crc32, self address, bounded lengths and
 * indexes, message sanitised to printable ASCII. Layout:
 * guest-module/hvdump_desc.h.
 */
#pragma once

#include <glib.h>

#include "hv-ramsrc.h"

G_BEGIN_DECLS

typedef enum {
	HV_DESC_NOT_FOUND,
	HV_DESC_FROM_REGISTERS,   /* the signalling vCPU's RDI/RSI */
	HV_DESC_FROM_SCAN,
} HvDescriptorSource;

typedef struct {
	guint64 paddr;
	HvDescriptorSource source;
	guint source_cpu;          /* vCPU whose registers pointed at it */
	gboolean cross_checked;    /* scan hit that points at the verified VMCOREINFO */
	guint32 flags;
	gboolean has_vmcoreinfo;
	guint64 vmcoreinfo_paddr;
	guint32 vmcoreinfo_size;
	guint32 event;             /* HVDUMP_EVENT_* */
	guint32 event_cpu;
	guint64 event_time;
	guint32 event_count;
	char message[257];         /* printable ASCII only */
	gboolean has_prstatus;
	guint8 prstatus[336];
} HvDescriptor;

/* Validates a descriptor image read from guest-physical paddr. */
gboolean hv_descriptor_parse(const guint8 *buf, gsize len, guint64 paddr, HvDescriptor *d,
			     GError **error);

/* Valid scan hits kept. */
#define HV_MAX_DESC_CANDIDATES 8

/* Finds and validates descriptors into out (HvDescriptor): the one the
 * signalling vCPU's registers announce, alone; else up to
 * HV_MAX_DESC_CANDIDATES valid ones from a scan of allocated pages (pages
 * with the magic that do not validate are passed over, and do not count).
 * Reasons for rejected candidates go to warnings (char*). Returns out->len. */
guint hv_descriptor_find_all(HvRamSource *mem, GArray *cpus, GArray *out, GPtrArray *warnings);
/* The first of hv_descriptor_find_all; FALSE when there is none. */
gboolean hv_descriptor_find(HvRamSource *mem, GArray *cpus, HvDescriptor *d,
			    GPtrArray *warnings);

/* Does this descriptor ask the host to dump and resume (an oops with
 * dump_on_oops)? Only when the signalling vCPU announced it: a scan hit is
 * never trusted to keep a panicked guest running. */
gboolean hv_descriptor_requests_resume(const HvDescriptor *d);

const char *hv_descriptor_event_name(guint32 event);

G_END_DECLS
