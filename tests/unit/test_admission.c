// SPDX-License-Identifier: MIT
/*
 * The admission arithmetic (mgmt/admission.c): capacity, strict and
 * overcommittable VMs, balloon targets, the ratio, huge pages, and the
 * figures the refusal names; the policy file's checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mgmt/admission.h"
#include "util/error.h"
#include "vm/config.h"

#define G (1ull << 30)
#define M (1ull << 20)

static const struct host_memory host = { .total = 16 * G, .hugetlb = 2 * G };

static struct mem_claim claim(const char *name, uint64_t size, uint64_t target,
			      enum mem_claim_kind kind)
{
	struct mem_claim c = { .size = size, .target = target, .kind = kind };

	snprintf(c.name, sizeof(c.name), "%s", name);
	return c;
}

static void test_no_overcommit_by_default(void **state)
{
	const struct host_policy p = { .ratio = 1.0, .reserve = 2 * G };
	struct mem_claim run[] = { claim("a", 8 * G, 8 * G, MEM_CLAIM_SOFT) };
	struct mem_claim add = claim("b", 4 * G, 4 * G, MEM_CLAIM_SOFT);
	char why[512];

	(void)state;
	/* capacity 16 - 2 (huge pages) - 2 (reserve) = 12G: 8 + 4 fits exactly. */
	assert_int_equal(admission_check(&p, &host, run, 1, &add, why, sizeof(why)), 0);
	add.size = add.target = 4 * G + M;
	assert_int_equal(admission_check(&p, &host, run, 1, &add, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "4.0G more on top of 8G committed to overcommittable VMs "
				    "exceeds 12G (capacity 12G - 0 not overcommitted, x ratio 1)"));
	/* A setmem that lowered a's target makes room. */
	run[0].target = 6 * G;
	assert_int_equal(admission_check(&p, &host, run, 1, &add, why, sizeof(why)), 0);
}

static void test_ratio_and_strict(void **state)
{
	const struct host_policy p = { .ratio = 1.5, .reserve = 2 * G };
	struct mem_claim run[] = { claim("pinned", 4 * G, 4 * G, MEM_CLAIM_STRICT),
				   claim("soft", 10 * G, 10 * G, MEM_CLAIM_SOFT),
				   claim("huge", 2 * G, 2 * G, MEM_CLAIM_HUGE) };
	struct mem_claim add = claim("x", 2 * G, 2 * G, MEM_CLAIM_SOFT);
	struct admission_sums s;
	char why[512];

	(void)state;
	admission_sum(&p, &host, run, 3, &s);
	assert_int_equal(s.capacity, 12 * G);
	assert_int_equal(s.strict, 4 * G);
	assert_int_equal(s.soft, 10 * G);
	assert_int_equal(s.huge, 2 * G);
	/* Soft room: (12 - 4) x 1.5 = 12G; 10 + 2 fits, 10 + 3 does not. */
	assert_int_equal(admission_check(&p, &host, run, 3, &add, why, sizeof(why)), 0);
	add.size = add.target = 3 * G;
	assert_int_equal(admission_check(&p, &host, run, 3, &add, why, sizeof(why)), -ENOSPC);
	/* A strict VM is never overcommitted, and shrinks the soft VMs' room:
	 * 4 + 1 strict leaves (12 - 5) x 1.5 = 10.5G >= 10G; 4 + 2 leaves 9G. */
	add = claim("p2", 1 * G, 1 * G, MEM_CLAIM_STRICT);
	assert_int_equal(admission_check(&p, &host, run, 3, &add, why, sizeof(why)), 0);
	add.size = add.target = 2 * G;
	assert_int_equal(admission_check(&p, &host, run, 3, &add, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "for a VM that is not overcommitted"));
	add.size = add.target = 9 * G;
	assert_int_equal(admission_check(&p, &host, run, 3, &add, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "exceeds the host's 12G"));
	/* Huge-page VMs come from the pool, checked elsewhere. */
	add = claim("h", 64 * G, 64 * G, MEM_CLAIM_HUGE);
	assert_int_equal(admission_check(&p, &host, run, 3, &add, why, sizeof(why)), 0);
}

static void test_reserve_beyond_ram(void **state)
{
	const struct host_policy p = { .ratio = 2.0, .reserve = 64 * G };
	struct mem_claim add = claim("x", 16 * M, 16 * M, MEM_CLAIM_SOFT);
	char why[512];

	(void)state;
	assert_int_equal(admission_check(&p, &host, NULL, 0, &add, why, sizeof(why)), -ENOSPC);
}

static void test_claim_of_config(void **state)
{
	struct vm_config c;
	struct mem_claim m;

	(void)state;
	vm_config_init(&c);
	c.mem_size = 2 * G;
	mem_claim_of(&c, "v", &m);
	assert_int_equal(m.kind, MEM_CLAIM_SOFT);
	assert_int_equal(m.size, 2 * G);
	c.mem.prealloc = true;
	mem_claim_of(&c, "v", &m);
	assert_int_equal(m.kind, MEM_CLAIM_STRICT);
	c.mem.prealloc = false;
	c.vcpu_pinned[0] = true;
	mem_claim_of(&c, "v", &m);
	assert_int_equal(m.kind, MEM_CLAIM_STRICT);
	c.mem.backing = GMEM_BACKING_HUGETLB;
	c.numa_mode = VM_NUMA_STRICT;
	c.numa_host_nodes = 0x2;
	mem_claim_of(&c, "v", &m);
	assert_int_equal(m.kind, MEM_CLAIM_HUGE);
	assert_int_equal(m.nodes, 0x2);
	vm_config_free(&c);
}

static void policy_file(const char *dir, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/host.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_policy_file(void **state)
{
	char tmpl[] = "/tmp/vessel-adm-XXXXXX";
	struct error err = ERROR_INIT;
	struct host_policy p;
	struct state_dirs d;
	char *dir = mkdtemp(tmpl);

	(void)state;
	assert_non_null(dir);
	memset(&d, 0, sizeof(d));
	snprintf(d.data, sizeof(d.data), "%s", dir);
	assert_int_equal(host_policy_load(&d, &p, &err), 0);
	assert_false(p.from_file);
	assert_true(p.ratio == 1.0 && p.reserve == 0);
	policy_file(dir, "{\"memory\": {\"overcommit_ratio\": 1.5, \"reserve\": \"2G\"}}");
	assert_int_equal(host_policy_load(&d, &p, &err), 0);
	assert_true(p.from_file && p.ratio == 1.5 && p.reserve == 2 * G);
	policy_file(dir, "{\"memory\": {\"overcommit_ratio\": 0.5}}");
	assert_int_equal(host_policy_load(&d, &p, &err), -EINVAL);
	assert_non_null(strstr(error_msg(&err), "memory.overcommit_ratio: must be a number"));
	err = (struct error)ERROR_INIT;
	policy_file(dir, "{\"memory\": {\"ratio\": 2}}");
	assert_int_equal(host_policy_load(&d, &p, &err), -EINVAL);
	assert_non_null(strstr(error_msg(&err), "unknown key \"ratio\""));
	err = (struct error)ERROR_INIT;
	policy_file(dir, "[1]");
	assert_int_equal(host_policy_load(&d, &p, &err), -EINVAL);
	snprintf(tmpl, sizeof(tmpl), "%s/host.json", dir);
	unlink(tmpl);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_overcommit_by_default),
		cmocka_unit_test(test_ratio_and_strict),
		cmocka_unit_test(test_reserve_beyond_ram),
		cmocka_unit_test(test_claim_of_config),
		cmocka_unit_test(test_policy_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
