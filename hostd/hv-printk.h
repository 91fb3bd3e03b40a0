/* hv-printk.h — the guest kernel's log, rebuilt from its printk ring.
 *
 * Owns: the lockless ring of Linux 5.10+ (struct printk_ringbuffer: a
 * descriptor ring, an info array and a text data ring) read at the offsets
 * VMCOREINFO gives, as hostile input: sizes are capped, every descriptor
 * slot is visited once (no walk follows guest ids), a record counts only
 * when its descriptor is committed or finalized, names itself and its data
 * block carries the same id (so text overwritten by a newer record is
 * never taken for the old one); wrapped data blocks are read from the
 * ring's start as the kernel writes them. What cannot be read is counted,
 * not guessed.
 */
#pragma once

#include <glib.h>
#include "hv-pgtable.h"
#include "hv-vmcoreinfo.h"

G_BEGIN_DECLS

/* Caps: 2^22 descriptors, 1 GiB of text ring, 64 MiB of text kept. */
#define HV_PRINTK_MAX_COUNT_BITS 22
#define HV_PRINTK_MAX_SIZE_BITS 30
#define HV_PRINTK_MAX_TEXT (64u << 20)

typedef struct {
	guint64 prb_ptr;          /* SYMBOL(prb): the variable holding the ring's address */
	guint64 off_desc_ring, off_text_ring;
	guint64 off_count_bits, off_descs, off_infos;
	guint64 size_desc, off_state_var, off_text_lpos, off_lpos_begin, off_lpos_next;
	guint64 size_info, off_seq, off_ts, off_text_len, off_caller;
	guint64 off_size_bits, off_data;
} HvPrintkLayout;

typedef struct {
	guint64 seq;
	guint64 ts_nsec;
	guint32 caller_id;       /* bit 31: CPU number, else thread id */
	guint8 level;            /* syslog level 0-7 */
	char *text;              /* escaped (\xNN for control bytes), may hold '\n' */
} HvPrintkRecord;

typedef struct {
	GArray *records;          /* HvPrintkRecord, ascending seq, no duplicates */
	guint64 slots;            /* descriptor slots in the ring */
	guint64 unreadable;       /* slots whose descriptor, info or text could not be read */
	guint64 invalid;          /* slots that failed a check (id, lpos, length) */
	guint64 missing;          /* sequence numbers absent between the first and last record */
	gboolean truncated;       /* HV_PRINTK_MAX_TEXT reached */
} HvPrintkLog;

void hv_printk_log_init(HvPrintkLog *log);
void hv_printk_log_clear(HvPrintkLog *log);

/* The ring's layout from VMCOREINFO; FALSE (error names the key) when a
 * needed key is missing or a value cannot be a struct offset. */
gboolean hv_printk_layout_from_vmcoreinfo(const HvVmcoreinfo *vi, HvPrintkLayout *l,
					  GError **error);

/* Reads every record that can be read. FALSE only when the ring itself
 * (prb, its geometry) is unreadable or impossible. */
gboolean hv_printk_read(const HvKmem *m, const HvPrintkLayout *l, HvPrintkLog *log,
			GError **error);

/* dmesg's format: "[%5llu.%06llu] line" per line of every record. */
char *hv_printk_format(const HvPrintkLog *log, gsize max_records_from_end);

G_END_DECLS
