// SPDX-License-Identifier: MIT
/*
 * Generic MSI-X (src/devices/msix.c) without KVM (vm_fd -1: deliveries
 * are counted, not injected): capability layout, table accesses, per
 * vector and function masking with pending bits, reset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/msix.h"
#include "devices/pci.h"

struct fx {
	struct pci_dev d;
	struct msix m;
};

static uint16_t ctrl_read(struct fx *f)
{
	return (uint16_t)(pci_cfg_read32(&f->d, f->m.cap) >> 16);
}

/* What the PCI layer does for a guest config write, then the hook. */
static void ctrl_write(struct fx *f, uint16_t v)
{
	for (unsigned int i = 0; i < 2; i++) {
		uint8_t *b = &f->d.cfg[f->m.cap + 2 + i], wm = f->d.wmask[f->m.cap + 2 + i];

		*b = (uint8_t)((*b & ~wm) | ((v >> (8 * i)) & wm));
	}
	msix_config_write(&f->m, f->m.cap + 2, v, 2);
}

static void entry_write(struct fx *f, unsigned int i, uint32_t addr, uint32_t data, uint32_t ctrl)
{
	msix_table_write(&f->m, 16 * i + 0, &addr, 4);
	uint32_t hi = 0;
	msix_table_write(&f->m, 16 * i + 4, &hi, 4);
	msix_table_write(&f->m, 16 * i + 8, &data, 4);
	msix_table_write(&f->m, 16 * i + 12, &ctrl, 4);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	pci_dev_init(&f->d, "msix-test", 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 0x42);
	assert_int_equal(msix_init(&f->m, &f->d, 3, 0, 0x4000, 0x6000, NULL, -1), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	msix_destroy(&f->m);
	free(f);
	return 0;
}

static void test_capability(void **state)
{
	struct fx *f = *state;
	uint32_t w0 = pci_cfg_read32(&f->d, f->m.cap);

	assert_int_equal(w0 & 0xff, PCI_CAP_ID_MSIX);
	assert_int_equal((w0 >> 16) & 0x7ff, 2);		       /* table size - 1 */
	assert_int_equal(pci_cfg_read32(&f->d, f->m.cap + 4), 0x4000); /* BIR 0 */
	assert_int_equal(pci_cfg_read32(&f->d, f->m.cap + 8), 0x6000);
	assert_false(msix_enabled(&f->m));
	assert_int_equal(msix_notify(&f->m, 0), -EINVAL); /* not enabled */
	assert_int_equal(msix_init(&f->m, &f->d, 0, 0, 0, 0, NULL, -1), -EINVAL);
}

static void test_table_access(void **state)
{
	struct fx *f = *state;
	uint32_t v = 0;
	uint64_t q;

	/* Vectors come out of reset masked. */
	msix_table_read(&f->m, 12, &v, 4);
	assert_int_equal(v, 1);
	entry_write(f, 1, 0xfee01003, 0x41, 0);
	msix_table_read(&f->m, 16, &v, 4);
	assert_int_equal(v, 0xfee01000);   /* bits 1:0 reserved */
	msix_table_read(&f->m, 24, &q, 8); /* data + control as a QWORD */
	assert_int_equal(q, 0x41);
	/* Byte access, out of range and misaligned accesses do nothing. */
	uint8_t b = 0xff;
	msix_table_write(&f->m, 16 + 8, &b, 1);
	v = 0x99;
	msix_table_write(&f->m, 16 * 3, &v, 4);
	msix_table_write(&f->m, 16 + 6, &v, 4);
	msix_table_read(&f->m, 24, &v, 4);
	assert_int_equal(v, 0x41);
	msix_table_read(&f->m, 16 * 3, &v, 4);
	assert_int_equal(v, 0xffffffff);
}

static void test_mask_and_pending(void **state)
{
	struct fx *f = *state;
	uint64_t pba = 0;

	entry_write(f, 0, 0xfee00000, 0x40, 1); /* masked */
	entry_write(f, 2, 0xfee00000, 0x42, 0);
	ctrl_write(f, MSIX_CTRL_ENABLE);
	assert_true(msix_enabled(&f->m));
	assert_int_equal(msix_notify(&f->m, 2), 0);
	assert_int_equal(f->m.sent, 1);
	assert_int_equal(msix_notify(&f->m, 0), 0); /* masked: pending */
	assert_int_equal(f->m.sent, 1);
	msix_pba_read(&f->m, 0, &pba, 8);
	assert_int_equal(pba, 1);
	assert_int_equal(msix_notify(&f->m, 3), -EINVAL);
	/* Unmasking delivers the pending message and clears its bit. */
	uint32_t c = 0;
	msix_table_write(&f->m, 12, &c, 4);
	assert_int_equal(f->m.sent, 2);
	msix_pba_read(&f->m, 0, &pba, 8);
	assert_int_equal(pba, 0);
	/* Function mask: everything pends, unmask fires them all. */
	ctrl_write(f, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	msix_notify(&f->m, 0);
	msix_notify(&f->m, 2);
	msix_notify(&f->m, 2);
	assert_int_equal(f->m.sent, 2);
	msix_pba_read(&f->m, 0, &pba, 8);
	assert_int_equal(pba, 5);
	ctrl_write(f, MSIX_CTRL_ENABLE);
	assert_int_equal(f->m.sent, 4); /* one per pending vector */
	/* Reset: masked, disabled, nothing pending, control bits cleared. */
	msix_notify(&f->m, 2);
	msix_reset(&f->m);
	assert_false(msix_enabled(&f->m));
	assert_int_equal(ctrl_read(f) & (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL), 0);
	msix_pba_read(&f->m, 0, &pba, 8);
	assert_int_equal(pba, 0);
	uint32_t v;
	msix_table_read(&f->m, 16 * 2 + 12, &v, 4);
	assert_int_equal(v, 1);
}

/* Save the function's config space and MSI-X state into a stream. */
static void fx_save(struct fx *f, struct stream *w)
{
	stream_init_writer(w, 1 << 20);
	pci_dev_save(&f->d, w);
	msix_save(&f->m, w);
	assert_int_equal(stream_error(w), 0);
}

static int fx_load(struct fx *f, const void *buf, size_t len)
{
	struct stream r;
	int ret;

	stream_init_reader(&r, buf, len);
	ret = pci_dev_load(&f->d, &r);
	if (!ret)
		ret = msix_load(&f->m, &r);
	if (ret)
		print_message("load: %s\n", error_msg(&r.err));
	return ret;
}

/* Vectors, pending bits and Message Control survive a save and a load. */
static void test_save_load(void **state)
{
	struct fx *f = *state, *g;
	struct stream w;
	uint64_t pba = 0;
	uint32_t v;

	entry_write(f, 0, 0xfee00000, 0x40, 1); /* masked, will pend */
	entry_write(f, 2, 0xfee01000, 0x42, 0);
	ctrl_write(f, MSIX_CTRL_ENABLE);
	msix_notify(&f->m, 0);
	fx_save(f, &w);

	setup((void **)&g);
	assert_int_equal(fx_load(g, w.buf, w.len), 0);
	assert_true(msix_enabled(&g->m));
	msix_pba_read(&g->m, 0, &pba, 8);
	assert_int_equal(pba, 1);
	msix_table_read(&g->m, 16 * 2 + 0, &v, 4);
	assert_int_equal(v, 0xfee01000);
	msix_table_read(&g->m, 16 * 2 + 8, &v, 4);
	assert_int_equal(v, 0x42);
	/* The restored function delivers: an unmask fires what pended. */
	assert_int_equal(msix_notify(&g->m, 2), 0);
	assert_int_equal(g->m.sent, 1);
	v = 0;
	msix_table_write(&g->m, 12, &v, 4);
	assert_int_equal(g->m.sent, 2);
	teardown((void **)&g);
	stream_free(&w);
}

/* Damaged, truncated or foreign state is refused, and changes nothing. */
static void test_load_refused(void **state)
{
	struct fx *f = *state, *g;
	struct stream w, r;
	uint8_t *bad;
	size_t vendor_at;
	uint32_t v;

	entry_write(f, 1, 0xfee00000, 0x41, 0);
	ctrl_write(f, MSIX_CTRL_ENABLE);
	fx_save(f, &w);
	bad = malloc(w.len);
	setup((void **)&g);

	/* Truncated anywhere: refused. */
	for (size_t cut = 0; cut < w.len; cut += 509)
		assert_int_not_equal(fx_load(g, w.buf, cut), 0);
	/* Another device: the vendor ID (read-only) differs. */
	memcpy(bad, w.buf, w.len);
	vendor_at = 12 + 4; /* {tag, version, length} then u32 size, then cfg[0] */
	bad[vendor_at] ^= 0xff;
	stream_init_reader(&r, bad, w.len);
	assert_int_equal(pci_dev_load(&g->d, &r), -EINVAL);
	assert_non_null(strstr(error_msg(&r.err), "read-only config byte 0"));
	assert_false(msix_enabled(&g->m));
	assert_int_equal(g->d.cfg[0], 0xf4);
	/* A pending bit past the last of 3 vectors. */
	memcpy(bad, w.buf, w.len);
	bad[w.len - 8] |= 0x10;
	assert_int_equal(fx_load(g, bad, w.len), -EINVAL);
	msix_table_read(&g->m, 16 * 1 + 8, &v, 4);
	assert_int_equal(v, 0); /* the table was not touched */
	free(bad);
	teardown((void **)&g);
	stream_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capability, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mask_and_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
