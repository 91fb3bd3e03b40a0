/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * hvdump_desc.h - the page hvdump_guest.ko shares with the hvdump host side.
 *
 * One page, little-endian, naturally aligned fields, no pointers: the host
 * reads it out of guest RAM and treats every byte as hostile. Fields are
 * only ever added at the end (version 1 layout below, 1176 bytes).
 *
 * Finding it: when the module signals the pvpanic device it holds
 * HVDUMP_REG_MAGIC in RDI and the descriptor's physical address in RSI; the
 * vCPU stops right after that write, so the host reads both from the vCPU's
 * registers. Otherwise the host may scan page starts for HVDUMP_DESC_MAGIC.
 */
#ifndef HVDUMP_DESC_H
#define HVDUMP_DESC_H

#include <linux/types.h>

#define HVDUMP_DESC_MAGIC	0x4353454450564448ULL	/* "HDVPDESC" */
#define HVDUMP_REG_MAGIC	0x5f4c414e47495348ULL	/* "HSIGNAL_" */
#define HVDUMP_DESC_VERSION	1
#define HVDUMP_MAX_CPUS		64
#define HVDUMP_MSG_LEN		256
#define HVDUMP_PRSTATUS_LEN	336	/* x86_64 struct elf_prstatus */

/* flags */
#define HVDUMP_F_VMCOREINFO	0x01	/* vmcoreinfo_paddr/size are set */
#define HVDUMP_F_PRSTATUS	0x02	/* prstatus holds event_cpu's registers */
#define HVDUMP_F_FW_CFG		0x04	/* VMCOREINFO was published to QEMU's fw_cfg */
#define HVDUMP_F_DUMP_REQUEST	0x08	/* guest asks for a dump and will go on */

/* event */
#define HVDUMP_EVENT_NONE	0
#define HVDUMP_EVENT_PANIC	1
#define HVDUMP_EVENT_OOPS	2

struct hvdump_desc {
	__u64 magic;			/* HVDUMP_DESC_MAGIC */
	__u32 version;			/* HVDUMP_DESC_VERSION */
	__u32 size;			/* sizeof(struct hvdump_desc) */
	__u32 checksum;			/* zlib crc32 of the struct, this field 0 */
	__u32 flags;
	__u64 self_paddr;		/* physical address of this struct */
	__u64 vmcoreinfo_paddr;		/* the kernel's VMCOREINFO ELF note */
	__u32 vmcoreinfo_size;
	__u32 nr_cpus;			/* CPUs described below (<= MAX_CPUS) */
	__u64 crash_notes_paddr[HVDUMP_MAX_CPUS]; /* 0: unknown */
	/* the last event */
	__u32 event;			/* HVDUMP_EVENT_* */
	__u32 event_cpu;
	__u64 event_time;		/* CLOCK_REALTIME seconds */
	__u32 event_count;		/* events signalled to the host */
	__u32 message_len;		/* bytes used in message, no NUL */
	char message[HVDUMP_MSG_LEN];
	__u8 prstatus[HVDUMP_PRSTATUS_LEN]; /* NT_PRSTATUS desc of event_cpu */
};

#define HVDUMP_DESC_SIZE_V1	1176

#endif /* HVDUMP_DESC_H */
