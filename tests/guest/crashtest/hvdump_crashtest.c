// SPDX-License-Identifier: GPL-2.0
/*
 * hvdump_crashtest - test-only triggers for the hvdump e2e tests (Debian
 * kernels ship no lkdtm): writing "null" to /proc/hvdump_crashtest
 * dereferences NULL, "bug" hits BUG(), "warn" WARN()s, "panic" panics with
 * a message of its own, "spin" loops forever with interrupts off (a hung
 * guest). All in the writer's context.
 */
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/irqflags.h>
#include <linux/panic.h>

static noinline void crashtest_spin(void)
{
	local_irq_disable();
	for (;;)
		cpu_relax();
}

static ssize_t crashtest_write(struct file *f, const char __user *ubuf, size_t len, loff_t *off)
{
	char cmd[16] = {};
	int *null_ptr = NULL;

	if (copy_from_user(cmd, ubuf, min(len, sizeof(cmd) - 1)))
		return -EFAULT;
	strim(cmd);
	OPTIMIZER_HIDE_VAR(null_ptr);
	if (!strcmp(cmd, "null"))
		*null_ptr = 0x68766470;
	else if (!strcmp(cmd, "bug"))
		BUG();
	else if (!strcmp(cmd, "warn"))
		WARN(1, "hvdump crashtest warning");
	else if (!strcmp(cmd, "panic"))
		panic("hvdump crashtest: custom panic from pid %d", current->pid);
	else if (!strcmp(cmd, "spin"))
		crashtest_spin();
	else
		return -EINVAL;
	return len;
}

static const struct proc_ops crashtest_ops = {
	.proc_write = crashtest_write,
};

static struct proc_dir_entry *entry;

static int __init crashtest_init(void)
{
	entry = proc_create("hvdump_crashtest", 0200, NULL, &crashtest_ops);
	return entry ? 0 : -ENOMEM;
}

static void __exit crashtest_exit(void)
{
	proc_remove(entry);
}

module_init(crashtest_init);
module_exit(crashtest_exit);
MODULE_DESCRIPTION("hvdump test-only oops triggers");
MODULE_LICENSE("GPL");
