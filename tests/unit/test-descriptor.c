/* test-descriptor.c — the hvdump_guest descriptor parser and finder on
 * built images: valid, then each way a hostile guest can damage it. */
#include <string.h>
#include <zlib.h>

#include "hv-descriptor.h"
#include "hv-machine.h"
#include "hvdump_desc.h"

#define PADDR 0x5000u

static void seal(struct hvdump_desc *d)
{
	d->checksum = 0;
	d->checksum = (guint32)crc32(0L, (const Bytef *)d, sizeof(*d));
}

static void build(guint8 *page)
{
	struct hvdump_desc *d = (struct hvdump_desc *)page;

	memset(page, 0, 4096);
	d->magic = HVDUMP_DESC_MAGIC;
	d->version = HVDUMP_DESC_VERSION;
	d->size = sizeof(*d);
	d->flags = HVDUMP_F_VMCOREINFO | HVDUMP_F_PRSTATUS;
	d->self_paddr = PADDR;
	d->vmcoreinfo_paddr = 0x10000;
	d->vmcoreinfo_size = 4132;
	d->nr_cpus = 2;
	d->event = HVDUMP_EVENT_PANIC;
	d->event_cpu = 1;
	d->event_time = 1795326121;
	d->event_count = 1;
	strcpy(d->message, "sysrq triggered crash");
	d->message_len = (guint32)strlen(d->message);
	d->prstatus[112] = 0x42;
	seal(d);
}

static void test_descriptor_parses_valid_image(void)
{
	guint8 page[4096];
	g_autoptr(GError) error = NULL;
	HvDescriptor d;

	build(page);
	g_assert_true(hv_descriptor_parse(page, sizeof(page), PADDR, &d, &error));
	g_assert_no_error(error);
	g_assert_true(d.has_vmcoreinfo);
	g_assert_cmphex(d.vmcoreinfo_paddr, ==, 0x10000);
	g_assert_cmpuint(d.event, ==, HVDUMP_EVENT_PANIC);
	g_assert_cmpuint(d.event_cpu, ==, 1);
	g_assert_cmpuint(d.event_time, ==, 1795326121);
	g_assert_cmpstr(d.message, ==, "sysrq triggered crash");
	g_assert_true(d.has_prstatus);
	g_assert_cmpuint(d.prstatus[112], ==, 0x42);
}

typedef void (*Damage)(struct hvdump_desc *d);

static void expect_rejected(Damage damage, gboolean reseal, const char *needle)
{
	guint8 page[4096];
	g_autoptr(GError) error = NULL;
	HvDescriptor d;

	build(page);
	damage((struct hvdump_desc *)page);
	if (reseal)
		seal((struct hvdump_desc *)page);
	g_assert_false(hv_descriptor_parse(page, sizeof(page), PADDR, &d, &error));
	g_assert_nonnull(error);
	if (strstr(error->message, needle) == NULL)
		g_error("'%s' lacks '%s'", error->message, needle);
}

static void flip_message(struct hvdump_desc *d) { d->message[0] ^= 1; }
static void huge_size(struct hvdump_desc *d) { d->size = 0x7fffffff; }
static void bad_magic(struct hvdump_desc *d) { d->magic ^= 1; }
static void moved(struct hvdump_desc *d) { d->self_paddr = 0x9000; }
static void many_cpus(struct hvdump_desc *d) { d->nr_cpus = 100000; }
static void cpu_out_of_range(struct hvdump_desc *d) { d->event_cpu = 7; }
static void long_message(struct hvdump_desc *d) { d->message_len = 100000; }
static void bad_event(struct hvdump_desc *d) { d->event = 9; }
static void vmcoreinfo_wraps(struct hvdump_desc *d) { d->vmcoreinfo_paddr = ~0ull - 5; }
static void version_zero(struct hvdump_desc *d) { d->version = 0; }

static void test_descriptor_rejects_damage(void)
{
	expect_rejected(flip_message, FALSE, "checksum");
	expect_rejected(huge_size, TRUE, "bad size");
	expect_rejected(bad_magic, TRUE, "magic");
	expect_rejected(moved, TRUE, "claims to be at");
	expect_rejected(many_cpus, TRUE, "nr_cpus");
	expect_rejected(cpu_out_of_range, TRUE, "event CPU");
	expect_rejected(long_message, TRUE, "message length");
	expect_rejected(bad_event, TRUE, "unknown event");
	expect_rejected(vmcoreinfo_wraps, TRUE, "out of range");
	expect_rejected(version_zero, TRUE, "version");
}

static void test_descriptor_sanitises_message(void)
{
	guint8 page[4096];
	struct hvdump_desc *x = (struct hvdump_desc *)page;
	HvDescriptor d;

	build(page);
	memcpy(x->message, "a\nb\x1b[31mc\xff", 10);
	x->message_len = 10;
	seal(x);
	g_assert_true(hv_descriptor_parse(page, sizeof(page), PADDR, &d, NULL));
	g_assert_cmpstr(d.message, ==, "a?b?[31mc?");
}

static void test_descriptor_found_from_registers_then_scan(void)
{
	g_autofree guint8 *ram = g_malloc0(1 << 20);
	HvRamBuffer r = { .gpa = 0, .size = 1 << 20 };
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	HvRamSource *mem;
	HvVcpuRegs c = { 0 };
	HvDescriptor d;

	build(ram + PADDR);
	r.host = ram;
	mem = hv_ram_source_new_buffers(&r, 1);
	c.index = 1;
	c.gpr[HV_RDI] = HVDUMP_REG_MAGIC;
	c.gpr[HV_RSI] = PADDR;
	g_array_append_val(cpus, c);
	g_assert_true(hv_descriptor_find(mem, cpus, &d, warnings));
	g_assert_cmpint(d.source, ==, HV_DESC_FROM_REGISTERS);
	g_assert_cmpuint(d.source_cpu, ==, 1);
	/* registers pointing outside RAM: warning, then the scan finds it */
	g_array_index(cpus, HvVcpuRegs, 0).gpr[HV_RSI] = 0x7ffff0000000ull;
	g_assert_true(hv_descriptor_find(mem, cpus, &d, warnings));
	g_assert_cmpint(d.source, ==, HV_DESC_FROM_SCAN);
	g_assert_cmpuint(warnings->len, ==, 1);
	g_assert_nonnull(strstr(g_ptr_array_index(warnings, 0), "outside guest RAM"));
	/* damaged: nothing usable */
	ram[PADDR + 100] ^= 0xff;
	g_assert_false(hv_descriptor_find(mem, cpus, &d, warnings));
	hv_ram_source_free(mem);
}

/* Pages with the magic and nothing valid behind it (any guest process can
 * write them) do not hide the real descriptor, however many there are. */
static void test_descriptor_scan_passes_over_junk(void)
{
	g_autofree guint8 *ram = g_malloc0(1 << 20);
	HvRamBuffer r = { .gpa = 0, .size = 1 << 20 };
	g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) cpus = g_array_new(FALSE, TRUE, sizeof(HvVcpuRegs));
	g_autoptr(GArray) all = g_array_new(FALSE, TRUE, sizeof(HvDescriptor));
	guint64 magic = GUINT64_TO_LE(HVDUMP_DESC_MAGIC);
	HvVcpuRegs c = { 0 };
	HvRamSource *mem;
	guint i;

	for (i = 0; i < 4; i++)
		memcpy(ram + (i + 1) * 4096, &magic, 8); /* before PADDR (5 pages in) */
	build(ram + PADDR);
	for (i = 0; i < 20; i++)
		memcpy(ram + 0x10000 + i * 4096, &magic, 8);
	r.host = ram;
	mem = hv_ram_source_new_buffers(&r, 1);
	g_array_append_val(cpus, c);
	g_assert_cmpuint(hv_descriptor_find_all(mem, cpus, all, warnings), ==, 1);
	g_assert_cmphex(g_array_index(all, HvDescriptor, 0).paddr, ==, PADDR);
	g_assert_cmpint(g_array_index(all, HvDescriptor, 0).source, ==, HV_DESC_FROM_SCAN);
	/* three named, the other 21 counted */
	g_assert_cmpuint(warnings->len, ==, 4);
	g_assert_nonnull(strstr(g_ptr_array_index(warnings, 3), "21 more pages"));
	hv_ram_source_free(mem);
}

/* Only the signalling vCPU can turn a panic into "dump and resume". */
static void test_descriptor_resume_needs_registers(void)
{
	guint8 page[4096];
	struct hvdump_desc *x = (struct hvdump_desc *)page;
	HvDescriptor d;

	build(page);
	x->event = HVDUMP_EVENT_OOPS;
	x->flags |= HVDUMP_F_DUMP_REQUEST;
	seal(x);
	g_assert_true(hv_descriptor_parse(page, sizeof(page), PADDR, &d, NULL));
	d.source = HV_DESC_FROM_SCAN;
	g_assert_false(hv_descriptor_requests_resume(&d));
	d.source = HV_DESC_FROM_REGISTERS;
	g_assert_true(hv_descriptor_requests_resume(&d));
	d.event = HVDUMP_EVENT_PANIC;
	g_assert_false(hv_descriptor_requests_resume(&d));
	g_assert_false(hv_descriptor_requests_resume(NULL));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/descriptor/parses-valid-image", test_descriptor_parses_valid_image);
	g_test_add_func("/descriptor/rejects-damage", test_descriptor_rejects_damage);
	g_test_add_func("/descriptor/sanitises-message", test_descriptor_sanitises_message);
	g_test_add_func("/descriptor/found-from-registers-then-scan", test_descriptor_found_from_registers_then_scan);
	g_test_add_func("/descriptor/scan-passes-over-junk", test_descriptor_scan_passes_over_junk);
	g_test_add_func("/descriptor/resume-needs-registers", test_descriptor_resume_needs_registers);
	return g_test_run();
}
