// SPDX-License-Identifier: MIT
/*
 * PCI BAR reprogramming from several vCPUs at once (issue 9 item 11):
 * after any interleaving of BAR and command writes through ECAM, the
 * MMIO and I/O buses hold exactly the ranges the final registers say,
 * and bar_moved saw every move in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/x86.h"
#include "devices/pci.h"
#include "mem/gmem.h"
#include "util/util.h"
#include "bus/bus.h"
#include "bus/host.h"
#include "util/component.h"

#define ITERATIONS 20000
#define THREADS 4
#define MEM_BAR_SIZE 0x1000
#define IO_BAR_SIZE 0x100

struct fixture {
	struct bus pio, mmio;
	struct gmem mem;
	struct components comps;
	struct dev_host host;
	struct pci_bus *bus;
	struct pci_dev dev;
	char mem_opaque, io_opaque;
	/* What bar_moved reported, per BAR: must track the real mapping. */
	uint64_t moved_to[PCI_NUM_BARS];
	int moved_bad;
};

static void nop_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	memset(data, 0, len);
}

static void nop_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
}

static const struct bus_ops nop_ops = { .read = nop_read, .write = nop_write };

/* Runs under bar_lock, so a plain read-modify-write is enough. */
static void on_bar_moved(struct pci_dev *d, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct fixture *f = d->opaque;

	if (f->moved_to[bar] != old_addr)
		f->moved_bad++;
	f->moved_to[bar] = new_addr;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	components_init(&f->comps);
	f->host = (struct dev_host){ .pio = &f->pio, .mmio = &f->mmio, .mem = &f->mem,
				     .components = &f->comps, .vm_fd = -1 };
	if (gmem_init(&f->mem, NULL) || gmem_add_region(&f->mem, 0, 16 * MiB) ||
	    bus_init(&f->pio, "pio") || bus_init(&f->mmio, "mmio") ||
	    pci_bus_create(&f->host, &f->bus))
		return -1;
	pci_dev_init(&f->dev, "bar-test", 0x1af4, 0x10ff, 0xff0000, 0, 0x1af4, 0);
	f->dev.opaque = f;
	f->dev.bar_moved = on_bar_moved;
	if (pci_dev_add_bar(&f->dev, 0, MEM_BAR_SIZE, 0, &nop_ops, &f->mem_opaque) ||
	    pci_dev_add_bar(&f->dev, 2, IO_BAR_SIZE, PCI_BAR_IO, &nop_ops, &f->io_opaque) ||
	    pci_bus_add(f->bus, &f->dev))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	components_fini(&f->comps); /* "pci-host" destroys the bus */
	bus_destroy(&f->mmio);
	bus_destroy(&f->pio);
	gmem_destroy(&f->mem);
	free(f);
	return 0;
}

/* A guest config write, the way a vCPU's MMIO exit delivers it. */
static void ecam_write32(struct fixture *f, uint32_t reg, uint32_t v)
{
	uint64_t a = X86_PCI_ECAM_START + ((uint64_t)f->dev.devfn << 12) + reg;

	assert_true(bus_access(&f->mmio, a, &v, 4, true));
}

static uint32_t ecam_read32(struct fixture *f, uint32_t reg)
{
	uint64_t a = X86_PCI_ECAM_START + ((uint64_t)f->dev.devfn << 12) + reg;
	uint32_t v = 0;

	assert_true(bus_access(&f->mmio, a, &v, 4, false));
	return v;
}

/* Ranges on `b` that belong to `opaque`; the base of the last one found. */
static unsigned int ranges_of(struct bus *b, void *opaque, uint64_t *base)
{
	unsigned int n = 0;

	pthread_rwlock_rdlock(&b->lock);
	for (unsigned int i = 0; i < b->nr; i++) {
		if (b->ranges[i].opaque == opaque) {
			n++;
			*base = b->ranges[i].base;
		}
	}
	pthread_rwlock_unlock(&b->lock);
	return n;
}

struct hammer {
	struct fixture *f;
	unsigned int seed;
};

/*
 * A vCPU reprogramming BARs: move the memory and I/O BARs among a few
 * addresses (naturally aligned, inside the windows), and now and then
 * flip the command register's decode enables.
 */
static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	static const uint32_t mem_addrs[] = { 0xc0100000, 0xc0200000, 0xc0300000, 0xc0400000 };
	static const uint32_t io_addrs[] = { 0x2000, 0x2100, 0x2200, 0x2300 };

	for (int i = 0; i < ITERATIONS; i++) {
		unsigned int r = rand_r(&h->seed);

		switch (r % 8) {
		case 0:
			ecam_write32(h->f, PCI_COMMAND, (r >> 8) & 1 ? 0x3 : 0x1);
			break;
		case 1:
			ecam_write32(h->f, PCI_COMMAND, (r >> 8) & 1 ? 0x3 : 0x2);
			break;
		case 2:
		case 3:
			ecam_write32(h->f, PCI_BAR0 + 8, io_addrs[(r >> 8) % 4] | PCI_BAR_IO);
			break;
		default:
			ecam_write32(h->f, PCI_BAR0, mem_addrs[(r >> 8) % 4]);
			break;
		}
	}
	return NULL;
}

/* The bus holds exactly what the BAR and command registers say. */
static void check_consistent(struct fixture *f)
{
	uint32_t cmd = ecam_read32(f, PCI_COMMAND) & 0xffff;
	uint32_t mem = ecam_read32(f, PCI_BAR0) & ~0xfu;
	uint32_t io = ecam_read32(f, PCI_BAR0 + 8) & ~0x3u;
	uint64_t base = 0;
	unsigned int n;

	n = ranges_of(&f->mmio, &f->mem_opaque, &base);
	if (cmd & PCI_COMMAND_MEMORY) {
		assert_int_equal(n, 1);
		assert_int_equal(base, mem);
		assert_true(f->dev.bars[0].mapped);
		assert_int_equal(f->dev.bars[0].addr, mem);
		assert_int_equal(f->moved_to[0], mem);
	} else {
		assert_int_equal(n, 0);
		assert_false(f->dev.bars[0].mapped);
		assert_int_equal(f->moved_to[0], 0);
	}
	n = ranges_of(&f->pio, &f->io_opaque, &base);
	if (cmd & PCI_COMMAND_IO) {
		assert_int_equal(n, 1);
		assert_int_equal(base, io);
		assert_int_equal(f->moved_to[2], io);
	} else {
		assert_int_equal(n, 0);
		assert_int_equal(f->moved_to[2], 0);
	}
	assert_int_equal(f->moved_bad, 0);
}

static void test_single_thread(void **state)
{
	struct fixture *f = *state;

	/* pci_bus_add assigned and enabled both BARs. */
	check_consistent(f);
	ecam_write32(f, PCI_BAR0, 0xc0500000);
	check_consistent(f);
	ecam_write32(f, PCI_COMMAND, PCI_COMMAND_IO);
	check_consistent(f);
	ecam_write32(f, PCI_BAR0 + 8, 0x3000 | PCI_BAR_IO);
	ecam_write32(f, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	check_consistent(f);
}

static void test_concurrent_bar_writes(void **state)
{
	struct fixture *f = *state;
	struct hammer h[THREADS];
	pthread_t th[THREADS];

	for (int i = 0; i < THREADS; i++) {
		h[i].f = f;
		h[i].seed = 0x9e3779b9u * (unsigned int)(i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	check_consistent(f);
	/* And it keeps following the registers afterwards. */
	ecam_write32(f, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
	ecam_write32(f, PCI_BAR0, 0xc0600000);
	check_consistent(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_bar_writes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
