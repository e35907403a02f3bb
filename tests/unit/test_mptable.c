// SPDX-License-Identifier: MIT
/* MP specification 1.4 tables (src/arch/x86/mptable.c) in a fake guest memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/mptable.h"
#include "mem/gmem.h"
#include "util/util.h"

#define RAM_SIZE (1 * MiB)

static uint8_t sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

static void fake_mem(struct gmem *m, uint8_t *ram)
{
	gmem_init(m, NULL);
	assert_int_equal(gmem_add_mapped(m, 0, RAM_SIZE, ram, -1, 0), 0);
}

/* Walk the table the way an OS does (MP spec 1.4 section 4) and check it. */
static void check_tables(uint8_t *ram, unsigned int ncpus)
{
	struct mp_floating *fp = (void *)(ram + X86_MPTABLE_ADDR);
	struct mp_config *cfg;
	unsigned int cpus = 0, buses = 0, ioapics = 0, isa = 0, pci = 0, lints = 0;
	uint8_t ioapic_id = 0xff, last_type = 0;
	uint8_t *p, *end;

	assert_memory_equal(fp->signature, "_MP_", 4);
	assert_int_equal(fp->length, 1);
	assert_int_equal(fp->spec_rev, 4);
	assert_int_equal(sum(fp, 16), 0);
	assert_int_equal(fp->feature[0], 0);
	assert_true(IS_ALIGNED(X86_MPTABLE_ADDR, 16));
	assert_true(fp->physptr + sizeof(*cfg) <= RAM_SIZE);

	cfg = (void *)(ram + fp->physptr);
	assert_memory_equal(cfg->signature, "PCMP", 4);
	assert_int_equal(cfg->spec_rev, 4);
	assert_true(fp->physptr + cfg->length <= RAM_SIZE);
	assert_int_equal(sum(cfg, cfg->length), 0);
	assert_int_equal(cfg->lapic_addr, X86_LAPIC_ADDR);
	assert_int_equal(cfg->ext_length, 0);

	p = (uint8_t *)(cfg + 1);
	end = (uint8_t *)cfg + cfg->length;
	for (unsigned int i = 0; i < cfg->entry_count; i++) {
		assert_true(p < end);
		assert_true(p[0] >= last_type);
		last_type = p[0];
		switch (p[0]) {
		case MP_PROCESSOR: {
			struct mp_processor *e = (void *)p;

			assert_int_equal(e->apic_id, cpus);
			assert_true(e->flags & MP_CPU_ENABLED);
			assert_int_equal(!!(e->flags & MP_CPU_BSP), cpus == 0);
			cpus++;
			p += sizeof(*e);
			break;
		}
		case MP_BUS: {
			struct mp_bus *e = (void *)p;

			assert_memory_equal(e->bus_type,
					    e->bus_id == MP_BUS_ISA ? "ISA   " : "PCI   ", 6);
			buses++;
			p += sizeof(*e);
			break;
		}
		case MP_IOAPIC: {
			struct mp_ioapic *e = (void *)p;

			assert_int_equal(e->address, X86_IOAPIC_ADDR);
			assert_true(e->flags & MP_IOAPIC_ENABLED);
			assert_true(e->apic_id >= ncpus); /* no clash with a CPU */
			ioapic_id = e->apic_id;
			ioapics++;
			p += sizeof(*e);
			break;
		}
		case MP_INTSRC: {
			struct mp_intsrc *e = (void *)p;

			assert_int_equal(e->dst_apic, ioapic_id);
			if (e->src_bus == MP_BUS_ISA) {
				assert_int_equal(e->dst_pin, e->src_irq == 0 ? 2 : e->src_irq);
				assert_int_not_equal(e->src_irq, 2);
				isa++;
			} else {
				unsigned int slot = e->src_irq >> 2, pin = e->src_irq & 3;

				assert_int_equal(e->src_bus, MP_BUS_PCI);
				assert_int_equal(e->dst_pin, 16 + (slot + pin) % 4);
				assert_int_equal(e->flags, MP_IRQ_ACTIVE_LOW | MP_IRQ_LEVEL);
				pci++;
			}
			p += sizeof(*e);
			break;
		}
		case MP_LINTSRC: {
			struct mp_intsrc *e = (void *)p;

			assert_int_equal(e->dst_apic, 0xff);
			assert_int_equal(e->irq_type, e->dst_pin == 0 ? MP_INT_EXTINT : MP_INT_NMI);
			lints++;
			p += sizeof(*e);
			break;
		}
		default:
			fail_msg("unexpected MP entry type %u", p[0]);
		}
	}
	assert_ptr_equal(p, end);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(buses, 2);
	assert_int_equal(ioapics, 1);
	assert_int_equal(isa, 15);
	assert_int_equal(pci, 128);
	assert_int_equal(lints, 2);
}

static void test_cpus(void **state)
{
	static const unsigned int counts[] = { 1, 4, 8, 64, 254 };
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct gmem m;

	assert_non_null(ram);
	fake_mem(&m, ram);
	for (unsigned int i = 0; i < ARRAY_SIZE(counts); i++) {
		memset(ram, 0, RAM_SIZE);
		assert_int_equal(mptable_build(&m, counts[i]), 0);
		check_tables(ram, counts[i]);
	}
	gmem_destroy(&m);
	free(ram);
}

/* The configuration table lies in the reserved range after the ACPI tables. */
static void test_placement(void **state)
{
	assert_true(MPTABLE_CFG_ADDR >= X86_ACPI_ADDR + ACPI_TABLES_MAX);
	assert_true(MPTABLE_CFG_ADDR + MPTABLE_CFG_MAX <= X86_ACPI_ADDR + X86_ACPI_SIZE);
	assert_true(X86_MPTABLE_ADDR + 16 <= X86_LOW_RAM_END);
}

static void test_limits(void **state)
{
	uint8_t *ram = calloc(1, RAM_SIZE);
	struct mp_floating fp;
	uint8_t *cfg = calloc(1, MPTABLE_CFG_MAX);
	struct gmem m;

	assert_non_null(ram);
	assert_non_null(cfg);
	assert_int_equal(mptable_build_image(0, &fp, cfg), -EINVAL);
	assert_int_equal(mptable_build_image(255, &fp, cfg), -EINVAL);
	/* Too many vCPUs for an MP table: left out, not an error. */
	fake_mem(&m, ram);
	assert_int_equal(mptable_build(&m, 256), 0);
	assert_memory_not_equal(ram + X86_MPTABLE_ADDR, "_MP_", 4);
	/* No RAM there: a clean error. */
	gmem_destroy(&m);
	gmem_init(&m, NULL);
	assert_int_equal(gmem_add_mapped(&m, 16 * MiB, RAM_SIZE, ram, -1, 0), 0);
	assert_int_equal(mptable_build(&m, 2), -EFAULT);
	gmem_destroy(&m);
	free(cfg);
	free(ram);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
