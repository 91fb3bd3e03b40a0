// SPDX-License-Identifier: GPL-2.0
/*
 * hvdump_guest - tell the hvdump host side about kernel panics and oopses.
 *
 * On load: one zeroed page holds a descriptor (hvdump_desc.h) with the
 * address of the kernel's VMCOREINFO note; the pvpanic device is located
 * (module parameter, fw_cfg "etc/pvpanic-port", the ISA port, or the PCI
 * device); VMCOREINFO is published through QEMU's fw_cfg "etc/vmcoreinfo"
 * when nothing has published it yet.
 *
 * On panic (a notifier placed first in the chain) and on oops (a die
 * notifier): the event, its message, time, CPU and registers go into the
 * descriptor, then PANICKED is written to the pvpanic device with
 * HVDUMP_REG_MAGIC in RDI and the descriptor's physical address in RSI, so
 * the host finds it in O(1). Nothing here sleeps, allocates or locks at
 * panic time; a panic is signalled once.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/crash_core.h>
#include <linux/crc32.h>
#include <linux/elfcore.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kdebug.h>
#include <linux/kexec.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/panic_notifier.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/timekeeping.h>
#if __has_include("linux/vmcore_info.h")
#include <linux/vmcore_info.h>	/* VMCOREINFO moved out of crash_core.h in 6.9 */
#endif
#include <asm/msr.h>
#include <asm/segment.h>

#include "hvdump_desc.h"

#define PVPANIC_PANICKED	0x1
#define PVPANIC_DEFAULT_PORT	0x505
#define PCI_DEVICE_ID_PVPANIC	0x0011

#define FW_CFG_PORT_SEL		0x510
#define FW_CFG_PORT_DATA	0x511
#define FW_CFG_PORT_DMA		0x514
#define FW_CFG_PORTS		0x0c
#define FW_CFG_SIGNATURE	0x00
#define FW_CFG_ID		0x01
#define FW_CFG_FILE_DIR		0x19
#define FW_CFG_VERSION_DMA	0x02
#define FW_CFG_DMA_CTL_ERROR	0x01
#define FW_CFG_DMA_CTL_SELECT	0x08
#define FW_CFG_DMA_CTL_WRITE	0x10
#define FW_CFG_MAX_FILES	4096
#define FW_CFG_VMCOREINFO_FORMAT_ELF 1

static ushort port;
module_param(port, ushort, 0444);
MODULE_PARM_DESC(port, "pvpanic I/O port (default: from fw_cfg, else 0x505 if present, else the PCI device)");

static bool publish_vmcoreinfo = true;
module_param(publish_vmcoreinfo, bool, 0444);
MODULE_PARM_DESC(publish_vmcoreinfo, "write VMCOREINFO's address to QEMU's fw_cfg etc/vmcoreinfo when unset (default: 1)");

static bool dump_on_oops;
module_param(dump_on_oops, bool, 0644);
MODULE_PARM_DESC(dump_on_oops, "on an oops, ask the host for a dump of the still-running guest (default: 0)");

static struct hvdump_desc *desc;
static u16 pv_port;
static void __iomem *pv_mmio;
static struct pci_dev *pv_pci;
static atomic_t panic_signalled = ATOMIC_INIT(0);
static const char *published = "none";
static struct kobject *hvdump_kobj;

static void desc_seal(void)
{
	desc->checksum = 0;
	desc->checksum = ~crc32_le(~0U, (const u8 *)desc, sizeof(*desc));
}

/*
 * pt_regs in user_regs_struct order (elf_core_copy_regs() needs a symbol
 * modules cannot link against on x86_64).
 */
static void copy_elf_regs(elf_gregset_t *g, const struct pt_regs *r)
{
	unsigned long *e = (unsigned long *)g;
	unsigned int sel;

	e[0] = r->r15; e[1] = r->r14; e[2] = r->r13; e[3] = r->r12;
	e[4] = r->bp; e[5] = r->bx; e[6] = r->r11; e[7] = r->r10;
	e[8] = r->r9; e[9] = r->r8; e[10] = r->ax; e[11] = r->cx;
	e[12] = r->dx; e[13] = r->si; e[14] = r->di; e[15] = r->orig_ax;
	e[16] = r->ip; e[17] = r->cs; e[18] = r->flags; e[19] = r->sp;
	e[20] = r->ss;
	rdmsrl(MSR_FS_BASE, e[21]);
	rdmsrl(MSR_GS_BASE, e[22]);
	savesegment(ds, sel); e[23] = sel;
	savesegment(es, sel); e[24] = sel;
	savesegment(fs, sel); e[25] = sel;
	savesegment(gs, sel); e[26] = sel;
}

/* The registers of this CPU now, or of the faulting context. */
static void record_event(u32 event, struct pt_regs *regs, const char *msg)
{
	struct elf_prstatus prstatus;
	struct pt_regs now;

	desc->event = event;
	desc->event_cpu = raw_smp_processor_id();
	desc->event_time = ktime_get_real_seconds();
	if (msg) {
		desc->message_len = strscpy(desc->message, msg, sizeof(desc->message));
		if ((int)desc->message_len < 0)
			desc->message_len = sizeof(desc->message) - 1;
	}
	if (!regs) {
		/* enough for an unwinder to start here (crash_setup_regs() trips objtool on 6.12) */
		memset(&now, 0, sizeof(now));
		now.ip = _THIS_IP_;
		now.sp = current_stack_pointer;
		now.bp = (unsigned long)__builtin_frame_address(0);
		now.cs = __KERNEL_CS;
		now.ss = __KERNEL_DS;
		now.flags = arch_local_save_flags();
		regs = &now;
	}
	memset(&prstatus, 0, sizeof(prstatus));
	prstatus.common.pr_pid = current->pid;
	copy_elf_regs(&prstatus.pr_reg, regs);
	memcpy(desc->prstatus, &prstatus, sizeof(desc->prstatus));
	desc->flags |= HVDUMP_F_PRSTATUS;
}

/*
 * The write that stops the vCPU: RDI/RSI ride along so the host reads the
 * descriptor's address straight from this vCPU's registers.
 */
static void signal_host(void)
{
	u64 magic = HVDUMP_REG_MAGIC, paddr = desc->self_paddr;
	u8 bits = PVPANIC_PANICKED;

	desc->event_count++;
	desc_seal();
	if (pv_port)
		asm volatile("outb %b0, %w1"
			     : : "a"(bits), "Nd"(pv_port), "D"(magic), "S"(paddr) : "memory");
	else if (pv_mmio)
		asm volatile("movb %b0, (%1)"
			     : : "a"(bits), "r"(pv_mmio), "D"(magic), "S"(paddr) : "memory");
}

static int hvdump_panic(struct notifier_block *nb, unsigned long code, void *msg)
{
	if (atomic_xchg(&panic_signalled, 1))
		return NOTIFY_DONE;
	/* after an oops on this CPU, keep its faulting registers, as kdump does */
	if (desc->event == HVDUMP_EVENT_OOPS && desc->event_cpu == raw_smp_processor_id()) {
		desc->event = HVDUMP_EVENT_PANIC;
		desc->event_time = ktime_get_real_seconds();
		if (msg) {
			desc->message_len = strscpy(desc->message, msg, sizeof(desc->message));
			if ((int)desc->message_len < 0)
				desc->message_len = sizeof(desc->message) - 1;
		}
	} else {
		record_event(HVDUMP_EVENT_PANIC, NULL, msg);
	}
	desc->flags &= ~HVDUMP_F_DUMP_REQUEST;
	signal_host();
	return NOTIFY_DONE;
}

static struct notifier_block hvdump_panic_nb = {
	.notifier_call = hvdump_panic,
	.priority = INT_MAX,
};

static int hvdump_die(struct notifier_block *nb, unsigned long val, void *data)
{
	struct die_args *args = data;

	if (val != DIE_OOPS || atomic_read(&panic_signalled))
		return NOTIFY_DONE;
	record_event(HVDUMP_EVENT_OOPS, args->regs, args->str);
	if (dump_on_oops) {
		desc->flags |= HVDUMP_F_DUMP_REQUEST;
		signal_host();
		desc->flags &= ~HVDUMP_F_DUMP_REQUEST;
		desc_seal();
	} else {
		desc_seal();
	}
	return NOTIFY_DONE;
}

static struct notifier_block hvdump_die_nb = {
	.notifier_call = hvdump_die,
};

/*
 * Equal priorities run in registration order and QEMU stops the guest at the
 * first pvpanic write, so a pvpanic driver registered before us would signal
 * before our record exists. INT_MAX is the highest priority: standing first
 * keeps the chain sorted and makes our notifier run before any other.
 */
static void panic_notifier_move_first(void)
{
	struct atomic_notifier_head *h = &panic_notifier_list;
	struct notifier_block **p;
	unsigned long flags;

	spin_lock_irqsave(&h->lock, flags);
	if (h->head != &hvdump_panic_nb) {
		for (p = &h->head; *p; p = &(*p)->next) {
			if (*p == &hvdump_panic_nb) {
				rcu_assign_pointer(*p, hvdump_panic_nb.next);
				break;
			}
		}
		hvdump_panic_nb.next = h->head;
		rcu_assign_pointer(h->head, &hvdump_panic_nb);
	}
	spin_unlock_irqrestore(&h->lock, flags);
}

/* ---- fw_cfg (x86 I/O ports), used at load time only ---- */

static void fw_cfg_read(u16 key, void *buf, size_t len, bool select)
{
	u8 *p = buf;

	if (select)
		outw(key, FW_CFG_PORT_SEL);
	while (len--)
		*p++ = inb(FW_CFG_PORT_DATA);
}

struct fw_cfg_file {
	__be32 size;
	__be16 select;
	__be16 reserved;
	char name[56];
};

static bool fw_cfg_find(const char *name, u16 *select, u32 *size)
{
	struct fw_cfg_file f;
	__be32 count;
	u32 i, n;

	fw_cfg_read(FW_CFG_FILE_DIR, &count, sizeof(count), true);
	n = min_t(u32, be32_to_cpu(count), FW_CFG_MAX_FILES);
	for (i = 0; i < n; i++) {
		fw_cfg_read(0, &f, sizeof(f), false);
		if (strncmp(f.name, name, sizeof(f.name)) == 0) {
			*select = be16_to_cpu(f.select);
			*size = be32_to_cpu(f.size);
			return true;
		}
	}
	return false;
}

struct fw_cfg_dma_access {
	__be32 control;
	__be32 length;
	__be64 address;
};

struct fw_cfg_vmcoreinfo {
	__le16 host_format;
	__le16 guest_format;
	__le32 size;
	__le64 paddr;
};

static int fw_cfg_publish_vmcoreinfo(u16 select)
{
	struct fw_cfg_dma_access *dma;
	struct fw_cfg_vmcoreinfo *vi;
	u64 phys;
	int i, ret = -EIO;

	dma = kzalloc(sizeof(*dma) + sizeof(*vi), GFP_KERNEL);
	if (!dma)
		return -ENOMEM;
	vi = (struct fw_cfg_vmcoreinfo *)(dma + 1);
	vi->guest_format = cpu_to_le16(FW_CFG_VMCOREINFO_FORMAT_ELF);
	vi->size = cpu_to_le32(VMCOREINFO_NOTE_SIZE);
	vi->paddr = cpu_to_le64(paddr_vmcoreinfo_note());
	dma->control = cpu_to_be32(((u32)select << 16) | FW_CFG_DMA_CTL_SELECT |
				   FW_CFG_DMA_CTL_WRITE);
	dma->length = cpu_to_be32(sizeof(*vi));
	dma->address = cpu_to_be64(virt_to_phys(vi));
	phys = virt_to_phys(dma);
	outl(cpu_to_be32(upper_32_bits(phys)), FW_CFG_PORT_DMA);
	outl(cpu_to_be32(lower_32_bits(phys)), FW_CFG_PORT_DMA + 4);
	for (i = 0; i < 1000000; i++) {
		u32 ctl = be32_to_cpu(READ_ONCE(dma->control));

		if (ctl & FW_CFG_DMA_CTL_ERROR)
			break;
		if (!ctl) {
			ret = 0;
			break;
		}
		cpu_relax();
	}
	kfree(dma);
	return ret;
}

static void fw_cfg_setup(void)
{
	struct fw_cfg_vmcoreinfo cur;
	char sig[4];
	__le32 id;
	__le16 pv;
	u16 sel;
	u32 size;

	/* the kernel's qemu_fw_cfg driver, when bound, owns these ports */
	if (!request_region(FW_CFG_PORT_SEL, FW_CFG_PORTS, KBUILD_MODNAME))
		return;
	fw_cfg_read(FW_CFG_SIGNATURE, sig, sizeof(sig), true);
	if (memcmp(sig, "QEMU", 4) != 0)
		goto out;
	if (!port && fw_cfg_find("etc/pvpanic-port", &sel, &size) && size == sizeof(pv)) {
		fw_cfg_read(sel, &pv, sizeof(pv), true);
		pv_port = le16_to_cpu(pv);
	}
	if (!publish_vmcoreinfo || !fw_cfg_find("etc/vmcoreinfo", &sel, &size) ||
	    size != sizeof(cur))
		goto out;
	fw_cfg_read(sel, &cur, sizeof(cur), true);
	if (le16_to_cpu(cur.guest_format) != 0) {
		/* the kernel's qemu_fw_cfg driver, or an earlier load of ours */
		published = "already";
		goto out;
	}
	if (le16_to_cpu(cur.host_format) != FW_CFG_VMCOREINFO_FORMAT_ELF)
		goto out;
	fw_cfg_read(FW_CFG_ID, &id, sizeof(id), true);
	if (!(le32_to_cpu(id) & FW_CFG_VERSION_DMA))
		goto out;
	if (fw_cfg_publish_vmcoreinfo(sel) == 0) {
		published = "fw_cfg";
		desc->flags |= HVDUMP_F_FW_CFG;
	} else {
		pr_warn("fw_cfg DMA write of etc/vmcoreinfo failed\n");
	}
out:
	release_region(FW_CFG_PORT_SEL, FW_CFG_PORTS);
}

/* ---- the pvpanic device ---- */

static bool isa_pvpanic_present(u16 p)
{
	u8 v = inb(p);

	/* the device reads back its supported events; nothing there reads 0xff */
	return v != 0xff && (v & PVPANIC_PANICKED);
}

static void find_pvpanic(void)
{
	if (port) {
		pv_port = port;
		return;
	}
	if (pv_port && isa_pvpanic_present(pv_port))
		return;
	pv_port = 0;
	if (isa_pvpanic_present(PVPANIC_DEFAULT_PORT)) {
		pv_port = PVPANIC_DEFAULT_PORT;
		return;
	}
	pv_pci = pci_get_device(PCI_VENDOR_ID_REDHAT, PCI_DEVICE_ID_PVPANIC, NULL);
	if (pv_pci) {
		if (pci_enable_device(pv_pci) == 0)
			pv_mmio = pci_iomap(pv_pci, 0, 1);
		if (!pv_mmio) {
			pci_dev_put(pv_pci);
			pv_pci = NULL;
		}
	}
}

/* ---- sysfs: /sys/kernel/hvdump ---- */

static ssize_t descriptor_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "0x%llx\n", desc->self_paddr);
}

static ssize_t device_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	if (pv_port)
		return sysfs_emit(buf, "isa 0x%x\n", pv_port);
	if (pv_mmio)
		return sysfs_emit(buf, "pci %s\n", pci_name(pv_pci));
	return sysfs_emit(buf, "none\n");
}

static ssize_t vmcoreinfo_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "0x%llx %u\n", desc->vmcoreinfo_paddr, desc->vmcoreinfo_size);
}

static ssize_t published_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%s\n", published);
}

static ssize_t events_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(desc->event_count));
}

static struct kobj_attribute descriptor_attr = __ATTR_RO(descriptor);
static struct kobj_attribute device_attr = __ATTR_RO(device);
static struct kobj_attribute vmcoreinfo_attr = __ATTR_RO(vmcoreinfo);
static struct kobj_attribute published_attr = __ATTR_RO(published);
static struct kobj_attribute events_attr = __ATTR_RO(events);

static struct attribute *hvdump_attrs[] = {
	&descriptor_attr.attr,
	&device_attr.attr,
	&vmcoreinfo_attr.attr,
	&published_attr.attr,
	&events_attr.attr,
	NULL,
};

static const struct attribute_group hvdump_group = {
	.attrs = hvdump_attrs,
};

static void hvdump_cleanup(void)
{
	if (hvdump_kobj)
		kobject_put(hvdump_kobj);
	if (pv_mmio)
		pci_iounmap(pv_pci, pv_mmio);
	if (pv_pci)
		pci_dev_put(pv_pci);
	/* a stale descriptor must not be found by a later scan */
	memzero_explicit(desc, sizeof(*desc));
	free_page((unsigned long)desc);
}

static int __init hvdump_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct hvdump_desc) != HVDUMP_DESC_SIZE_V1);
	BUILD_BUG_ON(sizeof(struct hvdump_desc) > PAGE_SIZE);
	BUILD_BUG_ON(sizeof(struct elf_prstatus) != HVDUMP_PRSTATUS_LEN);

	desc = (struct hvdump_desc *)get_zeroed_page(GFP_KERNEL);
	if (!desc)
		return -ENOMEM;
	desc->magic = HVDUMP_DESC_MAGIC;
	desc->version = HVDUMP_DESC_VERSION;
	desc->size = sizeof(*desc);
	desc->self_paddr = virt_to_phys(desc);
	desc->vmcoreinfo_paddr = paddr_vmcoreinfo_note();
	desc->vmcoreinfo_size = VMCOREINFO_NOTE_SIZE;
	desc->flags = HVDUMP_F_VMCOREINFO;
	desc->nr_cpus = min_t(u32, num_possible_cpus(), HVDUMP_MAX_CPUS);

	fw_cfg_setup();
	find_pvpanic();
	if (!pv_port && !pv_mmio)
		pr_warn("no pvpanic device found: panics will not reach the host\n");
	desc_seal();

	hvdump_kobj = kobject_create_and_add("hvdump", kernel_kobj);
	if (!hvdump_kobj) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = sysfs_create_group(hvdump_kobj, &hvdump_group);
	if (ret)
		goto fail;
	ret = register_die_notifier(&hvdump_die_nb);
	if (ret)
		goto fail;
	atomic_notifier_chain_register(&panic_notifier_list, &hvdump_panic_nb);
	panic_notifier_move_first();
	pr_info("descriptor at 0x%llx, pvpanic %s 0x%lx, VMCOREINFO published: %s\n",
		desc->self_paddr, pv_port ? "port" : pv_mmio ? "mmio" : "none",
		pv_port ? (unsigned long)pv_port : pv_pci ? (unsigned long)pci_resource_start(pv_pci, 0) : 0UL,
		published);
	return 0;
fail:
	hvdump_cleanup();
	return ret;
}

static void __exit hvdump_exit(void)
{
	atomic_notifier_chain_unregister(&panic_notifier_list, &hvdump_panic_nb);
	unregister_die_notifier(&hvdump_die_nb);
	hvdump_cleanup();
}

module_init(hvdump_init);
module_exit(hvdump_exit);
MODULE_DESCRIPTION("hvdump guest side: panic/oops records and pvpanic signal for host-side vmcores");
MODULE_AUTHOR("hvdump developers");
MODULE_LICENSE("GPL");
