/* test-machine.c — parsers of `info registers -a` and `info mtree -f`, on
 * text captured from QEMU 7.2 and on damaged variants of it. */
#include <string.h>

#include "hv-machine.h"

static const char regs_two_cpus[] =
	"CPU#0\r\n"
	"RAX=0000000000000002 RBX=0000000000000000 RCX=00000000c0000080 RDX=0000000000000505\r\n"
	"RSI=00000000000000ff RDI=ffff8f05df4198c0 RBP=ffff8f05df4198c0 RSP=ffffd18a00003fc0\r\n"
	"R8 =ffffffffffb532b8 R9 =00000000314dde73 R10=0000000000000000 R11=ffffd18a00003ff8\r\n"
	"R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000015\r\n"
	"RIP=ffffffff9043fc9b RFL=00000093 [--S-A-C] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n"
	"ES =0000 0000000000000000 00000000 00000000\r\n"
	"CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\r\n"
	"SS =0018 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n"
	"DS =0000 0000000000000000 00000000 00000000\r\n"
	"FS =0000 0000000000000000 00000000 00000000\r\n"
	"GS =0000 ffff8f05df400000 00000000 00000000\r\n"
	"LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\r\n"
	"TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\r\n"
	"GDT=     fffffe0000001000 0000007f\r\n"
	"IDT=     fffffe0000000000 00000fff\r\n"
	"CR0=80050033 CR2=00000000004bbbe0 CR3=000000000b010000 CR4=000006f0\r\n"
	"DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \r\n"
	"EFER=0000000000000d01\r\n"
	"FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\r\n"
	"XMM00=00000000ffffffff 0000000100000000 XMM01=0000000000000000 0000000000000000\r\n"
	"\r\n"
	"CPU#1\r\n"
	"RAX=0000000f2826192d RBX=0000000000004dbc RCX=00000000009e6898 RDX=0000000000120852\r\n"
	"RSI=0000000000000001 RDI=0000000f281410db RBP=ffffd18a00013a98 RSP=ffffd18a00013a20\r\n"
	"R8 =0000000000000001 R9 =000000000027491f R10=0000000000000003 R11=ffffffff91ed4448\r\n"
	"R12=0000000000000000 R13=0000000000004e20 R14=0000000000000012 R15=0000000000000000\r\n"
	"RIP=ffffffff90df77a3 RFL=00000283 [--S---C] CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n"
	"CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]\r\n"
	"CR0=80050033 CR2=00000000005e27a0 CR3=0000000002788000 CR4=000006e0\r\n";

static void test_registers_parses_two_cpus(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) cpus = hv_parse_registers(regs_two_cpus, strlen(regs_two_cpus), &error);
	const HvVcpuRegs *c0, *c1;

	g_assert_no_error(error);
	g_assert_cmpuint(cpus->len, ==, 2);
	c0 = &g_array_index(cpus, HvVcpuRegs, 0);
	c1 = &g_array_index(cpus, HvVcpuRegs, 1);
	g_assert_cmpuint(c0->index, ==, 0);
	g_assert_cmphex(c0->gpr[HV_RDX], ==, 0x505);
	g_assert_cmphex(c0->gpr[HV_R8], ==, 0xffffffffffb532b8ull);
	g_assert_cmphex(c0->gpr[HV_R15], ==, 0x15);
	g_assert_cmphex(c0->gpr[HV_RSP], ==, 0xffffd18a00003fc0ull);
	g_assert_cmphex(c0->rip, ==, 0xffffffff9043fc9bull);
	g_assert_cmphex(c0->rflags, ==, 0x93);
	g_assert_true(c0->halted);
	g_assert_cmphex(c0->cs.selector, ==, 0x10);
	g_assert_cmphex(c0->cs.flags, ==, 0x00af9b00);
	g_assert_cmphex(c0->gs.base, ==, 0xffff8f05df400000ull);
	g_assert_cmphex(c0->tr.base, ==, 0xfffffe0000003000ull);
	g_assert_cmphex(c0->gdt.base, ==, 0xfffffe0000001000ull);
	g_assert_cmphex(c0->gdt.limit, ==, 0x7f);
	g_assert_cmphex(c0->idt.limit, ==, 0xfff);
	g_assert_cmphex(c0->cr[3], ==, 0xb010000);
	g_assert_cmphex(c0->cr[4], ==, 0x6f0);
	g_assert_cmphex(c0->efer, ==, 0xd01);
	g_assert_cmpuint(c1->index, ==, 1);
	g_assert_false(c1->halted);
	g_assert_cmphex(c1->cr[3], ==, 0x2788000);
}

static void test_registers_reads_32bit_layout(void)
{
	const char *t = "CPU#0\n"
			"EAX=00000000 EBX=00000000 ECX=00000000 EDX=00000663\n"
			"ESI=00000000 EDI=00000000 EBP=00000000 ESP=00006d8c\n"
			"EIP=000fd0b5 EFL=00000046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\n"
			"CS =0008 00000000 ffffffff 00cf9b00 DPL=0 CS32 [-RA]\n"
			"GDT=     000f6180 00000037\n"
			"CR0=00000011 CR2=00000000 CR3=00000000 CR4=00000000\n";
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) cpus = hv_parse_registers(t, strlen(t), &error);
	const HvVcpuRegs *c;

	g_assert_no_error(error);
	c = &g_array_index(cpus, HvVcpuRegs, 0);
	g_assert_cmphex(c->rip, ==, 0xfd0b5);
	g_assert_cmphex(c->gpr[HV_RSP], ==, 0x6d8c);
	g_assert_cmphex(c->gpr[HV_RDX], ==, 0x663);
	g_assert_cmphex(c->rflags, ==, 0x46);
	g_assert_cmphex(c->cr[0], ==, 0x11);
}

static void expect_regs_error(const char *text, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) cpus = hv_parse_registers(text, strlen(text), &error);

	g_assert_null(cpus);
	g_assert_error(error, HV_ERROR, HV_ERROR_PARSE);
	if (strstr(error->message, needle) == NULL)
		g_error("'%s' lacks '%s'", error->message, needle);
}

static void test_registers_rejects_damaged_text(void)
{
	expect_regs_error("", "no CPU");
	expect_regs_error("garbage\nmore\n", "no CPU");
	expect_regs_error("CPU#0\nRAX=1\n", "missing");
	expect_regs_error("CPU#0\nRIP=zzzz RSP=0\nCS =0010 0 ffffffff 0\nCR3=0\n", "RIP");
	expect_regs_error("CPU#0\nRIP=11112222333344445 RSP=0\n", "RIP");
	expect_regs_error("CPU#99999\n", "CPU header");
	expect_regs_error("CPU#-1\n", "CPU header");
}

static void test_registers_caps_cpu_count(void)
{
	GString *s = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) cpus = NULL;
	guint i;

	for (i = 0; i < HV_MAX_VCPUS + 1; i++)
		g_string_append_printf(s, "CPU#%u\nRIP=1 RSP=2\nCS =0010 0 ffffffff 0\nCR3=1000\n",
				       i % HV_MAX_VCPUS);
	cpus = hv_parse_registers(s->str, s->len, &error);
	g_assert_null(cpus);
	g_assert_nonnull(error);
	g_string_free(s, TRUE);
}

static const char mtree_pc[] =
	"FlatView #0\n"
	" AS \"cpu-smm-1\", root: memory\n"
	" Root memory region: memory\n"
	"  0000000000000000-00000000000bffff (prio 0, ram): hvdump-ram\n"
	"  0000000000100000-000000001fffffff (prio 0, ram): hvdump-ram @0000000000100000\n"
	"\n"
	"FlatView #4\n"
	" AS \"memory\", root: system\n"
	" AS \"cpu-memory-0\", root: system\n"
	" Root memory region: system\n"
	"  0000000000000000-000000000009ffff (prio 0, ram): hvdump-ram\n"
	"  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
	"  00000000000c0000-00000000000cafff (prio 0, rom): hvdump-ram @00000000000c0000\n"
	"  00000000000cb000-00000000000cdfff (prio 0, ram): hvdump-ram @00000000000cb000\n"
	"  0000000000100000-000000007fffffff (prio 0, ram): hvdump-ram @0000000000100000\n"
	"  0000000080000000-00000000800fffff (prio 0, ram): hvdump-ram @0000000080000000\n"
	"  00000000fd000000-00000000fdffffff (prio 1, ram): vga.vram\n"
	"  00000000febf0400-00000000febf041f (prio 0, i/o): vga ioports remapped\n"
	"  00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios\n"
	"  0000000100000000-000000017fffffff (prio 0, ram): hvdump-ram @0000000080100000\n"
	"\n"
	"FlatView #5\n"
	" AS \"I/O\", root: io\n"
	"  0000000000000000-0000000000000007 (prio 0, ram): not-memory\n";

static void test_mtree_takes_memory_view_ram_only(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) r = hv_parse_mtree(mtree_pc, strlen(mtree_pc), &error);
	const HvRamRange *x;

	g_assert_no_error(error);
	/* 0-9ffff, cb000-cdfff, 100000-800fffff (merged), fd000000 vram, 4G alias */
	g_assert_cmpuint(r->len, ==, 5);
	x = &g_array_index(r, HvRamRange, 0);
	g_assert_cmphex(x->gpa, ==, 0);
	g_assert_cmphex(x->size, ==, 0xa0000);
	g_assert_cmpstr(x->region, ==, "hvdump-ram");
	x = &g_array_index(r, HvRamRange, 2);
	g_assert_cmphex(x->gpa, ==, 0x100000);
	g_assert_cmphex(x->size, ==, 0x80000000 - 0x100000 + 0x100000);
	g_assert_cmphex(x->offset, ==, 0x100000);
	x = &g_array_index(r, HvRamRange, 3);
	g_assert_cmpstr(x->region, ==, "vga.vram");
	x = &g_array_index(r, HvRamRange, 4);
	g_assert_cmphex(x->gpa, ==, 0x100000000ull);
	g_assert_cmphex(x->offset, ==, 0x80100000ull);
	g_assert_cmphex(x->size, ==, 0x80000000ull);
}

static void expect_mtree_error(const char *text, const char *needle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) r = hv_parse_mtree(text, strlen(text), &error);

	g_assert_null(r);
	g_assert_nonnull(error);
	if (strstr(error->message, needle) == NULL)
		g_error("'%s' lacks '%s'", error->message, needle);
}

static void test_mtree_rejects_damaged_text(void)
{
	expect_mtree_error("", "no FlatView");
	expect_mtree_error("FlatView #0\n AS \"I/O\", root: io\n", "no FlatView");
	expect_mtree_error("FlatView #0\n AS \"memory\", root: system\n"
			   "  0000000000002000-0000000000001fff (prio 0, ram): x\n", "ends before");
	expect_mtree_error("FlatView #0\n AS \"memory\", root: system\n"
			   "  0000000000000000-0000000000001fff (prio 0, ram): x @zz\n", "bad offset");
	expect_mtree_error("FlatView #0\n AS \"memory\", root: system\n"
			   "  0000000000000000-0000000000001fff (prio 0, ram): x\n"
			   "  0000000000001000-0000000000002fff (prio 0, ram): y\n", "overlapping");
	expect_mtree_error("FlatView #0\n AS \"memory\", root: system\n"
			   "  0000000000000000-0000000000001fff (prio 0, ram): x @ffffffffffffffff\n",
			   "overflows");
	/* ranges at the top of the address space: a + size wraps to 0 */
	expect_mtree_error("FlatView #0\n AS \"memory\", root: system\n"
			   "  fffffffffffff000-ffffffffffffffff (prio 0, ram): x\n"
			   "  fffffffffffff800-ffffffffffffffff (prio 0, ram): y\n", "52-bit");
	expect_mtree_error("FlatView #0\n AS \"memory\", root: system\n"
			   "  000ffffffffff000-000fffffffffffff (prio 0, ram): x\n"
			   "  000ffffffffff800-000fffffffffffff (prio 0, ram): y\n", "overlapping");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/machine/registers/parses-two-cpus", test_registers_parses_two_cpus);
	g_test_add_func("/machine/registers/reads-32bit-layout", test_registers_reads_32bit_layout);
	g_test_add_func("/machine/registers/rejects-damaged-text", test_registers_rejects_damaged_text);
	g_test_add_func("/machine/registers/caps-cpu-count", test_registers_caps_cpu_count);
	g_test_add_func("/machine/mtree/takes-memory-view-ram-only", test_mtree_takes_memory_view_ram_only);
	g_test_add_func("/machine/mtree/rejects-damaged-text", test_mtree_rejects_damaged_text);
	return g_test_run();
}
